/* tests/integ/test_alertmanager.c - hale behind Debian's real Alertmanager (and Prometheus),
 * all on 127.0.0.1 ephemeral ports, set up as PROTOCOLS.md 1.4 shows. End to end: a rule that
 * always fires becomes one open incident (API and CLI agree), Alertmanager's re-sends are
 * deduplicated, and changing the rule resolves the incident. Fast path: alerts posted to
 * Alertmanager's /api/v2/alerts are grouped into incidents and resolved by endsAt. Skipped
 * only when the binaries are not installed. */
#include "fixture.h"

#include <errno.h>
#include <signal.h>

#include "integ_http.h"
#include "integ_proc.h"
#include "integ_store.h"

#define START_ATTEMPTS 3
#define READY_MS       30000u
#define FIRST_HOOK_MS  60000u /* measured ~8-9 s with resend-delay 2s; generous for slow CI */
#define RESEND_MS      30000u
#define RESOLVE_MS     60000u
#define FAST_HOOK_MS   20000u
#define POLL_MS        50u

struct env {
    integ_hale h;        /* hale and the temporary directory everything lives in */
    integ_proc am;       /* prometheus-alertmanager */
    integ_proc prom;     /* prometheus, end-to-end test only */
    uint16_t am_port;    /* Alertmanager's web port */
    uint16_t prom_port;  /* Prometheus' web port */
    char am_bin[4096];   /* path of prometheus-alertmanager */
    char prom_bin[4096]; /* path of prometheus */
    char path[4][4200];  /* alertmanager.yml, prometheus.yml, rules.yml, am.log */
    char prom_log[4200]; /* prometheus.log */
};

enum { AM_YML, PROM_YML, RULES_YML, AM_LOG };

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));

    if (!e || integ_hale_init(&e->h, "integ-am") < 0) {
        free(e);
        return -1;
    }
    snprintf(e->path[AM_YML], sizeof(e->path[0]), "%s/alertmanager.yml", e->h.dir);
    snprintf(e->path[PROM_YML], sizeof(e->path[0]), "%s/prometheus.yml", e->h.dir);
    snprintf(e->path[RULES_YML], sizeof(e->path[0]), "%s/rules.yml", e->h.dir);
    snprintf(e->path[AM_LOG], sizeof(e->path[0]), "%s/alertmanager.log", e->h.dir);
    snprintf(e->prom_log, sizeof(e->prom_log), "%s/prometheus.log", e->h.dir);
    *state = e;
    return 0;
}

static void dump_tail(const char *what, const char *path)
{
    char *text = fixture_read(path, NULL);
    size_t n = text ? strlen(text) : 0;

    fprintf(stderr, "--- %s (last 3000 bytes) ---\n%s\n--- end ---\n", what,
            text ? text + (n > 3000 ? n - 3000 : 0) : "(none)");
    free(text);
}

static int teardown(void **state)
{
    struct env *e = *state;

    /* Exactly the processes this test started, newest first. */
    (void)integ_proc_stop(&e->prom, 5000);
    (void)integ_proc_stop(&e->am, 5000);
    integ_hale_release(&e->h);
    free(e);
    return 0;
}

static bool have(const char *name, char *out, size_t out_size)
{
    if (integ_which(name, out, out_size) == 0)
        return true;
    fprintf(stderr,
            "'%s' is not installed (Debian packages prometheus and "
            "prometheus-alertmanager): test skipped\n",
            name);
    return false;
}

static void start_hale(struct env *e)
{
    int r;

    assert_int_equal(integ_hale_write_config(&e->h, NULL), 0);
    r = integ_hale_start(&e->h, 10000);
    if (r < 0)
        dump_tail("hale log", e->h.log_path);
    assert_int_equal(r, 0);
}

/* Wait until GET path on port answers 200 while proc runs. */
static bool wait_ready(integ_proc *p, uint16_t port, const char *path, unsigned timeout_ms)
{
    uint64_t deadline = integ_now_ms() + timeout_ms;

    while (integ_proc_running(p) && integ_now_ms() < deadline) {
        integ_resp resp = {0};
        int r = integ_http(port, "GET", path, NULL, NULL, 0, &resp);
        int status = resp.status;

        integ_resp_release(&resp);
        if (r == 0 && status == 200)
            return true;
        integ_sleep_ms(POLL_MS);
    }
    return false;
}

static int write_am_config(const struct env *e, unsigned group_interval_s,
                           unsigned repeat_interval_s)
{
    char text[1024];

    snprintf(text, sizeof(text),
             "route:\n"
             "  receiver: hale\n"
             "  group_by: ['alertname']\n"
             "  group_wait: 1s\n"
             "  group_interval: %us\n"
             "  repeat_interval: %us\n"
             "receivers:\n"
             "  - name: hale\n"
             "    webhook_configs:\n"
             "      - url: http://127.0.0.1:%u/api/v1/alerts\n"
             "        send_resolved: true\n",
             group_interval_s, repeat_interval_s, (unsigned)e->h.port);
    return fixture_write(e->path[AM_YML], text);
}

static void start_alertmanager(struct env *e)
{
    char data[4200], cfg[4300], store[4300], web[64], ext[64];
    const char *argv[] = {
        e->am_bin, cfg, store, web, ext, "--cluster.listen-address=", "--log.level=debug", NULL};

    snprintf(data, sizeof(data), "%s/am-data", e->h.dir);
    snprintf(cfg, sizeof(cfg), "--config.file=%s", e->path[AM_YML]);
    snprintf(store, sizeof(store), "--storage.path=%s", data);
    for (int i = 0; i < START_ATTEMPTS; i++) {
        e->am_port = integ_free_port();
        snprintf(web, sizeof(web), "--web.listen-address=127.0.0.1:%u", (unsigned)e->am_port);
        snprintf(ext, sizeof(ext), "--web.external-url=http://127.0.0.1:%u", (unsigned)e->am_port);
        assert_int_equal(integ_proc_start(&e->am, argv, NULL, e->path[AM_LOG]), 0);
        if (wait_ready(&e->am, e->am_port, "/-/ready", READY_MS))
            return;
        (void)integ_proc_stop(&e->am, 5000); /* the port was taken meanwhile: another one */
    }
    dump_tail("alertmanager log", e->path[AM_LOG]);
    fail_msg("alertmanager did not become ready");
}

static int write_rules(const struct env *e, const char *expr)
{
    char text[1024];

    snprintf(text, sizeof(text),
             "groups:\n"
             "  - name: hale-integ\n"
             "    interval: 1s\n"
             "    rules:\n"
             "      - alert: AlwaysFiring\n"
             "        expr: %s\n"
             "        for: 0s\n"
             "        labels:\n"
             "          severity: warning\n"
             "          service: demo\n"
             "        annotations:\n"
             "          summary: \"Synthetic test alert\"\n"
             "          runbook: \"restart-demo\"\n",
             expr);
    return fixture_write(e->path[RULES_YML], text);
}

static int write_prom_config(const struct env *e)
{
    char text[8192];

    snprintf(text, sizeof(text),
             "global:\n"
             "  scrape_interval: 5s\n"
             "  evaluation_interval: 1s\n"
             "rule_files:\n"
             "  - %s\n"
             "alerting:\n"
             "  alertmanagers:\n"
             "    - static_configs:\n"
             "        - targets: ['127.0.0.1:%u']\n"
             "scrape_configs:\n"
             "  - job_name: prometheus\n"
             "    static_configs:\n"
             "      - targets: ['127.0.0.1:%u']\n",
             e->path[RULES_YML], (unsigned)e->am_port, (unsigned)e->prom_port);
    return fixture_write(e->path[PROM_YML], text);
}

static void start_prometheus(struct env *e)
{
    char data[4200], cfg[4300], tsdb[4300], web[64], ext[64];
    const char *argv[] = {
        e->prom_bin, cfg, tsdb, web, ext, "--rules.alert.resend-delay=2s", "--web.enable-lifecycle",
        NULL};

    snprintf(data, sizeof(data), "%s/prom-data", e->h.dir);
    snprintf(cfg, sizeof(cfg), "--config.file=%s", e->path[PROM_YML]);
    snprintf(tsdb, sizeof(tsdb), "--storage.tsdb.path=%s", data);
    for (int i = 0; i < START_ATTEMPTS; i++) {
        e->prom_port = integ_free_port();
        assert_int_equal(write_prom_config(e), 0);
        snprintf(web, sizeof(web), "--web.listen-address=127.0.0.1:%u", (unsigned)e->prom_port);
        snprintf(ext, sizeof(ext), "--web.external-url=http://127.0.0.1:%u",
                 (unsigned)e->prom_port);
        assert_int_equal(integ_proc_start(&e->prom, argv, NULL, e->prom_log), 0);
        if (wait_ready(&e->prom, e->prom_port, "/-/ready", READY_MS))
            return;
        (void)integ_proc_stop(&e->prom, 5000);
    }
    dump_tail("prometheus log", e->prom_log);
    fail_msg("prometheus did not become ready");
}

static void dump_all(const struct env *e)
{
    dump_tail("hale log", e->h.log_path);
    dump_tail("alertmanager log", e->path[AM_LOG]);
    if (e->prom.pid)
        dump_tail("prometheus log", e->prom_log);
}

/* The incident list (caller decrefs) once pred holds for it, or NULL at the deadline. */
typedef bool (*list_pred)(const json_t *incidents, const void *arg);

static json_t *wait_incidents(const struct env *e, list_pred pred, const void *arg,
                              unsigned timeout_ms)
{
    uint64_t deadline = integ_now_ms() + timeout_ms;

    for (;;) {
        json_t *doc = NULL;

        if (integ_get_json(e->h.port, "/api/v1/incidents", &doc) == 200 &&
            pred(json_object_get(doc, "incidents"), arg))
            return doc;
        json_decref(doc);
        if (integ_now_ms() >= deadline)
            return NULL;
        integ_sleep_ms(POLL_MS);
    }
}

static json_t *incident_detail(const struct env *e, json_int_t id)
{
    json_t *doc = NULL;

    assert_int_equal(integ_get_incident(e->h.port, (long long)id, 3000, &doc), 200);
    assert_non_null(doc);
    return doc;
}

static const char *str(const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));

    return v ? v : "";
}

static json_int_t num(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

static bool has_n(const json_t *incidents, const void *arg)
{
    return json_array_size(incidents) >= *(const size_t *)arg;
}

static void assert_labels(const json_t *labels, const char *const *pairs)
{
    size_t n = 0;

    for (; pairs[0]; pairs += 2, n++) {
        if (strcmp(str(labels, pairs[0]), pairs[1]) != 0)
            fprintf(stderr, "label %s: got '%s', expected '%s'\n", pairs[0], str(labels, pairs[0]),
                    pairs[1]);
        assert_string_equal(str(labels, pairs[0]), pairs[1]);
    }
    assert_int_equal(json_object_size(labels), n);
}

/* `hale incidents list --json`, run as a child process, reads the same store. */
static void check_cli_list(struct env *e, json_int_t id)
{
    static const char *const group[] = {"alertname", "AlwaysFiring", "service", "demo", NULL};
    char *out = NULL;
    json_t *cli, *inc;

    assert_int_equal(integ_hale_cli(&e->h,
                                    (const char *[]){"incidents", "list", "--json", "--config",
                                                     e->h.config_path, NULL},
                                    &out, NULL),
                     0);
    cli = json_loads(out ? out : "", 0, NULL);
    free(out);
    assert_non_null(cli);
    assert_int_equal(json_array_size(json_object_get(cli, "incidents")), 1);
    inc = json_array_get(json_object_get(cli, "incidents"), 0);
    assert_int_equal(num(inc, "id"), id);
    assert_string_equal(str(inc, "state"), "open");
    assert_labels(json_object_get(inc, "group_labels"), group);
    json_decref(cli);
}

/* (a) The firing rule is one open incident, as the API and the CLI both show it. */
static json_int_t check_open_incident(struct env *e)
{
    static const char *const group[] = {"alertname", "AlwaysFiring", "service", "demo", NULL};
    static const char *const labels[] = {"alertname", "AlwaysFiring", "service", "demo",
                                         "severity",  "warning",      NULL};
    size_t one = 1;
    uint64_t t0 = integ_now_ms();
    json_t *list = wait_incidents(e, has_n, &one, FIRST_HOOK_MS), *inc, *detail, *alert;
    json_int_t id;

    if (!list)
        dump_all(e);
    assert_non_null(list);
    fprintf(stderr, "first incident %.1f s after Prometheus was ready\n",
            (double)(integ_now_ms() - t0) / 1000.0);
    assert_int_equal(json_array_size(json_object_get(list, "incidents")), 1);
    inc = json_array_get(json_object_get(list, "incidents"), 0);
    id = num(inc, "id");
    assert_true(id > 0);
    assert_string_equal(str(inc, "state"), "open");
    assert_string_equal(str(inc, "severity"), "warning");
    assert_string_equal(str(inc, "title"), "AlwaysFiring: Synthetic test alert");
    assert_labels(json_object_get(inc, "group_labels"), group);
    assert_true(json_is_null(json_object_get(inc, "closed_at")));

    detail = incident_detail(e, id);
    assert_int_equal(json_array_size(json_object_get(detail, "alerts")), 1);
    alert = json_array_get(json_object_get(detail, "alerts"), 0);
    assert_labels(json_object_get(alert, "labels"), labels);
    assert_string_equal(str(alert, "status"), "firing");
    assert_string_equal(str(alert, "source"), "alertmanager");
    assert_string_equal(str(json_object_get(alert, "annotations"), "summary"),
                        "Synthetic test alert");
    /* Alertmanager's fingerprint of this label set, as captured in PROTOCOLS.md 1.2. */
    assert_string_equal(str(alert, "fingerprint"), "5fd73595ad6c3eef");
    assert_true(json_is_null(json_object_get(alert, "ends_at")));
    {
        char want[64];

        snprintf(want, sizeof(want), "http://127.0.0.1:%u/graph", (unsigned)e->prom_port);
        assert_non_null(strstr(str(alert, "generator_url"), want));
    }

    check_cli_list(e, id);
    json_decref(detail);
    json_decref(list);
    return id;
}

/* (b) Alertmanager re-sends (repeat_interval) count on the one alert and open nothing new. */
static void check_resends_dedup(struct env *e, json_int_t id)
{
    uint64_t deadline = integ_now_ms() + RESEND_MS;
    json_int_t seen = 0;
    json_t *detail = NULL, *list = NULL;
    int64_t rows = -1;

    while (integ_now_ms() < deadline) {
        detail = incident_detail(e, id);
        seen = num(json_array_get(json_object_get(detail, "alerts"), 0), "seen_count");
        if (seen >= 2)
            break;
        json_decref(detail);
        detail = NULL;
        integ_sleep_ms(POLL_MS);
    }
    if (seen < 2)
        dump_all(e);
    assert_true(seen >= 2);
    assert_int_equal(json_array_size(json_object_get(detail, "alerts")), 1);
    assert_int_equal(num(detail, "alerts_total"), 1);
    assert_int_equal(num(detail, "alerts_firing"), 1);
    assert_string_equal(str(detail, "state"), "open");
    json_decref(detail);
    assert_int_equal(integ_get_json(e->h.port, "/api/v1/incidents", &list), 200);
    assert_int_equal(json_array_size(json_object_get(list, "incidents")), 1);
    json_decref(list);
    assert_int_equal(integ_db_query_int(e->h.data_dir, "SELECT COUNT(*) FROM alerts", &rows), 0);
    assert_int_equal(rows, 1);
    fprintf(stderr, "re-sends deduplicated: seen_count %lld, one incident, one alert\n",
            (long long)seen);
}

static bool all_resolved(const json_t *incidents, const void *arg)
{
    size_t i;
    json_t *inc;

    (void)arg;
    json_array_foreach(incidents, i, inc)
    {
        if (strcmp(str(inc, "state"), "resolved") != 0)
            return false;
    }
    return json_array_size(incidents) > 0;
}

/* (c) The rule stops firing: Prometheus sends the resolved alert, the incident resolves. */
static void check_resolve(struct env *e, json_int_t id)
{
    uint64_t t0 = integ_now_ms();
    integ_resp resp = {0};
    json_t *list, *detail, *alert, *transitions;

    assert_int_equal(write_rules(e, "vector(0) > 0"), 0);
    assert_int_equal(integ_http(e->prom_port, "POST", "/-/reload", NULL, "", 0, &resp), 0);
    assert_int_equal(resp.status, 200);
    integ_resp_release(&resp);
    list = wait_incidents(e, all_resolved, NULL, RESOLVE_MS);
    if (!list)
        dump_all(e);
    assert_non_null(list);
    fprintf(stderr, "resolved %.1f s after the rule changed\n",
            (double)(integ_now_ms() - t0) / 1000.0);
    assert_int_equal(json_array_size(json_object_get(list, "incidents")), 1);
    json_decref(list);

    detail = incident_detail(e, id);
    assert_string_equal(str(detail, "state"), "resolved");
    assert_int_equal(num(detail, "alerts_firing"), 0);
    assert_false(json_is_null(json_object_get(detail, "closed_at")));
    assert_int_equal(json_array_size(json_object_get(detail, "alerts")), 1);
    alert = json_array_get(json_object_get(detail, "alerts"), 0);
    assert_string_equal(str(alert, "status"), "resolved");
    assert_false(json_is_null(json_object_get(alert, "ends_at")));
    transitions = json_object_get(detail, "transitions");
    assert_true(json_array_size(transitions) >= 2);
    assert_string_equal(str(json_array_get(transitions, json_array_size(transitions) - 1), "to"),
                        "resolved");
    json_decref(detail);

    /* The CLI agrees. */
    {
        char idtext[32], *out = NULL;
        json_t *cli;

        snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
        assert_int_equal(integ_hale_cli(&e->h,
                                        (const char *[]){"incidents", "show", idtext, "--json",
                                                         "--config", e->h.config_path, NULL},
                                        &out, NULL),
                         0);
        cli = json_loads(out ? out : "", 0, NULL);
        free(out);
        assert_non_null(cli);
        assert_string_equal(str(cli, "state"), "resolved");
        assert_string_equal(str(json_array_get(json_object_get(cli, "alerts"), 0), "status"),
                            "resolved");
        json_decref(cli);
    }
}

static void prometheus_to_alertmanager_to_hale(void **state)
{
    struct env *e = *state;
    json_int_t id;

    if (!have("prometheus-alertmanager", e->am_bin, sizeof(e->am_bin)) ||
        !have("prometheus", e->prom_bin, sizeof(e->prom_bin)))
        skip();
    start_hale(e);
    assert_int_equal(write_am_config(e, 2, 4), 0);
    start_alertmanager(e);
    assert_int_equal(write_rules(e, "vector(1) > 0"), 0);
    start_prometheus(e);

    id = check_open_incident(e);
    check_resends_dedup(e, id);
    check_resolve(e, id);

    assert_int_equal(integ_proc_stop(&e->prom, 5000), 0);
    assert_int_equal(integ_proc_stop(&e->am, 5000), 0);
    assert_int_equal(integ_hale_stop(&e->h, 5000), 0);
}

/* POST alerts to Alertmanager's own API (PROTOCOLS.md 1.4, fast path). */
static void am_post(const struct env *e, const char *starts_at, const char *ends_at)
{
    static const char *const inst[3][4] = {
        {"web", "web-1", "critical", "disk / at 97%"},
        {"web", "web-2", "warning", "disk / at 91%"},
        {"db", "db-1", "warning", "disk /var at 90%"},
    };
    json_t *list = json_array();
    integ_resp resp = {0};
    char *text;

    assert_non_null(list);
    for (int i = 0; i < 3; i++) {
        json_t *a = json_pack("{s:{s:s, s:s, s:s, s:s}, s:{s:s}, s:s, s:s}", "labels", "alertname",
                              "DiskFull", "service", inst[i][0], "instance", inst[i][1], "severity",
                              inst[i][2], "annotations", "summary", inst[i][3], "generatorURL",
                              "http://127.0.0.1:9/graph", "startsAt", starts_at);

        assert_non_null(a);
        if (ends_at)
            assert_int_equal(json_object_set_new(a, "endsAt", json_string(ends_at)), 0);
        assert_int_equal(json_array_append_new(list, a), 0);
    }
    text = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    assert_non_null(text);
    assert_int_equal(integ_http(e->am_port, "POST", "/api/v2/alerts", "application/json", text,
                                strlen(text), &resp),
                     0);
    if (resp.status != 200)
        fprintf(stderr, "alertmanager answered %d %s\n", resp.status, resp.body);
    assert_int_equal(resp.status, 200);
    integ_resp_release(&resp);
    free(text);
}

static json_t *find_incident(const json_t *incidents, const char *service)
{
    size_t i;
    json_t *inc;

    json_array_foreach(incidents, i, inc)
    {
        if (strcmp(str(json_object_get(inc, "group_labels"), "service"), service) == 0)
            return inc;
    }
    return NULL;
}

static bool fast_grouped(const json_t *incidents, const void *arg)
{
    const json_t *web = find_incident(incidents, "web");
    const json_t *db = find_incident(incidents, "db");

    (void)arg;
    return web && db && num(web, "alerts_total") == 2 && num(db, "alerts_total") == 1;
}

static void fast_resolve(struct env *e, const char *starts)
{
    char ends[40];
    uint64_t t0;
    json_t *list, *web, *detail, *a;
    size_t i;

    integ_rfc3339(integ_unix_ms() - 1000, ends, sizeof(ends));
    t0 = integ_now_ms();
    am_post(e, starts, ends);
    list = wait_incidents(e, all_resolved, NULL, FAST_HOOK_MS);
    if (!list)
        dump_all(e);
    assert_non_null(list);
    fprintf(stderr, "fast path: resolved %.1f s after the POST\n",
            (double)(integ_now_ms() - t0) / 1000.0);
    assert_int_equal(json_array_size(json_object_get(list, "incidents")), 2);
    web = find_incident(json_object_get(list, "incidents"), "web");
    assert_non_null(web);
    detail = incident_detail(e, num(web, "id"));
    assert_int_equal(num(detail, "alerts_firing"), 0);
    json_array_foreach(json_object_get(detail, "alerts"), i, a)
        assert_string_equal(str(a, "status"), "resolved");
    json_decref(detail);
    json_decref(list);
}

static void alertmanager_api_fast_path(void **state)
{
    struct env *e = *state;
    char starts[40];
    int64_t now = integ_unix_ms();
    uint64_t t0;
    json_t *list, *web, *db, *detail;
    size_t i;
    json_t *a;

    if (!have("prometheus-alertmanager", e->am_bin, sizeof(e->am_bin)))
        skip();
    start_hale(e);
    assert_int_equal(write_am_config(e, 1, 3600), 0);
    start_alertmanager(e);

    /* Two alerts of one alertname and service, one of another service: two incidents. */
    integ_rfc3339(now - 10000, starts, sizeof(starts));
    t0 = integ_now_ms();
    am_post(e, starts, NULL);
    list = wait_incidents(e, fast_grouped, NULL, FAST_HOOK_MS);
    if (!list)
        dump_all(e);
    assert_non_null(list);
    fprintf(stderr, "fast path: grouped %.1f s after the POST\n",
            (double)(integ_now_ms() - t0) / 1000.0);
    assert_int_equal(json_array_size(json_object_get(list, "incidents")), 2);
    web = find_incident(json_object_get(list, "incidents"), "web");
    db = find_incident(json_object_get(list, "incidents"), "db");
    assert_string_equal(str(web, "state"), "open");
    assert_string_equal(str(web, "severity"), "critical");
    assert_int_equal(num(web, "alerts_firing"), 2);
    assert_string_equal(str(db, "state"), "open");
    detail = incident_detail(e, num(web, "id"));
    assert_int_equal(json_array_size(json_object_get(detail, "alerts")), 2);
    json_array_foreach(json_object_get(detail, "alerts"), i, a)
    {
        assert_string_equal(str(json_object_get(a, "labels"), "service"), "web");
        assert_string_equal(str(a, "status"), "firing");
    }
    json_decref(detail);
    json_decref(list);

    fast_resolve(e, starts);

    assert_int_equal(integ_proc_stop(&e->am, 5000), 0);
    assert_int_equal(integ_hale_stop(&e->h, 5000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(alertmanager_api_fast_path, setup, teardown),
        cmocka_unit_test_setup_teardown(prometheus_to_alertmanager_to_hale, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
