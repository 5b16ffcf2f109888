/* agent/llm/llm_int.h - private to agent/llm: the transport over curl multi and libuv, the
 * wire formats, and the prompt helpers the client shares with rendering. */
#pragma once
#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "hale/llm.h"
#include "util/buf.h"

#define HALE_LLM_MAX_PROMPT_BYTES (4u * 1024u * 1024u) /* one rendered prompt */

/* ---- llm_prompt.c ---- */
int hale__prompt_parse_template(hale_prompt *p, const char *text, size_t len, const char *file,
                                hale_diag *reterr);
/* Append s without control and invisible characters (invalid UTF-8 becomes U+FFFD). */
int hale__prompt_sanitize(const char *s, size_t n, hale_buf *out);
/* Append the redaction of s; fails closed (nothing appended) with the redactor's error. */
int hale__redact_into(hale_redact_session *rs, const char *s, size_t n, hale_buf *out);
/* Append value (untrusted) as a delimited, sanitized, redacted data section called name. */
int hale__prompt_data_section(hale_redact_session *rs, const char *name, const char *value,
                              size_t len, hale_buf *out);

/* ---- llm_transport.c: HTTP POSTs on curl multi, sockets and timer on the loop ---- */
typedef struct hale__llm_http hale__llm_http;
typedef struct hale__llm_xfer hale__llm_xfer;

/* What a finished transfer produced; valid during the callback. */
typedef struct hale__llm_reply {
    int error;              /* 0, HALE_EUPSTREAM (connect, reset, ...), -ETIMEDOUT, HALE_ELIMIT
                               (body over HALE_LLM_MAX_ANSWER_BYTES) */
    const char *curl_error; /* "" or curl's message */
    long status;            /* HTTP status, 0 without a response */
    const char *body;       /* NUL-terminated, "" when none */
    size_t body_len;
    int64_t retry_after_ms; /* from retry-after-ms or Retry-After (seconds), -1 when absent */
} hale__llm_reply;

typedef void (*hale__llm_xfer_cb)(const hale__llm_reply *rep, void *ud);

int hale__llm_http_new(uv_loop_t *loop, hale__llm_http **ret);
/* Abort every transfer (no callbacks), close the handles; done(ud) runs after the last close. */
void hale__llm_http_close(hale__llm_http *h, void (*done)(void *ud), void *ud);
/* POST body (copied) to url with the header lines (copied); cb runs once, later, unless the
 * transfer is cancelled first. Returns 0 or -ENOMEM / HALE_EUPSTREAM. */
int hale__llm_http_post(hale__llm_http *h, const char *url, const char *const *headers,
                        size_t n_headers, const char *body, size_t len, uint64_t timeout_ms,
                        hale__llm_xfer_cb cb, void *ud, hale__llm_xfer **ret);
/* Abort one transfer; its callback never runs. */
void hale__llm_http_cancel(hale__llm_http *h, hale__llm_xfer *x);
unsigned hale__llm_http_active(const hale__llm_http *h);

/* ---- llm_wire.c: request bodies and answers of both formats ---- */
/* The JSON request for kind; system and user are already redacted. Caller frees. */
char *hale__llm_wire_request(hale_llm_kind kind, const char *model, uint32_t max_tokens,
                             const char *system, const char *user, size_t *ret_len);
/* What a 200 response carries. */
typedef struct hale__llm_answer {
    char *text; /* the model's text (owned), NULL when none */
    size_t len;
    bool truncated;     /* finish_reason length / stop_reason max_tokens */
    uint64_t tokens_in; /* 0 when the server gave no usage */
    uint64_t tokens_out;
} hale__llm_answer;
/* Parse a 2xx response body. Returns 0, HALE_EPARSE (reterr says what was wrong) or -ENOMEM. */
int hale__llm_wire_answer(hale_llm_kind kind, const char *body, size_t len, hale__llm_answer *ret,
                          hale_diag *reterr);
void hale__llm_answer_release(hale__llm_answer *a);
/* The error message of a non-2xx body (error.message, message, or the start of the body). */
void hale__llm_wire_error(const char *body, size_t len, char *out, size_t out_size);

/* ---- the client (llm.c: API, queue, budgets; llm_route.c: attempts; llm_cache.c) ---- */
#include <sqlite3.h>

#include "util/hashmap.h"

enum { HALE__BREAKER_CLOSED = 0, HALE__BREAKER_OPEN = 1, HALE__BREAKER_HALF_OPEN = 2 };

typedef struct hale__llm_gw {
    hale_llm_gateway conf;         /* strings point at the copies below */
    char *name, *base_url, *model; /* owned copies */
    char *url;                     /* the endpoint for conf.kind */
    char *key_header;              /* "Authorization: Bearer K" / "x-api-key: K" in
                                      sodium_malloc memory; NULL when no key is configured */
    unsigned failures;             /* consecutive failed attempts */
    int breaker;                   /* HALE__BREAKER_* */
    uint64_t opened_ms;            /* uv_now when it last opened */
} hale__llm_gw;

typedef struct hale__llm_spend {
    uint64_t tokens; /* prompt and answer tokens */
    double usd;      /* their cost */
} hale__llm_spend;

typedef struct hale__llm_call hale__llm_call;
struct hale__llm_call {
    hale_llm *c;                 /* owner */
    hale__llm_call *prev, *next; /* every call not yet finished */
    hale__llm_call *qnext;       /* waiting for a slot */
    hale_llm_cb cb;              /* completion */
    void *ud;
    const hale_prompt *prompt; /* borrowed */
    char *incident;            /* budget key or NULL */
    hale_redact_session *rs;   /* borrowed, or owned when own_rs */
    bool own_rs;
    char *system;        /* redacted instructions */
    char *user;          /* rendered, redacted prompt */
    char *repair;        /* redacted repair prompt, once an answer was invalid */
    size_t gw;           /* gateway being tried */
    unsigned retry;      /* retries spent on it */
    bool probe;          /* this call holds gw's half-open probe */
    bool finished;       /* callback ran */
    bool holds_slot;     /* counted in in_flight */
    uv_timer_t timer;    /* backoff, and deferred delivery; closing it frees the call */
    hale__llm_xfer *x;   /* transfer under way or NULL */
    uint64_t start_ms;   /* uv_now at submit */
    hale_llm_result res; /* what the callback gets */
    char error[512];     /* res.error */
};

struct hale_llm {
    uv_loop_t *loop;    /* borrowed */
    hale_llm_options o; /* copy; o.gateways unused */
    hale__llm_gw *gw;   /* n_gw entries, fallback order */
    size_t n_gw;
    const hale_redact *rules;        /* borrowed */
    hale__llm_http *http;            /* transport */
    hale_map *incidents;             /* incident id -> hale__llm_spend * */
    int64_t day;                     /* UTC day of day_spend */
    hale__llm_spend day_spend;       /* today's */
    hale__llm_call *calls;           /* unfinished calls */
    hale__llm_call *q_head, *q_tail; /* waiting for a slot */
    unsigned queued, in_flight;
    hale_llm_stats stats;
    uint64_t rng;                                    /* jitter */
    sqlite3_stmt *cache_get, *cache_put, *cache_del; /* NULL without a cache */
    unsigned live; /* calls not yet freed, plus 1 for http until it closed */
    bool closing;
    void (*done)(void *ud);
    void *done_ud;
};

/* llm.c */
void hale__llm_finish(hale__llm_call *k, int status);
void hale__llm_charge(hale_llm *c, const char *incident, uint64_t tokens, double usd);
bool hale__llm_over_budget(const hale_llm *c, const char *incident);
/* llm_route.c */
void hale__llm_route_start(hale__llm_call *k);
/* llm_cache.c */
int hale__llm_cache_open(hale_llm *c);
void hale__llm_cache_close(hale_llm *c);
/* Look up an answer for any gateway's model; 0 and *ret (and gateway index) on a hit. */
int hale__llm_cache_get(hale_llm *c, const hale_llm_schema *s, const uint8_t prompt_sha[32],
                        json_t **ret, size_t *ret_gw);
void hale__llm_cache_put(hale_llm *c, const hale__llm_gw *g, const hale_llm_schema *s,
                         const uint8_t prompt_sha[32], const json_t *answer);
