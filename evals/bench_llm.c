/* evals/bench_llm.c - the LLM client's own cost per request and the loop's responsiveness with
 * 256 calls in flight, against the fake OpenAI-compatible gateway (tests/fakes/fake_llm.c, on
 * its own threads, answering at once or after --delay-ms).
 * Figures, each the median of RUNS runs of N requests with 256 in flight:
 *  - baseline: loop-thread CPU per request of the bare transport (the same POST body through
 *    curl multi on the loop, nothing else): what any HTTP client on this loop pays;
 *  - client: loop-thread CPU per request of hale_llm_submit to the callback (render, redact,
 *    request body, digests, transport, envelope, strict parse, validation, accounting);
 *  - overhead = client - baseline: the client's own work, network and kernel excluded;
 *  - pure: the same work without any transport (render, body, envelope, validate) on one core;
 *  - loop lag: lateness of a 1 ms repeating timer while the client runs, p50/p99/max.
 * Usage: bench_llm [N] [--delay-ms MS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "fake_llm.h"
#include "hale/err.h"
#include "hale/llm.h"
#include "hale/redact.h"
#include "llm/llm_int.h"

#define RUNS      5
#define IN_FLIGHT 256

static double cpu_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static const char alert[] = "alertname=DiskFull instance=web-1 severity=page team=storage "
                            "summary=\"disk / at 97% on web-1\" runbook=https://wiki/disk";
static const char logs[] =
    "2026-11-22T10:00:01Z web-1 kernel: EXT4-fs warning (device sda1): no space left\n"
    "2026-11-22T10:00:02Z web-1 app[812]: write /var/log/app.log failed: ENOSPC user=ann@x.org\n"
    "2026-11-22T10:00:03Z web-1 app[812]: retrying in 5s (attempt 3 of 5)\n"
    "2026-11-22T10:00:04Z web-1 postgres[77]: could not extend file: No space left on device\n";

typedef struct bench {
    uv_loop_t loop;
    hale_llm *c;
    hale_prompt *p;
    unsigned sent, done, n;
    /* bare transport */
    hale__llm_http *http;
    const char *url;
    char *body;
    size_t body_len;
    /* loop lag */
    uv_timer_t tick;
    uint64_t last_ns;
    double *lag_ms;
    size_t n_lag, cap_lag;
} bench;

static void on_tick(uv_timer_t *t)
{
    bench *b = t->data;
    uint64_t now = uv_hrtime();

    if (b->last_ns && b->n_lag < b->cap_lag) {
        double late = (double)(now - b->last_ns) / 1e6 - 1.0;

        b->lag_ms[b->n_lag++] = late > 0 ? late : 0;
    }
    b->last_ns = now;
}

static void submit_one(bench *b);

static void on_result(const hale_llm_result *r, void *ud)
{
    bench *b = ud;

    if (r->status != 0) {
        fprintf(stderr, "bench_llm: call failed: %s\n", r->error);
        exit(1);
    }
    b->done++;
    if (b->sent < b->n)
        submit_one(b);
}

static void submit_one(bench *b)
{
    hale_prompt_var v[] = {{"alert", alert, sizeof(alert) - 1}, {"logs", logs, sizeof(logs) - 1}};
    hale_llm_call call = {.prompt = b->p, .vars = v, .n_vars = 2};
    hale_diag d = {{0}};

    b->sent++;
    if (hale_llm_submit(b->c, &call, on_result, b, &d) != 0) {
        fprintf(stderr, "bench_llm: submit: %s\n", d.msg);
        exit(1);
    }
}

static void on_raw(const hale__llm_reply *rep, void *ud);

static void post_one(bench *b)
{
    static const char *const hdr[] = {"Content-Type: application/json"};
    hale__llm_xfer *x;

    b->sent++;
    if (hale__llm_http_post(b->http, b->url, hdr, 1, b->body, b->body_len, 10000, on_raw, b, &x)) {
        fprintf(stderr, "bench_llm: post failed\n");
        exit(1);
    }
}

static void on_raw(const hale__llm_reply *rep, void *ud)
{
    bench *b = ud;

    if (rep->error || rep->status != 200) {
        fprintf(stderr, "bench_llm: raw post failed: %s\n", rep->curl_error);
        exit(1);
    }
    b->done++;
    if (b->sent < b->n)
        post_one(b);
}

static void http_closed(void *ud)
{
    (void)ud;
}

static double run_raw(bench *b, const char *url, unsigned n)
{
    double t0;

    b->url = url;
    b->n = n;
    b->sent = b->done = 0;
    if (hale__llm_http_new(&b->loop, &b->http) != 0)
        exit(1);
    t0 = cpu_s();
    for (unsigned i = 0; i < IN_FLIGHT && i < n; i++)
        post_one(b);
    while (b->done < n)
        uv_run(&b->loop, UV_RUN_ONCE);
    t0 = cpu_s() - t0;
    hale__llm_http_close(b->http, http_closed, NULL);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    return t0 / n;
}

static void closed(void *ud)
{
    (void)ud;
}

static double run_client(bench *b, const hale_llm_options *o, const hale_redact *rules, unsigned n,
                         bool lag)
{
    hale_diag d = {{0}};
    double t0;

    b->n = n;
    b->sent = b->done = 0;
    if (hale_llm_new(&b->loop, o, rules, &b->c, &d) != 0) {
        fprintf(stderr, "bench_llm: %s\n", d.msg);
        exit(1);
    }
    if (lag) {
        b->last_ns = 0;
        uv_timer_start(&b->tick, on_tick, 1, 1);
    }
    t0 = cpu_s();
    for (unsigned i = 0; i < IN_FLIGHT && i < n; i++)
        submit_one(b);
    while (b->done < n)
        uv_run(&b->loop, UV_RUN_ONCE);
    t0 = cpu_s() - t0;
    uv_timer_stop(&b->tick);
    hale_llm_close(b->c, closed, NULL);
    uv_run(&b->loop, UV_RUN_NOWAIT);
    return t0 / n;
}

/* Render, request body, envelope, validate: everything but the transport, n times. */
static double run_pure(bench *b, const hale_redact *rules, const char *response, unsigned n)
{
    hale_prompt_var v[] = {{"alert", alert, sizeof(alert) - 1}, {"logs", logs, sizeof(logs) - 1}};
    double t0 = cpu_s();

    for (unsigned i = 0; i < n; i++) {
        hale_redact_session *rs = NULL;
        hale__llm_answer a = {0};
        json_t *doc = NULL;
        char *out = NULL, *body;
        size_t len = 0;
        uint8_t h[32];

        if (hale_redact_session_new(rules, &rs) ||
            hale_prompt_render(b->p, v, 2, rs, &out, &len, h, NULL) ||
            !(body = hale__llm_wire_request(HALE_LLM_OPENAI, "m", 256, "system", out, &len)) ||
            hale__llm_wire_answer(HALE_LLM_OPENAI, response, strlen(response), &a, NULL) ||
            hale_llm_answer_parse(hale_prompt_schema(b->p), a.text, a.len, &doc, NULL))
            exit(1);
        json_decref(doc);
        hale__llm_answer_release(&a);
        free(body);
        free(out);
        hale_redact_session_free(rs);
    }
    return (cpu_s() - t0) / n;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_d);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    unsigned n = 4096, delay = 0;
    bench b = {0};
    hale_redact *rules = NULL;
    fake_llm *f = NULL;
    char url[64], endpoint[96];
    hale_llm_gateway gw;
    hale_llm_options o;
    double raw[RUNS], cli[RUNS], pure[RUNS];
    hale_diag d = {{0}};
    const char *response = "{\"choices\":[{\"message\":{\"content\":\"{\\\"summary\\\":\\\"disk "
                           "full\\\",\\\"severity\\\":\\\"high\\\"}\"},\"finish_reason\":"
                           "\"stop\"}],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":20}}";

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc)
            delay = (unsigned)strtoul(argv[++i], NULL, 10);
        else
            n = (unsigned)strtoul(argv[i], NULL, 10);
    }
    if (n < IN_FLIGHT ||
        hale_redact_load(HALE_SOURCE_DIR "/policies/redact/rules.json", &rules, &d) ||
        hale_prompt_load(HALE_SOURCE_DIR "/prompts", "incident_summary@1", &b.p, &d) ||
        fake_llm_start(HALE_LLM_OPENAI, &f) || uv_loop_init(&b.loop)) {
        fprintf(stderr, "bench_llm: setup failed: %s\n", d.msg);
        return 1;
    }
    fake_llm_set_default(f, &(fake_llm_step){.delay_ms = delay});
    fake_llm_base_url(f, url, sizeof(url));
    snprintf(endpoint, sizeof(endpoint), "%s/v1/chat/completions", url);
    gw = (hale_llm_gateway){.name = "fake",
                            .kind = HALE_LLM_OPENAI,
                            .base_url = url,
                            .model = "m",
                            .timeout_ms = 30000,
                            .max_tokens = 256};
    hale_llm_options_default(&o);
    o.gateways = &gw;
    o.n_gateways = 1;
    o.max_in_flight = IN_FLIGHT;
    uv_timer_init(&b.loop, &b.tick);
    b.tick.data = &b;
    b.cap_lag = 1u << 20;
    b.lag_ms = calloc(b.cap_lag, sizeof(double));
    /* The raw transport posts a body of the size the client sends. */
    {
        hale_redact_session *rs = NULL;
        hale_prompt_var v[] = {{"alert", alert, sizeof(alert) - 1},
                               {"logs", logs, sizeof(logs) - 1}};
        char *out = NULL;
        size_t len;

        if (hale_redact_session_new(rules, &rs) ||
            hale_prompt_render(b.p, v, 2, rs, &out, &len, NULL, NULL))
            return 1;
        b.body = hale__llm_wire_request(HALE_LLM_OPENAI, "m", 256, "system", out, &b.body_len);
        free(out);
        hale_redact_session_free(rs);
    }
    for (int r = 0; r < RUNS; r++) {
        raw[r] = run_raw(&b, endpoint, n);
        cli[r] = run_client(&b, &o, rules, n, true);
        pure[r] = run_pure(&b, rules, response, n / 4);
    }
    {
        double lag50, lag99, lagmax, mr = median(raw, RUNS), mc = median(cli, RUNS),
                                     mp = median(pure, RUNS);

        qsort(b.lag_ms, b.n_lag, sizeof(double), cmp_d);
        lag50 = b.n_lag ? b.lag_ms[b.n_lag / 2] : 0;
        lag99 = b.n_lag ? b.lag_ms[b.n_lag * 99 / 100] : 0;
        lagmax = b.n_lag ? b.lag_ms[b.n_lag - 1] : 0;
        printf("bench_llm: %u requests per run, %d in flight, fake delay %u ms, median of %d "
               "runs\n",
               n, IN_FLIGHT, delay, RUNS);
        printf("  baseline (bare curl multi on the loop)  %8.1f us/request loop-thread CPU\n",
               mr * 1e6);
        printf("  client (submit to callback)             %8.1f us/request loop-thread CPU\n",
               mc * 1e6);
        printf("  client overhead (client - baseline)     %8.1f us/request (target < 200)\n",
               (mc - mr) * 1e6);
        printf("  client work without transport           %8.1f us/request one core\n", mp * 1e6);
        printf("  loop lag over %zu ticks of 1 ms: p50 %.2f ms, p99 %.2f ms (target < 5), max "
               "%.2f ms\n",
               b.n_lag, lag50, lag99, lagmax);
    }
    uv_close((uv_handle_t *)&b.tick, NULL);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&b.loop);
    free(b.body);
    free(b.lag_ms);
    hale_prompt_free(b.p);
    hale_redact_free(rules);
    fake_llm_stop(f);
    return 0;
}
