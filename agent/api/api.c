/* agent/api/api.c - route table and handlers of hale's HTTP API (docs/api.md). Handlers are
 * thin: validate method, content type and parameters, then call one function. */
#include "internal.h"

#include <strings.h>

#include "api/api.h"
#include "api/api_int.h"
#include "hale/incident.h"
#include "hale/store.h"
#include "util/strparse.h"

typedef void (*route_fn)(hale_api *api, hale_http_req *req, const char *rest);

struct route {
    const char *method;      /* "GET", "POST" */
    const char *path;        /* exact, or a prefix when it ends in '/' */
    const char *label;       /* metrics label */
    route_fn fn;             /* handler */
    hale__api_access access; /* who may call it (api_auth.c) */
};

static void on_alerts(hale_api *api, hale_http_req *req, const char *rest);
static void on_events(hale_api *api, hale_http_req *req, const char *rest);
static void on_incidents(hale_api *api, hale_http_req *req, const char *rest);
static void on_incident(hale_api *api, hale_http_req *req, const char *rest);
static void on_healthz(hale_api *api, hale_http_req *req, const char *rest);
static void on_readyz(hale_api *api, hale_http_req *req, const char *rest);
static void on_metrics(hale_api *api, hale_http_req *req, const char *rest);

/* docs/api.md lists these with the role each needs; keep both in step. */
static const struct route routes[] = {
    {"POST", "/api/v1/alerts", "alerts", on_alerts, HALE__API_INTAKE},
    {"POST", "/api/v1/events", "events", on_events, HALE__API_INTAKE},
    {"POST", "/api/v1/metrics", "metrics_samples", hale__api_on_metrics_post, HALE__API_INTAKE},
    {"GET", "/api/v1/forecasts", "forecasts", hale__api_on_forecasts, HALE__API_READ},
    {"GET", "/api/v1/incidents", "incidents", on_incidents, HALE__API_READ},
    {"GET", "/api/v1/incidents/", "incident", on_incident, HALE__API_READ},
    {"GET", "/api/v1/audit", "audit", hale__api_on_audit, HALE__API_AUDIT},
    {"GET", "/api/v1/audit/checkpoint", "audit_checkpoint", hale__api_on_audit_checkpoint,
     HALE__API_AUDIT},
    {"GET", "/api/v1/pause", "pause", hale__api_on_pause_get, HALE__API_READ},
    {"POST", "/api/v1/pause", "pause", hale__api_on_pause, HALE__API_ADMIN},
    {"POST", "/api/v1/resume", "resume", hale__api_on_resume, HALE__API_ADMIN},
    {"GET", "/api/v1/approvals", "approvals", hale__api_on_approvals, HALE__API_READ},
    {"GET", "/api/v1/approvals/", "approval", hale__api_on_approval, HALE__API_READ},
    {"POST", "/api/v1/approvals/", "approval_vote", hale__api_on_approval_vote, HALE__API_APPROVE},
    {"POST", "/api/v1/tools/", "tool_run", hale__api_on_tool_run, HALE__API_ADMIN},
    {"GET", "/healthz", "healthz", on_healthz, HALE__API_OPEN},
    {"GET", "/readyz", "readyz", on_readyz, HALE__API_OPEN},
    {"GET", "/metrics", "metrics", on_metrics, HALE__API_OPEN},
};

int hale_api_new(const hale_api_ops *ops, void *ud, hale_api **ret)
{
    static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                    0.05,   0.1,   0.25,   0.5,   1,    2.5};
    hale_api *api = calloc(1, sizeof(*api));

    if (!api)
        return -ENOMEM;
    api->ops = *ops;
    api->ud = ud;
    hale_histogram_init(&api->latency, bounds, HALE_ARRAY_SIZE(bounds));
    *ret = api;
    return 0;
}

void hale_api_free(hale_api *api)
{
    free(api);
}

void hale_api_observe(const char *label, int status, double duration_ms, void *ud)
{
    hale_api *api = ud;
    size_t i;

    hale_histogram_observe(&api->latency, duration_ms / 1000.0);
    for (i = 0; i < api->n_counters; i++)
        if (api->counters[i].status == status && strcmp(api->counters[i].label, label) == 0)
            break;
    if (i == api->n_counters) {
        if (i == HALE__API_MAX_COUNTERS)
            i = HALE__API_MAX_COUNTERS - 1; /* the last slot absorbs the overflow */
        else
            api->n_counters++;
        api->counters[i] = (struct hale__api_counter){.label = label, .status = status, .n = 0};
    }
    api->counters[i].n++;
}

void hale__api_respond_json(hale_http_req *req, int status, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;

    json_decref(v);
    if (!text) {
        (void)hale_http_respond_error(req, 500, "out_of_memory", "cannot format the answer");
        return;
    }
    (void)hale_http_respond(req, status, "application/json", text, strlen(text));
    free(text);
}

/* "application/json", optionally with parameters ("; charset=utf-8"). */
static bool is_json(const char *content_type)
{
    static const char want[] = "application/json";
    size_t n = sizeof(want) - 1;

    if (!content_type || strncasecmp(content_type, want, n) != 0)
        return false;
    return content_type[n] == '\0' || content_type[n] == ';' || content_type[n] == ' ';
}

bool hale__api_require_json(hale_http_req *req)
{
    if (is_json(hale_http_req_header(req, "Content-Type")))
        return true;
    (void)hale_http_respond_error(req, 415, "unsupported_media_type",
                                  "Content-Type must be application/json");
    return false;
}

void hale__api_respond_parse_error(hale_http_req *req, int r, const hale_diag *diag)
{
    const char *code = r == HALE_EUTF8    ? "invalid_utf8"
                       : r == HALE_EPARSE ? "malformed_json"
                       : r == HALE_ELIMIT ? "limit_exceeded"
                                          : "invalid_payload";

    if (r == -ENOMEM)
        (void)hale_http_respond_error(req, 503, "out_of_memory", "try again later");
    else
        (void)hale_http_respond_error(req, 400, code, diag->msg[0] ? diag->msg : hale_strerror(r));
}

static void ingest(hale_api *api, hale_http_req *req, const char *kind)
{
    hale_ingest_batch *batch = NULL;
    hale_diag diag = {{0}};
    const char *body;
    size_t len;
    int r;

    if (!hale__api_require_json(req))
        return;
    body = hale_http_req_body(req, &len);
    if (strcmp(kind, "alertmanager") == 0)
        r = hale_ingest_parse_alertmanager(body, len, &batch, &diag);
    else
        r = hale_ingest_parse_event(body, len, api->ops.now_ms(api->ud), &batch, &diag);
    if (r < 0) {
        hale__api_respond_parse_error(req, r, &diag);
        return;
    }
    api->ops.submit(api->ud, req, batch, kind);
}

static void on_alerts(hale_api *api, hale_http_req *req, const char *rest)
{
    (void)rest;
    ingest(api, req, "alertmanager");
}

static void on_events(hale_api *api, hale_http_req *req, const char *rest)
{
    (void)rest;
    ingest(api, req, "event");
}

hale_store *hale__api_store_or_503(hale_api *api, hale_http_req *req)
{
    hale_store *s = api->ops.store(api->ud);

    if (!s)
        (void)hale_http_respond_error(req, 503, "store_unavailable", "the store is not open");
    return s;
}

static void on_incidents(hale_api *api, hale_http_req *req, const char *rest)
{
    char state[32], limit_text[16];
    hale_incident_state parsed;
    uint32_t limit = 1000;
    json_t *out = NULL;
    hale_store *s;
    int r;

    (void)rest;
    r = hale_http_req_query_param(req, "state", state, sizeof(state));
    if (r == 0 && hale_incident_state_parse(state, &parsed) < 0)
        r = -EINVAL;
    if (r < 0 && r != -ENOENT) {
        (void)hale_http_respond_error(req, 400, "invalid_parameter",
                                      "state: expected one of open, investigating, deciding, "
                                      "awaiting_approval, healing, verifying, resolved, "
                                      "failed, escalated, rolled_back");
        return;
    }
    if (hale_http_req_query_param(req, "limit", limit_text, sizeof(limit_text)) != -ENOENT &&
        (hale_parse_u32(limit_text, &limit) < 0 || limit == 0 || limit > HALE_MAX_LIST_INCIDENTS)) {
        (void)hale_http_respond_error(req, 400, "invalid_parameter",
                                      "limit: expected an integer from 1 to 10000");
        return;
    }
    s = hale__api_store_or_503(api, req);
    if (!s)
        return;
    r = hale_store_incidents_json(s, r == 0 ? state : NULL, limit, &out);
    if (r < 0) {
        (void)hale_http_respond_error(req, 503, "store_error", hale_strerror(r));
        return;
    }
    hale__api_respond_json(req, 200, out);
}

static void on_incident(hale_api *api, hale_http_req *req, const char *rest)
{
    json_t *out = NULL;
    hale_store *s;
    int64_t id;
    int r;

    if (hale_parse_i64(rest, &id) < 0 || id <= 0) {
        (void)hale_http_respond_error(req, 404, "not_found", "no incident with that id");
        return;
    }
    s = hale__api_store_or_503(api, req);
    if (!s)
        return;
    r = hale_store_incident_detail_json(s, id, &out);
    if (r == HALE_ENOTFOUND)
        (void)hale_http_respond_error(req, 404, "not_found", "no incident with that id");
    else if (r < 0)
        (void)hale_http_respond_error(req, 503, "store_error", hale_strerror(r));
    else
        hale__api_respond_json(req, 200, out);
}

static void on_healthz(hale_api *api, hale_http_req *req, const char *rest)
{
    static const char ok[] = "{\"status\":\"ok\"}";

    (void)api;
    (void)rest;
    (void)hale_http_respond(req, 200, "application/json", ok, sizeof(ok) - 1);
}

static void on_readyz(hale_api *api, hale_http_req *req, const char *rest)
{
    static const char ready[] = "{\"status\":\"ready\"}";
    const char *why = NULL;

    (void)rest;
    if (api->ops.ready(api->ud, &why)) {
        (void)hale_http_respond(req, 200, "application/json", ready, sizeof(ready) - 1);
        return;
    }
    (void)hale_http_respond_error(req, 503, "not_ready", why ? why : "not ready");
}

static int api_metrics(const hale_api *api, hale_buf *b)
{
    char status[8];
    int r;

    r = hale_prom_family(b, "hale_http_requests_total", "counter",
                         "HTTP requests answered, by route and status code.");
    for (size_t i = 0; r == 0 && i < api->n_counters; i++) {
        snprintf(status, sizeof(status), "%d", api->counters[i].status);
        r = hale_prom_sample(
            b, "hale_http_requests_total",
            (const char *const[]){"route", api->counters[i].label, "code", status, NULL},
            (double)api->counters[i].n);
    }
    if (r == 0)
        r = hale_prom_histogram(b, "hale_http_request_duration_seconds",
                                "Time from a request's first byte to its answer.", &api->latency);
    return r;
}

static void on_metrics(hale_api *api, hale_http_req *req, const char *rest)
{
    hale_buf b;
    int r;

    (void)rest;
    hale_buf_init(&b, HALE_MAX_RESPONSE_BYTES);
    r = api_metrics(api, &b);
    if (r == 0)
        r = api->ops.metrics(api->ud, &b);
    if (r < 0)
        (void)hale_http_respond_error(req, 500, "metrics_error", hale_strerror(r));
    else
        (void)hale_http_respond(req, 200, HALE_PROM_CONTENT_TYPE, b.data ? b.data : "", b.len);
    hale_buf_release(&b);
}

/* The route for path, and whether some route has this path under another method. */
static const struct route *find_route(const char *method, const char *path, const char **rest,
                                      const char **allow)
{
    for (size_t i = 0; i < HALE_ARRAY_SIZE(routes); i++) {
        const struct route *rt = &routes[i];
        size_t n = strlen(rt->path);
        bool prefix = rt->path[n - 1] == '/';

        if (prefix ? strncmp(path, rt->path, n) != 0 || path[n] == '\0'
                   : strcmp(path, rt->path) != 0)
            continue;
        *allow = rt->method;
        if (strcmp(method, rt->method) != 0)
            continue;
        *rest = path + n;
        return rt;
    }
    return NULL;
}

void hale_api_handle(hale_http_req *req, void *ud)
{
    static const char not_allowed[] = "{\"error\":{\"code\":\"method_not_allowed\",\"message\":"
                                      "\"this route does not take that method\"}}";
    hale_api *api = ud;
    const char *rest = "", *allow = NULL;
    const struct route *rt;
    char hdr[64];

    rt = find_route(hale_http_req_method(req), hale_http_req_path(req), &rest, &allow);
    if (rt) {
        hale_http_req_set_label(req, rt->label);
        if (hale__api_authorize(api, req, rt->access, &api->caller) == 0)
            rt->fn(api, req, rest);
        api->caller = NULL;
        return;
    }
    if (allow) {
        snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
        (void)hale_http_respond_hdr(req, 405, "application/json", hdr, not_allowed,
                                    sizeof(not_allowed) - 1);
        return;
    }
    (void)hale_http_respond_error(req, 404, "not_found", "no such route");
}
