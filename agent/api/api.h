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
} hale_api_ops;

typedef struct hale_api hale_api;

/* ops is copied; ud is handed back to every op. Returns 0 or -ENOMEM. */
int hale_api_new(const hale_api_ops *ops, void *ud, hale_api **ret);
void hale_api_free(hale_api *api); /* NULL is a no-op */

/* The hale_http_handler_fn to give the server, with the api as its ud. */
void hale_api_handle(hale_http_req *req, void *api);
/* The hale_http_observer_fn to give the server, with the api as its ud. */
void hale_api_observe(const char *label, int status, double duration_ms, void *api);
