/* include/hale/detect.h - streaming anomaly detection over one numeric series.
 * A detector eats (timestamp, value) samples one at a time and answers an anomaly score in
 * [0, 1] for each. Work per sample is O(1), memory per series is fixed (sizeof one detector,
 * no allocation after _new), results are deterministic: the same samples in the same order give
 * bit-identical scores on the same build. State can be saved to a versioned byte blob and
 * restored, so a restart does not relearn from zero.
 * A detector is not thread-safe; distinct detectors may be used from distinct threads. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "hale/diag.h"

typedef struct hale_detect hale_detect;

/* Which detector runs. The numbers are part of the snapshot format: never renumber. */
typedef enum hale_detect_kind {
    /* Default. The robust baseline's level, step and time-of-day residuals, and the novelty
     * of the value's transition between 16 levels of its range (given the two before), each
     * normalised online into an anomaly likelihood and combined by taking the least likely; a
     * value beyond the range seen so far scores 1; the CUSUM's change points re-anchor the level so
     * a new regime is learned instead of scored as one long anomaly; after an alarm a
     * refractory period damps scores (except new-range ones) so that one event raises one
     * alarm, not a run. */
    HALE_DETECT_ENSEMBLE = 0,
    /* Robust baseline alone: EWMA level with an exponentially weighted mean absolute
     * deviation (winsorised updates), a step (first difference) model and a time-of-day
     * profile; score = -log10(two-sided Gaussian tail of the largest robust z) / 16, capped
     * at 1 (0.5 is a 1e-8 tail, about 5.7 deviations). */
    HALE_DETECT_ROBUST = 1,
    /* Two-sided CUSUM change-point detector on the robust z of the level residual; the score
     * is the larger cumulative sum over the alarm level, capped at 1. */
    HALE_DETECT_CUSUM = 2,
} hale_detect_kind;

#define HALE_DETECT_KIND_COUNT 3

/* Tuning knobs. Zero-initialise and set what you need: every zero field takes the default
 * documented next to it (docs/models.md explains how the defaults were chosen). */
typedef struct hale_detect_opts {
    hale_detect_kind kind;   /* HALE_DETECT_ENSEMBLE unless set */
    uint32_t warmup;         /* samples before any non-zero score; 250 */
    uint32_t lik_start;      /* samples before the likelihoods learn their distribution; 200 */
    double level_halflife;   /* samples; half-life of level and deviation estimates; 300 */
    double winsor_z;         /* residuals are clipped to this many deviations when learning; 4 */
    double cusum_k;          /* CUSUM drift allowance in deviations; 0.5 */
    double cusum_h;          /* CUSUM alarm level in deviations; 30 */
    double lik_halflife;     /* samples; half-life of the raw-score distribution; 1500 */
    uint32_t lik_short;      /* samples averaged for the likelihood's short view, 1..32; 24 */
    uint32_t refractory;     /* samples after an alarm whose scores are quartered; 100 */
    double alarm_level;      /* score at or above which the refractory period starts; 0.47 */
    uint32_t season_buckets; /* time-of-day buckets of the seasonal profile, 1..288; 144 */
    double season_halflife;  /* visits; half-life of each time-of-day bucket's mean; 6 */
    double range_tol;        /* beyond [min - tol*range, max + tol*range] scores 1; 0.025 */
} hale_detect_opts;

/* A new detector. o may be NULL (all defaults). On success *ret is owned by the caller (free
 * with hale_detect_free). Returns 0, -EINVAL (an option out of range, reterr_diag says which)
 * or -ENOMEM. */
int hale_detect_new(const hale_detect_opts *o, hale_detect **ret, hale_diag *reterr_diag);

void hale_detect_free(hale_detect *d); /* NULL is a no-op */

/* Feed one sample taken at t_ms (unix ms) and return its anomaly score in [0, 1].
 * Never fails and never lets bad input into the learned state:
 * - NaN, infinite or |value| > 1e150: score 0, state unchanged (counted as nonfinite);
 * - t_ms earlier than the newest sample seen: scored against the current state, not learned;
 * - t_ms beyond +-2^53 ms is clamped to that bound;
 * - gaps (missing samples) and irregular steps: the step model skips the sample after a gap
 *   of more than 8 typical steps; the time-of-day profile is indexed by wall-clock time;
 * - constant series: deviations have a floor relative to the level, so a constant series
 *   scores 0 and the first change after it scores high. */
double hale_detect_update(hale_detect *d, int64_t t_ms, double value);

/* Counters, for diagnostics. */
typedef struct hale_detect_stats {
    uint64_t samples;      /* all calls to _update */
    uint64_t learned;      /* samples that updated the state */
    uint64_t nonfinite;    /* NaN/Inf values skipped */
    uint64_t out_of_order; /* samples older than the newest, scored but not learned */
    uint64_t gaps;         /* gaps longer than 8 typical steps */
    uint64_t alarms;       /* refractory periods started */
} hale_detect_stats;

void hale_detect_get_stats(const hale_detect *d, hale_detect_stats *ret);

hale_detect_kind hale_detect_get_kind(const hale_detect *d);

/* Bytes one detector occupies (all of its state; it allocates nothing else). */
size_t hale_detect_memory_bytes(void);

/* "ensemble", "robust", "cusum"; NULL for an unknown kind. Static strings. */
const char *hale_detect_kind_name(hale_detect_kind k);

/* Parse a kind name. Returns 0 and sets *ret, or -EINVAL. */
int hale_detect_kind_parse(const char *name, hale_detect_kind *ret);

/* The snapshot encoding: "HDET", a format version, the options and the full state, in
 * little-endian order, followed by a CRC-32 of everything before it. Its size is fixed for
 * a given format version. */
#define HALE_DETECT_SNAPSHOT_VERSION 1

/* Bytes needed by hale_detect_snapshot. */
size_t hale_detect_snapshot_size(void);

/* Write d's state into buf (cap bytes). Returns the number of bytes written, or -ENOBUFS
 * when cap < hale_detect_snapshot_size(). Does not change d. */
int hale_detect_snapshot(const hale_detect *d, void *buf, size_t cap);

/* A new detector from a snapshot; it continues exactly where the saved one stopped. Validates
 * everything (magic, version, checksum, option ranges, every number finite and in range,
 * indices in bounds) and on failure returns HALE_EPARSE (with reterr_diag naming the field)
 * or -ENOMEM, leaving *ret untouched. */
int hale_detect_restore(const void *buf, size_t len, hale_detect **ret, hale_diag *reterr_diag);
