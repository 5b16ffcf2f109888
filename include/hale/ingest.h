/* include/hale/ingest.h - turn inbound payloads into normalized alerts.
 * Pure parsing and validation: no I/O, no logging. Two sources today: the Alertmanager webhook
 * (version 4, exactly as Alertmanager 0.25 sends it) and hale's generic JSON event. */
#pragma once
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/diag.h"

typedef enum hale_alert_status {
    HALE_ALERT_FIRING = 1,
    HALE_ALERT_RESOLVED = 2,
} hale_alert_status;

#define HALE_FINGERPRINT_LEN 16 /* hex digits, Alertmanager's form */

typedef struct hale_alert {
    /* Lowercase hex, NUL-terminated. For Alertmanager: the alert's own fingerprint when it sent
     * one, kept even if it differs from hale_ingest_fingerprint(labels), because it is the key
     * Alertmanager itself dedups on; computed from labels when absent. For events: see
     * hale_ingest_parse_event(). */
    char fingerprint[HALE_FINGERPRINT_LEN + 1];
    hale_alert_status status; /* firing or resolved */
    json_t *labels;           /* object of string values, owned (one reference) */
    json_t *annotations;      /* object of string values, owned (one reference); {} when none */
    int64_t starts_ms;        /* unix ms; 0 when the source gave none (absent or Go's zero time) */
    int64_t ends_ms;          /* unix ms; HALE_TIME_ZERO_MS means "open" (absent or Go's zero) */
    char *generator_url;      /* owned; "" when absent */
    char *severity;           /* owned; labels.severity, or the event's severity; "" when none */
} hale_alert;

typedef struct hale_ingest_batch {
    char *source;              /* owned: "alertmanager" or the event's source */
    char *receiver;            /* owned: Alertmanager receiver, "" for events */
    char *group_key;           /* owned: Alertmanager groupKey, "" for events */
    char *external_url;        /* owned: Alertmanager externalURL, "" for events */
    uint64_t truncated_alerts; /* alerts Alertmanager dropped for max_alerts */
    size_t n_alerts;           /* entries in alerts */
    hale_alert *alerts;        /* owned array; NULL when n_alerts is 0 */
} hale_ingest_batch;

/* Parse an Alertmanager webhook body. Unknown top-level and per-alert fields are ignored for
 * forward compatibility (a 4xx would make Alertmanager drop the notification for good); known
 * fields must have their documented types. Limits from hale/limits.h apply. On success *ret
 * is a new batch owned by the caller. Errors: HALE_EUTF8, HALE_EPARSE, HALE_ESCHEMA,
 * HALE_ELIMIT (with "alerts[3].labels: ..." in reterr), -ENOMEM.
 * Rules: version must be "4"; the top-level and per-alert status "firing" or "resolved";
 * truncatedAlerts an integer >= 0; alerts 0..HALE_MAX_ALERTS_PER_BATCH entries; labels
 * 1..HALE_MAX_LABELS names of [a-zA-Z_][a-zA-Z0-9_]*; annotation names 1..
 * HALE_MAX_LABEL_NAME_BYTES bytes of any UTF-8; a fingerprint, when present, exactly 16 hex
 * digits (lowercased); severity is labels.severity. */
int hale_ingest_parse_alertmanager(const char *body, size_t len, hale_ingest_batch **ret,
                                   hale_diag *reterr);

/* Parse a generic event: {"source", "severity", "labels", "annotations", "fingerprint",
 * "timestamp", "status"}. Strict: unknown fields are HALE_ESCHEMA. now_ms stamps events with
 * no timestamp. On success *ret is a batch with one alert. Errors as for Alertmanager.
 *   source      required, 1..128 bytes; becomes the batch's source.
 *   severity    optional, one of "critical" "error" "warning" "info" "none" (case-sensitive);
 *               when absent the alert's severity is labels.severity, else "".
 *   labels      required, the same rules as an Alertmanager alert's.
 *   annotations optional, the same rules as an Alertmanager alert's.
 *   fingerprint optional, 1..128 bytes of [A-Za-z0-9._:-]. 16 hex digits are used as they are
 *               (lowercased); anything else maps to the first 8 bytes of its SHA-256, in hex.
 *               When absent: hale_ingest_fingerprint(labels), as Alertmanager would compute.
 *   timestamp   optional RFC 3339 time, else now_ms; becomes starts_ms.
 *   status      optional "firing" (the default) or "resolved"; a resolved event ends at its
 *               timestamp, a firing one is open (ends_ms = HALE_TIME_ZERO_MS).
 * receiver, group_key and external_url are "", truncated_alerts 0. */
int hale_ingest_parse_event(const char *body, size_t len, int64_t now_ms, hale_ingest_batch **ret,
                            hale_diag *reterr);

void hale_ingest_batch_free(hale_ingest_batch *b); /* NULL is a no-op */

/* Alertmanager's label-set fingerprint (FNV-1a 64 over sorted names and values with 0xff
 * separators), so a generic event and an Alertmanager alert with the same labels dedup. labels
 * must be an object of strings. Writes 16 hex digits and a NUL into out. Returns 0,
 * HALE_ESCHEMA, or HALE_ELIMIT for more than HALE_MAX_LABELS labels. An empty set gives
 * "cbf29ce484222325" (FNV's offset basis), as in Prometheus. */
int hale_ingest_fingerprint(const json_t *labels, char out[HALE_FINGERPRINT_LEN + 1]);

/* The normalized form of one alert as a new JSON object (caller decrefs); NULL on ENOMEM:
 * {"fingerprint", "status": "firing"|"resolved", "labels", "annotations", "startsAt",
 * "endsAt", "generatorURL", "severity"}; startsAt is null when starts_ms is 0, endsAt when
 * ends_ms is HALE_TIME_ZERO_MS. labels and annotations are shared with a, not copied. */
json_t *hale_ingest_alert_to_json(const hale_alert *a);
