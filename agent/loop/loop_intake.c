/* agent/loop/loop_intake.c - durable intake: requests accepted during one loop turn are
 * committed in one transaction at the turn's end (uv_check), and only then answered 2xx
 * ("persist before reply"). A failed commit answers 503 so the sender retries. */
#include "internal.h"

#define HALE_LOG_MODULE "intake"
#include "hale/log.h"
#include "loop/loop_int.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/timeutil.h"

void hale__loop_submit(void *ud, hale_http_req *req, hale_ingest_batch *batch, const char *kind)
{
    hale_loop *l = ud;
    void *arr = l->pending;
    size_t cap = l->cap_pending;

    if (l->n_pending >= HALE_MAX_BATCH_REQUESTS)
        hale__loop_flush(l);
    if (hale_grow(&arr, &cap, l->n_pending, sizeof(*l->pending)) < 0) {
        hale_ingest_batch_free(batch);
        (void)hale_http_respond_error(req, 503, "out_of_memory", "try again later");
        return;
    }
    l->pending = arr;
    l->cap_pending = cap;
    l->pending[l->n_pending++] = (struct pending){.req = req, .batch = batch, .kind = kind};
}

/* The event's normalized form: what it said about which alert. Labels and annotations live in
 * the alerts table and the raw body, so they are not copied a third time. */
static char *normalized_json(const hale_ingest_batch *b)
{
    hale_buf out;
    char starts[40], ends[40];
    int r;

    hale_buf_init(&out, HALE_MAX_BODY_BYTES);
    r = hale_buf_putc(&out, '[');
    for (size_t i = 0; r == 0 && i < b->n_alerts; i++) {
        const hale_alert *a = &b->alerts[i];

        hale_rfc3339_format(a->starts_ms, starts, sizeof(starts));
        hale_rfc3339_format(a->ends_ms, ends, sizeof(ends));
        r = hale_buf_printf(&out,
                            "%s{\"fingerprint\":\"%s\",\"status\":\"%s\",\"startsAt\":\"%s\","
                            "\"endsAt\":\"%s\"}",
                            i ? "," : "", a->fingerprint,
                            a->status == HALE_ALERT_FIRING ? "firing" : "resolved", starts,
                            a->ends_ms == HALE_TIME_ZERO_MS ? "" : ends);
    }
    if (r == 0)
        r = hale_buf_putc(&out, ']');
    if (r < 0) {
        hale_buf_release(&out);
        return NULL;
    }
    return hale_buf_detach(&out, NULL);
}

static int persist_one(hale_loop *l, struct pending *p, int64_t now_ms)
{
    const hale_ingest_batch *b = p->batch;
    hale_event_rec ev = {.received_ms = now_ms, .kind = p->kind, .source = b->source};
    char *normalized = normalized_json(b);
    int r;

    if (!normalized)
        return -ENOMEM;
    ev.raw = hale_http_req_body(p->req, &ev.raw_len);
    ev.normalized = normalized;
    r = hale_store_event_insert(l->store, &ev, &ev.id);
    free(normalized);
    for (size_t i = 0; r == 0 && i < b->n_alerts; i++)
        r = hale_incidents_apply_alert(l->incidents, &b->alerts[i], b->source, ev.id, now_ms);
    return r;
}

static int persist_all(hale_loop *l, int64_t now_ms)
{
    int r = hale_store_begin(l->store);

    for (size_t i = 0; r == 0 && i < l->n_pending; i++)
        r = persist_one(l, &l->pending[i], now_ms);
    if (r == 0)
        r = hale_incidents_flush(l->incidents, now_ms);
    if (r == 0)
        r = hale_store_commit(l->store);
    else
        hale_store_rollback(l->store);
    return r;
}

static void answer_accepted(hale_loop *l)
{
    for (size_t i = 0; i < l->n_pending; i++) {
        struct pending *p = &l->pending[i];
        char body[96];
        int n;

        n = snprintf(body, sizeof(body), "{\"status\":\"accepted\",\"alerts\":%zu}",
                     p->batch->n_alerts);
        l->stats.alerts_accepted += p->batch->n_alerts;
        l->stats.requests_accepted++;
        (void)hale_http_respond(p->req, 200, "application/json", body, (size_t)n);
        hale_ingest_batch_free(p->batch);
    }
    l->n_pending = 0;
}

void hale__loop_fail_pending(hale_loop *l, int status, const char *code, const char *message)
{
    for (size_t i = 0; i < l->n_pending; i++) {
        (void)hale_http_respond_error(l->pending[i].req, status, code, message);
        hale_ingest_batch_free(l->pending[i].batch);
    }
    l->n_pending = 0;
}

void hale__loop_flush(hale_loop *l)
{
    uint64_t t0;
    int64_t now_ms;
    int r;

    if (l->n_pending == 0)
        return;
    t0 = uv_hrtime();
    now_ms = hale_time_now_ms();
    r = persist_all(l, now_ms);
    hale_histogram_observe(&l->stats.commit_s, (double)(uv_hrtime() - t0) / 1e9);
    hale_histogram_observe(&l->stats.batch_size, (double)l->n_pending);
    if (r < 0) {
        l->stats.commit_failures++;
        log_err("cannot commit %zu requests: %s (%s), answering 503", l->n_pending,
                hale_strerror(r), hale_store_errmsg(l->store));
        hale__loop_fail_pending(l, 503, "store_unavailable",
                                "the alert could not be stored; retry later");
        r = hale_incidents_aborted(l->incidents);
        if (r < 0)
            log_err("cannot reload incidents from the store: %s", hale_strerror(r));
        return;
    }
    l->stats.commits++;
    hale_incidents_committed(l->incidents, hale__loop_entered, l);
    answer_accepted(l);
    hale__loop_dispatch_stages(l);
}
