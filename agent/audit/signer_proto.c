/* agent/audit/signer_proto.c - the frames between the daemon and its audit signer (see
 * signer_int.h): big-endian integers, the frame header and the head-with-proof body. Strict: a
 * length that does not add up is an error, never a guess. */
#include "internal.h"

#include "audit/signer_int.h"

void hale__signer_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)(v & 0xFF);
}

void hale__signer_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)(v & 0xFF);
}

uint32_t hale__signer_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

uint64_t hale__signer_get_u64(const uint8_t *p)
{
    return (uint64_t)hale__signer_get_u32(p) << 32 | hale__signer_get_u32(p + 4);
}

void hale__signer_header(uint8_t *hdr, unsigned op, size_t len)
{
    hdr[0] = HALE__SIGNER_PROTO;
    hdr[1] = (uint8_t)op;
    hdr[2] = 0;
    hdr[3] = 0;
    hale__signer_put_u32(hdr + 4, (uint32_t)len);
}

int hale__signer_check_header(const uint8_t *rec, size_t n, unsigned *ret_op, hale_diag *reterr)
{
    uint32_t len;

    if (n < HALE__SIGNER_HDR) {
        hale_diag_set(reterr, "frame of %zu bytes is shorter than the %u-byte header", n,
                      HALE__SIGNER_HDR);
        return HALE_EPARSE;
    }
    if (n > HALE__SIGNER_MAX_FRAME) {
        hale_diag_set(reterr, "frame of %zu bytes exceeds the limit of %u", n,
                      HALE__SIGNER_MAX_FRAME);
        return HALE_EPARSE;
    }
    if (rec[0] != HALE__SIGNER_PROTO) {
        hale_diag_set(reterr, "protocol version %u, expected %u", rec[0], HALE__SIGNER_PROTO);
        return HALE_EPARSE;
    }
    if (rec[2] != 0 || rec[3] != 0) {
        hale_diag_set(reterr, "header flags 0x%02x%02x, expected 0", rec[2], rec[3]);
        return HALE_EPARSE;
    }
    len = hale__signer_get_u32(rec + 4);
    if (len != n - HALE__SIGNER_HDR) {
        hale_diag_set(reterr, "header declares %lu payload bytes, the frame carries %zu",
                      (unsigned long)len, n - HALE__SIGNER_HDR);
        return HALE_EPARSE;
    }
    *ret_op = rec[1];
    return 0;
}

int hale__signer_req_encode(const hale__signer_req *req, uint8_t *out, size_t cap)
{
    size_t need;

    if (req->n_proof > HALE_MERKLE_MAX_PROOF)
        return -EINVAL;
    need = 8u + HALE_MERKLE_HASH_BYTES + 1u + (size_t)req->n_proof * HALE_MERKLE_HASH_BYTES;
    if (cap < need)
        return -ENOBUFS;
    hale__signer_put_u64(out, req->size);
    memcpy(out + 8, req->root.b, HALE_MERKLE_HASH_BYTES);
    out[40] = (uint8_t)req->n_proof;
    for (unsigned i = 0; i < req->n_proof; i++)
        memcpy(out + 41 + (size_t)i * HALE_MERKLE_HASH_BYTES, req->proof[i].b,
               HALE_MERKLE_HASH_BYTES);
    return (int)need;
}

int hale__signer_req_decode(const uint8_t *p, size_t len, hale__signer_req *ret, hale_diag *reterr)
{
    unsigned n;

    if (len < 41) {
        hale_diag_set(reterr, "head of %zu bytes, expected at least 41 (size, root, count)", len);
        return HALE_EPARSE;
    }
    n = p[40];
    if (n > HALE_MERKLE_MAX_PROOF) {
        hale_diag_set(reterr, "proof of %u hashes exceeds the limit of %u", n,
                      HALE_MERKLE_MAX_PROOF);
        return HALE_EPARSE;
    }
    if (len != 41u + (size_t)n * HALE_MERKLE_HASH_BYTES) {
        hale_diag_set(reterr, "head of %zu bytes does not match its proof of %u hashes", len, n);
        return HALE_EPARSE;
    }
    ret->size = hale__signer_get_u64(p);
    memcpy(ret->root.b, p + 8, HALE_MERKLE_HASH_BYTES);
    ret->n_proof = n;
    for (unsigned i = 0; i < n; i++)
        memcpy(ret->proof[i].b, p + 41 + (size_t)i * HALE_MERKLE_HASH_BYTES,
               HALE_MERKLE_HASH_BYTES);
    return 0;
}
