/* agent/catalog/catalog_args.c - a tool's argument schema: parsing "args" and "required" from
 * the manifest, and validating values against it. This is the argument-injection barrier:
 * whatever proposes an action (a runbook, a model, a person), only values that pass here reach
 * a tool's argv. */
#include "internal.h"

#include "catalog/catalog_int.h"
#include "util/json.h"
#include "util/regex.h"
#include "util/strparse.h"
#include "util/utf8.h"

void hale__arg_release(struct hale__arg *a)
{
    free(a->name);
    free(a->pattern);
    pcre2_code_free(a->re);
    json_decref(a->enum_values);
    json_decref(a->def);
}

const struct hale__arg *hale__tool_arg(const struct hale_tool *t, const char *name)
{
    for (size_t i = 0; i < t->n_args; i++)
        if (strcmp(t->args[i].name, name) == 0)
            return &t->args[i];
    return NULL;
}

/* ---- Validation ---------------------------------------------------------------------------- */

/* A ".." segment: between slashes, or at either end. */
static bool has_dotdot(const char *s, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (s[i] == '.' && s[i + 1] == '.' && (i == 0 || s[i - 1] == '/') &&
            (i + 2 == len || s[i + 2] == '/'))
            return true;
    return false;
}

/* A control character: C0, DEL, or C1 (U+0080..U+009F, UTF-8 C2 80..C2 9F). */
static bool has_control(const char *s, size_t len, size_t *ret_at)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f ||
            (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
             (unsigned char)s[i + 1] <= 0x9f)) {
            *ret_at = i;
            return true;
        }
    }
    return false;
}

static int check_string(const struct hale__arg *a, const json_t *v, const char *prefix,
                        pcre2_match_context *mctx, hale_diag *reterr)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v), at = 0;
    int err = 0;

    if (strlen(s) != len)
        return hale_diag_set(reterr, "%s: contains a NUL byte, which no argument may", prefix),
               HALE_ESCHEMA;
    if (!hale_utf8_is_valid(s, len))
        return hale_diag_set(reterr, "%s: invalid UTF-8", prefix), HALE_ESCHEMA;
    if (len > a->max_length)
        return hale_diag_set(reterr, "%s: %zu bytes, expected at most %zu", prefix, len,
                             a->max_length),
               HALE_ESCHEMA;
    if (has_control(s, len, &at))
        return hale_diag_set(reterr,
                             "%s: control character (newline, tab, ...) at byte %zu, which no "
                             "argument may contain",
                             prefix, at),
               HALE_ESCHEMA;
    if (has_dotdot(s, len))
        return hale_diag_set(reterr, "%s: a '..' path segment, which no argument may contain",
                             prefix),
               HALE_ESCHEMA;
    if (a->re && !hale_regex_match(a->re, mctx, s, len, PCRE2_ANCHORED | PCRE2_ENDANCHORED, &err))
        return hale_diag_set(reterr, "%s: %s the pattern %s", prefix,
                             err ? "could not be checked against" : "does not match", a->pattern),
               HALE_ESCHEMA;
    return 0;
}

static int check_enum(const struct hale__arg *a, const json_t *v, const char *prefix,
                      hale_diag *reterr)
{
    size_t i;
    json_t *e;
    char *list;

    if (!a->enum_values)
        return 0;
    json_array_foreach(a->enum_values, i, e) if (json_equal(e, v)) return 0;
    list = json_dumps(a->enum_values, JSON_COMPACT);
    hale_diag_set(reterr, "%s: not one of %.300s", prefix, list ? list : "the enum");
    free(list);
    return HALE_ESCHEMA;
}

static int check_value(const struct hale__arg *a, const json_t *v, const char *prefix,
                       pcre2_match_context *mctx, hale_diag *reterr)
{
    static const char *const type_names[] = {"string", "integer", "boolean"};
    bool type_ok = (a->type == ARG_STRING && json_is_string(v)) ||
                   (a->type == ARG_INTEGER && json_is_integer(v)) ||
                   (a->type == ARG_BOOLEAN && json_is_boolean(v));
    int r;

    if (!type_ok)
        return hale_diag_set(reterr, "%s: expected %s, got %s", prefix, type_names[a->type],
                             hale_json_type_name(v)),
               HALE_ESCHEMA;
    if (a->type == ARG_STRING && (r = check_string(a, v, prefix, mctx, reterr)) < 0)
        return r;
    if (a->type == ARG_INTEGER) {
        json_int_t n = json_integer_value(v);

        if ((a->has_min && n < a->min) || (a->has_max && n > a->max))
            return hale_diag_set(reterr, "%s: %lld is out of range, expected %lld to %lld", prefix,
                                 (long long)n, (long long)(a->has_min ? a->min : INT64_MIN),
                                 (long long)(a->has_max ? a->max : INT64_MAX)),
                   HALE_ESCHEMA;
    }
    return check_enum(a, v, prefix, reterr);
}

int hale__arg_check(const struct hale__arg *a, const json_t *v, const char *prefix,
                    hale_diag *reterr)
{
    return check_value(a, v, prefix, NULL, reterr);
}

/* The tool's own match context (limits), when validating through the tool. */
static int check_with(const struct hale_tool *t, const struct hale__arg *a, const json_t *v,
                      hale_diag *reterr)
{
    char prefix[96];

    snprintf(prefix, sizeof(prefix), "args.%s", a->name);
    return check_value(a, v, prefix, t->mctx, reterr);
}

int hale_tool_validate_args(const hale_tool *t, const json_t *args, hale_diag *reterr)
{
    const char *key;
    json_t *v;
    int r;

    if (!json_is_object(args))
        return hale_diag_set(reterr, "args: expected object, got %s", hale_json_type_name(args)),
               HALE_ESCHEMA;
    json_object_foreach((json_t *)(uintptr_t)args, key, v)
    {
        const struct hale__arg *a = hale__tool_arg(t, key);

        if (!a)
            return hale_diag_set(reterr, "args.%.64s: %s has no such argument", key, t->name),
                   HALE_ESCHEMA;
        if ((r = check_with(t, a, v, reterr)) < 0)
            return r;
    }
    for (size_t i = 0; i < t->n_args; i++)
        if (t->args[i].required && !t->args[i].def && !json_object_get(args, t->args[i].name))
            return hale_diag_set(reterr, "args.%s: required, and missing", t->args[i].name),
                   HALE_ESCHEMA;
    return 0;
}

int hale__args_complete(const struct hale_tool *t, const json_t *args, json_t **ret,
                        hale_diag *reterr)
{
    json_t *out;
    int r = hale_tool_validate_args(t, args, reterr);

    if (r < 0)
        return r;
    if (!(out = json_copy((json_t *)(uintptr_t)args)))
        return -ENOMEM;
    for (size_t i = 0; i < t->n_args; i++) {
        const struct hale__arg *a = &t->args[i];

        if (a->def && !json_object_get(out, a->name) && json_object_set(out, a->name, a->def) < 0) {
            json_decref(out);
            return -ENOMEM;
        }
    }
    *ret = out;
    return 0;
}

json_t *hale__arg_coerce(const struct hale__arg *a, json_t *v)
{
    const char *s = json_string_value(v);
    int64_t n;

    if (!s || a->type == ARG_STRING)
        return json_incref(v);
    if (a->type == ARG_BOOLEAN)
        return strcmp(s, "true") == 0 ? json_true() : strcmp(s, "false") == 0 ? json_false() : NULL;
    if (hale_parse_i64(s, &n) < 0)
        return NULL;
    return json_integer((json_int_t)n);
}

/* ---- Parsing the schema -------------------------------------------------------------------- */

struct arg_fields {
    const char *type;
    const char *description;
    const char *pattern;
    int64_t max_length;
    int64_t min;
    int64_t max;
    json_t *enum_values;
    json_t *def;
};

static const hale_json_field arg_table[] = {
    {"type", HALE_JSON_STRING, true, offsetof(struct arg_fields, type)},
    {"description", HALE_JSON_STRING, false, offsetof(struct arg_fields, description)},
    {"pattern", HALE_JSON_STRING, false, offsetof(struct arg_fields, pattern)},
    {"max_length", HALE_JSON_INT, false, offsetof(struct arg_fields, max_length)},
    {"min", HALE_JSON_INT, false, offsetof(struct arg_fields, min)},
    {"max", HALE_JSON_INT, false, offsetof(struct arg_fields, max)},
    {"enum", HALE_JSON_ARRAY, false, offsetof(struct arg_fields, enum_values)},
    {"default", HALE_JSON_ANY, false, offsetof(struct arg_fields, def)},
};

/* Members that only some types take. */
static int check_members(const json_t *spec, arg_type type, const char *path, hale_diag *reterr)
{
    static const struct {
        const char *member;
        unsigned types; /* bit per arg_type */
    } allowed[] = {
        {"pattern", 1u << ARG_STRING},
        {"max_length", 1u << ARG_STRING},
        {"min", 1u << ARG_INTEGER},
        {"max", 1u << ARG_INTEGER},
        {"enum", 1u << ARG_STRING | 1u << ARG_INTEGER},
    };
    static const char *const type_names[] = {"string", "integer", "boolean"};

    for (size_t i = 0; i < HALE_ARRAY_SIZE(allowed); i++)
        if (json_object_get(spec, allowed[i].member) && !(allowed[i].types & (1u << type)))
            return hale_diag_set(reterr, "%s.%s: not allowed for a %s argument", path,
                                 allowed[i].member, type_names[type]),
                   HALE_ESCHEMA;
    return 0;
}

static int parse_type(const char *s, arg_type *ret)
{
    if (strcmp(s, "string") == 0)
        *ret = ARG_STRING;
    else if (strcmp(s, "integer") == 0)
        *ret = ARG_INTEGER;
    else if (strcmp(s, "boolean") == 0)
        *ret = ARG_BOOLEAN;
    else
        return -1;
    return 0;
}

static int parse_limits(struct hale__arg *a, const struct arg_fields *f, const json_t *spec,
                        const char *path, hale_diag *reterr)
{
    size_t cap = HALE_SANDBOX_MAX_ARG - strlen(a->name) - 3; /* "--NAME=" fits one element */
    char where[160];

    if (cap > HALE_CATALOG_MAX_STRING)
        cap = HALE_CATALOG_MAX_STRING;
    a->max_length = HALE_CATALOG_DEFAULT_STRING < cap ? HALE_CATALOG_DEFAULT_STRING : cap;
    if (json_object_get(spec, "max_length")) {
        if (f->max_length < 1 || (uint64_t)f->max_length > cap)
            return hale_diag_set(reterr, "%s.max_length: %lld, expected 1 to %zu", path,
                                 (long long)f->max_length, cap),
                   HALE_ESCHEMA;
        a->max_length = (size_t)f->max_length;
    }
    a->has_min = json_object_get(spec, "min") != NULL;
    a->has_max = json_object_get(spec, "max") != NULL;
    a->min = f->min;
    a->max = f->max;
    if (a->has_min && a->has_max && a->min > a->max)
        return hale_diag_set(reterr, "%s.min: greater than max", path), HALE_ESCHEMA;
    if (f->pattern) {
        if (strlen(f->pattern) > HALE_CATALOG_MAX_PATTERN)
            return hale_diag_set(reterr, "%s.pattern: longer than %u bytes", path,
                                 HALE_CATALOG_MAX_PATTERN),
                   HALE_ELIMIT;
        snprintf(where, sizeof(where), "%s.pattern", path);
        if (!(a->pattern = strdup(f->pattern)))
            return -ENOMEM;
        return hale_regex_compile(f->pattern, PCRE2_ANCHORED | PCRE2_ENDANCHORED, where, &a->re,
                                  reterr);
    }
    return 0;
}

static int parse_enum(struct hale__arg *a, json_t *values, const char *path, hale_diag *reterr)
{
    char where[160];
    size_t i;
    json_t *e;
    int r;

    if (!values)
        return 0;
    if (json_array_size(values) == 0 || json_array_size(values) > HALE_CATALOG_MAX_ENUM)
        return hale_diag_set(reterr, "%s.enum: expected 1 to %u values", path,
                             HALE_CATALOG_MAX_ENUM),
               HALE_ESCHEMA;
    json_array_foreach(values, i, e)
    {
        snprintf(where, sizeof(where), "%s.enum[%zu]", path, i);
        if ((r = check_value(a, e, where, NULL, reterr)) < 0)
            return r;
    }
    a->enum_values = json_incref(values);
    return 0;
}

static int parse_arg(struct hale__arg *a, const char *name, const json_t *spec, hale_diag *reterr)
{
    struct arg_fields f = {0};
    char path[96];
    int r;

    snprintf(path, sizeof(path), "args.%s", name);
    if (!hale__name_valid(name))
        return hale_diag_set(reterr, "%s: expected a name matching ^[a-z][a-z0-9_]{0,63}$", path),
               HALE_ESCHEMA;
    if (!(a->name = strdup(name)))
        return -ENOMEM;
    if (!json_is_object(spec))
        return hale_diag_set(reterr, "%s: expected object, got %s", path,
                             hale_json_type_name(spec)),
               HALE_ESCHEMA;
    r = hale_json_fields(spec, arg_table, HALE_ARRAY_SIZE(arg_table), HALE_JSON_STRICT, &f, path,
                         reterr);
    if (r < 0)
        return r;
    if (parse_type(f.type, &a->type) < 0)
        return hale_diag_set(reterr, "%s.type: '%.64s', expected string, integer or boolean", path,
                             f.type),
               HALE_ESCHEMA;
    if ((r = check_members(spec, a->type, path, reterr)) < 0 ||
        (r = parse_limits(a, &f, spec, path, reterr)) < 0 ||
        (r = parse_enum(a, f.enum_values, path, reterr)) < 0)
        return r;
    if (f.def) {
        snprintf(path, sizeof(path), "args.%s.default", name);
        if ((r = check_value(a, f.def, path, NULL, reterr)) < 0)
            return r;
        a->def = json_incref(f.def);
    }
    return 0;
}

static int parse_required(struct hale_tool *t, const json_t *required, hale_diag *reterr)
{
    size_t i;
    json_t *e;

    json_array_foreach(required, i, e)
    {
        const struct hale__arg *found = hale__tool_arg(t, json_string_value(e));
        struct hale__arg *a = found ? &t->args[found - t->args] : NULL;

        if (!a)
            return hale_diag_set(reterr, "required[%zu]: '%.64s' is not an argument", i,
                                 json_string_value(e)),
                   HALE_ESCHEMA;
        if (a->required)
            return hale_diag_set(reterr, "required[%zu]: '%s' named twice", i, a->name),
                   HALE_ESCHEMA;
        a->required = true;
    }
    return 0;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int hale__args_parse(struct hale_tool *t, const json_t *args, const json_t *required,
                     hale_diag *reterr)
{
    const char **keys;
    size_t n = json_object_size(args), k = 0;
    const char *key;
    json_t *v;
    int r = 0;

    if (n > HALE_CATALOG_MAX_ARGS)
        return hale_diag_set(reterr, "args: more than %u arguments", HALE_CATALOG_MAX_ARGS),
               HALE_ELIMIT;
    if (!(keys = calloc(n + 1, sizeof(*keys))) || !(t->args = calloc(n + 1, sizeof(*t->args)))) {
        free(keys);
        return -ENOMEM;
    }
    json_object_foreach((json_t *)(uintptr_t)args, key, v) keys[k++] = key;
    qsort(keys, n, sizeof(*keys), cmp_key);
    for (size_t i = 0; i < n && r == 0; i++) {
        r = parse_arg(&t->args[i], keys[i], json_object_get(args, keys[i]), reterr);
        t->n_args = i + 1;
    }
    free(keys);
    if (r == 0 && required)
        r = parse_required(t, required, reterr);
    return r;
}
