/* agent/config/config_metrics.c - the "metrics" key: the local host collector, the Prometheus
 * poller's queries, the series cap, the anomaly hysteresis, and the series that get exhaustion
 * predictions and capacity forecasts (docs/metrics.md). One object, so that it merges with other
 * keys without touching them.
 *   "metrics": {"host": {"enabled": true, "interval_s": 15},
 *               "prometheus": {"url": "http://127.0.0.1:9090", "queries": [{"name": "up",
 *                              "query": "up", "interval_s": 30, "step_s": 15, "range_s": 3600}]},
 *               "exhaustion": [{"match": {"metric": "host_disk_used_ratio", "mount": "/"},
 *                               "limit": 0.9, "horizon_h": 6, "probability": 0.8}]} */
#include "internal.h"

#include <math.h>

#include "config_int.h"
#include "util/json.h"
#include "util/strparse.h"

#define MAX_TEXT  4096u
#define MAX_QUERY 16384u
#define KEY       "key 'metrics'"

struct def_rule {
    const char *metric;
    double limit, horizon_h, probability;
};

/* Host series that run out: predicted by default, so `hale run` alone warns before a disk or
 * memory fills up. */
static const struct def_rule def_exhaustion[] = {
    {"host_disk_used_ratio", 0.9, 6, 0.8},
    {"host_inodes_used_ratio", 0.9, 6, 0.8},
    {"host_memory_used_ratio", 0.95, 1, 0.8},
};
static const char *const def_capacity[] = {"host_disk_used_ratio", "host_memory_used_ratio",
                                           "host_cpu_used_ratio"};

static void rules_free(hale_metrics_rule_config *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++) {
        free(r[i].metric);
        for (size_t j = 0; r[i].match && r[i].match[j]; j++)
            free(r[i].match[j]);
        free(r[i].match);
    }
    free(r);
}

static void queries_free(hale_metrics_query_config *q, size_t n)
{
    for (size_t i = 0; q && i < n; i++) {
        free(q[i].name);
        free(q[i].query);
    }
    free(q);
}

static void clear(hale_config *c)
{
    hale_metrics_config *m = &c->metrics;

    free(m->prom_url);
    free(m->anomaly_alertname);
    queries_free(m->queries, m->n_queries);
    rules_free(m->exhaustion, m->n_exhaustion);
    rules_free(m->capacity, m->n_capacity);
    memset(m, 0, sizeof(*m));
}

static void scalars_default(hale_metrics_config *m)
{
    *m = (hale_metrics_config){.host_enabled = true,
                               .host_interval_s = 15,
                               .prom_timeout_ms = 10000,
                               .prom_retries = 2,
                               .prom_max_response_bytes = 8u << 20,
                               .max_series = 10000,
                               .max_samples_per_request = 10000,
                               .anomaly_enter = 0.5,
                               .anomaly_exit = 0.3,
                               .anomaly_min_duration_s = 0,
                               .step_s = 60,
                               .eval_interval_s = 60,
                               .snapshot_interval_s = 300,
                               .drift_window = 50,
                               .drift_miss_ratio = 0.2};
}

static int set_default(hale_config *c)
{
    hale_metrics_config *m = &c->metrics;
    size_t ne = HALE_ARRAY_SIZE(def_exhaustion), nc = HALE_ARRAY_SIZE(def_capacity);

    scalars_default(m);
    m->prom_url = strdup("");
    m->anomaly_alertname = strdup("AnomalyDetected");
    m->exhaustion = calloc(ne, sizeof(*m->exhaustion));
    m->capacity = calloc(nc, sizeof(*m->capacity));
    if (!m->prom_url || !m->anomaly_alertname || !m->exhaustion || !m->capacity)
        goto fail;
    m->n_exhaustion = ne;
    m->n_capacity = nc;
    for (size_t i = 0; i < ne; i++) {
        m->exhaustion[i] = (hale_metrics_rule_config){.limit = def_exhaustion[i].limit,
                                                      .horizon_h = def_exhaustion[i].horizon_h,
                                                      .probability = def_exhaustion[i].probability};
        if (!(m->exhaustion[i].metric = strdup(def_exhaustion[i].metric)))
            goto fail;
    }
    for (size_t i = 0; i < nc; i++)
        if (!(m->capacity[i].metric = strdup(def_capacity[i])))
            goto fail;
    return 0;
fail:
    clear(c);
    return -ENOMEM;
}

static bool in_range(int64_t v, int64_t lo, int64_t hi, const char *path, const char *name,
                     hale_diag *reterr)
{
    if (v >= lo && v <= hi)
        return true;
    hale_diag_set(reterr, "%s.%s: expected %lld to %lld, got %lld", path, name, (long long)lo,
                  (long long)hi, (long long)v);
    return false;
}

static int read_match(const json_t *match, const char *path, hale_metrics_rule_config *r,
                      hale_diag *reterr)
{
    const char *k;
    size_t n = 0;

    if (!json_is_object(match) || !json_is_string(json_object_get(match, "metric"))) {
        hale_diag_set(reterr, "%s.match: expected an object with a \"metric\" name", path);
        return HALE_ECONFIG;
    }
    if (json_object_size(match) > HALE_METRICS_CONFIG_MAX_MATCH + 1) {
        hale_diag_set(reterr, "%s.match: at most %u labels", path, HALE_METRICS_CONFIG_MAX_MATCH);
        return HALE_ECONFIG;
    }
    if (!(r->match = calloc(2 * json_object_size(match) + 1, sizeof(char *))))
        return -ENOMEM;
    for (void *it = json_object_iter((json_t *)(uintptr_t)match); it;
         it = json_object_iter_next((json_t *)(uintptr_t)match, it)) {
        const char *s = json_string_value(json_object_iter_value(it));

        k = json_object_iter_key(it);

        if (!s || !hale_is_metric_name(k, false) || strlen(s) > HALE_MAX_LABEL_VALUE_BYTES) {
            hale_diag_set(reterr, "%s.match.%.64s: expected a label name with a string value", path,
                          k);
            return HALE_ECONFIG;
        }
        if (strcmp(k, "metric") == 0) {
            if (!hale_is_metric_name(s, true)) {
                hale_diag_set(reterr, "%s.match.metric: expected a metric name, got '%.64s'", path,
                              s);
                return HALE_ECONFIG;
            }
            if (!(r->metric = strdup(s)))
                return -ENOMEM;
            continue;
        }
        if (!(r->match[2 * n] = strdup(k)) || !(r->match[2 * n + 1] = strdup(s)))
            return -ENOMEM;
        n++;
    }
    r->n_match = n;
    return 0;
}

struct rule_in {
    json_t *match;
    double limit, horizon_h, probability;
};

static int read_rule(const json_t *v, const char *path, bool exhaustion,
                     hale_metrics_rule_config *r, hale_diag *reterr)
{
    static const hale_json_field fields[] = {
        {"match", HALE_JSON_OBJECT, true, offsetof(struct rule_in, match)},
        {"limit", HALE_JSON_NUMBER, true, offsetof(struct rule_in, limit)},
        {"horizon_h", HALE_JSON_NUMBER, false, offsetof(struct rule_in, horizon_h)},
        {"probability", HALE_JSON_NUMBER, false, offsetof(struct rule_in, probability)},
    };
    struct rule_in in = {.horizon_h = 6, .probability = 0.8};
    int r_;

    if (!json_is_object(v) ||
        hale_json_fields(v, fields, exhaustion ? 4 : 1, HALE_JSON_STRICT, &in, path, reterr) < 0) {
        if (!json_is_object(v))
            hale_diag_set(reterr, "%s: expected an object, got %s", path, hale_json_type_name(v));
        return HALE_ECONFIG;
    }
    if ((r_ = read_match(in.match, path, r, reterr)) < 0)
        return r_;
    if (!exhaustion)
        return 0;
    if (!isfinite(in.limit)) {
        hale_diag_set(reterr, "%s.limit: expected a finite number", path);
        return HALE_ECONFIG;
    }
    if (!(in.horizon_h > 0 && in.horizon_h <= 24 * 30)) {
        hale_diag_set(reterr, "%s.horizon_h: expected more than 0 and at most 720 hours", path);
        return HALE_ECONFIG;
    }
    if (!(in.probability > 0 && in.probability <= 1)) {
        hale_diag_set(reterr, "%s.probability: expected more than 0 and at most 1", path);
        return HALE_ECONFIG;
    }
    r->limit = in.limit;
    r->horizon_h = in.horizon_h;
    r->probability = in.probability;
    return 0;
}

static int read_rules(const json_t *arr, const char *name, hale_metrics_rule_config **ret,
                      size_t *ret_n, hale_diag *reterr)
{
    size_t n = json_array_size(arr);
    hale_metrics_rule_config *rules;
    char path[96];
    int r = 0;

    if (n > HALE_METRICS_CONFIG_MAX_RULES) {
        hale_diag_set(reterr, KEY ": %s: at most %u rules, got %zu", name,
                      HALE_METRICS_CONFIG_MAX_RULES, n);
        return HALE_ECONFIG;
    }
    if (!(rules = calloc(n + 1, sizeof(*rules))))
        return -ENOMEM;
    for (size_t i = 0; r == 0 && i < n; i++) {
        snprintf(path, sizeof(path), KEY ": %s[%zu]", name, i);
        r = read_rule(json_array_get(arr, i), path, strcmp(name, "exhaustion") == 0, &rules[i],
                      reterr);
    }
    if (r < 0) {
        rules_free(rules, n);
        return r;
    }
    *ret = rules;
    *ret_n = n;
    return 0;
}

struct query_in {
    const char *name, *query;
    int64_t interval_s, step_s, range_s;
};

static int read_query(const json_t *v, size_t i, hale_metrics_query_config *q, hale_diag *reterr)
{
    static const hale_json_field fields[] = {
        {"name", HALE_JSON_STRING, true, offsetof(struct query_in, name)},
        {"query", HALE_JSON_STRING, true, offsetof(struct query_in, query)},
        {"interval_s", HALE_JSON_INT, false, offsetof(struct query_in, interval_s)},
        {"step_s", HALE_JSON_INT, false, offsetof(struct query_in, step_s)},
        {"range_s", HALE_JSON_INT, false, offsetof(struct query_in, range_s)},
    };
    struct query_in in = {.interval_s = 60, .step_s = 60, .range_s = 3600};
    char path[96];

    snprintf(path, sizeof(path), KEY ": prometheus.queries[%zu]", i);
    if (!json_is_object(v) || hale_json_fields(v, fields, HALE_ARRAY_SIZE(fields), HALE_JSON_STRICT,
                                               &in, path, reterr) < 0) {
        if (!json_is_object(v))
            hale_diag_set(reterr, "%s: expected an object, got %s", path, hale_json_type_name(v));
        return HALE_ECONFIG;
    }
    if (!hale_is_metric_name(in.name, true)) {
        hale_diag_set(reterr, "%s.name: expected a metric name, got '%.64s'", path, in.name);
        return HALE_ECONFIG;
    }
    if (!*in.query || strlen(in.query) > MAX_QUERY) {
        hale_diag_set(reterr, "%s.query: expected 1 to %u bytes of PromQL", path, MAX_QUERY);
        return HALE_ECONFIG;
    }
    if (!in_range(in.interval_s, 1, 86400, path, "interval_s", reterr) ||
        !in_range(in.step_s, 1, 86400, path, "step_s", reterr) ||
        !in_range(in.range_s, in.step_s, 86400 * 7, path, "range_s", reterr))
        return HALE_ECONFIG;
    /* Prometheus refuses more than 11,000 points per series. */
    if (in.range_s / in.step_s > 11000) {
        hale_diag_set(reterr, "%s: range_s / step_s is %lld points; Prometheus allows 11000", path,
                      (long long)(in.range_s / in.step_s));
        return HALE_ECONFIG;
    }
    if (!(q->name = strdup(in.name)) || !(q->query = strdup(in.query)))
        return -ENOMEM;
    q->interval_s = (uint64_t)in.interval_s;
    q->step_s = (uint64_t)in.step_s;
    q->range_s = (uint64_t)in.range_s;
    return 0;
}

struct prom_in {
    const char *url;
    json_t *queries;
    int64_t timeout_ms, retries, max_response_bytes;
};

static int read_prom(const json_t *v, hale_metrics_config *m, hale_diag *reterr)
{
    static const hale_json_field fields[] = {
        {"url", HALE_JSON_STRING, false, offsetof(struct prom_in, url)},
        {"queries", HALE_JSON_ARRAY, false, offsetof(struct prom_in, queries)},
        {"timeout_ms", HALE_JSON_INT, false, offsetof(struct prom_in, timeout_ms)},
        {"retries", HALE_JSON_INT, false, offsetof(struct prom_in, retries)},
        {"max_response_bytes", HALE_JSON_INT, false, offsetof(struct prom_in, max_response_bytes)},
    };
    struct prom_in in = {.url = "",
                         .timeout_ms = (int64_t)m->prom_timeout_ms,
                         .retries = (int64_t)m->prom_retries,
                         .max_response_bytes = (int64_t)m->prom_max_response_bytes};
    size_t n;
    int r = 0;

    if (hale_json_fields(v, fields, HALE_ARRAY_SIZE(fields), HALE_JSON_STRICT, &in,
                         KEY ": prometheus", reterr) < 0)
        return HALE_ECONFIG;
    if (*in.url && ((strncmp(in.url, "http://", 7) != 0 && strncmp(in.url, "https://", 8) != 0) ||
                    strlen(in.url) > 1000 || strpbrk(in.url, " \t\r\n?#"))) {
        hale_diag_set(reterr,
                      KEY ": prometheus.url: expected \"\" or an http:// or https:// base "
                          "URL without query, got '%.64s'",
                      in.url);
        return HALE_ECONFIG;
    }
    if (!in_range(in.timeout_ms, 100, 600000, KEY ": prometheus", "timeout_ms", reterr) ||
        !in_range(in.retries, 0, 10, KEY ": prometheus", "retries", reterr) ||
        !in_range(in.max_response_bytes, 1024, HALE_MAX_RESPONSE_BYTES, KEY ": prometheus",
                  "max_response_bytes", reterr))
        return HALE_ECONFIG;
    n = json_array_size(in.queries);
    if (n > HALE_METRICS_CONFIG_MAX_QUERIES) {
        hale_diag_set(reterr, KEY ": prometheus.queries: at most %u, got %zu",
                      HALE_METRICS_CONFIG_MAX_QUERIES, n);
        return HALE_ECONFIG;
    }
    if (n && !*in.url) {
        hale_diag_set(reterr, KEY ": prometheus.queries: need prometheus.url");
        return HALE_ECONFIG;
    }
    if (n && !(m->queries = calloc(n, sizeof(*m->queries))))
        return -ENOMEM;
    m->n_queries = n;
    for (size_t i = 0; r == 0 && i < n; i++)
        r = read_query(json_array_get(in.queries, i), i, &m->queries[i], reterr);
    for (size_t i = 0; r == 0 && i < n; i++)
        for (size_t j = 0; r == 0 && j < i; j++)
            if (strcmp(m->queries[i].name, m->queries[j].name) == 0) {
                hale_diag_set(reterr, KEY ": prometheus.queries[%zu] repeats the name of [%zu]", i,
                              j);
                r = HALE_ECONFIG;
            }
    free(m->prom_url);
    m->prom_url = strdup(in.url);
    m->prom_timeout_ms = (uint64_t)in.timeout_ms;
    m->prom_retries = (uint64_t)in.retries;
    m->prom_max_response_bytes = (uint64_t)in.max_response_bytes;
    return r == 0 && !m->prom_url ? -ENOMEM : r;
}

struct anomaly_in {
    double enter, exit_;
    int64_t min_duration_s;
    const char *alertname;
};

static int read_anomaly(const json_t *v, hale_metrics_config *m, hale_diag *reterr)
{
    static const hale_json_field fields[] = {
        {"enter", HALE_JSON_NUMBER, false, offsetof(struct anomaly_in, enter)},
        {"exit", HALE_JSON_NUMBER, false, offsetof(struct anomaly_in, exit_)},
        {"min_duration_s", HALE_JSON_INT, false, offsetof(struct anomaly_in, min_duration_s)},
        {"alertname", HALE_JSON_STRING, false, offsetof(struct anomaly_in, alertname)},
    };
    struct anomaly_in in = {.enter = m->anomaly_enter,
                            .exit_ = m->anomaly_exit,
                            .min_duration_s = (int64_t)m->anomaly_min_duration_s,
                            .alertname = "AnomalyDetected"};

    if (hale_json_fields(v, fields, HALE_ARRAY_SIZE(fields), HALE_JSON_STRICT, &in, KEY ": anomaly",
                         reterr) < 0)
        return HALE_ECONFIG;
    if (!(in.enter > 0 && in.enter <= 1) || !(in.exit_ >= 0 && in.exit_ <= in.enter)) {
        hale_diag_set(reterr, KEY ": anomaly: expected 0 < enter <= 1 and 0 <= exit <= enter");
        return HALE_ECONFIG;
    }
    if (!in_range(in.min_duration_s, 0, 86400, KEY ": anomaly", "min_duration_s", reterr))
        return HALE_ECONFIG;
    if (!*in.alertname || strlen(in.alertname) > 256) {
        hale_diag_set(reterr, KEY ": anomaly.alertname: expected 1 to 256 bytes");
        return HALE_ECONFIG;
    }
    m->anomaly_enter = in.enter;
    m->anomaly_exit = in.exit_;
    m->anomaly_min_duration_s = (uint64_t)in.min_duration_s;
    free(m->anomaly_alertname);
    m->anomaly_alertname = strdup(in.alertname);
    return m->anomaly_alertname ? 0 : -ENOMEM;
}

struct top_in {
    json_t *host, *prometheus, *anomaly, *exhaustion, *capacity, *drift;
    int64_t max_series, max_samples_per_request, step_s, eval_interval_s, snapshot_interval_s;
};

struct host_in {
    bool enabled;
    int64_t interval_s;
};

struct drift_in {
    int64_t window;
    double miss_ratio;
};

static int read_small(const struct top_in *in, hale_metrics_config *m, hale_diag *reterr)
{
    static const hale_json_field host_fields[] = {
        {"enabled", HALE_JSON_BOOL, false, offsetof(struct host_in, enabled)},
        {"interval_s", HALE_JSON_INT, false, offsetof(struct host_in, interval_s)},
    };
    static const hale_json_field drift_fields[] = {
        {"window", HALE_JSON_INT, false, offsetof(struct drift_in, window)},
        {"miss_ratio", HALE_JSON_NUMBER, false, offsetof(struct drift_in, miss_ratio)},
    };
    struct host_in host = {m->host_enabled, (int64_t)m->host_interval_s};
    struct drift_in drift = {(int64_t)m->drift_window, m->drift_miss_ratio};

    if ((in->host && hale_json_fields(in->host, host_fields, 2, HALE_JSON_STRICT, &host,
                                      KEY ": host", reterr) < 0) ||
        (in->drift && hale_json_fields(in->drift, drift_fields, 2, HALE_JSON_STRICT, &drift,
                                       KEY ": drift", reterr) < 0))
        return HALE_ECONFIG;
    if (!in_range(host.interval_s, 1, 3600, KEY ": host", "interval_s", reterr) ||
        !in_range(drift.window, 10, 256, KEY ": drift", "window", reterr) ||
        !in_range(in->max_series, 1, 1000000, KEY, "max_series", reterr) ||
        !in_range(in->max_samples_per_request, 1, 100000, KEY, "max_samples_per_request", reterr) ||
        !in_range(in->step_s, 1, 3600, KEY, "step_s", reterr) ||
        !in_range(in->eval_interval_s, 1, 86400, KEY, "eval_interval_s", reterr) ||
        !in_range(in->snapshot_interval_s, 1, 86400, KEY, "snapshot_interval_s", reterr))
        return HALE_ECONFIG;
    if (!(drift.miss_ratio > 0 && drift.miss_ratio < 1)) {
        hale_diag_set(reterr, KEY ": drift.miss_ratio: expected more than 0 and less than 1");
        return HALE_ECONFIG;
    }
    m->host_enabled = host.enabled;
    m->host_interval_s = (uint64_t)host.interval_s;
    m->drift_window = (uint64_t)drift.window;
    m->drift_miss_ratio = drift.miss_ratio;
    m->max_series = (uint64_t)in->max_series;
    m->max_samples_per_request = (uint64_t)in->max_samples_per_request;
    m->step_s = (uint64_t)in->step_s;
    m->eval_interval_s = (uint64_t)in->eval_interval_s;
    m->snapshot_interval_s = (uint64_t)in->snapshot_interval_s;
    return 0;
}

static int read_metrics(hale_config *c, const json_t *v, hale_diag *reterr)
{
#define F(n, t)                                                                                    \
    {                                                                                              \
#n, t, false, offsetof(struct top_in, n)                                                   \
    }
    static const hale_json_field fields[] = {
        F(host, HALE_JSON_OBJECT),
        F(prometheus, HALE_JSON_OBJECT),
        F(anomaly, HALE_JSON_OBJECT),
        F(exhaustion, HALE_JSON_ARRAY),
        F(capacity, HALE_JSON_ARRAY),
        F(drift, HALE_JSON_OBJECT),
        F(max_series, HALE_JSON_INT),
        F(max_samples_per_request, HALE_JSON_INT),
        F(step_s, HALE_JSON_INT),
        F(eval_interval_s, HALE_JSON_INT),
        F(snapshot_interval_s, HALE_JSON_INT),
    };
#undef F
    hale_config tmp = {0};
    hale_metrics_config *m = &tmp.metrics;
    struct top_in in;
    int r;

    if (!json_is_object(v)) {
        hale_diag_set(reterr, KEY ": expected an object, got %s", hale_json_type_name(v));
        return HALE_ECONFIG;
    }
    if ((r = set_default(&tmp)) < 0)
        return r;
    in = (struct top_in){.max_series = (int64_t)m->max_series,
                         .max_samples_per_request = (int64_t)m->max_samples_per_request,
                         .step_s = (int64_t)m->step_s,
                         .eval_interval_s = (int64_t)m->eval_interval_s,
                         .snapshot_interval_s = (int64_t)m->snapshot_interval_s};
    if (hale_json_fields(v, fields, HALE_ARRAY_SIZE(fields), HALE_JSON_STRICT, &in, KEY, reterr) <
        0) {
        r = HALE_ECONFIG;
        goto out;
    }
    r = read_small(&in, m, reterr);
    if (r == 0 && in.prometheus)
        r = read_prom(in.prometheus, m, reterr);
    if (r == 0 && in.anomaly)
        r = read_anomaly(in.anomaly, m, reterr);
    if (r == 0 && in.exhaustion) {
        rules_free(m->exhaustion, m->n_exhaustion);
        m->exhaustion = NULL;
        m->n_exhaustion = 0;
        r = read_rules(in.exhaustion, "exhaustion", &m->exhaustion, &m->n_exhaustion, reterr);
    }
    if (r == 0 && in.capacity) {
        rules_free(m->capacity, m->n_capacity);
        m->capacity = NULL;
        m->n_capacity = 0;
        r = read_rules(in.capacity, "capacity", &m->capacity, &m->n_capacity, reterr);
    }
out:
    if (r < 0) {
        clear(&tmp);
        return r;
    }
    clear(c);
    c->metrics = *m;
    return 0;
}

static json_t *rules_json(const hale_metrics_rule_config *rules, size_t n, bool exhaustion)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < n; i++) {
        const hale_metrics_rule_config *r = &rules[i];
        json_t *match = json_pack("{s:s}", "metric", r->metric), *o;

        for (size_t j = 0; match && j < r->n_match; j++)
            if (json_object_set_new(match, r->match[2 * j], json_string(r->match[2 * j + 1])) < 0)
                json_decref(match), match = NULL;
        o = !match       ? NULL
            : exhaustion ? json_pack("{s:o,s:f,s:f,s:f}", "match", match, "limit", r->limit,
                                     "horizon_h", r->horizon_h, "probability", r->probability)
                         : json_pack("{s:o}", "match", match);
        if (json_array_append_new(arr, o) < 0)
            json_decref(arr), arr = NULL;
    }
    return arr;
}

static json_t *queries_json(const hale_metrics_config *m)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < m->n_queries; i++) {
        const hale_metrics_query_config *q = &m->queries[i];

        if (json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:I,s:I}", "name", q->name, "query",
                                                 q->query, "interval_s", (json_int_t)q->interval_s,
                                                 "step_s", (json_int_t)q->step_s, "range_s",
                                                 (json_int_t)q->range_s)) < 0)
            json_decref(arr), arr = NULL;
    }
    return arr;
}

static json_t *to_json(const hale_config *c)
{
    const hale_metrics_config *m = &c->metrics;
    json_t *q = queries_json(m), *ex = rules_json(m->exhaustion, m->n_exhaustion, true);
    json_t *cap = rules_json(m->capacity, m->n_capacity, false);

    if (!q || !ex || !cap) {
        json_decref(q);
        json_decref(ex);
        json_decref(cap);
        return NULL;
    }
    return json_pack(
        "{s:{s:b,s:I},s:{s:s,s:o,s:I,s:I,s:I},s:I,s:I,s:{s:f,s:f,s:I,s:s},s:o,s:o,s:I,s:I,s:I,"
        "s:{s:I,s:f}}",
        "host", "enabled", m->host_enabled, "interval_s", (json_int_t)m->host_interval_s,
        "prometheus", "url", m->prom_url, "queries", q, "timeout_ms",
        (json_int_t)m->prom_timeout_ms, "retries", (json_int_t)m->prom_retries,
        "max_response_bytes", (json_int_t)m->prom_max_response_bytes, "max_series",
        (json_int_t)m->max_series, "max_samples_per_request",
        (json_int_t)m->max_samples_per_request, "anomaly", "enter", m->anomaly_enter, "exit",
        m->anomaly_exit, "min_duration_s", (json_int_t)m->anomaly_min_duration_s, "alertname",
        m->anomaly_alertname, "exhaustion", ex, "capacity", cap, "step_s", (json_int_t)m->step_s,
        "eval_interval_s", (json_int_t)m->eval_interval_s, "snapshot_interval_s",
        (json_int_t)m->snapshot_interval_s, "drift", "window", (json_int_t)m->drift_window,
        "miss_ratio", m->drift_miss_ratio);
}

/* Equal when their effective JSON is: one definition of the value, no second comparison to
 * keep in step with the struct. */
static bool equal(const hale_config *a, const hale_config *b)
{
    json_t *x = to_json(a), *y = to_json(b);
    bool eq = x && y && json_equal(x, y);

    json_decref(x);
    json_decref(y);
    return eq;
}

const hale__config_ops hale__config_metrics_ops = {
    .set_default = set_default,
    .read = read_metrics,
    .clear = clear,
    .to_json = to_json,
    .equal = equal,
};
