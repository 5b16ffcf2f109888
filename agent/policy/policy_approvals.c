/* agent/policy/policy_approvals.c - pending approvals in the store: created from a
 * require_approval verdict with the exact action digest, a random nonce and an expiry; votes
 * checked against that digest, the approver sets resolved at creation, self-approval and
 * duplicates; quorum counted per requirement; the approved action handed out once. */
#include "internal.h"

#include <sodium.h>
#include <sqlite3.h>

#include "hale/store.h"
#include "policy/policy_int.h"
#include "util/json.h"
#include "util/strparse.h"
#include "util/timeutil.h"

#define COLS                                                                                       \
    "id, digest, nonce, tool, request, requester, incident_id, requirements, self_approval, "      \
    "escalate, dry_run, policy_hash, created_ms, expires_ms, state"

enum ap_stmt { AP_INSERT, AP_GET, AP_STATE, AP_VOTES, AP_VOTE, AP_DUE, AP_LIST, AP__COUNT };

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

struct hale_approvals {
    hale_store *store;             /* borrowed */
    sqlite3 *db;                   /* the store's connection */
    sqlite3_stmt *stmt[AP__COUNT]; /* prepared at open */
};

/* One approval row, copied out of SQLite. */
struct row {
    int64_t id;                          /* approval id */
    char digest[HALE_POLICY_DIGEST_HEX]; /* action digest */
    char nonce[33];                      /* 16 random bytes in hex */
    char *tool;                          /* owned */
    json_t *request;                     /* the request as proposed */
    char *requester;                     /* owned */
    char *incident_id;                   /* owned */
    json_t *requirements;                /* [{"rule", "count", "users", "groups"}] */
    bool self_approval;                  /* the requester may approve */
    bool escalate;                       /* on_expiry */
    bool dry_run;                        /* from the verdict */
    char *policy_hash;                   /* owned */
    int64_t created_ms;                  /* unix ms */
    int64_t expires_ms;                  /* unix ms */
    hale_approval_state state;           /* now */
};

const char *hale_approval_state_name(hale_approval_state s)
{
    return (unsigned)s < HALE_ARRAY_SIZE(state_names) ? state_names[s] : "?";
}

static void row_release(struct row *r)
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

static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static char *col_dup(sqlite3_stmt *st, int i)
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

/* Returns 0, HALE_ENOTFOUND or HALE_ESTORE; *r is filled (release it) on 0. */
static int row_get(hale_approvals *a, int64_t id, struct row *r)
{
    sqlite3_stmt *st = a->stmt[AP_GET];
    int rc, s;

    memset(r, 0, sizeof(*r));
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        done(st);
        return rc == SQLITE_DONE ? HALE_ENOTFOUND : HALE_ESTORE;
    }
    r->id = sqlite3_column_int64(st, 0);
    snprintf(r->digest, sizeof(r->digest), "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(r->nonce, sizeof(r->nonce), "%s", (const char *)sqlite3_column_text(st, 2));
    r->tool = col_dup(st, 3);
    r->request = col_json(st, 4);
    r->requester = col_dup(st, 5);
    r->incident_id = col_dup(st, 6);
    r->requirements = col_json(st, 7);
    r->self_approval = sqlite3_column_int(st, 8);
    r->escalate = sqlite3_column_int(st, 9);
    r->dry_run = sqlite3_column_int(st, 10);
    r->policy_hash = col_dup(st, 11);
    r->created_ms = sqlite3_column_int64(st, 12);
    r->expires_ms = sqlite3_column_int64(st, 13);
    s = state_parse((const char *)sqlite3_column_text(st, 14));
    done(st);
    r->state = s < 0 ? HALE_APPROVAL_DENIED : (hale_approval_state)s;
    if (!r->tool || !r->request || !r->requester || !r->incident_id ||
        !json_is_array(r->requirements) || !r->policy_hash) {
        row_release(r);
        return HALE_ESTORE;
    }
    return 0;
}

static int set_state(hale_approvals *a, int64_t id, hale_approval_state s, int64_t now_ms)
{
    sqlite3_stmt *st = a->stmt[AP_STATE];
    int rc;

    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, state_names[s], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_ms);
    rc = sqlite3_step(st);
    done(st);
    return rc == SQLITE_DONE ? 0 : HALE_ESTORE;
}

/* Begin a transaction unless the caller has one; end it with tx_end. */
static int tx_begin(hale_approvals *a, bool *own)
{
    *own = !hale_store_in_tx(a->store);
    return *own ? hale_store_begin(a->store) : 0;
}

static int tx_end(hale_approvals *a, bool own, int r)
{
    if (!own)
        return r;
    if (r < 0) {
        hale_store_rollback(a->store);
        return r;
    }
    return hale_store_commit(a->store);
}

int hale_approvals_create(hale_approvals *a, const hale_policy_verdict *v,
                          const hale_policy_request *req, const char *requester,
                          const char *incident_id, int64_t now_ms, int64_t *ret_id)
{
    sqlite3_stmt *st = a->stmt[AP_INSERT];
    uint8_t nonce_raw[16];
    char nonce[33], *reqs_text = NULL, *req_text = NULL;
    uint64_t expiry_ms = 0;
    bool escalate = false, self = false, own;
    json_t *reqs;
    int r;

    if (v->effect != HALE_POLICY_REQUIRE_APPROVAL || strcmp(v->digest_hex, req->digest_hex) != 0)
        return HALE_EPOLICY;
    reqs = hale__policy_verdict_requirements(v, &expiry_ms, &escalate, &self);
    if (reqs) {
        reqs_text = hale_json_dump_canonical(reqs);
        req_text = hale_json_dump_canonical(req->root);
    }
    json_decref(reqs);
    if (!reqs_text || !req_text) {
        free(reqs_text);
        free(req_text);
        return -ENOMEM;
    }
    randombytes_buf(nonce_raw, sizeof(nonce_raw));
    hale_hex_encode(nonce_raw, sizeof(nonce_raw), nonce);
    sqlite3_bind_text(st, 1, req->digest_hex, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, nonce, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, req->tool, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, req_text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, requester ? requester : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, incident_id ? incident_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, reqs_text, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, self);
    sqlite3_bind_int(st, 9, escalate);
    sqlite3_bind_int(st, 10, v->dry_run);
    sqlite3_bind_text(st, 11, v->policy->hash_hex, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 12, now_ms);
    sqlite3_bind_int64(st, 13,
                       now_ms + (int64_t)(expiry_ms > (uint64_t)INT64_MAX / 4
                                              ? (uint64_t)INT64_MAX / 4
                                              : expiry_ms));
    r = tx_begin(a, &own);
    if (r == 0 && sqlite3_step(st) != SQLITE_DONE)
        r = HALE_ESTORE;
    if (r == 0 && ret_id)
        *ret_id = sqlite3_last_insert_rowid(a->db);
    done(st);
    free(reqs_text);
    free(req_text);
    return tx_end(a, own, r);
}

static bool in_users(const json_t *users, const char *user)
{
    size_t i;
    json_t *u;

    json_array_foreach(users, i, u) if (strcmp(json_string_value(u), user) == 0) return true;
    return false;
}

static bool allowed_anywhere(const struct row *r, const char *user)
{
    size_t i;
    json_t *q;

    json_array_foreach(r->requirements, i,
                       q) if (in_users(json_object_get(q, "users"), user)) return true;
    return false;
}

/* Approving votes so far, as a JSON array of user names; NULL on error. voted_by gets whether
 * user already voted (either way). */
static json_t *approvers(hale_approvals *a, int64_t id, const char *user, bool *voted_by)
{
    sqlite3_stmt *st = a->stmt[AP_VOTES];
    json_t *out = json_array();
    int rc;

    *voted_by = false;
    sqlite3_bind_int64(st, 1, id);
    while (out && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *u = (const char *)sqlite3_column_text(st, 0);

        if (user && strcmp(u, user) == 0)
            *voted_by = true;
        if (sqlite3_column_int(st, 1) && json_array_append_new(out, json_string(u)) < 0)
            break;
    }
    if (out && rc != SQLITE_DONE) {
        json_decref(out);
        out = NULL;
    }
    done(st);
    return out;
}

static bool quorum_met(const struct row *r, const json_t *yes)
{
    size_t i, k;
    json_t *q, *u;

    json_array_foreach(r->requirements, i, q)
    {
        json_int_t n = 0;

        json_array_foreach(yes, k, u) n +=
            in_users(json_object_get(q, "users"), json_string_value(u));
        if (n < json_integer_value(json_object_get(q, "count")))
            return false;
    }
    return true;
}

static int refuse_vote(const struct row *r, const hale_approval_vote *vote, int64_t now_ms,
                       hale_diag *reterr)
{
    if (r->state != HALE_APPROVAL_PENDING) {
        hale_diag_set(reterr, "approval %lld is %s, not pending", (long long)r->id,
                      state_names[r->state]);
        return HALE_ESTATE;
    }
    if (now_ms >= r->expires_ms) {
        char at[40];

        hale_diag_set(reterr, "approval %lld expired at %s", (long long)r->id,
                      hale_rfc3339_format(r->expires_ms, at, sizeof(at)));
        return HALE_ESTATE;
    }
    if (!vote->digest_hex || strcmp(vote->digest_hex, r->digest) != 0) {
        hale_diag_set(reterr, "approval %lld is for action %s, not %s", (long long)r->id, r->digest,
                      vote->digest_hex ? vote->digest_hex : "(none)");
        return HALE_EPOLICY;
    }
    if (vote->nonce && (strlen(vote->nonce) != strlen(r->nonce) ||
                        sodium_memcmp(vote->nonce, r->nonce, strlen(r->nonce)) != 0)) {
        hale_diag_set(reterr, "approval %lld: nonce does not match", (long long)r->id);
        return HALE_EPOLICY;
    }
    if (vote->approve && !r->self_approval && strcmp(vote->user, r->requester) == 0) {
        hale_diag_set(reterr, "approval %lld: '%s' proposed this action and may not approve it",
                      (long long)r->id, vote->user);
        return HALE_EPOLICY;
    }
    if (!allowed_anywhere(r, vote->user)) {
        hale_diag_set(reterr, "approval %lld: '%s' is not among the allowed approvers",
                      (long long)r->id, vote->user);
        return HALE_EPOLICY;
    }
    return 0;
}

static int add_vote(hale_approvals *a, int64_t id, const hale_approval_vote *vote, int64_t now_ms)
{
    sqlite3_stmt *st = a->stmt[AP_VOTE];
    int rc;

    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, vote->user, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, vote->approve);
    sqlite3_bind_text(st, 4, vote->comment ? vote->comment : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now_ms);
    rc = sqlite3_step(st);
    done(st);
    return rc == SQLITE_DONE ? 0 : HALE_ESTORE;
}

/* Inside the transaction: check, record, and work out the new state. */
static int decide_locked(hale_approvals *a, const struct row *r, const hale_approval_vote *vote,
                         int64_t now_ms, hale_approval_state *ret_state, hale_diag *reterr)
{
    hale_approval_state next = HALE_APPROVAL_PENDING;
    bool voted = false;
    json_t *yes;
    int rc;

    rc = refuse_vote(r, vote, now_ms, reterr);
    if (rc < 0)
        return rc;
    if (!(yes = approvers(a, r->id, vote->user, &voted)))
        return HALE_ESTORE;
    if (voted) {
        json_decref(yes);
        hale_diag_set(reterr, "approval %lld: '%s' has already voted", (long long)r->id,
                      vote->user);
        return HALE_EPOLICY;
    }
    if (vote->approve && json_array_append_new(yes, json_string(vote->user)) < 0) {
        json_decref(yes);
        return -ENOMEM;
    }
    if (!vote->approve)
        next = HALE_APPROVAL_DENIED;
    else if (quorum_met(r, yes))
        next = HALE_APPROVAL_APPROVED;
    json_decref(yes);
    rc = add_vote(a, r->id, vote, now_ms);
    if (rc == 0 && next != HALE_APPROVAL_PENDING)
        rc = set_state(a, r->id, next, now_ms);
    if (rc == 0)
        *ret_state = next;
    return rc;
}

int hale_approvals_decide(hale_approvals *a, int64_t id, const hale_approval_vote *vote,
                          int64_t now_ms, hale_approval_state *ret_state, hale_diag *reterr)
{
    hale_approval_state next = HALE_APPROVAL_PENDING;
    struct row r;
    bool own;
    int rc;

    if (!vote->user || !*vote->user) {
        hale_diag_set(reterr, "approval %lld: a vote needs the approver's identity", (long long)id);
        return HALE_EPOLICY;
    }
    if ((rc = tx_begin(a, &own)) < 0)
        return rc;
    rc = row_get(a, id, &r);
    if (rc == HALE_ENOTFOUND)
        hale_diag_set(reterr, "no approval %lld", (long long)id);
    if (rc < 0)
        return tx_end(a, own, rc);
    rc = decide_locked(a, &r, vote, now_ms, &next, reterr);
    if (rc == HALE_ESTATE && r.state == HALE_APPROVAL_PENDING) {
        /* Expired: record that, then refuse. */
        int w = set_state(a, id, HALE_APPROVAL_EXPIRED, now_ms);

        row_release(&r);
        w = tx_end(a, own, w);
        return w < 0 ? w : HALE_ESTATE;
    }
    row_release(&r);
    rc = tx_end(a, own, rc);
    if (rc == 0 && ret_state)
        *ret_state = next;
    return rc;
}

int hale_approvals_expire(hale_approvals *a, int64_t now_ms,
                          void (*cb)(int64_t id, const char *incident_id, bool escalate, void *ud),
                          void *ud)
{
    sqlite3_stmt *st = a->stmt[AP_DUE];
    int64_t ids[256];
    bool esc[256], own;
    char *inc[256];
    int n = 0, rc, r;

    if ((r = tx_begin(a, &own)) < 0)
        return r;
    sqlite3_bind_int64(st, 1, now_ms);
    while (n < 256 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        ids[n] = sqlite3_column_int64(st, 0);
        inc[n] = col_dup(st, 1);
        esc[n] = sqlite3_column_int(st, 2);
        if (!inc[n]) {
            r = -ENOMEM;
            break;
        }
        n++;
    }
    done(st);
    for (int i = 0; r == 0 && i < n; i++)
        r = set_state(a, ids[i], HALE_APPROVAL_EXPIRED, now_ms);
    r = tx_end(a, own, r);
    for (int i = 0; i < n; i++) {
        if (r == 0 && cb)
            cb(ids[i], inc[i], esc[i], ud);
        free(inc[i]);
    }
    return r < 0 ? r : n;
}

static int authorize_locked(hale_approvals *a, const struct row *r, const hale_policy_request *req,
                            hale_approved_action **ret, hale_diag *reterr)
{
    hale_approved_action *act;
    bool voted = false;
    json_t *yes;
    hale_buf names;
    size_t i;
    json_t *u;
    int rc;

    if (r->state != HALE_APPROVAL_APPROVED) {
        hale_diag_set(reterr, "approval %lld is %s, not approved", (long long)r->id,
                      state_names[r->state]);
        return HALE_ESTATE;
    }
    if (strcmp(req->digest_hex, r->digest) != 0) {
        hale_diag_set(reterr, "approval %lld is for action %s, not %s", (long long)r->id, r->digest,
                      req->digest_hex);
        return HALE_EPOLICY;
    }
    if (!(yes = approvers(a, r->id, NULL, &voted)))
        return HALE_ESTORE;
    hale_buf_init(&names, 64 * 1024);
    json_array_foreach(yes, i, u)(void)
        hale_buf_printf(&names, "%s%s", i ? "," : "", json_string_value(u));
    json_decref(yes);
    act = hale__policy_action_new(req, r->dry_run, r->id, names.data ? names.data : "");
    hale_buf_release(&names);
    if (!act)
        return -ENOMEM;
    rc = set_state(a, r->id, HALE_APPROVAL_CONSUMED, hale_time_now_ms());
    if (rc < 0) {
        hale_approved_action_free(act);
        return rc;
    }
    *ret = act;
    return 0;
}

int hale_approvals_authorize(hale_approvals *a, int64_t id, const hale_policy_request *req,
                             hale_approved_action **ret, hale_diag *reterr)
{
    hale_approved_action *act = NULL;
    struct row r;
    bool own;
    int rc;

    if ((rc = tx_begin(a, &own)) < 0)
        return rc;
    rc = row_get(a, id, &r);
    if (rc == HALE_ENOTFOUND)
        hale_diag_set(reterr, "no approval %lld", (long long)id);
    if (rc == 0) {
        rc = authorize_locked(a, &r, req, &act, reterr);
        row_release(&r);
    }
    rc = tx_end(a, own, rc);
    if (rc < 0) {
        hale_approved_action_free(act);
        return rc;
    }
    *ret = act;
    return 0;
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
    done(st);
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
            in_users(json_object_get(q, "users"), json_string_value(json_object_get(v, "user")));
        if (json_object_set_new(q, "approvals", json_integer(n)) < 0)
            return -ENOMEM;
    }
    return 0;
}

int hale_approvals_get_json(hale_approvals *a, int64_t id, json_t **ret)
{
    char created[40], expires[40];
    json_t *o = NULL, *votes;
    struct row r;
    int rc = row_get(a, id, &r);

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
    row_release(&r);
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
    done(st);
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
