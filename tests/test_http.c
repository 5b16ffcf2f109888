/* tests/test_http.c - the HTTP server over real loopback sockets. The server runs on a uv loop
 * in the test's thread; a helper thread plays the client with blocking sockets, following a
 * script of steps (send, expect an answer, expect a close) and reading answers with
 * http_parser in response mode. Only the loop thread touches the server; the client records
 * the first failed check in h->err and the test thread asserts after the join. */
#include "fixture.h"

#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "hale/http.h"
#include "hale/limits.h"

#define IO_TIMEOUT_MS 3000
#define MAX_CLIENTS   4
#define NOW_MS()      (uv_hrtime() / 1000000u)

enum step_flags {
    S_NEW = 1 << 0,     /* connect this client first */
    S_CLOSED = 1 << 1,  /* then the server must close the connection */
    S_HEAD = 1 << 2,    /* the answer is to HEAD: no body follows */
    S_SHUT = 1 << 3,    /* half-close (SHUT_WR) after sending */
    S_WAIT = 1 << 4,    /* sleep 50 ms after sending */
    S_BYTES = 1 << 5,   /* send one byte per segment, 1 ms apart */
    S_REFUSED = 1 << 6, /* the connect must be refused */
    S_RESET = 1 << 7,   /* close this client with a reset (SO_LINGER 0) */
    S_RETRY = 1 << 8,   /* reconnect and resend until the status matches (up to 1 s) */
    S_CLOSE = 1 << 9,   /* close this client (a FIN) */
    S_STALL = 1 << 10,  /* then, reading nothing, wait until the server holds no connection */
};

/* One step of a client script. */
struct step {
    int client;       /* which of MAX_CLIENTS sockets */
    const char *send; /* NULL: send nothing */
    int status;       /* expected status of the next answer; 0: read none */
    const char *body; /* NULL, or a string the body must contain */
    const char *hdr;  /* NULL, or a header line the answer must carry */
    unsigned flags;   /* enum step_flags */
};

struct harness;

/* One test: a script (or a scenario function), its limits, what the loop side must see. */
struct tcase {
    const char *name;                   /* the test's name */
    const struct step *steps;           /* the script, or NULL */
    size_t n_steps;                     /* steps in steps */
    int (*scenario)(struct harness *h); /* runs after the script, or NULL */
    void (*on_done)(struct harness *h); /* loop side at the end; NULL: close_server */
    unsigned max_connections;           /* 0: 16 */
    uint64_t idle_ms;                   /* 0: 2000 */
    uint64_t request_ms;                /* 0: 2000 */
    uint64_t write_ms;                  /* 0: 2000 */
    int requests;                       /* handler calls expected */
    int observed;                       /* observer calls expected, -1: any */
    int last_status;                    /* status the observer saw last; 0: any */
    const char *last_label;             /* label the observer saw last; NULL: any */
    bool orphan;                        /* a held request is answered after its client left */
};

struct harness {
    const struct tcase *tc; /* the test being run */
    uv_loop_t loop;         /* the server's loop */
    hale_http_server *srv;  /* the server under test */
    uv_async_t done_async;  /* client thread -> loop: the script finished */
    uv_timer_t timer;       /* answers /slow, or /hold after /drain */
    uv_timer_t poll;        /* waits for a server state */
    uv_timer_t watch;       /* publishes `dropped` for the client thread */
    atomic_bool dropped;    /* a request was handled and no connection is left */
    hale_http_req *slow;    /* answered by timer */
    hale_http_req *held;    /* answered when the test decides */
    uint16_t port;          /* the server's port */
    int result;             /* the client's result: 0, or -1 with err */
    char err[512];          /* the first failed check */
    int requests;           /* handler calls */
    int observed;           /* observer calls */
    int last_status;        /* last status the observer saw */
    char last_label[32];    /* last label the observer saw */
    int orphan_r;           /* respond's result for the orphan */
    bool orphan_answered;   /* the held request was answered after its client left */
    bool server_done;       /* done_cb ran */
    bool done_after_orphan; /* done_cb ran only after the orphan was answered */
};

/* ---- client side (helper thread) ---------------------------------------------------- */

struct client {
    int fd;           /* blocking socket, -1 when closed */
    http_parser p;    /* response parser, paused after each message */
    char buf[65536];  /* received, not yet parsed */
    size_t len;       /* bytes in buf */
    bool head;        /* the next answer is to HEAD */
    int status;       /* the last answer's status code */
    char hdrs[2048];  /* its "Name: value\n" header lines */
    char body[16384]; /* its body (NUL-terminated, truncated) */
    bool in_value;    /* the header callbacks are in a value */
};

__attribute__((format(printf, 2, 3))) static int failf(struct harness *h, const char *fmt, ...)
{
    va_list ap;

    if (h->err[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(h->err, sizeof(h->err), fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void cli_close(struct client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int cli_connect(struct client *c, uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1;

    cli_close(c);
    memset(c, 0, sizeof(*c));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    http_parser_init(&c->p, HTTP_RESPONSE);
    c->p.data = c;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -errno;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return 0;
    one = -errno;
    cli_close(c);
    return one;
}

static int cli_send(struct client *c, const char *data, size_t len, bool bytewise)
{
    ssize_t n;

    for (; len > 0; data += n, len -= (size_t)n) {
        n = send(c->fd, data, bytewise ? 1 : len, MSG_NOSIGNAL);
        if (n < 0)
            return -errno;
        if (bytewise)
            uv_sleep(1);
    }
    return 0;
}

/* Wait up to timeout_ms for input; returns bytes read, 0 at EOF, -ETIMEDOUT or -errno. */
static int cli_recv(struct client *c, int timeout_ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    ssize_t n;
    int r;

    if (c->len == sizeof(c->buf))
        return -ENOBUFS;
    r = poll(&pfd, 1, timeout_ms);
    if (r <= 0)
        return r == 0 ? -ETIMEDOUT : -errno;
    n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
    if (n < 0)
        return -errno;
    c->len += (size_t)n;
    return (int)n;
}

/* True when the server closed the connection (EOF or reset) within timeout_ms. */
static bool cli_sees_close(struct client *c, int timeout_ms)
{
    uint64_t end = NOW_MS() + (uint64_t)timeout_ms;
    int r;

    do {
        c->len = 0;
        r = cli_recv(c, (int)(end > NOW_MS() ? end - NOW_MS() : 0));
    } while (r > 0);
    return r == 0 || r == -ECONNRESET;
}

static void append(char *dst, size_t size, const char *at, size_t len)
{
    size_t have = strlen(dst);

    snprintf(dst + have, size - have, "%.*s", (int)len, at);
}

/* Header callbacks: "Name: value\n" lines into c->hdrs. */
static int rp_header(struct client *c, const char *at, size_t len, bool value)
{
    if (c->in_value != value)
        append(c->hdrs, sizeof(c->hdrs), value ? ": " : "\n", value ? 2 : 1);
    c->in_value = value;
    append(c->hdrs, sizeof(c->hdrs), at, len);
    return 0;
}

static int rp_field(http_parser *p, const char *at, size_t len)
{
    return rp_header(p->data, at, len, false);
}

static int rp_value(http_parser *p, const char *at, size_t len)
{
    return rp_header(p->data, at, len, true);
}

static int rp_headers_complete(http_parser *p)
{
    struct client *c = p->data;

    append(c->hdrs, sizeof(c->hdrs), "\n", 1);
    c->status = (int)p->status_code;
    return c->head ? 1 : 0;
}

static int rp_body(http_parser *p, const char *at, size_t len)
{
    struct client *c = p->data;

    append(c->body, sizeof(c->body), at, len);
    return 0;
}

static int rp_message_complete(http_parser *p)
{
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings resp_settings = {
    .on_header_field = rp_field,
    .on_header_value = rp_value,
    .on_headers_complete = rp_headers_complete,
    .on_body = rp_body,
    .on_message_complete = rp_message_complete,
};

/* Read one answer. Returns 0, -EPIPE at EOF before it is complete, -EPROTO or -errno. */
static int cli_read(struct client *c)
{
    size_t n;
    int rr;

    c->status = 0;
    c->hdrs[0] = c->body[0] = '\0';
    c->in_value = false;
    for (;;) {
        n = http_parser_execute(&c->p, &resp_settings, c->buf, c->len);
        memmove(c->buf, c->buf + n, c->len - n);
        c->len -= n;
        if (HTTP_PARSER_ERRNO(&c->p) == HPE_PAUSED) {
            http_parser_pause(&c->p, 0);
            return 0;
        }
        if (HTTP_PARSER_ERRNO(&c->p) != HPE_OK)
            return -EPROTO;
        rr = cli_recv(c, IO_TIMEOUT_MS);
        if (rr <= 0)
            return rr == 0 ? -EPIPE : rr;
    }
}

static bool resp_matches(const struct client *c, const struct step *s)
{
    char line[160];

    snprintf(line, sizeof(line), "%s\n", s->hdr ? s->hdr : "");
    return c->status == s->status && (!s->body || strstr(c->body, s->body)) &&
           (!s->hdr || strstr(c->hdrs, line));
}

/* Polls instead of sleeping a fixed time: a slow (sanitized, shared) machine may need far
 * longer than the server's deadline before the loop notices it. */
static int await_dropped(struct harness *h)
{
    uint64_t end = NOW_MS() + 10000;

    while (!atomic_load(&h->dropped)) {
        if (NOW_MS() > end)
            return -ETIMEDOUT;
        uv_sleep(10);
    }
    return 0;
}

static int step_exchange(struct harness *h, struct client *c, const struct step *s, size_t i)
{
    int rr = 0;

    if (s->send)
        rr = cli_send(c, s->send, strlen(s->send), s->flags & S_BYTES);
    if (rr == 0 && (s->flags & S_SHUT))
        rr = shutdown(c->fd, SHUT_WR) < 0 ? -errno : 0;
    if (s->flags & S_WAIT)
        uv_sleep(50);
    if (s->flags & S_STALL)
        rr = await_dropped(h);
    c->head = s->flags & S_HEAD;
    if (rr == 0 && s->status != 0)
        rr = cli_read(c);
    if (rr < 0)
        return failf(h, "step %zu: %s", i, strerror(-rr));
    if (s->status != 0 && !resp_matches(c, s))
        return failf(h, "step %zu: expected %d '%s' '%s', got %d '%s' '%s'", i, s->status,
                     s->body ? s->body : "", s->hdr ? s->hdr : "", c->status, c->body, c->hdrs);
    return 0;
}

static int play_step(struct harness *h, struct client *c, const struct step *s, size_t i)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    int r = 0, tries;

    if (s->flags & S_RETRY) {
        for (tries = 0; tries < 50; tries++, uv_sleep(20)) {
            h->err[0] = '\0';
            if (cli_connect(c, h->port) == 0 && step_exchange(h, c, s, i) == 0)
                return 0;
        }
        return failf(h, "step %zu: never succeeded", i);
    }
    if (s->flags & S_NEW)
        r = cli_connect(c, h->port);
    if (s->flags & S_REFUSED)
        return r == -ECONNREFUSED ? 0 : failf(h, "step %zu: connect: %s", i, strerror(-r));
    if (r < 0)
        return failf(h, "step %zu: connect: %s", i, strerror(-r));
    if (step_exchange(h, c, s, i) < 0)
        return -1;
    if ((s->flags & S_CLOSED) && !cli_sees_close(c, IO_TIMEOUT_MS))
        return failf(h, "step %zu: the server did not close the connection", i);
    if (s->flags & S_RESET)
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    if (s->flags & (S_RESET | S_CLOSE))
        cli_close(c);
    return 0;
}

static int play(struct harness *h, const struct step *steps, size_t n)
{
    struct client c[MAX_CLIENTS] = {{.fd = -1}, {.fd = -1}, {.fd = -1}, {.fd = -1}};
    size_t i;
    int r = 0;

    for (i = 0; i < n && r == 0; i++)
        r = play_step(h, &c[steps[i].client], &steps[i], i);
    for (i = 0; i < MAX_CLIENTS; i++)
        cli_close(&c[i]);
    return r;
}

static void *client_thread(void *arg)
{
    struct harness *h = arg;

    h->result = play(h, h->tc->steps, h->tc->n_steps);
    if (h->result == 0 && h->tc->scenario)
        h->result = h->tc->scenario(h);
    uv_async_send(&h->done_async);
    return NULL;
}

/* ---- server side (loop thread) ------------------------------------------------------ */

static void echo(hale_http_req *req)
{
    const char *x = hale_http_req_header(req, "x-test");
    const char *body = hale_http_req_body(req, NULL);
    char out[8192];
    int n;

    hale_http_req_set_label(req, "echo");
    n = snprintf(out, sizeof(out), "%s|%s|%s|%s|%s", hale_http_req_method(req),
                 hale_http_req_path(req), hale_http_req_query(req), x ? x : "-", body);
    hale_http_respond(req, 200, "text/plain", out, (size_t)n);
}

/* /param: "name=<decoded value or error>;" for a fixed list of lookups. */
static void param(hale_http_req *req)
{
    /* The last lookup repeats "q" into a buffer too small for it. */
    static const char *const names[] = {"q",   "a",   "empty", "flag", "missing",
                                        "bad", "nul", "k y",   "q"};
    char out[512] = "", val[64];
    size_t i, have;
    int r;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        r = hale_http_req_query_param(req, names[i], val, i == 8 ? 4 : sizeof(val));
        have = strlen(out);
        snprintf(out + have, sizeof(out) - have, "%s=%s;", names[i], r == 0 ? val : strerror(-r));
    }
    hale_http_respond(req, 200, "text/plain", out, strlen(out));
}

/* Answers /slow (100 ms after it came), else the held request (after /drain). */
static void on_timer(uv_timer_t *t)
{
    struct harness *h = t->data;
    hale_http_req **slot = h->slow ? &h->slow : &h->held, *req = *slot;

    *slot = NULL;
    if (req)
        hale_http_respond(req, 200, "text/plain", slot == &h->slow ? "slow" : "held", 4);
}

static void handler(hale_http_req *req, void *ud)
{
    struct harness *h = ud;
    const char *path = hale_http_req_path(req);

    h->requests++;
    if (strcmp(path, "/echo") == 0) {
        echo(req);
    } else if (strcmp(path, "/slow") == 0) {
        h->slow = req;
        uv_timer_start(&h->timer, on_timer, 100, 0);
    } else if (strcmp(path, "/hold") == 0) {
        h->held = req;
    } else if (strcmp(path, "/drain") == 0) {
        hale_http_server_drain(h->srv);
        hale_http_respond(req, 200, "text/plain", "draining", 8);
        uv_timer_start(&h->timer, on_timer, 100, 0);
    } else if (strcmp(path, "/param") == 0) {
        param(req);
    } else if (strcmp(path, "/big") == 0) { /* 32 MiB: more than the socket buffers hold */
        char *big = calloc(1, 32u << 20);
        hale_http_respond(req, big ? 200 : 500, "text/plain", big, big ? 32u << 20 : 0);
        free(big);
    } else if (strcmp(path, "/head") == 0) {
        hale_http_respond_hdr(req, 200, "text/plain", "X-Extra: 1\r\n", "abcdef", 6);
    } else {
        hale_http_respond_error(req, 404, "not_found", "no such path");
    }
}

static void observer(const char *label, int status, double duration_ms, void *ud)
{
    struct harness *h = ud;

    assert_true(duration_ms >= 0.0);
    h->observed++;
    h->last_status = status;
    snprintf(h->last_label, sizeof(h->last_label), "%s", label);
}

static void on_server_done(void *ud)
{
    struct harness *h = ud;

    h->server_done = true;
    h->done_after_orphan = h->held == NULL;
}

/* Answer the held request whose client or server is gone: respond only frees it. */
static void answer_orphan(struct harness *h)
{
    hale_http_req *req = h->held;

    h->held = NULL;
    h->orphan_r = hale_http_respond(req, 200, "text/plain", "late", 4);
    h->orphan_answered = true;
}

/* Default end: close the server; a request still held becomes an orphan answered after. */
static void close_server(struct harness *h)
{
    hale_http_server_close(h->srv, on_server_done, h);
    assert_false(h->server_done); /* not before the orphan below is answered */
    if (h->held)
        answer_orphan(h);
    uv_close((uv_handle_t *)&h->done_async, NULL);
    uv_close((uv_handle_t *)&h->timer, NULL);
    uv_close((uv_handle_t *)&h->poll, NULL);
    uv_close((uv_handle_t *)&h->watch, NULL);
}

static void on_watch(uv_timer_t *t)
{
    struct harness *h = t->data;

    if (h->requests > 0 && hale_http_server_connections(h->srv) == 0)
        atomic_store(&h->dropped, true);
}

/* Once the server has dropped the held request's connection, answer the request. */
static void on_poll_disconnected(uv_timer_t *t)
{
    struct harness *h = t->data;

    if (hale_http_server_connections(h->srv) != 0)
        return;
    uv_timer_stop(t);
    assert_true(h->held && hale_http_server_pending(h->srv) == 1);
    answer_orphan(h);
    assert_int_equal(hale_http_server_pending(h->srv), 0);
    close_server(h);
}

static void wait_disconnect(struct harness *h)
{
    uv_timer_start(&h->poll, on_poll_disconnected, 5, 5);
}

static void on_done_async(uv_async_t *a)
{
    struct harness *h = a->data;

    if (h->tc->on_done)
        h->tc->on_done(h);
    else
        close_server(h);
}

static void run_case(void **state)
{
    const struct tcase *tc = *state;
    struct harness *h = calloc(1, sizeof(*h));
    hale_http_limits lim;
    hale_diag diag;
    pthread_t th;

    assert_non_null(h);
    hale_http_limits_default(&lim);
    lim.max_body_bytes = lim.max_header_bytes = 1024;
    lim.max_connections = tc->max_connections ? tc->max_connections : 16;
    lim.idle_timeout_ms = tc->idle_ms ? tc->idle_ms : 2000;
    lim.request_timeout_ms = tc->request_ms ? tc->request_ms : 2000;
    lim.write_timeout_ms = tc->write_ms ? tc->write_ms : 2000;
    h->tc = tc;
    assert_int_equal(uv_loop_init(&h->loop), 0);
    assert_int_equal(hale_http_server_new(&h->loop, &lim, handler, h, &h->srv), 0);
    hale_http_server_set_observer(h->srv, observer, h);
    assert_int_equal(hale_http_server_listen(h->srv, "127.0.0.1", 0, &diag), 0);
    h->port = hale_http_server_port(h->srv);
    assert_int_equal(uv_async_init(&h->loop, &h->done_async, on_done_async), 0);
    assert_int_equal(uv_timer_init(&h->loop, &h->timer) | uv_timer_init(&h->loop, &h->poll) |
                         uv_timer_init(&h->loop, &h->watch),
                     0);
    h->done_async.data = h->timer.data = h->poll.data = h->watch.data = h;
    atomic_init(&h->dropped, false);
    assert_int_equal(uv_timer_start(&h->watch, on_watch, 5, 5), 0);
    assert_int_equal(pthread_create(&th, NULL, client_thread, h), 0);
    assert_int_equal(uv_run(&h->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(uv_loop_close(&h->loop), 0);
    if (h->result != 0)
        fail_msg("%s", h->err);
    assert_true(h->server_done);
    assert_int_equal(h->requests, tc->requests);
    assert_true(tc->observed < 0 || h->observed == tc->observed);
    assert_true(!tc->last_status || h->last_status == tc->last_status);
    assert_true(!tc->last_label || strcmp(h->last_label, tc->last_label) == 0);
    assert_int_equal(h->orphan_answered, tc->orphan);
    assert_true(!tc->orphan || (h->orphan_r == 0 && h->done_after_orphan));
    free(h);
}

/* ---- scripts and scenarios (client thread) ------------------------------------------- */

#define GET_ECHO  "GET /echo HTTP/1.1\r\n\r\n"
#define POST_OK   "POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"
#define SCRIPT(s) .steps = (s), .n_steps = sizeof(s) / sizeof((s)[0])

static const struct step get_post[] = {
    {0, "GET /echo?x=1&y=%41 HTTP/1.1\r\nHost: t\r\nX-Test: hi\r\n\r\n", 200,
     "GET|/echo|x=1&y=%41|hi|", "Content-Length: 23", S_NEW},
    {0, "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 200, "POST|/echo||-|hello",
     "Content-Type: text/plain", 0},
    {0, "GET /nope HTTP/1.1\r\n\r\n", 404,
     "{\"error\":{\"code\":\"not_found\",\"message\":\"no such path\"}}",
     "Content-Type: application/json", 0},
};

static const struct step keep_alive[] = {
    {0, POST_OK, 200, "POST|/echo||-|ok", "Connection: keep-alive", S_NEW},
    {0, POST_OK, 200, "POST|/echo||-|ok", "Connection: keep-alive", 0},
    /* HEAD: GET's Content-Length and no body, so the next answer still parses. */
    {0, "HEAD /head HTTP/1.1\r\n\r\n", 200, NULL, "Content-Length: 6", S_HEAD},
    {0, "GET /head HTTP/1.1\r\n\r\n", 200, "abcdef", "X-Extra: 1", 0},
    {0, "GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n", 200, NULL, "Connection: close",
     S_CLOSED},
    {1, "GET /echo HTTP/1.0\r\n\r\n", 200, NULL, "Connection: close", S_NEW | S_CLOSED},
    {2, "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, NULL, "Connection: keep-alive",
     S_NEW},
};

static const struct step pipelining[] = {
    /* /slow is answered 100 ms later from a timer; /echo must still come second. */
    {0, "GET /slow HTTP/1.1\r\n\r\nGET /echo?second HTTP/1.1\r\n\r\n", 200, "slow", NULL, S_NEW},
    {0, NULL, 200, "GET|/echo|second|-|", NULL, 0},
    /* Requests sent before a half-close are all answered; then the server closes. */
    {1, "GET /slow HTTP/1.1\r\n\r\nGET /echo?after HTTP/1.1\r\n\r\n", 200, "slow",
     "Connection: keep-alive", S_NEW | S_SHUT},
    {1, NULL, 200, "GET|/echo|after|-|", "Connection: close", S_CLOSED},
};

/* 48 requests in one write, answered in order. */
static int sc_pipeline_many(struct harness *h)
{
    char req[48 * 32], want[48][32];
    struct step steps[49] = {{0}};
    size_t off = 0;
    int i;

    for (i = 0; i < 48; i++) {
        off += (size_t)snprintf(req + off, sizeof(req) - off, "GET /echo?%d HTTP/1.1\r\n\r\n", i);
        snprintf(want[i], sizeof(want[i]), "GET|/echo|%d|-|", i);
        steps[i + 1] = (struct step){0, NULL, 200, want[i], NULL, 0};
    }
    steps[0] = (struct step){0, req, 0, NULL, NULL, S_NEW};
    return play(h, steps, 49);
}

static const struct step chunked_split[] = {
    {0,
     "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
     200, "POST|/echo||-|hello world", NULL, S_NEW},
    /* One byte per segment: the URL, names and values reach the parser in pieces. */
    {0, "POST /echo?s HTTP/1.1\r\nX-Test: split value\r\nContent-Length: 4\r\n\r\nbody", 200,
     "POST|/echo|s|split value|body", NULL, S_BYTES},
};

static const struct step limits[] = {
    /* Declared too large: 413 at once, although the body is never sent. */
    {0, "POST /e HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", 413, "\"body_too_large\"",
     "Connection: close", S_NEW | S_CLOSED},
    {1, "POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n", 413,
     "\"body_too_large\"", "Connection: close", S_NEW | S_CLOSED},
    {2, "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400,
     "HPE_UNEXPECTED_CONTENT_LENGTH", "Content-Type: application/json", S_NEW | S_CLOSED},
    {3, "BLAH / HTTP/1.1\r\n\r\n", 400,
     "{\"error\":{\"code\":\"bad_request\",\"message\":\"malformed request: HPE_INVALID_METHOD",
     "Connection: close", S_NEW | S_CLOSED},
    {0, "GET /echo HTTP/2.0\r\n\r\n", 505, "\"http_version_not_supported\"", "Connection: close",
     S_NEW | S_CLOSED},
};

/* Limits that need long requests: a chunked body, header bytes, header count, URL. */
static int sc_limits_generated(struct harness *h)
{
    static char req[4][6000];
    struct step steps[4];
    size_t off;
    int i;

    off = (size_t)snprintf(req[0], sizeof(req[0]),
                           "POST /e HTTP/1.1\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n");
    for (i = 0; i < 3; i++)
        off += (size_t)snprintf(req[0] + off, sizeof(req[0]) - off, "200\r\n%0512d\r\n", 0);
    snprintf(req[1], sizeof(req[1]), "GET /echo HTTP/1.1\r\nX-Big: %01500d\r\n\r\n", 0);
    off = (size_t)snprintf(req[2], sizeof(req[2]), "GET /echo HTTP/1.1\r\n");
    for (i = 0; i < (int)HALE_MAX_HEADERS + 1; i++) /* 8 bytes each: the count, not the size */
        off += (size_t)snprintf(req[2] + off, sizeof(req[2]) - off, "H%d: v\r\n", i);
    snprintf(req[2] + off, sizeof(req[2]) - off, "\r\n");
    snprintf(req[3], sizeof(req[3]), "GET /%05000d HTTP/1.1\r\n\r\n", 0);
    steps[0] = (struct step){0, req[0], 413, "\"body_too_large\"", NULL, S_NEW | S_CLOSED};
    steps[1] = (struct step){1, req[1], 431, "\"headers_too_large\"", NULL, S_NEW | S_CLOSED};
    steps[2] = (struct step){2, req[2], 431, "more than 64 header", NULL, S_NEW | S_CLOSED};
    steps[3] = (struct step){3, req[3], 414, "\"uri_too_long\"", NULL, S_NEW | S_CLOSED};
    return play(h, steps, 4);
}

static const struct step expect_continue[] = {
    {0, "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", 100, NULL, NULL,
     S_NEW},
    {0, "abc", 200, "POST|/echo||-|abc", NULL, 0},
};

/* A client trickling one byte per 50 ms is answered 408 at the 300 ms request deadline
 * while a normal client is served in the meantime. */
static int sc_slow_loris(struct harness *h)
{
    static const char trickle[] = "GET /echo HTTP/1.1\r\nX-Test: slowly, one byte at a time\r\n";
    static const struct step normal[] = {{0, GET_ECHO, 200, "GET|/echo||-|", NULL, S_NEW}};
    static const struct step cut[] = {
        {0, NULL, 408, "\"request_timeout\"", "Connection: close", S_CLOSED}};
    uint64_t start = NOW_MS();
    struct client c = {.fd = -1};
    size_t i = 0;
    int r = cli_connect(&c, h->port);

    while (r == 0 && cli_recv(&c, 50) == -ETIMEDOUT && NOW_MS() - start < 2500) {
        if (i < sizeof(trickle) - 1)
            r = cli_send(&c, trickle + i++, 1, false);
        if (i == 3 && r == 0)
            r = play(h, normal, 1);
    }
    if (r == 0 && (NOW_MS() - start < 250 || NOW_MS() - start > 1500))
        r = failf(h, "cut off after %llu ms, not at the 300 ms deadline",
                  (unsigned long long)(NOW_MS() - start));
    if (r == 0)
        r = play_step(h, &c, cut, 0);
    cli_close(&c);
    return r < 0 ? failf(h, "slow loris: %d", r) : 0;
}

static const struct step idle[] = {
    {0, NULL, 0, NULL, NULL, S_NEW | S_CLOSED},
    /* After a request too: kept alive, then closed quietly. */
    {1, GET_ECHO, 200, NULL, "Connection: keep-alive", S_NEW | S_CLOSED},
};

static const struct step conn_limit[] = {
    /* An answer on each proves the server accepted and counted both. */
    {0, GET_ECHO, 200, NULL, "Connection: keep-alive", S_NEW},
    {1, GET_ECHO, 200, NULL, "Connection: keep-alive", S_NEW},
    {2, GET_ECHO, 503, "\"too_many_connections\"", "Connection: close", S_NEW | S_CLOSED},
    /* Closing one (a FIN, no reset) frees its slot as soon as the server reads the EOF. */
    {0, NULL, 0, NULL, NULL, S_CLOSE},
    {2, GET_ECHO, 200, NULL, NULL, S_RETRY},
};

static const struct step drain[] = {
    /* /hold stays with the handler and /echo waits behind it; client 2's headers arrive
     * before the drain and its body after; client 1 is idle. */
    {0, "GET /hold HTTP/1.1\r\n\r\n" GET_ECHO, 0, NULL, NULL, S_NEW},
    {1, NULL, 0, NULL, NULL, S_NEW},
    {2, "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\n", 0, NULL, NULL, S_NEW | S_WAIT},
    {3, "GET /drain HTTP/1.1\r\n\r\n", 200, "draining", "Connection: close", S_NEW | S_CLOSED},
    {1, NULL, 0, NULL, NULL, S_CLOSED},
    {0, NULL, 200, "held", "Connection: keep-alive", 0},
    {0, NULL, 503, "\"shutting_down\"", "Connection: close", S_CLOSED},
    {2, "abc", 503, "\"shutting_down\"", "Connection: close", S_CLOSED},
    {3, NULL, 0, NULL, NULL, S_NEW | S_REFUSED},
};

static const struct step hold_reset[] = {
    {0, "GET /hold HTTP/1.1\r\n\r\n", 0, NULL, NULL, S_NEW | S_WAIT | S_RESET}};
static const struct step hold_close[] = {
    {0, "GET /hold HTTP/1.1\r\n\r\n", 0, NULL, NULL, S_NEW | S_WAIT}};

/* An answer left unread: the requests behind it are not parsed (answers cannot pile up) and
 * the server gives up at the write deadline, long before the 10 s idle timeout. */
static const struct step write_stall[] = {{0,
                                           "GET /big HTTP/1.1\r\n\r\n" GET_ECHO GET_ECHO GET_ECHO,
                                           0, NULL, NULL, S_NEW | S_STALL | S_CLOSED}};

static const struct step query[] = {
    {0, "GET /param?a=1&q=h%C3%A9llo+w%21&empty=&flag&bad=%zz&nul=%00&k+y=%41 HTTP/1.1\r\n\r\n",
     200,
     "q=h\xc3\xa9llo w!;a=1;empty=;flag=;missing=No such file or directory;bad=Invalid "
     "argument;nul=Invalid argument;k y=A;q=No space left on device;",
     NULL, S_NEW},
};

static struct tcase cases[] = {
    {"get_and_post_echo", SCRIPT(get_post), .requests = 3, .observed = 3, .last_status = 404,
     .last_label = "none"},
    {"keep_alive_and_close", SCRIPT(keep_alive), .requests = 7, .observed = 7,
     .last_label = "echo"},
    {"pipelining_in_order", SCRIPT(pipelining), .scenario = sc_pipeline_many, .requests = 52,
     .observed = 52},
    {"chunked_and_split_reads", SCRIPT(chunked_split), .requests = 2, .observed = 2},
    {"limits_answered_and_closed", SCRIPT(limits), .scenario = sc_limits_generated, .requests = 0,
     .observed = 9, .last_status = 414, .last_label = "none"},
    {"expect_100_continue", SCRIPT(expect_continue), .requests = 1, .observed = 1},
    {"slow_loris_408", .scenario = sc_slow_loris, .request_ms = 300, .requests = 1, .observed = 2,
     .last_status = 408},
    {"idle_timeout_closes", SCRIPT(idle), .idle_ms = 200, .requests = 1, .observed = 1},
    {"connection_limit_503", SCRIPT(conn_limit), .max_connections = 2, .requests = 3,
     .observed = -1, .last_status = 200},
    {"drain_answers_pending", SCRIPT(drain), .requests = 2, .observed = 4, .last_status = 503,
     .last_label = "none"},
    {"respond_after_reset", SCRIPT(hold_reset), .on_done = wait_disconnect, .requests = 1,
     .observed = 0, .orphan = true},
    {"respond_after_server_close", SCRIPT(hold_close), .requests = 1, .observed = 0,
     .orphan = true},
    {"query_param_decoding", SCRIPT(query), .requests = 1, .observed = 1},
    {"write_timeout_closes", SCRIPT(write_stall), .idle_ms = 10000, .write_ms = 200, .requests = 1,
     .observed = 1},
};

static void count_done(void *ud)
{
    ++*(int *)ud;
}

static void listen_errors_and_status_text(void **state)
{
    hale_http_server *a, *b;
    hale_diag diag;
    uv_loop_t loop;
    int done = 0;

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(hale_http_server_new(&loop, NULL, handler, NULL, &a), 0);
    assert_int_equal(hale_http_server_new(&loop, NULL, handler, NULL, &b), 0);
    assert_int_equal(hale_http_server_port(a), 0);
    assert_true(hale_http_server_listen(a, "localhost", 0, &diag) < 0);
    assert_non_null(strstr(diag.msg, "cannot listen on 'localhost:0'"));
    assert_int_equal(hale_http_server_listen(b, "127.0.0.1", 0, &diag), 0);
    assert_int_equal(hale_http_server_listen(a, "127.0.0.1", hale_http_server_port(b), &diag),
                     UV_EADDRINUSE);
    assert_non_null(strstr(diag.msg, "address already in use"));
    hale_http_server_close(a, count_done, &done);
    hale_http_server_close(b, count_done, &done);
    assert_int_equal(done, 0); /* done_cb never runs from inside close */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(done, 2);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_string_equal(hale_http_status_text(404), "Not Found");
    assert_string_equal(hale_http_status_text(431), "Request Header Fields Too Large");
    assert_true(!strcmp(hale_http_status_text(299), "Unknown") &&
                !strcmp(hale_http_status_text(-1), "Unknown"));
}

int main(void)
{
    struct CMUnitTest tests[sizeof(cases) / sizeof(cases[0]) + 1] = {
        cmocka_unit_test(listen_errors_and_status_text)};
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        tests[i + 1] = (struct CMUnitTest){cases[i].name, run_case, NULL, NULL, &cases[i]};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
