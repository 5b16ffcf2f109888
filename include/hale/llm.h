/* include/hale/llm.h - the LLM gateway client and its prompts.
 * A prompt (hale_prompt) is a template prompts/NAME@VERSION.txt with named variables {{name}}
 * and the closed JSON schema prompts/NAME@VERSION.schema.json its answer must match. Every
 * variable is untrusted text: it is redacted, stripped of invisible characters and placed in
 * a delimited data section, never spliced into the instructions.
 * The client (hale_llm) sends a rendered prompt to OpenAI-compatible Chat Completions or
 * Anthropic Messages gateways over curl multi driven by the caller's libuv loop: ordered
 * fallback, retries with backoff and jitter honouring Retry-After, a circuit breaker per
 * gateway, a concurrency limit, token and cost budgets (degraded mode beyond them), one repair
 * attempt for an invalid answer and an optional response cache. Every text that leaves passes
 * hale_redact first; a redaction failure blocks the send. The client does not log and does
 * not audit: each result carries the digests and figures the caller writes to the audit log.
 * Everything runs on the loop thread. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "hale/diag.h"
#include "hale/redact.h"
#include "hale/store.h"

typedef struct hale_prompt hale_prompt;
typedef struct hale_llm hale_llm;
typedef struct hale_llm_schema hale_llm_schema;

#define HALE_LLM_MAX_GATEWAYS     16u        /* entries in a gateway list */
#define HALE_LLM_MAX_ANSWER_BYTES (1u << 20) /* a gateway response body beyond this is refused */
#define HALE_LLM_MAX_SCHEMA_DEPTH 8u         /* nesting of a schema */
#define HALE_LLM_MAX_VARS         32u        /* variables of one prompt */
#define HALE_LLM_MAX_QUEUE        4096u      /* calls waiting for a slot beyond max_in_flight */
#define HALE_LLM_MAX_INCIDENTS    65536u     /* incident budget tallies kept */

/* ---- schemas ----------------------------------------------------------------------------- */

/* Compile a closed schema: "type" one of object, array, string, integer, number, boolean;
 * objects need "properties" and "additionalProperties": false and may list "required";
 * "enum" (of strings or numbers), "maxLength" (strings) and "items" (arrays, required) are
 * the only other keywords; anything else is refused. name is used in messages. On success
 * *ret is owned by the caller. Returns 0, HALE_ESCHEMA (reterr: "NAME: PATH: reason") or
 * -ENOMEM. */
int hale_llm_schema_parse(const char *json, size_t len, const char *name, hale_llm_schema **ret,
                          hale_diag *reterr);
void hale_llm_schema_free(hale_llm_schema *s); /* NULL is a no-op */

/* The schema as the JSON text it was compiled from (canonical form); borrowed. */
const char *hale_llm_schema_text(const hale_llm_schema *s);

/* Parse text (an answer) with duplicate keys, NUL bytes and invalid UTF-8 refused, and
 * validate it against s. On success *ret is a new reference owned by the caller. Returns 0,
 * HALE_EPARSE / HALE_EUTF8 (not JSON) or HALE_ESCHEMA (reterr: "$.path: what was wrong"). */
int hale_llm_answer_parse(const hale_llm_schema *s, const char *text, size_t len, json_t **ret,
                          hale_diag *reterr);

/* ---- prompts ----------------------------------------------------------------------------- */

/* Load NAME@VERSION (NAME and VERSION of [A-Za-z0-9._-]) from dir: the template
 * DIR/NAME@VERSION.txt and the schema DIR/NAME@VERSION.schema.json. Returns 0, -errno,
 * HALE_ECONFIG (bad id, bad template or schema, reterr says which file and why) or -ENOMEM. */
int hale_prompt_load(const char *dir, const char *id, hale_prompt **ret, hale_diag *reterr);
void hale_prompt_free(hale_prompt *p);                           /* NULL is a no-op */
const char *hale_prompt_id(const hale_prompt *p);                /* "NAME@VERSION", borrowed */
const hale_llm_schema *hale_prompt_schema(const hale_prompt *p); /* borrowed */

/* One variable of a rendering: value is untrusted text of len bytes. */
typedef struct hale_prompt_var {
    const char *name;  /* as written between {{ and }} */
    const char *value; /* borrowed */
    size_t len;        /* bytes of value */
} hale_prompt_var;

/* Render p with vars through the redaction session rs (its placeholders stay consistent with
 * the rest of the incident): every literal part and every value is redacted; each value is
 * stripped of control and invisible characters and wrapped in a data section
 * "<<<DATA name N>>>\n...\n<<<END N>>>" whose nonce N (16 hex digits) is derived from the
 * redacted value. On success *ret is a NUL-terminated string the caller frees, *ret_len its
 * length and ret_sha256 (may be NULL) its SHA-256. Returns 0, HALE_ECONFIG (a variable the
 * template names is missing, reterr says which), HALE_ELIMIT or -ENOMEM (redaction failed:
 * nothing is rendered). */
int hale_prompt_render(const hale_prompt *p, const hale_prompt_var *vars, size_t n_vars,
                       hale_redact_session *rs, char **ret, size_t *ret_len, uint8_t ret_sha256[32],
                       hale_diag *reterr);

/* ---- gateways ---------------------------------------------------------------------------- */

typedef enum hale_llm_kind {
    HALE_LLM_OPENAI = 0, /* POST BASE/v1/chat/completions, Authorization: Bearer */
    HALE_LLM_ANTHROPIC,  /* POST BASE/v1/messages, x-api-key, anthropic-version 2023-06-01 */
} hale_llm_kind;

/* One gateway, as configuration describes it (agent/config key "llm"). Strings borrowed. */
typedef struct hale_llm_gateway {
    const char *name;         /* for results and metrics */
    hale_llm_kind kind;       /* wire format */
    const char *base_url;     /* "https://api.openai.com", "http://127.0.0.1:8000" */
    const char *model;        /* sent as "model" */
    const char *api_key_env;  /* NULL or the environment variable holding the key */
    const char *api_key_file; /* NULL or a file (mode 0600 or stricter) holding the key */
    uint64_t timeout_ms;      /* one attempt, connect to last byte */
    uint32_t max_tokens;      /* answer tokens asked for */
    double usd_per_1k_in;     /* price of 1000 prompt tokens */
    double usd_per_1k_out;    /* price of 1000 answer tokens */
} hale_llm_gateway;

typedef struct hale_llm_options {
    const hale_llm_gateway *gateways; /* in fallback order; copied */
    size_t n_gateways;                /* 1 to HALE_LLM_MAX_GATEWAYS */
    unsigned max_in_flight;           /* calls under way at once; more wait in a queue */
    unsigned retries;                 /* further attempts on one gateway after a retryable error */
    uint64_t backoff_base_ms;         /* delay before retry n: min(base*2^n, max)*(1-0.25*rand) */
    uint64_t backoff_max_ms;          /* and the cap; a Retry-After beyond it moves on instead */
    unsigned breaker_failures;        /* consecutive failed calls that open a gateway's breaker */
    uint64_t breaker_open_ms;         /* how long it stays open before one half-open probe */
    uint64_t incident_max_tokens;     /* per incident id; 0: no limit */
    double incident_max_usd;          /* per incident id; 0: no limit */
    uint64_t day_max_tokens;          /* per UTC day; 0: no limit */
    double day_max_usd;               /* per UTC day; 0: no limit */
    uint64_t cache_ttl_ms;            /* 0: no cache */
    hale_store *cache;                /* the store holding table llm_cache (borrowed), or NULL */
} hale_llm_options;

/* Defaults: max_in_flight 16, retries 2, backoff 500 ms to 8 s, breaker 5 failures / 30 s,
 * no budgets, no cache. gateways is left empty. */
void hale_llm_options_default(hale_llm_options *ret);

/* Create a client on loop. Keys are read now (env or 0600 file; a file readable by group or
 * others is refused) and kept in locked memory; they never appear in results or messages.
 * rules is borrowed and must outlive the client. Returns 0, HALE_ECONFIG (reterr says which
 * gateway and why) or -ENOMEM. */
int hale_llm_new(uv_loop_t *loop, const hale_llm_options *o, const hale_redact *rules,
                 hale_llm **ret, hale_diag *reterr);

/* Cancel every call (each callback runs with HALE_ECLOSING), close the handles and free the
 * client in the last close callback; done_cb (may be NULL) runs after. */
void hale_llm_close(hale_llm *c, void (*done_cb)(void *ud), void *ud);

/* What one call produced; valid during the callback only. */
typedef struct hale_llm_result {
    int status;                  /* 0; HALE_ESCHEMA: the answer (and its repair) was invalid and
                                    is discarded; HALE_EUPSTREAM: every gateway failed or is open;
                                    HALE_ECLOSING: the client closed first; -ENOMEM */
    json_t *answer;              /* the validated answer (borrowed; json_incref to keep) or NULL */
    const char *gateway;         /* name of the gateway that answered last, or "" */
    const char *model;           /* its model, or "" */
    const char *error;           /* "" or why the call failed / why the answer was discarded */
    uint8_t prompt_sha256[32];   /* of the rendered, redacted prompt */
    uint8_t request_sha256[32];  /* of the last request body sent (zero if none) */
    uint8_t response_sha256[32]; /* of the last response body received (zero if none) */
    uint64_t tokens_in;          /* summed over the attempts */
    uint64_t tokens_out;         /* summed over the attempts */
    double cost_usd;             /* summed over the attempts */
    uint64_t latency_ms;         /* submit to callback */
    unsigned attempts;           /* HTTP requests sent */
    bool cached;                 /* answered from the cache, nothing sent */
    bool repaired;               /* the first answer was invalid and the repair was valid */
    bool discarded;              /* an invalid answer was discarded (status HALE_ESCHEMA) */
} hale_llm_result;

typedef void (*hale_llm_cb)(const hale_llm_result *res, void *ud);

/* One call: prompt and variables as for hale_prompt_render. */
typedef struct hale_llm_call {
    const hale_prompt *prompt;   /* borrowed until the callback */
    const hale_prompt_var *vars; /* copied at submit */
    size_t n_vars;
    const char *incident_id; /* budget key (copied); NULL: only the daily budget applies */
    hale_redact_session *rs; /* borrowed until the callback; NULL: a session per call */
} hale_llm_call;

/* Render, redact and queue a call. On success returns 0 and cb runs exactly once later.
 * Returns without calling back: HALE_ELIMIT (budget exhausted: degraded mode, or queue full),
 * HALE_ECONFIG (missing variable), redaction failures, HALE_ECLOSING or -ENOMEM. */
int hale_llm_submit(hale_llm *c, const hale_llm_call *call, hale_llm_cb cb, void *ud,
                    hale_diag *reterr);

/* True once the daily budget is spent (local-only until the next UTC day), or, with
 * incident_id, when that incident's budget is spent. */
bool hale_llm_is_degraded(const hale_llm *c, const char *incident_id);

/* Figures for metrics. */
typedef struct hale_llm_stats {
    uint64_t calls, answered, failed, discarded, cache_hits, attempts;
    uint64_t day_tokens; /* today's tokens */
    double day_usd;      /* today's cost */
    unsigned in_flight;  /* calls holding a slot */
    unsigned queued;     /* calls waiting for one */
} hale_llm_stats;
void hale_llm_stats_get(const hale_llm *c, hale_llm_stats *ret);

/* State of gateway i's breaker (i in fallback order): 0 closed, 1 open, 2 half-open (one
 * probe under way); -1 when there is no gateway i. */
int hale_llm_breaker_state(const hale_llm *c, size_t i);
size_t hale_llm_gateway_count(const hale_llm *c);

/* Count spend made before this client existed (the llm_call audit leaves of the current UTC
 * day, read back at start), so a restart does not reset the budgets. at_ms is when it was
 * spent: spend of an earlier UTC day counts toward no daily budget. incident_id may be NULL. */
void hale_llm_charge_restored(hale_llm *c, const char *incident_id, uint64_t tokens, double usd,
                              int64_t at_ms);

/* Drop the tally of a closed incident (its budget starts again if the id is reused). The
 * client keeps at most HALE_LLM_MAX_INCIDENTS tallies; beyond that a new incident's spend
 * counts only toward the daily budget. */
void hale_llm_incident_forget(hale_llm *c, const char *incident_id);
