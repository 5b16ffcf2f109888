/* include/hale/merkle.h - the RFC 6962 / RFC 9162 Merkle tree under the audit log: leaf and node
 * hashes, tree heads, the compact range ("frontier") kept next to each leaf, and inclusion and
 * consistency proofs. SHA-256 through libsodium (SECURITY.md 1.3), so the public vectors apply.
 * Pure functions over caller memory: no I/O, no logging, no allocation, no sodium_init() (the
 * program calls that once in main). Safe from any thread; nothing here calls back. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define HALE_MERKLE_HASH_BYTES 32u /* SHA-256 */

/* The largest tree hale builds, proves or verifies. Every proof in a tree this size fits in
 * HALE_MERKLE_MAX_PROOF hashes (inclusion at most 63, consistency at most 64); trees of up to
 * 2^64 - 1 leaves could need 65. Nothing real comes near: 2^63 leaves is 9.2e18 records.
 * MAX_PROOF bounds every proof hale makes or accepts; MAX_LEVELS bounds the perfect subtrees in
 * a frontier (one per set bit of its size). */
#define HALE_MERKLE_MAX_SIZE   (UINT64_C(1) << 63)
#define HALE_MERKLE_MAX_PROOF  64u
#define HALE_MERKLE_MAX_LEVELS 64u

/* Encoded frontier: a version byte, the size as 8 bytes big-endian, one hash per set bit. */
#define HALE_MERKLE_FRONTIER_VERSION   1u
#define HALE_MERKLE_FRONTIER_MAX_BYTES (1u + 8u + HALE_MERKLE_MAX_LEVELS * HALE_MERKLE_HASH_BYTES)

/* A SHA-256 value: a leaf hash, an interior node or a tree head. A struct, not a bare array, so
 * that it can be assigned, returned and pointed to without decaying. */
typedef struct hale_hash {
    uint8_t b[HALE_MERKLE_HASH_BYTES]; /* the digest bytes, in the order SHA-256 emits them */
} hale_hash;

/* SHA-256(0x00 || data): the hash of one leaf of len bytes (data may be NULL when len is 0). */
void hale_merkle_leaf_hash(const void *data, size_t len, hale_hash *ret);

/* SHA-256(0x01 || left || right): an interior node. ret may alias left or right. */
void hale_merkle_node_hash(const hale_hash *left, const hale_hash *right, hale_hash *ret);

/* MTH({}) = SHA-256() of no bytes, the head of the empty tree. */
void hale_merkle_empty_root(hale_hash *ret);

/* MTH(D[n]) over n leaf hashes (leaves holds at least n), computed by the RFC 6962 definition:
 * the left subtree takes k leaves, k the largest power of two smaller than n. Recursion depth is
 * at most ceil(log2 n); time O(n). n == 0 gives the empty root. */
void hale_merkle_root(const hale_hash *leaves, uint64_t n, hale_hash *ret);

/* The compact range of an append-only tree: the roots of the perfect subtrees that make up the
 * first `size` leaves, largest (leftmost) first, one per set bit of size. A value type: copy it
 * freely; _init it before the first append. Appending and taking the root cost O(log n). */
typedef struct hale_merkle_frontier {
    uint64_t size;                           /* leaves appended so far */
    unsigned n_nodes;                        /* entries in nodes: popcount(size) */
    hale_hash nodes[HALE_MERKLE_MAX_LEVELS]; /* perfect subtree roots, left to right */
} hale_merkle_frontier;

void hale_merkle_frontier_init(hale_merkle_frontier *f); /* the empty tree */

/* Append one leaf hash. Returns 0, or HALE_ELIMIT (f untouched) when f already holds
 * HALE_MERKLE_MAX_SIZE leaves. */
int hale_merkle_frontier_append(hale_merkle_frontier *f, const hale_hash *leaf);

/* The tree head of the f->size leaves appended so far; the empty root when there are none. */
void hale_merkle_frontier_root(const hale_merkle_frontier *f, hale_hash *ret);

/* Bytes the encoding of f takes: 9 + 32 * popcount(size), at most
 * HALE_MERKLE_FRONTIER_MAX_BYTES. */
size_t hale_merkle_frontier_encoded_len(const hale_merkle_frontier *f);

/* Write f's encoding (see HALE_MERKLE_FRONTIER_VERSION above) into out, which has cap bytes.
 * Returns the number of bytes written, or -ENOBUFS (out untouched) when cap is too small. */
int hale_merkle_frontier_encode(const hale_merkle_frontier *f, uint8_t *out, size_t cap);

/* Parse an encoding of len bytes. Returns 0 and fills *ret, or HALE_ESCHEMA (*ret untouched)
 * when the version is unknown, the size exceeds HALE_MERKLE_MAX_SIZE or len does not match the
 * size it declares. The hashes cannot be checked here: a verifier recomputes them from leaves. */
int hale_merkle_frontier_decode(const uint8_t *buf, size_t len, hale_merkle_frontier *ret);

/* The RFC 9162 2.1.3.1 inclusion proof of leaf `index` in the tree of the first `size` hashes of
 * leaves (which holds at least size), written bottom-up into ret_proof (room for cap hashes;
 * HALE_MERKLE_MAX_PROOF always suffices). Returns the number of hashes written (0 for a tree of
 * one leaf), -EINVAL when index >= size or size > HALE_MERKLE_MAX_SIZE, or -ENOBUFS when cap is
 * too small (ret_proof untouched on failure). Time O(size). */
int hale_merkle_inclusion_proof(const hale_hash *leaves, uint64_t size, uint64_t index,
                                hale_hash *ret_proof, size_t cap);

/* The RFC 9162 2.1.4.1 consistency proof between the trees of the first size1 and size2 hashes
 * of leaves (which holds at least size2), into ret_proof as above. Returns the number of hashes
 * written (0 when size1 == size2), -EINVAL unless 0 < size1 <= size2 <= HALE_MERKLE_MAX_SIZE (a
 * proof from the empty tree means nothing), or -ENOBUFS when cap is too small (ret_proof
 * untouched on failure). Time O(size2). */
int hale_merkle_consistency_proof(const hale_hash *leaves, uint64_t size1, uint64_t size2,
                                  hale_hash *ret_proof, size_t cap);

/* The same consistency proof, from the tree whose compact range is old (old->size > 0) to the
 * tree of old->size + n_new leaves, given only the n_new leaf hashes after the old tree
 * (new_leaves may be NULL when n_new is 0). Every hash of the proof is either a node of old or
 * a subtree of the new leaves, so the old leaves are not needed: a log proves consistency from
 * its last signed head with the leaves appended since. Returns as hale_merkle_consistency_proof.
 * Time O(n_new + log size). */
int hale_merkle_consistency_proof_extend(const hale_merkle_frontier *old,
                                         const hale_hash *new_leaves, uint64_t n_new,
                                         hale_hash *ret_proof, size_t cap);

/* Verify, as RFC 9162 2.1.3.2 specifies, that leaf is at index in the tree of `size` leaves whose
 * head is root, given n_proof hashes (proof may be NULL when n_proof is 0). Returns 0 when it
 * does, HALE_EPROOF otherwise: index >= size, size > HALE_MERKLE_MAX_SIZE, a proof that is too
 * long or too short (more than HALE_MERKLE_MAX_PROOF is never read), or a head that does not
 * match. Constant memory, no allocation. */
int hale_merkle_verify_inclusion(const hale_hash *leaf, uint64_t index, uint64_t size,
                                 const hale_hash *proof, size_t n_proof, const hale_hash *root);

/* Verify, as RFC 9162 2.1.4.2 specifies, that the tree of size2 leaves with head root2 extends
 * the tree of size1 leaves with head root1. size1 == size2 needs an empty proof and equal heads;
 * size1 == 0 is always rejected (RFC 9162 requires 0 < first: every tree extends the empty one,
 * so such a proof proves nothing); size1 > size2, size2 > HALE_MERKLE_MAX_SIZE and proofs longer
 * than HALE_MERKLE_MAX_PROOF are rejected. Returns 0 or HALE_EPROOF. Constant memory. */
int hale_merkle_verify_consistency(uint64_t size1, uint64_t size2, const hale_hash *root1,
                                   const hale_hash *root2, const hale_hash *proof, size_t n_proof);
