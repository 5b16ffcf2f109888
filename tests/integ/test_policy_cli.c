/* tests/integ/test_policy_cli.c - the policy commands of the real binary: `hale policy
 * check|eval|test` on the shipped directory and on a broken one (messages and exit codes), and
 * `hale approvals`, `hale approve`, `hale deny` on a store holding pending approvals that the
 * library created from the shipped policy, the way the controller will. */
#include "fixture.h"

#include <errno.h>
#include <sodium.h>
#include <sys/stat.h>
#include <time.h>

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

/* Pending approvals for a production rollback (two of oncall and sre-leads). */
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
    snprintf(text, sizeof(text),
             "{\"tool\":\"rollback_deploy\",\"args\":{\"release\":\"%s\"},\"target\":{\"labels\":"
             "{\"service\":\"web\",\"env\":\"prod\"}},\"confidence_bp\":9000,\"source\":\"human\","
             "\"risk\":\"high\"}",
             release);
    assert_int_equal(hale_policy_load(e->policies, &p, NULL), 0);
    assert_int_equal(hale_policy_request_parse(text, strlen(text), &r, NULL), 0);
    assert_int_equal(hale_policy_eval(p, r, NULL, 1795341600000LL, &v), 0);
    (void)mkdir(e->h.data_dir, 0700);
    assert_int_equal(hale_store_open(&o, &s, NULL), 0);
    assert_int_equal(hale_approvals_open(s, &a, NULL), 0);
    /* Created now, so the half-hour expiry has not passed when the CLI votes. */
    assert_int_equal(hale_approvals_create(a, v, r, requester, "9", time(NULL) * 1000LL, &id), 0);
    hale_approvals_free(a);
    hale_store_free(s);
    hale_policy_verdict_free(v);
    hale_policy_request_free(r);
    hale_policy_unref(p);
    return id;
}

static void approve_and_deny_through_the_cli(void **state)
{
    struct env *e = *state;
    const char *cfg = e->h.config_path;
    int64_t one = create_pending(e, "v41", "oncall-secondary");
    int64_t two = create_pending(e, "v42", "hale");
    char id1[24], id2[24], *out = NULL, *err = NULL;

    snprintf(id1, sizeof(id1), "%lld", (long long)one);
    snprintf(id2, sizeof(id2), "%lld", (long long)two);
    assert_int_equal(hale(e, &out, &err, "approvals", "list", "--config", cfg), 0);
    assert_non_null(strstr(out, "rollback_deploy"));
    assert_non_null(strstr(out, "{\"release\":\"v41\"}"));
    free(out), free(err);
    /* Not an approver; the proposer; then a valid vote; a duplicate; the second approver. */
    assert_int_equal(hale(e, &out, &err, "approve", id1, "--as", "mallory", "--config", cfg), 1);
    assert_non_null(strstr(err, "'mallory' is not among the allowed approvers"));
    free(out), free(err);
    assert_int_equal(
        hale(e, &out, &err, "approve", id1, "--as", "oncall-secondary", "--config", cfg), 1);
    assert_non_null(strstr(err, "may not approve it"));
    free(out), free(err);
    assert_int_equal(hale(e, &out, &err, "approve", id1, "--as", "oncall-primary", "--config", cfg),
                     0);
    assert_non_null(strstr(out, "now pending"));
    free(out), free(err);
    assert_int_equal(hale(e, &out, &err, "approve", id1, "--as", "oncall-primary", "--config", cfg),
                     1);
    assert_non_null(strstr(err, "already voted"));
    free(out), free(err);
    assert_int_equal(
        hale(e, &out, &err, "approve", id1, "--as", "sre-lead", "--digest", "00", "--config", cfg),
        1);
    assert_non_null(strstr(err, "is for action"));
    free(out), free(err);
    assert_int_equal(hale(e, &out, &err, "approve", id1, "--as", "sre-lead", "--config", cfg), 0);
    assert_non_null(strstr(out, "now approved"));
    free(out), free(err);
    /* deny needs a reason; one denial ends the request. */
    assert_int_equal(hale(e, &out, &err, "deny", id2, "--as", "sre-lead", "--config", cfg), 2);
    free(out), free(err);
    assert_int_equal(hale(e, &out, &err, "deny", id2, "--as", "sre-lead", "--reason",
                          "wrong release", "--config", cfg),
                     0);
    assert_non_null(strstr(out, "now denied"));
    free(out), free(err);
    assert_int_equal(
        hale(e, &out, &err, "approvals", "list", "--state", "approved", "--json", "--config", cfg),
        0);
    assert_non_null(strstr(out, "\"state\": \"approved\""));
    assert_null(strstr(out, "\"state\": \"denied\""));
    free(out), free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(check_eval_and_test_on_the_shipped_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(broken_policy_names_file_rule_and_field, setup, teardown),
        cmocka_unit_test_setup_teardown(approve_and_deny_through_the_cli, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
