/* tests/test_runbook.c - runbooks through include/hale/runbook.h: loading against the fixture
 * catalog (and every way a runbook can be wrong), matching on alertname and label matchers,
 * templates filled from labels and annotations, typed and validated by the tool's schema,
 * hostile label values rejected, annotation values marked untrusted, and proposals the policy
 * engine accepts as requests. */
#include "fixture.h"

#include <sys/stat.h>

#include "hale/catalog.h"
#include "hale/err.h"
#include "hale/policy.h"
#include "hale/runbook.h"

static hale_catalog *cat;
static hale_runbooks *rbs;

static int setup(void **state)
{
    hale_diag d = {{0}};

    (void)state;
    if (hale_catalog_load(fixture_path("catalog/tools"), &cat, &d) < 0 ||
        hale_runbooks_load(fixture_path("catalog/runbooks"), cat, &rbs, &d) < 0) {
        fprintf(stderr, "load: %s\n", d.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hale_runbooks_unref(rbs);
    hale_catalog_unref(cat);
    return 0;
}

/* Proposals and rejections for labels (and annotations) given as JSON text. */
static void propose(const char *labels_json, const char *ann_json, json_t **ret_p, json_t **ret_r)
{
    json_t *labels = json_loads(labels_json, 0, NULL);
    json_t *ann = ann_json ? json_loads(ann_json, 0, NULL) : NULL;

    assert_non_null(labels);
    assert_int_equal(hale_runbooks_propose(rbs, labels, ann, ret_p, ret_r), 0);
    json_decref(labels);
    json_decref(ann);
}

static const json_t *request_at(const json_t *proposals, size_t i)
{
    return json_object_get(json_array_get(proposals, i), "request");
}

static void loads_fixture_runbooks(void **state)
{
    (void)state;
    assert_int_equal(hale_runbooks_count(rbs), 2);
    assert_int_equal(strlen(hale_runbooks_hash_hex(rbs)), 64);
    assert_ptr_equal(hale_runbooks_catalog(rbs), cat);
}

static void missing_dir_is_an_empty_set(void **state)
{
    hale_runbooks *s = NULL;
    json_t *p = NULL, *labels = json_pack("{s:s}", "alertname", "TempDirFull");

    (void)state;
    assert_int_equal(hale_runbooks_load("/nonexistent/runbooks", cat, &s, NULL), 0);
    assert_int_equal(hale_runbooks_count(s), 0);
    assert_int_equal(hale_runbooks_propose(s, labels, NULL, &p, NULL), 0);
    assert_int_equal(json_array_size(p), 0);
    json_decref(p);
    json_decref(labels);
    hale_runbooks_unref(s);
}

static void match_fills_and_types_arguments(void **state)
{
    json_t *p = NULL, *r = NULL;
    const json_t *req;

    (void)state;
    propose("{\"alertname\": \"TempDirFull\", \"path\": \"/var/tmp/cache\", \"env\": \"prod\", "
            "\"instance\": \"web-1\", \"service\": \"web\"}",
            NULL, &p, &r);
    assert_int_equal(json_array_size(p), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(p, 0), "runbook")),
                        "disk.json#temp-dir-full");
    req = request_at(p, 0);
    assert_string_equal(json_string_value(json_object_get(req, "tool")), "clean");
    assert_string_equal(json_string_value(json_object_get(json_object_get(req, "args"), "root")),
                        "/var/tmp/cache");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(req, "args"), "older_than_days")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(req, "target"), "labels"), "host")),
                        "web-1");
    assert_int_equal(json_integer_value(json_object_get(req, "confidence_bp")), 9000);
    assert_string_equal(json_string_value(json_object_get(req, "source")), "runbook");
    assert_string_equal(json_string_value(json_object_get(req, "risk")), "medium");
    assert_true(json_is_false(json_object_get(req, "reversible")));
    assert_int_equal(json_array_size(json_object_get(req, "untrusted")), 0);
    /* the second action needs an annotation that is not there */
    assert_int_equal(json_array_size(r), 1);
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(r, 0), "reason")),
                           "args.root: annotations.suggested_root is not set"));
    json_decref(p);
    json_decref(r);
}

static void label_matchers_equals_regex_in(void **state)
{
    static const char *const misses[] = {
        "{\"alertname\": \"TempDirFull\", \"path\": \"/home/x\", \"env\": \"prod\"}",   /* regex */
        "{\"alertname\": \"TempDirFull\", \"path\": \"/var/tmp/x\", \"env\": \"dev\"}", /* in */
        "{\"alertname\": \"TempDirFull\", \"path\": \"/var/tmp/x\"}", /* label missing */
        "{\"alertname\": \"tempdirfull\", \"path\": \"/var/tmp/x\", \"env\": \"prod\"}", /* exact */
        "{\"alertname\": \"HighLatency\", \"service\": \"api\"}", /* equals */
        "{\"path\": \"/var/tmp/x\", \"env\": \"prod\"}",          /* no alertname */
    };
    json_t *p = NULL, *r = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++) {
        propose(misses[i], NULL, &p, &r);
        if (json_array_size(p) || json_array_size(r))
            fail_msg("labels %s matched", misses[i]);
        json_decref(p);
        json_decref(r);
    }
    propose("{\"alertname\": \"HighLatency\", \"service\": \"web\", \"deployment\": \"api\", "
            "\"want\": \"5\"}",
            NULL, &p, &r);
    assert_int_equal(json_array_size(p), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(request_at(p, 0), "args"), "replicas")),
        5); /* a label string typed as the schema's integer */
    assert_true(json_is_true(json_object_get(request_at(p, 0), "reversible")));
    json_decref(p);
    json_decref(r);
}

static void expect_rejected(const char *labels, const char *want)
{
    json_t *p = NULL, *r = NULL;
    const char *reason;

    propose(labels, NULL, &p, &r);
    assert_int_equal(json_array_size(p), 0);
    assert_true(json_array_size(r) >= 1);
    reason = json_string_value(json_object_get(json_array_get(r, 0), "reason"));
    if (!strstr(reason, want))
        fail_msg("labels %s: reason '%s', expected '%s'", labels, reason, want);
    json_decref(p);
    json_decref(r);
}

static void hostile_label_value_rejected(void **state)
{
    (void)state;
    /* matches the runbook's regex (^/var/tmp) but not the tool's schema */
    expect_rejected("{\"alertname\": \"TempDirFull\", \"path\": \"/var/tmp/x; rm -rf /\", "
                    "\"env\": \"prod\", \"instance\": \"h\", \"service\": \"s\"}",
                    "args.root: does not match the pattern");
    expect_rejected("{\"alertname\": \"TempDirFull\", \"path\": \"/var/tmp/$(id)\", "
                    "\"env\": \"prod\", \"instance\": \"h\", \"service\": \"s\"}",
                    "args.root: does not match the pattern");
    expect_rejected("{\"alertname\": \"TempDirFull\", \"path\": \"/var/tmp/../../etc\", "
                    "\"env\": \"prod\", \"instance\": \"h\", \"service\": \"s\"}",
                    "args.root: a '..' path segment");
    expect_rejected("{\"alertname\": \"TempDirFull\", \"path\": \"/var/tmp/a\\nb\", "
                    "\"env\": \"prod\", \"instance\": \"h\", \"service\": \"s\"}",
                    "args.root: control character");
    expect_rejected("{\"alertname\": \"TempDirFull\", \"path\": \"/var/tmp/a\", "
                    "\"env\": \"prod\", \"instance\": \"h\\nx\", \"service\": \"s\"}",
                    "target.host");
    expect_rejected("{\"alertname\": \"HighLatency\", \"service\": \"web\", \"deployment\": "
                    "\"api\", \"want\": \"5; reboot\"}",
                    "args.replicas: the filled value is not a valid integer");
    expect_rejected("{\"alertname\": \"HighLatency\", \"service\": \"web\", \"deployment\": "
                    "\"api\", \"want\": \"99\"}",
                    "args.replicas: 99 is out of range");
}

static void annotation_values_marked_untrusted(void **state)
{
    json_t *p = NULL, *r = NULL, *untrusted;
    const json_t *req;

    (void)state;
    propose("{\"alertname\": \"TempDirFull\", \"path\": \"/var/tmp/a\", \"env\": \"staging\", "
            "\"instance\": \"h\", \"service\": \"s\"}",
            "{\"suggested_root\": \"/var/cache/app\"}", &p, &r);
    assert_int_equal(json_array_size(p), 2);
    assert_int_equal(json_array_size(r), 0);
    req = request_at(p, 1);
    untrusted = json_object_get(req, "untrusted");
    assert_int_equal(json_array_size(untrusted), 1);
    assert_string_equal(json_string_value(json_array_get(untrusted, 0)), "/args/root");
    assert_int_equal(json_array_size(json_object_get(request_at(p, 0), "untrusted")), 0);
    json_decref(p);
    json_decref(r);
    /* a hostile annotation is rejected like a hostile label */
    propose("{\"alertname\": \"TempDirFull\", \"path\": \"/var/tmp/a\", \"env\": \"staging\", "
            "\"instance\": \"h\", \"service\": \"s\"}",
            "{\"suggested_root\": \"/var/tmp/`reboot`\"}", &p, &r);
    assert_int_equal(json_array_size(p), 1);
    assert_int_equal(json_array_size(r), 1);
    json_decref(p);
    json_decref(r);
}

static void proposals_are_valid_policy_requests(void **state)
{
    json_t *p = NULL, *r = NULL;
    size_t i;
    json_t *e;

    (void)state;
    propose("{\"alertname\": \"TempDirFull\", \"path\": \"/var/tmp/a\", \"env\": \"prod\", "
            "\"instance\": \"h\", \"service\": \"s\"}",
            "{\"suggested_root\": \"/var/log/x\"}", &p, &r);
    assert_int_equal(json_array_size(p), 2);
    json_array_foreach(p, i, e)
    {
        hale_policy_request *req = NULL;
        hale_diag d = {{0}};
        json_t *copy = json_deep_copy(json_object_get(e, "request"));

        if (hale_policy_request_from_json(copy, &req, &d) < 0)
            fail_msg("request %zu: %s", i, d.msg);
        assert_string_equal(hale_policy_request_tool(req), "clean");
        hale_policy_request_free(req);
        json_decref(copy);
    }
    json_decref(p);
    json_decref(r);
}

/* ---- Load errors --------------------------------------------------------------------------- */

static int load_text(const char *text, hale_diag *d)
{
    char *dir = fixture_tmpdir("runbook");
    char path[1200];
    hale_runbooks *s = NULL;
    int r;

    snprintf(path, sizeof(path), "%s/x.json", dir);
    assert_int_equal(fixture_write(path, text), 0);
    d->msg[0] = '\0';
    r = hale_runbooks_load(dir, cat, &s, d);
    hale_runbooks_unref(s);
    fixture_rmtree(dir);
    free(dir);
    return r;
}

#define RB(match, actions)                                                                         \
    "{\"runbooks\": [{\"id\": \"r1\", \"match\": " match ", \"actions\": " actions "}]}"
#define M_OK "{\"alertname\": \"A\"}"
#define A_OK                                                                                       \
    "[{\"tool\": \"clean\", \"args\": {\"root\": \"{{labels.path}}\"}, \"confidence_bp\": 1}]"

static void every_invalid_runbook_is_refused(void **state)
{
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {RB(M_OK, "[{\"tool\": \"nope\", \"confidence_bp\": 1}]"),
         "runbooks/x.json: runbook r1: actions[0].tool: 'nope' is not in the catalog"},
        {RB(M_OK, "[{\"tool\": \"clean\", \"args\": {\"root\": \"/var/tmp\", \"bogus\": 1}, "
                  "\"confidence_bp\": 1}]"),
         "actions[0].args.bogus: clean has no such argument"},
        {RB(M_OK, "[{\"tool\": \"clean\", \"args\": {\"root\": \"{{args.root}}\"}, "
                  "\"confidence_bp\": 1}]"),
         "template namespace 'args' is not allowed"},
        {RB(M_OK, "[{\"tool\": \"clean\", \"args\": {\"root\": \"{{labels.path\"}, "
                  "\"confidence_bp\": 1}]"),
         "malformed template"},
        {RB(M_OK, "[{\"tool\": \"clean\", \"args\": {\"root\": \"/var/tmp\", \"older_than_days\": "
                  "0}, \"confidence_bp\": 1}]"),
         "actions[0].args.older_than_days: 0 is out of range"},
        {RB(M_OK, "[{\"tool\": \"clean\", \"args\": {\"root\": \"/etc\"}, \"confidence_bp\": 1}]"),
         "actions[0].args.root: does not match"},
        {RB(M_OK, "[{\"tool\": \"clean\", \"confidence_bp\": 1}]"), "requires 'root'"},
        {RB(M_OK, "[{\"tool\": \"clean\", \"args\": {\"root\": \"/var/tmp\"}, \"confidence_bp\": "
                  "20000}]"),
         "actions[0].confidence_bp"},
        {RB(M_OK, "[{\"tool\": \"clean\", \"args\": {\"root\": \"/var/tmp\"}}]"),
         "actions[0].confidence_bp: missing, expected integer"},
        {RB(M_OK,
            "[{\"tool\": \"clean\", \"args\": {\"root\": \"/var/tmp\"}, \"confidence_bp\": 1, "
            "\"target\": {\"host\": 1}}]"),
         "actions[0].target"},
        {RB(M_OK,
            "[{\"tool\": \"clean\", \"args\": {\"root\": \"/var/tmp\"}, \"confidence_bp\": 1, "
            "\"target\": {\"bad-name\": \"x\"}}]"),
         "not a label name"},
        {RB(M_OK, "[]"), "actions: expected 1 to 64 actions"},
        {RB(M_OK, "[1]"), "actions[0]: expected object"},
        {RB("{\"labels\": {}}", A_OK), "match.alertname: missing, expected string"},
        {RB("{\"alertname\": \"A\", \"severity\": \"x\"}", A_OK), "match: unknown field"},
        {RB("{\"alertname\": \"A\", \"labels\": {\"p\": {\"regex\": \"a(b\"}}}", A_OK),
         "match.labels.p.regex: invalid regex at offset 3"},
        {RB("{\"alertname\": \"A\", \"labels\": {\"p\": {\"like\": \"a\"}}}", A_OK),
         "match.labels.p: expected"},
        {RB("{\"alertname\": \"A\", \"labels\": {\"p\": {\"equals\": \"a\", \"in\": [\"b\"]}}}",
            A_OK),
         "match.labels.p: expected"},
        {RB("{\"alertname\": \"A\", \"labels\": {\"p\": {\"in\": []}}}", A_OK),
         "match.labels.p.in"},
        {RB("{\"alertname\": \"A\", \"labels\": {\"p\": {\"in\": [1]}}}", A_OK),
         "match.labels.p.in[0]"},
        {RB("{\"alertname\": \"A\", \"labels\": {\"p\": {\"equals\": 1}}}", A_OK),
         "match.labels.p.equals: expected string"},
        {"{\"runbooks\": [{\"id\": \"r1\", \"match\": " M_OK ", \"actions\": " A_OK "}, {\"id\": "
         "\"r1\", \"match\": " M_OK ", \"actions\": " A_OK "}]}",
         "runbook r1: id: 'r1' is used twice"},
        {"{\"runbooks\": [{\"id\": \"a b\", \"match\": " M_OK ", \"actions\": " A_OK "}]}",
         "id: expected"},
        {"{\"runbooks\": [{\"id\": \"r1\", \"match\": " M_OK ", \"actions\": " A_OK
         ", \"owner\": \"x\"}]}",
         "unknown field 'owner'"},
        {"{\"runbooks\": {}}", "runbooks/x.json: expected {\"runbooks\": [...]}"},
        {"{\"runbooks\": [], \"version\": 1}", "expected {\"runbooks\""},
        {"{\"runbooks\": [", "runbooks/x.json:1:"},
    };
    hale_diag d;
    size_t bad = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = load_text(cases[i].text, &d);

        if (r >= 0 || !strstr(d.msg, cases[i].want)) {
            printf("case %zu: got %d '%s', expected '%s'\n", i, r, d.msg, cases[i].want);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
    assert_int_equal(load_text(RB(M_OK, A_OK), &d), 0);
}

static void count_report(const char *file, int err, const hale_diag *d, void *ud)
{
    int *n = ud;

    (void)file;
    n[err < 0 ? 0 : 1]++;
    if (err < 0)
        assert_true(d->msg[0] != '\0');
}

static void check_reports_every_file(void **state)
{
    char *dir = fixture_tmpdir("runbook");
    char path[1200];
    int n[2] = {0, 0};

    (void)state;
    snprintf(path, sizeof(path), "%s/a.json", dir);
    assert_int_equal(fixture_write(path, RB(M_OK, A_OK)), 0);
    snprintf(path, sizeof(path), "%s/b.json", dir);
    assert_int_equal(fixture_write(path, RB(M_OK, "[]")), 0);
    snprintf(path, sizeof(path), "%s/c.json", dir);
    assert_int_equal(fixture_write(path, "{"), 0);
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    assert_int_equal(fixture_write(path, "not a runbook"), 0);
    assert_int_equal(hale_runbooks_check(dir, cat, count_report, n), 2);
    assert_int_equal(n[0], 2);
    assert_int_equal(n[1], 1);
    fixture_rmtree(dir);
    free(dir);
}

/* ---- Allocation failures ------------------------------------------------------------------ */

/* Every JSON allocation of load, propose, prepare and rollback fails in turn: each failure is
 * an error (never a crash), leaves the out-parameter untouched and leaks nothing (ASan). */
static void allocation_failures_are_clean(void **state)
{
    const char *labels_text = "{\"alertname\": \"HighLatency\", \"service\": \"web\", "
                              "\"deployment\": \"api\", \"want\": \"5\"}";
    json_t *labels = json_loads(labels_text, 0, NULL);
    long i;

    (void)state;
    assert_non_null(labels);
    for (i = 0;; i++) {
        hale_catalog *c = (hale_catalog *)&i;
        hale_runbooks *s = (hale_runbooks *)&i;
        json_t *p = NULL, *rargs = NULL, *out = NULL;
        hale_tool_run *run = NULL;
        const hale_tool *rt = NULL;
        int cr, sr = -1, pr = -1;
        long used;

        fixture_json_fail_at(i);
        cr = hale_catalog_load(fixture_path("catalog/tools"), &c, NULL);
        if (cr < 0)
            assert_ptr_equal(c, (hale_catalog *)&i);
        if (cr == 0) {
            sr = hale_runbooks_load(fixture_path("catalog/runbooks"), c, &s, NULL);
            if (sr < 0)
                assert_ptr_equal(s, (hale_runbooks *)&i);
        }
        if (sr == 0 && (pr = hale_runbooks_propose(s, labels, NULL, &p, NULL)) == 0 &&
            json_array_size(p) == 1) {
            const json_t *args =
                json_object_get(json_object_get(json_array_get(p, 0), "request"), "args");

            if (hale_tool_prepare(hale_catalog_find(c, "scale"), args, &run, NULL) == 0)
                hale_tool_run_free(run);
            out = json_pack("{s:i}", "previous_replicas", 3);
            if (out && hale_tool_rollback(c, hale_catalog_find(c, "scale"), args, out, &rt, &rargs,
                                          NULL) == 0)
                json_decref(rargs);
            json_decref(out);
        }
        used = fixture_json_allocs();
        fixture_json_fail_at(-1);
        json_decref(p);
        if (sr == 0)
            hale_runbooks_unref(s);
        if (cr == 0)
            hale_catalog_unref(c);
        if (pr == 0 && used <= i)
            break; /* the failure point is past every allocation: all paths were tried */
    }
    assert_true(i > 50);
    json_decref(labels);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_fixture_runbooks),
        cmocka_unit_test(missing_dir_is_an_empty_set),
        cmocka_unit_test(match_fills_and_types_arguments),
        cmocka_unit_test(label_matchers_equals_regex_in),
        cmocka_unit_test(hostile_label_value_rejected),
        cmocka_unit_test(annotation_values_marked_untrusted),
        cmocka_unit_test(proposals_are_valid_policy_requests),
        cmocka_unit_test(every_invalid_runbook_is_refused),
        cmocka_unit_test(check_reports_every_file),
        cmocka_unit_test(allocation_failures_are_clean),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
