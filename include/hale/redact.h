/* include/hale/redact.h - remove secrets and PII from text before it leaves the process.
 * A rule set (hale_redact) is compiled once from a JSON rules file and is immutable: any
 * number of threads may share it. A session (hale_redact_session) holds the placeholder
 * mapping of one incident or request, its pcre2 match data and JIT stack; it is used by one
 * thread at a time. Engine layer: no I/O except hale_redact_load reading its file, no logging.
 * The rules format, entity types and measured figures are in docs/redaction.md. */
#pragma once
#include <stddef.h>

#include "hale/diag.h"

typedef struct hale_redact hale_redact;
typedef struct hale_redact_session hale_redact_session;

/* Where `hale redact` looks when no --rules is given (relative to the working directory). */
#define HALE_REDACT_DEFAULT_RULES "policies/redact/rules.json"

/* One redacted span. Never carries the value itself, so findings may be logged and audited. */
typedef struct hale_redact_finding {
    const char *type;    /* entity type ("EMAIL", "CLOUD_KEY"); borrowed from the rule set */
    const char *rule_id; /* id of the rule that matched; borrowed from the rule set */
    size_t offset;       /* byte offset of the span in the input text */
    size_t length;       /* length of the span in bytes */
} hale_redact_finding;

/* What hale_redact_apply produces; owned by the caller, freed with
 * hale_redact_result_release. text holds no secret, so plain free() semantics are fine. */
typedef struct hale_redact_result {
    char *text;                    /* redacted text, NUL-terminated */
    size_t len;                    /* bytes in text, not counting the NUL */
    hale_redact_finding *findings; /* in input order, non-overlapping */
    size_t n_findings;             /* entries in findings */
    size_t n_escaped;              /* placeholder-shaped strings of the input that were escaped */
} hale_redact_result;

/* Read and compile the rules file at path (at most HALE_REDACT_MAX_RULES_BYTES). On success
 * *ret is a new rule set owned by the caller. On failure returns -errno (file unreadable),
 * HALE_ECONFIG (bad rules: reterr says "FILE: RULE_ID: FIELD: reason") or -ENOMEM, and leaves
 * *ret untouched. */
int hale_redact_load(const char *path, hale_redact **ret, hale_diag *reterr);

/* The same from a JSON document in memory; name stands for the file in messages. */
int hale_redact_parse(const char *json, size_t len, const char *name, hale_redact **ret,
                      hale_diag *reterr);

/* Number of rules in r. */
size_t hale_redact_rule_count(const hale_redact *r);

/* Free a rule set (NULL is a no-op). Every session made from it must be freed first. */
void hale_redact_free(hale_redact *r);

/* A new, empty session over r, which is borrowed and must outlive the session. Returns 0 or
 * -ENOMEM; *ret is written only on success. */
int hale_redact_session_new(const hale_redact *r, hale_redact_session **ret);

/* Wipe the placeholder mapping and free the session (NULL is a no-op). */
void hale_redact_session_free(hale_redact_session *s);

/* Number of distinct values the session has replaced so far. */
size_t hale_redact_session_size(const hale_redact_session *s);

/* Those values by entity type: fn(type, count, ud) once for each type with at least one, in
 * the rule set's order (types borrowed from the rule set). For audit records: no value. */
void hale_redact_session_counts(const hale_redact_session *s,
                                void (*fn)(const char *type, size_t n, void *ud), void *ud);

/* Redact len bytes of text (NUL bytes allowed). Every span a rule finds is replaced by a typed
 * placeholder "<TYPE_N>"; the same value always gets the same placeholder within the session.
 * A span covering line breaks keeps them after its placeholder, so the output has the same
 * line structure. Strings of the input that look like placeholders ("<EMAIL_1>") are escaped
 * ("<\EMAIL_1>") so they can never be taken for, or un-masked as, a real placeholder.
 * Returns the number of findings on success and fills *ret. Fails closed: on a pcre2 match or
 * depth limit (HALE_ELIMIT), input over HALE_REDACT_MAX_INPUT_BYTES (HALE_ELIMIT) or
 * allocation failure (-ENOMEM), *ret is untouched and no text is produced. Placeholders issued
 * before the failure stay valid; after -ENOMEM the session may also map some values of the
 * failed call, which is harmless (the mapping never leaves the process). */
int hale_redact_apply(hale_redact_session *s, const char *text, size_t len,
                      hale_redact_result *ret);

/* Free what a result owns and zero it (NULL is a no-op). */
void hale_redact_result_release(hale_redact_result *res);

/* For text shown to authorised humans only, never for tool arguments or anything sent out:
 * replace the placeholders this session issued by their original values and undo the escaping
 * of placeholder-shaped input, so unmask(apply(x)) == x. Placeholders the session did not issue
 * are left as they are. On success *ret is a NUL-terminated string that the caller must free
 * with hale_redact_unmasked_free, which wipes it, and *ret_len (may be NULL) its length.
 * Returns 0, HALE_ELIMIT (over HALE_REDACT_MAX_INPUT_BYTES) or -ENOMEM. */
int hale_redact_unmask(const hale_redact_session *s, const char *text, size_t len, char **ret,
                       size_t *ret_len);

/* Wipe and free what hale_redact_unmask returned (NULL is a no-op). */
void hale_redact_unmasked_free(char *text);
