/* tests/test_loop.c - the controller end to end in one process: intake through the HTTP API,
 * persistence across restarts, stage delivery and redelivery from the outbox, reload and
 * shutdown by signal. The loop runs on its own thread; the test is the HTTP client. */
#include "fixture.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <time.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "hale/audit.h"
#include "fake_llm.h"
#include "fake_witness.h"
#include "hale/config.h"
#include "hale/merkle.h"
#include "hale/note.h"
#include "hale/err.h"
#include "hale/incident.h"
#include "hale/llm.h"
#include "loop/loop.h"

struct env {
    char *dir;
    char config[600];
    hale_loop *loop;
    pthread_t thread;
    int run_result;
    unsigned port;
    /* stage observations, written on the loop thread, read after join */
    int open_calls;
    int investigating_calls;
    unsigned last_attempt;
    bool finish_investigating;
};

static const char firing[] =
    "{\"receiver\":\"hale\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\","
    "\"labels\":{\"alertname\":\"DiskFull\",\"service\":\"db\",\"severity\":\"critical\"},"
    "\"annotations\":{\"summary\":\"disk / at 97%\"},\"startsAt\":\"2026-11-22T13:08:22.079Z\","
    "\"endsAt\":\"0001-01-01T00:00:00Z\",\"generatorURL\":\"http://x/graph\","
    "\"fingerprint\":\"1111111111111111\"}],\"groupLabels\":{},\"commonLabels\":{},"
    "\"commonAnnotations\":{},\"externalURL\":\"http://am\",\"version\":\"4\","
    "\"groupKey\":\"{}:{}\",\"truncatedAlerts\":0}\n";

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    char text[1024];

    e->dir = fixture_tmpdir("hale-loop");
    snprintf(e->config, sizeof(e->config), "%s/hale.json", e->dir);
    snprintf(text, sizeof(text),
             "{\"listen\": \"127.0.0.1:0\", \"data_dir\": \"%s/var\", \"log_level\": \"warn\"}",
             e->dir);
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

static void on_open(void *ud, const hale_incident_view *v)
{
    struct env *e = ud;

    e->open_calls++;
    assert_int_equal(hale_loop_stage_done(e->loop, v->outbox_id, v->id, HALE_INCIDENT_INVESTIGATING,
                                          "triaged", NULL),
                     0);
}

static void on_investigating(void *ud, const hale_incident_view *v)
{
    struct env *e = ud;

    e->investigating_calls++;
    e->last_attempt = v->attempt;
    if (e->finish_investigating)
        assert_int_equal(hale_loop_stage_done(e->loop, v->outbox_id, v->id, HALE_INCIDENT_ESCALATED,
                                              "needs a human", NULL),
                         0);
}

static void start(struct env *e, bool stages)
{
    hale_config *cfg = NULL;
    hale_diag diag = {{0}};

    assert_int_equal(hale_config_load(e->config, &cfg, &diag), 0);
    assert_int_equal(hale_loop_new(cfg, e->config, &e->loop, &diag), 0);
    hale_config_unref(cfg);
    if (stages) {
        hale_stage open = {"triage", HALE_INCIDENT_OPEN, on_open, e};
        hale_stage inv = {"investigate", HALE_INCIDENT_INVESTIGATING, on_investigating, e};

        assert_int_equal(hale_loop_register_stage(e->loop, &open), 0);
        assert_int_equal(hale_loop_register_stage(e->loop, &inv), 0);
        assert_int_equal(hale_loop_register_stage(e->loop, &inv), -EEXIST);
    }
    e->port = hale_loop_port(e->loop);
    assert_true(e->port > 0);
    assert_int_equal(pthread_create(&e->thread, NULL, run_thread, e), 0);
    /* Answered only once the loop runs, so its signal handlers are installed by then. */
    assert_int_equal(fixture_http(e->port, "GET", "/healthz", NULL, NULL, NULL), 200);
}

static void stop(struct env *e)
{
    /* The loop's uv_signal handler turns this into an orderly shutdown. */
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    assert_int_equal(pthread_join(e->thread, NULL), 0);
    assert_int_equal(e->run_result, 0);
    hale_loop_free(e->loop);
    e->loop = NULL;
}

static json_t *get_json(struct env *e, const char *path, int want_status)
{
    char *body = NULL;
    json_t *v;

    assert_int_equal(fixture_http(e->port, "GET", path, NULL, NULL, &body), want_status);
    v = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(v);
    return v;
}

static const char *incident_state(json_t *list, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(list, "incidents"), i), "state"));
}

static void accepted_alert_survives_restart(void **state)
{
    struct env *e = *state;
    json_t *list;
    char *body = NULL;

    start(e, false);
    assert_int_equal(
        fixture_http(e->port, "POST", "/api/v1/alerts", "application/json", firing, &body), 200);
    assert_non_null(strstr(body, "\"accepted\""));
    free(body);
    list = get_json(e, "/api/v1/incidents", 200);
    assert_int_equal(json_array_size(json_object_get(list, "incidents")), 1);
    assert_string_equal(incident_state(list, 0), "open");
    json_decref(list);
    stop(e);

    start(e, false);
    list = get_json(e, "/api/v1/incidents?state=open", 200);
    assert_int_equal(json_array_size(json_object_get(list, "incidents")), 1);
    json_decref(list);
    /* The re-send after the restart is a duplicate of the reloaded alert. */
    assert_int_equal(
        fixture_http(e->port, "POST", "/api/v1/alerts", "application/json", firing, NULL), 200);
    list = get_json(e, "/api/v1/incidents/1", 200);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(list, "alerts"), 0), "seen_count")),
                     2);
    json_decref(list);
    stop(e);
}

static void routes_answer_with_right_status(void **state)
{
    struct env *e = *state;
    char *body = NULL;
    json_t *v;

    start(e, false);
    assert_int_equal(fixture_http(e->port, "GET", "/healthz", NULL, NULL, NULL), 200);
    assert_int_equal(fixture_http(e->port, "GET", "/readyz", NULL, NULL, NULL), 200);
    assert_int_equal(fixture_http(e->port, "GET", "/nope", NULL, NULL, NULL), 404);
    assert_int_equal(fixture_http(e->port, "GET", "/api/v1/alerts", NULL, NULL, NULL), 405);
    assert_int_equal(fixture_http(e->port, "GET", "/api/v1/incidents/77", NULL, NULL, NULL), 404);
    assert_int_equal(fixture_http(e->port, "GET", "/api/v1/incidents/x1", NULL, NULL, NULL), 404);
    assert_int_equal(
        fixture_http(e->port, "GET", "/api/v1/incidents?state=bogus", NULL, NULL, NULL), 400);
    assert_int_equal(fixture_http(e->port, "GET", "/api/v1/incidents?limit=0", NULL, NULL, NULL),
                     400);
    assert_int_equal(fixture_http(e->port, "POST", "/api/v1/alerts", "text/plain", firing, NULL),
                     415);
    assert_int_equal(
        fixture_http(e->port, "POST", "/api/v1/alerts", "application/json", "{\"version\":", &body),
        400);
    v = json_loads(body, 0, NULL);
    free(body);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "error"), "code")),
                        "malformed_json");
    json_decref(v);
    assert_int_equal(fixture_http(e->port, "POST", "/api/v1/events",
                                  "application/json; charset=utf-8",
                                  "{\"source\":\"cron\",\"labels\":{\"alertname\":\"Backup\"},"
                                  "\"status\":\"firing\"}",
                                  NULL),
                     200);
    assert_int_equal(fixture_http(e->port, "POST", "/api/v1/events", "application/json",
                                  "{\"source\":\"cron\",\"labels\":{\"a\":\"b\"},\"x\":1}", NULL),
                     400);
    assert_int_equal(fixture_http(e->port, "GET", "/metrics", NULL, NULL, &body), 200);
    assert_non_null(strstr(body, "hale_alerts_accepted_total 1\n"));
    assert_non_null(strstr(body, "hale_incidents{state=\"open\"} 1\n"));
    assert_non_null(strstr(body, "hale_http_requests_total{route=\"alerts\",code=\"415\"} 1\n"));
    /* The request's commit, and the one of the start-up policy_reload leaf unless both fell
     * into the same turn. */
    assert_true(strstr(body, "hale_store_commit_duration_seconds_bucket{le=\"+Inf\"} 1\n") ||
                strstr(body, "hale_store_commit_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(body, "hale_paused 0\n"));
    free(body);
    stop(e);
}

static void stages_receive_incidents_and_redelivery_follows_restart(void **state)
{
    struct env *e = *state;
    json_t *v;

    start(e, true);
    assert_int_equal(
        fixture_http(e->port, "POST", "/api/v1/alerts", "application/json", firing, NULL), 200);
    v = get_json(e, "/api/v1/incidents/1", 200);
    assert_string_equal(json_string_value(json_object_get(v, "state")), "investigating");
    assert_int_equal(json_array_size(json_object_get(v, "transitions")), 2);
    json_decref(v);
    stop(e);
    assert_int_equal(e->open_calls, 1);
    assert_int_equal(e->investigating_calls, 1);
    assert_int_equal(e->last_attempt, 0);

    /* The investigating item was never finished: the next start hands it over again. */
    e->finish_investigating = true;
    start(e, true);
    v = get_json(e, "/api/v1/incidents/1", 200);
    assert_string_equal(json_string_value(json_object_get(v, "state")), "escalated");
    json_decref(v);
    stop(e);
    assert_int_equal(e->open_calls, 1);
    assert_int_equal(e->investigating_calls, 2);
    assert_int_equal(e->last_attempt, 1);

    start(e, true); /* nothing left to deliver */
    stop(e);
    assert_int_equal(e->investigating_calls, 2);
}

/* The audit log the runs left: its leaves' kinds in order (space-separated), after checking
 * that every checkpoint's root is the one of the leaves at its size and that it is signed by
 * the key of its epoch (the root key in audit.pub, then each key_rotation leaf's key once the
 * checkpoint sealing that leaf is past). */
static char *audit_kinds(struct env *e, uint64_t *ret_checkpoints, uint64_t *ret_sealed)
{
    char path[700], *pub, kinds[4096] = "";
    hale_note_verifier keys[16];
    hale_merkle_frontier f;
    sqlite3_stmt *leaf, *cp;
    sqlite3 *db;
    size_t n_keys = 1;
    uint64_t rotation_seq[16], n_cp = 0;
    hale_hash root;

    snprintf(path, sizeof(path), "%s/var/%s", e->dir, HALE_AUDIT_PUB_FILE);
    pub = fixture_read(path, NULL);
    assert_non_null(pub);
    pub[strcspn(pub, "\n")] = '\0';
    assert_int_equal(hale_note_verifier_parse(pub, &keys[0]), 0);
    free(pub);
    snprintf(path, sizeof(path), "%s/var/hale.db", e->dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(
            db, "SELECT seq, json_extract(body, '$.kind'), body FROM audit_leaf ORDER BY seq", -1,
            &leaf, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT size, note FROM audit_checkpoint ORDER BY size",
                                        -1, &cp, NULL),
                     SQLITE_OK);
    hale_merkle_frontier_init(&f);
    while (sqlite3_step(cp) == SQLITE_ROW) {
        uint64_t size = (uint64_t)sqlite3_column_int64(cp, 0);
        const char *note = (const char *)sqlite3_column_text(cp, 1);
        size_t epoch = 0;
        hale_note_opened o;
        hale_checkpoint c;

        while (f.size < size) {
            hale_hash h;

            assert_int_equal(sqlite3_step(leaf), SQLITE_ROW);
            assert_int_equal(sqlite3_column_int64(leaf, 0), (sqlite3_int64)f.size);
            hale_merkle_leaf_hash(sqlite3_column_blob(leaf, 2),
                                  (size_t)sqlite3_column_bytes(leaf, 2), &h);
            assert_int_equal(hale_merkle_frontier_append(&f, &h), 0);
            snprintf(kinds + strlen(kinds), sizeof(kinds) - strlen(kinds), "%s%s",
                     *kinds ? " " : "", (const char *)sqlite3_column_text(leaf, 1));
            if (strcmp((const char *)sqlite3_column_text(leaf, 1), "key_rotation") == 0) {
                json_t *b = json_loads((const char *)sqlite3_column_text(leaf, 2), 0, NULL);

                assert_true(n_keys < 16);
                assert_int_equal(json_integer_value(json_object_get(b, "epoch")), n_keys);
                assert_int_equal(hale_note_verifier_parse(
                                     json_string_value(json_object_get(b, "key")), &keys[n_keys]),
                                 0);
                rotation_seq[n_keys++] = f.size - 1;
                json_decref(b);
            }
        }
        /* The epoch of a head: rotations whose sealing head (seq + 1) lies before it. */
        for (size_t k = 1; k < n_keys; k++)
            if (rotation_seq[k] + 1 < size)
                epoch = k;
        assert_true(hale_note_open(note, strlen(note), &keys[epoch], 1, 0, &o, NULL) > 0);
        assert_int_equal(hale_checkpoint_parse(o.text, o.text_len, &c, NULL), 0);
        hale_merkle_frontier_root(&f, &root);
        assert_int_equal(c.size, size);
        assert_memory_equal(c.root.b, root.b, 32);
        hale_checkpoint_release(&c);
        hale_note_opened_release(&o);
        n_cp++;
    }
    assert_int_equal(sqlite3_step(leaf), SQLITE_DONE); /* nothing left unsealed */
    sqlite3_finalize(leaf);
    sqlite3_finalize(cp);
    sqlite3_close(db);
    *ret_checkpoints = n_cp;
    *ret_sealed = f.size;
    return strdup(kinds);
}

static void audit_log_records_and_seals_every_run(void **state)
{
    struct env *e = *state;
    char text[1024], anchor[700], *kinds, *anchored, *body = NULL;
    uint64_t checkpoints, sealed;

    snprintf(anchor, sizeof(anchor), "%s/anchor.log", e->dir);
    snprintf(text, sizeof(text),
             "{\"listen\": \"127.0.0.1:0\", \"data_dir\": \"%s/var\", \"log_level\": \"warn\", "
             "\"audit_anchor_files\": [\"%s\"], \"audit_origin\": \"aiops.test/loop\", "
             "\"auth\": {\"tokens\": [{\"name\": \"auditors\", \"role\": \"auditor\", "
             "\"sha256\": \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"}]}}",
             e->dir, anchor);
    assert_int_equal(fixture_write(e->config, text), 0);
    e->finish_investigating = true;
    start(e, true);
    assert_int_equal(
        fixture_http(e->port, "POST", "/api/v1/alerts", "application/json", firing, NULL), 200);
    stop(e);
    start(e, false);
    /* The log through the API: auditors only, with the token whose hash is configured. */
    assert_int_equal(fixture_http(e->port, "GET", "/api/v1/audit", NULL, NULL, NULL), 401);
    assert_int_equal(fixture_http_ex(e->port, "GET", "/api/v1/audit?kind=alerts_accepted",
                                     "Authorization: Bearer wrong\r\n", NULL, NULL, NULL, NULL),
                     401);
    assert_int_equal(fixture_http_ex(e->port, "GET", "/api/v1/audit?kind=alerts_accepted",
                                     "Authorization: Bearer test\r\n", NULL, NULL, NULL, &body),
                     200);
    assert_non_null(strstr(body, "\"body_sha256\""));
    free(body);
    assert_int_equal(fixture_http_ex(e->port, "GET", "/api/v1/audit/checkpoint",
                                     "Authorization: Bearer test\r\n", NULL, NULL, NULL, &body),
                     200);
    assert_int_equal(strncmp(body, "aiops.test/loop\n", 16), 0);
    free(body);
    stop(e);
    kinds = audit_kinds(e, &checkpoints, &sealed);
    assert_string_equal(kinds, "controller_start key_rotation policy_reload catalog_reload "
                               "alerts_accepted incident_transition incident_transition "
                               "incident_transition controller_stop controller_start "
                               "key_rotation policy_reload catalog_reload controller_stop");
    assert_true(checkpoints >= 4); /* each rotation, each shutdown */
    free(kinds);
    /* The anchor got the shutdown heads; the last one covers the whole log. */
    anchored = fixture_read(anchor, NULL);
    assert_non_null(anchored);
    snprintf(text, sizeof(text), "aiops.test/loop\n%llu\n", (unsigned long long)sealed);
    assert_non_null(strstr(anchored, text));
    free(anchored);
}

/* A witness cosigns the daemon's checkpoints with a consistency proof each time, also across a
 * restart (where it first answers 409 with the size it holds), and its cosignatures reach the
 * anchor file. */
static void witness_cosigns_across_restarts(void **state)
{
    static const uint8_t seed[32] = {42};
    struct env *e = *state;
    char text[1024], anchor[700], *anchored;
    fake_witness *w = NULL;
    unsigned before;

    assert_int_equal(fake_witness_start("witness.test/w1", seed, &w), 0);
    snprintf(anchor, sizeof(anchor), "%s/anchor.log", e->dir);
    snprintf(text, sizeof(text),
             "{\"listen\": \"127.0.0.1:0\", \"data_dir\": \"%s/var\", \"log_level\": \"warn\", "
             "\"audit_anchor_files\": [\"%s\"], \"audit_anchor_interval_s\": 1, "
             "\"audit_witness_urls\": [\"http://127.0.0.1:%u\"]}",
             e->dir, anchor, fake_witness_port(w));
    assert_int_equal(fixture_write(e->config, text), 0);
    for (int run = 0; run < 2; run++) {
        start(e, false);
        before = fake_witness_cosigned(w);
        assert_int_equal(
            fixture_http(e->port, "POST", "/api/v1/alerts", "application/json", firing, NULL), 200);
        for (int i = 0; i < 400 && fake_witness_cosigned(w) <= before; i++)
            nanosleep(&(struct timespec){0, 10000000}, NULL);
        assert_true(fake_witness_cosigned(w) > before);
        stop(e);
    }
    /* One refusal at most: the 409 that taught the restarted daemon the witness's size. */
    assert_true(fake_witness_refused(w) <= 1);
    anchored = fixture_read(anchor, NULL);
    assert_non_null(anchored);
    assert_non_null(strstr(anchored, "\n\xe2\x80\x94 witness.test/w1 "));
    free(anchored);
    fake_witness_stop(w);
}

/* One integer from the data_dir's store. */
static int store_count(struct env *e, const char *sql, int64_t *ret)
{
    char path[700];
    sqlite3 *db;
    sqlite3_stmt *st;
    int r = -1;

    snprintf(path, sizeof(path), "%s/var/hale.db", e->dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        *ret = sqlite3_column_int64(st, 0);
        r = 0;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return r;
}

struct llm_probe {
    struct env *e;
    hale_prompt *prompt;
    int submit_result;
    int calls_back;
    int status;
};

static struct llm_probe llm_probe;

/* The open stage asks the gateways about the incident, with a secret in the untrusted data. */
static void on_open_ask_llm(void *ud, const hale_incident_view *v);

static void on_llm_answer(const hale_llm_result *res, void *ud)
{
    struct llm_probe *p = ud;

    p->calls_back++;
    p->status = res->status;
}

static void on_open_ask_llm(void *ud, const hale_incident_view *v)
{
    struct llm_probe *p = ud;
    static const char alert[] = "DiskFull on db: password=hunter2hunter2 in /etc/app.conf";
    hale_prompt_var vars[] = {{"alert", alert, sizeof(alert) - 1}, {"logs", "no logs", 7}};
    hale_llm_call call = {.prompt = p->prompt, .vars = vars, .n_vars = 2, .incident_id = "1"};

    (void)v;
    p->submit_result = hale_loop_llm_submit(p->e->loop, &call, on_llm_answer, p, NULL);
}

/* Every call to a gateway is an audit leaf with the digests of what was sent and received,
 * and the secret in the alert never reaches the gateway. */
static void llm_calls_are_audited(void **state)
{
    struct env *e = *state;
    char text[1500], url[128], *kinds;
    fake_llm *f = NULL;
    uint64_t checkpoints, sealed;
    hale_stage open = {"ask", HALE_INCIDENT_OPEN, on_open_ask_llm, &llm_probe};
    hale_config *cfg = NULL;
    hale_diag diag = {{0}};
    int64_t n = 0;

    assert_int_equal(fake_llm_start(HALE_LLM_OPENAI, &f), 0);
    fake_llm_base_url(f, url, sizeof(url));
    snprintf(text, sizeof(text),
             "{\"listen\": \"127.0.0.1:0\", \"data_dir\": \"%s/var\", \"log_level\": \"warn\", "
             "\"policies_dir\": \"%s/policies\", \"tools_dir\": \"%s/tools\", "
             "\"llm\": {\"gateways\": [{\"name\": \"local\", "
             "\"kind\": \"openai\", \"base_url\": \"%s\", \"model\": \"m\"}]}}",
             e->dir, HALE_SOURCE_DIR, HALE_SOURCE_DIR, url);
    assert_int_equal(fixture_write(e->config, text), 0);
    llm_probe = (struct llm_probe){.e = e};
    assert_int_equal(
        hale_prompt_load(HALE_SOURCE_DIR "/prompts", "incident_summary@1", &llm_probe.prompt, NULL),
        0);
    assert_int_equal(hale_config_load(e->config, &cfg, &diag), 0);
    if (hale_loop_new(cfg, e->config, &e->loop, &diag) < 0)
        fail_msg("hale_loop_new: %s", diag.msg);
    hale_config_unref(cfg);
    assert_int_equal(hale_loop_register_stage(e->loop, &open), 0);
    e->port = hale_loop_port(e->loop);
    assert_int_equal(pthread_create(&e->thread, NULL, run_thread, e), 0);
    assert_int_equal(fixture_http(e->port, "GET", "/healthz", NULL, NULL, NULL), 200);
    assert_int_equal(
        fixture_http(e->port, "POST", "/api/v1/alerts", "application/json", firing, NULL), 200);
    for (int i = 0; i < 500 && fake_llm_requests(f) == 0; i++)
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    nanosleep(&(struct timespec){0, 200000000}, NULL);
    stop(e);
    assert_int_equal(llm_probe.submit_result, 0);
    assert_int_equal(llm_probe.calls_back, 1);
    assert_int_equal(llm_probe.status, 0);
    assert_false(fake_llm_saw(f, "hunter2hunter2"));
    kinds = audit_kinds(e, &checkpoints, &sealed);
    assert_non_null(strstr(kinds, "llm_call"));
    free(kinds);
    assert_int_equal(
        store_count(e,
                    "SELECT count(*) FROM audit_leaf WHERE json_extract(body, '$.kind') = "
                    "'llm_call' AND json_extract(body, '$.gateway') = "
                    "'local' AND json_extract(body, '$.request_sha256') != "
                    "printf('%064d', 0) AND json_extract(body, "
                    "'$.incident_id') = 1 AND json_extract(body, '$.redacted_values') "
                    ">= 1 AND json_extract(body, "
                    "'$.redacted_by_type.PASSWORD') >= 1",
                    &n),
        0);
    assert_int_equal(n, 1);
    /* The day's spend outlives the process: with a daily budget the call above used up, the
     * restarted controller starts degraded (local only); with a larger one it does not. */
    for (int budget = 1; budget <= 2; budget++) {
        snprintf(text, sizeof(text),
                 "{\"listen\": \"127.0.0.1:0\", \"data_dir\": \"%s/var\", \"log_level\": "
                 "\"warn\", \"policies_dir\": \"%s/policies\", \"tools_dir\": \"%s/tools\", "
                 "\"llm\": {\"day_max_tokens\": "
                 "%d, \"gateways\": [{\"name\": \"local\", \"kind\": \"openai\", "
                 "\"base_url\": \"%s\", \"model\": \"m\"}]}}",
                 e->dir, HALE_SOURCE_DIR, HALE_SOURCE_DIR, budget == 1 ? 1 : 1000000, url);
        assert_int_equal(fixture_write(e->config, text), 0);
        assert_int_equal(hale_config_load(e->config, &cfg, &diag), 0);
        assert_int_equal(hale_loop_new(cfg, e->config, &e->loop, &diag), 0);
        hale_config_unref(cfg);
        assert_int_equal(hale_loop_llm_degraded(e->loop, NULL), budget == 1);
        hale_loop_free(e->loop);
        e->loop = NULL;
    }
    hale_prompt_free(llm_probe.prompt);
    fake_llm_stop(f);
}

/* Poll /metrics until it holds line (a whole "name value" line), for up to two seconds. */
static bool wait_for_metric(struct env *e, const char *line)
{
    char *body = NULL;
    bool found = false;

    for (int i = 0; i < 200 && !found; i++) {
        assert_int_equal(fixture_http(e->port, "GET", "/metrics", NULL, NULL, &body), 200);
        found = strstr(body, line) != NULL;
        free(body);
        if (!found)
            nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    return found;
}

static void sighup_reloads_and_keeps_old_config_on_error(void **state)
{
    struct env *e = *state;
    char text[1024];

    start(e, false);
    snprintf(text, sizeof(text),
             "{\"listen\": \"127.0.0.1:0\", \"data_dir\": \"%s/var\", \"log_level\": \"error\", "
             "\"group_window_s\": 60}",
             e->dir);
    assert_int_equal(fixture_write(e->config, text), 0);
    assert_int_equal(kill(getpid(), SIGHUP), 0);
    assert_true(wait_for_metric(e, "hale_config_reloads_total 1\n"));
    assert_int_equal(fixture_write(e->config, "{\"group_window_s\": \"soon\"}"), 0);
    assert_int_equal(kill(getpid(), SIGHUP), 0);
    assert_true(wait_for_metric(e, "hale_config_reload_failures_total 1\n"));
    assert_int_equal(fixture_http(e->port, "GET", "/readyz", NULL, NULL, NULL), 200);
    stop(e);
}

/* Without running the loop (this thread is its thread): the policy set, its reload and the
 * pause switch, which a new controller on the same data_dir finds as it was left. */
static void policy_set_and_pause_switch(void **state)
{
    struct env *e = *state;
    char text[1024], dir[600], path[700];
    hale_config *cfg = NULL;
    hale_diag diag = {{0}};

    snprintf(dir, sizeof(dir), "%s/pol", e->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/10-web.json", dir);
    assert_int_equal(fixture_write(path, "{\"version\": 1, \"rules\": [{\"id\": \"web\", "
                                         "\"effect\": \"allow\", \"match\": {\"tool\": "
                                         "\"restart_service\"}}]}"),
                     0);
    snprintf(text, sizeof(text),
             "{\"listen\": \"127.0.0.1:0\", \"data_dir\": \"%s/var\", \"log_level\": \"err\", "
             "\"policies_dir\": \"%s\"}",
             e->dir, dir);
    assert_int_equal(fixture_write(e->config, text), 0);
    assert_int_equal(hale_config_load(e->config, &cfg, &diag), 0);
    assert_int_equal(hale_loop_new(cfg, e->config, &e->loop, &diag), 0);
    assert_int_equal(hale_policy_rule_count(hale_loop_policy(e->loop)), 1);
    assert_false(hale_loop_paused(e->loop));
    assert_int_equal(hale_loop_set_paused(e->loop, true, NULL, "x", NULL, &diag), -EINVAL);
    assert_false(hale_loop_paused(e->loop));
    assert_int_equal(hale_loop_set_paused(e->loop, true, "tester", "freeze", "cli:t", &diag), 0);
    assert_true(hale_loop_paused(e->loop));
    /* A broken file keeps the set in force; fixing it swaps it. */
    assert_int_equal(fixture_write(path, "{\"version\": 1, \"rules\": [{\"id\": \"web\", "
                                         "\"effect\": \"perhaps\"}]}"),
                     0);
    assert_int_equal(hale_loop_policy_reload(e->loop, &diag), HALE_ESCHEMA);
    assert_non_null(strstr(diag.msg, "10-web.json: rule web: effect"));
    assert_int_equal(hale_policy_rule_count(hale_loop_policy(e->loop)), 1);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(hale_loop_policy_reload(e->loop, &diag), 0);
    assert_int_equal(hale_policy_rule_count(hale_loop_policy(e->loop)), 0);
    hale_loop_free(e->loop);
    /* Restarted: still paused, by whom it was. */
    assert_int_equal(hale_loop_new(cfg, e->config, &e->loop, &diag), 0);
    assert_true(hale_loop_paused(e->loop));
    assert_int_equal(hale_loop_set_paused(e->loop, false, "tester", NULL, NULL, &diag), 0);
    hale_loop_free(e->loop);
    assert_int_equal(hale_loop_new(cfg, e->config, &e->loop, &diag), 0);
    assert_false(hale_loop_paused(e->loop));
    hale_loop_free(e->loop);
    /* A broken set at start refuses the start. */
    assert_int_equal(fixture_write(path, "{\"version\": 1, \"rules\": [{\"id\": \"web\"}]}"), 0);
    assert_true(hale_loop_new(cfg, e->config, &e->loop, &diag) < 0);
    assert_non_null(strstr(diag.msg, "policies_dir: "));
    assert_non_null(strstr(diag.msg, "10-web.json"));
    hale_config_unref(cfg);
    e->loop = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(accepted_alert_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(routes_answer_with_right_status, setup, teardown),
        cmocka_unit_test_setup_teardown(policy_set_and_pause_switch, setup, teardown),
        cmocka_unit_test_setup_teardown(stages_receive_incidents_and_redelivery_follows_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(sighup_reloads_and_keeps_old_config_on_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(audit_log_records_and_seals_every_run, setup, teardown),
        cmocka_unit_test_setup_teardown(witness_cosigns_across_restarts, setup, teardown),
        cmocka_unit_test_setup_teardown(llm_calls_are_audited, setup, teardown),
    };

    /* Signals go to the loop thread's libuv handlers only: block them in this thread. */
    signal(SIGPIPE, SIG_IGN);
    hale_loop_set_exe(HALE_BINARY); /* the audit signer runs from the hale binary */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
