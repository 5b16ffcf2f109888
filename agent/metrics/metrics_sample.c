/* agent/metrics/metrics_sample.c - samples: an owning set, series identity (name plus sorted
 * labels), and the two ways samples arrive as JSON: POST /api/v1/metrics bodies and Prometheus
 * query answers. Every sample from outside passes hale_sample_set_add's checks. */
#include "internal.h"

#include <math.h>

#include "hale/metrics.h"
#include "metrics/metrics_int.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/strparse.h"
#include "util/timeutil.h"
#include "util/utf8.h"

/* One sample and its strings in a single allocation: the label pointers, then the text. */
struct owned_sample {
    hale_sample s;
    const char *ptrs[]; /* 2 * n_labels */
};

struct hale_sample_set {
    struct owned_sample **items; /* owned */
    size_t n, cap;
};

int hale_sample_set_new(hale_sample_set **ret)
{
    hale_sample_set *s = calloc(1, sizeof(*s));

    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}

void hale_sample_set_free(hale_sample_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i]);
    free(s->items);
    free(s);
}

size_t hale_sample_set_size(const hale_sample_set *s)
{
    return s->n;
}

const hale_sample *hale_sample_set_get(const hale_sample_set *s, size_t i)
{
    return i < s->n ? &s->items[i]->s : NULL;
}

static int check_sample(const char *name, const char *const *labels, size_t n, size_t *order,
                        hale_diag *reterr)
{
    if (!hale_is_metric_name(name, true)) {
        hale_diag_set(reterr,
                      "metric: expected a name matching [a-zA-Z_:][a-zA-Z0-9_:]*, got "
                      "'%.64s'",
                      name);
        return -EINVAL;
    }
    if (n > HALE_METRICS_MAX_LABELS) {
        hale_diag_set(reterr, "labels: at most %u, got %zu", HALE_METRICS_MAX_LABELS, n);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        const char *k = labels[2 * i], *v = labels[2 * i + 1];
        size_t j = i;

        if (!hale_is_metric_name(k, false) || (k[0] == '_' && k[1] == '_')) {
            hale_diag_set(reterr,
                          "labels.%.64s: expected a name matching [a-zA-Z_][a-zA-Z0-9_]* "
                          "not starting with __",
                          k);
            return -EINVAL;
        }
        if (strlen(v) > HALE_METRICS_MAX_VALUE_BYTES || !hale_utf8_is_valid(v, strlen(v))) {
            hale_diag_set(reterr, "labels.%s: expected at most %u bytes of UTF-8", k,
                          HALE_METRICS_MAX_VALUE_BYTES);
            return -EINVAL;
        }
        /* Insertion sort of the indices: label sets are small. */
        while (j > 0 && strcmp(labels[2 * order[j - 1]], k) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        if (j > 0 && strcmp(labels[2 * order[j - 1]], k) == 0) {
            hale_diag_set(reterr, "labels.%s: given twice", k);
            return -EINVAL;
        }
        order[j] = i;
    }
    return 0;
}

/* One allocation holding a copy of the sample (name, value, time) and its labels, the label
 * pairs in the order order gives (NULL: as they are). */
static struct owned_sample *owned_copy(const hale_sample *src, const size_t *order)
{
    size_t n = src->n_labels, bytes = strlen(src->name) + 1;
    struct owned_sample *o;
    char *p;

    for (size_t i = 0; i < 2 * n; i++)
        bytes += strlen(src->labels[i]) + 1;
    if (!(o = malloc(sizeof(*o) + 2 * n * sizeof(char *) + bytes)))
        return NULL;
    p = (char *)&o->ptrs[2 * n];
    o->s = *src;
    o->s.name = p;
    o->s.labels = o->ptrs;
    memcpy(p, src->name, strlen(src->name) + 1);
    p += strlen(src->name) + 1;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < 2; k++) {
            const char *from = src->labels[2 * (order ? order[i] : i) + k];
            size_t len = strlen(from) + 1;

            memcpy(p, from, len);
            o->ptrs[2 * i + k] = p;
            p += len;
        }
    return o;
}

int hale_sample_set_add(hale_sample_set *set, const char *name, const char *const *labels,
                        size_t n_labels, double value, int64_t t_ms, hale_diag *reterr)
{
    size_t order[HALE_METRICS_MAX_LABELS], cap = set->cap;
    const hale_sample src = {
        .name = name, .labels = labels, .n_labels = n_labels, .value = value, .t_ms = t_ms};
    struct owned_sample *o;
    void *arr = set->items;
    int r;

    if ((r = check_sample(name, labels, n_labels, order, reterr)) < 0)
        return r;
    if (hale_grow(&arr, &cap, set->n, sizeof(*set->items)) < 0)
        return -ENOMEM;
    set->items = arr;
    set->cap = cap;
    if (!(o = owned_copy(&src, order)))
        return -ENOMEM;
    set->items[set->n++] = o;
    return 0;
}

int hale__metrics_sample_copy(const hale_sample *src, hale_sample *dst, void **ret_block)
{
    struct owned_sample *o = owned_copy(src, NULL);

    if (!o)
        return -ENOMEM;
    *dst = o->s;
    *ret_block = o;
    return 0;
}

int hale__metrics_series_key_append(hale_buf *b, const hale_sample *s)
{
    int r = hale_buf_puts(b, s->name);

    for (size_t i = 0; r == 0 && i < s->n_labels; i++) {
        r = hale_buf_printf(b, "%s%s=\"", i ? "," : "{", s->labels[2 * i]);
        for (const char *v = s->labels[2 * i + 1]; r == 0 && *v; v++)
            r = *v == '"' || *v == '\\' ? hale_buf_printf(b, "\\%c", *v)
                : *v == '\n'            ? hale_buf_puts(b, "\\n")
                                        : hale_buf_putc(b, *v);
        if (r == 0)
            r = hale_buf_putc(b, '"');
    }
    if (r == 0 && s->n_labels)
        r = hale_buf_putc(b, '}');
    return r;
}

char *hale_metrics_series_key(const hale_sample *s)
{
    hale_buf b;

    hale_buf_init(&b, HALE__METRICS_MAX_KEY);
    if (hale__metrics_series_key_append(&b, s) < 0) {
        hale_buf_release(&b);
        return NULL;
    }
    return hale_buf_detach(&b, NULL);
}

/* The labels object as (name, value) pointers borrowed from it. */
static int labels_of(const json_t *obj, const char **out, size_t *ret_n, const char *path,
                     hale_diag *reterr)
{
    size_t n = 0;

    if (!obj) {
        *ret_n = 0;
        return 0;
    }
    if (!json_is_object(obj)) {
        hale_diag_set(reterr, "%s: expected an object, got %s", path, hale_json_type_name(obj));
        return HALE_ESCHEMA;
    }
    if (json_object_size(obj) > HALE_METRICS_MAX_LABELS) {
        hale_diag_set(reterr, "%s: at most %u labels, got %zu", path, HALE_METRICS_MAX_LABELS,
                      json_object_size(obj));
        return HALE_ELIMIT;
    }
    for (void *it = json_object_iter((json_t *)(uintptr_t)obj); it;
         it = json_object_iter_next((json_t *)(uintptr_t)obj, it)) {
        const json_t *v = json_object_iter_value(it);

        if (!json_is_string(v)) {
            hale_diag_set(reterr, "%s.%.64s: expected a string, got %s", path,
                          json_object_iter_key(it), hale_json_type_name(v));
            return HALE_ESCHEMA;
        }
        out[2 * n] = json_object_iter_key(it);
        out[2 * n + 1] = json_string_value(v);
        n++;
    }
    *ret_n = n;
    return 0;
}

static int add_checked(hale_sample_set *set, const char *name, const char **labels, size_t n,
                       double value, int64_t t_ms, const char *path, hale_diag *reterr)
{
    hale_diag d = {{0}};
    int r = hale_sample_set_add(set, name, labels, n, value, t_ms, &d);

    if (r == -EINVAL) {
        hale_diag_set(reterr, "%s.%s", path, d.msg);
        return HALE_ESCHEMA;
    }
    return r;
}

struct sample_in {
    const char *metric;
    json_t *labels, *value, *timestamp;
};

static int parse_time(const json_t *ts, int64_t now_ms, int64_t *ret, const char *path,
                      hale_diag *reterr)
{
    if (!ts) {
        *ret = now_ms;
        return 0;
    }
    if (json_is_string(ts) && hale_rfc3339_parse(json_string_value(ts), ret) == 0)
        return 0;
    if (json_is_integer(ts) && json_integer_value(ts) >= 0 &&
        json_integer_value(ts) < INT64_C(253402300800000)) {
        *ret = json_integer_value(ts);
        return 0;
    }
    hale_diag_set(reterr,
                  "%s.timestamp: expected an RFC 3339 time or unix milliseconds (an "
                  "integer from 0), got %s",
                  path, hale_json_type_name(ts));
    return HALE_ESCHEMA;
}

static int parse_one(const json_t *v, size_t i, int64_t now_ms, hale_sample_set *set,
                     hale_diag *reterr)
{
    static const hale_json_field fields[] = {
        {"metric", HALE_JSON_STRING, true, offsetof(struct sample_in, metric)},
        {"labels", HALE_JSON_ANY, false, offsetof(struct sample_in, labels)},
        {"value", HALE_JSON_ANY, true, offsetof(struct sample_in, value)},
        {"timestamp", HALE_JSON_ANY, false, offsetof(struct sample_in, timestamp)},
    };
    const char *labels[2 * HALE_METRICS_MAX_LABELS];
    struct sample_in in = {0};
    char path[48], lpath[64];
    size_t n = 0;
    int64_t t_ms;
    int r;

    snprintf(path, sizeof(path), "samples[%zu]", i);
    snprintf(lpath, sizeof(lpath), "%s.labels", path);
    if (!json_is_object(v)) {
        hale_diag_set(reterr, "%s: expected an object, got %s", path, hale_json_type_name(v));
        return HALE_ESCHEMA;
    }
    if ((r = hale_json_fields(v, fields, HALE_ARRAY_SIZE(fields), HALE_JSON_STRICT, &in, path,
                              reterr)) < 0)
        return r;
    if (!json_is_number(in.value)) {
        hale_diag_set(reterr, "%s.value: expected a number, got %s", path,
                      hale_json_type_name(in.value));
        return HALE_ESCHEMA;
    }
    if ((r = labels_of(in.labels, labels, &n, lpath, reterr)) < 0 ||
        (r = parse_time(in.timestamp, now_ms, &t_ms, path, reterr)) < 0)
        return r;
    return add_checked(set, in.metric, labels, n, json_number_value(in.value), t_ms, path, reterr);
}

int hale_metrics_parse_samples(const char *body, size_t len, size_t max_samples, int64_t now_ms,
                               hale_sample_set **ret, hale_diag *reterr)
{
    const hale_json_field fields[] = {{"samples", HALE_JSON_ARRAY, true, 0}};
    hale_sample_set *set = NULL;
    json_t *doc = NULL, *arr = NULL;
    int r;

    if ((r = hale_json_parse(body, len, &doc, reterr)) < 0)
        return r;
    if (!json_is_object(doc)) {
        hale_diag_set(reterr, "expected an object {\"samples\": [...]}, got %s",
                      hale_json_type_name(doc));
        r = HALE_ESCHEMA;
    } else if ((r = hale_json_fields(doc, fields, 1, HALE_JSON_STRICT, &arr, NULL, reterr)) < 0) {
        /* reterr says which */
    } else if (json_array_size(arr) > max_samples) {
        hale_diag_set(reterr, "samples: at most %zu per request, got %zu", max_samples,
                      json_array_size(arr));
        r = HALE_ELIMIT;
    } else {
        r = hale_sample_set_new(&set);
    }
    for (size_t i = 0; r == 0 && i < json_array_size(arr); i++)
        r = parse_one(json_array_get(arr, i), i, now_ms, set, reterr);
    json_decref(doc);
    if (r < 0) {
        hale_sample_set_free(set);
        return r;
    }
    *ret = set;
    return 0;
}

/* [ <unix seconds>, "<value>" ]: Prometheus sends values as strings for NaN and infinities. */
static int prom_pair(const json_t *pair, double *ret_v, int64_t *ret_t)
{
    const char *s = json_string_value(json_array_get(pair, 1));
    const json_t *t = json_array_get(pair, 0);
    double v;

    if (json_array_size(pair) != 2 || !s || !json_is_number(t))
        return HALE_ESCHEMA;
    if (strcmp(s, "NaN") == 0)
        v = NAN;
    else if (strcmp(s, "+Inf") == 0)
        v = INFINITY;
    else if (strcmp(s, "-Inf") == 0)
        v = -INFINITY;
    else if (hale_parse_double(s, &v) < 0)
        return HALE_ESCHEMA;
    *ret_v = v;
    *ret_t = (int64_t)llround(json_number_value(t) * 1000.0);
    return 0;
}

/* The result's labels less __name__ (the configured name replaces it), borrowed from it. */
static int prom_labels(const json_t *metric, const char **out, size_t *ret_n, const char *path,
                       hale_diag *reterr)
{
    size_t n = 0;

    if (metric && !json_is_object(metric)) {
        hale_diag_set(reterr, "%s.metric: expected an object", path);
        return HALE_ESCHEMA;
    }
    for (void *it = metric ? json_object_iter((json_t *)(uintptr_t)metric) : NULL; it;
         it = json_object_iter_next((json_t *)(uintptr_t)metric, it)) {
        const char *k = json_object_iter_key(it);
        const json_t *v = json_object_iter_value(it);

        if (strcmp(k, "__name__") == 0)
            continue;
        if (!json_is_string(v) || n == HALE_METRICS_MAX_LABELS) {
            hale_diag_set(reterr, "%s.metric: expected at most %u labels of string values", path,
                          HALE_METRICS_MAX_LABELS);
            return HALE_ESCHEMA;
        }
        out[2 * n] = k;
        out[2 * n + 1] = json_string_value(v);
        n++;
    }
    *ret_n = n;
    return 0;
}

static int prom_series(const json_t *res, const char *name, size_t max, hale_sample_set *into,
                       size_t i, hale_diag *reterr)
{
    const json_t *values = json_object_get(res, "values"), *one = json_object_get(res, "value");
    const char *labels[2 * HALE_METRICS_MAX_LABELS];
    size_t n = 0, count = one ? 1 : json_array_size(values);
    char path[48];
    int r;

    snprintf(path, sizeof(path), "data.result[%zu]", i);
    if ((r = prom_labels(json_object_get(res, "metric"), labels, &n, path, reterr)) < 0)
        return r;
    if (!one && !json_is_array(values)) {
        hale_diag_set(reterr, "%s: expected \"values\" or \"value\"", path);
        return HALE_ESCHEMA;
    }
    for (size_t j = 0; j < count; j++) {
        double v;
        int64_t t;

        if (hale_sample_set_size(into) >= max) {
            hale_diag_set(reterr, "more than %zu samples in one answer", max);
            return HALE_ELIMIT;
        }
        if (prom_pair(one ? one : json_array_get(values, j), &v, &t) < 0) {
            hale_diag_set(reterr, "%s: expected [unix seconds, \"value\"] pairs", path);
            return HALE_ESCHEMA;
        }
        if ((r = add_checked(into, name, labels, n, v, t, path, reterr)) < 0)
            return r;
    }
    return (int)count;
}

int hale_metrics_parse_prom(const char *body, size_t len, const char *name, size_t max_samples,
                            hale_sample_set *into, hale_diag *reterr)
{
    const json_t *data, *result;
    const char *status, *type;
    json_t *doc = NULL;
    int r, added = 0;

    if ((r = hale_json_parse(body, len, &doc, reterr)) < 0)
        return r;
    status = json_string_value(json_object_get(doc, "status"));
    data = json_object_get(doc, "data");
    type = json_string_value(json_object_get(data, "resultType"));
    result = json_object_get(data, "result");
    if (status && strcmp(status, "error") == 0) {
        hale_diag_set(reterr, "%.64s: %.400s",
                      json_string_value(json_object_get(doc, "errorType"))
                          ? json_string_value(json_object_get(doc, "errorType"))
                          : "error",
                      json_string_value(json_object_get(doc, "error"))
                          ? json_string_value(json_object_get(doc, "error"))
                          : "(no message)");
        r = HALE_EUPSTREAM;
    } else if (!status || strcmp(status, "success") != 0 || !type || !result) {
        hale_diag_set(reterr, "expected {\"status\": \"success\", \"data\": {\"resultType\", "
                              "\"result\"}}");
        r = HALE_ESCHEMA;
    } else if (strcmp(type, "scalar") == 0) {
        json_t *wrap = json_pack("{s:O}", "value", result);

        r = wrap ? prom_series(wrap, name, max_samples, into, 0, reterr) : -ENOMEM;
        json_decref(wrap);
        added = r > 0 ? r : 0;
    } else if ((strcmp(type, "matrix") == 0 || strcmp(type, "vector") == 0) &&
               json_is_array(result)) {
        for (size_t i = 0; r >= 0 && i < json_array_size(result); i++) {
            r = prom_series(json_array_get(result, i), name, max_samples, into, i, reterr);
            added += r > 0 ? r : 0;
        }
    } else {
        hale_diag_set(reterr, "data.resultType: expected matrix, vector or scalar, got '%.32s'",
                      type);
        r = HALE_ESCHEMA;
    }
    json_decref(doc);
    return r < 0 ? r : added;
}
