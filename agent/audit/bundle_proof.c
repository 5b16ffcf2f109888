/* agent/audit/bundle_proof.c - inclusion proofs over the stored log without reading all of it.
 * Every hash in an RFC 9162 inclusion proof is the head of an aligned range of leaves. A
 * checkpoint's stored frontier holds the heads of the perfect subtrees that make up its size,
 * so the head of range [a, b) is the fold of the frontier of a checkpoint c in (a, b] (the
 * part after a) plus the leaf hashes of [c, b), streamed. Checkpoints are frequent, so only
 * the leaves between two of them are ever read for one hash. */
#include "internal.h"

#include "merkle_int.h"
#include "query_int.h"
#include "verify_int.h"

/* The lowest set bit's position of a (a > 0). */
static unsigned trailing_zeros(uint64_t a)
{
    unsigned n = 0;

    while (!(a & 1)) {
        a >>= 1;
        n++;
    }
    return n;
}

/* Is a one of the points where the frontier of size c splits, i.e. do c's frontier nodes
 * after a cover exactly [a, c)? */
static bool is_boundary(uint64_t c, uint64_t a)
{
    if (a == 0)
        return true;
    return trailing_zeros(a) >= 63 || c - a < (UINT64_C(1) << trailing_zeros(a));
}

/* Seed rel with the frontier of the largest checkpoint c in (a, b] that splits at a: rel then
 * covers [a, c). Leaves rel empty (covering [a, a)) when there is none. */
static int seed_from_checkpoint(sqlite3 *db, uint64_t a, uint64_t b, hale_merkle_frontier *rel)
{
    sqlite3_stmt *st = NULL;
    int rc, r = 0;

    hale_merkle_frontier_init(rel);
    rc = sqlite3_prepare_v2(db,
                            "SELECT size, frontier FROM audit_checkpoint WHERE size > ?1 AND "
                            "size <= ?2 ORDER BY size DESC LIMIT 2",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return hale__audit_sql_err(db, rc);
    }
    (void)sqlite3_bind_int64(st, 1, (sqlite3_int64)a);
    (void)sqlite3_bind_int64(st, 2, (sqlite3_int64)b);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t c = (uint64_t)sqlite3_column_int64(st, 0);
        hale_merkle_frontier f;
        unsigned keep;

        if (!is_boundary(c, a))
            continue;
        if (hale_merkle_frontier_decode(sqlite3_column_blob(st, 1),
                                        (size_t)sqlite3_column_bytes(st, 1), &f) < 0 ||
            f.size != c) {
            r = HALE_EPROOF; /* a frontier that does not describe its own checkpoint */
            break;
        }
        keep =
            merkle_popcount(c - a); /* the nodes after a are the last ones, one per bit of c - a */
        rel->size = c - a;
        rel->n_nodes = keep;
        memcpy(rel->nodes, f.nodes + (f.n_nodes - keep), keep * sizeof(f.nodes[0]));
        break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = HALE_ESTORE;
    sqlite3_finalize(st);
    return r;
}

/* Append the stored leaf hashes of [from, to) to rel, checking they are all there. */
static int stream_leaves(sqlite3 *db, uint64_t from, uint64_t to, hale_merkle_frontier *rel)
{
    sqlite3_stmt *st = NULL;
    uint64_t want = from;
    int rc, r = 0;

    if (from >= to)
        return 0;
    rc = sqlite3_prepare_v2(db,
                            "SELECT seq, leaf_hash FROM audit_leaf WHERE seq >= ?1 AND seq < ?2 "
                            "ORDER BY seq",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return hale__audit_sql_err(db, rc);
    }
    (void)sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
    (void)sqlite3_bind_int64(st, 2, (sqlite3_int64)to);
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        hale_hash h;

        if ((uint64_t)sqlite3_column_int64(st, 0) != want ||
            sqlite3_column_bytes(st, 1) != (int)HALE_MERKLE_HASH_BYTES) {
            r = HALE_EPROOF; /* a gap or a damaged hash */
            break;
        }
        memcpy(h.b, sqlite3_column_blob(st, 1), sizeof(h.b));
        r = hale_merkle_frontier_append(rel, &h);
        want++;
    }
    if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = HALE_ESTORE;
    if (r == 0 && want != to)
        r = HALE_EPROOF; /* leaves missing at the end */
    sqlite3_finalize(st);
    return r;
}

/* A left child [a, a + 2^h) (a a multiple of 2^(h+1)) is itself a node of the frontier of
 * every size in [a + 2^h, a + 2^(h+1)): the one after the nodes of the bits above h. Returns 1
 * and *ret when a checkpoint of such a size exists, 0 when none does. */
static int left_child_node(sqlite3 *db, uint64_t a, unsigned h, hale_hash *ret)
{
    uint64_t width = UINT64_C(1) << h;
    sqlite3_stmt *st = NULL;
    int rc, r = 0;

    if (h >= 62 || (a & ((width << 1) - 1)) != 0)
        return 0;
    rc = sqlite3_prepare_v2(db,
                            "SELECT size, frontier FROM audit_checkpoint WHERE size >= ?1 AND "
                            "size < ?2 ORDER BY size LIMIT 1",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return hale__audit_sql_err(db, rc);
    }
    (void)sqlite3_bind_int64(st, 1, (sqlite3_int64)(a + width));
    (void)sqlite3_bind_int64(st, 2, (sqlite3_int64)(a + 2 * width));
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        uint64_t c = (uint64_t)sqlite3_column_int64(st, 0);
        unsigned i = merkle_popcount(c >> (h + 1));
        hale_merkle_frontier f;

        if (hale_merkle_frontier_decode(sqlite3_column_blob(st, 1),
                                        (size_t)sqlite3_column_bytes(st, 1), &f) < 0 ||
            f.size != c || i >= f.n_nodes) {
            r = HALE_EPROOF;
        } else {
            *ret = f.nodes[i];
            r = 1;
        }
    } else if (rc != SQLITE_DONE) {
        r = HALE_ESTORE;
    }
    sqlite3_finalize(st);
    return r;
}

int hale__audit_range_head(sqlite3 *db, uint64_t a, uint64_t b, hale_hash *ret)
{
    hale_merkle_frontier rel;
    int r;

    if (((b - a) & (b - a - 1)) == 0) { /* a perfect subtree: maybe a stored node as it is */
        r = left_child_node(db, a, trailing_zeros(b - a), ret);
        if (r != 0)
            return r < 0 ? r : 0;
    }
    r = seed_from_checkpoint(db, a, b, &rel);
    if (r == 0)
        r = stream_leaves(db, a + rel.size, b, &rel);
    if (r == 0 && HALE_NEVER(rel.size != b - a))
        r = HALE_EPROOF;
    if (r == 0)
        hale_merkle_frontier_root(&rel, ret);
    return r;
}

struct prove_ctx {
    sqlite3 *db;
    hale__audit_head_cache *cache;
};

/* hale__audit_range_head through the cache. */
static int cached_head(void *ud, uint64_t a, uint64_t b, hale_hash *ret)
{
    struct prove_ctx *x = ud;
    size_t i = (size_t)((a * UINT64_C(0x9e3779b97f4a7c15) ^ b) % HALE__AUDIT_HEAD_CACHE);
    int r;

    if (x->cache && x->cache->slot[i].b == b && x->cache->slot[i].a == a) {
        *ret = x->cache->slot[i].head;
        return 0;
    }
    r = hale__audit_range_head(x->db, a, b, ret);
    if (r == 0 && x->cache) {
        x->cache->slot[i].a = a;
        x->cache->slot[i].b = b;
        x->cache->slot[i].head = *ret;
    }
    return r;
}

int hale__audit_prove(sqlite3 *db, uint64_t index, uint64_t size, hale_hash *proof,
                      hale__audit_head_cache *cache)
{
    struct prove_ctx x = {db, cache};

    return hale__audit_inclusion_path(index, size, cached_head, &x, proof, HALE_MERKLE_MAX_PROOF);
}
