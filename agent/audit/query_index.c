/* agent/audit/query_index.c - hale_audit_index_catchup(): move the side indexes of migrations 4
 * and 9 (trigram text index, per-block time ranges, filter attributes) forward over committed
 * leaves, a bounded batch at a time, in a transaction of its own. Appends never wait for it: it
 * reads audit_leaf and writes only its own tables, so the daemon runs it when it has nothing else
 * to do. */
#include "internal.h"

#include "hale/audit_query.h"
#include "hale/store.h"
#include "query_int.h"

#define MERGE_PAGES "64" /* FTS5 merge work per catch-up batch, in pages */

/* One statement of the catch-up, bound to [?1, ?2]. */
static int run(sqlite3 *db, const char *sql, int64_t lo, int64_t hi, int64_t *ret)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL), r;

    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return hale__audit_sql_err(db, rc);
    }
    (void)sqlite3_bind_int64(st, 1, lo);
    (void)sqlite3_bind_int64(st, 2, hi);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && ret)
        *ret = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 0);
    r = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : rc == SQLITE_NOMEM ? -ENOMEM : HALE_ESTORE;
    sqlite3_finalize(st);
    return r;
}

/* Index the committed leaves in [from, from + max): the bodies into audit_fts (as text: the
 * trigram tokenizer reads text, and bodies are ASCII), their filter attributes into
 * audit_leaf_attr, their times into audit_ts_block, and the new position. One statement each, so
 * SQLite does the work without a row at a time crossing into C. Returns the leaves indexed. */
static int index_range(sqlite3 *db, uint64_t from, unsigned max)
{
    int64_t last = -1, lo = (int64_t)from;
    int r;

    r = run(db, "SELECT MAX(seq) FROM audit_leaf WHERE seq >= ?1 AND seq < ?1 + ?2", lo,
            (int64_t)max, &last);
    if (r < 0 || last < lo)
        return r;
    r = run(db,
            "INSERT INTO audit_fts (rowid, body) SELECT seq, CAST(body AS TEXT) FROM audit_leaf "
            "WHERE seq >= ?1 AND seq <= ?2",
            lo, last, NULL);
    if (r == 0)
        r = run(db,
                "INSERT INTO audit_leaf_attr (seq, ts_ns, kind, incident_id, actor, tool, "
                "outcome) SELECT seq, " HALE__AUDIT_ATTR_EXPRS(
                    "b") " FROM (SELECT seq, "
                         "CAST(body AS TEXT) AS b FROM audit_leaf WHERE seq >= ?1 AND seq <= ?2)",
                lo, last, NULL);
    if (r == 0)
        r = run(db,
                "INSERT INTO audit_ts_block (block, min_ts, max_ts) SELECT seq "
                "/ " HALE__AUDIT_TS_BLOCK_SQL
                ", MIN(ts_ns), MAX(ts_ns) FROM audit_leaf_attr WHERE seq >= ?1 AND seq <= ?2 "
                "GROUP BY seq / " HALE__AUDIT_TS_BLOCK_SQL " ON CONFLICT (block) DO UPDATE SET "
                "min_ts = min(min_ts, excluded.min_ts), max_ts = max(max_ts, excluded.max_ts)",
                lo, last, NULL);
    /* Bounded merge work (pages) with every batch: migration 4 turned automatic merging off. */
    if (r == 0)
        r = run(db,
                "INSERT INTO audit_fts (audit_fts, rank) SELECT 'merge', " MERGE_PAGES
                " WHERE ?1 >= 0 AND ?2 >= 0",
                lo, last, NULL);
    if (r == 0)
        r = run(db, "UPDATE audit_index_state SET indexed = ?2 + 1 WHERE id = 1 AND ?1 >= 0", lo,
                last, NULL);
    return r < 0 ? r : (int)(last + 1 - lo);
}

int hale_audit_index_catchup(hale_store *s, unsigned max_leaves)
{
    sqlite3 *db = hale_store_sqlite(s);
    uint64_t from = 0;
    int r;

    if (hale_store_in_tx(s))
        return HALE_ESTATE;
    if (max_leaves == 0)
        return 0;
    r = hale_store_begin(s);
    if (r < 0)
        return r;
    r = hale__audit_indexed(db, &from);
    if (r == 0)
        r = index_range(db, from, max_leaves > INT32_MAX ? INT32_MAX : max_leaves);
    if (r > 0) {
        int cr = hale_store_commit(s);

        return cr < 0 ? cr : r;
    }
    /* Nothing to do, or a failure: either way nothing is kept. */
    hale_store_rollback(s);
    return r;
}

int hale_audit_index_state(hale_store *s, uint64_t *ret_indexed, uint64_t *ret_leaves)
{
    sqlite3 *db = hale_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    uint64_t indexed = 0;
    int rc, r;

    r = hale__audit_indexed(db, &indexed);
    if (r < 0)
        return r;
    rc = sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(seq) + 1, 0) FROM audit_leaf", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return hale__audit_sql_err(db, rc);
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret_indexed = indexed;
        *ret_leaves = (uint64_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : HALE_ESTORE;
}
