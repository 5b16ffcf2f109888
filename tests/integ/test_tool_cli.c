/* tests/integ/test_tool_cli.c - the catalog commands of the real binary: `hale tool check` on
 * the fixture catalog and runbooks and on broken ones (each problem as file: field: reason,
 * exit codes), `hale tool list [--json]`, and `hale runbook propose` with a proposal, a
 * rejected hostile label and usage errors. */
#include "fixture.h"

#include <sys/stat.h>
#include <unistd.h>

#include "integ_proc.h"

struct env {
    integ_hale h;        /* the temporary directory and config */
    char policies[4200]; /* its policies_dir, with runbooks/ */
    char tools[4200];    /* a broken catalog */
};

static int write_config(struct env *e, const char *tools_dir)
{
    char keys[9000];

    snprintf(keys, sizeof(keys), "\"tools_dir\": \"%s\", \"policies_dir\": \"%s\"", tools_dir,
             e->policies);
    return integ_hale_write_config(&e->h, keys);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    char rb[4400];
    char *src = NULL;

    if (!e || integ_hale_init(&e->h, "integ-tool") < 0)
        goto fail;
    snprintf(e->policies, sizeof(e->policies), "%s/policies", e->h.dir);
    snprintf(rb, sizeof(rb), "%s/runbooks", e->policies);
    snprintf(e->tools, sizeof(e->tools), "%s/tools", e->h.dir);
    if (mkdir(e->policies, 0755) < 0 || mkdir(rb, 0755) < 0 || mkdir(e->tools, 0755) < 0)
        goto fail;
    src = fixture_read(fixture_path("catalog/runbooks/disk.json"), NULL);
    snprintf(rb, sizeof(rb), "%s/runbooks/disk.json", e->policies);
    if (!src || fixture_write(rb, src) < 0 || write_config(e, fixture_path("catalog/tools")) < 0)
        goto fail;
    free(src);
    *state = e;
    return 0;
fail:
    free(src);
    if (e)
        integ_hale_release(&e->h);
    free(e);
    return -1;
}

static int teardown(void **state)
{
    struct env *e = *state;

    integ_hale_release(&e->h);
    free(e);
    return 0;
}

#define hale(e, out, err, ...)                                                                     \
    integ_hale_cli(&(e)->h, (const char *const[]){__VA_ARGS__, NULL}, out, err)

static void check_and_list_the_fixture_catalog(void **state)
{
    struct env *e = *state;
    char *out = NULL, *err = NULL;

    assert_int_equal(hale(e, &out, &err, "tool", "check", "--config", e->h.config_path), 0);
    assert_non_null(strstr(out, ": 5 tools (sha256 "));
    assert_non_null(strstr(out, "0 problems"));
    free(out), free(err);
    assert_int_equal(hale(e, &out, &err, "tool", "list", "--config", e->h.config_path), 0);
    assert_non_null(strstr(out, "scale                    remediation medium   reversible"));
    free(out), free(err);
    assert_int_equal(hale(e, &out, &err, "tool", "list", "--json", "--config", e->h.config_path),
                     0);
    assert_non_null(strstr(out, "\"catalog_sha256\""));
    assert_non_null(strstr(out, "\"name\": \"echo_args\""));
    free(out), free(err);
    assert_int_equal(hale(e, &out, &err, "tool", "--help"), 0);
    assert_non_null(strstr(out, "usage: hale tool check"));
    free(out), free(err);
    assert_int_equal(hale(e, &out, &err, "tool", "frobnicate"), 2);
    free(out), free(err);
}

static void check_reports_each_problem(void **state)
{
    struct env *e = *state;
    char path[4400], *out = NULL, *err = NULL;

    snprintf(path, sizeof(path), "%s/bad", e->tools);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/bad/manifest.json", e->tools);
    assert_int_equal(fixture_write(path, "{\"name\": \"bad\", \"kind\": \"fixer\"}"), 0);
    snprintf(path, sizeof(path), "%s/worse", e->tools);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/worse/manifest.json", e->tools);
    assert_int_equal(fixture_write(path, "{\"name\": "), 0);
    assert_int_equal(hale(e, &out, &err, "tool", "check", e->tools, "--config", e->h.config_path),
                     1);
    assert_non_null(strstr(out, "tools/bad/manifest.json: "));
    assert_non_null(strstr(out, "tools/worse/manifest.json:1:"));
    assert_non_null(strstr(out, "2 problems"));
    free(out), free(err);
}

static void check_reports_broken_runbooks(void **state)
{
    struct env *e = *state;
    char path[4400], *out = NULL, *err = NULL;

    snprintf(path, sizeof(path), "%s/runbooks/zz.json", e->policies);
    assert_int_equal(fixture_write(path, "{\"runbooks\": [{\"id\": \"r\", \"match\": "
                                         "{\"alertname\": \"A\"}, \"actions\": [{\"tool\": "
                                         "\"nope\", \"confidence_bp\": 1}]}]}"),
                     0);
    assert_int_equal(hale(e, &out, &err, "tool", "check", "--config", e->h.config_path), 1);
    assert_non_null(
        strstr(out, "runbooks/zz.json: runbook r: actions[0].tool: 'nope' is not in the catalog"));
    free(out), free(err);
    assert_int_equal(unlink(path), 0);
}

static void propose_and_reject(void **state)
{
    struct env *e = *state;
    char *out = NULL, *err = NULL;

    assert_int_equal(hale(e, &out, &err, "runbook", "propose", "--config", e->h.config_path,
                          "--labels",
                          "{\"alertname\": \"TempDirFull\", \"path\": \"/var/tmp/$(reboot)\", "
                          "\"env\": \"prod\", \"instance\": \"h\", \"service\": \"s\"}",
                          "--annotations", "{\"suggested_root\": \"/var/log/app\"}"),
                     0);
    assert_non_null(
        strstr(out, "propose disk.json#temp-dir-full: clean {\"root\":\"/var/log/app\"}"));
    assert_non_null(strstr(out, "untrusted [\"/args/root\"]"));
    assert_non_null(strstr(out, "reject  disk.json#temp-dir-full: clean: args.root: does not "
                                "match the pattern"));
    free(out), free(err);
    assert_int_equal(hale(e, &out, &err, "runbook", "propose", "--config", e->h.config_path,
                          "--labels", "{\"alertname\": \"Nothing\"}", "--json"),
                     1);
    assert_non_null(strstr(out, "\"proposals\": []"));
    free(out), free(err);
    assert_int_equal(hale(e, &out, &err, "runbook", "propose", "--labels", "{\"a\": 1}"), 2);
    assert_non_null(strstr(err, "expected a JSON object of strings"));
    free(out), free(err);
    assert_int_equal(hale(e, &out, &err, "runbook", "propose"), 2);
    free(out), free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check_and_list_the_fixture_catalog),
        cmocka_unit_test(check_reports_each_problem),
        cmocka_unit_test(check_reports_broken_runbooks),
        cmocka_unit_test(propose_and_reject),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
