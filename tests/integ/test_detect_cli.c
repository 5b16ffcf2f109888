/* tests/integ/test_detect_cli.c - `hale detect --csv FILE` through the real binary: same rows in
 * the same order with a score in [0, 1], CRLF and a missing final newline accepted, missing
 * values scored 0, bad rows refused with file:line, usage errors exit 2. */
#include "fixture.h"

#include <math.h>

#include "integ_proc.h"

struct cli {
    integ_hale h; /* only its temporary directory is used */
    char csv[4200];
};

static int setup(void **state)
{
    struct cli *c = calloc(1, sizeof(*c));

    if (!c || integ_hale_init(&c->h, "detect-cli") < 0) {
        free(c);
        return -1;
    }
    snprintf(c->csv, sizeof(c->csv), "%s/in.csv", c->h.dir);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct cli *c = *state;

    integ_hale_release(&c->h);
    free(c);
    return 0;
}

static int run(struct cli *c, const char *text, const char *detector, char **out, char **err)
{
    const char *args[] = {"detect", "--csv", c->csv, "--detector", detector, NULL};

    if (text)
        assert_int_equal(fixture_write(c->csv, text), 0);
    if (!detector)
        args[3] = NULL;
    return integ_hale_cli(&c->h, args, out, err);
}

static void rows_come_back_in_order_with_scores(void **state)
{
    struct cli *c = *state;
    char line[128], *out = NULL, *err = NULL, *p;
    size_t rows = 0;
    FILE *f = fopen(c->csv, "w");

    assert_non_null(f);
    fprintf(f, "timestamp,value\r\n");
    for (int i = 0; i < 2000; i++)
        fprintf(f, "2014-04-%02d %02d:%02d:00,%s\r\n", 1 + i / 288, (i % 288) / 12, (i % 12) * 5,
                i == 1500 ? "" : (i == 1800 ? "900.5" : (i % 2 ? "10.25" : "11")));
    fprintf(f, "2014-04-08 00:00:00,10"); /* no final newline */
    fclose(f);
    for (int k = 0; k < 3; k++) {
        const char *det = (const char *const[]){NULL, "robust", "cusum"}[k];

        assert_int_equal(run(c, NULL, det, &out, &err), 0);
        p = out;
        assert_true(strncmp(p, "timestamp,value,anomaly_score\n", 30) == 0);
        p += 30;
        rows = 0;
        while (*p) {
            char *nl = strchr(p, '\n'), want[64];
            double s;
            int i = (int)rows;

            assert_non_null(nl);
            snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
            if (i < 2000)
                snprintf(want, sizeof(want), "2014-04-%02d %02d:%02d:00,%s,", 1 + i / 288,
                         (i % 288) / 12, (i % 12) * 5,
                         i == 1500 ? "" : (i == 1800 ? "900.5" : (i % 2 ? "10.25" : "11")));
            else
                snprintf(want, sizeof(want), "2014-04-08 00:00:00,10,");
            assert_true(strncmp(line, want, strlen(want)) == 0);
            s = strtod(line + strlen(want), NULL);
            assert_true(s >= 0.0 && s <= 1.0);
            if (i == 1500)
                assert_true(s == 0.0);
            if (i == 1800)
                assert_true(s >= 0.5);
            rows++;
            p = nl + 1;
        }
        assert_int_equal(rows, 2001);
        free(out);
        free(err);
    }
}

static void bad_rows_name_file_and_line(void **state)
{
    struct cli *c = *state;
    char *out = NULL, *err = NULL, want[4300];

    assert_int_equal(run(c, "timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,abc\n",
                         NULL, &out, &err),
                     1);
    snprintf(want, sizeof(want), "%s:3: bad value 'abc'", c->csv);
    assert_non_null(strstr(err, want));
    free(out);
    free(err);
    assert_int_equal(run(c, "timestamp,value\nyesterday,1\n", NULL, &out, &err), 1);
    snprintf(want, sizeof(want), "%s:2: bad timestamp 'yesterday'", c->csv);
    assert_non_null(strstr(err, want));
    free(out);
    free(err);
    assert_int_equal(run(c, "timestamp,value\n2014-04-01 00:00:00,1,2\n", NULL, &out, &err), 1);
    snprintf(want, sizeof(want), "%s:2: expected two fields", c->csv);
    assert_non_null(strstr(err, want));
    free(out);
    free(err);
    assert_int_equal(run(c, "time,val\n", NULL, &out, &err), 1);
    snprintf(want, sizeof(want), "%s:1: expected the header", c->csv);
    assert_non_null(strstr(err, want));
    free(out);
    free(err);
}

static void usage_errors_exit_2(void **state)
{
    struct cli *c = *state;
    char *out = NULL, *err = NULL;
    const char *no_csv[] = {"detect", NULL};
    const char *missing[] = {"detect", "--csv", "/nonexistent/x.csv", NULL};
    const char *help[] = {"detect", "--help", NULL};

    assert_int_equal(run(c, "timestamp,value\n", "htm", &out, &err), 2);
    assert_non_null(strstr(err, "unknown detector 'htm'"));
    free(out);
    free(err);
    assert_int_equal(integ_hale_cli(&c->h, no_csv, &out, &err), 2);
    free(out);
    free(err);
    assert_int_equal(integ_hale_cli(&c->h, missing, &out, &err), 1);
    assert_non_null(strstr(err, "cannot open '/nonexistent/x.csv'"));
    free(out);
    free(err);
    assert_int_equal(integ_hale_cli(&c->h, help, &out, &err), 0);
    assert_non_null(strstr(out, "usage: hale detect"));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rows_come_back_in_order_with_scores),
        cmocka_unit_test(bad_rows_name_file_and_line),
        cmocka_unit_test(usage_errors_exit_2),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
