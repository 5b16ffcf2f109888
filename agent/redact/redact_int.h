/* agent/redact/redact_int.h - private to agent/redact: the compiled rule set, the session, and
 * the parts shared between loading (redact.c), scanning (redact_scan.c), validators
 * (redact_validate.c) and placeholders (redact_session.c). */
#pragma once
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/redact.h"

/* Checks a candidate must pass besides its pattern (rules.json "validate"). */
enum redact_validator {
    REDACT_V_NONE = 0,
    REDACT_V_LUHN,            /* payment card: 13-19 digits, known IIN prefix, Luhn checksum */
    REDACT_V_IBAN,            /* country length table and ISO 7064 mod-97 */
    REDACT_V_SSN,             /* US SSN: no area 000/666/9xx, group 00 or serial 0000 */
    REDACT_V_IPV4,            /* inet_pton(AF_INET) */
    REDACT_V_IPV6,            /* inet_pton(AF_INET6), and not a bare "::" */
    REDACT_V_PHONE,           /* 7 to 15 digits, not all the same digit */
    REDACT_V_JWT,             /* header decodes to a JSON object naming "alg" */
    REDACT_V_EMAIL,           /* domain has a dot and an alphabetic top-level label */
    REDACT_V_MIXED,           /* not a stand-in, and mixes two of: upper case, lower case, digits */
    REDACT_V_NOT_PLACEHOLDER, /* value is not a stand-in: "***", "${VAR}", "<redacted>", "null" */
    REDACT_V_RANDOM,          /* not a stand-in, and holds upper case, lower case and digits */
};

#define REDACT_MAX_TYPES 64u /* distinct entity types in one rule set */

/* Built-in line shapes a rule without keywords can require (rules.json "prefilter"). */
enum redact_shape {
    REDACT_SHAPE_NONE = 0,
    REDACT_SHAPE_IPV4,        /* a run of digits and dots with three digit.digit dots */
    REDACT_SHAPE_IPV6,        /* a hex and colon run with three colons, or "::" */
    REDACT_SHAPE_LONG_NUMBER, /* a run of digits, spaces and dashes holding 12 digits */
    REDACT_SHAPE_SSN,         /* ddd-dd-dddd */
    REDACT_SHAPE_IBAN,        /* two capital letters and two digits */
    REDACT_SHAPE_MAC,         /* a hex run with five colons or five dashes */
    REDACT_SHAPE_PAREN_PHONE, /* (ddd) */
};

/* Hash of the first three lower-cased bytes of a keyword, for the keyword filter. */
#define REDACT_TRI_BITS 15u
#define REDACT_TRI_SIZE (1u << REDACT_TRI_BITS)
#define REDACT_TRI_HASH(a, b, c)                                                                   \
    ((((unsigned)(a) << 10) ^ ((unsigned)(b) << 5) ^ (unsigned)(c)) & (REDACT_TRI_SIZE - 1))

struct redact_rule {
    char *id;                        /* unique rule id, for findings and messages */
    char *type;                      /* entity type: [A-Z][A-Z0-9_]*, the placeholder's name */
    unsigned type_idx;               /* index of type in hale_redact.types */
    pcre2_code *code;                /* compiled (and JIT-compiled when available) pattern */
    unsigned group;                  /* capture group that is the secret; 0 for the whole match */
    unsigned n_groups;               /* capture groups in the pattern */
    enum redact_validator validator; /* extra check on the group's text */
    double min_entropy;              /* Shannon bits per byte the value must reach; 0 for none */
    uint32_t min_len;                /* shortest value accepted */
    bool multiline;                  /* matched over the whole text, not line by line */
    bool has_keywords;               /* only lines holding one of its keywords are matched */
    enum redact_shape shape;         /* or only lines of this shape; REDACT_SHAPE_NONE for none */
    char **keywords;                 /* lower-cased literal prefilter strings */
    size_t n_keywords;               /* entries in keywords */
};

/* One prefilter keyword, chained by its first byte (1-2 bytes) or its REDACT_TRI_HASH. */
struct redact_kw {
    const char *lit; /* lower-cased keyword, borrowed from its rule */
    uint32_t len;    /* bytes in lit, >= 1 */
    uint16_t rule;   /* index of the rule it triggers */
    int32_t next;    /* next keyword with the same first bytes, or -1 */
};

#define REDACT_RULE_WORDS ((HALE_REDACT_MAX_RULES + 63u) / 64u)

struct hale_redact {
    struct redact_rule *rules;      /* in file order; earlier wins a tie between equal spans */
    size_t n_rules;                 /* entries in rules */
    char *types[REDACT_MAX_TYPES];  /* distinct entity type names (borrowed from rules) */
    size_t n_types;                 /* entries in types */
    uint32_t match_limit;           /* pcre2 match limit for every match */
    uint32_t depth_limit;           /* pcre2 depth limit for every match */
    struct redact_kw *kws;          /* every keyword of every rule */
    size_t n_kws;                   /* entries in kws */
    int32_t head_short[256];        /* keywords of 1-2 bytes by first byte, -1 for none */
    unsigned char short_bytes[512]; /* bytes that start a 1-2 byte keyword, both cases */
    size_t n_short_bytes;           /* entries in short_bytes */
    int32_t *head_tri;              /* chain heads by REDACT_TRI_HASH, -1 for none */
    uint8_t tri_bits[REDACT_TRI_SIZE / 8]; /* bit set when head_tri has a chain: hot-loop check */
    unsigned shape_rules_mask;             /* shapes some rule requires, 1 << enum redact_shape */
    uint16_t *shape_rules;                 /* rules that require a shape */
    size_t n_shape_rules;                  /* entries in shape_rules */
    uint8_t cls[256];                      /* byte classes for the shape scan */
    uint8_t lower[256];                    /* ASCII lower-casing table */
    uint16_t *whole_rules; /* multi-line rules and rules without keywords or shape */
    size_t n_whole;        /* entries in whole_rules */
};

/* A candidate span before overlaps are resolved. */
struct redact_span {
    size_t start;  /* offset in the input */
    size_t end;    /* one past the last byte */
    uint16_t rule; /* rule that found it */
};

/* One value the session has replaced. Its bytes live in the session's wiped arena. */
struct redact_entry {
    uint64_t hash;   /* keyed SipHash of the value */
    size_t off;      /* offset of the value in the arena */
    size_t len;      /* bytes of the value */
    uint16_t type;   /* type index of the placeholder */
    uint32_t number; /* N of <TYPE_N> */
};

struct hale_redact_session {
    const hale_redact *r;                 /* borrowed rule set */
    pcre2_match_data *md;                 /* this session's match data (one thread at a time) */
    pcre2_match_context *mctx;            /* match and depth limits, JIT stack */
    pcre2_jit_stack *jit_stack;           /* JIT stack of this session */
    struct redact_span *spans;            /* candidates of the current call */
    size_t n_spans;                       /* entries used in spans */
    size_t cap_spans;                     /* entries allocated in spans */
    unsigned char hash_key[16];           /* random SipHash key, so input cannot steer collisions */
    char *arena;                          /* replaced values, wiped before every free */
    size_t arena_len;                     /* bytes used in arena */
    size_t arena_cap;                     /* bytes allocated in arena */
    struct redact_entry *entries;         /* replaced values in the order they were first seen */
    size_t n_entries;                     /* entries used */
    size_t cap_entries;                   /* entries allocated */
    uint32_t *slots;                      /* open-addressing table: entry index + 1, 0 for empty */
    size_t n_slots;                       /* power of two */
    uint32_t *by_type[REDACT_MAX_TYPES];  /* per type: entry index of <TYPE_N> at N - 1 */
    size_t n_by_type[REDACT_MAX_TYPES];   /* per type: placeholders issued */
    size_t cap_by_type[REDACT_MAX_TYPES]; /* per type: entries allocated */
};

/* Collect every candidate span of text into s->spans (s->n_spans reset first). Returns 0,
 * HALE_ELIMIT (a pcre2 limit was hit) or -ENOMEM. */
int hale__redact_scan(hale_redact_session *s, const char *text, size_t len);

/* Set in hit (REDACT_RULE_WORDS words) the rules one of whose keywords occurs in line[0, n).
 * Returns whether any did. */
bool hale__redact_line_keywords(const hale_redact *r, const char *line, size_t n, uint64_t *hit);

/* The shapes of wanted (1 << enum redact_shape bits) that line[0, n) has. */
unsigned hale__redact_line_shapes(const hale_redact *r, const char *line, size_t n,
                                  unsigned wanted);

/* Fill the 256-entry byte class table the shape scan uses. */
void hale__redact_init_classes(uint8_t *cls);

/* Parse a shape name; -1 for unknown names. */
int hale__redact_shape_from_name(const char *name);

/* Does value (len bytes) pass validator v? */
bool hale__redact_validate(enum redact_validator v, const char *value, size_t len);

/* Shannon entropy of value in bits per byte. */
double hale__redact_entropy(const char *value, size_t len);

/* Parse a validator name; returns REDACT_V_NONE for "" and -1 for unknown names. */
int hale__redact_validator_from_name(const char *name);

/* Length of the placeholder-shaped token "<\\*[A-Z][A-Z0-9_]*_[0-9]+>" at p (at most n bytes),
 * or 0 when p does not start one. *ret_slashes gets the number of backslashes after '<'. */
size_t hale__redact_placeholder_at(const char *p, size_t n, size_t *ret_slashes);
