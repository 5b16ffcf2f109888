/* agent/http/http_conn.c - one client connection on the loop: reads into the server's shared
 * buffer, feeds the parser, holds pipelined bytes while the handler owns a request, keeps the
 * one deadline timer, and closes (shutdown, linger, uv_close, free at the last reference).
 * Parsing is in http_parse.c, responses in http_write.c. */
#include "internal.h"

#define HALE_LOG_MODULE "http"
#include "hale/log.h"

#include "http/http_int.h"

#define NO_DEADLINE UINT64_MAX

static void on_timer(uv_timer_t *t);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void conn_free(struct hale__http_conn *conn)
{
    hale_http_server *s = conn->server;

    hale__http_list_remove(&conn->link);
    hale__http_list_remove(&conn->resume_link);
    hale_buf_release(&conn->hdr);
    hale_buf_release(&conn->body);
    hale_buf_release(&conn->hold);
    hale__http_wreq_free_cache(conn);
    free(conn);
    hale__http_server_unref(s);
}

void hale__http_conn_unref(struct hale__http_conn *conn)
{
    HALE_ASSERT(conn->refs > 0);
    if (--conn->refs == 0)
        conn_free(conn);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct hale__http_conn *conn = h->data;

    if (--conn->open_handles == 0)
        hale__http_conn_unref(conn);
}

void hale__http_conn_close(struct hale__http_conn *conn)
{
    if (conn->closing)
        return;
    conn->closing = true;
    conn->reading = false;
    if (conn->counted) {
        conn->counted = false;
        conn->server->connections--;
    }
    hale__http_list_remove(&conn->resume_link);
    /* Pending writes and the shutdown are called back (cancelled) before these close. */
    uv_close((uv_handle_t *)&conn->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&conn->timer, on_handle_closed);
}

bool hale__http_conn_is_idle(const struct hale__http_conn *conn)
{
    return !conn->in_msg && !conn->req_out && conn->writes_pending == 0 &&
           hale__http_hold_len(conn) == 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct hale__http_conn *conn = h->data;

    (void)suggested;
    /* One buffer for all connections: libuv calls alloc, read and the read callback for one
     * stream back to back, and on_read copies out whatever must outlive the callback. */
    *buf = uv_buf_init(conn->server->rbuf, HTTP_READ_BUF_BYTES);
}

static void conn_update_reading(struct hale__http_conn *conn)
{
    bool want = !conn->eof && (conn->lingering || conn->close_after_write ||
                               hale__http_hold_len(conn) < HALE_MAX_PIPELINE_BYTES);

    if (want == conn->reading)
        return;
    if (want && uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read) < 0) {
        hale__http_conn_close(conn);
        return;
    }
    if (!want)
        (void)uv_read_stop((uv_stream_t *)&conn->tcp);
    conn->reading = want;
}

static uint64_t deadline_after(uint64_t now, uint64_t timeout_ms)
{
    if (timeout_ms == 0 || timeout_ms > NO_DEADLINE - now)
        return NO_DEADLINE;
    return now + timeout_ms;
}

static void timer_arm(struct hale__http_conn *conn, uint64_t now)
{
    if (conn->tdeadline == NO_DEADLINE)
        return;
    /* Lazy re-arming: a later deadline leaves an earlier timer alone (it re-checks when it
     * fires), so a busy keep-alive connection costs no timer operation per request. */
    if (uv_is_active((uv_handle_t *)&conn->timer) && conn->tarmed <= conn->tdeadline)
        return;
    conn->tarmed = conn->tdeadline;
    (void)uv_timer_start(&conn->timer, on_timer, conn->tdeadline > now ? conn->tdeadline - now : 0,
                         0);
}

static void conn_update_timer(struct hale__http_conn *conn)
{
    uint64_t now = uv_now(conn->server->loop);
    enum http_timer_mode m;

    /* A response fully handed to the kernel needs no write deadline, even before its
     * callback has run. */
    if (conn->writes_pending && uv_stream_get_write_queue_size((uv_stream_t *)&conn->tcp) > 0)
        m = HTTP_TIMER_WRITE;
    else if (conn->req_out || hale__http_hold_len(conn) > 0)
        m = HTTP_TIMER_NONE; /* the handler has the request, or the idle pass parses next */
    else if (conn->in_msg)
        m = HTTP_TIMER_REQUEST;
    else
        m = HTTP_TIMER_IDLE;

    if (m == HTTP_TIMER_REQUEST)
        conn->tdeadline = deadline_after(conn->req.start_ms, conn->lim.request_timeout_ms);
    else if (m == HTTP_TIMER_WRITE && conn->tmode != m)
        conn->tdeadline = deadline_after(now, conn->lim.write_timeout_ms);
    else if (m == HTTP_TIMER_IDLE && conn->tmode != m)
        conn->tdeadline = deadline_after(now, conn->lim.idle_timeout_ms);
    else if (m == HTTP_TIMER_NONE)
        conn->tdeadline = NO_DEADLINE;
    conn->tmode = m;
    timer_arm(conn, now);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    if (status < 0)
        hale__http_conn_close(req->data);
}

static void conn_linger(struct hale__http_conn *conn)
{
    uint64_t linger = HTTP_LINGER_MS;

    /* The peer already finished sending: nothing is left to drain, close at once. */
    if (conn->eof) {
        hale__http_conn_close(conn);
        return;
    }
    conn->lingering = true;
    conn->shutdown.data = conn;
    if (uv_shutdown(&conn->shutdown, (uv_stream_t *)&conn->tcp, on_shutdown) < 0) {
        hale__http_conn_close(conn);
        return;
    }
    /* Closing with unread input would send a reset that can destroy the response in flight;
     * read and discard for a while instead (lingering close). */
    conn_update_reading(conn);
    if (conn->lim.idle_timeout_ms > 0 && conn->lim.idle_timeout_ms < linger)
        linger = conn->lim.idle_timeout_ms;
    conn->tmode = HTTP_TIMER_LINGER;
    conn->tdeadline = uv_now(conn->server->loop) + linger;
    conn->tarmed = conn->tdeadline;
    (void)uv_timer_start(&conn->timer, on_timer, linger, 0);
}

void hale__http_conn_settle(struct hale__http_conn *conn)
{
    if (conn->closing || conn->lingering)
        return;
    if (conn->writes_pending == 0 && !conn->req_out) {
        if (conn->close_after_write) {
            conn_linger(conn);
            return;
        }
        if (conn->eof && hale__http_hold_len(conn) == 0) {
            hale__http_conn_close(conn);
            return;
        }
        if (conn->server->draining && hale__http_conn_is_idle(conn)) {
            hale__http_conn_close(conn);
            return;
        }
    }
    /* Held requests wait for the answer before them and for the peer to read. */
    if (hale__http_hold_len(conn) > 0 && !conn->req_out && !conn->close_after_write &&
        !hale__http_write_backlog(conn))
        hale__http_server_schedule_resume(conn->server, conn);
    conn_update_reading(conn);
    if (!conn->closing)
        conn_update_timer(conn);
}

static void on_timer(uv_timer_t *t)
{
    struct hale__http_conn *conn = t->data;
    uint64_t now = uv_now(conn->server->loop);
    char msg[96];

    if (conn->closing || conn->tmode == HTTP_TIMER_NONE)
        return;
    if (conn->tdeadline > now) {
        timer_arm(conn, now);
        return;
    }
    if (conn->tmode != HTTP_TIMER_REQUEST) {
        /* Idle, a peer that does not read, or the end of lingering: close quietly. */
        hale__http_conn_close(conn);
        return;
    }
    (void)snprintf(msg, sizeof(msg), "request not received within %llu ms",
                   (unsigned long long)conn->lim.request_timeout_ms);
    hale__http_conn_send_error(conn, 408, "request_timeout", msg);
    hale__http_conn_settle(conn);
}

static int hold_append(struct hale__http_conn *conn, const char *data, size_t len)
{
    if (conn->hold_off > 0 && conn->hold.len + len > conn->hold.max_len) {
        hale_buf_consume(&conn->hold, conn->hold_off);
        conn->hold_off = 0;
    }
    return hale_buf_append(&conn->hold, data, len);
}

static void hold_consume(struct hale__http_conn *conn, size_t n)
{
    conn->hold_off += n;
    if (conn->hold_off < conn->hold.len)
        return;
    conn->hold_off = 0;
    if (conn->hold.cap > HTTP_KEEP_BUF_BYTES)
        hale_buf_release(&conn->hold);
    else
        hale_buf_reset(&conn->hold);
}

static void conn_dispatch(struct hale__http_conn *conn)
{
    hale_http_server *s = conn->server;

    if (s->draining || s->closing) {
        hale__http_conn_send_error(conn, 503, "shutting_down", "the server is shutting down");
        return;
    }
    conn->req_out = true;
    conn->refs++; /* the request's reference, dropped by respond */
    s->pending++;
    conn->in_dispatch = true;
    s->handler(&conn->req, s->handler_ud);
    conn->in_dispatch = false;
}

/* Parse data (NULL: the held bytes) and then the held bytes, dispatching each complete
 * request, until one is out with the handler, the input runs out or the connection ends. */
static void conn_process(struct hale__http_conn *conn, const char *data, size_t len)
{
    bool from_hold = data == NULL;
    size_t n;
    int r;

    for (;;) {
        if (from_hold) {
            data = conn->hold.data + conn->hold_off;
            len = hale__http_hold_len(conn);
        }
        if (len == 0 || conn->req_out || conn->closing || conn->close_after_write ||
            (from_hold && hale__http_write_backlog(conn)))
            break;
        r = hale__http_parse(conn, data, len, &n);
        if (from_hold) {
            hold_consume(conn, n);
        } else {
            data += n;
            len -= n;
        }
        if (r < 0) {
            hale__http_conn_send_error(conn, conn->fail_status, conn->fail_code, conn->fail_msg);
            break;
        }
        if (r == 0 || conn->closing)
            break;
        if (!from_hold && len > 0) {
            if (hold_append(conn, data, len) < 0) {
                hale__http_conn_close(conn);
                return;
            }
            from_hold = true;
        }
        conn_dispatch(conn);
    }
    hale__http_conn_settle(conn);
}

void hale__http_conn_resume(struct hale__http_conn *conn)
{
    if (conn->closing)
        return;
    conn->rx_ms = uv_now(conn->server->loop);
    conn_process(conn, NULL, 0);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct hale__http_conn *conn = st->data;

    if (nread == 0 || conn->closing)
        return;
    if (nread < 0) {
        if (nread != UV_EOF || conn->lingering) {
            hale__http_conn_close(conn);
            return;
        }
        conn->eof = true;
        conn->reading = false;
        (void)uv_read_stop(st);
        hale__http_conn_settle(conn);
        return;
    }
    /* After a closing response the rest of the input is discarded. */
    if (conn->lingering || conn->close_after_write)
        return;
    conn->rx_ms = uv_now(conn->server->loop);
    /* Order: while a request is out or older bytes wait, new bytes queue behind them; so
     * they do while the peer leaves answers unread. */
    if (conn->req_out || hale__http_hold_len(conn) > 0 || hale__http_write_backlog(conn)) {
        if (hold_append(conn, buf->base, (size_t)nread) < 0)
            hale__http_conn_close(conn);
        else
            hale__http_conn_settle(conn);
        return;
    }
    conn_process(conn, buf->base, (size_t)nread);
}

static struct hale__http_conn *conn_new(hale_http_server *s)
{
    struct hale__http_conn *conn = calloc(1, sizeof(*conn));

    if (!conn)
        return NULL;
    conn->server = s;
    conn->lim = s->limits;
    hale__http_list_init(&conn->link);
    hale__http_list_init(&conn->resume_link);
    hale_buf_init(&conn->hdr, HTTP_HDR_MAX_BYTES);
    hale_buf_init(&conn->body, s->limits.max_body_bytes);
    hale_buf_init(&conn->hold, HTTP_HOLD_MAX_BYTES);
    conn->tdeadline = NO_DEADLINE;
    hale__http_parse_init(conn);
    /* Neither init can fail on Unix: they only fill in the handle. */
    (void)uv_tcp_init(s->loop, &conn->tcp);
    (void)uv_timer_init(s->loop, &conn->timer);
    conn->tcp.data = conn;
    conn->timer.data = conn;
    conn->open_handles = 2;
    conn->refs = 1; /* the handles' reference */
    s->refs++;
    hale__http_list_insert(&s->conns, &conn->link);
    return conn;
}

int hale__http_conn_accept(hale_http_server *s)
{
    struct hale__http_conn *conn = conn_new(s);
    int r;

    if (!conn)
        return -ENOMEM;
    r = uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&conn->tcp);
    if (r < 0) {
        log_debug("cannot accept a connection: %s, ignoring", uv_strerror(r));
        hale__http_conn_close(conn);
        return 0;
    }
    (void)uv_tcp_nodelay(&conn->tcp, 1);
    if (s->connections >= s->limits.max_connections) {
        hale__http_conn_send_error(conn, 503, "too_many_connections",
                                   "the server has too many open connections");
        hale__http_conn_settle(conn);
        return 0;
    }
    conn->counted = true;
    s->connections++;
    hale__http_conn_settle(conn);
    return 0;
}
