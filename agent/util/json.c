/* agent/util/json.c - parse JSON once, against a field table (json.h).
 * Every JSON text hale accepts from outside goes through hale_json_parse, and every object is
 * read through hale_json_fields, so the limits and error texts are the same everywhere. */
#include "internal.h"

#include "util/json.h"
#include "util/json_int.h"
#include "util/utf8.h"

static const char *expected_name(hale_json_type t)
{
    switch (t) {
    case HALE_JSON_STRING:
        return "string";
    case HALE_JSON_INT:
        return "integer";
    case HALE_JSON_BOOL:
        return "boolean";
    case HALE_JSON_OBJECT:
        return "object";
    case HALE_JSON_ARRAY:
        return "array";
    case HALE_JSON_STRING_MAP:
        return "object of strings";
    case HALE_JSON_STRING_ARRAY:
        return "array of strings";
    case HALE_JSON_NUMBER:
        return "number";
    case HALE_JSON_ANY:
        return "value";
    }
    return "value";
}

const char *hale_json_type_name(const json_t *v)
{
    if (!v)
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "real";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/* "path.key", or "key" at the top level. */
static const char *sep(const char *path)
{
    return path && *path ? "." : "";
}

static const char *nz(const char *path)
{
    return path ? path : "";
}

/* Check every member of a STRING_MAP or STRING_ARRAY; names the first offender. */
static int check_strings(const json_t *v, const char *path, const char *key, hale_diag *reterr)
{
    const char *k;
    json_t *e;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach((json_t *)(uintptr_t)v, k, e)
        {
            if (!json_is_string(e)) {
                hale_diag_set(reterr, "%s%s%s.%s: expected string, got %s", nz(path), sep(path),
                              key, k, hale_json_type_name(e));
                return HALE_ESCHEMA;
            }
        }
        return 0;
    }
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e)) {
            hale_diag_set(reterr, "%s%s%s[%zu]: expected string, got %s", nz(path), sep(path), key,
                          i, hale_json_type_name(e));
            return HALE_ESCHEMA;
        }
    }
    return 0;
}

static bool type_matches(const json_t *v, hale_json_type t)
{
    switch (t) {
    case HALE_JSON_STRING:
        return json_is_string(v);
    case HALE_JSON_INT:
        return json_is_integer(v);
    case HALE_JSON_BOOL:
        return json_is_boolean(v);
    case HALE_JSON_OBJECT:
    case HALE_JSON_STRING_MAP:
        return json_is_object(v);
    case HALE_JSON_ARRAY:
    case HALE_JSON_STRING_ARRAY:
        return json_is_array(v);
    case HALE_JSON_NUMBER:
        return json_is_number(v);
    case HALE_JSON_ANY:
        return true;
    }
    return false;
}

static void store(const json_t *v, hale_json_type t, char *dst)
{
    const char *s;
    int64_t i;
    bool b;
    double d;
    json_t *j = (json_t *)(uintptr_t)v; /* borrowed; the caller holds obj as it pleases */

    switch (t) {
    case HALE_JSON_STRING:
        s = json_string_value(v);
        memcpy(dst, &s, sizeof(s));
        break;
    case HALE_JSON_INT:
        i = (int64_t)json_integer_value(v);
        memcpy(dst, &i, sizeof(i));
        break;
    case HALE_JSON_BOOL:
        b = json_is_true(v);
        memcpy(dst, &b, sizeof(b));
        break;
    case HALE_JSON_NUMBER:
        d = json_number_value(v);
        memcpy(dst, &d, sizeof(d));
        break;
    case HALE_JSON_OBJECT:
    case HALE_JSON_ARRAY:
    case HALE_JSON_STRING_MAP:
    case HALE_JSON_STRING_ARRAY:
    case HALE_JSON_ANY:
        memcpy(dst, &j, sizeof(j));
        break;
    }
}

static int one_field(const json_t *obj, const hale_json_field *f, void *out, const char *path,
                     hale_diag *reterr)
{
    const json_t *v = json_object_get(obj, f->name);
    int r;

    if (!v) {
        if (!f->required)
            return 0;
        hale_diag_set(reterr, "%s%s%s: missing, expected %s", nz(path), sep(path), f->name,
                      expected_name(f->type));
        return HALE_ESCHEMA;
    }
    if (!type_matches(v, f->type)) {
        hale_diag_set(reterr, "%s%s%s: expected %s, got %s", nz(path), sep(path), f->name,
                      expected_name(f->type), hale_json_type_name(v));
        return HALE_ESCHEMA;
    }
    if (f->type == HALE_JSON_STRING_MAP || f->type == HALE_JSON_STRING_ARRAY) {
        r = check_strings(v, path, f->name, reterr);
        if (r < 0)
            return r;
    }
    store(v, f->type, (char *)out + f->offset);
    return 0;
}

/* The first key of obj that table does not name, or NULL. */
static const char *unknown_key(const json_t *obj, const hale_json_field *table, size_t n)
{
    const char *k;
    json_t *v;
    size_t i;

    json_object_foreach((json_t *)(uintptr_t)obj, k, v)
    {
        for (i = 0; i < n; i++)
            if (strcmp(table[i].name, k) == 0)
                break;
        if (i == n)
            return k;
    }
    return NULL;
}

int hale_json_fields(const json_t *obj, const hale_json_field *table, size_t n_fields,
                     unsigned flags, void *out, const char *path, hale_diag *reterr)
{
    const char *k;
    size_t i;
    int r;

    if (!json_is_object(obj)) {
        hale_diag_set(reterr, "%s%sexpected object, got %s", nz(path), path && *path ? ": " : "",
                      hale_json_type_name(obj));
        return HALE_ESCHEMA;
    }
    if (!(flags & HALE_JSON_ALLOW_UNKNOWN)) {
        k = unknown_key(obj, table, n_fields);
        if (k) {
            hale_diag_set(reterr, "%s%sunknown field '%s'", nz(path), path && *path ? ": " : "", k);
            return HALE_ESCHEMA;
        }
    }
    for (i = 0; i < n_fields; i++) {
        r = one_field(obj, &table[i], out, path, reterr);
        if (r < 0)
            return r;
    }
    return 0;
}

/* 1-based line and column of byte off in text. */
static void position(const char *text, size_t off, int *ret_line, int *ret_column)
{
    const char *p = text, *nl;
    int line = 1;

    while ((nl = memchr(p, '\n', off - (size_t)(p - text))) != NULL) {
        line++;
        p = nl + 1;
    }
    *ret_line = line;
    *ret_column = (int)(off - (size_t)(p - text)) + 1;
}

int hale_json_parse_pos(const char *text, size_t len, json_t **ret, int *reterr_line,
                        int *reterr_column, hale_diag *reterr)
{
    const char *nul;
    size_t bad, fault;
    json_t *v;
    int r;

    *reterr_line = 0;
    *reterr_column = 0;
    bad = hale_utf8_valid_len(text, len);
    if (bad != len) {
        position(text, bad, reterr_line, reterr_column);
        hale_diag_set(reterr, "invalid UTF-8 at byte %zu", bad);
        return HALE_EUTF8;
    }
    nul = memchr(text, '\0', len);
    if (nul) {
        position(text, (size_t)(nul - text), reterr_line, reterr_column);
        hale_diag_set(reterr, "NUL byte at byte %zu", (size_t)(nul - text));
        return HALE_EPARSE;
    }
    r = hale__json_read(text, len, HALE_MAX_JSON_DEPTH, &v, &fault, reterr);
    if (r == HALE_EPARSE)
        position(text, fault, reterr_line, reterr_column);
    if (r < 0)
        return r;
    *ret = v;
    return 0;
}

int hale_json_parse(const char *text, size_t len, json_t **ret, hale_diag *reterr)
{
    hale_diag why;
    int line, column, r;

    r = hale_json_parse_pos(text, len, ret, &line, &column, &why);
    if (r == HALE_EPARSE && line > 0 && !memchr(text, '\0', len))
        /* Syntax reasons get the position; the UTF-8 and NUL ones name the byte already. */
        hale_diag_set(reterr, "line %d column %d: %s", line, column, why.msg);
    else if (r < 0)
        hale_diag_set(reterr, "%s", why.msg);
    return r;
}

char *hale_json_dump_canonical(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}
