/* tests/integ/test_metrics.c - hale's metric sources and series models end to end, on the real
 * binary: with defaults the host collector feeds host series; POST /api/v1/metrics of a series
 * ramping toward a limit opens an ExhaustionPredicted incident (and a prediction audit leaf)
 * before the limit is reached; a spike opens an AnomalyDetected incident that resolves; a
 * malformed body gets 400 and changes nothing; a restart continues each series' model; and the
 * Prometheus poller turns a real Debian Prometheus's query_range answers into series, counting
 * a broken query's errors by name. */
#include "fixture.h"

#include <math.h>

#include "integ_http.h"
#include "integ_proc.h"
#include "integ_store.h"

#define START_MS     15000u
#define WAIT_MS      20000u
#define POLL_MS      100u
#define MINUTE_MS    INT64_C(60000)
#define PROM_WAIT_MS 60000u

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static double gauss(void)
{
    double u[2];

    for (int i = 0; i < 2; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        u[i] = ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

static int setup(void **state)
{
    integ_hale *h = calloc(1, sizeof(*h));

    if (!h || integ_hale_init(h, "integ-metrics") < 0) {
        free(h);
        return -1;
    }
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    integ_hale_release(*state);
    free(*state);
    return 0;
}

static void dump_log(const integ_hale *h)
{
    char *text = integ_hale_log(h);
    size_t n = text ? strlen(text) : 0;

    fprintf(stderr, "--- hale log (tail) ---\n%s\n", text ? text + (n > 4000 ? n - 4000 : 0) : "");
    free(text);
}

static void start(integ_hale *h, const char *keys)
{
    assert_int_equal(integ_hale_write_config(h, keys), 0);
    if (integ_hale_start(h, START_MS) < 0) {
        dump_log(h);
        fail_msg("hale did not start");
    }
}

static double metric(const integ_hale *h, const char *series)
{
    integ_resp resp = {0};
    double v = -1;

    if (integ_http(h->port, "GET", "/metrics", NULL, NULL, 0, &resp) == 0 && resp.status == 200)
        (void)integ_metric(resp.body, series, &v);
    integ_resp_release(&resp);
    return v;
}

static bool wait_metric_at_least(const integ_hale *h, const char *series, double want,
                                 unsigned timeout_ms)
{
    uint64_t deadline = integ_now_ms() + timeout_ms;

    while (integ_now_ms() < deadline) {
        if (metric(h, series) >= want)
            return true;
        integ_sleep_ms(POLL_MS);
    }
    return false;
}

/* Post samples [{metric, labels {k: v}, value, timestamp}] built from parallel arrays. */
static int post_series(const integ_hale *h, const char *name, const char *lk, const char *lv,
                       const double *v, const int64_t *t, size_t n, json_t **ret)
{
    json_t *arr = json_array(), *doc;
    char *text;
    int status;

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s,s:{s:s},s:f,s:I}", "metric", name, "labels", lk,
                                             lv, "value", v[i], "timestamp", (json_int_t)t[i]));
    doc = json_pack("{s:o}", "samples", arr);
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    status = integ_post_json(h->port, "/api/v1/metrics", text, ret);
    free(text);
    return status;
}

/* The incident whose group key names alertname, or NULL; *ret_doc keeps it alive. */
static const json_t *find_incident(const integ_hale *h, const char *alertname, json_t **ret_doc)
{
    json_t *doc = NULL, *list;
    char want[128];

    snprintf(want, sizeof(want), "alertname=\"%s\"", alertname);
    *ret_doc = NULL;
    if (integ_get_json(h->port, "/api/v1/incidents", &doc) != 200) {
        json_decref(doc);
        return NULL;
    }
    list = json_object_get(doc, "incidents");
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *inc = json_array_get(list, i);
        const char *key = json_string_value(json_object_get(inc, "group_key"));

        if (key && strstr(key, want)) {
            *ret_doc = doc;
            return inc;
        }
    }
    json_decref(doc);
    return NULL;
}

static const json_t *wait_incident(const integ_hale *h, const char *alertname, const char *state,
                                   json_t **ret_doc)
{
    uint64_t deadline = integ_now_ms() + WAIT_MS;

    while (integ_now_ms() < deadline) {
        const json_t *inc = find_incident(h, alertname, ret_doc);
        const char *s = inc ? json_string_value(json_object_get(inc, "state")) : NULL;

        if (s && (!state || strcmp(s, state) == 0))
            return inc;
        json_decref(*ret_doc);
        integ_sleep_ms(POLL_MS);
    }
    dump_log(h);
    fail_msg("no %s incident in state %s", alertname, state ? state : "(any)");
    return NULL;
}

static void defaults_collect_host_series(void **state)
{
    integ_hale *h = *state;
    json_t *doc = NULL;
    bool disk = false;

    start(h, NULL); /* no metrics key at all */
    assert_true(wait_metric_at_least(h, "hale_metrics_samples_total{source=\"host\"}", 8, WAIT_MS));
    assert_true(metric(h, "hale_metrics_host_scrapes_total") >= 1);
    assert_true(metric(h, "hale_metrics_host_scrape_errors_total") == 0);
    assert_true(metric(h, "hale_metrics_series") >= 8);
    assert_int_equal(integ_get_json(h->port, "/api/v1/forecasts", &doc), 200);
    for (size_t i = 0; i < json_array_size(json_object_get(doc, "forecasts")); i++) {
        const json_t *f = json_array_get(json_object_get(doc, "forecasts"), i);
        const char *name = json_string_value(json_object_get(f, "metric"));

        disk |= name && strcmp(name, "host_disk_used_ratio") == 0 &&
                json_integer_value(json_object_get(f, "samples")) >= 1 &&
                json_is_object(json_object_get(f, "exhaustion"));
    }
    assert_true(disk);
    json_decref(doc);
    /* The same through the CLI, and its errors. */
    {
        char *out = NULL, *err = NULL;

        assert_int_equal(
            integ_hale_cli(h,
                           (const char *[]){"forecasts", "list", "--config", h->config_path, NULL},
                           &out, &err),
            0);
        assert_non_null(strstr(out, "host_disk_used_ratio{"));
        assert_non_null(strstr(out, "series with a history"));
        free(out);
        free(err);
        assert_int_equal(integ_hale_cli(h,
                                        (const char *[]){"forecasts", "list", "--series", "nope",
                                                         "--config", h->config_path, NULL},
                                        &out, &err),
                         1);
        assert_non_null(strstr(err, "404"));
        free(out);
        free(err);
    }
    assert_int_equal(integ_hale_stop(h, 10000), 0);
}

static const char fast_keys[] =
    "\"metrics\": {\"host\": {\"enabled\": false}, \"eval_interval_s\": 1, "
    "\"exhaustion\": [{\"match\": {\"metric\": \"disk_used\"}, \"limit\": 0.9, \"horizon_h\": 6, "
    "\"probability\": 0.8}], \"capacity\": [{\"match\": {\"metric\": \"disk_used\"}}, "
    "{\"match\": {\"metric\": \"queue\"}}]}";

static void ramp_opens_exhaustion_incident_before_limit(void **state)
{
    integ_hale *h = *state;
    int64_t now = integ_unix_ms(), t[90], leaves = 0;
    const json_t *inc;
    json_t *doc = NULL, *ans = NULL;
    double v[90], max = 0;

    start(h, fast_keys);
    /* The last 90 minutes: 0.55 rising 0.1 an hour, so 0.7 now and 0.9 in two hours. */
    for (int i = 0; i < 90; i++) {
        t[i] = now - (90 - i) * MINUTE_MS;
        v[i] = 0.55 + 0.1 * i / 60.0 + 0.002 * gauss();
        max = v[i] > max ? v[i] : max;
    }
    assert_true(max < 0.9);
    assert_int_equal(post_series(h, "disk_used", "mount", "/srv", v, t, 90, &ans), 200);
    assert_int_equal(json_integer_value(json_object_get(ans, "samples")), 90);
    json_decref(ans);
    inc = wait_incident(h, "ExhaustionPredicted", "open", &doc);
    assert_non_null(strstr(json_string_value(json_object_get(inc, "title")),
                           "crosses limit 0.9 within 6 hours"));
    json_decref(doc);
    assert_int_equal(
        integ_db_query_int(
            h->data_dir,
            "SELECT COUNT(*) FROM audit_leaf WHERE json_extract(body, '$.kind') = 'prediction'",
            &leaves),
        0);
    assert_true(leaves >= 1); /* committed with the event that opened the incident */
    assert_int_equal(integ_get_json(h->port,
                                    "/api/v1/forecasts?series=disk_used%7Bmount%3D%22%2Fsrv%22%7D",
                                    &doc),
                     200);
    assert_true(json_is_true(json_object_get(json_object_get(doc, "exhaustion"), "firing")));
    assert_true(json_array_size(json_object_get(json_object_get(doc, "forecast"), "points")) ==
                24 * 60);
    json_decref(doc);
    assert_int_equal(integ_hale_stop(h, 10000), 0);
}

static void spike_opens_anomaly_that_resolves(void **state)
{
    integ_hale *h = *state;
    int64_t now = integ_unix_ms(), t[400];
    double v[400];
    const json_t *inc;
    json_t *doc = NULL;

    start(h, fast_keys);
    /* A daily-like cycle with bounded noise: its whole range is seen while the detector warms
     * up, so only the spike is new. */
    for (int i = 0; i < 400; i++) {
        t[i] = now - (400 - i) * MINUTE_MS;
        v[i] = 20 + 2 * sin(6.283185307179586 * i / 24) + 0.1 * tanh(gauss());
    }
    assert_int_equal(post_series(h, "latency_ms", "service", "checkout", v, t, 400, NULL), 200);
    assert_true(metric(h, "hale_metrics_anomalies_total") == 0);
    v[0] = 250;
    t[0] = now;
    assert_int_equal(post_series(h, "latency_ms", "service", "checkout", v, t, 1, NULL), 200);
    inc = wait_incident(h, "AnomalyDetected", NULL, &doc);
    assert_non_null(
        strstr(json_string_value(json_object_get(inc, "group_key")), "service=\"checkout\""));
    json_decref(doc);
    for (int i = 0; i < 5; i++) {
        v[i] = 20 + 2 * sin(6.283185307179586 * (i + 401) / 24) + 0.1 * tanh(gauss());
        t[i] = now + (i + 1) * MINUTE_MS;
    }
    assert_int_equal(post_series(h, "latency_ms", "service", "checkout", v, t, 5, NULL), 200);
    inc = wait_incident(h, "AnomalyDetected", "resolved", &doc);
    json_decref(doc);
    assert_true(metric(h, "hale_metrics_anomalies_total") == 1);
    assert_int_equal(integ_hale_stop(h, 10000), 0);
}

static void malformed_body_is_400_and_changes_nothing(void **state)
{
    static const char *const bad[] = {
        "{\"samples\": [{\"metric\": \"q\", \"value\": \"high\"}]}",
        "{\"samples\": [{\"metric\": \"q\", \"value\": 1}, {\"metric\": \"9q\", \"value\": 1}]}",
        "{\"samples\": [{\"metric\": \"q\", \"value\": 1, \"labels\": {\"__x\": \"y\"}}]}",
        "{\"samples\": [{\"metric\": \"q\", \"value\": 1, \"timestamp\": true}]}",
        "{\"sample\": []}",
        "{\"samples\": [",
        "[1, 2]",
    };
    integ_hale *h = *state;
    integ_resp resp = {0};

    start(h, fast_keys);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(integ_http(h->port, "POST", "/api/v1/metrics", "application/json", bad[i],
                                    strlen(bad[i]), &resp),
                         0);
        if (resp.status != 400 || !integ_resp_is_error(&resp, NULL))
            fail_msg("body %s: %d %s", bad[i], resp.status, resp.body);
        integ_resp_release(&resp);
    }
    assert_int_equal(integ_http(h->port, "POST", "/api/v1/metrics", "text/plain", "x", 1, &resp),
                     0);
    assert_int_equal(resp.status, 415);
    integ_resp_release(&resp);
    assert_true(metric(h, "hale_metrics_series") == 0);
    assert_true(metric(h, "hale_metrics_samples_total{source=\"api\"}") == 0);
    assert_true(metric(h, "hale_http_requests_total{route=\"metrics_samples\",code=\"400\"}") ==
                (double)(sizeof(bad) / sizeof(bad[0])));
    assert_int_equal(integ_hale_stop(h, 10000), 0);
}

static int64_t series_samples(const integ_hale *h, const char *path, const char *field)
{
    json_t *doc = NULL;
    int64_t n = -1;

    if (integ_get_json(h->port, path, &doc) == 200)
        n = json_integer_value(json_object_get(doc, field));
    json_decref(doc);
    return n;
}

static void restart_restores_models(void **state)
{
    static const char path[] = "/api/v1/forecasts?series=queue%7Bname%3D%22jobs%22%7D";
    integ_hale *h = *state;
    int64_t now = integ_unix_ms(), t[300];
    double v[300];

    start(h, fast_keys);
    for (int i = 0; i < 300; i++) {
        t[i] = now - (300 - i) * MINUTE_MS;
        v[i] = 100 + 5 * gauss();
    }
    assert_int_equal(post_series(h, "queue", "name", "jobs", v, t, 300, NULL), 200);
    assert_int_equal(series_samples(h, path, "samples"), 300);
    assert_int_equal(integ_hale_stop(h, 10000), 0);
    start(h, fast_keys);
    assert_int_equal(series_samples(h, path, "samples"), 300);
    assert_int_equal(series_samples(h, path, "detector_learned"), 300);
    for (int i = 0; i < 10; i++) {
        t[i] = now + i * MINUTE_MS;
        v[i] = 100 + 5 * gauss();
    }
    assert_int_equal(post_series(h, "queue", "name", "jobs", v, t, 10, NULL), 200);
    assert_int_equal(series_samples(h, path, "samples"), 310);
    /* A sample older than the restored newest is not learned. */
    t[0] = now - 1000 * MINUTE_MS;
    assert_int_equal(post_series(h, "queue", "name", "jobs", v, t, 1, NULL), 200);
    assert_int_equal(series_samples(h, path, "samples"), 310);
    assert_true(metric(h, "hale_metrics_out_of_order_total") == 1);
    assert_int_equal(integ_hale_stop(h, 10000), 0);
}

/* The periodic snapshot, not only the one at shutdown: a SIGKILL after it loses nothing of
 * what it covered. */
static void periodic_snapshot_survives_kill(void **state)
{
    static const char path[] = "/api/v1/forecasts?series=queue%7Bname%3D%22jobs%22%7D";
    char keys[sizeof(fast_keys) + 64];
    integ_hale *h = *state;
    int64_t now = integ_unix_ms(), t[300];
    double v[300];

    /* fast_keys with a one-second snapshot interval. */
    snprintf(keys, sizeof(keys), "%.*s, \"snapshot_interval_s\": 1}", (int)strlen(fast_keys) - 1,
             fast_keys);
    start(h, keys);
    for (int i = 0; i < 300; i++) {
        t[i] = now - (300 - i) * MINUTE_MS;
        v[i] = 100 + 5 * gauss();
    }
    assert_int_equal(post_series(h, "queue", "name", "jobs", v, t, 300, NULL), 200);
    assert_true(wait_metric_at_least(h, "hale_metrics_snapshot_rows_total", 1, WAIT_MS));
    integ_proc_kill(&h->proc);
    start(h, keys);
    assert_int_equal(series_samples(h, path, "samples"), 300);
    assert_int_equal(integ_hale_stop(h, 10000), 0);
}

/* Debian's Prometheus on a free port, scraping itself every second. */
static bool start_prometheus(const integ_hale *h, integ_proc *p, uint16_t *ret_port)
{
    char bin[4096], yml[4200], cfg[4300], tsdb[4300], web[64], logp[4200];
    const char *argv[] = {bin, cfg, tsdb, web, NULL};

    if (integ_which("prometheus", bin, sizeof(bin)) < 0) {
        fprintf(stderr, "'prometheus' is not installed (Debian package prometheus): skipped\n");
        return false;
    }
    snprintf(yml, sizeof(yml), "%s/prometheus.yml", h->dir);
    snprintf(cfg, sizeof(cfg), "--config.file=%s", yml);
    snprintf(tsdb, sizeof(tsdb), "--storage.tsdb.path=%s/prom-data", h->dir);
    snprintf(logp, sizeof(logp), "%s/prometheus.log", h->dir);
    for (int attempt = 0; attempt < 3; attempt++) {
        uint16_t port = integ_free_port();
        char text[512];
        uint64_t deadline = integ_now_ms() + 30000;

        snprintf(text, sizeof(text),
                 "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prometheus\n"
                 "    static_configs:\n      - targets: ['127.0.0.1:%u']\n",
                 (unsigned)port);
        assert_int_equal(fixture_write(yml, text), 0);
        snprintf(web, sizeof(web), "--web.listen-address=127.0.0.1:%u", (unsigned)port);
        assert_int_equal(integ_proc_start(p, argv, NULL, logp), 0);
        while (integ_proc_running(p) && integ_now_ms() < deadline) {
            integ_resp resp = {0};
            int r = integ_http(port, "GET", "/-/ready", NULL, NULL, 0, &resp);
            bool ready = r == 0 && resp.status == 200;

            integ_resp_release(&resp);
            if (ready) {
                *ret_port = port;
                return true;
            }
            integ_sleep_ms(POLL_MS);
        }
        (void)integ_proc_stop(p, 5000);
    }
    fail_msg("prometheus did not become ready");
    return false;
}

static void poller_reads_real_prometheus(void **state)
{
    integ_hale *h = *state;
    integ_proc prom = {0};
    json_t *doc = NULL;
    char keys[1024], *log;
    uint16_t port = 0;
    int64_t samples = 0;

    if (!start_prometheus(h, &prom, &port))
        return;
    snprintf(keys, sizeof(keys),
             "\"metrics\": {\"host\": {\"enabled\": false}, \"prometheus\": {\"url\": "
             "\"http://127.0.0.1:%u\", \"timeout_ms\": 2000, \"retries\": 1, \"queries\": ["
             "{\"name\": \"prom_up\", \"query\": \"up\", \"interval_s\": 1, \"step_s\": 1, "
             "\"range_s\": 60}, {\"name\": \"broken\", \"query\": \"up((\", \"interval_s\": 1}]},"
             " \"capacity\": [{\"match\": {\"metric\": \"prom_up\"}}]}",
             (unsigned)port);
    start(h, keys);
    /* up becomes 1 after the first scrape; runs keep fetching what is new. */
    if (!wait_metric_at_least(h, "hale_metrics_samples_total{source=\"prometheus\"}", 3,
                              PROM_WAIT_MS)) {
        dump_log(h);
        fail_msg("no samples from prometheus");
    }
    assert_true(wait_metric_at_least(h, "hale_metrics_prometheus_runs_total{query=\"prom_up\"}", 2,
                                     WAIT_MS));
    assert_true(wait_metric_at_least(h, "hale_metrics_prometheus_errors_total{query=\"broken\"}", 1,
                                     WAIT_MS));
    assert_true(metric(h, "hale_metrics_prometheus_errors_total{query=\"prom_up\"}") == 0);
    assert_int_equal(integ_get_json(h->port, "/api/v1/forecasts", &doc), 200);
    for (size_t i = 0; i < json_array_size(json_object_get(doc, "forecasts")); i++) {
        const json_t *f = json_array_get(json_object_get(doc, "forecasts"), i);
        char want[64];

        snprintf(want, sizeof(want), "instance=\"127.0.0.1:%u\"", (unsigned)port);
        if (strstr(json_string_value(json_object_get(f, "series")), want) &&
            json_real_value(json_object_get(f, "value")) == 1)
            samples = json_integer_value(json_object_get(f, "samples"));
    }
    json_decref(doc);
    assert_true(samples >= 1);
    /* A 400 from Prometheus is not retried, and the log names the query. */
    log = integ_hale_log(h);
    assert_non_null(strstr(log, "prometheus query 'broken' failed: HTTP 400: bad_data"));
    free(log);
    assert_int_equal(integ_hale_stop(h, 10000), 0);
    assert_int_equal(integ_proc_stop(&prom, 10000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(defaults_collect_host_series, setup, teardown),
        cmocka_unit_test_setup_teardown(ramp_opens_exhaustion_incident_before_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(spike_opens_anomaly_that_resolves, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_body_is_400_and_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_restores_models, setup, teardown),
        cmocka_unit_test_setup_teardown(periodic_snapshot_survives_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(poller_reads_real_prometheus, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
