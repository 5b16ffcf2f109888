/* tests/fuzz/fuzz_bundle.c - libFuzzer target for the evidence bundle verifier: arbitrary bytes
 * as a bundle, checked against a fixed pinned key. Oracles beyond "no crash, no leak, no
 * undefined behaviour": the verifier answers 0, HALE_EPROOF with a message, or -ENOMEM, never
 * anything else, and it never accepts a bundle while describing a failure. Build and run: see
 * docs/testing.md. */
#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hale/audit_query.h"
#include "hale/err.h"
#include "hale/note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char pinned[HALE_NOTE_VKEY_MAX_BYTES];

static void init_key(void)
{
    uint8_t seed[HALE_NOTE_SEED_BYTES];
    hale_note_signer *k = NULL;

    if (sodium_init() < 0)
        abort();
    memset(seed, 0x40, sizeof(seed)); /* the key of tests/test_audit_query.c's logs */
    if (hale_note_signer_from_seed("test.hale/audit", seed, &k) < 0 ||
        hale_note_verifier_format(hale_note_signer_verifier(k), pinned, sizeof(pinned)) < 0)
        abort();
    hale_note_signer_free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hale_audit_bundle_info info = {0};
    hale_diag d = {{0}};
    int r;

    if (!pinned[0])
        init_key();
    r = hale_audit_bundle_verify((const char *)data, size, pinned, &info, &d);
    if (r != 0 && r != HALE_EPROOF && r != -ENOMEM)
        abort();
    if (r == HALE_EPROOF && d.msg[0] == '\0')
        abort();
    if (r == 0 && (info.n_leaves == 0 || info.checkpoint_size == 0))
        abort();
    return 0;
}
