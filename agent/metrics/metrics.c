/* agent/metrics/metrics.c - the series registry: identity, the max_series cap, and the path of
 * one sample through its series' detector and anomaly hysteresis (O(1), on the loop thread).
 * Fitting happens elsewhere, in jobs (metrics_model.c). */
#include "internal.h"

#include <math.h>

#include "metrics/metrics_int.h"
#include "util/alloc.h"

hale_metrics_hyst_event hale_metrics_hyst_step(hale_metrics_hyst *h, double score, int64_t t_ms,
                                               double enter, double exit_, int64_t min_ms)
{
    if (!h->active) {
        if (!h->pending && score >= enter) {
            h->pending = true;
            h->mark_ms = t_ms;
            h->peak = score;
        } else if (h->pending && score < exit_) {
            h->pending = false;
            return HALE_METRICS_HYST_NONE;
        }
        if (!h->pending)
            return HALE_METRICS_HYST_NONE;
        if (score > h->peak)
            h->peak = score;
        if (t_ms - h->mark_ms < min_ms)
            return HALE_METRICS_HYST_NONE;
        h->active = true;
        h->pending = false;
        h->since_ms = h->mark_ms;
        return HALE_METRICS_HYST_ENTER;
    }
    if (score >= exit_) {
        h->pending = false;
        if (score > h->peak)
            h->peak = score;
        return HALE_METRICS_HYST_NONE;
    }
    if (!h->pending) {
        h->pending = true;
        h->mark_ms = t_ms;
    }
    if (t_ms - h->mark_ms < min_ms)
        return HALE_METRICS_HYST_NONE;
    h->active = false;
    h->pending = false;
    return HALE_METRICS_HYST_LEAVE;
}

int hale_metrics_new(hale_config *cfg, const hale_metrics_sink *sink, hale_metrics **ret)
{
    hale_metrics *m = calloc(1, sizeof(*m));

    if (!m)
        return -ENOMEM;
    if (!(m->by_key = hale_map_new())) {
        free(m);
        return -ENOMEM;
    }
    m->cfg = hale_config_ref(cfg);
    hale_buf_init(&m->key, HALE__METRICS_MAX_KEY);
    if (sink)
        m->sink = *sink;
    *ret = m;
    return 0;
}

static void series_free(struct hale__metrics_series *s)
{
    if (!s)
        return;
    free(s->key);
    free(s->ident_block);
    hale_detect_free(s->det);
    hale__metrics_ring_free(s->ring);
    hale__metrics_fc_free(s->fc);
    free(s);
}

void hale_metrics_free(hale_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_series; i++)
        series_free(m->series[i]);
    free(m->series);
    hale_map_free(m->by_key);
    hale_buf_release(&m->key);
    hale_config_unref(m->cfg);
    free(m);
}

int64_t hale__metrics_step_ms(const hale_metrics *m)
{
    return (int64_t)m->cfg->metrics.step_s * 1000;
}

static bool rule_matches(const hale_metrics_rule_config *r, const hale_sample *s)
{
    if (strcmp(r->metric, s->name) != 0)
        return false;
    for (size_t i = 0; i < r->n_match; i++) {
        size_t j;

        for (j = 0; j < s->n_labels; j++)
            if (strcmp(s->labels[2 * j], r->match[2 * i]) == 0)
                break;
        if (j == s->n_labels || strcmp(s->labels[2 * j + 1], r->match[2 * i + 1]) != 0)
            return false;
    }
    return true;
}

static int series_new(hale_metrics *m, const hale_sample *smp, char *key,
                      struct hale__metrics_series **ret)
{
    const hale_metrics_config *mc = &m->cfg->metrics;
    struct hale__metrics_series *s = calloc(1, sizeof(*s));
    uint32_t cap;
    int r;

    if (!s) {
        free(key);
        return -ENOMEM;
    }
    s->key = key;
    if ((r = hale__metrics_sample_copy(smp, &s->ident, &s->ident_block)) < 0 ||
        (r = hale_detect_new(NULL, &s->det, NULL)) < 0)
        goto fail;
    for (size_t i = 0; !s->exh && i < mc->n_exhaustion; i++)
        if (rule_matches(&mc->exhaustion[i], smp))
            s->exh = &mc->exhaustion[i];
    for (size_t i = 0; !s->capacity && i < mc->n_capacity; i++)
        s->capacity = rule_matches(&mc->capacity[i], smp);
    cap = (uint32_t)(HALE__METRICS_HISTORY_DAYS * 86400u / mc->step_s);
    if (cap > HALE__METRICS_MAX_BUCKETS)
        cap = HALE__METRICS_MAX_BUCKETS;
    if (cap < 4 * HALE__METRICS_MIN_HISTORY)
        cap = 4 * HALE__METRICS_MIN_HISTORY;
    if ((s->exh || s->capacity) && (r = hale__metrics_ring_new(cap, &s->ring)) < 0)
        goto fail;
    *ret = s;
    return 0;
fail:
    series_free(s);
    return r;
}

int hale__metrics_series_get(hale_metrics *m, const hale_sample *smp,
                             struct hale__metrics_series **ret)
{
    struct hale__metrics_series *s;
    void *arr = m->series;
    size_t cap = m->cap_series;
    char *key;
    int r;

    /* Looked up in scratch space: a key is copied only for a new series. */
    hale_buf_reset(&m->key);
    if (hale__metrics_series_key_append(&m->key, smp) < 0)
        return -ENOMEM;
    if ((s = hale_map_get(m->by_key, m->key.data))) {
        *ret = s;
        return 0;
    }
    if (m->n_series >= m->cfg->metrics.max_series)
        return HALE_ELIMIT;
    if (hale_grow(&arr, &cap, m->n_series, sizeof(*m->series)) < 0)
        return -ENOMEM;
    m->series = arr;
    m->cap_series = cap;
    if (!(key = strdup(m->key.data)))
        return -ENOMEM;
    if ((r = series_new(m, smp, key, &s)) < 0)
        return r;
    if (hale_map_put(m->by_key, s->key, s) < 0) {
        series_free(s);
        return -ENOMEM;
    }
    s->id = (uint32_t)m->n_series;
    m->series[m->n_series++] = s;
    *ret = s;
    return 0;
}

static void signal_anomaly(hale_metrics *m, struct hale__metrics_series *s, const hale_sample *smp,
                           bool firing)
{
    hale_metrics_signal sig = {.kind = HALE_METRICS_SIGNAL_ANOMALY,
                               .firing = firing,
                               .series = s->key,
                               .sample = smp,
                               .score = s->hyst.peak,
                               .since_ms = s->hyst.since_ms};

    if (m->sink.signal && !m->sink.signal(&sig, m->sink.ud)) {
        s->hyst.active = !firing; /* not raised: the next sample tries again */
        s->hyst.pending = false;
        return;
    }
    if (firing)
        m->counts.anomalies++;
}

/* Watch the score distribution: a recent mean that stays well above the long-run one for a
 * whole drift window means the detector no longer describes the series (a series with a
 * history gets its detector refit from it). */
static void watch_scores(hale_metrics *m, struct hale__metrics_series *s)
{
    const hale_metrics_config *mc = &m->cfg->metrics;
    double a_short = 1 - exp2(-1 / HALE__METRICS_SHIFT_SHORT);
    double a_long = 1 - exp2(-1 / HALE__METRICS_SHIFT_LONG);
    bool shifted;

    if (s->samples < HALE__METRICS_SHIFT_START || !isfinite(s->last_score))
        return;
    s->score_short += a_short * (s->last_score - s->score_short);
    s->score_long += a_long * (s->last_score - s->score_long);
    shifted = s->score_short > HALE__METRICS_SHIFT_LEVEL &&
              s->score_short > HALE__METRICS_SHIFT_RATIO * s->score_long;
    s->shift_run = shifted ? s->shift_run + 1 : 0;
    if (s->ring && !s->det_refit_due && s->shift_run >= mc->drift_window &&
        (s->det_refit_at == 0 ||
         s->samples - s->det_refit_at >= HALE__METRICS_SHIFT_COOL * mc->drift_window))
        s->det_refit_due = true;
}

int hale_metrics_observe(hale_metrics *m, const hale_sample *smp)
{
    const hale_metrics_config *mc = &m->cfg->metrics;
    struct hale__metrics_series *s = NULL;
    hale_metrics_hyst_event ev;
    bool learn;
    int r;

    m->counts.samples++;
    r = hale__metrics_series_get(m, smp, &s);
    if (r == HALE_ELIMIT)
        m->counts.refused_series++;
    if (r < 0)
        return r;
    if (!isfinite(smp->value)) {
        m->counts.nonfinite++;
        (void)hale_detect_update(s->det, smp->t_ms, smp->value); /* counted by the detector */
        return 0;
    }
    if (s->samples > 0 && smp->t_ms == s->newest_ms) {
        m->counts.duplicates++; /* a re-sent sample (overlapping Prometheus ranges) */
        return 0;
    }
    learn = s->samples == 0 || smp->t_ms > s->newest_ms;
    s->last_score = hale_detect_update(s->det, smp->t_ms, smp->value);
    s->dirty = true;
    if (!learn) {
        m->counts.out_of_order++;
        return 0;
    }
    m->counts.learned++;
    s->samples++;
    s->newest_ms = smp->t_ms;
    s->last_value = smp->value;
    if (s->ring)
        hale__metrics_ring_add(m, s, smp->t_ms, smp->value);
    watch_scores(m, s);
    ev = hale_metrics_hyst_step(&s->hyst, s->last_score, smp->t_ms, mc->anomaly_enter,
                                mc->anomaly_exit, (int64_t)mc->anomaly_min_duration_s * 1000);
    if (ev != HALE_METRICS_HYST_NONE)
        signal_anomaly(m, s, smp, ev == HALE_METRICS_HYST_ENTER);
    return 0;
}

void hale_metrics_get_counts(const hale_metrics *m, hale_metrics_counts *ret)
{
    *ret = m->counts;
}

size_t hale_metrics_series_count(const hale_metrics *m)
{
    return m->n_series;
}
