/* tests/integ/test_policy_cli.c - the policy commands of the real binary: `hale policy
 * check|eval|test` on the shipped directory and on a broken one (messages and exit codes).
 * `hale policy replay` against a store holding decision leaves with their requests. Votes
 * (`hale approve|deny`) go through the running controller: test_control.c. */
#include "fixture.h"

#include <errno.h>
#include <sodium.h>
#include <sys/stat.h>
#include <time.h>

#include "hale/audit.h"
#include "hale/err.h"
#include "hale/policy.h"
#include "hale/store.h"
#include "integ_proc.h"

#define TIMEOUT_MS 10000u

struct env {
    integ_hale h;       /* the temporary directory and config */
    char policies[600]; /* the shipped policies */
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));

    if (!e || sodium_init() < 0 || integ_hale_init(&e->h, "integ-policy") < 0 ||
        integ_hale_write_config(&e->h, NULL) < 0) {
        free(e);
        return -1;
    }
    snprintf(e->policies, sizeof(e->policies), "%s/policies", HALE_SOURCE_DIR);
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

/* Run hale with args (NULL-terminated, without the binary); stdout/stderr into out/err. */
static int run(struct env *e, char **out, char **err, const char *const *args)
{
    const char *argv[16] = {HALE_BINARY};
    size_t n = 1;

    for (; args[n - 1] && n < 15; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    return integ_run(e->h.dir, argv, NULL, TIMEOUT_MS, out, err);
}

#define hale(e, out, err, ...) run(e, out, err, (const char *const[]){__VA_ARGS__, NULL})

static void check_eval_and_test_on_the_shipped_policy(void **state)
{
    struct env *e = *state;
    char req[700], *out = NULL, *err = NULL;

    assert_int_equal(hale(e, &out, &err, "policy", "check", e->policies), 0);
    assert_non_null(strstr(out, "rules, ok (sha256 "));
    free(out), free(err);
    assert_int_equal(hale(e, &out, &err, "policy", "test", e->policies), 0);
    assert_non_null(strstr(out, " passed, 0 failed"));
    free(out), free(err);
    snprintf(req, sizeof(req), "%s/req.json", e->h.dir);
    assert_int_equal(
        fixture_write(req, "{\"tool\": \"restart_service\", \"args\": {\"unit\": \"nginx\"}, "
                           "\"target\": {\"labels\": {\"host\": \"web-1\", \"service\": \"web\", "
                           "\"group_size\": \"8\"}}, \"incident\": {\"id\": \"1\", \"severity\": "
                           "\"critical\", \"labels\": {}}, \"confidence_bp\": 9200, \"source\": "
                           "\"llm\", \"risk\": \"low\", \"reversible\": true, \"time\": "
                           "\"2026-11-22T10:00:00Z\"}"),
        0);
    assert_int_equal(
        hale(e, &out, &err, "policy", "eval", "--request", req, "--dir", e->policies, "--json"), 1);
    assert_non_null(strstr(out, "\"effect\": \"require_approval\""));
    assert_non_null(strstr(out, "\"reasons\": ["));
    free(out), free(err);
}

static void broken_policy_names_file_rule_and_field(void **state)
{
    struct env *e = *state;
    char dir[700], path[800], *out = NULL, *err = NULL;

    snprintf(dir, sizeof(dir), "%s/bad", e->h.dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/10-web.json", dir);
    assert_int_equal(fixture_write(path, "{\"version\": 1, \"rules\": [{\"id\": \"web\", "
                                         "\"effect\": \"allow\", \"limits\": {\"cooldown\": "
                                         "\"5 minutes\"}}]}"),
                     0);
    assert_int_equal(hale(e, &out, &err, "policy", "check", dir), 2);
    assert_non_null(strstr(err, "10-web.json: rule web: limits.cooldown: expected a positive "
                                "duration"));
    free(out), free(err);
    assert_int_equal(hale(e, &out, &err, "policy", "frobnicate"), 2);
    free(out), free(err);
}

/* A decision leaf: the request for tool (NULL: a leaf without its request) and what was
 * decided then, at ts_ns. */
static void decision(hale_audit *a, int64_t id, const char *tool, const char *outcome,
                     int64_t ts_ns)
{
    json_t *p = json_pack("{s:I,s:I,s:s,s:s,s:[]}", "decision_id", (json_int_t)id, "incident_id",
                          (json_int_t)7, "tool", tool ? tool : "restart_service", "outcome",
                          outcome, "reasons");

    assert_non_null(p);
    if (tool)
        assert_int_equal(
            json_object_set_new(p, "request",
                                json_pack("{s:s,s:{s:s},s:{s:{s:s,s:s}},s:i,s:s,s:s}", "tool", tool,
                                          "args", "unit", "nginx", "target", "labels", "service",
                                          "web", "host", "web-1", "confidence_bp", 9000, "source",
                                          "runbook", "risk", "low")),
            0);
    assert_int_equal(hale_audit_append(a, HALE_AUDIT_KIND_DECISION, p, ts_ns, NULL, NULL), 0);
    json_decref(p);
}

static void replay_reports_what_a_candidate_would_change(void **state)
{
    struct env *e = *state;
    char db[700], dir[700], path[800], *out = NULL, *err = NULL;
    hale_store_opts o = {.path = db};
    int64_t now_ns = (int64_t)time(NULL) * 1000000000LL, day_ns = 86400LL * 1000000000LL;
    hale_audit *a = NULL;
    hale_store *s = NULL;
    json_t *doc, *x;

    snprintf(db, sizeof(db), "%s/replay.db", e->h.dir);
    assert_int_equal(hale_store_open(&o, &s, NULL), 0);
    assert_int_equal(hale_audit_open(s, "aiops.test/replay", &a, NULL), 0);
    assert_int_equal(hale_store_begin(s), 0);
    decision(a, 1, "restart_service", "deny", now_ns - 30 * day_ns); /* before --since */
    decision(a, 2, "restart_service", "deny", now_ns - 2 * day_ns);  /* would now run */
    decision(a, 3, "restart_service", "allow", now_ns - 2 * day_ns); /* unchanged */
    decision(a, 4, "rollback_deploy", "allow", now_ns - day_ns);     /* would now be denied */
    decision(a, 5, "scale_deployment", "allow", now_ns - day_ns);    /* would now ask */
    decision(a, 6, NULL, "deny", now_ns - day_ns);                   /* skipped */
    assert_int_equal(hale_audit_append(a, HALE_AUDIT_KIND_ALERT, NULL, now_ns - day_ns, NULL, NULL),
                     0);
    assert_int_equal(hale_store_commit(s), 0);
    hale_audit_free(a);
    hale_store_free(s);
    snprintf(dir, sizeof(dir), "%s/candidate", e->h.dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/10-web.json", dir);
    assert_int_equal(
        fixture_write(path, "{\"version\": 1, \"rules\": [{\"id\": \"restart\", \"effect\": "
                            "\"allow\", \"match\": {\"tool\": \"restart_service\"}}, {\"id\": "
                            "\"scale\", \"effect\": \"require_approval\", \"match\": {\"tool\": "
                            "\"scale_deployment\"}, \"approval\": {\"users\": [\"alice\"]}}]}"),
        0);
    assert_int_equal(
        hale(e, &out, &err, "policy", "replay", "--since", "7d", "--candidate", dir, "--db", db),
        0);
    assert_non_null(strstr(out, "replayed 5 decisions since 7d"));
    assert_non_null(strstr(out, "unchanged                1\n"));
    assert_non_null(strstr(out, "would now run            1\n"));
    assert_non_null(strstr(out, "would now be denied      1\n"));
    assert_non_null(strstr(out, "would now need approval  1\n"));
    assert_non_null(strstr(out, "skipped                  1\n"));
    assert_non_null(strstr(out, "restart_service  deny -> allow  decision 2\n"));
    free(out), free(err);
    assert_int_equal(hale(e, &out, &err, "policy", "replay", "--since", "7d", "--candidate", dir,
                          "--db", db, "--json"),
                     0);
    doc = json_loads(out, 0, NULL);
    assert_non_null(doc);
    x = json_array_get(json_object_get(doc, "would_run"), 0);
    assert_int_equal(json_integer_value(json_object_get(x, "decision_id")), 2);
    assert_string_equal(json_string_value(json_object_get(x, "was")), "deny");
    x = json_array_get(json_object_get(doc, "would_deny"), 0);
    assert_int_equal(json_integer_value(json_object_get(x, "decision_id")), 4);
    x = json_array_get(json_object_get(doc, "would_need_approval"), 0);
    assert_string_equal(json_string_value(json_object_get(x, "now")), "require_approval");
    x = json_array_get(json_object_get(doc, "skipped"), 0);
    assert_string_equal(json_string_value(json_object_get(x, "reason")), "no \"request\" member");
    json_decref(doc);
    free(out), free(err);
    /* Everything since 60 days: the old denial would now run too. */
    assert_int_equal(
        hale(e, &out, &err, "policy", "replay", "--since", "60d", "--candidate", dir, "--db", db),
        0);
    assert_non_null(strstr(out, "would now run            2\n"));
    free(out), free(err);
    /* No such store; usage: no candidate, a bad time, a broken candidate. */
    assert_int_equal(hale(e, &out, &err, "policy", "replay", "--since", "7d", "--candidate", dir,
                          "--db", "/nonexistent/hale.db"),
                     1);
    assert_non_null(strstr(err, "hale policy replay: cannot read '/nonexistent/hale.db'"));
    free(out), free(err);
    assert_int_equal(hale(e, &out, &err, "policy", "replay", "--since", "7d", "--db", db), 2);
    free(out), free(err);
    assert_int_equal(hale(e, &out, &err, "policy", "replay", "--since", "last week", "--candidate",
                          dir, "--db", db),
                     2);
    assert_non_null(strstr(err, "--since"));
    free(out), free(err);
    assert_int_equal(fixture_write(path, "{\"version\": 1, \"rules\": [{\"id\": \"x\"}]}"), 0);
    assert_int_equal(
        hale(e, &out, &err, "policy", "replay", "--since", "7d", "--candidate", dir, "--db", db),
        2);
    assert_non_null(strstr(err, "10-web.json"));
    free(out), free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(check_eval_and_test_on_the_shipped_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(broken_policy_names_file_rule_and_field, setup, teardown),
        cmocka_unit_test_setup_teardown(replay_reports_what_a_candidate_would_change, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
