/* agent/loop/loop_int.h - private to loop*.c: the controller's state. */
#pragma once
#include <uv.h>

#include "api/api.h"
#include "hale/audit.h"
#include "hale/audit_signer.h"
#include "hale/http.h"
#include "hale/llm.h"
#include "hale/redact.h"
#include "hale/ingest.h"
#include "hale/policy.h"
#include "hale/store.h"
#include "loop/incidents.h"
#include "loop/loop.h"
#include "util/buf.h"
#include "util/prom.h"

struct pending {
    hale_http_req *req;       /* answered after the commit; loop thread only */
    const char *raw;          /* the body, owned by req (unchanged until it is answered) */
    size_t raw_len;           /* bytes in raw */
    hale_ingest_batch *batch; /* owned */
    const char *kind;         /* "alertmanager" or "event", static */
    int64_t event_id;         /* its events row, once the commit job stored it */
    char *raw_owned;          /* an event hale made itself (req NULL): its body, owned */
};

#define HALE_LOOP_MAX_WITNESSES  8     /* the most audit_witness_urls entries */
#define HALE_LOOP_MAX_PAUSE_TEXT 4096u /* bytes of a pause's actor, reason or client */

/* A witness's side of anchoring: what it cosigned last and the request under way. */
struct witness_state {
    char url[1024];   /* where the request goes */
    uint64_t size;    /* the size it cosigned last, as far as we know (0: unknown) */
    char *body;       /* the add-checkpoint request to send, owned; NULL: none */
    size_t body_len;  /* bytes in body */
    int result;       /* the last request: 0, HALE_ESTATE (size learned) or an error */
    int anchor_errno; /* writing its cosigned checkpoint to the anchor files failed */
    hale_diag diag;   /* the error's message */
};

/* A leaf the loop thread wants in the log: appended by the next commit job. */
struct audit_item {
    char kind[HALE_AUDIT_MAX_KIND_BYTES + 1]; /* leaf kind */
    json_t *payload;                          /* owned */
    int64_t ts_ns;                            /* when it happened */
};

/* A write the loop thread wants in the store's next transaction (the heal module's records):
 * fn runs inside the commit job's transaction, on whichever thread owns the writer then, and
 * may use the writer connection, the audit log and the incident manager, nothing else of the
 * loop; a negative return rolls the whole transaction back. done runs on the loop thread
 * once the transaction ended, with 0 or the failure; with seal, only after a signed checkpoint
 * covers every leaf fn appended (else done gets the sealing error). */
struct loop_write {
    int (*fn)(hale_loop *l, void *ud, int64_t now_ms);                /* inside the transaction */
    void (*done)(hale_loop *l, void *ud, int result, bool committed); /* loop thread, after */
    void *ud;      /* for both; owned by the caller */
    bool seal;     /* wait for a checkpoint over its leaves */
    uint64_t head; /* log size after fn, for the seal check */
};

/* One transaction of intake on the threadpool. While it runs it owns the writer connection and
 * the incident manager; the loop thread touches neither until after_work has run. */
struct commit_job {
    uv_work_t work;                 /* the threadpool request; work.data is the loop */
    struct pending *items;          /* the requests it commits, owned */
    size_t n_items;                 /* entries in items */
    size_t cap_items;               /* allocated entries */
    int64_t now_ms;                 /* receipt time stamped on everything it writes */
    int result;                     /* 0, or why the transaction failed */
    int reload_result;              /* after a failure: reloading the incident caches */
    double duration_s;              /* time spent writing and committing */
    double commit_s;                /* of that, the COMMIT (WAL write, fsync, checkpoint) */
    char errmsg[256];               /* SQLite's message on failure */
    struct audit_item *audit_items; /* leaves queued by the loop thread, owned */
    size_t n_audit_items, cap_audit_items;
    bool seal;                 /* sign the head after the commit */
    bool rotate;               /* rotate the signing key after the commit */
    bool anchor;               /* write the signed head to the anchors */
    struct loop_write *writes; /* queued by the loop thread (hale__loop_write), owned */
    size_t n_writes, cap_writes;
    hale_config *cfg;    /* the config the job's audit work uses, one reference */
    int audit_result;    /* 0, or why sealing failed */
    char audit_err[512]; /* its message */
    hale_buf normalized; /* scratch: an event's normalized JSON, reused per event */
};

/* Audit leaf kinds of loop_policy.c (docs/audit.md). */
#define HALE_AUDIT_KIND_POLICY_RELOAD "policy_reload"
#define HALE_AUDIT_KIND_PAUSE         "pause"
#define HALE_AUDIT_KIND_RESUME        "resume"
/* Audit leaf kinds of loop_heal*.c (docs/audit.md, docs/heal.md). */
#define HALE_AUDIT_KIND_CATALOG_RELOAD "catalog_reload"
#define HALE_AUDIT_KIND_VERIFICATION   "verification"

/* Why a vote was refused, for the API's status code. */
typedef enum hale_loop_vote_refusal {
    HALE_LOOP_VOTE_ERROR = 0, /* the store failed (503) */
    HALE_LOOP_VOTE_NOT_FOUND, /* no such approval (404) */
    HALE_LOOP_VOTE_FORBIDDEN, /* this voter may not decide it (403) */
    HALE_LOOP_VOTE_CONFLICT,  /* stale digest or nonce, not pending, expired, voted (409) */
} hale_loop_vote_refusal;

struct stage_item {
    int64_t incident_id;       /* who */
    hale_incident_state state; /* entered */
    int64_t outbox_id;         /* its work item */
    unsigned attempt;          /* deliveries before this one */
};

struct loop_stats {
    uint64_t alerts_accepted;        /* alerts in committed requests */
    uint64_t requests_accepted;      /* committed webhook and event requests */
    uint64_t commits;                /* successful transactions */
    uint64_t commit_failures;        /* rolled back transactions */
    uint64_t reloads;                /* successful config reloads */
    uint64_t reload_failures;        /* rejected config reloads */
    uint64_t policy_reloads;         /* successful policy set loads after the first */
    uint64_t policy_reload_failures; /* rejected policy reloads (old set kept) */
    uint64_t audit_seal_failures;    /* signed heads that could not be made or stored */
    double lag_s;                    /* last measured loop lag */
    double lag_max_s;                /* largest since start */
    hale_histogram commit_s;         /* store commit latency */
    hale_histogram batch_size;       /* requests per transaction */
    size_t incidents_active;         /* in the manager after the last commit (the manager itself */
    size_t alerts_known;             /* belongs to the commit job while one runs) */
    uint64_t audit_leaves;           /* audit log size after the last commit */
    uint64_t audit_sealed;           /* of those, covered by a stored signed checkpoint */
    uint64_t audit_epoch;            /* signing key epoch */
};

struct hale_loop {
    uv_loop_t uv;                   /* the one event loop */
    hale_config *cfg;               /* current snapshot, one reference */
    char *config_path;              /* reload source, NULL on defaults */
    int lock_fd;                    /* holds data_dir/hale.lock; -1 when not held */
    hale_store *store;              /* the writer connection: loop thread or the running job */
    hale_store *reader;             /* read-only connection for the API, loop thread only */
    hale_store *checkpointer;       /* background WAL checkpoints, used by ckpt_work only */
    uv_work_t ckpt_work;            /* the checkpoint on the threadpool */
    bool ckpt_running;              /* ckpt_work is queued or running */
    uv_timer_t ckpt_timer;          /* starts checkpoints */
    hale_incidents *incidents;      /* correlation and state machine */
    hale_audit *audit;              /* the log's writer: with the writer connection */
    hale_llm *llm;                  /* the LLM client, NULL when no gateway is configured */
    hale_redact *llm_rules;         /* the redaction rules every outgoing text passes, owned */
    hale_store *llm_cache;          /* the response cache's own file, owned; NULL: no cache */
    hale_audit_signer *signer;      /* the signer process: used by the job that seals */
    struct audit_item *audit_queue; /* leaves for the next job, loop thread only */
    size_t n_audit_queue, cap_audit_queue;
    uint64_t audit_sealed;         /* leaves covered by the newest stored checkpoint */
    uint64_t audit_epoch;          /* signing key epoch (key_rotation leaves so far) */
    uint64_t audit_last_seal_ms;   /* uv_now of the last signed head */
    uint64_t audit_last_rotate_ms; /* uv_now of the last key rotation */
    uint64_t audit_last_anchor_ms; /* uv_now of the last anchoring */
    int audit_anchor_errno;        /* the job's last anchor write failure, 0 for none */
    bool audit_rotate_pending;     /* a key_rotation leaf waits for the key switch */
    bool audit_broken;             /* the signer refused the store's head */
    struct witness_state witnesses[HALE_LOOP_MAX_WITNESSES]; /* by audit_witness_urls index */
    uv_work_t witness_work;       /* posts to the witnesses, without the writer */
    bool witness_running;         /* witness_work is queued or running */
    hale_config *witness_cfg;     /* the config witness_work uses, one reference */
    hale_http_server *http;       /* NULL once closed */
    hale_api *api;                /* routes */
    uv_signal_t sig_term;         /* SIGTERM: shut down */
    uv_signal_t sig_int;          /* SIGINT: shut down */
    uv_signal_t sig_hup;          /* SIGHUP: reload */
    uv_check_t flush_check;       /* commits the turn's requests */
    uv_timer_t lag_timer;         /* samples loop lag */
    uv_timer_t drain_timer;       /* polls the drain during shutdown */
    uv_timer_t maintenance_timer; /* event retention */
    uint64_t lag_last_ms;         /* uv_now at the last lag sample */
    uint64_t drain_deadline_ms;   /* uv_now by which shutdown forces the close */
    struct pending *pending;      /* requests waiting for the next commit */
    size_t n_pending, cap_pending;
    struct commit_job job;          /* the commit in flight, if job_running */
    bool job_running;               /* a commit runs on the threadpool */
    bool regroup;                   /* cfg's grouping waits to reach the incident manager */
    struct stage_item *stage_queue; /* work items to hand to stages */
    size_t n_stage_queue, cap_stage_queue;
    bool dispatching;                                /* inside stage dispatch (no re-entry) */
    hale_stage stages[HALE_INCIDENT__STATE_COUNT];   /* by state; on_enter NULL when none */
    struct loop_stats stats;                         /* for /metrics */
    hale_policy *policy;                             /* the set in force, one reference */
    hale_store *control;                             /* pause switch and votes: own writer */
    hale_approvals *approvals;                       /* on control */
    bool paused;                                     /* the global kill switch */
    char pause_actor[HALE_LOOP_MAX_PAUSE_TEXT + 1];  /* who set it last */
    char pause_reason[HALE_LOOP_MAX_PAUSE_TEXT + 1]; /* why */
    int64_t pause_since_ms;                          /* when, unix ms; 0: never set */
    struct loop_write *writes;                       /* for the next commit job */
    size_t n_writes, cap_writes;
    struct hale_heal *heal;             /* remediation: loop_heal*.c */
    int64_t started_ms;                 /* unix ms */
    struct hale__loop_metrics *metrics; /* metric sources and models (NULL: off) */
    bool draining;                      /* shutdown began */
    bool closed;                        /* handles are closing */
};

/* loop_intake.c */
void hale__loop_submit(void *ud, hale_http_req *req, hale_ingest_batch *batch, const char *kind);
/* An event hale raised itself (body taken), committed like a POST /api/v1/events. Returns 0,
 * or -ENOMEM (batch and body freed). */
int hale__loop_submit_internal(hale_loop *l, hale_ingest_batch *batch, char *body, size_t len);
/* Start a commit of the pending requests unless one runs already. */
void hale__loop_flush(hale_loop *l);
/* When idle: start an empty commit if incident membership waits to be written. */
void hale__loop_flush_idle(hale_loop *l);
/* Is the writer connection free for the loop thread (no commit in flight)? */
bool hale__loop_store_idle(const hale_loop *l);

/* loop_stages.c */
void hale__loop_entered(void *ud, int64_t incident_id, hale_incident_state s, int64_t outbox_id);
void hale__loop_dispatch_stages(hale_loop *l);
int hale__loop_redeliver(hale_loop *l);

/* Hand a reloaded grouping to the incident manager, once no commit owns it. */
void hale__loop_apply_grouping(hale_loop *l);
/* Copy the manager's sizes into stats for /metrics (loop thread, no commit running). */
void hale__loop_stats_refresh(hale_loop *l);

/* loop_audit.c */
/* The hale binary set with hale_loop_set_exe, NULL for /proc/self/exe. */
const char *hale__loop_exe(void);
int hale__loop_audit_open(hale_loop *l, hale_diag *reterr);
void hale__loop_audit_close(hale_loop *l, const char *reason);
/* Queue a leaf (payload stolen, even on failure) for the next commit job. */
int hale__loop_audit_queue(hale_loop *l, const char *kind, json_t *payload);
int hale__loop_audit_config_reloaded(hale_loop *l);
int hale__loop_audit_append_items(hale_loop *l, const struct audit_item *items, size_t n,
                                  char *errmsg, size_t errmsg_size);
void hale__loop_audit_items_free(struct audit_item *items, size_t n);
void hale__loop_audit_plan(hale_loop *l, struct commit_job *job);
void hale__loop_audit_job(hale_loop *l, struct commit_job *job);
void hale__loop_audit_done(hale_loop *l, struct commit_job *job);
bool hale__loop_audit_unsealed(const hale_loop *l);
/* Anchor the log at the next chance, whatever audit_anchor_interval_s says (after a high-risk
 * action); nothing happens without anchor files or witnesses. */
void hale__loop_audit_anchor_soon(hale_loop *l);
/* Is signing, rotating or anchoring due with no commit to carry it? */
bool hale__loop_audit_due(hale_loop *l);

/* loop_policy.c */
int hale__loop_policy_open(hale_loop *l, hale_diag *reterr);
void hale__loop_policy_close(hale_loop *l);
/* {"paused", "actor", "reason", "since"} as a new reference. Returns 0 or -ENOMEM. */
int hale__loop_pause_json(hale_loop *l, json_t **ret);
/* Count one vote on approval id and queue its `approval` leaf (refusals too). On success *ret
 * gets the approval's JSON after the vote; on refusal reterr says why and *reterr_kind which
 * class of refusal it was. */
int hale__loop_vote(hale_loop *l, int64_t id, const hale_approval_vote *v, json_t **ret,
                    hale_loop_vote_refusal *reterr_kind, hale_diag *reterr);
hale_approvals *hale__loop_approvals(hale_loop *l);

/* Queue a write for the next commit job (one starts at the end of this loop turn). Returns 0
 * or -ENOMEM (then done never runs). */
int hale__loop_write(hale_loop *l, const struct loop_write *w);

/* loop_heal*.c: remediation (docs/heal.md) */
int hale__loop_heal_open(hale_loop *l, hale_diag *reterr);
/* Stages and timers, once the loop runs (stages a test registered itself are kept). */
int hale__loop_heal_start(hale_loop *l);
void hale__loop_heal_close(hale_loop *l); /* before the loop's handles close */
/* A tool or check runs, or a record waits for the store: shutdown waits (up to its deadline). */
bool hale__loop_heal_busy(const hale_loop *l);
void hale__loop_heal_free(hale_loop *l);
/* SIGHUP: reload the catalog and the runbooks (the old ones stay on failure). */
int hale__loop_heal_reload(hale_loop *l, hale_diag *reterr);
/* A counted vote moved approval id to state s. */
void hale__loop_heal_voted(hale_loop *l, int64_t approval_id, hale_approval_state s);
/* POST /api/v1/tools/{name}/run: decide, run and answer req (docs/heal.md). */
void hale__loop_heal_tool_run(void *ud, hale_http_req *req, const char *tool, const json_t *args,
                              bool dry_run, const char *actor, const char *on_behalf_of);
/* The decision_id of the decision that asked for approval id, NULL when unknown. */
const char *hale__loop_heal_decision_of(hale_loop *l, int64_t approval_id);

/* loop_llm.c */
int hale__loop_llm_open(hale_loop *l, hale_diag *reterr);
void hale__loop_llm_close(hale_loop *l); /* cancels calls; before the loop's handles close */
void hale__loop_llm_free(hale_loop *l);

/* loop_metrics_src.c, loop_metrics_sig.c: metric sources, predictions and their events. */
#define HALE_AUDIT_KIND_MODEL_REFIT "model_refit"
#define HALE_AUDIT_KIND_PREDICTION  "prediction"
int hale__loop_metrics_open(hale_loop *l, hale_diag *reterr); /* after the store */
void hale__loop_metrics_start(hale_loop *l);                  /* with the other handles */
void hale__loop_metrics_close(hale_loop *l);                  /* stop sources and timers */
void hale__loop_metrics_free(hale_loop *l); /* last snapshot; before the store closes */
int hale__loop_metrics_families(hale_loop *l, hale_buf *out);
/* The api ops of POST /api/v1/metrics and GET /api/v1/forecasts. */
int hale__loop_api_metrics_ingest(void *ud, hale_sample_set *set, size_t *ret_accepted,
                                  size_t *ret_refused);
size_t hale__loop_api_metrics_max(void *ud);
int hale__loop_api_forecasts(void *ud, const char *series, json_t **ret);

/* loop_metrics.c */
int hale__loop_metrics(void *ud, hale_buf *out);
void hale__loop_stats_init(struct loop_stats *st);
