/* agent/llm/llm_route.c - one call's attempts: gateways in order, each behind its circuit
 * breaker; retries with exponential backoff and jitter, or the server's Retry-After; token and
 * cost accounting; validation of the answer and one repair attempt. */
#include "internal.h"

#include <sodium.h>

#include "hale/llm.h"
#include "llm_int.h"
#include "util/sha256.h"

static void send_attempt(hale__llm_call *k);
static void next_gateway(hale__llm_call *k);

static bool retryable_status(long s)
{
    return s == 408 || s == 409 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504 ||
           s == 529;
}

/* May g take an attempt now? A breaker open for breaker_open_ms lets one probe through. */
static bool gw_admits(hale_llm *c, hale__llm_gw *g, bool *ret_probe)
{
    *ret_probe = false;
    if (g->breaker == HALE__BREAKER_CLOSED)
        return true;
    if (g->breaker == HALE__BREAKER_OPEN &&
        uv_now(c->loop) - g->opened_ms >= c->o.breaker_open_ms) {
        g->breaker = HALE__BREAKER_HALF_OPEN;
        *ret_probe = true;
        return true;
    }
    return false;
}

static void gw_failed(hale__llm_call *k)
{
    hale_llm *c = k->c;
    hale__llm_gw *g = &c->gw[k->gw];

    g->failures++;
    if (k->probe || g->failures >= c->o.breaker_failures) {
        g->breaker = HALE__BREAKER_OPEN;
        g->opened_ms = uv_now(c->loop);
    }
    k->probe = false;
}

static void gw_succeeded(hale__llm_call *k)
{
    hale__llm_gw *g = &k->c->gw[k->gw];

    g->failures = 0;
    g->breaker = HALE__BREAKER_CLOSED;
    k->probe = false;
}

void hale__llm_route_start(hale__llm_call *k)
{
    k->gw = 0;
    k->retry = 0;
    for (; k->gw < k->c->n_gw; k->gw++)
        if (gw_admits(k->c, &k->c->gw[k->gw], &k->probe)) {
            send_attempt(k);
            return;
        }
    snprintf(k->error, sizeof(k->error), "no gateway available: every breaker is open");
    hale__llm_finish(k, HALE_EUPSTREAM);
}

static void next_gateway(hale__llm_call *k)
{
    k->retry = 0;
    for (k->gw++; k->gw < k->c->n_gw; k->gw++)
        if (gw_admits(k->c, &k->c->gw[k->gw], &k->probe)) {
            send_attempt(k);
            return;
        }
    hale__llm_finish(k, HALE_EUPSTREAM); /* k->error holds the last gateway's failure */
}

static void on_backoff(uv_timer_t *t)
{
    send_attempt(t->data);
}

static uint64_t backoff_ms(hale__llm_call *k)
{
    hale_llm *c = k->c;
    uint64_t d = c->o.backoff_base_ms;
    double jitter = (double)randombytes_uniform(1u << 20) / (double)(1u << 20);

    for (unsigned i = 0; i < k->retry && d < c->o.backoff_max_ms; i++)
        d *= 2;
    if (d > c->o.backoff_max_ms)
        d = c->o.backoff_max_ms;
    return (uint64_t)((double)d * (1.0 - 0.25 * jitter));
}

/* An attempt failed in a way that says nothing about the answer: retry here or move on. */
static void attempt_failed(hale__llm_call *k, bool retry_ok, int64_t retry_after_ms)
{
    hale_llm *c = k->c;
    hale__llm_gw *g = &c->gw[k->gw];
    uint64_t delay;

    gw_failed(k);
    if (!retry_ok || k->retry >= c->o.retries || g->breaker != HALE__BREAKER_CLOSED ||
        (retry_after_ms >= 0 && (uint64_t)retry_after_ms > c->o.backoff_max_ms)) {
        next_gateway(k);
        return;
    }
    delay = retry_after_ms >= 0 ? (uint64_t)retry_after_ms : backoff_ms(k);
    k->retry++;
    uv_timer_start(&k->timer, on_backoff, delay, 0);
}

static int build_repair(hale__llm_call *k, const char *answer, size_t len, const char *why)
{
    hale_buf out;
    char note[700];
    int r;

    hale_buf_init(&out, HALE_LLM_MAX_PROMPT_BYTES);
    snprintf(note, sizeof(note),
             "\n\nYour previous answer was rejected: %s.\nIt is quoted below as data. Answer "
             "again with only one JSON object that matches the schema.\n",
             why);
    r = hale_buf_append(&out, k->user, strlen(k->user));
    if (r == 0)
        r = hale__redact_into(k->rs, note, strlen(note), &out);
    if (r == 0)
        r = hale__prompt_data_section(k->rs, "previous_answer", answer, len, &out);
    if (r == 0 && !(k->repair = hale_buf_detach(&out, NULL)))
        r = -ENOMEM;
    hale_buf_release(&out);
    return r;
}

/* A 2xx with a well-formed envelope: validate, repair once, or discard. */
static void got_answer(hale__llm_call *k, const hale__llm_answer *a)
{
    hale_llm *c = k->c;
    hale__llm_gw *g = &c->gw[k->gw];
    const hale_llm_schema *s = hale_prompt_schema(k->prompt);
    hale_diag d = {{0}};
    json_t *doc = NULL;
    int r;

    if (a->truncated) {
        hale_diag_set(&d, "the answer was cut at max_tokens (%u)", g->conf.max_tokens);
        r = HALE_ESCHEMA;
    } else {
        r = hale_llm_answer_parse(s, a->text, a->len, &doc, &d);
    }
    if (r == 0) {
        k->res.answer = doc;
        k->res.repaired = k->repair != NULL;
        if (c->cache_put)
            hale__llm_cache_put(c, g, s, k->res.prompt_sha256, doc);
        hale__llm_finish(k, 0);
        return;
    }
    if (r == -ENOMEM) {
        snprintf(k->error, sizeof(k->error), "out of memory validating the answer");
        hale__llm_finish(k, -ENOMEM);
        return;
    }
    snprintf(k->error, sizeof(k->error), "invalid answer from %s: %.400s", g->name, d.msg);
    if (k->repair || hale__llm_over_budget(c, k->incident)) {
        k->res.discarded = true;
        hale__llm_finish(k, HALE_ESCHEMA);
        return;
    }
    r = build_repair(k, a->text, a->len, d.msg);
    if (r < 0) { /* the repair cannot be sent unredacted: the answer is discarded */
        k->res.discarded = true;
        hale__llm_finish(k, HALE_ESCHEMA);
        return;
    }
    k->retry = 0;
    send_attempt(k);
}

static void on_reply(const hale__llm_reply *rep, void *ud)
{
    hale__llm_call *k = ud;
    hale_llm *c = k->c;
    hale__llm_gw *g = &c->gw[k->gw];
    hale__llm_answer a = {0};
    hale_diag d = {{0}};
    char msg[200];
    int r;

    k->x = NULL;
    hale_sha256(&(hale_sha256_part){rep->body, rep->body_len}, 1, k->res.response_sha256);
    k->res.gateway = g->name;
    k->res.model = g->model;
    if (rep->error) {
        snprintf(k->error, sizeof(k->error), "%s: %s", g->name,
                 rep->error == -ETIMEDOUT    ? "timed out"
                 : rep->error == HALE_ELIMIT ? "answer over the size limit"
                                             : rep->curl_error);
        attempt_failed(k, rep->error != HALE_ELIMIT, -1);
        return;
    }
    if (rep->status < 200 || rep->status > 299) {
        hale__llm_wire_error(rep->body, rep->body_len, msg, sizeof(msg));
        snprintf(k->error, sizeof(k->error), "%s: HTTP %ld: %s", g->name, rep->status, msg);
        attempt_failed(k, retryable_status(rep->status),
                       rep->status == 429 || rep->status == 503 ? rep->retry_after_ms : -1);
        return;
    }
    r = hale__llm_wire_answer(g->conf.kind, rep->body, rep->body_len, &a, &d);
    if (r < 0) {
        snprintf(k->error, sizeof(k->error), "%s: %.400s", g->name, d.msg);
        attempt_failed(k, false, -1);
        return;
    }
    gw_succeeded(k);
    {
        double usd = (double)a.tokens_in / 1000.0 * g->conf.usd_per_1k_in +
                     (double)a.tokens_out / 1000.0 * g->conf.usd_per_1k_out;

        k->res.tokens_in += a.tokens_in;
        k->res.tokens_out += a.tokens_out;
        k->res.cost_usd += usd;
        hale__llm_charge(c, k->incident, a.tokens_in + a.tokens_out, usd);
    }
    got_answer(k, &a);
    hale__llm_answer_release(&a);
}

static void send_attempt(hale__llm_call *k)
{
    hale_llm *c = k->c;
    hale__llm_gw *g = &c->gw[k->gw];
    const char *headers[3];
    size_t n_headers = 0, len = 0;
    char *body;
    int r;

    body = hale__llm_wire_request(g->conf.kind, g->model, g->conf.max_tokens, k->system,
                                  k->repair ? k->repair : k->user, &len);
    if (!body) {
        snprintf(k->error, sizeof(k->error), "out of memory building the request");
        hale__llm_finish(k, -ENOMEM);
        return;
    }
    hale_sha256(&(hale_sha256_part){body, len}, 1, k->res.request_sha256);
    headers[n_headers++] = "Content-Type: application/json";
    if (g->conf.kind == HALE_LLM_ANTHROPIC)
        headers[n_headers++] = "anthropic-version: 2023-06-01";
    if (g->key_header)
        headers[n_headers++] = g->key_header;
    r = hale__llm_http_post(c->http, g->url, headers, n_headers, body, len, g->conf.timeout_ms,
                            on_reply, k, &k->x);
    free(body);
    if (r < 0) {
        snprintf(k->error, sizeof(k->error), "%s: cannot start the request", g->name);
        attempt_failed(k, false, -1);
        return;
    }
    k->res.attempts++;
    c->stats.attempts++;
}
