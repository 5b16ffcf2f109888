/* evals/bench_audit_verify.c - how fast the offline verifier checks a big log, and how long an
 * auditor waits for one inclusion proof. Writes a signed log with the real writer (or reuses
 * one), then, in alternating rounds so that the machine's noise hits both alike:
 *   baseline: read every body in seq order from the same file and SHA-256 it as a leaf
 *             (the floor: I/O plus the one hash per leaf the verifier cannot skip);
 *   verify:   hale_audit_verify(), every check of SECURITY.md 1.12.
 * Then builds proofs of random leaves and times their verification: the Merkle check alone
 * and with the checkpoint's Ed25519 signature, as `hale audit verify-inclusion` does it.
 * Usage: bench_audit_verify DIR [LEAVES [ROUNDS]]   (DIR/bench.db is reused when present) */
#include "internal.h"

#include <inttypes.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>

#include "audit_testlog.h"
#include "hale/audit_verify.h"
#include "util/strparse.h"

#define ORIGIN       "bench.example/verify"
#define SEED         424242u
#define N_PROOFS     30
#define PROOF_REPEAT 2000

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void) /* this process, all threads: the measure a loaded machine keeps */
{
    struct timespec t;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The baseline: SELECT body ORDER BY seq and hash each as a leaf. Returns leaves read. */
static uint64_t baseline(const char *path, hale_hash *sink)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    uint64_t n = 0;

    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_prepare_v2(db, "SELECT body FROM audit_leaf ORDER BY seq", -1, &st, NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        hale_hash h;

        hale_merkle_leaf_hash(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), &h);
        sink->b[n % 32] ^= h.b[0];
        n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

int main(int argc, char **argv)
{
    uint64_t leaves = 1000000, rounds = 3;
    char db[4096], pub[4096];
    hale_note_verifier root;
    struct stat st;
    hale_hash sink = {{0}};
    double *tb, *tv, *cb, *cv, t0, c0;
    testlog log = {0};

    if (argc < 2 || (argc > 2 && hale_parse_u64(argv[2], &leaves) < 0) ||
        (argc > 3 && (hale_parse_u64(argv[3], &rounds) < 0 || rounds == 0 || rounds > 100))) {
        fprintf(stderr, "usage: %s DIR [LEAVES [ROUNDS]]\n", argv[0]);
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    snprintf(db, sizeof(db), "%s/bench.db", argv[1]);
    snprintf(pub, sizeof(pub), "%s/bench.pub", argv[1]);
    if (stat(db, &st) == 0) {
        hale_note_signer *s = testlog_signer(ORIGIN, SEED, 0);

        hale_note_verifier_format(hale_note_signer_verifier(s), log.root_vkey,
                                  sizeof(log.root_vkey));
        hale_note_signer_free(s);
        printf("reusing %s\n", db);
    } else {
        testlog_opts o = {.db_path = db,
                          .origin = ORIGIN,
                          .n_leaves = leaves,
                          .batch = 1000,
                          .rotate_every = leaves / 5 + 1,
                          .seed = SEED};

        t0 = now_s();
        if (testlog_build(&o, &log) < 0)
            return 1;
        printf("wrote %" PRIu64 " leaves with the real writer in %.1f s (%.0f leaves/s, a "
               "checkpoint every 1000)\n",
               leaves, now_s() - t0, (double)leaves / (now_s() - t0));
        testlog_release(&log);
        {
            hale_note_signer *s = testlog_signer(ORIGIN, SEED, 0);

            hale_note_verifier_format(hale_note_signer_verifier(s), log.root_vkey,
                                      sizeof(log.root_vkey));
            hale_note_signer_free(s);
        }
    }
    testlog_write_key(pub, log.root_vkey);
    hale_note_verifier_parse(log.root_vkey, &root);
    tb = calloc(rounds, sizeof(*tb));
    tv = calloc(rounds, sizeof(*tv));
    cb = calloc(rounds, sizeof(*cb));
    cv = calloc(rounds, sizeof(*cv));
    for (uint64_t r = 0; r < rounds; r++) {
        hale_audit_verify_opts o = {.root_key = &root, .require_sealed = true};
        hale_audit_verify_report rep;
        uint64_t n;

        t0 = now_s();
        c0 = cpu_s();
        n = baseline(db, &sink);
        tb[r] = (double)n / (now_s() - t0);
        cb[r] = (double)n / (cpu_s() - c0);
        t0 = now_s();
        c0 = cpu_s();
        if (hale_audit_verify(db, &o, &rep) != HALE_AUDIT_VERIFIED) {
            fprintf(stderr, "verify: %s\n", rep.reason);
            return 1;
        }
        tv[r] = (double)rep.n_leaves / (now_s() - t0);
        cv[r] = (double)rep.n_leaves / (cpu_s() - c0);
        printf("round %" PRIu64 ": baseline %.0f leaves/s (%.0f per CPU second), verify %.0f "
               "leaves/s (%.0f per CPU second; %" PRIu64 " leaves, %" PRIu64
               " checkpoints, %" PRIu64 " epochs)\n",
               r + 1, tb[r], cb[r], tv[r], cv[r], rep.n_leaves, rep.n_checkpoints, rep.n_epochs);
        leaves = rep.n_leaves;
        hale_audit_verify_report_release(&rep);
    }
    printf("\nfull verification, median of %" PRIu64 ": %.0f leaves/s (baseline read + SHA-256: "
           "%.0f leaves/s, ratio %.2f)\n",
           rounds, median(tv, rounds), median(tb, rounds), median(tv, rounds) / median(tb, rounds));
    printf("per CPU second (all threads), median: verify %.0f leaves, baseline %.0f leaves\n",
           median(cv, rounds), median(cb, rounds));

    {
        double gen[N_PROOFS], merkle[N_PROOFS], full[N_PROOFS];
        hale_note_verifier keys[8];
        size_t n_keys = 0;

        /* Every epoch key, as an auditor holds them after `hale audit verify --json`. */
        for (unsigned e = 0; e < 6 && n_keys < 8; e++) {
            hale_note_signer *s = testlog_signer(ORIGIN, SEED, e);

            keys[n_keys++] = *hale_note_signer_verifier(s);
            hale_note_signer_free(s);
        }
        for (int i = 0; i < N_PROOFS; i++) {
            uint64_t idx =
                randombytes_uniform((uint32_t)(leaves < UINT32_MAX ? leaves : UINT32_MAX));
            hale_audit_proof p;
            hale_checkpoint cp;
            hale_note_opened op;
            volatile int ok = 0;

            t0 = now_s();
            if (hale_audit_prove_inclusion(db, idx, 0, &p, NULL) < 0)
                return 1;
            gen[i] = (now_s() - t0) * 1e3;
            if (hale_note_open(p.note, strlen(p.note), keys, n_keys, 0, &op, NULL) < 0 ||
                hale_checkpoint_parse(op.text, op.text_len, &cp, NULL) < 0)
                return 1;
            hale_note_opened_release(&op);
            t0 = now_s();
            for (int k = 0; k < PROOF_REPEAT; k++)
                ok += hale_merkle_verify_inclusion(&p.leaf_hash, p.index, p.size, p.hashes,
                                                   p.n_hashes, &cp.root) == 0;
            hale_checkpoint_release(&cp);
            merkle[i] = (now_s() - t0) / PROOF_REPEAT * 1e6;
            t0 = now_s();
            for (int k = 0; k < PROOF_REPEAT / 10; k++) {
                if (hale_note_open(p.note, strlen(p.note), keys, n_keys, 0, &op, NULL) < 0 ||
                    hale_checkpoint_parse(op.text, op.text_len, &cp, NULL) < 0)
                    return 1;
                ok += hale_merkle_verify_inclusion(&p.leaf_hash, p.index, p.size, p.hashes,
                                                   p.n_hashes, &cp.root) == 0;
                hale_checkpoint_release(&cp);
                hale_note_opened_release(&op);
            }
            full[i] = (now_s() - t0) / (PROOF_REPEAT / 10) * 1e6;
            if (ok != PROOF_REPEAT + PROOF_REPEAT / 10) {
                fprintf(stderr, "a proof did not verify\n");
                return 1;
            }
            hale_audit_proof_release(&p);
        }
        printf("inclusion proofs of %d random leaves in %" PRIu64 " (median): verify %.2f us; "
               "with the checkpoint's signature %.1f us; building one from the database %.1f ms\n",
               N_PROOFS, leaves, median(merkle, N_PROOFS), median(full, N_PROOFS),
               median(gen, N_PROOFS));
    }
    free(tb);
    free(tv);
    free(cb);
    free(cv);
    printf("(baseline checksum %02x)\n", sink.b[0]);
    return 0;
}
