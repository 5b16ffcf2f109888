/* include/hale/forecast.h - point forecasts with prediction intervals, and time to exhaustion.
 * Every function here is pure: it reads the caller's series, writes the caller's arrays, uses
 * only the caller's work buffer (hale_forecast_work_len doubles), allocates nothing, never logs
 * and is safe to call from any thread on distinct buffers. Work is bounded: the history used is
 * at most HALE_FORECAST_MAX_POINTS (the newest), one Holt-Winters fit costs at most
 * max_evals + 5 passes over that history (the automatic model fits twice: on the history less
 * its held-out tail, then on all of it), and season detection at most 2e7 multiply-adds.
 * Missing samples are NaN, +-Inf or beyond +-1e100: they are skipped by fitting and by every
 * statistic; the models carry their state across them. The series is assumed regularly spaced (one
 * value per step; a missing step is a NaN, not an absent row). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "hale/diag.h"

#define HALE_FORECAST_MAX_POINTS  100000 /* newest points used; older ones are ignored */
#define HALE_FORECAST_MAX_HORIZON 100000 /* steps */
#define HALE_FORECAST_MAX_PERIOD  4096   /* longest season (points) */

/* Which model forecasts. Values are stable. */
typedef enum hale_forecast_model {
    /* Default. With a season (found or given) and enough history, each candidate forecasts the
     * last min(horizon, n/4) points from the points before them and the most accurate one
     * forecasts from the whole series. Candidates: Holt-Winters, seasonal naive, seasonal naive
     * over 7 periods, and the means of Holt-Winters with either or both. Otherwise
     * Holt-Winters (with period 1 it is a damped-trend Holt model). */
    HALE_FORECAST_AUTO = 0,
    HALE_FORECAST_NAIVE = 1,        /* last finite value, intervals grow as sqrt(h) */
    HALE_FORECAST_SNAIVE = 2,       /* value one period earlier; needs a period */
    HALE_FORECAST_HOLT_WINTERS = 3, /* additive season, damped additive trend, fitted on SSE */
} hale_forecast_model;

#define HALE_FORECAST_MODEL_COUNT 4

/* Options. Zero-initialise and set what you need. */
typedef struct hale_forecast_opts {
    hale_forecast_model model; /* HALE_FORECAST_AUTO unless set */
    uint32_t period;           /* season in points; 0 detects it (autocorrelation); 1 = none */
    uint32_t max_period;       /* longest season the detector tries; 0: min(n/2, MAX_PERIOD) */
    uint32_t max_evals;        /* Holt-Winters fitting budget (SSE evaluations); 0: 250 */
} hale_forecast_opts;

/* What a forecast was made with. */
typedef struct hale_forecast_fit {
    hale_forecast_model model;      /* the model that ran; AUTO when a mean of several (members) */
    uint32_t members;               /* bit 0 Holt-Winters, bit 1 seasonal naive (period), bit 2
                                     * seasonal naive over 7 periods (a week for a daily season);
                                     * the point forecast is the mean of the members' */
    uint32_t period;                /* season used (1 = none) */
    double alpha, beta, gamma, phi; /* Holt-Winters smoothing (level, trend, season, damping) */
    double sigma;                   /* RMS of the in-sample one-step errors */
    double z80, z95;                /* interval half-widths in units of the h-step deviation */
    uint32_t evals;                 /* SSE evaluations spent fitting */
    size_t used;                    /* finite points the fit used */
} hale_forecast_fit;

/* Caller-owned output arrays, each of horizon elements. lo80..hi95 may all be NULL when no
 * interval is wanted. */
typedef struct hale_forecast_out {
    double *point;
    double *lo80, *hi80; /* central 80 % prediction interval */
    double *lo95, *hi95; /* central 95 % prediction interval */
} hale_forecast_out;

/* Doubles of work buffer the functions below need for a series of n points forecast horizon
 * steps ahead (horizon 0 for period detection and trends). */
size_t hale_forecast_work_len(size_t n, size_t horizon);

/* Forecast the horizon steps after y[0..n-1]. o may be NULL (defaults). A series that never
 * went below zero gets no forecast or lower bound below zero. On success writes out
 * (and *ret_fit if non-NULL) and returns 0. Errors (nothing written): -EINVAL (NULL pointers,
 * horizon 0 or above MAX_HORIZON, an option out of range; SNAIVE without a usable period) or
 * -ENODATA (fewer than 2 finite points, or fewer than one season plus one for SNAIVE), with
 * reterr_diag saying what was wrong; -ENOBUFS when work_len < hale_forecast_work_len(n, horizon).
 * Intervals: one-step residuals give sigma; the h-step deviation follows the model's error
 * propagation (sqrt(h) for naive, seasons elapsed for seasonal naive, the ETS(A,Ad,A) variance
 * for Holt-Winters), and z80/z95 are the empirical quantiles of the standardised in-sample
 * errors, never below the Gaussian ones. */
int hale_forecast_run(const double *y, size_t n, size_t horizon, const hale_forecast_opts *o,
                      double *work, size_t work_len, const hale_forecast_out *out,
                      hale_forecast_fit *ret_fit, hale_diag *reterr_diag);

/* The season of y in points, by autocorrelation of the detrended series: the shortest lag in
 * 2..max_period (0: min(n/2, MAX_PERIOD)) whose autocorrelation is a local peak, at least
 * 0.25 and at least 0.8 times the best such peak. Returns the period, 1 when no season is
 * found (or fewer than 8 finite points), or -ENOBUFS. */
int hale_forecast_detect_period(const double *y, size_t n, uint32_t max_period, double *work,
                                size_t work_len);

/* Robust linear trend (Theil-Sen): slope per step is the median of the pairwise slopes of the
 * finite points of y (at most 256 points, evenly subsampled), intercept the median of
 * y[i] - slope*i, so the line is y(i) = intercept + slope*i. slope_lo/slope_hi bound the slope
 * at 95 % confidence (Sen's rank interval); resid_sd is 1.4826 * MAD of the residuals. */
typedef struct hale_forecast_trend {
    double slope, intercept;
    double slope_lo, slope_hi;
    double resid_sd;
    size_t used; /* finite points used */
} hale_forecast_trend;

/* Fit the trend of y[0..n-1]. Returns 0, -EINVAL (NULL), -ENODATA (fewer than 3 finite points)
 * or -ENOBUFS (work_len < hale_forecast_work_len(n, 0)). */
int hale_forecast_trend_fit(const double *y, size_t n, double *work, size_t work_len,
                            hale_forecast_trend *ret);

/* When does the trend of y reach limit? Steps are counted from the last point (index n-1).
 * horizon_steps is the look-ahead the probability refers to. */
typedef struct hale_forecast_crossing {
    int crosses;        /* 1 when the median line reaches limit within horizon_steps */
    double expected_at; /* steps after the last point at which the median line reaches limit;
                         * 0 when already beyond it; +Inf when moving away or flat */
    double lo, hi;      /* 95 % range of that time from the slope bounds (hi may be +Inf) */
    double probability; /* P(value at horizon_steps is beyond limit), from the line's
                         * uncertainty and the residual spread */
    int rising;         /* 1 when limit is above the current level */
    hale_forecast_trend trend;
} hale_forecast_crossing;

/* Returns 0, or the errors of hale_forecast_trend_fit; -EINVAL when limit or horizon_steps is
 * not finite or horizon_steps <= 0. */
int hale_forecast_crossing_eval(const double *y, size_t n, double limit, double horizon_steps,
                                double *work, size_t work_len, hale_forecast_crossing *ret);

/* "auto", "naive", "snaive", "holt-winters"; NULL for an unknown value. Static strings. */
const char *hale_forecast_model_name(hale_forecast_model m);

/* Parse a model name (also "hw"). Returns 0 and sets *ret, or -EINVAL. */
int hale_forecast_model_parse(const char *name, hale_forecast_model *ret);
