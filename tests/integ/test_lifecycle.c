/* tests/integ/test_lifecycle.c - the daemon's life: SIGTERM with requests in flight (exit 0
 * within 5 s, nothing acknowledged is lost across restarts), SIGHUP reloads that apply or are
 * refused, `hale config check`, the CLI's usage errors and exit codes, and /metrics checked by
 * promtool. Each test runs its own hale in its own temporary directory. */
#include "fixture.h"

#include <errno.h>
#include <signal.h>

#include "integ_http.h"
#include "integ_proc.h"
#include "integ_store.h"

#define STOP_DEADLINE_MS 5000u
#define FLIGHT_ROUNDS    18 /* six of each kind */

static int setup(void **state)
{
    integ_hale *h = calloc(1, sizeof(*h));

    if (!h || integ_hale_init(h, "integ-life") < 0) {
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

static void dump_log(const integ_hale *h)
{
    char *log = integ_hale_log(h);

    fprintf(stderr, "--- hale log ---\n%s--- end ---\n", log ? log : "(none)\n");
    free(log);
}

static void start(integ_hale *h)
{
    int r = integ_hale_start(h, 10000);

    if (r < 0)
        dump_log(h);
    assert_int_equal(r, 0);
}

/* SIGTERM; hale must exit 0 within STOP_DEADLINE_MS. */
static void stop_ok(integ_hale *h)
{
    uint64_t t0 = integ_now_ms();
    int code = integ_hale_stop(h, STOP_DEADLINE_MS);

    if (code != 0)
        dump_log(h);
    assert_int_equal(code, 0);
    assert_true(integ_now_ms() - t0 <= STOP_DEADLINE_MS);
}

static char *event_body(unsigned i)
{
    char *text = malloc(256);

    if (text)
        snprintf(text, 256,
                 "{\"source\":\"integ\",\"severity\":\"warning\",\"fingerprint\":\"%016x\","
                 "\"labels\":{\"alertname\":\"Flight\",\"service\":\"svc-%u\"}}",
                 0xf1000u + i, i);
    return text;
}

static bool alert_stored(const integ_hale *h, unsigned i)
{
    char fp[32], sql[256];
    int64_t n = 0;

    snprintf(fp, sizeof(fp), "%016x", 0xf1000u + i);
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) FROM alerts a JOIN incidents i ON i.id = a.incident_id "
             "WHERE a.fingerprint = '%s'",
             fp);
    return integ_db_query_int(h->data_dir, sql, &n) == 0 && n == 1;
}

/* What one in-flight request got: 2 = 200 accepted, 1 = 503 try again, 0 = closed unanswered. */
static int read_outcome(integ_conn *c)
{
    integ_resp resp = {0};
    int r = integ_conn_read_response(c, STOP_DEADLINE_MS, &resp);
    int outcome = 0;

    if (r == 0) {
        if (resp.status != 200 && resp.status != 503)
            fprintf(stderr, "in-flight request answered %d %s\n", resp.status, resp.body);
        assert_true(resp.status == 200 || resp.status == 503);
        if (resp.status == 503)
            assert_true(integ_resp_is_error(&resp, NULL));
        outcome = resp.status == 200 ? 2 : 1;
    } else {
        assert_true(r == -ECONNABORTED || r == -ECONNRESET);
    }
    integ_resp_release(&resp);
    return outcome;
}

/* A whole request written and SIGTERM sent before its answer is read; on a warm connection
 * (one that hale has accepted and served before) or a fresh one. */
static int whole_request_then_sigterm(integ_hale *h, unsigned i, bool warm)
{
    char *body = event_body(i);
    size_t len;
    char *text = integ_http_format(h->port, "POST", "/api/v1/events", "application/json", NULL,
                                   body, strlen(body), &len);
    integ_conn c;
    int outcome;

    assert_non_null(text);
    integ_conn_init(&c, h->port);
    assert_int_equal(integ_conn_connect(&c, 5000), 0);
    if (warm) {
        integ_resp resp = {0};

        assert_int_equal(integ_conn_request(&c, "GET", "/healthz", NULL, NULL, 0, 5000, &resp), 0);
        assert_int_equal(resp.status, 200);
        integ_resp_release(&resp);
    }
    assert_int_equal(integ_conn_send(&c, text, len, 5000), 0);
    assert_int_equal(integ_proc_signal(&h->proc, SIGTERM), 0);
    outcome = read_outcome(&c);
    integ_conn_close(&c);
    free(text);
    free(body);
    return outcome;
}

/* Occurrences of needle in the log (which every run of this directory appends to). */
static unsigned log_count(const integ_hale *h, const char *needle)
{
    char *log = integ_hale_log(h);
    unsigned n = 0;

    for (const char *p = log; p && (p = strstr(p, needle)) != NULL; p++)
        n++;
    free(log);
    return n;
}

static bool log_has(const integ_hale *h, const char *needle)
{
    return log_count(h, needle) > 0;
}

/* Headers and half the body sent, SIGTERM, then (once hale has begun to drain) the rest. */
static int half_request_then_sigterm(integ_hale *h, unsigned i)
{
    char *body = event_body(i);
    size_t len, half;
    char *text = integ_http_format(h->port, "POST", "/api/v1/events", "application/json", NULL,
                                   body, strlen(body), &len);
    uint64_t deadline = integ_now_ms() + STOP_DEADLINE_MS;
    unsigned before = log_count(h, "shutting down");
    integ_conn c;
    int outcome;

    assert_non_null(text);
    half = len - strlen(body) / 2;
    integ_conn_init(&c, h->port);
    assert_int_equal(integ_conn_connect(&c, 5000), 0);
    assert_int_equal(integ_conn_send(&c, text, half, 5000), 0);
    integ_sleep_ms(20); /* pacing: let hale read the first half */
    assert_int_equal(integ_proc_signal(&h->proc, SIGTERM), 0);
    while (log_count(h, "shutting down") == before && integ_now_ms() < deadline)
        integ_sleep_ms(20);
    if (integ_conn_send(&c, text + half, len - half, 5000) == 0)
        outcome = read_outcome(&c);
    else
        outcome = 0;
    integ_conn_close(&c);
    free(text);
    free(body);
    return outcome;
}

static void wait_exit_ok(integ_hale *h, uint64_t t0)
{
    int r = integ_proc_wait(&h->proc, STOP_DEADLINE_MS);

    if (r < 0 || integ_proc_exit_code(&h->proc) != 0)
        dump_log(h);
    assert_int_equal(r, 0);
    assert_int_equal(integ_proc_exit_code(&h->proc), 0);
    assert_true(integ_now_ms() - t0 <= STOP_DEADLINE_MS + 100);
}

static void sigterm_with_request_in_flight(void **state)
{
    integ_hale *h = *state;
    static const char *const kinds[3] = {"whole, warm", "whole, fresh", "half"};
    int outcome[FLIGHT_ROUNDS];
    unsigned counts[3] = {0};
    char *list1 = NULL;
    json_t *doc = NULL;

    assert_int_equal(integ_hale_write_config(h, NULL), 0);
    for (unsigned i = 0; i < FLIGHT_ROUNDS; i++) {
        uint64_t t0;

        start(h);
        t0 = integ_now_ms();
        outcome[i] = i % 3 == 2 ? half_request_then_sigterm(h, i)
                                : whole_request_then_sigterm(h, i, i % 3 == 0);
        wait_exit_ok(h, t0);
        counts[outcome[i]]++;
        fprintf(stderr, "round %u (%s): %s after %llu ms\n", i, kinds[i % 3],
                outcome[i] == 2   ? "200"
                : outcome[i] == 1 ? "503"
                                  : "closed",
                (unsigned long long)(integ_now_ms() - t0));
    }
    fprintf(stderr, "in flight at SIGTERM: %u accepted, %u answered 503, %u closed unanswered\n",
            counts[2], counts[1], counts[0]);
    /* A request hale has already read is answered: the warm rounds must have been accepted. */
    assert_true(counts[2] >= 1);

    /* First restart: every accepted alert is there, with its incident. */
    start(h);
    for (unsigned i = 0; i < FLIGHT_ROUNDS; i++) {
        if (outcome[i] == 2 && !alert_stored(h, i))
            fprintf(stderr, "accepted alert %u is missing after restart\n", i);
        if (outcome[i] == 2)
            assert_true(alert_stored(h, i));
    }
    assert_int_equal(integ_get_json(h->port, "/api/v1/incidents", &doc), 200);
    assert_true(json_array_size(json_object_get(doc, "incidents")) >= counts[2]);
    list1 = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    stop_ok(h);

    /* Second restart: the same incidents, unchanged. */
    start(h);
    assert_int_equal(integ_get_json(h->port, "/api/v1/incidents", &doc), 200);
    {
        char *list2 = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);

        assert_string_equal(list2, list1);
        free(list2);
    }
    json_decref(doc);
    free(list1);
    stop_ok(h);
}

static void sigint_exits_zero(void **state)
{
    integ_hale *h = *state;
    uint64_t t0;

    assert_int_equal(integ_hale_write_config(h, NULL), 0);
    start(h);
    t0 = integ_now_ms();
    assert_int_equal(integ_proc_signal(&h->proc, SIGINT), 0);
    wait_exit_ok(h, t0);
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

/* Poll /metrics until series has value want (reloads are asynchronous to kill()). */
static void wait_metric(const integ_hale *h, const char *series, double want)
{
    uint64_t deadline = integ_now_ms() + 5000;
    double v;

    while ((v = metric(h, series)) != want && integ_now_ms() < deadline)
        integ_sleep_ms(20);
    if (v != want)
        fprintf(stderr, "%s is %g, expected %g\n", series, v, want);
    assert_true(v == want);
}

/* POST an event whose body is exactly len bytes; returns the status. */
static int post_event_of_size(const integ_hale *h, size_t len)
{
    const char *head = "{\"source\":\"reload\",\"labels\":{\"alertname\":\"Reload\"},"
                       "\"annotations\":{\"pad\":\"";
    char *body = malloc(len + 1);
    integ_resp resp = {0};
    size_t n = strlen(head);
    int status;

    assert_non_null(body);
    assert_true(len > n + 4);
    memcpy(body, head, n);
    memset(body + n, 'p', len - n - 3);
    memcpy(body + len - 3, "\"}}", 3);
    body[len] = '\0';
    assert_int_equal(
        integ_http(h->port, "POST", "/api/v1/events", "application/json", body, len, &resp), 0);
    status = resp.status;
    if (status != 200)
        assert_true(integ_resp_is_error(&resp, NULL));
    integ_resp_release(&resp);
    free(body);
    return status;
}

static void healthy(integ_hale *h)
{
    integ_resp resp = {0};

    assert_true(integ_proc_running(&h->proc));
    assert_int_equal(integ_http(h->port, "GET", "/healthz", NULL, NULL, 0, &resp), 0);
    assert_int_equal(resp.status, 200);
    integ_resp_release(&resp);
}

static void sighup_reload_applies_or_keeps_old(void **state)
{
    integ_hale *h = *state;

    assert_int_equal(integ_hale_write_config(h, "\"log_level\": \"info\""), 0);
    start(h);
    assert_int_equal(post_event_of_size(h, 2000), 200);
    assert_true(metric(h, "hale_config_reloads_total") == 0);

    /* A valid change takes effect: the lower body limit, and log_level "warn", which already
     * silences the "config reloaded" notice that follows the swap. */
    assert_int_equal(
        integ_hale_write_config(h, "\"log_level\": \"warn\", \"max_body_bytes\": 1000"), 0);
    assert_int_equal(integ_proc_signal(&h->proc, SIGHUP), 0);
    wait_metric(h, "hale_config_reloads_total", 1);
    healthy(h);
    assert_int_equal(post_event_of_size(h, 2000), 413);
    assert_int_equal(post_event_of_size(h, 500), 200);
    assert_false(log_has(h, "config reloaded"));

    /* A broken file: refused (logged as an error), the running config stays. */
    assert_int_equal(fixture_write(h->config_path, "{\"log_level\": \"debug\", \"max_body_"), 0);
    assert_int_equal(integ_proc_signal(&h->proc, SIGHUP), 0);
    wait_metric(h, "hale_config_reload_failures_total", 1);
    assert_true(metric(h, "hale_config_reloads_total") == 1);
    assert_true(log_has(h, "config reload failed"));
    healthy(h);
    assert_int_equal(post_event_of_size(h, 2000), 413);
    assert_int_equal(post_event_of_size(h, 500), 200);

    /* A valid file that changes a key that needs a restart: refused as well, key named. */
    assert_int_equal(
        integ_hale_write_config(h, "\"log_level\": \"info\", \"max_body_bytes\": 1000000, "
                                   "\"store_sync\": \"normal\""),
        0);
    assert_int_equal(integ_proc_signal(&h->proc, SIGHUP), 0);
    wait_metric(h, "hale_config_reload_failures_total", 2);
    assert_true(log_count(h, "store_sync") >= 2); /* the start line, then the refusal */
    healthy(h);
    assert_int_equal(post_event_of_size(h, 2000), 413);

    /* Back to info and the default limit: applied, and the notice is written again. */
    assert_int_equal(integ_hale_write_config(h, "\"log_level\": \"info\""), 0);
    assert_int_equal(integ_proc_signal(&h->proc, SIGHUP), 0);
    wait_metric(h, "hale_config_reloads_total", 2);
    assert_true(log_has(h, "config reloaded"));
    assert_int_equal(post_event_of_size(h, 2000), 200);
    stop_ok(h);
}

static void config_check_good_and_bad(void **state)
{
    integ_hale *h = *state;
    char path[4200];
    char *out = NULL, *err = NULL;
    json_t *doc;
    static const struct {
        const char *text;  /* file content, NULL: no file */
        const char *named; /* what stderr must mention */
    } bad[] = {
        {"{\"lissten\": \"127.0.0.1:1\"}", "'lissten'"},
        {"{\"group_window_s\": \"300\"}", "group_window_s"},
        {"{\"group_window_s\": 0}", "group_window_s"},
        {"{\"max_body_bytes\": 99999999999}", "max_body_bytes"},
        {"{\"group_by\": [\"service\", \"service\"]}", "group_by"},
        {"{\"store_sync\": \"sometimes\"}", "store_sync"},
        {"{\"log_level\": \"loud\"}", "log_level"},
        {"{\"listen\": \"127.0.0.1:1\",}", "config.json:1:"},
        {"[]", "object"},
        {NULL, "cannot read"},
    };

    snprintf(path, sizeof(path), "%s/config.json", h->dir);
    assert_int_equal(fixture_write(path, "{\"log_level\": \"warn,http=debug\", \"group_window_s\": "
                                         "60, \"max_body_bytes\": \"1MiB\"}"),
                     0);
    assert_int_equal(integ_hale_cli(h, (const char *[]){"config", "check", path, NULL}, &out, &err),
                     0);
    doc = json_loads(out ? out : "", 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "group_window_s")), 60);
    assert_int_equal(json_integer_value(json_object_get(doc, "max_body_bytes")), 1048576);
    assert_string_equal(json_string_value(json_object_get(doc, "listen")), "127.0.0.1:9464");
    assert_int_equal(json_object_size(doc), 24); /* every key, auth, llm and metrics included */
    json_decref(doc);
    free(out);
    free(err);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int code;

        if (bad[i].text)
            assert_int_equal(fixture_write(path, bad[i].text), 0);
        else
            assert_int_equal(remove(path), 0);
        code = integ_hale_cli(h, (const char *[]){"config", "check", path, NULL}, &out, &err);
        if (code != 2 || !err || !strstr(err, bad[i].named))
            fprintf(stderr, "config check '%s': exit %d, stderr: %s\n",
                    bad[i].text ? bad[i].text : "(missing)", code, err ? err : "");
        assert_int_equal(code, 2);
        assert_non_null(err);
        assert_non_null(strstr(err, bad[i].named));
        free(out);
        free(err);
    }
}

/* Run hale with args; check the exit code and that want_out / want_err occur (NULL: any). */
static void cli_expect(const integ_hale *h, const char *const *args, int code, const char *want_out,
                       const char *want_err)
{
    char *out = NULL, *err = NULL;
    int r = integ_hale_cli(h, args, &out, &err);

    if (r != code || (want_out && (!out || !strstr(out, want_out))) ||
        (want_err && (!err || !strstr(err, want_err))))
        fprintf(stderr, "hale %s ...: exit %d\nstdout: %s\nstderr: %s\n", args[0] ? args[0] : "", r,
                out ? out : "", err ? err : "");
    assert_int_equal(r, code);
    if (want_out)
        assert_non_null(strstr(out ? out : "", want_out));
    if (want_err)
        assert_non_null(strstr(err ? err : "", want_err));
    free(out);
    free(err);
}

static void cli_usage_and_exit_codes(void **state)
{
    integ_hale *h = *state;
    char *out = NULL, *err = NULL;

    cli_expect(h, (const char *[]){NULL}, 0, "usage: hale", NULL);
    cli_expect(h, (const char *[]){"--help", NULL}, 0, "usage: hale", NULL);
    cli_expect(h, (const char *[]){"--version", NULL}, 0, "hale " HALE_VERSION, NULL);
    cli_expect(h, (const char *[]){"version", NULL}, 0, "hale " HALE_VERSION, NULL);
    cli_expect(h, (const char *[]){"bogus", NULL}, 2, NULL, "unknown command 'bogus'");
    cli_expect(h, (const char *[]){"bogus", NULL}, 2, NULL, "usage: hale");
    cli_expect(h, (const char *[]){"--bogus", NULL}, 2, NULL, "usage: hale");
    cli_expect(h, (const char *[]){"run", "--bogus", NULL}, 2, NULL, "unknown option '--bogus'");
    cli_expect(h, (const char *[]){"run", "--bogus", NULL}, 2, NULL, "usage: hale run");
    cli_expect(h, (const char *[]){"run", "--config", NULL}, 2, NULL, "usage: hale run");
    cli_expect(h, (const char *[]){"incidents", "list", "--bogus", NULL}, 2, NULL,
               "usage: hale incidents");
    cli_expect(h, (const char *[]){"incidents", NULL}, 2, NULL, "usage: hale incidents");
    cli_expect(h, (const char *[]){"config", NULL}, 2, NULL, "usage: hale config");
    cli_expect(h, (const char *[]){"version", "extra", NULL}, 2, NULL, "usage: hale version");
    /* Help goes to stdout, nothing to stderr. */
    assert_int_equal(integ_hale_cli(h, (const char *[]){NULL}, &out, &err), 0);
    assert_string_equal(err ? err : "?", "");
    free(out);
    free(err);

    /* Against a real store. */
    assert_int_equal(integ_hale_write_config(h, NULL), 0);
    start(h);
    assert_int_equal(integ_post_json(h->port, "/api/v1/events",
                                     "{\"source\":\"cli\",\"labels\":{\"alertname\":\"Cli\"}}",
                                     NULL),
                     200);
    cli_expect(h, (const char *[]){"incidents", "list", "--json", "--config", h->config_path, NULL},
               0, "\"alertname\": \"Cli\"", NULL);
    cli_expect(h, (const char *[]){"incidents", "show", "1", "--config", h->config_path, NULL}, 0,
               "incident 1", NULL);
    cli_expect(
        h,
        (const char *[]){"incidents", "show", "999999", "--json", "--config", h->config_path, NULL},
        1, NULL, "no incident 999999");
    cli_expect(h, (const char *[]){"incidents", "show", "abc", "--config", h->config_path, NULL}, 2,
               NULL, NULL);
    cli_expect(
        h,
        (const char *[]){"incidents", "list", "--state", "bogus", "--config", h->config_path, NULL},
        2, NULL, "bogus");
    stop_ok(h);
}

/* idle_timeout_s: a keep-alive connection with nothing under way is closed after it. */
static void idle_keepalive_connection_is_closed(void **state)
{
    integ_hale *h = *state;
    integ_resp resp = {0};
    integ_conn c;
    uint64_t t0;
    bool closed;

    assert_int_equal(integ_hale_write_config(h, "\"idle_timeout_s\": 1"), 0);
    start(h);
    integ_conn_init(&c, h->port);
    assert_int_equal(integ_conn_request(&c, "GET", "/healthz", NULL, NULL, 0, 5000, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_false(resp.close);
    integ_resp_release(&resp);
    t0 = integ_now_ms();
    closed = integ_conn_wait_closed(&c, 5000);
    fprintf(stderr, "idle connection closed after %llu ms\n",
            (unsigned long long)(integ_now_ms() - t0));
    assert_true(closed);
    assert_true(integ_now_ms() - t0 >= 900);
    assert_true(integ_now_ms() - t0 <= 3000);
    assert_int_equal(c.len, 0); /* quietly: no response bytes */
    integ_conn_close(&c);
    stop_ok(h);
}

/* max_connections: one more is answered 503 and closed; a freed slot is usable again. */
static void connections_beyond_max_get_503(void **state)
{
    integ_hale *h = *state;
    integ_conn c[3];
    integ_resp resp = {0};
    uint64_t deadline;
    int r;

    assert_int_equal(integ_hale_write_config(h, "\"max_connections\": 2"), 0);
    start(h);
    for (int i = 0; i < 2; i++) {
        integ_conn_init(&c[i], h->port);
        assert_int_equal(integ_conn_request(&c[i], "GET", "/healthz", NULL, NULL, 0, 5000, &resp),
                         0);
        assert_int_equal(resp.status, 200);
        integ_resp_release(&resp);
    }
    integ_conn_init(&c[2], h->port);
    assert_int_equal(integ_conn_connect(&c[2], 5000), 0);
    assert_int_equal(integ_conn_read_response(&c[2], 5000, &resp), 0);
    assert_int_equal(resp.status, 503);
    assert_true(integ_resp_is_error(&resp, "too_many_connections"));
    assert_true(resp.close);
    integ_resp_release(&resp);
    integ_conn_close(&c[2]);
    /* Free one slot; the server notices the close asynchronously, so poll. */
    integ_conn_close(&c[0]);
    deadline = integ_now_ms() + 5000;
    do {
        integ_conn_init(&c[2], h->port);
        r = integ_conn_request(&c[2], "GET", "/healthz", NULL, NULL, 0, 5000, &resp);
        if (r == 0 && resp.status == 200)
            break;
        integ_resp_release(&resp);
        integ_conn_close(&c[2]);
        integ_sleep_ms(20);
    } while (integ_now_ms() < deadline);
    assert_int_equal(r, 0);
    assert_int_equal(resp.status, 200);
    integ_resp_release(&resp);
    integ_conn_close(&c[2]);
    integ_conn_close(&c[1]);
    stop_ok(h);
}

/* A second `hale run` on a data_dir that a running hale owns must refuse to start: two writers
 * each allocate incident ids from their own in-memory counter, and the second overwrites the
 * first one's incidents (INSERT ... ON CONFLICT (id) DO UPDATE). */
static void second_daemon_on_same_data_dir_is_refused(void **state)
{
    integ_hale *h = *state;
    integ_hale other;
    int r;

    assert_int_equal(integ_hale_write_config(h, NULL), 0);
    start(h);
    assert_int_equal(integ_hale_init(&other, "integ-life2"), 0);
    snprintf(other.data_dir, sizeof(other.data_dir), "%s", h->data_dir);
    assert_int_equal(integ_hale_write_config(&other, NULL), 0);
    r = integ_hale_start(&other, 5000);
    if (r == 0) {
        json_t *doc = NULL;

        /* Show the damage: each daemon opens "incident 1" for a different group. */
        (void)integ_post_json(h->port, "/api/v1/events",
                              "{\"source\":\"a\",\"labels\":{\"alertname\":\"FromFirst\"}}", NULL);
        (void)integ_post_json(other.port, "/api/v1/events",
                              "{\"source\":\"b\",\"labels\":{\"alertname\":\"FromSecond\"}}", NULL);
        (void)integ_get_json(h->port, "/api/v1/incidents/1", &doc);
        fprintf(stderr,
                "BUG: a second hale started on the same data_dir; incident 1, opened by the "
                "first daemon for FromFirst, is now '%s'\n",
                json_string_value(json_object_get(doc, "title")));
        json_decref(doc);
    }
    integ_hale_release(&other);
    assert_int_equal(r, -ECHILD); /* it exited on its own */
    healthy(h);
    stop_ok(h);
}

/* Every histogram family in text: buckets cumulative, +Inf present and equal to _count. */
static void check_histograms(const char *text)
{
    const char *p = text;
    unsigned families = 0;

    while ((p = strstr(p, "# TYPE ")) != NULL) {
        char name[128], series[160];
        const char *sp = strchr(p + 7, ' ');
        double inf = -1, count = -1, prev = 0;
        const char *line;

        assert_non_null(sp);
        snprintf(name, sizeof(name), "%.*s", (int)(sp - (p + 7)), p + 7);
        p = sp;
        if (strncmp(sp + 1, "histogram", 9) != 0)
            continue;
        families++;
        snprintf(series, sizeof(series), "%s_bucket{le=\"+Inf\"}", name);
        assert_int_equal(integ_metric(text, series, &inf), 0);
        snprintf(series, sizeof(series), "%s_count", name);
        assert_int_equal(integ_metric(text, series, &count), 0);
        if (inf != count)
            fprintf(stderr, "%s: +Inf bucket %g, _count %g\n", name, inf, count);
        assert_true(inf == count);
        snprintf(series, sizeof(series), "%s_bucket{", name);
        for (line = strstr(text, series); line; line = strstr(line + 1, series)) {
            const char *v = strstr(line, "} ");
            double x;

            assert_non_null(v);
            x = strtod(v + 2, NULL);
            assert_true(x >= prev);
            prev = x;
        }
    }
    assert_true(families >= 3);
}

/* `promtool check metrics < file` must pass; skipped when promtool is not installed. */
static void run_promtool(const integ_hale *h, const char *file)
{
    char promtool[4096];
    const char *argv[] = {promtool, "check", "metrics", NULL};
    char *out = NULL, *err = NULL;
    int code;

    if (integ_which("promtool", promtool, sizeof(promtool)) < 0) {
        fprintf(stderr, "promtool is not installed (Debian package prometheus): skipped\n");
        skip();
    }
    code = integ_run(h->dir, argv, file, 30000, &out, &err);
    if (code != 0)
        fprintf(stderr, "promtool check metrics: exit %d\n%s%s\n", code, out ? out : "",
                err ? err : "");
    assert_int_equal(code, 0);
    free(out);
    free(err);
}

static void metrics_pass_promtool(void **state)
{
    integ_hale *h = *state;
    char file[4200], ctype[128];
    integ_resp resp = {0};
    double v = -1;

    assert_int_equal(integ_hale_write_config(h, NULL), 0);
    start(h);
    assert_int_equal(
        integ_post_json(h->port, "/api/v1/events",
                        "{\"source\":\"m\",\"severity\":\"critical\",\"labels\":{\"alertname\":"
                        "\"M\",\"service\":\"m\"}}",
                        NULL),
        200);
    assert_int_equal(integ_http(h->port, "GET", "/nope", NULL, NULL, 0, &resp), 0);
    integ_resp_release(&resp);
    assert_int_equal(integ_http(h->port, "GET", "/metrics", NULL, NULL, 0, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_non_null(integ_resp_header(&resp, "Content-Type", ctype, sizeof(ctype)));
    assert_string_equal(ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert_true(resp.body_len > 0 && resp.body[resp.body_len - 1] == '\n');

    assert_int_equal(
        integ_metric(resp.body, "hale_http_requests_total{route=\"events\",code=\"200\"}", &v), 0);
    assert_true(v == 1);
    assert_int_equal(integ_metric(resp.body, "hale_alerts_accepted_total", &v), 0);
    assert_true(v == 1);
    assert_int_equal(integ_metric(resp.body, "hale_incidents{state=\"open\"}", &v), 0);
    assert_true(v == 1);
    assert_int_equal(integ_metric(resp.body, "hale_incidents{state=\"resolved\"}", &v), 0);
    assert_true(v == 0);
    assert_int_equal(integ_metric(resp.body, "hale_loop_lag_seconds", &v), 0);
    assert_true(v >= 0);
    assert_int_equal(integ_metric(resp.body, "hale_store_commit_duration_seconds_count", &v), 0);
    assert_true(v >= 1);
    assert_non_null(strstr(resp.body, "# TYPE hale_store_commit_duration_seconds histogram\n"));
    assert_non_null(strstr(resp.body, "hale_build_info{version=\"" HALE_VERSION "\",revision=\""));
    assert_non_null(strstr(resp.body, "# TYPE hale_http_requests_total counter\n"));
    assert_non_null(strstr(resp.body, "# TYPE hale_incidents gauge\n"));
    assert_non_null(strstr(resp.body, "hale_http_requests_total{route=\""));
    check_histograms(resp.body);

    snprintf(file, sizeof(file), "%s/metrics.txt", h->dir);
    assert_int_equal(fixture_write(file, resp.body), 0);
    integ_resp_release(&resp);
    stop_ok(h);
    run_promtool(h, file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sigterm_with_request_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(sigint_exits_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(sighup_reload_applies_or_keeps_old, setup, teardown),
        cmocka_unit_test_setup_teardown(config_check_good_and_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(cli_usage_and_exit_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(metrics_pass_promtool, setup, teardown),
        cmocka_unit_test_setup_teardown(idle_keepalive_connection_is_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(connections_beyond_max_get_503, setup, teardown),
        cmocka_unit_test_setup_teardown(second_daemon_on_same_data_dir_is_refused, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
