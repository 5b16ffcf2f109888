/* agent/policy/policy_approvals_store.c - where approvals live: the policy_approval and
 * policy_vote tables, their statements, reading one row, state changes inside short
 * transactions, and the JSON views the CLI and the API show. The rules of voting are in
 * policy_approvals.c. */
#include "internal.h"

#include <sodium.h>
#include <sqlite3.h>

#include "hale/store.h"
#include "policy/policy_int.h"
#include "util/timeutil.h"

#define COLS                                                                                       \
    "id, digest, nonce, tool, request, requester, incident_id, requirements, self_approval, "      \
    "escalate, dry_run, policy_hash, created_ms, expires_ms, state"

static const char *const sql[AP__COUNT] = {
    [AP_INSERT] = "INSERT INTO policy_approval (digest, nonce, tool, request, requester, "
                  "incident_id, requirements, self_approval, escalate, dry_run, policy_hash, "
                  "created_ms, expires_ms, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                  "?10, ?11, ?12, ?13, 'pending')",
    [AP_GET] = "SELECT " COLS " FROM policy_approval WHERE id = ?1",
    [AP_STATE] = "UPDATE policy_approval SET state = ?2, decided_ms = ?3 WHERE id = ?1",
    [AP_VOTES] = "SELECT user, approve, comment, at_ms FROM policy_vote WHERE approval_id = ?1 "
                 "ORDER BY at_ms, user",
    [AP_VOTE] = "INSERT INTO policy_vote (approval_id, user, approve, comment, at_ms) "
                "VALUES (?1, ?2, ?3, ?4, ?5)",
    [AP_DUE] = "SELECT id, incident_id, escalate FROM policy_approval WHERE state = 'pending' "
               "AND expires_ms <= ?1 ORDER BY id",
    [AP_LIST] = "SELECT id FROM policy_approval WHERE ?1 IS NULL OR state = ?1 ORDER BY id DESC "
                "LIMIT ?2",
};

static const char *const state_names[] = {"pending", "approved", "denied", "expired", "consumed"};

const char *hale_approval_state_name(hale_approval_state s)
{
    return (unsigned)s < HALE_ARRAY_SIZE(state_names) ? state_names[s] : "?";
}

void hale__approvals_row_release(struct ap_row *r)
{
    free(r->tool);
    json_decref(r->request);
    free(r->requester);
    free(r->incident_id);
    json_decref(r->requirements);
    free(r->policy_hash);
}

void hale_approvals_free(hale_approvals *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < AP__COUNT; i++)
        sqlite3_finalize(a->stmt[i]);
    free(a);
}

int hale_approvals_open(hale_store *s, hale_approvals **ret, hale_diag *reterr)
{
    hale_approvals *a;

    if (hale_store_schema_version(s) < 3) {
        hale_diag_set(reterr, "store schema version %d has no policy tables (3 needed)",
                      hale_store_schema_version(s));
        return HALE_ESCHEMA;
    }
    if (sodium_init() < 0)
        return -EIO;
    if (!(a = calloc(1, sizeof(*a))))
        return -ENOMEM;
    a->store = s;
    a->db = hale_store_sqlite(s);
    for (size_t i = 0; i < AP__COUNT; i++) {
        if (sqlite3_prepare_v3(a->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &a->stmt[i], NULL) !=
            SQLITE_OK) {
            hale_diag_set(reterr, "cannot prepare approvals statement: %s", sqlite3_errmsg(a->db));
            hale_approvals_free(a);
            return HALE_ESTORE;
        }
    }
    *ret = a;
    return 0;
}

static void bind_opt_text(sqlite3_stmt *st, int idx, const char *text)
{
    if (text)
        sqlite3_bind_text(st, idx, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, idx);
}

void hale__approvals_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

char *hale__approvals_col_dup(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);

    return strdup(t ? t : "");
}

static json_t *col_json(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);

    return t ? json_loads(t, JSON_REJECT_DUPLICATES, NULL) : NULL;
}

static int state_parse(const char *s)
{
    for (size_t i = 0; s && i < HALE_ARRAY_SIZE(state_names); i++)
        if (strcmp(s, state_names[i]) == 0)
            return (int)i;
    return -1;
}

int hale__approvals_row_get(hale_approvals *a, int64_t id, struct ap_row *r)
{
    sqlite3_stmt *st = a->stmt[AP_GET];
    int rc, s;

    memset(r, 0, sizeof(*r));
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        hale__approvals_done(st);
        return rc == SQLITE_DONE ? HALE_ENOTFOUND : HALE_ESTORE;
    }
    r->id = sqlite3_column_int64(st, 0);
    snprintf(r->digest, sizeof(r->digest), "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(r->nonce, sizeof(r->nonce), "%s", (const char *)sqlite3_column_text(st, 2));
    r->tool = hale__approvals_col_dup(st, 3);
    r->request = col_json(st, 4);
    r->requester = hale__approvals_col_dup(st, 5);
    r->incident_id = hale__approvals_col_dup(st, 6);
    r->requirements = col_json(st, 7);
    r->self_approval = sqlite3_column_int(st, 8);
    r->escalate = sqlite3_column_int(st, 9);
    r->dry_run = sqlite3_column_int(st, 10);
    r->policy_hash = hale__approvals_col_dup(st, 11);
    r->created_ms = sqlite3_column_int64(st, 12);
    r->expires_ms = sqlite3_column_int64(st, 13);
    s = state_parse((const char *)sqlite3_column_text(st, 14));
    hale__approvals_done(st);
    r->state = s < 0 ? HALE_APPROVAL_DENIED : (hale_approval_state)s;
    if (!r->tool || !r->request || !r->requester || !r->incident_id ||
        !json_is_array(r->requirements) || !r->policy_hash) {
        hale__approvals_row_release(r);
        return HALE_ESTORE;
    }
    return 0;
}

int hale__approvals_set_state(hale_approvals *a, int64_t id, hale_approval_state s, int64_t now_ms)
{
    sqlite3_stmt *st = a->stmt[AP_STATE];
    int rc;

    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, state_names[s], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_ms);
    rc = sqlite3_step(st);
    hale__approvals_done(st);
    return rc == SQLITE_DONE ? 0 : HALE_ESTORE;
}

int hale__approvals_tx_begin(hale_approvals *a, bool *own)
{
    *own = !hale_store_in_tx(a->store);
    return *own ? hale_store_begin(a->store) : 0;
}

int hale__approvals_tx_end(hale_approvals *a, bool own, int r)
{
    if (!own)
        return r;
    if (r < 0) {
        hale_store_rollback(a->store);
        return r;
    }
    return hale_store_commit(a->store);
}

bool hale__approvals_in_users(const json_t *users, const char *user)
{
    size_t i;
    json_t *u;

    json_array_foreach(users, i, u) if (strcmp(json_string_value(u), user) == 0) return true;
    return false;
}

static json_t *votes_json(hale_approvals *a, int64_t id)
{
    sqlite3_stmt *st = a->stmt[AP_VOTES];
    json_t *out = json_array();
    char at[40];
    int rc = SQLITE_DONE;

    sqlite3_bind_int64(st, 1, id);
    while (out && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *v = json_pack("{s:s, s:s, s:s, s:s}", "user", sqlite3_column_text(st, 0), "vote",
                              sqlite3_column_int(st, 1) ? "approve" : "deny", "comment",
                              sqlite3_column_text(st, 2), "at",
                              hale_rfc3339_format(sqlite3_column_int64(st, 3), at, sizeof(at)));

        if (json_array_append_new(out, v) < 0)
            break;
    }
    if (out && rc != SQLITE_DONE) {
        json_decref(out);
        out = NULL;
    }
    hale__approvals_done(st);
    return out;
}

/* Each requirement with the approving votes that count toward it. */
static int annotate(json_t *reqs, const json_t *votes)
{
    size_t i, k;
    json_t *q, *v;

    json_array_foreach(reqs, i, q)
    {
        json_int_t n = 0;

        json_array_foreach(votes, k, v) n +=
            strcmp(json_string_value(json_object_get(v, "vote")), "approve") == 0 &&
            hale__approvals_in_users(json_object_get(q, "users"),
                                     json_string_value(json_object_get(v, "user")));
        if (json_object_set_new(q, "approvals", json_integer(n)) < 0)
            return -ENOMEM;
    }
    return 0;
}

int hale_approvals_get_json(hale_approvals *a, int64_t id, json_t **ret)
{
    char created[40], expires[40];
    json_t *o = NULL, *votes;
    struct ap_row r;
    int rc = hale__approvals_row_get(a, id, &r);

    if (rc < 0)
        return rc;
    votes = votes_json(a, id);
    if (votes && annotate(r.requirements, votes) == 0)
        o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:O, "
                      "s:O, s:o}",
                      "id", (json_int_t)r.id, "state", state_names[r.state], "tool", r.tool,
                      "digest", r.digest, "nonce", r.nonce, "requester", r.requester, "incident_id",
                      r.incident_id, "created_at",
                      hale_rfc3339_format(r.created_ms, created, sizeof(created)), "expires_at",
                      hale_rfc3339_format(r.expires_ms, expires, sizeof(expires)), "on_expiry",
                      r.escalate ? "escalate" : "deny", "self_approval", r.self_approval, "dry_run",
                      r.dry_run, "policy_hash", r.policy_hash, "request", r.request, "requirements",
                      r.requirements, "votes", votes);
    else
        json_decref(votes);
    hale__approvals_row_release(&r);
    if (!o)
        return -ENOMEM;
    *ret = o;
    return 0;
}

int hale_approvals_list_json(hale_approvals *a, const char *state, unsigned limit, json_t **ret)
{
    sqlite3_stmt *st = a->stmt[AP_LIST];
    json_t *list = json_array(), *one;
    int64_t ids[1000];
    int n = 0, rc, r = 0;

    if (!list)
        return -ENOMEM;
    if (state && state_parse(state) < 0) {
        json_decref(list);
        return -EINVAL;
    }
    bind_opt_text(st, 1, state);
    sqlite3_bind_int64(st, 2, limit == 0 || limit > 1000 ? 1000 : limit);
    while (n < 1000 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        ids[n++] = sqlite3_column_int64(st, 0);
    hale__approvals_done(st);
    for (int i = 0; r == 0 && i < n; i++) {
        r = hale_approvals_get_json(a, ids[i], &one);
        if (r == 0 && json_array_append_new(list, one) < 0)
            r = -ENOMEM;
    }
    if (r < 0 || !(one = json_pack("{s:o}", "approvals", list))) {
        if (r >= 0)
            r = -ENOMEM;
        else
            json_decref(list);
        return r;
    }
    *ret = one;
    return 0;
}
