/* include/hale/audit_query.h - read the audit log the way an auditor asks for it: filtered and
 * paged queries over audit_leaf, the latest signed checkpoint, one leaf with the checkpoint
 * that covers it, and evidence bundles (an incident's leaves with inclusion proofs, a signed
 * checkpoint and the key chain) that hale_audit_bundle_verify() checks with no database.
 *
 * Queries read only: they run on any connection to a migrated store, the read-only ones the
 * CLI and the API use included. Filters use side tables that hale_audit_index_catchup() fills
 * from the bodies when the daemon is idle, never the append: the filter attributes with an
 * index each (audit_leaf_attr: kind, incident_id, actor, tool, outcome, with seq; migration
 * 9), a trigram full-text index of the bodies (audit_fts) and the time range of every block of
 * HALE_AUDIT_TS_BLOCK leaves (audit_ts_block; migration 4). Leaves that catch-up has not
 * reached yet are scanned, and every match is confirmed against its body, so results never
 * depend on it: it only makes filters fast.
 *
 * Library code: nothing here logs. Threading: a function uses the connection of the store it
 * is given and nothing else; call it from the thread that owns that store. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/diag.h"
#include "hale/fwd.h"
#include "hale/merkle.h"

#define HALE_AUDIT_QUERY_DEFAULT_LIMIT 100u    /* rows of a query that gives no limit */
#define HALE_AUDIT_QUERY_MAX_LIMIT     10000u  /* most rows of one query (one page) */
#define HALE_AUDIT_QUERY_MAX_TEXT      256u    /* bytes of a --text search string */
#define HALE_AUDIT_QUERY_MAX_VALUE     256u    /* bytes of a kind, actor, tool or outcome */
#define HALE_AUDIT_TS_BLOCK            1024u   /* leaves per audit_ts_block row */
#define HALE_AUDIT_BUNDLE_MAX_LEAVES   100000u /* leaves of one incident in one bundle */
#define HALE_AUDIT_BUNDLE_MAX_BYTES    (512u * 1024u * 1024u) /* a bundle file */
#define HALE_AUDIT_BUNDLE_FORMAT       "hale-audit-bundle/1"  /* the bundle's "format" */

/* What to select. Zero-initialize, then set what filters: every member that is 0 or NULL
 * selects everything. Strings are borrowed for the call. */
typedef struct hale_audit_filter {
    int64_t since_ns;    /* ts_ns >= since_ns; 0: no lower bound */
    int64_t until_ns;    /* ts_ns < until_ns; 0: no upper bound */
    int64_t incident_id; /* > 0: only leaves of that incident; 0: any */
    const char *kind;    /* exact kind, or NULL */
    const char *actor;   /* exact actor, or NULL */
    const char *tool;    /* exact tool, or NULL */
    const char *outcome; /* exact outcome, or NULL */
    const char *text;    /* case-insensitive substring of the stored body, or NULL */
    uint32_t limit;      /* rows to return, 1..HALE_AUDIT_QUERY_MAX_LIMIT; 0: the default */
    bool has_cursor;     /* continue after cursor_seq (a previous page's next cursor) */
    uint64_t cursor_seq; /* newest first: only seq < cursor; oldest first: seq > cursor */
    bool oldest_first;   /* ascending seq instead of newest (highest seq) first */
} hale_audit_filter;

/* One leaf as stored. Borrowed: pointers die when the callback returns. */
typedef struct hale_audit_row {
    uint64_t seq;        /* position in the log */
    int64_t ts_ns;       /* unix nanoseconds */
    const char *kind;    /* the leaf's kind */
    int64_t incident_id; /* 0 when the leaf names none */
    const char *actor;   /* NULL when the leaf names none */
    const char *tool;    /* NULL when the leaf names none */
    const char *outcome; /* NULL when the leaf names none */
    const char *body;    /* the exact stored bytes (canonical JSON, ASCII), NUL-terminated */
    size_t body_len;     /* bytes in body */
    hale_hash leaf_hash; /* as stored (hale_audit_row_check recomputes it) */
} hale_audit_row;

/* Called once per row, in the requested order. Return 0 to go on; anything else stops the
 * query, which then returns that value. */
typedef int (*hale_audit_row_cb)(const hale_audit_row *row, void *ud);

/* Parse a time for since/until: RFC 3339 ("2026-11-22T13:08:22Z", "...+01:00") or a
 * duration before now_ns: a whole number and one unit of s, m, h, d or w ("30m", "24h",
 * "7d"), or hale_parse_ms's compound forms ("1h30m"). Returns 0 and *ret_ns (unix ns), or
 * -EINVAL (with "expected RFC 3339 or a duration like 24h, got '...'" in reterr) or -ERANGE. */
int hale_audit_time_parse(const char *text, int64_t now_ns, int64_t *ret_ns, hale_diag *reterr);

/* Check f without running it: lengths, limit, since < until. Returns 0 or -EINVAL with
 * "field: what was wrong" in reterr. hale_audit_query() runs the same checks. */
int hale_audit_filter_check(const hale_audit_filter *f, hale_diag *reterr);

/* Run f on s's connection and call cb for each of at most f->limit rows. When the page is
 * full (more rows may follow), *ret_next (may be NULL) gets the cursor of the next page (the
 * last row's seq) and *ret_more true; otherwise *ret_more false. Returns the number of rows
 * (>= 0), cb's nonzero value, -EINVAL (bad filter; reterr says why), HALE_ESCHEMA (the
 * store has no audit tables: schema older than migration 2), HALE_ESTORE or -ENOMEM. */
int hale_audit_query(hale_store *s, const hale_audit_filter *f, hale_audit_row_cb cb, void *ud,
                     uint64_t *ret_next, bool *ret_more, hale_diag *reterr);

/* The same, as the JSON the API serves: {"leaves": [row objects], "next_cursor": N or null}.
 * A row object: seq, ts (RFC 3339 with nanoseconds), ts_ns, kind, incident_id, actor, tool,
 * outcome (null when absent), leaf_hash (hex) and body (the parsed body object). *ret is a new
 * reference owned by the caller. Errors as hale_audit_query(). */
int hale_audit_query_json(hale_store *s, const hale_audit_filter *f, json_t **ret,
                          hale_diag *reterr);

/* One row as the JSON object above (new reference), or NULL when out of memory. */
json_t *hale_audit_row_json(const hale_audit_row *row);

/* Format unix nanoseconds as RFC 3339 UTC with 9 fraction digits
 * ("2026-11-22T13:08:22.079000000Z") into out (at least 40 bytes). Returns out. */
char *hale_audit_time_format(int64_t ts_ns, char *out, size_t out_size);

/* Recompute row's leaf hash from its body: true when it equals the stored one. */
bool hale_audit_row_check(const hale_audit_row *row);

/* Call cb for the leaf at seq. Returns 0 (or cb's value), HALE_ENOTFOUND, HALE_ESTORE. */
int hale_audit_leaf_get(hale_store *s, uint64_t seq, hale_audit_row_cb cb, void *ud);

/* A stored checkpoint. Owned strings; release with hale_audit_ckpt_release. */
typedef struct hale_audit_ckpt {
    uint64_t size;     /* leaves it covers */
    hale_hash root;    /* the root as stored */
    char *note;        /* the signed note exactly as stored, NUL-terminated */
    size_t note_len;   /* bytes in note */
    int64_t signed_ns; /* when it was signed, unix ns */
} hale_audit_ckpt;

void hale_audit_ckpt_release(hale_audit_ckpt *c); /* frees note; NULL is a no-op */

/* The newest checkpoint (covering > min_seq when covering is true: the smallest checkpoint
 * whose size is above min_seq, i.e. the first that seals leaf min_seq). Returns 0 and fills
 * *ret, HALE_ENOTFOUND (none), HALE_ESTORE or -ENOMEM. */
int hale_audit_ckpt_latest(hale_store *s, hale_audit_ckpt *ret);
int hale_audit_ckpt_covering(hale_store *s, uint64_t seq, hale_audit_ckpt *ret);

/* Bring the side indexes of migrations 4 and 9 forward by at most max_leaves leaves in one write
 * transaction of its own on s (writable, no transaction open: HALE_ESTATE otherwise). Only
 * committed leaves are visible to it, and it never touches audit_leaf, so it never delays or
 * changes an append; it only competes for the write lock like any short transaction. Returns
 * the number of leaves indexed (0: up to date), HALE_ESCHEMA (no migration 9), HALE_ESTORE or
 * -ENOMEM. The daemon calls it when idle (docs/audit-query.md, "Indexing"). */
int hale_audit_index_catchup(hale_store *s, unsigned max_leaves);

/* Leaves indexed so far (catch-up's position) and leaves in the log. */
int hale_audit_index_state(hale_store *s, uint64_t *ret_indexed, uint64_t *ret_leaves);

/* ---- evidence bundles (docs/audit-query.md, "Evidence bundles") ---- */

/* Write the evidence bundle of incident_id as JSON (a new reference in *ret): its leaves with
 * their exact bytes and inclusion proofs against the newest checkpoint, that checkpoint's
 * note, root_vkey (the root key text, audit.pub; may be NULL, then the bundle carries none
 * and the verifier's pinned key is the only root) and every key_rotation leaf below the
 * checkpoint with its own proof. Proofs are computed from stored checkpoint frontiers and the
 * leaf hashes of the ranges between them, never from the whole log, and each is checked
 * against the checkpoint root before it is written. Returns 0, HALE_ENOTFOUND (no leaf names
 * the incident), HALE_ESTATE (no checkpoint covers the incident's newest leaf yet: retry once
 * it is sealed), HALE_ELIMIT (more than HALE_AUDIT_BUNDLE_MAX_LEAVES leaves), HALE_EPROOF (the
 * stored log does not agree with its own checkpoint: run `hale audit verify`), HALE_ESTORE or
 * -ENOMEM; reterr says which leaf. */
int hale_audit_bundle_export(hale_store *s, int64_t incident_id, const char *root_vkey,
                             json_t **ret, hale_diag *reterr);

/* What hale_audit_bundle_verify() found. */
typedef struct hale_audit_bundle_info {
    int64_t incident_id;      /* the incident the bundle speaks of */
    uint64_t checkpoint_size; /* size of the checkpoint every proof ends at */
    size_t n_leaves;          /* incident leaves verified */
    size_t n_rotations;       /* key_rotation leaves verified */
    unsigned epoch;           /* key epoch of the checkpoint */
} hale_audit_bundle_info;

/* Verify a bundle of len bytes against pinned_vkey (the root public key text, epoch 0) with no
 * database: every leaf's bytes, envelope and incident, every inclusion proof against the
 * checkpoint root, the key chain from the pinned key through the rotation leaves, and the
 * checkpoint's signature by the key of its epoch. Returns 0 (and *ret_info, may be NULL),
 * HALE_EPROOF for anything that fails (tamper evidence; reterr names the first failure, with
 * the seq where there is one), or -EINVAL when pinned_vkey is not a key text, or -ENOMEM. */
int hale_audit_bundle_verify(const char *bundle, size_t len, const char *pinned_vkey,
                             hale_audit_bundle_info *ret_info, hale_diag *reterr);
