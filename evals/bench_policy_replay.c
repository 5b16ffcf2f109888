/* evals/bench_policy_replay.c - what `hale policy replay` costs per recorded decision: a store
 * holding N decision leaves (each with its request) is replayed against the shipped policy set
 * through the real command (its output to /dev/null). Baselines in the same run: reading the
 * same leaves with the audit query alone, and reading plus parsing each body. Prints the median
 * of 5 runs of each. Usage: bench_policy_replay [N decisions, default 100000] */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "hale/audit.h"
#include "hale/audit_query.h"
#include "hale/store.h"

#define RUNS  5
#define BATCH 1000

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static const char *const tools[] = {"restart_service", "rollback_deploy", "scale_deployment",
                                    "flush_cache"};

static int build(const char *db, long n)
{
    hale_store_opts o = {.path = db, .sync = HALE_STORE_SYNC_NORMAL};
    int64_t base_ns = ((int64_t)time(NULL) - 86400) * 1000000000LL;
    hale_store *s = NULL;
    hale_audit *a = NULL;
    int r = hale_store_open(&o, &s, NULL);

    if (r == 0)
        r = hale_audit_open(s, "bench.hale/replay", &a, NULL);
    for (long i = 0; r == 0 && i < n; i++) {
        json_t *p = json_pack(
            "{s:I,s:I,s:s,s:s,s:{s:s,s:{s:s},s:{s:{s:s,s:s,s:s}},s:i,s:s,s:s,s:b}}", "decision_id",
            (json_int_t)i + 1, "incident_id", (json_int_t)(i / 10 + 1), "tool", tools[i % 4],
            "outcome", i % 3 ? "deny" : "require_approval", "request", "tool", tools[i % 4], "args",
            "unit", "nginx", "target", "labels", "service", "web", "env",
            i % 2 ? "prod" : "staging", "host", "web-1", "confidence_bp", (int)(7000 + i % 3000),
            "source", "runbook", "risk", "low", "reversible", 1);

        if (i % BATCH == 0)
            r = hale_store_begin(s);
        if (r == 0)
            r = p ? hale_audit_append(a, HALE_AUDIT_KIND_DECISION, p, base_ns + i * 1000000LL, NULL,
                                      NULL)
                  : -ENOMEM;
        json_decref(p);
        if (r == 0 && (i % BATCH == BATCH - 1 || i == n - 1))
            r = hale_store_commit(s);
    }
    hale_audit_free(a);
    hale_store_free(s);
    return r;
}

struct scan {
    bool parse; /* also parse each body */
    long rows;  /* seen */
    uint64_t last;
};

static int on_row(const hale_audit_row *row, void *ud)
{
    struct scan *sc = ud;

    sc->rows++;
    sc->last = row->seq;
    if (sc->parse) {
        json_t *v = json_loadb(row->body, row->body_len, 0, NULL);

        if (!v)
            return -1;
        json_decref(v);
    }
    return 0;
}

static double scan(const char *db, bool parse, long *ret_rows)
{
    hale_store_opts o = {.path = db, .read_only = true};
    hale_audit_filter f = {.kind = HALE_AUDIT_KIND_DECISION, .limit = 1000, .oldest_first = true};
    struct scan sc = {parse, 0, 0};
    hale_store *s = NULL;
    bool more = true;
    double t0 = now_s();

    if (hale_store_open(&o, &s, NULL) < 0)
        return -1;
    while (more && hale_audit_query(s, &f, on_row, &sc, NULL, &more, NULL) >= 0) {
        f.has_cursor = true;
        f.cursor_seq = sc.last;
    }
    hale_store_free(s);
    *ret_rows = sc.rows;
    return now_s() - t0;
}

static double replay(char *db, char *candidate)
{
    char a0[] = "replay", a1[] = "--since", a2[] = "7d", a3[] = "--candidate", a5[] = "--db",
         a7[] = "--json";
    char *argv[] = {a0, a1, a2, a3, candidate, a5, db, a7, NULL};
    int saved = dup(1), devnull = open("/dev/null", O_WRONLY);
    double t0 = now_s();
    int r;

    fflush(stdout);
    dup2(devnull, 1);
    r = hale_cmd_policy_replay(8, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(devnull);
    return r == 0 ? now_s() - t0 : -1;
}

static double median(double *v)
{
    qsort(v, RUNS, sizeof(*v), cmp);
    return v[RUNS / 2];
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100000, rows = 0;
    char dir[] = "/tmp/bench-replay-XXXXXX", db[600], candidate[600], cmd[2400];
    double q[RUNS], p[RUNS], rp[RUNS], t0;

    if (n <= 0 || !mkdtemp(dir))
        return 2;
    snprintf(db, sizeof(db), "%s/hale.db", dir);
    snprintf(candidate, sizeof(candidate), "%s/policies", HALE_SOURCE_DIR);
    t0 = now_s();
    if (build(db, n) < 0) {
        fprintf(stderr, "cannot build the store\n");
        return 1;
    }
    printf("built %ld decision leaves in %.2f s\n", n, now_s() - t0);
    /* What the replay found, so the timing is known to cover real evaluations. */
    snprintf(cmd, sizeof(cmd), "'%s' policy replay --since 7d --candidate '%s' --db '%s' | head -6",
             HALE_BINARY_PATH, candidate, db);
    fflush(stdout);
    if (system(cmd) != 0)
        return 1;
    for (int i = 0; i < RUNS; i++) {
        q[i] = scan(db, false, &rows);
        p[i] = scan(db, true, &rows);
        rp[i] = replay(db, candidate);
        if (q[i] < 0 || p[i] < 0 || rp[i] < 0 || rows != n) {
            fprintf(stderr, "run %d failed (rows %ld)\n", i, rows);
            return 1;
        }
    }
    printf("%-36s %10s %12s\n", "what (median of 5)", "total s", "us/decision");
    printf("%-36s %10.3f %12.2f\n", "baseline: audit query", median(q), median(q) * 1e6 / n);
    printf("%-36s %10.3f %12.2f\n", "baseline: query + parse body", median(p), median(p) * 1e6 / n);
    printf("%-36s %10.3f %12.2f\n", "hale policy replay --json", median(rp), median(rp) * 1e6 / n);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
