/* agent/audit/verify_proof.c - inclusion and consistency proofs out of a stored log
 * (hale_audit_prove_*): RFC 9162 paths assembled from subtree roots, each taken from a stored
 * checkpoint frontier when one holds that subtree and otherwise computed by streaming the leaf
 * hashes of its range, so no proof ever loads the whole log. Every proof is checked against
 * the signed root before it is handed out. */
#include "internal.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "audit/merkle_int.h"
#include "audit/query_int.h"
#include "audit/verify_int.h"
#include "hale/audit_verify.h"

int hale__audit_inclusion_path(uint64_t index, uint64_t size, hale__audit_range_fn range, void *ud,
                               hale_hash *ret, size_t cap)
{
    hale_hash tmp[HALE_MERKLE_MAX_PROOF];
    uint64_t base = 0, m = index, n = size;
    size_t k = 0;
    int r;

    if (index >= size || size > HALE_MERKLE_MAX_SIZE)
        return -EINVAL;
    while (n > 1 && k < HALE_MERKLE_MAX_PROOF) {
        uint64_t split = merkle_split(n);

        if (m < split) {
            r = range(ud, base + split, base + n, &tmp[k++]);
            n = split;
        } else {
            r = range(ud, base, base + split, &tmp[k++]);
            base += split;
            m -= split;
            n -= split;
        }
        if (r < 0)
            return r;
    }
    if (k > cap)
        return -ENOBUFS;
    for (size_t i = 0; i < k; i++)
        ret[i] = tmp[k - 1 - i];
    return (int)k;
}

int hale__audit_consistency_path(uint64_t size1, uint64_t size2, hale__audit_range_fn range,
                                 void *ud, hale_hash *ret, size_t cap)
{
    hale_hash tmp[HALE_MERKLE_MAX_PROOF + 1];
    uint64_t base = 0, m = size1, n = size2;
    bool whole = true; /* still on the left edge: the old tree's root needs no entry */
    size_t k = 0;
    int r = 0;

    if (size1 == 0 || size1 > size2 || size2 > HALE_MERKLE_MAX_SIZE)
        return -EINVAL;
    while (m != n && k < HALE_MERKLE_MAX_PROOF) {
        uint64_t split = merkle_split(n);

        if (m <= split) {
            r = range(ud, base + split, base + n, &tmp[k++]);
            n = split;
        } else {
            r = range(ud, base, base + split, &tmp[k++]);
            base += split;
            m -= split;
            n -= split;
            whole = false;
        }
        if (r < 0)
            return r;
    }
    if (!whole) {
        r = range(ud, base, base + n, &tmp[k++]);
        if (r < 0)
            return r;
    }
    if (k > cap)
        return -ENOBUFS;
    for (size_t i = 0; i < k; i++)
        ret[i] = tmp[k - 1 - i];
    return (int)k;
}

/* The stored log as a source of subtree roots. */
struct db_source {
    sqlite3 *db;    /* read-only connection */
    hale_diag *why; /* failure details */
};

static int db_error(struct db_source *s, const char *what)
{
    hale_diag_set(s->why, "%s: %s", what, sqlite3_errmsg(s->db));
    return HALE_ESTORE;
}

static int db_range(void *ud, uint64_t a, uint64_t b, hale_hash *ret)
{
    struct db_source *s = ud;
    int r = hale__audit_range_head(s->db, a, b, ret);

    if (r == HALE_ESTORE)
        return db_error(s, "reading the audit tables");
    if (r == HALE_EPROOF)
        hale_diag_set(s->why,
                      "leaves %" PRIu64 " to %" PRIu64 " are missing or damaged, or a stored "
                      "checkpoint frontier does not match them",
                      a, b - 1);
    return r;
}

static void source_close(struct db_source *s)
{
    if (s->db) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(s->db);
    }
}

static int source_open(const char *path, struct db_source *s, hale_diag *why)
{
    struct stat st;

    memset(s, 0, sizeof(*s));
    s->why = why;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        hale_diag_set(why, "%s: not a readable database file", path);
        return HALE_ESTORE;
    }
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(s->db, 10000) != SQLITE_OK ||
        sqlite3_exec(s->db, "PRAGMA query_only = 1; BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        int r = db_error(s, path);

        source_close(s);
        return r;
    }
    return 0;
}

/* The stored checkpoint of size (0: the newest): its note (malloc'd) and the root it states. */
static int load_checkpoint(struct db_source *s, uint64_t size, char **ret_note,
                           hale_checkpoint *ret_cp)
{
    sqlite3_stmt *st = NULL;
    const char *note, *sep;
    int r = 0, rc;

    rc = sqlite3_prepare_v2(s->db,
                            size ? "SELECT note FROM audit_checkpoint WHERE size = ?1"
                                 : "SELECT note FROM audit_checkpoint ORDER BY size DESC LIMIT 1",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_error(s, "reading audit_checkpoint");
    if (size)
        sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        if (size)
            hale_diag_set(s->why, "no checkpoint of size %" PRIu64 " is stored", size);
        else
            hale_diag_set(s->why, "no checkpoint is stored");
        r = HALE_ENOTFOUND;
    } else if (rc != SQLITE_ROW) {
        r = db_error(s, "reading audit_checkpoint");
    } else if (!(note = (const char *)sqlite3_column_text(st, 0)) ||
               !(sep = strstr(note, "\n\n")) ||
               hale_checkpoint_parse(note, (size_t)(sep - note) + 1, ret_cp, s->why) < 0) {
        hale_diag_prefix(s->why, "a stored checkpoint is damaged");
        r = HALE_EPROOF;
    } else if (!(*ret_note = strdup(note))) {
        hale_checkpoint_release(ret_cp);
        r = -ENOMEM;
    }
    sqlite3_finalize(st);
    return r;
}

static int leaf_hash_of(struct db_source *s, uint64_t seq, hale_hash *ret)
{
    sqlite3_stmt *st = NULL;
    int r = 0, rc;

    if (sqlite3_prepare_v2(s->db, "SELECT body FROM audit_leaf WHERE seq = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return db_error(s, "reading audit_leaf");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW &&
        (sqlite3_column_type(st, 0) == SQLITE_BLOB || sqlite3_column_type(st, 0) == SQLITE_TEXT)) {
        hale_merkle_leaf_hash(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), ret);
    } else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        hale_diag_set(s->why, "leaf %" PRIu64 " is not stored", seq);
        r = HALE_ENOTFOUND;
    } else {
        r = db_error(s, "reading audit_leaf");
    }
    sqlite3_finalize(st);
    return r;
}

int hale_audit_prove_inclusion(const char *db_path, uint64_t index, uint64_t size,
                               hale_audit_proof *ret, hale_diag *reterr)
{
    hale_audit_proof p = {0};
    struct db_source s;
    hale_checkpoint cp;
    int r;

    r = source_open(db_path, &s, reterr);
    if (r < 0)
        return r;
    r = load_checkpoint(&s, size, &p.note, &cp);
    if (r < 0)
        goto out;
    p.size = cp.size;
    p.index = index;
    if (index >= cp.size) {
        hale_diag_set(reterr, "leaf %" PRIu64 " is not in the checkpoint of size %" PRIu64, index,
                      cp.size);
        r = HALE_ENOTFOUND;
    }
    if (r == 0)
        r = leaf_hash_of(&s, index, &p.leaf_hash);
    if (r == 0)
        r = hale__audit_inclusion_path(index, cp.size, db_range, &s, p.hashes,
                                       HALE_MERKLE_MAX_PROOF);
    if (r >= 0) {
        p.n_hashes = (size_t)r;
        r = hale_merkle_verify_inclusion(&p.leaf_hash, index, cp.size, p.hashes, p.n_hashes,
                                         &cp.root);
        if (r < 0)
            hale_diag_set(reterr,
                          "the stored leaves disagree with the checkpoint of size %" PRIu64
                          ": run hale audit verify",
                          cp.size);
    }
    hale_checkpoint_release(&cp);
out:
    source_close(&s);
    if (r < 0) {
        hale_audit_proof_release(&p);
        return r;
    }
    *ret = p;
    return 0;
}

int hale_audit_prove_consistency(const char *db_path, uint64_t size1, uint64_t size2,
                                 hale_audit_proof *ret, hale_diag *reterr)
{
    hale_audit_proof p = {.consistency = true};
    hale_checkpoint cp1, cp2;
    struct db_source s;
    int r;

    if (size1 == 0 || (size2 && size1 > size2)) {
        hale_diag_set(reterr, "a consistency proof needs 0 < size1 <= size2");
        return -EINVAL;
    }
    r = source_open(db_path, &s, reterr);
    if (r < 0)
        return r;
    r = load_checkpoint(&s, size2, &p.note, &cp2);
    if (r < 0)
        goto out;
    r = load_checkpoint(&s, size1, &p.note1, &cp1);
    if (r < 0) {
        hale_checkpoint_release(&cp2);
        goto out;
    }
    p.index = cp1.size;
    p.size = cp2.size;
    if (cp1.size > cp2.size) {
        hale_diag_set(reterr, "the newest checkpoint has only %" PRIu64 " leaves", cp2.size);
        r = -EINVAL;
    } else {
        r = hale__audit_consistency_path(cp1.size, cp2.size, db_range, &s, p.hashes,
                                         HALE_MERKLE_MAX_PROOF);
    }
    if (r >= 0) {
        p.n_hashes = (size_t)r;
        r = hale_merkle_verify_consistency(cp1.size, cp2.size, &cp1.root, &cp2.root, p.hashes,
                                           p.n_hashes);
        if (r < 0)
            hale_diag_set(reterr, "the stored log disagrees with its checkpoints: run hale audit "
                                  "verify");
    }
    hale_checkpoint_release(&cp1);
    hale_checkpoint_release(&cp2);
out:
    source_close(&s);
    if (r < 0) {
        hale_audit_proof_release(&p);
        return r;
    }
    *ret = p;
    return 0;
}

void hale_audit_proof_release(hale_audit_proof *p)
{
    if (!p)
        return;
    free(p->note);
    free(p->note1);
    p->note = p->note1 = NULL;
}
