/* agent/loop/loop_llm.c - the daemon's LLM gateway client: built from the "llm" key with the
 * redaction rules of policies_dir, and the one way stages call it, so that every call is
 * recorded in the audit log (digests of the prompt, request and response, tokens, cost,
 * latency, gateway). The response cache lives in a file of its own, so that its writes on the
 * loop thread never wait for an intake commit's lock. */
#include "internal.h"

#include <math.h>

#define HALE_LOG_MODULE "llm"
#include "hale/audit_query.h"
#include "hale/llm.h"
#include "hale/log.h"
#include "hale/redact.h"
#include "loop/loop_int.h"
#include "util/strparse.h"
#include "util/timeutil.h"

#define LLM_CACHE_FILE "llm-cache.db"
#define RULES_FILE     "redact/rules.json"

struct llm_call_ctx {
    hale_loop *l;                /* whose log records the call */
    hale_llm_cb cb;              /* the stage's callback */
    void *ud;                    /* its argument */
    hale_redact_session *rs;     /* the call's redaction session (the stage's, or owned) */
    hale_redact_session *own_rs; /* owned: created here when the stage gave none */
    char incident_id[64];
};

static int kind_of(const char *s, hale_llm_kind *ret)
{
    if (strcmp(s, "openai") == 0)
        *ret = HALE_LLM_OPENAI;
    else if (strcmp(s, "anthropic") == 0)
        *ret = HALE_LLM_ANTHROPIC;
    else
        return HALE_ECONFIG;
    return 0;
}

static int restore_row(const hale_audit_row *row, void *ud)
{
    hale_loop *l = ud;
    json_t *b = json_loadb(row->body, row->body_len, 0, NULL);
    json_int_t in = json_integer_value(json_object_get(b, "tokens_in"));
    json_int_t out = json_integer_value(json_object_get(b, "tokens_out"));
    json_int_t micro = json_integer_value(json_object_get(b, "cost_micro_usd"));
    const char *ref = json_string_value(json_object_get(b, "incident_ref"));
    char id[32];

    if (row->incident_id > 0) {
        snprintf(id, sizeof(id), "%lld", (long long)row->incident_id);
        ref = id;
    }
    if (b && in >= 0 && out >= 0 && micro >= 0)
        hale_llm_charge_restored(l->llm, ref, (uint64_t)in + (uint64_t)out, (double)micro / 1e6,
                                 row->ts_ns / 1000000);
    json_decref(b);
    return 0;
}

/* The budgets count from the day's llm_call and llm_output_rejected leaves (a discarded
 * answer was paid for too), so a restart does not grant a new day. */
static void restore_spend(hale_loop *l)
{
    static const char *const kinds[] = {HALE_AUDIT_KIND_LLM_CALL, HALE_AUDIT_KIND_LLM_REJECTED};
    int64_t now_ms = hale_time_now_ms();
    hale_diag d = {{0}};
    int r = 0;

    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]) && r >= 0; k++) {
        hale_audit_filter f = {.since_ns = (now_ms - now_ms % 86400000) * 1000000,
                               .kind = kinds[k],
                               .limit = HALE_AUDIT_QUERY_MAX_LIMIT};
        uint64_t next = 0;
        bool more = true;

        for (size_t page = 0; more && r >= 0; page++) {
            f.has_cursor = page > 0;
            f.cursor_seq = next;
            r = hale_audit_query(l->store, &f, restore_row, l, &next, &more, &d);
        }
    }
    if (r < 0)
        log_warn("cannot read today's LLM spend back from the audit log (%s): budgets count from "
                 "now",
                 d.msg);
}

int hale__loop_llm_open(hale_loop *l, hale_diag *reterr)
{
    const hale_llm_config *lc = &l->cfg->llm;
    hale_llm_gateway gw[HALE_LLM_CONFIG_MAX_GATEWAYS];
    hale_store_opts so = {.sync = HALE_STORE_SYNC_NORMAL};
    hale_llm_options o;
    char path[4200];
    int r;

    if (lc->n_gateways == 0)
        return 0; /* local-only: rules and local models */
    snprintf(path, sizeof(path), "%s/%s", l->cfg->policies_dir, RULES_FILE);
    /* Nothing leaves the process unredacted: no rules, no client. */
    if ((r = hale_redact_load(path, &l->llm_rules, reterr)) < 0)
        return r;
    hale_llm_options_default(&o);
    for (size_t i = 0; i < lc->n_gateways; i++) {
        const hale_llm_gateway_config *g = &lc->gateways[i];

        gw[i] = (hale_llm_gateway){.name = g->name,
                                   .base_url = g->base_url,
                                   .model = g->model,
                                   .api_key_env = g->api_key_env,
                                   .api_key_file = g->api_key_file,
                                   .timeout_ms = g->timeout_ms,
                                   .max_tokens = (uint32_t)g->max_tokens,
                                   .usd_per_1k_in = g->usd_per_1k_in,
                                   .usd_per_1k_out = g->usd_per_1k_out};
        if (kind_of(g->kind, &gw[i].kind) < 0) {
            hale_diag_set(reterr, "llm.gateways[%zu]: unknown kind '%s'", i, g->kind);
            return HALE_ECONFIG;
        }
    }
    o.gateways = gw;
    o.n_gateways = lc->n_gateways;
    o.max_in_flight = (unsigned)lc->max_in_flight;
    o.retries = (unsigned)lc->retries;
    o.backoff_base_ms = lc->backoff_base_ms;
    o.backoff_max_ms = lc->backoff_max_ms;
    o.breaker_failures = (unsigned)lc->breaker_failures;
    o.breaker_open_ms = lc->breaker_open_ms;
    o.incident_max_tokens = lc->incident_max_tokens;
    o.incident_max_usd = lc->incident_max_usd;
    o.day_max_tokens = lc->day_max_tokens;
    o.day_max_usd = lc->day_max_usd;
    o.cache_ttl_ms = lc->cache_ttl_ms;
    if (o.cache_ttl_ms > 0) {
        snprintf(path, sizeof(path), "%s/%s", l->cfg->data_dir, LLM_CACHE_FILE);
        so.path = path;
        if ((r = hale_store_open(&so, &l->llm_cache, reterr)) < 0)
            return r;
        o.cache = l->llm_cache;
    }
    r = hale_llm_new(&l->uv, &o, l->llm_rules, &l->llm, reterr);
    if (r == 0)
        restore_spend(l);
    if (r == 0)
        log_info("LLM client with %zu gateways, first '%s'", lc->n_gateways, lc->gateways[0].name);
    return r;
}

void hale__loop_llm_close(hale_loop *l)
{
    if (l->llm) {
        hale_llm_close(l->llm, NULL, NULL);
        l->llm = NULL;
    }
}

void hale__loop_llm_free(hale_loop *l)
{
    hale_store_free(l->llm_cache);
    l->llm_cache = NULL;
    hale_redact_free(l->llm_rules);
    l->llm_rules = NULL;
}

static void count_type(const char *type, size_t n, void *ud)
{
    json_object_set_new(ud, type, json_integer((json_int_t)n));
}

static json_t *call_leaf(const struct llm_call_ctx *c, const hale_llm_result *res)
{
    char p[65], rq[65], rs[65];
    json_t *leaf;

    hale_hex_encode(res->prompt_sha256, 32, p);
    hale_hex_encode(res->request_sha256, 32, rq);
    hale_hex_encode(res->response_sha256, 32, rs);
    /* The log takes no reals: cost in micro-dollars. */
    leaf = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:b,s:b,s:b,s:s,s:s,s:I}", "gateway",
                     res->gateway, "model", res->model, "prompt_sha256", p, "request_sha256", rq,
                     "response_sha256", rs, "tokens_in", (json_int_t)res->tokens_in, "tokens_out",
                     (json_int_t)res->tokens_out, "cost_micro_usd",
                     (json_int_t)llround(res->cost_usd * 1e6), "latency_ms",
                     (json_int_t)res->latency_ms, "attempts", (json_int_t)res->attempts, "cached",
                     res->cached, "repaired", res->repaired, "discarded", res->discarded, "outcome",
                     res->status == 0 ? "answered" : hale_errname(res->status), "error",
                     res->error ? res->error : "", "redacted_values",
                     (json_int_t)hale_redact_session_size(c->rs));
    if (leaf) {
        json_t *by_type = json_object();

        if (by_type)
            hale_redact_session_counts(c->rs, count_type, by_type);
        json_object_set_new(leaf, "redacted_by_type", by_type ? by_type : json_null());
    }
    if (leaf && c->incident_id[0]) {
        int64_t id;

        /* Numeric incident ids are indexed; others stay a plain member. */
        if (hale_parse_i64(c->incident_id, &id) == 0)
            json_object_set_new(leaf, "incident_id", json_integer(id));
        else
            json_object_set_new(leaf, "incident_ref", json_string(c->incident_id));
    }
    return leaf;
}

static void on_result(const hale_llm_result *res, void *ud)
{
    struct llm_call_ctx *c = ud;
    json_t *leaf = call_leaf(c, res);

    /* A discarded answer is hostile or broken output: its own kind, so auditors find it. */
    if (!leaf || hale__loop_audit_queue(
                     c->l, res->discarded ? HALE_AUDIT_KIND_LLM_REJECTED : HALE_AUDIT_KIND_LLM_CALL,
                     leaf) < 0)
        log_err("cannot record an LLM call in the audit log: out of memory");
    if (c->cb)
        c->cb(res, c->ud);
    hale_redact_session_free(c->own_rs);
    free(c);
}

int hale_loop_llm_submit(hale_loop *l, const hale_llm_call *call, hale_llm_cb cb, void *ud,
                         hale_diag *reterr)
{
    hale_llm_call own = *call;
    struct llm_call_ctx *c;
    int r;

    if (!l->llm) {
        hale_diag_set(reterr, "no LLM gateway configured: local-only");
        return HALE_ELIMIT;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    *c = (struct llm_call_ctx){.l = l, .cb = cb, .ud = ud};
    if (call->incident_id)
        snprintf(c->incident_id, sizeof(c->incident_id), "%s", call->incident_id);
    /* A session of our own when the stage has none, so the leaf can count what was masked. */
    if (!own.rs && (r = hale_redact_session_new(l->llm_rules, &c->own_rs)) < 0) {
        free(c);
        return r;
    }
    if (!own.rs)
        own.rs = c->own_rs;
    c->rs = own.rs;
    r = hale_llm_submit(l->llm, &own, on_result, c, reterr);
    if (r < 0) {
        hale_redact_session_free(c->own_rs);
        free(c);
    }
    return r;
}

bool hale_loop_llm_degraded(hale_loop *l, const char *incident_id)
{
    return !l->llm || hale_llm_is_degraded(l->llm, incident_id);
}
