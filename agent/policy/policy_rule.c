/* agent/policy/policy_rule.c - one rule of a policy file: its effect, thresholds, approval,
 * limits, untrusted clause and dry_run. What it matches is read by policy_rule_match.c.
 * Errors read "rule ID: field: reason"; the loader puts the file name in front. */
#include "internal.h"

#include "policy/policy_int.h"
#include "util/alloc.h"
#include "util/json.h"
#include "util/strparse.h"

static int parse_effect(const char *s, bool allow_allow, hale_policy_effect *ret)
{
    if (strcmp(s, "deny") == 0)
        *ret = HALE_POLICY_DENY;
    else if (strcmp(s, "require_approval") == 0)
        *ret = HALE_POLICY_REQUIRE_APPROVAL;
    else if (allow_allow && strcmp(s, "allow") == 0)
        *ret = HALE_POLICY_ALLOW;
    else
        return -EINVAL;
    return 0;
}

static int parse_duration(const json_t *v, const char *field, uint64_t *ret, hale_diag *reterr)
{
    if (!json_is_string(v) || hale_parse_ms(json_string_value(v), ret) < 0 || *ret == 0) {
        hale_diag_set(reterr,
                      "%s: expected a positive duration such as \"30s\", \"10m\", "
                      "\"1h\"",
                      field);
        return HALE_ESCHEMA;
    }
    return 0;
}

static int parse_count(const json_t *v, const char *field, int64_t lo, int64_t hi, int64_t *ret,
                       hale_diag *reterr)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        hale_diag_set(reterr, "%s: expected an integer from %lld to %lld", field, (long long)lo,
                      (long long)hi);
        return HALE_ESCHEMA;
    }
    *ret = (int64_t)json_integer_value(v);
    return 0;
}

/* ---- approval ---- */

struct approval_in {
    json_t *groups;        /* string or array */
    json_t *users;         /* string or array */
    json_t *count;         /* integer */
    json_t *expiry;        /* duration */
    const char *on_expiry; /* deny | escalate */
    bool self_approval;    /* default false */
};

static const hale_json_field approval_table[] = {
    {"groups", HALE_JSON_ANY, false, offsetof(struct approval_in, groups)},
    {"users", HALE_JSON_ANY, false, offsetof(struct approval_in, users)},
    {"count", HALE_JSON_ANY, false, offsetof(struct approval_in, count)},
    {"expiry", HALE_JSON_ANY, false, offsetof(struct approval_in, expiry)},
    {"on_expiry", HALE_JSON_STRING, false, offsetof(struct approval_in, on_expiry)},
    {"self_approval", HALE_JSON_BOOL, false, offsetof(struct approval_in, self_approval)},
};

/* How many distinct users the spec allows (capped, for the quorum check). */
static size_t approver_count(const hale_policy *p, const struct approval_spec *a)
{
    size_t n = a->n_users;

    for (size_t i = 0; i < a->n_groups; i++) {
        const struct group *g = hale_map_get(p->groups, a->groups[i]);

        n += g ? g->n : 0;
    }
    return n;
}

int hale__policy_approval_parse(const hale_policy *p, const json_t *obj, struct approval_spec *a,
                                hale_diag *reterr)
{
    struct approval_in in = {0};
    int64_t count = 1;
    int r;

    a->expiry_ms = 3600 * 1000;
    r = hale_json_fields(obj, approval_table, HALE_ARRAY_SIZE(approval_table), HALE_JSON_STRICT,
                         &in, "approval", reterr);
    if (r == 0 && in.groups)
        r = hale__policy_strv_parse(in.groups, &a->groups, &a->n_groups, "approval.groups", reterr);
    if (r == 0 && in.users)
        r = hale__policy_strv_parse(in.users, &a->users, &a->n_users, "approval.users", reterr);
    if (r == 0 && in.count)
        r = parse_count(in.count, "approval.count", 1, HALE_MAX_POLICY_LIST, &count, reterr);
    if (r == 0 && in.expiry)
        r = parse_duration(in.expiry, "approval.expiry", &a->expiry_ms, reterr);
    if (r < 0)
        return r;
    for (size_t i = 0; i < a->n_groups; i++) {
        if (!hale_map_get(p->groups, a->groups[i])) {
            hale_diag_set(reterr, "approval.groups[%zu]: no group '%s' in any policy file", i,
                          a->groups[i]);
            return HALE_ESCHEMA;
        }
    }
    if (in.on_expiry && strcmp(in.on_expiry, "deny") != 0 &&
        strcmp(in.on_expiry, "escalate") != 0) {
        hale_diag_set(reterr, "approval.on_expiry: expected deny or escalate, got '%s'",
                      in.on_expiry);
        return HALE_ESCHEMA;
    }
    a->count = (uint32_t)count;
    a->escalate = in.on_expiry && strcmp(in.on_expiry, "escalate") == 0;
    a->self_approval = in.self_approval;
    if (a->n_groups + a->n_users == 0) {
        hale_diag_set(reterr, "approval: expected groups or users who may approve");
        return HALE_ESCHEMA;
    }
    if (approver_count(p, a) < a->count) {
        hale_diag_set(reterr, "approval.count: a quorum of %u cannot be met by %zu approvers",
                      a->count, approver_count(p, a));
        return HALE_ESCHEMA;
    }
    return 0;
}

/* ---- limits ---- */

static const char *const scope_names[] = {
    [SCOPE_GLOBAL] = "global",           [SCOPE_TOOL] = "tool",
    [SCOPE_TARGET] = "target",           [SCOPE_SERVICE] = "service",
    [SCOPE_TOOL_TARGET] = "tool_target", [SCOPE_TOOL_SERVICE] = "tool_service",
};

const char *hale__policy_scope_name(int s)
{
    return s >= 0 && s < (int)HALE_ARRAY_SIZE(scope_names) ? scope_names[s] : "?";
}

struct rate_in {
    const char *per; /* scope */
    json_t *max;     /* integer */
    json_t *window;  /* duration */
};

static const hale_json_field rate_table[] = {
    {"per", HALE_JSON_STRING, true, offsetof(struct rate_in, per)},
    {"max", HALE_JSON_ANY, true, offsetof(struct rate_in, max)},
    {"window", HALE_JSON_ANY, true, offsetof(struct rate_in, window)},
};

static int parse_rate(const json_t *v, struct rate_limit *rl, const char *field, hale_diag *reterr)
{
    struct rate_in in = {0};
    int64_t max;
    size_t s;
    int r;

    r = hale_json_fields(v, rate_table, HALE_ARRAY_SIZE(rate_table), HALE_JSON_STRICT, &in, field,
                         reterr);
    if (r < 0)
        return r;
    for (s = 0; s < HALE_ARRAY_SIZE(scope_names); s++)
        if (strcmp(in.per, scope_names[s]) == 0)
            break;
    if (s == HALE_ARRAY_SIZE(scope_names)) {
        hale_diag_set(reterr,
                      "%s.per: expected global, tool, target, service, tool_target or "
                      "tool_service, got '%s'",
                      field, in.per);
        return HALE_ESCHEMA;
    }
    rl->per = (enum scope)s;
    {
        char sub[300];

        snprintf(sub, sizeof(sub), "%s.max", field);
        if ((r = parse_count(in.max, sub, 0, 1000000, &max, reterr)) < 0)
            return r;
        snprintf(sub, sizeof(sub), "%s.window", field);
        if ((r = parse_duration(in.window, sub, &rl->window_ms, reterr)) < 0)
            return r;
    }
    rl->max = (uint32_t)max;
    return 0;
}

struct blast_in {
    const char *group_label; /* default "service" */
    const char *size_label;  /* default "group_size" */
    json_t *max_targets;     /* integer */
    json_t *max_percent;     /* integer 1..100 */
    json_t *window;          /* duration */
};

static const hale_json_field blast_table[] = {
    {"group_label", HALE_JSON_STRING, false, offsetof(struct blast_in, group_label)},
    {"size_label", HALE_JSON_STRING, false, offsetof(struct blast_in, size_label)},
    {"max_targets", HALE_JSON_ANY, false, offsetof(struct blast_in, max_targets)},
    {"max_percent", HALE_JSON_ANY, false, offsetof(struct blast_in, max_percent)},
    {"window", HALE_JSON_ANY, true, offsetof(struct blast_in, window)},
};

static int parse_blast(const json_t *v, struct limits *l, hale_diag *reterr)
{
    const char *f = "limits.blast_radius";
    struct blast_in in = {0};
    int r;

    r = hale_json_fields(v, blast_table, HALE_ARRAY_SIZE(blast_table), HALE_JSON_STRICT, &in, f,
                         reterr);
    if (r == 0 && !in.max_targets && !in.max_percent) {
        hale_diag_set(reterr, "%s: expected max_targets, max_percent or both", f);
        r = HALE_ESCHEMA;
    }
    if (r == 0 && in.max_targets)
        r = parse_count(in.max_targets, "limits.blast_radius.max_targets", 1, 1000000,
                        &l->blast_max_targets, reterr);
    if (r == 0 && in.max_percent)
        r = parse_count(in.max_percent, "limits.blast_radius.max_percent", 1, 100,
                        &l->blast_max_percent, reterr);
    if (r == 0)
        r = parse_duration(json_object_get(v, "window"), "limits.blast_radius.window",
                           &l->blast_window_ms, reterr);
    if (r < 0)
        return r;
    l->blast_group_label = strdup(in.group_label ? in.group_label : "service");
    l->blast_size_label = strdup(in.size_label ? in.size_label : "group_size");
    return l->blast_group_label && l->blast_size_label ? 0 : -ENOMEM;
}

struct autonomy_in {
    json_t *max_per_day;           /* integer */
    json_t *demote_after_failures; /* integer */
};

static const hale_json_field autonomy_table[] = {
    {"max_per_day", HALE_JSON_ANY, false, offsetof(struct autonomy_in, max_per_day)},
    {"demote_after_failures", HALE_JSON_ANY, false,
     offsetof(struct autonomy_in, demote_after_failures)},
};

struct limits_in {
    json_t *rate;           /* array */
    json_t *cooldown;       /* duration */
    json_t *max_concurrent; /* integer */
    json_t *blast_radius;   /* object */
    json_t *autonomy;       /* object */
};

static const hale_json_field limits_table[] = {
    {"rate", HALE_JSON_ARRAY, false, offsetof(struct limits_in, rate)},
    {"cooldown", HALE_JSON_ANY, false, offsetof(struct limits_in, cooldown)},
    {"max_concurrent", HALE_JSON_ANY, false, offsetof(struct limits_in, max_concurrent)},
    {"blast_radius", HALE_JSON_OBJECT, false, offsetof(struct limits_in, blast_radius)},
    {"autonomy", HALE_JSON_OBJECT, false, offsetof(struct limits_in, autonomy)},
};

static int parse_autonomy(const json_t *v, struct limits *l, hale_diag *reterr)
{
    struct autonomy_in in = {0};
    int r;

    r = hale_json_fields(v, autonomy_table, HALE_ARRAY_SIZE(autonomy_table), HALE_JSON_STRICT, &in,
                         "limits.autonomy", reterr);
    if (r == 0 && !in.max_per_day && !in.demote_after_failures) {
        hale_diag_set(reterr, "limits.autonomy: expected max_per_day, demote_after_failures or "
                              "both");
        r = HALE_ESCHEMA;
    }
    if (r == 0 && in.max_per_day)
        r = parse_count(in.max_per_day, "limits.autonomy.max_per_day", 0, 1000000,
                        &l->autonomy_per_day, reterr);
    if (r == 0 && in.demote_after_failures)
        r = parse_count(in.demote_after_failures, "limits.autonomy.demote_after_failures", 1, 1000,
                        &l->autonomy_demote, reterr);
    return r;
}

int hale__policy_limits_parse(const json_t *obj, struct limits *l, hale_diag *reterr)
{
    struct limits_in in = {0};
    char field[64];
    int r;

    l->max_concurrent = l->blast_max_targets = l->blast_max_percent = -1;
    l->autonomy_per_day = l->autonomy_demote = -1;
    r = hale_json_fields(obj, limits_table, HALE_ARRAY_SIZE(limits_table), HALE_JSON_STRICT, &in,
                         "limits", reterr);
    if (r < 0)
        return r;
    if (in.rate && json_array_size(in.rate) > 16) {
        hale_diag_set(reterr, "limits.rate: more than 16 rate limits");
        return HALE_ELIMIT;
    }
    if (in.rate && json_array_size(in.rate) > 0) {
        l->rates = calloc(json_array_size(in.rate), sizeof(*l->rates));
        if (!l->rates)
            return -ENOMEM;
        for (size_t i = 0; i < json_array_size(in.rate); i++, l->n_rates++) {
            snprintf(field, sizeof(field), "limits.rate[%zu]", i);
            if ((r = parse_rate(json_array_get(in.rate, i), &l->rates[i], field, reterr)) < 0)
                return r;
        }
    }
    if (in.cooldown &&
        (r = parse_duration(in.cooldown, "limits.cooldown", &l->cooldown_ms, reterr)) < 0)
        return r;
    if (in.max_concurrent && (r = parse_count(in.max_concurrent, "limits.max_concurrent", 1,
                                              1000000, &l->max_concurrent, reterr)) < 0)
        return r;
    if (in.blast_radius && (r = parse_blast(in.blast_radius, l, reterr)) < 0)
        return r;
    if (in.autonomy && (r = parse_autonomy(in.autonomy, l, reterr)) < 0)
        return r;
    return 0;
}

/* ---- thresholds, untrusted ---- */

struct thresholds_in {
    json_t *min_confidence_bp; /* source -> integer */
    const char *max_risk;      /* tier */
};

static const hale_json_field thresholds_table[] = {
    {"min_confidence_bp", HALE_JSON_OBJECT, false,
     offsetof(struct thresholds_in, min_confidence_bp)},
    {"max_risk", HALE_JSON_STRING, false, offsetof(struct thresholds_in, max_risk)},
};

static int parse_thresholds(struct rule *r, const json_t *obj, hale_diag *reterr)
{
    struct thresholds_in in = {0};
    const char *k;
    json_t *v;
    int rc, src;

    rc = hale_json_fields(obj, thresholds_table, HALE_ARRAY_SIZE(thresholds_table),
                          HALE_JSON_STRICT, &in, "thresholds", reterr);
    if (rc < 0)
        return rc;
    if (in.max_risk && (r->max_risk = hale_policy_risk_parse(in.max_risk)) < 0) {
        hale_diag_set(reterr,
                      "thresholds.max_risk: expected low, medium, high or critical, got "
                      "'%s'",
                      in.max_risk);
        return HALE_ESCHEMA;
    }
    json_object_foreach(in.min_confidence_bp, k, v)
    {
        char field[300];
        int64_t bp;

        snprintf(field, sizeof(field), "thresholds.min_confidence_bp.%s", k);
        if ((src = hale__policy_source_parse(k)) < 0) {
            hale_diag_set(reterr,
                          "%s: unknown source, expected runbook, kb, local_model, llm or "
                          "human",
                          field);
            return HALE_ESCHEMA;
        }
        if ((rc = parse_count(v, field, 0, 10000, &bp, reterr)) < 0)
            return rc;
        r->min_conf[src] = (int32_t)bp;
    }
    return 0;
}

struct untrusted_in {
    const char *effect; /* deny | require_approval */
    json_t *pointers;   /* prefixes */
};

static const hale_json_field untrusted_table[] = {
    {"effect", HALE_JSON_STRING, true, offsetof(struct untrusted_in, effect)},
    {"pointers", HALE_JSON_ANY, false, offsetof(struct untrusted_in, pointers)},
};

static int parse_untrusted(struct rule *r, const json_t *obj, hale_diag *reterr)
{
    struct untrusted_in in = {0};
    int rc;

    rc = hale_json_fields(obj, untrusted_table, HALE_ARRAY_SIZE(untrusted_table), HALE_JSON_STRICT,
                          &in, "untrusted", reterr);
    if (rc < 0)
        return rc;
    if (parse_effect(in.effect, false, &r->untrusted_effect) < 0) {
        hale_diag_set(reterr, "untrusted.effect: expected deny or require_approval, got '%s'",
                      in.effect);
        return HALE_ESCHEMA;
    }
    r->untrusted_set = true;
    if (in.pointers)
        rc = hale__policy_strv_parse(in.pointers, &r->untrusted_prefixes, &r->n_untrusted_prefixes,
                                     "untrusted.pointers", reterr);
    for (size_t i = 0; rc == 0 && i < r->n_untrusted_prefixes; i++) {
        if (r->untrusted_prefixes[i][0] != '/') {
            hale_diag_set(reterr,
                          "untrusted.pointers[%zu]: expected a JSON pointer such as "
                          "\"/args\"",
                          i);
            rc = HALE_ESCHEMA;
        }
    }
    return rc;
}

/* ---- the rule ---- */

struct rule_in {
    const char *id;          /* unique */
    const char *description; /* free text */
    json_t *match;           /* object */
    const char *effect;      /* allow | deny | require_approval */
    const char *otherwise;   /* deny | require_approval */
    json_t *approval;        /* object */
    json_t *thresholds;      /* object */
    json_t *limits;          /* object */
    json_t *untrusted;       /* object */
    bool dry_run;            /* record, never execute */
};

static const hale_json_field rule_table[] = {
    {"id", HALE_JSON_STRING, true, offsetof(struct rule_in, id)},
    {"description", HALE_JSON_STRING, false, offsetof(struct rule_in, description)},
    {"match", HALE_JSON_OBJECT, false, offsetof(struct rule_in, match)},
    {"effect", HALE_JSON_STRING, true, offsetof(struct rule_in, effect)},
    {"otherwise", HALE_JSON_STRING, false, offsetof(struct rule_in, otherwise)},
    {"approval", HALE_JSON_OBJECT, false, offsetof(struct rule_in, approval)},
    {"thresholds", HALE_JSON_OBJECT, false, offsetof(struct rule_in, thresholds)},
    {"limits", HALE_JSON_OBJECT, false, offsetof(struct rule_in, limits)},
    {"untrusted", HALE_JSON_OBJECT, false, offsetof(struct rule_in, untrusted)},
    {"dry_run", HALE_JSON_BOOL, false, offsetof(struct rule_in, dry_run)},
};

static bool id_ok(const char *id)
{
    size_t n = strlen(id);

    return n > 0 && n <= 128 &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") == n;
}

static int rule_body(hale_policy *p, struct rule *r, const struct rule_in *in, hale_diag *reterr)
{
    bool needs_approval;
    int rc = 0;

    if (parse_effect(in->effect, true, &r->effect) < 0) {
        hale_diag_set(reterr, "effect: expected allow, deny or require_approval, got '%s'",
                      in->effect);
        return HALE_ESCHEMA;
    }
    r->otherwise = HALE_POLICY_DENY;
    if (in->otherwise && parse_effect(in->otherwise, false, &r->otherwise) < 0) {
        hale_diag_set(reterr, "otherwise: expected deny or require_approval, got '%s'",
                      in->otherwise);
        return HALE_ESCHEMA;
    }
    if (in->match)
        rc = hale__policy_match_parse(p, r, in->match, reterr);
    if (rc == 0 && in->thresholds)
        rc = parse_thresholds(r, in->thresholds, reterr);
    if (rc == 0 && in->limits) {
        r->has_limits = true;
        rc = hale__policy_limits_parse(in->limits, &r->limits, reterr);
    }
    if (rc == 0 && in->untrusted)
        rc = parse_untrusted(r, in->untrusted, reterr);
    if (rc < 0)
        return rc;
    needs_approval = r->effect == HALE_POLICY_REQUIRE_APPROVAL ||
                     (r->effect == HALE_POLICY_ALLOW &&
                      (r->otherwise == HALE_POLICY_REQUIRE_APPROVAL ||
                       (r->untrusted_set && r->untrusted_effect == HALE_POLICY_REQUIRE_APPROVAL) ||
                       r->limits.autonomy_per_day >= 0 || r->limits.autonomy_demote >= 0));
    if (needs_approval && !in->approval) {
        hale_diag_set(reterr, "approval: missing; this rule can require approval, so it must "
                              "say who approves");
        return HALE_ESCHEMA;
    }
    if (!needs_approval && in->approval) {
        hale_diag_set(reterr, "approval: this rule never requires approval");
        return HALE_ESCHEMA;
    }
    if (in->approval)
        rc = hale__policy_approval_parse(p, in->approval, &r->approval, reterr);
    r->dry_run = in->dry_run;
    return rc;
}

int hale__policy_rule_parse(hale_policy *p, struct rule *r, const json_t *obj, size_t pos,
                            hale_diag *reterr)
{
    struct rule_in in = {0};
    char where[160];
    int rc;

    for (size_t i = 0; i < HALE_POLICY_SOURCE__COUNT; i++)
        r->min_conf[i] = -1;
    r->max_risk = -1;
    r->limits.max_concurrent = r->limits.blast_max_targets = r->limits.blast_max_percent = -1;
    r->limits.autonomy_per_day = r->limits.autonomy_demote = -1;
    if (json_is_object(obj) && json_is_string(json_object_get(obj, "id")))
        snprintf(where, sizeof(where), "rule %s", json_string_value(json_object_get(obj, "id")));
    else
        snprintf(where, sizeof(where), "rule #%zu", pos + 1);
    rc = hale_json_fields(obj, rule_table, HALE_ARRAY_SIZE(rule_table), HALE_JSON_STRICT, &in, "",
                          reterr);
    if (rc == 0 && !id_ok(in.id)) {
        hale_diag_set(reterr, "id: expected 1 to 128 of A-Z a-z 0-9 _ . : -");
        rc = HALE_ESCHEMA;
    }
    /* The map holds index + 1 as a token, not a pointer: the rule array still grows. */
    if (rc == 0 && hale_map_get(p->ids, in.id)) {
        size_t other = (size_t)(uintptr_t)hale_map_get(p->ids, in.id) - 1;

        hale_diag_set(reterr, "id: already used in %s", p->rules[other].file);
        rc = HALE_ESCHEMA;
    }
    if (rc == 0 && !(r->id = strdup(in.id)))
        return -ENOMEM;
    if (rc == 0 && hale_map_put(p->ids, in.id, (void *)(uintptr_t)(r->index + 1)) < 0)
        return -ENOMEM;
    if (rc == 0)
        rc = rule_body(p, r, &in, reterr);
    if (rc < 0 && rc != -ENOMEM)
        hale_diag_prefix(reterr, where);
    return rc;
}
