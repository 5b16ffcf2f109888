/* agent/api/api_int.h - private to agent/api: the api object, the access rule every route
 * declares (one check for all of them, api_auth.c) and the helpers the route files share. */
#pragma once
#include <jansson.h>

#include "api/api.h"
#include "hale/config.h"
#include "util/prom.h"

#define HALE__API_MAX_COUNTERS 96 /* distinct (route, status) pairs counted; more fold in */

struct hale__api_counter {
    const char *label; /* static route label */
    int status;        /* HTTP status */
    uint64_t n;        /* responses */
};

struct hale_api {
    hale_api_ops ops;                                          /* the loop's functions */
    void *ud;                                                  /* their argument */
    struct hale__api_counter counters[HALE__API_MAX_COUNTERS]; /* requests by route, status */
    size_t n_counters;                                         /* used entries */
    hale_histogram latency;                                    /* request duration, seconds */
    const hale_auth_token *caller; /* the token of the request being handled (NULL: none);
                                      set around the handler call, borrowed from the config */
};

/* Who may call a route (docs/api.md, "Authentication"). */
typedef enum hale__api_access {
    HALE__API_OPEN,    /* anyone: health, readiness, metrics */
    HALE__API_INTAKE,  /* anyone, unless auth.intake_token_required: then intake or admin */
    HALE__API_READ,    /* anyone while no token is configured; then any role but intake */
    HALE__API_AUDIT,   /* always a token: auditor or admin */
    HALE__API_APPROVE, /* always a token: approver or admin */
    HALE__API_ADMIN,   /* always a token: admin */
} hale__api_access;

/* The outcome of checking one request's Authorization header against cfg's tokens. */
typedef enum hale__api_verdict {
    HALE__API_ALLOW = 0,      /* go on */
    HALE__API_NO_TOKEN = 401, /* missing or malformed credentials */
    HALE__API_BAD_TOKEN,      /* a well-formed token that matches none (also 401) */
    HALE__API_FORBIDDEN = 403 /* a valid token whose role is not enough */
} hale__api_verdict;

/* Pure: decide access for authorization (the header value, NULL when absent). cfg may be NULL
 * (no tokens). The presented token is hashed with SHA-256 and compared with every configured
 * hash in constant time (sodium_memcmp); copies are wiped. *ret_token (may be NULL) gets the
 * matching token on ALLOW with a token, else NULL. */
hale__api_verdict hale__api_auth_decide(const hale_config *cfg, const char *authorization,
                                        hale__api_access access, const hale_auth_token **ret_token);

/* Check req for its route's access; on refusal answer it (401 with WWW-Authenticate: Bearer,
 * or 403) and return -EACCES. Returns 0 when the handler may run; *ret_token (may be NULL)
 * then gets the matched token, NULL when the route needed none. */
int hale__api_authorize(hale_api *api, hale_http_req *req, hale__api_access access,
                        const hale_auth_token **ret_token);

void hale__api_respond_json(hale_http_req *req, int status, json_t *v); /* takes v */
/* The store for reads, or NULL after answering 503. */
hale_store *hale__api_store_or_503(hale_api *api, hale_http_req *req);

/* Routes of api_control.c. */
void hale__api_on_pause_get(hale_api *api, hale_http_req *req, const char *rest);
void hale__api_on_pause(hale_api *api, hale_http_req *req, const char *rest);
void hale__api_on_resume(hale_api *api, hale_http_req *req, const char *rest);
void hale__api_on_approvals(hale_api *api, hale_http_req *req, const char *rest);
void hale__api_on_approval(hale_api *api, hale_http_req *req, const char *rest);
void hale__api_on_approval_vote(hale_api *api, hale_http_req *req, const char *rest);
void hale__api_on_tool_run(hale_api *api, hale_http_req *req, const char *rest);
/* Whether the request's Content-Type is application/json; answers 415 when it is not. */
bool hale__api_require_json(hale_http_req *req);
/* Answer a body parser's failure r: 503 for -ENOMEM, else 400 with a code for r (invalid_utf8,
 * malformed_json, limit_exceeded, invalid_payload) and the parser's message. */
void hale__api_respond_parse_error(hale_http_req *req, int r, const hale_diag *diag);

/* Routes of api_metrics.c. */
void hale__api_on_metrics_post(hale_api *api, hale_http_req *req, const char *rest);
void hale__api_on_forecasts(hale_api *api, hale_http_req *req, const char *rest);

/* Routes of api_audit.c. */
void hale__api_on_audit(hale_api *api, hale_http_req *req, const char *rest);
void hale__api_on_audit_checkpoint(hale_api *api, hale_http_req *req, const char *rest);
