/* agent/redact/redact_scan.c - find candidate spans: a keyword prefilter picks, line by line,
 * the few rules worth running; pcre2 (JIT) finds matches; validators and entropy keep the
 * plausible ones. Rules without keywords, and multi-line rules, run over the whole text. */
#include "internal.h"

#include "redact/redact_int.h"
#include "util/alloc.h"

static int push_span(hale_redact_session *s, size_t start, size_t end, size_t rule)
{
    if (s->n_spans == s->cap_spans &&
        hale_grow((void **)&s->spans, &s->cap_spans, s->n_spans, sizeof(*s->spans)) < 0)
        return -ENOMEM;
    s->spans[s->n_spans++] = (struct redact_span){start, end, (uint16_t)rule};
    return 0;
}

static int match_error(int rc)
{
    switch (rc) {
    case PCRE2_ERROR_NOMEMORY:
        return -ENOMEM;
    default:
        /* Match, depth, heap and JIT stack limits, and anything unexpected: fail closed. */
        return HALE_ELIMIT;
    }
}

static bool accept(const struct redact_rule *rule, const char *v, size_t len)
{
    if (len == 0 || len < rule->min_len)
        return false;
    if (rule->min_entropy > 0 && hale__redact_entropy(v, len) < rule->min_entropy)
        return false;
    return hale__redact_validate(rule->validator, v, len);
}

/* Every match of rule ri in subj[0, len), reported at base + offset. */
static int run_rule(hale_redact_session *s, size_t ri, const char *subj, size_t len, size_t base)
{
    const struct redact_rule *rule = &s->r->rules[ri];
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
    size_t at = 0;
    int rc;

    while (at <= len) {
        rc = pcre2_match(rule->code, (PCRE2_SPTR)subj, len, at, 0, s->md, s->mctx);
        if (rc == PCRE2_ERROR_NOMATCH)
            return 0;
        if (rc < 0)
            return match_error(rc);
        if (ov[1] <= at && ov[0] >= at) { /* empty match: step over it */
            at++;
            continue;
        }
        at = ov[1] > at ? ov[1] : at + 1;
        if ((int)rule->group >= rc || ov[2 * rule->group] == PCRE2_UNSET)
            continue;
        {
            size_t gs = ov[2 * rule->group], ge = ov[2 * rule->group + 1];

            if (ge > gs && accept(rule, subj + gs, ge - gs) &&
                push_span(s, base + gs, base + ge, ri) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

static int scan_line(hale_redact_session *s, const char *text, size_t start, size_t end)
{
    const hale_redact *r = s->r;
    uint64_t hit[REDACT_RULE_WORDS] = {0};
    bool any = r->n_kws && hale__redact_line_keywords(r, text + start, end - start, hit);
    unsigned shapes;
    int rc;

    if (r->n_shape_rules) {
        shapes = hale__redact_line_shapes(r, text + start, end - start, r->shape_rules_mask);
        for (size_t i = 0; shapes && i < r->n_shape_rules; i++) {
            uint16_t ri = r->shape_rules[i];

            if (shapes & (1u << r->rules[ri].shape)) {
                hit[ri >> 6] |= UINT64_C(1) << (ri & 63);
                any = true;
            }
        }
    }
    for (size_t w = 0; any && w < REDACT_RULE_WORDS; w++) {
        while (hit[w]) {
            size_t ri = w * 64 + (size_t)__builtin_ctzll(hit[w]);

            hit[w] &= hit[w] - 1;
            rc = run_rule(s, ri, text + start, end - start, start);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* A multi-line rule runs only if one of its keywords occurs somewhere in the text. */
static bool text_has_keyword(const hale_redact *r, const struct redact_rule *rule, const char *text,
                             size_t len)
{
    if (!rule->has_keywords)
        return true;
    for (size_t k = 0; k < rule->n_keywords; k++) {
        const char *kw = rule->keywords[k];
        size_t kl = strlen(kw);
        unsigned char c0 = (unsigned char)kw[0];
        const char *p = text, *end = text + len;

        /* memchr for the first byte in both cases, then compare the rest. */
        while (p < end) {
            const char *a = memchr(p, c0, (size_t)(end - p));
            const char *b =
                c0 >= 'a' && c0 <= 'z' ? memchr(p, c0 - ('a' - 'A'), (size_t)(end - p)) : NULL;
            const char *c = !a ? b : !b ? a : a < b ? a : b;
            size_t i;

            if (!c)
                break;
            for (i = 1;
                 i < kl && c + i < end && r->lower[(unsigned char)c[i]] == (unsigned char)kw[i];
                 i++)
                ;
            if (i == kl)
                return true;
            p = c + 1;
        }
    }
    return false;
}

int hale__redact_scan(hale_redact_session *s, const char *text, size_t len)
{
    const hale_redact *r = s->r;
    size_t start = 0;
    int rc;

    s->n_spans = 0;
    for (size_t i = 0; i < r->n_whole; i++) {
        const struct redact_rule *rule = &r->rules[r->whole_rules[i]];

        if (!text_has_keyword(r, rule, text, len))
            continue;
        rc = run_rule(s, r->whole_rules[i], text, len, 0);
        if (rc < 0)
            return rc;
    }
    if (r->n_kws == 0 && r->n_shape_rules == 0)
        return 0;
    while (start < len) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - text) : len;

        rc = scan_line(s, text, start, end);
        if (rc < 0)
            return rc;
        start = end + 1;
    }
    return 0;
}
