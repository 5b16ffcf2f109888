/* agent/loop/loop_heal_decide.c - from an incident to a decision: the runbooks propose actions
 * from the incident's labels, the policy set judges each, and the decision leaf is committed
 * (with the action's heal_action row and the incident's next state) before anything acts on
 * it. Then, for require_approval, the approval request and the wait for its votes. */
#include "internal.h"

#define HALE_LOG_MODULE "heal"
#include "hale/log.h"
#include "loop/loop_heal.h"
#include "util/json.h"
#include "util/timeutil.h"

#define MAX_EVALUATED 3 /* proposals judged per decision (each is a decision leaf) */

/* ---- the incident's labels ---- */

struct labels_acc {
    json_t *common;      /* labels every firing alert shares */
    json_t *annotations; /* of the first firing alert */
    size_t n;            /* firing alerts seen */
};

static void intersect(json_t *common, const json_t *labels)
{
    const char *k;
    json_t *v;
    void *tmp;

    json_object_foreach_safe(common, tmp, k, v)
    {
        const json_t *o = json_object_get(labels, k);

        if (!o || !json_equal(o, v))
            json_object_del(common, k);
    }
}

static int on_alert(const hale_alert_rec *a, void *ud)
{
    struct labels_acc *acc = ud;
    json_t *labels;

    if (strcmp(a->status, "firing") != 0)
        return 0;
    labels = json_loads(a->labels, 0, NULL);
    if (!json_is_object(labels)) {
        json_decref(labels);
        return 0;
    }
    if (acc->n++ == 0) {
        acc->common = labels;
        acc->annotations = json_loads(a->annotations, 0, NULL);
        return 0;
    }
    intersect(acc->common, labels);
    json_decref(labels);
    return 0;
}

static int on_incident(const hale_incident_rec *r, void *ud)
{
    json_t **ret = ud;

    *ret = json_loads(r->group_labels, 0, NULL);
    return 0;
}

/* The labels all the incident's firing alerts share, and the first one's annotations. Its
 * membership rows may lag under load: then its grouping labels stand in. */
static int incident_labels(hale_loop *l, int64_t id, json_t **ret_labels, json_t **ret_ann)
{
    struct labels_acc acc = {0};

    (void)hale_store_alerts_each(l->reader, id, on_alert, &acc);
    if (!acc.common)
        (void)hale_store_incident_get(l->reader, id, on_incident, &acc.common);
    if (!json_is_object(acc.common)) {
        json_decref(acc.common);
        json_decref(acc.annotations);
        return HALE_ENOTFOUND;
    }
    if (!json_is_object(acc.annotations)) {
        json_decref(acc.annotations);
        acc.annotations = json_object();
    }
    *ret_labels = acc.common;
    *ret_ann = acc.annotations;
    return 0;
}

/* ---- judging one proposal ---- */

struct judged {
    json_t *request;              /* the request as evaluated, owned */
    hale_policy_request *req;     /* parsed from it */
    hale_policy_verdict *verdict; /* owned */
    const char *runbook;          /* "FILE#ID", borrowed from the proposals */
};

static void judged_release(struct judged *j)
{
    hale_policy_verdict_free(j->verdict);
    hale_policy_request_free(j->req);
    json_decref(j->request);
    memset(j, 0, sizeof(*j));
}

int hale__heal_judge(hale_loop *l, json_t *request, hale_policy_request **ret_req,
                     hale_policy_verdict **ret_verdict, hale_diag *reterr)
{
    hale_policy_counts counts = hale_policy_ledger_counts(l->heal->counts);
    hale_policy_request *req = NULL;
    hale_policy_verdict *v = NULL;
    int r;

    r = hale_policy_request_from_json(request, &req, reterr);
    if (r == 0)
        r = hale_policy_eval(l->policy, req, &counts, hale_time_now_ms(), &v);
    if (r < 0) {
        hale_policy_request_free(req);
        return r;
    }
    *ret_req = req;
    *ret_verdict = v;
    return 0;
}

static int judge_proposal(hale_loop *l, const hale_incident_view *v, const json_t *labels,
                          const json_t *proposal, struct judged *ret, hale_diag *reterr)
{
    json_t *request = json_deep_copy(json_object_get(proposal, "request"));
    char id[32], at[40];
    int r;

    snprintf(id, sizeof(id), "%lld", (long long)v->id);
    (void)hale_rfc3339_format(hale_time_now_ms(), at, sizeof(at));
    if (!request ||
        json_object_set_new(request, "incident",
                            json_pack("{s:s,s:s,s:O}", "id", id, "severity",
                                      v->severity ? v->severity : "", "labels", labels)) < 0 ||
        json_object_set_new(request, "time", json_string(at)) < 0) {
        json_decref(request);
        return -ENOMEM;
    }
    r = hale__heal_judge(l, request, &ret->req, &ret->verdict, reterr);
    if (r < 0) {
        json_decref(request);
        return r;
    }
    ret->request = request;
    ret->runbook = json_string_value(json_object_get(proposal, "runbook"));
    return 0;
}

json_t *hale__heal_decision_leaf(const char *decision_id, int64_t incident_id,
                                 const json_t *request, const hale_policy_verdict *v,
                                 const char *runbook)
{
    json_t *vj = hale_policy_verdict_to_json(v), *leaf, *args;

    if (!vj)
        return NULL;
    args = json_object_get(request, "args");
    args = args ? json_incref(args) : json_object();
    leaf = json_pack(
        "{s:s,s:s?,s:o,s:s,s:O?,s:O?,s:O?,s:O?,s:O,s:b,s:s}", "decision_id", decision_id, "tool",
        json_string_value(json_object_get(request, "tool")), "args", args, "outcome",
        hale_policy_effect_name(hale_policy_verdict_effect(v)), "confidence_bp",
        json_object_get(request, "confidence_bp"), "risk", json_object_get(request, "risk"),
        "reasons", json_object_get(vj, "reasons"), "policy_sha256",
        json_object_get(vj, "policy_hash"), "request", request, "dry_run",
        hale_policy_verdict_is_dry_run(v), "source", runbook ? "runbook" : "human");
    json_decref(vj);
    if (leaf && incident_id > 0 &&
        json_object_set_new(leaf, "incident_id", json_integer(incident_id)) < 0) {
        json_decref(leaf);
        return NULL;
    }
    if (leaf && runbook && json_object_set_new(leaf, "runbook", json_string(runbook)) < 0) {
        json_decref(leaf);
        return NULL;
    }
    return leaf;
}

/* ---- open -> deciding ---- */

void hale__heal_on_open(void *ud, const hale_incident_view *v)
{
    hale_loop *l = ud;
    struct heal_write *w = hale__heal_write_new(NULL);

    if (!w)
        return; /* the work item stays pending: retried after a restart */
    w->incident_id = v->id;
    w->outbox_id = v->outbox_id;
    hale__heal_write_move(w, HALE_INCIDENT_OPEN, HALE_INCIDENT_DECIDING,
                          "looking for a remediation");
    (void)hale__heal_write_submit(l, w, false);
}

/* ---- deciding ---- */

static const char *first_reason(const hale_policy_verdict *v)
{
    return hale_policy_verdict_reason_count(v) > 0 ? hale_policy_verdict_reason(v, 0)
                                                   : "no reason given";
}

static void decided_done(struct heal_case *c, struct heal_write *w, int result)
{
    if (!c)
        return;
    c->phase = HEAL_IDLE;
    if (result < 0 || !w->moved || w->to == HALE_INCIDENT_ESCALATED) {
        hale__heal_case_close(c->l, c);
        return;
    }
    c->row.id = w->row.id;
    c->row.attempt = w->row.attempt;
    snprintf(c->row.idem_key, sizeof(c->row.idem_key), "%s", w->row.idem_key);
    c->stage = w->to;
    c->outbox_id = 0;
}

/* The row of the chosen action, in c and (a copy) in w. */
static int set_row(struct heal_case *c, struct heal_write *w, const struct judged *j,
                   const char *decision_id)
{
    hale_policy_effect e = hale_policy_verdict_effect(j->verdict);
    char *text = hale_json_dump_canonical(j->request);
    json_t *args = json_object_get(j->request, "args");

    if (!text)
        return -ENOMEM;
    hale__heal_row_release(&c->row);
    memset(&c->row, 0, sizeof(c->row));
    c->row.incident_id = c->incident_id;
    snprintf(c->row.kind, sizeof(c->row.kind), "action");
    snprintf(c->row.decision_id, sizeof(c->row.decision_id), "%s", decision_id);
    snprintf(c->row.tool, sizeof(c->row.tool), "%s", hale_policy_request_tool(j->req));
    snprintf(c->row.digest, sizeof(c->row.digest), "%s", hale_policy_request_digest_hex(j->req));
    snprintf(c->row.effect, sizeof(c->row.effect), "%s", hale_policy_effect_name(e));
    snprintf(c->row.state, sizeof(c->row.state), "decided");
    c->row.exit_code = -1;
    c->row.request = text;
    json_decref(c->args);
    c->args = args ? json_incref(args) : json_object();
    w->insert_row = true;
    return hale__heal_row_copy(&w->row, &c->row);
}

/* Judge proposals in order until one is not denied; every judged one is a decision leaf. */
static int decide(struct heal_case *c, const hale_incident_view *v, const json_t *labels,
                  const json_t *proposals, struct heal_write *w, struct judged *chosen, char *why,
                  size_t why_size)
{
    char decision_id[HEAL_ID_BYTES];
    hale_diag d = {{0}};
    size_t n = json_array_size(proposals);
    int r = 0;

    for (size_t i = 0; r == 0 && i < n && i < MAX_EVALUATED; i++) {
        struct judged j = {0};

        r = judge_proposal(c->l, v, labels, json_array_get(proposals, i), &j, &d);
        if (r == HALE_ESCHEMA || r == HALE_EPARSE) {
            snprintf(why, why_size, "proposal %zu is not a valid request: %s", i, d.msg);
            r = 0;
            continue;
        }
        if (r < 0)
            break;
        hale__heal_new_id("d-", decision_id);
        r = hale__heal_write_leaf(
            w, HALE_AUDIT_KIND_DECISION,
            hale__heal_decision_leaf(decision_id, c->incident_id, j.request, j.verdict, j.runbook));
        if (r == 0 && hale_policy_verdict_effect(j.verdict) == HALE_POLICY_DENY) {
            snprintf(why, why_size, "%s denied by policy: %s", hale_policy_request_tool(j.req),
                     first_reason(j.verdict));
            judged_release(&j);
            continue;
        }
        if (r == 0 && !hale_policy_verdict_is_dry_run(j.verdict))
            r = set_row(c, w, &j, decision_id);
        if (r == 0) {
            *chosen = j;
            return 1;
        }
        judged_release(&j);
    }
    return r;
}

static const char *text_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "?";
}

static void decide_incident(struct heal_case *c, const hale_incident_view *v)
{
    hale_loop *l = c->l;
    json_t *labels = NULL, *ann = NULL, *proposals = NULL, *rejected = NULL;
    struct judged chosen = {0};
    char why[600] = "no runbook proposes an action for it";
    struct heal_write *w = hale__heal_write_new(c);
    int r;

    if (!w || incident_labels(l, c->incident_id, &labels, &ann) < 0 ||
        hale_runbooks_propose(l->heal->runbooks, labels, ann, &proposals, &rejected) < 0) {
        hale__heal_write_free(w);
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED, "cannot gather proposals for it");
        goto out;
    }
    if (json_array_size(proposals) == 0 && json_array_size(rejected) > 0)
        snprintf(why, sizeof(why), "no usable proposal: %s (%s)",
                 text_of(json_array_get(rejected, 0), "reason"),
                 text_of(json_array_get(rejected, 0), "runbook"));
    r = decide(c, v, labels, proposals, w, &chosen, why, sizeof(why));
    w->outbox_id = c->outbox_id;
    w->after = decided_done;
    if (r > 0 && hale_policy_verdict_is_dry_run(chosen.verdict))
        hale__heal_write_move(w, HALE_INCIDENT_DECIDING, HALE_INCIDENT_ESCALATED,
                              "dry run: policy says %s for %s, nothing was run",
                              hale_policy_effect_name(hale_policy_verdict_effect(chosen.verdict)),
                              hale_policy_request_tool(chosen.req));
    else if (r > 0 && hale_policy_verdict_effect(chosen.verdict) == HALE_POLICY_ALLOW)
        hale__heal_write_move(w, HALE_INCIDENT_DECIDING, HALE_INCIDENT_HEALING, "policy allows %s",
                              hale_policy_request_tool(chosen.req));
    else if (r > 0)
        hale__heal_write_move(w, HALE_INCIDENT_DECIDING, HALE_INCIDENT_AWAITING_APPROVAL,
                              "policy requires approval for %s",
                              hale_policy_request_tool(chosen.req));
    else
        hale__heal_write_move(w, HALE_INCIDENT_DECIDING, HALE_INCIDENT_ESCALATED, "%s",
                              r < 0 ? hale_strerror(r) : why);
    log_notice("incident %lld: %s", (long long)c->incident_id, w->reason);
    c->phase = HEAL_WRITING;
    if (hale__heal_write_submit(l, w, false) < 0)
        hale__heal_case_close(l, c);
out:
    judged_release(&chosen);
    json_decref(labels);
    json_decref(ann);
    json_decref(proposals);
    json_decref(rejected);
}

void hale__heal_on_deciding(void *ud, const hale_incident_view *v)
{
    hale_loop *l = ud;
    struct heal_case *c = hale__heal_case_get(l, v->id, true);

    if (!c || c->phase != HEAL_IDLE)
        return; /* out of memory, or busy: the work item is delivered again at a restart */
    c->stage = HALE_INCIDENT_DECIDING;
    c->outbox_id = v->outbox_id;
    if (hale_loop_paused(l)) {
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED, "paused: nothing is decided or run");
        return;
    }
    decide_incident(c, v);
}

/* ---- awaiting approval ---- */

static void check_approval(struct heal_case *c);

static void approval_recorded(struct heal_case *c, struct heal_write *w, int result)
{
    (void)w;
    if (!c)
        return;
    c->phase = HEAL_IDLE;
    if (result < 0) {
        hale__heal_case_close(c->l, c);
        return;
    }
    /* A vote or the expiry may have come while the id was being recorded. */
    check_approval(c);
}

/* Ask for approval of the decided action (re-judged: the set in force decides what quorum the
 * request needs), and record the approval's id in the action's row. */
static void request_approval(struct heal_case *c)
{
    hale_loop *l = c->l;
    hale_policy_request *req = NULL;
    hale_policy_verdict *v = NULL;
    json_t *request = json_loads(c->row.request, 0, NULL);
    struct heal_write *w = NULL;
    hale_diag d = {{0}};
    char incident[32];
    int64_t id = 0;
    int r;

    r = request ? hale__heal_judge(l, request, &req, &v, &d) : -ENOMEM;
    if (r == 0 && hale_policy_verdict_effect(v) != HALE_POLICY_REQUIRE_APPROVAL) {
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED,
                          "the policy set changed since the decision (now %s): not asking",
                          hale_policy_effect_name(hale_policy_verdict_effect(v)));
        goto out;
    }
    snprintf(incident, sizeof(incident), "%lld", (long long)c->incident_id);
    if (r == 0)
        r = hale_approvals_create(l->approvals, v, req, "hale", incident, hale_time_now_ms(), &id);
    if (r == 0 && !(w = hale__heal_write_new(c)))
        r = -ENOMEM;
    if (r < 0) {
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED, "cannot ask for approval: %s",
                          d.msg[0] ? d.msg : hale_strerror(r));
        goto out;
    }
    c->row.approval_id = id;
    log_notice("incident %lld: approval %lld requested for %s", (long long)c->incident_id,
               (long long)id, c->row.tool);
    w->update_row = true;
    w->after = approval_recorded;
    if (hale__heal_row_copy(&w->row, &c->row) < 0) {
        hale__heal_write_free(w);
        goto out;
    }
    c->phase = HEAL_WRITING;
    if (hale__heal_write_submit(l, w, false) < 0)
        c->phase = HEAL_IDLE;
out:
    hale_policy_verdict_free(v);
    hale_policy_request_free(req);
    json_decref(request);
}

void hale__heal_on_awaiting(void *ud, const hale_incident_view *v)
{
    hale_loop *l = ud;
    struct heal_case *c = hale__heal_case_get(l, v->id, true);

    if (!c || c->phase != HEAL_IDLE)
        return;
    c->stage = HALE_INCIDENT_AWAITING_APPROVAL;
    c->outbox_id = v->outbox_id;
    if (c->row.id == 0 && hale__heal_case_load(c) < 0) {
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED, "no recorded decision to ask approval for");
        return;
    }
    if (strcmp(c->row.effect, "require_approval") != 0 || strcmp(c->row.state, "decided") != 0) {
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED, "the recorded action needs no approval");
        return;
    }
    if (c->row.approval_id == 0) {
        request_approval(c);
        return;
    }
    /* Delivered again after a restart: the approval may have been decided meanwhile. */
    check_approval(c);
}

static bool escalates(const json_t *ap)
{
    const char *on = json_string_value(json_object_get(ap, "on_expiry"));

    return on && strcmp(on, "escalate") == 0;
}

/* Act on the approval's stored state: wait while pending, else as a vote or expiry would. */
static void check_approval(struct heal_case *c)
{
    hale_loop *l = c->l;
    const char *state;
    json_t *ap = NULL;

    if (hale_approvals_get_json(l->approvals, c->row.approval_id, &ap) < 0) {
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED, "approval %lld is gone",
                          (long long)c->row.approval_id);
        return;
    }
    state = json_string_value(json_object_get(ap, "state"));
    if (state && strcmp(state, "approved") == 0)
        hale__loop_heal_voted(l, c->row.approval_id, HALE_APPROVAL_APPROVED);
    else if (state && strcmp(state, "denied") == 0)
        hale__loop_heal_voted(l, c->row.approval_id, HALE_APPROVAL_DENIED);
    else if (state && strcmp(state, "expired") == 0)
        hale__heal_finish(c, escalates(ap) ? HALE_INCIDENT_ESCALATED : HALE_INCIDENT_FAILED,
                          "approval %lld expired: %s was not run", (long long)c->row.approval_id,
                          c->row.tool);
    else if (state && strcmp(state, "pending") != 0)
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED, "approval %lld is %s: not run",
                          (long long)c->row.approval_id, state);
    json_decref(ap);
}
