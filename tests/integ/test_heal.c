/* tests/integ/test_heal.c - the real hale with a policy, a runbook and the fixture tools of
 * tests/fixtures/heal: a posted alert becomes an incident that the tool repairs, verification
 * passes and the incident resolves; then hale is SIGKILLed at random points of the heal path
 * and restarted on the same data_dir, many times. Every tool run appends a line naming its
 * incident's tag: no action may run twice for its idempotency key, none may run without an
 * exec_intent, and `hale audit verify --require-sealed` must pass (every intent closed by a
 * result or abandoned). INTEG_HEAL_KILLS changes the number of kills, INTEG_HEAL_SEED replays. */
#include "fixture.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "integ_http.h"
#include "integ_proc.h"
#include "integ_store.h"
#include "util/strparse.h"

#define DEFAULT_KILLS 50u
#define MAX_DELAY_MS  900u
#define SETTLE_MS     30000u

struct env {
    integ_hale h;    /* the daemon */
    char work[4200]; /* where the tools repair things */
};

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    char keys[9000], policies[4200];

    if (!e || integ_hale_init(&e->h, "integ-heal") < 0)
        return -1;
    snprintf(e->work, sizeof(e->work), "%s/work", e->h.dir);
    /* The tools run as an unprivileged uid: they must reach and write the work directory. */
    if (chmod(e->h.dir, 0755) < 0 || mkdir(e->work, 0777) < 0 || chmod(e->work, 0777) < 0)
        return -1;
    snprintf(policies, sizeof(policies), "%s", fixture_path("heal/policies"));
    snprintf(keys, sizeof(keys),
             "\"policies_dir\": \"%s\", \"tools_dir\": \"%s\", \"group_by\": [\"alertname\", "
             "\"instance\"], \"log_level\": \"info\", \"shutdown_timeout_s\": 2",
             policies, fixture_path("heal/tools"));
    if (integ_hale_write_config(&e->h, keys) < 0)
        return -1;
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

static void dump_log(const integ_hale *h)
{
    char *log = integ_hale_log(h);
    size_t n = log ? strlen(log) : 0;

    fprintf(stderr, "--- hale.log (last 6000 bytes) ---\n%s\n",
            log ? log + (n > 6000 ? n - 6000 : 0) : "");
    free(log);
}

static void start(struct env *e)
{
    int r = integ_hale_start(&e->h, 15000);

    if (r < 0) {
        dump_log(&e->h);
        fail_msg("hale did not start: %s", strerror(-r));
    }
}

/* POST one firing alert; returns the HTTP status or -errno. */
static int post_alert(struct env *e, const char *alertname, const char *tag)
{
    char fp[17];
    json_t *alert;
    char *body;
    int r;

    snprintf(fp, sizeof(fp), "%016" PRIx64, rng_next());
    alert = integ_am_alert("firing", fp, NULL, NULL, "alertname", alertname, "service", "auto",
                           "instance", tag, "dir", e->work, "severity", "critical", NULL);
    body = integ_am_webhook(json_pack("[o]", alert));
    r = body ? integ_post_json(e->h.port, "/api/v1/alerts", body, NULL) : -ENOMEM;
    free(body);
    return r;
}

/* Runs of tool for tag in work/runs.log. */
static int runs(struct env *e, const char *tool, const char *tag)
{
    char path[4300], want[200], *text, *p;
    int count = 0;

    snprintf(path, sizeof(path), "%s/runs.log", e->work);
    snprintf(want, sizeof(want), "%s %s", tool, tag);
    text = fixture_read(path, NULL);
    for (p = text; p && *p;) {
        char *nl = strchr(p, '\n');
        size_t len = (size_t)((nl ? nl : p + strlen(p)) - p);

        if (len == strlen(want) && strncmp(p, want, len) == 0)
            count++;
        p = nl ? nl + 1 : p + len;
    }
    free(text);
    return count;
}

/* Wait until no incident is in a working state. */
static void settle(struct env *e)
{
    static const char *const busy[] = {"open", "deciding", "awaiting_approval", "healing",
                                       "verifying"};
    uint64_t until = integ_now_ms() + SETTLE_MS;
    int64_t n = 1;

    while (integ_now_ms() < until) {
        char path[100];

        n = 0;
        for (size_t i = 0; i < sizeof(busy) / sizeof(busy[0]); i++) {
            json_t *v = NULL;

            snprintf(path, sizeof(path), "/api/v1/incidents?state=%s", busy[i]);
            if (integ_get_json(e->h.port, path, &v) == 200)
                n += (int64_t)json_array_size(json_object_get(v, "incidents"));
            else
                n++;
            json_decref(v);
        }
        if (n == 0)
            return;
        integ_sleep_ms(100);
    }
    dump_log(&e->h);
    fail_msg("%" PRId64 " incidents still being worked on", n);
}

static void verify_log(struct env *e)
{
    char db[4200], pub[4200], *out = NULL, *err = NULL;
    const char *args[] = {"audit", "verify", "--db", db, "--pubkey", pub, "--require-sealed", NULL};
    int r;

    snprintf(db, sizeof(db), "%s/hale.db", e->h.data_dir);
    snprintf(pub, sizeof(pub), "%s/audit.pub", e->h.data_dir);
    r = integ_hale_cli(&e->h, args, &out, &err);
    if (r != 0)
        fail_msg("hale audit verify: exit %d\n%s%s", r, out ? out : "", err ? err : "");
    free(out);
    free(err);
}

static int64_t db_int(struct env *e, const char *sql)
{
    int64_t v = -1;

    assert_int_equal(integ_db_query_int(e->h.data_dir, sql, &v), 0);
    return v;
}

static void alert_is_repaired_and_resolves(void **state)
{
    struct env *e = *state;
    char path[4300];
    json_t *v = NULL;
    const char *s = NULL;

    snprintf(path, sizeof(path), "%s/broken", e->work);
    assert_int_equal(fixture_write(path, "x\n"), 0);
    rng_state = 42;
    start(e);
    assert_int_equal(post_alert(e, "MarkerBroken", "e2e"), 200);
    for (int i = 0; i < 300; i++) {
        json_decref(v);
        v = NULL;
        assert_int_equal(integ_get_json(e->h.port, "/api/v1/incidents/1", &v), 200);
        s = json_string_value(json_object_get(v, "state"));
        if (s && (strcmp(s, "resolved") == 0 || strcmp(s, "escalated") == 0))
            break;
        integ_sleep_ms(50);
    }
    if (!s || strcmp(s, "resolved") != 0) {
        dump_log(&e->h);
        fail_msg("incident 1 is %s: %s", s ? s : "?",
                 json_string_value(json_object_get(v, "state_reason")));
    }
    json_decref(v);
    assert_int_equal(runs(e, "mark_fixed", "e2e"), 1);
    assert_int_equal(integ_hale_stop(&e->h, 10000), 0);
    assert_int_equal(db_int(e, "SELECT count(*) FROM heal_action WHERE state = 'done' AND "
                               "outcome = 'succeeded'"),
                     1);
    verify_log(e);
}

static void kill9_never_runs_an_action_twice(void **state)
{
    struct env *e = *state;
    const char *env_kills = getenv("INTEG_HEAL_KILLS"), *env_seed = getenv("INTEG_HEAL_SEED");
    uint64_t seed = (uint64_t)time(NULL);
    uint32_t kills = DEFAULT_KILLS;
    unsigned acked = 0, ran = 0;
    char tag[32];

    if (env_kills)
        assert_int_equal(hale_parse_u32(env_kills, &kills), 0);
    if (env_seed)
        assert_int_equal(hale_parse_u64(env_seed, &seed), 0);
    rng_state = seed ? seed : 1;
    fprintf(stderr, "seed %" PRIu64 ", %u kills\n", seed, kills);
    for (uint32_t k = 0; k < kills; k++) {
        start(e);
        snprintf(tag, sizeof(tag), "c-%u", k);
        if (post_alert(e, "CrashRepair", tag) == 200)
            acked++;
        integ_sleep_ms((unsigned)(rng_next() % MAX_DELAY_MS));
        integ_proc_kill(&e->h.proc);
    }
    start(e);
    settle(e);
    assert_int_equal(integ_hale_stop(&e->h, 10000), 0);
    for (uint32_t k = 0; k < kills; k++) {
        int n;

        snprintf(tag, sizeof(tag), "c-%u", k);
        n = runs(e, "mark_fixed", tag);
        if (n > 1)
            fail_msg("the action for %s ran %d times", tag, n);
        ran += (unsigned)n;
    }
    /* Every run had its intent first: one key per incident, at most one run per key. */
    assert_true(
        ran <=
        (unsigned)db_int(e, "SELECT count(*) FROM audit_leaf WHERE json_extract(body, '$.kind') = "
                            "'exec_intent'"));
    assert_int_equal(db_int(e, "SELECT count(*) FROM heal_action WHERE state IN ('intent', "
                               "'running')"),
                     0);
    assert_int_equal(db_int(e, "SELECT count(*) FROM (SELECT idem_key FROM heal_action GROUP BY "
                               "idem_key HAVING count(*) > 1)"),
                     0);
    fprintf(
        stderr,
        "%u alerts acked, %u actions ran, %" PRId64 " intents, %" PRId64 " results, %" PRId64
        " abandoned\n",
        acked, ran,
        db_int(
            e,
            "SELECT count(*) FROM audit_leaf WHERE json_extract(body, '$.kind') = 'exec_intent'"),
        db_int(
            e,
            "SELECT count(*) FROM audit_leaf WHERE json_extract(body, '$.kind') = 'exec_result'"),
        db_int(e, "SELECT count(*) FROM audit_leaf WHERE json_extract(body, '$.kind') = "
                  "'exec_abandoned'"));
    assert_true(ran > 0);
    verify_log(e);
}

static void tool_run_by_hand(void **state)
{
    struct env *e = *state;
    char keys[9000], policies[4200], token[4300], args[4400], *out = NULL, *err = NULL;
    const char *run[] = {"tool", "run",      "mark_fixed",     "--args", args, "--token-file",
                         token,  "--config", e->h.config_path, NULL,     NULL};
    const char *denied[] = {"tool",         "run", "fail_tool", "--args",         args,
                            "--token-file", token, "--config",  e->h.config_path, NULL};
    int r;

    snprintf(policies, sizeof(policies), "%s", fixture_path("heal/policies"));
    snprintf(keys, sizeof(keys),
             "\"policies_dir\": \"%s\", \"tools_dir\": \"%s\", \"auth\": {\"tokens\": [{\"name\": "
             "\"root\", \"role\": \"admin\", \"sha256\": "
             "\"10a4c7c9fc5206d6f36dc6944a81bb6f4a3cb0e25014ae3b12e6c3e52712292a\"}]}",
             policies, fixture_path("heal/tools"));
    assert_int_equal(integ_hale_write_config(&e->h, keys), 0);
    snprintf(token, sizeof(token), "%s/token", e->h.dir);
    assert_int_equal(fixture_write(token, "admin-token\n"), 0);
    snprintf(args, sizeof(args), "{\"dir\": \"%s\", \"tag\": \"manual\"}", e->work);
    /* No hale runs: refused, nothing is written behind its back. */
    assert_int_equal(integ_hale_cli(&e->h, run, NULL, NULL), 1);
    start(e);
    r = integ_hale_cli(&e->h, run, &out, &err);
    if (r != 0)
        fail_msg("hale tool run: exit %d\n%s%s", r, out ? out : "", err ? err : "");
    assert_non_null(strstr(out, "done succeeded"));
    free(out);
    free(err);
    assert_int_equal(runs(e, "mark_fixed", "manual"), 1);
    run[9] = "--dry-run";
    assert_int_equal(integ_hale_cli(&e->h, run, &out, NULL), 0);
    assert_non_null(strstr(out, "dry_run"));
    free(out);
    assert_int_equal(runs(e, "mark_fixed", "manual"), 1);
    /* Arguments the tool's schema refuses never reach a decision. */
    {
        const char *bad[] = {"tool",
                             "run",
                             "mark_fixed",
                             "--args",
                             "{\"dir\": \"relative\", \"tag\": \"x\"}",
                             "--token-file",
                             token,
                             "--config",
                             e->h.config_path,
                             NULL};

        assert_int_equal(integ_hale_cli(&e->h, bad, NULL, &err), 1);
        assert_non_null(strstr(err, "args.dir"));
        free(err);
    }
    /* No rule allows fail_tool by hand: denied, never run. */
    assert_int_equal(integ_hale_cli(&e->h, denied, &out, NULL), 1);
    assert_non_null(strstr(out, "denied by policy"));
    free(out);
    assert_int_equal(runs(e, "fail_tool", "manual"), 0);
    assert_int_equal(integ_hale_stop(&e->h, 10000), 0);
    assert_int_equal(
        db_int(
            e,
            "SELECT count(*) FROM audit_leaf WHERE json_extract(body, '$.kind') = 'decision' AND "
            "json_extract(body, '$.source') = 'human'"),
        3);
    verify_log(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(alert_is_repaired_and_resolves, setup, teardown),
        cmocka_unit_test_setup_teardown(tool_run_by_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(kill9_never_runs_an_action_twice, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
