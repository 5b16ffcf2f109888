/* agent/audit/verify.c - hale_audit_verify(): one read-only pass over an audit database that
 * recomputes every leaf hash and the root at every checkpoint (SECURITY.md 1.12). The leaves
 * and the checkpoints are read as two ordered streams and merged on tree size, so the tree
 * costs O(log n) memory however long the log is; verify_check.c holds the per-item checks. */
#include "internal.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "audit/verify_int.h"
#include "hale/audit_verify.h"
#include "util/hashmap.h"

#define BUSY_TIMEOUT_MS 10000 /* a writer holds its lock for milliseconds */

int hale__vfail(hale__vctx *c, int verdict, unsigned check, int64_t bad_seq, int64_t bad_cp,
                const char *fmt, ...)
{
    hale_audit_verify_report *rep = c->rep;
    va_list ap;

    if (c->done)
        return rep->verdict ? (int)rep->verdict : verdict;
    c->done = true;
    rep->verdict = (hale_audit_verdict)verdict;
    rep->check = check;
    rep->bad_seq = bad_seq;
    rep->bad_checkpoint = bad_cp;
    va_start(ap, fmt);
    vsnprintf(rep->reason, sizeof(rep->reason), fmt, ap);
    va_end(ap);
    return verdict;
}

void hale__vwarn(hale__vctx *c, const char *fmt, ...)
{
    hale_audit_verify_report *rep = c->rep;
    va_list ap;

    if (rep->n_warnings < HALE_AUDIT_VERIFY_MAX_WARNINGS) {
        va_start(ap, fmt);
        vsnprintf(rep->warnings[rep->n_warnings], sizeof(rep->warnings[0]), fmt, ap);
        va_end(ap);
    }
    rep->n_warnings++;
}

int hale__vdb_fail(hale__vctx *c, int rc, const char *what)
{
    const char *msg = c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);

    if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 3, (int64_t)c->f.size, -1,
                           "the database file is damaged near seq %" PRIu64 " (%s: %s)", c->f.size,
                           what, msg);
    if ((rc & 0xff) == SQLITE_NOMEM)
        return hale__vfail(c, HALE_AUDIT_UNUSABLE, 3, -1, -1, "out of memory (%s)", what);
    return hale__vfail(c, HALE_AUDIT_UNUSABLE, 3, -1, -1, "%s: %s", what, msg);
}

static void cp_clear(hale__audit_cp *cp)
{
    free(cp->root);
    free(cp->note);
    free(cp->frontier);
    memset(cp, 0, sizeof(*cp));
}

static int copy_blob(sqlite3_stmt *st, int col, size_t max, uint8_t **ret, size_t *ret_len)
{
    const void *p = sqlite3_column_blob(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    uint8_t *copy;

    if (n > max)
        return HALE_ELIMIT;
    copy = malloc(n + 1);
    if (!copy)
        return -ENOMEM;
    if (n)
        memcpy(copy, p, n);
    copy[n] = 0;
    *ret = copy;
    *ret_len = n;
    return 0;
}

/* Read the next checkpoint row into c->cp; c->cp_have says whether there was one. */
static int cp_next(hale__vctx *c)
{
    sqlite3_stmt *st = c->cps;
    int rc;

    cp_clear(&c->cp);
    c->cp_have = false;
    if (!st || c->cp_done)
        return 0;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        c->cp_done = true;
        return 0;
    }
    if (rc != SQLITE_ROW)
        return hale__vdb_fail(c, rc, "reading audit_checkpoint");
    if (sqlite3_column_type(st, 0) != SQLITE_INTEGER || sqlite3_column_int64(st, 0) < 0 ||
        sqlite3_column_type(st, 1) != SQLITE_BLOB || sqlite3_column_type(st, 2) == SQLITE_NULL ||
        sqlite3_column_type(st, 3) != SQLITE_BLOB)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 5, -1, -1,
                           "audit_checkpoint: a row after size %" PRId64 " has a NULL or a "
                           "value of the wrong type",
                           c->prev_cp_size);
    c->cp.size = (uint64_t)sqlite3_column_int64(st, 0);
    if ((int64_t)c->cp.size <= c->prev_cp_size)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 5, -1, (int64_t)c->cp.size,
                           "checkpoint sizes do not strictly increase (%" PRIu64 " after %" PRId64
                           ")",
                           c->cp.size, c->prev_cp_size);
    c->prev_cp_size = (int64_t)c->cp.size;
    if (copy_blob(st, 1, 64, &c->cp.root, &c->cp.root_len) < 0 ||
        copy_blob(st, 2, HALE_NOTE_MAX_BYTES, (uint8_t **)&c->cp.note, &c->cp.note_len) < 0 ||
        copy_blob(st, 3, HALE_MERKLE_FRONTIER_MAX_BYTES, &c->cp.frontier, &c->cp.frontier_len) < 0)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 2, -1, (int64_t)c->cp.size,
                           "checkpoint of size %" PRIu64 ": a column is oversized (or out of "
                           "memory)",
                           c->cp.size);
    c->cp_have = true;
    return 0;
}

/* Everything that happens when the tree reaches c->f.size leaves. */
int hale__vat_size(hale__vctx *c)
{
    int r = 0;

    while (r == 0 && c->cp_have && c->cp.size == c->f.size) {
        r = hale__vcheck_checkpoint(c);
        if (r == 0)
            r = cp_next(c);
    }
    if (r == 0 && c->cp_have && c->cp.size < c->f.size)
        r = hale__vfail(c, HALE_AUDIT_TAMPERED, 5, -1, (int64_t)c->cp.size,
                        "checkpoint of size %" PRIu64 " out of order", c->cp.size);
    if (r == 0)
        r = hale__vcheck_anchors_here(c);
    if (r == 0)
        r = hale__vcheck_rotation_seal(c);
    return r;
}

/* Prepare sql; a missing table is reported as a warning and leaves *ret NULL. */
static int prepare(hale__vctx *c, const char *table, const char *sql, sqlite3_stmt **ret)
{
    int rc = sqlite3_prepare_v2(c->db, sql, -1, ret, NULL);
    const char *msg;

    if (rc == SQLITE_OK)
        return 0;
    *ret = NULL;
    msg = sqlite3_errmsg(c->db);
    if ((rc & 0xff) == SQLITE_ERROR && strstr(msg, "no such table")) {
        hale__vwarn(c, "table %s is missing", table);
        return 0;
    }
    if ((rc & 0xff) == SQLITE_ERROR)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 1, -1, -1, "table %s has been altered: %s",
                           table, msg);
    return hale__vdb_fail(c, rc, table);
}

/* Check 1: the log's identity against the trust policy. */
static int check_origin(hale__vctx *c)
{
    const hale_audit_verify_opts *o = c->opts;
    sqlite3_stmt *st;
    const unsigned char *v;
    int r, rc;

    r = prepare(c, "audit_meta", "SELECT value FROM audit_meta WHERE name = 'origin'", &st);
    if (r != 0 || !st)
        return r;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT &&
        (v = sqlite3_column_text(st, 0)) &&
        (size_t)sqlite3_column_bytes(st, 0) < sizeof(c->rep->origin) &&
        hale_note_name_is_valid((const char *)v, (size_t)sqlite3_column_bytes(st, 0)))
        memcpy(c->rep->origin, v, (size_t)sqlite3_column_bytes(st, 0) + 1);
    else if (rc == SQLITE_ROW)
        r = hale__vfail(c, HALE_AUDIT_TAMPERED, 1, -1, -1,
                        "audit_meta: the origin is not a valid log name");
    else if (rc != SQLITE_DONE)
        r = hale__vdb_fail(c, rc, "reading audit_meta");
    sqlite3_finalize(st);
    if (r != 0 || !c->rep->origin[0])
        return r;
    if (o->origin && strcmp(o->origin, c->rep->origin) != 0)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 1, -1, -1,
                           "the database holds log '%.200s', not the expected '%.200s'",
                           c->rep->origin, o->origin);
    if (strcmp(o->root_key->name, c->rep->origin) != 0)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 1, -1, -1,
                           "the pinned key belongs to log '%.200s', the database holds '%.200s'",
                           o->root_key->name, c->rep->origin);
    return 0;
}

/* The frontier row must agree with the leaves: the writer keeps it in the same transaction. */
static int check_frontier_row(hale__vctx *c)
{
    uint8_t enc[HALE_MERKLE_FRONTIER_MAX_BYTES];
    sqlite3_stmt *st;
    int r, rc, n;

    r = prepare(c, "audit_frontier", "SELECT size, frontier FROM audit_frontier WHERE id = 1", &st);
    if (r != 0 || !st)
        return r;
    rc = sqlite3_step(st);
    n = hale_merkle_frontier_encode(&c->f, enc, sizeof(enc));
    if (rc == SQLITE_ROW &&
        (sqlite3_column_int64(st, 0) != (int64_t)c->f.size || n < 0 ||
         sqlite3_column_type(st, 1) != SQLITE_BLOB || sqlite3_column_bytes(st, 1) != n ||
         memcmp(sqlite3_column_blob(st, 1), enc, (size_t)n) != 0))
        r = hale__vfail(c, HALE_AUDIT_TAMPERED, 5, (int64_t)c->f.size, -1,
                        "audit_frontier (size %lld) does not match the %" PRIu64 " leaves",
                        (long long)sqlite3_column_int64(st, 0), c->f.size);
    else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = hale__vdb_fail(c, rc, "reading audit_frontier");
    sqlite3_finalize(st);
    return r;
}

static int stream(hale__vctx *c)
{
    int r;

    r = prepare(c, "audit_leaf", "SELECT seq, body, leaf_hash FROM audit_leaf ORDER BY seq",
                &c->leaves);
    if (r == 0)
        r = prepare(c, "audit_checkpoint",
                    "SELECT size, root, note, frontier FROM audit_checkpoint ORDER BY size",
                    &c->cps);
    if (r == 0)
        r = cp_next(c);
    if (r == 0 && c->cp_have && !c->rep->origin[0])
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 1, -1, (int64_t)c->cp.size,
                           "the log has checkpoints but audit_meta records no origin");
    if (r == 0)
        r = hale__vat_size(c); /* a checkpoint or anchor of the empty tree */
    if (r == 0 && c->leaves)
        r = hale__vleaves_run(c, c->leaves);
    if (r != 0)
        return r;
    if (c->cp_have)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 5, (int64_t)c->f.size, (int64_t)c->cp.size,
                           "a checkpoint of size %" PRIu64 " exists but the log holds only %" PRIu64
                           " leaves: leaves were removed",
                           c->cp.size, c->f.size);
    r = check_frontier_row(c);
    if (r == 0)
        r = hale__vcheck_anchors_beyond(c);
    return r;
}

/* Checks 6 and 9 once the whole log has been read without tamper evidence. */
static int conclude(hale__vctx *c)
{
    hale_audit_verify_report *rep = c->rep;
    int r;

    rep->n_unsealed = c->f.size - rep->sealed_size;
    if (c->f.size > 0 && rep->n_checkpoints == 0)
        return hale__vfail(c, HALE_AUDIT_INCOMPLETE, 6, 0, -1,
                           "none of the %" PRIu64 " leaves is covered by a signed checkpoint",
                           c->f.size);
    if (rep->n_unsealed > 0) {
        hale__vwarn(c, "%" PRIu64 " trailing records not covered by a signed checkpoint",
                    rep->n_unsealed);
        if (c->opts->require_sealed || c->rot_unsealed_tail)
            return hale__vfail(c, HALE_AUDIT_INCOMPLETE, 6, (int64_t)rep->sealed_size, -1,
                               "%" PRIu64 " trailing records (from seq %" PRIu64
                               ") are not covered by a signed checkpoint%s",
                               rep->n_unsealed, rep->sealed_size,
                               c->rot_unsealed_tail ? ", a key rotation among them" : "");
    }
    r = hale__vcheck_open_intents(c);
    if (r != 0)
        return r;
    if (c->f.size == 0 && !rep->origin[0])
        return hale__vfail(c, HALE_AUDIT_INCOMPLETE, 1, -1, -1,
                           "the log is empty: no origin and no leaves recorded");
    return 0;
}

static int open_db(hale__vctx *c, const char *path)
{
    struct stat st;
    int rc;

    if (stat(path, &st) < 0)
        return hale__vfail(c, HALE_AUDIT_UNUSABLE, 1, -1, -1, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return hale__vfail(c, HALE_AUDIT_UNUSABLE, 1, -1, -1, "%s: not a regular file", path);
    rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return hale__vdb_fail(c, rc, path);
    /* The file may be hostile: no schema-defined functions, no writes whatever it asks. */
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    rc = sqlite3_exec(c->db, "PRAGMA query_only = 1; BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return hale__vdb_fail(c, rc, path);
    return 0;
}

hale_audit_verdict hale_audit_verify(const char *db_path, const hale_audit_verify_opts *opts,
                                     hale_audit_verify_report *ret)
{
    hale__vctx c = {.opts = opts, .rep = ret, .prev_cp_size = -1};
    hale_diag why = {{0}};
    unsigned torn = 0;
    int r;

    memset(ret, 0, sizeof(*ret));
    ret->bad_seq = ret->bad_checkpoint = -1;
    hale_merkle_frontier_init(&c.f);
    if (!opts || !opts->root_key || (opts->n_anchor_paths && !opts->anchor_paths)) {
        hale__vfail(&c, HALE_AUDIT_UNUSABLE, 1, -1, -1,
                    !opts || !opts->root_key ? "no pinned root key given"
                                             : "anchor files counted but not given");
        return ret->verdict;
    }
    c.key = *opts->root_key;
    ret->keys = malloc(sizeof(*ret->keys));
    c.decisions = hale_map_new();
    c.intents = hale_map_new();
    if (!ret->keys || !c.decisions || !c.intents) {
        hale__vfail(&c, HALE_AUDIT_UNUSABLE, 1, -1, -1, "out of memory");
        goto out;
    }
    ret->keys[ret->n_keys++] = c.key;
    ret->n_epochs = 1;
    r = open_db(&c, db_path);
    if (r == 0)
        r = check_origin(&c);
    if (r == 0 && opts->n_anchor_paths) {
        r = hale__audit_anchors_load(opts->anchor_paths, opts->n_anchor_paths, ret->origin,
                                     &c.anchors, &c.n_anchors, &torn, &why);
        if (r < 0)
            r = hale__vfail(&c, HALE_AUDIT_UNUSABLE, 8, -1, -1, "anchors: %s",
                            why.msg[0] ? why.msg : hale_strerror(r));
        else if (torn)
            hale__vwarn(&c, "%u anchor records cut short were ignored", torn);
    }
    if (r == 0)
        r = stream(&c);
    if (r == 0 && !c.done)
        conclude(&c);
out:
    if (!ret->origin[0] && opts && opts->origin)
        snprintf(ret->origin, sizeof(ret->origin), "%s", opts->origin);
    ret->n_leaves = c.f.size;
    ret->n_unsealed = c.f.size - ret->sealed_size;
    cp_clear(&c.cp);
    hale__audit_anchors_free(c.anchors, c.n_anchors);
    hale__vsemantic_free(&c);
    sqlite3_finalize(c.leaves);
    sqlite3_finalize(c.cps);
    if (c.db) {
        sqlite3_exec(c.db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(c.db);
    }
    return ret->verdict;
}

void hale_audit_verify_report_release(hale_audit_verify_report *r)
{
    if (!r)
        return;
    free(r->keys);
    r->keys = NULL;
    r->n_keys = 0;
}
