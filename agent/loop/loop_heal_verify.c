/* agent/loop/loop_heal_verify.c - did the action work? After the manifest's stabilization
 * window the verify check runs (a diagnostic tool in the sandbox, the incident's alerts, or a
 * Prometheus instant query) and is retried until its timeout; then the incident resolves, or
 * the action is rolled back (when the tool is reversible) or escalated. Every outcome is a
 * verification leaf and a ledger outcome (success, ineffective). */
#include "internal.h"

#include <curl/curl.h>

#define HALE_LOG_MODULE "heal"
#include "hale/log.h"
#include "loop/loop_heal.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/strparse.h"

#define RETRY_MIN_MS   200u
#define RETRY_MAX_MS   5000u
#define PROM_MAX_BYTES (1u << 20)

static const char *check_name(const hale_tool_check *k)
{
    static const char *const names[] = {"tool", "alert", "metric"};

    return k ? names[hale_tool_check_kind_of(k)] : "none";
}

static json_t *verification_leaf(const struct heal_case *c, bool passed, const char *detail)
{
    return json_pack("{s:s,s:s,s:I,s:s,s:s,s:b,s:i,s:s}", "decision_id", c->row.decision_id,
                     "intent_id", c->row.intent_id, "incident_id", (json_int_t)c->incident_id,
                     "tool", c->row.tool, "check", check_name(c->check), "passed", passed, "checks",
                     (int)c->checks, "detail", detail);
}

static void verified(struct heal_case *c, const char *detail)
{
    struct heal_write *w = hale__heal_write_new(c);

    if (!w || hale__heal_write_leaf(w, HALE_AUDIT_KIND_VERIFICATION,
                                    verification_leaf(c, true, detail)) < 0) {
        hale__heal_write_free(w);
        hale__heal_case_close(c->l, c);
        return;
    }
    w->row.ledger_id = c->row.ledger_id;
    w->finish = HALE_POLICY_OUTCOME_SUCCESS;
    w->outbox_id = c->outbox_id;
    hale__heal_write_move(w, HALE_INCIDENT_VERIFYING, HALE_INCIDENT_RESOLVED, "verified: %s",
                          detail);
    log_notice("incident %lld: %s", (long long)c->incident_id, w->reason);
    w->after = hale__heal_close_after;
    c->phase = HEAL_WRITING;
    if (hale__heal_write_submit(c->l, w, false) < 0)
        hale__heal_case_close(c->l, c);
}

/* The rollback as a request of its own (the action's target and incident, the rollback tool
 * and its derived arguments), recorded under the action's decision. */
static int start_rollback(struct heal_case *c, char *why, size_t cap)
{
    const hale_tool *rt = NULL;
    json_t *rargs = NULL, *request = json_loads(c->row.request, 0, NULL);
    hale_policy_request *req = NULL;
    hale_diag d = {{0}};
    char *text = NULL;
    int r;

    r = request ? hale_tool_rollback(c->cat, c->tool, c->args, c->output, &rt, &rargs, &d)
                : -ENOMEM;
    if (r == 0 &&
        (json_object_set_new(request, "tool", json_string(hale_tool_name(rt))) < 0 ||
         json_object_set(request, "args", rargs) < 0 ||
         json_object_set_new(request, "risk",
                             json_string(hale_policy_risk_name(hale_tool_risk(rt)))) < 0 ||
         json_object_set_new(request, "reversible", json_false()) < 0 ||
         !(text = hale_json_dump_canonical(request))))
        r = -ENOMEM;
    if (r == 0)
        r = hale_policy_request_parse(text, strlen(text), &req, &d);
    if (r == 0) {
        free(c->row.request);
        c->row.request = text;
        text = NULL;
        c->row.id = 0;
        c->row.attempt = 0;
        c->row.ledger_id = 0;
        c->row.exit_code = -1;
        c->row.idem_key[0] = c->row.outcome[0] = '\0';
        snprintf(c->row.kind, sizeof(c->row.kind), "rollback");
        snprintf(c->row.tool, sizeof(c->row.tool), "%s", hale_tool_name(rt));
        snprintf(c->row.digest, sizeof(c->row.digest), "%s", hale_policy_request_digest_hex(req));
        c->rollback = true;
        c->tool = rt;
        hale_tool_run_free(c->run);
        c->run = NULL;
        r = hale_tool_prepare(rt, rargs, &c->run, &d);
    }
    if (r < 0)
        snprintf(why, cap, "cannot derive the rollback: %s", d.msg[0] ? d.msg : hale_strerror(r));
    free(text);
    hale_policy_request_free(req);
    json_decref(rargs);
    json_decref(request);
    if (r == 0)
        hale__heal_intent(c);
    return r;
}

static void failed_done(struct heal_case *c, struct heal_write *w, int result)
{
    char why[600] = "";

    if (!c)
        return;
    c->phase = HEAL_IDLE;
    if (result < 0 || w->move) {
        hale__heal_case_close(c->l, c);
        return;
    }
    if (start_rollback(c, why, sizeof(why)) < 0)
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED, "verification failed and %s", why);
}

static void verify_failed(struct heal_case *c, const char *detail)
{
    struct heal_write *w = hale__heal_write_new(c);
    bool reversible = c->tool && hale_tool_reversible(c->tool);

    snprintf(c->row.outcome, sizeof(c->row.outcome), "ineffective");
    if (!w ||
        hale__heal_write_leaf(w, HALE_AUDIT_KIND_VERIFICATION,
                              verification_leaf(c, false, detail)) < 0 ||
        hale__heal_row_copy(&w->row, &c->row) < 0) {
        hale__heal_write_free(w);
        hale__heal_case_close(c->l, c);
        return;
    }
    w->update_row = true;
    w->finish = HALE_POLICY_OUTCOME_INEFFECTIVE;
    log_warn("incident %lld: verification of %s failed: %s%s", (long long)c->incident_id,
             c->row.tool, detail, reversible ? "; rolling back" : "");
    if (!reversible) {
        w->outbox_id = c->outbox_id;
        hale__heal_write_move(w, HALE_INCIDENT_VERIFYING, HALE_INCIDENT_ESCALATED,
                              "verification failed (%s) and %s has no rollback", detail,
                              c->row.tool);
    }
    w->after = failed_done;
    c->phase = HEAL_WRITING;
    if (hale__heal_write_submit(c->l, w, false) < 0)
        hale__heal_case_close(c->l, c);
}

/* ---- the checks ---- */

static uint64_t retry_ms(const hale_tool_check *k)
{
    uint64_t t = hale_tool_check_timeout_ms(k) / 10;

    return t < RETRY_MIN_MS ? RETRY_MIN_MS : t > RETRY_MAX_MS ? RETRY_MAX_MS : t;
}

/* 1 passed, 0 pending (retry until the timeout), -1 failed for good. */
static void check_result(struct heal_case *c, int status, const char *why)
{
    uint64_t now = uv_now(&c->l->uv);

    c->checks++;
    if (status > 0) {
        verified(c, why);
        return;
    }
    snprintf(c->check_why, sizeof(c->check_why), "%s", why);
    if (status == 0 && now + retry_ms(c->check) < c->deadline_ms) {
        c->due_ms = now + retry_ms(c->check);
        c->phase = HEAL_STABILIZING;
        return;
    }
    verify_failed(c, why);
}

static int on_incident_row(const hale_incident_rec *r, void *ud)
{
    hale_incident_rec *out = ud;

    out->alerts_firing = r->alerts_firing;
    out->closed_ms = r->closed_ms;
    return 0;
}

static void check_alert(struct heal_case *c)
{
    hale_incident_rec rec = {0};
    bool want_resolved = hale_tool_check_alert_resolved(c->check);
    char why[160];

    if (hale_store_incident_get(c->l->reader, c->incident_id, on_incident_row, &rec) < 0) {
        check_result(c, -1, "the incident cannot be read");
        return;
    }
    snprintf(why, sizeof(why), "%lld alerts firing", (long long)rec.alerts_firing);
    if (want_resolved)
        check_result(c, rec.alerts_firing == 0 ? 1 : 0, why);
    else
        check_result(c, rec.alerts_firing > 0 ? 1 : 0, why);
}

/* Threadpool: the check's tool or query; only the case's own fields. */
static void check_work(uv_work_t *wk)
{
    struct heal_case *c = wk->data;

    if (hale_tool_check_kind_of(c->check) == HALE_TOOL_CHECK_TOOL) {
        hale__heal_sandbox_run(c, hale_tool_check_tool(c->check));
        return;
    }
    c->run_result = hale__heal_prom_query(
        c->check_why, hale_tool_check_query(c->check),
        hale_tool_check_timeout_ms(c->check) < 10000 ? hale_tool_check_timeout_ms(c->check) : 10000,
        &c->metric_value, c->run_diag.msg, sizeof(c->run_diag.msg));
}

static void tool_checked(struct heal_case *c)
{
    hale_diag why = {{0}};
    json_t *out;
    bool ok;

    if (c->run_result < 0) {
        check_result(c, 0, c->run_diag.msg);
        return;
    }
    out = hale_tool_output_json(c->res.out, c->res.out_len);
    ok = hale_tool_check_tool_passed(c->check, c->res.timed_out ? -1 : c->res.exit_code, out, &why);
    json_decref(out);
    if (ok)
        snprintf(why.msg, sizeof(why.msg), "%s exited %d as expected",
                 hale_tool_name(hale_tool_check_tool(c->check)), c->res.exit_code);
    check_result(c, ok ? 1 : 0, why.msg);
}

static void check_done(uv_work_t *wk, int status)
{
    struct heal_case *c = wk->data;
    char why[600];

    (void)status;
    c->phase = HEAL_IDLE;
    c->l->heal->in_pool--;
    if (c->closing) {
        c->closing = false;
        hale__heal_case_close(c->l, c);
        return;
    }
    if (hale_tool_check_kind_of(c->check) == HALE_TOOL_CHECK_TOOL) {
        tool_checked(c);
        hale_sandbox_result_release(&c->res);
        return;
    }
    if (c->run_result < 0) {
        check_result(c, 0, c->run_diag.msg);
        return;
    }
    snprintf(why, sizeof(why), "%s = %g, expected %s %g", hale_tool_check_query(c->check),
             c->metric_value, hale_tool_check_op(c->check), hale_tool_check_value(c->check));
    check_result(c, hale_tool_check_metric_passed(c->check, c->metric_value) ? 1 : 0, why);
}

static void start_check_work(struct heal_case *c)
{
    int r;

    hale_sandbox_result_release(&c->res);
    memset(&c->res, 0, sizeof(c->res));
    c->run_result = 0;
    c->run_diag.msg[0] = '\0';
    r = uv_queue_work(&c->l->uv, &c->work, check_work, check_done);
    if (r < 0) {
        check_result(c, 0, uv_strerror(r));
        return;
    }
    c->phase = HEAL_CHECKING;
    c->l->heal->in_pool++;
}

void hale__heal_verify_tick(hale_loop *l, struct heal_case *c)
{
    hale_diag d = {{0}};

    if (hale_loop_paused(l)) {
        check_result(c, 0, "paused: no check runs while paused");
        return;
    }
    /* No slot on the threadpool: not a check yet, and nothing prepared; the next tick retries. */
    if (hale_tool_check_kind_of(c->check) != HALE_TOOL_CHECK_ALERT &&
        l->heal->in_pool >= HEAL_MAX_POOL) {
        c->due_ms = uv_now(&l->uv) + HEAL_TICK_MS;
        c->phase = HEAL_STABILIZING;
        return;
    }
    switch (hale_tool_check_kind_of(c->check)) {
    case HALE_TOOL_CHECK_ALERT:
        check_alert(c);
        return;
    case HALE_TOOL_CHECK_METRIC:
        if (!l->cfg->metrics.prom_url || !l->cfg->metrics.prom_url[0]) {
            check_result(c, -1,
                         "no Prometheus is configured (metrics.prometheus.url): metric checks "
                         "fail closed");
            return;
        }
        /* The URL travels in check_why: the job must not read the config, which a reload may
         * swap meanwhile. */
        snprintf(c->check_why, sizeof(c->check_why), "%s", l->cfg->metrics.prom_url);
        start_check_work(c);
        return;
    case HALE_TOOL_CHECK_TOOL:
        hale_tool_run_free(c->run);
        c->run = NULL;
        if (hale_tool_prepare(hale_tool_check_tool(c->check), hale_tool_check_args(c->check),
                              &c->run, &d) < 0) {
            check_result(c, -1, d.msg);
            return;
        }
        start_check_work(c);
        return;
    }
}

void hale__heal_on_verifying(void *ud, const hale_incident_view *v)
{
    hale_loop *l = ud;
    struct heal_case *c = hale__heal_case_get(l, v->id, true);
    hale_diag d = {{0}};
    uint64_t now;

    if (!c || c->phase != HEAL_IDLE)
        return;
    c->stage = HALE_INCIDENT_VERIFYING;
    c->outbox_id = v->outbox_id;
    if (c->row.id == 0 && hale__heal_case_load(c) < 0) {
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED, "no recorded action to verify");
        return;
    }
    if (strcmp(c->row.kind, "action") != 0 || strcmp(c->row.state, "done") != 0 ||
        strcmp(c->row.outcome, "succeeded") != 0) {
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED,
                          "the recorded action (%s, %s) is not one "
                          "to verify",
                          c->row.state, c->row.outcome);
        return;
    }
    c->tool = hale_catalog_find(c->cat, c->row.tool);
    hale_tool_check_free(c->check);
    c->check = NULL;
    if (!c->tool ||
        hale_tool_check_resolve(c->cat, c->tool, HALE_TOOL_VERIFY, c->args, &c->check, &d) < 0) {
        verify_failed(c, c->tool ? d.msg : "the tool left the catalog");
        return;
    }
    if (!c->check) {
        verified(c, "the tool declares no verification");
        return;
    }
    now = uv_now(&l->uv);
    c->checks = 0;
    c->due_ms = now + hale_tool_check_stabilize_ms(c->check);
    c->deadline_ms = c->due_ms + hale_tool_check_timeout_ms(c->check);
    c->phase = HEAL_STABILIZING;
    log_info("incident %lld: verifying %s (%s check) in %llu ms", (long long)c->incident_id,
             c->row.tool, check_name(c->check),
             (unsigned long long)hale_tool_check_stabilize_ms(c->check));
}

/* ---- Prometheus ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    hale_buf *b = ud;

    return hale_buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/* The value of an instant query's single sample (vector or scalar). */
static int sample_value(const json_t *ans, double *ret, char *why, size_t cap)
{
    const json_t *data = json_object_get(ans, "data"), *res = json_object_get(data, "result");
    const char *type = json_string_value(json_object_get(data, "resultType"));
    const json_t *value = NULL;

    const char *status = json_string_value(json_object_get(ans, "status"));

    if (!status || strcmp(status, "success") != 0 || !type) {
        snprintf(why, cap, "the answer is not a successful query result");
        return HALE_EUPSTREAM;
    }
    if (strcmp(type, "scalar") == 0)
        value = res;
    else if (type && strcmp(type, "vector") == 0 && json_array_size(res) >= 1)
        value = json_object_get(json_array_get(res, 0), "value");
    if (!value) {
        snprintf(why, cap, "the query returned no sample");
        return HALE_ENOTFOUND;
    }
    if (hale_parse_double(json_string_value(json_array_get(value, 1)), ret) < 0) {
        snprintf(why, cap, "the sample is not a finite number");
        return HALE_EPARSE;
    }
    return 0;
}

int hale__heal_prom_query(const char *base_url, const char *query, uint64_t timeout_ms, double *ret,
                          char *why, size_t why_size)
{
    CURL *c = curl_easy_init();
    char *esc = c ? curl_easy_escape(c, query, 0) : NULL;
    char url[8192];
    hale_diag d = {{0}};
    json_t *ans = NULL;
    hale_buf body;
    long status = 0;
    CURLcode cc;
    int r;

    if (!esc) {
        curl_easy_cleanup(c);
        return -ENOMEM;
    }
    r = snprintf(url, sizeof(url), "%s%sapi/v1/query?query=%s", base_url,
                 *base_url && base_url[strlen(base_url) - 1] == '/' ? "" : "/", esc);
    curl_free(esc);
    if (r < 0 || (size_t)r >= sizeof(url)) {
        curl_easy_cleanup(c);
        snprintf(why, why_size, "the query URL is too long");
        return HALE_ELIMIT;
    }
    hale_buf_init(&body, PROM_MAX_BYTES);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ms ? timeout_ms : 1000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (cc != CURLE_OK) {
        snprintf(why, why_size, "prometheus: %s", curl_easy_strerror(cc));
        r = HALE_EUPSTREAM;
    } else if (status != 200) {
        snprintf(why, why_size, "prometheus answered %ld", status);
        r = HALE_EUPSTREAM;
    } else if (hale_json_parse(body.data ? body.data : "", body.len, &ans, &d) < 0) {
        snprintf(why, why_size, "prometheus: %s", d.msg);
        r = HALE_EPARSE;
    } else {
        r = sample_value(ans, ret, why, why_size);
    }
    json_decref(ans);
    hale_buf_release(&body);
    return r;
}
