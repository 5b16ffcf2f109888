/* agent/metrics/metrics_model.c - per-series history and the models fitted on it: exhaustion
 * predictions (Theil-Sen trend crossing a limit), 24-hour capacity forecasts (the automatic
 * forecaster) and the drift check of those forecasts against what then happened. Fitting runs
 * in jobs off the loop thread; the loop thread only copies histories in and results out. */
#include "internal.h"

#include <math.h>

#include "metrics/metrics_int.h"
#include "util/timeutil.h"

int hale__metrics_ring_new(uint32_t cap, struct hale__metrics_ring **ret)
{
    struct hale__metrics_ring *r = calloc(1, sizeof(*r));

    if (!r || !(r->v = malloc(cap * sizeof(float)))) {
        free(r);
        return -ENOMEM;
    }
    r->cap = cap;
    for (uint32_t i = 0; i < cap; i++)
        r->v[i] = NAN;
    *ret = r;
    return 0;
}

void hale__metrics_ring_free(struct hale__metrics_ring *r)
{
    if (r)
        free(r->v);
    free(r);
}

void hale__metrics_fc_free(struct hale__metrics_fc *fc)
{
    if (fc)
        free(fc->point);
    free(fc);
}

static float *ring_at(struct hale__metrics_ring *r, int64_t b)
{
    return &r->v[(uint64_t)b % r->cap];
}

/* A closed bucket against the forecast made before it: inside its 95 % interval or not. */
static void drift_check(hale_metrics *m, struct hale__metrics_series *s, int64_t b, double v)
{
    const hale_metrics_config *mc = &m->cfg->metrics;
    const struct hale__metrics_fc *fc = s->fc;
    int64_t k = fc ? b - (fc->end_b + 1) : -1;
    uint32_t misses = 0;
    bool miss;

    if (k < 0 || k >= (int64_t)fc->horizon || !isfinite(v))
        return;
    miss = !(v >= fc->lo95[k] && v <= fc->hi95[k]);
    if (miss)
        s->drift_bits[s->drift_pos / 64] |= UINT64_C(1) << (s->drift_pos % 64);
    else
        s->drift_bits[s->drift_pos / 64] &= ~(UINT64_C(1) << (s->drift_pos % 64));
    s->drift_pos = (s->drift_pos + 1) % (uint32_t)mc->drift_window;
    if (s->drift_n < mc->drift_window)
        s->drift_n++;
    for (uint32_t i = 0; i < s->drift_n; i++)
        misses += (s->drift_bits[i / 64] >> (i % 64)) & 1u;
    if (s->drift_n >= HALE__METRICS_DRIFT_MIN_PTS && !s->refit_reason &&
        (double)misses / s->drift_n > mc->drift_miss_ratio) {
        s->refit_reason = "forecast_interval_misses";
        s->refit_miss_ratio = (double)misses / s->drift_n;
    }
}

void hale__metrics_ring_add(hale_metrics *m, struct hale__metrics_series *s, int64_t t_ms, double v)
{
    struct hale__metrics_ring *r = s->ring;
    int64_t b = t_ms / hale__metrics_step_ms(m);

    if (r->n > 0 && b < r->head_b)
        return; /* cannot happen for learned samples; kept for safety */
    if (r->n > 0 && b > r->head_b) {
        int64_t gap = b - r->head_b;

        drift_check(m, s, r->head_b, *ring_at(r, r->head_b));
        for (int64_t i = 1; i < gap && i <= r->cap; i++)
            *ring_at(r, r->head_b + i) = NAN;
        r->n = gap >= r->cap ? r->cap : (uint32_t)(r->n + gap > r->cap ? r->cap : r->n + gap);
    } else if (r->n == 0) {
        r->n = 1;
    }
    r->head_b = b;
    *ring_at(r, b) = (float)v;
    s->version++;
}

struct job_item {
    uint32_t id;          /* series */
    uint64_t version;     /* its ring version when copied */
    double *y;            /* history, oldest first, owned */
    size_t n;             /* values in y */
    int64_t end_b;        /* bucket of y[n-1] */
    int64_t newest_ms;    /* the series' newest sample */
    bool want_exh;        /* evaluate the exhaustion rule */
    double limit;         /* its limit */
    double horizon_steps; /* and horizon in buckets */
    const char *reason;   /* forecast wanted: "initial", "schedule" or a drift reason */
    int exh_r;            /* result of the crossing */
    hale_forecast_crossing cross;
    int fc_r;                    /* result of the forecast */
    struct hale__metrics_fc *fc; /* made by run, taken by apply */
    bool refit_det;              /* the score distribution shifted: a new detector */
    hale_detect *det;            /* made by run from the history, taken by apply */
};

struct hale_metrics_job {
    int64_t now_ms;  /* when planned */
    int64_t step_ms; /* bucket width */
    size_t n;        /* items */
    struct job_item items[];
};

static size_t finite_count(const struct hale__metrics_ring *r)
{
    size_t n = 0;

    for (uint32_t i = 0; i < r->n; i++)
        n += isfinite(r->v[(uint64_t)(r->head_b - i) % r->cap]) != 0;
    return n;
}

static const char *forecast_reason(const struct hale__metrics_series *s, int64_t now_ms)
{
    if (!s->capacity)
        return NULL;
    if (s->refit_reason)
        return s->refit_reason;
    if (!s->fc)
        return "initial";
    if (now_ms - s->fc->fitted_ms >= (int64_t)HALE__METRICS_REFIT_H * 3600000)
        return "schedule";
    return NULL;
}

static int plan_item(hale_metrics *m, struct hale__metrics_series *s, int64_t now_ms,
                     struct job_item *it)
{
    const struct hale__metrics_ring *r = s->ring;

    *it = (struct job_item){.id = s->id,
                            .version = s->version,
                            .n = r->n,
                            .end_b = r->head_b,
                            .newest_ms = s->newest_ms,
                            .want_exh = s->exh != NULL,
                            .reason = forecast_reason(s, now_ms),
                            .refit_det = s->det_refit_due};
    if (s->exh) {
        it->limit = s->exh->limit;
        it->horizon_steps = s->exh->horizon_h * 3600000.0 / (double)hale__metrics_step_ms(m);
    }
    if (!(it->y = malloc(r->n * sizeof(double))))
        return -ENOMEM;
    for (uint32_t i = 0; i < r->n; i++)
        it->y[i] = r->v[(uint64_t)(r->head_b - (r->n - 1) + i) % r->cap];
    return 0;
}

int hale_metrics_job_plan(hale_metrics *m, int64_t now_ms, hale_metrics_job **ret)
{
    size_t n = 0, total = m->n_series, start = m->job_cursor, k;
    hale_metrics_job *j;
    int r = 0;

    j = calloc(1, sizeof(*j) + HALE__METRICS_JOB_SERIES * sizeof(j->items[0]));
    if (!j)
        return -ENOMEM;
    j->now_ms = now_ms;
    j->step_ms = hale__metrics_step_ms(m);
    /* Round robin from where the last job stopped, so no series waits behind a busy set. */
    for (k = 0; r == 0 && k < total && n < HALE__METRICS_JOB_SERIES; k++) {
        struct hale__metrics_series *s = m->series[(start + k) % total];

        if (!s->ring || s->in_job ||
            (s->version == s->evaluated && !forecast_reason(s, now_ms) && !s->det_refit_due))
            continue;
        if (finite_count(s->ring) < HALE__METRICS_MIN_HISTORY)
            continue;
        r = plan_item(m, s, now_ms, &j->items[n]);
        if (r == 0) {
            s->in_job = true;
            n++;
        }
    }
    if (total)
        m->job_cursor = (uint32_t)((start + k) % total);
    j->n = n;
    if (r < 0 || n == 0) {
        hale_metrics_job_cancel(m, j);
        *ret = NULL;
        return r;
    }
    *ret = j;
    return 0;
}

void hale_metrics_job_cancel(hale_metrics *m, hale_metrics_job *j)
{
    for (size_t i = 0; j && i < j->n; i++)
        m->series[j->items[i].id]->in_job = false;
    hale_metrics_job_free(j);
}

void hale_metrics_job_free(hale_metrics_job *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->n; i++) {
        free(j->items[i].y);
        hale__metrics_fc_free(j->items[i].fc);
        hale_detect_free(j->items[i].det);
    }
    free(j);
}

static int run_forecast(struct job_item *it, int64_t step_ms, double *work, size_t work_len)
{
    uint32_t h = (uint32_t)(HALE__METRICS_FORECAST_H * 3600000 / step_ms);
    struct hale__metrics_fc *fc = calloc(1, sizeof(*fc));
    double *d = malloc(5 * (size_t)h * sizeof(double));
    float *f = malloc(5 * (size_t)h * sizeof(float));
    hale_forecast_out out;
    int r = -ENOMEM;

    if (!fc || !d || !f)
        goto out;
    out = (hale_forecast_out){d, d + h, d + 2 * h, d + 3 * h, d + 4 * h};
    r = hale_forecast_run(it->y, it->n, h, NULL, work, work_len, &out, &fc->fit, NULL);
    if (r < 0)
        goto out;
    for (size_t i = 0; i < 5 * (size_t)h; i++)
        f[i] = (float)d[i];
    fc->point = f;
    fc->lo80 = f + h;
    fc->hi80 = f + 2 * h;
    fc->lo95 = f + 3 * h;
    fc->hi95 = f + 4 * h;
    fc->horizon = h;
    fc->end_b = it->end_b;
    it->fc = fc;
    fc = NULL;
    f = NULL;
out:
    free(d);
    free(f);
    free(fc);
    return r;
}

/* A fresh detector that learned the history, bucket by bucket at the buckets' times. */
static void run_detector(struct job_item *it, int64_t step_ms)
{
    if (hale_detect_new(NULL, &it->det, NULL) < 0)
        return;
    for (size_t i = 0; i < it->n; i++)
        (void)hale_detect_update(it->det, (it->end_b - (int64_t)(it->n - 1 - i)) * step_ms,
                                 it->y[i]);
}

void hale_metrics_job_run(hale_metrics_job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        struct job_item *it = &j->items[i];
        size_t h = (size_t)(HALE__METRICS_FORECAST_H * 3600000 / j->step_ms);
        size_t len = hale_forecast_work_len(it->n, it->reason ? h : 0);
        double *work = malloc(len * sizeof(double));

        if (!work) {
            it->exh_r = it->fc_r = -ENOMEM;
            continue;
        }
        if (it->want_exh)
            it->exh_r = hale_forecast_crossing_eval(it->y, it->n, it->limit, it->horizon_steps,
                                                    work, len, &it->cross);
        if (it->reason) {
            it->fc_r = run_forecast(it, j->step_ms, work, len);
            if (it->fc)
                it->fc->fitted_ms = j->now_ms;
        }
        if (it->refit_det)
            run_detector(it, j->step_ms);
        free(work);
    }
}

/* Parameters for the audit log, which takes no reals: basis points, and text for sigma. */
json_t *hale__metrics_fit_json(const hale_forecast_fit *f)
{
    char sigma[40];

    snprintf(sigma, sizeof(sigma), "%.6g", f->sigma);
    return json_pack(
        "{s:s,s:I,s:I,s:I,s:I,s:I,s:s,s:I}", "model",
        hale_forecast_model_name(f->model) ? hale_forecast_model_name(f->model) : "?", "period",
        (json_int_t)f->period, "alpha_bp", (json_int_t)llround(f->alpha * 1e4), "beta_bp",
        (json_int_t)llround(f->beta * 1e4), "gamma_bp", (json_int_t)llround(f->gamma * 1e4),
        "phi_bp", (json_int_t)llround(f->phi * 1e4), "sigma", sigma, "members",
        (json_int_t)f->members);
}

static void audit_refit(hale_metrics *m, struct hale__metrics_series *s, const struct job_item *it)
{
    json_t *leaf;

    if (!m->sink.refit_leaf)
        return;
    leaf = json_pack("{s:s,s:s,s:I,s:I,s:o,s:o,s:I}", "series", s->key, "reason", it->reason,
                     "miss_ratio_bp", (json_int_t)llround(s->refit_miss_ratio * 1e4), "checks",
                     (json_int_t)s->drift_n, "old",
                     s->fc ? hale__metrics_fit_json(&s->fc->fit) : json_null(), "new",
                     hale__metrics_fit_json(&it->fc->fit), "points", (json_int_t)it->n);
    if (leaf)
        m->sink.refit_leaf(leaf, m->sink.ud);
}

static void apply_forecast(hale_metrics *m, struct hale__metrics_series *s, struct job_item *it)
{
    bool drift = it->reason != NULL && strcmp(it->reason, "initial") != 0 &&
                 strcmp(it->reason, "schedule") != 0;

    if (it->fc_r < 0 || !it->fc) {
        m->counts.fit_failures++;
        s->refit_reason = NULL;
        return;
    }
    m->counts.fits++;
    if (drift) {
        m->counts.refits++;
        audit_refit(m, s, it);
    }
    hale__metrics_fc_free(s->fc);
    s->fc = it->fc;
    it->fc = NULL;
    s->refit_reason = NULL;
    s->drift_n = s->drift_pos = 0;
    memset(s->drift_bits, 0, sizeof(s->drift_bits));
    s->dirty = true;
}

static json_t *detector_json(const hale_detect *d)
{
    hale_detect_stats st;

    hale_detect_get_stats(d, &st);
    return json_pack(
        "{s:s,s:I,s:I,s:I}", "detector", hale_detect_kind_name(hale_detect_get_kind(d)), "learned",
        (json_int_t)st.learned, "alarms", (json_int_t)st.alarms, "gaps", (json_int_t)st.gaps);
}

/* The new detector learned the history up to the plan; samples learned since by the old one
 * are older than nothing it will see next, so it simply continues from the history. */
static void apply_detector(hale_metrics *m, struct hale__metrics_series *s, struct job_item *it)
{
    json_t *leaf = NULL;

    s->det_refit_due = false;
    if (!it->det)
        return; /* out of memory: tried again at the next shift */
    m->counts.refits++;
    if (m->sink.refit_leaf)
        leaf = json_pack(
            "{s:s,s:s,s:I,s:I,s:I,s:o,s:o,s:I}", "series", s->key, "reason", "score_shift",
            "score_recent_bp", (json_int_t)llround(s->score_short * 1e4), "score_longrun_bp",
            (json_int_t)llround(s->score_long * 1e4), "samples", (json_int_t)s->shift_run, "old",
            detector_json(s->det), "new", detector_json(it->det), "points", (json_int_t)it->n);
    hale_detect_free(s->det);
    s->det = it->det;
    it->det = NULL;
    s->det_refit_at = s->samples;
    s->score_short = s->score_long = 0;
    s->shift_run = 0;
    s->dirty = true;
    if (leaf)
        m->sink.refit_leaf(leaf, m->sink.ud);
}

static void apply_exhaustion(hale_metrics *m, struct hale__metrics_series *s, struct job_item *it)
{
    const hale_forecast_crossing *c = &it->cross;
    bool holds = it->exh_r == 0 && c->crosses && c->probability >= s->exh->probability;
    hale_metrics_signal sig = {.kind = HALE_METRICS_SIGNAL_EXHAUSTION,
                               .series = s->key,
                               .sample = &s->ident,
                               .limit = s->exh->limit,
                               .horizon_h = s->exh->horizon_h,
                               .rule_probability = s->exh->probability};
    hale_sample now = s->ident;

    if (it->exh_r == 0) {
        s->exh_probability = c->probability;
        s->exh_expected_ms =
            isfinite(c->expected_at)
                ? it->newest_ms +
                      (int64_t)llround(c->expected_at * (double)hale__metrics_step_ms(m))
                : 0;
    }
    if (holds) {
        s->exh_clear = 0;
        if (s->exh_firing)
            return;
        s->exh_firing = true;
        sig.firing = true;
    } else {
        if (!s->exh_firing || ++s->exh_clear < HALE__METRICS_CLEAR_RUNS)
            return;
        s->exh_firing = false;
        sig.firing = false;
    }
    s->dirty = true;
    now.value = s->last_value;
    now.t_ms = s->newest_ms;
    sig.sample = &now;
    sig.probability = s->exh_probability;
    sig.expected_ms = s->exh_expected_ms;
    if (m->sink.signal && !m->sink.signal(&sig, m->sink.ud)) {
        s->exh_firing = !sig.firing; /* not raised: the next evaluation tries again */
        s->exh_clear = 0;
        s->evaluated = 0;
        return;
    }
    if (sig.firing)
        m->counts.predictions++;
}

void hale_metrics_job_apply(hale_metrics *m, hale_metrics_job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        struct job_item *it = &j->items[i];
        struct hale__metrics_series *s = m->series[it->id];

        s->in_job = false;
        s->evaluated = it->version;
        if (it->reason)
            apply_forecast(m, s, it);
        if (it->refit_det)
            apply_detector(m, s, it);
        if (it->want_exh && s->exh)
            apply_exhaustion(m, s, it);
    }
    hale_metrics_job_free(j);
}
