/* agent/api/api_audit.c - GET /api/v1/audit (the filters of `hale audit query` as query
 * parameters, JSON with a paging cursor) and GET /api/v1/audit/checkpoint (the latest signed
 * note, text/plain). Both need an auditor or admin token (api_auth.c). */
#include "internal.h"

#include "api/api_int.h"
#include "hale/audit_query.h"
#include "util/strparse.h"

#define PARAM_BYTES 1024 /* a decoded query parameter */
/* Rows of one answer. Lower than the CLI's ceiling: the answer is built on the loop thread,
 * and 1000 rows take about 10 ms; more pages are a cursor away. */
#define MAX_HTTP_LIMIT 1000u

/* Storage for the decoded parameters the filter points into. */
struct params {
    char kind[PARAM_BYTES], actor[PARAM_BYTES], tool[PARAM_BYTES], outcome[PARAM_BYTES];
    char text[PARAM_BYTES], num[64];
};

static int bad(hale_http_req *req, const char *name, const char *why)
{
    char msg[600];

    snprintf(msg, sizeof(msg), "%s: %s", name, why);
    (void)hale_http_respond_error(req, 400, "invalid_parameter", msg);
    return -EINVAL;
}

/* Param name into out; *ret NULL when absent. */
static int get(hale_http_req *req, const char *name, char *out, size_t size, const char **ret)
{
    int r = hale_http_req_query_param(req, name, out, size);

    *ret = r == 0 ? out : NULL;
    if (r == -ENOENT)
        return 0;
    return r < 0 ? bad(req, name, r == -ENOSPC ? "too long" : "bad percent escape") : 0;
}

static int get_time(hale_api *api, hale_http_req *req, const char *name, int64_t *ret)
{
    char buf[64];
    const char *v;
    hale_diag d = {{0}};
    int r = get(req, name, buf, sizeof(buf), &v);

    if (r < 0 || !v)
        return r;
    if (hale_audit_time_parse(v, api->ops.now_ms(api->ud) * 1000000, ret, &d) < 0)
        return bad(req, name, d.msg);
    return 0;
}

static int get_numbers(hale_http_req *req, struct params *p, hale_audit_filter *f)
{
    const char *v;
    uint64_t cursor;

    if (get(req, "incident", p->num, sizeof(p->num), &v) < 0)
        return -EINVAL;
    if (v && (hale_parse_i64(v, &f->incident_id) < 0 || f->incident_id <= 0))
        return bad(req, "incident", "expected a positive incident id");
    if (get(req, "limit", p->num, sizeof(p->num), &v) < 0)
        return -EINVAL;
    if (v && (hale_parse_u32(v, &f->limit) < 0 || f->limit == 0 || f->limit > MAX_HTTP_LIMIT))
        return bad(req, "limit", "expected an integer from 1 to 1000");
    if (get(req, "cursor", p->num, sizeof(p->num), &v) < 0)
        return -EINVAL;
    if (v && hale_parse_u64(v, &cursor) < 0)
        return bad(req, "cursor", "expected the next_cursor of a previous page");
    f->has_cursor = v != NULL;
    f->cursor_seq = v ? cursor : 0;
    if (get(req, "order", p->num, sizeof(p->num), &v) < 0)
        return -EINVAL;
    if (v && strcmp(v, "asc") != 0 && strcmp(v, "desc") != 0)
        return bad(req, "order", "expected asc or desc");
    f->oldest_first = v && strcmp(v, "asc") == 0;
    return 0;
}

static int parse(hale_api *api, hale_http_req *req, struct params *p, hale_audit_filter *f)
{
    hale_diag d = {{0}};

    if (get(req, "kind", p->kind, sizeof(p->kind), &f->kind) < 0 ||
        get(req, "actor", p->actor, sizeof(p->actor), &f->actor) < 0 ||
        get(req, "tool", p->tool, sizeof(p->tool), &f->tool) < 0 ||
        get(req, "outcome", p->outcome, sizeof(p->outcome), &f->outcome) < 0 ||
        get(req, "text", p->text, sizeof(p->text), &f->text) < 0 ||
        get_time(api, req, "since", &f->since_ns) < 0 ||
        get_time(api, req, "until", &f->until_ns) < 0 || get_numbers(req, p, f) < 0)
        return -EINVAL;
    if (hale_audit_filter_check(f, &d) < 0) {
        (void)hale_http_respond_error(req, 400, "invalid_parameter", d.msg);
        return -EINVAL;
    }
    return 0;
}

void hale__api_on_audit(hale_api *api, hale_http_req *req, const char *rest)
{
    struct params *p = calloc(1, sizeof(*p));
    hale_audit_filter f = {0};
    hale_diag d = {{0}};
    json_t *out = NULL;
    hale_store *s;
    int r;

    (void)rest;
    if (!p) {
        (void)hale_http_respond_error(req, 503, "out_of_memory", "try again later");
        return;
    }
    if (parse(api, req, p, &f) == 0 && (s = hale__api_store_or_503(api, req))) {
        r = hale_audit_query_json(s, &f, &out, &d);
        if (r == 0)
            hale__api_respond_json(req, 200, out);
        else if (r == -EINVAL)
            (void)hale_http_respond_error(req, 400, "invalid_parameter", d.msg);
        else
            (void)hale_http_respond_error(req, 503, "store_error",
                                          d.msg[0] ? d.msg : hale_strerror(r));
    }
    free(p);
}

void hale__api_on_audit_checkpoint(hale_api *api, hale_http_req *req, const char *rest)
{
    hale_audit_ckpt ck = {0};
    hale_store *s;
    int r;

    (void)rest;
    s = hale__api_store_or_503(api, req);
    if (!s)
        return;
    r = hale_audit_ckpt_latest(s, &ck);
    if (r == 0)
        (void)hale_http_respond(req, 200, "text/plain; charset=utf-8", ck.note, ck.note_len);
    else if (r == HALE_ENOTFOUND || r == HALE_ESCHEMA)
        (void)hale_http_respond_error(req, 404, "not_found", "no signed checkpoint yet");
    else
        (void)hale_http_respond_error(req, 503, "store_error", hale_strerror(r));
    hale_audit_ckpt_release(&ck);
}
