/* agent/audit/audit_canon.c - the canonical bytes of a leaf: exactly what jansson's
 * json_dumps(JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII) writes, produced directly
 * into a buffer with the envelope members merged in, without copying the payload object or
 * going through printf. A leaf is serialized once per append, and jansson's general path
 * (a sorted key array and a printf per number, per object) was most of an append's cost.
 * tests/test_audit.c checks byte equality with jansson on random documents. */
#include "internal.h"

#include "audit/audit_int.h"
#include "util/json.h"

#define MAX_DEPTH     64 /* payload nesting accepted */
#define STACK_MEMBERS 32 /* members sorted without an allocation */

struct member {
    const char *key; /* borrowed */
    size_t key_len;  /* bytes */
    json_t *value;   /* borrowed; NULL for a pre-rendered envelope member */
    const char *raw; /* the rendered value of an envelope member */
    size_t raw_len;  /* its bytes */
};

static int put_int(hale_buf *b, json_int_t v)
{
    char tmp[HALE_INT_TEXT_BYTES];
    const char *p = hale_int_text(v, tmp);

    return hale_buf_append(b, p, (size_t)(tmp + HALE_INT_TEXT_BYTES - 1 - p));
}

/* One byte; the buffer's own checks only when it has to grow (or is at its limit). The NUL
 * that a hale_buf keeps after its bytes is written once, by hale__audit_canon, at the end. */
static int put_char(hale_buf *b, char c)
{
    if (b->len < b->max_len && b->len + 2 <= b->cap) {
        b->data[b->len++] = c;
        return 0;
    }
    return hale_buf_putc(b, c);
}

/* A JSON string, ASCII only (jansson checks strings are UTF-8 when they are made). */
static int put_string(hale_buf *b, const char *s, size_t len)
{
    return hale_json_put_string(b, s, len, true);
}

static int member_cmp(const struct member *x, const struct member *y)
{
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c;

    if (n > 0 && x->key[0] != y->key[0]) /* most keys differ in their first byte */
        return (unsigned char)x->key[0] < (unsigned char)y->key[0] ? -1 : 1;
    c = memcmp(x->key, y->key, n);

    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

static int put_value(hale_buf *b, json_t *v, int depth, const char **where);

/* What the log refuses in a payload's top-level member key = v, or NULL: the envelope's names,
 * and filter attributes of a type the query index cannot hold (a leaf is written once: an
 * index that met a string incident_id could never find it). Called for every member of every
 * leaf: lengths first, bytes only on a length match. */
static const char *member_problem(const char *key, size_t key_len, json_t *v)
{
    enum { RESERVED, INTEGER, STRING };
    static const struct {
        const char *name;
        size_t len;
        int rule;
    } names[] = {{"v", 1, RESERVED},   {"ts", 2, RESERVED},    {"log", 3, RESERVED},
                 {"seq", 3, RESERVED}, {"kind", 4, RESERVED},  {"tool", 4, STRING},
                 {"actor", 5, STRING}, {"outcome", 7, STRING}, {"incident_id", 11, INTEGER}};

    for (size_t i = 0; i < HALE_ARRAY_SIZE(names); i++) {
        if (names[i].len != key_len || names[i].name[0] != key[0] ||
            memcmp(names[i].name, key, key_len) != 0)
            continue;
        if (names[i].rule == RESERVED)
            return "reserved for the leaf envelope";
        if (json_is_null(v) || (names[i].rule == INTEGER ? json_is_integer(v) : json_is_string(v)))
            return NULL;
        return names[i].rule == INTEGER ? "expected an integer" : "expected a string";
    }
    return NULL;
}

/* An object's members (and extra pre-rendered ones, the envelope, whose presence makes obj a
 * payload whose members member_problem checks: *problem names the refusal) in key order. */
static int put_object(hale_buf *b, json_t *obj, const struct member *extra, size_t n_extra,
                      int depth, const char **where, const char **problem)
{
    struct member stack[STACK_MEMBERS], *m = stack;
    size_t n = 0, want = json_object_size(obj) + n_extra;
    int r;

    if (want > STACK_MEMBERS && !(m = malloc(want * sizeof(*m))))
        return -ENOMEM;
    /* The iterator directly: json_object_keylen_foreach looks every key up again. */
    for (void *it = json_object_iter(obj); it && n < want - n_extra;
         it = json_object_iter_next(obj, it))
        m[n++] = (struct member){json_object_iter_key(it), json_object_iter_key_len(it),
                                 json_object_iter_value(it), NULL, 0};
    for (size_t i = 0; n_extra > 0 && i < n; i++)
        if ((*problem = member_problem(m[i].key, m[i].key_len, m[i].value))) {
            *where = m[i].key;
            if (m != stack)
                free(m);
            return HALE_ESCHEMA;
        }
    for (size_t i = 0; i < n_extra; i++)
        m[n++] = extra[i];
    for (size_t i = 1; i < n; i++) { /* insertion sort: objects are small */
        struct member t = m[i];
        size_t j = i;

        for (; j > 0 && member_cmp(&m[j - 1], &t) > 0; j--)
            m[j] = m[j - 1];
        m[j] = t;
    }
    r = put_char(b, '{');
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (i > 0)
            r = put_char(b, ',');
        if (r == 0)
            r = put_string(b, m[i].key, m[i].key_len);
        if (r == 0)
            r = put_char(b, ':');
        if (r == 0)
            r = m[i].value ? put_value(b, m[i].value, depth + 1, where)
                           : hale_buf_append(b, m[i].raw, m[i].raw_len);
        if (r == HALE_ESCHEMA && !*where)
            *where = m[i].key;
    }
    if (m != stack)
        free(m);
    return r == 0 ? put_char(b, '}') : r;
}

static int put_value(hale_buf *b, json_t *v, int depth, const char **where)
{
    size_t i;
    json_t *e;
    int r;

    if (depth > MAX_DEPTH)
        return HALE_ELIMIT;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return put_object(b, v, NULL, 0, depth, where, NULL);
    case JSON_ARRAY:
        r = put_char(b, '[');
        json_array_foreach(v, i, e)
        {
            if (r == 0 && i > 0)
                r = put_char(b, ',');
            if (r == 0)
                r = put_value(b, e, depth + 1, where);
        }
        return r == 0 ? put_char(b, ']') : r;
    case JSON_STRING:
        return put_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return put_int(b, json_integer_value(v));
    case JSON_TRUE:
        return hale_buf_puts(b, "true");
    case JSON_FALSE:
        return hale_buf_puts(b, "false");
    case JSON_NULL:
        return hale_buf_puts(b, "null");
    case JSON_REAL:
    default:
        return HALE_ESCHEMA;
    }
}

static int canon(hale_buf *b, json_t *v, const struct hale__audit_envelope *env,
                 const char **ret_where, const char **ret_problem)
{
    char seq[HALE_INT_TEXT_BYTES], ts[HALE_INT_TEXT_BYTES];
    struct member extra[5];
    json_t *empty;
    int r;

    if (!env)
        return put_value(b, v, 0, ret_where);
    extra[0] = (struct member){"v", 1, NULL, "1", 1};
    extra[1] = (struct member){"log", 3, NULL, env->log_json, strlen(env->log_json)};
    extra[2] = (struct member){"seq", 3, NULL, hale_int_text((int64_t)env->seq, seq), 0};
    extra[3] = (struct member){"ts", 2, NULL, hale_int_text(env->ts_ns, ts), 0};
    extra[4] = (struct member){"kind", 4, NULL, env->kind_json, strlen(env->kind_json)};
    extra[2].raw_len = strlen(extra[2].raw);
    extra[3].raw_len = strlen(extra[3].raw);
    if (v)
        return put_object(b, v, extra, 5, 0, ret_where, ret_problem);
    empty = json_object();
    r = empty ? put_object(b, empty, extra, 5, 0, ret_where, ret_problem) : -ENOMEM;
    json_decref(empty);
    return r;
}

int hale__audit_canon(hale_buf *b, json_t *v, const struct hale__audit_envelope *env,
                      const char **ret_where, const char **ret_problem)
{
    int r;

    *ret_where = NULL;
    *ret_problem = NULL;
    r = canon(b, v, env, ret_where, ret_problem);
    if (r == 0 && b->data)
        b->data[b->len] = '\0'; /* the writes above leave room for it */
    return r;
}
