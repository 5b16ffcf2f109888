/* agent/audit/audit_seal.c - the writer's side of signed heads: proving the current head
 * consistent with an earlier one (what the signer demands) and storing signed checkpoints. */
#include "internal.h"

#include <inttypes.h>

#include "audit/audit_int.h"
#include "hale/note.h"
#include "hale/store.h"

/* Append the stored leaf hashes [from, to) to f (f->size must equal from) or, with out, copy
 * them there. */
static int read_leaf_hashes(hale_audit *a, uint64_t from, uint64_t to, hale_merkle_frontier *f,
                            hale_hash *out, hale_diag *reterr)
{
    sqlite3_stmt *st = NULL;
    uint64_t want = from;
    int rc, r = 0;

    if (sqlite3_prepare_v2(a->db,
                           "SELECT seq, leaf_hash FROM audit_leaf WHERE seq >= ?1 AND seq < ?2 "
                           "ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK)
        return HALE_ESTORE;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)to);
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        hale_hash h;

        if ((uint64_t)sqlite3_column_int64(st, 0) != want ||
            sqlite3_column_bytes(st, 1) != (int)sizeof(h.b)) {
            r = HALE_ESCHEMA;
            break;
        }
        memcpy(h.b, sqlite3_column_blob(st, 1), sizeof(h.b));
        if (out)
            out[want - from] = h;
        else
            r = hale_merkle_frontier_append(f, &h);
        want++;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = HALE_ESTORE;
    if (r == 0 && want != to)
        r = HALE_ESCHEMA;
    sqlite3_finalize(st);
    if (r == HALE_ESCHEMA)
        hale_diag_set(reterr, "audit leaf %" PRIu64 " is missing or malformed", want);
    return r;
}

/* The compact range of the first size leaves: from the nearest stored checkpoint at or below
 * size, extended with the stored leaf hashes. */
static int frontier_at(hale_audit *a, uint64_t size, hale_merkle_frontier *ret, hale_diag *reterr)
{
    sqlite3_stmt *st = NULL;
    int rc, r = 0;

    hale_merkle_frontier_init(ret);
    if (sqlite3_prepare_v2(a->db,
                           "SELECT frontier FROM audit_checkpoint WHERE size <= ?1 "
                           "ORDER BY size DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return HALE_ESTORE;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        r = hale_merkle_frontier_decode(sqlite3_column_blob(st, 0),
                                        (size_t)sqlite3_column_bytes(st, 0), ret);
    else if (rc != SQLITE_DONE)
        r = HALE_ESTORE;
    sqlite3_finalize(st);
    if (r < 0) {
        hale_diag_set(reterr, "a stored checkpoint's frontier is unreadable");
        return r;
    }
    return ret->size < size ? read_leaf_hashes(a, ret->size, size, ret, NULL, reterr) : 0;
}

int hale_audit_prove(hale_audit *a, uint64_t size1, uint64_t size2, hale_hash *ret_proof,
                     size_t cap, hale_hash *ret_root2, hale_diag *reterr)
{
    hale_merkle_frontier old, to;
    hale_hash *leaves;
    int r;

    if (size1 == 0 || size1 > size2 || size2 > a->committed.size) {
        hale_diag_set(reterr,
                      "no consistency proof from %" PRIu64 " to %" PRIu64
                      " leaves in a log of %" PRIu64,
                      size1, size2, a->committed.size);
        return -EINVAL;
    }
    if (size2 - size1 > HALE_AUDIT_MAX_PROOF_LEAVES) {
        hale_diag_set(reterr, "%" PRIu64 " leaves between the heads: prove in steps",
                      size2 - size1);
        return HALE_ELIMIT;
    }
    /* From the last stored checkpoint, the usual case, the writer still holds every hash. */
    if (a->recent_ok && size1 == a->recent_base.size && size2 - size1 <= a->n_recent) {
        old = a->recent_base;
        leaves = a->recent;
        r = 0;
    } else {
        if ((r = frontier_at(a, size1, &old, reterr)) < 0)
            return r;
        leaves = size2 > size1 ? malloc((size_t)(size2 - size1) * sizeof(*leaves)) : NULL;
        if (size2 > size1 && !leaves)
            return -ENOMEM;
        r = read_leaf_hashes(a, size1, size2, NULL, leaves, reterr);
    }
    if (r == 0)
        r = hale_merkle_consistency_proof_extend(&old, leaves, size2 - size1, ret_proof, cap);
    if (r >= 0 && ret_root2) {
        to = old;
        for (uint64_t i = 0; i < size2 - size1; i++)
            (void)hale_merkle_frontier_append(&to, &leaves[i]);
        hale_merkle_frontier_root(&to, ret_root2);
    }
    if (leaves != a->recent)
        free(leaves);
    return r;
}

/* The note's text must be the checkpoint of exactly this log's committed head. */
static int check_note(const hale_audit *a, const char *note, hale_diag *reterr)
{
    const char *blank = strstr(note, "\n\n");
    hale_checkpoint cp;
    hale_hash root;
    int r;

    if (!blank) {
        hale_diag_set(reterr, "checkpoint note has no signature block");
        return HALE_EPARSE;
    }
    if ((r = hale_checkpoint_parse(note, (size_t)(blank - note) + 1, &cp, reterr)) < 0)
        return r;
    hale_merkle_frontier_root(&a->committed, &root);
    if (strcmp(cp.origin, a->origin) != 0 || cp.size != a->committed.size ||
        memcmp(cp.root.b, root.b, sizeof(root.b)) != 0) {
        hale_diag_set(reterr,
                      "checkpoint for %s at %" PRIu64 " does not match the log's head at %" PRIu64,
                      cp.origin, cp.size, a->committed.size);
        r = HALE_EPROOF;
    }
    hale_checkpoint_release(&cp);
    return r;
}

int hale_audit_store_checkpoint(hale_audit *a, const char *note, int64_t signed_ns,
                                hale_diag *reterr)
{
    static const char sql[] = "INSERT INTO audit_checkpoint (size, root, note, signed_ns, "
                              "frontier) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (size) DO NOTHING";
    uint8_t enc[HALE_MERKLE_FRONTIER_MAX_BYTES];
    bool own_tx = !hale_store_in_tx(a->store);
    sqlite3_stmt *st = NULL;
    hale_hash root;
    int n, r;

    if (a->dirty) {
        hale_diag_set(reterr, "checkpoint stored while leaves of the transaction are pending");
        return HALE_ESTATE;
    }
    if ((r = check_note(a, note, reterr)) < 0)
        return r;
    n = hale_merkle_frontier_encode(&a->committed, enc, sizeof(enc));
    if (n < 0)
        return n;
    hale_merkle_frontier_root(&a->committed, &root);
    if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK)
        return HALE_ESTORE;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)a->committed.size);
    sqlite3_bind_blob(st, 2, root.b, sizeof(root.b), SQLITE_STATIC);
    sqlite3_bind_text(st, 3, note, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, signed_ns);
    sqlite3_bind_blob(st, 5, enc, n, SQLITE_STATIC);
    if (own_tx && (r = hale_store_begin(a->store)) < 0) {
        sqlite3_finalize(st);
        return r;
    }
    r = sqlite3_step(st) == SQLITE_DONE ? 0 : HALE_ESTORE;
    if (r < 0)
        hale_diag_set(reterr, "cannot store the checkpoint: %s", sqlite3_errmsg(a->db));
    sqlite3_finalize(st);
    if (own_tx) {
        if (r == 0)
            r = hale_store_commit(a->store);
        else
            hale_store_rollback(a->store);
    }
    /* The next seal proves from this head: the cache starts here. Inside a caller's
     * transaction the row is not stored yet, and the cache keeps its older base. */
    if (r == 0 && own_tx)
        hale__audit_recent_rebase(a);
    return r;
}

int hale_audit_last_checkpoint(hale_audit *a, uint64_t *ret_size)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(a->db, "SELECT coalesce(max(size), 0) FROM audit_checkpoint", -1, &st,
                           NULL) != SQLITE_OK)
        return HALE_ESTORE;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *ret_size = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : HALE_ESTORE;
}

int hale__audit_checkpoint_note(hale_audit *a, uint64_t size, char **ret)
{
    sqlite3_stmt *st = NULL;
    int rc, r = 0;

    if (sqlite3_prepare_v2(a->db, "SELECT note FROM audit_checkpoint WHERE size = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return HALE_ESTORE;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret = strdup((const char *)sqlite3_column_text(st, 0));
        r = *ret ? 1 : -ENOMEM;
    } else if (rc != SQLITE_DONE) {
        r = HALE_ESTORE;
    }
    sqlite3_finalize(st);
    return r;
}
