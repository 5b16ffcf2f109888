/* tests/test_forecast.c - forecasters on synthetic series with known answers: seasonal naive
 * and Holt-Winters on a pure season, growing intervals, season detection, missing values, the
 * robust trend and the crossing time of a linear fill, argument errors. */
#include "fixture.h"

#include <errno.h>
#include <math.h>

#include "hale/forecast.h"

#define TWO_PI 6.283185307179586

static uint64_t rng_state;

static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
    return sqrt(-2.0 * log(uniform())) * cos(TWO_PI * uniform());
}

/* Hourly: a daily shape that is not a pure sine, plus optional trend and noise. */
static void hourly(double *y, size_t n, double trend, double noise, uint64_t seed)
{
    rng_state = seed;
    for (size_t i = 0; i < n; i++) {
        double h = (double)(i % 24);

        y[i] = 100.0 + 20.0 * sin(TWO_PI * h / 24.0) + 8.0 * cos(2.0 * TWO_PI * h / 24.0) +
               trend * (double)i + noise * gauss();
    }
}

struct fc {
    double point[200], lo80[200], hi80[200], lo95[200], hi95[200];
    hale_forecast_out out;
    hale_forecast_fit fit;
};

static int run(const double *y, size_t n, size_t h, hale_forecast_model model, uint32_t period,
               struct fc *f)
{
    hale_forecast_opts o = {.model = model, .period = period};
    size_t wl = hale_forecast_work_len(n, h);
    double *work = malloc(wl * sizeof(double));
    hale_diag diag = {{0}};
    int r;

    assert_non_null(work);
    f->out = (hale_forecast_out){f->point, f->lo80, f->hi80, f->lo95, f->hi95};
    r = hale_forecast_run(y, n, h, &o, work, wl, &f->out, &f->fit, &diag);
    free(work);
    return r;
}

static void test_pure_season_snaive_exact(void **state)
{
    double y[240];
    struct fc f;

    (void)state;
    hourly(y, 240, 0, 0, 1);
    assert_int_equal(run(y, 240, 72, HALE_FORECAST_SNAIVE, 24, &f), 0);
    for (size_t h = 0; h < 72; h++)
        assert_true(f.point[h] == y[216 + h % 24]); /* bit-exact: the value a season earlier */
    assert_true(f.fit.sigma == 0.0);
    assert_int_equal(f.fit.period, 24);
}

static void test_pure_season_holt_winters_near(void **state)
{
    double y[240], truth[72];
    struct fc f;

    (void)state;
    hourly(y, 240, 0, 0, 1);
    for (size_t h = 0; h < 72; h++)
        truth[h] = y[216 + h % 24];
    assert_int_equal(run(y, 240, 72, HALE_FORECAST_HOLT_WINTERS, 0, &f), 0);
    assert_int_equal(f.fit.period, 24); /* detected */
    for (size_t h = 0; h < 72; h++)
        assert_true(fabs(f.point[h] - truth[h]) < 1e-6);
    /* the default model too */
    assert_int_equal(run(y, 240, 72, HALE_FORECAST_AUTO, 0, &f), 0);
    for (size_t h = 0; h < 72; h++)
        assert_true(fabs(f.point[h] - truth[h]) < 1e-6);
}

static void check_intervals(const struct fc *f, size_t h_n, bool strictly_wider_at_end)
{
    for (size_t h = 0; h < h_n; h++) {
        assert_true(f->lo95[h] <= f->lo80[h] && f->lo80[h] <= f->point[h]);
        assert_true(f->point[h] <= f->hi80[h] && f->hi80[h] <= f->hi95[h]);
        if (h > 0) { /* never narrower than the step before */
            assert_true(f->hi95[h] - f->lo95[h] >= f->hi95[h - 1] - f->lo95[h - 1] - 1e-9);
            assert_true(f->hi80[h] - f->lo80[h] >= f->hi80[h - 1] - f->lo80[h - 1] - 1e-9);
        }
    }
    if (strictly_wider_at_end)
        assert_true(f->hi95[h_n - 1] - f->lo95[h_n - 1] > 1.5 * (f->hi95[0] - f->lo95[0]));
}

static void test_intervals_widen(void **state)
{
    double y[480];
    struct fc f;

    (void)state;
    hourly(y, 480, 0.01, 3.0, 7);
    assert_int_equal(run(y, 480, 96, HALE_FORECAST_NAIVE, 0, &f), 0);
    check_intervals(&f, 96, true);
    assert_int_equal(run(y, 480, 96, HALE_FORECAST_SNAIVE, 24, &f), 0);
    check_intervals(&f, 96, true); /* four seasons out: twice the width of the first */
    assert_int_equal(run(y, 480, 96, HALE_FORECAST_HOLT_WINTERS, 24, &f), 0);
    check_intervals(&f, 96, false);
    assert_true(f.fit.sigma > 2.0 && f.fit.sigma < 4.5); /* close to the noise's 3 */
    assert_true(f.fit.z95 >= 1.959 && f.fit.z80 >= 1.281);
    assert_int_equal(run(y, 480, 96, HALE_FORECAST_AUTO, 0, &f), 0);
    check_intervals(&f, 96, false);
}

static void test_period_detection(void **state)
{
    double y[24 * 28], *work;
    size_t wl = hale_forecast_work_len(24 * 28, 0);

    (void)state;
    work = malloc(wl * sizeof(double));
    assert_non_null(work);
    hourly(y, 24 * 28, 0.05, 4.0, 3); /* noisy, trending */
    assert_int_equal(hale_forecast_detect_period(y, 24 * 28, 0, work, wl), 24);
    /* a weekly pattern on top: the daily season is still the shortest strong one */
    for (size_t i = 0; i < 24 * 28; i++)
        y[i] += (i / 24) % 7 >= 5 ? -15.0 : 0.0;
    assert_int_equal(hale_forecast_detect_period(y, 24 * 28, 0, work, wl), 24);
    /* white noise and a straight line have none */
    rng_state = 11;
    for (size_t i = 0; i < 24 * 28; i++)
        y[i] = gauss();
    assert_int_equal(hale_forecast_detect_period(y, 24 * 28, 0, work, wl), 1);
    for (size_t i = 0; i < 24 * 28; i++)
        y[i] = 3.0 * (double)i;
    assert_int_equal(hale_forecast_detect_period(y, 24 * 28, 0, work, wl), 1);
    /* max_period below the season: none found */
    hourly(y, 24 * 28, 0, 1.0, 3);
    assert_int_equal(hale_forecast_detect_period(y, 24 * 28, 12, work, wl), 1);
    assert_int_equal(hale_forecast_detect_period(y, 24 * 28, 0, work, 10), -ENOBUFS);
    free(work);
}

static void test_missing_values(void **state)
{
    double y[300];
    struct fc f;

    (void)state;
    hourly(y, 300, 0, 1.0, 5);
    for (size_t i = 0; i < 300; i += 7)
        y[i] = NAN;
    y[3] = INFINITY;
    for (size_t i = 0; i < 10; i++) /* leading gap */
        y[i] = NAN;
    y[299] = NAN; /* the newest value missing */
    for (int m = HALE_FORECAST_AUTO; m < HALE_FORECAST_MODEL_COUNT; m++) {
        assert_int_equal(
            run(y, 300, 48, (hale_forecast_model)m, m == HALE_FORECAST_NAIVE ? 0 : 24, &f), 0);
        for (size_t h = 0; h < 48; h++)
            assert_true(isfinite(f.point[h]) && isfinite(f.lo95[h]) && isfinite(f.hi95[h]));
    }
    /* seasonal naive skips a missing value to the one a season before it */
    assert_int_equal(run(y, 300, 24, HALE_FORECAST_SNAIVE, 24, &f), 0);
    assert_true(f.point[23] == y[299 - 24]);
    /* naive: the newest finite value */
    assert_int_equal(run(y, 300, 3, HALE_FORECAST_NAIVE, 0, &f), 0);
    assert_true(f.point[0] == y[298]);
    /* huge values count as missing, not as data that overflows the fit */
    y[150] = 1e300;
    y[151] = -1e200;
    assert_int_equal(run(y, 300, 48, HALE_FORECAST_AUTO, 0, &f), 0);
    for (size_t h = 0; h < 48; h++)
        assert_true(fabs(f.point[h]) < 1000 && isfinite(f.lo95[h]) && isfinite(f.hi95[h]));
    /* too little data */
    for (size_t i = 0; i < 300; i++)
        y[i] = NAN;
    assert_int_equal(run(y, 300, 5, HALE_FORECAST_AUTO, 0, &f), -ENODATA);
    y[100] = 1.0;
    assert_int_equal(run(y, 300, 5, HALE_FORECAST_AUTO, 0, &f), -ENODATA);
    y[200] = 2.0;
    assert_int_equal(run(y, 300, 5, HALE_FORECAST_AUTO, 0, &f), 0);
    assert_true(isfinite(f.point[4]));
    assert_int_equal(run(y, 30, 5, HALE_FORECAST_SNAIVE, 24, &f), -ENODATA);
}

static void test_nonnegative_series_stays_nonnegative(void **state)
{
    double y[200];
    struct fc f;

    (void)state;
    for (size_t i = 0; i < 200; i++) /* decaying towards zero: a trend would cross it */
        y[i] = 50.0 * exp(-(double)i / 30.0);
    assert_int_equal(run(y, 200, 100, HALE_FORECAST_HOLT_WINTERS, 1, &f), 0);
    for (size_t h = 0; h < 100; h++)
        assert_true(f.point[h] >= 0 && f.lo95[h] >= 0 && f.lo80[h] >= 0);
}

static void test_errors_and_names(void **state)
{
    double y[50] = {0}, work[8];
    double p[4];
    hale_forecast_out out = {p, NULL, NULL, NULL, NULL};
    hale_forecast_opts bad = {.model = (hale_forecast_model)9};
    hale_forecast_model m;
    hale_diag diag = {{0}};
    size_t wl = hale_forecast_work_len(50, 4);
    double *w = malloc(wl * sizeof(double));
    struct fc f;

    (void)state;
    assert_non_null(w);
    assert_int_equal(hale_forecast_run(y, 50, 4, NULL, work, 8, &out, NULL, NULL), -ENOBUFS);
    assert_int_equal(hale_forecast_run(y, 50, 0, NULL, w, wl, &out, NULL, &diag), -EINVAL);
    assert_non_null(strstr(diag.msg, "horizon"));
    assert_int_equal(hale_forecast_run(NULL, 50, 4, NULL, w, wl, &out, NULL, NULL), -EINVAL);
    assert_int_equal(hale_forecast_run(y, 50, 4, &bad, w, wl, &out, NULL, NULL), -EINVAL);
    /* a constant series: flat forecast, zero-width intervals, no NaN */
    assert_int_equal(run(y, 50, 4, HALE_FORECAST_AUTO, 0, &f), 0);
    assert_true(f.point[3] == 0.0 && f.hi95[3] == 0.0);
    assert_int_equal(hale_forecast_model_parse("hw", &m), 0);
    assert_int_equal(m, HALE_FORECAST_HOLT_WINTERS);
    assert_int_equal(hale_forecast_model_parse("snaive", &m), 0);
    assert_int_equal(m, HALE_FORECAST_SNAIVE);
    assert_int_equal(hale_forecast_model_parse("arima", &m), -EINVAL);
    assert_string_equal(hale_forecast_model_name(HALE_FORECAST_NAIVE), "naive");
    assert_null(hale_forecast_model_name((hale_forecast_model)9));
    free(w);
}

static void test_deterministic(void **state)
{
    double y[300];
    struct fc a, b;

    (void)state;
    hourly(y, 300, 0.02, 2.0, 9);
    assert_int_equal(run(y, 300, 48, HALE_FORECAST_AUTO, 0, &a), 0);
    assert_int_equal(run(y, 300, 48, HALE_FORECAST_AUTO, 0, &b), 0);
    assert_memory_equal(a.point, b.point, sizeof(double) * 48);
    assert_memory_equal(a.hi95, b.hi95, sizeof(double) * 48);
}

static void test_linear_fill_crossing(void **state)
{
    double y[50], work_small[4], *work;
    size_t wl = hale_forecast_work_len(50, 0);
    hale_forecast_crossing x;

    (void)state;
    work = malloc(wl * sizeof(double));
    assert_non_null(work);
    for (size_t i = 0; i < 50; i++) /* 10 + 0.5 per step: 34.5 at the last point */
        y[i] = 10.0 + 0.5 * (double)i;
    assert_int_equal(hale_forecast_crossing_eval(y, 50, 60.0, 60.0, work, wl, &x), 0);
    assert_true(x.rising && x.crosses);
    assert_true(fabs(x.expected_at - 51.0) < 1e-9);
    assert_true(fabs(x.lo - 51.0) < 1e-9 && fabs(x.hi - 51.0) < 1e-9);
    assert_true(x.probability == 1.0);
    assert_true(fabs(x.trend.slope - 0.5) < 1e-12 && fabs(x.trend.intercept - 10.0) < 1e-9);
    /* not within 40 steps */
    assert_int_equal(hale_forecast_crossing_eval(y, 50, 60.0, 40.0, work, wl, &x), 0);
    assert_false(x.crosses);
    assert_true(x.probability == 0.0);
    /* a limit below a rising series is never reached again; one already passed is at 0 */
    assert_int_equal(hale_forecast_crossing_eval(y, 50, 5.0, 10.0, work, wl, &x), 0);
    assert_false(x.rising);
    assert_true(isinf(x.expected_at) && !x.crosses);
    assert_int_equal(hale_forecast_crossing_eval(y, 50, 34.5, 10.0, work, wl, &x), 0);
    assert_true(x.expected_at == 0.0 && x.crosses);
    /* noise and 20 % wild outliers: the robust slope holds, the range brackets the truth */
    rng_state = 21;
    for (size_t i = 0; i < 50; i++)
        y[i] = 10.0 + 0.5 * (double)i + 0.3 * gauss() + (i % 5 == 2 ? 40.0 : 0.0);
    y[20] = NAN;
    assert_int_equal(hale_forecast_crossing_eval(y, 50, 60.0, 60.0, work, wl, &x), 0);
    assert_true(fabs(x.trend.slope - 0.5) < 0.05);
    assert_true(x.lo <= 51.0 + 3 && x.hi >= 51.0 - 3 && x.lo <= x.expected_at &&
                x.expected_at <= x.hi);
    assert_true(x.crosses && x.probability > 0.9);
    assert_int_equal(x.trend.used, 49);
    /* errors */
    assert_int_equal(hale_forecast_crossing_eval(y, 50, NAN, 60.0, work, wl, &x), -EINVAL);
    assert_int_equal(hale_forecast_crossing_eval(y, 50, 60.0, 0.0, work, wl, &x), -EINVAL);
    assert_int_equal(hale_forecast_crossing_eval(y, 50, 60.0, 6.0, work_small, 4, &x), -ENOBUFS);
    y[0] = y[1] = 1.0;
    for (size_t i = 2; i < 50; i++)
        y[i] = NAN;
    assert_int_equal(hale_forecast_crossing_eval(y, 50, 60.0, 6.0, work, wl, &x), -ENODATA);
    free(work);
}

static void test_trend_long_series_subsampled(void **state)
{
    size_t n = 5000, wl = hale_forecast_work_len(5000, 0);
    double *y = malloc(n * sizeof(double)), *work = malloc(wl * sizeof(double));
    hale_forecast_trend t;

    (void)state;
    assert_non_null(y);
    assert_non_null(work);
    for (size_t i = 0; i < n; i++)
        y[i] = -2.0 + 0.01 * (double)i;
    assert_int_equal(hale_forecast_trend_fit(y, n, work, wl, &t), 0);
    assert_true(fabs(t.slope - 0.01) < 1e-12 && fabs(t.intercept + 2.0) < 1e-9);
    assert_int_equal(t.used, n);
    free(y);
    free(work);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pure_season_snaive_exact),
        cmocka_unit_test(test_pure_season_holt_winters_near),
        cmocka_unit_test(test_intervals_widen),
        cmocka_unit_test(test_period_detection),
        cmocka_unit_test(test_missing_values),
        cmocka_unit_test(test_nonnegative_series_stays_nonnegative),
        cmocka_unit_test(test_errors_and_names),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_linear_fill_crossing),
        cmocka_unit_test(test_trend_long_series_subsampled),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
