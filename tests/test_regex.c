/* tests/test_regex.c - util/regex: compile errors name the input, anchoring is the caller's
 * option, and a catastrophic pattern stops at hale's limits as an error, never a match. */
#include "fixture.h"

#include <string.h>

#include "internal.h"
#include "hale/diag.h"
#include "util/regex.h"

static void compile_errors_name_the_input(void **state)
{
    pcre2_code *re = NULL;
    hale_diag d = {{0}};

    (void)state;
    assert_int_equal(hale_regex_compile("a(b", 0, "args.x.pattern", &re, &d), HALE_ESCHEMA);
    assert_null(re);
    assert_non_null(strstr(d.msg, "args.x.pattern: invalid regex at offset 3"));
    memset(&d, 0, sizeof(d));
    assert_int_equal(hale_regex_compile("[z-a]", 0, NULL, &re, &d), HALE_ESCHEMA);
    assert_true(strncmp(d.msg, "invalid regex at offset", 23) == 0);
    /* UTF: a pattern that is not UTF-8 is refused, not matched bytewise. */
    assert_int_equal(hale_regex_compile("caf\xe9", 0, "p", &re, &d), HALE_ESCHEMA);
}

static void anchoring_is_an_option(void **state)
{
    pcre2_match_context *m = hale_regex_limits_new();
    pcre2_code *re = NULL;
    int err = 99;

    (void)state;
    assert_non_null(m);
    assert_int_equal(hale_regex_compile("[a-z]+", 0, "p", &re, NULL), 0);
    assert_true(hale_regex_match(re, m, "-abc-", 5, 0, &err));
    assert_int_equal(err, 0);
    assert_false(hale_regex_match(re, m, "-abc-", 5, PCRE2_ANCHORED | PCRE2_ENDANCHORED, &err));
    assert_int_equal(err, 0);
    assert_true(hale_regex_match(re, m, "abc", 3, PCRE2_ANCHORED | PCRE2_ENDANCHORED, NULL));
    /* Length, not NUL: the bytes after len are not part of the subject. */
    assert_true(hale_regex_match(re, m, "abc-", 3, PCRE2_ENDANCHORED, &err));
    assert_false(hale_regex_match(re, m, "---abc", 3, 0, &err));
    pcre2_code_free(re);
    pcre2_match_context_free(m);
}

static void catastrophic_pattern_hits_the_limit(void **state)
{
    pcre2_match_context *m = hale_regex_limits_new();
    pcre2_code *re = NULL;
    char subject[64];
    int err = 0;

    (void)state;
    memset(subject, 'a', sizeof(subject) - 1);
    subject[sizeof(subject) - 2] = '!';
    subject[sizeof(subject) - 1] = '\0';
    assert_int_equal(hale_regex_compile("^(a+)+$", 0, "p", &re, NULL), 0);
    assert_false(hale_regex_match(re, m, subject, strlen(subject), 0, &err));
    assert_true(err == PCRE2_ERROR_MATCHLIMIT || err == PCRE2_ERROR_DEPTHLIMIT);
    pcre2_code_free(re);
    pcre2_match_context_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(compile_errors_name_the_input),
        cmocka_unit_test(anchoring_is_an_option),
        cmocka_unit_test(catastrophic_pattern_hits_the_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
