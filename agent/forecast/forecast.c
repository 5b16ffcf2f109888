/* agent/forecast/forecast.c - the forecasting entry point: baselines (naive, seasonal naive),
 * Holt-Winters dispatch, season detection and prediction intervals. */
#include "internal.h"

#include <math.h>

#include "forecast/forecast_int.h"
#include "hale/forecast.h"

#define DEFAULT_EVALS 250
#define MAX_EVALS     100000
#define Z_MAX         50.0       /* interval half-width multipliers never exceed this */
#define ACF_BUDGET    20000000.0 /* multiply-adds the period detector may spend */
#define TREND_SLOPES  32640      /* 256 * 255 / 2 */
/* Work buffer layout: [0, n) residuals; [n, SCRATCH_AT(n)) seasons and autocorrelations;
 * then 9 * horizon for forecasts of candidate models and their deviations. */
#define SCRATCH_AT(n) (2 * (n) + HALE_FORECAST_MAX_PERIOD + 8)

static const char *const model_names[HALE_FORECAST_MODEL_COUNT] = {"auto", "naive", "snaive",
                                                                   "holt-winters"};

const char *hale_forecast_model_name(hale_forecast_model m)
{
    return (unsigned)m < HALE_FORECAST_MODEL_COUNT ? model_names[m] : NULL;
}

int hale_forecast_model_parse(const char *name, hale_forecast_model *ret)
{
    if (!name)
        return -EINVAL;
    for (unsigned i = 0; i < HALE_FORECAST_MODEL_COUNT; i++)
        if (strcmp(name, model_names[i]) == 0) {
            *ret = (hale_forecast_model)i;
            return 0;
        }
    if (strcmp(name, "hw") == 0) {
        *ret = HALE_FORECAST_HOLT_WINTERS;
        return 0;
    }
    return -EINVAL;
}

size_t hale_forecast_work_len(size_t n, size_t horizon)
{
    if (n > HALE_FORECAST_MAX_POINTS)
        n = HALE_FORECAST_MAX_POINTS;
    if (horizon > HALE_FORECAST_MAX_HORIZON)
        horizon = HALE_FORECAST_MAX_HORIZON;
    return SCRATCH_AT(n) + 9 * horizon + TREND_SLOPES + 512;
}

double hale__forecast_select(double *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;

    while (lo < hi) {
        double pivot = a[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;

        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                double t = a[i];

                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return a[k];
}

double hale__forecast_phi(double z)
{
    return 0.5 * erfc(-z / sqrt(2.0));
}

int hale_forecast_detect_period(const double *y, size_t n, uint32_t max_period, double *work,
                                size_t work_len)
{
    double *x = work, mean_t = 0, mean_y = 0, sxy = 0, sxx = 0, slope, c0, var = 0;
    double best = 0, rmin;
    size_t cnt = 0, kmax;
    int found = 1;

    if (work_len < hale_forecast_work_len(n, 0))
        return -ENOBUFS;
    if (n > HALE_FORECAST_MAX_POINTS) {
        y += n - HALE_FORECAST_MAX_POINTS;
        n = HALE_FORECAST_MAX_POINTS;
    }
    kmax = max_period ? max_period : n / 2;
    if (kmax > n / 2)
        kmax = n / 2;
    if (kmax > HALE_FORECAST_MAX_PERIOD)
        kmax = HALE_FORECAST_MAX_PERIOD;
    /* bounded cost: at most ACF_BUDGET multiply-adds, but always at least three seasons */
    if (kmax >= 2 && (double)n * (double)kmax > ACF_BUDGET) {
        size_t keep = (size_t)(ACF_BUDGET / (double)kmax);

        if (keep < 3 * kmax)
            keep = 3 * kmax;
        if (keep < n) {
            y += n - keep;
            n = keep;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (hale__forecast_ok(y[i]))
            mean_t += (double)i, mean_y += y[i], cnt++;
    if (cnt < 8 || kmax < 2)
        return 1;
    mean_t /= (double)cnt;
    mean_y /= (double)cnt;
    for (size_t i = 0; i < n; i++)
        if (hale__forecast_ok(y[i])) {
            sxy += ((double)i - mean_t) * (y[i] - mean_y);
            sxx += ((double)i - mean_t) * ((double)i - mean_t);
        }
    slope = sxx > 0 ? sxy / sxx : 0;
    c0 = mean_y - slope * mean_t;
    for (size_t i = 0; i < n; i++) {
        x[i] = hale__forecast_ok(y[i]) ? y[i] - (c0 + slope * (double)i) : 0.0;
        var += x[i] * x[i];
    }
    if (!(var > 0) || !isfinite(var))
        return 1;
    /* acf[k] goes to x + n + k; kmax + 2 <= MAX_PERIOD + 2 fits the work buffer */
    {
        double *acf = x + n;

        for (size_t k = 0; k <= kmax + 1 && k < n; k++) {
            double s = 0;

            for (size_t i = 0; i + k < n; i++)
                s += x[i] * x[i + k];
            acf[k] = s / var;
        }
        if (kmax + 1 >= n)
            acf[kmax + 1] = acf[kmax];
        rmin = acf[1];
        /* pass 1: the best prominent peak; pass 2: the shortest lag near it */
        for (int pass = 0; pass < 2 && found == 1; pass++) {
            rmin = acf[1];
            for (size_t k = 2; k <= kmax; k++) {
                bool peak = acf[k] > acf[k - 1] && acf[k] >= acf[k + 1] && acf[k] >= 0.25 &&
                            acf[k] - rmin >= 0.1;

                if (acf[k] < rmin)
                    rmin = acf[k];
                if (!peak)
                    continue;
                if (pass == 0 && acf[k] > best)
                    best = acf[k];
                if (pass == 1 && acf[k] >= 0.8 * best) {
                    found = (int)k;
                    break;
                }
            }
            if (best == 0)
                break;
        }
    }
    return found;
}

/* Newest finite value at or before index i stepping back by `step`; NaN if none. */
static double back_finite(const double *y, size_t i, size_t step)
{
    for (;;) {
        if (hale__forecast_ok(y[i]))
            return y[i];
        if (i < step)
            return NAN;
        i -= step;
    }
}

/* Empirical 80 % and 95 % quantiles of |e|/sd over the finite entries of e (overwrites e).
 * Both 0 when fewer than 10 entries are finite. */
static void abs_quantiles(double *e, size_t n, double sd, double *ret_q80, double *ret_q95)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        if (isfinite(e[i]))
            e[k++] = fabs(e[i]) / sd;
    if (k < 10) {
        *ret_q80 = *ret_q95 = 0;
        return;
    }
    *ret_q80 = hale__forecast_select(e, k, (size_t)floor(0.80 * (double)(k - 1) + 0.5));
    *ret_q95 = hale__forecast_select(e, k, (size_t)floor(0.95 * (double)(k - 1) + 0.5));
}

/* sigma (RMS) and calibrated z80/z95 from the residuals e[skip..n-1]. */
static void calibrate(double *e, size_t n, size_t skip, hale_forecast_fit *fit)
{
    double ss = 0;
    size_t k = 0;

    if (skip >= n || n - skip < 10)
        skip = 0;
    for (size_t i = skip; i < n; i++)
        if (isfinite(e[i]))
            ss += e[i] * e[i], k++;
    fit->sigma = k ? sqrt(ss / (double)k) : 0.0;
    fit->z80 = 1.2815515655446004;
    fit->z95 = 1.959963984540054;
    if (fit->sigma > 0) {
        double q80, q95;

        abs_quantiles(e + skip, n - skip, fit->sigma, &q80, &q95);

        if (q80 > fit->z80)
            fit->z80 = q80;
        if (q95 > fit->z95)
            fit->z95 = q95;
    }
}

/* Base models write the point forecast and the h-step standard deviation (sd) of each step. */
static void run_naive(const double *y, size_t n, size_t horizon, double *e, double *point,
                      double *sd, hale_forecast_fit *fit)
{
    double last = back_finite(y, n - 1, 1), prev = NAN;

    for (size_t i = 0; i < n; i++) {
        e[i] = hale__forecast_ok(y[i]) && isfinite(prev) ? y[i] - prev : NAN;
        if (hale__forecast_ok(y[i]))
            prev = y[i];
    }
    calibrate(e, n, 0, fit);
    for (size_t h = 0; h < horizon; h++) {
        point[h] = last;
        sd[h] = fit->sigma * sqrt((double)(h + 1));
    }
}

static void run_snaive(const double *y, size_t n, size_t horizon, uint32_t m, double *e,
                       double *point, double *sd, hale_forecast_fit *fit)
{
    for (size_t i = 0; i < n; i++)
        e[i] = i >= m && hale__forecast_ok(y[i]) ? y[i] - back_finite(y, i - m, m) : NAN;
    calibrate(e, n, 0, fit);
    for (size_t h = 0; h < horizon; h++) {
        double v = back_finite(y, n - m + h % m, m);

        if (!isfinite(v)) /* that phase never observed: fall back to the last value */
            v = back_finite(y, n - 1, 1);
        point[h] = v;
        sd[h] = fit->sigma * sqrt((double)(h / m + 1));
    }
}

static void run_hw(const double *y, size_t n, size_t horizon, uint32_t m, uint32_t max_evals,
                   double *work, double *point, double *sd, hale_forecast_fit *fit)
{
    double *resid = work, *season = work + n;
    struct hw_model hw;
    double damp = 0, pw = 1, var = 1, phij = 0, pj = 1;

    fit->evals += hale__forecast_hw_fit(y, n, m, max_evals, season, resid, &hw);
    fit->alpha = hw.alpha;
    fit->beta = hw.beta;
    fit->gamma = hw.gamma;
    fit->phi = hw.phi;
    calibrate(resid, n, m > 1 ? m : 0, fit);
    for (size_t h = 0; h < horizon; h++) {
        pw *= hw.phi;
        damp += pw;
        if (h > 0) { /* ETS(A,Ad,A) h-step variance factor 1 + sum c_j^2, accumulated */
            double cj;

            pj *= hw.phi;
            phij += pj;
            cj = hw.alpha + hw.beta * phij + (m > 1 && h % m == 0 ? hw.gamma : 0.0);
            var += cj * cj;
        }
        point[h] = hw.level + damp * hw.trend + season[(n + h) % m];
        sd[h] = fit->sigma * sqrt(var);
    }
}

enum base { BASE_HW, BASE_SNAIVE, BASE_SNAIVE_LONG, BASE_COUNT };

/* Candidates of the automatic model: bit sets of bases whose forecasts are averaged. */
static const unsigned candidates[] = {
    1u << BASE_HW,
    1u << BASE_SNAIVE,
    (1u << BASE_HW) | (1u << BASE_SNAIVE),
    1u << BASE_SNAIVE_LONG,
    (1u << BASE_HW) | (1u << BASE_SNAIVE_LONG),
    (1u << BASE_HW) | (1u << BASE_SNAIVE) | (1u << BASE_SNAIVE_LONG),
};

#define N_CANDIDATES (sizeof(candidates) / sizeof(candidates[0]))

static void run_base(enum base b, const double *y, size_t n, size_t horizon, uint32_t m,
                     uint32_t evals, double *work, double *point, double *sd,
                     hale_forecast_fit *fit)
{
    if (b == BASE_HW)
        run_hw(y, n, horizon, m, evals, work, point, sd, fit);
    else
        run_snaive(y, n, horizon, b == BASE_SNAIVE ? m : 7 * m, work, point, sd, fit);
}

/* The mean of the bases in set: point and sd (the mean of the members' sds, an upper bound of
 * the sd of the mean), z the widest of the members'. tmp holds 2 * horizon doubles. */
static void run_set(unsigned set, const double *y, size_t n, size_t horizon, uint32_t m,
                    uint32_t evals, double *work, double *tmp, double *point, double *sd,
                    hale_forecast_fit *fit)
{
    unsigned k = 0;
    double z80 = 0, z95 = 0;

    for (size_t h = 0; h < horizon; h++)
        point[h] = sd[h] = 0;
    for (int b = 0; b < BASE_COUNT; b++) {
        hale_forecast_fit f = {0};

        if (!(set & (1u << b)))
            continue;
        run_base((enum base)b, y, n, horizon, m, evals, work, tmp, tmp + horizon, &f);
        for (size_t h = 0; h < horizon; h++) {
            point[h] += tmp[h];
            sd[h] += tmp[horizon + h];
        }
        z80 = f.z80 > z80 ? f.z80 : z80;
        z95 = f.z95 > z95 ? f.z95 : z95;
        fit->evals += f.evals;
        if (b == BASE_HW || k == 0) {
            fit->alpha = f.alpha, fit->beta = f.beta, fit->gamma = f.gamma, fit->phi = f.phi;
            fit->sigma = f.sigma;
        }
        k++;
    }
    for (size_t h = 0; h < horizon; h++) {
        point[h] /= (double)k;
        sd[h] /= (double)k;
    }
    fit->z80 = z80;
    fit->z95 = z95;
}

/* Mean absolute error of fc against the finite values of actual. */
static double mae(const double *actual, const double *fc, size_t len)
{
    double e = 0;
    size_t k = 0;

    for (size_t i = 0; i < len; i++)
        if (isfinite(actual[i]))
            e += fabs(actual[i] - fc[i]), k++;
    return k ? e / (double)k : HUGE_VAL;
}

/* The automatic model: each candidate forecasts the last v points from the points before
 * them; the one with the least error forecasts from the whole series. v = min(horizon, n/4).
 * With no season, or too short a series to hold one out, Holt-Winters alone. */
static void run_auto(const double *y, size_t n, size_t horizon, uint32_t m, uint32_t evals,
                     double *work, double *scratch, double *point, double *sd,
                     hale_forecast_fit *fit)
{
    size_t v = horizon < n / 4 ? horizon : n / 4;
    unsigned best = candidates[0];
    double z80 = 0, z95 = 0;

    if (m > 1 && v >= 2 && n - v >= 2 * (size_t)m) {
        /* scratch: forecasts of each base (3v), their deviations (3v), a candidate's (2v) */
        double *vfc = scratch, *vsd = scratch + BASE_COUNT * v, *cfc = vsd + BASE_COUNT * v;
        double *csd = cfc + v, best_err = HUGE_VAL;
        bool have_long = 7 * (size_t)m <= HALE_FORECAST_MAX_PERIOD && n - v >= 14 * (size_t)m;

        for (int b = 0; b < BASE_COUNT; b++) {
            hale_forecast_fit f = {0};

            if (b == BASE_SNAIVE_LONG && !have_long)
                continue;
            run_base((enum base)b, y, n - v, v, m, evals, work, vfc + (size_t)b * v,
                     vsd + (size_t)b * v, &f);
            fit->evals += f.evals;
        }
        for (size_t c = 0; c < N_CANDIDATES + 1; c++) {
            /* the last round recomputes the winner, for its interval calibration */
            unsigned set = c < N_CANDIDATES ? candidates[c] : best, k = 0;
            double err;

            if ((set & (1u << BASE_SNAIVE_LONG)) && !have_long)
                continue;
            for (size_t h = 0; h < v; h++) {
                cfc[h] = csd[h] = 0;
                k = 0;
                for (int b = 0; b < BASE_COUNT; b++)
                    if (set & (1u << b)) {
                        cfc[h] += vfc[(size_t)b * v + h];
                        csd[h] += vsd[(size_t)b * v + h];
                        k++;
                    }
                cfc[h] /= (double)k;
                csd[h] /= (double)k;
            }
            if (c == N_CANDIDATES)
                break;
            err = mae(y + n - v, cfc, v);
            if (err < best_err) {
                best_err = err;
                best = set;
            }
        }
        /* the held-out errors in units of the predicted deviation calibrate the intervals */
        for (size_t h = 0; h < v; h++)
            cfc[h] = csd[h] > 0 ? (y[n - v + h] - cfc[h]) / csd[h] : NAN;
        abs_quantiles(cfc, v, 1.0, &z80, &z95);
    }
    fit->members = best;
    fit->model = best == (1u << BASE_HW)       ? HALE_FORECAST_HOLT_WINTERS
                 : best == (1u << BASE_SNAIVE) ? HALE_FORECAST_SNAIVE
                                               : HALE_FORECAST_AUTO;
    run_set(best, y, n, horizon, m, evals, work, scratch, point, sd, fit);
    if (z80 > 0 && z95 >= z80) {
        /* few held-out points give a noisy, optimistic quantile (and the winner was chosen on
         * them): shrink towards the in-sample calibration, trusting the holdout more as it
         * grows (weight v / (v + 100)) */
        double w = (double)v / ((double)v + 100.0);

        fit->z80 = w * z80 + (1.0 - w) * fit->z80;
        fit->z95 = w * z95 + (1.0 - w) * fit->z95;
    }
    /* a held-out tail far outside a (near-)zero predicted deviation says the deviation, not
     * the quantile, is wrong: bound the multipliers so intervals stay finite */
    if (fit->z80 > Z_MAX)
        fit->z80 = Z_MAX;
    if (fit->z95 > Z_MAX)
        fit->z95 = Z_MAX;
}

static void write_intervals(const hale_forecast_out *out, const hale_forecast_fit *fit,
                            size_t horizon, const double *sd, bool nonneg)
{
    for (size_t h = 0; h < horizon; h++) {
        double p = out->point[h], lo80 = p - fit->z80 * sd[h], lo95 = p - fit->z95 * sd[h];

        if (nonneg) { /* a series that never went below zero is not forecast below it */
            p = out->point[h] = p > 0 ? p : 0;
            lo80 = lo80 > 0 ? lo80 : 0;
            lo95 = lo95 > 0 ? lo95 : 0;
        }
        if (out->lo80)
            out->lo80[h] = lo80;
        if (out->hi80)
            out->hi80[h] = p + fit->z80 * sd[h];
        if (out->lo95)
            out->lo95[h] = lo95;
        if (out->hi95)
            out->hi95[h] = p + fit->z95 * sd[h];
    }
}

int hale_forecast_run(const double *y, size_t n, size_t horizon, const hale_forecast_opts *o,
                      double *work, size_t work_len, const hale_forecast_out *out,
                      hale_forecast_fit *ret_fit, hale_diag *reterr_diag)
{
    hale_forecast_opts d = {0};
    hale_forecast_fit fit = {0};
    size_t finite = 0, first = 0;
    double *scratch, *sd, min = HUGE_VAL;
    uint32_t m, evals;

    if (!y || !work || !out || !out->point) {
        hale_diag_set(reterr_diag, "forecast: NULL series, work buffer or output");
        return -EINVAL;
    }
    if (o)
        d = *o;
    if (horizon == 0 || horizon > HALE_FORECAST_MAX_HORIZON) {
        hale_diag_set(reterr_diag, "forecast: horizon %zu, expected 1..%d", horizon,
                      HALE_FORECAST_MAX_HORIZON);
        return -EINVAL;
    }
    if ((unsigned)d.model >= HALE_FORECAST_MODEL_COUNT || d.period > HALE_FORECAST_MAX_PERIOD ||
        d.max_period > HALE_FORECAST_MAX_PERIOD || d.max_evals > MAX_EVALS) {
        hale_diag_set(reterr_diag,
                      "forecast: option out of range (model 0..%d, period and max_period "
                      "<= %d, max_evals <= %d)",
                      HALE_FORECAST_MODEL_COUNT - 1, HALE_FORECAST_MAX_PERIOD, MAX_EVALS);
        return -EINVAL;
    }
    if (work_len < hale_forecast_work_len(n, horizon))
        return -ENOBUFS;
    if (n > HALE_FORECAST_MAX_POINTS) {
        y += n - HALE_FORECAST_MAX_POINTS;
        n = HALE_FORECAST_MAX_POINTS;
    }
    /* leading missing values carry no information */
    while (first < n && !hale__forecast_ok(y[first]))
        first++;
    y += first;
    n -= first;
    for (size_t i = 0; i < n; i++)
        finite += hale__forecast_ok(y[i]) ? 1 : 0;
    if (finite < 2) {
        hale_diag_set(reterr_diag, "forecast: %zu finite values, expected at least 2", finite);
        return -ENODATA;
    }
    evals = d.max_evals ? d.max_evals : DEFAULT_EVALS;
    m = d.period;
    if (m == 0 && d.model != HALE_FORECAST_NAIVE) {
        int p = hale_forecast_detect_period(y, n, d.max_period, work, work_len);

        m = p > 0 ? (uint32_t)p : 1;
    }
    if (m == 0)
        m = 1;
    if (d.model == HALE_FORECAST_SNAIVE && n < (size_t)m + 1) {
        hale_diag_set(reterr_diag,
                      "forecast: seasonal naive with period %u needs more than %u points, got %zu",
                      m, m, n);
        return -ENODATA;
    }
    if (d.model != HALE_FORECAST_SNAIVE && m > 1 && n < 2 * (size_t)m)
        m = 1; /* a season needs two full cycles to initialise */
    for (size_t i = 0; i < n; i++)
        if (hale__forecast_ok(y[i]) && y[i] < min)
            min = y[i];
    fit.used = finite;
    fit.period = m;
    scratch = work + SCRATCH_AT(n);
    sd = scratch + 8 * horizon;
    switch (d.model) {
    case HALE_FORECAST_NAIVE:
        fit.model = HALE_FORECAST_NAIVE;
        fit.period = 1;
        run_naive(y, n, horizon, work, out->point, sd, &fit);
        break;
    case HALE_FORECAST_SNAIVE:
        fit.model = HALE_FORECAST_SNAIVE;
        fit.members = 1u << BASE_SNAIVE;
        run_snaive(y, n, horizon, m, work, out->point, sd, &fit);
        break;
    case HALE_FORECAST_HOLT_WINTERS:
        fit.model = HALE_FORECAST_HOLT_WINTERS;
        fit.members = 1u << BASE_HW;
        run_hw(y, n, horizon, m, evals, work, out->point, sd, &fit);
        break;
    case HALE_FORECAST_AUTO:
    default:
        run_auto(y, n, horizon, m, evals, work, scratch, out->point, sd, &fit);
        break;
    }
    write_intervals(out, &fit, horizon, sd, min >= 0);
    if (ret_fit)
        *ret_fit = fit;
    return 0;
}
