/* agent/loop/loop_policy.c - what the controller may do: the policy set in force (loaded at
 * start, swapped on SIGHUP), the global pause switch (persisted in the store, so it survives
 * restarts) and the approval votes that arrive over HTTP. Every change is an audit leaf,
 * queued for the next commit job. Loop thread only. */
#include "internal.h"

#include <sys/stat.h>

#define HALE_LOG_MODULE "loop"
#include "hale/log.h"
#include "loop/loop_int.h"
#include "util/strparse.h"
#include "util/timeutil.h"

#define PAUSE_KEY "pause"
/* The most bytes of a string of ours in a queued leaf, far below the leaf limit. */
#define MAX_LEAF_TEXT HALE_LOOP_MAX_PAUSE_TEXT

/* The set in dir, or the empty set (deny everything) when dir is missing or holds no policy
 * file; *ret_empty_why says which. A broken file is an error. */
static int load_set(const char *dir, hale_policy **ret, const char **ret_empty_why,
                    hale_diag *reterr)
{
    struct stat st;
    int r;

    *ret_empty_why = NULL;
    if (stat(dir, &st) < 0 && errno == ENOENT) {
        *ret_empty_why = "does not exist";
        return hale_policy_load_texts(NULL, NULL, NULL, 0, ret, reterr);
    }
    r = hale_policy_load(dir, ret, reterr);
    if (r == 0 && hale_policy_rule_count(*ret) == 0)
        *ret_empty_why = "holds no rules";
    return r;
}

static int queue_reload_leaf(hale_loop *l, const char *dir)
{
    json_t *p = json_pack("{s:s,s:s,s:I}", "policy_sha256", hale_policy_hash_hex(l->policy), "dir",
                          dir, "rules", (json_int_t)hale_policy_rule_count(l->policy));

    return p ? hale__loop_audit_queue(l, HALE_AUDIT_KIND_POLICY_RELOAD, p) : -ENOMEM;
}

static void log_loaded(const hale_loop *l, const char *dir, const char *empty_why)
{
    if (empty_why)
        log_warn("policies_dir '%s' %s: every action is denied", dir, empty_why);
    else
        log_notice("policies loaded from '%s': %zu rules, sha256 %s", dir,
                   hale_policy_rule_count(l->policy), hale_policy_hash_hex(l->policy));
}

/* A stored string that fits our buffers whole (a cut could split a UTF-8 sequence). */
static const char *stored_text(const json_t *v)
{
    const char *s = json_string_value(v);

    if (!s)
        return "";
    return strlen(s) <= MAX_LEAF_TEXT ? s : "(stored text too long)";
}

static int pause_load(hale_loop *l, hale_diag *reterr)
{
    json_t *v = NULL;
    int r = hale_store_setting_get(l->control, PAUSE_KEY, &v, reterr);

    if (r == HALE_ENOTFOUND)
        return 0;
    if (r < 0)
        return r;
    l->paused = json_is_true(json_object_get(v, "paused"));
    snprintf(l->pause_actor, sizeof(l->pause_actor), "%s",
             stored_text(json_object_get(v, "actor")));
    snprintf(l->pause_reason, sizeof(l->pause_reason), "%s",
             stored_text(json_object_get(v, "reason")));
    l->pause_since_ms = json_integer_value(json_object_get(v, "since_ms"));
    json_decref(v);
    if (l->paused)
        log_warn("paused (kept from before the restart) by %s: %s; nothing runs until "
                 "`hale resume`",
                 l->pause_actor, l->pause_reason[0] ? l->pause_reason : "(no reason)");
    return 0;
}

int hale__loop_policy_open(hale_loop *l, hale_diag *reterr)
{
    hale_store_opts o = {.sync = HALE_STORE_SYNC_FULL};
    const char *empty_why;
    char path[4096];
    int r;

    r = load_set(l->cfg->policies_dir, &l->policy, &empty_why, reterr);
    if (r < 0) {
        hale_diag_prefix(reterr, "policies_dir");
        return r;
    }
    log_loaded(l, l->cfg->policies_dir, empty_why);
    /* Votes and the pause switch are rare writes that must not wait for (or be lost with) an
     * intake commit: they go through a connection of their own, which SQLite serialises with
     * the writer. */
    snprintf(path, sizeof(path), "%s/%s", l->cfg->data_dir, HALE_STORE_FILE);
    o.path = path;
    r = hale_store_open(&o, &l->control, reterr);
    if (r == 0)
        r = hale_approvals_open(l->control, &l->approvals, reterr);
    if (r == 0)
        r = pause_load(l, reterr);
    if (r == 0 && (r = queue_reload_leaf(l, l->cfg->policies_dir)) < 0)
        hale_diag_set(reterr, "cannot queue the policy_reload audit leaf: %s", hale_strerror(r));
    return r;
}

void hale__loop_policy_close(hale_loop *l)
{
    hale_approvals_free(l->approvals);
    l->approvals = NULL;
    hale_store_free(l->control);
    l->control = NULL;
    hale_policy_unref(l->policy);
    l->policy = NULL;
}

int hale_loop_policy_reload(hale_loop *l, hale_diag *reterr)
{
    const char *dir = l->cfg->policies_dir, *empty_why;
    hale_policy *next = NULL;
    int r;

    r = load_set(dir, &next, &empty_why, reterr);
    if (r < 0) {
        l->stats.policy_reload_failures++;
        return r;
    }
    /* The swap is one pointer: work that took a reference keeps evaluating the old set. */
    hale_policy_unref(l->policy);
    l->policy = next;
    l->stats.policy_reloads++;
    log_loaded(l, dir, empty_why);
    r = queue_reload_leaf(l, dir);
    if (r < 0)
        log_warn("cannot queue the policy_reload audit leaf: %s", hale_strerror(r));
    return 0;
}

hale_policy *hale_loop_policy(hale_loop *l)
{
    return l->policy;
}

bool hale_loop_paused(const hale_loop *l)
{
    return l->paused;
}

int hale__loop_pause_json(hale_loop *l, json_t **ret)
{
    json_t *v = json_pack("{s:b,s:s,s:s}", "paused", l->paused, "actor", l->pause_actor, "reason",
                          l->pause_reason);
    char at[40];

    if (!v)
        return -ENOMEM;
    if (l->pause_since_ms > 0) {
        (void)hale_rfc3339_format(l->pause_since_ms, at, sizeof(at));
        if (json_object_set_new(v, "since", json_string(at)) < 0) {
            json_decref(v);
            return -ENOMEM;
        }
    } else if (json_object_set_new(v, "since", json_null()) < 0) {
        json_decref(v);
        return -ENOMEM;
    }
    *ret = v;
    return 0;
}

int hale_loop_set_paused(hale_loop *l, bool paused, const char *actor, const char *reason,
                         const char *client, hale_diag *reterr)
{
    int64_t now = hale_time_now_ms();
    json_t *v, *leaf;
    int r;

    if (!actor || !*actor) {
        hale_diag_set(reterr, "a pause or resume needs the actor's identity");
        return -EINVAL;
    }
    reason = reason ? reason : "";
    /* The leaf is appended with the next intake commit: it must never be too big to append. */
    if (strlen(actor) > MAX_LEAF_TEXT || strlen(reason) > MAX_LEAF_TEXT ||
        (client && strlen(client) > MAX_LEAF_TEXT)) {
        hale_diag_set(reterr, "actor, reason and client: at most %u bytes each", MAX_LEAF_TEXT);
        return -EINVAL;
    }
    v = json_pack("{s:b,s:s,s:s,s:I}", "paused", paused, "actor", actor, "reason", reason,
                  "since_ms", (json_int_t)now);
    leaf = json_pack("{s:s,s:s,s:s,s:b}", "actor", actor, "reason", reason, "client",
                     client ? client : "", "was_paused", l->paused);
    if (!v || !leaf) {
        json_decref(v);
        json_decref(leaf);
        return -ENOMEM;
    }
    /* Persist before anything believes it: a restart must find the switch where it was. */
    r = hale_store_setting_put(l->control, PAUSE_KEY, v, now, reterr);
    json_decref(v);
    if (r < 0) {
        json_decref(leaf);
        return r;
    }
    l->paused = paused;
    snprintf(l->pause_actor, sizeof(l->pause_actor), "%s", actor);
    snprintf(l->pause_reason, sizeof(l->pause_reason), "%s", reason);
    l->pause_since_ms = now;
    if (paused)
        log_warn("paused by %s: %s", actor, reason[0] ? reason : "(no reason)");
    else
        log_notice("resumed by %s", actor);
    r = hale__loop_audit_queue(l, paused ? HALE_AUDIT_KIND_PAUSE : HALE_AUDIT_KIND_RESUME, leaf);
    if (r < 0)
        log_err("cannot queue the %s audit leaf: %s", paused ? "pause" : "resume",
                hale_strerror(r));
    return 0;
}

/* Refusals a vote can meet, as the API answers them: who votes (403) or what they saw (409). */
static bool is_identity_refusal(const char *msg)
{
    return strstr(msg, "may not approve") || strstr(msg, "not among the allowed approvers") ||
           strstr(msg, "needs the approver's identity");
}

/* The incident an approval is for, as the audit log's integer incident_id; 0 for none. */
static json_int_t approval_incident(hale_loop *l, int64_t id)
{
    json_t *ap = NULL;
    const char *text;
    int64_t v = 0;

    if (hale_approvals_get_json(l->approvals, id, &ap) < 0)
        return 0;
    text = json_string_value(json_object_get(ap, "incident_id"));
    if (!text || hale_parse_i64(text, &v) < 0 || v < 0)
        v = 0;
    json_decref(ap);
    return (json_int_t)v;
}

int hale__loop_vote(hale_loop *l, int64_t id, const hale_approval_vote *v, json_t **ret,
                    hale_loop_vote_refusal *reterr_kind, hale_diag *reterr)
{
    hale_approval_state next = HALE_APPROVAL_PENDING;
    json_int_t incident_id;
    const char *outcome, *decision_id;
    json_t *leaf, *out = NULL;
    int r, q;

    incident_id = approval_incident(l, id);
    if ((v->user && strlen(v->user) > MAX_LEAF_TEXT) ||
        (v->comment && strlen(v->comment) > MAX_LEAF_TEXT) ||
        (v->digest_hex && strlen(v->digest_hex) > MAX_LEAF_TEXT) ||
        (v->nonce && strlen(v->nonce) > MAX_LEAF_TEXT)) {
        hale_diag_set(reterr, "approval %lld: user, comment, digest and nonce: at most %u bytes",
                      (long long)id, MAX_LEAF_TEXT);
        *reterr_kind = HALE_LOOP_VOTE_CONFLICT;
        return -EINVAL;
    }
    r = hale_approvals_decide(l->approvals, id, v, hale_time_now_ms(), &next, reterr);
    outcome = r < 0 ? "refused" : v->approve ? "approved" : "denied";
    /* decision_id: the decision leaf that asked for this approval (null when none is known:
     * an approval created outside the heal stages). */
    decision_id = hale__loop_heal_decision_of(l, id);
    leaf = json_pack("{s:s?,s:I,s:s,s:s,s:s,s:s}", "decision_id", decision_id, "approval_id",
                     (json_int_t)id, "actor", v->user ? v->user : "", "outcome", outcome, "reason",
                     r < 0        ? reterr->msg
                     : v->comment ? v->comment
                                  : "",
                     "digest", v->digest_hex ? v->digest_hex : "");
    if (leaf && incident_id > 0 &&
        json_object_set_new(leaf, "incident_id", json_integer(incident_id)) < 0) {
        json_decref(leaf);
        leaf = NULL;
    }
    if (r == 0 && leaf &&
        json_object_set_new(leaf, "state", json_string(hale_approval_state_name(next))) < 0) {
        json_decref(leaf);
        leaf = NULL;
    }
    q = leaf ? hale__loop_audit_queue(l, HALE_AUDIT_KIND_APPROVAL, leaf) : -ENOMEM;
    if (q < 0)
        log_err("cannot queue the approval audit leaf for approval %lld: %s", (long long)id,
                hale_strerror(q));
    log_notice("approval %lld: %s by %s%s%s", (long long)id, outcome, v->user ? v->user : "?",
               r < 0 ? ": " : "", r < 0 ? reterr->msg : "");
    if (r < 0) {
        *reterr_kind = r == HALE_ENOTFOUND ? HALE_LOOP_VOTE_NOT_FOUND
                       : r == HALE_EPOLICY && is_identity_refusal(reterr->msg)
                           ? HALE_LOOP_VOTE_FORBIDDEN
                       : r == HALE_EPOLICY || r == HALE_ESTATE ? HALE_LOOP_VOTE_CONFLICT
                                                               : HALE_LOOP_VOTE_ERROR;
        return r;
    }
    r = hale_approvals_get_json(l->approvals, id, &out);
    if (r < 0)
        return r;
    *ret = out;
    hale__loop_heal_voted(l, id, next);
    return 0;
}

hale_approvals *hale__loop_approvals(hale_loop *l)
{
    return l->approvals;
}
