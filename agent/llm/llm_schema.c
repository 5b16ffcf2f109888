/* agent/llm/llm_schema.c - the closed JSON schema subset an answer is validated against, and
 * the strict answer parser. A schema is compiled once into a tree of nodes; validation walks
 * the answer and the tree together and stops at the first fault, named by its JSON path. */
#include "internal.h"

#include "hale/llm.h"
#include "util/json.h"

typedef enum node_type { T_OBJECT, T_ARRAY, T_STRING, T_INTEGER, T_NUMBER, T_BOOLEAN } node_type;

typedef struct node node;
struct node {
    node_type type;     /* what the value must be */
    size_t n_props;     /* T_OBJECT: entries in props */
    char **prop_names;  /* T_OBJECT: property names */
    node **props;       /* T_OBJECT: their schemas */
    bool *required;     /* T_OBJECT: per property */
    node *items;        /* T_ARRAY: schema of every element */
    json_t *enum_vals;  /* NULL or an array of allowed values (owned) */
    int64_t max_length; /* T_STRING: -1 or the most code points */
};

struct hale_llm_schema {
    node *root; /* compiled tree */
    char *text; /* canonical JSON of the schema */
};

static const char *const type_names[] = {"object",  "array",  "string",
                                         "integer", "number", "boolean"};

static void node_free(node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n_props; i++) {
        free(n->prop_names[i]);
        node_free(n->props[i]);
    }
    free(n->prop_names);
    free(n->props);
    free(n->required);
    node_free(n->items);
    json_decref(n->enum_vals);
    free(n);
}

static int compile(json_t *v, const char *path, unsigned depth, node **ret, hale_diag *reterr);

static int compile_object(node *n, json_t *v, const char *path, unsigned depth, hale_diag *reterr)
{
    json_t *props = json_object_get(v, "properties"), *req = json_object_get(v, "required"),
           *add = json_object_get(v, "additionalProperties"), *sub;
    const char *key;
    char sub_path[256];
    size_t i = 0;

    if (!json_is_object(props) || !json_is_false(add)) {
        hale_diag_set(reterr,
                      "%s: an object needs \"properties\" and \"additionalProperties\": "
                      "false",
                      path);
        return HALE_ESCHEMA;
    }
    n->n_props = json_object_size(props);
    if (n->n_props) {
        n->prop_names = calloc(n->n_props, sizeof(*n->prop_names));
        n->props = calloc(n->n_props, sizeof(*n->props));
        n->required = calloc(n->n_props, sizeof(*n->required));
        if (!n->prop_names || !n->props || !n->required)
            return -ENOMEM;
    }
    json_object_foreach(props, key, sub)
    {
        int r;

        snprintf(sub_path, sizeof(sub_path), "%s.properties.%.64s", path, key);
        if (!(n->prop_names[i] = strdup(key)))
            return -ENOMEM;
        r = compile(sub, sub_path, depth + 1, &n->props[i], reterr);
        if (r < 0)
            return r;
        i++;
    }
    if (req && !json_is_array(req)) {
        hale_diag_set(reterr, "%s.required: expected an array of property names", path);
        return HALE_ESCHEMA;
    }
    for (size_t k = 0; k < json_array_size(req); k++) {
        const char *name = json_string_value(json_array_get(req, k));
        size_t j;

        for (j = 0; name && j < n->n_props; j++)
            if (strcmp(n->prop_names[j], name) == 0)
                break;
        if (!name || j == n->n_props) {
            hale_diag_set(reterr, "%s.required[%zu]: not one of the properties", path, k);
            return HALE_ESCHEMA;
        }
        n->required[j] = true;
    }
    return 0;
}

static int compile(json_t *v, const char *path, unsigned depth, node **ret, hale_diag *reterr)
{
    static const char *const known[] = {"type", "properties", "required", "additionalProperties",
                                        "enum", "maxLength",  "items",    "description",
                                        "title"};
    json_t *t, *e, *ml, *sub;
    const char *key, *tn;
    node *n;
    size_t k;
    int r;

    if (depth > HALE_LLM_MAX_SCHEMA_DEPTH || !json_is_object(v)) {
        hale_diag_set(reterr, "%s: %s", path,
                      json_is_object(v) ? "nested too deep" : "expected a schema object");
        return HALE_ESCHEMA;
    }
    json_object_foreach(v, key, sub)
    {
        for (k = 0; k < HALE_ARRAY_SIZE(known); k++)
            if (strcmp(key, known[k]) == 0)
                break;
        if (k == HALE_ARRAY_SIZE(known)) {
            hale_diag_set(reterr, "%s: keyword \"%.64s\" is not in the supported subset", path,
                          key);
            return HALE_ESCHEMA;
        }
    }
    t = json_object_get(v, "type");
    tn = json_string_value(t);
    for (k = 0; tn && k < HALE_ARRAY_SIZE(type_names); k++)
        if (strcmp(tn, type_names[k]) == 0)
            break;
    if (!tn || k == HALE_ARRAY_SIZE(type_names)) {
        hale_diag_set(reterr, "%s.type: expected object, array, string, integer, number or boolean",
                      path);
        return HALE_ESCHEMA;
    }
    if (!(n = calloc(1, sizeof(*n))))
        return -ENOMEM;
    n->type = (node_type)k;
    n->max_length = -1;
    r = 0;
    if ((json_object_get(v, "properties") || json_object_get(v, "required") ||
         json_object_get(v, "additionalProperties")) &&
        n->type != T_OBJECT) {
        hale_diag_set(reterr, "%s: properties belong to objects only", path);
        r = HALE_ESCHEMA;
    } else if (json_object_get(v, "items") && n->type != T_ARRAY) {
        hale_diag_set(reterr, "%s: items belongs to arrays only", path);
        r = HALE_ESCHEMA;
    } else if (n->type == T_OBJECT) {
        r = compile_object(n, v, path, depth, reterr);
    } else if (n->type == T_ARRAY) {
        char sub_path[256];

        snprintf(sub_path, sizeof(sub_path), "%s.items", path);
        if (!json_object_get(v, "items")) {
            hale_diag_set(reterr, "%s: an array needs \"items\"", path);
            r = HALE_ESCHEMA;
        } else {
            r = compile(json_object_get(v, "items"), sub_path, depth + 1, &n->items, reterr);
        }
    }
    if (r == 0 && (ml = json_object_get(v, "maxLength"))) {
        if (n->type != T_STRING || !json_is_integer(ml) || json_integer_value(ml) < 0) {
            hale_diag_set(reterr, "%s.maxLength: expected a count on a string schema", path);
            r = HALE_ESCHEMA;
        } else {
            n->max_length = json_integer_value(ml);
        }
    }
    if (r == 0 && (e = json_object_get(v, "enum"))) {
        bool ok = json_is_array(e) && json_array_size(e) > 0 &&
                  (n->type == T_STRING || n->type == T_INTEGER || n->type == T_NUMBER);

        for (k = 0; ok && k < json_array_size(e); k++) {
            const json_t *x = json_array_get(e, k);

            ok = n->type == T_STRING ? json_is_string(x) : json_is_number(x);
        }
        if (!ok) {
            hale_diag_set(reterr, "%s.enum: expected a non-empty array of values of the type",
                          path);
            r = HALE_ESCHEMA;
        } else {
            n->enum_vals = json_incref(e);
        }
    }
    if (r < 0) {
        node_free(n);
        return r;
    }
    *ret = n;
    return 0;
}

int hale_llm_schema_parse(const char *json, size_t len, const char *name, hale_llm_schema **ret,
                          hale_diag *reterr)
{
    hale_llm_schema *s;
    json_t *doc = NULL;
    hale_diag d = {{0}};
    int r;

    r = hale_json_parse(json, len, &doc, &d);
    if (r < 0) {
        hale_diag_set(reterr, "%s: %s", name, d.msg);
        return r == -ENOMEM ? r : HALE_ESCHEMA;
    }
    if (!(s = calloc(1, sizeof(*s)))) {
        json_decref(doc);
        return -ENOMEM;
    }
    r = compile(doc, "$", 0, &s->root, &d);
    if (r == HALE_ESCHEMA)
        hale_diag_set(reterr, "%s: %s", name, d.msg);
    if (r == 0 && !(s->text = hale_json_dump_canonical(doc)))
        r = -ENOMEM;
    json_decref(doc);
    if (r < 0) {
        hale_llm_schema_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

void hale_llm_schema_free(hale_llm_schema *s)
{
    if (!s)
        return;
    node_free(s->root);
    free(s->text);
    free(s);
}

const char *hale_llm_schema_text(const hale_llm_schema *s)
{
    return s->text;
}

static size_t utf8_count(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

static bool in_enum(json_t *vals, json_t *x)
{
    for (size_t i = 0; i < json_array_size(vals); i++) {
        json_t *e = json_array_get(vals, i);

        if (json_is_number(e) && json_is_number(x) ? json_number_value(e) == json_number_value(x)
                                                   : json_equal(e, x))
            return true;
    }
    return false;
}

static int validate(const node *n, json_t *v, char *path, size_t path_len, size_t cap,
                    hale_diag *reterr)
{
    bool ok;

    switch (n->type) {
    case T_OBJECT:
        ok = json_is_object(v);
        break;
    case T_ARRAY:
        ok = json_is_array(v);
        break;
    case T_STRING:
        ok = json_is_string(v);
        break;
    case T_INTEGER:
        ok = json_is_integer(v);
        break;
    case T_NUMBER:
        ok = json_is_number(v);
        break;
    default:
        ok = json_is_boolean(v);
        break;
    }
    if (!ok) {
        hale_diag_set(reterr, "%s: expected %s, got %s", path, type_names[n->type],
                      hale_json_type_name(v));
        return HALE_ESCHEMA;
    }
    if (n->enum_vals && !in_enum(n->enum_vals, v)) {
        hale_diag_set(reterr, "%s: not one of the allowed values", path);
        return HALE_ESCHEMA;
    }
    if (n->type == T_STRING && n->max_length >= 0 &&
        utf8_count(json_string_value(v), json_string_length(v)) > (size_t)n->max_length) {
        hale_diag_set(reterr, "%s: longer than %lld characters", path, (long long)n->max_length);
        return HALE_ESCHEMA;
    }
    if (n->type == T_OBJECT) {
        const char *key;
        json_t *sub;

        json_object_foreach(v, key, sub)
        {
            size_t i;
            int r;

            for (i = 0; i < n->n_props; i++)
                if (strcmp(n->prop_names[i], key) == 0)
                    break;
            if (i == n->n_props) {
                hale_diag_set(reterr, "%s: unexpected property \"%.64s\"", path, key);
                return HALE_ESCHEMA;
            }
            snprintf(path + path_len, cap - path_len, ".%.64s", key);
            r = validate(n->props[i], sub, path, strlen(path), cap, reterr);
            path[path_len] = '\0';
            if (r < 0)
                return r;
        }
        for (size_t i = 0; i < n->n_props; i++)
            if (n->required[i] && !json_object_get(v, n->prop_names[i])) {
                hale_diag_set(reterr, "%s: missing required property \"%s\"", path,
                              n->prop_names[i]);
                return HALE_ESCHEMA;
            }
    } else if (n->type == T_ARRAY) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int r;

            snprintf(path + path_len, cap - path_len, "[%zu]", i);
            r = validate(n->items, json_array_get(v, i), path, strlen(path), cap, reterr);
            path[path_len] = '\0';
            if (r < 0)
                return r;
        }
    }
    return 0;
}

int hale_llm_answer_parse(const hale_llm_schema *s, const char *text, size_t len, json_t **ret,
                          hale_diag *reterr)
{
    char path[1024] = "$";
    json_t *doc = NULL;
    int r;

    if (len > HALE_LLM_MAX_ANSWER_BYTES) {
        hale_diag_set(reterr, "answer of %zu bytes is over the limit", len);
        return HALE_EPARSE;
    }
    r = hale_json_parse(text, len, &doc, reterr);
    if (r < 0)
        return r;
    r = validate(s->root, doc, path, 1, sizeof(path), reterr);
    if (r < 0) {
        json_decref(doc);
        return r;
    }
    *ret = doc;
    return 0;
}
