/* agent/catalog/runbook.c - loading the JSON files of policies/runbooks: each runbook's match
 * (alertname, label matchers) and its actions, checked against the tool catalog at load so that a
 * broken runbook fails `hale tool check` and a reload, not an incident at 3 a.m. */
#include "internal.h"

#include "catalog/runbook_int.h"
#include "util/alloc.h"
#include "util/json.h"
#include "util/regex.h"

static void matcher_release(struct rb_matcher *m)
{
    free(m->label);
    free(m->value);
    pcre2_code_free(m->re);
    json_decref(m->in);
}

static void runbook_release(struct runbook *rb)
{
    free(rb->ref);
    free(rb->alertname);
    for (size_t i = 0; i < rb->n_matchers; i++)
        matcher_release(&rb->matchers[i]);
    free(rb->matchers);
    for (size_t i = 0; i < rb->n_actions; i++) {
        json_decref(rb->actions[i].args);
        json_decref(rb->actions[i].target);
    }
    free(rb->actions);
}

static void set_free(hale_runbooks *s)
{
    for (size_t i = 0; i < s->n_books; i++)
        runbook_release(&s->books[i]);
    free(s->books);
    pcre2_match_context_free(s->mctx);
    hale_catalog_unref(s->cat);
    free(s);
}

hale_runbooks *hale_runbooks_ref(hale_runbooks *rb)
{
    atomic_fetch_add(&rb->refs, 1);
    return rb;
}

void hale_runbooks_unref(hale_runbooks *rb)
{
    if (rb && atomic_fetch_sub(&rb->refs, 1) == 1)
        set_free(rb);
}

size_t hale_runbooks_count(const hale_runbooks *rb)
{
    return rb->n_books;
}

const char *hale_runbooks_hash_hex(const hale_runbooks *rb)
{
    return rb->hash_hex;
}

hale_catalog *hale_runbooks_catalog(const hale_runbooks *rb)
{
    return rb->cat;
}

/* ---- Parsing ------------------------------------------------------------------------------- */

static bool label_name_ok(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= HALE_MAX_LABEL_NAME_BYTES && !(s[0] >= '0' && s[0] <= '9') &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static bool id_ok(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= 128 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static int parse_matcher(struct rb_matcher *m, const char *label, const json_t *spec,
                         hale_diag *reterr)
{
    const char *kind = NULL;
    json_t *v = NULL;
    char where[320];
    size_t i;
    json_t *e;

    snprintf(where, sizeof(where), "match.labels.%.200s", label);
    if (!label_name_ok(label))
        return hale_diag_set(reterr, "%s: not a label name", where), HALE_ESCHEMA;
    if (!(m->label = strdup(label)))
        return -ENOMEM;
    if (json_is_object(spec) && json_object_size(spec) == 1)
        json_object_foreach((json_t *)(uintptr_t)spec, kind, v) break;
    if (!kind || (strcmp(kind, "equals") && strcmp(kind, "regex") && strcmp(kind, "in")))
        return hale_diag_set(
                   reterr, "%s: expected {\"equals\": S}, {\"regex\": S} or {\"in\": [S]}", where),
               HALE_ESCHEMA;
    if (strcmp(kind, "in") == 0) {
        m->kind = RB_IN;
        if (!json_is_array(v) || json_array_size(v) == 0 ||
            json_array_size(v) > HALE_MAX_POLICY_LIST)
            return hale_diag_set(reterr, "%s.in: expected 1 to %u strings", where,
                                 HALE_MAX_POLICY_LIST),
                   HALE_ESCHEMA;
        json_array_foreach(v, i, e) if (!json_is_string(e)) return hale_diag_set(
            reterr, "%s.in[%zu]: expected string", where, i),
            HALE_ESCHEMA;
        m->in = json_incref(v);
        return 0;
    }
    if (!json_is_string(v))
        return hale_diag_set(reterr, "%s.%s: expected string", where, kind), HALE_ESCHEMA;
    if (strcmp(kind, "equals") == 0) {
        m->kind = RB_EQUALS;
        return (m->value = strdup(json_string_value(v))) ? 0 : -ENOMEM;
    }
    m->kind = RB_REGEX;
    if (json_string_length(v) > HALE_REDACT_MAX_PATTERN_LEN)
        return hale_diag_set(reterr, "%s.regex: longer than %u bytes", where,
                             HALE_REDACT_MAX_PATTERN_LEN),
               HALE_ELIMIT;
    snprintf(where, sizeof(where), "match.labels.%.200s.regex", label);
    return hale_regex_compile(json_string_value(v), 0, where, &m->re, reterr);
}

struct match_fields {
    const char *alertname;
    json_t *labels;
};

static const hale_json_field match_table[] = {
    {"alertname", HALE_JSON_STRING, true, offsetof(struct match_fields, alertname)},
    {"labels", HALE_JSON_OBJECT, false, offsetof(struct match_fields, labels)},
};

static int parse_match(struct runbook *rb, const json_t *match, hale_diag *reterr)
{
    struct match_fields f = {0};
    const char *key;
    json_t *v;
    int r;

    if ((r = hale_json_fields(match, match_table, HALE_ARRAY_SIZE(match_table), HALE_JSON_STRICT,
                              &f, "match", reterr)) < 0)
        return r;
    if (!(rb->alertname = strdup(f.alertname)))
        return -ENOMEM;
    if (json_object_size(f.labels) > HALE_RUNBOOK_MAX_MATCHERS)
        return hale_diag_set(reterr, "match.labels: more than %u matchers",
                             HALE_RUNBOOK_MAX_MATCHERS),
               HALE_ELIMIT;
    if (!(rb->matchers = calloc(json_object_size(f.labels) + 1, sizeof(*rb->matchers))))
        return -ENOMEM;
    json_object_foreach(f.labels, key, v)
    {
        r = parse_matcher(&rb->matchers[rb->n_matchers++], key, v, reterr);
        if (r < 0)
            return r;
    }
    return 0;
}

struct action_fields {
    const char *tool;
    json_t *args;
    json_t *target;
    int64_t confidence_bp;
};

static const hale_json_field action_table[] = {
    {"tool", HALE_JSON_STRING, true, offsetof(struct action_fields, tool)},
    {"args", HALE_JSON_OBJECT, false, offsetof(struct action_fields, args)},
    {"target", HALE_JSON_STRING_MAP, false, offsetof(struct action_fields, target)},
    {"confidence_bp", HALE_JSON_INT, true, offsetof(struct action_fields, confidence_bp)},
};

static const char *const rb_ns[] = {"labels", "annotations", NULL};

static int check_action(const hale_catalog *cat, struct rb_action *a, const char *where,
                        hale_diag *reterr)
{
    const char *key;
    char sub[160];
    json_t *v;
    int r;

    snprintf(sub, sizeof(sub), "%s.args", where);
    if ((r = hale__tmpl_check(a->args, rb_ns, NULL, sub, reterr)) < 0)
        return r;
    snprintf(sub, sizeof(sub), "%s.target", where);
    if ((r = hale__tmpl_check(a->target, rb_ns, NULL, sub, reterr)) < 0)
        return r;
    json_object_foreach(a->target, key, v) if (!label_name_ok(key)) return hale_diag_set(
        reterr, "%s.%.64s: not a label name", sub, key),
        HALE_ESCHEMA;
    snprintf(sub, sizeof(sub), "%s", where);
    return hale__call_link(cat, hale_tool_name(a->tool), a->args, sub, false, reterr);
}

static int parse_action(const hale_catalog *cat, struct rb_action *a, const json_t *spec,
                        size_t idx, hale_diag *reterr)
{
    struct action_fields f = {0};
    char where[64];
    int r;

    snprintf(where, sizeof(where), "actions[%zu]", idx);
    if ((r = hale_json_fields(spec, action_table, HALE_ARRAY_SIZE(action_table), HALE_JSON_STRICT,
                              &f, where, reterr)) < 0)
        return r;
    if (!(a->tool = hale_catalog_find(cat, f.tool)))
        return hale_diag_set(reterr, "%s.tool: '%.64s' is not in the catalog", where, f.tool),
               HALE_ESCHEMA;
    if (f.confidence_bp < 0 || f.confidence_bp > 10000)
        return hale_diag_set(reterr, "%s.confidence_bp: expected 0 to 10000", where), HALE_ESCHEMA;
    a->confidence_bp = (int)f.confidence_bp;
    if (!(a->args = f.args ? json_incref(f.args) : json_object()) ||
        !(a->target = f.target ? json_incref(f.target) : json_object()))
        return -ENOMEM;
    return check_action(cat, a, where, reterr);
}

struct book_fields {
    const char *id;
    const char *description;
    json_t *match;
    json_t *actions;
};

static const hale_json_field book_table[] = {
    {"id", HALE_JSON_STRING, true, offsetof(struct book_fields, id)},
    {"description", HALE_JSON_STRING, false, offsetof(struct book_fields, description)},
    {"match", HALE_JSON_OBJECT, true, offsetof(struct book_fields, match)},
    {"actions", HALE_JSON_ARRAY, true, offsetof(struct book_fields, actions)},
};

static int parse_book(hale_runbooks *s, struct runbook *rb, const char *file, const json_t *spec,
                      hale_diag *reterr)
{
    struct book_fields f = {0};
    size_t i, len;
    json_t *e;
    int r;

    if ((r = hale_json_fields(spec, book_table, HALE_ARRAY_SIZE(book_table), HALE_JSON_STRICT, &f,
                              "", reterr)) < 0)
        return r;
    if (!id_ok(f.id))
        return hale_diag_set(reterr, "id: expected 1 to 128 of A-Z a-z 0-9 . _ -"), HALE_ESCHEMA;
    len = strlen(file) + strlen(f.id) + 2;
    if (!(rb->ref = malloc(len)))
        return -ENOMEM;
    snprintf(rb->ref, len, "%s#%s", file, f.id);
    for (i = 0; i < s->n_books; i++)
        if (strcmp(s->books[i].ref, rb->ref) == 0)
            return hale_diag_set(reterr, "id: '%s' is used twice in this file", f.id), HALE_ESCHEMA;
    if ((r = parse_match(rb, f.match, reterr)) < 0)
        return r;
    if (json_array_size(f.actions) == 0 || json_array_size(f.actions) > HALE_RUNBOOK_MAX_ACTIONS)
        return hale_diag_set(reterr, "actions: expected 1 to %u actions", HALE_RUNBOOK_MAX_ACTIONS),
               HALE_ESCHEMA;
    if (!(rb->actions = calloc(json_array_size(f.actions), sizeof(*rb->actions))))
        return -ENOMEM;
    json_array_foreach(f.actions, i, e)
    {
        rb->n_actions = i + 1;
        if (!json_is_object(e))
            return hale_diag_set(reterr, "actions[%zu]: expected object", i), HALE_ESCHEMA;
        if ((r = parse_action(s->cat, &rb->actions[i], e, i, reterr)) < 0)
            return r;
    }
    return 0;
}

static int parse_file(hale_runbooks *s, const char *file, const json_t *root, hale_diag *reterr)
{
    json_t *list = json_object_get(root, "runbooks"), *e;
    char where[400];
    size_t i;
    int r;

    snprintf(where, sizeof(where), "runbooks/%s", file);
    if (json_object_size(root) != 1 || !json_is_array(list))
        return hale_diag_set(reterr, "%s: expected {\"runbooks\": [...]}", where), HALE_ESCHEMA;
    json_array_foreach(list, i, e)
    {
        const char *id = json_string_value(json_object_get(e, "id"));
        char pre[600];

        if (hale_grow((void **)&s->books, &s->cap_books, s->n_books, sizeof(*s->books)) < 0)
            return -ENOMEM;
        memset(&s->books[s->n_books], 0, sizeof(*s->books));
        r = json_is_object(e) ? parse_book(s, &s->books[s->n_books], file, e, reterr)
                              : (hale_diag_set(reterr, "expected object"), HALE_ESCHEMA);
        s->n_books++;
        if (r < 0) {
            if (r == -ENOMEM)
                return r;
            if (id)
                snprintf(pre, sizeof(pre), "%s: runbook %.128s", where, id);
            else
                snprintf(pre, sizeof(pre), "%s: runbooks[%zu]", where, i);
            hale_diag_prefix(reterr, pre);
            return r;
        }
    }
    return 0;
}

static hale_runbooks *set_new(hale_catalog *cat)
{
    hale_runbooks *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    s->cat = hale_catalog_ref(cat);
    if (!(s->mctx = hale_regex_limits_new())) {
        set_free(s);
        return NULL;
    }
    return s;
}

/* Read and parse dir/name into s; text and len are kept by the caller for the hash. */
static int load_file(hale_runbooks *s, const char *dir, const char *name, char **text, size_t *len,
                     hale_diag *reterr)
{
    char path[4400], where[400];
    json_t *root = NULL;
    int r;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(where, sizeof(where), "runbooks/%s", name);
    r = hale__json_file(path, where, HALE_RUNBOOK_MAX_BYTES, text, len, &root, reterr);
    if (r == 0)
        r = parse_file(s, name, root, reterr);
    json_decref(root);
    return r;
}

static void free_texts(char **names, char **texts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
        if (texts)
            free(texts[i]);
    }
    free(names);
    free(texts);
}

int hale_runbooks_load(const char *dir, hale_catalog *cat, hale_runbooks **ret, hale_diag *reterr)
{
    char **names = NULL, **texts = NULL;
    size_t n = 0, *lens = NULL;
    hale_runbooks *s;
    int r;

    r = hale__dir_list(dir, ".json", HALE_RUNBOOK_MAX_FILES, &names, &n, reterr);
    if (r == -ENOENT)
        r = 0, names = NULL, n = 0;
    if (r < 0)
        return r;
    s = set_new(cat);
    texts = calloc(n + 1, sizeof(*texts));
    lens = calloc(n + 1, sizeof(*lens));
    if (!s || !texts || !lens)
        r = -ENOMEM;
    for (size_t i = 0; i < n && r == 0; i++)
        r = load_file(s, dir, names[i], &texts[i], &lens[i], reterr);
    if (r == 0)
        hale__hash_named(names, texts, lens, NULL, n, s->hash_hex);
    free_texts(names, texts, n);
    free(lens);
    if (r < 0) {
        if (r == -ENOMEM)
            hale_diag_set(reterr, "out of memory loading runbooks");
        hale_runbooks_unref(s);
        return r;
    }
    *ret = s;
    return 0;
}

int hale_runbooks_check(const char *dir, hale_catalog *cat,
                        void (*cb)(const char *file, int err, const hale_diag *d, void *ud),
                        void *ud)
{
    char **names = NULL, path[4400];
    hale_diag d = {{0}};
    size_t n = 0;
    int bad = 0, r;

    r = hale__dir_list(dir, ".json", HALE_RUNBOOK_MAX_FILES, &names, &n, &d);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        hale_runbooks *s = set_new(cat);
        char *text = NULL;
        size_t len = 0;

        d.msg[0] = '\0';
        r = s ? load_file(s, dir, names[i], &text, &len, &d) : -ENOMEM;
        hale_runbooks_unref(s);
        free(text);
        if (r == -ENOMEM) {
            bad = r;
            break;
        }
        bad += r < 0;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (cb)
            cb(path, r, &d, ud);
    }
    free_texts(names, NULL, n);
    return bad;
}
