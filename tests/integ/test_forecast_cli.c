/* tests/integ/test_forecast_cli.c - `hale forecast` through the real binary: N rows after the
 * data with timestamps continuing its step, seasonal naive repeating the last day exactly,
 * intervals around the points, out-of-order rows sorted, the --limit JSON for a linear fill,
 * bad rows refused with file:line, usage errors exit 2. */
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

    if (!c || integ_hale_init(&c->h, "forecast-cli") < 0) {
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

static double hour_value(int i)
{
    return 50.0 + (double)((i % 24) * 3 % 17); /* a daily shape, exact in decimal */
}

/* Ten days of hourly rows, 2024-03-01 00:00 .. 2024-03-10 23:00; row `swap` swapped with
 * the next one when >= 0. */
static void write_hourly(const char *path, int swap)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fprintf(f, "timestamp,value\n");
    for (int k = 0; k < 240; k++) {
        int i = k == swap ? k + 1 : (k == swap + 1 && swap >= 0 ? k - 1 : k);

        fprintf(f, "2024-03-%02d %02d:00:00,%g\n", 1 + i / 24, i % 24, hour_value(i));
    }
    fclose(f);
}

static void seasonal_naive_continues_the_series(void **state)
{
    struct cli *c = *state;
    char *out = NULL, *err = NULL, *p;
    const char *args[] = {"forecast", "--csv",  c->csv,     "--horizon", "30",
                          "--model",  "snaive", "--period", "24",        NULL};

    write_hourly(c->csv, 100);
    assert_int_equal(integ_hale_cli(&c->h, args, &out, &err), 0);
    p = out;
    assert_true(strncmp(p, "timestamp,point,lo,hi\n", 22) == 0);
    p += 22;
    for (int h = 0; h < 30; h++) {
        int i = 240 + h, day, hour;
        double point, lo, hi;

        assert_int_equal(
            sscanf(p, "2024-03-%d %d:00:00,%lf,%lf,%lf", &day, &hour, &point, &lo, &hi), 5);
        assert_int_equal(day, 1 + i / 24);
        assert_int_equal(hour, i % 24);
        assert_true(point == hour_value(i - 24));
        assert_true(lo <= point && point <= hi);
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    assert_true(*p == '\0');
    free(out);
    free(err);
    /* the default model: same shape of output, finite values */
    args[5] = NULL;
    assert_int_equal(integ_hale_cli(&c->h, args, &out, &err), 0);
    assert_non_null(strstr(out, "2024-03-12 05:00:00,"));
    assert_null(strstr(out, "nan"));
    free(out);
    free(err);
}

static void limit_of_a_linear_fill(void **state)
{
    struct cli *c = *state;
    char *out = NULL, *err = NULL;
    const char *args[] = {"forecast", "--csv",           c->csv, "--limit",
                          "90",       "--horizon-hours", "6",    NULL};
    FILE *f = fopen(c->csv, "w");

    assert_non_null(f);
    fprintf(f, "timestamp,value\n");
    for (int i = 0; i < 144; i++) /* 12 h of 5-minute points, +1 per hour: 40 .. 51.9167 */
        fprintf(f, "2024-03-01T%02d:%02d:00Z,%.6f\n", i / 12, (i % 12) * 5, 40.0 + i / 12.0);
    fclose(f);
    assert_int_equal(integ_hale_cli(&c->h, args, &out, &err), 0);
    /* 90 is 38.0833 h after the last point (11:55): 2024-03-03 02:00 */
    assert_non_null(strstr(out, "\"crosses\":false"));
    assert_non_null(strstr(out, "\"expected_at\":\"2024-03-03T02:00:00Z\""));
    assert_non_null(strstr(out, "\"probability\":0.0000"));
    free(out);
    free(err);
    args[4] = "52.5"; /* reached 35 minutes after the last point */
    assert_int_equal(integ_hale_cli(&c->h, args, &out, &err), 0);
    assert_non_null(strstr(out, "\"crosses\":true"));
    assert_non_null(strstr(out, "\"expected_at\":\"2024-03-01T12:30:00Z\""));
    assert_non_null(strstr(out, "\"probability\":1.0000"));
    free(out);
    free(err);
}

static void bad_input_and_usage(void **state)
{
    struct cli *c = *state;
    char *out = NULL, *err = NULL;
    const char *fc[] = {"forecast", "--csv", c->csv, "--horizon", "3", NULL};
    const char *const usage[][8] = {
        {"forecast", "--horizon", "3", NULL},
        {"forecast", "--csv", "x", NULL},
        {"forecast", "--csv", "x", "--horizon", "0", NULL},
        {"forecast", "--csv", "x", "--horizon", "3", "--interval", "0.9", NULL},
        {"forecast", "--csv", "x", "--horizon", "3", "--model", "arima", NULL},
        {"forecast", "--csv", "x", "--horizon", "3", "--limit", "5", NULL},
    };

    assert_int_equal(fixture_write(c->csv, "timestamp,value\n2024-01-01 00:00:00,1\n"
                                           "2024-01-01 01:00:00,abc\n"),
                     0);
    assert_int_equal(integ_hale_cli(&c->h, fc, &out, &err), 1);
    assert_non_null(strstr(err, "in.csv:3: bad value 'abc'"));
    free(out);
    free(err);
    assert_int_equal(fixture_write(c->csv, "time,value\n"), 0);
    assert_int_equal(integ_hale_cli(&c->h, fc, &out, &err), 1);
    assert_non_null(strstr(err, "in.csv:1: expected the header"));
    free(out);
    free(err);
    for (size_t i = 0; i < sizeof(usage) / sizeof(usage[0]); i++) {
        assert_int_equal(integ_hale_cli(&c->h, usage[i], &out, &err), 2);
        free(out);
        free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seasonal_naive_continues_the_series),
        cmocka_unit_test(limit_of_a_linear_fill),
        cmocka_unit_test(bad_input_and_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
