/* agent/audit/merkle_proof.c - RFC 9162 inclusion and consistency proofs: generation over an
 * array of leaf hashes (the store and the tests) and verification (`hale audit verify`, SECURITY.md
 * 1.12 step 10). Verification follows the RFC's step lists literally, in constant memory. */
#include "internal.h"

#include "audit/merkle_int.h"
#include "hale/merkle.h"

static bool hash_eq(const hale_hash *a, const hale_hash *b)
{
    return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

/* Proof generation collects the hashes top-down, while descending from the root, but the RFC
 * orders them bottom-up. */
static void reverse(hale_hash *h, size_t n)
{
    hale_hash t;
    size_t i;

    for (i = 0; i < n / 2; i++) {
        t = h[i];
        h[i] = h[n - 1 - i];
        h[n - 1 - i] = t;
    }
}

/* RFC 9162 2.1.3.1 PATH(m, D[n]), iteratively. With out == NULL only counts the hashes. */
static size_t inclusion_walk(const hale_hash *leaves, uint64_t size, uint64_t index, hale_hash *out)
{
    uint64_t lo = 0, n = size, m = index, k;
    size_t cnt = 0;

    while (n > 1) {
        k = merkle_split(n);
        if (m < k) { /* PATH(m, D[0:k]) : MTH(D[k:n]) */
            if (out)
                hale_merkle_root(leaves + lo + k, n - k, &out[cnt]);
            n = k;
        } else { /* PATH(m - k, D[k:n]) : MTH(D[0:k]) */
            if (out)
                hale_merkle_root(leaves + lo, k, &out[cnt]);
            lo += k;
            m -= k;
            n -= k;
        }
        cnt++;
    }
    return cnt;
}

int hale_merkle_inclusion_proof(const hale_hash *leaves, uint64_t size, uint64_t index,
                                hale_hash *ret_proof, size_t cap)
{
    size_t n;

    if (index >= size || size > HALE_MERKLE_MAX_SIZE)
        return -EINVAL;
    n = inclusion_walk(leaves, size, index, NULL);
    if (n > cap)
        return -ENOBUFS;
    (void)inclusion_walk(leaves, size, index, ret_proof);
    reverse(ret_proof, n);
    return (int)n;
}

/* Where consistency_walk gets MTH(D[start:start+n]) from: an array of every leaf, or a compact
 * range of the old tree plus the leaves after it. Returns 0 or -EINVAL for a range the source
 * cannot produce (never happens for ranges the walk asks for). */
struct range_src {
    const hale_hash *leaves;         /* every leaf, or the leaves after old */
    const hale_merkle_frontier *old; /* NULL, or the compact range of the old tree */
};

/* MTH of old's nodes covering exactly [start, start+n): folded right to left, as
 * hale_merkle_frontier_root folds the whole range. */
static int frontier_range_root(const hale_merkle_frontier *f, uint64_t start, uint64_t n,
                               hale_hash *out)
{
    uint64_t pos = 0, covered = 0, bit;
    int first = -1, last = -1;

    for (unsigned i = 0, b = 64; i < f->n_nodes; i++) {
        while (b > 0 && !((f->size >> (b - 1)) & 1))
            b--;
        bit = UINT64_C(1) << (b - 1);
        b--;
        if (pos >= start && pos + bit <= start + n) {
            if (first < 0)
                first = (int)i;
            last = (int)i;
            covered += bit;
        }
        pos += bit;
    }
    if (first < 0 || covered != n)
        return -EINVAL;
    *out = f->nodes[last];
    for (int i = last - 1; i >= first; i--)
        hale_merkle_node_hash(&f->nodes[i], out, out);
    return 0;
}

static int range_root(const struct range_src *src, uint64_t start, uint64_t n, hale_hash *out)
{
    if (!src->old) {
        hale_merkle_root(src->leaves + start, n, out);
        return 0;
    }
    if (start >= src->old->size) {
        hale_merkle_root(src->leaves + (start - src->old->size), n, out);
        return 0;
    }
    return start + n <= src->old->size ? frontier_range_root(src->old, start, n, out) : -EINVAL;
}

/* RFC 9162 2.1.4.1 SUBPROOF(m, D[n], b), iteratively; the descent ends where m == n, and
 * contributes MTH(D[m]) there unless that subtree is the old tree itself (b still true). The
 * old tree always ends at lo + m, so every range asked for lies wholly before or after it. */
static int consistency_walk(const struct range_src *src, uint64_t size1, uint64_t size2,
                            hale_hash *out)
{
    uint64_t lo = 0, n = size2, m = size1, k;
    bool b = true;
    int cnt = 0;

    while (m != n) {
        k = merkle_split(n);
        if (m <= k) { /* SUBPROOF(m, D[0:k], b) : MTH(D[k:n]) */
            if (out && range_root(src, lo + k, n - k, &out[cnt]) < 0)
                return -EINVAL;
            n = k;
        } else { /* SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]) */
            if (out && range_root(src, lo, k, &out[cnt]) < 0)
                return -EINVAL;
            lo += k;
            m -= k;
            n -= k;
            b = false;
        }
        cnt++;
    }
    if (!b) {
        if (out && range_root(src, lo, m, &out[cnt]) < 0)
            return -EINVAL;
        cnt++;
    }
    return cnt;
}

static int consistency_proof(const struct range_src *src, uint64_t size1, uint64_t size2,
                             hale_hash *ret_proof, size_t cap)
{
    int n, r;

    if (size1 == 0 || size1 > size2 || size2 > HALE_MERKLE_MAX_SIZE)
        return -EINVAL;
    n = consistency_walk(src, size1, size2, NULL);
    if ((size_t)n > cap)
        return -ENOBUFS;
    if ((r = consistency_walk(src, size1, size2, ret_proof)) < 0)
        return r;
    reverse(ret_proof, (size_t)n);
    return n;
}

int hale_merkle_consistency_proof(const hale_hash *leaves, uint64_t size1, uint64_t size2,
                                  hale_hash *ret_proof, size_t cap)
{
    struct range_src src = {leaves, NULL};

    return consistency_proof(&src, size1, size2, ret_proof, cap);
}

int hale_merkle_consistency_proof_extend(const hale_merkle_frontier *old,
                                         const hale_hash *new_leaves, uint64_t n_new,
                                         hale_hash *ret_proof, size_t cap)
{
    struct range_src src = {new_leaves, old};

    if (n_new > HALE_MERKLE_MAX_SIZE - old->size)
        return -EINVAL;
    return consistency_proof(&src, old->size, old->size + n_new, ret_proof, cap);
}

/* Step ii of both verifications: right-shift fn and sn until LSB(fn) is set or fn is 0. */
static void shift_to_set_bit(uint64_t *fn, uint64_t *sn)
{
    while (*fn != 0 && (*fn & 1) == 0) {
        *fn >>= 1;
        *sn >>= 1;
    }
}

int hale_merkle_verify_inclusion(const hale_hash *leaf, uint64_t index, uint64_t size,
                                 const hale_hash *proof, size_t n_proof, const hale_hash *root)
{
    uint64_t fn, sn;
    hale_hash r;
    size_t i;

    if (!leaf || !root || (n_proof > 0 && !proof))
        return -EINVAL;
    /* 1. index >= size fails; the bounds keep every loop below finite and small. */
    if (index >= size || size > HALE_MERKLE_MAX_SIZE || n_proof > HALE_MERKLE_MAX_PROOF)
        return HALE_EPROOF;
    /* 2.-3. */
    fn = index;
    sn = size - 1;
    r = *leaf;
    /* 4. */
    for (i = 0; i < n_proof; i++) {
        if (sn == 0) /* a. the proof is too long */
            return HALE_EPROOF;
        if ((fn & 1) || fn == sn) { /* b. */
            hale_merkle_node_hash(&proof[i], &r, &r);
            shift_to_set_bit(&fn, &sn);
        } else {
            hale_merkle_node_hash(&r, &proof[i], &r);
        }
        fn >>= 1; /* c. */
        sn >>= 1;
    }
    /* 5. sn != 0 means the proof was too short. */
    return sn == 0 && hash_eq(&r, root) ? 0 : HALE_EPROOF;
}

/* Element i of the consistency path: the proof, with first_hash prepended when first is an exact
 * power of two (step 2). Indexing instead of copying keeps verification allocation-free. */
static const hale_hash *path_at(const hale_hash *root1, bool prepended, const hale_hash *proof,
                                size_t i)
{
    if (prepended)
        return i == 0 ? root1 : &proof[i - 1];
    return &proof[i];
}

int hale_merkle_verify_consistency(uint64_t size1, uint64_t size2, const hale_hash *root1,
                                   const hale_hash *root2, const hale_hash *proof, size_t n_proof)
{
    uint64_t fn, sn;
    hale_hash fr, sr;
    const hale_hash *c;
    bool prepend;
    size_t i, n_path;

    if (!root1 || !root2 || (n_proof > 0 && !proof))
        return -EINVAL;
    /* RFC 9162 2.1.4.2 is stated for 0 < first < second; first == second is the empty proof of
     * 2.1.4.1 and proves only that the heads are equal. */
    if (size1 == 0 || size1 > size2 || size2 > HALE_MERKLE_MAX_SIZE ||
        n_proof > HALE_MERKLE_MAX_PROOF)
        return HALE_EPROOF;
    if (size1 == size2)
        return n_proof == 0 && hash_eq(root1, root2) ? 0 : HALE_EPROOF;
    if (n_proof == 0) /* 1. */
        return HALE_EPROOF;
    prepend = (size1 & (size1 - 1)) == 0; /* 2. */
    n_path = n_proof + (prepend ? 1 : 0);
    fn = size1 - 1; /* 3. */
    sn = size2 - 1;
    while (fn & 1) { /* 4. */
        fn >>= 1;
        sn >>= 1;
    }
    fr = *path_at(root1, prepend, proof, 0); /* 5. */
    sr = fr;
    for (i = 1; i < n_path; i++) { /* 6. */
        c = path_at(root1, prepend, proof, i);
        if (sn == 0) /* a. the proof is too long */
            return HALE_EPROOF;
        if ((fn & 1) || fn == sn) { /* b. */
            hale_merkle_node_hash(c, &fr, &fr);
            hale_merkle_node_hash(c, &sr, &sr);
            shift_to_set_bit(&fn, &sn);
        } else {
            hale_merkle_node_hash(&sr, c, &sr);
        }
        fn >>= 1; /* c. */
        sn >>= 1;
    }
    /* 7. */
    return sn == 0 && hash_eq(&fr, root1) && hash_eq(&sr, root2) ? 0 : HALE_EPROOF;
}
