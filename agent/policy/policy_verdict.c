/* agent/policy/policy_verdict.c - what evaluation returns: the effect, one explanation line per
 * rule considered, the limits that tripped; its JSON form (the public contract of
 * `hale policy eval --json`); and the approved action, which only this module constructs. */
#include "internal.h"

#include "policy/policy_int.h"
#include "util/alloc.h"

static const char *const result_names[] = {
    [RR_MATCHED] = "matched",
    [RR_NOT_MATCHED] = "not_matched",
    [RR_FAILED] = "failed",
};

int hale__policy_verdict_add_reason(hale_policy_verdict *v, char ***arr, size_t *n, size_t *cap,
                                    const char *text)
{
    char *copy;

    (void)v;
    if (hale_grow((void **)arr, cap, *n, sizeof(**arr)) < 0 || !(copy = strdup(text)))
        return -ENOMEM;
    (*arr)[(*n)++] = copy;
    return 0;
}

int hale__policy_verdict_add_rule(hale_policy_verdict *v, const struct rule *r,
                                  enum rule_result res, hale_policy_effect e, hale_buf *why)
{
    struct verdict_rule *vr;
    hale_buf line;
    int rc;

    if (!why->data || hale_grow((void **)&v->rules, &v->cap_rules, v->n_rules, sizeof(*vr)) < 0)
        return -ENOMEM;
    vr = &v->rules[v->n_rules];
    vr->rule = r;
    vr->result = res;
    vr->effect = e;
    if (!(vr->why = strdup(why->data)))
        return -ENOMEM;
    v->n_rules++;
    hale_buf_init(&line, 8192);
    if (res == RR_NOT_MATCHED)
        rc = hale_buf_printf(&line, "rule %s: not matched: %s", r->id, why->data);
    else
        rc = hale_buf_printf(&line, "rule %s: %s: %s: %s", r->id, result_names[res],
                             hale_policy_effect_name(e), why->data);
    if (rc == 0)
        rc = hale__policy_verdict_add_reason(v, &v->reasons, &v->n_reasons, &v->cap_reasons,
                                             line.data);
    hale_buf_release(&line);
    return rc;
}

void hale_policy_verdict_free(hale_policy_verdict *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n_rules; i++)
        free(v->rules[i].why);
    free(v->rules);
    for (size_t i = 0; i < v->n_reasons; i++)
        free(v->reasons[i]);
    free(v->reasons);
    for (size_t i = 0; i < v->n_tripped; i++)
        free(v->tripped[i]);
    free(v->tripped);
    hale_policy_unref(v->policy);
    free(v);
}

hale_policy_effect hale_policy_verdict_effect(const hale_policy_verdict *v)
{
    return v->effect;
}

bool hale_policy_verdict_is_dry_run(const hale_policy_verdict *v)
{
    return v->dry_run;
}

size_t hale_policy_verdict_reason_count(const hale_policy_verdict *v)
{
    return v->n_reasons;
}

const char *hale_policy_verdict_reason(const hale_policy_verdict *v, size_t i)
{
    return i < v->n_reasons ? v->reasons[i] : NULL;
}

static json_t *strv_json(char *const *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, json_string(v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* Add the members of group name to the array users (no duplicates). */
static int add_members(const hale_policy *p, const char *name, json_t *users)
{
    const struct group *g = hale_map_get(p->groups, name);

    for (size_t i = 0; g && i < g->n; i++) {
        size_t k;
        json_t *u;
        bool seen = false;

        json_array_foreach(users, k, u) seen =
            seen || strcmp(json_string_value(u), g->users[i]) == 0;
        if (!seen && json_array_append_new(users, json_string(g->users[i])) < 0)
            return -ENOMEM;
    }
    return 0;
}

static json_t *requirement(const hale_policy *p, const struct rule *r)
{
    const struct approval_spec *a = &r->approval;
    json_t *users = strv_json(a->users, a->n_users);
    json_t *o = json_object();

    for (size_t i = 0; users && i < a->n_groups; i++) {
        if (add_members(p, a->groups[i], users) < 0) {
            json_decref(users);
            users = NULL;
        }
    }
    /* json_object_set_new takes its value even when it fails: users first, so no path
     * leaves it unowned. */
    if (!o || !users || json_object_set_new(o, "users", users) < 0 ||
        json_object_set_new(o, "rule", json_string(r->id)) < 0 ||
        json_object_set_new(o, "count", json_integer(a->count)) < 0 ||
        json_object_set_new(o, "groups", strv_json(a->groups, a->n_groups)) < 0) {
        if (!o)
            json_decref(users);
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *hale__policy_verdict_requirements(const hale_policy_verdict *v, uint64_t *ret_expiry_ms,
                                          bool *ret_escalate, bool *ret_self_approval)
{
    json_t *reqs = json_array();
    uint64_t expiry = UINT64_MAX;
    bool escalate = false, self = true;

    for (size_t i = 0; reqs && i < v->n_rules; i++) {
        const struct verdict_rule *vr = &v->rules[i];

        if (vr->result == RR_NOT_MATCHED || vr->effect != HALE_POLICY_REQUIRE_APPROVAL)
            continue;
        if (json_array_append_new(reqs, requirement(v->policy, vr->rule)) < 0) {
            json_decref(reqs);
            return NULL;
        }
        /* Several rules: every quorum must be met; the shortest expiry and the strictest
         * self-approval rule hold; escalation wins so nobody misses an expired request. */
        if (vr->rule->approval.expiry_ms < expiry)
            expiry = vr->rule->approval.expiry_ms;
        escalate = escalate || vr->rule->approval.escalate;
        self = self && vr->rule->approval.self_approval;
    }
    if (ret_expiry_ms)
        *ret_expiry_ms = expiry;
    if (ret_escalate)
        *ret_escalate = escalate;
    if (ret_self_approval)
        *ret_self_approval = self;
    return reqs;
}

static json_t *rules_json(const hale_policy_verdict *v)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < v->n_rules; i++) {
        const struct verdict_rule *vr = &v->rules[i];
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", vr->rule->id, "file", vr->rule->file,
                      "result", result_names[vr->result], "effect",
                      vr->result == RR_NOT_MATCHED ? "none" : hale_policy_effect_name(vr->effect),
                      "why", vr->why);

        if (json_array_append_new(a, o) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static int add_approval(const hale_policy_verdict *v, json_t *o)
{
    uint64_t expiry_ms = 0;
    bool escalate = false, self = false;
    json_t *reqs = hale__policy_verdict_requirements(v, &expiry_ms, &escalate, &self);

    if (!reqs)
        return -ENOMEM;
    return json_object_set_new(o, "approval",
                               json_pack("{s:o, s:I, s:s, s:b}", "requirements", reqs, "expiry_s",
                                         (json_int_t)(expiry_ms / 1000), "on_expiry",
                                         escalate ? "escalate" : "deny", "self_approval", self));
}

json_t *hale_policy_verdict_to_json(const hale_policy_verdict *v)
{
    json_t *o = json_object();

    if (!o ||
        json_object_set_new(o, "effect", json_string(hale_policy_effect_name(v->effect))) < 0 ||
        json_object_set_new(o, "reasons", strv_json(v->reasons, v->n_reasons)) < 0 ||
        json_object_set_new(o, "rules", rules_json(v)) < 0 ||
        json_object_set_new(o, "limits_tripped", strv_json(v->tripped, v->n_tripped)) < 0 ||
        json_object_set_new(o, "dry_run", json_boolean(v->dry_run)) < 0 ||
        json_object_set_new(o, "digest", json_string(v->digest_hex)) < 0 ||
        json_object_set_new(o, "policy_hash", json_string(v->policy->hash_hex)) < 0 ||
        (v->effect == HALE_POLICY_REQUIRE_APPROVAL && add_approval(v, o) < 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- the approved action ---- */

hale_approved_action *hale__policy_action_new(const hale_policy_request *req, bool dry_run,
                                              int64_t approval_id, const char *approvers)
{
    hale_approved_action *a = calloc(1, sizeof(*a));

    if (!a)
        return NULL;
    memcpy(a->digest_hex, req->digest_hex, sizeof(a->digest_hex));
    a->tool = strdup(req->tool);
    a->approvers = strdup(approvers);
    a->args = json_deep_copy(req->args);
    a->target = json_deep_copy(req->target);
    a->dry_run = dry_run;
    a->approval_id = approval_id;
    if (!a->tool || !a->approvers || !a->args || !a->target) {
        hale_approved_action_free(a);
        return NULL;
    }
    return a;
}

int hale_policy_authorize(const hale_policy_verdict *v, const hale_policy_request *req,
                          hale_approved_action **ret)
{
    hale_approved_action *a;

    if (v->effect != HALE_POLICY_ALLOW || strcmp(v->digest_hex, req->digest_hex) != 0)
        return HALE_EPOLICY;
    if (!(a = hale__policy_action_new(req, v->dry_run, 0, "")))
        return -ENOMEM;
    *ret = a;
    return 0;
}

void hale_approved_action_free(hale_approved_action *a)
{
    if (!a)
        return;
    free(a->tool);
    free(a->approvers);
    json_decref(a->args);
    json_decref(a->target);
    free(a);
}

const char *hale_approved_action_digest_hex(const hale_approved_action *a)
{
    return a->digest_hex;
}

const char *hale_approved_action_tool(const hale_approved_action *a)
{
    return a->tool;
}

const json_t *hale_approved_action_args(const hale_approved_action *a)
{
    return a->args;
}

const json_t *hale_approved_action_target(const hale_approved_action *a)
{
    return a->target;
}

bool hale_approved_action_is_dry_run(const hale_approved_action *a)
{
    return a->dry_run;
}

int64_t hale_approved_action_approval_id(const hale_approved_action *a)
{
    return a->approval_id;
}

const char *hale_approved_action_approvers(const hale_approved_action *a)
{
    return a->approvers;
}
