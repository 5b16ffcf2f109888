/* agent/catalog/catalog_tmpl.c - the "{{ns.NAME}}" templates of manifests (args.*, output.*)
 * and runbooks (labels.*, annotations.*): checked at load, filled with typed values when a
 * run is prepared, a rollback derived or a runbook proposes an action. Filling never
 * evaluates anything: a reference is replaced by a value, which is then validated. */
#include "internal.h"

#include "catalog/catalog_int.h"
#include "util/buf.h"
#include "util/json.h"

#define REF_NS_MAX   16  /* bytes of a namespace */
#define REF_NAME_MAX 128 /* bytes of a referenced name */

/* Parse the reference at s (just after "{{") up to "}}": *ret_end points after it. */
static bool parse_ref(const char *s, char *ns, char *name, const char **ret_end)
{
    size_t nl = strspn(s, "abcdefghijklmnopqrstuvwxyz"), ml;

    if (nl == 0 || nl >= REF_NS_MAX || s[nl] != '.')
        return false;
    ml = strspn(s + nl + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
    if (ml == 0 || ml >= REF_NAME_MAX || strncmp(s + nl + 1 + ml, "}}", 2) != 0)
        return false;
    memcpy(ns, s, nl);
    ns[nl] = '\0';
    memcpy(name, s + nl + 1, ml);
    name[ml] = '\0';
    *ret_end = s + nl + 1 + ml + 2;
    return true;
}

int hale__tmpl_scan(const char *s, int (*fn)(void *ud, const char *ns, const char *name), void *ud,
                    hale_diag *reterr)
{
    char ns[REF_NS_MAX], name[REF_NAME_MAX];
    const char *p;
    int r;

    while ((p = strstr(s, "{{"))) {
        if (!parse_ref(p + 2, ns, name, &s))
            return hale_diag_set(reterr,
                                 "malformed template near '%.40s', expected {{NAMESPACE.NAME}}", p),
                   HALE_ESCHEMA;
        if (fn && (r = fn(ud, ns, name)) < 0)
            return r;
    }
    if (strstr(s, "}}"))
        return hale_diag_set(reterr, "'}}' without '{{' near '%.40s'", strstr(s, "}}")),
               HALE_ESCHEMA;
    return 0;
}

bool hale__tmpl_whole(const char *s, const char *ns, char *name, size_t cap)
{
    char n[REF_NS_MAX], m[REF_NAME_MAX];
    const char *end;

    if (strncmp(s, "{{", 2) != 0 || !parse_ref(s + 2, n, m, &end) || *end ||
        (ns && strcmp(n, ns) != 0) || strlen(m) >= cap)
        return false;
    memcpy(name, m, strlen(m) + 1);
    return true;
}

bool hale__abs_path_ok(const char *s)
{
    if (s[0] != '/' || strcmp(s, "/") == 0 || strlen(s) >= 4096)
        return false;
    for (const char *p = s; *p; p++) {
        size_t seg;

        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
        if (*p != '/')
            continue;
        seg = strcspn(p + 1, "/");
        if ((seg == 1 && p[1] == '.') || (seg == 2 && p[1] == '.' && p[2] == '.'))
            return false;
    }
    return true;
}

struct check_ud {
    const char *const *allowed; /* namespaces */
    const struct hale_tool *t;  /* args.* must name one of its arguments, when set */
    const char *where;          /* error prefix */
    hale_diag *reterr;          /* where errors go */
};

static int check_ref(void *ud, const char *ns, const char *name)
{
    struct check_ud *c = ud;
    size_t i;

    for (i = 0; c->allowed[i] && strcmp(c->allowed[i], ns) != 0; i++)
        ;
    if (!c->allowed[i])
        return hale_diag_set(c->reterr, "%s: template namespace '%s' is not allowed here", c->where,
                             ns),
               HALE_ESCHEMA;
    if (c->t && strcmp(ns, "args") == 0 && !hale__tool_arg(c->t, name))
        return hale_diag_set(c->reterr, "%s: {{args.%s}}: %s has no such argument", c->where, name,
                             c->t->name),
               HALE_ESCHEMA;
    return 0;
}

int hale__tmpl_check(const json_t *v, const char *const *allowed, const struct hale_tool *t,
                     const char *where, hale_diag *reterr)
{
    struct check_ud c = {allowed, t, where, reterr};
    char sub[256];
    const char *key;
    size_t i;
    json_t *e;
    int r;

    if (json_is_string(v)) {
        r = hale__tmpl_scan(json_string_value(v), check_ref, &c, reterr);
        if (r < 0 && !strstr(reterr ? reterr->msg : "", where))
            hale_diag_prefix(reterr, where);
        return r;
    }
    if (json_is_object(v)) {
        json_object_foreach((json_t *)(uintptr_t)v, key, e)
        {
            snprintf(sub, sizeof(sub), "%s.%.64s", where, key);
            if ((r = hale__tmpl_check(e, allowed, t, sub, reterr)) < 0)
                return r;
        }
    }
    if (json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            snprintf(sub, sizeof(sub), "%s[%zu]", where, i);
            if ((r = hale__tmpl_check(e, allowed, t, sub, reterr)) < 0)
                return r;
        }
    }
    return 0;
}

static int uses_ref(void *ud, const char *ns, const char *name)
{
    (void)name;
    return strcmp(ns, ud) == 0 ? -1 : 0;
}

bool hale__tmpl_uses(const json_t *v, const char *ns)
{
    const char *key;
    size_t i;
    json_t *e;

    if (json_is_string(v))
        return hale__tmpl_scan(json_string_value(v), uses_ref, (void *)(uintptr_t)ns, NULL) == -1;
    json_object_foreach((json_t *)(uintptr_t)v, key, e) if (hale__tmpl_uses(e, ns)) return true;
    if (json_is_array(v))
        json_array_foreach(v, i, e) if (hale__tmpl_uses(e, ns)) return true;
    return false;
}

struct fill_ud {
    hale__tmpl_lookup lookup; /* where values come from */
    void *ud;                 /* its context */
    const char *where;        /* error prefix */
    hale_buf out;             /* the concatenation */
    hale_diag *reterr;        /* where errors go */
};

static int append_ref(void *ud, const char *ns, const char *name)
{
    struct fill_ud *f = ud;
    const json_t *v = f->lookup(f->ud, ns, name);

    if (!v)
        return hale_diag_set(f->reterr, "%s: %s.%s is not set", f->where, ns, name), HALE_ESCHEMA;
    if (json_is_string(v))
        return hale_buf_append(&f->out, json_string_value(v), json_string_length(v));
    if (json_is_integer(v))
        return hale_buf_printf(&f->out, "%lld", (long long)json_integer_value(v));
    if (json_is_real(v))
        return hale_buf_printf(&f->out, "%.17g", json_real_value(v));
    if (json_is_boolean(v))
        return hale_buf_puts(&f->out, json_is_true(v) ? "true" : "false");
    return hale_diag_set(f->reterr, "%s: %s.%s is %s, not a scalar", f->where, ns, name,
                         hale_json_type_name(v)),
           HALE_ESCHEMA;
}

/* The literal text between references is appended by the caller around each scan step. */
static int fill_string(const char *s, struct fill_ud *f, json_t **ret)
{
    char ns[REF_NS_MAX], name[REF_NAME_MAX];
    const char *p, *end;
    int r;

    if (strncmp(s, "{{", 2) == 0 && parse_ref(s + 2, ns, name, &end) && !*end) {
        const json_t *v = f->lookup(f->ud, ns, name);

        if (!v)
            return hale_diag_set(f->reterr, "%s: %s.%s is not set", f->where, ns, name),
                   HALE_ESCHEMA;
        *ret = json_deep_copy(v);
        return *ret ? 0 : -ENOMEM;
    }
    hale_buf_reset(&f->out);
    while ((p = strstr(s, "{{"))) {
        if (!parse_ref(p + 2, ns, name, &end))
            return hale_diag_set(f->reterr, "%s: malformed template", f->where), HALE_ESCHEMA;
        if ((r = hale_buf_append(&f->out, s, (size_t)(p - s))) < 0 ||
            (r = append_ref(f, ns, name)) < 0)
            return r == HALE_ELIMIT ? (hale_diag_set(f->reterr, "%s: too long", f->where), r) : r;
        s = end;
    }
    if ((r = hale_buf_puts(&f->out, s)) < 0)
        return r;
    *ret = json_stringn(f->out.data ? f->out.data : "", f->out.len);
    if (!*ret)
        return hale_diag_set(f->reterr, "%s: the filled value is not valid UTF-8", f->where),
               HALE_ESCHEMA;
    return 0;
}

static int fill(const json_t *v, struct fill_ud *f, json_t **ret)
{
    const char *key, *where = f->where;
    char sub[256];
    json_t *e, *out = NULL, *x;
    size_t i;
    int r = 0;

    if (json_is_string(v))
        return fill_string(json_string_value(v), f, ret);
    if (!json_is_object(v) && !json_is_array(v)) {
        *ret = json_incref((json_t *)(uintptr_t)v);
        return 0;
    }
    if (!(out = json_is_object(v) ? json_object() : json_array()))
        return -ENOMEM;
    json_object_foreach((json_t *)(uintptr_t)v, key, e)
    {
        snprintf(sub, sizeof(sub), "%s.%.64s", where, key);
        f->where = sub;
        if ((r = fill(e, f, &x)) < 0 || (r = json_object_set_new(out, key, x)) < 0)
            break;
    }
    if (json_is_array(v) && r == 0)
        json_array_foreach(v, i, e)
        {
            snprintf(sub, sizeof(sub), "%s[%zu]", where, i);
            f->where = sub;
            if ((r = fill(e, f, &x)) < 0 || (r = json_array_append_new(out, x)) < 0)
                break;
        }
    f->where = where;
    if (r < 0) {
        json_decref(out);
        return r == -1 ? -ENOMEM : r;
    }
    *ret = out;
    return 0;
}

int hale__tmpl_fill(const json_t *v, hale__tmpl_lookup lookup, void *ud, const char *where,
                    json_t **ret, hale_diag *reterr)
{
    struct fill_ud f = {lookup, ud, where, {0}, reterr};
    int r;

    hale_buf_init(&f.out, HALE_MAX_REQUEST_BYTES);
    r = fill(v, &f, ret);
    hale_buf_release(&f.out);
    return r;
}
