/* agent/catalog/catalog_int.h - private to the catalog module (catalog*.c and runbook*.c): the
 * parsed form of a manifest, argument validation and the "{{ns.NAME}}" templates that
 * manifests and runbooks share. */
#pragma once
#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hale/catalog.h"
#include "hale/diag.h"
#include "hale/limits.h"

#define HALE_CATALOG_MAX_TOOLS         HALE_MAX_TOOLS
#define HALE_CATALOG_MAX_MANIFEST      HALE_MAX_MANIFEST_BYTES
#define HALE_CATALOG_MAX_COMMAND       HALE_MAX_TOOL_COMMAND_BYTES
#define HALE_CATALOG_MAX_ARGS          HALE_SANDBOX_MAX_ARGS
#define HALE_CATALOG_MAX_STRING        HALE_MAX_TOOL_STRING_BYTES
#define HALE_CATALOG_DEFAULT_STRING    256u  /* max_length when the manifest gives none */
#define HALE_CATALOG_MAX_ENUM          256u  /* values of one enum */
#define HALE_CATALOG_MAX_PATTERN       4096u /* bytes of one pattern */
#define HALE_CATALOG_DEFAULT_TIMEOUT   30u   /* timeout_s when absent */
#define HALE_CATALOG_MAX_TIMEOUT       3600u /* timeout_s ceiling */
#define HALE_CATALOG_MAX_CHECK_TIMEOUT 3600u /* verify.timeout_s and stabilize_s ceiling */

typedef enum arg_type { ARG_STRING = 0, ARG_INTEGER, ARG_BOOLEAN } arg_type;

/* One argument of a tool's schema. */
struct hale__arg {
    char *name;          /* member name, ^[a-z][a-z0-9_]{0,63}$ */
    arg_type type;       /* string, integer or boolean */
    char *pattern;       /* pcre2 source, or NULL */
    pcre2_code *re;      /* compiled anchored pattern, or NULL */
    size_t max_length;   /* strings: bytes */
    bool has_min;        /* integers: min given */
    bool has_max;        /* integers: max given */
    int64_t min;         /* integers: lower bound, inclusive */
    int64_t max;         /* integers: upper bound, inclusive */
    json_t *enum_values; /* array of allowed values, or NULL */
    json_t *def;         /* default value, or NULL */
    bool required;       /* named in "required" */
};

/* A precondition or verify as the manifest declares it (templates unresolved). */
struct hale__check_decl {
    bool present;              /* declared at all */
    hale_tool_check_kind kind; /* tool, alert or metric */
    char *tool;                /* CHECK_TOOL: the diagnostic tool's name */
    json_t *args;              /* CHECK_TOOL: argument templates (object) */
    int expect_exit;           /* CHECK_TOOL: expected exit code */
    json_t *expect_output;     /* CHECK_TOOL: members the result must have, or NULL */
    bool alert_resolved;       /* CHECK_ALERT: "resolved" (true) or "firing" */
    char *query;               /* CHECK_METRIC: PromQL */
    char op[3];                /* CHECK_METRIC: "<", "<=", ">", ">=", "==", "!=" */
    double value;              /* CHECK_METRIC: compared with */
    uint64_t stabilize_ms;     /* wait before checking */
    uint64_t timeout_ms;       /* give up after */
};

struct hale_tool {
    char *name;                     /* == folder name */
    char *description;              /* free text */
    char *manifest_path;            /* "tools/NAME/manifest.json" as errors name it */
    hale_tool_kind kind;            /* diagnostic or remediation */
    hale_policy_risk risk;          /* low .. critical */
    bool idempotent;                /* safe to repeat */
    char *dir;                      /* absolute tool folder */
    char *path;                     /* absolute command path, pinned */
    char sha256_hex[65];            /* of the command at load */
    struct hale__arg *args;         /* sorted by name */
    size_t n_args;                  /* entries in args */
    uint64_t timeout_ms;            /* timeout_s * 1000 */
    hale_sandbox_spec base;         /* limits, uid, keep_caps, host_pid, require */
    char **connect;                 /* network.connect templates, NULL-terminated or NULL */
    char **writable;                /* templates, NULL-terminated */
    char **readable;                /* templates, NULL-terminated */
    char **env;                     /* variable names, NULL-terminated */
    struct hale__check_decl pre;    /* precondition */
    struct hale__check_decl verify; /* verify */
    char *rollback_tool;            /* NULL: not reversible */
    json_t *rollback_args;          /* templates over args.* and output.* */
    json_t *manifest;               /* the parsed manifest, for to_json */
    size_t manifest_len;            /* bytes of the manifest file */
    char *manifest_text;            /* the manifest file, for the catalog hash */
    pcre2_match_context *mctx;      /* match and depth limits of this tool's patterns */
};

struct hale_catalog {
    atomic_int refs;          /* frees at zero */
    struct hale_tool **tools; /* sorted by name */
    size_t n_tools;           /* entries in tools */
    char hash_hex[65];        /* over manifests and commands */
};

/* ---- catalog_manifest.c ---- */

/* Parse the manifest root (already JSON) of the folder dir (absolute) named name; where is the
 * "tools/NAME/manifest.json" prefix of errors. On success *ret is a new tool. HALE_ESCHEMA,
 * HALE_ELIMIT or -ENOMEM with reterr otherwise. Cross-tool references are checked later. */
int hale__tool_parse(const char *name, const char *dir, const char *where, json_t *root,
                     struct hale_tool **ret, hale_diag *reterr);
/* Check the precondition, verify and rollback of t against the other tools of c. */
int hale__tool_link(const hale_catalog *c, const struct hale_tool *t, hale_diag *reterr);
void hale__tool_free(struct hale_tool *t); /* NULL is a no-op */
/* Open path (no link followed), check it is a regular, executable file not writable by others,
 * and hash it into out_hex; errors name it as shown ("command: 'SHOWN': reason"). */
int hale__command_hash(const char *path, const char *shown, char out_hex[65], hale_diag *reterr);

/* ---- catalog_args.c ---- */

/* Parse the "args" object and "required" array into t. */
int hale__args_parse(struct hale_tool *t, const json_t *args, const json_t *required,
                     hale_diag *reterr);
void hale__arg_release(struct hale__arg *a);
const struct hale__arg *hale__tool_arg(const struct hale_tool *t, const char *name);
/* Check one value against a (prefix: "args.NAME" in messages). */
int hale__arg_check(const struct hale__arg *a, const json_t *v, const char *prefix,
                    hale_diag *reterr);
/* args with defaults applied and validated: a new object, or an error. */
int hale__args_complete(const struct hale_tool *t, const json_t *args, json_t **ret,
                        hale_diag *reterr);
/* A string label value converted to the type of a ("3" to 3, "true" to true) for runbook
 * templates, which only have strings; other values are returned with a new reference. NULL
 * when the string is not of that form (the caller reports it) or on allocation failure. */
json_t *hale__arg_coerce(const struct hale__arg *a, json_t *v);
/* ---- catalog_tmpl.c: templates ---- */

/* The value of namespace ns ("args", "output", "labels", "annotations") member name, or NULL. */
typedef const json_t *(*hale__tmpl_lookup)(void *ud, const char *ns, const char *name);

/* Call fn for every "{{ns.NAME}}" reference in the string s; fn returns 0 or an error that
 * stops the scan. Returns HALE_ESCHEMA (with reterr "unterminated or malformed template") for a
 * "{{" that is not a reference. */
int hale__tmpl_scan(const char *s, int (*fn)(void *ud, const char *ns, const char *name), void *ud,
                    hale_diag *reterr);
/* Check every template string inside v (recursively) names a namespace in allowed (a
 * NULL-terminated list) and, for "args", an argument of t (when t is non-NULL). where prefixes
 * errors. */
int hale__tmpl_check(const json_t *v, const char *const *allowed, const struct hale_tool *t,
                     const char *where, hale_diag *reterr);
/* Fill every template inside v: a string that is exactly one reference takes the typed value;
 * otherwise references concatenate the value's text. A missing value is HALE_ESCHEMA
 * ("where: NS.NAME is not set"). *ret is a new reference. */
int hale__tmpl_fill(const json_t *v, hale__tmpl_lookup lookup, void *ud, const char *where,
                    json_t **ret, hale_diag *reterr);
/* Whether any template inside v references namespace ns. */
bool hale__tmpl_uses(const json_t *v, const char *ns);
/* Whether s is exactly "{{ns.NAME}}"; then NAME goes to name (cap bytes). */
bool hale__tmpl_whole(const char *s, const char *ns, char *name, size_t cap);
/* An absolute path below / without "." or ".." segments or control characters. */
bool hale__abs_path_ok(const char *s);

/* ---- catalog_check.c: precondition, verify, rollback ---- */

int hale__check_parse(struct hale_tool *t, const json_t *obj, const char *which,
                      struct hale__check_decl *d, hale_diag *reterr);
void hale__check_decl_release(struct hale__check_decl *d);
int hale__check_link(const hale_catalog *c, const struct hale_tool *t,
                     const struct hale__check_decl *d, const char *which, hale_diag *reterr);
/* A call of tool name with argument templates args (precondition, verify, rollback): the tool
 * exists (and is diagnostic when diagnostic is set), every member names one of its arguments,
 * and every constant member validates. where prefixes errors ("rollback"). */
int hale__call_link(const hale_catalog *c, const char *name, const json_t *args, const char *where,
                    bool diagnostic, hale_diag *reterr);

/* ---- shared small helpers (catalog.c) ---- */
void hale__strv_free(char **v);
bool hale__name_valid(const char *s); /* ^[a-z][a-z0-9_]{0,63}$ */
/* Sorted entries of dir: subdirectories (suffix NULL) or regular files ending in suffix, at
 * most max. Returns 0, -errno (-ENOENT for a missing dir), HALE_ELIMIT or -ENOMEM. */
int hale__dir_list(const char *dir, const char *suffix, size_t max, char ***ret, size_t *ret_n,
                   hale_diag *reterr);
/* SHA-256 of n named texts (name, length, text, then extra[i] when extra is non-NULL) as hex. */
void hale__hash_named(char *const *names, char *const *texts, const size_t *lens,
                      const char *const *extra, size_t n, char out_hex[65]);
/* Read dir/name (at most max bytes) and parse it as JSON ("where:line:col: reason"). */
int hale__json_file(const char *path, const char *where, size_t max, char **ret_text,
                    size_t *ret_len, json_t **ret, hale_diag *reterr);
