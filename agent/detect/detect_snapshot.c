/* agent/detect/detect_snapshot.c - a detector's state as a versioned, checksummed byte blob
 * (for the store), and back. The layout is explicit little-endian field by field, never a
 * memory image, so it does not depend on the compiler's struct layout; decoding checks every
 * field, because a blob from disk is untrusted input. */
#include "internal.h"

#include <math.h>

#include "detect/detect_int.h"
#include "hale/diag.h"

static const uint8_t magic[4] = {'H', 'D', 'E', 'T'};

#define N_OPT_U32   6 /* kind, warmup, lik_short, refractory, season_buckets, lik_start */
#define N_OPT_F64   8
#define N_EW        3
#define N_STATE_F64 2 /* vmin, vmax */
#define LIK_BYTES   (DET_SHORT_MAX * 8 + 8 + 4 + 8 + 8 + 8 + 8)
#define STATS_U64   6
#define BODY_BYTES                                                                                 \
    (N_OPT_U32 * 4 + N_OPT_F64 * 8 + N_EW * 24 + 5 * 8 + 8 + 4 + 4 + DET_N_COMP * LIK_BYTES +      \
     DET_SEASON_MAX * 12 + STATS_U64 * 8 + N_STATE_F64 * 8 + DET_SEEN_BITS / 8 + 4)
#define SNAP_BYTES (4 + 4 + 4 + BODY_BYTES + 4) /* magic, version, length, body, crc */
#define STATE_MAX  1e300 /* any learned number beyond this magnitude is corruption */

static uint32_t crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;

    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

struct wr {
    uint8_t *p;
    size_t pos;
};

static void put_u32(struct wr *w, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        w->p[w->pos++] = (uint8_t)(v >> (8 * i));
}

static void put_u64(struct wr *w, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        w->p[w->pos++] = (uint8_t)(v >> (8 * i));
}

static void put_f64(struct wr *w, double v)
{
    uint64_t u;

    memcpy(&u, &v, sizeof(u));
    put_u64(w, u);
}

static void put_ew(struct wr *w, const struct det_ew *e)
{
    put_f64(w, e->mean);
    put_f64(w, e->dev);
    put_u64(w, e->n);
}

size_t hale_detect_snapshot_size(void)
{
    return SNAP_BYTES;
}

static void put_state(struct wr *w, const hale_detect *d)
{
    put_ew(w, &d->level);
    put_ew(w, &d->step);
    put_ew(w, &d->sres);
    put_f64(w, d->cus_pos);
    put_f64(w, d->cus_neg);
    put_f64(w, d->cus_ref);
    put_f64(w, d->prev_value);
    put_f64(w, d->step_ms);
    put_u64(w, (uint64_t)d->newest_ms);
    put_u32(w, d->have_prev ? 1 : 0);
    put_u32(w, d->refr_left);
    put_f64(w, d->vmin);
    put_f64(w, d->vmax);
    for (int i = 0; i < DET_N_COMP; i++) {
        const struct det_lik *l = &d->lik[i];

        for (int k = 0; k < DET_SHORT_MAX; k++)
            put_f64(w, l->ring[k]);
        put_f64(w, l->sum);
        put_u32(w, l->pos);
        put_u64(w, l->n);
        put_u64(w, l->n_dist);
        put_f64(w, l->mean);
        put_f64(w, l->var);
    }
    for (int b = 0; b < DET_SEASON_MAX; b++)
        put_f64(w, d->season[b]);
    for (int b = 0; b < DET_SEASON_MAX; b++)
        put_u32(w, d->season_n[b]);
    for (unsigned i = 0; i < DET_SEEN_BITS / 64; i++)
        put_u64(w, d->seen[i]);
    put_u32(w, d->context);
    put_u64(w, d->st.samples);
    put_u64(w, d->st.learned);
    put_u64(w, d->st.nonfinite);
    put_u64(w, d->st.out_of_order);
    put_u64(w, d->st.gaps);
    put_u64(w, d->st.alarms);
}

int hale_detect_snapshot(const hale_detect *d, void *buf, size_t cap)
{
    struct wr w = {buf, 0};

    if (cap < SNAP_BYTES)
        return -ENOBUFS;
    memcpy(w.p, magic, 4);
    w.pos = 4;
    put_u32(&w, HALE_DETECT_SNAPSHOT_VERSION);
    put_u32(&w, SNAP_BYTES);
    put_u32(&w, (uint32_t)d->o.kind);
    put_u32(&w, d->o.warmup);
    put_u32(&w, d->o.lik_short);
    put_u32(&w, d->o.refractory);
    put_u32(&w, d->o.season_buckets);
    put_u32(&w, d->o.lik_start);
    put_f64(&w, d->o.level_halflife);
    put_f64(&w, d->o.winsor_z);
    put_f64(&w, d->o.cusum_k);
    put_f64(&w, d->o.cusum_h);
    put_f64(&w, d->o.lik_halflife);
    put_f64(&w, d->o.alarm_level);
    put_f64(&w, d->o.season_halflife);
    put_f64(&w, d->o.range_tol);
    put_state(&w, d);
    put_u32(&w, crc32(w.p, w.pos));
    HALE_ASSERT(w.pos == SNAP_BYTES);
    return (int)w.pos;
}

/* Reader: the first failing field is remembered and every later read is a no-op. */
struct rd {
    const uint8_t *p;
    size_t pos;
    const char *bad; /* name of the first invalid field, or NULL */
};

static uint32_t get_u32(struct rd *r)
{
    uint32_t v = 0;

    for (int i = 0; i < 4; i++)
        v |= (uint32_t)r->p[r->pos++] << (8 * i);
    return v;
}

static uint64_t get_u64(struct rd *r)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v |= (uint64_t)r->p[r->pos++] << (8 * i);
    return v;
}

/* A finite double in [lo, hi]; otherwise marks the field bad. */
static double get_f64(struct rd *r, const char *field, double lo, double hi)
{
    uint64_t u = get_u64(r);
    double v;

    memcpy(&v, &u, sizeof(v));
    if (!(isfinite(v) && v >= lo && v <= hi)) {
        if (!r->bad)
            r->bad = field;
        return 0.0;
    }
    return v;
}

static void check(struct rd *r, bool ok, const char *field)
{
    if (!ok && !r->bad)
        r->bad = field;
}

static void get_ew(struct rd *r, struct det_ew *e, const char *field)
{
    e->mean = get_f64(r, field, -STATE_MAX, STATE_MAX);
    e->dev = get_f64(r, field, 0.0, STATE_MAX);
    e->n = get_u64(r);
}

static void get_lik(struct rd *r, struct det_lik *l, uint32_t w)
{
    double sum = 0.0;

    for (int k = 0; k < DET_SHORT_MAX; k++) {
        l->ring[k] = get_f64(r, "likelihood ring", 0.0, 1.0);
        check(r, k < (int)w || l->ring[k] == 0.0, "likelihood ring");
        sum += l->ring[k];
    }
    l->sum = get_f64(r, "likelihood sum", 0.0, DET_SHORT_MAX);
    check(r, fabs(l->sum - sum) <= 1e-6, "likelihood sum");
    l->pos = get_u32(r);
    check(r, l->pos < w, "likelihood position");
    l->n = get_u64(r);
    l->n_dist = get_u64(r);
    check(r, l->n_dist <= l->n, "likelihood count");
    l->mean = get_f64(r, "likelihood mean", 0.0, 1.0);
    l->var = get_f64(r, "likelihood variance", 0.0, 1.0);
}

static void get_state(struct rd *r, hale_detect *d)
{
    get_ew(r, &d->level, "level");
    get_ew(r, &d->step, "step");
    get_ew(r, &d->sres, "seasonal residual");
    d->cus_pos = get_f64(r, "cusum", 0.0, STATE_MAX);
    d->cus_neg = get_f64(r, "cusum", 0.0, STATE_MAX);
    d->cus_ref = get_f64(r, "cusum reference", -STATE_MAX, STATE_MAX);
    d->prev_value = get_f64(r, "previous value", -STATE_MAX, STATE_MAX);
    d->step_ms = get_f64(r, "sampling step", 0.0, STATE_MAX);
    d->newest_ms = (int64_t)get_u64(r);
    check(r, d->newest_ms >= -DET_TIME_MAX && d->newest_ms <= DET_TIME_MAX, "newest timestamp");
    d->have_prev = get_u32(r) != 0;
    d->refr_left = get_u32(r);
    check(r, d->refr_left <= d->o.refractory, "refractory counter");
    d->vmin = get_f64(r, "minimum", -STATE_MAX, STATE_MAX);
    d->vmax = get_f64(r, "maximum", -STATE_MAX, STATE_MAX);
    check(r, d->vmin <= d->vmax, "minimum");
    for (int i = 0; i < DET_N_COMP; i++)
        get_lik(r, &d->lik[i], d->o.lik_short);
    for (int b = 0; b < DET_SEASON_MAX; b++)
        d->season[b] = get_f64(r, "season profile", -STATE_MAX, STATE_MAX);
    for (uint32_t b = 0; b < DET_SEASON_MAX; b++) {
        d->season_n[b] = get_u32(r);
        check(r, b < d->o.season_buckets || d->season_n[b] == 0, "season visits");
    }
    for (unsigned i = 0; i < DET_SEEN_BITS / 64; i++)
        d->seen[i] = get_u64(r);
    d->context = get_u32(r);
    check(r, d->context < (1u << (DET_LEVEL_BITS * DET_CONTEXT)), "novelty context");
    d->st.samples = get_u64(r);
    d->st.learned = get_u64(r);
    d->st.nonfinite = get_u64(r);
    d->st.out_of_order = get_u64(r);
    d->st.gaps = get_u64(r);
    d->st.alarms = get_u64(r);
    check(r, d->st.learned + d->st.nonfinite + d->st.out_of_order <= d->st.samples, "counters");
    check(r,
          d->level.n <= d->st.learned && d->step.n <= d->st.learned && d->sres.n <= d->st.learned,
          "sample counts");
}

static int get_opts(struct rd *r, hale_detect_opts *o, hale_diag *reterr_diag)
{
    uint32_t kind = get_u32(r);

    o->kind = kind < HALE_DETECT_KIND_COUNT ? (hale_detect_kind)kind : HALE_DETECT_KIND_COUNT;
    o->warmup = get_u32(r);
    o->lik_short = get_u32(r);
    o->refractory = get_u32(r);
    o->season_buckets = get_u32(r);
    o->lik_start = get_u32(r);
    o->level_halflife = get_f64(r, "level_halflife", 1.0, 1e7);
    o->winsor_z = get_f64(r, "winsor_z", 1.0, 100.0);
    o->cusum_k = get_f64(r, "cusum_k", 0.0, 10.0);
    o->cusum_h = get_f64(r, "cusum_h", 0.5, 1000.0);
    o->lik_halflife = get_f64(r, "lik_halflife", 1.0, 1e7);
    o->alarm_level = get_f64(r, "alarm_level", 1e-9, 1.0);
    o->season_halflife = get_f64(r, "season_halflife", 0.5, 1e6);
    o->range_tol = get_f64(r, "range_tol", 0.0, 100.0);
    if (r->bad) {
        hale_diag_set(reterr_diag, "detector snapshot: option %s is out of range", r->bad);
        return HALE_EPARSE;
    }
    check(r, o->warmup && o->lik_short && o->refractory && o->season_buckets, "options");
    if (r->bad || hale__detect_opts_check(o, reterr_diag) < 0) {
        hale_diag_set(reterr_diag, "detector snapshot: options are out of range");
        return HALE_EPARSE;
    }
    return 0;
}

static int fail(hale_diag *d, const char *what)
{
    hale_diag_set(d, "detector snapshot: %s", what);
    return HALE_EPARSE;
}

int hale_detect_restore(const void *buf, size_t len, hale_detect **ret, hale_diag *reterr_diag)
{
    struct rd r = {buf, 0, NULL};
    hale_detect *d;
    uint32_t version, total, crc;
    int rc;

    if (!buf || len < 12)
        return fail(reterr_diag, "too short to hold a header");
    if (memcmp(r.p, magic, 4) != 0)
        return fail(reterr_diag, "bad magic, expected \"HDET\"");
    r.pos = 4;
    version = get_u32(&r);
    if (version != HALE_DETECT_SNAPSHOT_VERSION) {
        hale_diag_set(reterr_diag, "detector snapshot: format version %u, expected %u", version,
                      HALE_DETECT_SNAPSHOT_VERSION);
        return HALE_EPARSE;
    }
    total = get_u32(&r);
    if (total != SNAP_BYTES || len != SNAP_BYTES)
        return fail(reterr_diag, "length does not match format version 1");
    r.pos = SNAP_BYTES - 4;
    crc = get_u32(&r);
    if (crc != crc32(r.p, SNAP_BYTES - 4))
        return fail(reterr_diag, "checksum mismatch (truncated or corrupted)");
    r.pos = 12;
    d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    rc = get_opts(&r, &d->o, reterr_diag);
    if (rc < 0)
        goto out_free;
    hale__detect_derive(d);
    get_state(&r, d);
    if (r.bad) {
        hale_diag_set(reterr_diag, "detector snapshot: field '%s' is invalid", r.bad);
        rc = HALE_EPARSE;
        goto out_free;
    }
    HALE_ASSERT(r.pos == SNAP_BYTES - 4);
    *ret = d;
    return 0;
out_free:
    free(d);
    return rc;
}
