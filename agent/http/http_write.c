/* agent/http/http_write.c - responses: one buffer and one uv_write per response (status line,
 * Content-Type, Content-Length, Connection, the caller's extra headers, the body). Responses
 * leave in request order because a connection has at most one request with the handler; the
 * write buffer is cached per connection so keep-alive traffic does not allocate. */
#include "internal.h"

#include "http/http_int.h"

/* Room for the caller's extra header lines and content type on top of the body. */
#define HTTP_WBUF_MAX_BYTES (HALE_MAX_RESPONSE_BYTES + 64u * 1024u)

/* What hale_http_respond cannot allocate is answered with this. It is not const because
 * uv_buf_t takes a char *; libuv never writes through it. */
static char oom_response[] = "HTTP/1.1 500 Internal Server Error\r\n"
                             "Content-Length: 0\r\n"
                             "Connection: close\r\n\r\n";

struct http_resp {
    int status;        /* 100..999 */
    const char *ctype; /* NULL: no Content-Type */
    const char *extra; /* NULL or complete header lines */
    const char *body;  /* len bytes, may be NULL when len is 0 */
    size_t len;        /* body length */
    bool keep;         /* Connection: keep-alive, else close */
    bool is_head;      /* answer to HEAD: headers only */
};

static struct http_wreq *wreq_get(struct hale__http_conn *conn)
{
    struct http_wreq *w = conn->wfree;

    if (w) {
        conn->wfree = NULL;
        return w;
    }
    w = malloc(sizeof(*w));
    if (!w)
        return NULL;
    w->conn = conn;
    hale_buf_init(&w->buf, HTTP_WBUF_MAX_BYTES);
    return w;
}

static void wreq_put(struct http_wreq *w)
{
    struct hale__http_conn *conn = w->conn;

    if (!conn->wfree && w->buf.cap <= HTTP_KEEP_BUF_BYTES) {
        hale_buf_reset(&w->buf);
        conn->wfree = w;
        return;
    }
    hale_buf_release(&w->buf);
    free(w);
}

void hale__http_wreq_free_cache(struct hale__http_conn *conn)
{
    if (!conn->wfree)
        return;
    hale_buf_release(&conn->wfree->buf);
    free(conn->wfree);
    conn->wfree = NULL;
}

static void on_write(uv_write_t *req, int status)
{
    struct http_wreq *w =
        (struct http_wreq *)(void *)((char *)req - offsetof(struct http_wreq, req));
    struct hale__http_conn *conn = w->conn;

    conn->writes_pending--;
    wreq_put(w);
    if (status < 0) {
        hale__http_conn_close(conn);
        return;
    }
    if (conn->tmode == HTTP_TIMER_WRITE)
        conn->tmode = HTTP_TIMER_NONE; /* progress: the write deadline starts afresh */
    hale__http_conn_settle(conn);
}

static int conn_write(struct hale__http_conn *conn, struct http_wreq *w)
{
    uv_buf_t b;
    int r;

    if (conn->closing) {
        wreq_put(w);
        return -ECANCELED;
    }
    b = uv_buf_init(w->buf.data, (unsigned)w->buf.len);
    r = uv_write(&w->req, (uv_stream_t *)&conn->tcp, &b, 1, on_write);
    if (r < 0) {
        wreq_put(w);
        hale__http_conn_close(conn);
        return r;
    }
    conn->writes_pending++;
    return 0;
}

static void put(hale_buf *b, const char *s, size_t len)
{
    /* Cannot fail: build() reserved room for the whole response first. */
    (void)hale_buf_append(b, s, len);
}

#define PUT_LIT(b, lit) put((b), (lit), sizeof(lit) - 1)

static void put_u64(hale_buf *b, uint64_t v)
{
    char digits[HALE_INT_TEXT_BYTES];
    const char *p = hale_uint_text(v, digits);

    put(b, p, (size_t)(digits + HALE_INT_TEXT_BYTES - 1 - p));
}

static int build(hale_buf *b, const struct http_resp *rs)
{
    bool no_length = rs->status < 200 || rs->status == 204;
    bool no_body = no_length || rs->is_head || rs->status == 304;
    const char *reason = hale_http_status_text(rs->status);
    size_t ctype_len = rs->ctype ? strlen(rs->ctype) : 0;
    size_t extra_len = rs->extra ? strlen(rs->extra) : 0;
    size_t body_len = no_body ? 0 : rs->len;
    int r;

    if (rs->len > HALE_MAX_RESPONSE_BYTES || ctype_len + extra_len > 64u * 1024u)
        return HALE_ELIMIT;
    r = hale_buf_reserve(b, HTTP_HEAD_MAX_BYTES + ctype_len + extra_len + body_len);
    if (r < 0)
        return r;
    PUT_LIT(b, "HTTP/1.1 ");
    put_u64(b, (uint64_t)rs->status);
    PUT_LIT(b, " ");
    put(b, reason, strlen(reason));
    PUT_LIT(b, "\r\n");
    if (rs->ctype) {
        PUT_LIT(b, "Content-Type: ");
        put(b, rs->ctype, ctype_len);
        PUT_LIT(b, "\r\n");
    }
    if (!no_length) {
        PUT_LIT(b, "Content-Length: ");
        put_u64(b, rs->len);
        PUT_LIT(b, "\r\n");
    }
    if (rs->keep)
        PUT_LIT(b, "Connection: keep-alive\r\n");
    else
        PUT_LIT(b, "Connection: close\r\n");
    put(b, rs->extra ? rs->extra : "", extra_len);
    PUT_LIT(b, "\r\n");
    put(b, rs->body, body_len);
    return 0;
}

static int queue_response(struct hale__http_conn *conn, const struct http_resp *rs)
{
    struct http_wreq *w = wreq_get(conn);
    int r;

    if (!w)
        return -ENOMEM;
    r = build(&w->buf, rs);
    if (r < 0) {
        wreq_put(w);
        return r;
    }
    if (!rs->keep)
        conn->close_after_write = true;
    return conn_write(conn, w);
}

static void observe(struct hale__http_conn *conn, const char *label, int status, uint64_t start_ns)
{
    hale_http_server *s = conn->server;
    double ms = 0.0;

    if (!s->observer)
        return;
    if (start_ns != 0)
        ms = (double)(uv_hrtime() - start_ns) / 1e6;
    s->observer(label, status, ms, s->observer_ud);
}

static void on_oom_write(uv_write_t *req, int status)
{
    struct hale__http_conn *conn = req->data;

    conn->writes_pending--;
    if (status < 0)
        hale__http_conn_close(conn);
    else
        hale__http_conn_settle(conn);
}

/* Used at most once per connection: it closes the connection after the write. */
static void send_oom(struct hale__http_conn *conn)
{
    uv_buf_t b = uv_buf_init(oom_response, (unsigned)(sizeof(oom_response) - 1));

    conn->close_after_write = true;
    conn->oom_write.data = conn;
    if (uv_write(&conn->oom_write, (uv_stream_t *)&conn->tcp, &b, 1, on_oom_write) < 0) {
        hale__http_conn_close(conn);
        return;
    }
    conn->writes_pending++;
}

static bool want_keep_alive(const struct hale__http_conn *conn)
{
    bool more = hale__http_hold_len(conn) > 0;

    if (!conn->req.keep_alive)
        return false;
    /* Draining, or the peer stopped sending: this is the last answer unless requests are
     * already waiting (those get theirs, a 503 when draining). */
    return more || !(conn->eof || conn->server->draining || conn->server->closing);
}

static int respond_open(struct hale__http_conn *conn, const struct http_resp *rs)
{
    hale_http_req *req = &conn->req;
    int r;

    r = queue_response(conn, rs);
    if (r == 0) {
        observe(conn, req->label, rs->status, req->start_ns);
    } else if (!conn->closing) {
        send_oom(conn);
        observe(conn, req->label, 500, req->start_ns);
        r = -ENOMEM;
    } else {
        r = 0; /* the write failed because the client left */
    }
    hale__http_parse_reset(conn);
    /* Inside the handler the parse loop goes on by itself; otherwise settle schedules the
     * held requests for the idle pass (respond never calls the handler). */
    if (!conn->in_dispatch)
        hale__http_conn_settle(conn);
    return r;
}

int hale_http_respond_hdr(hale_http_req *req, int status, const char *content_type,
                          const char *extra_headers, const char *body, size_t len)
{
    struct hale__http_conn *conn = req->conn;
    struct http_resp rs;
    int r = 0;

    HALE_ASSERT(conn->req_out);
    conn->req_out = false;
    conn->server->pending--;
    if (!conn->closing) {
        rs.status = status >= 100 && status <= 999 ? status : 500;
        rs.ctype = content_type;
        rs.extra = extra_headers;
        rs.body = body;
        rs.len = len;
        rs.keep = want_keep_alive(conn);
        rs.is_head = req->is_head;
        r = respond_open(conn, &rs);
    }
    hale__http_conn_unref(conn); /* the request's reference: req is gone from here on */
    return r;
}

int hale_http_respond(hale_http_req *req, int status, const char *content_type, const char *body,
                      size_t len)
{
    return hale_http_respond_hdr(req, status, content_type, NULL, body, len);
}

static int error_json(hale_buf *b, const char *code, const char *message)
{
    int r;

    hale_buf_reset(b);
    r = hale_buf_puts(b, "{\"error\":{\"code\":");
    if (r == 0)
        r = hale_buf_json_str(b, code, strlen(code));
    if (r == 0)
        r = hale_buf_puts(b, ",\"message\":");
    if (r == 0)
        r = hale_buf_json_str(b, message, strlen(message));
    if (r == 0)
        r = hale_buf_puts(b, "}}");
    return r;
}

int hale_http_respond_error(hale_http_req *req, int status, const char *code, const char *message)
{
    static const char fallback[] = "{\"error\":{\"code\":\"internal\",\"message\":"
                                   "\"the error could not be formatted\"}}";
    hale_buf *b = &req->conn->server->scratch;

    /* The scratch buffer is copied into the response before anything else can use it. */
    if (error_json(b, code, message) < 0)
        return hale_http_respond(req, status, "application/json", fallback, sizeof(fallback) - 1);
    return hale_http_respond(req, status, "application/json", b->data, b->len);
}

void hale__http_conn_send_error(struct hale__http_conn *conn, int status, const char *code,
                                const char *message)
{
    hale_buf *b = &conn->server->scratch;
    struct http_resp rs = {.status = status, .ctype = "application/json", .keep = false};
    int r;

    conn->in_msg = false;
    conn->close_after_write = true;
    if (conn->closing)
        return;
    r = error_json(b, code, message);
    if (r == 0) {
        rs.body = b->data;
        rs.len = b->len;
        r = queue_response(conn, &rs);
    }
    if (r < 0) {
        hale__http_conn_close(conn);
        return;
    }
    observe(conn, "none", status, conn->req.start_ns);
}

int hale__http_conn_send_continue(struct hale__http_conn *conn)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct http_wreq *w = wreq_get(conn);
    int r;

    if (!w)
        return -ENOMEM;
    r = hale_buf_append(&w->buf, msg, sizeof(msg) - 1);
    if (r < 0) {
        wreq_put(w);
        return r;
    }
    /* A failed write closes the connection; the parse loop stops on its own then. */
    (void)conn_write(conn, w);
    return 0;
}
