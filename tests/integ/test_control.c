/* tests/integ/test_control.c - what the running controller may do, driven through the real
 * binary: the policy set at start (a broken one refuses the start, naming file, rule and
 * field) and on SIGHUP (a broken reload keeps the old set), the global pause switch (`hale
 * pause|resume`, admin token, survives a restart, /metrics, /readyz) and votes on approvals
 * through the API (`hale approve|deny`, the token's name is the approver). Every change must
 * end up in the audit log with its actor. */
#include "fixture.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>
#include <time.h>

#include "hale/err.h"
#include "hale/policy.h"
#include "hale/store.h"
#include "integ_http.h"
#include "integ_proc.h"
#include "integ_store.h"

#define TIMEOUT_MS 10000u

struct env {
    integ_hale h;       /* the temporary directory and config */
    char policies[600]; /* the shipped policies */
    char mine[600];     /* a policy directory the test edits */
};

/* name, role, token: the token file is dir/<name>.token. */
static const char *const tokens[][3] = {
    {"ops-admin", "admin", "tok-admin-1"},     {"viewer1", "viewer", "tok-viewer-1"},
    {"oncall-primary", "approver", "tok-p-1"}, {"oncall-secondary", "approver", "tok-s-1"},
    {"sre-lead", "approver", "tok-lead-1"},    {"mallory", "approver", "tok-mallory-1"},
};

static int write_tokens(struct env *e, char *keys, size_t size, const char *policies_dir)
{
    size_t used;

    used = (size_t)snprintf(keys, size,
                            "\"policies_dir\": \"%s\", \"tools_dir\": \"%s/tools\", "
                            "\"auth\": {\"tokens\": [",
                            policies_dir, HALE_SOURCE_DIR);
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
        unsigned char h[crypto_hash_sha256_BYTES];
        char hex[2 * crypto_hash_sha256_BYTES + 1], path[700];

        crypto_hash_sha256(h, (const unsigned char *)tokens[i][2], strlen(tokens[i][2]));
        sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
        used += (size_t)snprintf(keys + used, size - used,
                                 "%s{\"name\": \"%s\", \"role\": \"%s\", \"sha256\": \"%s\"}",
                                 i ? ", " : "", tokens[i][0], tokens[i][1], hex);
        snprintf(path, sizeof(path), "%s/%s.token", e->h.dir, tokens[i][0]);
        if (fixture_write(path, tokens[i][2]) < 0 || used >= size)
            return -1;
    }
    used += (size_t)snprintf(keys + used, size - used, "]}");
    return used < size ? 0 : -1;
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    char keys[4096];

    if (!e || sodium_init() < 0 || integ_hale_init(&e->h, "integ-control") < 0) {
        free(e);
        return -1;
    }
    snprintf(e->policies, sizeof(e->policies), "%s/policies", HALE_SOURCE_DIR);
    snprintf(e->mine, sizeof(e->mine), "%s/policies", e->h.dir);
    if (write_tokens(e, keys, sizeof(keys), e->policies) < 0 ||
        integ_hale_write_config(&e->h, keys) < 0) {
        integ_hale_release(&e->h);
        free(e);
        return -1;
    }
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;

    integ_hale_release(&e->h);
    free(e);
    return 0;
}

/* Run hale with args (NULL-terminated, without the binary). */
static int run(struct env *e, char **out, char **err, const char *const *args)
{
    free(*out), free(*err);
    *out = *err = NULL;
    return integ_hale_cli(&e->h, args, out, err);
}

#define hale(e, out, err, ...) run(e, out, err, (const char *const[]){__VA_ARGS__, NULL})

static const char *token(struct env *e, const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s.token", e->h.dir, name);
    return out;
}

static double metric(struct env *e, const char *series)
{
    integ_resp resp = {0};
    double v = -1;
    char *text;

    assert_int_equal(integ_http(e->h.port, "GET", "/metrics", NULL, NULL, 0, &resp), 0);
    assert_int_equal(resp.status, 200);
    text = strndup(resp.body, resp.body_len);
    assert_non_null(text);
    if (integ_metric(text, series, &v) < 0)
        fail_msg("no %s in /metrics: %.300s", series, text);
    free(text);
    integ_resp_release(&resp);
    return v;
}

/* GET path with the token of name; the status, and the body in *ret_body (caller frees). */
static int get_with(struct env *e, const char *path, const char *name, char **ret_body)
{
    char hdr[200];
    const char *tok = NULL;
    integ_resp resp = {0};
    integ_conn c;
    size_t len = 0;
    char *text;
    int r;

    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
        if (strcmp(tokens[i][0], name) == 0)
            tok = tokens[i][2];
    assert_non_null(tok);
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", tok);
    text = integ_http_format(e->h.port, "GET", path, NULL, hdr, NULL, 0, &len);
    assert_non_null(text);
    integ_conn_init(&c, e->h.port);
    assert_int_equal(integ_conn_connect(&c, TIMEOUT_MS), 0);
    assert_int_equal(integ_conn_send(&c, text, len, TIMEOUT_MS), 0);
    r = integ_conn_read_response(&c, TIMEOUT_MS, &resp);
    assert_int_equal(r, 0);
    integ_conn_close(&c);
    free(text);
    *ret_body = strdup(resp.body);
    r = resp.status;
    integ_resp_release(&resp);
    return r;
}

/* A pending approval for a production rollout restart (two of oncall and sre-leads), made the way
 * the decision stage will make it. */
static int64_t create_pending(struct env *e, const char *release, const char *requester)
{
    char text[600], db[4200];
    hale_store_opts o = {.path = db};
    hale_policy_request *r = NULL;
    hale_policy_verdict *v = NULL;
    hale_approvals *a = NULL;
    hale_policy *p = NULL;
    hale_store *s = NULL;
    int64_t id = 0;

    snprintf(db, sizeof(db), "%s/%s", e->h.data_dir, HALE_STORE_FILE);
    snprintf(
        text, sizeof(text),
        "{\"tool\":\"rollout_restart\",\"args\":{\"deployment\":\"%s\"},\"target\":{\"labels\":"
        "{\"service\":\"web\",\"env\":\"prod\"}},\"confidence_bp\":9000,\"source\":\"human\","
        "\"risk\":\"high\"}",
        release);
    assert_int_equal(hale_policy_load(e->policies, &p, NULL), 0);
    assert_int_equal(hale_policy_request_parse(text, strlen(text), &r, NULL), 0);
    assert_int_equal(hale_policy_eval(p, r, NULL, 1795341600000LL, &v), 0);
    (void)mkdir(e->h.data_dir, 0700);
    assert_int_equal(hale_store_open(&o, &s, NULL), 0);
    assert_int_equal(hale_approvals_open(s, &a, NULL), 0);
    assert_int_equal(hale_approvals_create(a, v, r, requester, "9", time(NULL) * 1000LL, &id), 0);
    hale_approvals_free(a);
    hale_store_free(s);
    hale_policy_verdict_free(v);
    hale_policy_request_free(r);
    hale_policy_unref(p);
    return id;
}

/* Leaves of kind as "actor:outcome" (approval) or "actor" words, oldest first. */
static void leaves(struct env *e, const char *kind, const char *member, char *out, size_t size)
{
    char sql[300];
    sqlite3 *db = NULL;

    snprintf(sql, sizeof(sql),
             "SELECT COALESCE(group_concat(x, ' '), '') FROM (SELECT json_extract(body, "
             "'$.actor') || ':' || json_extract(body, '$.%s') AS x FROM audit_leaf WHERE "
             "json_extract(body, '$.kind') = "
             "'%s' ORDER BY seq)",
             member, kind);
    assert_int_equal(integ_db_open(e->h.data_dir, &db), 0);
    assert_int_equal(integ_db_text(db, sql, out, size), 0);
    integ_db_close(db);
}

static void votes_go_through_the_running_controller(void **state)
{
    struct env *e = *state;
    const char *cfg = e->h.config_path;
    int64_t one = create_pending(e, "v41", "oncall-secondary");
    int64_t two = create_pending(e, "v42", "hale");
    char id1[24], id2[24], tf[700], got[2048], *out = NULL, *err = NULL;

    snprintf(id1, sizeof(id1), "%lld", (long long)one);
    snprintf(id2, sizeof(id2), "%lld", (long long)two);
    /* No controller: refused, nothing written. */
    assert_int_equal(hale(e, &out, &err, "approve", id1, "--token-file",
                          token(e, "sre-lead", tf, sizeof(tf)), "--config", cfg),
                     1);
    assert_non_null(strstr(err, "no hale is running"));
    assert_int_equal(hale(e, &out, &err, "approve", id1, "--as", "sre-lead", "--config", cfg), 2);
    assert_non_null(strstr(err, "the approver is the name of the bearer token"));
    assert_int_equal(integ_hale_start(&e->h, TIMEOUT_MS), 0);
    assert_int_equal(hale(e, &out, &err, "approve", id1, "--config", cfg), 2);
    assert_non_null(strstr(err, "HALE_TOKEN"));
    /* A viewer may read approvals, not decide them. */
    assert_int_equal(hale(e, &out, &err, "approve", id1, "--token-file",
                          token(e, "viewer1", tf, sizeof(tf)), "--config", cfg),
                     1);
    assert_non_null(strstr(err, "role does not allow"));
    /* Not an approver; the proposer; a valid vote; a duplicate; a stale digest; the second. */
    assert_int_equal(hale(e, &out, &err, "approve", id1, "--token-file",
                          token(e, "mallory", tf, sizeof(tf)), "--config", cfg),
                     1);
    assert_non_null(strstr(err, "'mallory' is not among the allowed approvers"));
    assert_int_equal(hale(e, &out, &err, "approve", id1, "--token-file",
                          token(e, "oncall-secondary", tf, sizeof(tf)), "--config", cfg),
                     1);
    assert_non_null(strstr(err, "may not approve it"));
    assert_int_equal(hale(e, &out, &err, "approve", id1, "--token-file",
                          token(e, "oncall-primary", tf, sizeof(tf)), "--config", cfg),
                     0);
    assert_non_null(strstr(out, "now pending"));
    assert_int_equal(hale(e, &out, &err, "approve", id1, "--token-file",
                          token(e, "oncall-primary", tf, sizeof(tf)), "--config", cfg),
                     1);
    assert_non_null(strstr(err, "already voted"));
    assert_int_equal(hale(e, &out, &err, "approve", id1, "--digest", "00", "--token-file",
                          token(e, "sre-lead", tf, sizeof(tf)), "--config", cfg),
                     1);
    assert_non_null(strstr(err, "is for action"));
    assert_int_equal(hale(e, &out, &err, "approve", id1, "--comment", "looks right", "--token-file",
                          token(e, "sre-lead", tf, sizeof(tf)), "--config", cfg),
                     0);
    assert_non_null(strstr(out, "now approved"));
    /* deny needs a reason; one denial ends the request. */
    assert_int_equal(hale(e, &out, &err, "deny", id2, "--token-file",
                          token(e, "sre-lead", tf, sizeof(tf)), "--config", cfg),
                     2);
    assert_int_equal(hale(e, &out, &err, "deny", id2, "--reason", "wrong release", "--token-file",
                          token(e, "sre-lead", tf, sizeof(tf)), "--config", cfg),
                     0);
    assert_non_null(strstr(out, "now denied"));
    assert_int_equal(hale(e, &out, &err, "approve", id2, "--token-file",
                          token(e, "oncall-primary", tf, sizeof(tf)), "--config", cfg),
                     1);
    assert_non_null(strstr(err, "not pending"));
    assert_int_equal(
        hale(e, &out, &err, "approvals", "list", "--state", "approved", "--json", "--config", cfg),
        0);
    assert_non_null(strstr(out, "\"state\": \"approved\""));
    {
        char *body = NULL;

        /* The same over HTTP, for readers. */
        assert_int_equal(get_with(e, "/api/v1/approvals?state=approved", "viewer1", &body), 200);
        assert_non_null(strstr(body, "\"state\":\"approved\""));
        assert_null(strstr(body, "\"state\":\"denied\""));
        free(body);
        assert_int_equal(get_with(e, "/api/v1/approvals?state=bogus", "viewer1", &body), 400);
        free(body);
        assert_int_equal(get_with(e, "/api/v1/approvals/999", "viewer1", &body), 404);
        free(body);
    }
    assert_int_equal(integ_hale_stop(&e->h, TIMEOUT_MS), 0);
    /* Every vote the controller saw is a leaf, refusals included; the viewer never got in. */
    leaves(e, "approval", "outcome", got, sizeof(got));
    assert_string_equal(got, "mallory:refused oncall-secondary:refused oncall-primary:approved "
                             "oncall-primary:refused sre-lead:refused sre-lead:approved "
                             "sre-lead:denied oncall-primary:refused");
    {
        sqlite3 *db = NULL;
        int64_t n = 0;

        /* Naming the incident the approval was for, and who voted (what queries filter on). */
        assert_int_equal(integ_db_open(e->h.data_dir, &db), 0);
        assert_int_equal(
            integ_db_int(
                db,
                "SELECT COUNT(*) FROM audit_leaf WHERE json_extract(body, '$.kind') = ?1 AND "
                "json_extract(body, '$.incident_id') = 9 AND json_extract(body, '$.actor') IS "
                "NOT NULL",
                "approval", &n),
            0);
        assert_int_equal(n, 8);
        integ_db_close(db);
    }
    free(out), free(err);
}

static void pause_survives_a_restart_and_is_audited(void **state)
{
    struct env *e = *state;
    const char *cfg = e->h.config_path;
    char tf[700], got[2048], *out = NULL, *err = NULL;
    integ_resp resp = {0};

    assert_int_equal(hale(e, &out, &err, "pause", "--reason", "db migration", "--token-file",
                          token(e, "ops-admin", tf, sizeof(tf)), "--config", cfg),
                     1);
    assert_non_null(strstr(err, "no hale is running"));
    assert_int_equal(integ_hale_start(&e->h, TIMEOUT_MS), 0);
    assert_true(metric(e, "hale_paused") == 0);
    assert_int_equal(hale(e, &out, &err, "pause", "--reason", "db migration", "--token-file",
                          token(e, "viewer1", tf, sizeof(tf)), "--config", cfg),
                     1);
    assert_non_null(strstr(err, "HTTP 403"));
    assert_int_equal(hale(e, &out, &err, "pause", "--reason", "db migration", "--token-file",
                          token(e, "ops-admin", tf, sizeof(tf)), "--config", cfg),
                     0);
    assert_non_null(strstr(out, "by ops-admin: db migration"));
    assert_true(metric(e, "hale_paused") == 1);
    assert_int_equal(integ_http(e->h.port, "GET", "/readyz", NULL, NULL, 0, &resp), 0);
    assert_int_equal(resp.status, 200);
    integ_resp_release(&resp);
    /* Restarted, still paused: the switch lives in the store. */
    assert_int_equal(integ_hale_stop(&e->h, TIMEOUT_MS), 0);
    assert_int_equal(integ_hale_start(&e->h, TIMEOUT_MS), 0);
    assert_true(metric(e, "hale_paused") == 1);
    assert_int_equal(hale(e, &out, &err, "pause", "--status", "--token-file",
                          token(e, "viewer1", tf, sizeof(tf)), "--config", cfg),
                     0);
    assert_non_null(strstr(out, "paused since "));
    assert_int_equal(hale(e, &out, &err, "resume", "--token-file",
                          token(e, "ops-admin", tf, sizeof(tf)), "--config", cfg),
                     0);
    assert_non_null(strstr(out, "running (resumed "));
    assert_true(metric(e, "hale_paused") == 0);
    assert_int_equal(integ_hale_stop(&e->h, TIMEOUT_MS), 0);
    leaves(e, "pause", "reason", got, sizeof(got));
    assert_string_equal(got, "ops-admin:db migration");
    leaves(e, "resume", "client", got, sizeof(got));
    assert_non_null(strstr(got, "ops-admin:cli:"));
    free(out), free(err);
}

static void write_policy(const char *dir, const char *effect)
{
    char path[800], text[400];

    snprintf(path, sizeof(path), "%s/10-web.json", dir);
    snprintf(text, sizeof(text),
             "{\"version\": 1, \"rules\": [{\"id\": \"web\", \"effect\": \"%s\", \"match\": "
             "{\"tool\": \"restart_service\"}}]}",
             effect);
    assert_int_equal(fixture_write(path, text), 0);
}

static void policies_load_at_start_and_reload_on_sighup(void **state)
{
    struct env *e = *state;
    char keys[4096], got[2048], *log;
    sqlite3 *db = NULL;
    int64_t n = 0;

    /* A missing directory: start, deny everything, say so. */
    assert_int_equal(write_tokens(e, keys, sizeof(keys), e->mine), 0);
    assert_int_equal(integ_hale_write_config(&e->h, keys), 0);
    assert_int_equal(integ_hale_start(&e->h, TIMEOUT_MS), 0);
    assert_true(metric(e, "hale_policy_rules") == 0);
    log = integ_hale_log(&e->h);
    assert_non_null(strstr(log, "does not exist: every action is denied"));
    free(log);
    /* A good set on SIGHUP; then a broken one is refused and the good one stays. */
    assert_int_equal(mkdir(e->mine, 0700), 0);
    write_policy(e->mine, "allow");
    assert_int_equal(integ_proc_signal(&e->h.proc, SIGHUP), 0);
    for (int i = 0; i < 200 && metric(e, "hale_policy_reloads_total") < 1; i++)
        integ_sleep_ms(10);
    assert_true(metric(e, "hale_policy_rules") == 1);
    write_policy(e->mine, "allwo");
    assert_int_equal(integ_proc_signal(&e->h.proc, SIGHUP), 0);
    for (int i = 0; i < 200 && metric(e, "hale_policy_reload_failures_total") < 1; i++)
        integ_sleep_ms(10);
    assert_true(metric(e, "hale_policy_reload_failures_total") == 1);
    assert_true(metric(e, "hale_policy_rules") == 1);
    assert_int_equal(integ_hale_stop(&e->h, TIMEOUT_MS), 0);
    log = integ_hale_log(&e->h);
    assert_non_null(strstr(log, "policy reload failed, keeping the policies in force"));
    assert_non_null(strstr(log, "10-web.json: rule web: effect"));
    free(log);
    /* Two loads: the empty set at start and the good one; the broken one left no leaf. */
    assert_int_equal(integ_db_open(e->h.data_dir, &db), 0);
    assert_int_equal(
        integ_db_int(db,
                     "SELECT COUNT(*) FROM audit_leaf WHERE json_extract(body, '$.kind') = ?1 AND "
                     "json_extract(body, '$.dir') IS NOT NULL",
                     "policy_reload", &n),
        0);
    assert_int_equal(n, 2);
    assert_int_equal(
        integ_db_text(db,
                      "SELECT group_concat(json_extract(body, '$.rules'), ' ') FROM "
                      "audit_leaf WHERE json_extract(body, '$.kind') = 'policy_reload'",
                      got, sizeof(got)),
        0);
    assert_string_equal(got, "0 1");
    integ_db_close(db);
    /* A broken set at start: hale refuses to start and names file, rule and field. */
    assert_int_equal(integ_hale_start(&e->h, TIMEOUT_MS), -ECHILD);
    assert_int_not_equal(integ_proc_exit_code(&e->h.proc), 0);
    log = integ_hale_log(&e->h);
    assert_non_null(strstr(log, "policies_dir: "));
    assert_non_null(strstr(log, "10-web.json: rule web: effect"));
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(votes_go_through_the_running_controller, setup, teardown),
        cmocka_unit_test_setup_teardown(pause_survives_a_restart_and_is_audited, setup, teardown),
        cmocka_unit_test_setup_teardown(policies_load_at_start_and_reload_on_sighup, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
