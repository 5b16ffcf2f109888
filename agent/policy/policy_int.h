/* agent/policy/policy_int.h - private to the policy module: the loaded set, its rules, time
 * zones and windows, requests and verdicts, shared by the policy_*.c files. */
#pragma once
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdatomic.h>

#include "hale/policy.h"
#include "util/buf.h"
#include "util/hashmap.h"

/* One value matcher: a string (equals), {"equals"}, {"regex"} or {"in": [...]}. */
enum vm_kind { VM_EQUALS, VM_REGEX, VM_IN };
struct vmatch {
    enum vm_kind kind; /* which form */
    char *text;        /* equals: the value; regex: the source (for explanations) */
    pcre2_code *re;    /* regex: compiled, anchored by the author if wanted */
    char **in;         /* in: the values */
    size_t n_in;       /* entries in in */
};

struct label_match {
    char *name;      /* label name */
    struct vmatch m; /* what its value must be; an absent label never matches */
};

enum tool_kind { TM_ANY, TM_EXACT, TM_GLOB, TM_REGEX };

struct approval_spec {
    char **groups;      /* group names (resolved through the set's groups) */
    size_t n_groups;    /* entries */
    char **users;       /* user names */
    size_t n_users;     /* entries */
    uint32_t count;     /* quorum: distinct allowed approvers needed */
    uint64_t expiry_ms; /* from creation */
    bool escalate;      /* on_expiry: escalate (else deny) */
    bool self_approval; /* the requester may approve */
};

enum scope {
    SCOPE_GLOBAL,
    SCOPE_TOOL,
    SCOPE_TARGET,
    SCOPE_SERVICE,
    SCOPE_TOOL_TARGET,
    SCOPE_TOOL_SERVICE
};
struct rate_limit {
    enum scope per;     /* what is counted together */
    uint32_t max;       /* actions allowed per window: trips when max have started */
    uint64_t window_ms; /* sliding window */
};

struct limits {
    struct rate_limit *rates;  /* rate limits, all must hold */
    size_t n_rates;            /* entries */
    uint64_t cooldown_ms;      /* 0: none; since the last action on the same target */
    int64_t max_concurrent;    /* -1: none; running actions (any target) */
    int64_t blast_max_targets; /* -1: none; distinct targets per group per window */
    int64_t blast_max_percent; /* -1: none; of the group's size, 1..100 */
    char *blast_group_label;   /* target label naming the group ("service") */
    char *blast_size_label;    /* target label holding the group's size */
    uint64_t blast_window_ms;  /* window of the blast radius */
    int64_t autonomy_per_day;  /* -1: none; automated actions per service per 24 h */
    int64_t autonomy_demote;   /* -1: none; failures of the same tool on the service */
};

struct rule {
    char *id;                      /* unique in the set */
    const char *file;              /* borrowed from the set's file names */
    size_t index;                  /* position in the set: explanation order */
    enum tool_kind tool_kind;      /* how the tool is matched */
    char **tools;                  /* exact: names (one or more) */
    size_t n_tools;                /* entries */
    char *tool_pattern;            /* glob or regex source */
    pcre2_code *tool_re;           /* regex */
    struct label_match *target;    /* target label matchers, all must hold */
    size_t n_target;               /* entries */
    struct label_match *incident;  /* incident label matchers */
    size_t n_incident;             /* entries */
    struct vmatch *severity;       /* NULL: any */
    struct vmatch *env;            /* target label env; NULL: any */
    unsigned sources;              /* bit per hale_policy_source; 0: any */
    size_t *in_window;             /* window indices: one must be active */
    size_t n_in_window;            /* entries */
    size_t *outside_window;        /* window indices: none may be active */
    size_t n_outside_window;       /* entries */
    hale_policy_effect effect;     /* when everything holds */
    hale_policy_effect otherwise;  /* when a threshold or limit fails (deny or approval) */
    struct approval_spec approval; /* effect or otherwise require_approval */
    int32_t min_conf[HALE_POLICY_SOURCE__COUNT]; /* -1: no minimum for that source */
    int max_risk;                                /* -1: none; else a hale_policy_risk */
    bool has_limits;                             /* limits below are set */
    struct limits limits;                        /* counted in the ledger */
    bool untrusted_set;                          /* the untrusted clause is present */
    hale_policy_effect untrusted_effect;         /* deny or require_approval */
    char **untrusted_prefixes;                   /* pointer prefixes; none: any */
    size_t n_untrusted_prefixes;                 /* entries */
    bool dry_run;                                /* record, never execute */
};

/* A time zone from a TZif file: transitions, and the POSIX TZ footer for later times. */
struct tz_rule {
    int kind;     /* 'M' month.week.day, 'J' julian 1-365, 'D' zero-based day 0-365 */
    int month;    /* 1-12 for 'M' */
    int week;     /* 1-5 for 'M' (5: last) */
    int day;      /* weekday 0-6 for 'M'; day number for 'J' and 'D' */
    int32_t secs; /* local time of day of the change, may be negative or > 24 h */
};
struct tz_zone {
    char *name;         /* IANA name */
    int64_t *trans;     /* transition times, unix seconds, ascending */
    uint8_t *trans_idx; /* type index in effect from trans[i] */
    size_t n_trans;     /* entries */
    int32_t *utoff;     /* UT offset of each type, seconds */
    size_t n_types;     /* entries */
    int32_t first_off;  /* offset before the first transition */
    bool has_footer;    /* the POSIX TZ string below applies after the last transition */
    int32_t std_off;    /* footer: standard offset east of UT, seconds */
    int32_t dst_off;    /* footer: daylight offset */
    bool has_dst;       /* footer: with daylight saving */
    struct tz_rule dst_start, dst_end; /* footer: in local standard resp. daylight time */
};

struct weekly {
    uint8_t days;  /* bit 0 Sunday .. bit 6 Saturday */
    int start_min; /* local minutes after midnight */
    int end_min;   /* exclusive; <= start_min runs past midnight into the next day */
};
struct window {
    char *name;            /* key in "windows" */
    const char *file;      /* where it was defined */
    struct tz_zone *zone;  /* borrowed from the set; NULL for UTC */
    int64_t (*ranges)[2];  /* [start, end) unix ms */
    size_t n_ranges;       /* entries */
    struct weekly *weekly; /* weekly schedules */
    size_t n_weekly;       /* entries */
};

struct group {
    char **users; /* members */
    size_t n;     /* entries */
};

struct idx_list {
    size_t *v;  /* rule indices, ascending */
    size_t n;   /* entries */
    size_t cap; /* allocated */
};

struct hale_policy {
    atomic_uint refs;                      /* owners; verdicts on other threads hold one too */
    struct rule *rules;                    /* every rule, in file then position order */
    size_t n_rules;                        /* entries */
    size_t cap_rules;                      /* allocated */
    struct window *windows;                /* named windows */
    size_t n_windows;                      /* entries */
    struct tz_zone **zones;                /* distinct zones */
    size_t n_zones;                        /* entries */
    hale_map *groups;                      /* name -> struct group */
    hale_map *ids;                         /* rule id -> its index + 1 */
    hale_map *by_tool;                     /* exact tool name -> struct idx_list */
    struct idx_list fallback;              /* rules matched by glob, regex or any tool */
    char **files;                          /* file names, owned */
    size_t n_files;                        /* entries */
    char hash_hex[HALE_POLICY_DIGEST_HEX]; /* content hash */
    pcre2_match_context *mctx;             /* match and depth limits for every regex */
};

struct hale_policy_request {
    json_t *root;              /* the whole request, one reference */
    const char *tool;          /* borrowed from root */
    json_t *args;              /* borrowed: object (own_args when absent) */
    json_t *own_args;          /* an empty object standing in for absent args, owned */
    json_t *target;            /* borrowed: the "target" object */
    json_t *target_labels;     /* borrowed: object of strings */
    const char *incident_id;   /* borrowed; "" when absent */
    const char *severity;      /* borrowed; "" when absent */
    json_t *incident_labels;   /* borrowed: object of strings (maybe empty) */
    int64_t confidence_bp;     /* 0..10000 */
    hale_policy_source source; /* where the confidence comes from */
    hale_policy_risk risk;     /* tool's tier */
    bool reversible;           /* from the manifest */
    int64_t time_ms;           /* 0 when absent */
    const char **untrusted;    /* JSON pointers, borrowed from root */
    size_t n_untrusted;        /* entries */
    char *target_key;          /* canonical JSON of the labels, owned */
    const char *service;       /* target label service, or "" */
    char digest_hex[HALE_POLICY_DIGEST_HEX]; /* action digest */
};

enum rule_result { RR_MATCHED, RR_NOT_MATCHED, RR_FAILED };
struct verdict_rule {
    const struct rule *rule;   /* borrowed from the set the verdict references */
    enum rule_result result;   /* matched (took its effect), not matched, failed (otherwise) */
    hale_policy_effect effect; /* what it contributed (matched or failed) */
    char *why;                 /* explanation, owned */
};

struct hale_policy_verdict {
    hale_policy *policy;                     /* referenced */
    hale_policy_effect effect;               /* the combined answer */
    bool dry_run;                            /* some contributing rule says dry_run */
    struct verdict_rule *rules;              /* considered rules */
    size_t n_rules;                          /* entries */
    size_t cap_rules;                        /* allocated */
    char **reasons;                          /* human reasons, owned */
    size_t n_reasons;                        /* entries */
    size_t cap_reasons;                      /* allocated */
    char **tripped;                          /* limits that tripped: "rule: limit: detail" */
    size_t n_tripped;                        /* entries */
    size_t cap_tripped;                      /* allocated */
    char digest_hex[HALE_POLICY_DIGEST_HEX]; /* of the request */
};

struct hale_approved_action {
    char digest_hex[HALE_POLICY_DIGEST_HEX]; /* bound action */
    char *tool;                              /* owned */
    json_t *args;                            /* referenced */
    json_t *target;                          /* referenced */
    bool dry_run;                            /* never execute */
    int64_t approval_id;                     /* 0 for an allow verdict */
    char *approvers;                         /* comma-separated, owned */
};

/* policy_match.c */
int hale__policy_vmatch_parse(const json_t *v, struct vmatch *m, const char *field,
                              hale_diag *reterr);
void hale__policy_vmatch_release(struct vmatch *m);
bool hale__policy_vmatch_test(const hale_policy *p, const struct vmatch *m, const char *s);
void hale__policy_vmatch_describe(const struct vmatch *m, hale_buf *b);
bool hale__policy_glob(const char *pat, const char *s);

/* policy_tz.c */
int hale__policy_zone_load(const char *name, struct tz_zone **ret, hale_diag *reterr);
int hale__policy_zone_parse(const char *name, const unsigned char *data, size_t len,
                            struct tz_zone **ret, hale_diag *reterr);
void hale__policy_zone_free(struct tz_zone *z);
int32_t hale__policy_zone_offset(const struct tz_zone *z, int64_t unix_s);
bool hale__policy_window_active(const struct window *w, int64_t now_ms);

/* policy_parse.c: one file into the set under construction. */
int hale__policy_parse_file(hale_policy *p, const char *name, json_t *root, int phase,
                            hale_diag *reterr);
void hale__policy_groups_free(hale_map *groups);
void hale__policy_rule_release(struct rule *r);
void hale__policy_window_release(struct window *w);
int hale__policy_strv_parse(const json_t *v, char ***ret, size_t *ret_n, const char *what,
                            hale_diag *reterr);
void hale__policy_strv_free(char **v, size_t n);

/* policy_rule.c: a rule's fields. */
int hale__policy_rule_parse(hale_policy *p, struct rule *r, const json_t *obj, size_t pos,
                            hale_diag *reterr);
int hale__policy_limits_parse(const json_t *obj, struct limits *l, hale_diag *reterr);
int hale__policy_approval_parse(const hale_policy *p, const json_t *obj, struct approval_spec *a,
                                hale_diag *reterr);
int hale__policy_match_parse(hale_policy *p, struct rule *r, const json_t *obj, hale_diag *reterr);

const char *hale__policy_scope_name(int s);

/* policy_eval.c */
bool hale__policy_untrusted_hit(const struct rule *r, const hale_policy_request *req,
                                const char **ret_ptr);

/* policy_verdict.c */
int hale__policy_verdict_add_rule(hale_policy_verdict *v, const struct rule *r,
                                  enum rule_result res, hale_policy_effect e, hale_buf *why);
int hale__policy_verdict_add_reason(hale_policy_verdict *v, char ***arr, size_t *n, size_t *cap,
                                    const char *text);
hale_approved_action *hale__policy_action_new(const hale_policy_request *req, bool dry_run,
                                              int64_t approval_id, const char *approvers);
/* Resolve the approvers allowed by a verdict's require_approval rules into a JSON array of
 * requirements [{"rule", "count", "users": [...], "groups": [...]}]; NULL when out of memory. */
json_t *hale__policy_verdict_requirements(const hale_policy_verdict *v, uint64_t *ret_expiry_ms,
                                          bool *ret_escalate, bool *ret_self_approval);

/* Names */
const char *hale__policy_source_name(hale_policy_source s);
int hale__policy_source_parse(const char *s);

/* policy_approvals_store.c: storage of approvals, shared with policy_approvals.c. */
enum ap_stmt { AP_INSERT, AP_GET, AP_STATE, AP_VOTES, AP_VOTE, AP_DUE, AP_LIST, AP__COUNT };

struct hale_approvals {
    hale_store *store;                    /* borrowed */
    struct sqlite3 *db;                   /* the store's connection */
    struct sqlite3_stmt *stmt[AP__COUNT]; /* prepared at open */
};

/* One approval row, copied out of SQLite. */
struct ap_row {
    int64_t id;                          /* approval id */
    char digest[HALE_POLICY_DIGEST_HEX]; /* action digest */
    char nonce[33];                      /* 16 random bytes in hex */
    char *tool;                          /* owned */
    json_t *request;                     /* the request as proposed */
    char *requester;                     /* owned */
    char *incident_id;                   /* owned */
    json_t *requirements;                /* [{"rule", "count", "users", "groups"}] */
    bool self_approval;                  /* the requester may approve */
    bool escalate;                       /* on_expiry */
    bool dry_run;                        /* from the verdict */
    char *policy_hash;                   /* owned */
    int64_t created_ms;                  /* unix ms */
    int64_t expires_ms;                  /* unix ms */
    hale_approval_state state;           /* now */
};

/* 0, HALE_ENOTFOUND or HALE_ESTORE; *r is filled (release it) on 0. */
int hale__approvals_row_get(hale_approvals *a, int64_t id, struct ap_row *r);
void hale__approvals_row_release(struct ap_row *r);
int hale__approvals_set_state(hale_approvals *a, int64_t id, hale_approval_state s, int64_t now_ms);
/* Begin a write transaction unless the caller has one (*own says which); end it with
 * tx_end, which commits on r == 0 and rolls back otherwise, returning r or the commit's error. */
int hale__approvals_tx_begin(hale_approvals *a, bool *own);
int hale__approvals_tx_end(hale_approvals *a, bool own, int r);
void hale__approvals_done(struct sqlite3_stmt *st); /* reset and clear bindings */
char *hale__approvals_col_dup(struct sqlite3_stmt *st, int i);
bool hale__approvals_in_users(const json_t *users, const char *user);
