/* evals/bench_audit_append.c - audit log append throughput against raw SQLite inserts of the
 * same bytes, in the same run.
 *
 * hale: hale_audit_append of decision-like leaves in transactions of BATCH leaves, with a
 * signed checkpoint from the separate signer process at least every second (and at the end).
 * baseline: the very bodies hale stored, inserted as (seq, body) rows into a table of their own
 * in a database with the same settings and batches. Both sync as the daemon does by default
 * (synchronous=FULL); rounds alternate and the medians are printed.
 *
 * usage: bench_audit_append [LEAVES [BATCH [ROUNDS]]]   (defaults 200000 1000 5)
 * The hale binary for the signer comes from HALE_EXE (default: ./hale next to this program's
 * build directory, i.e. ../hale). */
#include <inttypes.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hale/audit.h"
#include "hale/audit_signer.h"
#include "hale/store.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_audit_append: %s: %s\n", what, msg);
    exit(1);
}

static json_t *payload(uint64_t i)
{
    return json_pack("{s:s,s:I,s:s,s:{s:s,s:s},s:I,s:s,s:[s,s],s:s}", "decision_id",
                     "3f1c2a4e-9b7d-4c1e-8a55-0d2f6b7e9c01", "incident_id", (json_int_t)(i / 7),
                     "tool", "restart_service", "args", "service", "checkout-api", "host",
                     "web-17.prod.example.net", "confidence_bp", (json_int_t)(9000 + i % 1000),
                     "outcome", i % 5 ? "allow" : "require_approval", "reasons",
                     "rule default/restart-low-risk matched",
                     "confidence 9200 >= runbook minimum 8000", "risk", "low");
}

static void seal(hale_audit *a, hale_audit_signer *sg)
{
    hale_diag d = {{0}};

    if (hale_audit_seal(a, sg, false, NULL, &d) < 0)
        die("seal", d.msg);
}

/* One hale round in a fresh directory; returns leaves/s and the checkpoints made. */
static double run_hale(const char *dir, const char *exe, uint64_t leaves, uint64_t batch,
                       unsigned *ret_checkpoints)
{
    char path[600];
    hale_store_opts o = {.path = path, .sync = HALE_STORE_SYNC_FULL};
    hale_audit_signer_opts so = {.exe = exe};
    hale_audit_signer *sg = NULL;
    hale_store *s = NULL;
    hale_audit *a = NULL;
    hale_diag d = {{0}};
    json_t **docs = malloc(batch * sizeof(*docs));
    double t0, last_seal, t;
    unsigned ckpts = 0;

    snprintf(path, sizeof(path), "%s/audit", dir);
    if (hale_audit_keys_ensure(dir, "bench.example/append", NULL, NULL, &d) < 0)
        die("keys", d.msg);
    snprintf(path, sizeof(path), "%s/hale.db", dir);
    if (hale_store_open(&o, &s, &d) < 0 || hale_audit_open(s, "bench.example/append", &a, &d) < 0)
        die("open", d.msg);
    if (hale_audit_signer_start(dir, "bench.example/append", &so, &sg, &d) < 0)
        die("signer", d.msg);
    /* Payload documents are built outside the timed part: the caller builds them anyway. */
    for (uint64_t i = 0; i < batch; i++)
        docs[i] = payload(i);
    t0 = last_seal = now_s();
    for (uint64_t done = 0; done < leaves; done += batch) {
        if (hale_store_begin(s) < 0)
            die("begin", hale_store_errmsg(s));
        for (uint64_t i = 0; i < batch && done + i < leaves; i++)
            if (hale_audit_append(a, "decision", docs[i], 0, NULL, &d) < 0)
                die("append", d.msg);
        if (hale_store_commit(s) < 0)
            die("commit", hale_store_errmsg(s));
        if ((t = now_s()) - last_seal >= 1.0) {
            seal(a, sg);
            ckpts++;
            last_seal = t;
        }
    }
    seal(a, sg);
    ckpts++;
    t = now_s() - t0;
    for (uint64_t i = 0; i < batch; i++)
        json_decref(docs[i]);
    free(docs);
    (void)hale_audit_signer_stop(sg, NULL);
    hale_audit_free(a);
    hale_store_free(s);
    *ret_checkpoints = ckpts;
    return (double)leaves / t;
}

/* The bodies hale stored, for the baseline. */
static char **read_bodies(const char *dir, uint64_t leaves, int **ret_lens)
{
    char path[600];
    sqlite3 *db;
    sqlite3_stmt *st;
    char **bodies = calloc(leaves, sizeof(*bodies));
    int *lens = calloc(leaves, sizeof(*lens));
    uint64_t i = 0;

    snprintf(path, sizeof(path), "%s/hale.db", dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT body FROM audit_leaf ORDER BY seq", -1, &st, NULL) !=
            SQLITE_OK)
        die("read bodies", sqlite3_errmsg(db));
    while (i < leaves && sqlite3_step(st) == SQLITE_ROW) {
        lens[i] = sqlite3_column_bytes(st, 0);
        bodies[i] = malloc((size_t)lens[i]);
        memcpy(bodies[i], sqlite3_column_blob(st, 0), (size_t)lens[i]);
        i++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    *ret_lens = lens;
    return bodies;
}

static double run_raw(const char *dir, char **bodies, const int *lens, uint64_t leaves,
                      uint64_t batch)
{
    char path[600];
    sqlite3 *db;
    sqlite3_stmt *ins;
    double t0;

    snprintf(path, sizeof(path), "%s/raw.db", dir);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA page_size = 8192; PRAGMA journal_mode = WAL; PRAGMA synchronous = "
                     "FULL; CREATE TABLE raw (seq INTEGER PRIMARY KEY, body BLOB NOT NULL);",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO raw (seq, body) VALUES (?1, ?2)", -1, &ins, NULL) !=
            SQLITE_OK)
        die("raw db", sqlite3_errmsg(db));
    t0 = now_s();
    for (uint64_t done = 0; done < leaves; done += batch) {
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        for (uint64_t i = done; i < done + batch && i < leaves; i++) {
            sqlite3_bind_int64(ins, 1, (sqlite3_int64)i);
            sqlite3_bind_blob(ins, 2, bodies[i], lens[i], SQLITE_STATIC);
            if (sqlite3_step(ins) != SQLITE_DONE)
                die("raw insert", sqlite3_errmsg(db));
            sqlite3_reset(ins);
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            die("raw commit", sqlite3_errmsg(db));
    }
    t0 = now_s() - t0;
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return (double)leaves / t0;
}

int main(int argc, char **argv)
{
    uint64_t leaves = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
    uint64_t batch = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000;
    unsigned rounds = argc > 3 ? (unsigned)atoi(argv[3]) : 5, ckpts = 0;
    const char *exe = getenv("HALE_EXE") ? getenv("HALE_EXE") : "../hale";
    double hale_rate[32], raw_rate[32], ratio[32];
    char tmpl[] = "/tmp/hale-bench-audit-XXXXXX", cmd[700];

    if (sodium_init() < 0 || leaves == 0 || batch == 0 || rounds == 0 || rounds > 32)
        die("usage", "bench_audit_append [LEAVES [BATCH [ROUNDS (1-32)]]]");
    if (access(exe, X_OK) != 0)
        die(exe, "not executable: set HALE_EXE to the hale binary");
    for (unsigned r = 0; r < rounds; r++) {
        char *dir;

        memcpy(tmpl, "/tmp/hale-bench-audit-XXXXXX", sizeof(tmpl));
        dir = mkdtemp(tmpl);
        char **bodies;
        int *lens;

        if (!dir)
            die("mkdtemp", "failed");
        hale_rate[r] = run_hale(dir, exe, leaves, batch, &ckpts);
        bodies = read_bodies(dir, leaves, &lens);
        raw_rate[r] = run_raw(dir, bodies, lens, leaves, batch);
        ratio[r] = hale_rate[r] / raw_rate[r];
        printf("round %u: hale %.0f leaves/s (%u checkpoints), raw inserts %.0f rows/s, ratio "
               "%.2f\n",
               r + 1, hale_rate[r], ckpts, raw_rate[r], ratio[r]);
        for (uint64_t i = 0; i < leaves; i++)
            free(bodies[i]);
        free(bodies);
        free(lens);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
    qsort(hale_rate, rounds, sizeof(double), cmp_double);
    qsort(raw_rate, rounds, sizeof(double), cmp_double);
    qsort(ratio, rounds, sizeof(double), cmp_double);
    printf("median of %u rounds, %" PRIu64 " leaves in transactions of %" PRIu64
           ": hale %.0f leaves/s, raw %.0f rows/s, ratio %.2f\n",
           rounds, leaves, batch, hale_rate[rounds / 2], raw_rate[rounds / 2], ratio[rounds / 2]);
    return 0;
}
