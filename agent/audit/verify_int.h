/* agent/audit/verify_int.h - parts of the offline verifier (include/hale/audit_verify.h) shared
 * by verify.c, verify_body.c, verify_anchor.c and verify_proof.c; no other module includes
 * this. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/diag.h"
#include "hale/merkle.h"
#include "hale/note.h"

/* ---- leaf bodies (verify_body.c) ---- */

/* Top-level members of a leaf body the verifier reads. Everything else is skipped unread. */
enum hale__audit_field {
    HALE__AF_V,
    HALE__AF_LOG,
    HALE__AF_SEQ,
    HALE__AF_TS,
    HALE__AF_KIND,
    HALE__AF_DECISION_ID,
    HALE__AF_INTENT_ID,
    HALE__AF_OUTCOME,
    HALE__AF_REQUIRES_APPROVAL,
    HALE__AF_EPOCH,
    HALE__AF_KEY,
    HALE__AF_PREV_KEY_ID,
    HALE__AF_COUNT
};

enum hale__audit_tok_type {
    HALE__TOK_NONE = 0, /* the member is absent */
    HALE__TOK_STRING,   /* p/len: the bytes between the quotes, escapes not decoded */
    HALE__TOK_INT,      /* p/len: an integer literal (-?digits) */
    HALE__TOK_TRUE,
    HALE__TOK_FALSE,
    HALE__TOK_OTHER, /* null, a real, an object or an array */
};

/* One member value as it appears in the body. */
typedef struct hale__audit_tok {
    enum hale__audit_tok_type type; /* what kind of value */
    const char *p;                  /* its text inside the body (borrowed) */
    size_t len;                     /* bytes at p */
} hale__audit_tok;

/* Scan the top level of a body of len bytes: it must be one JSON object (whitespace around it
 * allowed) whose nested values are skipped with string and bracket awareness but not parsed.
 * Fills out[] for the members of enum hale__audit_field (absent: HALE__TOK_NONE). Returns 0, or
 * HALE_EPARSE with why saying what is wrong (not an object, a truncated value, a duplicate or
 * escaped top-level key, nesting above HALE_MAX_JSON_DEPTH). Never reads outside body. */
int hale__audit_body_scan(const char *body, size_t len, hale__audit_tok out[HALE__AF_COUNT],
                          hale_diag *why);

/* Decode a string token into out (cap bytes, NUL-terminated), resolving JSON escapes and
 * surrogate pairs to UTF-8. Returns the length, or HALE_EPARSE (not a string, bad escape, a
 * decoded NUL) or HALE_ELIMIT (does not fit). */
int hale__audit_tok_string(const hale__audit_tok *t, char *out, size_t cap);

/* The value of an integer token. Returns 0, or HALE_EPARSE (not an integer, leading zeros,
 * out of int64 range). */
int hale__audit_tok_int(const hale__audit_tok *t, int64_t *ret);

/* ---- anchors (verify_anchor.c) ---- */

/* One anchored checkpoint: a signed note from an anchor file. */
typedef struct hale__audit_anchor {
    char *note;       /* owned: the whole note, text and signature lines */
    size_t note_len;  /* bytes in note */
    uint64_t size;    /* the tree size the note states */
    hale_hash root;   /* the root it states */
    const char *path; /* the anchor file (borrowed from the options) */
    unsigned record;  /* 1-based record number in that file */
} hale__audit_anchor;

/* Read every record of the n_paths anchor files, check that each is a checkpoint of origin
 * (signatures are checked later, against the key of the epoch), and return them sorted by
 * size in *ret (free with hale__audit_anchors_free). A last record that lacks its closing blank
 * line and does not parse is an append cut short: it is skipped and *ret_torn counts it.
 * Returns 0,
 * -errno (file), HALE_EPARSE (a record is not a checkpoint note, or is of another log),
 * HALE_ELIMIT, -ENOMEM; why names file and record. */
int hale__audit_anchors_load(const char *const *paths, size_t n_paths, const char *origin,
                             hale__audit_anchor **ret, size_t *ret_n, unsigned *ret_torn,
                             hale_diag *why);
void hale__audit_anchors_free(hale__audit_anchor *a, size_t n);

/* ---- proof paths (verify_proof.c) ---- */

/* The root of the leaves [begin, end) of the log (end - begin >= 1). Returns 0 or negative. */
typedef int (*hale__audit_range_fn)(void *ud, uint64_t begin, uint64_t end, hale_hash *ret);

/* RFC 9162 2.1.3.1 PATH(index, D[size]) and 2.1.4.1 PROOF(size1, D[size2]) built from subtree
 * roots that range() supplies (at most 2 log2(size) calls), bottom-up into ret (cap hashes).
 * Return the number of hashes, -EINVAL for sizes the RFC excludes, -ENOBUFS, or range's error. */
int hale__audit_inclusion_path(uint64_t index, uint64_t size, hale__audit_range_fn range, void *ud,
                               hale_hash *ret, size_t cap);
int hale__audit_consistency_path(uint64_t size1, uint64_t size2, hale__audit_range_fn range,
                                 void *ud, hale_hash *ret, size_t cap);

/* ---- the verification pass (verify.c, verify_check.c) ---- */

struct sqlite3;
struct sqlite3_stmt;
struct hale_map;
struct hale_audit_verify_opts;
struct hale_audit_verify_report;

/* A checkpoint row, copied out of the statement. */
typedef struct hale__audit_cp {
    uint64_t size;     /* size column */
    uint8_t *root;     /* owned copy of the root column, root_len bytes */
    size_t root_len;   /* bytes in root */
    char *note;        /* owned copy of the note column, NUL-terminated */
    size_t note_len;   /* bytes in note */
    uint8_t *frontier; /* owned copy of the frontier column */
    size_t frontier_len;
} hale__audit_cp;

/* State of one hale_audit_verify() pass. */
typedef struct hale__vctx {
    const struct hale_audit_verify_opts *opts; /* borrowed */
    struct hale_audit_verify_report *rep;      /* filled as the pass goes */
    struct sqlite3 *db;                        /* read-only connection */
    struct sqlite3_stmt *leaves;               /* seq, body, leaf_hash in seq order */
    struct sqlite3_stmt *cps;                  /* checkpoints in size order */
    bool cp_have;                              /* cp holds the next unprocessed checkpoint */
    bool cp_done;                              /* the checkpoint statement is exhausted */
    hale__audit_cp cp;                         /* the next checkpoint */
    int64_t prev_cp_size;                      /* size of the last checkpoint read, -1: none */
    hale__audit_anchor *anchors;               /* sorted by size */
    size_t n_anchors;                          /* entries in anchors */
    size_t next_anchor;                        /* first anchor not yet checked */
    hale_merkle_frontier f;                    /* the tree of the leaves read so far */
    hale_note_verifier key;                    /* the key of the current epoch */
    bool rot_pending;                          /* a key_rotation leaf awaits its seal */
    uint64_t rot_seq;                          /* its seq */
    hale_note_verifier rot_key;                /* the key it introduces */
    bool rot_sealed;                           /* the checkpoint of size rot_seq + 1 verified */
    bool rot_unsealed_tail;                    /* a rotation was taken without its seal */
    bool have_ts;                              /* last_ts is set */
    int64_t last_ts;                           /* ts of the previous leaf */
    struct hale_map *decisions;                /* decision_id -> struct decision */
    struct hale_map *intents;                  /* intent_id -> struct intent (open ones) */
    bool done;                                 /* a verdict is final: stop reading */
} hale__vctx;

/* Record a finding (the first one wins) and return its verdict. bad_seq / bad_cp -1: none. */
int hale__vfail(hale__vctx *c, int verdict, unsigned check, int64_t bad_seq, int64_t bad_cp,
                const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;
void hale__vwarn(hale__vctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* A finding from an SQLite result code: corruption is tamper evidence, the rest I/O. */
int hale__vdb_fail(hale__vctx *c, int rc, const char *what);

/* Everything due when the tree reaches c->f.size leaves: checkpoints, anchors, rotation. */
int hale__vat_size(hale__vctx *c);
/* Read, hash (on a second thread) and check every leaf of the statement st in order. */
int hale__vleaves_run(hale__vctx *c, struct sqlite3_stmt *st);
/* Check 2, 5, 7 for the checkpoint c->cp, whose size equals the leaves read so far. */
int hale__vcheck_checkpoint(hale__vctx *c);
/* Check 8 for anchors of the current size; after the last leaf, for those beyond it. */
int hale__vcheck_anchors_here(hale__vctx *c);
int hale__vcheck_anchors_beyond(hale__vctx *c);
/* Checks 4, 7 and 9 for the leaf at seq (c->f.size) with body scanned into t. */
int hale__vcheck_leaf(hale__vctx *c, uint64_t seq, const hale__audit_tok *t);
/* Check 7 once the leaves up to c->f.size are read and its checkpoints checked. */
int hale__vcheck_rotation_seal(hale__vctx *c);
/* Check 9 after the last leaf: intents still open. */
int hale__vcheck_open_intents(hale__vctx *c);
void hale__vsemantic_free(hale__vctx *c);
