/* tests/audit_testlog.h - build signed audit logs for the verifier's tests and benchmarks with
 * the real writer (hale_audit_open/append/store_checkpoint) and note signer: a realistic mix of
 * alerts, decisions, approvals, executions and their results, checkpoints after every batch
 * and key rotations sealed by the old key, exactly as AUDIT_SPEC.md lays them out. Keys come
 * from seeds derived from one number, so a test can re-sign history like an attacker holding a
 * stolen key would. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "hale/note.h"

#define TESTLOG_MAX_EPOCHS 64u

typedef struct testlog_opts {
    const char *db_path;   /* created (the directory must exist) */
    const char *origin;    /* the log's origin and key name */
    uint64_t n_leaves;     /* leaves to write, key rotations included */
    uint64_t batch;        /* leaves per commit, each followed by a checkpoint (>= 1) */
    uint64_t rotate_every; /* leaves between key rotations; 0: never */
    bool leave_unsealed;   /* no checkpoint after the last batch */
    uint32_t seed;         /* keys and payload variety */
    /* Called after each stored checkpoint (may be NULL), e.g. to take a backup. */
    void (*on_checkpoint)(void *ud, uint64_t size);
    void *ud; /* passed to on_checkpoint */
} testlog_opts;

typedef struct testlog {
    unsigned n_epochs;                             /* keys used: 1 + rotations */
    hale_note_signer *signers[TESTLOG_MAX_EPOCHS]; /* the key of each epoch */
    uint64_t epoch_start[TESTLOG_MAX_EPOCHS];      /* first checkpoint size of each epoch */
    char root_vkey[HALE_NOTE_VKEY_MAX_BYTES];      /* epoch 0's verifier key text */
} testlog;

/* Write the log. Returns 0 or a negative error (printed to stderr). Release with
 * testlog_release. */
int testlog_build(const testlog_opts *o, testlog *ret);
void testlog_release(testlog *t);

/* The signer for a seed number (the same derivation testlog_build uses), caller frees. */
hale_note_signer *testlog_signer(const char *origin, uint32_t seed, unsigned epoch);

/* Write vkey text plus "\n" to path. Returns 0 or -errno. */
int testlog_write_key(const char *path, const char *vkey);

/* Sign a checkpoint (origin, size, root) with s: a malloc'd note, NULL on failure. */
char *testlog_sign(const hale_note_signer *s, const char *origin, uint64_t size,
                   const hale_hash *root);
