/* agent/policy/policy_match.c - the value matchers of policy rules: equals, regex (pcre2,
 * compiled at load with match and depth limits) and in; tool globs. A regex that hits its
 * limit counts as not matching, and a not-matching allow rule grants nothing: fail closed. */
#include "internal.h"

#include <fnmatch.h>

#include "policy/policy_int.h"
#include "util/json.h"
#include "util/regex.h"

bool hale__policy_glob(const char *pat, const char *s)
{
    return fnmatch(pat, s, 0) == 0;
}

static int parse_in(const json_t *list, struct vmatch *m, const char *field, hale_diag *reterr)
{
    size_t i;
    json_t *e;

    if (!json_is_array(list) || json_array_size(list) == 0) {
        hale_diag_set(reterr, "%s.in: expected a non-empty array of strings", field);
        return HALE_ESCHEMA;
    }
    if (json_array_size(list) > HALE_MAX_POLICY_LIST) {
        hale_diag_set(reterr, "%s.in: more than %u values", field, HALE_MAX_POLICY_LIST);
        return HALE_ELIMIT;
    }
    m->in = calloc(json_array_size(list), sizeof(*m->in));
    if (!m->in)
        return -ENOMEM;
    json_array_foreach(list, i, e)
    {
        if (!json_is_string(e)) {
            hale_diag_set(reterr, "%s.in[%zu]: expected string, got %s", field, i,
                          hale_json_type_name(e));
            return HALE_ESCHEMA;
        }
        m->in[i] = strdup(json_string_value(e));
        if (!m->in[i])
            return -ENOMEM;
        m->n_in = i + 1;
    }
    return 0;
}

/* A string is equals; an object has exactly one of equals, regex, in. The matcher may be
 * half-built on failure: release it. */
int hale__policy_vmatch_parse(const json_t *v, struct vmatch *m, const char *field,
                              hale_diag *reterr)
{
    const char *key;
    json_t *val;
    int r;

    memset(m, 0, sizeof(*m));
    if (json_is_string(v)) {
        m->kind = VM_EQUALS;
        m->text = strdup(json_string_value(v));
        return m->text ? 0 : -ENOMEM;
    }
    if (!json_is_object(v) || json_object_size(v) != 1) {
        hale_diag_set(
            reterr, "%s: expected a string or an object with one of equals, regex, in; got %s",
            field, json_is_object(v) ? "an object with other keys" : hale_json_type_name(v));
        return HALE_ESCHEMA;
    }
    key = json_object_iter_key(json_object_iter((json_t *)(uintptr_t)v));
    val = json_object_get(v, key);
    if (strcmp(key, "in") == 0) {
        m->kind = VM_IN;
        return parse_in(val, m, field, reterr);
    }
    if (strcmp(key, "equals") != 0 && strcmp(key, "regex") != 0) {
        hale_diag_set(reterr, "%s: unknown field '%s', expected equals, regex or in", field, key);
        return HALE_ESCHEMA;
    }
    if (!json_is_string(val)) {
        hale_diag_set(reterr, "%s.%s: expected string, got %s", field, key,
                      hale_json_type_name(val));
        return HALE_ESCHEMA;
    }
    m->text = strdup(json_string_value(val));
    if (!m->text)
        return -ENOMEM;
    if (strcmp(key, "equals") == 0) {
        m->kind = VM_EQUALS;
        return 0;
    }
    m->kind = VM_REGEX;
    r = hale_regex_compile(m->text, 0, NULL, &m->re, reterr);
    if (r < 0)
        hale_diag_prefix(reterr, field);
    return r;
}

void hale__policy_vmatch_release(struct vmatch *m)
{
    if (!m)
        return;
    free(m->text);
    pcre2_code_free(m->re);
    for (size_t i = 0; i < m->n_in; i++)
        free(m->in[i]);
    free(m->in);
    memset(m, 0, sizeof(*m));
}

bool hale__policy_vmatch_test(const hale_policy *p, const struct vmatch *m, const char *s)
{
    switch (m->kind) {
    case VM_EQUALS:
        return strcmp(m->text, s) == 0;
    case VM_REGEX:
        return hale_regex_match(m->re, p->mctx, s, strlen(s), 0, NULL); /* a limit hit: no match */
    case VM_IN:
        for (size_t i = 0; i < m->n_in; i++)
            if (strcmp(m->in[i], s) == 0)
                return true;
        return false;
    }
    return false;
}

/* "= 'x'", "~ /re/", "in [a, b]" for explanations. */
void hale__policy_vmatch_describe(const struct vmatch *m, hale_buf *b)
{
    switch (m->kind) {
    case VM_EQUALS:
        (void)hale_buf_printf(b, "= '%s'", m->text);
        return;
    case VM_REGEX:
        (void)hale_buf_printf(b, "~ /%s/", m->text);
        return;
    case VM_IN:
        (void)hale_buf_puts(b, "in [");
        for (size_t i = 0; i < m->n_in; i++)
            (void)hale_buf_printf(b, "%s'%s'", i ? ", " : "", m->in[i]);
        (void)hale_buf_puts(b, "]");
        return;
    }
}
