/* include/hale/http.h - the HTTP/1.1 server on libuv with libhttp-parser.
 * Keep-alive, pipelining (answered strictly in order), hard limits on headers, body, connections,
 * and idle/request deadlines so a slow client is cut off without blocking others.
 * Everything runs on the loop thread; no function here may be called from another thread. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "hale/diag.h"

typedef struct hale_http_server hale_http_server;
typedef struct hale_http_req hale_http_req;

typedef struct hale_http_limits {
    size_t max_body_bytes;       /* larger declared or streamed body: 413 and close */
    size_t max_header_bytes;     /* request line plus headers beyond this: 431 and close */
    unsigned max_connections;    /* one more is answered 503 and closed at once */
    uint64_t idle_timeout_ms;    /* keep-alive connection with no request under way: closed */
    uint64_t request_timeout_ms; /* first byte of a request to its last body byte: 408, close */
    uint64_t write_timeout_ms;   /* a response not drained by the peer in this time: close */
} hale_http_limits;

/* The limits hale uses when config says nothing: include/hale/limits.h defaults. */
void hale_http_limits_default(hale_http_limits *ret);

/* Called on the loop thread once per complete request. The handler must eventually call
 * hale_http_respond*() exactly once for req, now or from a later callback. */
typedef void (*hale_http_handler_fn)(hale_http_req *req, void *ud);

/* Called after every response is queued for writing, the server's own errors included
 * (label "none" for those), for metrics. duration_ms is from the request's first byte. */
typedef void (*hale_http_observer_fn)(const char *label, int status, double duration_ms, void *ud);

/* Create a server on loop. limits is copied. On success *ret is owned by the caller and
 * released with hale_http_server_close(). Returns 0 or -ENOMEM. */
int hale_http_server_new(uv_loop_t *loop, const hale_http_limits *limits,
                         hale_http_handler_fn handler, void *handler_ud, hale_http_server **ret);

void hale_http_server_set_observer(hale_http_server *s, hale_http_observer_fn fn, void *ud);

/* Replace the limits (config reload); connections already open keep the limits they began
 * their current request with. */
void hale_http_server_set_limits(hale_http_server *s, const hale_http_limits *limits);

/* Bind and listen on host:port (port 0 picks a free one). Returns 0 or a negative libuv/errno
 * code with "cannot listen on 'host:port': reason" in reterr. */
int hale_http_server_listen(hale_http_server *s, const char *host, uint16_t port,
                            hale_diag *reterr);

/* The bound port after a successful listen, else 0. */
uint16_t hale_http_server_port(const hale_http_server *s);

/* Stop accepting connections. Idle keep-alive connections are closed; requests already
 * dispatched are still answered; further requests on open connections get 503. */
void hale_http_server_drain(hale_http_server *s);

/* Requests dispatched to the handler and not yet answered. */
size_t hale_http_server_pending(const hale_http_server *s);
/* Open client connections. */
size_t hale_http_server_connections(const hale_http_server *s);

/* Close the listener and every connection; pending requests become orphans whose later
 * respond only frees them. done_cb (may be NULL) runs once when every handle is closed and
 * every request freed; the server is freed right after done_cb returns. */
void hale_http_server_close(hale_http_server *s, void (*done_cb)(void *ud), void *ud);

/* Request accessors: pointers are borrowed and valid until the request is answered. */
const char *hale_http_req_method(const hale_http_req *req); /* "GET", "POST", ... */
const char *hale_http_req_path(const hale_http_req *req);   /* percent-decoding not applied */
const char *hale_http_req_query(const hale_http_req *req);  /* after '?', "" when none */
/* Case-insensitive lookup; NULL when absent. The first occurrence wins. */
const char *hale_http_req_header(const hale_http_req *req, const char *name);
const char *hale_http_req_body(const hale_http_req *req, size_t *ret_len); /* NUL-terminated */
/* Decoded value of query parameter name into out (NUL-terminated). Returns 0, -ENOENT when
 * absent, -ENOSPC when out is too small, -EINVAL for a bad percent escape. */
int hale_http_req_query_param(const hale_http_req *req, const char *name, char *out,
                              size_t out_size);
/* Label for metrics and logs, a string with static lifetime ("alerts", "incidents", ...). */
void hale_http_req_set_label(hale_http_req *req, const char *static_label);
/* Monotonic ms (uv_now) at which the request's first byte arrived. */
uint64_t hale_http_req_start_ms(const hale_http_req *req);

/* Answer req: status line, Content-Type, Content-Length, Connection, then body (copied).
 * After this call req is gone. When the client has left, this only frees req.
 * Returns 0 or -ENOMEM (req is still answered with a bare 500 and freed). */
int hale_http_respond(hale_http_req *req, int status, const char *content_type, const char *body,
                      size_t len);
/* Extra response header lines ("Allow: GET\r\n"); same as hale_http_respond otherwise. */
int hale_http_respond_hdr(hale_http_req *req, int status, const char *content_type,
                          const char *extra_headers, const char *body, size_t len);
/* {"error": {"code": code, "message": message}} with Content-Type application/json. */
int hale_http_respond_error(hale_http_req *req, int status, const char *code, const char *message);

/* The reason phrase for a status code ("Not Found"); "Unknown" for others. */
const char *hale_http_status_text(int status);
