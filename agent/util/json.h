/* agent/util/json.h - JSON field tables over jansson: parse an object once, against a table.
 * Used by config, ingest and later by policies and manifests (one way to read JSON fields). */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "hale/diag.h"
#include "util/buf.h"

typedef enum hale_json_type {
    HALE_JSON_STRING,       /* out: const char * borrowed from the json_t */
    HALE_JSON_INT,          /* out: int64_t */
    HALE_JSON_BOOL,         /* out: bool */
    HALE_JSON_OBJECT,       /* out: json_t * borrowed */
    HALE_JSON_ARRAY,        /* out: json_t * borrowed */
    HALE_JSON_STRING_MAP,   /* out: json_t * borrowed: an object whose values are all strings */
    HALE_JSON_STRING_ARRAY, /* out: json_t * borrowed: an array of strings */
    HALE_JSON_NUMBER,       /* out: double: integer or real */
    HALE_JSON_ANY,          /* out: json_t * borrowed, of any type the caller then checks */
} hale_json_type;

typedef struct hale_json_field {
    const char *name;    /* key in the object */
    hale_json_type type; /* expected type */
    bool required;       /* absent is an error when true */
    size_t offset;       /* offsetof the output member in the caller's struct */
} hale_json_field;

enum hale_json_flags {
    HALE_JSON_STRICT = 0,        /* an unknown key is an error */
    HALE_JSON_ALLOW_UNKNOWN = 1, /* unknown keys are ignored (forward-compatible protocols) */
};

/* Fill out (a struct) from obj according to table. Absent optional fields leave out's member
 * untouched. On failure returns HALE_ESCHEMA and writes "<path>.<key>: expected ..., got ..."
 * into reterr (path may be NULL or "" for the top level). */
int hale_json_fields(const json_t *obj, const hale_json_field *table, size_t n_fields,
                     unsigned flags, void *out, const char *path, hale_diag *reterr);

/* Human name of a json_t's type: "object", "array", "string", "integer", "real", "boolean",
 * "null"; "nothing" for NULL. Static string. */
const char *hale_json_type_name(const json_t *v);

/* Parse text of len bytes (the whole of it: trailing whitespace such as Alertmanager's final
 * "\n" is fine, anything else after the value is not). The top level must be an object or an
 * array. Rejected: invalid UTF-8 (HALE_EUTF8, "invalid UTF-8 at byte N"); NUL bytes, raw or as
 * \u0000; duplicate keys in one object, because they make the input ambiguous and no producer
 * we accept (Alertmanager, Go's encoding/json) emits them; nesting deeper than
 * HALE_MAX_JSON_DEPTH; and any syntax error (HALE_EPARSE, "line L column C: reason").
 * On success *ret is a new reference owned by the caller; on failure it is untouched. */
int hale_json_parse(const char *text, size_t len, json_t **ret, hale_diag *reterr);

/* The same checks, for callers that format the position themselves ("file:line:col: ..."):
 * reterr gets only the reason ("duplicate object key", "invalid UTF-8 at byte 12") and the
 * 1-based line and column of the fault go to *reterr_line and *reterr_column (the first byte of the
 * offending token, or the container that nests too deep). */
int hale_json_parse_pos(const char *text, size_t len, json_t **ret, int *reterr_line,
                        int *reterr_column, hale_diag *reterr);

/* Compact, key-sorted serialization of any value (scalars too); caller frees. NULL only on
 * allocation failure. */
char *hale_json_dump_canonical(const json_t *v);

/* Append exactly what json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) returns (keys in insertion
 * order, jansson's escaping) to out, without jansson's per-token callbacks and allocations:
 * for the hot path, with a buffer the caller resets and reuses. Returns 0, -ENOMEM or
 * HALE_ELIMIT (out's cap), -EINVAL (v NULL) or -ENOTSUP for a value holding a real number or
 * nested deeper than 64 (use json_dumps for those); out is unchanged on failure. */
int hale_json_dump_compact(const json_t *v, hale_buf *out);

/* Append the JSON string literal of the len bytes at s (UTF-8, as jansson keeps strings) to out,
 * escaped as jansson escapes: '"', '\\', the short forms of control characters, other
 * control characters as \u00XX in upper-case hex; with ascii, also every non-ASCII character
 * as \uXXXX (a surrogate pair above the BMP), as JSON_ENSURE_ASCII does. Returns 0, -ENOMEM,
 * HALE_ELIMIT (out's cap) or HALE_EUTF8 (ascii and a truncated UTF-8 sequence). */
int hale_json_put_string(hale_buf *out, const char *s, size_t len, bool ascii);
