/* evals/bench_audit_append.c - audit log append throughput against raw SQLite inserts of the
 * same bytes, in the same run.
 *
 * hale: hale_audit_append of decision-like leaves in transactions of BATCH leaves, with a
 * signed checkpoint from the separate signer process every second of hale's time (and at the
 * end). baseline: the very bodies hale stored, inserted as (seq, body) rows into a table of
 * their own in a database with the same settings and batches. Both sync as the daemon does by
 * default (synchronous=FULL). The two alternate batch by batch, each timed alone, so that both
 * meet the same moments of a shared machine; the medians of the rounds are printed.
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

struct raw {
    sqlite3 *db;       /* the baseline's own database */
    sqlite3_stmt *ins; /* INSERT INTO raw (seq, body) */
    sqlite3 *hale_db;  /* a read connection to hale's database */
    sqlite3_stmt *get; /* SELECT seq, body FROM audit_leaf WHERE seq >= ?1 */
};

static void raw_open(struct raw *w, const char *dir)
{
    char path[600];

    snprintf(path, sizeof(path), "%s/raw.db", dir);
    if (sqlite3_open(path, &w->db) != SQLITE_OK ||
        sqlite3_exec(w->db,
                     "PRAGMA page_size = 8192; PRAGMA journal_mode = WAL; PRAGMA synchronous = "
                     "FULL; CREATE TABLE raw (seq INTEGER PRIMARY KEY, body BLOB NOT NULL);",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(w->db, "INSERT INTO raw (seq, body) VALUES (?1, ?2)", -1, &w->ins,
                           NULL) != SQLITE_OK)
        die("raw db", sqlite3_errmsg(w->db));
    snprintf(path, sizeof(path), "%s/hale.db", dir);
    if (sqlite3_open_v2(path, &w->hale_db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(w->hale_db,
                           "SELECT seq, body FROM audit_leaf WHERE seq >= ?1 ORDER BY seq", -1,
                           &w->get, NULL) != SQLITE_OK)
        die("read hale.db", sqlite3_errmsg(w->hale_db));
}

static void raw_close(struct raw *w)
{
    sqlite3_finalize(w->ins);
    sqlite3_finalize(w->get);
    sqlite3_close(w->db);
    sqlite3_close(w->hale_db);
}

/* The bodies hale stored from seq from on (untimed), then their insert as one transaction of
 * (seq, body) rows (timed). Returns the seconds of the insert. */
static double raw_batch(struct raw *w, uint64_t from, char **bodies, int *lens, uint64_t n)
{
    uint64_t got = 0;
    double t0;

    sqlite3_bind_int64(w->get, 1, (sqlite3_int64)from);
    while (got < n && sqlite3_step(w->get) == SQLITE_ROW) {
        lens[got] = sqlite3_column_bytes(w->get, 1);
        bodies[got] = realloc(bodies[got], (size_t)lens[got]);
        memcpy(bodies[got], sqlite3_column_blob(w->get, 1), (size_t)lens[got]);
        got++;
    }
    sqlite3_reset(w->get);
    if (got != n)
        die("read hale.db", "fewer bodies than appended");
    t0 = now_s();
    if (sqlite3_exec(w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        die("raw begin", sqlite3_errmsg(w->db));
    for (uint64_t i = 0; i < n; i++) {
        sqlite3_bind_int64(w->ins, 1, (sqlite3_int64)(from + i));
        sqlite3_bind_blob(w->ins, 2, bodies[i], lens[i], SQLITE_STATIC);
        if (sqlite3_step(w->ins) != SQLITE_DONE)
            die("raw insert", sqlite3_errmsg(w->db));
        sqlite3_reset(w->ins);
    }
    if (sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        die("raw commit", sqlite3_errmsg(w->db));
    return now_s() - t0;
}

/* One round in a fresh directory: batches alternate between hale and the baseline, so both see
 * the same moments of a shared machine. Fills leaves/s of each and the checkpoints made. */
static void run_round(const char *dir, const char *exe, uint64_t leaves, uint64_t batch,
                      double *ret_hale, double *ret_raw, unsigned *ret_checkpoints)
{
    char path[600];
    hale_store_opts o = {.path = path, .sync = HALE_STORE_SYNC_FULL};
    hale_audit_signer_opts so = {.exe = exe};
    hale_audit_signer *sg = NULL;
    hale_store *s = NULL;
    hale_audit *a = NULL;
    hale_diag d = {{0}};
    json_t **docs = malloc(batch * sizeof(*docs));
    char **bodies = calloc(batch, sizeof(*bodies));
    int *lens = calloc(batch, sizeof(*lens));
    double hale_s = 0, raw_s = 0, t0, last_seal, t;
    unsigned ckpts = 0;
    struct raw w;

    snprintf(path, sizeof(path), "%s/audit", dir);
    if (hale_audit_keys_ensure(dir, "bench.example/append", NULL, NULL, &d) < 0)
        die("keys", d.msg);
    snprintf(path, sizeof(path), "%s/hale.db", dir);
    if (hale_store_open(&o, &s, &d) < 0 || hale_audit_open(s, "bench.example/append", &a, &d) < 0)
        die("open", d.msg);
    if (hale_audit_signer_start(dir, "bench.example/append", &so, &sg, &d) < 0)
        die("signer", d.msg);
    raw_open(&w, dir);
    last_seal = 0;
    for (uint64_t done = 0; done < leaves; done += batch) {
        uint64_t n = leaves - done < batch ? leaves - done : batch;

        /* Each batch's payloads are built outside the timed part, just before it, as a caller
         * builds a payload just before it appends it. */
        for (uint64_t i = 0; i < n; i++)
            docs[i] = payload(done + i);
        t0 = now_s();
        if (hale_store_begin(s) < 0)
            die("begin", hale_store_errmsg(s));
        for (uint64_t i = 0; i < n; i++)
            if (hale_audit_append(a, "decision", docs[i], 0, NULL, &d) < 0)
                die("append", d.msg);
        if (hale_store_commit(s) < 0)
            die("commit", hale_store_errmsg(s));
        /* Checkpoints every second of hale's own time, and one at the end. */
        t = now_s();
        hale_s += t - t0;
        for (uint64_t i = 0; i < n; i++)
            json_decref(docs[i]);
        if (hale_s - last_seal >= 1.0 || done + n >= leaves) {
            seal(a, sg);
            ckpts++;
            hale_s += now_s() - t;
            last_seal = hale_s;
        }
        raw_s += raw_batch(&w, done, bodies, lens, n);
    }
    for (uint64_t i = 0; i < batch; i++)
        free(bodies[i]);
    free(docs);
    free(bodies);
    free(lens);
    raw_close(&w);
    (void)hale_audit_signer_stop(sg, NULL);
    hale_audit_free(a);
    hale_store_free(s);
    *ret_hale = (double)leaves / hale_s;
    *ret_raw = (double)leaves / raw_s;
    *ret_checkpoints = ckpts;
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

        if (!dir)
            die("mkdtemp", "failed");
        run_round(dir, exe, leaves, batch, &hale_rate[r], &raw_rate[r], &ckpts);
        ratio[r] = hale_rate[r] / raw_rate[r];
        printf("round %u: hale %.0f leaves/s (%u checkpoints), raw inserts %.0f rows/s, ratio "
               "%.2f\n",
               r + 1, hale_rate[r], ckpts, raw_rate[r], ratio[r]);
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
