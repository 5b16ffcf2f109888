/* agent/config/config_int.h - the configuration schema table, private to agent/config.
 * config_schema.c defines the rows; config.c loads, compares and prints through them. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hale/config.h"

typedef enum hale__config_type {
    HALE_CONFIG_STRING,       /* char *, owned by the config */
    HALE_CONFIG_UINT,         /* uint64_t */
    HALE_CONFIG_BYTES,        /* uint64_t; the file may also say "1MiB" (hale_parse_bytes) */
    HALE_CONFIG_STRING_ARRAY, /* char ** NULL-terminated, plus a size_t count */
    HALE_CONFIG_ENUM,         /* char *, one of choices */
    HALE_CONFIG_CUSTOM,       /* a structured value with operations of its own (ops) */
} hale__config_type;

/* Operations of a CUSTOM key over its members of struct hale_config. */
typedef struct hale__config_ops {
    int (*set_default)(hale_config *c); /* 0 or -ENOMEM */
    /* Replace the members from v. Returns 0, -ENOMEM or HALE_ECONFIG with "key 'K': ..." in
     * reterr; on failure the members are unchanged. */
    int (*read)(hale_config *c, const json_t *v, hale_diag *reterr);
    void (*clear)(hale_config *c);                             /* NULL-safe members */
    json_t *(*to_json)(const hale_config *c);                  /* NULL on ENOMEM */
    bool (*equal)(const hale_config *a, const hale_config *b); /* same value */
} hale__config_ops;

/* The "auth" key (config_auth.c). */
extern const hale__config_ops hale__config_auth_ops;
/* The "llm" key (config_llm.c). */
extern const hale__config_ops hale__config_llm_ops;
/* The "metrics" key (config_metrics.c). */
extern const hale__config_ops hale__config_metrics_ops;

/* Extra checks on a value of the right type and size. They return true when it is acceptable;
 * otherwise false with "got ..." (what was wrong, user text quoted) in got. */
typedef bool (*hale__config_check_str)(const char *s, char *got, size_t got_size);
typedef bool (*hale__config_check_list)(char *const *list, char *got, size_t got_size);

typedef struct hale__config_key {
    const char *key;                    /* name in the JSON file */
    hale__config_type type;             /* how the value is read and stored */
    const char *def_str;                /* default of STRING and ENUM keys */
    uint64_t def_num;                   /* default of UINT and BYTES keys */
    const char *const *def_list;        /* default of STRING_ARRAY keys, NULL-terminated */
    uint64_t min;                       /* UINT/BYTES: least value; STRING: least length;
                                           STRING_ARRAY: fewest elements */
    uint64_t max;                       /* the matching upper bound */
    size_t offset;                      /* offsetof the member in struct hale_config */
    size_t count_offset;                /* STRING_ARRAY: offsetof its size_t count */
    bool reloadable;                    /* may change on SIGHUP without a restart */
    const char *const *choices;         /* ENUM: allowed values, NULL-terminated */
    hale__config_check_str check_str;   /* STRING: NULL or the extra check */
    hale__config_check_list check_list; /* STRING_ARRAY: NULL or the extra check */
    const char *expect;                 /* NULL or what check wants, for error messages */
    const hale__config_ops *ops;        /* CUSTOM: its operations */
} hale__config_key;

extern const hale__config_key hale__config_keys[];
extern const size_t hale__config_n_keys;

/* Store the row's default into c (replacing nothing: the member must be empty). 0 or -ENOMEM. */
int hale__config_set_default(hale_config *c, const hale__config_key *k);

/* Read v into c's member for k after checking type, range and the row's check. Returns 0,
 * -ENOMEM, or HALE_ECONFIG with "key 'K': expected ..., got ..." in reterr. */
int hale__config_set_json(hale_config *c, const hale__config_key *k, const json_t *v,
                          hale_diag *reterr);

/* Free the row's member of c (NULL-safe for a half-built config). */
void hale__config_clear(hale_config *c, const hale__config_key *k);

/* The member of c for k as a new JSON value; NULL on ENOMEM. */
json_t *hale__config_to_json_value(const hale_config *c, const hale__config_key *k);

/* Do c1 and c2 hold the same value for k? */
bool hale__config_equal(const hale_config *c1, const hale_config *c2, const hale__config_key *k);

/* A name of a configured thing (a token, a gateway): 1 to max_len of [A-Za-z0-9._-]. */
bool hale__config_name_is_valid(const char *s, size_t max_len);
