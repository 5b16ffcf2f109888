/* include/hale/config.h - the controller's configuration: one JSON file parsed once against a
 * schema table (agent/config/config_schema.c). A loaded config is an immutable, refcounted
 * snapshot: SIGHUP builds a new one and swaps it in; work in flight keeps the one it holds. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/diag.h"

#define HALE_CONFIG_DEFAULT_FILE "hale.json"
#define HALE_AUTH_MAX_TOKENS     64u /* entries in auth.tokens */
#define HALE_AUTH_MAX_NAME       64u /* bytes of a token's name */
#define HALE_AUTH_HASH_BYTES     32u /* SHA-256 */

/* What a bearer token may do (docs/api.md, "Authentication"). One role per token. */
typedef enum hale_role {
    HALE_ROLE_VIEWER = 1u << 0,   /* read incidents */
    HALE_ROLE_AUDITOR = 1u << 1,  /* read incidents and the audit log */
    HALE_ROLE_APPROVER = 1u << 2, /* read incidents, approve or deny actions */
    HALE_ROLE_ADMIN = 1u << 3,    /* everything */
    HALE_ROLE_INTAKE = 1u << 4,   /* only post alerts and events (a webhook sender) */
} hale_role;

/* One configured bearer token: never the token itself, only its SHA-256. */
typedef struct hale_auth_token {
    char name[HALE_AUTH_MAX_NAME + 1];    /* who holds it, for logs: [A-Za-z0-9._-]+ */
    uint8_t sha256[HALE_AUTH_HASH_BYTES]; /* SHA-256 of the token's bytes */
    hale_role role;                       /* what it may do */
} hale_auth_token;

#define HALE_LLM_CONFIG_MAX_GATEWAYS 16u /* entries in llm.gateways */

/* One LLM gateway of the "llm" key (docs/config.md, docs/llm.md). Never holds the API key:
 * only where to find it. Strings are owned by the config. */
typedef struct hale_llm_gateway_config {
    char *name;            /* [A-Za-z0-9._-]{1,64}, unique */
    char *kind;            /* "openai" (Chat Completions) or "anthropic" (Messages) */
    char *base_url;        /* http:// or https:// */
    char *model;           /* sent as "model" */
    char *api_key_env;     /* NULL or an environment variable holding the key */
    char *api_key_file;    /* NULL or a file of mode 0600 holding the key */
    uint64_t timeout_ms;   /* one attempt */
    uint64_t max_tokens;   /* answer tokens asked for */
    double usd_per_1k_in;  /* price of 1000 prompt tokens */
    double usd_per_1k_out; /* price of 1000 answer tokens */
} hale_llm_gateway_config;

/* The "llm" key: gateways in fallback order and the client's limits. */
typedef struct hale_llm_config {
    hale_llm_gateway_config *gateways; /* NULL when none: no LLM, local-only */
    size_t n_gateways;                 /* entries in gateways */
    uint64_t max_in_flight;            /* calls under way at once */
    uint64_t retries;                  /* further attempts on one gateway */
    uint64_t backoff_base_ms;          /* first retry delay */
    uint64_t backoff_max_ms;           /* delay cap; a longer Retry-After moves on */
    uint64_t breaker_failures;         /* consecutive failures that open a breaker */
    uint64_t breaker_open_ms;          /* open time before a half-open probe */
    uint64_t incident_max_tokens;      /* 0: no limit */
    double incident_max_usd;           /* 0: no limit */
    uint64_t day_max_tokens;           /* 0: no limit */
    double day_max_usd;                /* 0: no limit */
    uint64_t cache_ttl_ms;             /* 0: no response cache */
} hale_llm_config;

#define HALE_METRICS_CONFIG_MAX_QUERIES 64u /* entries in metrics.prometheus.queries */
#define HALE_METRICS_CONFIG_MAX_RULES   64u /* entries in metrics.exhaustion and .capacity */
#define HALE_METRICS_CONFIG_MAX_MATCH   16u /* label matchers of one rule */

/* One PromQL query the Prometheus poller runs (metrics.prometheus.queries[]). */
typedef struct hale_metrics_query_config {
    char *name;          /* the series name its results get: a metric name */
    char *query;         /* PromQL, sent to /api/v1/query_range */
    uint64_t interval_s; /* how often it runs */
    uint64_t step_s;     /* query_range step */
    uint64_t range_s;    /* history fetched by the first run (later runs fetch what is new) */
} hale_metrics_query_config;

/* A rule naming series (metrics.exhaustion[], metrics.capacity[]): the metric name and label
 * values that must all be equal. Exhaustion rules also carry limit, horizon_h, probability. */
typedef struct hale_metrics_rule_config {
    char *metric;       /* series name to match */
    char **match;       /* label name, value, name, value, ...; NULL-terminated; NULL: none */
    size_t n_match;     /* pairs in match */
    double limit;       /* exhaustion: the value the series must not reach */
    double horizon_h;   /* exhaustion: how far ahead the prediction looks */
    double probability; /* exhaustion: least probability that opens an incident, 0..1 */
} hale_metrics_rule_config;

/* The "metrics" key (docs/metrics.md): sources, series limits, anomaly and exhaustion rules. */
typedef struct hale_metrics_config {
    bool host_enabled;                    /* the local host collector runs */
    uint64_t host_interval_s;             /* its scrape interval */
    char *prom_url;                       /* Prometheus base URL; "" for no poller */
    hale_metrics_query_config *queries;   /* NULL when none */
    size_t n_queries;                     /* entries in queries */
    uint64_t prom_timeout_ms;             /* one request */
    uint64_t prom_retries;                /* further attempts after a failure */
    uint64_t prom_max_response_bytes;     /* larger answers are refused */
    uint64_t max_series;                  /* series held; new series beyond it are refused */
    uint64_t max_samples_per_request;     /* samples in one POST /api/v1/metrics */
    double anomaly_enter;                 /* score at or above which an anomaly begins */
    double anomaly_exit;                  /* score below which it may end */
    uint64_t anomaly_min_duration_s;      /* both transitions must hold this long */
    char *anomaly_alertname;              /* alertname of anomaly events */
    hale_metrics_rule_config *exhaustion; /* NULL when none */
    size_t n_exhaustion;                  /* entries in exhaustion */
    hale_metrics_rule_config *capacity;   /* series with a 24-hour forecast; NULL when none */
    size_t n_capacity;                    /* entries in capacity */
    uint64_t step_s;                      /* bucket width of the history forecasts use */
    uint64_t eval_interval_s;             /* how often forecasts and predictions are made */
    uint64_t snapshot_interval_s;         /* how often model state is written to the store */
    uint64_t drift_window;                /* forecast checks looked at for drift */
    double drift_miss_ratio;              /* share outside the 95 % interval that refits */
} hale_metrics_config;

/* The role's name ("auditor"); "?" for a value that is not one role. Static string. */
const char *hale_role_name(hale_role role);

typedef struct hale_config {
    unsigned refs;                 /* owners of this snapshot; freed when it reaches 0 */
    char *source;                  /* the file it came from, or "(defaults)" */
    char *listen;                  /* "host:port" the HTTP API listens on */
    char *data_dir;                /* holds hale.db */
    char *policies_dir;            /* policy files */
    char *tools_dir;               /* tool manifests and executables */
    char *prompts_dir;             /* LLM prompt templates */
    char *log_level;               /* "info" or "warn,http=debug" */
    uint64_t max_body_bytes;       /* largest accepted request body */
    char **group_by;               /* labels whose values make one incident; NULL-terminated */
    size_t n_group_by;             /* entries in group_by */
    uint64_t group_window_s;       /* alerts join an incident active within this window */
    uint64_t max_connections;      /* concurrent HTTP connections */
    uint64_t idle_timeout_s;       /* keep-alive connection with nothing under way */
    uint64_t request_timeout_s;    /* to receive one whole request */
    uint64_t shutdown_timeout_s;   /* SIGTERM to exit, at most */
    char *store_sync;              /* "full" (fsync every commit) or "normal" */
    uint64_t event_retention_days; /* raw events older than this are deleted; 0 keeps all */
    char *audit_origin;            /* the log's origin; "" keeps the stored one, or
                                      aiops.local/<hostname> for a new log */
    uint64_t audit_checkpoint_interval_ms; /* at most this long between signed heads under load */
    uint64_t audit_rotate_interval_s;      /* signing key epoch length; 0: rotate only at start */
    char **audit_anchor_files;             /* checkpoints are appended to these; NULL-terminated */
    size_t n_audit_anchor_files;           /* entries in audit_anchor_files */
    uint64_t audit_anchor_interval_s;      /* how often the latest checkpoint is anchored */
    char **audit_witness_urls;             /* tlog-witness submission prefixes; NULL-terminated */
    size_t n_audit_witness_urls;           /* entries in audit_witness_urls */
    hale_auth_token *auth_tokens;          /* "auth": bearer tokens; NULL when none */
    size_t n_auth_tokens;                  /* entries in auth_tokens */
    bool auth_intake_token_required;       /* POST intake routes need an intake or admin token */
    hale_llm_config llm;                   /* "llm": gateways and limits of the LLM client */
    hale_metrics_config metrics;           /* "metrics": sources and predictions */
} hale_config;

/* Built-in defaults. Returns 0 or -ENOMEM; *ret has one reference owned by the caller. */
int hale_config_new_defaults(hale_config **ret);

/* Load path (every key optional, defaults fill the rest). Returns 0, -errno (file unreadable)
 * or HALE_ECONFIG with "path:line: key: reason" or "path: key: expected ..., got ..." in
 * reterr. On success *ret has one reference owned by the caller. */
int hale_config_load(const char *path, hale_config **ret, hale_diag *reterr);

/* Which file `--config` NULL means: "hale.json" in the working directory when it exists,
 * else NULL (built-in defaults). Static string or NULL. */
const char *hale_config_default_path(void);

hale_config *hale_config_ref(hale_config *c);
void hale_config_unref(hale_config *c); /* NULL is a no-op */

/* Is next a valid replacement for cur at runtime? Keys that need a restart (listen, data_dir,
 * store_sync) must be equal. Returns 0, or HALE_ECONFIG naming the first key that differs. */
int hale_config_check_reload(const hale_config *cur, const hale_config *next, hale_diag *reterr);

/* The effective configuration as pretty JSON (caller frees); NULL on ENOMEM. */
char *hale_config_to_json(const hale_config *c);
