/* agent/loop/loop_heal_exec.c - running an approved action at most once: its exec_intent leaf
 * and the heal_action row move to 'intent' in one transaction, a signed checkpoint covers the
 * intent, the pause switch is checked, the tool runs in the sandbox on the threadpool, and its
 * exec_result leaf (redacted output stored, digests logged) moves the incident on. At start,
 * every intent without a result is closed as exec_abandoned and never run again. */
#include "internal.h"

#include <time.h>

#define HALE_LOG_MODULE "heal"
#include "hale/log.h"
#include "loop/loop_heal.h"
#include "util/json.h"
#include "util/sha256.h"
#include "util/strparse.h"
#include "util/timeutil.h"

/* ---- abandoning ---- */

static json_t *abandoned_leaf(const struct heal_row *r, const char *reason)
{
    return json_pack("{s:s,s:s,s:I,s:s,s:s,s:b}", "intent_id", r->intent_id, "decision_id",
                     r->decision_id, "incident_id", (json_int_t)r->incident_id, "tool", r->tool,
                     "reason", reason, "rollback", strcmp(r->kind, "rollback") == 0);
}

/* The intent of c->row is recorded but the tool will not run: close it as abandoned. */
static void abandon(struct heal_case *c, const char *reason)
{
    struct heal_write *w = hale__heal_write_new(c);

    log_warn("incident %lld: %s not run: %s", (long long)c->incident_id, c->row.tool, reason);
    if (c->req) {
        c->answer_status = 409;
        snprintf(c->answer_why, sizeof(c->answer_why), "not run: %s", reason);
    }
    snprintf(c->row.state, sizeof(c->row.state), "abandoned");
    snprintf(c->row.outcome, sizeof(c->row.outcome), "not_run");
    if (!w ||
        hale__heal_write_leaf(w, HALE_AUDIT_KIND_EXEC_ABANDON, abandoned_leaf(&c->row, reason)) <
            0 ||
        hale__heal_row_copy(&w->row, &c->row) < 0) {
        hale__heal_write_free(w);
        hale__heal_case_close(c->l, c); /* the next start abandons it */
        return;
    }
    w->update_row = true;
    w->finish = HALE_POLICY_OUTCOME_ABANDONED;
    w->outbox_id = c->outbox_id;
    hale__heal_write_move(w, c->stage, HALE_INCIDENT_ESCALATED, "%s not run: %s", c->row.tool,
                          reason);
    w->after = hale__heal_close_after;
    c->phase = HEAL_WRITING;
    if (hale__heal_write_submit(c->l, w, false) < 0)
        hale__heal_case_close(c->l, c);
}

struct reconcile {
    hale_loop *l;   /* the controller */
    int64_t now_ms; /* the start */
    int n;          /* rows closed */
    int err;        /* the first failure */
};

static int abandon_row(struct heal_row *row, void *ud)
{
    struct reconcile *rc = ud;
    hale_loop *l = rc->l;
    const char *reason = strcmp(row->state, "running") == 0
                             ? "the controller stopped while it ran; its result is unknown"
                             : "the controller stopped after its intent; it may have started";
    json_t *leaf = abandoned_leaf(row, reason);
    hale_incident_view v;
    int r;

    if (leaf && row->incident_id <= 0)
        json_object_del(leaf, "incident_id"); /* a run by hand */
    snprintf(row->state, sizeof(row->state), "abandoned");
    snprintf(row->outcome, sizeof(row->outcome), "unknown");
    r = leaf ? hale_audit_append(l->audit, HALE_AUDIT_KIND_EXEC_ABANDON, leaf, rc->now_ms * 1000000,
                                 NULL, NULL)
             : -ENOMEM;
    json_decref(leaf);
    if (r == 0)
        r = hale__heal_db_update(hale_store_sqlite(l->store), row, rc->now_ms);
    if (r == 0 && row->ledger_id > 0) {
        r = hale_policy_ledger_finish(l->heal->ledger, row->ledger_id,
                                      HALE_POLICY_OUTCOME_ABANDONED, rc->now_ms);
        r = r == HALE_ESTATE || r == HALE_ENOTFOUND ? 0 : r;
    }
    if (r == 0 && hale_incidents_view(l->incidents, row->incident_id, &v) == 0 &&
        hale_incident_transition_allowed(v.state, HALE_INCIDENT_ESCALATED))
        r = hale_incidents_transition(l->incidents, row->incident_id, HALE_INCIDENT_ESCALATED,
                                      "an action was interrupted by a restart: not run again",
                                      rc->now_ms);
    if (r == 0)
        rc->n++;
    return r;
}

int hale__heal_reconcile(hale_loop *l)
{
    struct reconcile rc = {.l = l, .now_ms = hale_time_now_ms()};
    int r = hale_store_begin(l->store);

    if (r == 0)
        r = hale__heal_db_open_each(hale_store_sqlite(l->store), abandon_row, &rc);
    if (r == 0 && rc.n > 0)
        r = hale_incidents_flush(l->incidents, rc.now_ms, false);
    if (r == 0)
        r = hale_store_commit(l->store);
    if (r < 0) {
        hale_store_rollback(l->store);
        (void)hale_incidents_aborted(l->incidents);
        return r;
    }
    hale_incidents_committed(l->incidents, hale__loop_entered, l);
    return rc.n;
}

/* ---- the run ---- */

static int64_t now_unix_us(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void hex_digest(const char *data, size_t len, char out[2 * HALE_SHA256_BYTES + 1])
{
    hale_sha256_part p = {data, len};
    uint8_t d[HALE_SHA256_BYTES];

    hale_sha256(&p, 1, d);
    hale_hex_encode(d, sizeof(d), out);
}

/* The redacted text of a tool's output, cut to what the row keeps; NULL when no rules are
 * loaded or redaction failed (fail closed: then only digests are kept). */
static char *redacted(const hale_redact *rules, const char *text, size_t len)
{
    hale_redact_session *s = NULL;
    hale_redact_result res = {0};
    char *out = NULL;

    if (!rules || hale_redact_session_new(rules, &s) < 0)
        return NULL;
    if (len > HEAL_OUTPUT_STORED)
        len = HEAL_OUTPUT_STORED;
    if (hale_redact_apply(s, text, len, &res) >= 0) {
        out = res.text;
        res.text = NULL;
    }
    hale_redact_result_release(&res);
    hale_redact_session_free(s);
    return out;
}

static const char *run_outcome(const struct heal_case *c)
{
    if (c->run_result < 0)
        return "not_started";
    if (c->res.timed_out)
        return "timed_out";
    if (c->res.exit_code == 0)
        return "succeeded";
    return c->res.term_signal ? "killed" : "failed";
}

static json_t *result_leaf(const struct heal_case *c)
{
    char out_sha[2 * HALE_SHA256_BYTES + 1], err_sha[2 * HALE_SHA256_BYTES + 1], layers[256];
    const hale_sandbox_result *s = &c->res;
    json_t *leaf;

    hex_digest(s->out ? s->out : "", s->out_len, out_sha);
    hex_digest(s->err ? s->err : "", s->err_len, err_sha);
    (void)hale_sandbox_layers_str(s->layers, layers, sizeof(layers));
    leaf = json_pack("{s:s,s:s,s:I,s:s,s:s,s:i,s:i,s:I,s:s,s:s,s:s,s:b,s:b,s:i,s:I}", "intent_id",
                     c->row.intent_id, "decision_id", c->row.decision_id, "incident_id",
                     (json_int_t)c->incident_id, "tool", c->row.tool, "outcome", run_outcome(c),
                     "exit", c->run_result < 0 ? -1 : s->exit_code, "signal", s->term_signal,
                     "wall_ms", (json_int_t)s->wall_ms, "stdout_sha256", out_sha, "stderr_sha256",
                     err_sha, "layers", layers, "truncated", s->out_truncated || s->err_truncated,
                     "rollback", c->rollback, "landlock_abi", s->landlock_abi, "start_unix_us",
                     (json_int_t)c->exec_started_us);
    if (leaf && c->run_result < 0 &&
        json_object_set_new(leaf, "error", json_string(c->run_diag.msg)) < 0) {
        json_decref(leaf);
        leaf = NULL;
    }
    return leaf;
}

static void after_result(struct heal_case *c, struct heal_write *w, int result);

/* Where the incident goes after the run. */
static void plan_move(struct heal_case *c, struct heal_write *w, bool ok)
{
    if (c->rollback && ok)
        hale__heal_write_move(w, c->stage, HALE_INCIDENT_ROLLED_BACK,
                              "verification failed; rolled back with %s", c->row.tool);
    else if (c->rollback)
        hale__heal_write_move(w, c->stage, HALE_INCIDENT_ESCALATED,
                              "verification failed and the rollback %s %s (exit %d)", c->row.tool,
                              run_outcome(c), c->res.exit_code);
    else if (ok)
        hale__heal_write_move(w, c->stage, HALE_INCIDENT_VERIFYING, "%s exited 0 in %llu ms",
                              c->row.tool, (unsigned long long)c->res.wall_ms);
    else if (c->run_result < 0)
        hale__heal_write_move(w, c->stage, HALE_INCIDENT_ESCALATED, "%s did not start: %s",
                              c->row.tool, c->run_diag.msg);
    else
        hale__heal_write_move(w, c->stage, HALE_INCIDENT_ESCALATED, "%s %s (exit %d, signal %d)",
                              c->row.tool, run_outcome(c), c->res.exit_code, c->res.term_signal);
}

static void record_result(struct heal_case *c)
{
    struct heal_write *w = hale__heal_write_new(c);
    const hale_redact *rules = c->l->heal->rules;
    bool ok = c->run_result == 0 && !c->res.timed_out && c->res.exit_code == 0;
    json_t *out_red = NULL;

    if (c->run_result == 0 && !c->rollback) {
        json_decref(c->output);
        c->output = hale_tool_output_json(c->res.out, c->res.out_len);
    }
    snprintf(c->row.state, sizeof(c->row.state), "done");
    snprintf(c->row.outcome, sizeof(c->row.outcome), "%s", run_outcome(c));
    c->row.exit_code = c->run_result < 0 ? -1 : c->res.exit_code;
    free(c->row.out_text);
    free(c->row.err_text);
    c->row.out_text = redacted(rules, c->res.out ? c->res.out : "", c->res.out_len);
    c->row.err_text = redacted(rules, c->res.err ? c->res.err : "", c->res.err_len);
    free(c->row.output);
    c->row.output = NULL;
    if (c->row.out_text &&
        (out_red = hale_tool_output_json(c->row.out_text, strlen(c->row.out_text))))
        c->row.output = hale_json_dump_canonical(out_red);
    json_decref(out_red);
    if (!w || hale__heal_write_leaf(w, HALE_AUDIT_KIND_EXEC_RESULT, result_leaf(c)) < 0 ||
        hale__heal_row_copy(&w->row, &c->row) < 0) {
        hale__heal_write_free(w);
        log_err("incident %lld: out of memory recording the result of %s; the next start "
                "marks it abandoned",
                (long long)c->incident_id, c->row.tool);
        hale__heal_case_close(c->l, c);
        return;
    }
    w->update_row = true;
    /* A rollback's outcome is its own; an action's success waits for verification. */
    if (!ok || c->rollback)
        w->finish = ok ? HALE_POLICY_OUTCOME_SUCCESS : HALE_POLICY_OUTCOME_FAILED;
    w->outbox_id = c->outbox_id;
    plan_move(c, w, ok);
    w->after = after_result;
    c->phase = HEAL_WRITING;
    if (hale__heal_write_submit(c->l, w, false) < 0)
        hale__heal_case_close(c->l, c);
}

static void after_result(struct heal_case *c, struct heal_write *w, int result)
{
    struct heal_write *f;

    if (!c)
        return;
    c->phase = HEAL_IDLE;
    log_notice("incident %lld: %s", (long long)c->incident_id, w->reason);
    /* SECURITY.md 1.9: a high-risk action's signed record leaves the host at once. */
    if (result == 0 && c->tool && hale_tool_risk(c->tool) >= HALE_POLICY_RISK_HIGH)
        hale__loop_audit_anchor_soon(c->l);
    if (result == 0 && w->moved && w->to == HALE_INCIDENT_VERIFYING) {
        c->stage = HALE_INCIDENT_VERIFYING;
        c->outbox_id = 0;
        return;
    }
    /* The incident left healing meanwhile (its alerts resolved): no verification will run,
     * so the action counts as a success for the limits. */
    if (result == 0 && !w->moved && w->finish == HALE_POLICY_OUTCOME_RUNNING &&
        (f = hale__heal_write_new(c))) {
        f->row.ledger_id = c->row.ledger_id;
        f->finish = HALE_POLICY_OUTCOME_SUCCESS;
        f->after = hale__heal_close_after;
        if (hale__heal_write_submit(c->l, f, false) == 0)
            return;
    }
    hale__heal_case_close(c->l, c);
}

/* Threadpool: the sandboxed run, touching only the case's run and result. */
void hale__heal_sandbox_run(struct heal_case *c, const hale_tool *t)
{
    hale_sandbox_spec spec = *hale_tool_run_spec(c->run);

    /* The command pinned at load must still be the one that runs. */
    c->run_result = hale_tool_verify_command(t, &c->run_diag);
    if (c->run_result < 0)
        return;

    if (c->l->heal->launcher[0])
        spec.launcher = c->l->heal->launcher;
    c->run_result = hale_sandbox_run(&spec, &c->res, &c->run_diag);
}

static void run_work(uv_work_t *wk)
{
    struct heal_case *c = wk->data;

    hale__heal_sandbox_run(c, c->tool);
}

static void run_done(uv_work_t *wk, int status)
{
    struct heal_case *c = wk->data;

    c->phase = HEAL_IDLE;
    c->l->heal->in_pool--;
    if (status == UV_ECANCELED && c->run_result == 0) {
        c->run_result = -ECANCELED;
        snprintf(c->run_diag.msg, sizeof(c->run_diag.msg), "cancelled at shutdown");
    }
    if (c->closing) {
        c->closing = false;
        hale__heal_case_close(c->l, c); /* unlinked already: frees it */
        return;
    }
    record_result(c);
}

static void start_run(struct heal_case *c)
{
    struct heal_write *w;
    int r;

    /* Checked right before the run: a pause set while the intent was written, or while the
     * run waited for a slot, wins. */
    if (hale_loop_paused(c->l)) {
        abandon(c, "paused before it started");
        return;
    }
    if (c->l->heal->in_pool >= HEAL_MAX_POOL) {
        c->phase = HEAL_QUEUED; /* the tick starts it when a slot frees */
        return;
    }
    w = hale__heal_write_new(NULL);
    hale_sandbox_result_release(&c->res);
    memset(&c->res, 0, sizeof(c->res));
    c->run_result = 0;
    c->run_diag.msg[0] = '\0';
    c->exec_started_us = now_unix_us();
    log_info("incident %lld: running %s (%s, key %s)", (long long)c->incident_id, c->row.tool,
             c->row.intent_id, c->row.idem_key);
    r = uv_queue_work(&c->l->uv, &c->work, run_work, run_done);
    if (r < 0) {
        hale__heal_write_free(w);
        abandon(c, uv_strerror(r));
        return;
    }
    c->phase = HEAL_RUNNING;
    c->l->heal->in_pool++;
    /* Informational: the result write follows this one in queue order. */
    snprintf(c->row.state, sizeof(c->row.state), "running");
    if (w && hale__heal_row_copy(&w->row, &c->row) == 0) {
        w->incident_id = c->incident_id;
        w->update_row = true;
        (void)hale__heal_write_submit(c->l, w, false);
    } else {
        hale__heal_write_free(w);
    }
}

static void intent_done(struct heal_case *c, struct heal_write *w, int result)
{
    if (!c)
        return;
    c->phase = HEAL_IDLE;
    if (w->committed) {
        c->row.id = w->row.id;
        c->row.attempt = w->row.attempt;
        c->row.ledger_id = w->row.ledger_id;
        snprintf(c->row.idem_key, sizeof(c->row.idem_key), "%s", w->row.idem_key);
    }
    if (result < 0 && !w->committed) {
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED, "cannot record the intent of %s: %s",
                          c->row.tool, hale_strerror(result));
        return;
    }
    if (result < 0) {
        abandon(c, "no signed checkpoint covers its intent");
        return;
    }
    start_run(c);
}

void hale__heal_start_queued(struct heal_case *c)
{
    c->phase = HEAL_IDLE;
    start_run(c);
}

void hale__heal_intent(struct heal_case *c)
{
    struct heal_write *w = hale__heal_write_new(c);
    bool approval = c->row.approval_id > 0;
    json_t *leaf;

    hale__heal_new_id("i-", c->row.intent_id);
    snprintf(c->row.state, sizeof(c->row.state), "intent");
    leaf =
        json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:b,s:b,s:I}", "decision_id", c->row.decision_id,
                  "intent_id", c->row.intent_id, "incident_id", (json_int_t)c->incident_id, "tool",
                  c->row.tool, "tool_sha256", hale_tool_sha256_hex(c->tool), "argv_sha256",
                  hale_tool_run_argv_sha256(c->run), "requires_approval", approval, "rollback",
                  c->rollback, "approval_id", (json_int_t)c->row.approval_id);
    if (!w || hale__heal_write_leaf(w, HALE_AUDIT_KIND_EXEC_INTENT, leaf) < 0 ||
        hale_policy_request_parse(c->row.request, strlen(c->row.request), &w->ledger_req, NULL) <
            0 ||
        hale__heal_row_copy(&w->row, &c->row) < 0) {
        hale__heal_write_free(w);
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED, "out of memory before running %s",
                          c->row.tool);
        return;
    }
    w->automated = !approval;
    if (c->row.id > 0)
        w->update_row = true;
    else
        w->insert_row = true;
    w->after = intent_done;
    c->phase = HEAL_WRITING;
    if (hale__heal_write_submit(c->l, w, true) < 0)
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED, "out of memory before running %s",
                          c->row.tool);
}

/* ---- healing ---- */

/* The approved action for c's recorded request: from the approval's quorum, or from the set in
 * force judging it again (an allow can be taken back by a reload, a tripped limit, a pause). */
static int authorize(struct heal_case *c, hale_approved_action **ret, char *why, size_t cap)
{
    hale_loop *l = c->l;
    json_t *request = json_loads(c->row.request, 0, NULL);
    hale_policy_request *req = NULL;
    hale_policy_verdict *v = NULL;
    hale_diag d = {{0}};
    int r;

    r = request ? hale__heal_judge(l, request, &req, &v, &d) : -ENOMEM;
    if (r == 0 && c->row.approval_id > 0) {
        r = hale_approvals_authorize(l->approvals, c->row.approval_id, req, ret, &d);
    } else if (r == 0 && (hale_policy_verdict_effect(v) != HALE_POLICY_ALLOW ||
                          hale_policy_verdict_is_dry_run(v))) {
        snprintf(why, cap, "the policy set in force no longer allows it (%s%s: %s)",
                 hale_policy_effect_name(hale_policy_verdict_effect(v)),
                 hale_policy_verdict_is_dry_run(v) ? ", dry run" : "",
                 hale_policy_verdict_reason_count(v) ? hale_policy_verdict_reason(v, 0) : "");
        r = HALE_EPOLICY;
    } else if (r == 0) {
        r = hale_policy_authorize(v, req, ret);
    }
    if (r < 0 && !why[0])
        snprintf(why, cap, "%s", d.msg[0] ? d.msg : hale_strerror(r));
    hale_policy_verdict_free(v);
    hale_policy_request_free(req);
    json_decref(request);
    return r;
}

/* Build the run of the approved action and record its intent. */
int hale__heal_prepare(struct heal_case *c, const hale_approved_action *a, char *why, size_t cap)
{
    hale_diag d = {{0}};
    int r;

    c->tool = hale_catalog_find(c->cat, hale_approved_action_tool(a));
    if (!c->tool) {
        snprintf(why, cap, "tool '%s' is not in the catalog", hale_approved_action_tool(a));
        return HALE_ENOTFOUND;
    }
    hale_tool_run_free(c->run);
    c->run = NULL;
    r = hale_tool_prepare(c->tool, hale_approved_action_args(a), &c->run, &d);
    if (r < 0)
        snprintf(why, cap, "cannot prepare %s: %s", hale_approved_action_tool(a), d.msg);
    return r;
}

void hale__heal_on_healing(void *ud, const hale_incident_view *v)
{
    hale_loop *l = ud;
    struct heal_case *c = hale__heal_case_get(l, v->id, true);

    if (!c || c->phase != HEAL_IDLE)
        return;
    c->stage = HALE_INCIDENT_HEALING;
    c->outbox_id = v->outbox_id;
    if (c->row.id == 0 && hale__heal_case_load(c) < 0) {
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED, "no recorded decision to act on");
        return;
    }
    if (strcmp(c->row.state, "decided") != 0 || strcmp(c->row.kind, "action") != 0) {
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED, "%s was already %s (key %s): never run twice",
                          c->row.tool, c->row.state, c->row.idem_key);
        return;
    }
    hale__heal_run_decided(c);
}

void hale__heal_run_decided(struct heal_case *c)
{
    hale_approved_action *a = NULL;
    char why[600] = "";

    if (hale_loop_paused(c->l)) {
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED, "paused: %s was not run", c->row.tool);
        return;
    }
    if (authorize(c, &a, why, sizeof(why)) < 0 || hale__heal_prepare(c, a, why, sizeof(why)) < 0) {
        hale_approved_action_free(a);
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED, "%s not run: %s", c->row.tool, why);
        return;
    }
    hale_approved_action_free(a);
    hale__heal_intent(c);
}
