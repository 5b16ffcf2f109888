/* agent/audit/audit_open.c - binding the audit writer to a store: the log's origin, the
 * stored frontier and the transaction hooks. */
#include "internal.h"

#include <inttypes.h>

#include "audit/audit_int.h"
#include "hale/note.h"
#include "hale/store.h"
#include "util/json.h"
#include "util/utf8.h"

static const char sql_insert_leaf[] =
    "INSERT INTO audit_leaf (seq, body, leaf_hash) VALUES (?1, ?2, ?3)";
static const char sql_put_frontier[] =
    "INSERT INTO audit_frontier (id, size, frontier) VALUES (1, ?1, ?2) "
    "ON CONFLICT (id) DO UPDATE SET size = ?1, frontier = ?2";

static int prepare(hale_audit *a, const char *sql, sqlite3_stmt **ret, hale_diag *reterr)
{
    if (sqlite3_prepare_v3(a->db, sql, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL) != SQLITE_OK) {
        hale_diag_set(reterr, "cannot prepare audit statement: %s", sqlite3_errmsg(a->db));
        return HALE_ESTORE;
    }
    return 0;
}

/* Run sql with up to one text parameter and read one text or integer column of its first row.
 * Returns 1 with a row, 0 without, HALE_ESTORE on error. */
static int query_one(sqlite3 *db, const char *sql, const char *param, char *ret_text, size_t cap,
                     int64_t *ret_int)
{
    sqlite3_stmt *st = NULL;
    int rc, r = 0;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return HALE_ESTORE;
    if (param)
        sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        r = 1;
        if (ret_text)
            snprintf(ret_text, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        if (ret_int)
            *ret_int = sqlite3_column_int64(st, 0);
    } else if (rc != SQLITE_DONE) {
        r = HALE_ESTORE;
    }
    sqlite3_finalize(st);
    return r;
}

static int bind_origin(hale_audit *a, const char *origin, hale_diag *reterr)
{
    char stored[HALE_AUDIT_MAX_ORIGIN + 1];
    int r = query_one(a->db, "SELECT value FROM audit_meta WHERE name = 'origin'", NULL, stored,
                      sizeof(stored), NULL);

    if (r < 0) {
        hale_diag_set(reterr, "cannot read the audit log's origin: %s", sqlite3_errmsg(a->db));
        return r;
    }
    if (r == 1) {
        if (strcmp(stored, origin) != 0) {
            hale_diag_set(reterr,
                          "audit origin '%s' differs from the log's '%s': a log never changes "
                          "its identity (set audit_origin back, or use a new data_dir)",
                          origin, stored);
            return HALE_ESCHEMA;
        }
        return 0;
    }
    if ((r = hale_store_begin(a->store)) < 0)
        return r;
    r = query_one(a->db, "INSERT INTO audit_meta (name, value) VALUES ('origin', ?1)", origin, NULL,
                  0, NULL);
    if (r == 0)
        r = hale_store_commit(a->store);
    else
        hale_store_rollback(a->store);
    if (r < 0)
        hale_diag_set(reterr, "cannot record the audit log's origin: %s", sqlite3_errmsg(a->db));
    return r;
}

/* Extend f with the stored leaf hashes from f->size on; the frontier row lags only when a
 * commit wrote leaves without it, which the hooks prevent, so this is a repair path. */
static int catch_up(hale_audit *a, hale_merkle_frontier *f, hale_diag *reterr)
{
    sqlite3_stmt *st = NULL;
    int rc, r = 0;

    if (sqlite3_prepare_v2(a->db,
                           "SELECT seq, leaf_hash FROM audit_leaf WHERE seq >= ?1 "
                           "ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK)
        return HALE_ESTORE;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)f->size);
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        hale_hash h;

        if ((uint64_t)sqlite3_column_int64(st, 0) != f->size ||
            sqlite3_column_bytes(st, 1) != (int)sizeof(h.b)) {
            hale_diag_set(reterr, "audit leaf %" PRIu64 " is missing or malformed", f->size);
            r = HALE_ESCHEMA;
            break;
        }
        memcpy(h.b, sqlite3_column_blob(st, 1), sizeof(h.b));
        r = hale_merkle_frontier_append(f, &h);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = HALE_ESTORE;
    sqlite3_finalize(st);
    return r;
}

/* Extend the frontier over leaves it does not cover yet and store it, so that the next open
 * starts from the repaired row. */
static int repair(hale_audit *a, hale_diag *reterr)
{
    int r = catch_up(a, &a->head, reterr);

    if (r < 0)
        return r;
    a->committed = a->head;
    if ((r = hale_store_begin(a->store)) < 0)
        return r;
    r = hale__audit_write_frontier(a);
    if (r == 0)
        r = hale_store_commit(a->store);
    else
        hale_store_rollback(a->store);
    if (r < 0)
        hale_diag_set(reterr, "cannot store the repaired audit frontier: %s",
                      sqlite3_errmsg(a->db));
    return r;
}

static int load_frontier(hale_audit *a, hale_diag *reterr)
{
    sqlite3_stmt *st = NULL;
    int64_t leaves = 0;
    int rc, r = 0;

    hale_merkle_frontier_init(&a->head);
    if (sqlite3_prepare_v2(a->db, "SELECT frontier FROM audit_frontier WHERE id = 1", -1, &st,
                           NULL) != SQLITE_OK)
        return HALE_ESTORE;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        r = hale_merkle_frontier_decode(sqlite3_column_blob(st, 0),
                                        (size_t)sqlite3_column_bytes(st, 0), &a->head);
    else if (rc != SQLITE_DONE)
        r = HALE_ESTORE;
    sqlite3_finalize(st);
    if (r < 0) {
        hale_diag_set(reterr, "the stored audit frontier is unreadable");
        return r;
    }
    if (query_one(a->db, "SELECT coalesce(max(seq) + 1, 0) FROM audit_leaf", NULL, NULL, 0,
                  &leaves) < 0)
        return HALE_ESTORE;
    if ((uint64_t)leaves < a->head.size) {
        hale_diag_set(reterr,
                      "the audit frontier covers %" PRIu64 " leaves but only %" PRId64
                      " are stored: the log was truncated; run `hale audit verify`",
                      a->head.size, leaves);
        return HALE_ESCHEMA;
    }
    a->committed = a->head;
    return (uint64_t)leaves > a->head.size ? repair(a, reterr) : 0;
}

static int origin_as_json(hale_audit *a)
{
    size_t len = strlen(a->origin);
    hale_buf b;
    int r;

    if (!hale_utf8_is_valid(a->origin, len))
        return HALE_EUTF8;
    hale_buf_init(&b, sizeof(a->origin_json) - 1);
    r = hale_json_put_string(&b, a->origin, len, true);
    if (r == 0)
        memcpy(a->origin_json, b.data, b.len + 1);
    hale_buf_release(&b);
    return r;
}

int hale_audit_open(hale_store *s, const char *origin, hale_audit **ret, hale_diag *reterr)
{
    hale_store_tx_hooks hooks = {hale__audit_before_commit, hale__audit_after_end, NULL};
    hale_audit *a;
    int r;

    if (!origin || strlen(origin) > HALE_AUDIT_MAX_ORIGIN ||
        !hale_note_name_is_valid(origin, strlen(origin))) {
        hale_diag_set(reterr,
                      "audit origin '%s': expected 1 to %u bytes of UTF-8 without spaces or '+'",
                      origin ? origin : "(null)", HALE_AUDIT_MAX_ORIGIN);
        return HALE_ESCHEMA;
    }
    if (hale_store_in_tx(s)) {
        hale_diag_set(reterr, "audit log opened inside a transaction");
        return HALE_ESTATE;
    }
    a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->store = s;
    a->db = hale_store_sqlite(s);
    snprintf(a->origin, sizeof(a->origin), "%s", origin);
    hale_buf_init(&a->body, HALE_AUDIT_MAX_LEAF_BYTES);
    r = origin_as_json(a);
    if (r == 0)
        r = bind_origin(a, origin, reterr);
    if (r == 0)
        r = prepare(a, sql_insert_leaf, &a->insert_leaf, reterr);
    if (r == 0)
        r = prepare(a, sql_put_frontier, &a->put_frontier, reterr);
    if (r == 0)
        r = load_frontier(a, reterr);
    if (r == 0)
        hale__audit_recent_rebase(a);
    if (r < 0) {
        hale_audit_free(a);
        return r;
    }
    hooks.ud = a;
    hale_store_set_tx_hooks(s, &hooks);
    a->hooked = true;
    *ret = a;
    return 0;
}

void hale_audit_free(hale_audit *a)
{
    if (!a)
        return;
    if (a->hooked)
        hale_store_set_tx_hooks(a->store, NULL);
    sqlite3_finalize(a->insert_leaf);
    sqlite3_finalize(a->put_frontier);
    hale_buf_release(&a->body);
    free(a->recent);
    free(a);
}
