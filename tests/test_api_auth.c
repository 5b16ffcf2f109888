/* tests/test_api_auth.c - bearer-token access to the HTTP API: the decision for every route
 * class and role (pure), then over loopback against the real server and routes: 401 with
 * WWW-Authenticate, 403, 200, the audit routes' answers, and no token in the logs. */
#include "fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "api/api_int.h"
#include "hale/audit.h"
#include "hale/audit_query.h"
#include "hale/config.h"
#include "hale/err.h"
#include "hale/log.h"
#include "hale/note.h"
#include "hale/store.h"

#define ORIGIN "test.hale/api"

/* Tokens of the test config: name = role, token = "tok-" role "-s3cr3t". */
static const char *const roles[] = {"viewer", "auditor", "approver", "admin", "intake"};

struct env {
    char *dir;
    char db[512];
    hale_config *cfg;   /* with tokens, or NULL */
    hale_store *reader; /* what the api reads */
    uv_loop_t loop;
    uv_async_t stop;
    hale_http_server *srv;
    hale_api *api;
    pthread_t thread;
    unsigned port;
    char note[2048]; /* the stored checkpoint note */
    /* What the control ops saw last (written on the server thread, read after the answer). */
    bool paused;
    char actor[80], reason[200], client[80];
    int votes;       /* vote op calls */
    int vote_status; /* what the fake vote answers: 0 counts, else this HTTP status */
    int64_t vote_id; /* the approval it was for */
    hale_approval_vote vote;
    char voter[80], digest[80], nonce[80], comment[200];
};

static void token_of(const char *role, char *out, size_t size)
{
    snprintf(out, size, "tok-%s-s3cr3t", role);
}

static hale_config *config_with_tokens(struct env *e, bool intake_required)
{
    char path[600], hex[65], tok[64], *text;
    uint8_t h[32];
    hale_config *c = NULL;
    size_t len = 0;

    text = calloc(1, 8192);
    len += (size_t)snprintf(text + len, 8192 - len,
                            "{\"auth\": {\"intake_token_required\": %s, "
                            "\"tokens\": [",
                            intake_required ? "true" : "false");
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        token_of(roles[i], tok, sizeof(tok));
        crypto_hash_sha256(h, (const unsigned char *)tok, strlen(tok));
        sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
        len += (size_t)snprintf(text + len, 8192 - len,
                                "%s{\"name\": \"%s\", \"sha256\": \"%s\", \"role\": \"%s\"}",
                                i ? ", " : "", roles[i], hex, roles[i]);
    }
    snprintf(text + len, 8192 - len, "]}}");
    snprintf(path, sizeof(path), "%s/hale.json", e->dir);
    assert_int_equal(fixture_write(path, text), 0);
    assert_int_equal(hale_config_load(path, &c, NULL), 0);
    free(text);
    return c;
}

/* A small signed log in e->db. */
static void build_log(struct env *e)
{
    hale_store_opts o = {.path = e->db, .sync = HALE_STORE_SYNC_NORMAL};
    uint8_t seed[32];
    hale_note_signer *k = NULL;
    hale_store *s = NULL;
    hale_audit *a = NULL;
    char *text = NULL, *note = NULL;
    hale_hash root;
    uint64_t size;
    size_t len;

    memset(seed, 3, sizeof(seed));
    assert_int_equal(hale_store_open(&o, &s, NULL), 0);
    assert_int_equal(hale_audit_open(s, ORIGIN, &a, NULL), 0);
    assert_int_equal(hale_store_begin(s), 0);
    for (int i = 0; i < 30; i++) {
        json_t *p =
            json_pack("{s:i,s:s}", "incident_id", i % 3 + 1, "actor", i % 2 ? "alice" : "bob");

        assert_int_equal(hale_audit_append(a, i % 2 ? "decision" : "approval", p, 0, NULL, NULL),
                         0);
        json_decref(p);
    }
    assert_int_equal(hale_store_commit(s), 0);
    hale_audit_head(a, &size, &root);
    assert_int_equal(hale_note_signer_from_seed(ORIGIN, seed, &k), 0);
    assert_int_equal(hale_checkpoint_format(ORIGIN, size, &root, NULL, 0, &text, &len), 0);
    assert_int_equal(hale_note_sign(text, len, (const hale_note_signer *const *)&k, 1, &note, NULL),
                     0);
    assert_int_equal(hale_audit_store_checkpoint(a, note, 1, NULL), 0);
    snprintf(e->note, sizeof(e->note), "%s", note);
    free(text);
    free(note);
    hale_note_signer_free(k);
    hale_audit_free(a);
    hale_store_free(s);
}

static void op_submit(void *ud, hale_http_req *req, hale_ingest_batch *batch, const char *kind)
{
    (void)ud;
    (void)kind;
    hale_ingest_batch_free(batch);
    (void)hale_http_respond(req, 200, "application/json", "{}", 2);
}
static hale_store *op_store(void *ud)
{
    return ((struct env *)ud)->reader;
}
static int op_metrics(void *ud, hale_buf *out)
{
    (void)ud;
    (void)out;
    return 0;
}
static bool op_ready(void *ud, const char **why)
{
    (void)ud;
    (void)why;
    return true;
}
static int64_t op_now(void *ud)
{
    (void)ud;
    return INT64_C(1790000000000);
}
static const hale_config *op_config(void *ud)
{
    return ((struct env *)ud)->cfg;
}

static int op_pause_get(void *ud, json_t **ret)
{
    struct env *e = ud;

    *ret = json_pack("{s:b,s:s,s:s}", "paused", e->paused, "actor", e->actor, "reason", e->reason);
    return *ret ? 0 : -ENOMEM;
}
static int op_pause_set(void *ud, bool paused, const char *actor, const char *reason,
                        const char *client, hale_diag *reterr)
{
    struct env *e = ud;

    (void)reterr;
    e->paused = paused;
    snprintf(e->actor, sizeof(e->actor), "%s", actor);
    snprintf(e->reason, sizeof(e->reason), "%s", reason ? reason : "(null)");
    snprintf(e->client, sizeof(e->client), "%s", client ? client : "(null)");
    return 0;
}
static int op_vote(void *ud, int64_t id, const hale_approval_vote *v, json_t **ret,
                   int *reterr_status, hale_diag *reterr)
{
    struct env *e = ud;

    e->votes++;
    e->vote_id = id;
    e->vote = *v;
    snprintf(e->voter, sizeof(e->voter), "%s", v->user ? v->user : "(null)");
    snprintf(e->digest, sizeof(e->digest), "%s", v->digest_hex);
    snprintf(e->nonce, sizeof(e->nonce), "%s", v->nonce);
    snprintf(e->comment, sizeof(e->comment), "%s", v->comment ? v->comment : "(null)");
    if (e->vote_status) {
        *reterr_status = e->vote_status;
        hale_diag_set(reterr, "approval %lld: refused for the test", (long long)id);
        return HALE_EPOLICY;
    }
    *ret = json_pack("{s:I,s:s}", "id", (json_int_t)id, "state", "pending");
    return *ret ? 0 : -ENOMEM;
}

static void on_closed(void *ud)
{
    (void)ud;
}
static void on_stop(uv_async_t *a)
{
    struct env *e = a->data;

    hale_http_server_close(e->srv, on_closed, NULL);
    uv_close((uv_handle_t *)&e->stop, NULL);
}

static void *run_loop(void *arg)
{
    struct env *e = arg;

    uv_run(&e->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void start(struct env *e)
{
    hale_api_ops ops = {.submit = op_submit,
                        .store = op_store,
                        .metrics = op_metrics,
                        .ready = op_ready,
                        .now_ms = op_now,
                        .config = op_config,
                        .pause_get = op_pause_get,
                        .pause_set = op_pause_set,
                        .vote = op_vote};
    hale_http_limits lim;
    hale_store_opts o = {.path = e->db, .read_only = true};

    assert_int_equal(hale_store_open(&o, &e->reader, NULL), 0);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    assert_int_equal(uv_async_init(&e->loop, &e->stop, on_stop), 0);
    e->stop.data = e;
    hale_http_limits_default(&lim);
    assert_int_equal(hale_api_new(&ops, e, &e->api), 0);
    assert_int_equal(hale_http_server_new(&e->loop, &lim, hale_api_handle, e->api, &e->srv), 0);
    assert_int_equal(hale_http_server_listen(e->srv, "127.0.0.1", 0, NULL), 0);
    e->port = hale_http_server_port(e->srv);
    assert_int_equal(pthread_create(&e->thread, NULL, run_loop, e), 0);
}

static void stop(struct env *e)
{
    uv_async_send(&e->stop);
    pthread_join(e->thread, NULL);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    hale_api_free(e->api);
    hale_store_free(e->reader);
    e->reader = NULL;
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));

    if (!e || sodium_init() < 0)
        return -1;
    e->dir = fixture_tmpdir("hale-api-auth");
    snprintf(e->db, sizeof(e->db), "%s/hale.db", e->dir);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;

    hale_config_unref(e->cfg);
    fixture_rmtree(e->dir);
    free(e->dir);
    free(e);
    return 0;
}

static void decisions(void **state)
{
    static const struct {
        hale__api_access access;
        const char *allowed; /* roles allowed, as a string of initials v a p d i */
    } rules[] = {
        {HALE__API_OPEN, "vapdi"}, {HALE__API_INTAKE, "vapdi"}, /* intake open by default */
        {HALE__API_READ, "vapd"},  {HALE__API_AUDIT, "ad"},
        {HALE__API_APPROVE, "pd"}, {HALE__API_ADMIN, "d"},
    };
    static const char initials[] = "vapdi";
    struct env *e = *state;
    const hale_auth_token *t;
    char hdr[128], tok[64];

    e->cfg = config_with_tokens(e, false);
    for (size_t r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
        hale__api_verdict none = hale__api_auth_decide(e->cfg, NULL, rules[r].access, NULL);

        assert_int_equal(none,
                         rules[r].access == HALE__API_OPEN || rules[r].access == HALE__API_INTAKE
                             ? HALE__API_ALLOW
                             : HALE__API_NO_TOKEN);
        for (size_t i = 0; i < 5; i++) {
            bool ok = strchr(rules[r].allowed, initials[i]) != NULL;

            token_of(roles[i], tok, sizeof(tok));
            snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
            assert_int_equal(hale__api_auth_decide(e->cfg, hdr, rules[r].access, &t),
                             ok ? HALE__API_ALLOW : HALE__API_FORBIDDEN);
            /* Every configured hash is reachable, first to last. */
            if (ok && rules[r].access >= HALE__API_READ)
                assert_string_equal(t->name, roles[i]);
        }
    }
    /* Malformed credentials are "no token"; a near miss is an invalid token. */
    static const char *const malformed[] = {"Basic dG9rLWFkbWluLXMzY3IzdA==",
                                            "Bearer",
                                            "Bearer   ",
                                            "Bearer a b",
                                            "Bearer tok\x01",
                                            "Bearertok-admin",
                                            "Bearer =abc"};
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
        assert_int_equal(hale__api_auth_decide(e->cfg, malformed[i], HALE__API_AUDIT, NULL),
                         HALE__API_NO_TOKEN);
    assert_int_equal(
        hale__api_auth_decide(e->cfg, "Bearer tok-admin-s3cr3T", HALE__API_AUDIT, NULL),
        HALE__API_BAD_TOKEN);
    assert_int_equal(hale__api_auth_decide(e->cfg, "Bearer tok-admin-s3cr3", HALE__API_AUDIT, NULL),
                     HALE__API_BAD_TOKEN);
    assert_int_equal(
        hale__api_auth_decide(e->cfg, "bEaReR  tok-admin-s3cr3t ", HALE__API_AUDIT, NULL),
        HALE__API_ALLOW);
    /* Without any token configured: reads and intake open, audit never. */
    assert_int_equal(hale__api_auth_decide(NULL, NULL, HALE__API_READ, NULL), HALE__API_ALLOW);
    assert_int_equal(hale__api_auth_decide(NULL, NULL, HALE__API_INTAKE, NULL), HALE__API_ALLOW);
    assert_int_equal(hale__api_auth_decide(NULL, NULL, HALE__API_AUDIT, NULL), HALE__API_NO_TOKEN);
    assert_int_equal(hale__api_auth_decide(NULL, "Bearer tok-admin-s3cr3t", HALE__API_AUDIT, NULL),
                     HALE__API_BAD_TOKEN);
    /* intake_token_required: intake and admin only. */
    hale_config_unref(e->cfg);
    e->cfg = config_with_tokens(e, true);
    assert_int_equal(hale__api_auth_decide(e->cfg, NULL, HALE__API_INTAKE, NULL),
                     HALE__API_NO_TOKEN);
    assert_int_equal(
        hale__api_auth_decide(e->cfg, "Bearer tok-intake-s3cr3t", HALE__API_INTAKE, NULL),
        HALE__API_ALLOW);
    assert_int_equal(
        hale__api_auth_decide(e->cfg, "Bearer tok-viewer-s3cr3t", HALE__API_INTAKE, NULL),
        HALE__API_FORBIDDEN);
}

/* GET path with an optional token; returns the status, head and body in *head / *body. */
static int get(struct env *e, const char *path, const char *role, char **head, char **body)
{
    char hdr[128], tok[64];

    if (role)
        token_of(role, tok, sizeof(tok));
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", role ? tok : "");
    return fixture_http_ex(e->port, "GET", path, role ? hdr : NULL, NULL, NULL, head, body);
}

static int get_status(struct env *e, const char *path, const char *role)
{
    char *head = NULL, *body = NULL;
    int r = get(e, path, role, &head, &body);

    free(head);
    free(body);
    return r;
}

static void routes_over_http(void **state)
{
    struct env *e = *state;
    char *head = NULL, *body = NULL, path[128];
    json_t *j;
    json_int_t next;

    build_log(e);
    e->cfg = config_with_tokens(e, false);
    start(e);
    assert_int_equal(get(e, "/api/v1/audit", NULL, &head, &body), 401);
    assert_non_null(strstr(head, "\r\nWWW-Authenticate: Bearer realm=\"hale\"\r\n"));
    free(head);
    free(body);
    assert_int_equal(get(e, "/api/v1/audit", "viewer", &head, &body), 403);
    assert_non_null(strstr(head, "error=\"insufficient_scope\""));
    free(head);
    free(body);
    assert_int_equal(fixture_http_ex(e->port, "GET", "/api/v1/audit",
                                     "Authorization: Bearer wrong-token\r\n", NULL, NULL, &head,
                                     &body),
                     401);
    assert_non_null(strstr(head, "error=\"invalid_token\""));
    free(head);
    free(body);
    assert_int_equal(get(e, "/api/v1/audit", "auditor", NULL, &body), 200);
    j = json_loads(body, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "leaves")), 30);
    assert_true(json_is_null(json_object_get(j, "next_cursor")));
    json_decref(j);
    free(body);
    assert_int_equal(
        get(e, "/api/v1/audit?kind=decision&limit=5&actor=alice", "admin", NULL, &body), 200);
    j = json_loads(body, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "leaves")), 5);
    next = json_integer_value(json_object_get(j, "next_cursor"));
    assert_int_equal(next, 21); /* decisions are the odd seqs, newest first: 29..21 */
    json_decref(j);
    free(body);
    snprintf(path, sizeof(path), "/api/v1/audit?kind=decision&limit=100&cursor=%lld",
             (long long)next);
    assert_int_equal(get(e, path, "auditor", NULL, &body), 200);
    j = json_loads(body, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "leaves")), 10);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(json_object_get(j, "leaves"), 0), "seq")),
        19);
    json_decref(j);
    free(body);
    assert_int_equal(get_status(e, "/api/v1/audit?since=yesterday", "auditor"), 400);
    assert_int_equal(get_status(e, "/api/v1/audit?limit=0", "auditor"), 400);
    assert_int_equal(get_status(e, "/api/v1/audit?limit=1001", "auditor"), 400);
    assert_int_equal(get_status(e, "/api/v1/audit?limit=1000", "auditor"), 200);
    assert_int_equal(get_status(e, "/api/v1/audit?order=up", "auditor"), 400);
    assert_int_equal(get_status(e, "/api/v1/audit?text=%ff%fe", "auditor"), 400);
    assert_int_equal(get_status(e, "/api/v1/audit?since=2026-01-01T00:00:00Z&until=1h", "auditor"),
                     200);
    assert_int_equal(get_status(e, "/api/v1/audit?since=24h&order=asc&text=alice", "auditor"), 200);
    assert_int_equal(get(e, "/api/v1/audit/checkpoint", "auditor", &head, &body), 200);
    assert_string_equal(body, e->note);
    assert_non_null(strstr(head, "Content-Type: text/plain"));
    free(head);
    free(body);
    assert_int_equal(get_status(e, "/api/v1/audit/checkpoint", "approver"), 403);
    /* With tokens configured every /api/v1 read needs one; health and metrics stay open. */
    assert_int_equal(get_status(e, "/api/v1/incidents", NULL), 401);
    assert_int_equal(get_status(e, "/api/v1/incidents", "viewer"), 200);
    assert_int_equal(get_status(e, "/api/v1/incidents", "intake"), 403);
    assert_int_equal(get_status(e, "/api/v1/incidents/1", "approver"), 404);
    assert_int_equal(get_status(e, "/healthz", NULL), 200);
    assert_int_equal(get_status(e, "/metrics", NULL), 200);
    /* Intake without intake_token_required: the webhook needs no token (400: an empty body
     * reached the parser). */
    assert_int_equal(
        fixture_http(e->port, "POST", "/api/v1/alerts", "application/json", "{}", NULL), 400);
    stop(e);

    hale_config_unref(e->cfg);
    e->cfg = config_with_tokens(e, true);
    start(e);
    assert_int_equal(
        fixture_http(e->port, "POST", "/api/v1/alerts", "application/json", "{}", NULL), 401);
    assert_int_equal(fixture_http_ex(e->port, "POST", "/api/v1/alerts",
                                     "Authorization: Bearer tok-intake-s3cr3t\r\n",
                                     "application/json", "{}", NULL, NULL),
                     400);
    assert_int_equal(fixture_http_ex(e->port, "POST", "/api/v1/events",
                                     "Authorization: Bearer tok-auditor-s3cr3t\r\n",
                                     "application/json", "{}", NULL, NULL),
                     403);
    /* Metric samples are intake too; forecasts a read (503 here: no metrics behind this api). */
    assert_int_equal(
        fixture_http(e->port, "POST", "/api/v1/metrics", "application/json", "{}", NULL), 401);
    assert_int_equal(fixture_http_ex(e->port, "POST", "/api/v1/metrics",
                                     "Authorization: Bearer tok-auditor-s3cr3t\r\n",
                                     "application/json", "{}", NULL, NULL),
                     403);
    assert_int_equal(fixture_http_ex(e->port, "POST", "/api/v1/metrics",
                                     "Authorization: Bearer tok-intake-s3cr3t\r\n",
                                     "application/json", "{}", NULL, NULL),
                     503);
    assert_int_equal(get_status(e, "/api/v1/forecasts", NULL), 401);
    assert_int_equal(get_status(e, "/api/v1/forecasts", "intake"), 403);
    assert_int_equal(get_status(e, "/api/v1/forecasts", "viewer"), 503);
    stop(e);

    hale_config_unref(e->cfg);
    e->cfg = NULL; /* no tokens at all: reads open, the audit log closed */
    start(e);
    assert_int_equal(get_status(e, "/api/v1/incidents", NULL), 200);
    assert_int_equal(get_status(e, "/api/v1/audit", NULL), 401);
    assert_int_equal(get_status(e, "/api/v1/audit", "admin"), 401);
    stop(e);
}

static void tokens_never_logged(void **state)
{
    struct env *e = *state;
    char log_path[600], *text, *body = NULL;
    int fd;

    build_log(e);
    e->cfg = config_with_tokens(e, true);
    snprintf(log_path, sizeof(log_path), "%s/log.jsonl", e->dir);
    fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(hale_log_configure("debug"), 0);
    hale_log_set_fd(fd);
    start(e);
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        assert_true(get(e, "/api/v1/audit", roles[i], NULL, &body) > 0);
        assert_null(strstr(body, "s3cr3t")); /* nor is it echoed */
        free(body);
    }
    assert_int_equal(fixture_http_ex(e->port, "GET", "/api/v1/audit",
                                     "Authorization: Bearer not-the-s3cr3t\r\n", NULL, NULL, NULL,
                                     NULL),
                     401);
    assert_int_equal(fixture_http_ex(e->port, "POST", "/api/v1/alerts",
                                     "Authorization: Bearer tok-intake-s3cr3t\r\n",
                                     "application/json", "{}", NULL, NULL),
                     400);
    stop(e);
    hale_log_set_fd(2);
    assert_int_equal(hale_log_configure("warn"), 0);
    close(fd);
    text = fixture_read(log_path, NULL);
    assert_non_null(text);
    assert_null(strstr(text, "s3cr3t"));
    free(text);
}

/* POST body to path with role's token (NULL: none); returns the status, body in *ret_body. */
static int post(struct env *e, const char *path, const char *role, const char *body,
                char **ret_body)
{
    char hdr[128], tok[64];

    if (role)
        token_of(role, tok, sizeof(tok));
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", role ? tok : "");
    return fixture_http_ex(e->port, "POST", path, role ? hdr : NULL,
                           body ? "application/json" : NULL, body, NULL, ret_body);
}

static void control_routes_name_the_token_as_actor(void **state)
{
    struct env *e = *state;
    char *body = NULL;

    build_log(e);
    e->cfg = config_with_tokens(e, false);
    start(e);
    /* Pause: admin only; the actor is the token's name whatever the body says. */
    assert_int_equal(post(e, "/api/v1/pause", NULL, NULL, NULL), 401);
    assert_int_equal(post(e, "/api/v1/pause", "approver", NULL, NULL), 403);
    assert_int_equal(post(e, "/api/v1/pause", "admin", "{\"actor\": \"root\"}", &body), 400);
    assert_non_null(strstr(body, "actor"));
    free(body);
    assert_int_equal(post(e, "/api/v1/pause", "admin", "{\"reason\": 5}", NULL), 400);
    assert_int_equal(post(e, "/api/v1/pause", "admin", "[1]", NULL), 400);
    assert_false(e->paused);
    assert_int_equal(post(e, "/api/v1/pause", "admin",
                          "{\"reason\": \"freeze\", \"client\": \"cli:alice\"}", &body),
                     200);
    assert_non_null(strstr(body, "\"paused\":true"));
    free(body);
    assert_true(e->paused);
    assert_string_equal(e->actor, "admin");
    assert_string_equal(e->reason, "freeze");
    assert_string_equal(e->client, "cli:alice");
    assert_int_equal(get_status(e, "/api/v1/pause", "viewer"), 200);
    assert_int_equal(get_status(e, "/api/v1/pause", NULL), 401); /* tokens configured */
    assert_int_equal(post(e, "/api/v1/resume", "admin", NULL, NULL), 200);
    assert_false(e->paused);
    assert_string_equal(e->reason, "(null)");
    /* Votes: approver or admin; decision, digest and nonce required; a denial needs a reason. */
    assert_int_equal(post(e, "/api/v1/approvals/3", "viewer",
                          "{\"decision\": \"approve\", \"digest\": \"d\", \"nonce\": \"n\"}", NULL),
                     403);
    assert_int_equal(post(e, "/api/v1/approvals/3", "approver",
                          "{\"decision\": \"yes\", \"digest\": \"d\", \"nonce\": \"n\"}", NULL),
                     400);
    assert_int_equal(post(e, "/api/v1/approvals/3", "approver",
                          "{\"decision\": \"approve\", \"digest\": \"d\"}", NULL),
                     400);
    assert_int_equal(post(e, "/api/v1/approvals/3", "approver",
                          "{\"decision\": \"deny\", \"digest\": \"d\", \"nonce\": \"n\"}", NULL),
                     400);
    assert_int_equal(post(e, "/api/v1/approvals/x", "approver",
                          "{\"decision\": \"approve\", \"digest\": \"d\", \"nonce\": \"n\"}", NULL),
                     404);
    {
        char big[600];

        snprintf(big, sizeof(big),
                 "{\"decision\": \"approve\", \"digest\": \"%0200d\", \"nonce\": \"n\"}", 0);
        assert_int_equal(post(e, "/api/v1/approvals/3", "approver", big, &body), 400);
        assert_non_null(strstr(body, "digest: at most 128 bytes"));
        free(body);
    }
    assert_int_equal(e->votes, 0);
    assert_int_equal(post(e, "/api/v1/approvals/3", "approver",
                          "{\"decision\": \"deny\", \"digest\": \"d1\", \"nonce\": \"n1\", "
                          "\"reason\": \"not now\", \"user\": \"admin\"}",
                          NULL),
                     400); /* no member names the voter */
    assert_int_equal(post(e, "/api/v1/approvals/3", "approver",
                          "{\"decision\": \"deny\", \"digest\": \"d1\", \"nonce\": \"n1\", "
                          "\"reason\": \"not now\"}",
                          &body),
                     200);
    free(body);
    assert_int_equal(e->votes, 1);
    assert_int_equal(e->vote_id, 3);
    assert_false(e->vote.approve);
    assert_string_equal(e->voter, "approver");
    assert_string_equal(e->digest, "d1");
    assert_string_equal(e->nonce, "n1");
    assert_string_equal(e->comment, "not now");
    e->vote_status = 409;
    assert_int_equal(post(e, "/api/v1/approvals/3", "admin",
                          "{\"decision\": \"approve\", \"digest\": \"d\", \"nonce\": \"n\", "
                          "\"comment\": \"ok\"}",
                          &body),
                     409);
    assert_non_null(strstr(body, "\"code\":\"conflict\""));
    assert_non_null(strstr(body, "refused for the test"));
    free(body);
    assert_string_equal(e->voter, "admin");
    assert_true(e->vote.approve);
    e->vote_status = 403;
    assert_int_equal(post(e, "/api/v1/approvals/3", "approver",
                          "{\"decision\": \"approve\", \"digest\": \"d\", \"nonce\": \"n\"}", NULL),
                     403);
    /* Without an approvals op (the store is not open) reads answer 503. */
    assert_int_equal(get_status(e, "/api/v1/approvals", "viewer"), 503);
    stop(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(decisions, setup, teardown),
        cmocka_unit_test_setup_teardown(routes_over_http, setup, teardown),
        cmocka_unit_test_setup_teardown(tokens_never_logged, setup, teardown),
        cmocka_unit_test_setup_teardown(control_routes_name_the_token_as_actor, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
