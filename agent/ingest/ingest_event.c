/* agent/ingest/ingest_event.c - hale's generic JSON event (POST /api/v1/events) into a batch of
 * one alert, under the same label rules and fingerprint as Alertmanager alerts so that both
 * sources dedup against each other. Strict: an unknown field is an error. */
#include "internal.h"

#include <sodium.h>

#include "ingest_int.h"
#include "util/json.h"
#include "util/timeutil.h"

#define EVENT_MAX_SOURCE_BYTES      128u
#define EVENT_MAX_FINGERPRINT_BYTES 128u

struct event {
    const char *source;      /* required, 1..EVENT_MAX_SOURCE_BYTES */
    const char *severity;    /* one of severities[]; NULL when absent */
    json_t *labels;          /* object of strings */
    json_t *annotations;     /* object of strings; NULL when absent */
    const char *fingerprint; /* [A-Za-z0-9._:-]{1,128}; NULL when absent */
    const char *timestamp;   /* RFC 3339; NULL when absent (now) */
    const char *status;      /* "firing" or "resolved"; NULL when absent (firing) */
};

static const hale_json_field event_fields[] = {
    {"source", HALE_JSON_STRING, true, offsetof(struct event, source)},
    {"severity", HALE_JSON_STRING, false, offsetof(struct event, severity)},
    {"labels", HALE_JSON_OBJECT, true, offsetof(struct event, labels)},
    {"annotations", HALE_JSON_OBJECT, false, offsetof(struct event, annotations)},
    {"fingerprint", HALE_JSON_STRING, false, offsetof(struct event, fingerprint)},
    {"timestamp", HALE_JSON_STRING, false, offsetof(struct event, timestamp)},
    {"status", HALE_JSON_STRING, false, offsetof(struct event, status)},
};

static const char *const severities[] = {"critical", "error", "warning", "info", "none"};

static int check_source(const char *s, hale_diag *reterr)
{
    size_t len = strlen(s);

    if (len == 0) {
        hale_diag_set(reterr, "source: expected a non-empty string, got \"\"");
        return HALE_ESCHEMA;
    }
    if (len > EVENT_MAX_SOURCE_BYTES) {
        hale_diag_set(reterr, "source: %zu bytes, at most %u accepted", len,
                      EVENT_MAX_SOURCE_BYTES);
        return HALE_ELIMIT;
    }
    return 0;
}

static int check_severity(const char *s, hale_diag *reterr)
{
    size_t i;

    for (i = 0; i < HALE_ARRAY_SIZE(severities); i++) {
        if (strcmp(s, severities[i]) == 0)
            return 0;
    }
    hale_diag_set(reterr,
                  "severity: expected one of critical, error, warning, info, none, got \"%.*s\"",
                  hale__ingest_quote(s), s);
    return HALE_ESCHEMA;
}

static bool is_fingerprint_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
}

/* A caller's own dedup key into Alertmanager's 16-hex-digit form: kept when it already has
 * that form, otherwise the first 8 bytes of its SHA-256 (so `printf %s KEY | sha256sum | cut
 * -c1-16` reproduces it). */
static int map_fingerprint(const char *s, char out[HALE_FINGERPRINT_LEN + 1], hale_diag *reterr)
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    size_t len = strlen(s);
    uint64_t v = 0;
    size_t i;

    if (len > EVENT_MAX_FINGERPRINT_BYTES) {
        hale_diag_set(reterr, "fingerprint: %zu bytes, at most %u accepted", len,
                      EVENT_MAX_FINGERPRINT_BYTES);
        return HALE_ELIMIT;
    }
    for (i = 0; i < len && is_fingerprint_char(s[i]); i++)
        ;
    if (len == 0 || i < len) {
        hale_diag_set(reterr,
                      "fingerprint: expected 1 to %u characters of [A-Za-z0-9._:-], "
                      "got \"%.*s\"",
                      EVENT_MAX_FINGERPRINT_BYTES, hale__ingest_quote(s), s);
        return HALE_ESCHEMA;
    }
    if (hale__ingest_hex16(s, out))
        return 0;
    crypto_hash_sha256(digest, (const unsigned char *)s, len);
    for (i = 0; i < 8; i++)
        v = (v << 8) | digest[i];
    hale__ingest_hex_u64(v, out);
    return 0;
}

/* An event's time must be a real instant: Go's zero time would read as "open" in ends_ms. */
static int event_time(const struct event *e, int64_t now_ms, int64_t *ret_ms, hale_diag *reterr)
{
    int64_t ms;
    int r;

    if (!e->timestamp) {
        *ret_ms = now_ms;
        return 0;
    }
    r = hale__ingest_time(e->timestamp, "", "timestamp", &ms, reterr);
    if (r < 0)
        return r;
    if (ms < 0) {
        hale_diag_set(reterr, "timestamp: expected a time not before 1970-01-01, got \"%.*s\"",
                      hale__ingest_quote(e->timestamp), e->timestamp);
        return HALE_ESCHEMA;
    }
    *ret_ms = ms;
    return 0;
}

/* Everything that can fail without allocating; fills the plain fields of a and *ls. */
static int check_event(const struct event *e, int64_t now_ms, struct hale__ingest_labels *ls,
                       hale_alert *a, hale_diag *reterr)
{
    int r;

    r = check_source(e->source, reterr);
    if (r == 0 && e->severity)
        r = check_severity(e->severity, reterr);
    if (r == 0)
        r = hale__ingest_check_labels(e->labels, "", ls, reterr);
    if (r == 0 && e->annotations)
        r = hale__ingest_check_annotations(e->annotations, "", reterr);
    a->status = HALE_ALERT_FIRING;
    if (r == 0 && e->status)
        r = hale__ingest_status(e->status, "", "status", &a->status, reterr);
    if (r == 0)
        r = event_time(e, now_ms, &a->starts_ms, reterr);
    if (r < 0)
        return r;
    a->ends_ms = a->status == HALE_ALERT_RESOLVED ? a->starts_ms : HALE_TIME_ZERO_MS;
    if (e->fingerprint)
        return map_fingerprint(e->fingerprint, a->fingerprint, reterr);
    hale__ingest_fingerprint_sorted(ls, a->fingerprint);
    return 0;
}

static int fill_batch(hale_ingest_batch *b, const struct event *e, const char *severity)
{
    hale_alert *a = &b->alerts[0];

    if (hale__ingest_strdup(&b->source, e->source) < 0 ||
        hale__ingest_strdup(&b->receiver, "") < 0 || hale__ingest_strdup(&b->group_key, "") < 0 ||
        hale__ingest_strdup(&b->external_url, "") < 0)
        return -ENOMEM;
    a->labels = json_incref(e->labels);
    if (hale__ingest_set_annotations(a, e->annotations) < 0 ||
        hale__ingest_strdup(&a->generator_url, "") < 0 ||
        hale__ingest_strdup(&a->severity, severity) < 0)
        return -ENOMEM;
    return 0;
}

int hale_ingest_parse_event(const char *body, size_t len, int64_t now_ms, hale_ingest_batch **ret,
                            hale_diag *reterr)
{
    struct event e = {0};
    struct hale__ingest_labels ls;
    hale_alert a = {0};
    hale_ingest_batch *b = NULL;
    json_t *doc = NULL;
    int r;

    r = hale__ingest_parse_object(body, len, &doc, reterr);
    if (r < 0)
        return r;
    r = hale_json_fields(doc, event_fields, HALE_ARRAY_SIZE(event_fields), HALE_JSON_STRICT, &e,
                         NULL, reterr);
    if (r == 0)
        r = check_event(&e, now_ms, &ls, &a, reterr);
    if (r < 0)
        goto out;
    b = hale__ingest_batch_new(1);
    if (!b) {
        r = -ENOMEM;
        goto out;
    }
    b->alerts[0] = a; /* plain fields only: nothing owned yet */
    r = fill_batch(b, &e, e.severity ? e.severity : ls.severity);
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
