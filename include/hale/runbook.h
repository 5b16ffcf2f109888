/* include/hale/runbook.h - the deterministic proposal source: the JSON files of policies/runbooks
 * map incident signatures (alertname and label matchers) to candidate actions, a tool and argument
 * templates filled from the incident's labels (docs/runbooks.md). Every filled argument is
 * validated against the tool's schema: a label value that fails validation never reaches argv,
 * the proposal is dropped and reported instead.
 *
 * A loaded set is immutable and refcounted, like the catalog, and usable from any thread. */
#pragma once
#include <jansson.h>
#include <stddef.h>

#include "hale/catalog.h"
#include "hale/diag.h"

typedef struct hale_runbooks hale_runbooks;

/* Load every *.json directly under dir (sorted), checking each action against cat (the tool
 * exists, every template names a known argument, constant arguments validate). A missing dir
 * loads an empty set. Returns 0, HALE_EPARSE, HALE_ESCHEMA ("runbooks/FILE: runbook ID: FIELD:
 * reason"), HALE_ELIMIT, -errno or -ENOMEM; *ret is owned by the caller. The set keeps a
 * reference to cat. */
int hale_runbooks_load(const char *dir, hale_catalog *cat, hale_runbooks **ret, hale_diag *reterr);
hale_runbooks *hale_runbooks_ref(hale_runbooks *rb);
void hale_runbooks_unref(hale_runbooks *rb); /* NULL is a no-op */
size_t hale_runbooks_count(const hale_runbooks *rb);
const char *hale_runbooks_hash_hex(const hale_runbooks *rb);  /* SHA-256 of files, borrowed */
hale_catalog *hale_runbooks_catalog(const hale_runbooks *rb); /* borrowed */

/* The proposals for an incident whose alerts carry labels (object of strings: the labels all
 * its firing alerts share, "alertname" included) and annotations (object of strings, may be
 * NULL; values from annotations are untrusted). In runbook order, then action order.
 *
 * *ret_proposals gets a new array of {"runbook": "FILE#ID", "request": R}, where R is a policy
 * request (docs/policies.md "Requests") without "incident" and "time", which the loop adds:
 * {"tool", "args", "target": {"labels"}, "confidence_bp", "source": "runbook", "risk",
 * "reversible", "untrusted": [JSON pointers of values filled from annotations]}. *ret_rejected (may
 * be NULL) gets a new array of {"runbook", "tool", "reason"} for the actions dropped because a
 * filled value failed validation or a label was missing. Returns 0 (possibly with empty arrays) or
 * -ENOMEM. */
int hale_runbooks_propose(const hale_runbooks *rb, const json_t *labels, const json_t *annotations,
                          json_t **ret_proposals, json_t **ret_rejected);

/* `hale tool check`: load every *.json file under dir alone against cat and report each to cb
 * (err 0 and an empty diag for a valid file, else the error and "runbooks/FILE: runbook ID:
 * FIELD: reason"). Returns the number of invalid files, or -errno when dir cannot be read (a
 * missing dir has none) or -ENOMEM. */
int hale_runbooks_check(const char *dir, hale_catalog *cat,
                        void (*cb)(const char *file, int err, const hale_diag *d, void *ud),
                        void *ud);
