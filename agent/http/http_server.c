/* agent/http/http_server.c - the HTTP server's lifecycle: create, listen, accept, drain, close.
 * Layer 1: loop creates one server and routes requests to api. Connections live in
 * http_conn.c; this file owns the listener, the accept retry timer and the idle pass that
 * resumes pipelined requests outside of respond(). */
#include "internal.h"

#define HALE_LOG_MODULE "http"
#include "hale/log.h"

#include "http/http_int.h"

void hale__http_list_init(struct http_link *head)
{
    head->prev = head;
    head->next = head;
}

void hale__http_list_insert(struct http_link *head, struct http_link *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

void hale__http_list_remove(struct http_link *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node;
    node->next = node;
}

bool hale__http_list_is_empty(const struct http_link *head)
{
    return head->next == head;
}

void hale_http_limits_default(hale_http_limits *ret)
{
    ret->max_body_bytes = HALE_DEFAULT_BODY_BYTES;
    ret->max_header_bytes = HALE_MAX_HEADER_BYTES;
    ret->max_connections = 1024;
    ret->idle_timeout_ms = 60000;
    ret->request_timeout_ms = 10000;
    ret->write_timeout_ms = 10000;
}

/* Config may lower the compile-time ceilings, never raise them. */
static void limits_copy(hale_http_limits *dst, const hale_http_limits *src)
{
    if (src)
        *dst = *src;
    else
        hale_http_limits_default(dst);
    if (dst->max_body_bytes > HALE_MAX_BODY_BYTES)
        dst->max_body_bytes = HALE_MAX_BODY_BYTES;
    if (dst->max_header_bytes > HALE_MAX_HEADER_BYTES)
        dst->max_header_bytes = HALE_MAX_HEADER_BYTES;
    if (dst->max_connections > HALE_MAX_CONNECTIONS)
        dst->max_connections = HALE_MAX_CONNECTIONS;
}

static void server_free(hale_http_server *s)
{
    hale_buf_release(&s->scratch);
    free(s->rbuf);
    free(s);
}

void hale__http_server_unref(hale_http_server *s)
{
    HALE_ASSERT(s->refs > 0);
    if (--s->refs > 0)
        return;
    if (s->done_cb)
        s->done_cb(s->done_ud);
    server_free(s);
}

static void on_server_handle_closed(uv_handle_t *h)
{
    hale__http_server_unref(h->data);
}

static void on_resume_idle(uv_idle_t *idle)
{
    hale_http_server *s = idle->data;
    struct http_link *node;

    /* A handler answering another connection's request may queue more: loop until empty. */
    while (!hale__http_list_is_empty(&s->resume)) {
        node = s->resume.next;
        hale__http_list_remove(node);
        hale__http_conn_resume(HTTP_CONN_OF(node, resume_link));
    }
    (void)uv_idle_stop(idle);
}

void hale__http_server_schedule_resume(hale_http_server *s, struct hale__http_conn *conn)
{
    if (s->closing || conn->resume_link.next != &conn->resume_link)
        return;
    hale__http_list_insert(&s->resume, &conn->resume_link);
    (void)uv_idle_start(&s->resume_idle, on_resume_idle);
}

int hale_http_server_new(uv_loop_t *loop, const hale_http_limits *limits,
                         hale_http_handler_fn handler, void *handler_ud, hale_http_server **ret)
{
    hale_http_server *s;

    HALE_ASSERT(loop && handler && ret);
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->rbuf = malloc(HTTP_READ_BUF_BYTES);
    if (!s->rbuf) {
        free(s);
        return -ENOMEM;
    }
    s->loop = loop;
    limits_copy(&s->limits, limits);
    s->handler = handler;
    s->handler_ud = handler_ud;
    hale__http_list_init(&s->conns);
    hale__http_list_init(&s->resume);
    hale_buf_init(&s->scratch, 4096);
    /* Neither init can fail on Unix: they only fill in the handle. */
    (void)uv_idle_init(loop, &s->resume_idle);
    (void)uv_timer_init(loop, &s->retry_timer);
    s->resume_idle.data = s;
    s->retry_timer.data = s;
    s->refs = 3; /* the owner and the two handles */
    *ret = s;
    return 0;
}

void hale_http_server_set_observer(hale_http_server *s, hale_http_observer_fn fn, void *ud)
{
    s->observer = fn;
    s->observer_ud = ud;
}

void hale_http_server_set_limits(hale_http_server *s, const hale_http_limits *limits)
{
    limits_copy(&s->limits, limits);
}

static void on_retry_timer(uv_timer_t *t);

static void accept_one(hale_http_server *s)
{
    int r = hale__http_conn_accept(s);

    if (r >= 0)
        return;
    /* The socket stays queued in libuv, which stops polling the listener until it is
     * accepted: try again shortly instead of dropping it. */
    log_warn("cannot accept a connection: %s, retrying in %u ms", hale_strerror(r),
             HTTP_ACCEPT_RETRY_MS);
    if (!uv_is_active((uv_handle_t *)&s->retry_timer))
        (void)uv_timer_start(&s->retry_timer, on_retry_timer, HTTP_ACCEPT_RETRY_MS, 0);
}

static void on_retry_timer(uv_timer_t *t)
{
    hale_http_server *s = t->data;

    if (s->listening)
        accept_one(s);
}

static void on_connection(uv_stream_t *listener, int status)
{
    hale_http_server *s = listener->data;

    if (status < 0) {
        log_warn("cannot accept a connection: %s, ignoring", uv_strerror(status));
        return;
    }
    if (!s->listening)
        return;
    accept_one(s);
}

static int resolve(const char *host, uint16_t port, struct sockaddr_storage *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ret) == 0)
        return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ret) == 0)
        return 0;
    return UV_EINVAL;
}

static int bound_port(hale_http_server *s)
{
    struct sockaddr_storage ss;
    int len = (int)sizeof(ss);
    int r;

    r = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    if (r < 0)
        return r;
    if (ss.ss_family == AF_INET6)
        s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

int hale_http_server_listen(hale_http_server *s, const char *host, uint16_t port, hale_diag *reterr)
{
    struct sockaddr_storage ss;
    int r;

    if (s->listener_used || s->closing || s->draining) {
        hale_diag_set(reterr, "cannot listen on '%s:%u': %s", host, (unsigned)port,
                      s->listener_used ? "listen was already called" : "the server is closing");
        return -EALREADY;
    }
    r = resolve(host, port, &ss);
    if (r < 0) {
        hale_diag_set(reterr, "cannot listen on '%s:%u': not a numeric IPv4 or IPv6 address", host,
                      (unsigned)port);
        return r;
    }
    r = uv_tcp_init(s->loop, &s->listener);
    if (r < 0)
        goto out_diag;
    s->listener.data = s;
    s->listener_used = true;
    s->listening = true;
    s->refs++;
    r = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&s->listener, HTTP_LISTEN_BACKLOG, on_connection);
    if (r == 0)
        r = bound_port(s);
    if (r == 0)
        return 0;
    s->listening = false;
    s->port = 0;
    uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
out_diag:
    hale_diag_set(reterr, "cannot listen on '%s:%u': %s", host, (unsigned)port, uv_strerror(r));
    return r;
}

uint16_t hale_http_server_port(const hale_http_server *s)
{
    return s->port;
}

static void close_listener(hale_http_server *s)
{
    if (!s->listening)
        return;
    s->listening = false;
    (void)uv_timer_stop(&s->retry_timer);
    uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
}

void hale_http_server_drain(hale_http_server *s)
{
    struct http_link *node, *next;

    if (s->draining || s->closing)
        return;
    s->draining = true;
    close_listener(s);
    /* settle closes idle connections; closing never frees synchronously, so next stays valid. */
    for (node = s->conns.next; node != &s->conns; node = next) {
        next = node->next;
        hale__http_conn_settle(HTTP_CONN_OF(node, link));
    }
}

size_t hale_http_server_pending(const hale_http_server *s)
{
    return s->pending;
}

size_t hale_http_server_connections(const hale_http_server *s)
{
    return s->connections;
}

void hale_http_server_close(hale_http_server *s, void (*done_cb)(void *ud), void *ud)
{
    struct http_link *node, *next;

    if (!s)
        return;
    HALE_ASSERT(!s->closing);
    s->closing = true;
    s->done_cb = done_cb;
    s->done_ud = ud;
    close_listener(s);
    uv_close((uv_handle_t *)&s->resume_idle, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->retry_timer, on_server_handle_closed);
    for (node = s->conns.next; node != &s->conns; node = next) {
        next = node->next;
        hale__http_conn_close(HTTP_CONN_OF(node, link));
    }
    hale__http_server_unref(s);
}
