/* evals/bench_baseline_server.c - the yardstick for the HTTP server's throughput: a minimal
 * HTTP/1.1 server on the same libuv and the same http_parser as hale, one loop thread, that
 * answers every request 200 with a tiny JSON body and keep-alive, and does nothing else.
 * It parses every request fully (headers and body pass through the parser) but keeps none of
 * it. Usage: bench_baseline_server PORT (127.0.0.1; SIGINT or SIGTERM stops it). */
#include <stdbool.h>
#include <string.h>

#include "bench_server.h"

#define MAX_BATCH 64 /* responses written by one uv_write (pipelined requests) */

/* uv_buf_t takes a char *; libuv never writes through it. */
static char response[] = "HTTP/1.1 200 OK\r\n"
                         "Content-Type: application/json\r\n"
                         "Content-Length: 15\r\n"
                         "Connection: keep-alive\r\n"
                         "\r\n"
                         "{\"status\":\"ok\"}";

struct conn {
    struct bench_conn base; /* socket and parser */
    unsigned complete;      /* requests completed in the current read */
    bool close;             /* the last request asked to close */
    bool closing;           /* uv_close called */
};

struct wreq {
    uv_write_t req;           /* one write for a batch of responses */
    struct conn *conn;        /* the connection written to */
    uv_buf_t bufs[MAX_BATCH]; /* each points at response */
};

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
    uv_close((uv_handle_t *)&c->base.tcp, on_closed);
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
        if (uv_write(&w->req, (uv_stream_t *)&c->base.tcp, w->bufs, n, on_write) < 0) {
            free(w);
            conn_close(c);
            return;
        }
        c->complete -= n;
    }
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
    n = http_parser_execute(&c->base.p, &settings, buf->base, (size_t)nread);
    send_responses(c);
    if (HTTP_PARSER_ERRNO(&c->base.p) != HPE_OK || n != (size_t)nread || c->base.p.upgrade)
        conn_close(c);
}

static void opened(void *c)
{
    (void)c;
    open_conns++;
}

static void close_conn(void *c)
{
    conn_close(c);
}

int main(int argc, char **argv)
{
    const struct bench_server_ops ops = {.conn_size = sizeof(struct conn),
                                         .opened = opened,
                                         .close = close_conn,
                                         .on_read = on_read};
    uv_loop_t *loop = uv_default_loop();
    long port = argc == 2 ? bench_port(argv[1]) : 0;

    if (port == 0) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    if (bench_listen(loop, port, &ops) != 0)
        return 1;
    fprintf(stderr, "bench_baseline_server listening on 127.0.0.1:%ld\n", port);
    uv_run(loop, UV_RUN_DEFAULT);
    return uv_loop_close(loop) == 0 ? 0 : 1;
}
