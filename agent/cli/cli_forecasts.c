/* agent/cli/cli_forecasts.c - `hale forecasts list [--series KEY]`: the running hale's
 * capacity forecasts and exhaustion predictions, read from its API (they live in the
 * controller's memory, not in the store). */
#include "internal.h"

#include <curl/curl.h>

#include "cli/cli.h"
#include "cli/cli_daemon.h"

static const char usage[] =
    "usage: hale forecasts list [--series KEY] [--json] [--token-file FILE] [--config FILE]\n\n"
    "The running hale's series that have a history (those named by metrics.capacity or\n"
    "metrics.exhaustion rules): the newest value, the 24-hour capacity forecast at +1h, +6h and\n"
    "+24h with its 95 % interval, and the exhaustion prediction. --series KEY (as listed, e.g.\n"
    "'host_disk_used_ratio{fstype=\"ext4\",mount=\"/\"}') shows one series; with --json every\n"
    "forecast point. A token (--token-file or HALE_TOKEN) is needed once tokens are configured.\n"
    "Exit status: 0 shown, 1 failure (no hale running, unknown series), 2 usage.\n";

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "-";
}

static void print_at(const json_t *fc, const char *key)
{
    const json_t *p = json_object_get(fc, key);

    if (!json_is_object(p)) {
        printf("  %-10s", "-");
        return;
    }
    printf("  %.4g [%.4g, %.4g]", json_number_value(json_object_get(p, "value")),
           json_number_value(json_object_get(p, "lo95")),
           json_number_value(json_object_get(p, "hi95")));
}

static void print_series(const json_t *f)
{
    const json_t *fc = json_object_get(f, "forecast"), *ex = json_object_get(f, "exhaustion");

    printf("%s\n  samples %lld, value %.6g at %s\n", str(f, "series"),
           (long long)json_integer_value(json_object_get(f, "samples")),
           json_number_value(json_object_get(f, "value")), str(f, "t"));
    if (json_is_object(fc)) {
        printf("  forecast (%s, fitted %s): +1h/+6h/+24h", str(fc, "model"), str(fc, "fitted_at"));
        print_at(fc, "at_1h");
        print_at(fc, "at_6h");
        print_at(fc, "at_24h");
        printf("\n");
    } else {
        printf("  forecast: not yet (too little history)\n");
    }
    if (json_is_object(ex))
        printf("  exhaustion: limit %.6g within %.6gh: %s (probability %.2f, expected %s)\n",
               json_number_value(json_object_get(ex, "limit")),
               json_number_value(json_object_get(ex, "horizon_h")),
               json_is_true(json_object_get(ex, "firing")) ? "PREDICTED" : "not predicted",
               json_number_value(json_object_get(ex, "probability")), str(ex, "expected_at"));
}

static int show(hale_cli_daemon *d, const char *series, bool as_json)
{
    char path[9000], *esc = NULL;
    json_t *ans = NULL;
    long status = 0;
    int r;

    if (series) {
        esc = curl_easy_escape(NULL, series, 0);
        if (!esc || strlen(esc) > 8000) {
            curl_free(esc);
            fprintf(stderr, "hale forecasts: --series is too long\n");
            return HALE_EXIT_USAGE;
        }
        snprintf(path, sizeof(path), "/api/v1/forecasts?series=%s", esc);
        curl_free(esc);
    } else {
        snprintf(path, sizeof(path), "/api/v1/forecasts");
    }
    if ((r = hale_cli_daemon_call(d, "GET", path, NULL, &status, &ans)) != 0)
        return r;
    if (status != 200) {
        fprintf(stderr, "hale forecasts: HTTP %ld: %s\n", status, hale_cli_daemon_error(ans));
        json_decref(ans);
        return HALE_EXIT_FAILURE;
    }
    if (as_json) {
        json_dumpf(ans, stdout, JSON_INDENT(2));
        printf("\n");
    } else if (series) {
        print_series(ans);
    } else {
        const json_t *list = json_object_get(ans, "forecasts");

        for (size_t i = 0; i < json_array_size(list); i++)
            print_series(json_array_get(list, i));
        printf("%zu series with a history, %lld series in all\n", json_array_size(list),
               (long long)json_integer_value(json_object_get(ans, "series_total")));
    }
    json_decref(ans);
    return HALE_EXIT_OK;
}

int hale_cmd_forecasts(int argc, char **argv)
{
    const char *config = NULL, *token_file = NULL, *series = NULL, *pos[1] = {NULL};
    bool as_json = false;
    hale_cli_opt opts[] = {{"--config", true, &config, NULL},
                           {"--token-file", true, &token_file, NULL},
                           {"--series", true, &series, NULL},
                           {"--json", false, NULL, &as_json},
                           {NULL, false, NULL, NULL}};
    hale_cli_daemon d = {.token = NULL};
    int n_pos = 0, r;

    r = hale_cli_parse(argc, argv, opts, usage, pos, 1, &n_pos);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (n_pos != 1 || strcmp(pos[0], "list") != 0) {
        fprintf(stderr, "hale forecasts: expected 'list'\n%s", usage);
        return HALE_EXIT_USAGE;
    }
    if ((r = hale_cli_daemon_open_reader(config, token_file, "forecasts", &d)) != 0)
        return r;
    r = show(&d, series, as_json);
    hale_cli_daemon_release(&d);
    return r;
}
