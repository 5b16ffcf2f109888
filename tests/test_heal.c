/* tests/test_heal.c - the remediation path end to end in one process: an alert becomes an
 * incident, the runbooks propose an action, the policy decides, the tool runs in the sandbox
 * and is verified, rolled back or escalated; approvals, their expiry, denial, the pause switch,
 * dry runs, and a restart with an intent but no result. After each, the audit log must verify
 * and every action must have run exactly as often as the path says. The loop runs on its own
 * thread; the test is the HTTP client (tools in tests/fixtures/heal). */
#include "fixture.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "hale/audit_verify.h"
#include "hale/config.h"
#include "hale/err.h"
#include "loop/loop.h"

#define ADMIN    "Authorization: Bearer admin-token\r\n"
#define APPROVER "Authorization: Bearer test\r\n" /* alice */
#define WAIT_MS  15000

struct env {
    char *dir;        /* the test's temporary directory */
    char work[600];   /* where the fixture tools repair things (mode 0777) */
    char config[600]; /* hale.json */
    char db[600];     /* the store */
    hale_loop *loop;  /* while running */
    pthread_t thread; /* runs the loop */
    int run_result;   /* hale_loop_run's */
    unsigned port;    /* the API */
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    char text[3000], policies[600];

    e->dir = fixture_tmpdir("hale-heal");
    snprintf(e->work, sizeof(e->work), "%s/work", e->dir);
    snprintf(e->config, sizeof(e->config), "%s/hale.json", e->dir);
    snprintf(e->db, sizeof(e->db), "%s/var/hale.db", e->dir);
    /* The tools run as an unprivileged uid: the directory they repair is theirs to write. */
    if (chmod(e->dir, 0755) < 0 || mkdir(e->work, 0777) < 0 || chmod(e->work, 0777) < 0)
        return -1;
    /* fixture_path's buffer is reused by the next call. */
    snprintf(policies, sizeof(policies), "%s", fixture_path("heal/policies"));
    snprintf(text, sizeof(text),
             "{\"listen\": \"127.0.0.1:0\", \"data_dir\": \"%s/var\", \"log_level\": \"warn\", "
             "\"policies_dir\": \"%s\", \"tools_dir\": \"%s\", "
             "\"audit_origin\": \"aiops.test/heal\", \"group_by\": [\"alertname\", \"instance\"], "
             "\"auth\": {\"tokens\": ["
             "{\"name\": \"alice\", \"role\": \"approver\", \"sha256\": "
             "\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"},"
             "{\"name\": \"root\", \"role\": \"admin\", \"sha256\": "
             "\"10a4c7c9fc5206d6f36dc6944a81bb6f4a3cb0e25014ae3b12e6c3e52712292a\"}]}}",
             e->dir, policies, fixture_path("heal/tools"));
    if (fixture_write(e->config, text) < 0)
        return -1;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;

    fixture_rmtree(e->dir);
    free(e->dir);
    free(e);
    return 0;
}

static void *run_thread(void *ud)
{
    struct env *e = ud;

    e->run_result = hale_loop_run(e->loop);
    return NULL;
}

static void start(struct env *e)
{
    hale_config *cfg = NULL;
    hale_diag diag = {{0}};

    assert_int_equal(hale_config_load(e->config, &cfg, &diag), 0);
    if (hale_loop_new(cfg, e->config, &e->loop, &diag) < 0)
        fail_msg("hale_loop_new: %s", diag.msg);
    hale_config_unref(cfg);
    e->port = hale_loop_port(e->loop);
    assert_int_equal(pthread_create(&e->thread, NULL, run_thread, e), 0);
    assert_int_equal(fixture_http(e->port, "GET", "/healthz", NULL, NULL, NULL), 200);
}

static void stop(struct env *e)
{
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    assert_int_equal(pthread_join(e->thread, NULL), 0);
    assert_int_equal(e->run_result, 0);
    hale_loop_free(e->loop);
    e->loop = NULL;
}

static void add_config(struct env *e, const char *members);

static unsigned long alert_seq; /* fingerprints: one alert per call */

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void post_alert_as(struct env *e, const char *alertname, const char *service,
                          const char *instance, const char *status, unsigned long fingerprint);

static void post_alert(struct env *e, const char *alertname, const char *service,
                       const char *instance)
{
    post_alert_as(e, alertname, service, instance, "firing", ++alert_seq);
}

static void post_alert_as(struct env *e, const char *alertname, const char *service,
                          const char *instance, const char *status, unsigned long fingerprint)
{
    char body[2000];

    snprintf(body, sizeof(body),
             "{\"receiver\":\"hale\",\"status\":\"%s\",\"alerts\":[{\"status\":\"%s\","
             "\"labels\":{\"alertname\":\"%s\",\"service\":\"%s\",\"instance\":\"%s\","
             "\"dir\":\"%s\",\"severity\":\"critical\"},\"annotations\":{},"
             "\"startsAt\":\"2026-11-22T13:08:22.079Z\",\"endsAt\":\"%s\","
             "\"generatorURL\":\"http://x/graph\",\"fingerprint\":\"%016lx\"}],"
             "\"groupLabels\":{},\"commonLabels\":{},\"commonAnnotations\":{},"
             "\"externalURL\":\"http://am\",\"version\":\"4\",\"groupKey\":\"{}:{}\","
             "\"truncatedAlerts\":0}",
             status, status, alertname, service, instance, e->work,
             strcmp(status, "firing") == 0 ? "0001-01-01T00:00:00Z" : "2026-11-22T13:09:22.079Z",
             fingerprint);
    assert_int_equal(
        fixture_http(e->port, "POST", "/api/v1/alerts", "application/json", body, NULL), 200);
}

static json_t *get_json(struct env *e, const char *path)
{
    char *body = NULL;
    json_t *v;

    assert_int_equal(fixture_http_ex(e->port, "GET", path, ADMIN, NULL, NULL, NULL, &body), 200);
    v = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(v);
    return v;
}

/* The state of the newest incident, once it reaches want (or fails after WAIT_MS). */
static void wait_state(struct env *e, const char *want)
{
    char last[1200] = "";

    for (int i = 0; i < WAIT_MS / 20; i++) {
        json_t *list = get_json(e, "/api/v1/incidents?limit=1");
        const char *s = json_string_value(
            json_object_get(json_array_get(json_object_get(list, "incidents"), 0), "state"));
        const char *why = json_string_value(
            json_object_get(json_array_get(json_object_get(list, "incidents"), 0), "state_reason"));

        snprintf(last, sizeof(last), "%s (%s)", s ? s : "(none)", why ? why : "");
        if (s && strcmp(s, want) == 0) {
            json_decref(list);
            return;
        }
        json_decref(list);
        pause_ms(20);
    }
    fail_msg("incident state '%s', expected '%s'", last, want);
}

static char *newest_reason(struct env *e)
{
    json_t *list = get_json(e, "/api/v1/incidents?limit=1");
    const char *s = json_string_value(
        json_object_get(json_array_get(json_object_get(list, "incidents"), 0), "state_reason"));
    char *out = strdup(s ? s : "");

    json_decref(list);
    return out;
}

/* Lines of work/runs.log equal to line. */
static int runs(struct env *e, const char *line)
{
    char path[700], *text, *p;
    size_t n = strlen(line);
    int count = 0;

    snprintf(path, sizeof(path), "%s/runs.log", e->work);
    text = fixture_read(path, NULL);
    for (p = text; p && *p;) {
        char *nl = strchr(p, '\n');

        if ((size_t)((nl ? nl : p + strlen(p)) - p) == n && strncmp(p, line, n) == 0)
            count++;
        p = nl ? nl + 1 : p + strlen(p);
    }
    free(text);
    return count;
}

static void mark_broken(struct env *e)
{
    char path[700];

    snprintf(path, sizeof(path), "%s/broken", e->work);
    assert_int_equal(fixture_write(path, "x\n"), 0);
}

static bool exists(struct env *e, const char *name)
{
    char path[700];

    snprintf(path, sizeof(path), "%s/%s", e->work, name);
    return access(path, F_OK) == 0;
}

/* Count of audit leaves of kind (the loop is stopped). */
static int64_t leaves(struct env *e, const char *kind)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;

    assert_int_equal(sqlite3_open_v2(e->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(
                         db,
                         "SELECT count(*) FROM audit_leaf WHERE json_extract(body, '$.kind') = ?1",
                         -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static char *action_column(struct env *e, const char *col)
{
    char sql[200], *out = NULL;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    snprintf(sql, sizeof(sql), "SELECT %s FROM heal_action ORDER BY id DESC LIMIT 1", col);
    assert_int_equal(sqlite3_open_v2(e->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        out = strdup(sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* The stopped controller's log verifies against its root key, sealed, every intent closed. */
static void verify_log(struct env *e)
{
    hale_audit_verify_report rep = {0};
    hale_note_verifier *keys = NULL;
    hale_audit_verify_opts o = {.require_sealed = true};
    char path[700];
    size_t n = 0;

    snprintf(path, sizeof(path), "%s/var/audit.pub", e->dir);
    assert_int_equal(hale_audit_keys_load(path, &keys, &n, NULL), 0);
    o.root_key = &keys[0];
    if (hale_audit_verify(e->db, &o, &rep) != HALE_AUDIT_VERIFIED)
        fail_msg("audit verify: %d at check %u: %s", rep.verdict, rep.check, rep.reason);
    assert_int_equal(rep.n_open_intents, 0);
    hale_audit_verify_report_release(&rep);
    free(keys);
}

static void allowed_action_heals_and_resolves(void **state)
{
    struct env *e = *state;
    char *s;

    mark_broken(e);
    start(e);
    post_alert(e, "MarkerBroken", "auto", "web-1");
    wait_state(e, "resolved");
    assert_int_equal(runs(e, "mark_fixed web-1"), 1);
    assert_false(exists(e, "broken"));
    stop(e);
    assert_int_equal(leaves(e, "decision"), 1);
    assert_int_equal(leaves(e, "exec_intent"), 1);
    assert_int_equal(leaves(e, "exec_result"), 1);
    assert_int_equal(leaves(e, "verification"), 1);
    s = action_column(e, "state || ' ' || outcome || ' ' || exit_code || ' ' || idem_key");
    assert_non_null(strstr(s, "done succeeded 0 1:"));
    assert_non_null(strstr(s, ":1")); /* the first attempt */
    free(s);
    verify_log(e);
}

static void failed_verification_rolls_back(void **state)
{
    struct env *e = *state;

    mark_broken(e); /* toggle repairs nothing: verification fails */
    start(e);
    post_alert(e, "NeedsRollback", "auto", "db-1");
    wait_state(e, "rolled_back");
    assert_int_equal(runs(e, "toggle db-1"), 1);
    assert_int_equal(runs(e, "untoggle db-1"), 1);
    stop(e);
    assert_int_equal(leaves(e, "exec_intent"), 2);
    assert_int_equal(leaves(e, "exec_result"), 2);
    verify_log(e);
}

static void failing_tool_escalates_with_redacted_output(void **state)
{
    struct env *e = *state;
    char *err;

    start(e);
    post_alert(e, "ToolFails", "auto", "app-1");
    wait_state(e, "escalated");
    assert_int_equal(runs(e, "fail_tool app-1"), 1);
    stop(e);
    err = action_column(e, "stderr");
    assert_null(strstr(err, "hunter2"));
    assert_non_null(strstr(err, "<PASSWORD_1>"));
    free(err);
    verify_log(e);
}

/* The pending approval's id, digest and nonce. */
static json_t *pending_approval(struct env *e)
{
    for (int i = 0; i < WAIT_MS / 20; i++) {
        json_t *list = get_json(e, "/api/v1/approvals?state=pending");
        json_t *ap = json_array_get(json_object_get(list, "approvals"), 0);

        if (ap) {
            json_incref(ap);
            json_decref(list);
            return ap;
        }
        json_decref(list);
        pause_ms(20);
    }
    fail_msg("no pending approval");
    return NULL;
}

static void approval_then_heals(void **state)
{
    struct env *e = *state;
    char path[64], body[600];
    json_t *ap;

    mark_broken(e);
    start(e);
    post_alert(e, "MarkerBroken", "ask", "web-2");
    wait_state(e, "awaiting_approval");
    ap = pending_approval(e);
    assert_int_equal(runs(e, "mark_fixed web-2"), 0);
    snprintf(path, sizeof(path), "/api/v1/approvals/%lld",
             (long long)json_integer_value(json_object_get(ap, "id")));
    snprintf(body, sizeof(body), "{\"decision\":\"approve\",\"digest\":\"%s\",\"nonce\":\"%s\"}",
             json_string_value(json_object_get(ap, "digest")),
             json_string_value(json_object_get(ap, "nonce")));
    json_decref(ap);
    assert_int_equal(
        fixture_http_ex(e->port, "POST", path, APPROVER, "application/json", body, NULL, NULL),
        200);
    wait_state(e, "resolved");
    assert_int_equal(runs(e, "mark_fixed web-2"), 1);
    stop(e);
    assert_int_equal(leaves(e, "approval"), 1);
    verify_log(e);
}

/* A vote on an approval whose incident closed before a restart: nothing runs, and its approval
 * leaf still names the decision (the verifier needs it). */
static void late_vote_after_restart_names_its_decision(void **state)
{
    struct env *e = *state;
    char path[64], body[600];
    json_t *ap;

    start(e);
    post_alert_as(e, "MarkerBroken", "ask", "v-1", "firing", 0xb1);
    wait_state(e, "awaiting_approval");
    ap = pending_approval(e);
    post_alert_as(e, "MarkerBroken", "ask", "v-1", "resolved", 0xb1);
    wait_state(e, "resolved");
    stop(e);
    start(e);
    snprintf(path, sizeof(path), "/api/v1/approvals/%lld",
             (long long)json_integer_value(json_object_get(ap, "id")));
    snprintf(body, sizeof(body), "{\"decision\":\"approve\",\"digest\":\"%s\",\"nonce\":\"%s\"}",
             json_string_value(json_object_get(ap, "digest")),
             json_string_value(json_object_get(ap, "nonce")));
    json_decref(ap);
    assert_int_equal(
        fixture_http_ex(e->port, "POST", path, APPROVER, "application/json", body, NULL, NULL),
        200);
    pause_ms(300);
    stop(e);
    assert_int_equal(runs(e, "mark_fixed v-1"), 0);
    assert_int_equal(leaves(e, "approval"), 1);
    assert_int_equal(leaves(e, "exec_intent"), 0);
    verify_log(e);
}

static void approval_expiry_escalates_or_fails(void **state)
{
    struct env *e = *state;
    char *why;

    start(e);
    post_alert(e, "MarkerBroken", "expire", "web-3");
    wait_state(e, "failed"); /* on_expiry deny, after 1 s */
    why = newest_reason(e);
    assert_non_null(strstr(why, "expired"));
    free(why);
    assert_int_equal(runs(e, "mark_fixed web-3"), 0);
    post_alert(e, "MarkerBroken", "expire-up", "web-3b");
    wait_state(e, "escalated"); /* on_expiry escalate */
    why = newest_reason(e);
    assert_non_null(strstr(why, "expired"));
    free(why);
    stop(e);
    assert_int_equal(runs(e, "mark_fixed web-3b"), 0);
    verify_log(e);
}

/* An alert for service (the policy's verdict) on instance ends escalated with why in its
 * reason, and its tool never runs. Stops the controller. */
static void escalates_without_running(struct env *e, const char *service, const char *instance,
                                      const char *why_part)
{
    char tag[200], *why;

    post_alert(e, "MarkerBroken", service, instance);
    wait_state(e, "escalated");
    why = newest_reason(e);
    assert_non_null(strstr(why, why_part));
    free(why);
    stop(e);
    snprintf(tag, sizeof(tag), "mark_fixed %s", instance);
    assert_int_equal(runs(e, tag), 0);
    assert_int_equal(leaves(e, "exec_intent"), 0);
}

static void denied_action_escalates(void **state)
{
    struct env *e = *state;

    start(e);
    escalates_without_running(e, "never", "web-4", "denied by policy");
    verify_log(e);
}

static void dry_run_records_and_runs_nothing(void **state)
{
    struct env *e = *state;

    start(e);
    escalates_without_running(e, "try", "web-5", "dry run");
    assert_int_equal(leaves(e, "decision"), 1);
    verify_log(e);
}

static void paused_runs_nothing(void **state)
{
    struct env *e = *state;
    char *why;

    start(e);
    assert_int_equal(fixture_http_ex(e->port, "POST", "/api/v1/pause", ADMIN, "application/json",
                                     "{\"reason\":\"maintenance\"}", NULL, NULL),
                     200);
    post_alert(e, "MarkerBroken", "auto", "web-6");
    wait_state(e, "escalated");
    why = newest_reason(e);
    assert_non_null(strstr(why, "paused"));
    free(why);
    assert_int_equal(fixture_http_ex(e->port, "POST", "/api/v1/resume", ADMIN, "application/json",
                                     "{}", NULL, NULL),
                     200);
    stop(e);
    assert_int_equal(runs(e, "mark_fixed web-6"), 0);
    assert_int_equal(leaves(e, "exec_intent"), 0);
    verify_log(e);
}

/* Shutdown gives up on a tool that outlives its deadline: the result is never recorded. The
 * next start closes the intent as exec_abandoned, escalates the incident and does not run the
 * tool again. */
static void restart_abandons_an_open_intent(void **state)
{
    struct env *e = *state;
    char *why, *text;

    add_config(e, "\"shutdown_timeout_s\": 1");
    mark_broken(e);
    start(e);
    post_alert(e, "SlowRepair", "auto", "web-7");
    for (int i = 0; i < WAIT_MS / 20 && runs(e, "mark_fixed web-7") == 0; i++)
        pause_ms(20);
    assert_int_equal(runs(e, "mark_fixed web-7"), 1);
    stop(e); /* the tool still sleeps */
    start(e);
    wait_state(e, "escalated");
    why = newest_reason(e);
    assert_non_null(strstr(why, "interrupted by a restart"));
    free(why);
    pause_ms(500);
    stop(e);
    assert_int_equal(runs(e, "mark_fixed web-7"), 1);
    assert_int_equal(leaves(e, "exec_intent"), 1);
    assert_int_equal(leaves(e, "exec_result"), 0);
    assert_int_equal(leaves(e, "exec_abandoned"), 1);
    text = action_column(e, "state");
    assert_string_equal(text, "abandoned");
    free(text);
    verify_log(e);
}

/* A Prometheus stand-in: every request gets one instant-query answer with value, then the
 * connection closes. Runs on its own thread until fake_prom_stop. */
struct fake_prom {
    int fd;            /* listening socket */
    unsigned port;     /* its port */
    const char *value; /* the sample value it answers */
    unsigned queries;  /* requests answered */
    pthread_t thread;  /* accept loop */
};

static void *prom_thread(void *ud)
{
    struct fake_prom *p = ud;
    char req[4096], resp[1024], body[300];
    int c;

    while ((c = accept(p->fd, NULL, NULL)) >= 0) {
        ssize_t n = read(c, req, sizeof(req) - 1);
        int bl, hl;

        if (n > 0 && strncmp(req, "GET /api/v1/query?query=", 24) == 0) {
            bl = snprintf(body, sizeof(body),
                          "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
                          "\"result\":[{\"metric\":{},\"value\":[1795000000.1,\"%s\"]}]}}",
                          p->value);
            hl = snprintf(resp, sizeof(resp),
                          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                          bl, body);
            if (write(c, resp, (size_t)hl) == hl)
                p->queries++;
        }
        close(c);
    }
    return NULL;
}

static void fake_prom_start(struct fake_prom *p, const char *value)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->value = value;
    p->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(p->fd >= 0);
    assert_int_equal(bind(p->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(p->fd, 16), 0);
    assert_int_equal(getsockname(p->fd, (struct sockaddr *)&a, &len), 0);
    p->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&p->thread, NULL, prom_thread, p), 0);
}

static void fake_prom_stop(struct fake_prom *p)
{
    shutdown(p->fd, SHUT_RDWR); /* accept fails: the thread ends */
    pthread_join(p->thread, NULL);
    close(p->fd);
}

/* Append members to the config file (text without braces). */
static void add_config(struct env *e, const char *members)
{
    char *text = fixture_read(e->config, NULL), more[5000];

    assert_non_null(text);
    text[strlen(text) - 1] = '\0'; /* the closing brace */
    snprintf(more, sizeof(more), "%s, %s}", text, members);
    free(text);
    assert_int_equal(fixture_write(e->config, more), 0);
}

static void metric_check_fails_closed_then_passes(void **state)
{
    struct env *e = *state;
    struct fake_prom prom = {0};
    char members[200], *why;

    mark_broken(e);
    start(e);
    post_alert(e, "MetricBroken", "auto", "m-1");
    wait_state(e, "escalated"); /* no Prometheus: fails closed, no rollback */
    why = newest_reason(e);
    assert_non_null(strstr(why, "no Prometheus is configured"));
    free(why);
    stop(e);
    assert_int_equal(runs(e, "mark_metric m-1"), 1);

    fake_prom_start(&prom, "0");
    snprintf(members, sizeof(members),
             "\"metrics\": {\"prometheus\": {\"url\": \"http://127.0.0.1:%u\"}}", prom.port);
    add_config(e, members);
    start(e);
    post_alert(e, "MetricBroken", "auto", "m-2");
    wait_state(e, "resolved");
    stop(e);
    fake_prom_stop(&prom);
    assert_true(prom.queries >= 1);
    assert_int_equal(runs(e, "mark_metric m-2"), 1);
    verify_log(e);
}

static void alert_check_waits_for_resolution(void **state)
{
    struct env *e = *state;
    char *why;

    start(e);
    /* Still firing after the check's 2 s: verification fails, no rollback: escalated. */
    post_alert_as(e, "AlertVerified", "auto", "a-1", "firing", 0xa1);
    wait_state(e, "escalated");
    why = newest_reason(e);
    assert_non_null(strstr(why, "alerts firing"));
    free(why);
    /* Resolved while the check waits: the incident resolves, verification passes. */
    post_alert_as(e, "AlertVerified", "auto", "a-2", "firing", 0xa2);
    wait_state(e, "verifying");
    post_alert_as(e, "AlertVerified", "auto", "a-2", "resolved", 0xa2);
    wait_state(e, "resolved");
    pause_ms(500);
    stop(e);
    assert_int_equal(runs(e, "mark_alert a-1"), 1);
    assert_int_equal(runs(e, "mark_alert a-2"), 1);
    assert_int_equal(leaves(e, "verification"), 2);
    verify_log(e);
}

static void sighup_reloads_the_catalog(void **state)
{
    struct env *e = *state;

    start(e);
    assert_int_equal(kill(getpid(), SIGHUP), 0);
    /* The reload's leaf is committed by the next job: an alert makes sure one runs. */
    pause_ms(300);
    post_alert(e, "MarkerBroken", "never", "web-8");
    wait_state(e, "escalated");
    stop(e);
    assert_int_equal(leaves(e, "catalog_reload"), 2);
    verify_log(e);
}

/* Tools share the libuv threadpool with the commit job: at most two run at once, the rest
 * wait (their intents sealed) and start as slots free. */
static void third_tool_waits_for_a_slot(void **state)
{
    struct env *e = *state;
    int started = 0;

    mark_broken(e);
    start(e);
    post_alert(e, "SlowRepair", "auto", "q-1");
    post_alert(e, "SlowRepair", "auto", "q-2");
    post_alert(e, "SlowRepair", "auto", "q-3");
    for (int i = 0; i < WAIT_MS / 20 && started < 2; i++) {
        pause_ms(20);
        started = runs(e, "mark_fixed q-1") + runs(e, "mark_fixed q-2") + runs(e, "mark_fixed q-3");
    }
    assert_int_equal(started, 2);
    pause_ms(1500); /* the first two still sleep: the third has not started */
    assert_int_equal(
        runs(e, "mark_fixed q-1") + runs(e, "mark_fixed q-2") + runs(e, "mark_fixed q-3"), 2);
    for (int i = 0; i < WAIT_MS / 20 && started < 3; i++) {
        pause_ms(20);
        started = runs(e, "mark_fixed q-1") + runs(e, "mark_fixed q-2") + runs(e, "mark_fixed q-3");
    }
    assert_int_equal(started, 3);
    pause_ms(3500);
    stop(e);
    assert_int_equal(leaves(e, "exec_result"), 3);
    verify_log(e);
}

static size_t file_len(const char *path)
{
    char *text = fixture_read(path, NULL);
    size_t n = text ? strlen(text) : 0;

    free(text);
    return n;
}

/* A high-risk action's signed checkpoint goes to the anchors at once, whatever
 * audit_anchor_interval_s says; a low-risk one waits for the interval. */
static void high_risk_action_is_anchored_at_once(void **state)
{
    struct env *e = *state;
    char members[1200], anchor[700];
    size_t before;
    bool grew = false;

    snprintf(anchor, sizeof(anchor), "%s/anchor.log", e->dir);
    snprintf(members, sizeof(members),
             "\"audit_anchor_files\": [\"%s\"], \"audit_anchor_interval_s\": 3600", anchor);
    add_config(e, members);
    mark_broken(e);
    start(e);
    post_alert(e, "MarkerBroken", "auto", "web-1");
    wait_state(e, "resolved");
    pause_ms(1500);
    before = file_len(anchor); /* a low-risk action: nothing new to the anchors */
    post_alert(e, "HighRiskRepair", "auto", "web-2");
    wait_state(e, "resolved");
    for (int i = 0; i < 250 && !grew; i++) {
        grew = file_len(anchor) > before;
        if (!grew)
            pause_ms(20);
    }
    stop(e);
    assert_int_equal(runs(e, "mark_fixed web-1"), 1);
    assert_true(grew);
    assert_int_equal(before, 0);
    verify_log(e);
}

static void broken_manifest_refuses_the_start(void **state)
{
    struct env *e = *state;
    char dir[700], path[800];
    hale_config *cfg = NULL;
    hale_diag diag = {{0}};
    hale_loop *l = NULL;

    snprintf(dir, sizeof(dir), "%s/tools", e->dir);
    snprintf(path, sizeof(path), "%s/bad", dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/bad/manifest.json", dir);
    assert_int_equal(fixture_write(path, "{\"name\": \"bad\", \"colour\": 1}"), 0);
    {
        char *text = fixture_read(e->config, NULL), *at = strstr(text, "\"tools_dir\": \"");
        char *end = at ? strchr(at + 14, '"') : NULL, out[5000];

        assert_non_null(end);
        snprintf(out, sizeof(out), "%.*s\"tools_dir\": \"%s%s", (int)(at - text), text, dir, end);
        free(text);
        assert_int_equal(fixture_write(e->config, out), 0);
    }
    assert_int_equal(hale_config_load(e->config, &cfg, &diag), 0);
    assert_true(hale_loop_new(cfg, e->config, &l, &diag) < 0);
    hale_config_unref(cfg);
    assert_null(l);
    assert_non_null(strstr(diag.msg, "tools_dir"));
    assert_non_null(strstr(diag.msg, "bad"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(allowed_action_heals_and_resolves, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_verification_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(failing_tool_escalates_with_redacted_output, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(approval_then_heals, setup, teardown),
        cmocka_unit_test_setup_teardown(late_vote_after_restart_names_its_decision, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(approval_expiry_escalates_or_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(denied_action_escalates, setup, teardown),
        cmocka_unit_test_setup_teardown(dry_run_records_and_runs_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(paused_runs_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_abandons_an_open_intent, setup, teardown),
        cmocka_unit_test_setup_teardown(high_risk_action_is_anchored_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(metric_check_fails_closed_then_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(alert_check_waits_for_resolution, setup, teardown),
        cmocka_unit_test_setup_teardown(sighup_reloads_the_catalog, setup, teardown),
        cmocka_unit_test_setup_teardown(third_tool_waits_for_a_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(broken_manifest_refuses_the_start, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    hale_loop_set_exe(HALE_BINARY); /* the audit signer runs from the hale binary */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
