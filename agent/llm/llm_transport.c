/* agent/llm/llm_transport.c - HTTP POSTs on curl's multi-socket API, driven by the loop
 * (agent/net/curl_uv.c). Nothing here blocks the loop. Finished transfers wait
 * in a queue that an idle handle drains COMPLETIONS_PER_TURN at a time, so a burst of answers
 * (and the work their callbacks start) is spread over loop turns and timers keep their time. */
#include "internal.h"

#include <sodium.h>
#include <strings.h>
#include <time.h>

#include "llm_int.h"
#include "net/curl_uv.h"

#define COMPLETIONS_PER_TURN 8u

struct hale__llm_http {
    hale_curl_uv cu;                       /* curl on the loop: the multi, its timer and polls */
    uv_idle_t drain;                       /* delivers finished transfers, a few per loop turn */
    hale__llm_xfer *done_head, *done_tail; /* finished, callback not yet run */
    unsigned active;                       /* transfers added and not finished */
    unsigned open_handles;                 /* our own uv handles not yet closed (the drain) */
    bool closing;                          /* close requested */
    void (*done)(void *ud);                /* after the last close */
    void *done_ud;
};

struct hale__llm_xfer {
    hale__llm_http *h;          /* owner */
    CURL *easy;                 /* the transfer */
    struct curl_slist *headers; /* request headers */
    char *body;                 /* request body, owned (curl does not copy POSTFIELDS) */
    hale_buf resp;              /* response body, capped */
    int64_t retry_after_ms;     /* parsed from the response headers, -1 when none */
    bool over_limit;            /* the body passed HALE_LLM_MAX_ANSWER_BYTES */
    hale__llm_xfer *done_next;  /* in the finished queue */
    hale__llm_reply rep;        /* filled when it finished */
    bool cancelled;             /* finished, then cancelled: freed without a callback */
    hale__llm_xfer_cb cb;       /* completion */
    void *ud;
    char errbuf[CURL_ERROR_SIZE]; /* curl's message */
};

/* Free h once every handle, ours and curl's, has closed after hale__llm_http_close. */
static void maybe_free(hale__llm_http *h)
{
    if (h->closing && h->open_handles == 0 && h->cu.open == 0) {
        void (*done)(void *) = h->done;
        void *ud = h->done_ud;

        free(h);
        if (done)
            done(ud);
    }
}

static void handle_closed(uv_handle_t *hd)
{
    hale__llm_http *h = hd->data;

    h->open_handles--;
    maybe_free(h);
}

static void curl_closed(hale_curl_uv *cu)
{
    maybe_free((hale__llm_http *)((char *)cu - offsetof(hale__llm_http, cu)));
}

static void xfer_free(hale__llm_xfer *x)
{
    /* One header line is the API key: wipe the copies before they go back to the heap. */
    for (struct curl_slist *l = x->headers; l; l = l->next)
        sodium_memzero(l->data, strlen(l->data));
    curl_slist_free_all(x->headers);
    free(x->body);
    hale_buf_release(&x->resp);
    free(x);
}

static void on_drain(uv_idle_t *idle)
{
    hale__llm_http *h = idle->data;

    for (unsigned n = 0; n < COMPLETIONS_PER_TURN && h->done_head; n++) {
        hale__llm_xfer *x = h->done_head;

        h->done_head = x->done_next;
        if (!h->done_head)
            h->done_tail = NULL;
        x->rep.body = x->resp.data ? x->resp.data : "";
        x->rep.body_len = x->resp.len;
        if (!x->cancelled) {
            h->active--;
            x->cb(&x->rep, x->ud);
        }
        xfer_free(x);
    }
    if (!h->done_head)
        uv_idle_stop(&h->drain);
}

static void check_done(hale__llm_http *h)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(h->cu.multi, &left))) {
        hale__llm_xfer *x = NULL;
        CURLcode res = m->data.result;
        CURL *easy = m->easy_handle;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &x->rep.status);
        x->rep.retry_after_ms = x->retry_after_ms;
        x->rep.curl_error = "";
        if (x->over_limit)
            x->rep.error = HALE_ELIMIT;
        else if (res == CURLE_OPERATION_TIMEDOUT)
            x->rep.error = -ETIMEDOUT;
        else if (res != CURLE_OK)
            x->rep.error = HALE_EUPSTREAM;
        if (res != CURLE_OK)
            x->rep.curl_error = x->errbuf[0] ? x->errbuf : curl_easy_strerror(res);
        curl_multi_remove_handle(h->cu.multi, easy);
        curl_easy_cleanup(easy);
        x->easy = NULL;
        if (h->done_tail)
            h->done_tail->done_next = x;
        else
            h->done_head = x;
        h->done_tail = x;
        uv_idle_start(&h->drain, on_drain);
    }
}

static void progress(hale_curl_uv *cu)
{
    check_done((hale__llm_http *)((char *)cu - offsetof(hale__llm_http, cu)));
}

int hale__llm_http_new(uv_loop_t *loop, hale__llm_http **ret)
{
    hale__llm_http *h = calloc(1, sizeof(*h));

    if (!h)
        return -ENOMEM;
    if (hale_curl_uv_init(&h->cu, loop, progress, curl_closed) < 0) {
        free(h);
        return -ENOMEM;
    }
    uv_idle_init(loop, &h->drain);
    h->drain.data = h;
    h->open_handles = 1;
    curl_multi_setopt(h->cu.multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    *ret = h;
    return 0;
}

void hale__llm_http_cancel(hale__llm_http *h, hale__llm_xfer *x)
{
    if (!x->easy) { /* finished and queued: the drain frees it */
        x->cancelled = true;
        h->active--;
        return;
    }
    curl_multi_remove_handle(h->cu.multi, x->easy);
    curl_easy_cleanup(x->easy);
    h->active--;
    xfer_free(x);
}

void hale__llm_http_close(hale__llm_http *h, void (*done)(void *ud), void *ud)
{
    h->closing = true;
    h->done = done;
    h->done_ud = ud;
    /* Cleaning up the multi makes curl report every socket removed: their polls close. */
    HALE_ASSERT(h->active == 0);
    while (h->done_head) { /* all cancelled */
        hale__llm_xfer *x = h->done_head;

        h->done_head = x->done_next;
        xfer_free(x);
    }
    h->done_tail = NULL;
    hale_curl_uv_close(&h->cu);
    uv_close((uv_handle_t *)&h->drain, handle_closed);
}

unsigned hale__llm_http_active(const hale__llm_http *h)
{
    return h->active;
}

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    hale__llm_xfer *x = userp;

    if (hale_buf_append(&x->resp, data, size * n) < 0) {
        x->over_limit = true;
        return 0; /* aborts the transfer */
    }
    return size * n;
}

/* Retry-After: delay-seconds (a fraction tolerated) or an HTTP-date; retry-after-ms (a
 * non-standard header some gateways send) wins over both. */
static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
    hale__llm_xfer *x = userp;
    size_t len = size * n;
    char line[128];
    const char *v;
    bool ms;

    if (len >= sizeof(line))
        return len;
    memcpy(line, data, len);
    line[len] = '\0';
    if (strncasecmp(line, "retry-after-ms:", 15) == 0)
        ms = true, v = line + 15;
    else if (strncasecmp(line, "retry-after:", 12) == 0)
        ms = false, v = line + 12;
    else
        return len;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v >= '0' && *v <= '9') {
        char *end;
        double d = strtod(v, &end);

        if (d >= 0 && d < 1e9 && (ms || x->retry_after_ms < 0))
            x->retry_after_ms = (int64_t)(ms ? d : d * 1000.0);
    } else if (!ms && x->retry_after_ms < 0) {
        time_t at = curl_getdate(v, NULL), now = time(NULL);

        if (at != (time_t)-1)
            x->retry_after_ms = at > now ? (int64_t)(at - now) * 1000 : 0;
    }
    return len;
}

int hale__llm_http_post(hale__llm_http *h, const char *url, const char *const *headers,
                        size_t n_headers, const char *body, size_t len, uint64_t timeout_ms,
                        hale__llm_xfer_cb cb, void *ud, hale__llm_xfer **ret)
{
    hale__llm_xfer *x = calloc(1, sizeof(*x));
    int running;

    if (!x)
        return -ENOMEM;
    x->h = h;
    x->cb = cb;
    x->ud = ud;
    x->retry_after_ms = -1;
    hale_buf_init(&x->resp, HALE_LLM_MAX_ANSWER_BYTES);
    if (!(x->body = malloc(len + 1)) || !(x->easy = curl_easy_init()))
        goto fail;
    memcpy(x->body, body, len);
    x->body[len] = '\0';
    for (size_t i = 0; i < n_headers; i++) {
        struct curl_slist *l = curl_slist_append(x->headers, headers[i]);

        if (!l)
            goto fail;
        x->headers = l;
    }
    curl_easy_setopt(x->easy, CURLOPT_URL, url);
    curl_easy_setopt(x->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    /* Headers hold the API key: never let curl print them. */
    curl_easy_setopt(x->easy, CURLOPT_VERBOSE, 0L);
    if (curl_multi_add_handle(h->cu.multi, x->easy) != CURLM_OK)
        goto fail;
    h->active++;
    (void)running;
    *ret = x;
    return 0;
fail:
    if (x->easy)
        curl_easy_cleanup(x->easy);
    xfer_free(x);
    return -ENOMEM;
}
