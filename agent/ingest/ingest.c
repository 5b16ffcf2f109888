/* agent/ingest/ingest.c - what both ingest parsers share: the label and annotation rules,
 * Alertmanager's label-set fingerprint, times and status, the batch's lifetime and its JSON
 * form. Runs on the loop thread for every inbound alert, so it walks each object once. */
#include "internal.h"

#include "ingest_int.h"
#include "util/json.h"
#include "util/timeutil.h"

#define FNV64_OFFSET UINT64_C(14695981039346656037)
#define FNV64_PRIME  UINT64_C(1099511628211)
#define LABEL_SEP    0xffu /* Prometheus' model.SeparatorByte */

static const char go_zero_time[] = "0001-01-01T00:00:00Z";

/* jansson's iteration API takes json_t * although it does not modify the object. */
static json_t *unconst(const json_t *v)
{
    return (json_t *)(uintptr_t)v;
}

static bool is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

/* Prometheus' model.LabelName.IsValid(): [a-zA-Z_][a-zA-Z0-9_]*. */
static bool is_label_name(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || !is_name_start(s[0]))
        return false;
    for (i = 1; i < len; i++) {
        if (!is_name_char(s[i]))
            return false;
    }
    return true;
}

int hale__ingest_quote_len(const char *s, size_t len, size_t max)
{
    size_t n = len;

    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0u) == 0x80u)
            n--;
    }
    return (int)n;
}

int hale__ingest_quote(const char *s)
{
    return hale__ingest_quote_len(s, strlen(s), HALE_INGEST_QUOTE_MAX);
}

int hale__ingest_parse_object(const char *body, size_t len, json_t **ret, hale_diag *reterr)
{
    json_t *doc = NULL;
    int r;

    if (!body || len == 0) {
        hale_diag_set(reterr, "expected a JSON object, got an empty body");
        return HALE_EPARSE;
    }
    if (len > HALE_MAX_BODY_BYTES) {
        hale_diag_set(reterr, "body of %zu bytes, at most %u accepted", len, HALE_MAX_BODY_BYTES);
        return HALE_ELIMIT;
    }
    r = hale_json_parse(body, len, &doc, reterr);
    if (r < 0)
        return r;
    if (!json_is_object(doc)) {
        hale_diag_set(reterr, "expected a JSON object at the top level, got %s",
                      hale_json_type_name(doc));
        json_decref(doc);
        return HALE_ESCHEMA;
    }
    *ret = doc;
    return 0;
}

static int check_label(const struct hale__ingest_label *l, const json_t *v, const char *pfx,
                       hale_diag *reterr)
{
    if (l->name_len > HALE_MAX_LABEL_NAME_BYTES) {
        hale_diag_set(reterr, "%slabels: label name of %zu bytes, at most %u accepted", pfx,
                      l->name_len, HALE_MAX_LABEL_NAME_BYTES);
        return HALE_ELIMIT;
    }
    if (!is_label_name(l->name, l->name_len)) {
        hale_diag_set(reterr,
                      "%slabels: invalid label name '%.*s', expected [a-zA-Z_][a-zA-Z0-9_]*", pfx,
                      hale__ingest_quote_len(l->name, l->name_len, HALE_INGEST_QUOTE_MAX), l->name);
        return HALE_ESCHEMA;
    }
    /* The name is plain ASCII from here on, safe to use in a path. */
    if (!json_is_string(v)) {
        hale_diag_set(reterr, "%slabels.%s: expected string, got %s", pfx, l->name,
                      hale_json_type_name(v));
        return HALE_ESCHEMA;
    }
    if (l->value_len > HALE_MAX_LABEL_VALUE_BYTES) {
        hale_diag_set(reterr, "%slabels.%s: value of %zu bytes, at most %u accepted", pfx, l->name,
                      l->value_len, HALE_MAX_LABEL_VALUE_BYTES);
        return HALE_ELIMIT;
    }
    return 0;
}

static int check_object(const json_t *obj, const char *pfx, const char *field, hale_diag *reterr)
{
    if (json_is_object(obj))
        return 0;
    hale_diag_set(reterr, "%s%s: expected object, got %s", pfx, field, hale_json_type_name(obj));
    return HALE_ESCHEMA;
}

int hale__ingest_check_labels(const json_t *labels, const char *pfx,
                              struct hale__ingest_labels *ret, hale_diag *reterr)
{
    size_t n = json_object_size(labels);
    void *it;
    int r;

    r = check_object(labels, pfx, "labels", reterr);
    if (r < 0)
        return r;
    if (n == 0) {
        hale_diag_set(reterr, "%slabels: expected at least one label, got none", pfx);
        return HALE_ESCHEMA;
    }
    if (n > HALE_MAX_LABELS) {
        hale_diag_set(reterr, "%slabels: %zu labels, at most %u accepted", pfx, n, HALE_MAX_LABELS);
        return HALE_ELIMIT;
    }
    ret->n = 0;
    ret->severity = NULL;
    for (it = json_object_iter(unconst(labels)); it;
         it = json_object_iter_next(unconst(labels), it)) {
        struct hale__ingest_label *l = &ret->items[ret->n];
        const json_t *v = json_object_iter_value(it);

        if (HALE_NEVER(ret->n >= HALE_MAX_LABELS))
            return HALE_ELIMIT;
        l->name = json_object_iter_key(it);
        l->name_len = json_object_iter_key_len(it);
        l->value = json_string_value(v);
        l->value_len = json_string_length(v);
        r = check_label(l, v, pfx, reterr);
        if (r < 0)
            return r;
        if (l->name_len == 8 && memcmp(l->name, "severity", 8) == 0)
            ret->severity = l->value;
        ret->n++;
    }
    return 0;
}

static int check_annotation(const char *name, size_t name_len, const json_t *v, const char *pfx,
                            hale_diag *reterr)
{
    int q = hale__ingest_quote_len(name, name_len, HALE_INGEST_QUOTE_MAX);

    if (name_len == 0) {
        hale_diag_set(reterr, "%sannotations: expected non-empty names, got \"\"", pfx);
        return HALE_ESCHEMA;
    }
    if (name_len > HALE_MAX_LABEL_NAME_BYTES) {
        hale_diag_set(reterr, "%sannotations: name of %zu bytes, at most %u accepted", pfx,
                      name_len, HALE_MAX_LABEL_NAME_BYTES);
        return HALE_ELIMIT;
    }
    if (!json_is_string(v)) {
        hale_diag_set(reterr, "%sannotations.%.*s: expected string, got %s", pfx, q, name,
                      hale_json_type_name(v));
        return HALE_ESCHEMA;
    }
    if (json_string_length(v) > HALE_MAX_ANNOTATION_BYTES) {
        hale_diag_set(reterr, "%sannotations.%.*s: value of %zu bytes, at most %u accepted", pfx, q,
                      name, json_string_length(v), HALE_MAX_ANNOTATION_BYTES);
        return HALE_ELIMIT;
    }
    return 0;
}

int hale__ingest_check_annotations(const json_t *annotations, const char *pfx, hale_diag *reterr)
{
    size_t n = json_object_size(annotations);
    void *it;
    int r;

    r = check_object(annotations, pfx, "annotations", reterr);
    if (r < 0)
        return r;
    if (n > HALE_MAX_ANNOTATIONS) {
        hale_diag_set(reterr, "%sannotations: %zu annotations, at most %u accepted", pfx, n,
                      HALE_MAX_ANNOTATIONS);
        return HALE_ELIMIT;
    }
    for (it = json_object_iter(unconst(annotations)); it;
         it = json_object_iter_next(unconst(annotations), it)) {
        r = check_annotation(json_object_iter_key(it), json_object_iter_key_len(it),
                             json_object_iter_value(it), pfx, reterr);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Go compares strings bytewise; so does memcmp, then the shorter name sorts first. */
static int label_cmp(const void *pa, const void *pb)
{
    const struct hale__ingest_label *a = pa;
    const struct hale__ingest_label *b = pb;
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, n);

    if (c != 0)
        return c;
    return (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

static uint64_t fnv1a(uint64_t h, const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= FNV64_PRIME;
    }
    return h;
}

void hale__ingest_hex_u64(uint64_t v, char out[HALE_FINGERPRINT_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    int i;

    for (i = HALE_FINGERPRINT_LEN - 1; i >= 0; i--) {
        out[i] = digits[v & 0xfu];
        v >>= 4;
    }
    out[HALE_FINGERPRINT_LEN] = '\0';
}

/* Prometheus' labelSetToFingerprint() (common/model/labelset.go, signature.go). */
void hale__ingest_fingerprint_sorted(struct hale__ingest_labels *ls,
                                     char out[HALE_FINGERPRINT_LEN + 1])
{
    static const char sep = (char)LABEL_SEP;
    uint64_t h = FNV64_OFFSET;
    size_t i;

    if (ls->n > 1)
        qsort(ls->items, ls->n, sizeof(ls->items[0]), label_cmp);
    for (i = 0; i < ls->n; i++) {
        h = fnv1a(h, ls->items[i].name, ls->items[i].name_len);
        h = fnv1a(h, &sep, 1);
        h = fnv1a(h, ls->items[i].value, ls->items[i].value_len);
        h = fnv1a(h, &sep, 1);
    }
    hale__ingest_hex_u64(h, out);
}

int hale_ingest_fingerprint(const json_t *labels, char out[HALE_FINGERPRINT_LEN + 1])
{
    struct hale__ingest_labels ls;
    void *it;

    if (!json_is_object(labels))
        return HALE_ESCHEMA;
    if (json_object_size(labels) > HALE_MAX_LABELS)
        return HALE_ELIMIT;
    ls.n = 0;
    for (it = json_object_iter(unconst(labels)); it;
         it = json_object_iter_next(unconst(labels), it)) {
        const json_t *v = json_object_iter_value(it);

        if (!json_is_string(v))
            return HALE_ESCHEMA;
        if (HALE_NEVER(ls.n >= HALE_MAX_LABELS))
            return HALE_ELIMIT;
        ls.items[ls.n].name = json_object_iter_key(it);
        ls.items[ls.n].name_len = json_object_iter_key_len(it);
        ls.items[ls.n].value = json_string_value(v);
        ls.items[ls.n].value_len = json_string_length(v);
        ls.n++;
    }
    hale__ingest_fingerprint_sorted(&ls, out);
    return 0;
}

bool hale__ingest_hex16(const char *s, char out[HALE_FINGERPRINT_LEN + 1])
{
    size_t i;

    for (i = 0; i < HALE_FINGERPRINT_LEN; i++) {
        char c = s[i];

        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false; /* also stops at the NUL of a shorter string */
        out[i] = c;
    }
    if (s[HALE_FINGERPRINT_LEN] != '\0')
        return false;
    out[HALE_FINGERPRINT_LEN] = '\0';
    return true;
}

int hale__ingest_status(const char *s, const char *pfx, const char *field, hale_alert_status *ret,
                        hale_diag *reterr)
{
    if (strcmp(s, "firing") == 0) {
        *ret = HALE_ALERT_FIRING;
        return 0;
    }
    if (strcmp(s, "resolved") == 0) {
        *ret = HALE_ALERT_RESOLVED;
        return 0;
    }
    hale_diag_set(reterr, "%s%s: expected \"firing\" or \"resolved\", got \"%.*s\"", pfx, field,
                  hale__ingest_quote(s), s);
    return HALE_ESCHEMA;
}

int hale__ingest_time(const char *s, const char *pfx, const char *field, int64_t *ret_ms,
                      hale_diag *reterr)
{
    int64_t ms;

    /* Every firing alert carries Go's zero time as endsAt: skip the general parser for it. */
    if (strcmp(s, go_zero_time) == 0) {
        *ret_ms = HALE_TIME_ZERO_MS;
        return 0;
    }
    if (hale_rfc3339_parse(s, &ms) < 0) {
        hale_diag_set(reterr, "%s%s: expected RFC 3339 time, got \"%.*s\"", pfx, field,
                      hale__ingest_quote(s), s);
        return HALE_ESCHEMA;
    }
    *ret_ms = ms;
    return 0;
}

int hale__ingest_strdup(char **dst, const char *s)
{
    *dst = strdup(s ? s : "");
    return *dst ? 0 : -ENOMEM;
}

int hale__ingest_set_annotations(hale_alert *a, json_t *annotations)
{
    a->annotations = annotations ? json_incref(annotations) : json_object();
    return a->annotations ? 0 : -ENOMEM;
}

hale_ingest_batch *hale__ingest_batch_new(size_t n)
{
    hale_ingest_batch *b = calloc(1, sizeof(*b));

    if (!b)
        return NULL;
    if (n > 0) {
        b->alerts = calloc(n, sizeof(b->alerts[0]));
        if (!b->alerts) {
            free(b);
            return NULL;
        }
        b->n_alerts = n;
    }
    return b;
}

void hale_ingest_batch_free(hale_ingest_batch *b)
{
    size_t i;

    if (!b)
        return;
    for (i = 0; i < b->n_alerts; i++) {
        hale_alert *a = &b->alerts[i];

        json_decref(a->labels);
        json_decref(a->annotations);
        free(a->generator_url);
        free(a->severity);
    }
    free(b->alerts);
    free(b->source);
    free(b->receiver);
    free(b->group_key);
    free(b->external_url);
    free(b);
}

static json_t *time_or_null(int64_t ms, int64_t none_ms)
{
    char buf[40];

    if (ms == none_ms)
        return json_null();
    return json_string(hale_rfc3339_format(ms, buf, sizeof(buf)));
}

static json_t *object_or_empty(json_t *o)
{
    return o ? json_incref(o) : json_object();
}

json_t *hale_ingest_alert_to_json(const hale_alert *a)
{
    json_t *o = json_object();
    const char *status = a->status == HALE_ALERT_RESOLVED ? "resolved" : "firing";

    if (!o)
        return NULL;
    /* json_object_set_new() consumes its value even on failure, NULL included. */
    if (json_object_set_new(o, "fingerprint", json_string(a->fingerprint)) < 0 ||
        json_object_set_new(o, "status", json_string(status)) < 0 ||
        json_object_set_new(o, "labels", object_or_empty(a->labels)) < 0 ||
        json_object_set_new(o, "annotations", object_or_empty(a->annotations)) < 0 ||
        json_object_set_new(o, "startsAt", time_or_null(a->starts_ms, 0)) < 0 ||
        json_object_set_new(o, "endsAt", time_or_null(a->ends_ms, HALE_TIME_ZERO_MS)) < 0 ||
        json_object_set_new(o, "generatorURL",
                            json_string(a->generator_url ? a->generator_url : "")) < 0 ||
        json_object_set_new(o, "severity", json_string(a->severity ? a->severity : "")) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}
