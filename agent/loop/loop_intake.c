/* agent/loop/loop_intake.c - durable intake: requests parsed on the loop thread are committed
 * in one transaction on the threadpool, and only then answered 2xx ("persist before reply").
 * While one commit (and its fsync) runs, the loop thread keeps parsing the next batch, which
 * starts as soon as the previous one is answered. A failed commit answers 503 so the sender
 * retries. */
#include "internal.h"

#define HALE_LOG_MODULE "intake"
#include "hale/log.h"
#include "loop/loop_int.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/sha256.h"
#include "util/strparse.h"
#include "util/timeutil.h"

#define LIGHT_LOAD_REQUESTS 8
#define SLOW_COMMIT_S       0.1 /* a commit this slow is logged: it holds every sender */
#define LEAF_MAX_EVENTS     512 /* requests named in one alerts_accepted leaf (about 80 KiB) */

/* Append a request to the next commit. Returns 0 or -ENOMEM (nothing appended). */
static int enqueue(hale_loop *l, const struct pending *p)
{
    void *arr = l->pending;
    size_t cap = l->cap_pending;

    if (hale_grow(&arr, &cap, l->n_pending, sizeof(*l->pending)) < 0)
        return -ENOMEM;
    l->pending = arr;
    l->cap_pending = cap;
    l->pending[l->n_pending++] = *p;
    return 0;
}

void hale__loop_submit(void *ud, hale_http_req *req, hale_ingest_batch *batch, const char *kind)
{
    /* The commit job reads the body but never calls into the HTTP server. */
    struct pending p = {.req = req, .batch = batch, .kind = kind};

    p.raw = hale_http_req_body(req, &p.raw_len);
    if (enqueue(ud, &p) < 0) {
        hale_ingest_batch_free(batch);
        (void)hale_http_respond_error(req, 503, "out_of_memory", "try again later");
    }
}

int hale__loop_submit_internal(hale_loop *l, hale_ingest_batch *batch, char *body, size_t len)
{
    struct pending p = {
        .raw = body, .raw_len = len, .batch = batch, .kind = "event", .raw_owned = body};

    if (enqueue(l, &p) < 0) {
        log_err("out of memory: an event from '%s' waits", batch->source);
        hale_ingest_batch_free(batch);
        free(body);
        return -ENOMEM;
    }
    return 0;
}

/* The event's normalized form: what it said about which alert. Labels and annotations live in
 * the alerts table and the raw body, so they are not copied a third time. Written into the
 * job's buffer, which the next event reuses. */
static const char *normalized_json(const hale_ingest_batch *b, hale_buf *out)
{
    char starts[40], ends[40];
    int r;

    hale_buf_reset(out);
    r = hale_buf_putc(out, '[');
    for (size_t i = 0; r == 0 && i < b->n_alerts; i++) {
        const hale_alert *a = &b->alerts[i];

        hale_rfc3339_format(a->starts_ms, starts, sizeof(starts));
        if (a->ends_ms == HALE_TIME_ZERO_MS)
            ends[0] = '\0';
        else
            hale_rfc3339_format(a->ends_ms, ends, sizeof(ends));
        r = hale_buf_puts(out, i ? ",{\"fingerprint\":\"" : "{\"fingerprint\":\"");
        if (r == 0)
            r = hale_buf_puts(out, a->fingerprint);
        if (r == 0)
            r = hale_buf_puts(out, a->status == HALE_ALERT_FIRING
                                       ? "\",\"status\":\"firing\",\"startsAt\":\""
                                       : "\",\"status\":\"resolved\",\"startsAt\":\"");
        if (r == 0)
            r = hale_buf_puts(out, starts);
        if (r == 0)
            r = hale_buf_puts(out, "\",\"endsAt\":\"");
        if (r == 0)
            r = hale_buf_puts(out, ends);
        if (r == 0)
            r = hale_buf_puts(out, "\"}");
    }
    if (r == 0)
        r = hale_buf_putc(out, ']');
    return r == 0 ? out->data : NULL;
}

/* One request's entry in the commit's alerts_accepted leaf: the digest of its body binds every
 * byte of what was accepted (the events row keeps the body and its fingerprints). */
static json_t *accepted_entry(const struct pending *p, int64_t event_id)
{
    const hale_sha256_part body = {p->raw, p->raw_len};
    uint8_t digest[HALE_SHA256_BYTES];
    char hex[2 * HALE_SHA256_BYTES + 1];

    hale_sha256(&body, 1, digest);
    hale_hex_encode(digest, sizeof(digest), hex);
    return json_pack("{s:I,s:s,s:s,s:s,s:I}", "event_id", (json_int_t)event_id, "source",
                     p->batch->source, "event_kind", p->kind, "body_sha256", hex, "alerts",
                     (json_int_t)p->batch->n_alerts);
}

/* The commit's accepted requests as alerts_accepted leaves of at most LEAF_MAX_EVENTS
 * entries: under load one leaf covers a whole commit instead of one leaf per request. */
static int log_accepted(hale_loop *l, json_t *entries, int64_t now_ms)
{
    size_t n = json_array_size(entries);
    int r = 0;

    for (size_t from = 0; r == 0 && from < n; from += LEAF_MAX_EVENTS) {
        json_t *chunk = json_array(), *leaf;

        for (size_t i = from; chunk && i < n && i < from + LEAF_MAX_EVENTS; i++)
            if (json_array_append(chunk, json_array_get(entries, i)) < 0) {
                json_decref(chunk);
                chunk = NULL;
            }
        leaf = chunk ? json_pack("{s:o}", "events", chunk) : NULL;
        if (!leaf)
            return -ENOMEM;
        r = hale_audit_append(l->audit, HALE_AUDIT_KIND_ALERT, leaf, now_ms * 1000000, NULL, NULL);
        json_decref(leaf);
    }
    return r;
}

/* The request's raw and normalized event row, and its entry for the commit's leaf. */
static int store_event(hale_loop *l, struct pending *p, int64_t now_ms, json_t *accepted)
{
    const hale_ingest_batch *b = p->batch;
    hale_event_rec ev = {.received_ms = now_ms, .kind = p->kind, .source = b->source};
    const char *normalized = normalized_json(b, &l->job.normalized);
    int r;

    if (!normalized)
        return -ENOMEM;
    ev.raw = p->raw;
    ev.raw_len = p->raw_len;
    ev.normalized = normalized;
    r = hale_store_event_insert(l->store, &ev, &ev.id);
    p->event_id = ev.id;
    if (r == 0 && accepted) {
        json_t *e = accepted_entry(p, ev.id);

        r = e ? json_array_append_new(accepted, e) : -ENOMEM;
    }
    return r;
}

static int apply_alerts(hale_loop *l, const struct pending *p, int64_t now_ms)
{
    const hale_ingest_batch *b = p->batch;
    int r = 0;

    for (size_t i = 0; r == 0 && i < b->n_alerts; i++)
        r = hale_incidents_apply_alert(l->incidents, &b->alerts[i], b->source, p->event_id, now_ms);
    return r;
}

static int persist_all(hale_loop *l, struct commit_job *job)
{
    json_t *accepted = l->audit ? json_array() : NULL;
    int r = l->audit && !accepted ? -ENOMEM : hale_store_begin(l->store);

    if (r == 0 && job->n_audit_items > 0)
        r = hale__loop_audit_append_items(l, job->audit_items, job->n_audit_items, job->errmsg,
                                          sizeof(job->errmsg));
    /* Accepted, then correlated: the log names the requests before the transitions they
     * cause. */
    for (size_t i = 0; r == 0 && i < job->n_items; i++)
        r = store_event(l, &job->items[i], job->now_ms, accepted);
    if (r == 0 && accepted)
        r = log_accepted(l, accepted, job->now_ms);
    json_decref(accepted);
    for (size_t i = 0; r == 0 && i < job->n_items; i++)
        r = apply_alerts(l, &job->items[i], job->now_ms);
    for (size_t i = 0; r == 0 && i < job->n_writes; i++) {
        struct loop_write *w = &job->writes[i];

        r = w->fn(l, w->ud, job->now_ms);
        if (r == 0 && l->audit)
            hale_audit_head(l->audit, &w->head, NULL);
    }
    /* Under light load membership is written at once; under heavy load about once a second,
     * where a commit's worth of pairs would touch one page per active incident. */
    if (r == 0)
        r = hale_incidents_flush(l->incidents, job->now_ms, job->n_items <= LIGHT_LOAD_REQUESTS);
    if (r == 0) {
        uint64_t t0 = uv_hrtime();

        r = hale_store_commit(l->store);
        job->commit_s = (double)(uv_hrtime() - t0) / 1e9;
    }
    if (r < 0) {
        if (!job->errmsg[0])
            snprintf(job->errmsg, sizeof(job->errmsg), "%s", hale_store_errmsg(l->store));
        hale_store_rollback(l->store);
    }
    return r;
}

/* Threadpool: touches only the job, the writer connection and the incident manager. */
static void commit_work(uv_work_t *w)
{
    hale_loop *l = w->data;
    struct commit_job *job = &l->job;
    uint64_t t0 = uv_hrtime();

    job->errmsg[0] = '\0';
    job->result = persist_all(l, job);
    job->reload_result = job->result < 0 ? hale_incidents_aborted(l->incidents) : 0;
    if (job->result == 0 && (job->seal || job->rotate || job->anchor))
        hale__loop_audit_job(l, job);
    job->duration_s = (double)(uv_hrtime() - t0) / 1e9;
}

static void answer(struct commit_job *job, struct loop_stats *st)
{
    for (size_t i = 0; i < job->n_items; i++) {
        struct pending *p = &job->items[i];
        char body[96];
        int n;

        if (!p->req) { /* raised by hale itself: nobody to answer */
            if (job->result < 0)
                log_err("cannot commit an event from '%s': %s, dropped", p->batch->source,
                        hale_strerror(job->result));
            else
                st->alerts_accepted += p->batch->n_alerts;
            free(p->raw_owned);
        } else if (job->result < 0) {
            (void)hale_http_respond_error(p->req, 503, "store_unavailable",
                                          "the alert could not be stored; retry later");
        } else {
            n = snprintf(body, sizeof(body), "{\"status\":\"accepted\",\"alerts\":%zu}",
                         p->batch->n_alerts);
            st->alerts_accepted += p->batch->n_alerts;
            st->requests_accepted++;
            (void)hale_http_respond(p->req, 200, "application/json", body, (size_t)n);
        }
        hale_ingest_batch_free(p->batch);
    }
    job->n_items = 0;
}

int hale__loop_write(hale_loop *l, const struct loop_write *w)
{
    void *arr = l->writes;

    if (hale_grow(&arr, &l->cap_writes, l->n_writes, sizeof(*l->writes)) < 0)
        return -ENOMEM;
    l->writes = arr;
    l->writes[l->n_writes] = *w;
    l->writes[l->n_writes].head = 0;
    l->n_writes++;
    return 0;
}

/* Loop thread, after the job: tell each write how it went. A write that asked for a seal
 * failed unless a stored checkpoint covers the log as it stood after it. */
static void writes_done(hale_loop *l, struct commit_job *job)
{
    size_t n = job->n_writes;

    job->n_writes = 0;
    for (size_t i = 0; i < n; i++) {
        struct loop_write *w = &job->writes[i];
        int r = job->result;

        if (r == 0 && w->seal && job->audit_result < 0)
            r = job->audit_result;
        else if (r == 0 && w->seal && l->audit_sealed < w->head)
            r = HALE_ESTATE;
        w->done(l, w->ud, r, job->result == 0);
    }
}

/* A failed commit's leaves go back to the front of the queue; a committed job's are freed. */
static void requeue_audit_items(hale_loop *l, struct commit_job *job)
{
    struct audit_item *q;
    size_t n = job->n_audit_items;

    if (n == 0)
        return;
    job->n_audit_items = 0;
    if (job->result == 0) {
        hale__loop_audit_items_free(job->audit_items, n);
        return;
    }
    q = malloc((n + l->n_audit_queue) * sizeof(*q));
    if (!q) {
        log_err("out of memory: %zu audit leaves lost after a failed commit", n);
        hale__loop_audit_items_free(job->audit_items, n);
        return;
    }
    memcpy(q, job->audit_items, n * sizeof(*q));
    if (l->n_audit_queue)
        memcpy(q + n, l->audit_queue, l->n_audit_queue * sizeof(*q));
    free(l->audit_queue);
    l->audit_queue = q;
    l->n_audit_queue += n;
    l->cap_audit_queue = l->n_audit_queue;
}

static void commit_done(uv_work_t *w, int status)
{
    hale_loop *l = w->data;
    struct commit_job *job = &l->job;

    (void)status; /* never cancelled: the loop waits for every commit before it closes */
    l->job_running = false;
    hale_histogram_observe(&l->stats.commit_s, job->duration_s);
    if (job->duration_s > SLOW_COMMIT_S)
        log_warn("slow store commit: %zu requests in %.0f ms (%.0f ms of it in COMMIT)",
                 job->n_items, job->duration_s * 1000, job->commit_s * 1000);
    hale_histogram_observe(&l->stats.batch_size, (double)job->n_items);
    if (job->result < 0) {
        l->stats.commit_failures++;
        log_err("cannot commit %zu requests: %s (%s), answering 503", job->n_items,
                hale_strerror(job->result), job->errmsg);
        if (job->reload_result < 0)
            log_err("cannot reload incidents from the store: %s",
                    hale_strerror(job->reload_result));
    } else {
        l->stats.commits++;
        hale_incidents_committed(l->incidents, hale__loop_entered, l);
    }
    requeue_audit_items(l, job);
    hale__loop_audit_done(l, job);
    writes_done(l, job);
    hale__loop_stats_refresh(l);
    hale__loop_apply_grouping(l);
    answer(job, &l->stats);
    hale__loop_dispatch_stages(l);
    hale__loop_flush(l);
}

void hale__loop_apply_grouping(hale_loop *l)
{
    const hale_config *c = l->cfg;
    int r;

    if (!l->regroup || l->job_running)
        return;
    l->regroup = false;
    r = hale_incidents_set_grouping(l->incidents, (const char *const *)c->group_by, c->n_group_by,
                                    c->group_window_s * 1000u);
    if (r < 0)
        log_err("cannot apply the reloaded group_by: %s, keeping the previous grouping",
                hale_strerror(r));
}

bool hale__loop_store_idle(const hale_loop *l)
{
    return !l->job_running;
}

/* The loop's queue (lq, ln entries, lcap allocated) becomes the job's; the job's buffer, which
 * its last run emptied, goes back to the loop. */
#define HAND_OVER(type, jq, jn, jcap, lq, ln, lcap)                                                \
    do {                                                                                           \
        type *q_ = (jq);                                                                           \
        size_t cap_ = (jcap);                                                                      \
                                                                                                   \
        (jq) = (lq);                                                                               \
        (jn) = (ln);                                                                               \
        (jcap) = (lcap);                                                                           \
        (lq) = q_;                                                                                 \
        (ln) = 0;                                                                                  \
        (lcap) = cap_;                                                                             \
    } while (0)

static void start_job(hale_loop *l)
{
    struct commit_job *job = &l->job;
    int r;

    /* Swap buffers: the job takes each queue, the loop keeps the job's old (empty) one. */
    HAND_OVER(struct pending, job->items, job->n_items, job->cap_items, l->pending, l->n_pending,
              l->cap_pending);
    HAND_OVER(struct audit_item, job->audit_items, job->n_audit_items, job->cap_audit_items,
              l->audit_queue, l->n_audit_queue, l->cap_audit_queue);
    HAND_OVER(struct loop_write, job->writes, job->n_writes, job->cap_writes, l->writes,
              l->n_writes, l->cap_writes);
    if (l->audit)
        hale__loop_audit_plan(l, job);
    /* An action waits for a signed head over its intent: seal now, whatever the interval. */
    for (size_t i = 0; l->audit && i < job->n_writes; i++)
        job->seal = job->seal || job->writes[i].seal;
    job->now_ms = hale_time_now_ms();
    job->work.data = l;
    r = uv_queue_work(&l->uv, &job->work, commit_work, commit_done);
    if (r < 0) {
        job->result = r;
        snprintf(job->errmsg, sizeof(job->errmsg), "cannot queue the commit: %s", uv_strerror(r));
        answer(job, &l->stats);
        requeue_audit_items(l, job);
        if (l->audit)
            hale__loop_audit_done(l, job);
        writes_done(l, job);
        return;
    }
    l->job_running = true;
}

/* A job takes every pending request: at most one per connection (a connection has one request
 * at the handler at a time), so max_connections bounds the batch. */
void hale__loop_flush(hale_loop *l)
{
    if ((l->n_pending > 0 || l->n_audit_queue > 0 || l->n_writes > 0) && !l->job_running)
        start_job(l);
}

void hale__loop_flush_idle(hale_loop *l)
{
    /* With no commit for a while, membership pairs would wait: an empty job writes them. */
    if (!l->job_running && l->n_pending == 0 &&
        (hale_incidents_pairs_pending(l->incidents) > 0 || hale__loop_audit_due(l)))
        start_job(l);
}
