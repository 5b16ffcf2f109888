/* evals/bench_baseline_server.c - the yardstick for the HTTP server's throughput: a minimal
 * HTTP/1.1 server on the same libuv and the same http_parser as hale, one loop thread, that
 * answers every request 200 with a tiny JSON body and keep-alive, and does nothing else.
 * It parses every request fully (headers and body pass through the parser) but keeps none of
 * it. Usage: bench_baseline_server PORT (127.0.0.1; SIGINT or SIGTERM stops it). */
#include <http_parser.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define READ_BUF_BYTES (64 * 1024)
#define MAX_BATCH      64 /* responses written by one uv_write (pipelined requests) */

/* uv_buf_t takes a char *; libuv never writes through it. */
static char response[] = "HTTP/1.1 200 OK\r\n"
                         "Content-Type: application/json\r\n"
                         "Content-Length: 15\r\n"
                         "Connection: keep-alive\r\n"
                         "\r\n"
                         "{\"status\":\"ok\"}";

struct conn {
    uv_tcp_t tcp;      /* the client socket */
    http_parser p;     /* one parser per connection */
    unsigned complete; /* requests completed in the current read */
    bool close;        /* the last request asked to close */
    bool closing;      /* uv_close called */
};

struct wreq {
    uv_write_t req;           /* one write for a batch of responses */
    struct conn *conn;        /* the connection written to */
    uv_buf_t bufs[MAX_BATCH]; /* each points at response */
};

static char read_buf[READ_BUF_BYTES]; /* one buffer: callbacks run one stream at a time */
static uv_tcp_t listener;
static uv_signal_t sigint, sigterm;
static unsigned open_conns;

static void on_closed(uv_handle_t *h)
{
    free(h->data);
    open_conns--;
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static int on_message_complete(http_parser *p)
{
    struct conn *c = p->data;

    c->complete++;
    if (!http_should_keep_alive(p))
        c->close = true;
    return 0;
}

static const http_parser_settings settings = {.on_message_complete = on_message_complete};

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;

    if (status < 0 || w->conn->close)
        conn_close(w->conn);
    free(w);
}

static void send_responses(struct conn *c)
{
    unsigned n, i;
    struct wreq *w;

    while (c->complete > 0) {
        n = c->complete < MAX_BATCH ? c->complete : MAX_BATCH;
        w = malloc(sizeof(*w));
        if (!w) {
            conn_close(c);
            return;
        }
        w->conn = c;
        for (i = 0; i < n; i++)
            w->bufs[i] = uv_buf_init(response, (unsigned)(sizeof(response) - 1));
        if (uv_write(&w->req, (uv_stream_t *)&c->tcp, w->bufs, n, on_write) < 0) {
            free(w);
            conn_close(c);
            return;
        }
        c->complete -= n;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = st->data;
    size_t n;

    if (nread <= 0) {
        if (nread < 0)
            conn_close(c);
        return;
    }
    n = http_parser_execute(&c->p, &settings, buf->base, (size_t)nread);
    send_responses(c);
    if (HTTP_PARSER_ERRNO(&c->p) != HPE_OK || n != (size_t)nread || c->p.upgrade)
        conn_close(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct conn *c;

    if (status < 0)
        return;
    c = calloc(1, sizeof(*c));
    if (!c)
        return;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    open_conns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->p, HTTP_REQUEST);
    c->p.data = c;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        conn_close(c);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h) && h->type == UV_TCP && h != (uv_handle_t *)&listener)
        conn_close(h->data);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    uv_close((uv_handle_t *)&listener, NULL);
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_walk(s->loop, close_walk, NULL);
}

int main(int argc, char **argv)
{
    uv_loop_t *loop = uv_default_loop();
    struct sockaddr_in addr;
    long port;
    int r;

    if (argc != 2 || (port = strtol(argv[1], NULL, 10)) <= 0 || port > 65535) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    uv_ip4_addr("127.0.0.1", (int)port, &addr);
    uv_tcp_init(loop, &listener);
    r = uv_tcp_bind(&listener, (const struct sockaddr *)&addr, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&listener, 511, on_connection);
    if (r < 0) {
        fprintf(stderr, "cannot listen on 127.0.0.1:%ld: %s\n", port, uv_strerror(r));
        return 1;
    }
    uv_signal_init(loop, &sigint);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    fprintf(stderr, "bench_baseline_server listening on 127.0.0.1:%ld\n", port);
    uv_run(loop, UV_RUN_DEFAULT);
    return uv_loop_close(loop) == 0 ? 0 : 1;
}
