/* agent/ingest/ingest_int.h - private to agent/ingest: what the Alertmanager and event parsers
 * share (label and annotation rules, times, status, batch allocation, fingerprints).
 * Pure functions; errors name the path of the offending field in reterr. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/diag.h"
#include "hale/ingest.h"

/* One label, borrowed from the parsed document. */
struct hale__ingest_label {
    const char *name;  /* NUL-terminated, ASCII after validation */
    size_t name_len;   /* bytes in name */
    const char *value; /* NUL-terminated UTF-8 (jansson rejects \u0000) */
    size_t value_len;  /* bytes in value */
};

/* A label set seen once: validation collects what fingerprinting and severity need, so the
 * JSON object is walked a single time. */
struct hale__ingest_labels {
    struct hale__ingest_label items[HALE_MAX_LABELS]; /* in document order until sorted */
    size_t n;                                         /* entries used */
    const char *severity;                             /* labels.severity, or NULL */
};

/* Parse body as one JSON object (hale_json_parse, then a type check) into *ret (a new
 * reference). Returns 0, HALE_ELIMIT (over HALE_MAX_BODY_BYTES), HALE_EPARSE, HALE_EUTF8,
 * HALE_ESCHEMA (not an object) or -ENOMEM. */
int hale__ingest_parse_object(const char *body, size_t len, json_t **ret, hale_diag *reterr);

/* A new batch with n zeroed alerts (alerts NULL when n is 0), its strings not yet set.
 * NULL on ENOMEM. Free with hale_ingest_batch_free(), also when half-filled. */
hale_ingest_batch *hale__ingest_batch_new(size_t n);

/* Set *dst to a copy of s, or of "" when s is NULL. Returns 0 or -ENOMEM. */
int hale__ingest_strdup(char **dst, const char *s);

/* Check labels against the rules in hale/ingest.h (an object of 1..HALE_MAX_LABELS strings with
 * Prometheus names and bounded values) and fill *ret. pfx is "" or "alerts[3]." and starts
 * every message. Returns 0, HALE_ESCHEMA or HALE_ELIMIT. */
int hale__ingest_check_labels(const json_t *labels, const char *pfx,
                              struct hale__ingest_labels *ret, hale_diag *reterr);

/* Check annotations (an object of at most HALE_MAX_ANNOTATIONS strings, names 1..
 * HALE_MAX_LABEL_NAME_BYTES bytes, values at most HALE_MAX_ANNOTATION_BYTES). Returns 0,
 * HALE_ESCHEMA or HALE_ELIMIT. */
int hale__ingest_check_annotations(const json_t *annotations, const char *pfx, hale_diag *reterr);

/* Sort ls by name (bytewise, as Go compares strings) and write its FNV-1a fingerprint. */
void hale__ingest_fingerprint_sorted(struct hale__ingest_labels *ls,
                                     char out[HALE_FINGERPRINT_LEN + 1]);

/* Write v as 16 lowercase hex digits and a NUL (Go's %016x). */
void hale__ingest_hex_u64(uint64_t v, char out[HALE_FINGERPRINT_LEN + 1]);

/* Copy s into out lowercased when it is exactly 16 hex digits; return false otherwise. */
bool hale__ingest_hex16(const char *s, char out[HALE_FINGERPRINT_LEN + 1]);

/* "firing" or "resolved" into *ret. field names the key for the message, after pfx.
 * Returns 0 or HALE_ESCHEMA. */
int hale__ingest_status(const char *s, const char *pfx, const char *field, hale_alert_status *ret,
                        hale_diag *reterr);

/* An RFC 3339 time into unix ms; Go's zero time "0001-01-01T00:00:00Z" gives
 * HALE_TIME_ZERO_MS. Returns 0 or HALE_ESCHEMA naming pfx and field. */
int hale__ingest_time(const char *s, const char *pfx, const char *field, int64_t *ret_ms,
                      hale_diag *reterr);

/* Take one reference to annotations for a, or a new {} when NULL. Returns 0 or -ENOMEM. */
int hale__ingest_set_annotations(hale_alert *a, json_t *annotations);

/* How many bytes of s (len bytes of UTF-8) to quote in a message: at most max, cut on a
 * character boundary so the message stays valid UTF-8. */
int hale__ingest_quote_len(const char *s, size_t len, size_t max);

/* hale__ingest_quote_len() of a NUL-terminated s with max HALE_INGEST_QUOTE_MAX. */
int hale__ingest_quote(const char *s);

#define HALE_INGEST_QUOTE_MAX 64 /* bytes of a bad input value repeated in a message */
