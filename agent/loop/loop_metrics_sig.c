/* agent/loop/loop_metrics_sig.c - what the series models say, turned into the loop's inputs:
 * an anomaly or an exhaustion prediction becomes a generic event, parsed and committed exactly
 * as a POST /api/v1/events would be (so grouping makes it an incident or adds it to one), its
 * end a resolved event; predictions and drift refits become audit leaves. Also the API's
 * metric routes and the /metrics families of the metric sources. */
#include "internal.h"

#include <math.h>

#define HALE_LOG_MODULE "metrics"
#include "hale/log.h"
#include "loop/loop_metrics_int.h"
#include "util/buf.h"
#include "util/prom.h"
#include "util/timeutil.h"

#define EVENT_SOURCE     "hale-detect"
#define EXHAUSTION_ALERT "ExhaustionPredicted"
#define ANNOTATION_BYTES 1024u

/* Annotations are strings: numbers as their shortest round-trip text, or to digits places. */
static json_t *fmt(int digits, double v)
{
    char text[64];

    if (digits < 0)
        snprintf(text, sizeof(text), "%.17g", v);
    else
        snprintf(text, sizeof(text), "%.*f", digits, v);
    return json_string(text);
}

static json_t *time_str(int64_t ms)
{
    char t[40];

    return json_string(ms ? hale_rfc3339_format(ms, t, sizeof(t)) : "");
}

/* labels: the series' own, then alertname and metric (which win over series labels of the
 * same name: the event is about the series, not from it). */
static json_t *event_labels(const hale_metrics_signal *s, const char *alertname)
{
    json_t *o = json_object();

    for (size_t i = 0; o && i < s->sample->n_labels; i++)
        json_object_set_new(o, s->sample->labels[2 * i], json_string(s->sample->labels[2 * i + 1]));
    if (o && (json_object_set_new(o, "alertname", json_string(alertname)) < 0 ||
              json_object_set_new(o, "metric", json_string(s->sample->name)) < 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *anomaly_annotations(const hale_metrics_signal *s)
{
    char summary[ANNOTATION_BYTES];

    snprintf(summary, sizeof(summary), "%s: %s (score %.2f, value %.6g)", s->series,
             s->firing ? "anomalous behaviour" : "back to normal", s->score, s->sample->value);
    return json_pack("{s:o,s:o,s:o,s:o,s:s}", "score", fmt(4, s->score), "value",
                     fmt(-1, s->sample->value), "since", time_str(s->since_ms), "sample_time",
                     time_str(s->sample->t_ms), "summary", summary);
}

static json_t *exhaustion_annotations(const hale_metrics_signal *s)
{
    char summary[ANNOTATION_BYTES], at[40];

    hale_rfc3339_format(s->expected_ms, at, sizeof(at));
    if (s->firing)
        snprintf(summary, sizeof(summary),
                 "series %s crosses limit %.6g within %.6g hours with probability %.2f, "
                 "expected at %s",
                 s->series, s->limit, s->horizon_h, s->probability, s->expected_ms ? at : "?");
    else
        snprintf(summary, sizeof(summary),
                 "series %s is no longer predicted to cross %.6g within %.6g hours", s->series,
                 s->limit, s->horizon_h);
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:s}", "limit", fmt(-1, s->limit), "horizon_h",
                     fmt(-1, s->horizon_h), "probability", fmt(4, s->probability), "expected_at",
                     time_str(s->expected_ms), "value", fmt(-1, s->sample->value), "sample_time",
                     time_str(s->sample->t_ms), "summary", summary);
}

/* The prediction leaf: the log takes no reals, so probabilities are basis points and the
 * limit and horizon their shortest exact decimal text. */
static void prediction_leaf(hale_loop *l, const hale_metrics_signal *s)
{
    char limit[40], horizon[40], at[40], value[40];
    json_t *leaf;

    snprintf(limit, sizeof(limit), "%.17g", s->limit);
    snprintf(horizon, sizeof(horizon), "%.17g", s->horizon_h);
    snprintf(value, sizeof(value), "%.17g", s->sample->value);
    leaf = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s}", "series", s->series, "alertname",
                     EXHAUSTION_ALERT, "limit", limit, "horizon_h", horizon, "probability_bp",
                     (json_int_t)llround(s->probability * 1e4), "threshold_bp",
                     (json_int_t)llround(s->rule_probability * 1e4), "expected_at",
                     s->expected_ms ? hale_rfc3339_format(s->expected_ms, at, sizeof(at)) : "",
                     "value", value);
    if (!leaf || hale__loop_audit_queue(l, HALE_AUDIT_KIND_PREDICTION, leaf) < 0)
        log_err("cannot record a prediction in the audit log: out of memory");
}

bool hale__loop_metrics_on_signal(const hale_metrics_signal *s, void *ud)
{
    struct hale__loop_metrics *lm = ud;
    hale_loop *l = lm->l;
    bool anomaly = s->kind == HALE_METRICS_SIGNAL_ANOMALY;
    const char *alertname = anomaly ? l->cfg->metrics.anomaly_alertname : EXHAUSTION_ALERT;
    hale_ingest_batch *batch = NULL;
    hale_diag d = {{0}};
    json_t *ev;
    char *body;
    size_t len;
    int r;

    if (l->draining || lm->closing)
        return false; /* intake is closed: raised again after the restart */
    ev = json_pack("{s:s,s:s,s:s,s:o,s:o}", "source", EVENT_SOURCE, "severity", "warning", "status",
                   s->firing ? "firing" : "resolved", "labels", event_labels(s, alertname),
                   "annotations", anomaly ? anomaly_annotations(s) : exhaustion_annotations(s));
    body = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (!body) {
        log_err("out of memory: the %s event of '%s' waits", alertname, s->series);
        return false;
    }
    len = strlen(body);
    r = hale_ingest_parse_event(body, len, hale_time_now_ms(), &batch, &d);
    if (r < 0) {
        /* Not an event the intake takes (it would never be): said once, not retried. */
        log_err("cannot raise %s for '%s': %s, dropped", alertname, s->series, d.msg);
        free(body);
        return r != -ENOMEM;
    }
    if (hale__loop_submit_internal(l, batch, body, len) < 0)
        return false;
    log_notice("%s %s for '%s'", alertname, s->firing ? "raised" : "resolved", s->series);
    lm->st.events_raised++;
    if (!anomaly && s->firing)
        prediction_leaf(l, s);
    return true;
}

void hale__loop_metrics_on_refit(json_t *payload, void *ud)
{
    struct hale__loop_metrics *lm = ud;

    log_info("model of '%s' refit: %s",
             json_string_value(json_object_get(payload, "series"))
                 ? json_string_value(json_object_get(payload, "series"))
                 : "?",
             json_string_value(json_object_get(payload, "reason"))
                 ? json_string_value(json_object_get(payload, "reason"))
                 : "?");
    if (hale__loop_audit_queue(lm->l, HALE_AUDIT_KIND_MODEL_REFIT, payload) < 0)
        log_err("cannot record a model refit in the audit log: out of memory");
}

void hale__loop_metrics_learn(struct hale__loop_metrics *lm, hale_sample_set *set,
                              enum metrics_src src, size_t *ret_accepted, size_t *ret_refused)
{
    size_t n = hale_sample_set_size(set), ok = 0, refused = 0;

    lm->st.samples_by_src[src] += n;
    for (size_t i = 0; i < n; i++) {
        int r = hale_metrics_observe(lm->reg, hale_sample_set_get(set, i));

        if (r == 0)
            ok++;
        else if (r == HALE_ELIMIT)
            refused++;
        else
            log_warn("cannot learn a sample: %s, ignoring", hale_strerror(r));
    }
    hale_sample_set_free(set);
    *ret_accepted = ok;
    *ret_refused = refused;
}

int hale__loop_api_metrics_ingest(void *ud, hale_sample_set *set, size_t *ret_accepted,
                                  size_t *ret_refused)
{
    hale_loop *l = ud;

    if (!l->metrics || l->metrics->closing) {
        hale_sample_set_free(set);
        return HALE_ESTATE;
    }
    hale__loop_metrics_learn(l->metrics, set, SRC_API, ret_accepted, ret_refused);
    return 0;
}

size_t hale__loop_api_metrics_max(void *ud)
{
    return (size_t)((hale_loop *)ud)->cfg->metrics.max_samples_per_request;
}

int hale__loop_api_forecasts(void *ud, const char *series, json_t **ret)
{
    hale_loop *l = ud;

    if (!l->metrics)
        return HALE_ESTATE;
    return hale_metrics_forecasts_json(l->metrics->reg, series, ret);
}

static int counter(hale_buf *b, const char *name, const char *help, uint64_t v)
{
    int r = hale_prom_family(b, name, "counter", help);

    return r ? r : hale_prom_sample(b, name, NULL, (double)v);
}

static int gauge(hale_buf *b, const char *name, const char *help, double v)
{
    int r = hale_prom_family(b, name, "gauge", help);

    return r ? r : hale_prom_sample(b, name, NULL, v);
}

static int per_query(hale_buf *b, const struct hale__loop_metrics *lm, const char *name,
                     const char *help, const uint64_t *v)
{
    const hale_metrics_config *mc = &lm->l->cfg->metrics;
    int r = hale_prom_family(b, name, "counter", help);

    for (size_t i = 0; r == 0 && v && i < mc->n_queries; i++)
        r = hale_prom_sample(b, name, (const char *const[]){"query", mc->queries[i].name, NULL},
                             (double)v[i]);
    return r;
}

static int source_families(hale_buf *b, const struct hale__loop_metrics *lm)
{
    static const char *const src[] = {"host", "prometheus", "api"};
    const struct metrics_stats *st = &lm->st;
    int r = hale_prom_family(b, "hale_metrics_samples_total", "counter",
                             "Metric samples received, by source.");

    for (size_t i = 0; r == 0 && i < HALE_ARRAY_SIZE(src); i++)
        r = hale_prom_sample(b, "hale_metrics_samples_total",
                             (const char *const[]){"source", src[i], NULL},
                             (double)st->samples_by_src[i]);
    if (r == 0)
        r = counter(b, "hale_metrics_host_scrapes_total", "Host collections done.",
                    st->host_scrapes);
    if (r == 0)
        r = counter(b, "hale_metrics_host_scrape_errors_total",
                    "Host collections with a file unreadable or malformed.", st->host_errors);
    if (r == 0)
        r = gauge(b, "hale_metrics_host_scrape_seconds", "Duration of the last host collection.",
                  st->host_scrape_s);
    if (r == 0)
        r = per_query(b, lm, "hale_metrics_prometheus_runs_total",
                      "Successful Prometheus query runs, by query.", lm->prom_runs);
    if (r == 0)
        r = per_query(b, lm, "hale_metrics_prometheus_errors_total",
                      "Failed Prometheus query attempts (retries included), by query.",
                      lm->prom_errors);
    return r;
}

int hale__loop_metrics_families(hale_loop *l, hale_buf *b)
{
    const struct hale__loop_metrics *lm = l->metrics;
    hale_metrics_counts c;
    int r;

    if (!lm)
        return 0;
    hale_metrics_get_counts(lm->reg, &c);
    r = source_families(b, lm);
    if (r == 0)
        r = gauge(b, "hale_metrics_series", "Series with a model.",
                  (double)hale_metrics_series_count(lm->reg));
    if (r == 0)
        r = counter(b, "hale_metrics_samples_learned_total", "Samples learned by their series.",
                    c.learned);
    if (r == 0)
        r = counter(b, "hale_metrics_series_refused_total",
                    "Samples refused because max_series series exist.", c.refused_series);
    if (r == 0)
        r = counter(b, "hale_metrics_out_of_order_total",
                    "Samples older than their series' newest (scored, not learned).",
                    c.out_of_order);
    if (r == 0)
        r = counter(b, "hale_metrics_duplicate_samples_total",
                    "Samples at the time of their series' newest (ignored).", c.duplicates);
    if (r == 0)
        r = counter(b, "hale_metrics_nonfinite_total", "NaN or infinite samples (not learned).",
                    c.nonfinite);
    if (r == 0)
        r = counter(b, "hale_metrics_anomalies_total", "Anomalies begun.", c.anomalies);
    if (r == 0)
        r = counter(b, "hale_metrics_predictions_total", "Exhaustion predictions begun.",
                    c.predictions);
    if (r == 0)
        r = counter(b, "hale_metrics_events_total",
                    "Anomaly and exhaustion events raised (firing and resolved).",
                    lm->st.events_raised);
    if (r == 0)
        r = counter(b, "hale_metrics_fits_total", "Capacity forecasts fitted.", c.fits);
    if (r == 0)
        r = counter(b, "hale_metrics_refits_total",
                    "Models refit for drift (forecast misses or a detector score shift).",
                    c.refits);
    if (r == 0)
        r = counter(b, "hale_metrics_fit_failures_total", "Forecast fits that failed.",
                    c.fit_failures);
    if (r == 0)
        r = gauge(b, "hale_metrics_fit_job_seconds", "Duration of the last fitting job.",
                  lm->st.job_s);
    if (r == 0)
        r = counter(b, "hale_metrics_snapshot_rows_total", "Series states written to the store.",
                    lm->st.snapshot_rows);
    if (r == 0)
        r = counter(b, "hale_metrics_snapshot_failures_total",
                    "Series state batches that could not be written.", lm->st.snapshot_failures);
    return r;
}
