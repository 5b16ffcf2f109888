/* agent/store/store.c - opening the SQLite store: pragmas, migrations, prepared statements and
 * the write transaction. Sits at layer 1; the loop owns the one writable connection. */
#include "internal.h"

#include <sqlite3.h>
#include <time.h>

#include "store/store_int.h"

static int apply_pragmas(hale_store *s, hale_store_sync sync, hale_diag *reterr)
{
    /* 8 KiB pages keep a whole webhook body (about 1-2 KiB) inline in its event row; with
     * 4 KiB pages SQLite moves any row over ~1 KiB to an overflow page and writes twice. The
     * page size only takes effect on a new file, before WAL mode is set. */
    char sql[256];
    char *err = NULL;

    if (s->read_only)
        snprintf(sql, sizeof(sql), "PRAGMA query_only = ON; PRAGMA trusted_schema = OFF;");
    else
        snprintf(
            sql, sizeof(sql),
            "PRAGMA page_size = 8192; PRAGMA journal_mode = WAL; PRAGMA synchronous = %s;"
            "PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA trusted_schema = OFF;",
            sync == HALE_STORE_SYNC_FULL ? "FULL" : "NORMAL");
    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        hale_diag_set(reterr, "%s", err ? err : sqlite3_errmsg(s->db));
        sqlite3_free(err);
        return HALE_ESTORE;
    }
    return 0;
}

static int prepare_all(hale_store *s, hale_diag *reterr)
{
    for (int i = 0; i < ST__COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, hale__store_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &s->stmt[i], NULL) != SQLITE_OK) {
            hale_diag_set(reterr, "cannot prepare statement %d: %s", i, sqlite3_errmsg(s->db));
            return HALE_ESTORE;
        }
    }
    return 0;
}

#define BUSY_TIMEOUT_US 5000000u /* how long a connection waits for another's write lock */
#define BUSY_FINE_US    100u     /* its first waits are this short ... */
#define BUSY_FINE_TRIES 500u     /* ... for this many tries (50 ms), then 1 ms each */

/* SQLite's own busy_timeout sleeps 1, 2, 5, 10 ... up to 100 ms between tries. The writer
 * waits on the other connection's short write transactions (the audit index catch-up), and
 * every try it slept past their end stalled intake: here it looks again every 100 us for
 * the first 50 ms, and every millisecond after that, until BUSY_TIMEOUT_US. */
static int busy_wait(void *ud, int tries)
{
    unsigned n = (unsigned)tries;
    uint64_t waited_us = n <= BUSY_FINE_TRIES ? (uint64_t)n * BUSY_FINE_US
                                              : (uint64_t)BUSY_FINE_TRIES * BUSY_FINE_US +
                                                    (uint64_t)(n - BUSY_FINE_TRIES) * 1000u;
    long step_us = n < BUSY_FINE_TRIES ? (long)BUSY_FINE_US : 1000L;

    (void)ud;
    if (tries < 0 || waited_us >= BUSY_TIMEOUT_US)
        return 0;
    (void)nanosleep(&(struct timespec){0, step_us * 1000L}, NULL);
    return 1;
}

int hale_store_open(const hale_store_opts *opts, hale_store **ret, hale_diag *reterr)
{
    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    hale_store *s;
    int r;

    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->read_only = opts->read_only;
    flags |= opts->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(opts->path, &s->db, flags, NULL) != SQLITE_OK) {
        hale_diag_set(reterr, "cannot open database '%s': %s", opts->path,
                      s->db ? sqlite3_errmsg(s->db) : "out of memory");
        r = HALE_ESTORE;
        goto fail;
    }
    /* Hostile SQL cannot corrupt the file, even through a bug of ours (SECURITY.md 1.10). */
    (void)sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    (void)sqlite3_busy_handler(s->db, busy_wait, NULL);
    r = apply_pragmas(s, opts->sync, reterr);
    if (r == 0 && !s->read_only && opts->wal_autocheckpoint > 0)
        (void)sqlite3_wal_autocheckpoint(s->db, opts->wal_autocheckpoint);
    if (r == 0)
        r = hale__store_migrate(s, reterr);
    if (r == 0 && s->schema_version == 0) {
        hale_diag_set(reterr, "database '%s' has no hale schema", opts->path);
        r = HALE_ESCHEMA;
    }
    if (r == 0)
        r = prepare_all(s, reterr);
    if (r < 0) {
        hale_diag_prefix(reterr, opts->path);
        goto fail;
    }
    *ret = s;
    return 0;
fail:
    hale_store_free(s);
    return r;
}

void hale_store_free(hale_store *s)
{
    if (!s)
        return;
    if (s->in_tx)
        hale_store_rollback(s);
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    sqlite3_close(s->db);
    free(s);
}

int hale_store_schema_version(const hale_store *s)
{
    return s->schema_version;
}

const char *hale_store_errmsg(const hale_store *s)
{
    return sqlite3_errmsg(s->db);
}

int hale_store_checkpoint(hale_store *s, int *ret_wal_frames)
{
    int frames = 0, done = 0;

    if (sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &done) !=
        SQLITE_OK)
        return HALE_ESTORE;
    if (ret_wal_frames)
        *ret_wal_frames = frames;
    return 0;
}

int hale__store_exec(hale_store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    (void)s;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : HALE_ESTORE;
}

int hale_store_begin(hale_store *s)
{
    int r;

    if (HALE_NEVER(s->in_tx))
        return HALE_ESTATE;
    r = hale__store_exec(s, s->stmt[ST_BEGIN]);
    if (r == 0)
        s->in_tx = true;
    return r;
}

int hale_store_commit(hale_store *s)
{
    int r;

    if (HALE_NEVER(!s->in_tx))
        return HALE_ESTATE;
    r = s->hooks.before_commit ? s->hooks.before_commit(s->hooks.ud) : 0;
    if (r == 0)
        r = hale__store_exec(s, s->stmt[ST_COMMIT]);
    if (r < 0) {
        hale_store_rollback(s);
        return r;
    }
    s->in_tx = false;
    if (s->hooks.after_end)
        s->hooks.after_end(true, s->hooks.ud);
    return 0;
}

void hale_store_rollback(hale_store *s)
{
    /* After some errors SQLite has already rolled back; ROLLBACK then fails harmlessly. */
    bool was_open = s->in_tx;

    if (!sqlite3_get_autocommit(s->db))
        (void)hale__store_exec(s, s->stmt[ST_ROLLBACK]);
    s->in_tx = false;
    if (was_open && s->hooks.after_end)
        s->hooks.after_end(false, s->hooks.ud);
}

bool hale_store_in_tx(const hale_store *s)
{
    return s->in_tx;
}

void hale_store_set_tx_hooks(hale_store *s, const hale_store_tx_hooks *hooks)
{
    if (hooks)
        s->hooks = *hooks;
    else
        memset(&s->hooks, 0, sizeof(s->hooks));
}

sqlite3 *hale_store_sqlite(hale_store *s)
{
    return s->db;
}

int hale__store_bind_text(sqlite3_stmt *st, int idx, const char *text)
{
    return sqlite3_bind_text(st, idx, text ? text : "", -1, SQLITE_STATIC) == SQLITE_OK
               ? 0
               : HALE_ESTORE;
}

int hale__store_bind_int(sqlite3_stmt *st, int idx, int64_t v)
{
    return sqlite3_bind_int64(st, idx, v) == SQLITE_OK ? 0 : HALE_ESTORE;
}

const char *hale__store_col_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    return t ? (const char *)t : "";
}
