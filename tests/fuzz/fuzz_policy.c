/* tests/fuzz/fuzz_policy.c - libFuzzer target for the policy parser: arbitrary bytes as one
 * policy file (first byte even) or as a request evaluated against the shipped-style policy
 * below (first byte odd). Oracles beyond "no crash, no leak, no undefined behaviour": a load
 * either fails with a domain error and a message or yields a set with a 64-hex-digit hash
 * whose verdicts for fixed requests have reasons and a JSON form; an empty set allows nothing;
 * a request accepted by the parser has a digest, and the fixed set denies every tool its
 * rules do not name. Build and run: see docs/testing.md. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hale/err.h"
#include "hale/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const requests[] = {
    "{\"tool\":\"restart_service\",\"args\":{\"unit\":\"nginx\"},\"target\":{\"labels\":{"
    "\"host\":\"web-1\",\"service\":\"web\",\"env\":\"prod\",\"group_size\":\"4\"}},\"incident\":"
    "{\"id\":\"1\",\"severity\":\"critical\",\"labels\":{\"team\":\"web\"}},\"confidence_bp\":"
    "9200,\"source\":\"runbook\",\"risk\":\"low\",\"time\":\"2026-03-29T01:30:00Z\","
    "\"untrusted\":[\"/args/unit\"]}",
    "{\"tool\":\"zz_no_rule_names_this_tool\",\"target\":{\"labels\":{}},\"confidence_bp\":"
    "10000,\"source\":\"human\",\"risk\":\"low\"}",
};

static const char fixed_policy[] =
    "{\"version\":1,\"groups\":{\"g\":[\"a\",\"b\"]},\"windows\":{\"w\":{\"tz\":"
    "\"Europe/Berlin\",\"weekly\":[{\"days\":[\"mon\",\"sun\"],\"start\":\"22:00\",\"end\":"
    "\"02:30\"}]}},\"rules\":[{\"id\":\"a\",\"match\":{\"tool\":{\"glob\":\"r*\"},\"target\":{"
    "\"host\":{\"regex\":\"^web-[0-9]+$\"}}},\"effect\":\"allow\",\"otherwise\":"
    "\"require_approval\",\"thresholds\":{\"min_confidence_bp\":{\"llm\":9000}},\"limits\":{"
    "\"cooldown\":\"5m\",\"blast_radius\":{\"max_percent\":50,\"window\":\"1h\"}},\"untrusted\":"
    "{\"effect\":\"require_approval\"},\"approval\":{\"groups\":[\"g\"],\"count\":2}},{\"id\":"
    "\"b\",\"match\":{\"in_window\":\"w\"},\"effect\":\"deny\"}]}";

static int zero(void *ud, const hale_policy_count_query *q, int64_t *ret)
{
    (void)ud, (void)q;
    *ret = 0;
    return 0;
}

static void check_verdict(const hale_policy *p, const char *text, bool unknown_tool)
{
    hale_policy_counts counts = {zero, NULL};
    hale_policy_request *r = NULL;
    hale_policy_verdict *v = NULL;
    json_t *j;

    if (hale_policy_request_parse(text, strlen(text), &r, NULL) < 0)
        abort();
    if (hale_policy_eval(p, r, &counts, 1795341600000LL, &v) < 0) {
        hale_policy_request_free(r);
        return; /* out of memory only */
    }
    if (hale_policy_verdict_reason_count(v) == 0)
        abort();
    if (unknown_tool && hale_policy_rule_count(p) == 0 &&
        hale_policy_verdict_effect(v) != HALE_POLICY_DENY)
        abort();
    j = hale_policy_verdict_to_json(v);
    if (j && !json_is_string(json_object_get(j, "effect")))
        abort();
    json_decref(j);
    hale_policy_verdict_free(v);
    hale_policy_request_free(r);
}

static void fuzz_policy(const char *text, size_t len)
{
    const char *names[] = {"fuzz.json"};
    hale_policy *p = NULL;
    hale_diag diag = {{0}};
    int r = hale_policy_load_texts(names, &text, &len, 1, &p, &diag);

    if (r < 0) {
        if (p || (r != -ENOMEM && diag.msg[0] == '\0') ||
            (r != HALE_EPARSE && r != HALE_EUTF8 && r != HALE_ESCHEMA && r != HALE_ELIMIT &&
             r != -ENOMEM))
            abort();
        return;
    }
    if (strlen(hale_policy_hash_hex(p)) != 64)
        abort();
    check_verdict(p, requests[0], false);
    check_verdict(p, requests[1], true);
    hale_policy_unref(p);
}

static void fuzz_request(const char *text, size_t len)
{
    static hale_policy *p;
    hale_policy_counts counts = {zero, NULL};
    hale_policy_request *r = NULL;
    hale_policy_verdict *v = NULL;
    hale_diag diag = {{0}};

    if (!p) {
        const char *names[] = {"fixed.json"}, *t = fixed_policy;
        size_t n = sizeof(fixed_policy) - 1;

        if (hale_policy_load_texts(names, &t, &n, 1, &p, &diag) < 0) {
            fprintf(stderr, "fixed policy: %s\n", diag.msg);
            abort();
        }
    }
    if (hale_policy_request_parse(text, len, &r, &diag) < 0) {
        if (diag.msg[0] == '\0')
            abort();
        return;
    }
    if (strlen(hale_policy_request_digest_hex(r)) != 64)
        abort();
    if (hale_policy_eval(p, r, &counts, 1795341600000LL, &v) == 0) {
        /* The fixed set has no rule for tools outside r*: those are denied. */
        if (hale_policy_request_tool(r)[0] != 'r' &&
            hale_policy_verdict_effect(v) != HALE_POLICY_DENY)
            abort();
        hale_policy_verdict_free(v);
    }
    hale_policy_request_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        fuzz_request((const char *)data + 1, size - 1);
    else
        fuzz_policy((const char *)data + 1, size - 1);
    return 0;
}
