/* agent/ingest/ingest_alertmanager.c - the Alertmanager webhook (message version 4) into a
 * hale_ingest_batch. Called by the API route for every POST /api/v1/alerts: one parse, one
 * field-table pass per object, labels taken by reference from the parsed document. */
#include "internal.h"

#include <inttypes.h>

#include "ingest_int.h"
#include "util/json.h"
#include "util/timeutil.h"

/* webhook.Message: template.Data plus version, groupKey and truncatedAlerts. */
struct am_message {
    const char *version;        /* must be "4" */
    const char *group_key;      /* aggregation group id; NULL when absent */
    int64_t truncated_alerts;   /* alerts dropped for max_alerts; >= 0 */
    const char *status;         /* "firing" or "resolved"; NULL when absent */
    const char *receiver;       /* receiver name; NULL when absent */
    json_t *group_labels;       /* checked for type, not kept */
    json_t *common_labels;      /* checked for type, not kept */
    json_t *common_annotations; /* checked for type, not kept */
    const char *external_url;   /* Alertmanager's external URL; NULL when absent */
    json_t *alerts;             /* the array of alerts */
};

static const hale_json_field am_message_fields[] = {
    {"version", HALE_JSON_STRING, true, offsetof(struct am_message, version)},
    {"groupKey", HALE_JSON_STRING, false, offsetof(struct am_message, group_key)},
    {"truncatedAlerts", HALE_JSON_INT, false, offsetof(struct am_message, truncated_alerts)},
    {"status", HALE_JSON_STRING, false, offsetof(struct am_message, status)},
    {"receiver", HALE_JSON_STRING, false, offsetof(struct am_message, receiver)},
    {"groupLabels", HALE_JSON_STRING_MAP, false, offsetof(struct am_message, group_labels)},
    {"commonLabels", HALE_JSON_STRING_MAP, false, offsetof(struct am_message, common_labels)},
    {"commonAnnotations", HALE_JSON_STRING_MAP, false,
     offsetof(struct am_message, common_annotations)},
    {"externalURL", HALE_JSON_STRING, false, offsetof(struct am_message, external_url)},
    {"alerts", HALE_JSON_ARRAY, true, offsetof(struct am_message, alerts)},
};

/* template.Alert. Labels and annotations are checked by hand: one walk gives the label rules,
 * the severity and the fingerprint's input together. */
struct am_alert {
    const char *status;        /* "firing" or "resolved" */
    json_t *labels;            /* object of strings */
    json_t *annotations;       /* object of strings; NULL when absent */
    const char *starts_at;     /* RFC 3339; NULL when absent */
    const char *ends_at;       /* RFC 3339; NULL when absent (open) */
    const char *generator_url; /* NULL when absent */
    const char *fingerprint;   /* 16 hex digits; NULL when absent */
};

static const hale_json_field am_alert_fields[] = {
    {"status", HALE_JSON_STRING, true, offsetof(struct am_alert, status)},
    {"labels", HALE_JSON_OBJECT, true, offsetof(struct am_alert, labels)},
    {"annotations", HALE_JSON_OBJECT, false, offsetof(struct am_alert, annotations)},
    {"startsAt", HALE_JSON_STRING, false, offsetof(struct am_alert, starts_at)},
    {"endsAt", HALE_JSON_STRING, false, offsetof(struct am_alert, ends_at)},
    {"generatorURL", HALE_JSON_STRING, false, offsetof(struct am_alert, generator_url)},
    {"fingerprint", HALE_JSON_STRING, false, offsetof(struct am_alert, fingerprint)},
};

static int check_message(const struct am_message *m, hale_diag *reterr)
{
    size_t n = json_array_size(m->alerts);
    hale_alert_status status;
    int r;

    if (strcmp(m->version, "4") != 0) {
        hale_diag_set(reterr, "version: expected \"4\", got \"%.*s\"",
                      hale__ingest_quote(m->version), m->version);
        return HALE_ESCHEMA;
    }
    if (m->truncated_alerts < 0) {
        hale_diag_set(reterr, "truncatedAlerts: expected an integer >= 0, got %" PRId64,
                      m->truncated_alerts);
        return HALE_ESCHEMA;
    }
    if (m->status) {
        r = hale__ingest_status(m->status, "", "status", &status, reterr);
        if (r < 0)
            return r;
    }
    if (n > HALE_MAX_ALERTS_PER_BATCH) {
        hale_diag_set(reterr, "alerts: %zu alerts, at most %u accepted", n,
                      HALE_MAX_ALERTS_PER_BATCH);
        return HALE_ELIMIT;
    }
    return 0;
}

/* Everything about one alert that can fail without allocating: status, labels, annotations,
 * times, fingerprint. Fills the plain fields of a and *ls. */
static int check_alert(const struct am_alert *f, const char *pfx, struct hale__ingest_labels *ls,
                       hale_alert *a, hale_diag *reterr)
{
    int r;

    r = hale__ingest_status(f->status, pfx, "status", &a->status, reterr);
    if (r < 0)
        return r;
    r = hale__ingest_check_labels(f->labels, pfx, ls, reterr);
    if (r < 0)
        return r;
    if (f->annotations) {
        r = hale__ingest_check_annotations(f->annotations, pfx, reterr);
        if (r < 0)
            return r;
    }
    a->starts_ms = 0;
    if (f->starts_at) {
        r = hale__ingest_time(f->starts_at, pfx, "startsAt", &a->starts_ms, reterr);
        if (r < 0)
            return r;
        if (a->starts_ms == HALE_TIME_ZERO_MS)
            a->starts_ms = 0; /* Go's zero time is Go's "none" */
    }
    a->ends_ms = HALE_TIME_ZERO_MS;
    if (f->ends_at) {
        r = hale__ingest_time(f->ends_at, pfx, "endsAt", &a->ends_ms, reterr);
        if (r < 0)
            return r;
    }
    if (!f->fingerprint) {
        hale__ingest_fingerprint_sorted(ls, a->fingerprint);
    } else if (!hale__ingest_hex16(f->fingerprint, a->fingerprint)) {
        hale_diag_set(reterr, "%sfingerprint: expected 16 hex digits, got \"%.*s\"", pfx,
                      hale__ingest_quote(f->fingerprint), f->fingerprint);
        return HALE_ESCHEMA;
    }
    return 0;
}

static int parse_alert(json_t *v, size_t i, hale_alert *a, hale_diag *reterr)
{
    struct am_alert f = {0};
    struct hale__ingest_labels ls;
    char path[32];
    char pfx[sizeof(path) + 1];
    int n;
    int r;

    n = snprintf(path, sizeof(path), "alerts[%zu]", i);
    if (HALE_NEVER(n < 0 || (size_t)n >= sizeof(path)))
        return -EINVAL;
    memcpy(pfx, path, (size_t)n);
    pfx[n] = '.';
    pfx[n + 1] = '\0';
    if (!json_is_object(v)) {
        hale_diag_set(reterr, "%s: expected object, got %s", path, hale_json_type_name(v));
        return HALE_ESCHEMA;
    }
    r = hale_json_fields(v, am_alert_fields, HALE_ARRAY_SIZE(am_alert_fields),
                         HALE_JSON_ALLOW_UNKNOWN, &f, path, reterr);
    if (r < 0)
        return r;
    r = check_alert(&f, pfx, &ls, a, reterr);
    if (r < 0)
        return r;
    a->labels = json_incref(f.labels);
    r = hale__ingest_set_annotations(a, f.annotations);
    if (r < 0)
        return r;
    if (hale__ingest_strdup(&a->generator_url, f.generator_url) < 0 ||
        hale__ingest_strdup(&a->severity, ls.severity) < 0)
        return -ENOMEM;
    return 0;
}

static int fill_batch(hale_ingest_batch *b, const struct am_message *m, hale_diag *reterr)
{
    size_t i;
    int r;

    if (hale__ingest_strdup(&b->source, "alertmanager") < 0 ||
        hale__ingest_strdup(&b->receiver, m->receiver) < 0 ||
        hale__ingest_strdup(&b->group_key, m->group_key) < 0 ||
        hale__ingest_strdup(&b->external_url, m->external_url) < 0)
        return -ENOMEM;
    b->truncated_alerts = (uint64_t)m->truncated_alerts;
    for (i = 0; i < b->n_alerts; i++) {
        r = parse_alert(json_array_get(m->alerts, i), i, &b->alerts[i], reterr);
        if (r < 0)
            return r;
    }
    return 0;
}

int hale_ingest_parse_alertmanager(const char *body, size_t len, hale_ingest_batch **ret,
                                   hale_diag *reterr)
{
    struct am_message m = {0};
    hale_ingest_batch *b = NULL;
    json_t *doc = NULL;
    int r;

    r = hale__ingest_parse_object(body, len, &doc, reterr);
    if (r < 0)
        return r;
    r = hale_json_fields(doc, am_message_fields, HALE_ARRAY_SIZE(am_message_fields),
                         HALE_JSON_ALLOW_UNKNOWN, &m, NULL, reterr);
    if (r < 0)
        goto out;
    r = check_message(&m, reterr);
    if (r < 0)
        goto out;
    b = hale__ingest_batch_new(json_array_size(m.alerts));
    if (!b) {
        r = -ENOMEM;
        goto out;
    }
    r = fill_batch(b, &m, reterr);
    if (r < 0)
        goto out;
    *ret = b;
    b = NULL;
out:
    if (r == -ENOMEM)
        hale_diag_set(reterr, "out of memory");
    hale_ingest_batch_free(b);
    json_decref(doc);
    return r;
}
