/* agent/cli/cli_incidents.c - `hale incidents list|show`: read the store (read-only, safe while
 * the daemon runs) and print the same JSON the API serves, or a table for humans. */
#include "internal.h"

#include "cli/cli.h"
#include "hale/incident.h"
#include "hale/store.h"
#include "util/strparse.h"

static const char usage[] =
    "usage: hale incidents list [--state S] [--limit N] [--json] [--config FILE]\n"
    "       hale incidents show ID [--json] [--config FILE]\n\n"
    "Read incidents from the store in the configured data_dir; works while `hale run` runs.\n"
    "States: open, investigating, deciding, awaiting_approval, healing, verifying, resolved,\n"
    "failed, escalated, rolled_back. --json prints what GET /api/v1/incidents serves.\n";

static int open_store(const char *config_path, hale_store **ret)
{
    return hale_cli_open_store("incidents", NULL, config_path, true, ret, NULL, 0);
}

static const char *str(const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));

    return v ? v : "-";
}

static void print_table(const json_t *list)
{
    size_t i;
    json_t *inc;

    printf("%-6s %-17s %-9s %-7s %-24s %s\n", "ID", "STATE", "SEVERITY", "FIRING", "UPDATED",
           "TITLE");
    json_array_foreach(list, i, inc)
    {
        char firing[32];

        snprintf(firing, sizeof(firing), "%lld/%lld",
                 (long long)json_integer_value(json_object_get(inc, "alerts_firing")),
                 (long long)json_integer_value(json_object_get(inc, "alerts_total")));
        printf("%-6lld %-17s %-9s %-7s %-24s %s\n",
               (long long)json_integer_value(json_object_get(inc, "id")), str(inc, "state"),
               str(inc, "severity"), firing, str(inc, "updated_at"), str(inc, "title"));
    }
}

static void print_detail(const json_t *inc)
{
    size_t i;
    json_t *v;

    printf("incident %lld: %s\n", (long long)json_integer_value(json_object_get(inc, "id")),
           str(inc, "title"));
    printf("  state      %s (since %s: %s)\n", str(inc, "state"), str(inc, "state_since"),
           str(inc, "state_reason"));
    printf("  severity   %s\n  group      %s\n  created    %s\n  updated    %s\n",
           str(inc, "severity"), str(inc, "group_key"), str(inc, "created_at"),
           str(inc, "updated_at"));
    printf("  alerts     %lld firing of %lld\n",
           (long long)json_integer_value(json_object_get(inc, "alerts_firing")),
           (long long)json_integer_value(json_object_get(inc, "alerts_total")));
    json_array_foreach(json_object_get(inc, "alerts"), i, v)
    {
        char *labels = json_dumps(json_object_get(v, "labels"), JSON_COMPACT | JSON_SORT_KEYS);

        printf("    %s %-8s seen %lldx, last %s %s\n", str(v, "fingerprint"), str(v, "status"),
               (long long)json_integer_value(json_object_get(v, "seen_count")), str(v, "last_seen"),
               labels ? labels : "");
        free(labels);
    }
    printf("  history\n");
    json_array_foreach(json_object_get(inc, "transitions"), i, v)
        printf("    %s  %s -> %s: %s\n", str(v, "at"), *str(v, "from") ? str(v, "from") : "-",
               str(v, "to"), str(v, "reason"));
}

static int print_json(const json_t *v)
{
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    if (!text)
        return HALE_EXIT_FAILURE;
    printf("%s\n", text);
    free(text);
    return HALE_EXIT_OK;
}

static int run_list(hale_store *s, const char *state, const char *limit_text, bool as_json)
{
    hale_incident_state parsed;
    uint32_t limit = 1000;
    json_t *out = NULL;
    int r;

    if (state && hale_incident_state_parse(state, &parsed) < 0) {
        fprintf(stderr, "hale incidents: --state: unknown state '%s'\n%s", state, usage);
        return HALE_EXIT_USAGE;
    }
    if (limit_text &&
        (hale_parse_u32(limit_text, &limit) < 0 || limit == 0 || limit > HALE_MAX_LIST_INCIDENTS)) {
        fprintf(stderr, "hale incidents: --limit: expected 1 to %u, got '%s'\n",
                HALE_MAX_LIST_INCIDENTS, limit_text);
        return HALE_EXIT_USAGE;
    }
    r = hale_store_incidents_json(s, state, limit, &out);
    if (r < 0) {
        fprintf(stderr, "hale incidents: cannot read the store: %s\n", hale_strerror(r));
        return HALE_EXIT_FAILURE;
    }
    if (as_json)
        r = print_json(out);
    else
        print_table(json_object_get(out, "incidents"));
    json_decref(out);
    return r;
}

static int run_show(hale_store *s, const char *id_text, bool as_json)
{
    json_t *out = NULL;
    int64_t id;
    int r;

    if (hale_parse_i64(id_text, &id) < 0 || id <= 0) {
        fprintf(stderr, "hale incidents show: expected a positive incident id, got '%s'\n",
                id_text);
        return HALE_EXIT_USAGE;
    }
    r = hale_store_incident_detail_json(s, id, &out);
    if (r == HALE_ENOTFOUND) {
        fprintf(stderr, "hale incidents show: no incident %lld\n", (long long)id);
        return HALE_EXIT_FAILURE;
    }
    if (r < 0) {
        fprintf(stderr, "hale incidents show: cannot read the store: %s\n", hale_strerror(r));
        return HALE_EXIT_FAILURE;
    }
    if (as_json)
        r = print_json(out);
    else
        print_detail(out);
    json_decref(out);
    return r;
}

int hale_cmd_incidents(int argc, char **argv)
{
    const char *config = NULL, *state = NULL, *limit = NULL, *pos[2] = {NULL, NULL};
    bool as_json = false;
    hale_cli_opt opts[] = {{"--config", true, &config, NULL},
                           {"--state", true, &state, NULL},
                           {"--limit", true, &limit, NULL},
                           {"--json", false, NULL, &as_json},
                           {NULL, false, NULL, NULL}};
    hale_store *s = NULL;
    int n_pos = 0, r;

    r = hale_cli_parse(argc, argv, opts, usage, pos, 2, &n_pos);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (n_pos == 0 || (strcmp(pos[0], "list") == 0 && n_pos != 1) ||
        (strcmp(pos[0], "show") == 0 && n_pos != 2) ||
        (strcmp(pos[0], "list") != 0 && strcmp(pos[0], "show") != 0) ||
        (strcmp(pos[0], "show") == 0 && (state || limit))) {
        fprintf(stderr, "hale incidents: expected 'list' or 'show ID'\n%s", usage);
        return HALE_EXIT_USAGE;
    }
    r = open_store(config, &s);
    if (r != 0)
        return r;
    r = strcmp(pos[0], "list") == 0 ? run_list(s, state, limit, as_json)
                                    : run_show(s, pos[1], as_json);
    hale_store_free(s);
    return r;
}
