/* agent/forecast/forecast_trend.c - robust linear trend (Theil-Sen with Sen's confidence
 * interval) and the time at which it crosses a limit: the time-to-exhaustion model. */
#include "internal.h"

#include <math.h>

#include "forecast/forecast_int.h"
#include "hale/forecast.h"

#define TREND_POINTS 256 /* pairwise slopes: at most 256 * 255 / 2 */

int hale_forecast_trend_fit(const double *y, size_t n, double *work, size_t work_len,
                            hale_forecast_trend *ret)
{
    double *ti, *yi, *slopes, slope, lo, hi, c, med, mad;
    size_t finite = 0, k = 0, ns = 0, stride_num, r1, r2;
    hale_forecast_trend t = {0};

    if (!y || !work || !ret)
        return -EINVAL;
    if (work_len < hale_forecast_work_len(n, 0))
        return -ENOBUFS;
    if (n > HALE_FORECAST_MAX_POINTS) {
        /* index 0 of the line stays y[0] of the caller */
        size_t skip = n - HALE_FORECAST_MAX_POINTS;
        int r = hale_forecast_trend_fit(y + skip, HALE_FORECAST_MAX_POINTS, work, work_len, ret);

        if (r == 0)
            ret->intercept -= ret->slope * (double)skip;
        return r;
    }
    for (size_t i = 0; i < n; i++)
        finite += hale__forecast_ok(y[i]) ? 1 : 0;
    if (finite < 3)
        return -ENODATA;
    ti = work;
    yi = work + TREND_POINTS;
    slopes = work + 2 * TREND_POINTS;
    /* evenly subsample the finite points, always keeping the newest */
    stride_num = finite > TREND_POINTS ? finite : 0;
    for (size_t i = 0, j = 0; i < n && k < TREND_POINTS; i++) {
        if (!hale__forecast_ok(y[i]))
            continue;
        if (!stride_num || j * (TREND_POINTS - 1) >= k * (finite - 1)) {
            ti[k] = (double)i;
            yi[k] = y[i];
            k++;
        }
        j++;
    }
    if (k < TREND_POINTS && stride_num && ti[k - 1] != (double)(n - 1)) {
        size_t last = n;

        while (last > 0 && !hale__forecast_ok(y[last - 1]))
            last--;
        ti[k - 1] = (double)(last - 1);
        yi[k - 1] = y[last - 1];
    }
    for (size_t a = 0; a < k; a++)
        for (size_t b = a + 1; b < k; b++)
            slopes[ns++] = (yi[b] - yi[a]) / (ti[b] - ti[a]);
    slope = hale__forecast_select(slopes, ns, ns / 2);
    if (ns % 2 == 0)
        slope = 0.5 * (slope + hale__forecast_select(slopes, ns, ns / 2 - 1));
    /* Sen (1968): ranks (N - C)/2 and (N + C)/2 of the sorted slopes, C = z * sd(Kendall S) */
    c = 1.959963984540054 * sqrt((double)k * (double)(k - 1) * (double)(2 * k + 5) / 18.0);
    r1 = c >= (double)ns ? 0 : (size_t)floor(((double)ns - c) / 2.0);
    r2 = (size_t)ceil(((double)ns + c) / 2.0);
    if (r2 >= ns)
        r2 = ns - 1;
    lo = hale__forecast_select(slopes, ns, r1);
    hi = hale__forecast_select(slopes, ns, r2);
    for (size_t i = 0; i < k; i++)
        slopes[i] = yi[i] - slope * ti[i];
    med = hale__forecast_select(slopes, k, k / 2);
    for (size_t i = 0; i < k; i++)
        slopes[i] = fabs(yi[i] - slope * ti[i] - med);
    mad = hale__forecast_select(slopes, k, k / 2);
    t.slope = slope;
    t.intercept = med;
    t.slope_lo = lo;
    t.slope_hi = hi;
    t.resid_sd = 1.4826 * mad;
    t.used = finite;
    *ret = t;
    return 0;
}

/* Steps until a line at level c0 moving by s per step reaches limit; +Inf if never. */
static double steps_to(double c0, double s, double limit, bool rising)
{
    if (rising ? c0 >= limit : c0 <= limit)
        return 0.0;
    if (rising ? s <= 0 : s >= 0)
        return INFINITY;
    return (limit - c0) / s;
}

int hale_forecast_crossing_eval(const double *y, size_t n, double limit, double horizon_steps,
                                double *work, size_t work_len, hale_forecast_crossing *ret)
{
    hale_forecast_crossing x = {0};
    double c0, proj, se, sd, centre;
    int r;

    if (!isfinite(limit) || !isfinite(horizon_steps) || horizon_steps <= 0 || !ret)
        return -EINVAL;
    r = hale_forecast_trend_fit(y, n, work, work_len, &x.trend);
    if (r < 0)
        return r;
    c0 = x.trend.intercept + x.trend.slope * (double)(n - 1);
    x.rising = limit > c0;
    x.expected_at = steps_to(c0, x.trend.slope, limit, x.rising);
    x.lo = steps_to(c0, x.rising ? x.trend.slope_hi : x.trend.slope_lo, limit, x.rising);
    x.hi = steps_to(c0, x.rising ? x.trend.slope_lo : x.trend.slope_hi, limit, x.rising);
    x.crosses = x.expected_at <= horizon_steps;
    /* the projection's spread: slope uncertainty times the distance from the data's centre,
     * plus the scatter of single values around the line */
    se = (x.trend.slope_hi - x.trend.slope_lo) / (2.0 * 1.959963984540054);
    centre = (double)(n - 1) / 2.0;
    proj = c0 + x.trend.slope * horizon_steps;
    sd = hypot(x.trend.resid_sd, se * ((double)(n - 1) - centre + horizon_steps));
    if (sd > 0 && isfinite(sd))
        x.probability = hale__forecast_phi((x.rising ? proj - limit : limit - proj) / sd);
    else
        x.probability = (x.rising ? proj >= limit : proj <= limit) ? 1.0 : 0.0;
    *ret = x;
    return 0;
}
