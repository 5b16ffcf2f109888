/* tests/fakes/fake_llm.h - an OpenAI-compatible (POST /v1/chat/completions) or Anthropic
 * (POST /v1/messages) gateway on 127.0.0.1, scripted per case. Each request takes the next
 * step of the script (the default step once the script is spent), and its body is recorded.
 * One thread per connection, blocking I/O, keep-alive as real gateways do: simple enough to
 * trust. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/llm.h"

typedef struct fake_llm fake_llm;

typedef enum fake_llm_act {
    FAKE_LLM_ANSWER = 0, /* 200 with content as the model's text (valid or not for the schema) */
    FAKE_LLM_MALFORMED,  /* 200 whose body is not JSON at all */
    FAKE_LLM_TRUNCATED,  /* 200, finish_reason "length" / stop_reason "max_tokens" */
    FAKE_LLM_STATUS,     /* status with the format's error envelope (and Retry-After) */
    FAKE_LLM_RESET,      /* read the request, then reset the connection (RST) */
    FAKE_LLM_TOOL_CALL,  /* 200 where the model calls a tool ("run_shell") instead of answering */
} fake_llm_act;

typedef struct fake_llm_step {
    fake_llm_act act;
    const char *content;     /* ANSWER / TRUNCATED: the text (copied); NULL: a fixed valid one */
    int status;              /* STATUS: 429, 500, 503, ... */
    const char *retry_after; /* STATUS: Retry-After value ("1", "0.2") or NULL */
    unsigned delay_ms;       /* wait this long before acting (slow answers) */
    unsigned tokens_in;      /* usage reported; 0: 100 */
    unsigned tokens_out;     /* usage reported; 0: 20 */
} fake_llm_step;

/* The valid answer used when content is NULL: {"summary": "disk full", "severity": "high"}. */
extern const char fake_llm_default_answer[];

int fake_llm_start(hale_llm_kind kind, fake_llm **ret); /* 0 or -errno */
uint16_t fake_llm_port(const fake_llm *f);
/* "http://127.0.0.1:PORT" into out. */
void fake_llm_base_url(const fake_llm *f, char *out, size_t out_size);
void fake_llm_push(fake_llm *f, const fake_llm_step *s);        /* append to the script */
void fake_llm_set_default(fake_llm *f, const fake_llm_step *s); /* after the script */
unsigned fake_llm_requests(fake_llm *f);                        /* requests received */
/* Monotonic ms (uv_hrtime / 1e6) at which request i arrived. */
uint64_t fake_llm_request_ms(fake_llm *f, unsigned i);
/* A copy of request i's body (caller frees), or NULL. */
char *fake_llm_body(fake_llm *f, unsigned i);
/* A copy of request i's key header value (Authorization or x-api-key), or NULL. */
char *fake_llm_key(fake_llm *f, unsigned i);
/* Does any recorded body contain needle, raw or after JSON-decoding its strings? */
bool fake_llm_saw(fake_llm *f, const char *needle);
void fake_llm_stop(fake_llm *f); /* waits for its threads; NULL is a no-op */
