/* agent/loop/loop.h - the controller: owns the uv loop, the config snapshot, the store, the
 * incident manager, the HTTP server and the API, wires them, handles signals and shuts down in
 * order. One per process (tests may run several, each with its own data_dir). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "hale/config.h"
#include "hale/diag.h"
#include "hale/fwd.h"
#include "hale/incident.h"
#include "hale/policy.h"

/* The hale binary that helper processes (the audit signer) run from; default /proc/self/exe.
 * For programs that embed the loop but are not hale (tests). Call before hale_loop_new. */
void hale_loop_set_exe(const char *path);

/* Build a controller from cfg (a reference is taken). config_path is where SIGHUP reloads
 * from, NULL when running on built-in defaults. Opens the store and binds the listener.
 * Returns 0 or an error with the reason in reterr; *ret is owned by the caller. */
int hale_loop_new(hale_config *cfg, const char *config_path, hale_loop **ret, hale_diag *reterr);

/* Register a stage before hale_loop_run (copied). Returns 0, or -EEXIST when the state already
 * has a stage. */
int hale_loop_register_stage(hale_loop *l, const hale_stage *stage);

/* Run until SIGTERM/SIGINT or hale_loop_stop(), then shut down in order. Returns 0 after a
 * clean shutdown, or a negative error. */
int hale_loop_run(hale_loop *l);

/* Begin the same shutdown a SIGTERM begins. Loop thread only. */
void hale_loop_stop(hale_loop *l);

/* Reload the config from its file, as SIGHUP does. Returns 0, or an error (old config kept). */
int hale_loop_reload(hale_loop *l, hale_diag *reterr);

void hale_loop_free(hale_loop *l); /* NULL is a no-op; after run returned */

/* The port the API listens on (useful with "127.0.0.1:0"). */
uint16_t hale_loop_port(const hale_loop *l);

/* For stages: ask the LLM gateways (include/hale/llm.h, hale_llm_submit) and record the call
 * in the audit log when it ends (an llm_call leaf with the digests of prompt, request and
 * response, tokens, cost, latency and gateway; llm_output_rejected for a discarded answer).
 * Loop thread only. Returns as hale_llm_submit, or HALE_ELIMIT when no gateway is configured
 * (local-only). */
struct hale_llm_call;
struct hale_llm_result;
int hale_loop_llm_submit(hale_loop *l, const struct hale_llm_call *call,
                         void (*cb)(const struct hale_llm_result *res, void *ud), void *ud,
                         hale_diag *reterr);
/* Local-only: no gateway, or the day's (or incident_id's, when not NULL) budget is spent. */
bool hale_loop_llm_degraded(hale_loop *l, const char *incident_id);

/* For stages: move an incident (own transaction). Call from a stage's on_enter, or when no
 * intake commit is in flight. Returns 0, HALE_ENOTFOUND, HALE_ESTATE, HALE_EBUSY (an intake
 * commit owns the store right now: try again from the next on_enter or timer) or a store
 * error. */
int hale_loop_incident_transition(hale_loop *l, int64_t incident_id, hale_incident_state to,
                                  const char *reason);
/* For stages: the work item outbox_id is finished (error NULL for success), and, unless to is
 * the incident's current state, the incident moves to to; one transaction. Same calling rules
 * and errors as hale_loop_incident_transition. */
int hale_loop_stage_done(hale_loop *l, int64_t outbox_id, int64_t incident_id,
                         hale_incident_state to, const char *reason, const char *error);

/* The policy set in force (never NULL between hale_loop_new and hale_loop_free), borrowed:
 * valid until the next SIGHUP or hale_loop_policy_reload; work that outlives the turn takes a
 * reference with hale_policy_ref. Loop thread only. */
hale_policy *hale_loop_policy(hale_loop *l);

/* Reload the policy set from the config's policies_dir, as SIGHUP does: on success the new set
 * replaces the old one at once and a policy_reload audit leaf is queued; on failure the old set
 * stays and reterr says "file: rule: field: reason". A missing directory, or one without
 * rules, loads the empty set (everything denied). Returns what hale_policy_load does. */
int hale_loop_policy_reload(hale_loop *l, hale_diag *reterr);

/* The global kill switch: while true, nothing runs, including work already queued. The
 * executor checks it before every action. Persisted in the store, so it survives restarts. */
bool hale_loop_paused(const hale_loop *l);

/* Set or clear the switch for actor (required: the authenticated identity) with reason and
 * client (what the caller says it is, "cli:alice"; both may be NULL): written to the store
 * first, then in force, then queued as a pause or resume audit leaf. Strings must be valid
 * UTF-8. Returns 0, -EINVAL (no actor, or a string over 4096 bytes), -ENOMEM (also: invalid
 * UTF-8) or a store error with reterr; on failure the switch is unchanged. */
int hale_loop_set_paused(hale_loop *l, bool paused, const char *actor, const char *reason,
                         const char *client, hale_diag *reterr);
