/* agent/policy/policy_rule_match.c - the "match" object of a rule: tool (exact, in, glob,
 * regex), target and incident labels, severity, env, source and windows. */
#include "internal.h"

#include "policy/policy_int.h"
#include "util/regex.h"
#include "util/json.h"

static int parse_tool(struct rule *r, const json_t *v, hale_diag *reterr)
{
    const char *key;
    json_t *val;

    if (json_is_string(v)) {
        r->tool_kind = TM_EXACT;
        return hale__policy_strv_parse(v, &r->tools, &r->n_tools, "match.tool", reterr);
    }
    if (!json_is_object(v) || json_object_size(v) != 1) {
        hale_diag_set(reterr, "match.tool: expected a tool name or an object with one of in, "
                              "glob, regex");
        return HALE_ESCHEMA;
    }
    key = json_object_iter_key(json_object_iter((json_t *)(uintptr_t)v));
    val = json_object_get(v, key);
    if (strcmp(key, "in") == 0) {
        r->tool_kind = TM_EXACT;
        return hale__policy_strv_parse(val, &r->tools, &r->n_tools, "match.tool.in", reterr);
    }
    if (strcmp(key, "glob") != 0 && strcmp(key, "regex") != 0) {
        hale_diag_set(reterr, "match.tool: unknown field '%s', expected in, glob or regex", key);
        return HALE_ESCHEMA;
    }
    if (!json_is_string(val) || json_string_length(val) == 0) {
        hale_diag_set(reterr, "match.tool.%s: expected a non-empty string", key);
        return HALE_ESCHEMA;
    }
    if (!(r->tool_pattern = strdup(json_string_value(val))))
        return -ENOMEM;
    if (strcmp(key, "glob") == 0) {
        r->tool_kind = TM_GLOB;
        return 0;
    }
    r->tool_kind = TM_REGEX;
    if (hale_regex_compile(r->tool_pattern, 0, NULL, &r->tool_re, reterr) < 0) {
        hale_diag_prefix(reterr, "match.tool.regex");
        return HALE_ESCHEMA;
    }
    return 0;
}

static int parse_labels(const json_t *v, struct label_match **ret, size_t *ret_n, const char *field,
                        hale_diag *reterr)
{
    struct label_match *out;
    char sub[320];
    const char *k;
    json_t *e;
    size_t n = 0;
    int r;

    if (!json_is_object(v) || json_object_size(v) > HALE_MAX_POLICY_LIST) {
        hale_diag_set(reterr, "%s: expected an object of at most %u label matchers", field,
                      HALE_MAX_POLICY_LIST);
        return HALE_ESCHEMA;
    }
    out = calloc(json_object_size(v) ? json_object_size(v) : 1, sizeof(*out));
    if (!out)
        return -ENOMEM;
    *ret = out; /* half-built is fine: the rule's release frees it */
    json_object_foreach((json_t *)(uintptr_t)v, k, e)
    {
        snprintf(sub, sizeof(sub), "%s.%s", field, k);
        if (!(out[n].name = strdup(k)))
            return -ENOMEM;
        *ret_n = ++n;
        if ((r = hale__policy_vmatch_parse(e, &out[n - 1].m, sub, reterr)) < 0)
            return r;
    }
    return 0;
}

static int parse_one(const json_t *v, struct vmatch **ret, const char *field, hale_diag *reterr)
{
    if (!(*ret = calloc(1, sizeof(**ret))))
        return -ENOMEM;
    return hale__policy_vmatch_parse(v, *ret, field, reterr);
}

static int parse_sources(struct rule *r, const json_t *v, hale_diag *reterr)
{
    char **names = NULL;
    size_t n = 0;
    int rc, s;

    rc = hale__policy_strv_parse(v, &names, &n, "match.source", reterr);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if ((s = hale__policy_source_parse(names[i])) < 0) {
            hale_diag_set(reterr,
                          "match.source[%zu]: expected runbook, kb, local_model, llm or "
                          "human, got '%s'",
                          i, names[i]);
            rc = HALE_ESCHEMA;
            break;
        }
        r->sources |= 1u << s;
    }
    hale__policy_strv_free(names, n);
    return rc;
}

static int parse_windows(const hale_policy *p, const json_t *v, size_t **ret, size_t *ret_n,
                         const char *field, hale_diag *reterr)
{
    char **names = NULL;
    size_t n = 0, w;
    int rc;

    rc = hale__policy_strv_parse(v, &names, &n, field, reterr);
    if (rc < 0)
        return rc;
    if (!(*ret = calloc(n, sizeof(**ret))))
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        for (w = 0; w < p->n_windows; w++)
            if (strcmp(p->windows[w].name, names[i]) == 0)
                break;
        if (w == p->n_windows) {
            hale_diag_set(reterr, "%s[%zu]: no window '%s' in any policy file", field, i, names[i]);
            rc = HALE_ESCHEMA;
            break;
        }
        (*ret)[i] = w;
        *ret_n = i + 1;
    }
    hale__policy_strv_free(names, n);
    return rc;
}

struct match_in {
    json_t *tool;           /* string or object */
    json_t *target;         /* label -> matcher */
    json_t *incident;       /* label -> matcher */
    json_t *severity;       /* matcher */
    json_t *env;            /* matcher */
    json_t *source;         /* string or array */
    json_t *in_window;      /* string or array */
    json_t *outside_window; /* string or array */
};

/* Types are checked by the parsers below: several fields take a string or an object. */
static const hale_json_field match_table[] = {
    {"tool", HALE_JSON_ANY, false, offsetof(struct match_in, tool)},
    {"target", HALE_JSON_OBJECT, false, offsetof(struct match_in, target)},
    {"incident", HALE_JSON_OBJECT, false, offsetof(struct match_in, incident)},
    {"severity", HALE_JSON_ANY, false, offsetof(struct match_in, severity)},
    {"env", HALE_JSON_ANY, false, offsetof(struct match_in, env)},
    {"source", HALE_JSON_ANY, false, offsetof(struct match_in, source)},
    {"in_window", HALE_JSON_ANY, false, offsetof(struct match_in, in_window)},
    {"outside_window", HALE_JSON_ANY, false, offsetof(struct match_in, outside_window)},
};

int hale__policy_match_parse(hale_policy *p, struct rule *r, const json_t *obj, hale_diag *reterr)
{
    struct match_in in = {0};
    int rc;

    rc = hale_json_fields(obj, match_table, HALE_ARRAY_SIZE(match_table), HALE_JSON_STRICT, &in,
                          "match", reterr);
    if (rc == 0 && in.tool)
        rc = parse_tool(r, in.tool, reterr);
    if (rc == 0 && in.target)
        rc = parse_labels(in.target, &r->target, &r->n_target, "match.target", reterr);
    if (rc == 0 && in.incident)
        rc = parse_labels(in.incident, &r->incident, &r->n_incident, "match.incident", reterr);
    if (rc == 0 && in.severity)
        rc = parse_one(in.severity, &r->severity, "match.severity", reterr);
    if (rc == 0 && in.env)
        rc = parse_one(in.env, &r->env, "match.env", reterr);
    if (rc == 0 && in.source)
        rc = parse_sources(r, in.source, reterr);
    if (rc == 0 && in.in_window)
        rc = parse_windows(p, in.in_window, &r->in_window, &r->n_in_window, "match.in_window",
                           reterr);
    if (rc == 0 && in.outside_window)
        rc = parse_windows(p, in.outside_window, &r->outside_window, &r->n_outside_window,
                           "match.outside_window", reterr);
    return rc;
}

void hale__policy_rule_release(struct rule *r)
{
    free(r->id);
    hale__policy_strv_free(r->tools, r->n_tools);
    free(r->tool_pattern);
    pcre2_code_free(r->tool_re);
    for (size_t i = 0; i < r->n_target; i++) {
        free(r->target[i].name);
        hale__policy_vmatch_release(&r->target[i].m);
    }
    free(r->target);
    for (size_t i = 0; i < r->n_incident; i++) {
        free(r->incident[i].name);
        hale__policy_vmatch_release(&r->incident[i].m);
    }
    free(r->incident);
    hale__policy_vmatch_release(r->severity);
    free(r->severity);
    hale__policy_vmatch_release(r->env);
    free(r->env);
    free(r->in_window);
    free(r->outside_window);
    hale__policy_strv_free(r->approval.groups, r->approval.n_groups);
    hale__policy_strv_free(r->approval.users, r->approval.n_users);
    free(r->limits.rates);
    free(r->limits.blast_group_label);
    free(r->limits.blast_size_label);
    hale__policy_strv_free(r->untrusted_prefixes, r->n_untrusted_prefixes);
}
