/* agent/policy/policy_eval.c - the verdict: which rules apply to a request, what each says,
 * and the combination deny > require_approval > allow, with default deny. Pure: reads the
 * set, the request and the counter view, writes only the new verdict. Candidate rules come
 * from the tool index (exact names) plus the fallback list (globs, regexes, any tool). */
#include "internal.h"

#include "policy/policy_int.h"
#include "util/regex.h"
#include "util/strparse.h"

#define DAY_MS (INT64_C(24) * 3600 * 1000)

static hale_policy_effect stricter(hale_policy_effect a, hale_policy_effect b)
{
    return a < b ? a : b; /* deny (0) < require_approval (1) < allow (2) */
}

static const char *label(const json_t *labels, const char *name)
{
    return json_string_value(json_object_get(labels, name));
}

static bool tool_matches(const hale_policy *p, const struct rule *r, const char *tool)
{
    switch (r->tool_kind) {
    case TM_ANY:
        return true;
    case TM_EXACT:
        for (size_t i = 0; i < r->n_tools; i++)
            if (strcmp(r->tools[i], tool) == 0)
                return true;
        return false;
    case TM_GLOB:
        return hale__policy_glob(r->tool_pattern, tool);
    case TM_REGEX:
        return hale_regex_match(r->tool_re, p->mctx, tool, strlen(tool), 0,
                                NULL); /* a limit hit: no match */
    }
    return false;
}

static bool labels_match(const hale_policy *p, const struct label_match *m, size_t n,
                         const json_t *labels, const char *what, hale_buf *why)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = label(labels, m[i].name);

        if (!v) {
            (void)hale_buf_printf(why, "%s label '%s' is absent", what, m[i].name);
            return false;
        }
        if (!hale__policy_vmatch_test(p, &m[i].m, v)) {
            (void)hale_buf_printf(why, "%s label %s='%s' is not ", what, m[i].name, v);
            hale__policy_vmatch_describe(&m[i].m, why);
            return false;
        }
    }
    return true;
}

static bool value_matches(const hale_policy *p, const struct vmatch *m, const char *v,
                          const char *what, hale_buf *why)
{
    if (!m || (v && hale__policy_vmatch_test(p, m, v)))
        return true;
    (void)hale_buf_printf(why, "%s '%s' is not ", what, v ? v : "");
    hale__policy_vmatch_describe(m, why);
    return false;
}

static bool windows_match(const hale_policy *p, const struct rule *r, int64_t now_ms, hale_buf *why)
{
    bool any = r->n_in_window == 0;

    for (size_t i = 0; i < r->n_in_window && !any; i++) {
        any = hale__policy_window_active(&p->windows[r->in_window[i]], now_ms);
        if (any)
            (void)hale_buf_printf(why, "inside window '%s'", p->windows[r->in_window[i]].name);
    }
    if (!any) {
        (void)hale_buf_printf(why, "outside window '%s'", p->windows[r->in_window[0]].name);
        return false;
    }
    for (size_t i = 0; i < r->n_outside_window; i++) {
        const struct window *w = &p->windows[r->outside_window[i]];

        if (hale__policy_window_active(w, now_ms)) {
            (void)hale_buf_printf(why, "inside window '%s'", w->name);
            return false;
        }
    }
    return true;
}

/* Everything but the tool: true when the rule applies, else why says which condition failed. */
static bool conditions_hold(const hale_policy *p, const struct rule *r,
                            const hale_policy_request *req, int64_t now_ms, hale_buf *why)
{
    if (r->sources && !(r->sources >> req->source & 1)) {
        (void)hale_buf_printf(why, "source '%s' is not one the rule names",
                              hale__policy_source_name(req->source));
        return false;
    }
    return value_matches(p, r->severity, req->severity, "severity", why) &&
           value_matches(p, r->env, label(req->target_labels, "env"), "env", why) &&
           labels_match(p, r->target, r->n_target, req->target_labels, "target", why) &&
           labels_match(p, r->incident, r->n_incident, req->incident_labels, "incident", why) &&
           windows_match(p, r, now_ms, why);
}

bool hale__policy_untrusted_hit(const struct rule *r, const hale_policy_request *req,
                                const char **ret_ptr)
{
    for (size_t i = 0; i < req->n_untrusted; i++) {
        const char *u = req->untrusted[i];

        if (r->n_untrusted_prefixes == 0) {
            *ret_ptr = u;
            return true;
        }
        for (size_t k = 0; k < r->n_untrusted_prefixes; k++) {
            const char *pf = r->untrusted_prefixes[k];
            size_t n = strlen(pf);

            if (strncmp(u, pf, n) == 0 && (u[n] == '\0' || u[n] == '/' || pf[n - 1] == '/')) {
                *ret_ptr = u;
                return true;
            }
        }
    }
    return false;
}

struct ctx {
    const hale_policy *p;             /* the set */
    const hale_policy_request *req;   /* the proposal */
    const hale_policy_counts *counts; /* limit counters; NULL: limits fail closed */
    int64_t now_ms;                   /* evaluation time */
    hale_policy_verdict *v;           /* being built */
    const struct rule *r;             /* the rule at hand */
    hale_buf *why;                    /* its explanation */
    bool failed;                      /* a threshold or limit failed */
    int err;                          /* -ENOMEM seen */
};

static void trip(struct ctx *c, const char *limit, hale_buf *detail)
{
    char *line = NULL;
    hale_buf b;

    hale_buf_init(&b, 4096);
    (void)hale_buf_printf(&b, "rule %s: %s: %s", c->r->id, limit, detail->data ? detail->data : "");
    line = b.data;
    if (line && hale__policy_verdict_add_reason(c->v, &c->v->tripped, &c->v->n_tripped,
                                                &c->v->cap_tripped, line) < 0)
        c->err = -ENOMEM;
    hale_buf_release(&b);
    (void)hale_buf_printf(c->why, "%slimit %s tripped: %s", c->why->len ? "; " : "", limit,
                          detail->data ? detail->data : "");
    c->failed = true;
}

/* Query the view; a failing or missing view counts as a tripped limit (fail closed). */
static bool query(struct ctx *c, const hale_policy_count_query *q, int64_t *ret, const char *limit)
{
    hale_buf d;

    if (c->counts && c->counts->count(c->counts->ud, q, ret) == 0)
        return true;
    hale_buf_init(&d, 256);
    (void)hale_buf_puts(&d, c->counts ? "limit counters unavailable" : "no limit counters given");
    trip(c, limit, &d);
    hale_buf_release(&d);
    return false;
}

static void check_rate(struct ctx *c, const struct rate_limit *rl)
{
    hale_policy_count_query q = {.kind = HALE_POLICY_COUNT_ACTIONS};
    const hale_policy_request *req = c->req;
    char name[64];
    int64_t n = 0;
    hale_buf d;

    q.since_ms = c->now_ms - (int64_t)rl->window_ms;
    if (rl->per == SCOPE_TOOL || rl->per == SCOPE_TOOL_TARGET || rl->per == SCOPE_TOOL_SERVICE)
        q.tool = req->tool;
    if (rl->per == SCOPE_TARGET || rl->per == SCOPE_TOOL_TARGET)
        q.target = req->target_key;
    if (rl->per == SCOPE_SERVICE || rl->per == SCOPE_TOOL_SERVICE)
        q.service = req->service;
    snprintf(name, sizeof(name), "rate per %s", hale__policy_scope_name(rl->per));
    if (!query(c, &q, &n, name) || n < rl->max)
        return;
    hale_buf_init(&d, 256);
    (void)hale_buf_printf(&d, "%lld actions in the last %llus, at most %u allowed", (long long)n,
                          (unsigned long long)(rl->window_ms / 1000), rl->max);
    trip(c, name, &d);
    hale_buf_release(&d);
}

static void check_cooldown(struct ctx *c, const struct limits *l)
{
    hale_policy_count_query q = {.kind = HALE_POLICY_COUNT_LAST_MS};
    int64_t last = 0;
    hale_buf d;

    q.target = c->req->target_key;
    if (!query(c, &q, &last, "cooldown") || last == 0 ||
        c->now_ms - last >= (int64_t)l->cooldown_ms)
        return;
    hale_buf_init(&d, 256);
    (void)hale_buf_printf(&d, "last action on this target %llds ago, cooldown %llus",
                          (long long)((c->now_ms - last) / 1000),
                          (unsigned long long)(l->cooldown_ms / 1000));
    trip(c, "cooldown", &d);
    hale_buf_release(&d);
}

static void check_concurrent(struct ctx *c, const struct limits *l)
{
    hale_policy_count_query q = {.kind = HALE_POLICY_COUNT_RUNNING};
    int64_t n = 0;
    hale_buf d;

    if (!query(c, &q, &n, "max_concurrent") || n < l->max_concurrent)
        return;
    hale_buf_init(&d, 256);
    (void)hale_buf_printf(&d, "%lld actions running, at most %lld", (long long)n,
                          (long long)l->max_concurrent);
    trip(c, "max_concurrent", &d);
    hale_buf_release(&d);
}

static void check_blast(struct ctx *c, const struct limits *l)
{
    const char *group = label(c->req->target_labels, l->blast_group_label);
    const char *size_text = label(c->req->target_labels, l->blast_size_label);
    hale_policy_count_query q = {.kind = HALE_POLICY_COUNT_TARGETS};
    int64_t targets = 0, mine = 0;
    uint32_t size = 0;
    hale_buf d;

    hale_buf_init(&d, 256);
    q.group_label = l->blast_group_label;
    q.group = group;
    q.since_ms = c->now_ms - (int64_t)l->blast_window_ms;
    if (!group) {
        (void)hale_buf_printf(&d, "target has no label '%s' naming its group",
                              l->blast_group_label);
    } else if (query(c, &q, &targets, "blast_radius")) {
        q.kind = HALE_POLICY_COUNT_ACTIONS;
        q.target = c->req->target_key;
        if (query(c, &q, &mine, "blast_radius")) {
            targets += mine == 0; /* acting on a new target widens the radius */
            if (l->blast_max_targets >= 0 && targets > l->blast_max_targets)
                (void)hale_buf_printf(&d, "%lld targets of group '%s' in %llus, at most %lld",
                                      (long long)targets, group,
                                      (unsigned long long)(l->blast_window_ms / 1000),
                                      (long long)l->blast_max_targets);
            else if (l->blast_max_percent >= 0 &&
                     (!size_text || hale_parse_u32(size_text, &size) < 0 || size == 0))
                (void)hale_buf_printf(&d, "target label '%s' does not hold the group's size",
                                      l->blast_size_label);
            else if (l->blast_max_percent >= 0 && targets * 100 > l->blast_max_percent * size)
                (void)hale_buf_printf(&d,
                                      "%lld of %u targets of group '%s' in %llus, at most "
                                      "%lld%%",
                                      (long long)targets, size, group,
                                      (unsigned long long)(l->blast_window_ms / 1000),
                                      (long long)l->blast_max_percent);
        }
    }
    if (d.len)
        trip(c, "blast_radius", &d);
    hale_buf_release(&d);
}

/* Returns true when the autonomy budget demotes an allow to require_approval. */
static bool check_autonomy(struct ctx *c, const struct limits *l)
{
    hale_policy_count_query q = {.kind = HALE_POLICY_COUNT_AUTOMATED};
    int64_t n = 0;

    q.service = c->req->service;
    q.since_ms = c->now_ms - DAY_MS;
    if (l->autonomy_per_day >= 0 && query(c, &q, &n, "autonomy") && n >= l->autonomy_per_day) {
        (void)hale_buf_printf(c->why,
                              "%sautonomy budget of service '%s' used: %lld automated "
                              "actions in 24h, at most %lld: demoted to require_approval",
                              c->why->len ? "; " : "", c->req->service, (long long)n,
                              (long long)l->autonomy_per_day);
        return true;
    }
    q.kind = HALE_POLICY_COUNT_FAILSTREAK;
    q.tool = c->req->tool;
    if (l->autonomy_demote >= 0 && query(c, &q, &n, "autonomy") && n >= l->autonomy_demote) {
        (void)hale_buf_printf(c->why,
                              "%s%lld failed or ineffective '%s' on service '%s' since "
                              "its last success, at most %lld: demoted to "
                              "require_approval",
                              c->why->len ? "; " : "", (long long)n, c->req->tool, c->req->service,
                              (long long)l->autonomy_demote - 1);
        return true;
    }
    return false;
}

static void check_thresholds(struct ctx *c)
{
    const struct rule *r = c->r;
    int32_t min = r->min_conf[c->req->source];

    if (min >= 0 && c->req->confidence_bp < min) {
        (void)hale_buf_printf(c->why, "%sconfidence %lld bp from %s is below the minimum %d",
                              c->why->len ? "; " : "", (long long)c->req->confidence_bp,
                              hale__policy_source_name(c->req->source), min);
        c->failed = true;
    }
    if (r->max_risk >= 0 && (int)c->req->risk > r->max_risk) {
        (void)hale_buf_printf(c->why, "%srisk %s is above the maximum %s", c->why->len ? "; " : "",
                              hale_policy_risk_name(c->req->risk),
                              hale_policy_risk_name((hale_policy_risk)r->max_risk));
        c->failed = true;
    }
}

/* A rule that applies: its effect after thresholds, untrusted values, limits and autonomy. */
static hale_policy_effect rule_effect(struct ctx *c)
{
    const struct rule *r = c->r;
    hale_policy_effect e = r->effect;
    const char *ptr = NULL;

    if (e == HALE_POLICY_DENY)
        return e;
    check_thresholds(c);
    if (r->untrusted_set && hale__policy_untrusted_hit(r, c->req, &ptr)) {
        (void)hale_buf_printf(c->why, "%suntrusted value at '%s': %s", c->why->len ? "; " : "", ptr,
                              hale_policy_effect_name(r->untrusted_effect));
        e = stricter(e, r->untrusted_effect);
    }
    if (r->has_limits) {
        for (size_t i = 0; i < r->limits.n_rates; i++)
            check_rate(c, &r->limits.rates[i]);
        if (r->limits.cooldown_ms)
            check_cooldown(c, &r->limits);
        if (r->limits.max_concurrent >= 0)
            check_concurrent(c, &r->limits);
        if (r->limits.blast_max_targets >= 0 || r->limits.blast_max_percent >= 0)
            check_blast(c, &r->limits);
        if (e == HALE_POLICY_ALLOW && check_autonomy(c, &r->limits))
            e = HALE_POLICY_REQUIRE_APPROVAL;
    }
    if (c->failed)
        e = stricter(e, r->otherwise);
    return e;
}

static void eval_rule(struct ctx *c, const struct rule *r)
{
    hale_policy_effect e = HALE_POLICY_DENY;
    enum rule_result res;
    hale_buf why;

    if (r->tool_kind != TM_EXACT && !tool_matches(c->p, r, c->req->tool))
        return; /* not about this tool: not worth a line in the explanation */
    hale_buf_init(&why, 4096);
    c->r = r;
    c->why = &why;
    c->failed = false;
    if (!conditions_hold(c->p, r, c->req, c->now_ms, &why)) {
        res = RR_NOT_MATCHED;
    } else {
        e = rule_effect(c);
        res = c->failed ? RR_FAILED : RR_MATCHED;
        if (why.len == 0)
            (void)hale_buf_puts(&why, "all conditions hold");
        if (r->dry_run)
            c->v->dry_run = true;
    }
    if (hale__policy_verdict_add_rule(c->v, r, res, e, &why) < 0)
        c->err = -ENOMEM;
    hale_buf_release(&why);
}

static int finish(struct ctx *c)
{
    hale_policy_verdict *v = c->v;
    bool any = false;
    hale_buf b;
    int r;

    v->effect = HALE_POLICY_ALLOW;
    for (size_t i = 0; i < v->n_rules; i++) {
        if (v->rules[i].result == RR_NOT_MATCHED)
            continue;
        any = true;
        v->effect = stricter(v->effect, v->rules[i].effect);
    }
    hale_buf_init(&b, 4096);
    if (!any) {
        v->effect = HALE_POLICY_DENY;
        v->dry_run = false;
        (void)hale_buf_printf(&b, "no rule applies to tool '%s': default deny", c->req->tool);
    } else {
        (void)hale_buf_printf(&b, "effect %s (deny > require_approval > allow over %s)",
                              hale_policy_effect_name(v->effect), "the rules that apply");
    }
    r = b.data ? hale__policy_verdict_add_reason(v, &v->reasons, &v->n_reasons, &v->cap_reasons,
                                                 b.data)
               : -ENOMEM;
    hale_buf_release(&b);
    return r;
}

static void walk(struct ctx *c)
{
    const struct idx_list *exact = hale_map_get(c->p->by_tool, c->req->tool);
    const struct idx_list *fb = &c->p->fallback;
    size_t i = 0, k = 0, ne = exact ? exact->n : 0;

    /* Merge the two ascending lists so the explanation follows the files' order. */
    while (i < ne || k < fb->n) {
        if (k >= fb->n || (i < ne && exact->v[i] < fb->v[k]))
            eval_rule(c, &c->p->rules[exact->v[i++]]);
        else
            eval_rule(c, &c->p->rules[fb->v[k++]]);
    }
}

int hale_policy_eval(const hale_policy *p, const hale_policy_request *req,
                     const hale_policy_counts *counts, int64_t now_ms, hale_policy_verdict **ret)
{
    hale_policy_verdict *v = calloc(1, sizeof(*v));
    struct ctx c = {p, req, counts, now_ms, v, NULL, NULL, false, 0};

    if (!v)
        return -ENOMEM;
    v->policy = hale_policy_ref((hale_policy *)(uintptr_t)p);
    memcpy(v->digest_hex, req->digest_hex, sizeof(v->digest_hex));
    walk(&c);
    if (c.err == 0)
        c.err = finish(&c);
    if (c.err < 0) {
        hale_policy_verdict_free(v);
        return c.err;
    }
    *ret = v;
    return 0;
}
