/* agent/catalog/catalog_check.c - what a tool's manifest says happens around a run: the
 * precondition that must hold before it, the verification after the stabilization window
 * (a diagnostic tool, the alerts, or a metric) and the rollback derived from its arguments
 * and its result. The loop asks for these; it never interprets a manifest itself. */
#include "internal.h"

#include <math.h>

#include "catalog/catalog_int.h"
#include "util/json.h"

struct hale_tool_check {
    const struct hale__check_decl *decl; /* borrowed from the tool (the catalog) */
    const struct hale_tool *tool;        /* CHECK_TOOL: the diagnostic tool */
    json_t *args;                        /* CHECK_TOOL: filled and validated */
    char *query;                         /* CHECK_METRIC: filled query */
};

void hale__check_decl_release(struct hale__check_decl *d)
{
    free(d->tool);
    json_decref(d->args);
    json_decref(d->expect_output);
    free(d->query);
}

/* ---- Parsing ------------------------------------------------------------------------------- */

struct check_fields {
    const char *tool;
    json_t *args;
    json_t *expect;
    const char *alert;
    json_t *metric;
    int64_t stabilize_s;
    int64_t timeout_s;
};

static const hale_json_field check_table[] = {
    {"tool", HALE_JSON_STRING, false, offsetof(struct check_fields, tool)},
    {"args", HALE_JSON_OBJECT, false, offsetof(struct check_fields, args)},
    {"expect", HALE_JSON_OBJECT, false, offsetof(struct check_fields, expect)},
    {"alert", HALE_JSON_STRING, false, offsetof(struct check_fields, alert)},
    {"metric", HALE_JSON_OBJECT, false, offsetof(struct check_fields, metric)},
    {"stabilize_s", HALE_JSON_INT, false, offsetof(struct check_fields, stabilize_s)},
    {"timeout_s", HALE_JSON_INT, false, offsetof(struct check_fields, timeout_s)},
};

struct expect_fields {
    int64_t exit_code;
    json_t *output;
};

static const hale_json_field expect_table[] = {
    {"exit_code", HALE_JSON_INT, false, offsetof(struct expect_fields, exit_code)},
    {"output", HALE_JSON_OBJECT, false, offsetof(struct expect_fields, output)},
};

struct metric_fields {
    const char *query;
    const char *op;
    double value;
};

static const hale_json_field metric_table[] = {
    {"query", HALE_JSON_STRING, true, offsetof(struct metric_fields, query)},
    {"op", HALE_JSON_STRING, true, offsetof(struct metric_fields, op)},
    {"value", HALE_JSON_NUMBER, true, offsetof(struct metric_fields, value)},
};

static const char *const ops[] = {"<", "<=", ">", ">=", "==", "!="};
static const char *const args_only[] = {"args", NULL};

static int parse_tool_check(struct hale_tool *t, const struct check_fields *f, const char *which,
                            struct hale__check_decl *d, hale_diag *reterr)
{
    struct expect_fields e = {0};
    char where[64];
    int r;

    snprintf(where, sizeof(where), "%s.expect", which);
    if (f->expect && (r = hale_json_fields(f->expect, expect_table, HALE_ARRAY_SIZE(expect_table),
                                           HALE_JSON_STRICT, &e, where, reterr)) < 0)
        return r;
    if (e.exit_code < 0 || e.exit_code > 255)
        return hale_diag_set(reterr, "%s.exit_code: expected 0 to 255", where), HALE_ESCHEMA;
    d->kind = HALE_TOOL_CHECK_TOOL;
    d->expect_exit = (int)e.exit_code;
    if (!hale__name_valid(f->tool))
        return hale_diag_set(reterr, "%s.tool: expected a tool name", which), HALE_ESCHEMA;
    if (!(d->tool = strdup(f->tool)) || !(d->args = f->args ? json_incref(f->args) : json_object()))
        return -ENOMEM;
    d->expect_output = e.output ? json_incref(e.output) : NULL;
    snprintf(where, sizeof(where), "%s.args", which);
    return hale__tmpl_check(d->args, args_only, t, where, reterr);
}

static int parse_metric(struct hale_tool *t, const json_t *m, const char *which,
                        struct hale__check_decl *d, hale_diag *reterr)
{
    struct metric_fields f = {0};
    json_t *q;
    char where[64];
    size_t i;
    int r;

    snprintf(where, sizeof(where), "%s.metric", which);
    if ((r = hale_json_fields(m, metric_table, HALE_ARRAY_SIZE(metric_table), HALE_JSON_STRICT, &f,
                              where, reterr)) < 0)
        return r;
    for (i = 0; i < HALE_ARRAY_SIZE(ops) && strcmp(ops[i], f.op) != 0; i++)
        ;
    if (i == HALE_ARRAY_SIZE(ops))
        return hale_diag_set(reterr, "%s.op: '%.8s', expected <, <=, >, >=, == or !=", where, f.op),
               HALE_ESCHEMA;
    if (!isfinite(f.value) || strlen(f.query) == 0 || strlen(f.query) > 4096)
        return hale_diag_set(reterr, "%s: expected a query of 1 to 4096 bytes and a finite value",
                             where),
               HALE_ESCHEMA;
    d->kind = HALE_TOOL_CHECK_METRIC;
    memcpy(d->op, ops[i], strlen(ops[i]) + 1);
    d->value = f.value;
    if (!(d->query = strdup(f.query)))
        return -ENOMEM;
    snprintf(where, sizeof(where), "%s.metric.query", which);
    q = json_object_get(m, "query");
    return hale__tmpl_check(q, args_only, t, where, reterr);
}

int hale__check_parse(struct hale_tool *t, const json_t *obj, const char *which,
                      struct hale__check_decl *d, hale_diag *reterr)
{
    struct check_fields f = {.timeout_s = 60};
    int kinds, r;

    if ((r = hale_json_fields(obj, check_table, HALE_ARRAY_SIZE(check_table), HALE_JSON_STRICT, &f,
                              which, reterr)) < 0)
        return r;
    kinds = (f.tool != NULL) + (f.alert != NULL) + (f.metric != NULL);
    if (kinds != 1)
        return hale_diag_set(reterr, "%s: expected exactly one of tool, alert or metric", which),
               HALE_ESCHEMA;
    if (!f.tool && (f.args || f.expect))
        return hale_diag_set(reterr, "%s: args and expect belong to a tool check", which),
               HALE_ESCHEMA;
    if (f.stabilize_s < 0 || f.stabilize_s > HALE_CATALOG_MAX_CHECK_TIMEOUT || f.timeout_s < 1 ||
        f.timeout_s > HALE_CATALOG_MAX_CHECK_TIMEOUT)
        return hale_diag_set(reterr, "%s: stabilize_s 0 to %u and timeout_s 1 to %u expected",
                             which, HALE_CATALOG_MAX_CHECK_TIMEOUT, HALE_CATALOG_MAX_CHECK_TIMEOUT),
               HALE_ESCHEMA;
    d->present = true;
    d->stabilize_ms = (uint64_t)f.stabilize_s * 1000u;
    d->timeout_ms = (uint64_t)f.timeout_s * 1000u;
    if (f.tool)
        return parse_tool_check(t, &f, which, d, reterr);
    if (f.metric)
        return parse_metric(t, f.metric, which, d, reterr);
    d->kind = HALE_TOOL_CHECK_ALERT;
    if (strcmp(f.alert, "resolved") != 0 && strcmp(f.alert, "firing") != 0)
        return hale_diag_set(reterr, "%s.alert: '%.32s', expected resolved or firing", which,
                             f.alert),
               HALE_ESCHEMA;
    d->alert_resolved = strcmp(f.alert, "resolved") == 0;
    return 0;
}

/* ---- Linking against the catalog ------------------------------------------------------------ */

int hale__call_link(const hale_catalog *c, const char *name, const json_t *args, const char *where,
                    bool diagnostic, hale_diag *reterr)
{
    const hale_tool *u = hale_catalog_find(c, name);
    char prefix[160];
    const char *key;
    json_t *v;
    int r;

    if (!u)
        return hale_diag_set(reterr, "%s.tool: '%s' is not in the catalog", where, name),
               HALE_ESCHEMA;
    if (diagnostic && u->kind != HALE_TOOL_DIAGNOSTIC)
        return hale_diag_set(reterr, "%s.tool: '%s' is not a diagnostic tool", where, name),
               HALE_ESCHEMA;
    json_object_foreach((json_t *)(uintptr_t)args, key, v)
    {
        const struct hale__arg *a = hale__tool_arg(u, key);

        snprintf(prefix, sizeof(prefix), "%s.args.%.64s", where, key);
        if (!a)
            return hale_diag_set(reterr, "%s: %s has no such argument", prefix, name), HALE_ESCHEMA;
        if ((!json_is_string(v) || !strstr(json_string_value(v), "{{")) &&
            (r = hale__arg_check(a, v, prefix, reterr)) < 0)
            return r;
    }
    for (size_t i = 0; i < u->n_args; i++)
        if (u->args[i].required && !u->args[i].def && !json_object_get(args, u->args[i].name))
            return hale_diag_set(reterr, "%s.args: %s requires '%s'", where, name, u->args[i].name),
                   HALE_ESCHEMA;
    return 0;
}

int hale__check_link(const hale_catalog *c, const struct hale_tool *t,
                     const struct hale__check_decl *d, const char *which, hale_diag *reterr)
{
    (void)t;
    if (d->kind != HALE_TOOL_CHECK_TOOL)
        return 0;
    return hale__call_link(c, d->tool, d->args, which, true, reterr);
}

/* ---- Resolution ---------------------------------------------------------------------------- */

struct scope {
    const json_t *args;   /* the run's arguments, defaults applied */
    const json_t *output; /* the run's result, may be NULL */
};

static const json_t *lookup(void *ud, const char *ns, const char *name)
{
    struct scope *s = ud;

    if (strcmp(ns, "args") == 0)
        return json_object_get(s->args, name);
    if (strcmp(ns, "output") == 0)
        return s->output ? json_object_get(s->output, name) : NULL;
    return NULL;
}

void hale_tool_check_free(hale_tool_check *k)
{
    if (!k)
        return;
    json_decref(k->args);
    free(k->query);
    free(k);
}

static int resolve(const hale_catalog *c, const struct hale__check_decl *d, struct scope *s,
                   const char *which, hale_tool_check *k, hale_diag *reterr)
{
    json_t *q = NULL;
    char where[64];
    int r;

    if (d->kind == HALE_TOOL_CHECK_METRIC) {
        json_t *src = json_string(d->query);

        snprintf(where, sizeof(where), "%s.metric.query", which);
        r = src ? hale__tmpl_fill(src, lookup, s, where, &q, reterr) : -ENOMEM;
        json_decref(src);
        if (r == 0 && !(k->query = strdup(json_string_value(q))))
            r = -ENOMEM;
        json_decref(q);
        return r;
    }
    if (d->kind != HALE_TOOL_CHECK_TOOL)
        return 0;
    if (!(k->tool = hale_catalog_find(c, d->tool)))
        return hale_diag_set(reterr, "%s.tool: '%s' is not in the catalog", which, d->tool),
               HALE_ESCHEMA;
    snprintf(where, sizeof(where), "%s.args", which);
    if ((r = hale__tmpl_fill(d->args, lookup, s, where, &k->args, reterr)) < 0)
        return r;
    if ((r = hale_tool_validate_args(k->tool, k->args, reterr)) < 0)
        hale_diag_prefix(reterr, which);
    return r;
}

int hale_tool_check_resolve(const hale_catalog *c, const hale_tool *t, hale_tool_check_which which,
                            const json_t *args, hale_tool_check **ret, hale_diag *reterr)
{
    const struct hale__check_decl *d = which == HALE_TOOL_VERIFY ? &t->verify : &t->pre;
    const char *name = which == HALE_TOOL_VERIFY ? "verify" : "precondition";
    struct scope s = {NULL, NULL};
    hale_tool_check *k;
    json_t *full = NULL;
    int r;

    if (!d->present) {
        *ret = NULL;
        return 0;
    }
    if ((r = hale__args_complete(t, args, &full, reterr)) < 0)
        return r;
    if (!(k = calloc(1, sizeof(*k)))) {
        json_decref(full);
        return -ENOMEM;
    }
    k->decl = d;
    s.args = full;
    r = resolve(c, d, &s, name, k, reterr);
    json_decref(full);
    if (r < 0) {
        hale_tool_check_free(k);
        return r;
    }
    *ret = k;
    return 0;
}

hale_tool_check_kind hale_tool_check_kind_of(const hale_tool_check *k)
{
    return k->decl->kind;
}

uint64_t hale_tool_check_stabilize_ms(const hale_tool_check *k)
{
    return k->decl->stabilize_ms;
}

uint64_t hale_tool_check_timeout_ms(const hale_tool_check *k)
{
    return k->decl->timeout_ms;
}

const hale_tool *hale_tool_check_tool(const hale_tool_check *k)
{
    return k->tool;
}

const json_t *hale_tool_check_args(const hale_tool_check *k)
{
    return k->args;
}

bool hale_tool_check_alert_resolved(const hale_tool_check *k)
{
    return k->decl->alert_resolved;
}

const char *hale_tool_check_query(const hale_tool_check *k)
{
    return k->query;
}

const char *hale_tool_check_op(const hale_tool_check *k)
{
    return k->decl->kind == HALE_TOOL_CHECK_METRIC ? k->decl->op : NULL;
}

double hale_tool_check_value(const hale_tool_check *k)
{
    return k->decl->value;
}

bool hale_tool_check_tool_passed(const hale_tool_check *k, int exit_code, const json_t *output,
                                 hale_diag *why)
{
    const char *key;
    json_t *want;

    if (k->decl->kind != HALE_TOOL_CHECK_TOOL)
        return hale_diag_set(why, "not a tool check"), false;
    if (exit_code != k->decl->expect_exit)
        return hale_diag_set(why, "exit code %d, expected %d", exit_code, k->decl->expect_exit),
               false;
    json_object_foreach(k->decl->expect_output, key, want)
    {
        json_t *got = output ? json_object_get(output, key) : NULL;

        if (!got || !json_equal(got, want)) {
            char *w = hale_json_dump_canonical(want),
                 *g = got ? hale_json_dump_canonical(got) : NULL;

            hale_diag_set(why, "output.%.64s: %.120s, expected %.120s", key,
                          got ? (g ? g : "?") : "missing", w ? w : "?");
            free(w);
            free(g);
            return false;
        }
    }
    return true;
}

bool hale_tool_check_metric_passed(const hale_tool_check *k, double value)
{
    const char *op = k->decl->op;
    double want = k->decl->value;

    if (k->decl->kind != HALE_TOOL_CHECK_METRIC || isnan(value))
        return false;
    if (strcmp(op, "<") == 0)
        return value < want;
    if (strcmp(op, "<=") == 0)
        return value <= want;
    if (strcmp(op, ">") == 0)
        return value > want;
    if (strcmp(op, ">=") == 0)
        return value >= want;
    if (strcmp(op, "==") == 0)
        return value == want;
    return value != want;
}

/* ---- Rollback ------------------------------------------------------------------------------ */

int hale_tool_rollback(const hale_catalog *c, const hale_tool *t, const json_t *args,
                       const json_t *output, const hale_tool **ret_tool, json_t **ret_args,
                       hale_diag *reterr)
{
    struct scope s = {NULL, output};
    const hale_tool *u;
    json_t *full = NULL, *filled = NULL;
    int r;

    if (!t->rollback_tool)
        return hale_diag_set(reterr, "%s has no rollback", t->name), HALE_ENOTFOUND;
    if (!(u = hale_catalog_find(c, t->rollback_tool)))
        return hale_diag_set(reterr, "rollback.tool: '%s' is not in the catalog", t->rollback_tool),
               HALE_ESCHEMA;
    if ((r = hale__args_complete(t, args, &full, reterr)) < 0)
        return r;
    s.args = full;
    r = hale__tmpl_fill(t->rollback_args, lookup, &s, "rollback.args", &filled, reterr);
    if (r == 0 && (r = hale_tool_validate_args(u, filled, reterr)) < 0)
        hale_diag_prefix(reterr, "rollback");
    json_decref(full);
    if (r < 0) {
        json_decref(filled);
        return r;
    }
    *ret_tool = u;
    *ret_args = filled;
    return 0;
}
