/* tests/test_policy.c - the policy engine through its header: loading and its errors, every
 * rule feature, precedence and default deny, each limit against a counter view, time windows
 * across DST changes (checked against the C library's own zone handling), the approved action,
 * and seeded property tests over random rule sets. Store-backed parts: test_policy_store.c. */
#include "fixture.h"

#include <errno.h>
#include <sys/stat.h>
#include <time.h>

#include "hale/err.h"
#include "hale/policy.h"
#include "policy/policy_int.h"
#include "util/timeutil.h"

/* ---- helpers ---- */

static hale_policy *load_text(const char *text, hale_diag *diag)
{
    const char *names[] = {"t.json"};
    size_t len = strlen(text);
    hale_policy *p = NULL;

    if (hale_policy_load_texts(names, &text, &len, 1, &p, diag) < 0)
        return NULL;
    return p;
}

static hale_policy *must_load(const char *text)
{
    hale_diag d = {{0}};
    hale_policy *p = load_text(text, &d);

    if (!p)
        fail_msg("load failed: %s", d.msg);
    return p;
}

static hale_policy_request *must_req(const char *text)
{
    hale_policy_request *r = NULL;
    hale_diag d = {{0}};

    if (hale_policy_request_parse(text, strlen(text), &r, &d) < 0)
        fail_msg("request failed: %s", d.msg);
    return r;
}

/* A counter view with one answer per kind, recording the last query of each kind (its
 * strings copied: they belong to the request, which is gone when the test looks). */
#define KINDS (HALE_POLICY_COUNT_FAILSTREAK + 1)
struct fake {
    int64_t v[KINDS];
    int fail_kind; /* kind whose query fails; -1 none */
    hale_policy_count_query last[KINDS];
    char text[KINDS][5][256];
    int queries;
};

static const char *keep(char *buf, const char *s)
{
    if (!s)
        return NULL;
    snprintf(buf, 256, "%s", s);
    return buf;
}

static int fake_count(void *ud, const hale_policy_count_query *q, int64_t *ret)
{
    struct fake *f = ud;
    hale_policy_count_query *l = &f->last[q->kind];

    f->queries++;
    *l = *q;
    l->tool = keep(f->text[q->kind][0], q->tool);
    l->target = keep(f->text[q->kind][1], q->target);
    l->service = keep(f->text[q->kind][2], q->service);
    l->group_label = keep(f->text[q->kind][3], q->group_label);
    l->group = keep(f->text[q->kind][4], q->group);
    if ((int)q->kind == f->fail_kind)
        return HALE_ESTORE;
    *ret = f->v[q->kind];
    return 0;
}

#define NOW INT64_C(1795341600000) /* 2026-11-22T10:00:00Z */

static hale_policy_effect eval_full(const hale_policy *p, const char *req_text, struct fake *f,
                                    int64_t now, hale_policy_verdict **ret_v)
{
    hale_policy_counts c = {fake_count, f};
    hale_policy_request *r = must_req(req_text);
    hale_policy_verdict *v = NULL;
    hale_policy_effect e;

    assert_int_equal(hale_policy_eval(p, r, f ? &c : NULL, now, &v), 0);
    e = hale_policy_verdict_effect(v);
    if (ret_v)
        *ret_v = v;
    else
        hale_policy_verdict_free(v);
    hale_policy_request_free(r);
    return e;
}

static hale_policy_effect eval_one(const char *policy, const char *req_text)
{
    struct fake f = {.fail_kind = -1};
    hale_policy *p = must_load(policy);
    hale_policy_effect e = eval_full(p, req_text, &f, NOW, NULL);

    hale_policy_unref(p);
    return e;
}

static bool has_reason(const hale_policy_verdict *v, const char *needle)
{
    for (size_t i = 0; i < hale_policy_verdict_reason_count(v); i++)
        if (strstr(hale_policy_verdict_reason(v, i), needle))
            return true;
    return false;
}

#define REQ(tool, labels, extra)                                                                   \
    "{\"tool\":\"" tool "\",\"args\":{\"unit\":\"nginx\"},\"target\":{\"labels\":" labels "},"     \
    "\"incident\":{\"id\":\"7\",\"severity\":\"critical\",\"labels\":{\"team\":\"web\"}},"         \
    "\"confidence_bp\":9200,\"source\":\"runbook\",\"risk\":\"low\"" extra "}"
#define WEB "{\"host\":\"web-1\",\"service\":\"web\",\"env\":\"prod\",\"group_size\":\"10\"}"
/* RULES(a, b, ...): a policy file with those rules, joined by commas. */
#define JOIN_N(a, b, c, d, n, ...) n
#define J1(a)                      a
#define J2(a, b)                   a "," b
#define J3(a, b, c)                a "," b "," c
#define J4(a, b, c, d)             a "," b "," c "," d
#define RULES(...)                                                                                 \
    "{\"version\":1,\"rules\":[" JOIN_N(__VA_ARGS__, J4, J3, J2, J1, _)(__VA_ARGS__) "]}"
#define N_ELEMS(a)       (sizeof(a) / sizeof((a)[0]))
#define ALLOW(id, match) "{\"id\":\"" id "\",\"match\":" match ",\"effect\":\"allow\"}"
#define DENY(id, match)  "{\"id\":\"" id "\",\"match\":" match ",\"effect\":\"deny\"}"
#define ASK(id, match)                                                                             \
    "{\"id\":\"" id "\",\"match\":" match ",\"effect\":\"require_approval\","                      \
    "\"approval\":{\"users\":[\"alice\",\"bob\"],\"count\":1}}"

/* ---- loading ---- */

static void loads_the_shipped_default_policy(void **state)
{
    hale_diag d = {{0}};
    hale_policy *p = NULL;

    (void)state;
    assert_int_equal(hale_policy_load(HALE_SOURCE_DIR "/policies", &p, &d), 0);
    assert_true(hale_policy_rule_count(p) >= 5);
    assert_int_equal(strlen(hale_policy_hash_hex(p)), 64);
    hale_policy_unref(p);
}

static void errors_name_file_rule_and_field(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {RULES("{\"id\":\"r1\",\"effect\":\"allow\",\"colour\":1}"),
         "t.json: rule r1: unknown field 'colour'"},
        {RULES("{\"id\":\"r1\",\"effect\":\"allow\",\"match\":{\"tool\":{\"regex\":\"(\"}}}"),
         "t.json: rule r1: match.tool.regex: invalid regex"},
        {RULES("{\"id\":\"r1\",\"effect\":\"maybe\"}"), "t.json: rule r1: effect: expected"},
        {RULES("{\"id\":\"r1\",\"effect\":\"allow\",\"match\":{\"target\":{\"env\":{\"like\":"
               "\"x\"}}}}"),
         "t.json: rule r1: match.target.env: unknown field 'like'"},
        {RULES("{\"id\":\"r1\",\"effect\":\"require_approval\"}"),
         "t.json: rule r1: approval: missing"},
        {RULES("{\"id\":\"r1\",\"effect\":\"require_approval\",\"approval\":{\"users\":[\"a\"],"
               "\"count\":2}}"),
         "t.json: rule r1: approval.count: a quorum of 2 cannot be met by 1 approvers"},
        {RULES("{\"id\":\"r1\",\"effect\":\"allow\",\"limits\":{\"rate\":[{\"per\":\"host\","
               "\"max\":1,\"window\":\"1h\"}]}}"),
         "t.json: rule r1: limits.rate[0].per: expected global"},
        {RULES("{\"id\":\"r1\",\"effect\":\"allow\",\"limits\":{\"cooldown\":\"soon\"}}"),
         "t.json: rule r1: limits.cooldown: expected a positive duration"},
        {RULES("{\"id\":\"r1\",\"effect\":\"allow\",\"thresholds\":{\"min_confidence_bp\":"
               "{\"oracle\":1}}}"),
         "t.json: rule r1: thresholds.min_confidence_bp.oracle: unknown source"},
        {RULES("{\"id\":\"r1\",\"effect\":\"allow\",\"match\":{\"in_window\":\"never\"}}"),
         "t.json: rule r1: match.in_window[0]: no window 'never'"},
        {RULES("{\"id\":\"r1\",\"effect\":\"allow\"},{\"id\":\"r1\",\"effect\":\"deny\"}"),
         "t.json: rule r1: id: already used in t.json"},
        {RULES("{\"effect\":\"allow\"}"), "t.json: rule #1: id: missing"},
        {"{\"version\":1,\"windows\":{\"w\":{\"tz\":\"Mars/Olympus\",\"weekly\":[{\"days\":"
         "[\"mon\"],\"start\":\"09:00\",\"end\":\"17:00\"}]}}}",
         "t.json: windows.w: unknown time zone 'Mars/Olympus'"},
        {"{\"version\":1,\"windows\":{\"w\":{\"tz\":\"../../etc/passwd\",\"weekly\":[]}}}",
         "t.json: windows.w"},
        {"{\"version\":1,\"windows\":{\"w\":{\"weekly\":[{\"days\":[\"mon\"],\"start\":\"25:00\","
         "\"end\":\"17:00\"}]}}}",
         "t.json: windows.w.weekly[0]: start and end must be local times"},
        {"{\"version\":2}", "t.json: version: expected 1, got 2"},
        {"{\"version\":1,\"extra\":true}", "t.json: unknown field 'extra'"},
        {"{\"version\":1,", "t.json:1:"},
    };

    (void)state;
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        hale_diag d = {{0}};
        hale_policy *p = load_text(cases[i].text, &d);

        if (p || !strstr(d.msg, cases[i].want))
            fail_msg("case %zu: want '%s', got '%s'", i, cases[i].want, p ? "(loaded)" : d.msg);
    }
}

static void reload_keeps_the_old_set_on_error(void **state)
{
    char *dir = fixture_tmpdir("hale-policy"), path[512];
    hale_policy *cur = NULL, *before;
    hale_diag d = {{0}};
    char hash[65];

    (void)state;
    snprintf(path, sizeof(path), "%s/a.json", dir);
    assert_int_equal(fixture_write(path, RULES(ALLOW("a", "{\"tool\":\"x\"}"))), 0);
    assert_int_equal(hale_policy_load(dir, &cur, &d), 0);
    before = cur;
    snprintf(hash, sizeof(hash), "%s", hale_policy_hash_hex(cur));
    assert_int_equal(fixture_write(path, RULES(ALLOW("a", "{\"tool\":\"x\"}") ",")), 0);
    assert_int_equal(hale_policy_reload(&cur, dir, &d), HALE_EPARSE);
    assert_ptr_equal(cur, before);
    assert_non_null(strstr(d.msg, "a.json:1:"));
    assert_int_equal(fixture_write(path, RULES(DENY("a", "{\"tool\":\"x\"}"))), 0);
    assert_int_equal(hale_policy_reload(&cur, dir, &d), 0);
    assert_ptr_not_equal(cur, before);
    assert_string_not_equal(hash, hale_policy_hash_hex(cur));
    hale_policy_unref(cur);
    fixture_rmtree(dir);
    free(dir);
}

static void a_directory_of_files_is_one_set(void **state)
{
    char *dir = fixture_tmpdir("hale-policy-dir"), path[600];
    struct fake f = {.fail_kind = -1};
    hale_policy *p = NULL;
    hale_diag d = {{0}};

    (void)state;
    /* Groups and windows in one file, rules using them in another; a subdirectory and files
     * of other types are not policy files. */
    snprintf(path, sizeof(path), "%s/00-common.json", dir);
    assert_int_equal(fixture_write(path,
                                   "{\"version\":1,\"groups\":{\"ops\":[\"alice\"]},\"windows\":{"
                                   "\"never\":{\"ranges\":[{\"start\":\"2000-01-01T00:00:00Z\","
                                   "\"end\":\"2000-01-02T00:00:00Z\"}]}}}"),
                     0);
    snprintf(path, sizeof(path), "%s/10-web.json", dir);
    assert_int_equal(fixture_write(path, RULES("{\"id\":\"w\",\"match\":{\"tool\":\"t\","
                                               "\"outside_window\":\"never\"},\"effect\":"
                                               "\"require_approval\",\"approval\":{\"groups\":"
                                               "[\"ops\"]}}")),
                     0);
    snprintf(path, sizeof(path), "%s/README.md", dir);
    assert_int_equal(fixture_write(path, "not a policy"), 0);
    snprintf(path, sizeof(path), "%s/tests", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/tests/x.json", dir);
    assert_int_equal(fixture_write(path, "{\"tests\":[]}"), 0);
    assert_int_equal(hale_policy_load(dir, &p, &d), 0);
    assert_int_equal(hale_policy_rule_count(p), 1);
    assert_int_equal(eval_full(p, REQ("t", WEB, ""), &f, NOW, NULL), HALE_POLICY_REQUIRE_APPROVAL);
    hale_policy_unref(p);
    /* The same rule id in two files is an error naming both. */
    snprintf(path, sizeof(path), "%s/20-dup.json", dir);
    assert_int_equal(fixture_write(path, RULES(DENY("w", "{\"tool\":\"t\"}"))), 0);
    assert_int_equal(hale_policy_load(dir, &p, &d), HALE_ESCHEMA);
    assert_non_null(strstr(d.msg, "20-dup.json: rule w: id: already used in 10-web.json"));
    assert_int_equal(hale_policy_load("/nonexistent/policies", &p, &d), -ENOENT);
    fixture_rmtree(dir);
    free(dir);
}

static void requests_are_parsed_strictly(void **state)
{
    static const char *const bad[] = {
        "{\"tool\":\"x\",\"target\":{\"labels\":{}},\"confidence_bp\":1,\"source\":\"llm\","
        "\"risk\":\"low\",\"approved_by\":\"policy-engine\"}",
        "{\"tool\":\"x\",\"target\":{\"labels\":{}},\"confidence_bp\":10001,\"source\":\"llm\","
        "\"risk\":\"low\"}",
        "{\"tool\":\"x\",\"target\":{\"labels\":{}},\"confidence_bp\":0.99,\"source\":\"llm\","
        "\"risk\":\"low\"}",
        "{\"tool\":\"x\",\"target\":{\"labels\":{}},\"confidence_bp\":1,\"source\":\"oracle\","
        "\"risk\":\"low\"}",
        "{\"tool\":\"x\",\"target\":{\"labels\":{\"a\":1}},\"confidence_bp\":1,\"source\":\"llm\","
        "\"risk\":\"low\"}",
        "{\"tool\":\"x\",\"tool\":\"y\",\"target\":{\"labels\":{}},\"confidence_bp\":1,"
        "\"source\":\"llm\",\"risk\":\"low\"}",
        "{\"tool\":\"x\",\"target\":{\"labels\":{}},\"confidence_bp\":1,\"source\":\"llm\","
        "\"risk\":\"low\",\"untrusted\":[\"args\"]}",
    };

    (void)state;
    for (size_t i = 0; i < N_ELEMS(bad); i++) {
        hale_policy_request *r = NULL;
        hale_diag d = {{0}};

        if (hale_policy_request_parse(bad[i], strlen(bad[i]), &r, &d) >= 0)
            fail_msg("request %zu accepted", i);
        assert_true(d.msg[0] != '\0');
    }
}

static void digest_binds_tool_args_and_target(void **state)
{
    hale_policy_request *a = must_req(REQ("restart_service", WEB, ""));
    hale_policy_request *b =
        must_req("{\"source\":\"llm\",\"risk\":\"high\",\"confidence_bp\":10,"
                 "\"target\":{\"labels\":" WEB "},\"args\":{\"unit\":\"nginx\"},"
                 "\"tool\":\"restart_service\",\"time\":\"2030-01-01T00:00:00Z\"}");
    hale_policy_request *c =
        must_req("{\"tool\":\"restart_service\",\"args\":{\"unit\":\"nginx; rm -rf /\"},"
                 "\"target\":{\"labels\":" WEB "},\"confidence_bp\":9200,\"source\":\"runbook\","
                 "\"risk\":\"low\"}");

    (void)state;
    assert_int_equal(strlen(hale_policy_request_digest_hex(a)), 64);
    /* Same action (tool, args, target) in another order with other evidence: same digest. */
    assert_string_equal(hale_policy_request_digest_hex(a), hale_policy_request_digest_hex(b));
    assert_string_not_equal(hale_policy_request_digest_hex(a), hale_policy_request_digest_hex(c));
    hale_policy_request_free(a);
    hale_policy_request_free(b);
    hale_policy_request_free(c);
}

/* ---- matching ---- */

static void tool_matches_exact_in_glob_and_regex(void **state)
{
    const char *pol = RULES(ALLOW("exact", "{\"tool\":\"restart_service\"}"),
                            ALLOW("in", "{\"tool\":{\"in\":[\"a_tool\",\"b_tool\"]}}"),
                            ALLOW("glob", "{\"tool\":{\"glob\":\"diag_*\"}}"),
                            ALLOW("regex", "{\"tool\":{\"regex\":\"^scale_(up|down)$\"}}"));

    (void)state;
    assert_int_equal(eval_one(pol, REQ("restart_service", WEB, "")), HALE_POLICY_ALLOW);
    assert_int_equal(eval_one(pol, REQ("b_tool", WEB, "")), HALE_POLICY_ALLOW);
    assert_int_equal(eval_one(pol, REQ("diag_disk", WEB, "")), HALE_POLICY_ALLOW);
    assert_int_equal(eval_one(pol, REQ("scale_up", WEB, "")), HALE_POLICY_ALLOW);
    assert_int_equal(eval_one(pol, REQ("scale_sideways", WEB, "")), HALE_POLICY_DENY);
    assert_int_equal(eval_one(pol, REQ("restart_servic", WEB, "")), HALE_POLICY_DENY);
    /* Homoglyph: Cyrillic i in the name matches nothing. */
    assert_int_equal(eval_one(pol, REQ("restart_serv\xd1\x96"
                                       "ce",
                                       WEB, "")),
                     HALE_POLICY_DENY);
}

static void labels_severity_env_and_source_match(void **state)
{
    const char *pol =
        RULES(ALLOW("r", "{\"tool\":\"t\",\"target\":{\"service\":\"web\",\"host\":{\"regex\":"
                         "\"^web-[0-9]+$\"}},\"incident\":{\"team\":{\"in\":[\"web\",\"edge\"]}},"
                         "\"severity\":{\"in\":[\"critical\",\"warning\"]},\"env\":{\"equals\":"
                         "\"prod\"},\"source\":[\"runbook\",\"kb\"]}"));
    hale_policy *p = must_load(pol);
    struct fake f = {.fail_kind = -1};
    hale_policy_verdict *v = NULL;

    (void)state;
    assert_int_equal(eval_full(p, REQ("t", WEB, ""), &f, NOW, NULL), HALE_POLICY_ALLOW);
    assert_int_equal(
        eval_full(p, REQ("t", "{\"host\":\"web-x\",\"service\":\"web\",\"env\":\"prod\"}", ""), &f,
                  NOW, &v),
        HALE_POLICY_DENY);
    assert_true(has_reason(v, "target label host='web-x' is not ~ /^web-[0-9]+$/"));
    hale_policy_verdict_free(v);
    assert_int_equal(
        eval_full(p, REQ("t", "{\"host\":\"web-1\",\"service\":\"web\"}", ""), &f, NOW, &v),
        HALE_POLICY_DENY);
    assert_true(has_reason(v, "env '' is not = 'prod'"));
    hale_policy_verdict_free(v);
    assert_int_equal(
        eval_full(p, REQ("t", "{\"host\":\"web-1\",\"env\":\"prod\"}", ""), &f, NOW, &v),
        HALE_POLICY_DENY);
    assert_true(has_reason(v, "target label 'service' is absent"));
    hale_policy_verdict_free(v);
    assert_int_equal(eval_full(p,
                               "{\"tool\":\"t\",\"target\":{\"labels\":" WEB "},\"incident\":{"
                               "\"severity\":\"info\",\"labels\":{\"team\":\"web\"}},"
                               "\"confidence_bp\":9200,\"source\":\"runbook\",\"risk\":\"low\"}",
                               &f, NOW, &v),
                     HALE_POLICY_DENY);
    assert_true(has_reason(v, "severity 'info' is not in ['critical', 'warning']"));
    hale_policy_verdict_free(v);
    assert_int_equal(eval_full(p,
                               "{\"tool\":\"t\",\"target\":{\"labels\":" WEB "},\"incident\":{"
                               "\"severity\":\"critical\",\"labels\":{\"team\":\"db\"}},"
                               "\"confidence_bp\":9200,\"source\":\"runbook\",\"risk\":\"low\"}",
                               &f, NOW, NULL),
                     HALE_POLICY_DENY);
    assert_int_equal(eval_full(p,
                               "{\"tool\":\"t\",\"target\":{\"labels\":" WEB "},\"incident\":{"
                               "\"severity\":\"critical\",\"labels\":{\"team\":\"edge\"}},"
                               "\"confidence_bp\":9200,\"source\":\"llm\",\"risk\":\"low\"}",
                               &f, NOW, &v),
                     HALE_POLICY_DENY);
    assert_true(has_reason(v, "source 'llm' is not one the rule names"));
    hale_policy_verdict_free(v);
    hale_policy_unref(p);
}

static void precedence_is_deny_then_approval_then_allow(void **state)
{
    const char *t = "{\"tool\":\"t\"}";

    (void)state;
    assert_int_equal(eval_one(RULES(ALLOW("a", "{\"tool\":\"t\"}"), ASK("b", "{\"tool\":\"t\"}")),
                              REQ("t", WEB, "")),
                     HALE_POLICY_REQUIRE_APPROVAL);
    assert_int_equal(eval_one(RULES(ASK("b", "{\"tool\":\"t\"}"), DENY("c", "{\"tool\":\"t\"}"),
                                    ALLOW("a", "{\"tool\":\"t\"}")),
                              REQ("t", WEB, "")),
                     HALE_POLICY_DENY);
    assert_int_equal(
        eval_one(RULES(ALLOW("a", "{\"tool\":\"t\"}"), DENY("c", "{\"tool\":{\"glob\":\"*\"}}")),
                 REQ("t", WEB, "")),
        HALE_POLICY_DENY);
    (void)t;
}

static void no_rule_means_deny_and_empty_policy_allows_nothing(void **state)
{
    struct fake f = {.fail_kind = -1};
    hale_policy_verdict *v = NULL;
    hale_policy *p = must_load("{\"version\":1}");

    (void)state;
    assert_int_equal(eval_full(p, REQ("restart_service", WEB, ""), &f, NOW, &v), HALE_POLICY_DENY);
    assert_true(has_reason(v, "no rule applies to tool 'restart_service': default deny"));
    hale_policy_verdict_free(v);
    hale_policy_unref(p);
    /* A rule that does not match is no permission either. */
    assert_int_equal(
        eval_one(RULES(ALLOW("a", "{\"tool\":\"t\",\"env\":\"staging\"}")), REQ("t", WEB, "")),
        HALE_POLICY_DENY);
}

static void thresholds_and_otherwise(void **state)
{
    const char *pol =
        RULES("{\"id\":\"r\",\"match\":{\"tool\":\"t\"},\"effect\":\"allow\",\"thresholds\":{"
              "\"min_confidence_bp\":{\"runbook\":9000,\"llm\":9900},\"max_risk\":\"medium\"}}",
              "{\"id\":\"s\",\"match\":{\"tool\":\"u\"},\"effect\":\"allow\",\"otherwise\":"
              "\"require_approval\",\"thresholds\":{\"min_confidence_bp\":{\"runbook\":9500}},"
              "\"approval\":{\"users\":[\"alice\"]}}");

    (void)state;
    assert_int_equal(eval_one(pol, REQ("t", WEB, "")), HALE_POLICY_ALLOW);
    assert_int_equal(eval_one(pol,
                              "{\"tool\":\"t\",\"target\":{\"labels\":{}},\"confidence_bp\":9200,"
                              "\"source\":\"llm\",\"risk\":\"low\"}"),
                     HALE_POLICY_DENY);
    assert_int_equal(eval_one(pol, "{\"tool\":\"t\",\"target\":{\"labels\":{}},\"confidence_bp\":1,"
                                   "\"source\":\"human\",\"risk\":\"medium\"}"),
                     HALE_POLICY_ALLOW); /* no minimum for human */
    assert_int_equal(eval_one(pol,
                              "{\"tool\":\"t\",\"target\":{\"labels\":{}},\"confidence_bp\":9999,"
                              "\"source\":\"runbook\",\"risk\":\"high\"}"),
                     HALE_POLICY_DENY);
    assert_int_equal(eval_one(pol, REQ("u", WEB, "")), HALE_POLICY_REQUIRE_APPROVAL);
}

static void untrusted_values_are_refused_or_escalated(void **state)
{
    const char *pol =
        RULES("{\"id\":\"r\",\"match\":{\"tool\":\"t\"},\"effect\":\"allow\",\"untrusted\":{"
              "\"effect\":\"require_approval\",\"pointers\":[\"/args\"]},\"approval\":{\"users\":"
              "[\"alice\"]}}",
              "{\"id\":\"s\",\"match\":{\"tool\":\"u\"},\"effect\":\"allow\",\"untrusted\":{"
              "\"effect\":\"deny\"}}");
    struct fake f = {.fail_kind = -1};
    hale_policy *p = must_load(pol);
    hale_policy_verdict *v = NULL;

    (void)state;
    assert_int_equal(eval_full(p, REQ("t", WEB, ",\"untrusted\":[\"/args/unit\"]"), &f, NOW, &v),
                     HALE_POLICY_REQUIRE_APPROVAL);
    assert_true(has_reason(v, "untrusted value at '/args/unit'"));
    hale_policy_verdict_free(v);
    /* /argsx is not under /args; the target is not covered by this rule. */
    assert_int_equal(
        eval_full(p, REQ("t", WEB, ",\"untrusted\":[\"/argsx\",\"/target\"]"), &f, NOW, NULL),
        HALE_POLICY_ALLOW);
    assert_int_equal(
        eval_full(p, REQ("u", WEB, ",\"untrusted\":[\"/incident/labels/x\"]"), &f, NOW, NULL),
        HALE_POLICY_DENY);
    assert_int_equal(eval_full(p, REQ("u", WEB, ""), &f, NOW, NULL), HALE_POLICY_ALLOW);
    hale_policy_unref(p);
}

static void dry_run_is_carried_to_the_action(void **state)
{
    hale_policy *p = must_load(RULES("{\"id\":\"r\",\"match\":{\"tool\":\"t\"},\"effect\":"
                                     "\"allow\",\"dry_run\":true}"));
    hale_policy_request *r = must_req(REQ("t", WEB, ""));
    hale_policy_verdict *v = NULL;
    hale_approved_action *a = NULL;
    json_t *j;

    (void)state;
    assert_int_equal(hale_policy_eval(p, r, NULL, NOW, &v), 0);
    assert_true(hale_policy_verdict_is_dry_run(v));
    j = hale_policy_verdict_to_json(v);
    assert_true(json_is_true(json_object_get(j, "dry_run")));
    json_decref(j);
    assert_int_equal(hale_policy_authorize(v, r, &a), 0);
    assert_true(hale_approved_action_is_dry_run(a));
    hale_approved_action_free(a);
    hale_policy_verdict_free(v);
    hale_policy_request_free(r);
    hale_policy_unref(p);
}

static void approved_action_only_from_allow_for_the_same_request(void **state)
{
    hale_policy *p = must_load(RULES(ALLOW("a", "{\"tool\":\"t\"}"), ASK("b", "{\"tool\":\"u\"}")));
    hale_policy_request *rt = must_req(REQ("t", WEB, ""));
    hale_policy_request *ru = must_req(REQ("u", WEB, ""));
    hale_policy_request *rt2 =
        must_req("{\"tool\":\"t\",\"args\":{\"unit\":\"sshd\"},\"target\":{\"labels\":" WEB "},"
                 "\"confidence_bp\":9200,\"source\":\"runbook\",\"risk\":\"low\"}");
    hale_policy_verdict *vt = NULL, *vu = NULL;
    hale_approved_action *a = NULL;
    json_t *j;

    (void)state;
    assert_int_equal(hale_policy_eval(p, rt, NULL, NOW, &vt), 0);
    assert_int_equal(hale_policy_eval(p, ru, NULL, NOW, &vu), 0);
    assert_int_equal(hale_policy_authorize(vu, ru, &a), HALE_EPOLICY);
    assert_int_equal(hale_policy_authorize(vt, rt2, &a), HALE_EPOLICY); /* other arguments */
    assert_null(a);
    assert_int_equal(hale_policy_authorize(vt, rt, &a), 0);
    assert_string_equal(hale_approved_action_tool(a), "t");
    assert_string_equal(hale_approved_action_digest_hex(a), hale_policy_request_digest_hex(rt));
    assert_string_equal(json_string_value(json_object_get(hale_approved_action_args(a), "unit")),
                        "nginx");
    assert_int_equal(hale_approved_action_approval_id(a), 0);
    j = hale_policy_verdict_to_json(vu);
    assert_string_equal(json_string_value(json_object_get(j, "effect")), "require_approval");
    assert_non_null(json_object_get(json_object_get(j, "approval"), "requirements"));
    json_decref(j);
    hale_approved_action_free(a);
    hale_policy_verdict_free(vt);
    hale_policy_verdict_free(vu);
    hale_policy_request_free(rt);
    hale_policy_request_free(ru);
    hale_policy_request_free(rt2);
    hale_policy_unref(p);
}

/* ---- limits against a counter view ---- */

#define LIMITED(limits)                                                                            \
    RULES("{\"id\":\"r\",\"match\":{\"tool\":\"t\"},\"effect\":\"allow\",\"limits\":" limits "}")

static void rate_limits_count_by_scope(void **state)
{
    static const struct {
        const char *per;
        bool tool, target, service;
    } scopes[] = {
        {"global", false, false, false},    {"tool", true, false, false},
        {"target", false, true, false},     {"service", false, false, true},
        {"tool_target", true, true, false}, {"tool_service", true, false, true},
    };

    (void)state;
    for (size_t i = 0; i < N_ELEMS(scopes); i++) {
        char pol[512];
        struct fake f = {.fail_kind = -1};
        hale_policy_verdict *v = NULL;
        hale_policy *p;
        const hale_policy_count_query *q = &f.last[HALE_POLICY_COUNT_ACTIONS];

        snprintf(pol, sizeof(pol),
                 LIMITED("{\"rate\":[{\"per\":\"%s\",\"max\":3,\"window\":\"1h\"}]}"),
                 scopes[i].per);
        p = must_load(pol);
        f.v[HALE_POLICY_COUNT_ACTIONS] = 2;
        assert_int_equal(eval_full(p, REQ("t", WEB, ""), &f, NOW, NULL), HALE_POLICY_ALLOW);
        assert_int_equal(q->since_ms, NOW - 3600 * 1000);
        assert_int_equal(q->tool != NULL, scopes[i].tool);
        assert_int_equal(q->target != NULL, scopes[i].target);
        assert_int_equal(q->service != NULL, scopes[i].service);
        if (q->service)
            assert_string_equal(q->service, "web");
        f.v[HALE_POLICY_COUNT_ACTIONS] = 3;
        assert_int_equal(eval_full(p, REQ("t", WEB, ""), &f, NOW, &v), HALE_POLICY_DENY);
        assert_true(has_reason(v, "tripped: 3 actions in the last 3600s, at most 3 allowed"));
        hale_policy_verdict_free(v);
        hale_policy_unref(p);
    }
}

static void cooldown_and_concurrency(void **state)
{
    hale_policy *p = must_load(LIMITED("{\"cooldown\":\"10m\",\"max_concurrent\":2}"));
    struct fake f = {.fail_kind = -1};
    hale_policy_verdict *v = NULL;

    (void)state;
    f.v[HALE_POLICY_COUNT_LAST_MS] = NOW - 599 * 1000;
    assert_int_equal(eval_full(p, REQ("t", WEB, ""), &f, NOW, &v), HALE_POLICY_DENY);
    assert_true(has_reason(v, "limit cooldown tripped: last action on this target 599s ago"));
    assert_string_equal(f.last[HALE_POLICY_COUNT_LAST_MS].target,
                        "{\"env\":\"prod\",\"group_size\":\"10\",\"host\":\"web-1\","
                        "\"service\":\"web\"}");
    hale_policy_verdict_free(v);
    f.v[HALE_POLICY_COUNT_LAST_MS] = NOW - 600 * 1000;
    assert_int_equal(eval_full(p, REQ("t", WEB, ""), &f, NOW, NULL), HALE_POLICY_ALLOW);
    f.v[HALE_POLICY_COUNT_RUNNING] = 2;
    assert_int_equal(eval_full(p, REQ("t", WEB, ""), &f, NOW, &v), HALE_POLICY_DENY);
    assert_true(has_reason(v, "limit max_concurrent tripped: 2 actions running, at most 2"));
    hale_policy_verdict_free(v);
    hale_policy_unref(p);
}

static void blast_radius_in_targets_and_percent(void **state)
{
    hale_policy *p = must_load(LIMITED("{\"blast_radius\":{\"max_targets\":3,\"max_percent\":"
                                       "20,\"window\":\"30m\"}}"));
    struct fake f = {.fail_kind = -1};
    hale_policy_verdict *v = NULL;

    (void)state;
    f.v[HALE_POLICY_COUNT_TARGETS] = 1; /* one other web host; this one makes 2 of 10 */
    assert_int_equal(eval_full(p, REQ("t", WEB, ""), &f, NOW, NULL), HALE_POLICY_ALLOW);
    assert_string_equal(f.last[HALE_POLICY_COUNT_TARGETS].group_label, "service");
    assert_string_equal(f.last[HALE_POLICY_COUNT_TARGETS].group, "web");
    f.v[HALE_POLICY_COUNT_TARGETS] = 2; /* 3 of 10 > 20% */
    assert_int_equal(eval_full(p, REQ("t", WEB, ""), &f, NOW, &v), HALE_POLICY_DENY);
    assert_true(has_reason(v, "3 of 10 targets of group 'web' in 1800s, at most 20%"));
    hale_policy_verdict_free(v);
    f.v[HALE_POLICY_COUNT_ACTIONS] = 1; /* this target is one of the 2: no wider, 20% */
    assert_int_equal(eval_full(p, REQ("t", WEB, ""), &f, NOW, NULL), HALE_POLICY_ALLOW);
    f.v[HALE_POLICY_COUNT_TARGETS] = 3;
    assert_int_equal(eval_full(p, REQ("t", WEB, ""), &f, NOW, NULL), HALE_POLICY_DENY);
    f.v[HALE_POLICY_COUNT_TARGETS] = 3;
    f.v[HALE_POLICY_COUNT_ACTIONS] = 0;
    assert_int_equal(
        eval_full(p, REQ("t", "{\"service\":\"web\",\"group_size\":\"100\"}", ""), &f, NOW, &v),
        HALE_POLICY_DENY);
    assert_true(has_reason(v, "4 targets of group 'web' in 1800s, at most 3"));
    hale_policy_verdict_free(v);
    f.v[HALE_POLICY_COUNT_TARGETS] = 0;
    assert_int_equal(eval_full(p, REQ("t", "{\"service\":\"web\"}", ""), &f, NOW, &v),
                     HALE_POLICY_DENY); /* the percent needs the group's size */
    assert_true(has_reason(v, "does not hold the group's size"));
    hale_policy_verdict_free(v);
    assert_int_equal(eval_full(p, REQ("t", "{\"host\":\"x\"}", ""), &f, NOW, &v), HALE_POLICY_DENY);
    assert_true(has_reason(v, "target has no label 'service'"));
    hale_policy_verdict_free(v);
    hale_policy_unref(p);
}

static void autonomy_budget_and_demotion(void **state)
{
    hale_policy *p = must_load(RULES(
        "{\"id\":\"r\",\"match\":{\"tool\":\"t\"},\"effect\":\"allow\",\"limits\":{\"autonomy\":"
        "{\"max_per_day\":5,\"demote_after_failures\":2}},\"approval\":{\"users\":[\"a\"]}}"));
    struct fake f = {.fail_kind = -1};
    hale_policy_verdict *v = NULL;

    (void)state;
    f.v[HALE_POLICY_COUNT_AUTOMATED] = 4;
    f.v[HALE_POLICY_COUNT_FAILSTREAK] = 1;
    assert_int_equal(eval_full(p, REQ("t", WEB, ""), &f, NOW, NULL), HALE_POLICY_ALLOW);
    assert_int_equal(f.last[HALE_POLICY_COUNT_AUTOMATED].since_ms, NOW - 86400 * 1000);
    assert_string_equal(f.last[HALE_POLICY_COUNT_FAILSTREAK].tool, "t");
    assert_string_equal(f.last[HALE_POLICY_COUNT_FAILSTREAK].service, "web");
    f.v[HALE_POLICY_COUNT_AUTOMATED] = 5;
    assert_int_equal(eval_full(p, REQ("t", WEB, ""), &f, NOW, &v), HALE_POLICY_REQUIRE_APPROVAL);
    assert_true(has_reason(v, "autonomy budget of service 'web' used"));
    hale_policy_verdict_free(v);
    f.v[HALE_POLICY_COUNT_AUTOMATED] = 0;
    f.v[HALE_POLICY_COUNT_FAILSTREAK] = 2;
    assert_int_equal(eval_full(p, REQ("t", WEB, ""), &f, NOW, &v), HALE_POLICY_REQUIRE_APPROVAL);
    assert_true(has_reason(v, "demoted to require_approval"));
    hale_policy_verdict_free(v);
    hale_policy_unref(p);
}

static void limits_fail_closed_without_counters(void **state)
{
    hale_policy *p = must_load(LIMITED("{\"cooldown\":\"1m\"}"));
    struct fake f = {.fail_kind = HALE_POLICY_COUNT_LAST_MS};
    hale_policy_verdict *v = NULL;

    (void)state;
    assert_int_equal(eval_full(p, REQ("t", WEB, ""), NULL, NOW, &v), HALE_POLICY_DENY);
    assert_true(has_reason(v, "no limit counters given"));
    hale_policy_verdict_free(v);
    assert_int_equal(eval_full(p, REQ("t", WEB, ""), &f, NOW, &v), HALE_POLICY_DENY);
    assert_true(has_reason(v, "limit counters unavailable"));
    hale_policy_verdict_free(v);
    hale_policy_unref(p);
}

/* ---- time windows ---- */

static int64_t at(const char *rfc3339)
{
    int64_t ms = 0;

    assert_int_equal(hale_rfc3339_parse(rfc3339, &ms), 0);
    return ms;
}

static hale_policy_effect in_window(const hale_policy *p, const char *when)
{
    struct fake f = {.fail_kind = -1};

    return eval_full(p, REQ("t", WEB, ""), &f, at(when), NULL);
}

static void weekly_windows_follow_dst_in_berlin(void **state)
{
    /* Business hours 09:00-17:00 local, Monday to Friday. */
    hale_policy *p = must_load(
        "{\"version\":1,\"windows\":{\"office\":{\"tz\":\"Europe/Berlin\",\"weekly\":[{\"days\":"
        "[\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"],\"start\":\"09:00\",\"end\":\"17:00\"}]}},"
        "\"rules\":[" ALLOW("r", "{\"tool\":\"t\",\"in_window\":\"office\"}") "]}");

    (void)state;
    /* Friday 2026-03-27, CET (UTC+1): 09:00 local is 08:00Z. */
    assert_int_equal(in_window(p, "2026-03-27T07:59:00Z"), HALE_POLICY_DENY);
    assert_int_equal(in_window(p, "2026-03-27T08:00:00Z"), HALE_POLICY_ALLOW);
    assert_int_equal(in_window(p, "2026-03-27T15:59:00Z"), HALE_POLICY_ALLOW);
    assert_int_equal(in_window(p, "2026-03-27T16:00:00Z"), HALE_POLICY_DENY);
    /* Clocks went forward on Sunday 2026-03-29: Monday 09:00 CEST is 07:00Z. */
    assert_int_equal(in_window(p, "2026-03-30T06:59:00Z"), HALE_POLICY_DENY);
    assert_int_equal(in_window(p, "2026-03-30T07:00:00Z"), HALE_POLICY_ALLOW);
    assert_int_equal(in_window(p, "2026-03-30T14:59:00Z"), HALE_POLICY_ALLOW);
    assert_int_equal(in_window(p, "2026-03-30T15:00:00Z"), HALE_POLICY_DENY);
    /* Back on 2026-10-25: Monday 10-26 09:00 CET is 08:00Z again. */
    assert_int_equal(in_window(p, "2026-10-23T07:00:00Z"), HALE_POLICY_ALLOW);
    assert_int_equal(in_window(p, "2026-10-26T07:00:00Z"), HALE_POLICY_DENY);
    assert_int_equal(in_window(p, "2026-10-26T08:00:00Z"), HALE_POLICY_ALLOW);
    /* Weekend. */
    assert_int_equal(in_window(p, "2026-03-28T10:00:00Z"), HALE_POLICY_DENY);
    /* Far beyond the zone file's table: the POSIX rule in its footer applies. */
    assert_int_equal(in_window(p, "2061-07-04T07:00:00Z"), HALE_POLICY_ALLOW); /* Mon, CEST */
    assert_int_equal(in_window(p, "2061-07-04T06:59:00Z"), HALE_POLICY_DENY);
    hale_policy_unref(p);
}

static void overnight_freeze_across_new_york_dst(void **state)
{
    /* A freeze from Saturday 22:00 to Sunday 06:00 New York time, and one absolute range. */
    hale_policy *p = must_load(
        "{\"version\":1,\"windows\":{\"night\":{\"tz\":\"America/New_York\",\"weekly\":[{"
        "\"days\":[\"sat\"],\"start\":\"22:00\",\"end\":\"06:00\"}],\"ranges\":[{\"start\":"
        "\"2026-11-26T00:00:00-05:00\",\"end\":\"2026-11-27T00:00:00-05:00\"}]}},\"rules\":[" ALLOW(
            "r", "{\"tool\":\"t\"}") "," DENY("f",
                                              "{\"tool\":\"t\",\"in_window\":\"night\"}") "]}");

    (void)state;
    /* 2026-03-07 (Sat) 22:00 EST = 03-08 03:00Z; clocks jump at 03-08 07:00Z; Sunday 06:00
     * EDT = 10:00Z. */
    assert_int_equal(in_window(p, "2026-03-08T02:59:00Z"), HALE_POLICY_ALLOW);
    assert_int_equal(in_window(p, "2026-03-08T03:00:00Z"), HALE_POLICY_DENY);
    assert_int_equal(in_window(p, "2026-03-08T09:59:00Z"), HALE_POLICY_DENY);
    assert_int_equal(in_window(p, "2026-03-08T10:00:00Z"), HALE_POLICY_ALLOW);
    /* 2026-10-31 (Sat) 22:00 EDT = 11-01 02:00Z; back to EST at 06:00Z; 06:00 EST = 11:00Z. */
    assert_int_equal(in_window(p, "2026-11-01T01:59:00Z"), HALE_POLICY_ALLOW);
    assert_int_equal(in_window(p, "2026-11-01T02:00:00Z"), HALE_POLICY_DENY);
    assert_int_equal(in_window(p, "2026-11-01T10:59:00Z"), HALE_POLICY_DENY);
    assert_int_equal(in_window(p, "2026-11-01T11:00:00Z"), HALE_POLICY_ALLOW);
    /* Thanksgiving range. */
    assert_int_equal(in_window(p, "2026-11-26T04:59:00Z"), HALE_POLICY_ALLOW);
    assert_int_equal(in_window(p, "2026-11-26T05:00:00Z"), HALE_POLICY_DENY);
    assert_int_equal(in_window(p, "2026-11-27T05:00:00Z"), HALE_POLICY_ALLOW);
    hale_policy_unref(p);
}

static void window_in_the_skipped_hour_starts_when_the_clock_gets_there(void **state)
{
    /* 02:30-03:30 Berlin on Sunday 2026-03-29: 02:00-03:00 does not exist that day. */
    hale_policy *p = must_load(
        "{\"version\":1,\"windows\":{\"w\":{\"tz\":\"Europe/Berlin\",\"weekly\":[{\"days\":"
        "[\"sun\"],\"start\":\"02:30\",\"end\":\"03:30\"}]}},\"rules\":[" ALLOW(
            "r", "{\"tool\":\"t\",\"in_window\":\"w\"}") "]}");

    (void)state;
    assert_int_equal(in_window(p, "2026-03-29T00:59:59Z"), HALE_POLICY_DENY);  /* 01:59:59 CET */
    assert_int_equal(in_window(p, "2026-03-29T01:00:00Z"), HALE_POLICY_ALLOW); /* 03:00 CEST */
    assert_int_equal(in_window(p, "2026-03-29T01:29:00Z"), HALE_POLICY_ALLOW);
    assert_int_equal(in_window(p, "2026-03-29T01:30:00Z"), HALE_POLICY_DENY); /* 03:30 CEST */
    /* 2026-10-25: 02:30 CEST (00:30Z) and, an hour later, 02:30 CET (01:30Z) both match. */
    assert_int_equal(in_window(p, "2026-10-25T00:30:00Z"), HALE_POLICY_ALLOW);
    assert_int_equal(in_window(p, "2026-10-25T01:15:00Z"), HALE_POLICY_DENY); /* 02:15 CET */
    assert_int_equal(in_window(p, "2026-10-25T01:30:00Z"), HALE_POLICY_ALLOW);
    assert_int_equal(in_window(p, "2026-10-25T02:30:00Z"), HALE_POLICY_DENY); /* 03:30 CET */
    hale_policy_unref(p);
}

/* The C library's offset for t under TZ (set by the caller), from broken-down times. */
static int32_t libc_offset(time_t t)
{
    struct tm lt, ut;
    int days;

    localtime_r(&t, &lt);
    gmtime_r(&t, &ut);
    if (lt.tm_year != ut.tm_year)
        days = lt.tm_year > ut.tm_year ? 1 : -1;
    else
        days = lt.tm_yday - ut.tm_yday;
    return days * 86400 + (lt.tm_hour - ut.tm_hour) * 3600 + (lt.tm_min - ut.tm_min) * 60 +
           (lt.tm_sec - ut.tm_sec);
}

static void zone_offsets_agree_with_the_c_library(void **state)
{
    static const char *const zones[] = {"Europe/Berlin",   "America/New_York", "Australia/Sydney",
                                        "Asia/Kolkata",    "America/Santiago", "Europe/London",
                                        "Pacific/Chatham", "Africa/Casablanca"};
    uint64_t seed = 0x9e3779b97f4a7c15u;

    (void)state;
    for (size_t z = 0; z < N_ELEMS(zones); z++) {
        struct tz_zone *zone = NULL;
        hale_diag d = {{0}};

        assert_int_equal(hale__policy_zone_load(zones[z], &zone, &d), 0);
        assert_int_equal(setenv("TZ", zones[z], 1), 0);
        tzset();
        for (int i = 0; i < 4000; i++) {
            int64_t t;

            seed = seed * 6364136223846793005u + 1442695040888963407u;
            t = (int64_t)(seed >> 33) % INT64_C(4102444800); /* 1970 .. 2100 */
            if (hale__policy_zone_offset(zone, t) != libc_offset((time_t)t))
                fail_msg("%s at %lld: ours %d, libc %d", zones[z], (long long)t,
                         hale__policy_zone_offset(zone, t), libc_offset((time_t)t));
        }
        hale__policy_zone_free(zone);
    }
    assert_int_equal(unsetenv("TZ"), 0);
    tzset();
}

/* ---- the index: cost does not grow with rules for other tools ---- */

static void rules_for_other_tools_are_not_visited(void **state)
{
    hale_buf b;
    hale_policy *p;
    hale_policy_verdict *v = NULL;
    struct fake f = {.fail_kind = -1};

    (void)state;
    hale_buf_init(&b, 1 << 20);
    (void)hale_buf_puts(&b, "{\"version\":1,\"rules\":[");
    for (int i = 0; i < 2000; i++)
        (void)hale_buf_printf(&b,
                              "%s{\"id\":\"r%d\",\"match\":{\"tool\":\"tool_%d\"},\"effect\":"
                              "\"allow\"}",
                              i ? "," : "", i, i);
    (void)hale_buf_puts(&b, ",{\"id\":\"g\",\"match\":{\"tool\":{\"glob\":\"tool_1*\"}},"
                            "\"effect\":\"deny\"}]}");
    p = must_load(b.data);
    assert_int_equal(eval_full(p, REQ("tool_1500", WEB, ""), &f, NOW, &v), HALE_POLICY_DENY);
    /* r1500, the glob, and the final line: nothing about the other 1,999 rules. */
    assert_int_equal(hale_policy_verdict_reason_count(v), 3);
    hale_policy_verdict_free(v);
    assert_int_equal(eval_full(p, REQ("tool_7", WEB, ""), &f, NOW, &v), HALE_POLICY_ALLOW);
    assert_int_equal(hale_policy_verdict_reason_count(v), 2);
    hale_policy_verdict_free(v);
    hale_policy_unref(p);
    hale_buf_release(&b);
}

/* ---- property tests ---- */

struct rng {
    uint64_t s;
};

static uint32_t rnd(struct rng *r, uint32_t n)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (uint32_t)(r->s % n);
}

static const char *const tools[] = {"restart_service", "scale_up", "collect_logs", "flush"};
static const char *const services[] = {"web", "db", "cache"};
static const char *const sources[] = {"runbook", "kb", "local_model", "llm", "human"};
static const char *const risks[] = {"low", "medium", "high", "critical"};

static void random_match(struct rng *g, hale_buf *b)
{
    (void)hale_buf_puts(b, "\"match\":{");
    switch (rnd(g, 4)) {
    case 0:
        (void)hale_buf_printf(b, "\"tool\":\"%s\"", tools[rnd(g, 4)]);
        break;
    case 1:
        (void)hale_buf_printf(b, "\"tool\":{\"glob\":\"%c*\"}", tools[rnd(g, 4)][0]);
        break;
    case 2:
        (void)hale_buf_printf(b, "\"tool\":{\"regex\":\"^%c\"}", tools[rnd(g, 4)][0]);
        break;
    default:
        (void)hale_buf_puts(b, "\"source\":[\"llm\",\"kb\"]");
        break;
    }
    if (rnd(g, 2))
        (void)hale_buf_printf(b, ",\"target\":{\"service\":{\"in\":[\"%s\",\"%s\"]}}",
                              services[rnd(g, 3)], services[rnd(g, 3)]);
    (void)hale_buf_puts(b, "}");
}

static void random_rule(struct rng *g, hale_buf *b, int id, bool deny)
{
    static const char *const effects[] = {"allow", "require_approval", "deny"};
    const char *effect = deny ? "deny" : effects[rnd(g, 3)];

    (void)hale_buf_printf(b, "{\"id\":\"r%d\",", id);
    random_match(g, b);
    (void)hale_buf_printf(b, ",\"effect\":\"%s\"", effect);
    if (strcmp(effect, "deny") != 0 && rnd(g, 2))
        (void)hale_buf_printf(b,
                              ",\"thresholds\":{\"min_confidence_bp\":{\"%s\":%u},"
                              "\"max_risk\":\"%s\"}",
                              sources[rnd(g, 5)], rnd(g, 10001), risks[rnd(g, 4)]);
    if (strcmp(effect, "deny") != 0 && rnd(g, 3) == 0)
        (void)hale_buf_printf(b,
                              ",\"limits\":{\"rate\":[{\"per\":\"service\",\"max\":%u,"
                              "\"window\":\"1h\"}],\"cooldown\":\"5m\"}",
                              rnd(g, 4));
    if (strcmp(effect, "require_approval") == 0)
        (void)hale_buf_puts(b, ",\"approval\":{\"users\":[\"a\",\"b\"],\"count\":2}");
    (void)hale_buf_puts(b, "}");
}

static char *random_request(struct rng *g)
{
    hale_buf b;

    hale_buf_init(&b, 4096);
    (void)hale_buf_printf(&b,
                          "{\"tool\":\"%s\",\"args\":{},\"target\":{\"labels\":{\"service\":"
                          "\"%s\"}},\"confidence_bp\":%u,\"source\":\"%s\",\"risk\":\"%s\"}",
                          tools[rnd(g, 4)], services[rnd(g, 3)], rnd(g, 10001), sources[rnd(g, 5)],
                          risks[rnd(g, 4)]);
    return hale_buf_detach(&b, NULL);
}

static void adding_a_deny_rule_never_loosens_a_verdict(void **state)
{
    struct rng g = {0x5eed1234abcdULL};
    hale_policy *empty = must_load("{\"version\":1}");
    int compared = 0;

    (void)state;
    for (int round = 0; round < 300; round++) {
        hale_buf b, b2;
        hale_policy *p, *p2;
        int n = 1 + (int)rnd(&g, 12);

        hale_buf_init(&b, 1 << 16);
        (void)hale_buf_puts(&b, "{\"version\":1,\"rules\":[");
        for (int i = 0; i < n; i++) {
            if (i)
                (void)hale_buf_putc(&b, ',');
            random_rule(&g, &b, i, false);
        }
        hale_buf_init(&b2, 1 << 16);
        (void)hale_buf_append(&b2, b.data, b.len);
        (void)hale_buf_putc(&b2, ',');
        random_rule(&g, &b2, n, true);
        (void)hale_buf_puts(&b, "]}");
        (void)hale_buf_puts(&b2, "]}");
        p = must_load(b.data);
        p2 = must_load(b2.data);
        for (int k = 0; k < 20; k++) {
            struct fake f = {.fail_kind = -1};
            char *req = random_request(&g);
            hale_policy_effect e1, e2;

            f.v[HALE_POLICY_COUNT_ACTIONS] = rnd(&g, 4);
            e1 = eval_full(p, req, &f, NOW, NULL);
            e2 = eval_full(p2, req, &f, NOW, NULL);
            if (e2 > e1)
                fail_msg("round %d: deny rule turned %s into %s\npolicy: %s\nrequest: %s", round,
                         hale_policy_effect_name(e1), hale_policy_effect_name(e2), b2.data, req);
            if (e1 == HALE_POLICY_DENY)
                assert_int_equal(e2, HALE_POLICY_DENY);
            assert_int_equal(eval_full(empty, req, &f, NOW, NULL), HALE_POLICY_DENY);
            compared++;
            free(req);
        }
        hale_policy_unref(p);
        hale_policy_unref(p2);
        hale_buf_release(&b);
        hale_buf_release(&b2);
    }
    assert_int_equal(compared, 6000);
    hale_policy_unref(empty);
}

/* ---- the shipped policy tests ---- */

static void on_case(const hale_policy_test_result *res, void *ud)
{
    int *n = ud;

    if (!res->passed)
        print_error("case '%s': %s\n", res->name, res->problem);
    (*n)++;
}

static void shipped_policy_tests_pass(void **state)
{
    hale_policy *p = NULL;
    hale_diag d = {{0}};
    size_t len = 0;
    char *text = fixture_read(HALE_SOURCE_DIR "/policies/tests/default.json", &len);
    int n = 0;

    (void)state;
    assert_non_null(text);
    assert_int_equal(hale_policy_load(HALE_SOURCE_DIR "/policies", &p, &d), 0);
    assert_int_equal(hale_policy_test_text(p, text, len, on_case, &n, &d), 0);
    assert_true(n >= 10);
    free(text);
    hale_policy_unref(p);
}

static void count_failed(const hale_policy_test_result *res, void *ud)
{
    *(int *)ud += !res->passed;
}

static void a_policy_test_that_should_fail_fails(void **state)
{
    static const char tests[] = "{\"tests\":[{\"name\":\"wrong\",\"request\":" REQ(
        "t", WEB, "") ",\"expect\":\"allow\"},"
                      "{\"name\":\"reason\",\"request\":" REQ(
                          "t", WEB, "") ",\"expect\":\"deny\","
                                        "\"reasons\":[\"no such text\"]}]}";
    hale_policy *p = must_load("{\"version\":1}");
    hale_diag d = {{0}};
    int n = 0;

    (void)state;
    assert_int_equal(hale_policy_test_text(p, tests, strlen(tests), count_failed, &n, &d), 2);
    assert_int_equal(n, 2);
    hale_policy_unref(p);
}

/* ---- allocation failures (jansson's allocator; libc's cannot be hooked without wrapping) ---- */

static long fail_at = -1; /* the allocation number that fails; < 0: none */
static long n_allocs;

static void *failing_malloc(size_t n)
{
    if (fail_at >= 0 && n_allocs++ == fail_at)
        return NULL;
    return malloc(n);
}

static void allocation_failures_are_clean(void **state)
{
    size_t len = 0;
    char *text = fixture_read(HALE_SOURCE_DIR "/policies/default.json", &len);
    const char *req = REQ("restart_service", WEB, ",\"untrusted\":[\"/args/unit\"]");
    const char *names[] = {"default.json"};
    struct fake f = {.fail_kind = -1};
    hale_policy_counts c = {fake_count, &f};
    long i;

    (void)state;
    assert_non_null(text);
    json_set_alloc_funcs(failing_malloc, free);
    for (i = 0;; i++) {
        hale_policy *p = (hale_policy *)&f; /* must stay untouched on failure */
        hale_policy_request *r = (hale_policy_request *)&f;
        hale_policy_verdict *v = NULL;
        const char *t = text;
        long used;
        int lr, rr;
        json_t *j;

        fail_at = i;
        n_allocs = 0;
        lr = hale_policy_load_texts(names, &t, &len, 1, &p, NULL);
        rr = hale_policy_request_parse(req, strlen(req), &r, NULL);
        if (lr < 0)
            assert_ptr_equal(p, &f);
        if (rr < 0)
            assert_ptr_equal(r, &f);
        if (lr == 0 && rr == 0 && hale_policy_eval(p, r, &c, NOW, &v) == 0) {
            j = hale_policy_verdict_to_json(v); /* may fail: must not leak */
            json_decref(j);
            hale_policy_verdict_free(v);
        }
        used = n_allocs;
        if (lr == 0)
            hale_policy_unref(p);
        if (rr == 0)
            hale_policy_request_free(r);
        if (lr == 0 && rr == 0 && used <= i)
            break; /* the failure point is past every allocation: all paths were tried */
    }
    assert_true(i > 100);
    fail_at = -1;
    json_set_alloc_funcs(malloc, free);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_the_shipped_default_policy),
        cmocka_unit_test(errors_name_file_rule_and_field),
        cmocka_unit_test(reload_keeps_the_old_set_on_error),
        cmocka_unit_test(a_directory_of_files_is_one_set),
        cmocka_unit_test(requests_are_parsed_strictly),
        cmocka_unit_test(digest_binds_tool_args_and_target),
        cmocka_unit_test(tool_matches_exact_in_glob_and_regex),
        cmocka_unit_test(labels_severity_env_and_source_match),
        cmocka_unit_test(precedence_is_deny_then_approval_then_allow),
        cmocka_unit_test(no_rule_means_deny_and_empty_policy_allows_nothing),
        cmocka_unit_test(thresholds_and_otherwise),
        cmocka_unit_test(untrusted_values_are_refused_or_escalated),
        cmocka_unit_test(dry_run_is_carried_to_the_action),
        cmocka_unit_test(approved_action_only_from_allow_for_the_same_request),
        cmocka_unit_test(rate_limits_count_by_scope),
        cmocka_unit_test(cooldown_and_concurrency),
        cmocka_unit_test(blast_radius_in_targets_and_percent),
        cmocka_unit_test(autonomy_budget_and_demotion),
        cmocka_unit_test(limits_fail_closed_without_counters),
        cmocka_unit_test(weekly_windows_follow_dst_in_berlin),
        cmocka_unit_test(overnight_freeze_across_new_york_dst),
        cmocka_unit_test(window_in_the_skipped_hour_starts_when_the_clock_gets_there),
        cmocka_unit_test(zone_offsets_agree_with_the_c_library),
        cmocka_unit_test(allocation_failures_are_clean),
        cmocka_unit_test(rules_for_other_tools_are_not_visited),
        cmocka_unit_test(adding_a_deny_rule_never_loosens_a_verdict),
        cmocka_unit_test(shipped_policy_tests_pass),
        cmocka_unit_test(a_policy_test_that_should_fail_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
