/* agent/audit/merkle_int.h - helpers shared by merkle.c and merkle_proof.c; no other module
 * includes this. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "hale/merkle.h"

/* SHA-256(0x01 || left || right) over children of any length. hale_merkle_node_hash() is this
 * with two hashes; the RFC 6962 hasher known answer (node("N123", "N456")) uses 4-byte children,
 * so tests reach it here. ret may alias either input. */
void hale__merkle_hash_children(const void *left, size_t left_len, const void *right,
                                size_t right_len, hale_hash *ret);

/* Set bits of v: the number of perfect subtrees (frontier nodes) of a tree of v leaves. */
static inline unsigned merkle_popcount(uint64_t v)
{
    unsigned n = 0;

    for (; v; v &= v - 1)
        n++;
    return n;
}

/* The RFC 6962 split of n > 1 leaves: the largest power of two strictly smaller than n. */
static inline uint64_t merkle_split(uint64_t n)
{
    uint64_t k = 1;

    while (k < n - k) /* k * 2 < n without overflowing */
        k <<= 1;
    return k;
}
