/* agent/http/http_parse.c - http_parser callbacks: one request at a time into the
 * connection's reusable buffers, with every limit checked as bytes arrive (414, 431, 413) and
 * the parser paused at each message end so that pipelined requests wait their turn. */
#include "internal.h"

#include <stdarg.h>
#include <strings.h>

#include "http/http_int.h"

/* Request-line overhead counted against the header limit besides the URL ("GET  HTTP/1.1"). */
#define REQUEST_LINE_OVERHEAD 16u
/* ": " and CRLF of each header line. */
#define HEADER_LINE_OVERHEAD 4u

static struct hale__http_conn *conn_of(http_parser *p)
{
    return p->data;
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int
fail(struct hale__http_conn *conn, int status, const char *code, const char *fmt, ...)
{
    va_list ap;

    conn->fail_status = status;
    conn->fail_code = code;
    va_start(ap, fmt);
    (void)vsnprintf(conn->fail_msg, sizeof(conn->fail_msg), fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_headers(struct hale__http_conn *conn)
{
    return fail(conn, 431, "headers_too_large", "request line and headers exceed %zu bytes",
                conn->lim.max_header_bytes);
}

static int fail_append(struct hale__http_conn *conn, int r)
{
    if (r == -ENOMEM)
        return fail(conn, 500, "internal", "out of memory");
    return fail_headers(conn);
}

static int hdr_put(struct hale__http_conn *conn, const char *at, size_t len)
{
    int r = hale_buf_append(&conn->hdr, at, len);

    return r < 0 ? fail_append(conn, r) : 0;
}

static int hdr_nul(struct hale__http_conn *conn)
{
    return hdr_put(conn, "", 1);
}

static int count(struct hale__http_conn *conn, size_t len)
{
    conn->hdr_bytes += len;
    return conn->hdr_bytes > conn->lim.max_header_bytes ? fail_headers(conn) : 0;
}

static int on_message_begin(http_parser *p)
{
    struct hale__http_conn *conn = conn_of(p);
    hale_http_req *req = &conn->req;

    conn->lim = conn->server->limits;
    conn->in_msg = true;
    if (conn->tmode == HTTP_TIMER_IDLE)
        conn->tmode = HTTP_TIMER_NONE; /* activity: the next idle deadline starts afresh */
    hale_buf_reset(&conn->hdr);
    hale_buf_reset(&conn->body);
    conn->body.max_len = conn->lim.max_body_bytes;
    conn->n_hdrs = 0;
    conn->url_len = 0;
    conn->hdr_bytes = REQUEST_LINE_OVERHEAD;
    conn->hstate = HTTP_HS_URL;
    req->conn = conn;
    req->method = "";
    req->path = "";
    req->query = "";
    req->label = "none";
    req->start_ms = conn->rx_ms;
    req->start_ns = uv_hrtime();
    req->keep_alive = false;
    req->is_head = false;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct hale__http_conn *conn = conn_of(p);

    conn->url_len += len;
    conn->hdr_bytes += len;
    /* A request line over either limit is answered as what it is: a target too long. */
    if (conn->url_len > HALE_MAX_URL_BYTES || conn->hdr_bytes > conn->lim.max_header_bytes)
        return fail(conn, 414, "uri_too_long", "request target longer than %zu bytes",
                    conn->url_len > HALE_MAX_URL_BYTES ? (size_t)HALE_MAX_URL_BYTES
                                                       : conn->lim.max_header_bytes);
    return hdr_put(conn, at, len);
}

/* End the token being received: the URL, a name (then its value is empty) or a value. */
static int end_token(struct hale__http_conn *conn)
{
    if (hdr_nul(conn) < 0)
        return -1;
    if (conn->hstate != HTTP_HS_FIELD)
        return 0;
    conn->hdrs[conn->n_hdrs - 1].value = (uint32_t)conn->hdr.len;
    return hdr_nul(conn);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct hale__http_conn *conn = conn_of(p);

    if (conn->hstate == HTTP_HS_DONE)
        return 0; /* trailers of a chunked body: not exposed; the parser bounds their size */
    if (conn->hstate != HTTP_HS_FIELD) {
        if (end_token(conn) < 0)
            return -1;
        if (conn->n_hdrs == HALE_MAX_HEADERS)
            return fail(conn, 431, "headers_too_large", "more than %u header fields",
                        HALE_MAX_HEADERS);
        conn->hdrs[conn->n_hdrs].name = (uint32_t)conn->hdr.len;
        conn->hdrs[conn->n_hdrs].value = (uint32_t)conn->hdr.len;
        conn->n_hdrs++;
        conn->hstate = HTTP_HS_FIELD;
        if (count(conn, HEADER_LINE_OVERHEAD) < 0)
            return -1;
    }
    if (count(conn, len) < 0)
        return -1;
    return hdr_put(conn, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct hale__http_conn *conn = conn_of(p);

    if (conn->hstate == HTTP_HS_DONE)
        return 0;
    if (HALE_NEVER(conn->hstate == HTTP_HS_URL))
        return fail(conn, 400, "bad_request", "header value without a name");
    if (conn->hstate == HTTP_HS_FIELD) {
        if (hdr_nul(conn) < 0)
            return -1;
        conn->hdrs[conn->n_hdrs - 1].value = (uint32_t)conn->hdr.len;
        conn->hstate = HTTP_HS_VALUE;
    }
    if (count(conn, len) < 0)
        return -1;
    return hdr_put(conn, at, len);
}

/* Point req->path and req->query into the NUL-terminated URL at the start of conn->hdr. */
static int split_url(struct hale__http_conn *conn, bool is_connect)
{
    char *url = conn->hdr.data;
    struct http_parser_url u;
    size_t path_end = 0, query_end = 0;
    bool has_path, has_query;

    if (conn->url_len == 1 && url[0] == '*') {
        conn->req.path = url; /* OPTIONS * */
        return 0;
    }
    http_parser_url_init(&u);
    if (http_parser_parse_url(url, conn->url_len, is_connect, &u) != 0)
        return fail(conn, 400, "bad_request", "malformed request target");
    has_path = u.field_set & (1u << UF_PATH);
    has_query = u.field_set & (1u << UF_QUERY);
    if (has_path)
        path_end = (size_t)u.field_data[UF_PATH].off + u.field_data[UF_PATH].len;
    if (has_query)
        query_end = (size_t)u.field_data[UF_QUERY].off + u.field_data[UF_QUERY].len;
    /* The byte after each field is '?', '#' or the URL's NUL: overwriting it is safe. */
    if (has_path) {
        conn->req.path = url + u.field_data[UF_PATH].off;
        url[path_end] = '\0';
    }
    if (has_query) {
        conn->req.query = url + u.field_data[UF_QUERY].off;
        url[query_end] = '\0';
    }
    return 0;
}

static bool expects_continue(struct hale__http_conn *conn)
{
    const char *v = hale_http_req_header(&conn->req, "expect");

    return v && strcasecmp(v, "100-continue") == 0 && conn->parser.http_major == 1 &&
           conn->parser.http_minor >= 1;
}

/* Everything that can be decided before the body: draining, body size, 100-continue. */
static int check_body(struct hale__http_conn *conn)
{
    http_parser *p = &conn->parser;
    bool chunked = p->flags & F_CHUNKED;
    bool has_length = (p->flags & F_CONTENTLENGTH) && !chunked;
    int r;

    if (conn->server->draining || conn->server->closing)
        return fail(conn, 503, "shutting_down", "the server is shutting down");
    if (has_length && p->content_length > conn->lim.max_body_bytes)
        return fail(conn, 413, "body_too_large",
                    "request body of %llu bytes exceeds the limit of %zu bytes",
                    (unsigned long long)p->content_length, conn->lim.max_body_bytes);
    if (!chunked && !(has_length && p->content_length > 0))
        return 0;
    if (has_length) {
        /* Room for the declared body up front, but not more than a small buffer before the
         * bytes actually arrive: a client may declare a body and never send it. */
        r = hale_buf_reserve(&conn->body, p->content_length < HTTP_KEEP_BUF_BYTES
                                              ? (size_t)p->content_length
                                              : HTTP_KEEP_BUF_BYTES);
        if (r < 0)
            return fail(conn, 500, "internal", "out of memory");
    }
    if (expects_continue(conn) && hale__http_conn_send_continue(conn) < 0)
        return fail(conn, 500, "internal", "out of memory");
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct hale__http_conn *conn = conn_of(p);
    hale_http_req *req = &conn->req;

    if (end_token(conn) < 0)
        return -1;
    conn->hstate = HTTP_HS_DONE;
    /* The parser accepts any digit pair; only HTTP/1.0 and 1.1 are spoken here. */
    if (p->http_major != 1)
        return fail(conn, 505, "http_version_not_supported",
                    "HTTP/%u.%u is not supported: use HTTP/1.1", (unsigned)p->http_major,
                    (unsigned)p->http_minor);
    if (split_url(conn, p->method == HTTP_CONNECT) < 0)
        return -1;
    req->method = http_method_str((enum http_method)p->method);
    req->is_head = p->method == HTTP_HEAD;
    /* An upgrade is not supported: the parser stops after this message, so the connection
     * ends with its response. */
    req->keep_alive = http_should_keep_alive(p) && !p->upgrade;
    return check_body(conn);
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct hale__http_conn *conn = conn_of(p);
    int r;

    if (len > conn->lim.max_body_bytes - conn->body.len)
        return fail(conn, 413, "body_too_large", "request body exceeds the limit of %zu bytes",
                    conn->lim.max_body_bytes);
    r = hale_buf_append(&conn->body, at, len);
    if (r < 0)
        return fail(conn, 500, "internal", "out of memory");
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct hale__http_conn *conn = conn_of(p);

    conn->in_msg = false;
    /* The next pipelined request waits in the input until this one is answered. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void hale__http_parse_init(struct hale__http_conn *conn)
{
    http_parser_init(&conn->parser, HTTP_REQUEST);
    conn->parser.data = conn;
}

int hale__http_parse(struct hale__http_conn *conn, const char *data, size_t len, size_t *ret_parsed)
{
    enum http_errno err;

    *ret_parsed = http_parser_execute(&conn->parser, &parser_settings, data, len);
    err = HTTP_PARSER_ERRNO(&conn->parser);
    if (err == HPE_OK)
        return 0;
    if (err == HPE_PAUSED) {
        http_parser_pause(&conn->parser, 0);
        return 1;
    }
    if (conn->fail_status != 0)
        return -1;
    if (err == HPE_HEADER_OVERFLOW)
        return fail_headers(conn);
    return fail(conn, 400, "bad_request", "malformed request: %s", http_errno_name(err));
}

void hale__http_parse_reset(struct hale__http_conn *conn)
{
    conn->req.start_ns = 0;
    conn->n_hdrs = 0;
    hale_buf_reset(&conn->hdr);
    if (conn->body.cap > HTTP_KEEP_BUF_BYTES)
        hale_buf_release(&conn->body);
    else
        hale_buf_reset(&conn->body);
}
