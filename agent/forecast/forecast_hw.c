/* agent/forecast/forecast_hw.c - additive Holt-Winters with a damped additive trend
 * (ETS(A,Ad,A) in Hyndman's taxonomy), fitted by Nelder-Mead on the one-step SSE. */
#include "internal.h"

#include <math.h>

#include "forecast/forecast_int.h"

#define PHI_LO 0.80
#define PHI_HI 0.98
#define A_LO   1e-4
#define A_HI   0.5 /* see docs/models.md: higher alphas turn multi-step forecasts naive */

/* Initial level, trend and season from the first two seasons (one for short series). */
static void hw_init(const double *y, size_t n, uint32_t m, double *season, double *ret_level,
                    double *ret_trend)
{
    double s1 = 0, s2 = 0, l1, l2, b = 0;
    size_t c1 = 0, c2 = 0, first = 0;

    for (size_t i = 0; i < m && i < n; i++)
        if (hale__forecast_ok(y[i]))
            s1 += y[i], c1++;
    for (size_t i = m; i < 2 * (size_t)m && i < n; i++)
        if (hale__forecast_ok(y[i]))
            s2 += y[i], c2++;
    while (first < n && !hale__forecast_ok(y[first]))
        first++;
    l1 = c1 ? s1 / (double)c1 : (first < n ? y[first] : 0.0);
    l2 = c2 ? s2 / (double)c2 : l1;
    if (m > 1 && c1 && c2)
        b = (l2 - l1) / (double)m;
    else if (m == 1) {
        size_t second = first + 1;

        while (second < n && !hale__forecast_ok(y[second]))
            second++;
        if (second < n && second < first + 10)
            b = (y[second] - y[first]) / (double)(second - first);
        l1 = first < n ? y[first] - b * (double)first : 0.0;
    }
    if (m > 1) {
        double mean = 0;

        for (uint32_t i = 0; i < m; i++) {
            /* the first season's mean sits at its centre, (m-1)/2 */
            double centre = l1 + b * ((double)i - (double)(m - 1) / 2.0);

            season[i] = i < n && hale__forecast_ok(y[i]) ? y[i] - centre : 0.0;
            mean += season[i];
        }
        mean /= (double)m;
        for (uint32_t i = 0; i < m; i++)
            season[i] -= mean;
        *ret_level = l1 - b * ((double)(m - 1) / 2.0 + 1.0);
    } else {
        season[0] = 0.0;
        *ret_level = l1 - b;
    }
    *ret_trend = b;
}

/* One pass: fills hw's state, season and (if resid) the one-step errors. */
static void hw_pass(const double *y, size_t n, struct hw_model *hw, double *season, double *resid)
{
    double l, b, sse = 0;
    size_t cnt = 0;
    uint32_t m = hw->m;

    hw_init(y, n, m, season, &l, &b);
    for (size_t t = 0, idx = 0; t < n; t++) {
        double pb = hw->phi * b, yhat = l + pb + season[idx];

        if (hale__forecast_ok(y[t])) {
            double e = y[t] - yhat;

            sse += e * e;
            cnt++;
            l = l + pb + hw->alpha * e;
            b = pb + hw->beta * e;
            season[idx] += hw->gamma * e;
            if (resid)
                resid[t] = e;
        } else {
            l += pb;
            b = pb;
            if (resid)
                resid[t] = NAN;
        }
        if (++idx == m)
            idx = 0;
    }
    hw->level = l;
    hw->trend = b;
    hw->sse = isfinite(sse) ? sse : HUGE_VAL;
    hw->count = cnt;
}

static double squash(double x, double lo, double hi)
{
    return lo + (hi - lo) / (1.0 + exp(-x));
}

/* Unconstrained vector x (alpha, beta/alpha, gamma/(1-alpha), phi) into parameters. */
static void decode(const double *x, uint32_t m, struct hw_model *hw)
{
    hw->m = m;
    hw->alpha = squash(x[0], A_LO, A_HI);
    hw->beta = hw->alpha * squash(x[1], 0.0, 1.0);
    hw->phi = squash(x[2], PHI_LO, PHI_HI);
    hw->gamma = m > 1 ? (1.0 - hw->alpha) * squash(x[3], 0.0, 1.0) : 0.0;
}

static double unsquash(double v, double lo, double hi)
{
    double p = (v - lo) / (hi - lo);

    return log(p / (1.0 - p));
}

struct nm_ctx {
    const double *y;
    size_t n;
    uint32_t m;
    double *season;
    uint32_t evals;
};

static double objective(struct nm_ctx *c, const double *x)
{
    struct hw_model hw;

    decode(x, c->m, &hw);
    hw_pass(c->y, c->n, &hw, c->season, NULL);
    c->evals++;
    return hw.sse;
}

#define NM_MAX_DIM 4

/* Nelder-Mead (standard coefficients) from x0 with steps of 1 in the unconstrained space. */
static void nelder_mead(struct nm_ctx *c, int dim, double *x0, uint32_t max_evals)
{
    double p[NM_MAX_DIM + 1][NM_MAX_DIM], f[NM_MAX_DIM + 1];
    double cen[NM_MAX_DIM], xr[NM_MAX_DIM], xe[NM_MAX_DIM];

    for (int i = 0; i <= dim; i++) {
        memcpy(p[i], x0, sizeof(double) * (size_t)dim);
        if (i > 0)
            p[i][i - 1] += 1.0;
        f[i] = objective(c, p[i]);
    }
    while (c->evals + 2 < max_evals) {
        int hi = 0, lo = 0, nh = 0;
        double fr;

        for (int i = 1; i <= dim; i++) {
            if (f[i] > f[hi])
                hi = i;
            if (f[i] < f[lo])
                lo = i;
        }
        nh = lo;
        for (int i = 0; i <= dim; i++)
            if (i != hi && f[i] > f[nh])
                nh = i;
        if (f[hi] - f[lo] <= 1e-10 * (fabs(f[lo]) + 1e-300))
            break;
        for (int j = 0; j < dim; j++) {
            cen[j] = 0;
            for (int i = 0; i <= dim; i++)
                if (i != hi)
                    cen[j] += p[i][j];
            cen[j] /= dim;
            xr[j] = cen[j] + (cen[j] - p[hi][j]);
        }
        fr = objective(c, xr);
        if (fr < f[lo]) {
            double fe;

            for (int j = 0; j < dim; j++)
                xe[j] = cen[j] + 2.0 * (cen[j] - p[hi][j]);
            fe = objective(c, xe);
            if (fe < fr)
                memcpy(p[hi], xe, sizeof(xe)), f[hi] = fe;
            else
                memcpy(p[hi], xr, sizeof(xr)), f[hi] = fr;
        } else if (fr < f[nh]) {
            memcpy(p[hi], xr, sizeof(xr));
            f[hi] = fr;
        } else {
            double fc;
            bool outside = fr < f[hi];

            for (int j = 0; j < dim; j++)
                xe[j] =
                    outside ? cen[j] + 0.5 * (xr[j] - cen[j]) : cen[j] + 0.5 * (p[hi][j] - cen[j]);
            fc = objective(c, xe);
            if (fc < (outside ? fr : f[hi])) {
                memcpy(p[hi], xe, sizeof(xe));
                f[hi] = fc;
            } else {
                for (int i = 0; i <= dim; i++) {
                    if (i == lo)
                        continue;
                    for (int j = 0; j < dim; j++)
                        p[i][j] = p[lo][j] + 0.5 * (p[i][j] - p[lo][j]);
                    f[i] = objective(c, p[i]);
                }
            }
        }
    }
    {
        int lo = 0;

        for (int i = 1; i <= dim; i++)
            if (f[i] < f[lo])
                lo = i;
        memcpy(x0, p[lo], sizeof(double) * (size_t)dim);
    }
}

uint32_t hale__forecast_hw_fit(const double *y, size_t n, uint32_t m, uint32_t max_evals,
                               double *season, double *resid, struct hw_model *ret)
{
    struct nm_ctx c = {.y = y, .n = n, .m = m, .season = season, .evals = 0};
    double x[NM_MAX_DIM] = {unsquash(0.2, A_LO, A_HI), unsquash(0.1, 0, 1),
                            unsquash(0.95, PHI_LO, PHI_HI), unsquash(0.1, 0, 1)};
    int dim = m > 1 ? 4 : 3;

    nelder_mead(&c, dim, x, max_evals);
    decode(x, m, ret);
    hw_pass(y, n, ret, season, resid);
    return c.evals + 1;
}
