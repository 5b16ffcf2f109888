/* evals/bench_audit_query.c - latency of audit queries over a large log: the median of many
 * runs of each filter type (LIMIT 50, newest first) next to an unfiltered LIMIT 50 baseline
 * measured in the same run, on a log written by the real writer (signed checkpoints every
 * 5000 leaves, one key rotation) and indexed by hale_audit_index_catchup(). Also the cost of
 * catch-up itself, a text search before catch-up (what the index saves), and one evidence
 * bundle export and verification.
 * Usage: bench_audit_query [N_LEAVES [DB]]  (default 1000000 leaves in a temporary file;
 * with DB, an existing file of at least N_LEAVES leaves from an earlier run is reused). */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hale/audit.h"
#include "hale/audit_query.h"
#include "hale/err.h"
#include "hale/note.h"
#include "hale/store.h"

#define ORIGIN        "bench.hale/audit"
#define RUNS          31
#define CATCHUP_BATCH 128u /* leaves per hale_audit_index_catchup() call */
#define T0_NS         INT64_C(1790000000000000000)
#define STEP_NS       INT64_C(2600000000) /* 1M leaves over about 30 days */
#define N_ACTORS      40
#define N_TOOLS       25

static const char *const kinds[] = {"alerts_accepted", "incident_transition", "decision",
                                    "exec_intent",     "exec_result",         "approval"};
static const unsigned kind_weight[] = {30, 30, 16, 9, 9, 6}; /* percent */
static const char *const outcomes[] = {"allow", "deny", "require_approval", "success", "failure"};

static double now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static uint64_t rng = 88172645463325252u;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A realistic payload for leaf i (about 250 bytes once enveloped). */
static json_t *payload(uint64_t i, const char **ret_kind)
{
    unsigned roll = (unsigned)(next_rand() % 100), k = 0, acc = kind_weight[0];
    char actor[32], tool[32], sha[65], reason[96];
    json_t *p;

    while (roll >= acc)
        acc += kind_weight[++k];
    *ret_kind = kinds[k];
    snprintf(actor, sizeof(actor), "oncall-%02u", (unsigned)(next_rand() % N_ACTORS));
    snprintf(tool, sizeof(tool), "tool_%02u", (unsigned)(next_rand() % N_TOOLS));
    for (int b = 0; b < 64; b += 16)
        snprintf(sha + b, sizeof(sha) - (size_t)b, "%016llx", (unsigned long long)next_rand());
    snprintf(reason, sizeof(reason), "%s on host web-%u: %s", i % 7 ? "latency" : "disk full",
             (unsigned)(i % 300), i % 11 ? "rule matched" : "manual review");
    p = json_pack("{s:I,s:s,s:s}", "incident_id", (json_int_t)(i / 20 + 1), "sha256", sha, "reason",
                  reason);
    if (k >= 2)
        json_object_set_new(p, "tool", json_string(tool));
    if (k >= 2)
        json_object_set_new(p, "outcome", json_string(outcomes[next_rand() % 5]));
    if (k == 5)
        json_object_set_new(p, "actor", json_string(actor));
    return p;
}

static int seal(hale_audit *a, hale_note_signer *key)
{
    char *text = NULL, *note = NULL;
    hale_hash root;
    uint64_t size;
    size_t len;
    int r;

    hale_audit_head(a, &size, &root);
    r = hale_checkpoint_format(ORIGIN, size, &root, NULL, 0, &text, &len);
    if (r == 0)
        r = hale_note_sign(text, len, (const hale_note_signer *const *)&key, 1, &note, NULL);
    if (r == 0)
        r = hale_audit_store_checkpoint(a, note, T0_NS, NULL);
    free(text);
    free(note);
    return r;
}

static int rotate(hale_store *s, hale_audit *a, hale_note_signer **key)
{
    uint8_t seed[32];
    char vkey[HALE_NOTE_VKEY_MAX_BYTES], prev[9];
    hale_note_signer *next = NULL;
    json_t *p;
    int r;

    memset(seed, 0x22, sizeof(seed));
    if (hale_note_signer_from_seed(ORIGIN, seed, &next) < 0)
        return -1;
    hale_note_verifier_format(hale_note_signer_verifier(next), vkey, sizeof(vkey));
    snprintf(prev, sizeof(prev), "%08x", (unsigned)hale_note_signer_verifier(*key)->key_id);
    p = json_pack("{s:i,s:s,s:s}", "epoch", 1, "key", vkey, "prev_key_id", prev);
    r = hale_store_begin(s);
    if (r == 0)
        r = hale_audit_append(a, HALE_AUDIT_KIND_KEY_ROTATION, p, 0, NULL, NULL);
    if (r == 0)
        r = hale_store_commit(s);
    if (r == 0)
        r = seal(a, *key);
    json_decref(p);
    hale_note_signer_free(*key);
    *key = next;
    return r;
}

static int build(hale_store *s, uint64_t n)
{
    uint8_t seed[32];
    hale_note_signer *key = NULL;
    hale_audit *a = NULL;
    double t0 = now_ms();
    int r;

    memset(seed, 0x11, sizeof(seed));
    if (hale_audit_open(s, ORIGIN, &a, NULL) < 0 ||
        hale_note_signer_from_seed(ORIGIN, seed, &key) < 0)
        return -1;
    for (uint64_t i = 0, seq = 0; i < n;) {
        r = hale_store_begin(s);
        for (unsigned k = 0; r == 0 && k < 5000 && i < n; k++, i++, seq++) {
            const char *kind;
            json_t *p = payload(i, &kind);

            r = hale_audit_append(a, kind, p, T0_NS + (int64_t)seq * STEP_NS, NULL, NULL);
            json_decref(p);
        }
        if (r == 0)
            r = hale_store_commit(s);
        if (r == 0)
            r = seal(a, key);
        if (r == 0 && i == n / 2)
            r = rotate(s, a, &key);
        if (r < 0) {
            fprintf(stderr, "build failed at leaf %llu: %s\n", (unsigned long long)i,
                    hale_strerror(r));
            return r;
        }
    }
    printf("built %llu leaves with the writer in %.1f s\n", (unsigned long long)n,
           (now_ms() - t0) / 1000);
    hale_audit_free(a);
    hale_note_signer_free(key);
    return 0;
}

static int count_row(const hale_audit_row *row, void *ud)
{
    (void)row;
    (*(unsigned *)ud)++;
    return 0;
}

struct bench {
    const char *name;    /* what is filtered */
    hale_audit_filter f; /* the filter (limit 50) */
    bool vary_incident;  /* a different incident each run */
};

/* Median and maximum over RUNS runs of f, in ms; *rows the rows of the last run. */
static double measure(hale_store *s, struct bench *b, uint64_t n, double *max, unsigned *rows)
{
    double t[RUNS];

    for (int i = 0; i < RUNS; i++) {
        double t0;
        int r;

        if (b->vary_incident)
            b->f.incident_id = (int64_t)(next_rand() % (n / 20)) + 1;
        *rows = 0;
        t0 = now_ms();
        r = hale_audit_query(s, &b->f, count_row, rows, NULL, NULL, NULL);
        t[i] = now_ms() - t0;
        if (r < 0) {
            fprintf(stderr, "%s: %s\n", b->name, hale_strerror(r));
            return -1;
        }
    }
    qsort(t, RUNS, sizeof(t[0]), cmp);
    *max = t[RUNS - 1];
    return t[RUNS / 2];
}

static void run_benches(hale_store *s, uint64_t n)
{
    int64_t newest = T0_NS + (int64_t)(n - 1) * STEP_NS;
    struct bench benches[] = {
        {"baseline: no filter", {.limit = 50}, false},
        {"since 24h", {.limit = 50, .since_ns = newest - INT64_C(86400000000000)}, false},
        {"until 15 days ago",
         {.limit = 50, .until_ns = newest - INT64_C(15 * 86400000000000)},
         false},
        {"since+until, 1 hour mid-log",
         {.limit = 50,
          .since_ns = T0_NS + (int64_t)(n / 2) * STEP_NS,
          .until_ns = T0_NS + (int64_t)(n / 2) * STEP_NS + INT64_C(3600000000000)},
         false},
        {"incident (random)", {.limit = 50}, true},
        {"kind decision", {.limit = 50, .kind = "decision"}, false},
        {"kind key_rotation (1 leaf)", {.limit = 50, .kind = "key_rotation"}, false},
        {"actor", {.limit = 50, .actor = "oncall-07"}, false},
        {"tool", {.limit = 50, .tool = "tool_13"}, false},
        {"outcome failure", {.limit = 50, .outcome = "failure"}, false},
        {"text common (disk full)", {.limit = 50, .text = "disk full"}, false},
        {"text rare (web-299: manual)", {.limit = 50, .text = "web-299: manual"}, false},
        {"text absent", {.limit = 50, .text = "no-such-words"}, false},
        {"kind decision + tool", {.limit = 50, .kind = "decision", .tool = "tool_03"}, false},
        {"incident + text", {.limit = 50, .text = "latency"}, true},
        {"actor + since 7d",
         {.limit = 50, .actor = "oncall-21", .since_ns = newest - INT64_C(7 * 86400000000000)},
         false},
    };
    double base = 0;

    printf("\n%-30s %10s %10s %6s %9s\n", "filter (LIMIT 50)", "median ms", "max ms", "rows",
           "x base");
    for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
        unsigned rows = 0;
        double max = 0, med = measure(s, &benches[i], n, &max, &rows);

        if (i == 0)
            base = med;
        printf("%-30s %10.3f %10.3f %6u %9.1f\n", benches[i].name, med, max, rows,
               base > 0 ? med / base : 0);
    }
}

static void bundle_once(hale_store *s, const char *vkey)
{
    hale_audit_bundle_info info = {0};
    hale_diag d = {{0}};
    json_t *b = NULL;
    char *text;
    double t0 = now_ms(), t1;
    int r = hale_audit_bundle_export(s, 1234, vkey, &b, &d);

    t1 = now_ms();
    if (r < 0) {
        printf("export failed: %s\n", d.msg);
        return;
    }
    text = json_dumps(b, JSON_COMPACT);
    r = hale_audit_bundle_verify(text, strlen(text), vkey, &info, &d);
    printf("\nbundle of incident 1234: %zu leaves + %zu rotations, export %.1f ms, verify %.1f "
           "ms (%s)\n",
           info.n_leaves, info.n_rotations, t1 - t0, now_ms() - t1, r == 0 ? "ok" : d.msg);
    free(text);
    json_decref(b);
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000, indexed = 0, leaves = 0;
    char tmp[] = "/tmp/hale-bench-audit-XXXXXX", path[600], vkey[HALE_NOTE_VKEY_MAX_BYTES];
    hale_store_opts o = {.sync = HALE_STORE_SYNC_NORMAL};
    hale_note_signer *root = NULL;
    hale_store *s = NULL;
    uint8_t seed[32];
    double t0;
    int r;

    if (sodium_init() < 0 || n < 1000)
        return 2;
    if (argc > 2) {
        snprintf(path, sizeof(path), "%s", argv[2]);
    } else {
        if (!mkdtemp(tmp))
            return 2;
        snprintf(path, sizeof(path), "%s/hale.db", tmp);
    }
    o.path = path;
    if (hale_store_open(&o, &s, NULL) < 0)
        return 1;
    if (hale_audit_index_state(s, &indexed, &leaves) < 0)
        return 1;
    if (leaves < n && (leaves > 0 || build(s, n) < 0))
        return 1;
    n = leaves > n ? leaves : n;
    printf("log of %llu leaves (%s)\n", (unsigned long long)n, path);
    /* A text search before any catch-up scans every body: what the index is for. */
    if (indexed == 0) {
        struct bench scan = {
            "text, nothing indexed", {.limit = 50, .text = "no-such-words"}, false};
        unsigned rows = 0;

        t0 = now_ms();
        (void)hale_audit_query(s, &scan.f, count_row, &rows, NULL, NULL, NULL);
        printf("text search with nothing indexed (full scan): %.1f ms\n", now_ms() - t0);
    }
    {
        static double batch[20000];
        double worst = 0;
        unsigned nb = 0, done = 0;

        t0 = now_ms();
        for (;;) {
            double b0 = now_ms();

            r = hale_audit_index_catchup(s, CATCHUP_BATCH);
            if (r <= 0)
                break;
            if (nb < 20000)
                batch[nb++] = now_ms() - b0;
            done += (unsigned)r;
        }
        if (r < 0)
            return 1;
        if (nb) {
            qsort(batch, nb, sizeof(batch[0]), cmp);
            worst = batch[nb - 1];
            printf("index catch-up of %u leaves: %.1f s, %.0f leaves/s; one batch of %u: "
                   "median %.1f ms, max %.1f ms\n",
                   done, (now_ms() - t0) / 1000, done / ((now_ms() - t0) / 1000), CATCHUP_BATCH,
                   batch[nb / 2], worst);
        }
    }
    run_benches(s, n);
    memset(seed, 0x11, sizeof(seed));
    hale_note_signer_from_seed(ORIGIN, seed, &root);
    hale_note_verifier_format(hale_note_signer_verifier(root), vkey, sizeof(vkey));
    bundle_once(s, vkey);
    hale_note_signer_free(root);
    hale_store_free(s);
    if (argc <= 2) {
        unlink(path);
        snprintf(path, sizeof(path), "%s/hale.db-wal", tmp);
        unlink(path);
        snprintf(path, sizeof(path), "%s/hale.db-shm", tmp);
        unlink(path);
        rmdir(tmp);
    }
    return 0;
}
