/* agent/detect/detect.c - streaming anomaly detectors: a robust baseline (EWMA level, step and
 * time-of-day models with winsorised deviations), a CUSUM change-point detector, and the
 * default ensemble that turns their residuals into anomaly likelihoods. O(1) per sample, no
 * allocation after hale_detect_new. The snapshot codec is in detect_snapshot.c. */
#include "internal.h"

#include <math.h>

#include "detect/detect_int.h"
#include "hale/diag.h"

#define MAD_TO_SD   1.2533141373155003     /* sqrt(pi/2): mean absolute deviation to sigma */
#define SEASON_WARM 3                      /* visits before a time-of-day bucket is trusted */
#define FAST_ALPHA  0.1                    /* weight of the fast mean the CUSUM re-anchors to */
#define SQRT1_2     0.70710678118654752440 /* 1/sqrt(2); M_SQRT1_2 is not ISO C */
#define VALUE_MAX   1e150 /* larger magnitudes are refused like NaN: keeps sums finite */

#define Z_CAP      12.0 /* raw scores saturate at this many deviations */
#define LIK_SD_MIN 0.01 /* floor of the raw-score spread, in raw-score units */
#define REFR_DAMP  0.25 /* scores inside a refractory period are scaled by this */

static const char *const kind_names[HALE_DETECT_KIND_COUNT] = {"ensemble", "robust", "cusum"};

const char *hale_detect_kind_name(hale_detect_kind k)
{
    return (unsigned)k < HALE_DETECT_KIND_COUNT ? kind_names[k] : NULL;
}

int hale_detect_kind_parse(const char *name, hale_detect_kind *ret)
{
    for (unsigned i = 0; name && i < HALE_DETECT_KIND_COUNT; i++) {
        if (strcmp(name, kind_names[i]) == 0) {
            *ret = (hale_detect_kind)i;
            return 0;
        }
    }
    return -EINVAL;
}

static int bad_opt(hale_diag *d, const char *name, const char *want)
{
    hale_diag_set(d, "detector option %s: out of range, expected %s", name, want);
    return -EINVAL;
}

static bool in_range(double v, double lo, double hi)
{
    return isfinite(v) && v >= lo && v <= hi;
}

int hale__detect_opts_check(hale_detect_opts *o, hale_diag *reterr_diag)
{
    if ((unsigned)o->kind >= HALE_DETECT_KIND_COUNT)
        return bad_opt(reterr_diag, "kind", "ensemble, robust or cusum");
#define DEF(field, value)                                                                          \
    do {                                                                                           \
        if (o->field == 0)                                                                         \
            o->field = (value);                                                                    \
    } while (0)
    DEF(warmup, 250);
    DEF(lik_start, 200);
    DEF(level_halflife, 300.0);
    DEF(winsor_z, 4.0);
    DEF(cusum_k, 0.5);
    DEF(cusum_h, 30.0);
    DEF(lik_halflife, 1500.0);
    DEF(lik_short, 24);
    DEF(refractory, 100);
    DEF(alarm_level, 0.47);
    DEF(season_buckets, 144);
    DEF(season_halflife, 6.0);
    DEF(range_tol, 0.025);
#undef DEF
    if (o->warmup > 1000000)
        return bad_opt(reterr_diag, "warmup", "at most 1000000 samples");
    if (o->lik_start > 1000000)
        return bad_opt(reterr_diag, "lik_start", "at most 1000000 samples");
    if (!in_range(o->level_halflife, 1.0, 1e7))
        return bad_opt(reterr_diag, "level_halflife", "1 to 1e7 samples");
    if (!in_range(o->winsor_z, 1.0, 100.0))
        return bad_opt(reterr_diag, "winsor_z", "1 to 100 deviations");
    if (!in_range(o->cusum_k, 0.0, 10.0))
        return bad_opt(reterr_diag, "cusum_k", "0 to 10 deviations");
    if (!in_range(o->cusum_h, 0.5, 1000.0))
        return bad_opt(reterr_diag, "cusum_h", "0.5 to 1000 deviations");
    if (!in_range(o->lik_halflife, 1.0, 1e7))
        return bad_opt(reterr_diag, "lik_halflife", "1 to 1e7 samples");
    if (o->lik_short > DET_SHORT_MAX)
        return bad_opt(reterr_diag, "lik_short", "1 to 32 samples");
    if (o->refractory > 1000000)
        return bad_opt(reterr_diag, "refractory", "at most 1000000 samples");
    if (!in_range(o->alarm_level, 1e-9, 1.0))
        return bad_opt(reterr_diag, "alarm_level", "a score in (0, 1]");
    if (o->season_buckets > DET_SEASON_MAX)
        return bad_opt(reterr_diag, "season_buckets", "1 to 288");
    if (!in_range(o->season_halflife, 0.5, 1e6))
        return bad_opt(reterr_diag, "season_halflife", "0.5 to 1e6 visits");
    if (!in_range(o->range_tol, 0.0, 100.0))
        return bad_opt(reterr_diag, "range_tol", "0 to 100 ranges");
    return 0;
}

static double halflife_alpha(double h)
{
    return 1.0 - exp2(-1.0 / h);
}

void hale__detect_derive(hale_detect *d)
{
    d->a_level = halflife_alpha(d->o.level_halflife);
    d->a_lik = halflife_alpha(d->o.lik_halflife);
    d->a_season = halflife_alpha(d->o.season_halflife);
    d->inv_short = 1.0 / (double)d->o.lik_short;
    d->bucket_per_ms = (double)d->o.season_buckets / (double)DET_DAY_MS;
    d->day_start_ms = INT64_MAX; /* no day cached yet */
}

int hale_detect_new(const hale_detect_opts *o, hale_detect **ret, hale_diag *reterr_diag)
{
    hale_detect_opts opts = {0};
    hale_detect *d;
    int r;

    if (o)
        opts = *o;
    r = hale__detect_opts_check(&opts, reterr_diag);
    if (r < 0)
        return r;
    d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->o = opts;
    hale__detect_derive(d);
    *ret = d;
    return 0;
}

void hale_detect_free(hale_detect *d)
{
    free(d);
}

void hale_detect_get_stats(const hale_detect *d, hale_detect_stats *ret)
{
    *ret = d->st;
}

hale_detect_kind hale_detect_get_kind(const hale_detect *d)
{
    return d->o.kind;
}

size_t hale_detect_memory_bytes(void)
{
    return sizeof(hale_detect);
}

/* The weight of the n-th sample: a running mean at first, then exponential forgetting. */
static double weight(uint64_t n, double alpha)
{
    /* Compare before dividing: past the warm-up the answer is alpha, without a division. */
    return (double)n * alpha >= 1.0 ? alpha : 1.0 / (double)n;
}

/* A deviation that is never zero: constant series stay finite and the first change is loud. */
static double scale(const struct det_ew *e, double level)
{
    double s = e->dev * MAD_TO_SD, floor_ = 1e-9 * fabs(level) + 1e-12;

    return s > floor_ ? s : floor_;
}

/* Learn x into e, winsorised at lim (absolute units; 0 while e is empty). */
static void ew_learn(struct det_ew *e, double x, double alpha, double lim)
{
    double r, a;

    e->n++;
    a = weight(e->n, alpha);
    if (e->n == 1) {
        e->mean = x;
        e->dev = 0.0;
        return;
    }
    r = x - e->mean;
    if (r > lim)
        r = lim;
    else if (r < -lim)
        r = -lim;
    e->mean += a * r;
    e->dev += a * (fabs(r) - e->dev);
}

static uint32_t bucket_of(hale_detect *d, int64_t t_ms)
{
    uint32_t b;

    /* Samples mostly arrive within the same day: avoid a 64-bit division per sample. */
    if (t_ms < d->day_start_ms || t_ms - d->day_start_ms >= DET_DAY_MS) {
        int64_t tod = t_ms % DET_DAY_MS;

        d->day_start_ms = t_ms - (tod < 0 ? tod + DET_DAY_MS : tod);
    }
    b = (uint32_t)((double)(t_ms - d->day_start_ms) * d->bucket_per_ms);
    return b < d->o.season_buckets ? b : d->o.season_buckets - 1;
}

/* x as one of DET_LEVELS equal slices of [vmin, vmax] (values outside fall in the end ones). */
static uint32_t level_of(const hale_detect *d, double x)
{
    double f;

    if (!(d->vmax > d->vmin))
        return 0;
    f = (x - d->vmin) / (d->vmax - d->vmin);
    if (!(f > 0.0))
        return 0;
    return f >= 1.0 ? DET_LEVELS - 1 : (uint32_t)(f * DET_LEVELS);
}

/* Index of "the last DET_CONTEXT levels, then this one" in the seen bitmap. */
static uint32_t transition(const hale_detect *d, uint32_t level)
{
    return ((d->context << DET_LEVEL_BITS) | level) & (DET_SEEN_BITS - 1);
}

/* Residuals of one sample against the current state, in deviations. */
struct resid {
    double z[DET_N_RESID]; /* robust z of the level, step and time-of-day residuals */
    double cus;            /* max(S+, S-) / h: 1 or more is a change point */
    double cus_pos;        /* CUSUM statistics after this sample */
    double cus_neg;
    uint32_t bucket;
    bool step_ok;   /* the step model applies (previous sample known, no gap) */
    bool new_range; /* x lies beyond everything seen, by more than range_tol of the range */
    bool novel;     /* the transition (two previous levels -> this level) was never seen */
    uint32_t level; /* x quantised into DET_LEVELS levels of the range seen so far */
    bool gap;
};

static void residuals(hale_detect *d, int64_t t_ms, double x, struct resid *rs)
{
    double sl = scale(&d->level, d->level.mean), zl, k = d->o.cusum_k;

    rs->gap = d->st.learned > 0 && d->step_ms > 0 &&
              (double)t_ms - (double)d->newest_ms > DET_GAP_STEPS * d->step_ms;
    rs->step_ok = d->have_prev && !rs->gap && d->step.n > 0;
    rs->bucket = bucket_of(d, t_ms);
    zl = d->level.n > 0 ? (x - d->level.mean) / sl : 0.0;
    rs->z[0] = zl;
    rs->z[1] =
        rs->step_ok ? (x - d->prev_value - d->step.mean) / scale(&d->step, d->level.mean) : 0.0;
    rs->z[2] = d->season_n[rs->bucket] >= SEASON_WARM && d->sres.n > 0
                   ? (x - d->season[rs->bucket]) / scale(&d->sres, d->level.mean)
                   : 0.0;
    /* A constant series has no range yet: any other value is new. */
    rs->new_range = d->st.learned > 0 && (x > d->vmax + d->o.range_tol * (d->vmax - d->vmin) ||
                                          x < d->vmin - d->o.range_tol * (d->vmax - d->vmin));
    rs->level = level_of(d, x);
    rs->novel = d->st.learned >= DET_CONTEXT &&
                !(d->seen[transition(d, rs->level) >> 6] >> (transition(d, rs->level) & 63) & 1);
    rs->cus_pos = fmax(0.0, d->cus_pos + zl - k);
    rs->cus_neg = fmax(0.0, d->cus_neg - zl - k);
    rs->cus = fmax(rs->cus_pos, rs->cus_neg) / d->o.cusum_h;
}

static void learn(hale_detect *d, int64_t t_ms, double x, const struct resid *rs)
{
    double lim_l = d->o.winsor_z * scale(&d->level, d->level.mean);
    double dt = (double)t_ms - (double)d->newest_ms;

    if (d->st.learned > 0 && !rs->gap) {
        if (d->step_ms <= 0)
            d->step_ms = dt;
        else
            d->step_ms += 0.05 * (fmin(dt, 4.0 * d->step_ms) - d->step_ms);
    }
    if (rs->gap)
        d->st.gaps++;
    if (rs->step_ok || (d->have_prev && d->step.n == 0 && !rs->gap))
        ew_learn(&d->step, x - d->prev_value, d->a_level,
                 d->step.n > 1 ? d->o.winsor_z * scale(&d->step, d->level.mean) : INFINITY);
    if (d->season_n[rs->bucket] >= SEASON_WARM)
        ew_learn(&d->sres, x - d->season[rs->bucket], d->a_level,
                 d->sres.n > 1 ? d->o.winsor_z * scale(&d->sres, d->level.mean) : INFINITY);
    if (d->season_n[rs->bucket] == 0) {
        d->season[rs->bucket] = x;
    } else {
        /* Winsorised like the other models, once the residual scale is known. */
        double r = x - d->season[rs->bucket];
        double lim = d->sres.n > 1 ? d->o.winsor_z * scale(&d->sres, d->level.mean) : INFINITY;

        r = r > lim ? lim : r < -lim ? -lim : r;
        d->season[rs->bucket] += weight(d->season_n[rs->bucket] + 1, d->a_season) * r;
    }
    if (d->season_n[rs->bucket] < UINT32_MAX)
        d->season_n[rs->bucket]++;
    ew_learn(&d->level, x, d->a_level, d->level.n > 1 ? lim_l : INFINITY);
    d->cus_ref = d->st.learned == 0 ? x : d->cus_ref + FAST_ALPHA * (x - d->cus_ref);
    d->cus_pos = rs->cus_pos;
    d->cus_neg = rs->cus_neg;
    if (rs->cus >= 1.0) {
        /* A confirmed change: restart the sums and move the level to where the series is
         * now, so the new regime is not scored as one long anomaly. */
        d->cus_pos = d->cus_neg = 0.0;
        d->level.mean = d->cus_ref;
    }
    d->vmin = d->st.learned == 0 || x < d->vmin ? x : d->vmin;
    d->vmax = d->st.learned == 0 || x > d->vmax ? x : d->vmax;
    {
        uint32_t tr = transition(d, rs->level);

        d->seen[tr >> 6] |= UINT64_C(1) << (tr & 63);
        d->context = tr & ((1u << (DET_LEVEL_BITS * DET_CONTEXT)) - 1);
    }
    d->prev_value = x;
    d->have_prev = true;
    if (d->st.learned == 0 || t_ms > d->newest_ms)
        d->newest_ms = t_ms;
    d->st.learned++;
}

/* How unusual the recent raw scores of one stream are: the squared standardised excess of their
 * short mean over its long-run mean, or 0 when the short mean is at or below it (squared, so
 * the caller takes one square root for the largest instead of one per stream). Updates the
 * stream when commit is set. */
static double lik_step(hale_detect *d, struct det_lik *l, double u, bool commit)
{
    uint32_t w = d->o.lik_short;
    uint64_t n = l->n + 1;
    double sum = l->sum - l->ring[l->pos] + u;
    double avg = n < w ? sum / (double)n : sum * d->inv_short;
    double var = l->var > LIK_SD_MIN * LIK_SD_MIN ? l->var : LIK_SD_MIN * LIK_SD_MIN;
    double diff = avg - l->mean, t2, a;

    t2 = l->n_dist > 0 && diff > 0.0 ? diff * diff / var : 0.0;
    if (!commit)
        return t2;
    l->ring[l->pos] = u;
    l->sum = sum;
    if (++l->pos == w) {
        l->pos = 0;
        l->sum = 0.0;
        for (uint32_t i = 0; i < w; i++)
            l->sum += l->ring[i];
    }
    l->n = n;
    /* The first samples' raw scores come from models still settling in; keeping them out of
     * the distribution keeps the start-up transient from hiding later anomalies. */
    if (d->st.learned < d->o.lik_start)
        return t2;
    l->n_dist++;
    if (l->n_dist == 1) {
        l->mean = avg;
        l->var = 0.0;
        return t2;
    }
    a = weight(l->n_dist, d->a_lik);
    l->mean += a * diff;
    l->var = (1.0 - a) * (l->var + a * diff * diff);
    return t2;
}

static double raw_of(double z)
{
    z = fabs(z);
    return z >= Z_CAP ? 1.0 : z / Z_CAP;
}

static double ensemble_score(hale_detect *d, const struct resid *rs, bool commit)
{
    double t2max = 0.0, s = 0.0;

    for (int i = 0; i < DET_N_COMP; i++) {
        double u = i < DET_N_RESID ? raw_of(rs->z[i]) : rs->novel ? 1.0 : 0.0;
        double t2 = lik_step(d, &d->lik[i], u, commit);

        if (t2 > t2max)
            t2max = t2;
    }
    if (d->st.learned < d->o.warmup)
        return 0.0;
    /* Twice the upper tail probability of the short mean (1 at the mean), on a log scale: 0.5 is
     * a 1e-5 tail, 0 anything at or below the mean. */
    if (t2max > 0.0)
        s = hale__detect_tail_score(sqrt(t2max));
    if (rs->new_range)
        s = 1.0;
    /* A value beyond everything seen is always reported in full, even inside a refractory
     * period: a new extreme is news however recent the last alarm. */
    if (!commit)
        return d->refr_left > 0 && !rs->new_range ? s * REFR_DAMP : s;
    if (d->refr_left > 0) {
        d->refr_left--;
        return rs->new_range ? s : s * REFR_DAMP;
    }
    if (s >= d->o.alarm_level && d->o.refractory > 0) {
        d->refr_left = d->o.refractory;
        d->st.alarms++;
    }
    return s;
}

static double single_score(const hale_detect *d, const struct resid *rs)
{
    double z, p;

    if (d->st.learned < d->o.warmup)
        return 0.0;
    if (d->o.kind == HALE_DETECT_CUSUM)
        return fmin(rs->cus, 1.0);
    z = fmax(fabs(rs->z[0]), fmax(fabs(rs->z[1]), fabs(rs->z[2])));
    p = erfc(z * SQRT1_2);
    return p > 1e-16 ? -log10(p) / 16.0 : 1.0;
}

double hale_detect_update(hale_detect *d, int64_t t_ms, double value)
{
    struct resid rs;
    bool commit;
    double s;

    d->st.samples++;
    if (!isfinite(value) || fabs(value) > VALUE_MAX) {
        d->st.nonfinite++;
        return 0.0;
    }
    /* Beyond +-2^53 ms (285,000 years) time is clamped, so no time arithmetic can overflow. */
    if (t_ms > DET_TIME_MAX)
        t_ms = DET_TIME_MAX;
    else if (t_ms < -DET_TIME_MAX)
        t_ms = -DET_TIME_MAX;
    commit = d->st.learned == 0 || t_ms >= d->newest_ms;
    if (!commit)
        d->st.out_of_order++;
    residuals(d, t_ms, value, &rs);
    if (d->o.kind == HALE_DETECT_ENSEMBLE)
        s = ensemble_score(d, &rs, commit);
    else
        s = single_score(d, &rs);
    if (commit)
        learn(d, t_ms, value, &rs);
    return s;
}
