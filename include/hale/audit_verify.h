/* include/hale/audit_verify.h - the offline verifier of the audit log (SECURITY.md 1.12) and the
 * proofs an auditor checks without the database (RFC 9162 2.1.3 and 2.1.4).
 *
 * hale_audit_verify() opens a copy or the live database file READ-ONLY (it never writes, so it
 * is safe while `hale run` appends) and recomputes everything from the stored leaf bytes: no
 * stored hash is trusted. One pass over the leaves in seq order streams a Merkle frontier, so
 * time is O(n) and memory O(log n) for the tree (plus one entry per decision and per open
 * execution intent for the semantic checks). The database may be hostile: missing tables, wrong
 * column types, NULLs, huge values, bodies that are not JSON and corrupt pages all end in a
 * report, never a crash.
 *
 * Pure library code: no logging, no sodium_init() (main calls it). Safe from any thread on
 * distinct reports; nothing here calls back. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/diag.h"
#include "hale/merkle.h"
#include "hale/note.h"

/* Verdicts, which are also the exit codes of `hale audit verify`. */
typedef enum hale_audit_verdict {
    HALE_AUDIT_VERIFIED = 0,   /* every check passed */
    HALE_AUDIT_TAMPERED = 1,   /* tamper evidence: bad_seq / bad_checkpoint and reason say where */
    HALE_AUDIT_INCOMPLETE = 2, /* nothing contradicts the log, but part of it is not proven */
    HALE_AUDIT_UNUSABLE = 3,   /* usage or I/O error: the log could not be judged */
} hale_audit_verdict;

#define HALE_AUDIT_VERIFY_MAX_ANCHOR_FILES 64u                   /* --anchor options */
#define HALE_AUDIT_VERIFY_MAX_ANCHORS      100000u               /* records in all anchor files */
#define HALE_AUDIT_VERIFY_MAX_ANCHOR_BYTES (64u * 1024u * 1024u) /* one anchor file */
#define HALE_AUDIT_VERIFY_MAX_WARNINGS     8u                    /* warnings kept as text */
#define HALE_AUDIT_VERIFY_MAX_BODY_BYTES   (1u * 1024u * 1024u)  /* a longer body is tampering */

/* What to verify against. The pinned root key is the only trust anchor that is required. */
typedef struct hale_audit_verify_opts {
    const hale_note_verifier *root_key; /* epoch 0 key (audit.pub), obtained out of band */
    const char *origin;                 /* expected origin; NULL trusts the database's */
    const char *const *anchor_paths;    /* anchor files (AUDIT_SPEC format); NULL when none */
    size_t n_anchor_paths;              /* entries in anchor_paths */
    bool require_sealed;                /* trailing leaves without a checkpoint: INCOMPLETE */
} hale_audit_verify_opts;

/* The outcome of one verification. Release with hale_audit_verify_report_release(). */
typedef struct hale_audit_verify_report {
    hale_audit_verdict verdict; /* also the return value of hale_audit_verify() */
    unsigned check;             /* SECURITY.md 1.12 check that decided a non-zero verdict */
    int64_t bad_seq;            /* first leaf at fault, -1 when the finding names no leaf */
    int64_t bad_checkpoint;     /* size of the checkpoint or anchor at fault, -1 when none */
    char reason[512];           /* why the verdict is not 0; "" when verified */
    char origin[256];           /* the log's origin as found ("" when none) */
    uint64_t n_leaves;          /* leaves read (up to the first fault) */
    uint64_t n_checkpoints;     /* checkpoints verified */
    uint64_t n_epochs;          /* signing epochs (1 + key rotations) */
    uint64_t sealed_size;       /* size of the last verified checkpoint */
    hale_hash sealed_root;      /* its root */
    uint64_t n_unsealed;        /* trailing leaves no checkpoint covers */
    uint64_t n_anchors;         /* anchored checkpoints checked */
    uint64_t n_open_intents;    /* exec_intent leaves without a result */
    uint64_t n_ts_backwards;    /* leaves whose ts is below the previous leaf's */
    uint64_t n_warnings;        /* warnings in all (at most MAX_WARNINGS kept below) */
    char warnings[HALE_AUDIT_VERIFY_MAX_WARNINGS][192]; /* the first warnings, as text */
    hale_note_verifier *keys; /* owned: the key of every epoch, epoch 0 first */
    size_t n_keys;            /* entries in keys */
} hale_audit_verify_report;

/* Verify the audit log in the SQLite file db_path (SECURITY.md 1.12 checks 1 to 9, as
 * docs/audit.md describes them) against opts. Always fills *ret (release it afterwards, also
 * on failure) and returns ret->verdict, never a negative value: out of memory and unreadable
 * files are HALE_AUDIT_UNUSABLE with a reason. Reading stops at the first tamper evidence. */
hale_audit_verdict hale_audit_verify(const char *db_path, const hale_audit_verify_opts *opts,
                                     hale_audit_verify_report *ret);

void hale_audit_verify_report_release(hale_audit_verify_report *r); /* NULL is a no-op */

/* Read a key file: one or more verifier key texts (hale_note_verifier_format), one per line;
 * blank lines and lines starting with '#' are skipped. On success *ret (malloc'd, caller frees)
 * holds *ret_n >= 1 keys. Returns 0, -errno (file), HALE_EPARSE (a line is not a key; reterr
 * names it), HALE_ELIMIT (more than HALE_NOTE_MAX_KNOWN keys or a file above 1 MiB), -ENOMEM. */
int hale_audit_keys_load(const char *path, hale_note_verifier **ret, size_t *ret_n,
                         hale_diag *reterr);

/* ---- proofs ---- */

/* An inclusion proof (index < size) or a consistency proof (size1 = index, size2 = size). */
typedef struct hale_audit_proof {
    bool consistency;                        /* false: inclusion; true: consistency */
    uint64_t index;                          /* inclusion: the leaf; consistency: size1 */
    uint64_t size;                           /* the tree size the proof is for (size2) */
    hale_hash leaf_hash;                     /* inclusion: the leaf's hash */
    size_t n_hashes;                         /* entries in hashes */
    hale_hash hashes[HALE_MERKLE_MAX_PROOF]; /* RFC 9162 order, bottom-up */
    char *note;                              /* owned: the signed checkpoint of size; or NULL */
    char *note1;                             /* owned: consistency, the checkpoint of size1 */
} hale_audit_proof;

/* The inclusion proof of leaf `index` in the tree of the stored checkpoint of `size` leaves (0:
 * the newest checkpoint), read from db_path read-only. The leaf hash is recomputed from the
 * stored body; subtree hashes come from stored checkpoint frontiers where one holds the
 * subtree and otherwise from streaming the leaf hashes of that range, so memory stays O(log n).
 * The proof is checked against the checkpoint's signed root before it is returned (a database
 * that disagrees with itself fails with HALE_EPROOF). Returns 0 (*ret filled; release it),
 * HALE_ENOTFOUND (no such leaf or checkpoint), HALE_EPROOF, HALE_ESTORE (unreadable or corrupt
 * database), -ENOMEM; reterr says what. */
int hale_audit_prove_inclusion(const char *db_path, uint64_t index, uint64_t size,
                               hale_audit_proof *ret, hale_diag *reterr);

/* The consistency proof from the stored checkpoint of size1 to the one of size2 (0 < size1 <=
 * size2; size2 0: the newest), with both notes. Errors as hale_audit_prove_inclusion(). */
int hale_audit_prove_consistency(const char *db_path, uint64_t size1, uint64_t size2,
                                 hale_audit_proof *ret, hale_diag *reterr);

void hale_audit_proof_release(hale_audit_proof *p); /* frees the notes; NULL is a no-op */

/* The proof file format (docs/audit.md), one JSON object:
 *   {"type": "inclusion", "index": I, "size": N, "leaf_hash": B64, "hashes": [B64...],
 *    "checkpoint": NOTE}
 *   {"type": "consistency", "size1": M, "size2": N, "hashes": [B64...],
 *    "checkpoint1": NOTE, "checkpoint2": NOTE}
 * B64 is standard base64 of 32 bytes; the checkpoints are optional when parsing. _format
 * returns 0 and a malloc'd NUL-terminated text in *ret (caller frees) or -ENOMEM. _parse
 * returns 0 (*ret filled; release it), or HALE_EPARSE / HALE_ESCHEMA / HALE_ELIMIT (more than
 * HALE_MERKLE_MAX_PROOF hashes) with reterr naming the member, or -ENOMEM. */
int hale_audit_proof_format(const hale_audit_proof *p, char **ret);
int hale_audit_proof_parse(const char *text, size_t len, hale_audit_proof *ret, hale_diag *reterr);
