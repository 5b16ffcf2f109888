/* include/hale/audit.h - the writer of the signed, tamper-evident decision log (SECURITY.md 1).
 *
 * Every decision-relevant step is one leaf: a canonical JSON document written once, hashed as
 * an RFC 6962 leaf into one global Merkle tree whose compact range ("frontier") is stored in
 * the same SQLite transaction as the leaf. hale_audit_append() is the only way any module
 * writes to the log. Signed checkpoints, keys and verification live in the other audit
 * headers; this one only appends and reports the head.
 *
 * Tables (store migration 2; append-only triggers on audit_leaf and audit_checkpoint):
 *   audit_leaf(seq PK, ts_ns, kind, incident_id, actor, tool, outcome, body BLOB, leaf_hash)
 *   audit_frontier(id = 1, size, frontier BLOB)   the compact range after the last commit
 *   audit_checkpoint(size PK, root, note, signed_ns, frontier)   signed heads
 *   audit_meta(name PK, value)                    "origin": the log's origin string
 *
 * Leaf body: the payload object's members plus the envelope
 *   {"v": 1, "log": origin, "seq": N, "ts": unix nanoseconds, "kind": kind}
 * serialized once by jansson with JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII. No
 * floats anywhere (confidences are integer basis points). The stored bytes are the hashed
 * bytes: nothing re-serializes them.
 *
 * Indexed payload members (so auditors can filter without parsing bodies): "incident_id"
 * (integer), "actor", "tool" and "outcome" (strings). A member of that name with another type
 * is an error.
 *
 * Threading: a hale_audit is bound to one writable store connection and is used from one
 * thread at a time, the one that owns that connection (the loop's commit job). */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hale/diag.h"
#include "hale/fwd.h"
#include "hale/merkle.h"
#include "hale/note.h"

#define HALE_AUDIT_VERSION          1                   /* the envelope's "v" */
#define HALE_AUDIT_MAX_LEAF_BYTES   (256u * 1024u)      /* one leaf body, serialized */
#define HALE_AUDIT_MAX_KIND_BYTES   64u                 /* [a-z0-9_]+ */
#define HALE_AUDIT_MAX_ORIGIN       255u                /* bytes of the origin (a note key name) */
#define HALE_AUDIT_KEY_FILE         "audit.key"         /* in data_dir: the current secret key */
#define HALE_AUDIT_PUB_FILE         "audit.pub"         /* in data_dir: the root (epoch 0) key */
#define HALE_AUDIT_SIGNER_STATE     "audit.signer"      /* in data_dir: the signer's last head */
#define HALE_AUDIT_MAX_PROOF_LEAVES (UINT64_C(4) << 20) /* leaves one proof reads: 128 MiB */

/* Leaf kinds written by hale. Other modules may add kinds; these names are part of the log
 * format that verifiers read. */
#define HALE_AUDIT_KIND_START        "controller_start"
#define HALE_AUDIT_KIND_STOP         "controller_stop"
#define HALE_AUDIT_KIND_CONFIG       "config_reload"
#define HALE_AUDIT_KIND_ALERT        "alerts_accepted"
#define HALE_AUDIT_KIND_TRANSITION   "incident_transition"
#define HALE_AUDIT_KIND_DECISION     "decision"
#define HALE_AUDIT_KIND_APPROVAL     "approval"
#define HALE_AUDIT_KIND_EXEC_INTENT  "exec_intent"
#define HALE_AUDIT_KIND_EXEC_RESULT  "exec_result"
#define HALE_AUDIT_KIND_EXEC_ABANDON "exec_abandoned"
#define HALE_AUDIT_KIND_KEY_ROTATION "key_rotation"
#define HALE_AUDIT_KIND_LLM_CALL     "llm_call"
#define HALE_AUDIT_KIND_LLM_REJECTED "llm_output_rejected"

typedef struct hale_audit hale_audit;

/* Bind the audit log to the writable store s (already migrated). The first open of a store
 * records origin in audit_meta; later opens must pass the same origin (HALE_ESCHEMA
 * otherwise: a log never changes its identity). Loads the frontier and checks it against the
 * last leaf (recomputing it from the stored leaf hashes if it lags, which only an interrupted
 * migration could cause). Installs transaction hooks on s: the frontier is written just before
 * each commit and dropped on rollback, so callers only begin and commit as usual.
 * origin must be a valid note key name (hale_note_name_is_valid). Returns 0 (*ret owned by the
 * caller; free it before s), HALE_ESCHEMA, HALE_ESTORE or -ENOMEM with reterr set. */
int hale_audit_open(hale_store *s, const char *origin, hale_audit **ret, hale_diag *reterr);
void hale_audit_free(hale_audit *a); /* removes the hooks; NULL is a no-op */

/* Append one leaf inside the store's open write transaction (HALE_ESTATE when none is open).
 * kind: 1 to HALE_AUDIT_MAX_KIND_BYTES of [a-z0-9_]. payload: a JSON object (borrowed, not
 * modified) without the envelope names and without reals at any depth, or NULL for none.
 * ts_ns: the leaf's time in unix nanoseconds; 0 takes the wall clock. On success the leaf is
 * part of the transaction and *ret_seq (may be NULL) gets its position. Returns 0, -EINVAL
 * (bad kind or payload not an object), HALE_ESCHEMA (an envelope name, a real, or an indexed
 * member of the wrong type; reterr names the member), HALE_ELIMIT (body above
 * HALE_AUDIT_MAX_LEAF_BYTES), HALE_ESTORE or -ENOMEM. A failed append leaves the tree as it
 * was; the transaction itself is still open and the caller decides whether to roll back. */
int hale_audit_append(hale_audit *a, const char *kind, json_t *payload, int64_t ts_ns,
                      uint64_t *ret_seq, hale_diag *reterr);

/* The head of the tree including uncommitted appends of the open transaction. */
void hale_audit_head(const hale_audit *a, uint64_t *ret_size, hale_hash *ret_root);
/* The frontier after the last commit (a copy). */
void hale_audit_committed_frontier(const hale_audit *a, hale_merkle_frontier *ret);
const char *hale_audit_origin(const hale_audit *a); /* borrowed, valid until free */

/* Canonical bytes: serialize obj as every leaf is serialized (compact, sorted keys, ASCII).
 * Rejects reals at any depth (HALE_ESCHEMA). On success *ret is a malloc'd NUL-terminated
 * string owned by the caller and *ret_len its length. Also for digests of other documents
 * that must be reproducible (configs, policies). */
int hale_audit_canonical(json_t *obj, char **ret, size_t *ret_len, hale_diag *reterr);

/* ---- signed heads (audit_seal.c; called by the thread that owns the writer) ---- */

/* The RFC 9162 consistency proof from the first size1 leaves to the first size2 (0 < size1 <=
 * size2 <= committed size), built from the stored frontier of the nearest checkpoint and the
 * stored leaf hashes after it, into ret_proof (cap hashes; HALE_MERKLE_MAX_PROOF suffices).
 * *ret_root2 (may be NULL) gets the head at size2. Returns the number of hashes, -EINVAL (sizes),
 * HALE_ELIMIT (more than HALE_AUDIT_MAX_PROOF_LEAVES leaves apart: prove in steps),
 * HALE_ESCHEMA (a stored leaf is missing or malformed), HALE_ESTORE or -ENOMEM. */
int hale_audit_prove(hale_audit *a, uint64_t size1, uint64_t size2, hale_hash *ret_proof,
                     size_t cap, hale_hash *ret_root2, hale_diag *reterr);

/* Store note, a signed checkpoint of the committed head (its text must name this log's origin,
 * committed size and root: HALE_EPROOF otherwise), with the frontier at that size. Inside the
 * open transaction when one is open and has no pending appends (HALE_ESTATE when it has), else
 * in a transaction of its own. A checkpoint of that size already stored is kept as it was.
 * Returns 0, HALE_EPARSE, HALE_EPROOF, HALE_ESTATE or HALE_ESTORE. */
int hale_audit_store_checkpoint(hale_audit *a, const char *note, int64_t signed_ns,
                                hale_diag *reterr);

/* The size of the largest stored checkpoint, 0 when none. Returns 0 or HALE_ESTORE. */
int hale_audit_last_checkpoint(hale_audit *a, uint64_t *ret_size);

/* ---- the key chain and the signer (audit_chain.c; the writer's thread) ---- */

typedef struct hale_audit_signer hale_audit_signer;

/* Sign the committed head with signer s, proving it consistent with the last head s signed
 * (a head that already has a stored checkpoint is not signed again: *ret_note gets that one)
 * (in steps when that is more than HALE_AUDIT_MAX_PROOF_LEAVES behind), and store the
 * checkpoint. rotate: sign with the old key and switch s to its pending key
 * (hale_audit_signer_rotate_commit). On success *ret_note (may be NULL) gets the stored note
 * (malloc'd). Returns 0; HALE_EPROOF when s signed a head this store does not extend (the log
 * was truncated, rolled back or forked since: stop and investigate); HALE_ESTATE inside a
 * transaction with pending appends; other errors from the signer or the store. */
int hale_audit_seal(hale_audit *a, hale_audit_signer *s, bool rotate, char **ret_note,
                    hale_diag *reterr);

/* Rotate the signing key: append (and commit) a key_rotation leaf {epoch: *io_epoch + 1, key,
 * prev_key_id} naming the key s generates, then seal that head with the old key and switch.
 * On success *io_epoch is incremented. When the leaf was committed but the seal failed,
 * *ret_pending is true: call hale_audit_rotate_finish (never rotate anew: the leaf names the
 * pending key). Returns 0 or the error. */
int hale_audit_rotate(hale_audit *a, hale_audit_signer *s, uint64_t *io_epoch, bool *ret_pending,
                      hale_diag *reterr);

/* Finish a rotation whose key_rotation leaf is the committed head: store the head's
 * checkpoint signed by the old key, then switch s to its pending key (signing the same head
 * again). The order keeps the sealing checkpoint safe from a crash between the two steps.
 * Returns 0 or the error of the failed step (call again to retry). */
int hale_audit_rotate_finish(hale_audit *a, hale_audit_signer *s, hale_diag *reterr);

/* At start, before appending: check that s holds the key of the log's current epoch (root is
 * the epoch 0 key from audit.pub; later epochs come from key_rotation leaves), finish a
 * rotation a crash interrupted after its leaf was committed, and seal any unsealed tail with
 * the key of its epoch. *ret_epoch gets the epoch. Returns 0, HALE_ECONFIG (the signer's key is
 * not the chain's: wrong key file or a replaced log), HALE_ESCHEMA (a malformed rotation
 * leaf), or a seal error. */
int hale_audit_resume(hale_audit *a, hale_audit_signer *s, const hale_note_verifier *root,
                      uint64_t *ret_epoch, hale_diag *reterr);
