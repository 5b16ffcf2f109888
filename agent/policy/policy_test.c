/* agent/policy/policy_test.c - policy unit tests, like `opa test`: each case is a request, the
 * effect expected and optionally substrings the reasons must contain, evaluated against the
 * loaded set with fixed limit counters (the history the case assumes). */
#include "internal.h"

#include "policy/policy_int.h"
#include "util/json.h"
#include "util/timeutil.h"

/* Fixed counters: every query of a kind gets the same answer. */
struct fixed_counts {
    int64_t v[HALE_POLICY_COUNT_FAILSTREAK + 1]; /* by hale_policy_count_kind */
};

static int fixed_count(void *ud, const hale_policy_count_query *q, int64_t *ret)
{
    const struct fixed_counts *f = ud;

    if ((unsigned)q->kind > HALE_POLICY_COUNT_FAILSTREAK)
        return -EINVAL;
    *ret = f->v[q->kind];
    return 0;
}

struct counters_in {
    int64_t actions;    /* HALE_POLICY_COUNT_ACTIONS */
    int64_t running;    /* HALE_POLICY_COUNT_RUNNING */
    int64_t last_ago_s; /* LAST_MS = now - this; absent: no last action */
    int64_t targets;    /* HALE_POLICY_COUNT_TARGETS */
    int64_t automated;  /* HALE_POLICY_COUNT_AUTOMATED */
    int64_t failstreak; /* HALE_POLICY_COUNT_FAILSTREAK */
};

static const hale_json_field counters_table[] = {
    {"actions", HALE_JSON_INT, false, offsetof(struct counters_in, actions)},
    {"running", HALE_JSON_INT, false, offsetof(struct counters_in, running)},
    {"last_ago_s", HALE_JSON_INT, false, offsetof(struct counters_in, last_ago_s)},
    {"targets", HALE_JSON_INT, false, offsetof(struct counters_in, targets)},
    {"automated", HALE_JSON_INT, false, offsetof(struct counters_in, automated)},
    {"failstreak", HALE_JSON_INT, false, offsetof(struct counters_in, failstreak)},
};

struct case_in {
    const char *name;   /* shown in the report */
    json_t *request;    /* the proposal */
    const char *expect; /* allow | deny | require_approval */
    json_t *reasons;    /* substrings some reason must contain */
    json_t *counters;   /* fixed counters */
    const char *now;    /* evaluation time; default: the request's time */
};

static const hale_json_field case_table[] = {
    {"name", HALE_JSON_STRING, true, offsetof(struct case_in, name)},
    {"request", HALE_JSON_OBJECT, true, offsetof(struct case_in, request)},
    {"expect", HALE_JSON_STRING, true, offsetof(struct case_in, expect)},
    {"reasons", HALE_JSON_STRING_ARRAY, false, offsetof(struct case_in, reasons)},
    {"counters", HALE_JSON_OBJECT, false, offsetof(struct case_in, counters)},
    {"now", HALE_JSON_STRING, false, offsetof(struct case_in, now)},
};

static int parse_effect(const char *s, hale_policy_effect *ret)
{
    for (int e = HALE_POLICY_DENY; e <= HALE_POLICY_ALLOW; e++) {
        if (strcmp(s, hale_policy_effect_name((hale_policy_effect)e)) == 0) {
            *ret = (hale_policy_effect)e;
            return 0;
        }
    }
    return -EINVAL;
}

static const char *missing_reason(const hale_policy_verdict *v, const json_t *want)
{
    size_t i;
    json_t *w;

    json_array_foreach(want, i, w)
    {
        bool found = false;

        for (size_t k = 0; k < v->n_reasons && !found; k++)
            found = strstr(v->reasons[k], json_string_value(w)) != NULL;
        if (!found)
            return json_string_value(w);
    }
    return NULL;
}

static int run_case(const hale_policy *p, const struct case_in *in, struct fixed_counts *fc,
                    int64_t now_ms, hale_policy_test_result *res, char *problem, size_t cap,
                    hale_diag *reterr)
{
    hale_policy_counts counts = {fixed_count, fc};
    hale_policy_request *req = NULL;
    hale_policy_verdict *v = NULL;
    const char *miss;
    int r;

    r = hale_policy_request_from_json(in->request, &req, reterr);
    if (r < 0)
        return r;
    if (now_ms == 0)
        now_ms = req->time_ms;
    if (fc->v[HALE_POLICY_COUNT_LAST_MS] < 0)
        fc->v[HALE_POLICY_COUNT_LAST_MS] = 0;
    else
        fc->v[HALE_POLICY_COUNT_LAST_MS] = now_ms - fc->v[HALE_POLICY_COUNT_LAST_MS] * 1000;
    r = hale_policy_eval(p, req, &counts, now_ms, &v);
    if (r < 0) {
        hale_policy_request_free(req);
        return r;
    }
    problem[0] = '\0';
    if (v->effect != res->expected)
        snprintf(problem, cap, "expected %s, got %s", hale_policy_effect_name(res->expected),
                 hale_policy_effect_name(v->effect));
    else if (in->reasons && (miss = missing_reason(v, in->reasons)))
        snprintf(problem, cap, "no reason contains '%s'", miss);
    res->passed = problem[0] == '\0';
    res->got = v;
    res->problem = problem;
    hale_policy_request_free(req);
    return 0;
}

static int one_case(const hale_policy *p, const json_t *obj, size_t i,
                    void (*cb)(const hale_policy_test_result *res, void *ud), void *ud,
                    hale_diag *reterr)
{
    struct counters_in ci = {.last_ago_s = -1};
    struct case_in in = {0};
    struct fixed_counts fc = {{0}};
    hale_policy_test_result res = {0};
    char where[64], problem[512]; /* res.problem points here until cb returns */
    int64_t now_ms = 0;
    int r;

    snprintf(where, sizeof(where), "tests[%zu]", i);
    r = hale_json_fields(obj, case_table, HALE_ARRAY_SIZE(case_table), HALE_JSON_STRICT, &in, where,
                         reterr);
    if (r == 0 && in.counters)
        r = hale_json_fields(in.counters, counters_table, HALE_ARRAY_SIZE(counters_table),
                             HALE_JSON_STRICT, &ci, where, reterr);
    if (r == 0 && parse_effect(in.expect, &res.expected) < 0) {
        hale_diag_set(reterr, "%s.expect: expected allow, deny or require_approval", where);
        r = HALE_ESCHEMA;
    }
    if (r == 0 && in.now && hale_rfc3339_parse(in.now, &now_ms) < 0) {
        hale_diag_set(reterr, "%s.now: expected an RFC 3339 time", where);
        r = HALE_ESCHEMA;
    }
    if (r < 0)
        return r;
    fc.v[HALE_POLICY_COUNT_ACTIONS] = ci.actions;
    fc.v[HALE_POLICY_COUNT_RUNNING] = ci.running;
    fc.v[HALE_POLICY_COUNT_LAST_MS] = ci.last_ago_s;
    fc.v[HALE_POLICY_COUNT_TARGETS] = ci.targets;
    fc.v[HALE_POLICY_COUNT_AUTOMATED] = ci.automated;
    fc.v[HALE_POLICY_COUNT_FAILSTREAK] = ci.failstreak;
    res.name = in.name;
    r = run_case(p, &in, &fc, now_ms, &res, problem, sizeof(problem), reterr);
    if (r < 0) {
        hale_diag_prefix(reterr, where);
        return r;
    }
    cb(&res, ud);
    r = res.passed ? 0 : 1;
    hale_policy_verdict_free((hale_policy_verdict *)(uintptr_t)res.got);
    return r;
}

int hale_policy_test_text(const hale_policy *p, const char *text, size_t len,
                          void (*cb)(const hale_policy_test_result *res, void *ud), void *ud,
                          hale_diag *reterr)
{
    json_t *root = NULL, *tests, *t;
    int r, failed = 0;
    size_t i;

    r = hale_json_parse(text, len, &root, reterr);
    if (r < 0)
        return r;
    tests = json_object_get(root, "tests");
    if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_array(tests)) {
        hale_diag_set(reterr, "expected {\"tests\": [...]}");
        json_decref(root);
        return HALE_ESCHEMA;
    }
    json_array_foreach(tests, i, t)
    {
        r = one_case(p, t, i, cb, ud, reterr);
        if (r < 0)
            break;
        failed += r;
    }
    json_decref(root);
    return r < 0 ? r : failed;
}
