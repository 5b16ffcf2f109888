/* tests/integ/test_audit_query.c - the audit log the real daemon writes, read back with the
 * CLI while the daemon runs: query in every format, the latest checkpoint, an incident's
 * evidence bundle exported and verified with data_dir/audit.pub (and refused once edited),
 * and the audit route closed to requests without a token. */
#include "fixture.h"

#include <errno.h>
#include <jansson.h>

#include "integ_http.h"
#include "integ_proc.h"

static const char alert_fmt[] =
    "{\"receiver\":\"hale\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\","
    "\"labels\":{\"alertname\":\"DiskFull\",\"service\":\"db-%d\",\"severity\":\"critical\"},"
    "\"annotations\":{\"summary\":\"disk / at 97%%\"},\"startsAt\":\"2026-11-22T13:08:22.079Z\","
    "\"endsAt\":\"0001-01-01T00:00:00Z\",\"generatorURL\":\"http://x/graph\","
    "\"fingerprint\":\"%016d\"}],\"groupLabels\":{},\"commonLabels\":{},"
    "\"commonAnnotations\":{},\"externalURL\":\"http://am\",\"version\":\"4\","
    "\"groupKey\":\"{}:{}\",\"truncatedAlerts\":0}\n";

static int setup(void **state)
{
    integ_hale *h = calloc(1, sizeof(*h));

    if (!h || integ_hale_init(h, "integ-audit-query") < 0 || integ_hale_write_config(h, NULL) < 0) {
        free(h);
        return -1;
    }
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    integ_hale *h = *state;

    integ_hale_release(h);
    free(h);
    return 0;
}

/* One request; returns its status. */
static int request(integ_hale *h, const char *method, const char *path, const char *body)
{
    integ_resp resp = {0};
    int r = integ_http(h->port, method, path, body ? "application/json" : NULL, body,
                       body ? strlen(body) : 0, &resp);

    if (r >= 0)
        r = resp.status;
    integ_resp_release(&resp);
    return r;
}

static json_t *query_json(integ_hale *h, const char *const *extra)
{
    const char *args[16] = {"audit", "query", "--config", h->config_path, "--format", "json"};
    size_t n = 6;
    char *out = NULL;
    json_t *j;

    for (; extra && *extra && n < 15; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    assert_int_equal(integ_hale_cli(h, args, &out, NULL), 0);
    j = json_loads(out, 0, NULL);
    assert_non_null(j);
    free(out);
    return j;
}

/* Export the bundle of incident 1 into path, retrying while its newest leaf is unsealed. */
static void export_bundle(integ_hale *h, const char *path)
{
    const char *args[] = {"audit", "export", "--config", h->config_path, "--incident", "1",
                          "--out", path,     NULL};
    char *err = NULL;
    int r = -1;

    for (int i = 0; i < 50 && r != 0; i++) {
        free(err);
        err = NULL;
        r = integ_hale_cli(h, args, NULL, &err);
        if (r != 0)
            integ_sleep_ms(100);
    }
    if (r != 0)
        fail_msg("export: %s", err ? err : "?");
    free(err);
}

static void daemon_log_reads_back(void **state)
{
    integ_hale *h = *state;
    char body[2048], bundle[4200], pub[4200], *out = NULL, *text;
    json_t *j;

    assert_int_equal(integ_hale_start(h, 10000), 0);
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof(body), alert_fmt, i, i + 1);
        assert_int_equal(request(h, "POST", "/api/v1/alerts", body), 200);
    }
    /* Every kind the daemon wrote is there, newest first, through the CLI's JSON. */
    j = query_json(h, NULL);
    assert_true(json_array_size(json_object_get(j, "leaves")) >= 7);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "leaves"),
                                           json_array_size(json_object_get(j, "leaves")) - 1),
                            "kind")),
                        "controller_start");
    json_decref(j);
    j = query_json(h, (const char *const[]){"--kind", "alerts_accepted", "--since", "1h", NULL});
    assert_int_equal(json_array_size(json_object_get(j, "leaves")), 3);
    json_decref(j);
    j = query_json(h, (const char *const[]){"--text", "1111", "--limit", "1", NULL});
    json_decref(j);

    assert_int_equal(integ_hale_cli(h,
                                    (const char *const[]){"audit", "checkpoint", "--config",
                                                          h->config_path, NULL},
                                    &out, NULL),
                     0);
    assert_non_null(strstr(out, "\n\n\xe2\x80\x94 ")); /* a signed note */
    free(out);

    snprintf(bundle, sizeof(bundle), "%s/bundle.json", h->dir);
    snprintf(pub, sizeof(pub), "%s/audit.pub", h->data_dir);
    export_bundle(h, bundle);
    assert_int_equal(integ_hale_cli(h,
                                    (const char *const[]){"audit", "verify-bundle", bundle,
                                                          "--pubkey", pub, NULL},
                                    NULL, NULL),
                     0);
    text = fixture_read(bundle, NULL);
    assert_non_null(text);
    *strstr(text, "\"incident_id\": 1") = ' '; /* "incident_id"  1: no longer this incident */
    assert_int_equal(fixture_write(bundle, text), 0);
    free(text);
    assert_int_equal(integ_hale_cli(h,
                                    (const char *const[]){"audit", "verify-bundle", bundle,
                                                          "--pubkey", pub, NULL},
                                    NULL, NULL),
                     1);
    /* The HTTP route never answers without a token. */
    assert_int_equal(request(h, "GET", "/api/v1/audit", NULL), 401);
    assert_int_equal(integ_hale_stop(h, 5000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(daemon_log_reads_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
