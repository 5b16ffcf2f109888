/* tests/fakes/fake_prom.h - a Prometheus /api/v1/query_range stand-in on 127.0.0.1, scripted
 * per case: each request takes the next step (the last step repeats once the script is spent)
 * and its form body is recorded. Runs hale's own HTTP server on a thread of its own. */
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct fake_prom fake_prom;

typedef struct fake_prom_step {
    int status;        /* HTTP status; 0 means 200 */
    const char *body;  /* answer (copied when the script is set); NULL: a one-series matrix of
                        * three points ending at the request's end time, value 1 */
    size_t pad_bytes;  /* append this many spaces to the body (oversized answers) */
    unsigned delay_ms; /* wait before answering (timeouts) */
} fake_prom_step;

int fake_prom_start(fake_prom **ret); /* 0 or -errno */
uint16_t fake_prom_port(const fake_prom *f);
/* Replace the script (at most 16 steps, copied) and reset the request count. */
void fake_prom_script(fake_prom *f, const fake_prom_step *steps, size_t n);
unsigned fake_prom_requests(fake_prom *f);
/* The last request's form body into out (NUL-terminated, cut to size). */
void fake_prom_last_body(fake_prom *f, char *out, size_t size);
void fake_prom_stop(fake_prom *f); /* NULL is a no-op */
