/* agent/metrics/metrics_prom.c - the Prometheus poller: one timer per configured query, each
 * run a POST to /api/v1/query_range on curl's multi-socket API driven by the uv loop (curl
 * names the sockets to watch, one uv_poll each, and when to call back, one uv_timer). Answers
 * are capped, parsed into samples and handed to the caller; failures are retried with backoff
 * and reported with the query's name. Nothing here blocks the loop. */
#include "internal.h"

#include <curl/curl.h>
#include <uv.h>

#include "hale/metrics.h"
#include "net/curl_uv.h"
#include "util/buf.h"

#define BACKOFF_BASE_MS 500u
#define MAX_SAMPLES_RUN 200000u /* samples one run may hand over */
#define ERRMSG_BYTES    512u

struct query {
    hale_prom_poller *p; /* owner */
    size_t idx;          /* in cfg->metrics.queries */
    uv_timer_t timer;    /* next run or retry */
    CURL *easy;          /* the request in flight, NULL when none */
    char *form;          /* its body, owned (curl does not copy POSTFIELDS) */
    hale_buf resp;       /* its answer, capped */
    bool over_limit;     /* the answer passed the cap */
    int64_t end_s;       /* end of the range asked for */
    int64_t last_end_s;  /* end of the last successful run, 0 before the first */
    unsigned attempt;    /* failures in a row */
    char errbuf[CURL_ERROR_SIZE];
};

struct hale_prom_poller {
    uv_loop_t *loop;  /* borrowed */
    hale_config *cfg; /* one reference */
    hale_prom_poller_ops ops;
    hale_curl_uv cu;       /* curl on the loop: the multi, its timer and polls */
    struct query *queries; /* one per configured query */
    size_t n;
    unsigned open_handles; /* our own uv handles (the query timers) not yet closed */
    bool closing;
    void (*done)(void *ud);
    void *done_ud;
};

/* Free p once every handle, ours and curl's, has closed after hale_prom_poller_close. */
static void maybe_free(hale_prom_poller *p)
{
    if (!p->closing || p->open_handles > 0 || p->cu.open > 0)
        return;
    for (size_t i = 0; i < p->n; i++)
        hale_buf_release(&p->queries[i].resp);
    free(p->queries);
    hale_config_unref(p->cfg);
    if (p->done)
        p->done(p->done_ud);
    free(p);
}

static void on_closed(uv_handle_t *h)
{
    hale_prom_poller *p = h->data;

    p->open_handles--;
    maybe_free(p);
}

static hale_prom_poller *poller_of(hale_curl_uv *cu)
{
    return (hale_prom_poller *)((char *)cu - offsetof(hale_prom_poller, cu));
}

static void curl_closed(hale_curl_uv *cu)
{
    maybe_free(poller_of(cu));
}

static void schedule(struct query *q, uint64_t delay_ms);

static void query_reset(struct query *q)
{
    if (q->easy) {
        curl_multi_remove_handle(q->p->cu.multi, q->easy);
        curl_easy_cleanup(q->easy);
        q->easy = NULL;
    }
    free(q->form);
    q->form = NULL;
    hale_buf_reset(&q->resp);
    q->over_limit = false;
}

static void fail(struct query *q, int err, const char *msg, bool permanent)
{
    const hale_metrics_config *mc = &q->p->cfg->metrics;
    const hale_metrics_query_config *qc = &mc->queries[q->idx];
    bool final = permanent || q->attempt >= mc->prom_retries;
    uint64_t delay = qc->interval_s * 1000u;

    q->p->ops.error(qc->name, err, msg, final, q->p->ops.ud);
    if (!final) {
        delay = (uint64_t)BACKOFF_BASE_MS << (q->attempt < 10 ? q->attempt : 10);
        if (delay > qc->interval_s * 1000u)
            delay = qc->interval_s * 1000u;
        q->attempt++;
    } else {
        q->attempt = 0;
    }
    schedule(q, delay);
}

static void finished(struct query *q, CURLcode res)
{
    const hale_metrics_config *mc = &q->p->cfg->metrics;
    const hale_metrics_query_config *qc = &mc->queries[q->idx];
    char msg[ERRMSG_BYTES];
    hale_sample_set *set = NULL;
    hale_diag d = {{0}};
    long status = 0;
    int r;

    curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
    if (q->over_limit) {
        snprintf(msg, sizeof(msg), "answer larger than %llu bytes",
                 (unsigned long long)mc->prom_max_response_bytes);
        query_reset(q);
        fail(q, HALE_ELIMIT, msg, false);
        return;
    }
    if (res != CURLE_OK) {
        snprintf(msg, sizeof(msg), "%s", q->errbuf[0] ? q->errbuf : curl_easy_strerror(res));
        query_reset(q);
        fail(q, res == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : HALE_EUPSTREAM, msg, false);
        return;
    }
    if ((r = hale_sample_set_new(&set)) == 0)
        r = hale_metrics_parse_prom(q->resp.data ? q->resp.data : "", q->resp.len, qc->name,
                                    MAX_SAMPLES_RUN, set, &d);
    if (r < 0 || status != 200) {
        /* Prometheus answers errors as JSON with a status; a proxy may not. */
        snprintf(msg, sizeof(msg), "HTTP %ld: %.400s", status,
                 d.msg[0] ? d.msg : "not a Prometheus answer");
        hale_sample_set_free(set);
        query_reset(q);
        fail(q, r < 0 ? r : HALE_EUPSTREAM, msg, status >= 400 && status < 500);
        return;
    }
    q->last_end_s = q->end_s;
    q->attempt = 0;
    query_reset(q);
    q->p->ops.samples(qc->name, set, q->p->ops.ud);
    schedule(q, qc->interval_s * 1000u);
}

static void check_done(hale_prom_poller *p)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(p->cu.multi, &left))) {
        struct query *q = NULL;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
        finished(q, m->data.result);
    }
}

static void progress(hale_curl_uv *cu)
{
    check_done(poller_of(cu));
}

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    struct query *q = userp;

    if (hale_buf_append(&q->resp, data, size * n) < 0) {
        q->over_limit = true;
        return 0; /* aborts the transfer */
    }
    return size * n;
}

/* The form body of one run: what is new since the last run, at most range_s of it. */
static char *form_body(struct query *q, CURL *easy, int64_t now_s)
{
    const hale_metrics_config *mc = &q->p->cfg->metrics;
    const hale_metrics_query_config *qc = &mc->queries[q->idx];
    int64_t start = now_s - (int64_t)qc->range_s;
    char *esc = curl_easy_escape(easy, qc->query, 0), *body;
    size_t len;

    if (q->last_end_s > 0 && q->last_end_s + (int64_t)qc->step_s > start)
        start = q->last_end_s + (int64_t)qc->step_s;
    if (start > now_s)
        start = now_s;
    q->end_s = now_s;
    if (!esc)
        return NULL;
    len = strlen(esc) + 160;
    if ((body = malloc(len)))
        snprintf(body, len, "query=%s&start=%lld&end=%lld&step=%llus&timeout=%llums", esc,
                 (long long)start, (long long)now_s, (unsigned long long)qc->step_s,
                 (unsigned long long)mc->prom_timeout_ms);
    curl_free(esc);
    return body;
}

static void start_run(struct query *q)
{
    const hale_metrics_config *mc = &q->p->cfg->metrics;
    char url[1100], *body;
    CURL *easy = curl_easy_init();

    if (!easy) {
        fail(q, -ENOMEM, "cannot create a transfer", false);
        return;
    }
    snprintf(url, sizeof(url), "%s/api/v1/query_range", mc->prom_url);
    body = form_body(q, easy, q->p->ops.now_ms(q->p->ops.ud) / 1000);
    if (!body) {
        curl_easy_cleanup(easy);
        fail(q, -ENOMEM, "cannot build the request", false);
        return;
    }
    q->form = body;
    q->errbuf[0] = '\0';
    q->easy = easy;
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, q->form);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)mc->prom_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, q);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, q->errbuf);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, q);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "hale/" HALE_VERSION);
    if (curl_multi_add_handle(q->p->cu.multi, easy) != CURLM_OK) {
        query_reset(q);
        fail(q, -ENOMEM, "cannot start the request", false);
    }
}

static void on_query_timer(uv_timer_t *t)
{
    struct query *q = t->data;

    if (!q->easy && !q->p->closing)
        start_run(q);
}

static void schedule(struct query *q, uint64_t delay_ms)
{
    if (!q->p->closing)
        uv_timer_start(&q->timer, on_query_timer, delay_ms, 0);
}

int hale_prom_poller_new(uv_loop_t *loop, hale_config *cfg, const hale_prom_poller_ops *ops,
                         hale_prom_poller **ret)
{
    const hale_metrics_config *mc = &cfg->metrics;
    hale_prom_poller *p = calloc(1, sizeof(*p));

    if (!p)
        return -ENOMEM;
    p->queries = calloc(mc->n_queries ? mc->n_queries : 1, sizeof(*p->queries));
    if (!p->queries || hale_curl_uv_init(&p->cu, loop, progress, curl_closed) < 0) {
        free(p->queries);
        free(p);
        return -ENOMEM;
    }
    p->loop = loop;
    p->cfg = hale_config_ref(cfg);
    p->ops = *ops;
    p->n = mc->n_queries;
    p->open_handles = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct query *q = &p->queries[i];

        q->p = p;
        q->idx = i;
        hale_buf_init(&q->resp, mc->prom_max_response_bytes);
        uv_timer_init(loop, &q->timer);
        q->timer.data = q;
        p->open_handles++;
        /* Spread the first runs a little so that many queries do not start in one turn. */
        schedule(q, 10u * i);
    }
    *ret = p;
    return 0;
}

void hale_prom_poller_close(hale_prom_poller *p, void (*done)(void *ud), void *ud)
{
    if (!p)
        return;
    p->closing = true;
    p->done = done;
    p->done_ud = ud;
    for (size_t i = 0; i < p->n; i++) {
        query_reset(&p->queries[i]);
        uv_close((uv_handle_t *)&p->queries[i].timer, on_closed);
        p->queries[i].timer.data = p;
    }
    /* Cleaning up the multi makes curl report every socket removed: their polls close. */
    hale_curl_uv_close(&p->cu);
}
