/* agent/loop/loop_heal.c - the remediation module's frame: the catalog and the runbooks
 * (loaded at start, swapped on SIGHUP with a catalog_reload leaf), the policy ledger, the
 * stages it registers (open, deciding, awaiting_approval, healing, verifying), the incidents
 * under remediation, and the tick that drives approval expiry and verification. */
#include "internal.h"

#include <sodium.h>
#include <stdarg.h>
#include <sys/stat.h>

#define HALE_LOG_MODULE "heal"
#include "hale/log.h"
#include "loop/loop_heal.h"
#include "util/timeutil.h"

#define RUNBOOKS_SUBDIR "runbooks"
#define RULES_FILE      "redact/rules.json"

void hale__heal_new_id(const char *prefix, char out[HEAL_ID_BYTES])
{
    uint8_t b[16];

    randombytes_buf(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, HEAL_ID_BYTES,
             "%s%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", prefix, b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* ---- catalog and runbooks ---- */

static int load_sets(const hale_config *cfg, hale_catalog **ret_cat, hale_runbooks **ret_rb,
                     hale_diag *reterr)
{
    hale_catalog *cat = NULL;
    hale_runbooks *rb = NULL;
    char dir[4200];
    int r;

    r = hale_catalog_load(cfg->tools_dir, &cat, reterr);
    if (r < 0) {
        hale_diag_prefix(reterr, "tools_dir");
        return r;
    }
    snprintf(dir, sizeof(dir), "%s/%s", cfg->policies_dir, RUNBOOKS_SUBDIR);
    r = hale_runbooks_load(dir, cat, &rb, reterr);
    if (r < 0) {
        hale_diag_prefix(reterr, "runbooks");
        hale_catalog_unref(cat);
        return r;
    }
    *ret_cat = cat;
    *ret_rb = rb;
    return 0;
}

static int queue_reload_leaf(hale_loop *l)
{
    struct hale_heal *h = l->heal;
    char dir[4200];
    json_t *p;

    snprintf(dir, sizeof(dir), "%s/%s", l->cfg->policies_dir, RUNBOOKS_SUBDIR);
    p = json_pack("{s:s,s:s,s:I,s:s,s:s,s:I}", "catalog_sha256", hale_catalog_hash_hex(h->cat),
                  "tools_dir", l->cfg->tools_dir, "tools", (json_int_t)hale_catalog_count(h->cat),
                  "runbooks_sha256", hale_runbooks_hash_hex(h->runbooks), "runbooks_dir", dir,
                  "runbooks", (json_int_t)hale_runbooks_count(h->runbooks));
    return p ? hale__loop_audit_queue(l, HALE_AUDIT_KIND_CATALOG_RELOAD, p) : -ENOMEM;
}

static void log_loaded(hale_loop *l)
{
    struct hale_heal *h = l->heal;

    log_notice("tools from '%s': %zu, sha256 %s; runbooks: %zu, sha256 %s", l->cfg->tools_dir,
               hale_catalog_count(h->cat), hale_catalog_hash_hex(h->cat),
               hale_runbooks_count(h->runbooks), hale_runbooks_hash_hex(h->runbooks));
}

static int load_rules(hale_loop *l, hale_diag *reterr)
{
    char path[4200];
    struct stat st;
    int r;

    snprintf(path, sizeof(path), "%s/%s", l->cfg->policies_dir, RULES_FILE);
    if (stat(path, &st) < 0 && errno == ENOENT) {
        log_warn("no redaction rules at '%s': tool output is not stored, only its digests", path);
        return 0;
    }
    r = hale_redact_load(path, &l->heal->rules, reterr);
    if (r < 0)
        hale_diag_prefix(reterr, "tool output redaction");
    return r;
}

/* A program that embeds the loop (tests) names the hale binary: the launcher is beside it. */
static void set_launcher(struct hale_heal *h)
{
    const char *exe = hale__loop_exe(), *slash = exe ? strrchr(exe, '/') : NULL;

    if (slash)
        snprintf(h->launcher, sizeof(h->launcher), "%.*s/hale-sandbox", (int)(slash - exe), exe);
}

/* A database migrated by a build that had migration 7 as a placeholder lacks the table. */
static int check_table(hale_loop *l, hale_diag *reterr)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(hale_store_sqlite(l->store),
                           "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                           "name = 'heal_action'",
                           -1, &st, NULL) != SQLITE_OK)
        return HALE_ESTORE;
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 0;
    hale_diag_set(reterr, "the store has no heal_action table (migration 7): it was created by a "
                          "build without remediation; start from a new data_dir");
    return HALE_ESCHEMA;
}

int hale__loop_heal_open(hale_loop *l, hale_diag *reterr)
{
    struct hale_heal *h = calloc(1, sizeof(*h));
    int r;

    if (!h)
        return -ENOMEM;
    l->heal = h;
    r = check_table(l, reterr);
    if (r == 0)
        r = load_sets(l->cfg, &h->cat, &h->runbooks, reterr);
    if (r == 0)
        r = hale_policy_ledger_open(l->store, &h->ledger, reterr);
    if (r == 0)
        r = hale_policy_ledger_open(l->reader, &h->counts, reterr);
    if (r == 0)
        r = load_rules(l, reterr);
    if (r < 0)
        return r;
    log_loaded(l);
    set_launcher(h);
    r = hale__heal_reconcile(l);
    if (r < 0) {
        hale_diag_set(reterr, "cannot mark unfinished actions abandoned: %s", hale_strerror(r));
        return r;
    }
    if (r > 0)
        log_warn("%d actions were started before the restart without a recorded result: marked "
                 "abandoned, their incidents escalated, nothing run again",
                 r);
    r = queue_reload_leaf(l);
    if (r < 0)
        hale_diag_set(reterr, "cannot queue the catalog_reload audit leaf: %s", hale_strerror(r));
    return r;
}

int hale__loop_heal_reload(hale_loop *l, hale_diag *reterr)
{
    struct hale_heal *h = l->heal;
    hale_catalog *cat = NULL;
    hale_runbooks *rb = NULL;
    int r;

    if (!h)
        return 0;
    r = load_sets(l->cfg, &cat, &rb, reterr);
    if (r < 0)
        return r;
    /* Cases keep a reference to the catalog they started with. */
    hale_runbooks_unref(h->runbooks);
    hale_catalog_unref(h->cat);
    h->cat = cat;
    h->runbooks = rb;
    log_loaded(l);
    r = queue_reload_leaf(l);
    if (r < 0)
        log_warn("cannot queue the catalog_reload audit leaf: %s", hale_strerror(r));
    return 0;
}

/* ---- cases ---- */

void hale__heal_close_after(struct heal_case *c, struct heal_write *w, int result)
{
    (void)w;
    (void)result;
    if (c)
        hale__heal_case_close(c->l, c);
}

struct heal_case *hale__heal_case_get(hale_loop *l, int64_t incident_id, bool create)
{
    struct hale_heal *h = l->heal;
    struct heal_case *c;

    for (c = h->cases; c; c = c->next)
        if (c->incident_id == incident_id)
            return c;
    if (!create || !(c = calloc(1, sizeof(*c))))
        return NULL;
    c->l = l;
    c->incident_id = incident_id;
    c->row.exit_code = -1;
    c->cat = hale_catalog_ref(h->cat);
    c->work.data = c;
    c->next = h->cases;
    h->cases = c;
    return c;
}

static void case_free(struct heal_case *c)
{
    if (c->req)
        hale__heal_answer(c);
    for (struct heal_write *w = c->l->heal ? c->l->heal->writes : NULL; w; w = w->next)
        if (w->c == c)
            w->c = NULL;
    hale__heal_row_release(&c->row);
    json_decref(c->args);
    json_decref(c->output);
    hale_tool_run_free(c->run);
    hale_tool_check_free(c->check);
    hale_sandbox_result_release(&c->res);
    hale_catalog_unref(c->cat);
    free(c);
}

void hale__heal_case_close(hale_loop *l, struct heal_case *c)
{
    struct heal_case **p;

    for (p = &l->heal->cases; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    c->next = NULL;
    /* Work on the threadpool still uses it: its after_work frees it. */
    if (c->phase == HEAL_RUNNING || c->phase == HEAL_CHECKING) {
        c->closing = true;
        return;
    }
    case_free(c);
}

static void finish_done(struct heal_case *c, struct heal_write *w, int result)
{
    (void)w;
    if (result < 0)
        log_warn("incident %lld: the work item stays pending and is retried after a restart",
                 (long long)(c ? c->incident_id : 0));
    if (c)
        hale__heal_case_close(c->l, c);
}

void hale__heal_finish(struct heal_case *c, hale_incident_state to, const char *fmt, ...)
{
    struct heal_write *w = hale__heal_write_new(c);
    char reason[HEAL_REASON_BYTES];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (c->req) {
        snprintf(c->answer_why, sizeof(c->answer_why), "%s", reason);
        if (c->answer_status == 200)
            c->answer_status = 409;
    }
    log_notice("incident %lld: %s -> %s: %s", (long long)c->incident_id,
               hale_incident_state_name(c->stage), hale_incident_state_name(to), reason);
    if (!w) {
        hale__heal_case_close(c->l, c);
        return;
    }
    hale__heal_write_move(w, c->stage, to, "%s", reason);
    w->outbox_id = c->outbox_id;
    w->after = finish_done;
    c->phase = HEAL_WRITING;
    if (hale__heal_write_submit(c->l, w, false) < 0)
        hale__heal_case_close(c->l, c);
}

int hale__heal_case_load(struct heal_case *c)
{
    json_t *request, *args, *out = NULL;
    int r;

    hale__heal_row_release(&c->row);
    r = hale__heal_db_latest(hale_store_sqlite(c->l->reader), c->incident_id, &c->row);
    if (r < 0)
        return r;
    request = json_loads(c->row.request, 0, NULL);
    args = json_object_get(request, "args");
    if (c->row.output && c->row.output[0])
        out = json_loads(c->row.output, 0, NULL);
    json_decref(c->args);
    json_decref(c->output);
    c->args = args ? json_incref(args) : json_object();
    c->output = json_is_object(out) ? out : NULL;
    if (!json_is_object(out))
        json_decref(out);
    json_decref(request);
    c->rollback = strcmp(c->row.kind, "rollback") == 0;
    return c->args ? 0 : -ENOMEM;
}

/* ---- votes and expiry ---- */

static struct heal_case *case_of_approval(hale_loop *l, int64_t approval_id)
{
    for (struct heal_case *c = l->heal ? l->heal->cases : NULL; c; c = c->next)
        if (c->row.approval_id == approval_id && !c->rollback)
            return c;
    return NULL;
}

const char *hale__loop_heal_decision_of(hale_loop *l, int64_t approval_id)
{
    struct heal_case *c = case_of_approval(l, approval_id);

    if (c && c->row.decision_id[0])
        return c->row.decision_id;
    /* No case in memory (its incident closed before a restart): the row remembers. */
    if (!l->heal ||
        hale__heal_db_decision_of(hale_store_sqlite(l->reader), approval_id, l->heal->decision_of,
                                  sizeof(l->heal->decision_of)) < 0)
        return NULL;
    return l->heal->decision_of;
}

static void approved_done(struct heal_case *c, struct heal_write *w, int result)
{
    if (!c)
        return;
    c->phase = HEAL_IDLE;
    if (result < 0 || !w->moved)
        hale__heal_case_close(c->l, c);
}

void hale__loop_heal_voted(hale_loop *l, int64_t approval_id, hale_approval_state s)
{
    struct heal_case *c = case_of_approval(l, approval_id);
    struct heal_write *w;

    if (!c || c->stage != HALE_INCIDENT_AWAITING_APPROVAL || c->phase != HEAL_IDLE)
        return;
    if (s == HALE_APPROVAL_DENIED) {
        hale__heal_finish(c, HALE_INCIDENT_ESCALATED,
                          "approval %lld denied: %s was not run, the incident needs a human",
                          (long long)approval_id, c->row.tool);
        return;
    }
    if (s != HALE_APPROVAL_APPROVED || !(w = hale__heal_write_new(c)))
        return;
    hale__heal_write_move(w, HALE_INCIDENT_AWAITING_APPROVAL, HALE_INCIDENT_HEALING,
                          "approval %lld approved: running %s", (long long)approval_id,
                          c->row.tool);
    w->outbox_id = c->outbox_id;
    w->after = approved_done;
    c->phase = HEAL_WRITING;
    if (hale__heal_write_submit(l, w, false) < 0)
        c->phase = HEAL_IDLE; /* the next vote or a restart tries again */
}

static void on_expired(int64_t id, const char *incident_id, bool escalate, void *ud)
{
    hale_loop *l = ud;
    struct heal_case *c = case_of_approval(l, id);

    (void)incident_id;
    if (!c || c->stage != HALE_INCIDENT_AWAITING_APPROVAL || c->phase != HEAL_IDLE)
        return;
    hale__heal_finish(c, escalate ? HALE_INCIDENT_ESCALATED : HALE_INCIDENT_FAILED,
                      "approval %lld expired: %s was not run", (long long)id, c->row.tool);
}

void hale__heal_expire(hale_loop *l)
{
    int r = hale_approvals_expire(l->approvals, hale_time_now_ms(), on_expired, l);

    if (r < 0)
        log_warn("cannot expire approvals: %s, retrying", hale_strerror(r));
}

/* ---- stages and the tick ---- */

static void on_tick(uv_timer_t *t)
{
    hale_loop *l = t->data;
    struct hale_heal *h = l->heal;
    uint64_t now = uv_now(&l->uv);
    struct heal_case *c, *next;

    if (now - h->last_expire_ms >= HEAL_EXPIRE_MS) {
        h->last_expire_ms = now;
        hale__heal_expire(l);
    }
    for (c = h->cases; c; c = next) {
        next = c->next;
        if (c->phase == HEAL_STABILIZING && now >= c->due_ms)
            hale__heal_verify_tick(l, c);
        else if (c->phase == HEAL_QUEUED && h->in_pool < HEAL_MAX_POOL)
            hale__heal_start_queued(c);
    }
}

static int add_stage(hale_loop *l, const char *name, hale_incident_state s,
                     void (*fn)(void *, const hale_incident_view *))
{
    hale_stage st = {.name = name, .state = s, .on_enter = fn, .ud = l};

    if (l->stages[s].on_enter) {
        log_info("state %s has a stage already: '%s' handles it", hale_incident_state_name(s),
                 l->stages[s].name ? l->stages[s].name : "?");
        return 0;
    }
    return hale_loop_register_stage(l, &st);
}

int hale__loop_heal_start(hale_loop *l)
{
    struct hale_heal *h = l->heal;
    int r = 0;

    if (!h)
        return 0;
    /* Without a runbook nothing can be proposed: incidents stay open for humans, and intake
     * writes no work item per incident. */
    if (hale_runbooks_count(h->runbooks) > 0 && !l->stages[HALE_INCIDENT_OPEN].on_enter)
        r = add_stage(l, "remediate", HALE_INCIDENT_OPEN, hale__heal_on_open);
    if (r == 0)
        r = add_stage(l, "decide", HALE_INCIDENT_DECIDING, hale__heal_on_deciding);
    if (r == 0)
        r = add_stage(l, "approve", HALE_INCIDENT_AWAITING_APPROVAL, hale__heal_on_awaiting);
    if (r == 0)
        r = add_stage(l, "heal", HALE_INCIDENT_HEALING, hale__heal_on_healing);
    if (r == 0)
        r = add_stage(l, "verify", HALE_INCIDENT_VERIFYING, hale__heal_on_verifying);
    if (r < 0)
        return r;
    uv_timer_init(&l->uv, &h->tick);
    h->tick.data = l;
    r = uv_timer_start(&h->tick, on_tick, HEAL_TICK_MS, HEAL_TICK_MS);
    h->started = true;
    return r;
}

bool hale__loop_heal_busy(const hale_loop *l)
{
    const struct hale_heal *h = l->heal;

    if (!h)
        return false;
    if (h->writes)
        return true;
    for (const struct heal_case *c = h->cases; c; c = c->next)
        if (c->phase == HEAL_RUNNING || c->phase == HEAL_CHECKING || c->phase == HEAL_WRITING ||
            c->phase == HEAL_QUEUED)
            return true;
    return false;
}

void hale__loop_heal_close(hale_loop *l)
{
    struct hale_heal *h = l->heal;

    if (h && h->started && !uv_is_closing((uv_handle_t *)&h->tick))
        uv_close((uv_handle_t *)&h->tick, NULL);
}

void hale__loop_heal_free(hale_loop *l)
{
    struct hale_heal *h = l->heal;

    if (!h)
        return;
    /* The loop has ended: no work is in flight, no write will be carried out any more. */
    while (h->writes) {
        struct heal_write *w = h->writes;

        h->writes = w->next;
        hale__heal_write_free(w);
    }
    while (h->cases) {
        struct heal_case *c = h->cases;

        h->cases = c->next;
        c->req = NULL; /* the server is gone: nothing left to answer */
        c->phase = HEAL_IDLE;
        case_free(c);
    }
    hale_policy_ledger_free(h->ledger);
    hale_policy_ledger_free(h->counts);
    hale_runbooks_unref(h->runbooks);
    hale_catalog_unref(h->cat);
    hale_redact_free(h->rules);
    free(h);
    l->heal = NULL;
}
