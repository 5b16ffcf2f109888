/* include/hale/catalog.h - the tool catalog: every tools/<name>/manifest.json, validated once
 * into an immutable, refcounted set (docs/tools.md has the manifest format). The catalog is the
 * allowlist: only a tool it holds can run, only with arguments its schema accepts, and only
 * through the argv and sandbox profile it builds. No shell is ever involved.
 *
 * A loaded catalog is read-only and may be used from any thread; load, ref and unref are safe
 * from any thread too (the refcount is atomic). */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/diag.h"
#include "hale/fwd.h"
#include "hale/policy.h"
#include "hale/sandbox.h"

typedef struct hale_catalog hale_catalog;
typedef struct hale_tool hale_tool;             /* borrowed from its catalog */
typedef struct hale_tool_run hale_tool_run;     /* one prepared invocation, owned */
typedef struct hale_tool_check hale_tool_check; /* a resolved precondition or verify, owned */

typedef enum hale_tool_kind {
    HALE_TOOL_DIAGNOSTIC = 0, /* read-only: may run during investigation */
    HALE_TOOL_REMEDIATION,    /* changes the system: only through policy */
} hale_tool_kind;

/* ---- Loading ---------------------------------------------------------------------------- */

/* Load every dir/<name>/manifest.json (sorted by name; a subdirectory without a manifest is
 * skipped) into a new catalog with refcount 1, owned by the caller. Every manifest must be
 * valid: the first error fails the load with HALE_EPARSE (JSON syntax, "file:line:col: reason"),
 * HALE_ESCHEMA ("tools/NAME/manifest.json: FIELD: reason", also a command that is missing, not
 * executable, outside its folder, or a rollback/verify/precondition naming an unknown tool or
 * argument), HALE_ELIMIT or -errno/-ENOMEM; *ret is then untouched. A missing dir loads an
 * empty catalog. The command's absolute path and SHA-256 are pinned at load. */
int hale_catalog_load(const char *dir, hale_catalog **ret, hale_diag *reterr);

/* `hale tool check`: validate every manifest under dir and report each to cb (err 0 and an
 * empty diag for a valid one). Returns the number of invalid manifests, or -errno when dir
 * cannot be read. */
int hale_catalog_check(const char *dir,
                       void (*cb)(const char *manifest_path, int err, const hale_diag *d, void *ud),
                       void *ud);

hale_catalog *hale_catalog_ref(hale_catalog *c); /* returns c */
void hale_catalog_unref(hale_catalog *c);        /* NULL is a no-op; frees at zero */

/* SHA-256 over every manifest and pinned command, lowercase hex; borrowed from c. */
const char *hale_catalog_hash_hex(const hale_catalog *c);
size_t hale_catalog_count(const hale_catalog *c);
const hale_tool *hale_catalog_at(const hale_catalog *c, size_t i);           /* sorted by name */
const hale_tool *hale_catalog_find(const hale_catalog *c, const char *name); /* NULL: none */

/* ---- One tool ------------------------------------------------------------------------------ */

const char *hale_tool_name(const hale_tool *t);
const char *hale_tool_description(const hale_tool *t);
hale_tool_kind hale_tool_kind_of(const hale_tool *t);
hale_policy_risk hale_tool_risk(const hale_tool *t);
bool hale_tool_reversible(const hale_tool *t); /* has a rollback */
bool hale_tool_idempotent(const hale_tool *t);
const char *hale_tool_path(const hale_tool *t);       /* absolute command path, pinned */
const char *hale_tool_sha256_hex(const hale_tool *t); /* of the command at load */
uint64_t hale_tool_timeout_ms(const hale_tool *t);
/* Re-read the pinned command and compare its SHA-256 with the one pinned at load: call it just
 * before running (blocking file I/O: from the job that runs the tool, not the loop thread).
 * Returns 0, HALE_EPOLICY (the file changed: do not run it), HALE_ESCHEMA (it is gone, no
 * longer a regular executable file, or world-writable), HALE_ELIMIT or -ENOMEM, with reterr.
 * Thread-safe. */
int hale_tool_verify_command(const hale_tool *t, hale_diag *reterr);
/* Layers of include/hale/sandbox.h the tool requires: HALE_SANDBOX_REQUIRE_DEFAULT, minus PIDNS
 * for "host_pid" and UID for "run_as": "root", plus its manifest's "sandbox.require". */
uint32_t hale_tool_required_layers(const hale_tool *t);

/* The manifest as `hale tool list --json` and prompts show it: {"name", "description", "kind",
 * "risk", "reversible", "idempotent", "args", "timeout_s", "network", "sha256", ...}. New
 * reference; NULL only when out of memory. */
json_t *hale_tool_to_json(const hale_tool *t);

/* Check args (a JSON object) against the tool's schema: required members present, no unknown
 * member, types, enum, pattern (pcre2, anchored), min/max, length caps, no "..", no NUL, no
 * control characters. Returns 0 or HALE_ESCHEMA with "args.NAME: what was wrong and what was
 * expected" in reterr. */
int hale_tool_validate_args(const hale_tool *t, const json_t *args, hale_diag *reterr);

/* ---- Running ------------------------------------------------------------------------------- */

/* Validate args and build one invocation: the argv of the manifest's template with typed,
 * validated values (never through a shell), the environment allowlist, writable paths,
 * network allowlist, rlimits, timeout and output caps. On success *ret is owned by the caller.
 * Returns 0, HALE_ESCHEMA (args invalid, reterr names the argument) or -ENOMEM. */
int hale_tool_prepare(const hale_tool *t, const json_t *args, hale_tool_run **ret,
                      hale_diag *reterr);
void hale_tool_run_free(hale_tool_run *r); /* NULL is a no-op */

/* The sandbox spec of the run, borrowing its strings from r (valid while r lives). The caller
 * may tighten it (require more layers) but never loosen it. */
const hale_sandbox_spec *hale_tool_run_spec(const hale_tool_run *r);
/* SHA-256 of the exact argv (path and arguments, each NUL-terminated), lowercase hex; this is
 * the exec_intent leaf's argv_sha256. Borrowed from r. */
const char *hale_tool_run_argv_sha256(const hale_tool_run *r);
/* The validated arguments (borrowed from r). */
const json_t *hale_tool_run_args(const hale_tool_run *r);

/* The tool's structured result: the last line of its stdout when that line is a JSON object
 * (tools print one, docs/tools.md), else NULL. New reference. */
json_t *hale_tool_output_json(const char *out, size_t len);

/* ---- Rollback, precondition and verification ------------------------------------------------ */

/* The rollback of a run of t with args whose result (hale_tool_output_json, may be NULL) was
 * output: the rollback tool and its arguments derived by the manifest's templates
 * ("{{args.NAME}}", "{{output.NAME}}"), validated against that tool's schema. Returns 0,
 * HALE_ENOTFOUND (t is not reversible), HALE_ESCHEMA (a derived argument is missing or
 * invalid) or -ENOMEM. *ret_args is a new reference; *ret_tool is borrowed from c. */
int hale_tool_rollback(const hale_catalog *c, const hale_tool *t, const json_t *args,
                       const json_t *output, const hale_tool **ret_tool, json_t **ret_args,
                       hale_diag *reterr);

typedef enum hale_tool_check_kind {
    HALE_TOOL_CHECK_TOOL = 0, /* run a diagnostic tool; compare its exit code and result */
    HALE_TOOL_CHECK_ALERT,    /* the incident's alerts are resolved (or still firing) */
    HALE_TOOL_CHECK_METRIC,   /* a PromQL instant query compared with a value */
} hale_tool_check_kind;

typedef enum hale_tool_check_which {
    HALE_TOOL_PRECONDITION = 0, /* must hold before the tool runs */
    HALE_TOOL_VERIFY,           /* must hold after the stabilization window */
} hale_tool_check_which;

/* Resolve the manifest's precondition or verify for a run with args: *ret is NULL (and 0 is
 * returned) when the manifest declares none. Returns 0, HALE_ESCHEMA or -ENOMEM. */
int hale_tool_check_resolve(const hale_catalog *c, const hale_tool *t, hale_tool_check_which which,
                            const json_t *args, hale_tool_check **ret, hale_diag *reterr);
void hale_tool_check_free(hale_tool_check *k); /* NULL is a no-op */

hale_tool_check_kind hale_tool_check_kind_of(const hale_tool_check *k);
uint64_t hale_tool_check_stabilize_ms(const hale_tool_check *k); /* wait before checking */
uint64_t hale_tool_check_timeout_ms(const hale_tool_check *k);   /* give up after, then fail */
/* CHECK_TOOL: the diagnostic tool (borrowed from c) and its arguments (borrowed from k). */
const hale_tool *hale_tool_check_tool(const hale_tool_check *k);
const json_t *hale_tool_check_args(const hale_tool_check *k);
/* CHECK_ALERT: true when the alerts must be resolved, false when they must still fire. */
bool hale_tool_check_alert_resolved(const hale_tool_check *k);
/* CHECK_METRIC: the query, the operator ("<", "<=", ">", ">=", "==", "!=") and the value. */
const char *hale_tool_check_query(const hale_tool_check *k);
const char *hale_tool_check_op(const hale_tool_check *k);
double hale_tool_check_value(const hale_tool_check *k);

/* CHECK_TOOL: does a run that ended with exit_code and result output (may be NULL) meet the
 * expectation ({"exit_code": N, "output": {member: value, ...}})? *why says what differed. */
bool hale_tool_check_tool_passed(const hale_tool_check *k, int exit_code, const json_t *output,
                                 hale_diag *why);
/* CHECK_METRIC: does value meet the comparison? */
bool hale_tool_check_metric_passed(const hale_tool_check *k, double value);
