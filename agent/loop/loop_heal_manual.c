/* agent/loop/loop_heal_manual.c - a tool run by hand (`hale tool run`, POST
 * /api/v1/tools/{name}/run): the same path as a remediation, with source "human" and no
 * incident. The request is judged by the policy set in force and recorded as a decision leaf;
 * an allow runs through the same exec_intent (sealed), sandbox and exec_result path, once. A
 * require_approval or deny verdict is refused (human runs need an allow rule), a dry run only
 * records. The HTTP request is answered when the case closes. */
#include "internal.h"

#define HALE_LOG_MODULE "heal"
#include "hale/log.h"
#include "loop/loop_heal.h"
#include "util/json.h"
#include "util/timeutil.h"

void hale__heal_answer(struct heal_case *c)
{
    hale_http_req *req = c->req;
    json_t *out;
    char *text;

    c->req = NULL;
    out = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "tool", c->row.tool, "decision_id",
                    c->row.decision_id, "intent_id", c->row.intent_id, "idempotency_key",
                    c->row.idem_key, "state", c->row.state[0] ? c->row.state : "refused", "outcome",
                    c->row.outcome);
    if (out && c->row.exit_code >= 0)
        (void)json_object_set_new(out, "exit", json_integer(c->row.exit_code));
    if (out && strcmp(c->row.state, "done") == 0) {
        (void)json_object_set_new(out, "signal", json_integer(c->res.term_signal));
        (void)json_object_set_new(out, "wall_ms", json_integer((json_int_t)c->res.wall_ms));
        (void)json_object_set_new(out, "truncated",
                                  json_boolean(c->res.out_truncated || c->res.err_truncated));
        /* Redacted text only; null when no redaction rules are loaded. */
        (void)json_object_set_new(out, "stdout",
                                  c->row.out_text ? json_string(c->row.out_text) : json_null());
        (void)json_object_set_new(out, "stderr",
                                  c->row.err_text ? json_string(c->row.err_text) : json_null());
    }
    if (out && c->answer_why[0])
        (void)json_object_set_new(out, "reason", json_string(c->answer_why));
    text = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    if (!text) {
        (void)hale_http_respond_error(req, 503, "out_of_memory", "try again later");
        return;
    }
    (void)hale_http_respond(req, c->answer_status ? c->answer_status : 200, "application/json",
                            text, strlen(text));
    free(text);
}

static json_t *manual_request(const hale_tool *t, const json_t *args, const char *actor)
{
    char at[40];

    (void)hale_rfc3339_format(hale_time_now_ms(), at, sizeof(at));
    return json_pack("{s:s,s:O,s:{s:{s:s}},s:i,s:s,s:s,s:b,s:s}", "tool", hale_tool_name(t), "args",
                     args, "target", "labels", "requested_by", actor, "confidence_bp", 10000,
                     "source", "human", "risk", hale_policy_risk_name(hale_tool_risk(t)),
                     "reversible", hale_tool_reversible(t), "time", at);
}

static void decided(struct heal_case *c, struct heal_write *w, int result)
{
    if (!c)
        return;
    c->phase = HEAL_IDLE;
    if (result < 0 || !w->insert_row) {
        if (result < 0) {
            c->answer_status = 503;
            snprintf(c->answer_why, sizeof(c->answer_why), "cannot record the decision: %s",
                     hale_strerror(result));
        }
        hale__heal_case_close(c->l, c);
        return;
    }
    c->row.id = w->row.id;
    c->row.attempt = w->row.attempt;
    snprintf(c->row.idem_key, sizeof(c->row.idem_key), "%s", w->row.idem_key);
    hale__heal_run_decided(c);
}

/* The decision leaf (and, for an allow, the action's row); refusals are answered at close. */
static void decide(struct heal_case *c, json_t *request, const hale_policy_request *req,
                   const hale_policy_verdict *v, bool dry_run, const char *actor,
                   const char *on_behalf_of)
{
    hale_policy_effect e = hale_policy_verdict_effect(v);
    struct heal_write *w = hale__heal_write_new(c);
    json_t *leaf;

    hale__heal_new_id("d-", c->row.decision_id);
    leaf = hale__heal_decision_leaf(c->row.decision_id, 0, request, v, NULL);
    if (leaf && json_object_set_new(leaf, "actor", json_string(actor)) < 0) {
        json_decref(leaf);
        leaf = NULL;
    }
    if (leaf && on_behalf_of)
        (void)json_object_set_new(leaf, "on_behalf_of", json_string(on_behalf_of));
    if (leaf && dry_run)
        (void)json_object_set_new(leaf, "dry_run", json_true());
    if (!w || hale__heal_write_leaf(w, HALE_AUDIT_KIND_DECISION, leaf) < 0) {
        hale__heal_write_free(w);
        c->answer_status = 503;
        hale__heal_case_close(c->l, c);
        return;
    }
    snprintf(c->row.tool, sizeof(c->row.tool), "%s", hale_policy_request_tool(req));
    snprintf(c->row.digest, sizeof(c->row.digest), "%s", hale_policy_request_digest_hex(req));
    snprintf(c->row.effect, sizeof(c->row.effect), "%s", hale_policy_effect_name(e));
    if (dry_run || hale_policy_verdict_is_dry_run(v) || e != HALE_POLICY_ALLOW) {
        snprintf(c->row.state, sizeof(c->row.state), "%s",
                 dry_run || hale_policy_verdict_is_dry_run(v) ? "dry_run" : "refused");
        c->answer_status = dry_run || hale_policy_verdict_is_dry_run(v) ? 200 : 403;
        snprintf(c->answer_why, sizeof(c->answer_why), "%s: %s",
                 dry_run || hale_policy_verdict_is_dry_run(v) ? "dry run, nothing was run"
                 : e == HALE_POLICY_DENY                      ? "denied by policy"
                                         : "policy requires approval, which runs by hand do not "
                                           "ask for",
                 hale_policy_verdict_reason_count(v) ? hale_policy_verdict_reason(v, 0) : "");
    } else {
        snprintf(c->row.kind, sizeof(c->row.kind), "action");
        snprintf(c->row.state, sizeof(c->row.state), "decided");
        c->row.request = hale_json_dump_canonical(request);
        if (!c->row.request || hale__heal_row_copy(&w->row, &c->row) < 0) {
            hale__heal_write_free(w);
            c->answer_status = 503;
            hale__heal_case_close(c->l, c);
            return;
        }
        w->row.incident_id = 0;
        w->insert_row = true;
    }
    w->after = decided;
    c->phase = HEAL_WRITING;
    if (hale__heal_write_submit(c->l, w, false) < 0) {
        c->answer_status = 503;
        hale__heal_case_close(c->l, c);
    }
}

void hale__loop_heal_tool_run(void *ud, hale_http_req *req, const char *tool, const json_t *args,
                              bool dry_run, const char *actor, const char *on_behalf_of)
{
    hale_loop *l = ud;
    struct hale_heal *h = l->heal;
    const hale_tool *t = h ? hale_catalog_find(h->cat, tool) : NULL;
    hale_policy_request *preq = NULL;
    hale_policy_verdict *v = NULL;
    struct heal_case *c = NULL;
    hale_diag d = {{0}};
    json_t *request;

    if (!t) {
        (void)hale_http_respond_error(req, 404, "not_found", "no such tool in the catalog");
        return;
    }
    if (hale_loop_paused(l) && !dry_run) {
        (void)hale_http_respond_error(req, 409, "paused", "paused: nothing runs until resumed");
        return;
    }
    if (hale_tool_validate_args(t, args, &d) < 0) {
        (void)hale_http_respond_error(req, 400, "invalid_payload", d.msg);
        return;
    }
    request = manual_request(t, args, actor);
    if (!request || hale__heal_judge(l, request, &preq, &v, &d) < 0 ||
        !(c = hale__heal_case_get(l, -(++h->manual_seq), true))) {
        (void)hale_http_respond_error(req, d.msg[0] ? 400 : 503,
                                      d.msg[0] ? "invalid_payload" : "out_of_memory",
                                      d.msg[0] ? d.msg : "try again later");
        goto out;
    }
    c->req = req;
    c->answer_status = 200;
    c->stage = HALE_INCIDENT_HEALING; /* no incident: its moves find none and do nothing */
    json_decref(c->args);
    c->args = json_deep_copy(args);
    log_notice("%s asks to run %s%s", actor, tool, dry_run ? " (dry run)" : "");
    decide(c, request, preq, v, dry_run, actor, on_behalf_of);
out:
    hale_policy_verdict_free(v);
    hale_policy_request_free(preq);
    json_decref(request);
}
