/* tests/fuzz/fuzz_redact.c - libFuzzer target for the redactor with the shipped rules
 * (policies/redact/rules.json, or $HALE_REDACT_RULES). Oracles beyond "no crash, no leak, no
 * undefined behaviour": redaction either fails with HALE_ELIMIT or succeeds; findings are in
 * order, inside the input and disjoint; un-masking the output gives back the input byte for
 * byte; the output holds no placeholder-shaped string the session did not issue unescaped;
 * redacting the output again succeeds; and the same rules without their "prefilter" shapes
 * (every such rule over the whole text) find exactly the same spans, so a shape never hides a
 * match. Build and run: see docs/testing.md. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hale/err.h"
#include "hale/redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hale_redact *rules;     /* the rules file as it is */
static hale_redact *no_shapes; /* the same without "prefilter" */

static void load_rules(void)
{
    const char *path = getenv("HALE_REDACT_RULES");
    hale_diag d = {{0}};

    if (!path)
        path = HALE_REDACT_DEFAULT_RULES;
    json_t *doc = json_load_file(path, 0, NULL), *rule;
    char *text;
    size_t i;

    if (hale_redact_load(path, &rules, &d) < 0 || !doc) {
        fprintf(stderr, "fuzz_redact: %s (run from the source tree or set HALE_REDACT_RULES)\n",
                d.msg);
        abort();
    }
    json_array_foreach(json_object_get(doc, "rules"), i, rule) json_object_del(rule, "prefilter");
    text = json_dumps(doc, 0);
    if (!text || hale_redact_parse(text, strlen(text), "no-shapes", &no_shapes, &d) < 0)
        abort();
    free(text);
    json_decref(doc);
}

/* The findings of the rules without shapes over the same input must be the same. */
static void check_shapes(const uint8_t *data, size_t size, const hale_redact_result *res)
{
    hale_redact_session *s = NULL;
    hale_redact_result other = {0};
    int r;

    if (hale_redact_session_new(no_shapes, &s) < 0)
        abort();
    r = hale_redact_apply(s, (const char *)data, size, &other);
    if (r >= 0) {
        if (other.n_findings != res->n_findings)
            abort();
        for (size_t i = 0; i < res->n_findings; i++)
            if (other.findings[i].offset != res->findings[i].offset ||
                other.findings[i].length != res->findings[i].length)
                abort();
    } else if (r != HALE_ELIMIT) {
        abort();
    }
    hale_redact_result_release(&other);
    hale_redact_session_free(s);
}

static void check_findings(const hale_redact_result *res, size_t size)
{
    size_t end = 0;

    for (size_t i = 0; i < res->n_findings; i++) {
        const hale_redact_finding *f = &res->findings[i];

        if (f->length == 0 || f->offset < end || f->offset + f->length > size || !f->type ||
            !f->rule_id)
            abort();
        end = f->offset + f->length;
    }
}

/* Every "<TYPE_N>" left unescaped in the output is one the session issued: un-masking it alone
 * must change it. */
static void check_placeholders(const hale_redact_session *s, const hale_redact_result *res)
{
    for (const char *p = res->text; (p = memchr(p, '<', (size_t)(res->text + res->len - p))); p++) {
        size_t n = 1, one_len = 0;
        char *one = NULL;

        if (p[1] < 'A' || p[1] > 'Z')
            continue;
        while (p + n < res->text + res->len && p[n] != '>' && p[n] != '<')
            n++;
        if (p + n >= res->text + res->len || p[n] != '>')
            continue;
        if (hale_redact_unmask(s, p, n + 1, &one, &one_len) < 0)
            abort();
        if (one_len == n + 1 && memcmp(one, p, n + 1) == 0 &&
            strspn(p + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n - 1) {
            const char *us = p + n;

            while (us > p && *us != '_')
                us--;

            /* A well-formed token (digits after the last '_') that the session does not
             * know is only legal when N has a leading zero, which escaping would otherwise
             * have caught. */
            size_t digits = strspn(us + 1, "0123456789");

            if (us > p + 1 && us[1] != '0' && digits > 0 && us + 1 + digits == p + n)
                abort();
        }
        hale_redact_unmasked_free(one);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hale_redact_session *s = NULL;
    hale_redact_result res = {0}, again = {0};
    char *back = NULL;
    size_t back_len = 0;
    int r;

    if (!rules)
        load_rules();
    if (hale_redact_session_new(rules, &s) < 0)
        abort();
    r = hale_redact_apply(s, (const char *)data, size, &res);
    if (r == HALE_ELIMIT)
        goto out;
    if (r < 0 || !res.text || res.text[res.len] != '\0')
        abort();
    check_findings(&res, size);
    check_shapes(data, size, &res);
    if (hale_redact_unmask(s, res.text, res.len, &back, &back_len) < 0 || back_len != size ||
        memcmp(back, data, size) != 0)
        abort();
    check_placeholders(s, &res);
    r = hale_redact_apply(s, res.text, res.len, &again);
    if (r < 0 && r != HALE_ELIMIT)
        abort();
out:
    hale_redact_unmasked_free(back);
    hale_redact_result_release(&res);
    hale_redact_result_release(&again);
    hale_redact_session_free(s);
    return 0;
}
