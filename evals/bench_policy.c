/* evals/bench_policy.c - policy evaluation cost as the rule count grows: evaluations per second
 * and latency percentiles for sets of 10, 100, 1,000 and 10,000 rules (exact-tool rules with
 * label matchers, thresholds, limits and a DST-aware window, plus a fixed handful of glob and
 * regex rules every request must visit). Baselines in the same run: parsing the request alone
 * and evaluating against an empty set. Limits read an in-memory counter view, so the figures
 * are the engine's own cost; one more row reads them from a store holding 10,000 recorded
 * actions of the last week, which is what the daemon pays. Usage: bench_policy [evaluations per
 * size] */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hale/policy.h"
#include "hale/store.h"
#include "util/buf.h"
#include "util/strparse.h"

#define NOW_MS 1795341600000LL /* 2026-11-22T10:00:00Z */
#define N_REQ  512

static double now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static int counts(void *ud, const hale_policy_count_query *q, int64_t *ret)
{
    (void)ud;
    *ret = q->kind == HALE_POLICY_COUNT_LAST_MS ? NOW_MS - 3600 * 1000 : 1;
    return 0;
}

/* n_rules rules over n_rules / 4 tools (about four per tool), plus 5 pattern rules. */
static char *make_policy(int n_rules)
{
    int n_tools = n_rules / 4 > 0 ? n_rules / 4 : 1;
    hale_buf b;

    hale_buf_init(&b, 64u << 20);
    (void)hale_buf_puts(&b, "{\"version\":1,\"groups\":{\"oncall\":[\"a\",\"b\",\"c\"]},"
                            "\"windows\":{\"train\":{\"tz\":\"Europe/Berlin\",\"weekly\":[{"
                            "\"days\":[\"tue\",\"thu\"],\"start\":\"14:00\",\"end\":\"16:00\"}]}},"
                            "\"rules\":[");
    for (int i = 0; i < n_rules; i++) {
        switch (i % 4) {
        case 0:
            (void)hale_buf_printf(&b,
                                  "{\"id\":\"r%d\",\"match\":{\"tool\":\"tool_%d\",\"target\":{"
                                  "\"service\":{\"in\":[\"web\",\"api\"]},\"host\":{\"regex\":"
                                  "\"^(web|api)-[0-9]+$\"}},\"env\":\"prod\"},\"effect\":\"allow\","
                                  "\"otherwise\":\"require_approval\",\"thresholds\":{"
                                  "\"min_confidence_bp\":{\"runbook\":8000,\"llm\":9500},"
                                  "\"max_risk\":\"medium\"},\"limits\":{\"rate\":[{\"per\":"
                                  "\"service\",\"max\":5,\"window\":\"1h\"}],\"cooldown\":\"10m\"},"
                                  "\"approval\":{\"groups\":[\"oncall\"]}},",
                                  i, i % n_tools);
            break;
        case 1:
            (void)hale_buf_printf(&b,
                                  "{\"id\":\"r%d\",\"match\":{\"tool\":\"tool_%d\",\"source\":"
                                  "[\"llm\",\"local_model\"]},\"effect\":\"require_approval\","
                                  "\"approval\":{\"groups\":[\"oncall\"],\"count\":2}},",
                                  i, i % n_tools);
            break;
        case 2:
            (void)hale_buf_printf(&b,
                                  "{\"id\":\"r%d\",\"match\":{\"tool\":\"tool_%d\",\"in_window\":"
                                  "\"train\"},\"effect\":\"require_approval\",\"approval\":{"
                                  "\"users\":[\"a\"]}},",
                                  i, i % n_tools);
            break;
        default:
            (void)hale_buf_printf(&b,
                                  "{\"id\":\"r%d\",\"match\":{\"tool\":\"tool_%d\",\"incident\":{"
                                  "\"team\":\"db\"}},\"effect\":\"deny\"},",
                                  i, i % n_tools);
            break;
        }
    }
    (void)hale_buf_puts(
        &b, "{\"id\":\"g1\",\"match\":{\"tool\":{\"glob\":\"diag_*\"}},\"effect\":\"allow\"},"
            "{\"id\":\"g2\",\"match\":{\"tool\":{\"glob\":\"*_legacy\"}},\"effect\":\"deny\"},"
            "{\"id\":\"g3\",\"match\":{\"tool\":{\"regex\":\"^tool_9+$\"},\"env\":\"staging\"},"
            "\"effect\":\"allow\"},"
            "{\"id\":\"g4\",\"match\":{\"tool\":{\"regex\":\"^(drop|wipe)_\"}},\"effect\":"
            "\"deny\"},"
            "{\"id\":\"g5\",\"match\":{\"tool\":{\"glob\":\"*\"},\"severity\":\"info\"},"
            "\"effect\":\"deny\"}]}");
    return hale_buf_detach(&b, NULL);
}

static char *make_request(int tool, int host, const char *source)
{
    hale_buf b;

    hale_buf_init(&b, 4096);
    (void)hale_buf_printf(&b,
                          "{\"tool\":\"tool_%d\",\"args\":{\"unit\":\"nginx\",\"signal\":\"HUP\"},"
                          "\"target\":{\"labels\":{\"host\":\"web-%d\",\"service\":\"web\","
                          "\"env\":\"prod\",\"group_size\":\"20\"}},\"incident\":{\"id\":\"%d\","
                          "\"severity\":\"critical\",\"labels\":{\"alertname\":\"HighErrorRate\","
                          "\"team\":\"web\"}},\"confidence_bp\":9200,\"source\":\"%s\",\"risk\":"
                          "\"low\",\"reversible\":true,\"time\":\"2026-11-22T10:00:00Z\"}",
                          tool, host, host, source);
    return hale_buf_detach(&b, NULL);
}

struct stats {
    double median_us, p99_us, max_us, per_s;
};

static struct stats summarize(double *ns, int n, double total_ns)
{
    struct stats s;

    qsort(ns, (size_t)n, sizeof(*ns), cmp);
    s.median_us = ns[n / 2] / 1e3;
    s.p99_us = ns[(int)((double)n * 0.99)] / 1e3;
    s.max_us = ns[n - 1] / 1e3;
    s.per_s = (double)n / (total_ns / 1e9);
    return s;
}

static void print_row(const char *what, int rules, struct stats s)
{
    printf("%-26s %7d %12.0f %10.2f %10.2f %10.1f\n", what, rules, s.per_s, s.median_us, s.p99_us,
           s.max_us);
}

static int bench_parse(char **texts, int n, double *ns)
{
    double t_all = now_ns();

    for (int i = 0; i < n; i++) {
        hale_policy_request *r = NULL;
        const char *t = texts[i % N_REQ];
        double t0 = now_ns();

        if (hale_policy_request_parse(t, strlen(t), &r, NULL) < 0)
            return -1;
        hale_policy_request_free(r);
        ns[i] = now_ns() - t0;
    }
    print_row("baseline: parse request", 0, summarize(ns, n, now_ns() - t_all));
    return 0;
}

static int bench_eval(const char *label, const hale_policy *p, int rules,
                      hale_policy_request **reqs, int n, double *ns)
{
    hale_policy_counts c = {counts, NULL};
    double t_all;

    for (int i = 0; i < 2000; i++) { /* warm up */
        hale_policy_verdict *v = NULL;

        if (hale_policy_eval(p, reqs[i % N_REQ], &c, NOW_MS, &v) < 0)
            return -1;
        hale_policy_verdict_free(v);
    }
    t_all = now_ns();
    for (int i = 0; i < n; i++) {
        hale_policy_verdict *v = NULL;
        double t0 = now_ns();

        if (hale_policy_eval(p, reqs[i % N_REQ], &c, NOW_MS, &v) < 0)
            return -1;
        hale_policy_verdict_free(v);
        ns[i] = now_ns() - t0;
    }
    print_row(label, rules, summarize(ns, n, now_ns() - t_all));
    return 0;
}

/* The 1,000-rule set with counters from a real store of 10,000 actions (50 hosts of one
 * service, evenly over the last 7 days: about 60 in any hour), in a temporary directory. */
static int bench_store(const hale_policy *p, hale_policy_request **reqs, int n, double *ns)
{
    char dir[] = "/tmp/hale-bench-policy.XXXXXX", path[64];
    hale_store_opts o = {.path = path, .sync = HALE_STORE_SYNC_NORMAL};
    hale_policy_ledger *l = NULL;
    hale_store *s = NULL;
    hale_policy_counts c;
    double t_all;
    int rc = -1;

    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/hale.db", dir);
    if (hale_store_open(&o, &s, NULL) < 0 || hale_policy_ledger_open(s, &l, NULL) < 0)
        goto out;
    if (hale_store_begin(s) < 0)
        goto out;
    for (int i = 0; i < 10000; i++)
        if (hale_policy_ledger_begin(l, reqs[i % N_REQ], true,
                                     NOW_MS - 7 * 86400000LL + i * 60480LL, NULL) < 0)
            goto out;
    if (hale_store_commit(s) < 0)
        goto out;
    c = hale_policy_ledger_counts(l);
    t_all = now_ns();
    for (int i = 0; i < n; i++) {
        hale_policy_verdict *v = NULL;
        double t0 = now_ns();

        if (hale_policy_eval(p, reqs[i % N_REQ], &c, NOW_MS, &v) < 0)
            goto out;
        hale_policy_verdict_free(v);
        ns[i] = now_ns() - t0;
    }
    print_row("evaluate, store counters", (int)hale_policy_rule_count(p),
              summarize(ns, n, now_ns() - t_all));
    rc = 0;
out:
    hale_policy_ledger_free(l);
    hale_store_free(s);
    snprintf(path, sizeof(path), "%s/hale.db", dir);
    (void)remove(path);
    snprintf(path, sizeof(path), "%s/hale.db-wal", dir);
    (void)remove(path);
    snprintf(path, sizeof(path), "%s/hale.db-shm", dir);
    (void)remove(path);
    (void)remove(dir);
    return rc;
}

static hale_policy *load(const char *text)
{
    const char *names[] = {"bench.json"};
    size_t len = strlen(text);
    hale_policy *p = NULL;
    hale_diag d = {{0}};

    if (hale_policy_load_texts(names, &text, &len, 1, &p, &d) < 0) {
        fprintf(stderr, "bench_policy: %s\n", d.msg);
        return NULL;
    }
    return p;
}

int main(int argc, char **argv)
{
    static const int sizes[] = {10, 100, 1000, 10000};
    uint32_t arg = 200000;
    int n = argc > 1 && hale_parse_u32(argv[1], &arg) < 0 ? -1 : (int)arg;
    double *ns = malloc(sizeof(*ns) * (size_t)(n > 0 ? n : 1));
    char *texts[N_REQ];
    hale_policy_request *reqs[N_REQ];
    hale_policy *empty = load("{\"version\":1}");
    int rc = 0;

    if (!ns || n < 100 || n > 10000000 || !empty) {
        fprintf(stderr, "usage: bench_policy [evaluations per size, 100 to 10000000]\n");
        return 2;
    }
    printf("%-26s %7s %12s %10s %10s %10s\n", "what", "rules", "evals/s", "median_us", "p99_us",
           "max_us");
    for (int s = 0; s < 4 && rc == 0; s++) {
        char *policy = make_policy(sizes[s]);
        int n_tools = sizes[s] / 4 > 0 ? sizes[s] / 4 : 1;
        double t0 = now_ns();
        hale_policy *p = policy ? load(policy) : NULL;
        double load_ms = (now_ns() - t0) / 1e6;

        if (!p)
            return 1;
        for (int i = 0; i < N_REQ; i++) {
            texts[i] = make_request(i % n_tools, i % 50, i % 3 ? "runbook" : "llm");
            if (hale_policy_request_parse(texts[i], strlen(texts[i]), &reqs[i], NULL) < 0)
                return 1;
        }
        if (s == 0)
            rc = bench_parse(texts, n, ns);
        if (s == 0 && rc == 0)
            rc = bench_eval("baseline: empty set", empty, 0, reqs, n, ns);
        printf("(load of %d rules: %.1f ms)\n", sizes[s], load_ms);
        if (rc == 0)
            rc = bench_eval("evaluate", p, (int)hale_policy_rule_count(p), reqs, n, ns);
        if (rc == 0 && sizes[s] == 1000)
            rc = bench_store(p, reqs, n / 10, ns);
        for (int i = 0; i < N_REQ; i++) {
            hale_policy_request_free(reqs[i]);
            free(texts[i]);
        }
        hale_policy_unref(p);
        free(policy);
    }
    hale_policy_unref(empty);
    free(ns);
    return rc == 0 ? 0 : 1;
}
