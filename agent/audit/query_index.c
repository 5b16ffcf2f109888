/* agent/audit/query_index.c - hale_audit_index_catchup(): move the side indexes of migration 3
 * (trigram text index, per-block time ranges) forward over committed leaves, a bounded batch at
 * a time, in a transaction of its own. Appends never wait for it: it reads audit_leaf and
 * writes only its own tables, so the daemon runs it when it has nothing else to do. */
#include "internal.h"

#include "hale/audit_query.h"
#include "hale/store.h"
#include "query_int.h"

/* The time range of the block being filled. */
struct block {
    bool used;      /* holds at least one leaf */
    int64_t id;     /* seq / HALE_AUDIT_TS_BLOCK */
    int64_t min_ts; /* least ts_ns seen in it */
    int64_t max_ts; /* greatest */
};

struct catchup {
    sqlite3 *db;         /* the writable connection */
    sqlite3_stmt *read;  /* leaves from a seq on */
    sqlite3_stmt *fts;   /* insert into audit_fts */
    sqlite3_stmt *block; /* upsert audit_ts_block */
    sqlite3_stmt *state; /* update audit_index_state */
    struct block cur;    /* block being filled */
};

static int prepare(struct catchup *c)
{
    static const char *const sql[] = {
        "SELECT seq, ts_ns, body FROM audit_leaf WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
        "INSERT INTO audit_fts (rowid, body) VALUES (?1, ?2)",
        "INSERT INTO audit_ts_block (block, min_ts, max_ts) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (block) DO UPDATE SET min_ts = min(min_ts, excluded.min_ts), "
        "max_ts = max(max_ts, excluded.max_ts)",
        "UPDATE audit_index_state SET indexed = ?1 WHERE id = 1",
    };
    sqlite3_stmt **out[] = {&c->read, &c->fts, &c->block, &c->state};

    for (size_t i = 0; i < HALE_ARRAY_SIZE(sql); i++) {
        int rc = sqlite3_prepare_v2(c->db, sql[i], -1, out[i], NULL);

        if (rc != SQLITE_OK)
            return hale__audit_sql_err(c->db, rc);
    }
    return 0;
}

static void finalize(struct catchup *c)
{
    sqlite3_finalize(c->read);
    sqlite3_finalize(c->fts);
    sqlite3_finalize(c->block);
    sqlite3_finalize(c->state);
}

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    return rc == SQLITE_NOMEM ? -ENOMEM : HALE_ESTORE;
}

static int flush_block(struct catchup *c)
{
    if (!c->cur.used)
        return 0;
    (void)sqlite3_bind_int64(c->block, 1, c->cur.id);
    (void)sqlite3_bind_int64(c->block, 2, c->cur.min_ts);
    (void)sqlite3_bind_int64(c->block, 3, c->cur.max_ts);
    c->cur.used = false;
    return step_done(c->block);
}

static int add_leaf(struct catchup *c, int64_t seq, int64_t ts)
{
    int64_t id = seq / (int64_t)HALE_AUDIT_TS_BLOCK;
    int r = 0;

    /* The body goes in as text: the trigram tokenizer reads text, and bodies are ASCII. */
    (void)sqlite3_bind_int64(c->fts, 1, seq);
    if (sqlite3_bind_text(c->fts, 2, (const char *)sqlite3_column_blob(c->read, 2),
                          sqlite3_column_bytes(c->read, 2), SQLITE_STATIC) != SQLITE_OK)
        return HALE_ESTORE;
    r = step_done(c->fts);
    if (r < 0)
        return r;
    if (c->cur.used && c->cur.id != id)
        r = flush_block(c);
    if (!c->cur.used)
        c->cur = (struct block){.used = true, .id = id, .min_ts = ts, .max_ts = ts};
    if (ts < c->cur.min_ts)
        c->cur.min_ts = ts;
    if (ts > c->cur.max_ts)
        c->cur.max_ts = ts;
    return r;
}

/* Index up to max leaves from `from` on; *ret_next gets the seq after the last one. */
static int index_batch(struct catchup *c, uint64_t from, unsigned max, uint64_t *ret_next)
{
    uint64_t next = from;
    int rc, r = 0, n = 0;

    (void)sqlite3_bind_int64(c->read, 1, (sqlite3_int64)from);
    (void)sqlite3_bind_int64(c->read, 2, (sqlite3_int64)max);
    while (r == 0 && (rc = sqlite3_step(c->read)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(c->read, 0);

        r = add_leaf(c, seq, sqlite3_column_int64(c->read, 1));
        next = (uint64_t)seq + 1;
        n++;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = rc == SQLITE_NOMEM ? -ENOMEM : HALE_ESTORE;
    sqlite3_reset(c->read);
    if (r == 0)
        r = flush_block(c);
    if (r == 0 && next != from) {
        (void)sqlite3_bind_int64(c->state, 1, (sqlite3_int64)next);
        r = step_done(c->state);
    }
    *ret_next = next;
    return r < 0 ? r : n;
}

int hale_audit_index_catchup(hale_store *s, unsigned max_leaves)
{
    struct catchup c = {.db = hale_store_sqlite(s)};
    uint64_t from = 0, next = 0;
    int r;

    if (hale_store_in_tx(s))
        return HALE_ESTATE;
    if (max_leaves == 0)
        return 0;
    r = hale_store_begin(s);
    if (r < 0)
        return r;
    r = hale__audit_indexed(c.db, &from);
    if (r == 0)
        r = prepare(&c);
    if (r == 0)
        r = index_batch(&c, from, max_leaves, &next);
    finalize(&c);
    if (r > 0) {
        int cr = hale_store_commit(s);

        if (cr < 0)
            return cr;
        return r;
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
