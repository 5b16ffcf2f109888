/* agent/api/api.h - the HTTP routes: parse the request, call one function of the loop (through
 * ops, so api and loop never include each other) or of the store, format the answer. Counts
 * requests by route and status for /metrics. Loop thread only. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "hale/config.h"
#include "hale/fwd.h"
#include "hale/http.h"
#include "hale/ingest.h"
#include "hale/metrics.h"
#include "hale/policy.h"
#include "util/buf.h"

typedef struct hale_api_ops {
    /* Make batch (taken) durable, then answer req. kind is "alertmanager" or "event". */
    void (*submit)(void *ud, hale_http_req *req, hale_ingest_batch *batch, const char *kind);
    /* The store for reads, NULL while it is not open. */
    hale_store *(*store)(void *ud);
    /* Append the loop's metric families. */
    int (*metrics)(void *ud, hale_buf *out);
    /* Ready to take work? When not, *why says what is missing. */
    bool (*ready)(void *ud, const char **why);
    /* Wall clock, unix ms (a fake in tests). */
    int64_t (*now_ms)(void *ud);
    /* The configuration in force (auth tokens), borrowed for the request's handling. May be
     * NULL, or return NULL: then no token is configured, intake and reads are open and the
     * audit routes refuse everyone (they are never open). */
    const hale_config *(*config)(void *ud);
    /* The pause switch, {"paused", "actor", "reason", "since"}: a new reference in *ret.
     * Returns 0 or -ENOMEM. NULL: the pause routes answer 503. */
    int (*pause_get)(void *ud, json_t **ret);
    /* Set or clear the switch as actor (the token's name); client is what the caller says it
     * is (may be NULL). 0 or an error with reterr. */
    int (*pause_set)(void *ud, bool paused, const char *actor, const char *reason,
                     const char *client, hale_diag *reterr);
    /* The approvals for reads, NULL while not open (503). */
    hale_approvals *(*approvals)(void *ud);
    /* Count vote on approval id (audited either way). On success *ret gets the approval after
     * it; on refusal returns the error, *reterr_status the HTTP status (403, 404, 409, 503)
     * and reterr the reason. */
    int (*vote)(void *ud, int64_t id, const hale_approval_vote *vote, json_t **ret,
                int *reterr_status, hale_diag *reterr);
    /* POST /api/v1/metrics: learn set's samples (taken) now. On success *ret_accepted and
     * *ret_refused count samples learned and refused (series cap). NULL: the route answers
     * 503. */
    int (*metrics_ingest)(void *ud, hale_sample_set *set, size_t *ret_accepted,
                          size_t *ret_refused);
    /* Largest number of samples one request may carry. */
    size_t (*metrics_max_samples)(void *ud);
    /* GET /api/v1/forecasts: as hale_metrics_forecasts_json (series may be NULL). NULL: 503. */
    int (*forecasts)(void *ud, const char *series, json_t **ret);
} hale_api_ops;

typedef struct hale_api hale_api;

/* ops is copied; ud is handed back to every op. Returns 0 or -ENOMEM. */
int hale_api_new(const hale_api_ops *ops, void *ud, hale_api **ret);
void hale_api_free(hale_api *api); /* NULL is a no-op */

/* The hale_http_handler_fn to give the server, with the api as its ud. */
void hale_api_handle(hale_http_req *req, void *api);
/* The hale_http_observer_fn to give the server, with the api as its ud. */
void hale_api_observe(const char *label, int status, double duration_ms, void *api);
