/* agent/metrics/metrics_json.c - the forecasts view for GET /api/v1/forecasts and
 * `hale forecasts list`: per series with a history, its newest value, its capacity forecast
 * (summary, or every point for one series) and its exhaustion prediction. */
#include "internal.h"

#include <math.h>

#include "metrics/metrics_int.h"
#include "util/timeutil.h"

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *time_json(int64_t ms)
{
    char t[40];

    return ms ? json_string(hale_rfc3339_format(ms, t, sizeof(t))) : json_null();
}

static json_t *point_json(const struct hale__metrics_fc *fc, uint32_t k, int64_t step_ms)
{
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "t", time_json((fc->end_b + 1 + k) * step_ms),
                     "value", num(fc->point[k]), "lo80", num(fc->lo80[k]), "hi80", num(fc->hi80[k]),
                     "lo95", num(fc->lo95[k]), "hi95", num(fc->hi95[k]));
}

static json_t *forecast_json(const struct hale__metrics_fc *fc, int64_t step_ms, bool points)
{
    static const unsigned at_h[] = {1, 6, 24};
    json_t *o, *arr;

    if (!fc)
        return json_null();
    o = json_pack("{s:s,s:I,s:o,s:I,s:I,s:o}", "model",
                  hale_forecast_model_name(fc->fit.model) ? hale_forecast_model_name(fc->fit.model)
                                                          : "?",
                  "period", (json_int_t)fc->fit.period, "fitted_at", time_json(fc->fitted_ms),
                  "points_used", (json_int_t)fc->fit.used, "horizon_points",
                  (json_int_t)fc->horizon, "sigma", num(fc->fit.sigma));
    for (size_t i = 0; o && i < HALE_ARRAY_SIZE(at_h); i++) {
        int64_t k = (int64_t)at_h[i] * 3600000 / step_ms - 1;
        char name[16];

        snprintf(name, sizeof(name), "at_%uh", at_h[i]);
        if (k >= 0 && k < (int64_t)fc->horizon)
            json_object_set_new(o, name, point_json(fc, (uint32_t)k, step_ms));
    }
    if (o && points) {
        arr = json_array();
        for (uint32_t k = 0; arr && k < fc->horizon; k++)
            if (json_array_append_new(arr, point_json(fc, k, step_ms)) < 0)
                json_decref(arr), arr = NULL;
        if (!arr || json_object_set_new(o, "points", arr) < 0)
            json_decref(o), o = NULL;
    }
    return o;
}

static json_t *exhaustion_json(const struct hale__metrics_series *s)
{
    if (!s->exh)
        return json_null();
    return json_pack("{s:f,s:f,s:f,s:b,s:o,s:o}", "limit", s->exh->limit, "horizon_h",
                     s->exh->horizon_h, "probability_min", s->exh->probability, "firing",
                     s->exh_firing, "probability", num(s->exh_probability), "expected_at",
                     time_json(s->exh_expected_ms));
}

static json_t *series_json(const hale_metrics *m, const struct hale__metrics_series *s, bool points)
{
    hale_detect_stats st;
    int64_t step_ms = hale__metrics_step_ms(m);

    hale_detect_get_stats(s->det, &st);
    return json_pack(
        "{s:s,s:s,s:o,s:I,s:I,s:o,s:o,s:f,s:b,s:I,s:o,s:o,s:{s:I,s:I}}", "series", s->key, "metric",
        s->ident.name, "labels", hale__metrics_labels_json(&s->ident), "samples",
        (json_int_t)s->samples, "detector_learned", (json_int_t)st.learned, "value",
        s->samples ? num(s->last_value) : json_null(), "t", time_json(s->newest_ms), "score",
        s->last_score, "anomaly", s->hyst.active, "step_s", (json_int_t)(step_ms / 1000),
        "forecast", forecast_json(s->fc, step_ms, points), "exhaustion", exhaustion_json(s),
        "drift", "checks", (json_int_t)s->drift_n, "window",
        (json_int_t)m->cfg->metrics.drift_window);
}

int hale_metrics_forecasts_json(const hale_metrics *m, const char *series, json_t **ret)
{
    json_t *arr, *o;

    if (series) {
        const struct hale__metrics_series *s = hale_map_get(m->by_key, series);

        if (!s || !s->ring)
            return HALE_ENOTFOUND;
        if (!(o = series_json(m, s, true)))
            return -ENOMEM;
        *ret = o;
        return 0;
    }
    if (!(arr = json_array()))
        return -ENOMEM;
    for (size_t i = 0; i < m->n_series; i++) {
        if (!m->series[i]->ring)
            continue;
        if (json_array_append_new(arr, series_json(m, m->series[i], false)) < 0) {
            json_decref(arr);
            return -ENOMEM;
        }
    }
    o = json_pack("{s:o,s:I}", "forecasts", arr, "series_total", (json_int_t)m->n_series);
    if (!o)
        return -ENOMEM;
    *ret = o;
    return 0;
}
