/* include/hale/policy.h - decide whether a proposed remediation may run, needs humans, or never
 * runs. A policy set is loaded from a directory of JSON files, is immutable once loaded and is
 * refcounted: a reload builds a new set and swaps the pointer, in-flight work keeps the old one.
 * Evaluation is pure (no I/O but the counter view it is given, no logging, no clock).
 * Only this module constructs a hale_approved_action, the one thing the executor accepts.
 * Loop thread only, except that a loaded set may be evaluated from any thread. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/diag.h"
#include "hale/fwd.h"

typedef struct hale_policy hale_policy;
typedef struct hale_policy_request hale_policy_request;
typedef struct hale_policy_verdict hale_policy_verdict;
typedef struct hale_approved_action hale_approved_action;

#define HALE_POLICY_DIGEST_BYTES 32 /* SHA-256 */
#define HALE_POLICY_DIGEST_HEX   65 /* 64 hex digits and NUL */

typedef enum hale_policy_effect {
    HALE_POLICY_DENY = 0,         /* never runs; also the answer when no rule matches */
    HALE_POLICY_REQUIRE_APPROVAL, /* runs once a quorum of allowed approvers agreed */
    HALE_POLICY_ALLOW,            /* runs without a human */
} hale_policy_effect;

/* Where a proposal's confidence comes from, in the request's "source". */
typedef enum hale_policy_source {
    HALE_POLICY_SOURCE_RUNBOOK = 0,
    HALE_POLICY_SOURCE_KB,
    HALE_POLICY_SOURCE_LOCAL_MODEL,
    HALE_POLICY_SOURCE_LLM,
    HALE_POLICY_SOURCE_HUMAN,
    HALE_POLICY_SOURCE__COUNT
} hale_policy_source;

/* A tool's risk tier from its manifest, ordered. */
typedef enum hale_policy_risk {
    HALE_POLICY_RISK_LOW = 0,
    HALE_POLICY_RISK_MEDIUM,
    HALE_POLICY_RISK_HIGH,
    HALE_POLICY_RISK_CRITICAL,
} hale_policy_risk;

const char *hale_policy_effect_name(hale_policy_effect e); /* "allow", "deny", ...; static */
/* "low", "medium", "high", "critical" ("?" out of range); static. */
const char *hale_policy_risk_name(hale_policy_risk r);
/* The risk tier named s, or -1 for any other string. */
int hale_policy_risk_parse(const char *s);

/* ---- Loading ---------------------------------------------------------------------------- */

/* Load every *.json file directly under dir (sorted by name; subdirectories such as tests/
 * are skipped) into a new set with refcount 1, owned by the caller. An empty directory loads
 * an empty set, which denies everything. Fails with -errno (unreadable), HALE_EPARSE (JSON
 * syntax: "file:line:col: reason"), HALE_ESCHEMA (unknown or invalid field:
 * "file: rule ID: field: reason"), HALE_ELIMIT (over a ceiling of hale/limits.h) or -ENOMEM;
 * then *ret is untouched and reterr says where. Time zones are read from the system zoneinfo
 * (TZDIR, else /usr/share/zoneinfo) during the load only. */
int hale_policy_load(const char *dir, hale_policy **ret, hale_diag *reterr);

/* The same for named in-memory files (tests, fuzzing): texts[i] of lens[i] bytes named names[i]. */
int hale_policy_load_texts(const char *const *names, const char *const *texts, const size_t *lens,
                           size_t n, hale_policy **ret, hale_diag *reterr);

hale_policy *hale_policy_ref(hale_policy *p); /* returns p */
void hale_policy_unref(hale_policy *p);       /* NULL is a no-op; frees at zero */

/* SIGHUP reload: load dir; on success unref *cur and store the new set in *cur, on failure
 * leave *cur (the old set keeps working) and fill reterr. Returns what hale_policy_load does. */
int hale_policy_reload(hale_policy **cur, const char *dir, hale_diag *reterr);

size_t hale_policy_rule_count(const hale_policy *p);
/* SHA-256 over every file name and content of the set, lowercase hex; borrowed from p. This
 * is the audit leaf's policy revision. */
const char *hale_policy_hash_hex(const hale_policy *p);

/* ---- Requests ----------------------------------------------------------------------------- */

/* Parse a proposal (docs/policies.md "Requests"): {"tool", "args", "target": {"labels"},
 * "incident": {"id", "severity", "labels"}, "confidence_bp", "source", "risk", "reversible",
 * "time", "untrusted": [JSON pointers]}. The schema is closed. On success *ret is owned by the
 * caller; HALE_EPARSE/HALE_EUTF8/HALE_ESCHEMA/-ENOMEM otherwise, with reterr. */
int hale_policy_request_parse(const char *text, size_t len, hale_policy_request **ret,
                              hale_diag *reterr);
/* The same from a parsed object: the request takes a reference and reads obj in place, so the
 * caller must not change obj while the request lives. */
int hale_policy_request_from_json(json_t *obj, hale_policy_request **ret, hale_diag *reterr);
void hale_policy_request_free(hale_policy_request *r); /* NULL is a no-op */

/* SHA-256 of the canonical JSON of {"args", "target", "tool"} (sorted keys, compact) as hex;
 * borrowed from r. Two requests with the same digest propose the same action. */
const char *hale_policy_request_digest_hex(const hale_policy_request *r);
const char *hale_policy_request_tool(const hale_policy_request *r);
/* "time" of the request in unix ms, or 0 when it had none. */
int64_t hale_policy_request_time_ms(const hale_policy_request *r);
/* The identities limits are counted by: the target key (canonical JSON of target.labels), the
 * service (target label "service", else "") and the group of a blast-radius limit. Borrowed. */
const char *hale_policy_request_target_key(const hale_policy_request *r);
const char *hale_policy_request_service(const hale_policy_request *r);

/* ---- Limit counters: a read-only view ------------------------------------------------------ */

typedef enum hale_policy_count_kind {
    HALE_POLICY_COUNT_ACTIONS,    /* actions started at or after since_ms matching the filter */
    HALE_POLICY_COUNT_RUNNING,    /* actions without an outcome yet, matching the filter */
    HALE_POLICY_COUNT_LAST_MS,    /* start time of the newest matching action; 0 for none */
    HALE_POLICY_COUNT_TARGETS,    /* distinct targets of matching actions since since_ms */
    HALE_POLICY_COUNT_AUTOMATED,  /* automated (unapproved) actions since since_ms */
    HALE_POLICY_COUNT_FAILSTREAK, /* failed or ineffective outcomes since since_ms, newest
                                     first, up to the first success */
} hale_policy_count_kind;

typedef struct hale_policy_count_query {
    hale_policy_count_kind kind; /* what to count */
    const char *tool;            /* NULL: any tool */
    const char *target;          /* NULL: any target (a target key) */
    const char *service;         /* NULL: any service */
    const char *group_label;     /* NULL: any group; else the target label naming it */
    const char *group;           /* the value group_label must have (with group_label) */
    int64_t since_ms;            /* window start, unix ms */
} hale_policy_count_query;

/* Counters as evaluation sees them. count() writes *ret and returns 0, or a negative error,
 * which evaluation treats as a tripped limit (fail closed). It must not call back into policy. */
typedef struct hale_policy_counts {
    int (*count)(void *ud, const hale_policy_count_query *q, int64_t *ret);
    void *ud;
} hale_policy_counts;

/* ---- Evaluation ---------------------------------------------------------------------------- */

/* Pure: evaluate req against p at now_ms (the daemon passes its clock; `hale policy eval` the
 * request's "time"). counts may be NULL: then every rule with limits fails closed. On success
 * *ret is a new verdict owned by the caller (it holds a reference to p). Returns 0 or -ENOMEM. */
int hale_policy_eval(const hale_policy *p, const hale_policy_request *req,
                     const hale_policy_counts *counts, int64_t now_ms, hale_policy_verdict **ret);
void hale_policy_verdict_free(hale_policy_verdict *v); /* NULL is a no-op */

hale_policy_effect hale_policy_verdict_effect(const hale_policy_verdict *v);
bool hale_policy_verdict_is_dry_run(const hale_policy_verdict *v); /* record, never execute */
size_t hale_policy_verdict_reason_count(const hale_policy_verdict *v);
const char *hale_policy_verdict_reason(const hale_policy_verdict *v, size_t i); /* borrowed */
/* {"effect", "reasons": [...], "rules": [{"id", "file", "result", "effect", "why"}],
 * "limits_tripped": [...], "dry_run", "digest", "policy_hash", "approval": {...}} (the last
 * only for require_approval). New reference; NULL only when out of memory. */
json_t *hale_policy_verdict_to_json(const hale_policy_verdict *v);

/* ---- The approved action ------------------------------------------------------------------ */

/* From an allow verdict for exactly this request (same digest). Returns 0, HALE_EPOLICY (not
 * an allow, or a verdict for another request) or -ENOMEM. *ret is owned by the caller. */
int hale_policy_authorize(const hale_policy_verdict *v, const hale_policy_request *req,
                          hale_approved_action **ret);
void hale_approved_action_free(hale_approved_action *a); /* NULL is a no-op */
const char *hale_approved_action_digest_hex(const hale_approved_action *a);
const char *hale_approved_action_tool(const hale_approved_action *a);
const json_t *hale_approved_action_args(const hale_approved_action *a);   /* borrowed */
const json_t *hale_approved_action_target(const hale_approved_action *a); /* borrowed */
bool hale_approved_action_is_dry_run(const hale_approved_action *a);
/* Approval id it was granted by (0 for an allow verdict) and its approvers, comma-separated
 * ("" for an allow verdict). Borrowed. */
int64_t hale_approved_action_approval_id(const hale_approved_action *a);
const char *hale_approved_action_approvers(const hale_approved_action *a);

/* ---- The action ledger: limit counters kept in the store ---------------------------------- */

/* Counters live in the store's policy_action table (migration 3), so limits survive restarts.
 * The ledger borrows the store (it must outlive the ledger) and prepares its statements at
 * open. Writes join the caller's open transaction, or run in one of their own. It uses the
 * store's connection, so it and an evaluation reading its counts belong to the thread that
 * owns the store (the loop thread). */
typedef struct hale_policy_ledger hale_policy_ledger;

typedef enum hale_policy_outcome {
    HALE_POLICY_OUTCOME_RUNNING = 0, /* started, no result yet (counts as concurrent) */
    HALE_POLICY_OUTCOME_SUCCESS,     /* did what it should */
    HALE_POLICY_OUTCOME_FAILED,      /* the tool failed */
    HALE_POLICY_OUTCOME_INEFFECTIVE, /* ran, but the incident did not get better */
    HALE_POLICY_OUTCOME_ABANDONED,   /* never finished (found running after a restart) */
} hale_policy_outcome;

const char *hale_policy_outcome_name(hale_policy_outcome o); /* "running", ...; static */

/* Returns 0, HALE_ESTORE or HALE_ESCHEMA (store without migration 3), with reterr. */
int hale_policy_ledger_open(hale_store *s, hale_policy_ledger **ret, hale_diag *reterr);
void hale_policy_ledger_free(hale_policy_ledger *l); /* NULL is a no-op */

/* The read-only view evaluation takes; valid while l lives. */
hale_policy_counts hale_policy_ledger_counts(hale_policy_ledger *l);

/* Record the start of the action req proposes (automated: executed without human approval),
 * at at_ms, with outcome RUNNING; *ret_id (may be NULL) gets its id for _finish. Returns 0 or
 * HALE_ESTORE. */
int hale_policy_ledger_begin(hale_policy_ledger *l, const hale_policy_request *req, bool automated,
                             int64_t at_ms, int64_t *ret_id);
/* Set the outcome of a started action. HALE_ENOTFOUND for an unknown id, HALE_ESTATE when it
 * already has one. */
int hale_policy_ledger_finish(hale_policy_ledger *l, int64_t id, hale_policy_outcome outcome,
                              int64_t at_ms);
/* Mark every RUNNING action ABANDONED (at start-up, after a crash). Returns how many. */
int hale_policy_ledger_abandon_running(hale_policy_ledger *l, int64_t at_ms);
/* Delete up to max_rows finished actions started before before_ms (keep at least the longest
 * limit window of the policy, and 24 h for autonomy). Returns rows deleted or HALE_ESTORE. */
int hale_policy_ledger_prune(hale_policy_ledger *l, int64_t before_ms, int max_rows);

/* ---- Approvals ------------------------------------------------------------------------------ */

/* Pending approvals (store tables policy_approval and policy_vote, migration 3). A request is
 * created from a require_approval verdict and stores the exact action digest, a random nonce,
 * the expiry and the approver sets resolved from the policy at that moment. */
typedef struct hale_approvals hale_approvals;

typedef enum hale_approval_state {
    HALE_APPROVAL_PENDING = 0, /* waiting for votes */
    HALE_APPROVAL_APPROVED,    /* quorum met: the action may be authorized once */
    HALE_APPROVAL_DENIED,      /* an allowed approver said no */
    HALE_APPROVAL_EXPIRED,     /* nobody decided in time */
    HALE_APPROVAL_CONSUMED,    /* approved and authorized: never again */
} hale_approval_state;

const char *hale_approval_state_name(hale_approval_state s); /* static */

typedef struct hale_approval_vote {
    const char *user;       /* authenticated identity of the approver */
    bool approve;           /* true: approve, false: deny */
    const char *digest_hex; /* the action digest the approver was shown; required */
    const char *nonce;      /* the approval's nonce; required from remote channels (HTTP,
                               chat), NULL from the local CLI, which reads the store itself */
    const char *comment;    /* --comment or the deny reason; may be NULL */
} hale_approval_vote;

int hale_approvals_open(hale_store *s, hale_approvals **ret, hale_diag *reterr);
void hale_approvals_free(hale_approvals *a); /* NULL is a no-op */

/* From a require_approval verdict v for req, proposed by requester ("hale" for automation).
 * incident_id may be NULL. *ret_id gets the approval id. Returns 0, HALE_EPOLICY (v is not
 * require_approval or belongs to another request), HALE_ESTORE or -ENOMEM. */
int hale_approvals_create(hale_approvals *a, const hale_policy_verdict *v,
                          const hale_policy_request *req, const char *requester,
                          const char *incident_id, int64_t now_ms, int64_t *ret_id);

/* Count one vote. Refusals (nothing is recorded; reterr says which, for the audit leaf):
 * HALE_ENOTFOUND (no such approval), HALE_ESTATE (not pending, or expired: it is then marked
 * expired), HALE_EPOLICY (digest or nonce differs, user outside every allowed set,
 * self-approval, a second vote by the same user). On success *ret_state (may be NULL) gets
 * the state after the vote. */
int hale_approvals_decide(hale_approvals *a, int64_t id, const hale_approval_vote *vote,
                          int64_t now_ms, hale_approval_state *ret_state, hale_diag *reterr);

/* Mark pending approvals expired at now_ms; cb (may be NULL) gets each id, its incident id
 * ("" for none) and whether on_expiry says escalate. Returns how many expired. */
int hale_approvals_expire(hale_approvals *a, int64_t now_ms,
                          void (*cb)(int64_t id, const char *incident_id, bool escalate, void *ud),
                          void *ud);

/* The approved action for approval id, once: the state must be APPROVED and req must have the
 * stored digest; the approval becomes CONSUMED. Returns 0, HALE_ENOTFOUND, HALE_ESTATE or
 * HALE_EPOLICY (another digest), with reterr. */
int hale_approvals_authorize(hale_approvals *a, int64_t id, const hale_policy_request *req,
                             hale_approved_action **ret, hale_diag *reterr);

/* JSON views for the CLI and the API: one approval {"id", "state", "tool", "digest", "nonce",
 * "requester", "incident_id", "created_at", "expires_at", "on_expiry", "self_approval",
 * "request", "requirements": [{"rule", "count", "users", "groups", "approvals"}], "votes":
 * [...]} and {"approvals": [...]} (state NULL: all, newest first). HALE_ENOTFOUND, HALE_ESTORE. */
int hale_approvals_get_json(hale_approvals *a, int64_t id, json_t **ret);
int hale_approvals_list_json(hale_approvals *a, const char *state, unsigned limit, json_t **ret);

/* ---- Policy unit tests (`hale policy test`) ------------------------------------------------ */

/* One case of a test file, as reported to the callback. Strings borrowed for the call. */
typedef struct hale_policy_test_result {
    const char *name;               /* the case's "name" */
    bool passed;                    /* effect and every expected reason as expected */
    hale_policy_effect expected;    /* "expect" */
    const hale_policy_verdict *got; /* the verdict (NULL when the request was invalid) */
    const char *problem;            /* why it failed ("" when passed) */
} hale_policy_test_result;

/* Run every case of one test file ({"tests": [{"name", "request", "expect", "reasons",
 * "counters", "now"}]}, docs/policies.md) against p. cb gets each result. Returns the number
 * of failed cases, or HALE_EPARSE/HALE_ESCHEMA (file malformed, with reterr) or -ENOMEM. */
int hale_policy_test_text(const hale_policy *p, const char *text, size_t len,
                          void (*cb)(const hale_policy_test_result *res, void *ud), void *ud,
                          hale_diag *reterr);
