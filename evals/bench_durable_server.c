/* evals/bench_durable_server.c - the floor of a durable intake: the baseline server's HTTP
 * (same libuv, same http_parser, one loop thread) plus the least work that makes an
 * acknowledgment durable with SQLite: each request's body becomes one row (id, received_ms,
 * body) of a table without secondary indexes, the requests that arrived during the previous
 * commit are committed together in one transaction on a worker thread (WAL, synchronous=FULL,
 * 8 KiB pages, as hale), and each 200 is written only after its transaction committed. No
 * parsing, no validation, no second table. Whatever hale does beyond this is hale's own cost;
 * what this server cannot reach, no SQLite-durable intake reaches on the machine.
 * Usage: bench_durable_server PORT DB (127.0.0.1; SIGINT or SIGTERM stops it). */
#include <sqlite3.h>
#include <stdbool.h>
#include <string.h>

#include "bench_server.h"

#define MAX_BODY_BYTES  (1024 * 1024)
#define MAX_BATCH_ITEMS 4096

static char ok_response[] = "HTTP/1.1 200 OK\r\n"
                            "Content-Type: application/json\r\n"
                            "Content-Length: 15\r\n"
                            "Connection: keep-alive\r\n"
                            "\r\n"
                            "{\"status\":\"ok\"}";
static char fail_response[] = "HTTP/1.1 503 Service Unavailable\r\n"
                              "Content-Type: application/json\r\n"
                              "Content-Length: 18\r\n"
                              "Connection: close\r\n"
                              "\r\n"
                              "{\"status\":\"error\"}";

struct conn {
    struct bench_conn base; /* socket and parser */
    char *body;             /* the body of the request being read (owned) */
    size_t len, cap;        /* its bytes and allocation */
    unsigned refs;          /* the socket plus one per request in a batch */
    bool close;             /* the last request asked to close */
    bool closing;           /* uv_close called */
};

struct item {
    struct conn *conn; /* holds a reference */
    char *body;        /* owned */
    size_t len;
};

struct batch {
    uv_work_t work;
    struct item items[MAX_BATCH_ITEMS];
    size_t n;
    int rc; /* SQLITE_OK when committed */
};

static uv_check_t check;
static struct batch batches[2], *filling = &batches[0];
static bool committing;
static sqlite3 *db;
static sqlite3_stmt *insert;

static void conn_unref(struct conn *c)
{
    if (--c->refs == 0) {
        free(c->body);
        free(c);
    }
}

static void on_closed(uv_handle_t *h)
{
    conn_unref(h->data);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->base.tcp, on_closed);
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;

    if (c->len + len > MAX_BODY_BYTES)
        return 1;
    if (c->len + len > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        char *nb;

        while (cap < c->len + len)
            cap *= 2;
        if (!(nb = realloc(c->body, cap)))
            return 1;
        c->body = nb;
        c->cap = cap;
    }
    memcpy(c->body + c->len, at, len);
    c->len += len;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct conn *c = p->data;

    if (filling->n == MAX_BATCH_ITEMS)
        return 1; /* the connection is closed; nothing was acknowledged */
    if (!http_should_keep_alive(p))
        c->close = true;
    filling->items[filling->n++] = (struct item){c, c->body, c->len};
    c->refs++;
    c->body = NULL;
    c->len = c->cap = 0;
    return 0;
}

static const http_parser_settings settings = {.on_body = on_body,
                                              .on_message_complete = on_message_complete};

static void commit_work(uv_work_t *w)
{
    struct batch *b = w->data;
    sqlite3_int64 now = (sqlite3_int64)(uv_hrtime() / 1000000u);
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

    for (size_t i = 0; rc == SQLITE_OK && i < b->n; i++) {
        sqlite3_bind_int64(insert, 1, now);
        sqlite3_bind_blob(insert, 2, b->items[i].body, (int)b->items[i].len, SQLITE_STATIC);
        rc = sqlite3_step(insert) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset(insert);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    else
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    b->rc = rc;
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;

    if (status < 0 || c->close)
        conn_close(c);
    conn_unref(c);
    free(req);
}

static void start_commit(void);

static void commit_done(uv_work_t *w, int status)
{
    struct batch *b = w->data;

    for (size_t i = 0; i < b->n; i++) {
        struct conn *c = b->items[i].conn;
        bool ok = status == 0 && b->rc == SQLITE_OK;
        uv_write_t *req = c->closing ? NULL : malloc(sizeof(*req));
        uv_buf_t buf = ok ? uv_buf_init(ok_response, sizeof(ok_response) - 1)
                          : uv_buf_init(fail_response, sizeof(fail_response) - 1);

        free(b->items[i].body);
        if (!ok)
            c->close = true;
        if (req) {
            req->data = c;
            if (uv_write(req, (uv_stream_t *)&c->base.tcp, &buf, 1, on_write) == 0)
                continue; /* on_write drops the item's reference */
            free(req);
            conn_close(c);
        }
        conn_unref(c);
    }
    b->n = 0;
    committing = false;
    start_commit();
}

static void start_commit(void)
{
    struct batch *b = filling;

    if (committing || b->n == 0)
        return;
    filling = b == &batches[0] ? &batches[1] : &batches[0];
    b->work.data = b;
    committing = uv_queue_work(uv_default_loop(), &b->work, commit_work, commit_done) == 0;
    if (!committing) {
        fprintf(stderr, "bench_durable_server: cannot queue a commit\n");
        exit(1);
    }
}

static void on_check(uv_check_t *h)
{
    (void)h;
    start_commit();
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
    if (HTTP_PARSER_ERRNO(&c->base.p) != HPE_OK || n != (size_t)nread || c->base.p.upgrade)
        conn_close(c);
}

static void opened(void *c)
{
    ((struct conn *)c)->refs = 1; /* the socket's */
}

static void close_conn(void *c)
{
    conn_close(c);
}

static int open_db(const char *path)
{
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA page_size = 8192; PRAGMA journal_mode = WAL; "
                     "PRAGMA synchronous = FULL; CREATE TABLE IF NOT EXISTS events (id INTEGER "
                     "PRIMARY KEY, received_ms INTEGER NOT NULL, body BLOB NOT NULL);",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO events (received_ms, body) VALUES (?1, ?2)", -1,
                           &insert, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench_durable_server: %s: %s\n", path, sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const struct bench_server_ops ops = {.conn_size = sizeof(struct conn),
                                         .opened = opened,
                                         .close = close_conn,
                                         .on_read = on_read,
                                         .extra = (uv_handle_t *)&check};
    uv_loop_t *loop = uv_default_loop();
    long port = argc == 3 ? bench_port(argv[1]) : 0;

    if (port == 0) {
        fprintf(stderr, "usage: %s PORT DB\n", argv[0]);
        return 2;
    }
    if (open_db(argv[2]) < 0 || bench_listen(loop, port, &ops) != 0)
        return 1;
    uv_check_init(loop, &check);
    uv_check_start(&check, on_check);
    fprintf(stderr, "bench_durable_server listening on 127.0.0.1:%ld, storing in %s\n", port,
            argv[2]);
    uv_run(loop, UV_RUN_DEFAULT);
    sqlite3_finalize(insert);
    sqlite3_close(db);
    return uv_loop_close(loop) == 0 ? 0 : 1;
}
