/* evals/bench_audit_signer.c - what privilege separation costs a checkpoint signature: the rate
 * of hale_note_sign() in this process (the baseline, same run) against signatures through the
 * signer child, both for a re-signed head (a round trip and a signature, no state write) and
 * for a new head each time (consistency proof checked, head persisted with fdatasync).
 * Usage: bench_audit_signer [DIR [N]]   DIR: where the data directory is made (default $TMPDIR
 * or /tmp: put it on the disk the daemon's data_dir uses, fdatasync dominates); N heads per
 * round (default 1000). Prints the median of 5 rounds of each. The binary runs itself as the
 * signer child (it answers `__audit-signer` as the hale binary does). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <time.h>
#include <unistd.h>

#include "hale/audit_signer.h"
#include "hale/err.h"
#include "hale/note.h"
#include "util/strparse.h"

#define ORIGIN "bench.example/log"
#define ROUNDS 5

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

static double median(double *v)
{
    qsort(v, ROUNDS, sizeof(*v), cmp);
    return v[ROUNDS / 2];
}

/* Heads 1..n of a log: roots and the proof from each head to the next. */
struct heads {
    unsigned n;                                /* heads */
    hale_hash *root;                           /* root[i]: the tree of i + 1 leaves */
    hale_hash (*proof)[HALE_MERKLE_MAX_PROOF]; /* proof[i]: from i to i + 1 leaves (i >= 1) */
    unsigned *n_proof;                         /* hashes in proof[i] */
};

static int heads_make(struct heads *h, hale_hash *leaves, unsigned n)
{
    hale_merkle_frontier f;

    h->n = n;
    h->root = calloc(n, sizeof(*h->root));
    h->proof = calloc(n, sizeof(*h->proof));
    h->n_proof = calloc(n, sizeof(*h->n_proof));
    if (!h->root || !h->proof || !h->n_proof)
        return -ENOMEM;
    hale_merkle_frontier_init(&f);
    for (unsigned i = 0; i < n; i++) {
        char leaf[32];
        int k = 0;

        snprintf(leaf, sizeof(leaf), "leaf %u", i);
        hale_merkle_leaf_hash(leaf, strlen(leaf), &leaves[i]);
        hale_merkle_frontier_append(&f, &leaves[i]);
        hale_merkle_frontier_root(&f, &h->root[i]);
        if (i > 0)
            k = hale_merkle_consistency_proof(leaves, i, i + 1, h->proof[i], HALE_MERKLE_MAX_PROOF);
        if (k < 0)
            return k;
        h->n_proof[i] = (unsigned)k;
    }
    return 0;
}

/* In this process: format and sign heads first .. first + n - 1. */
static double in_process(const hale_note_signer *key, const struct heads *h, unsigned first,
                         unsigned n)
{
    const hale_note_signer *const signers[1] = {key};
    double t0 = now_s();

    for (unsigned i = first; i < first + n; i++) {
        char *text = NULL, *note = NULL;
        size_t len;

        if (hale_checkpoint_format(ORIGIN, i + 1, &h->root[i], NULL, 0, &text, &len) < 0 ||
            hale_note_sign(text, len, signers, 1, &note, NULL) < 0)
            abort();
        free(text);
        free(note);
    }
    return n / (now_s() - t0);
}

static void sign_one(hale_audit_signer *s, const struct heads *h, unsigned i, bool with_proof)
{
    hale_diag d = {{0}};
    char *note = NULL;
    int r = hale_audit_signer_sign(s, i + 1, &h->root[i], with_proof ? h->proof[i] : NULL,
                                   with_proof ? h->n_proof[i] : 0, &note, NULL, &d);

    if (r < 0) {
        fprintf(stderr, "bench_audit_signer: sign %u: %s: %s\n", i + 1, hale_strerror(r), d.msg);
        exit(1);
    }
    free(note);
}

/* Through the child: heads first .. first + n - 1, each extending the one before. */
static double fresh_heads(hale_audit_signer *s, const struct heads *h, unsigned first, unsigned n)
{
    double t0 = now_s();

    for (unsigned i = first; i < first + n; i++)
        sign_one(s, h, i, true);
    return n / (now_s() - t0);
}

/* Through the child: head i again, n times (no proof, no state write). */
static double same_head(hale_audit_signer *s, const struct heads *h, unsigned i, unsigned n)
{
    double t0 = now_s();

    for (unsigned k = 0; k < n; k++)
        sign_one(s, h, i, false);
    return n / (now_s() - t0);
}

static int run(const char *parent, unsigned n)
{
    double base[ROUNDS], same[ROUNDS], fresh[ROUNDS];
    char dir[4096], key_path[4200];
    unsigned total = n * ROUNDS + 1;
    hale_audit_signer *s = NULL;
    hale_note_signer *key = NULL;
    hale_hash *leaves = calloc(total, sizeof(*leaves));
    hale_diag d = {{0}};
    struct heads h;
    int r;

    snprintf(dir, sizeof(dir), "%s/hale-bench-signer-XXXXXX", parent);
    if (!leaves || !mkdtemp(dir) || heads_make(&h, leaves, total) < 0) {
        perror("bench_audit_signer");
        return 1;
    }
    snprintf(key_path, sizeof(key_path), "%s/audit.key", dir);
    r = hale_audit_keys_ensure(dir, ORIGIN, NULL, NULL, &d);
    if (r == 0)
        r = hale_audit_key_load(key_path, &key, &d);
    if (r == 0)
        r = hale_audit_signer_start(dir, ORIGIN, NULL, &s, &d);
    if (r < 0) {
        fprintf(stderr, "bench_audit_signer: %s: %s\n", hale_strerror(r), d.msg);
        return 1;
    }
    sign_one(s, &h, 0, false); /* the first head takes no proof */
    for (unsigned k = 0; k < ROUNDS; k++) {
        base[k] = in_process(key, &h, 1 + k * n, n);
        fresh[k] = fresh_heads(s, &h, 1 + k * n, n);
        same[k] = same_head(s, &h, (k + 1) * n, n);
    }
    printf("audit signer, %u signatures per round, median of %d rounds, data dir %s\n", n, ROUNDS,
           dir);
    printf("  in-process hale_note_sign (baseline)      %10.0f sig/s\n", median(base));
    printf("  signer, same head again (round trip)      %10.0f sig/s  (%.2f of baseline)\n",
           median(same), median(same) / median(base));
    printf("  signer, new head (proof + fdatasync)      %10.0f sig/s  (%.2f of baseline)\n",
           median(fresh), median(fresh) / median(base));
    hale_note_signer_free(key);
    r = hale_audit_signer_stop(s, &d);
    if (r < 0)
        fprintf(stderr, "bench_audit_signer: stop: %s\n", d.msg);
    free(leaves);
    free(h.root);
    free(h.proof);
    free(h.n_proof);
    snprintf(key_path, sizeof(key_path), "%s/audit.key", dir);
    (void)unlink(key_path);
    snprintf(key_path, sizeof(key_path), "%s/audit.pub", dir);
    (void)unlink(key_path);
    snprintf(key_path, sizeof(key_path), "%s/audit.signer", dir);
    (void)unlink(key_path);
    (void)rmdir(dir);
    return r < 0;
}

int main(int argc, char **argv)
{
    const char *parent = getenv("TMPDIR");
    uint32_t n = 1000;

    if (sodium_init() < 0)
        return 1;
    if (argc > 1 && strcmp(argv[1], HALE_AUDIT_SIGNER_COMMAND) == 0)
        return hale_audit_signer_main(argc - 1, argv + 1);
    if (argc > 1)
        parent = argv[1];
    if (argc > 2 && (hale_parse_u32(argv[2], &n) < 0 || n < 10)) {
        fprintf(stderr, "usage: %s [DIR [N >= 10]]\n", argv[0]);
        return 2;
    }
    return run(parent ? parent : "/tmp", n);
}
