/* tests/integ/test_policy_cli.c - the policy commands of the real binary: `hale policy
 * check|eval|test` on the shipped directory and on a broken one (messages and exit codes).
 * Votes (`hale approve|deny`) go through the running controller: test_control.c. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(check_eval_and_test_on_the_shipped_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(broken_policy_names_file_rule_and_field, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
