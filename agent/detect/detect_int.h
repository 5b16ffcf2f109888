/* agent/detect/detect_int.h - the state of one detector, shared by the update path (detect.c)
 * and the snapshot codec (detect_snapshot.c). Private to agent/detect/. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "hale/detect.h"

#define DET_SEASON_MAX 288 /* upper bound of opts.season_buckets */
#define DET_SHORT_MAX  32  /* upper bound of opts.lik_short */
#define DET_N_RESID    3   /* robust residuals: level, step, time of day */
#define DET_N_COMP     4   /* likelihood streams: the residuals and transition novelty */
#define DET_LEVEL_BITS 4   /* the novelty model quantises values into 16 levels */
#define DET_LEVELS     (1u << DET_LEVEL_BITS)
#define DET_CONTEXT    2 /* previous levels that make the context of a transition */
#define DET_SEEN_BITS  (1u << (DET_LEVEL_BITS * (DET_CONTEXT + 1))) /* 4096 transitions */
#define DET_GAP_STEPS  8.0 /* a step longer than this many typical steps is a gap */
#define DET_DAY_MS     INT64_C(86400000)
#define DET_TIME_MAX   (INT64_C(1) << 53) /* timestamps are clamped to +-this many ms */

/* Exponentially weighted location and scale of one residual stream. */
struct det_ew {
    double mean; /* EW mean */
    double dev;  /* EW mean absolute deviation around mean */
    uint64_t n;  /* samples learned; the weight is 1/n until that drops below alpha */
};

/* Anomaly likelihood of one raw-score stream (Numenta's idea, kept O(1)): the mean of the
 * last `short` raw scores, compared with the exponentially weighted distribution of that
 * mean over a long horizon. */
struct det_lik {
    double ring[DET_SHORT_MAX]; /* last opts.lik_short raw scores */
    double sum;                 /* sum of ring; recomputed exactly at every wrap */
    uint32_t pos;               /* next slot in ring, < opts.lik_short */
    uint64_t n;                 /* raw scores seen */
    uint64_t n_dist;            /* short means learned into mean and var */
    double mean;                /* EW mean of the short average */
    double var;                 /* EW variance of the short average */
};

struct hale_detect {
    hale_detect_opts o; /* validated options, every default filled in */
    /* Derived from o; recomputed on restore, never stored. */
    double a_level;       /* per-sample weight of the level and step models */
    double a_lik;         /* per-sample weight of the likelihood distributions */
    double a_season;      /* per-visit weight of a time-of-day bucket */
    double inv_short;     /* 1 / opts.lik_short */
    double bucket_per_ms; /* opts.season_buckets / one day */
    int64_t day_start_ms; /* start of the cached day in bucket_of (a cache; INT64_MAX: none) */

    struct det_ew level; /* the value */
    struct det_ew step;  /* first differences */
    struct det_ew sres;  /* residuals from the time-of-day profile (mean unused) */
    double cus_pos;      /* upper CUSUM statistic, in deviations */
    double cus_neg;      /* lower CUSUM statistic, in deviations */
    double cus_ref;      /* level the CUSUM measures from; re-anchored after an alarm */
    double prev_value;   /* last learned value */
    int64_t newest_ms;   /* newest timestamp learned */
    double step_ms;      /* EW typical sampling step, ms; 0 until two samples */
    bool have_prev;      /* prev_value is usable for the step model */
    uint32_t refr_left;  /* samples left in the refractory period */
    double vmin;         /* smallest value learned */
    double vmax;         /* largest value learned */
    struct det_lik lik[DET_N_COMP];
    double season[DET_SEASON_MAX];     /* EW mean per time-of-day bucket */
    uint32_t season_n[DET_SEASON_MAX]; /* visits per bucket, saturating */
    uint64_t seen[DET_SEEN_BITS / 64]; /* transitions seen: bit (context << 4 | level) */
    uint32_t context;                  /* last DET_CONTEXT levels, 4 bits each, newest low */
    hale_detect_stats st;
};

/* Fill defaults into *o and check ranges; 0 or -EINVAL with reterr_diag set. */
int hale__detect_opts_check(hale_detect_opts *o, hale_diag *reterr_diag);

/* Recompute the derived fields of d from d->o. */
void hale__detect_derive(hale_detect *d);

/* -log10(erfc(t / sqrt(2))) / 10 clamped to [0, 1], from a table (detect_table.c); 0 for t <= 0
 * or NaN. */
double hale__detect_tail_score(double t);
