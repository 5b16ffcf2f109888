/* agent/catalog/runbook_match.c - proposals from runbooks: which runbooks match an incident's
 * labels, and each action's arguments and target filled from labels and annotations, then
 * validated against the tool's schema. A value that fails is reported and never proposed. */
#include "internal.h"

#include "catalog/runbook_int.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/regex.h"

static bool matcher_holds(const hale_runbooks *set, const struct rb_matcher *m, const char *v)
{
    size_t i;
    json_t *e;
    int err = 0;

    switch (m->kind) {
    case RB_EQUALS:
        return strcmp(m->value, v) == 0;
    case RB_REGEX:
        return hale_regex_match(m->re, set->mctx, v, strlen(v), 0, &err) && err == 0;
    case RB_IN:
        json_array_foreach(m->in, i, e) if (strcmp(json_string_value(e), v) == 0) return true;
        return false;
    }
    return false;
}

bool hale__runbook_matches(const hale_runbooks *set, const struct runbook *rb, const json_t *labels)
{
    const char *alertname = json_string_value(json_object_get(labels, "alertname"));

    if (!alertname || strcmp(alertname, rb->alertname) != 0)
        return false;
    for (size_t i = 0; i < rb->n_matchers; i++) {
        const char *v = json_string_value(json_object_get(labels, rb->matchers[i].label));

        if (!v || !matcher_holds(set, &rb->matchers[i], v))
            return false;
    }
    return true;
}

struct scope {
    const json_t *labels;      /* strings */
    const json_t *annotations; /* strings, may be NULL */
};

static const json_t *lookup(void *ud, const char *ns, const char *name)
{
    const struct scope *s = ud;
    const json_t *v = NULL;

    if (strcmp(ns, "labels") == 0)
        v = json_object_get(s->labels, name);
    else if (strcmp(ns, "annotations") == 0 && s->annotations)
        v = json_object_get(s->annotations, name);
    return json_is_string(v) ? v : NULL;
}

/* "/prefix/NAME" with NAME escaped as RFC 6901 says (~ is ~0, / is ~1). */
static int push_pointer(json_t *list, const char *prefix, const char *name)
{
    hale_buf b;
    int r;

    hale_buf_init(&b, 1024);
    r = hale_buf_puts(&b, prefix);
    for (const char *p = name; r == 0 && *p; p++)
        r = *p == '~'   ? hale_buf_puts(&b, "~0")
            : *p == '/' ? hale_buf_puts(&b, "~1")
                        : hale_buf_putc(&b, *p);
    if (r == 0)
        r = json_array_append_new(list, json_string(b.data)) < 0 ? -ENOMEM : 0;
    hale_buf_release(&b);
    return r;
}

/* Fill and type the arguments; *ret_args gets them, untrusted gets their pointers. */
static int fill_args(const struct rb_action *a, struct scope *s, json_t *untrusted,
                     json_t **ret_args, hale_diag *reterr)
{
    json_t *filled = NULL, *out = json_object(), *v;
    const char *key;
    char where[96];
    int r = 0;

    if (!out)
        return -ENOMEM;
    json_object_foreach(a->args, key, v)
    {
        const struct hale__arg *arg = hale__tool_arg(a->tool, key);
        json_t *typed;

        snprintf(where, sizeof(where), "args.%s", key);
        if ((r = hale__tmpl_fill(v, lookup, s, where, &filled, reterr)) < 0)
            break;
        typed = hale__arg_coerce(arg, filled);
        json_decref(filled);
        if (!typed) {
            r = (hale_diag_set(reterr, "%s: the filled value is not a valid %s", where,
                               arg->type == ARG_INTEGER ? "integer" : "boolean"),
                 HALE_ESCHEMA);
            break;
        }
        if (json_object_set_new(out, key, typed) < 0 ||
            (hale__tmpl_uses(v, "annotations") && push_pointer(untrusted, "/args/", key) < 0)) {
            r = -ENOMEM;
            break;
        }
    }
    if (r == 0)
        r = hale_tool_validate_args(a->tool, out, reterr);
    if (r < 0) {
        json_decref(out);
        return r;
    }
    *ret_args = out;
    return 0;
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* Target labels are strings, bounded and free of control characters like any label. */
static int fill_target(const struct rb_action *a, struct scope *s, json_t *untrusted, json_t **ret,
                       hale_diag *reterr)
{
    json_t *out = NULL, *v;
    const char *key;
    int r;

    if ((r = hale__tmpl_fill(a->target, lookup, s, "target", &out, reterr)) < 0)
        return r;
    json_object_foreach(out, key, v)
    {
        const char *str = json_string_value(v);
        size_t len = json_string_length(v);

        if (!str || len > HALE_MAX_LABEL_VALUE_BYTES || strlen(str) != len || has_control(str)) {
            hale_diag_set(reterr,
                          "target.%.64s: expected a label value without control characters of "
                          "at most %u bytes",
                          key, HALE_MAX_LABEL_VALUE_BYTES);
            json_decref(out);
            return HALE_ESCHEMA;
        }
        if (hale__tmpl_uses(json_object_get(a->target, key), "annotations") &&
            push_pointer(untrusted, "/target/labels/", key) < 0) {
            json_decref(out);
            return -ENOMEM;
        }
    }
    *ret = out;
    return 0;
}

static json_t *request_of(const struct rb_action *a, json_t *args, json_t *target,
                          json_t *untrusted)
{
    return json_pack("{s:s, s:o, s:{s:o}, s:i, s:s, s:s, s:b, s:o}", "tool",
                     hale_tool_name(a->tool), "args", args, "target", "labels", target,
                     "confidence_bp", a->confidence_bp, "source", "runbook", "risk",
                     hale_policy_risk_name(hale_tool_risk(a->tool)), "reversible",
                     hale_tool_reversible(a->tool), "untrusted", untrusted);
}

/* One action: appended to proposals, or to rejected with the reason. */
static int propose_one(const struct runbook *rb, const struct rb_action *a, struct scope *s,
                       json_t *proposals, json_t *rejected)
{
    json_t *args = NULL, *target = NULL, *untrusted = json_array(), *req, *row;
    hale_diag d = {{0}};
    int r;

    if (!untrusted)
        return -ENOMEM;
    r = fill_args(a, s, untrusted, &args, &d);
    if (r == 0)
        r = fill_target(a, s, untrusted, &target, &d);
    if (r == -ENOMEM) {
        json_decref(args);
        json_decref(untrusted);
        return r;
    }
    if (r < 0) {
        json_decref(args);
        json_decref(untrusted);
        if (!rejected)
            return 0;
        row = json_pack("{s:s, s:s, s:s}", "runbook", rb->ref, "tool", hale_tool_name(a->tool),
                        "reason", d.msg);
        return row && json_array_append_new(rejected, row) == 0 ? 0 : -ENOMEM;
    }
    req = request_of(a, args, target, untrusted);
    row = req ? json_pack("{s:s, s:o}", "runbook", rb->ref, "request", req) : NULL;
    return row && json_array_append_new(proposals, row) == 0 ? 0 : -ENOMEM;
}

int hale_runbooks_propose(const hale_runbooks *rb, const json_t *labels, const json_t *annotations,
                          json_t **ret_proposals, json_t **ret_rejected)
{
    struct scope s = {labels, json_is_object(annotations) ? annotations : NULL};
    json_t *proposals = json_array(), *rejected = json_array();
    int r = proposals && rejected ? 0 : -ENOMEM;

    for (size_t i = 0; i < rb->n_books && r == 0 && json_is_object(labels); i++) {
        const struct runbook *book = &rb->books[i];

        if (!hale__runbook_matches(rb, book, labels))
            continue;
        for (size_t k = 0; k < book->n_actions && r == 0; k++)
            r = propose_one(book, &book->actions[k], &s, proposals, rejected);
    }
    if (r < 0) {
        json_decref(proposals);
        json_decref(rejected);
        return r;
    }
    *ret_proposals = proposals;
    if (ret_rejected)
        *ret_rejected = rejected;
    else
        json_decref(rejected);
    return 0;
}
