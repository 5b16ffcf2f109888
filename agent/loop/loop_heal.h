/* agent/loop/loop_heal.h - private to loop_heal*.c: remediation of incidents (docs/heal.md).
 * Decide (runbook proposals, policy verdict, a decision leaf), wait for approval, heal (an
 * exec_intent leaf under a signed checkpoint, the sandboxed run, an exec_result leaf), verify,
 * roll back. Every record goes through the commit job (hale__loop_write): the writer stays
 * with one thread at a time. Loop thread only, except where a function says otherwise. */
#pragma once
#include <sqlite3.h>
#include <uv.h>

#include "hale/catalog.h"
#include "hale/runbook.h"
#include "hale/sandbox.h"
#include "loop/loop_int.h"

#define HEAL_ID_BYTES     40   /* "d-" or "i-" and a UUIDv4 */
#define HEAL_KEY_BYTES    160  /* incident id, action digest, attempt */
#define HEAL_REASON_BYTES 1024 /* a transition's reason */
#define HEAL_TICK_MS      100u /* timers: approval expiry, verification, retries */
#define HEAL_EXPIRE_MS    1000u
/* Tools and checks on the libuv threadpool at once: its 4 threads also carry the commit job
 * and the WAL checkpoints, which must never wait for a tool's timeout. */
#define HEAL_MAX_POOL      2u
#define HEAL_OUTPUT_STORED 65536u /* bytes of redacted stdout or stderr kept in the row */

/* One heal_action row (migration 7). Strings owned by the row. */
struct heal_row {
    int64_t id;                          /* 0 before insert */
    char idem_key[HEAL_KEY_BYTES];       /* "INCIDENT:DIGEST:ATTEMPT" */
    int64_t incident_id;                 /* whose */
    char kind[16];                       /* "action" or "rollback" */
    char decision_id[HEAL_ID_BYTES];     /* the decision leaf */
    char intent_id[HEAL_ID_BYTES];       /* the exec_intent leaf, "" before */
    int64_t attempt;                     /* runs of this action for this incident, from 1 */
    char tool[128];                      /* tool name */
    char digest[HALE_POLICY_DIGEST_HEX]; /* action digest */
    char *request;                       /* the evaluated request, canonical JSON */
    char effect[32];                     /* "allow", "require_approval", "deny", "dry_run" */
    int64_t approval_id;                 /* 0: none */
    int64_t ledger_id;                   /* policy ledger entry, 0 before the intent */
    char state[16];                      /* decided, intent, running, done, abandoned */
    char outcome[32];                    /* "", "succeeded", "failed", "timed_out", ... */
    int exit_code;                       /* -1 when none */
    char *output;                        /* structured result (JSON text), "" for none */
    char *out_text;                      /* redacted stdout, may be NULL */
    char *err_text;                      /* redacted stderr, may be NULL */
};

void hale__heal_row_release(struct heal_row *r);
/* dst (released before) becomes a copy of src with strings of its own. 0 or -ENOMEM. */
int hale__heal_row_copy(struct heal_row *dst, const struct heal_row *src);
/* Inside the writer's transaction. attempt is computed (rows of incident and digest so far +
 * 1) and the key built from it when r->attempt is 0. */
int hale__heal_db_insert(sqlite3 *db, struct heal_row *r, int64_t now_ms);
int hale__heal_db_update(sqlite3 *db, const struct heal_row *r, int64_t now_ms);
/* The newest row of an incident (HALE_ENOTFOUND when none); any connection. */
int hale__heal_db_latest(sqlite3 *db, int64_t incident_id, struct heal_row *ret);
/* The decision_id of the newest row asking for approval_id into out. 0 or HALE_ENOTFOUND. */
int hale__heal_db_decision_of(sqlite3 *db, int64_t approval_id, char *out, size_t cap);
/* Every row in state intent or running. */
int hale__heal_db_open_each(sqlite3 *db, int (*cb)(struct heal_row *r, void *ud), void *ud);

enum heal_phase {
    HEAL_IDLE = 0,    /* waiting for a stage or a vote */
    HEAL_WRITING,     /* a write is queued: nothing else changes the case meanwhile */
    HEAL_RUNNING,     /* the tool runs on the threadpool */
    HEAL_STABILIZING, /* waiting for the verification window */
    HEAL_CHECKING,    /* a verification check runs on the threadpool */
    HEAL_QUEUED,      /* the intent is sealed; the run waits for a threadpool slot */
};

/* One incident under remediation. */
struct heal_case {
    struct heal_case *next;    /* in the module's list */
    hale_loop *l;              /* the controller */
    int64_t incident_id;       /* whose */
    hale_incident_state stage; /* the state whose work item it holds */
    int64_t outbox_id;         /* that work item, 0 when finished */
    enum heal_phase phase;     /* what it waits for */
    struct heal_row row;       /* the action (or the rollback while one runs) */
    json_t *args;              /* the action's arguments, owned (for rollback and verify) */
    json_t *output;            /* the action's structured result, owned, may be NULL */
    hale_catalog *cat;         /* the catalog the tool came from, one reference */
    const hale_tool *tool;     /* the tool running or checked, borrowed from cat */
    hale_tool_run *run;        /* the prepared run, owned */
    hale_tool_check *check;    /* the verification, owned */
    uint64_t due_ms;           /* uv_now when the next check or retry is due */
    uint64_t deadline_ms;      /* uv_now when verification gives up */
    unsigned checks;           /* checks run so far */
    bool rollback;             /* the row is the rollback of the action */
    bool closing;              /* free once the threadpool gives it back */
    uv_work_t work;            /* sandbox runs and checks */
    hale_sandbox_result res;   /* the run's result */
    int run_result;            /* hale_sandbox_run's return */
    hale_diag run_diag;        /* its message */
    int64_t exec_started_us;   /* unix us when the run was handed to the threadpool */
    double metric_value;       /* CHECK_METRIC: the value read */
    char check_why[512];       /* why the last check did not pass */
    hale_http_req *req;        /* a run by hand: answered when the case closes */
    int answer_status;         /* its HTTP status (200 unless refused) */
    char answer_why[HEAL_REASON_BYTES]; /* why it was refused or stopped */
};

/* The module's state (hale_loop.heal). */
struct hale_heal {
    hale_catalog *cat;               /* tools, one reference; never NULL after open */
    hale_runbooks *runbooks;         /* proposals, one reference; never NULL after open */
    hale_policy_ledger *ledger;      /* on the writer: used by writes in the commit job */
    hale_policy_ledger *counts;      /* on the reader: evaluation's counters, loop thread */
    hale_redact *rules;              /* tool output redaction, owned (NULL: outputs not stored) */
    char launcher[4096];             /* hale-sandbox beside the hale binary; "" for the default */
    struct heal_case *cases;         /* active remediations */
    uv_timer_t tick;                 /* approval expiry, verification, retries */
    bool started;                    /* tick runs */
    uint64_t last_expire_ms;         /* uv_now of the last expiry pass */
    struct heal_write *writes;       /* queued writes not yet done (freed at close) */
    char decision_of[HEAL_ID_BYTES]; /* hale__loop_heal_decision_of's answer */
    unsigned in_pool;                /* tools and checks on the threadpool now */
    int64_t manual_seq;              /* runs by hand so far (their cases' negative ids) */
};

/* A write of the heal module: leaves, the row, ledger changes and a transition, in one
 * transaction of the commit job. Owned by the module until done. */
struct heal_write {
    struct heal_write *next, *prev; /* in hale_heal.writes */
    struct heal_case *c;            /* NULL: the case was closed meanwhile */
    int64_t incident_id;            /* whose */
    struct {
        char kind[HALE_AUDIT_MAX_KIND_BYTES + 1];
        json_t *payload; /* owned */
    } leaves[3];
    size_t n_leaves;
    bool insert_row, update_row;     /* write c->row (a copy in row) */
    struct heal_row row;             /* the copy written; ids come back in it */
    hale_policy_request *ledger_req; /* begin a ledger entry for this request (owned) */
    bool automated;                  /* of that entry */
    hale_policy_outcome finish;      /* finish row.ledger_id with this (RUNNING: no) */
    int64_t outbox_id;               /* finish this work item, 0: none */
    hale_incident_state from, to;    /* move from -> to when the incident is still in from */
    bool move;                       /* whether to move */
    char reason[HEAL_REASON_BYTES];  /* why */
    bool moved;                      /* the move happened */
    bool committed;                  /* its transaction committed (result may still be a
                                        sealing failure) */
    void (*after)(struct heal_case *c, struct heal_write *w, int result); /* loop thread */
};

/* loop_heal_write.c */
struct heal_write *hale__heal_write_new(struct heal_case *c);
/* Append a leaf (payload stolen, also on failure). */
int hale__heal_write_leaf(struct heal_write *w, const char *kind, json_t *payload);
void hale__heal_write_move(struct heal_write *w, hale_incident_state from, hale_incident_state to,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Queue it (seal: wait for a signed checkpoint). On failure w is freed and after is not run. */
int hale__heal_write_submit(hale_loop *l, struct heal_write *w, bool seal);
void hale__heal_write_free(struct heal_write *w);

/* loop_heal.c */
struct heal_case *hale__heal_case_get(hale_loop *l, int64_t incident_id, bool create);
void hale__heal_case_close(hale_loop *l, struct heal_case *c);
/* A write's `after` that closes its case (when it still has one). */
void hale__heal_close_after(struct heal_case *c, struct heal_write *w, int result);
/* End the case: move the incident to `to` (from the case's stage) with reason, finish the work
 * item, and close the case. */
void hale__heal_finish(struct heal_case *c, hale_incident_state to, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fill c from the incident's newest heal_action row (after a restart). 0 or an error. */
int hale__heal_case_load(struct heal_case *c);
/* A new "d-"/"i-" UUIDv4 id. */
void hale__heal_new_id(const char *prefix, char out[HEAL_ID_BYTES]);

/* loop_heal_decide.c */
void hale__heal_on_open(void *ud, const hale_incident_view *v);
void hale__heal_on_deciding(void *ud, const hale_incident_view *v);
void hale__heal_on_awaiting(void *ud, const hale_incident_view *v);
void hale__heal_expire(hale_loop *l);
/* Parse request (a reference is taken) and evaluate it against the set in force with the
 * ledger's counters. */
int hale__heal_judge(hale_loop *l, json_t *request, hale_policy_request **ret_req,
                     hale_policy_verdict **ret_verdict, hale_diag *reterr);
/* The decision leaf's payload (docs/audit.md); NULL when out of memory. */
json_t *hale__heal_decision_leaf(const char *decision_id, int64_t incident_id,
                                 const json_t *request, const hale_policy_verdict *v,
                                 const char *runbook);

/* loop_heal_exec.c */
void hale__heal_on_healing(void *ud, const hale_incident_view *v);
/* Record the intent of c->row (an action, or its rollback when c->rollback) and run it. */
void hale__heal_intent(struct heal_case *c);
/* Authorize c's decided action (approval or the set in force), prepare it and record its
 * intent; escalate with the reason when any of that fails. */
void hale__heal_run_decided(struct heal_case *c);
/* A queued run whose turn came: the pause switch is checked again, then it starts. */
void hale__heal_start_queued(struct heal_case *c);
/* Find the approved action's tool in c->cat and prepare c->run. 0, or an error with why. */
int hale__heal_prepare(struct heal_case *c, const hale_approved_action *a, char *why, size_t cap);
/* At start, before the loop runs: every intent without a result becomes exec_abandoned and
 * its incident escalated. Returns how many, or an error. */
int hale__heal_reconcile(hale_loop *l);

/* Threadpool: check t's pinned command, then run c->run (a run of t) in the sandbox into
 * c->res, c->run_result and c->run_diag. */
void hale__heal_sandbox_run(struct heal_case *c, const hale_tool *t);

/* loop_heal_manual.c */
/* Answer a run by hand (c->req) from the case's state; loop thread. */
void hale__heal_answer(struct heal_case *c);

/* loop_heal_verify.c */
void hale__heal_on_verifying(void *ud, const hale_incident_view *v);
void hale__heal_verify_tick(hale_loop *l, struct heal_case *c);
/* Threadpool: CHECK_METRIC's instant query. Returns 0 with the value, or an error with why. */
int hale__heal_prom_query(const char *base_url, const char *query, uint64_t timeout_ms, double *ret,
                          char *why, size_t why_size);
