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
    r = hale__approvals_tx_begin(a, &own);
    if (r == 0 && sqlite3_step(st) != SQLITE_DONE)
        r = HALE_ESTORE;
    if (r == 0 && ret_id)
        *ret_id = sqlite3_last_insert_rowid(a->db);
    hale__approvals_done(st);
    free(reqs_text);
    free(req_text);
    return hale__approvals_tx_end(a, own, r);
}

static bool allowed_anywhere(const struct ap_row *r, const char *user)
{
    size_t i;
    json_t *q;

    json_array_foreach(
        r->requirements, i,
        q) if (hale__approvals_in_users(json_object_get(q, "users"), user)) return true;
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
    hale__approvals_done(st);
    return out;
}

static bool quorum_met(const struct ap_row *r, const json_t *yes)
{
    size_t i, k;
    json_t *q, *u;

    json_array_foreach(r->requirements, i, q)
    {
        json_int_t n = 0;

        json_array_foreach(yes, k, u) n +=
            hale__approvals_in_users(json_object_get(q, "users"), json_string_value(u));
        if (n < json_integer_value(json_object_get(q, "count")))
            return false;
    }
    return true;
}

static int refuse_vote(const struct ap_row *r, const hale_approval_vote *vote, int64_t now_ms,
                       hale_diag *reterr)
{
    if (r->state != HALE_APPROVAL_PENDING) {
        hale_diag_set(reterr, "approval %lld is %s, not pending", (long long)r->id,
                      hale_approval_state_name(r->state));
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
    hale__approvals_done(st);
    return rc == SQLITE_DONE ? 0 : HALE_ESTORE;
}

/* Inside the transaction: check, record, and work out the new state. */
static int decide_locked(hale_approvals *a, const struct ap_row *r, const hale_approval_vote *vote,
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
        rc = hale__approvals_set_state(a, r->id, next, now_ms);
    if (rc == 0)
        *ret_state = next;
    return rc;
}

int hale_approvals_decide(hale_approvals *a, int64_t id, const hale_approval_vote *vote,
                          int64_t now_ms, hale_approval_state *ret_state, hale_diag *reterr)
{
    hale_approval_state next = HALE_APPROVAL_PENDING;
    struct ap_row r;
    bool own;
    int rc;

    if (!vote->user || !*vote->user) {
        hale_diag_set(reterr, "approval %lld: a vote needs the approver's identity", (long long)id);
        return HALE_EPOLICY;
    }
    if ((rc = hale__approvals_tx_begin(a, &own)) < 0)
        return rc;
    rc = hale__approvals_row_get(a, id, &r);
    if (rc == HALE_ENOTFOUND)
        hale_diag_set(reterr, "no approval %lld", (long long)id);
    if (rc < 0)
        return hale__approvals_tx_end(a, own, rc);
    rc = decide_locked(a, &r, vote, now_ms, &next, reterr);
    if (rc == HALE_ESTATE && r.state == HALE_APPROVAL_PENDING) {
        /* Expired: record that, then refuse. */
        int w = hale__approvals_set_state(a, id, HALE_APPROVAL_EXPIRED, now_ms);

        hale__approvals_row_release(&r);
        w = hale__approvals_tx_end(a, own, w);
        return w < 0 ? w : HALE_ESTATE;
    }
    hale__approvals_row_release(&r);
    rc = hale__approvals_tx_end(a, own, rc);
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

    if ((r = hale__approvals_tx_begin(a, &own)) < 0)
        return r;
    sqlite3_bind_int64(st, 1, now_ms);
    while (n < 256 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        ids[n] = sqlite3_column_int64(st, 0);
        inc[n] = hale__approvals_col_dup(st, 1);
        esc[n] = sqlite3_column_int(st, 2);
        if (!inc[n]) {
            r = -ENOMEM;
            break;
        }
        n++;
    }
    hale__approvals_done(st);
    for (int i = 0; r == 0 && i < n; i++)
        r = hale__approvals_set_state(a, ids[i], HALE_APPROVAL_EXPIRED, now_ms);
    r = hale__approvals_tx_end(a, own, r);
    for (int i = 0; i < n; i++) {
        if (r == 0 && cb)
            cb(ids[i], inc[i], esc[i], ud);
        free(inc[i]);
    }
    return r < 0 ? r : n;
}

static int authorize_locked(hale_approvals *a, const struct ap_row *r,
                            const hale_policy_request *req, hale_approved_action **ret,
                            hale_diag *reterr)
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
                      hale_approval_state_name(r->state));
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
    rc = hale__approvals_set_state(a, r->id, HALE_APPROVAL_CONSUMED, hale_time_now_ms());
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
    struct ap_row r;
    bool own;
    int rc;

    if ((rc = hale__approvals_tx_begin(a, &own)) < 0)
        return rc;
    rc = hale__approvals_row_get(a, id, &r);
    if (rc == HALE_ENOTFOUND)
        hale_diag_set(reterr, "no approval %lld", (long long)id);
    if (rc == 0) {
        rc = authorize_locked(a, &r, req, &act, reterr);
        hale__approvals_row_release(&r);
    }
    rc = hale__approvals_tx_end(a, own, rc);
    if (rc < 0) {
        hale_approved_action_free(act);
        return rc;
    }
    *ret = act;
    return 0;
}
