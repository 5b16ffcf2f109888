/* include/hale/limits.h - compile-time ceilings on everything an outsider can grow.
 * Configuration may lower these, never raise them (SQLite's sqliteLimit.h idea). */
#pragma once

#define HALE_MAX_BODY_BYTES        (16u * 1024u * 1024u) /* ceiling for config max_body_bytes */
#define HALE_DEFAULT_BODY_BYTES    (1u * 1024u * 1024u)  /* default max_body_bytes */
#define HALE_MAX_HEADER_BYTES      (16u * 1024u)         /* request line plus all headers */
#define HALE_MAX_HEADERS           64u                   /* header fields per request */
#define HALE_MAX_URL_BYTES         4096u                 /* request target */
#define HALE_MAX_CONNECTIONS       4096u                 /* ceiling for config max_connections */
#define HALE_MAX_PIPELINE_BYTES    (64u * 1024u) /* unparsed bytes held while a reply is due */
#define HALE_MAX_RESPONSE_BYTES    (64u * 1024u * 1024u) /* one HTTP response body */
#define HALE_MAX_ALERTS_PER_BATCH  1000u                 /* alerts in one webhook message */
#define HALE_MAX_LABELS            128u                  /* labels on one alert or event */
#define HALE_MAX_ANNOTATIONS       128u                  /* annotations on one alert or event */
#define HALE_MAX_LABEL_NAME_BYTES  256u                  /* one label or annotation name */
#define HALE_MAX_LABEL_VALUE_BYTES (16u * 1024u)         /* one label value */
#define HALE_MAX_ANNOTATION_BYTES  (64u * 1024u)         /* one annotation value */
#define HALE_MAX_GROUP_BY          16u                   /* labels in config group_by */
#define HALE_MAX_JSON_DEPTH        32u                   /* nesting in any accepted JSON */
#define HALE_MAX_CONFIG_BYTES      (1u * 1024u * 1024u)  /* the config file */
#define HALE_MAX_LIST_INCIDENTS    10000u                /* incidents in one list answer */

/* Redaction (include/hale/redact.h). */
#define HALE_REDACT_MAX_RULES       256u                 /* rules in one rules file */
#define HALE_REDACT_MAX_RULES_BYTES (1u * 1024u * 1024u) /* the rules file */
#define HALE_REDACT_MAX_KEYWORDS    64u                  /* prefilter keywords of one rule */
#define HALE_REDACT_MAX_KEYWORD_LEN 64u                  /* bytes in one prefilter keyword */
#define HALE_REDACT_MAX_PATTERN_LEN 4096u                /* bytes in one rule's pattern */
#define HALE_REDACT_MATCH_LIMIT     1000000u /* pcre2 match limit; a rules file may lower it */
#define HALE_REDACT_DEPTH_LIMIT     10000u   /* pcre2 depth limit; a rules file may lower it */
#define HALE_REDACT_MAX_INPUT_BYTES (256u * 1024u * 1024u) /* one text to redact or un-mask */
#define HALE_MAX_POLICY_FILES       1024u                  /* *.json files in a policy directory */
#define HALE_MAX_POLICY_FILE_BYTES  (8u * 1024u * 1024u)   /* one policy file */
#define HALE_MAX_POLICY_RULES       65536u                 /* rules in one loaded set */
#define HALE_MAX_POLICY_LIST        256u /* entries in one policy list (in, users, groups) */
#define HALE_MAX_POLICY_ZONES       64u  /* distinct time zones in one set */
#define HALE_MAX_REQUEST_BYTES      (1u * 1024u * 1024u) /* one policy request */
#define HALE_MAX_UNTRUSTED          256u                 /* untrusted pointers in one request */
#define HALE_PCRE2_MATCH_LIMIT      100000u              /* pcre2_set_match_limit */
#define HALE_PCRE2_DEPTH_LIMIT      1000u                /* pcre2_set_depth_limit */

/* Tool catalog and runbooks (include/hale/catalog.h, include/hale/runbook.h). */
#define HALE_MAX_TOOLS              1024u                 /* tool folders in one catalog */
#define HALE_MAX_MANIFEST_BYTES     (256u * 1024u)        /* one tools/NAME/manifest.json */
#define HALE_MAX_TOOL_COMMAND_BYTES (64u * 1024u * 1024u) /* one pinned command, hashed at load */
#define HALE_MAX_TOOL_STRING_BYTES  4096u /* ceiling of a string argument's max_length */
#define HALE_MAX_RUNBOOK_FILES      1024u /* *.json files in the runbooks directory */
#define HALE_MAX_RUNBOOK_FILE_BYTES (4u * 1024u * 1024u) /* one runbook file */
