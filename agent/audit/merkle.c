/* agent/audit/merkle.c - RFC 6962 hashing, tree heads and the compact range ("frontier") that
 * the audit store keeps next to each leaf so that appending stays O(log n). Engine code: pure
 * functions over caller memory, no I/O, no logging. Proofs live in merkle_proof.c. */
#include "internal.h"

#include <sodium.h>

#include "audit/merkle_int.h"
#include "hale/merkle.h"
#include "util/sha256.h"

static_assert(sizeof(hale_hash) == crypto_hash_sha256_BYTES, "hale_hash is one SHA-256 digest");

void hale_merkle_leaf_hash(const void *data, size_t len, hale_hash *ret)
{
    static const uint8_t prefix = 0x00; /* leaf domain (RFC 6962 2.1) */
    const hale_sha256_part parts[2] = {{&prefix, 1}, {data, len}};

    hale_sha256(parts, 2, ret->b);
}

void hale__merkle_hash_children(const void *left, size_t left_len, const void *right,
                                size_t right_len, hale_hash *ret)
{
    static const uint8_t prefix = 0x01; /* interior node domain */
    const hale_sha256_part parts[3] = {{&prefix, 1}, {left, left_len}, {right, right_len}};

    /* Every part is absorbed before ret is written, so ret may alias either input. */
    hale_sha256(parts, 3, ret->b);
}

void hale_merkle_node_hash(const hale_hash *left, const hale_hash *right, hale_hash *ret)
{
    hale__merkle_hash_children(left->b, sizeof(left->b), right->b, sizeof(right->b), ret);
}

void hale_merkle_empty_root(hale_hash *ret)
{
    crypto_hash_sha256_state st;

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_final(&st, ret->b);
}

void hale_merkle_root(const hale_hash *leaves, uint64_t n, hale_hash *ret)
{
    hale_hash left, right;
    uint64_t k;

    if (n == 0) {
        hale_merkle_empty_root(ret);
        return;
    }
    if (n == 1) {
        *ret = leaves[0];
        return;
    }
    /* Recursing into both halves: each level at least halves n, so the depth stays within
     * ceil(log2 n) <= 64 frames. */
    k = merkle_split(n);
    hale_merkle_root(leaves, k, &left);
    hale_merkle_root(leaves + k, n - k, &right);
    hale_merkle_node_hash(&left, &right, ret);
}

void hale_merkle_frontier_init(hale_merkle_frontier *f)
{
    memset(f, 0, sizeof(*f));
}

int hale_merkle_frontier_append(hale_merkle_frontier *f, const hale_hash *leaf)
{
    hale_hash carry = *leaf;
    uint64_t size = f->size;

    if (size >= HALE_MERKLE_MAX_SIZE)
        return HALE_ELIMIT;
    /* A frontier from _init, _append or _decode always holds one node per set bit; anything
     * else was built by hand and would overrun nodes[]. */
    if (HALE_NEVER(f->n_nodes != merkle_popcount(size)))
        return HALE_ESCHEMA;
    /* Binary increment: every trailing 1 bit of size is a perfect subtree of the same height as
     * the carry, so the two merge into one twice as tall. */
    while (size & 1) {
        f->n_nodes--;
        hale_merkle_node_hash(&f->nodes[f->n_nodes], &carry, &carry);
        size >>= 1;
    }
    f->nodes[f->n_nodes++] = carry;
    f->size++;
    return 0;
}

void hale_merkle_frontier_root(const hale_merkle_frontier *f, hale_hash *ret)
{
    hale_hash r;
    unsigned i;

    if (f->size == 0 || HALE_NEVER(f->n_nodes != merkle_popcount(f->size))) {
        hale_merkle_empty_root(ret);
        return;
    }
    /* Fold right to left: the RFC 6962 split always puts the largest perfect subtree on the
     * left, so the head is node(s0, node(s1, ... node(s_{m-2}, s_{m-1}))). */
    r = f->nodes[f->n_nodes - 1];
    for (i = f->n_nodes - 1; i-- > 0;)
        hale_merkle_node_hash(&f->nodes[i], &r, &r);
    *ret = r;
}

size_t hale_merkle_frontier_encoded_len(const hale_merkle_frontier *f)
{
    return 1u + 8u + (size_t)merkle_popcount(f->size) * HALE_MERKLE_HASH_BYTES;
}

int hale_merkle_frontier_encode(const hale_merkle_frontier *f, uint8_t *out, size_t cap)
{
    size_t len = hale_merkle_frontier_encoded_len(f);
    unsigned i;

    if (len > cap)
        return -ENOBUFS;
    if (HALE_NEVER(f->n_nodes != merkle_popcount(f->size)))
        return HALE_ESCHEMA;
    out[0] = HALE_MERKLE_FRONTIER_VERSION;
    for (i = 0; i < 8; i++)
        out[1 + i] = (uint8_t)(f->size >> (56 - 8 * i));
    for (i = 0; i < f->n_nodes; i++)
        memcpy(out + 9 + (size_t)i * HALE_MERKLE_HASH_BYTES, f->nodes[i].b, HALE_MERKLE_HASH_BYTES);
    return (int)len;
}

int hale_merkle_frontier_decode(const uint8_t *buf, size_t len, hale_merkle_frontier *ret)
{
    hale_merkle_frontier f;
    unsigned i;

    if (len < 9 || buf[0] != HALE_MERKLE_FRONTIER_VERSION)
        return HALE_ESCHEMA;
    f.size = 0;
    for (i = 0; i < 8; i++)
        f.size = (f.size << 8) | buf[1 + i];
    if (f.size > HALE_MERKLE_MAX_SIZE)
        return HALE_ESCHEMA;
    f.n_nodes = merkle_popcount(f.size);
    if (len != 9u + (size_t)f.n_nodes * HALE_MERKLE_HASH_BYTES)
        return HALE_ESCHEMA;
    for (i = 0; i < f.n_nodes; i++)
        memcpy(f.nodes[i].b, buf + 9 + (size_t)i * HALE_MERKLE_HASH_BYTES, HALE_MERKLE_HASH_BYTES);
    memset(f.nodes + f.n_nodes, 0, (HALE_MERKLE_MAX_LEVELS - f.n_nodes) * sizeof(f.nodes[0]));
    *ret = f;
    return 0;
}
