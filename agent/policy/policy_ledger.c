/* agent/policy/policy_ledger.c - the action ledger behind the policy limits: one row per
 * action started, with its outcome once known, in the store's policy_action table. Counting
 * queries here answer the read-only view evaluation takes, so a restart loses no limit. */
#include "internal.h"

#include <sqlite3.h>

#include "hale/store.h"
#include "policy/policy_int.h"

enum ledger_stmt { LS_INSERT, LS_FINISH, LS_OUTCOME, LS_ABANDON, LS_PRUNE, LS__COUNT };

static const char *const sql[LS__COUNT] = {
    [LS_INSERT] = "INSERT INTO policy_action (started_ms, tool, target, service, labels, "
                  "automated, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running')",
    [LS_FINISH] = "UPDATE policy_action SET outcome = ?2, finished_ms = ?3 WHERE id = ?1 AND "
                  "outcome = 'running'",
    [LS_OUTCOME] = "SELECT outcome FROM policy_action WHERE id = ?1",
    [LS_ABANDON] = "UPDATE policy_action SET outcome = 'abandoned', finished_ms = ?1 "
                   "WHERE outcome = 'running'",
    [LS_PRUNE] = "DELETE FROM policy_action WHERE id IN (SELECT id FROM policy_action "
                 "WHERE started_ms < ?1 AND outcome != 'running' ORDER BY started_ms LIMIT ?2)",
};

/* Counting queries are built per kind and per set of filters present, so each can use the
 * index that fits (target or service with time); "?N IS NULL OR" forms would scan instead.
 * Parameters: ?1 since, ?2 tool, ?3 target, ?4 service, ?5 JSON path of the group label, ?6
 * its value. */
#define KINDS (HALE_POLICY_COUNT_FAILSTREAK + 1)
#define MASKS 16 /* tool, target, service, group */

static const char *const heads[KINDS] = {
    [HALE_POLICY_COUNT_ACTIONS] = "SELECT COUNT(*) FROM policy_action WHERE started_ms >= ?1",
    [HALE_POLICY_COUNT_RUNNING] = "SELECT COUNT(*) FROM policy_action WHERE outcome = 'running'",
    [HALE_POLICY_COUNT_LAST_MS] = "SELECT COALESCE(MAX(started_ms), 0) FROM policy_action "
                                  "WHERE 1",
    [HALE_POLICY_COUNT_TARGETS] = "SELECT COUNT(DISTINCT target) FROM policy_action "
                                  "WHERE started_ms >= ?1",
    [HALE_POLICY_COUNT_AUTOMATED] = "SELECT COUNT(*) FROM policy_action WHERE started_ms >= ?1 "
                                    "AND automated = 1",
    [HALE_POLICY_COUNT_FAILSTREAK] = "SELECT outcome = 'success' FROM policy_action "
                                     "WHERE started_ms >= ?1 AND outcome IN ('success', "
                                     "'failed', 'ineffective')",
};
static const char *const filters[4] = {" AND tool = ?2", " AND target = ?3", " AND service = ?4",
                                       " AND json_extract(labels, ?5) = ?6"};

struct hale_policy_ledger {
    hale_store *store;                 /* borrowed */
    sqlite3 *db;                       /* the store's connection, borrowed */
    sqlite3_stmt *stmt[LS__COUNT];     /* prepared at open */
    sqlite3_stmt *count[KINDS][MASKS]; /* counting queries, prepared on first use */
};

static const char *const outcome_names[] = {"running", "success", "failed", "ineffective",
                                            "abandoned"};

const char *hale_policy_outcome_name(hale_policy_outcome o)
{
    return (unsigned)o < HALE_ARRAY_SIZE(outcome_names) ? outcome_names[o] : "?";
}

void hale_policy_ledger_free(hale_policy_ledger *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < LS__COUNT; i++)
        sqlite3_finalize(l->stmt[i]);
    for (size_t k = 0; k < KINDS; k++)
        for (size_t m = 0; m < MASKS; m++)
            sqlite3_finalize(l->count[k][m]);
    free(l);
}

int hale_policy_ledger_open(hale_store *s, hale_policy_ledger **ret, hale_diag *reterr)
{
    hale_policy_ledger *l;

    if (hale_store_schema_version(s) < 3) {
        hale_diag_set(reterr, "store schema version %d has no policy tables (3 needed)",
                      hale_store_schema_version(s));
        return HALE_ESCHEMA;
    }
    if (!(l = calloc(1, sizeof(*l))))
        return -ENOMEM;
    l->store = s;
    l->db = hale_store_sqlite(s);
    for (size_t i = 0; i < LS__COUNT; i++) {
        if (sqlite3_prepare_v3(l->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &l->stmt[i], NULL) !=
            SQLITE_OK) {
            hale_diag_set(reterr, "cannot prepare policy ledger statement: %s",
                          sqlite3_errmsg(l->db));
            hale_policy_ledger_free(l);
            return HALE_ESTORE;
        }
    }
    *ret = l;
    return 0;
}

/* Bind text when given; a statement without that parameter just ignores it (SQLITE_RANGE). */
static void bind_opt(sqlite3_stmt *st, int idx, const char *text)
{
    if (text)
        (void)sqlite3_bind_text(st, idx, text, -1, SQLITE_STATIC);
}

/* '$."name"' for json_extract; names with a quote or backslash cannot be expressed. */
static int group_path(const char *label, char *out, size_t cap)
{
    if (strpbrk(label, "\"\\") || (size_t)snprintf(out, cap, "$.\"%s\"", label) >= cap)
        return -EINVAL;
    return 0;
}

static sqlite3_stmt *count_stmt(hale_policy_ledger *l, hale_policy_count_kind kind, unsigned mask)
{
    char text[512];
    size_t n;

    if (l->count[kind][mask])
        return l->count[kind][mask];
    n = (size_t)snprintf(text, sizeof(text), "%s", heads[kind]);
    for (unsigned f = 0; f < 4; f++)
        if (mask & (1u << f))
            n += (size_t)snprintf(text + n, sizeof(text) - n, "%s", filters[f]);
    if (kind == HALE_POLICY_COUNT_FAILSTREAK)
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              " ORDER BY started_ms DESC, id DESC LIMIT 10000");
    if (n >= sizeof(text) || sqlite3_prepare_v3(l->db, text, -1, SQLITE_PREPARE_PERSISTENT,
                                                &l->count[kind][mask], NULL) != SQLITE_OK)
        return NULL;
    return l->count[kind][mask];
}

static int ledger_count(void *ud, const hale_policy_count_query *q, int64_t *ret)
{
    hale_policy_ledger *l = ud;
    unsigned mask = 0;
    sqlite3_stmt *st;
    char path[300];
    int64_t n = 0;
    int rc;

    if ((unsigned)q->kind >= KINDS || (q->group_label && !q->group))
        return -EINVAL;
    if (q->group_label && group_path(q->group_label, path, sizeof(path)) < 0)
        return -EINVAL;
    mask = (q->tool ? 1u : 0) | (q->target ? 2u : 0) | (q->service ? 4u : 0) |
           (q->group_label ? 8u : 0);
    if (!(st = count_stmt(l, q->kind, mask)))
        return HALE_ESTORE;
    sqlite3_bind_int64(st, 1, q->since_ms);
    bind_opt(st, 2, q->tool);
    bind_opt(st, 3, q->target);
    bind_opt(st, 4, q->service);
    bind_opt(st, 5, q->group_label ? path : NULL);
    bind_opt(st, 6, q->group);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (q->kind != HALE_POLICY_COUNT_FAILSTREAK) {
            n = sqlite3_column_int64(st, 0);
            continue;
        }
        if (sqlite3_column_int(st, 0))
            break; /* the newest success ends the streak */
        n++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return HALE_ESTORE;
    *ret = n;
    return 0;
}

hale_policy_counts hale_policy_ledger_counts(hale_policy_ledger *l)
{
    hale_policy_counts c = {ledger_count, l};

    return c;
}

/* Run st (bound) to completion inside the caller's transaction or one of our own. */
static int write_step(hale_policy_ledger *l, sqlite3_stmt *st, int *ret_changes)
{
    bool own = !hale_store_in_tx(l->store);
    int r = own ? hale_store_begin(l->store) : 0;

    if (r == 0 && sqlite3_step(st) != SQLITE_DONE)
        r = HALE_ESTORE;
    if (r == 0 && ret_changes)
        *ret_changes = sqlite3_changes(l->db);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (own && r == 0)
        r = hale_store_commit(l->store);
    else if (own)
        hale_store_rollback(l->store);
    return r;
}

int hale_policy_ledger_begin(hale_policy_ledger *l, const hale_policy_request *req, bool automated,
                             int64_t at_ms, int64_t *ret_id)
{
    sqlite3_stmt *st = l->stmt[LS_INSERT];
    int r;

    sqlite3_bind_int64(st, 1, at_ms);
    sqlite3_bind_text(st, 2, req->tool, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, req->target_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, req->service, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, req->target_key, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, automated);
    r = write_step(l, st, NULL);
    if (r == 0 && ret_id)
        *ret_id = sqlite3_last_insert_rowid(l->db);
    return r;
}

int hale_policy_ledger_finish(hale_policy_ledger *l, int64_t id, hale_policy_outcome outcome,
                              int64_t at_ms)
{
    sqlite3_stmt *st = l->stmt[LS_FINISH];
    int changes = 0, r, rc;

    if (outcome == HALE_POLICY_OUTCOME_RUNNING || (unsigned)outcome >= 5)
        return -EINVAL;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, outcome_names[outcome], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, at_ms);
    r = write_step(l, st, &changes);
    if (r < 0 || changes == 1)
        return r;
    st = l->stmt[LS_OUTCOME];
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW ? HALE_ESTATE : rc == SQLITE_DONE ? HALE_ENOTFOUND : HALE_ESTORE;
}

int hale_policy_ledger_abandon_running(hale_policy_ledger *l, int64_t at_ms)
{
    sqlite3_stmt *st = l->stmt[LS_ABANDON];
    int changes = 0, r;

    sqlite3_bind_int64(st, 1, at_ms);
    r = write_step(l, st, &changes);
    return r < 0 ? r : changes;
}

int hale_policy_ledger_prune(hale_policy_ledger *l, int64_t before_ms, int max_rows)
{
    sqlite3_stmt *st = l->stmt[LS_PRUNE];
    int changes = 0, r;

    sqlite3_bind_int64(st, 1, before_ms);
    sqlite3_bind_int(st, 2, max_rows);
    r = write_step(l, st, &changes);
    return r < 0 ? r : changes;
}
