/* agent/catalog/runbook_int.h - private to runbook*.c: the parsed form of policies/runbooks. */
#pragma once
#include "catalog/catalog_int.h"
#include "hale/runbook.h"

#define HALE_RUNBOOK_MAX_FILES    HALE_MAX_RUNBOOK_FILES
#define HALE_RUNBOOK_MAX_BYTES    HALE_MAX_RUNBOOK_FILE_BYTES
#define HALE_RUNBOOK_MAX_ACTIONS  64u /* actions of one runbook */
#define HALE_RUNBOOK_MAX_MATCHERS 64u /* label matchers of one runbook */

typedef enum rb_match_kind { RB_EQUALS = 0, RB_REGEX, RB_IN } rb_match_kind;

struct rb_matcher {
    char *label;        /* label name */
    rb_match_kind kind; /* equals, regex or in */
    char *value;        /* RB_EQUALS: the value */
    pcre2_code *re;     /* RB_REGEX: compiled (searched, not anchored) */
    json_t *in;         /* RB_IN: array of strings */
};

struct rb_action {
    const hale_tool *tool; /* borrowed from the set's catalog */
    json_t *args;          /* templates over labels.* and annotations.* */
    json_t *target;        /* object of string templates */
    int confidence_bp;     /* 0..10000 */
};

struct runbook {
    char *ref;                   /* "FILE#ID" */
    char *alertname;             /* exact */
    struct rb_matcher *matchers; /* every one must hold */
    size_t n_matchers;           /* entries in matchers */
    struct rb_action *actions;   /* in order */
    size_t n_actions;            /* entries in actions */
};

struct hale_runbooks {
    atomic_int refs;           /* frees at zero */
    hale_catalog *cat;         /* a reference */
    struct runbook *books;     /* file order, then order within the file */
    size_t n_books;            /* entries in books */
    size_t cap_books;          /* allocated */
    pcre2_match_context *mctx; /* limits of label regexes */
    char hash_hex[65];         /* over file names and contents */
};

/* Whether rb matches an incident with labels (runbook_match.c). */
bool hale__runbook_matches(const hale_runbooks *set, const struct runbook *rb,
                           const json_t *labels);
