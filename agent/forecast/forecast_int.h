/* agent/forecast/forecast_int.h - shared between the forecast sources; no other module. */
#pragma once
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/forecast.h"

/* Values beyond this magnitude are treated as missing: squares of errors of usable values stay
 * far from overflow even summed over HALE_FORECAST_MAX_POINTS. */
#define HALE_FORECAST_MAX_ABS 1e100

static inline bool hale__forecast_ok(double v)
{
    return isfinite(v) && fabs(v) <= HALE_FORECAST_MAX_ABS;
}

/* Holt-Winters parameters and final state after a pass over the series. */
struct hw_model {
    uint32_t m;                     /* period, 1 = no season */
    double alpha, beta, gamma, phi; /* beta in the b' = phi*b + beta*e form, beta <= alpha */
    double level, trend;            /* state after the last point */
    double sse;                     /* sum of squared one-step errors */
    size_t count;                   /* finite points that contributed to sse */
};

/* Fit alpha, beta, gamma, phi by Nelder-Mead on the one-step SSE. season holds m doubles (the
 * final seasonal state, indexed by t mod m); resid holds n doubles (one-step errors, NaN where
 * y is missing). Returns the number of SSE evaluations. */
uint32_t hale__forecast_hw_fit(const double *y, size_t n, uint32_t m, uint32_t max_evals,
                               double *season, double *resid, struct hw_model *ret);

/* The k-th smallest of a[0..n-1] (0-based), reordering a. n > 0. */
double hale__forecast_select(double *a, size_t n, size_t k);

/* Standard normal CDF. */
double hale__forecast_phi(double z);
