/* evals/bench_server.h - what the intake benchmark's yardstick servers (bench_baseline_server.c,
 * bench_durable_server.c) share: keep-alive connections with one http_parser each, reads into
 * one buffer, listening on 127.0.0.1, and closing everything at SIGINT or SIGTERM. Header-only:
 * each server stays one small program of its own, on nothing but libuv and http_parser. */
#pragma once
#include <http_parser.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#define BENCH_READ_BUF_BYTES (64 * 1024)

/* The first member of each server's connection. */
struct bench_conn {
    uv_tcp_t tcp;  /* the client socket; tcp.data is the connection */
    http_parser p; /* one parser per connection; p.data is the connection */
};

/* What a server plugs in. */
struct bench_server_ops {
    size_t conn_size;           /* the size of its connection (zeroed when made) */
    void (*opened)(void *conn); /* called for each new connection before reading; may be NULL */
    void (*close)(void *conn);  /* close a connection; called again for one already closing */
    uv_read_cb on_read;         /* bytes arrived on a connection */
    uv_handle_t *extra;         /* one more handle to close at a signal, or NULL */
};

static struct bench_server_ops bench_ops;
static uv_tcp_t bench_listener;
static uv_signal_t bench_sigint, bench_sigterm;
static char bench_read_buf[BENCH_READ_BUF_BYTES]; /* callbacks run one stream at a time */

static void bench_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(bench_read_buf, sizeof(bench_read_buf));
}

static void bench_on_connection(uv_stream_t *server, int status)
{
    struct bench_conn *c;

    if (status < 0 || !(c = calloc(1, bench_ops.conn_size)))
        return;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    if (bench_ops.opened)
        bench_ops.opened(c);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        bench_ops.close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->p, HTTP_REQUEST);
    c->p.data = c;
    if (uv_read_start((uv_stream_t *)&c->tcp, bench_on_alloc, bench_ops.on_read) < 0)
        bench_ops.close(c);
}

static void bench_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h) && h->type == UV_TCP && h != (uv_handle_t *)&bench_listener)
        bench_ops.close(h->data);
}

static void bench_on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    uv_close((uv_handle_t *)&bench_listener, NULL);
    uv_close((uv_handle_t *)&bench_sigint, NULL);
    uv_close((uv_handle_t *)&bench_sigterm, NULL);
    if (bench_ops.extra)
        uv_close(bench_ops.extra, NULL);
    uv_walk(s->loop, bench_close_walk, NULL);
}

/* The port in arg (1-65535), or 0. */
static long bench_port(const char *arg)
{
    char *end = NULL;
    long port = strtol(arg, &end, 10);

    return end && *end == '\0' && port > 0 && port <= 65535 ? port : 0;
}

/* Listen on 127.0.0.1:port with ops and stop at SIGINT or SIGTERM; the caller then runs the
 * loop. Returns 0, or 1 after saying why on stderr. */
static int bench_listen(uv_loop_t *loop, long port, const struct bench_server_ops *ops)
{
    struct sockaddr_in addr;
    int r;

    bench_ops = *ops;
    uv_ip4_addr("127.0.0.1", (int)port, &addr);
    uv_tcp_init(loop, &bench_listener);
    r = uv_tcp_bind(&bench_listener, (const struct sockaddr *)&addr, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&bench_listener, 511, bench_on_connection);
    if (r < 0) {
        fprintf(stderr, "cannot listen on 127.0.0.1:%ld: %s\n", port, uv_strerror(r));
        return 1;
    }
    uv_signal_init(loop, &bench_sigint);
    uv_signal_init(loop, &bench_sigterm);
    uv_signal_start(&bench_sigint, bench_on_signal, SIGINT);
    uv_signal_start(&bench_sigterm, bench_on_signal, SIGTERM);
    return 0;
}
