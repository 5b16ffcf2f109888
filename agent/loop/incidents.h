/* agent/loop/incidents.h - correlation of alerts into incidents and the incident state machine
 * applied to the store. Keeps the active incidents and every alert's identity (fingerprint ->
 * row, episode, incident) in memory, so that a webhook costs hash lookups and a few appends;
 * the store stays the truth: at start and after a failed transaction the maps are rebuilt
 * from it. One thread at a time: the loop thread, or the commit job it hands the manager to. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/fwd.h"
#include "hale/incident.h"
#include "hale/ingest.h"

typedef struct hale_incidents hale_incidents;

/* A new manager over store (borrowed: must outlive it). group_by (copied) and window_ms say
 * which alerts make one incident. Returns 0, -ENOMEM or HALE_ESTORE from the initial load. */
int hale_incidents_new(hale_store *store, const char *const *group_by, size_t n_group_by,
                       uint64_t window_ms, hale_incidents **ret);
void hale_incidents_free(hale_incidents *m); /* NULL is a no-op */

/* Change the grouping (config reload). Applies to alerts received from now on. */
int hale_incidents_set_grouping(hale_incidents *m, const char *const *group_by, size_t n_group_by,
                                uint64_t window_ms);

/* Log every transition from now on as an audit leaf in its transaction (a borrowed, must
 * outlive m; NULL stops logging). */
void hale_incidents_set_audit(hale_incidents *m, hale_audit *a);

/* Entering state s writes a durable work item when a stage handles s. */
void hale_incidents_set_staged(hale_incidents *m, hale_incident_state s, bool staged);

/* Inside an open store transaction: record one alert from event event_id and correlate it.
 * Returns 0 or HALE_ESTORE/-ENOMEM (the caller rolls back and calls _aborted). */
int hale_incidents_apply_alert(hale_incidents *m, const hale_alert *a, const char *source,
                               int64_t event_id, int64_t now_ms);

/* Inside an open store transaction: move incident id to state to. Returns 0, HALE_ENOTFOUND
 * (no such active incident), HALE_ESTATE (transition not allowed) or a store error. */
int hale_incidents_transition(hale_incidents *m, int64_t id, hale_incident_state to,
                              const char *reason, int64_t now_ms);

/* Write every incident changed in this transaction; call once right before the commit. Which
 * alerts were part of which incident is written about once a second (or when many wait, or
 * with all_pairs); until then it is recoverable from the alerts rows. */
int hale_incidents_flush(hale_incidents *m, int64_t now_ms, bool all_pairs);

/* The commit succeeded: closed incidents leave the caches, then entered(ud, ...) runs once for
 * each incident that entered a staged state in it, with the id of its work item. The callback
 * may start another transaction on m. */
typedef void (*hale_incidents_entered_fn)(void *ud, int64_t incident_id, hale_incident_state s,
                                          int64_t outbox_id);
void hale_incidents_committed(hale_incidents *m, hale_incidents_entered_fn entered, void *ud);
/* The transaction failed and was rolled back: forget its changes by reloading from the store.
 * Returns 0 or the store error (the manager is then empty and every call retries the load). */
int hale_incidents_aborted(hale_incidents *m);

/* A snapshot of active incident id for a stage; strings borrowed until the next mutating call.
 * Returns 0 or HALE_ENOTFOUND. */
int hale_incidents_view(const hale_incidents *m, int64_t id, hale_incident_view *ret);

size_t hale_incidents_pairs_pending(const hale_incidents *m); /* membership not yet written */
size_t hale_incidents_active(const hale_incidents *m);        /* active incidents in memory */
size_t hale_incidents_cached_alerts(const hale_incidents *m); /* every alert in the store */
