/* agent/http/http_int.h - private to agent/http: the server, connection and request structs
 * shared by http_server.c (listener, accept, drain, close), http_conn.c (reading, timers,
 * closing), http_parse.c (http_parser callbacks), http_write.c (responses) and http_req.c.
 * Lifetimes: a connection is refcounted (its handles, and the request the handler owns);
 * the server is refcounted (its owner, its handles and every connection not yet freed). */
#pragma once
#include <http_parser.h>
#include <uv.h>

#include "hale/http.h"
#include "util/buf.h"

#define HTTP_READ_BUF_BYTES  (64u * 1024u) /* the server's shared read buffer */
#define HTTP_KEEP_BUF_BYTES  (64u * 1024u) /* larger per-connection buffers are freed after use */
#define HTTP_LINGER_MS       2000u         /* read and discard after a closing response */
#define HTTP_ACCEPT_RETRY_MS 100u          /* retry accept after an allocation failure */
#define HTTP_LISTEN_BACKLOG  511
/* While more response bytes than this wait in user space for a peer that does not read, no
 * further request is parsed: a client cannot make the server queue answers without bound. */
#define HTTP_WRITE_BACKLOG_BYTES (64u * 1024u)

/* Hold buffer ceiling: a full read may land on top of a buffer just below the pipeline cap. */
#define HTTP_HOLD_MAX_BYTES (HALE_MAX_PIPELINE_BYTES + HTTP_READ_BUF_BYTES)
/* Request line and headers as stored: names, values and URL each gain a NUL. */
#define HTTP_HDR_MAX_BYTES (HALE_MAX_HEADER_BYTES + HALE_MAX_URL_BYTES + 2u * HALE_MAX_HEADERS + 8u)
/* A response head without extra headers never exceeds this (status line, three headers). */
#define HTTP_HEAD_MAX_BYTES 512u

/* An intrusive doubly linked list node; a list head is a node linked to itself. */
struct http_link {
    struct http_link *prev; /* previous node, or the head */
    struct http_link *next; /* next node, or the head */
};

enum http_timer_mode {
    HTTP_TIMER_NONE = 0, /* stopped: the handler owns a request, or the connection closes */
    HTTP_TIMER_IDLE,     /* waiting for the first byte of the next request */
    HTTP_TIMER_REQUEST,  /* a request is arriving: fixed deadline from its first byte */
    HTTP_TIMER_WRITE,    /* a response is not yet handed to the kernel */
    HTTP_TIMER_LINGER,   /* after shutdown: discard input until EOF or this deadline */
};

enum http_hdr_state {
    HTTP_HS_URL = 0, /* receiving the request target */
    HTTP_HS_FIELD,   /* receiving a header name */
    HTTP_HS_VALUE,   /* receiving a header value */
    HTTP_HS_DONE,    /* headers complete; trailers are ignored */
};

/* Offsets into conn->hdr (not pointers: the buffer may move while it grows). */
struct http_header {
    uint32_t name;  /* offset of the NUL-terminated name */
    uint32_t value; /* offset of the NUL-terminated value */
};

struct hale__http_conn;

/* The connection that embeds list node n as member. */
#define HTTP_CONN_OF(n, member)                                                                    \
    ((struct hale__http_conn *)(void *)((char *)(n)-offsetof(struct hale__http_conn, member)))

struct hale_http_req {
    struct hale__http_conn *conn; /* the connection it arrived on; holds one reference */
    const char *method;           /* static string from http_method_str() */
    const char *path;             /* in conn->hdr */
    const char *query;            /* in conn->hdr, or "" */
    const char *label;            /* static, "none" unless the handler set one */
    uint64_t start_ms;            /* uv_now when its first byte was read */
    uint64_t start_ns;            /* uv_hrtime at message begin, for the observer */
    bool keep_alive;              /* http_should_keep_alive() and no upgrade */
    bool is_head;                 /* HEAD: the response carries no body */
};

/* One queued response; the write owns its buffer. One is cached per connection. */
struct http_wreq {
    uv_write_t req;               /* req.data is unused */
    struct hale__http_conn *conn; /* the connection written to */
    hale_buf buf;                 /* the whole response: head and body */
};

struct hale__http_conn {
    uv_tcp_t tcp;                 /* the client socket; data points to this conn */
    uv_timer_t timer;             /* the one deadline timer, see tmode */
    uv_shutdown_t shutdown;       /* used once, before lingering */
    uv_write_t oom_write;         /* the bare 500 when a response cannot be allocated */
    http_parser parser;           /* parser.data points to this conn */
    hale_http_server *server;     /* holds one server reference until the conn is freed */
    struct http_link link;        /* in server->conns */
    struct http_link resume_link; /* in server->resume while held bytes wait to be parsed */
    hale_http_limits lim;         /* limits the current request began with */
    hale_http_req req;            /* the request being parsed or owned by the handler */
    hale_buf hdr;                 /* URL\0 then name\0value\0 pairs of the current request */
    struct http_header hdrs[HALE_MAX_HEADERS]; /* the headers in arrival order */
    unsigned n_hdrs;                           /* used entries of hdrs */
    size_t url_len;                            /* bytes of URL received */
    size_t hdr_bytes;           /* request line and header bytes counted against the limit */
    hale_buf body;              /* the current request's body */
    hale_buf hold;              /* bytes read but not parsed while a request is out */
    size_t hold_off;            /* parsed prefix of hold */
    struct http_wreq *wfree;    /* one cached write request, or NULL */
    unsigned refs;              /* open handles count as 1, the request out as 1 */
    unsigned open_handles;      /* tcp and timer until their close callbacks ran */
    unsigned writes_pending;    /* uv_write calls not yet called back */
    enum http_timer_mode tmode; /* what the deadline is for */
    uint64_t tdeadline;         /* uv_now ms of the deadline, UINT64_MAX when disabled */
    uint64_t tarmed;            /* when the uv timer fires; it may fire early and re-arm */
    enum http_hdr_state hstate; /* where the header callbacks are */
    uint64_t rx_ms;             /* uv_now when the bytes being parsed arrived */
    int fail_status;            /* status for a failure found in a parser callback */
    const char *fail_code;      /* static error code for fail_status */
    char fail_msg[128];         /* error message for fail_status */
    bool counted;               /* counted in server->connections */
    bool in_msg;                /* a request has begun and is not complete */
    bool req_out;               /* the handler owns req */
    bool in_dispatch;           /* inside the handler call: respond must not re-parse */
    bool close_after_write;     /* no more requests: shut down once writes drain */
    bool eof;                   /* the peer finished sending */
    bool reading;               /* uv_read_start is active */
    bool lingering;             /* shut down; discarding input until EOF or the deadline */
    bool closing;               /* uv_close called on the handles */
};

struct hale_http_server {
    uv_loop_t *loop;                /* borrowed */
    uv_tcp_t listener;              /* valid when listen_state is not NONE */
    uv_idle_t resume_idle;          /* runs resume while connections wait in resume */
    uv_timer_t retry_timer;         /* accept retry after an allocation failure */
    hale_http_limits limits;        /* current limits, copied into each new request */
    hale_http_handler_fn handler;   /* called once per complete request */
    void *handler_ud;               /* for handler */
    hale_http_observer_fn observer; /* NULL or called once per response */
    void *observer_ud;              /* for observer */
    struct http_link conns;         /* every connection not yet freed */
    struct http_link resume;        /* connections whose held bytes wait for the idle pass */
    hale_buf scratch;               /* error bodies are built here */
    char *rbuf;                     /* the shared read buffer, HTTP_READ_BUF_BYTES */
    size_t connections;             /* open client connections counted against the limit */
    size_t pending;                 /* requests owned by the handler */
    unsigned refs;                  /* owner, open handles, connections; freed at 0 */
    uint16_t port;                  /* bound port, 0 before listen */
    bool listening;                 /* the listener handle is initialised and not closed */
    bool listener_used;             /* listen was called once (the handle cannot be reused) */
    bool draining;                  /* hale_http_server_drain was called */
    bool closing;                   /* hale_http_server_close was called */
    void (*done_cb)(void *ud);      /* from hale_http_server_close */
    void *done_ud;                  /* for done_cb */
};

static inline size_t hale__http_hold_len(const struct hale__http_conn *conn)
{
    return conn->hold.len - conn->hold_off;
}

static inline bool hale__http_write_backlog(const struct hale__http_conn *conn)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&conn->tcp) >
           HTTP_WRITE_BACKLOG_BYTES;
}

/* Intrusive lists (http_server.c). */
void hale__http_list_init(struct http_link *head);
void hale__http_list_insert(struct http_link *head, struct http_link *node);
void hale__http_list_remove(struct http_link *node); /* a removed node may be removed again */
bool hale__http_list_is_empty(const struct http_link *head);

/* Server (http_server.c). */
void hale__http_server_unref(hale_http_server *s);
/* Parse conn's held bytes from the idle pass (never from inside respond or the handler). */
void hale__http_server_schedule_resume(hale_http_server *s, struct hale__http_conn *conn);

/* Connections (http_conn.c). */
/* Accept one pending connection from the listener. Returns 0 or -errno (nothing accepted). */
int hale__http_conn_accept(hale_http_server *s);
void hale__http_conn_close(struct hale__http_conn *conn); /* idempotent */
void hale__http_conn_unref(struct hale__http_conn *conn);
/* Re-evaluate closing, lingering, reading and the timer after any state change. */
void hale__http_conn_settle(struct hale__http_conn *conn);
/* Parse held bytes (and dispatch what completes) until a request is out or bytes run out. */
void hale__http_conn_resume(struct hale__http_conn *conn);
bool hale__http_conn_is_idle(const struct hale__http_conn *conn);

/* Parsing (http_parse.c). */
void hale__http_parse_init(struct hale__http_conn *conn);
/* Feed data to conn's parser. Returns 1 when a message is complete (parser paused, req
 * ready), 0 when all of data was consumed, or -1 after a failure (conn->fail_* set).
 * *ret_parsed gets the bytes consumed. */
int hale__http_parse(struct hale__http_conn *conn, const char *data, size_t len,
                     size_t *ret_parsed);
/* Forget the finished request's buffers (keeps small allocations for the next one). */
void hale__http_parse_reset(struct hale__http_conn *conn);

/* Writing (http_write.c). */
/* Queue a server-generated JSON error with Connection: close. Observer label "none". */
void hale__http_conn_send_error(struct hale__http_conn *conn, int status, const char *code,
                                const char *message);
/* Queue "HTTP/1.1 100 Continue". Returns 0 or -ENOMEM. */
int hale__http_conn_send_continue(struct hale__http_conn *conn);
void hale__http_wreq_free_cache(struct hale__http_conn *conn);
