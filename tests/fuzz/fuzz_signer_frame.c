/* tests/fuzz/fuzz_signer_frame.c - libFuzzer target for the audit signer's frame parsing
 * (agent/audit/signer_proto.c), the code that reads whatever arrives on the signer's socket.
 * Oracles beyond "no crash, no leak, no undefined behaviour": a header is accepted only when
 * its length matches the record, a failure always says why, and a head-with-proof body that
 * parses encodes back to exactly the same bytes. Build and run: see docs/testing.md. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/signer_int.h"
#include "hale/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hale__signer_req req;
    static uint8_t again[HALE__SIGNER_MAX_FRAME];
    hale_diag diag = {{0}};
    unsigned op = 0;
    int n;

    if (hale__signer_check_header(data, size, &op, &diag) < 0) {
        if (!diag.msg[0])
            abort();
        return 0;
    }
    if (size < HALE__SIGNER_HDR || hale__signer_get_u32(data + 4) != size - HALE__SIGNER_HDR ||
        op > 255)
        abort();
    if (hale__signer_req_decode(data + HALE__SIGNER_HDR, size - HALE__SIGNER_HDR, &req, &diag) <
        0) {
        if (!diag.msg[0])
            abort();
        return 0;
    }
    if (req.n_proof > HALE_MERKLE_MAX_PROOF)
        abort();
    n = hale__signer_req_encode(&req, again, sizeof(again));
    if (n < 0 || (size_t)n != size - HALE__SIGNER_HDR ||
        memcmp(again, data + HALE__SIGNER_HDR, (size_t)n) != 0)
        abort();
    return 0;
}
