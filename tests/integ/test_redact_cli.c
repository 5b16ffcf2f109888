/* tests/integ/test_redact_cli.c - `hale redact` as operators run it: text in, text with the same
 * lines out; --json findings; exit codes for bad rules, bad options and --help. */
#include "fixture.h"

#include "integ_proc.h"

#define RULES HALE_SOURCE_DIR "/policies/redact/rules.json"

static const char input[] =
    "2026-11-22T15:28:20Z login ok user=ann@example.com ip=203.0.113.45\n"
    "DATABASE_URL=postgres://app:s3cr3tPa55@db.internal:5432/orders\n"
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
    "again ann@example.com, literal <EMAIL_1>\n";

static int run(const char *dir, const char *const *argv, const char *stdin_text, char **out,
               char **err)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/stdin", dir);
    assert_int_equal(fixture_write(path, stdin_text), 0);
    return integ_run(dir, argv, path, 10000, out, err);
}

static size_t lines(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void redacts_stdin_keeping_lines(void **state)
{
    const char *argv[] = {HALE_BINARY, "redact", "--rules", RULES, NULL};
    char *dir = fixture_tmpdir("redact-cli"), *out = NULL, *err = NULL;

    (void)state;
    assert_int_equal(run(dir, argv, input, &out, &err), 0);
    assert_string_equal(out, "2026-11-22T15:28:20Z login ok user=<EMAIL_1> ip=<IPV4_1>\n"
                             "DATABASE_URL=postgres://app:<PASSWORD_1>@db.internal:5432/orders\n"
                             "<PRIVATE_KEY_1>\n\n\n"
                             "again <EMAIL_1>, literal <\\EMAIL_1>\n");
    assert_int_equal(lines(out), lines(input));
    free(out);
    free(err);
    fixture_rmtree(dir);
    free(dir);
}

static void json_lists_findings_without_values(void **state)
{
    const char *argv[] = {HALE_BINARY, "redact", "--json", "--rules", RULES, NULL};
    char *dir = fixture_tmpdir("redact-cli"), *out = NULL, *err = NULL;

    (void)state;
    assert_int_equal(run(dir, argv, input, &out, &err), 0);
    assert_non_null(strstr(out, "{\"type\":\"EMAIL\",\"rule\":\"email\",\"line\":1,\"column\":36,"
                                "\"offset\":35,\"length\":15}"));
    assert_non_null(strstr(out, "\"counts\":{\"EMAIL\":2,\"IPV4\":1,\"PASSWORD\":1,"
                                "\"PRIVATE_KEY\":1},\"total\":5,\"escaped\":1}"));
    assert_null(strstr(out, "example.com"));
    assert_null(strstr(out, "s3cr3t"));
    free(out);
    free(err);
    fixture_rmtree(dir);
    free(dir);
}

static void bad_rules_and_usage(void **state)
{
    char *dir = fixture_tmpdir("redact-cli"), *out = NULL, *err = NULL;
    char rules[512];
    const char *bad_rules[] = {HALE_BINARY, "redact", "--rules", rules, NULL};
    const char *bad_opt[] = {HALE_BINARY, "redact", "--jsn", NULL};
    const char *help[] = {HALE_BINARY, "redact", "--help", NULL};

    (void)state;
    snprintf(rules, sizeof(rules), "%s/rules.json", dir);
    assert_int_equal(fixture_write(rules, "{\"version\":1,\"rules\":[{\"id\":\"x\",\"type\":\"X\","
                                          "\"pattern\":\"a\",\"group\":2}]}"),
                     0);
    assert_int_equal(run(dir, bad_rules, "a\n", &out, &err), 2);
    assert_string_equal(out, "");
    assert_non_null(strstr(err, "rules.json: x: group: 2 but the pattern has 0 capture groups"));
    free(out);
    free(err);
    assert_int_equal(run(dir, bad_opt, "a\n", &out, &err), 2);
    assert_non_null(strstr(err, "unknown option '--jsn'"));
    free(out);
    free(err);
    assert_int_equal(run(dir, help, "", &out, &err), 0);
    assert_non_null(strstr(out, "usage: hale redact"));
    free(out);
    free(err);
    fixture_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redacts_stdin_keeping_lines),
        cmocka_unit_test(json_lists_findings_without_values),
        cmocka_unit_test(bad_rules_and_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
