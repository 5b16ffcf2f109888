/* agent/api/api_control.c - the routes that change what the controller may do: the global
 * pause switch (GET /api/v1/pause for readers; POST /api/v1/pause and /api/v1/resume with an
 * admin token), approvals (GET /api/v1/approvals[/ID] for readers; POST /api/v1/approvals/ID
 * with an approver or admin token) and runs of a tool by hand (POST /api/v1/tools/NAME/run,
 * admin). The actor is always the matched token's name: a body cannot speak for someone else. */
#include "internal.h"

#include <stddef.h>

#include "api/api_int.h"
#include "util/json.h"
#include "util/strparse.h"

#define MAX_REASON_BYTES      1000u /* a pause reason or vote comment */
#define MAX_TOKEN_FIELD_BYTES 128u  /* a vote's digest or nonce */

static bool unavailable(hale_http_req *req, bool missing)
{
    if (missing)
        (void)hale_http_respond_error(req, 503, "unavailable",
                                      "the controller does not serve this route");
    return missing;
}

/* The body as a JSON object, or NULL after answering 400/415. An empty body is {}. */
static json_t *body_object(hale_http_req *req, bool empty_ok)
{
    hale_diag d = {{0}};
    const char *body;
    json_t *v = NULL;
    size_t len;

    body = hale_http_req_body(req, &len);
    if (len == 0 && empty_ok)
        return json_object();
    if (!hale__api_require_json(req))
        return NULL;
    if (hale_json_parse(body, len, &v, &d) < 0 || !json_is_object(v)) {
        (void)hale_http_respond_error(req, 400, "malformed_json",
                                      d.msg[0] ? d.msg : "expected a JSON object");
        json_decref(v);
        return NULL;
    }
    return v;
}

static bool reason_ok(hale_http_req *req, const char *name, const char *v)
{
    char msg[128];

    if (!v || strlen(v) <= MAX_REASON_BYTES)
        return true;
    snprintf(msg, sizeof(msg), "%s: at most %u bytes", name, MAX_REASON_BYTES);
    (void)hale_http_respond_error(req, 400, "invalid_payload", msg);
    return false;
}

static bool short_ok(hale_http_req *req, const char *name, const char *v)
{
    char msg[128];

    if (strlen(v) <= MAX_TOKEN_FIELD_BYTES)
        return true;
    snprintf(msg, sizeof(msg), "%s: at most %u bytes", name, MAX_TOKEN_FIELD_BYTES);
    (void)hale_http_respond_error(req, 400, "invalid_payload", msg);
    return false;
}

void hale__api_on_pause_get(hale_api *api, hale_http_req *req, const char *rest)
{
    json_t *out = NULL;

    (void)rest;
    if (unavailable(req, !api->ops.pause_get))
        return;
    if (api->ops.pause_get(api->ud, &out) < 0)
        (void)hale_http_respond_error(req, 503, "out_of_memory", "try again later");
    else
        hale__api_respond_json(req, 200, out);
}

static void set_paused(hale_api *api, hale_http_req *req, bool paused)
{
    struct pause_in {
        const char *reason; /* why; may be absent */
        const char *client; /* the caller's own description ("cli:alice"); not trusted */
    } in = {NULL, NULL};
    static const hale_json_field fields[] = {
        {"reason", HALE_JSON_STRING, false, offsetof(struct pause_in, reason)},
        {"client", HALE_JSON_STRING, false, offsetof(struct pause_in, client)},
    };
    hale_diag d = {{0}};
    json_t *body, *out = NULL;
    int r;

    if (unavailable(req, !api->ops.pause_set || !api->ops.pause_get))
        return;
    if (!(body = body_object(req, true)))
        return;
    if (hale_json_fields(body, fields, HALE_ARRAY_SIZE(fields), HALE_JSON_STRICT, &in, "", &d) <
        0) {
        (void)hale_http_respond_error(req, 400, "invalid_payload", d.msg);
        goto out;
    }
    if (!reason_ok(req, "reason", in.reason) || !reason_ok(req, "client", in.client))
        goto out;
    /* ADMIN routes always need a token, so the caller is known. */
    r = api->ops.pause_set(api->ud, paused, api->caller ? api->caller->name : "?", in.reason,
                           in.client, &d);
    if (r < 0) {
        (void)hale_http_respond_error(req, 503, "store_error", d.msg[0] ? d.msg : hale_strerror(r));
        goto out;
    }
    if (api->ops.pause_get(api->ud, &out) < 0)
        (void)hale_http_respond_error(req, 503, "out_of_memory", "try again later");
    else
        hale__api_respond_json(req, 200, out);
out:
    json_decref(body);
}

void hale__api_on_pause(hale_api *api, hale_http_req *req, const char *rest)
{
    (void)rest;
    set_paused(api, req, true);
}

void hale__api_on_resume(hale_api *api, hale_http_req *req, const char *rest)
{
    (void)rest;
    set_paused(api, req, false);
}

void hale__api_on_approvals(hale_api *api, hale_http_req *req, const char *rest)
{
    hale_approvals *a = api->ops.approvals ? api->ops.approvals(api->ud) : NULL;
    char state[32], limit_text[16];
    uint32_t limit = 100;
    json_t *out = NULL;
    int r;

    (void)rest;
    if (unavailable(req, !a))
        return;
    r = hale_http_req_query_param(req, "state", state, sizeof(state));
    if (r < 0 && r != -ENOENT) {
        (void)hale_http_respond_error(req, 400, "invalid_parameter", "state: too long");
        return;
    }
    if (hale_http_req_query_param(req, "limit", limit_text, sizeof(limit_text)) != -ENOENT &&
        (hale_parse_u32(limit_text, &limit) < 0 || limit == 0 || limit > 1000)) {
        (void)hale_http_respond_error(req, 400, "invalid_parameter",
                                      "limit: expected an integer from 1 to 1000");
        return;
    }
    r = hale_approvals_list_json(a, r == 0 ? state : NULL, limit, &out);
    if (r == -EINVAL)
        (void)hale_http_respond_error(req, 400, "invalid_parameter",
                                      "state: expected one of pending, approved, denied, "
                                      "expired, consumed");
    else if (r < 0)
        (void)hale_http_respond_error(req, 503, "store_error", hale_strerror(r));
    else
        hale__api_respond_json(req, 200, out);
}

static bool parse_id(hale_http_req *req, const char *rest, int64_t *ret)
{
    if (hale_parse_i64(rest, ret) == 0 && *ret > 0)
        return true;
    (void)hale_http_respond_error(req, 404, "not_found", "no approval with that id");
    return false;
}

void hale__api_on_approval(hale_api *api, hale_http_req *req, const char *rest)
{
    hale_approvals *a = api->ops.approvals ? api->ops.approvals(api->ud) : NULL;
    json_t *out = NULL;
    int64_t id;
    int r;

    if (unavailable(req, !a) || !parse_id(req, rest, &id))
        return;
    r = hale_approvals_get_json(a, id, &out);
    if (r == HALE_ENOTFOUND)
        (void)hale_http_respond_error(req, 404, "not_found", "no approval with that id");
    else if (r < 0)
        (void)hale_http_respond_error(req, 503, "store_error", hale_strerror(r));
    else
        hale__api_respond_json(req, 200, out);
}

struct vote_in {
    const char *decision; /* "approve" or "deny" */
    const char *digest;   /* what the approver was shown */
    const char *nonce;    /* the approval's nonce */
    const char *comment;  /* optional */
    const char *reason;   /* the same, the word a denial uses */
};

static const hale_json_field vote_fields[] = {
    {"decision", HALE_JSON_STRING, true, offsetof(struct vote_in, decision)},
    {"digest", HALE_JSON_STRING, true, offsetof(struct vote_in, digest)},
    {"nonce", HALE_JSON_STRING, true, offsetof(struct vote_in, nonce)},
    {"comment", HALE_JSON_STRING, false, offsetof(struct vote_in, comment)},
    {"reason", HALE_JSON_STRING, false, offsetof(struct vote_in, reason)},
};

static const char *status_code(int status)
{
    switch (status) {
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 409:
        return "conflict";
    }
    return "store_error";
}

void hale__api_on_approval_vote(hale_api *api, hale_http_req *req, const char *rest)
{
    struct vote_in in = {0};
    hale_approval_vote v = {0};
    hale_diag d = {{0}};
    json_t *body, *out = NULL;
    int64_t id;
    int status = 503;
    bool approve;

    if (unavailable(req, !api->ops.vote) || !parse_id(req, rest, &id))
        return;
    if (!(body = body_object(req, false)))
        return;
    if (hale_json_fields(body, vote_fields, HALE_ARRAY_SIZE(vote_fields), HALE_JSON_STRICT, &in, "",
                         &d) < 0) {
        (void)hale_http_respond_error(req, 400, "invalid_payload", d.msg);
        goto out;
    }
    approve = strcmp(in.decision, "approve") == 0;
    if (!approve && strcmp(in.decision, "deny") != 0) {
        (void)hale_http_respond_error(req, 400, "invalid_payload",
                                      "decision: expected \"approve\" or \"deny\"");
        goto out;
    }
    if (in.comment && in.reason) {
        (void)hale_http_respond_error(req, 400, "invalid_payload",
                                      "comment, reason: give one of them");
        goto out;
    }
    if (!in.reason)
        in.reason = in.comment;
    if (!approve && (!in.reason || !*in.reason)) {
        (void)hale_http_respond_error(req, 400, "invalid_payload", "reason: a denial needs one");
        goto out;
    }
    /* Digests are 64 hex digits and nonces short tokens; longer is never right, and every
     * vote becomes an audit leaf, which must stay small. */
    if (!reason_ok(req, "reason", in.reason) || !short_ok(req, "digest", in.digest) ||
        !short_ok(req, "nonce", in.nonce))
        goto out;
    /* APPROVE routes always need a token: the approver is who holds it. */
    v = (hale_approval_vote){api->caller ? api->caller->name : NULL, approve, in.digest, in.nonce,
                             in.reason};
    if (api->ops.vote(api->ud, id, &v, &out, &status, &d) < 0)
        (void)hale_http_respond_error(req, status, status_code(status),
                                      d.msg[0] ? d.msg : "refused");
    else
        hale__api_respond_json(req, 200, out);
out:
    json_decref(body);
}

/* "NAME/run" with NAME a tool name (^[a-z][a-z0-9_]{0,63}$) into name. */
static bool tool_name_of(const char *rest, char *name, size_t cap)
{
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : 0;

    if (!slash || strcmp(slash, "/run") != 0 || n == 0 || n > 64 || n >= cap ||
        !(rest[0] >= 'a' && rest[0] <= 'z'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((rest[i] >= 'a' && rest[i] <= 'z') || (rest[i] >= '0' && rest[i] <= '9') ||
              rest[i] == '_'))
            return false;
    memcpy(name, rest, n);
    name[n] = '\0';
    return true;
}

void hale__api_on_tool_run(hale_api *api, hale_http_req *req, const char *rest)
{
    struct run_in {
        json_t *args;             /* the tool's arguments */
        bool dry_run;             /* record the decision only */
        const char *on_behalf_of; /* who the caller says it acts for; not trusted */
    } in = {NULL, false, NULL};
    static const hale_json_field fields[] = {
        {"args", HALE_JSON_OBJECT, true, offsetof(struct run_in, args)},
        {"dry_run", HALE_JSON_BOOL, false, offsetof(struct run_in, dry_run)},
        {"on_behalf_of", HALE_JSON_STRING, false, offsetof(struct run_in, on_behalf_of)},
    };
    hale_diag d = {{0}};
    char name[80];
    json_t *body;

    if (unavailable(req, !api->ops.tool_run))
        return;
    if (!tool_name_of(rest, name, sizeof(name))) {
        (void)hale_http_respond_error(req, 404, "not_found",
                                      "expected /api/v1/tools/NAME/run with a tool name");
        return;
    }
    if (!(body = body_object(req, false)))
        return;
    if (hale_json_fields(body, fields, HALE_ARRAY_SIZE(fields), HALE_JSON_STRICT, &in, "", &d) <
        0) {
        (void)hale_http_respond_error(req, 400, "invalid_payload", d.msg);
        goto out;
    }
    if (!reason_ok(req, "on_behalf_of", in.on_behalf_of))
        goto out;
    /* ADMIN routes always need a token, so the caller is known. */
    api->ops.tool_run(api->ud, req, name, in.args, in.dry_run,
                      api->caller ? api->caller->name : "?", in.on_behalf_of);
out:
    json_decref(body);
}
