/* agent/loop/loop_heal_db.c - the heal_action table (migration 7): one row per remediation
 * action with its idempotency key and its state, written in the transaction of the audit leaf
 * that moves it (decision, exec_intent, exec_result, exec_abandoned). The heal module owns the
 * table, as audit owns its own (include/hale/store.h, hale_store_sqlite). Statements are
 * prepared per call: actions are rare, and the writer and the reader both read the table. */
#include "internal.h"

#include <inttypes.h>

#include "loop/loop_heal.h"

#define ROW_COLS                                                                                   \
    "id, idem_key, incident_id, kind, decision_id, intent_id, attempt, tool, digest, request, "    \
    "effect, approval_id, ledger_id, state, outcome, exit_code, output"

void hale__heal_row_release(struct heal_row *r)
{
    if (!r)
        return;
    free(r->request);
    free(r->output);
    free(r->out_text);
    free(r->err_text);
    r->request = r->output = r->out_text = r->err_text = NULL;
}

static int dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    return src && !(*dst = strdup(src)) ? -ENOMEM : 0;
}

int hale__heal_row_copy(struct heal_row *dst, const struct heal_row *src)
{
    hale__heal_row_release(dst);
    *dst = *src;
    dst->request = dst->output = dst->out_text = dst->err_text = NULL;
    if (dup_opt(&dst->request, src->request) < 0 || dup_opt(&dst->output, src->output) < 0 ||
        dup_opt(&dst->out_text, src->out_text) < 0 || dup_opt(&dst->err_text, src->err_text) < 0) {
        hale__heal_row_release(dst);
        return -ENOMEM;
    }
    return 0;
}

static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_TRANSIENT) == SQLITE_OK ? 0
                                                                                   : HALE_ESTORE;
}

static int count_attempts(sqlite3 *db, const struct heal_row *r, int64_t *ret)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM heal_action WHERE incident_id = ?1 AND "
                           "digest = ?2 AND kind = ?3",
                           -1, &st, NULL) != SQLITE_OK)
        return HALE_ESTORE;
    sqlite3_bind_int64(st, 1, r->incident_id);
    (void)bind_text(st, 2, r->digest);
    (void)bind_text(st, 3, r->kind);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *ret = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : HALE_ESTORE;
}

int hale__heal_db_insert(sqlite3 *db, struct heal_row *r, int64_t now_ms)
{
    sqlite3_stmt *st = NULL;
    int64_t n = 0;
    int rc, i = 1;

    if (r->attempt == 0) {
        if (count_attempts(db, r, &n) < 0)
            return HALE_ESTORE;
        r->attempt = n + 1;
        snprintf(r->idem_key, sizeof(r->idem_key), "%" PRId64 ":%s%s:%" PRId64, r->incident_id,
                 strcmp(r->kind, "rollback") == 0 ? "rollback:" : "", r->digest, r->attempt);
    }
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO heal_action (idem_key, incident_id, kind, decision_id, "
                           "intent_id, attempt, tool, digest, request, effect, approval_id, "
                           "ledger_id, state, outcome, exit_code, output, stdout, stderr, "
                           "created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                           "?10, ?11, ?12, ?13, ?14, NULL, ?15, '', '', ?16, ?16)",
                           -1, &st, NULL) != SQLITE_OK)
        return HALE_ESTORE;
    (void)bind_text(st, i++, r->idem_key);
    sqlite3_bind_int64(st, i++, r->incident_id);
    (void)bind_text(st, i++, r->kind);
    (void)bind_text(st, i++, r->decision_id);
    (void)bind_text(st, i++, r->intent_id);
    sqlite3_bind_int64(st, i++, r->attempt);
    (void)bind_text(st, i++, r->tool);
    (void)bind_text(st, i++, r->digest);
    (void)bind_text(st, i++, r->request);
    (void)bind_text(st, i++, r->effect);
    sqlite3_bind_int64(st, i++, r->approval_id);
    sqlite3_bind_int64(st, i++, r->ledger_id);
    (void)bind_text(st, i++, r->state);
    (void)bind_text(st, i++, r->outcome);
    (void)bind_text(st, i++, r->output);
    sqlite3_bind_int64(st, i, now_ms);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return HALE_ESTORE;
    r->id = sqlite3_last_insert_rowid(db);
    return 0;
}

int hale__heal_db_update(sqlite3 *db, const struct heal_row *r, int64_t now_ms)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db,
                           "UPDATE heal_action SET intent_id = ?2, approval_id = ?3, ledger_id = "
                           "?4, state = ?5, outcome = ?6, exit_code = ?7, output = ?8, stdout = "
                           "coalesce(?9, stdout), stderr = coalesce(?10, stderr), updated_ms = "
                           "?11 WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return HALE_ESTORE;
    sqlite3_bind_int64(st, 1, r->id);
    (void)bind_text(st, 2, r->intent_id);
    sqlite3_bind_int64(st, 3, r->approval_id);
    sqlite3_bind_int64(st, 4, r->ledger_id);
    (void)bind_text(st, 5, r->state);
    (void)bind_text(st, 6, r->outcome);
    if (r->exit_code >= 0)
        sqlite3_bind_int(st, 7, r->exit_code);
    (void)bind_text(st, 8, r->output);
    if (r->out_text)
        (void)bind_text(st, 9, r->out_text);
    if (r->err_text)
        (void)bind_text(st, 10, r->err_text);
    sqlite3_bind_int64(st, 11, now_ms);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE && sqlite3_changes(db) == 1 ? 0 : HALE_ESTORE;
}

static void copy_col(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static int read_row(sqlite3_stmt *st, struct heal_row *r)
{
    const unsigned char *req = sqlite3_column_text(st, 9), *out = sqlite3_column_text(st, 16);

    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    copy_col(st, 1, r->idem_key, sizeof(r->idem_key));
    r->incident_id = sqlite3_column_int64(st, 2);
    copy_col(st, 3, r->kind, sizeof(r->kind));
    copy_col(st, 4, r->decision_id, sizeof(r->decision_id));
    copy_col(st, 5, r->intent_id, sizeof(r->intent_id));
    r->attempt = sqlite3_column_int64(st, 6);
    copy_col(st, 7, r->tool, sizeof(r->tool));
    copy_col(st, 8, r->digest, sizeof(r->digest));
    copy_col(st, 10, r->effect, sizeof(r->effect));
    r->approval_id = sqlite3_column_int64(st, 11);
    r->ledger_id = sqlite3_column_int64(st, 12);
    copy_col(st, 13, r->state, sizeof(r->state));
    copy_col(st, 14, r->outcome, sizeof(r->outcome));
    r->exit_code = sqlite3_column_type(st, 15) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 15);
    r->request = strdup(req ? (const char *)req : "");
    r->output = strdup(out ? (const char *)out : "");
    if (!r->request || !r->output) {
        hale__heal_row_release(r);
        return -ENOMEM;
    }
    return 0;
}

int hale__heal_db_latest(sqlite3 *db, int64_t incident_id, struct heal_row *ret)
{
    sqlite3_stmt *st = NULL;
    int rc, r;

    if (sqlite3_prepare_v2(db,
                           "SELECT " ROW_COLS " FROM heal_action WHERE incident_id = ?1 "
                           "ORDER BY id DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return HALE_ESTORE;
    sqlite3_bind_int64(st, 1, incident_id);
    rc = sqlite3_step(st);
    r = rc == SQLITE_ROW ? read_row(st, ret) : rc == SQLITE_DONE ? HALE_ENOTFOUND : HALE_ESTORE;
    sqlite3_finalize(st);
    return r;
}

int hale__heal_db_open_each(sqlite3 *db, int (*cb)(struct heal_row *r, void *ud), void *ud)
{
    sqlite3_stmt *st = NULL;
    struct heal_row row;
    int rc, r = 0;

    if (sqlite3_prepare_v2(db,
                           "SELECT " ROW_COLS " FROM heal_action WHERE state IN ('intent', "
                           "'running') ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return HALE_ESTORE;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        r = read_row(st, &row);
        if (r == 0) {
            r = cb(&row, ud);
            hale__heal_row_release(&row);
        }
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = HALE_ESTORE;
    sqlite3_finalize(st);
    return r;
}

int hale__heal_db_decision_of(sqlite3 *db, int64_t approval_id, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db,
                           "SELECT decision_id FROM heal_action WHERE approval_id = ?1 "
                           "ORDER BY id DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return HALE_ESTORE;
    sqlite3_bind_int64(st, 1, approval_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        copy_col(st, 0, out, cap);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? HALE_ENOTFOUND : HALE_ESTORE;
}
