/* tests/fuzz/fuzz_audit_verify.c - libFuzzer target for what the audit verifier reads from
 * outside: leaf bodies (the top-level scanner and its string and integer decoders) and proof
 * files. The first byte chooses. Oracles beyond "no crash, no leak, no undefined behaviour": a
 * decoded string fits its buffer and is NUL-terminated at the returned length, an integer
 * token round-trips through its decimal text, and a proof that parses formats and parses back
 * to the same hashes. Build and run: see docs/testing.md. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/verify_int.h"
#include "hale/audit_verify.h"
#include "hale/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void body(const char *p, size_t n)
{
    hale__audit_tok t[HALE__AF_COUNT];
    char out[64], num[32];
    int64_t v;

    if (hale__audit_body_scan(p, n, t, NULL) < 0)
        return;
    for (int i = 0; i < HALE__AF_COUNT; i++) {
        int len = hale__audit_tok_string(&t[i], out, sizeof(out));

        if (len >= 0 && ((size_t)len >= sizeof(out) || out[len] != '\0'))
            abort();
        if (t[i].type != HALE__TOK_NONE && (t[i].p < p || t[i].p + t[i].len > p + n))
            abort();
        if (hale__audit_tok_int(&t[i], &v) == 0) {
            snprintf(num, sizeof(num), "%" PRId64, v);
            if (strlen(num) != t[i].len || memcmp(num, t[i].p, t[i].len) != 0)
                abort();
        }
    }
}

static void proof(const char *p, size_t n)
{
    hale_audit_proof a, b;
    char *text;

    if (hale_audit_proof_parse(p, n, &a, NULL) < 0)
        return;
    if (hale_audit_proof_format(&a, &text) < 0)
        abort();
    if (hale_audit_proof_parse(text, strlen(text), &b, NULL) < 0 || b.n_hashes != a.n_hashes ||
        memcmp(a.hashes, b.hashes, a.n_hashes * sizeof(a.hashes[0])) != 0)
        abort();
    free(text);
    hale_audit_proof_release(&a);
    hale_audit_proof_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy;

    if (size == 0)
        return 0;
    copy = malloc(size); /* exactly the bytes: an overread past them is a finding */
    if (!copy)
        return 0;
    memcpy(copy, data + 1, size - 1);
    if (data[0] & 1)
        proof(copy, size - 1);
    else
        body(copy, size - 1);
    free(copy);
    return 0;
}
