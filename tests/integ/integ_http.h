/* tests/integ/integ_http.h - a tiny HTTP/1.1 client over blocking sockets for the integration
 * tests (127.0.0.1 only): keep-alive connections that can pipeline, one-shot requests, chunked
 * and Content-Length bodies, JSON answers through jansson, raw socket helpers for malformed and
 * slow requests, and a reader for Prometheus text metrics. Every call takes a deadline. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INTEG_HTTP_TIMEOUT_MS 10000u /* default deadline of one request */

/* One parsed response. Zero-initialise; release with integ_resp_release(). */
typedef struct integ_resp {
    int status;      /* 100..599 */
    char *head;      /* status line and header lines, NUL-terminated (owned) */
    char *body;      /* body, NUL-terminated (owned); "" when empty */
    size_t body_len; /* bytes in body */
    bool close;      /* the server said Connection: close */
} integ_resp;

/* A client connection; bytes read past one response stay buffered for the next. */
typedef struct integ_conn {
    int fd;        /* -1 when not connected */
    uint16_t port; /* 127.0.0.1:port */
    char *buf;     /* received, not yet consumed (owned) */
    size_t len;    /* bytes in buf */
    size_t cap;    /* allocated */
} integ_conn;

void integ_conn_init(integ_conn *c, uint16_t port);
/* Connect (closing any previous socket). Returns 0 or -errno (-ETIMEDOUT). */
int integ_conn_connect(integ_conn *c, unsigned timeout_ms);
void integ_conn_close(integ_conn *c); /* also frees the buffer; safe to call twice */
/* Send all of data. Returns 0 or -errno (-EPIPE, -ECONNRESET, -ETIMEDOUT). */
int integ_conn_send(integ_conn *c, const void *data, size_t len, unsigned timeout_ms);
/* Send data, but stop early once the server has something to say (an early 413 and close);
 * a send error after that point is not an error. Returns 0, or -errno when the connection
 * failed before any answer arrived. */
int integ_conn_send_until_reply(integ_conn *c, const void *data, size_t len, unsigned timeout_ms);
/* Read one whole response. Returns 0, -ETIMEDOUT, -ECONNABORTED (closed before a whole
 * response), -EPROTO (not HTTP) or -errno. After a Connection: close answer the socket is
 * closed. */
int integ_conn_read_response(integ_conn *c, unsigned timeout_ms, integ_resp *ret);
/* Send a request (connecting first when needed) and read its response, keeping the
 * connection open unless the server closes it. content_type and body may be NULL (no body, no
 * Content-Length). Returns as integ_conn_read_response(); on any error the socket is closed. */
int integ_conn_request(integ_conn *c, const char *method, const char *path,
                       const char *content_type, const char *body, size_t body_len,
                       unsigned timeout_ms, integ_resp *ret);
/* Wait up to timeout_ms for the server to close: true on EOF or reset (bytes that arrive
 * meanwhile are kept in the buffer), false on timeout. */
bool integ_conn_wait_closed(integ_conn *c, unsigned timeout_ms);

/* The request text integ_conn_request() sends, as a new NUL-terminated string (caller
 * frees); extra_headers (may be NULL) is inserted verbatim ("X: y\r\n"). NULL on ENOMEM. */
char *integ_http_format(uint16_t port, const char *method, const char *path,
                        const char *content_type, const char *extra_headers, const char *body,
                        size_t body_len, size_t *ret_len);

/* One request on a new connection, closed afterwards. Returns as integ_conn_request(). */
int integ_http(uint16_t port, const char *method, const char *path, const char *content_type,
               const char *body, size_t body_len, integ_resp *ret);
/* GET path and parse the body as JSON. Returns the status (and *ret, caller decrefs, NULL
 * when the body is not JSON) or -errno. */
int integ_get_json(uint16_t port, const char *path, json_t **ret);
/* POST a JSON text with Content-Type application/json. Returns the status or -errno; *ret
 * (may be NULL) as integ_get_json(). */
int integ_post_json(uint16_t port, const char *path, const char *json_text, json_t **ret);

/* GET /api/v1/incidents/{id}. Polls (up to settle_ms) until the "alerts" array holds at
 * least alerts_total entries, so tests that are about something else do not depend on how
 * soon the membership list catches up; test_dedup.c checks that separately. Returns the
 * status of the last answer and *ret (caller decrefs) or -errno. */
int integ_get_incident(uint16_t port, long long id, unsigned settle_ms, json_t **ret);

void integ_resp_release(integ_resp *r);
/* Value of header name (case-insensitive, first occurrence) copied into out; NULL when absent. */
const char *integ_resp_header(const integ_resp *r, const char *name, char *out, size_t out_size);
json_t *integ_resp_json(const integ_resp *r); /* NULL when the body is not JSON */
/* Whether the body is exactly {"error": {"code": string, "message": non-empty string}} with
 * no other members, and code equals want_code when that is non-NULL. */
bool integ_resp_is_error(const integ_resp *r, const char *want_code);

/* Raw sockets: a connected blocking TCP socket to 127.0.0.1:port (CLOEXEC) or -errno. */
int integ_sock_connect(uint16_t port, unsigned timeout_ms);
/* Send all bytes (MSG_NOSIGNAL). Returns 0 or -errno. */
int integ_sock_send(int fd, const void *data, size_t len, unsigned timeout_ms);

/* The value of one sample in Prometheus text: series is the name with its labels exactly as
 * printed ("hale_incidents{state=\"open\"}") or a bare name. Returns 0 or -ENOENT. */
int integ_metric(const char *text, const char *series, double *ret);
