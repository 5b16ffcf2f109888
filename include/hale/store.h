/* include/hale/store.h - the embedded SQLite store: events, alerts, incidents, their state
 * history and the outbox of pending stage work. One writer connection on the loop thread;
 * readers (CLI, API) open their own. WAL mode; schema changes go through numbered migrations.
 * Records passed to callbacks are borrowed: their strings die when the callback returns.
 * Library code: nothing here logs; failures come back as HALE_ESTORE/-errno with reterr text. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hale/diag.h"
#include "hale/fwd.h"

#define HALE_STORE_FILE "hale.db"

typedef enum hale_store_sync {
    HALE_STORE_SYNC_FULL = 0, /* fsync the WAL on every commit: acknowledged survives power loss */
    HALE_STORE_SYNC_NORMAL,   /* survives a process crash; the last commits may roll back on power
                                 loss */
} hale_store_sync;

typedef struct hale_store_opts {
    const char *path;       /* the database file; its directory must exist */
    hale_store_sync sync;   /* durability of a commit */
    bool read_only;         /* open an existing database for reading only; no migrations */
    int wal_autocheckpoint; /* WAL pages after which a commit checkpoints; 0: SQLite's 1000 */
} hale_store_opts;

/* Open (creating and migrating when writable). Returns 0, -errno, HALE_ESTORE (with the
 * SQLite message in reterr) or HALE_ESCHEMA (database from a newer hale). *ret is owned by the
 * caller and released with hale_store_free(). */
int hale_store_open(const hale_store_opts *opts, hale_store **ret, hale_diag *reterr);
void hale_store_free(hale_store *s); /* NULL is a no-op; finalizes statements and closes */

int hale_store_schema_version(const hale_store *s); /* migrations applied */
const char *hale_store_errmsg(const hale_store *s); /* last SQLite message; borrowed */

/* Copy committed WAL frames into the database file without blocking writers or readers
 * (SQLite's PASSIVE checkpoint). Meant for a connection of its own on another thread, so that
 * the writer's own checkpoint (wal_autocheckpoint pages) finds little left. *ret_wal_frames
 * (may be NULL) gets the frames in the log. Returns 0 or HALE_ESTORE. */
int hale_store_checkpoint(hale_store *s, int *ret_wal_frames);

/* One write transaction at a time. commit returns 0 or HALE_ESTORE (and the transaction is
 * rolled back); rollback is safe to call when no transaction is open. */
int hale_store_begin(hale_store *s);
int hale_store_commit(hale_store *s);
void hale_store_rollback(hale_store *s);
bool hale_store_in_tx(const hale_store *s); /* a write transaction is open */

/* Transaction hooks, for a module whose tables must change in the same transaction as
 * everything else (the audit frontier). before_commit runs inside the transaction just before
 * COMMIT; a negative return rolls the transaction back and hale_store_commit returns it.
 * after_end runs once the transaction ended: committed true after a successful commit, false
 * after a rollback (of any cause). One set per connection; NULL hooks removes them. */
typedef struct hale_store_tx_hooks {
    int (*before_commit)(void *ud);              /* may be NULL */
    void (*after_end)(bool committed, void *ud); /* may be NULL */
    void *ud;                                    /* passed to both */
} hale_store_tx_hooks;
void hale_store_set_tx_hooks(hale_store *s, const hale_store_tx_hooks *hooks);

/* The SQLite connection, for modules that own tables of their own (audit: its leaves,
 * checkpoints and queries). Borrowed; valid until hale_store_free. Statements prepared on it
 * must be finalized before then. Writes belong inside hale_store_begin/commit. */
struct sqlite3;
struct sqlite3 *hale_store_sqlite(hale_store *s);

/* Controller settings (table control_setting, migration 5): one JSON value per key. _get
 * puts a new reference in *ret; returns 0, HALE_ENOTFOUND, HALE_ESCHEMA (older schema) or
 * HALE_ESTORE, with reterr. _put inserts or replaces (joins an open transaction, else commits
 * on its own); returns 0, -ENOMEM, HALE_ESCHEMA or HALE_ESTORE. */
int hale_store_setting_get(hale_store *s, const char *key, json_t **ret, hale_diag *reterr);
int hale_store_setting_put(hale_store *s, const char *key, const json_t *value, int64_t at_ms,
                           hale_diag *reterr);

typedef struct hale_event_rec {
    int64_t id;             /* assigned on insert */
    int64_t received_ms;    /* unix ms */
    const char *kind;       /* "alertmanager" or "event" */
    const char *source;     /* sender: receiver name or the event's source */
    const void *raw;        /* the accepted body, byte for byte */
    size_t raw_len;         /* bytes in raw */
    const char *normalized; /* compact JSON array: per alert its fingerprint, status and times */
} hale_event_rec;

typedef struct hale_alert_rec {
    int64_t id;                /* > 0, assigned by the caller in arrival order */
    const char *fingerprint;   /* 16 hex digits; one row per fingerprint, kept so by the caller */
    const char *status;        /* "firing" or "resolved" */
    const char *labels;        /* compact JSON object */
    const char *annotations;   /* compact JSON object */
    const char *severity;      /* may be "" */
    const char *source;        /* who sent it last */
    const char *generator_url; /* may be "" */
    int64_t starts_ms;         /* episode start, unix ms (0 unknown) */
    int64_t ends_ms;           /* HALE_TIME_ZERO_MS while open */
    int64_t first_seen_ms;     /* first receipt of this fingerprint */
    int64_t last_seen_ms;      /* latest receipt, re-sends included */
    int64_t seen_count;        /* receipts, re-sends included (upsert: 1, then +1 each) */
    int64_t incident_id;       /* incident of the current episode; 0 for none */
    int64_t last_event_id;     /* events.id of the latest receipt */
} hale_alert_rec;

typedef struct hale_incident_rec {
    int64_t id;               /* > 0 */
    const char *group_key;    /* 'alertname="X",service="Y"' */
    const char *group_labels; /* compact JSON object of the group_by labels */
    const char *title;        /* human summary */
    const char *state;        /* state machine name ("open", ...) */
    const char *severity;     /* highest severity among its alerts, may be "" */
    const char *state_reason; /* why it entered its state */
    const char *context;      /* compact JSON object that later stages fill */
    int64_t created_ms;       /* unix ms */
    int64_t updated_ms;       /* last change of any kind */
    int64_t state_since_ms;   /* entered the current state */
    int64_t last_alert_ms;    /* latest alert receipt: drives the grouping window */
    int64_t closed_ms;        /* entered a terminal state; 0 while active */
    int64_t alerts_total;     /* distinct alerts ever attached */
    int64_t alerts_firing;    /* of those, firing now */
    int64_t attempts;         /* remediation attempts so far */
    int64_t version;          /* bumped on every write: optimistic checks and ETags */
} hale_incident_rec;

typedef struct hale_transition_rec {
    int64_t incident_id; /* whose */
    const char *from;    /* "" for the creation */
    const char *to;      /* new state */
    int64_t at_ms;       /* unix ms */
    const char *reason;  /* why */
} hale_transition_rec;

typedef struct hale_outbox_rec {
    int64_t id;          /* assigned on insert */
    const char *kind;    /* "stage:investigating", ... */
    int64_t incident_id; /* 0 for none */
    const char *payload; /* compact JSON */
    int64_t created_ms;  /* unix ms */
    int64_t due_ms;      /* not before */
    int64_t attempts;    /* deliveries tried */
} hale_outbox_rec;

/* Writes (inside hale_store_begin/commit). Each returns 0 or HALE_ESTORE. */
int hale_store_event_insert(hale_store *s, const hale_event_rec *e, int64_t *ret_id);
/* Insert by id, or update everything but first_seen_ms and count one more receipt. */
int hale_store_alert_upsert(hale_store *s, const hale_alert_rec *a);
/* A receipt that changes nothing but last_seen_ms, seen_count and last_event_id. */
int hale_store_alert_seen(hale_store *s, int64_t id, int64_t seen_ms, int64_t event_id);
int hale_store_incident_put(hale_store *s, const hale_incident_rec *r); /* insert or update */
int hale_store_transition_add(hale_store *s, const hale_transition_rec *t);
int hale_store_outbox_add(hale_store *s, const hale_outbox_rec *o, int64_t *ret_id);
int hale_store_outbox_finish(hale_store *s, int64_t id, int64_t done_ms, const char *error);
/* Record that alert_id was part of incident_id (idempotent). */
int hale_store_incident_alert_add(hale_store *s, int64_t incident_id, int64_t alert_id);
/* Add the pairs that alerts.incident_id implies and incident_alerts lacks (after a crash lost
 * pairs not yet written). Returns the pairs added or HALE_ESTORE. */
int hale_store_incident_alerts_rebuild(hale_store *s);
/* Delete up to max_rows events received before before_ms. Returns rows deleted or error. */
int hale_store_events_prune(hale_store *s, int64_t before_ms, int max_rows);

/* Reads. Callbacks return 0 to go on, anything else stops the walk and is returned. */
typedef int (*hale_store_incident_cb)(const hale_incident_rec *r, void *ud);
typedef int (*hale_store_alert_cb)(const hale_alert_rec *r, void *ud);
typedef int (*hale_store_transition_cb)(const hale_transition_rec *r, void *ud);
typedef int (*hale_store_outbox_cb)(const hale_outbox_rec *r, void *ud);

/* state NULL: all; newest first, at most limit rows (0: no limit). */
int hale_store_incidents_each(hale_store *s, const char *state, unsigned limit,
                              hale_store_incident_cb cb, void *ud);
/* Active incidents (closed_ms == 0), oldest first. */
int hale_store_incidents_active_each(hale_store *s, hale_store_incident_cb cb, void *ud);
/* Returns the callback's result, or HALE_ENOTFOUND. */
int hale_store_incident_get(hale_store *s, int64_t id, hale_store_incident_cb cb, void *ud);
int hale_store_alert_get(hale_store *s, int64_t id, hale_store_alert_cb cb, void *ud);
/* incident_id 0: every alert, in id order; else the alerts that were part of that incident. */
int hale_store_alerts_each(hale_store *s, int64_t incident_id, hale_store_alert_cb cb, void *ud);
int hale_store_transitions_each(hale_store *s, int64_t incident_id, hale_store_transition_cb cb,
                                void *ud);
int hale_store_outbox_pending_each(hale_store *s, hale_store_outbox_cb cb, void *ud);
int hale_store_max_incident_id(hale_store *s, int64_t *ret);
int hale_store_max_alert_id(hale_store *s, int64_t *ret);
/* Counts for /metrics: incidents per state, into cb(state, count). */
int hale_store_incident_counts(hale_store *s, int (*cb)(const char *state, int64_t n, void *ud),
                               void *ud);
int hale_store_count(hale_store *s, const char *table, int64_t *ret); /* fixed table names */

/* JSON views shared by the API and the CLI (caller decrefs). */
json_t *hale_store_incident_to_json(const hale_incident_rec *r);
json_t *hale_store_alert_to_json(const hale_alert_rec *r);
/* {"incidents": [...]} newest first; state NULL for all. Returns 0 or error. */
int hale_store_incidents_json(hale_store *s, const char *state, unsigned limit, json_t **ret);
/* One incident with its "alerts" and "transitions". HALE_ENOTFOUND when absent. */
int hale_store_incident_detail_json(hale_store *s, int64_t id, json_t **ret);
