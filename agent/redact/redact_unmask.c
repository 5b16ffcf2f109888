/* agent/redact/redact_unmask.c - put the original values back into text for authorised human
 * display (chat summaries). Only placeholders this session issued are replaced; escaped
 * placeholder-shaped input loses one backslash, so unmask(apply(x)) == x. The result is built
 * in one exact-size allocation (no realloc can leave a copy behind) and wiped on free. */
#include "internal.h"

#include <sodium.h>

#include "redact/redact_int.h"

/* The entry a placeholder token (no backslashes) stands for, or NULL. */
static const struct redact_entry *lookup(const hale_redact_session *s, const char *tok, size_t len)
{
    const char *us = tok + len - 2;
    uint64_t num = 0;
    size_t tl;

    while (*us != '_')
        us--;
    if (us[1] == '0') /* the session never issues leading zeros */
        return NULL;
    for (const char *d = us + 1; *d != '>'; d++) {
        num = num * 10 + (uint64_t)(*d - '0');
        if (num > UINT32_MAX)
            return NULL;
    }
    tl = (size_t)(us - (tok + 1));
    for (size_t t = 0; t < s->r->n_types; t++) {
        if (strlen(s->r->types[t]) == tl && memcmp(s->r->types[t], tok + 1, tl) == 0)
            return num >= 1 && num <= s->n_by_type[t] ? &s->entries[s->by_type[t][num - 1]] : NULL;
    }
    return NULL;
}

static size_t count_nl(const char *p, size_t n)
{
    size_t k = 0;

    for (const char *q = p; (q = memchr(q, '\n', (size_t)(p + n - q))) != NULL; q++)
        k++;
    return k;
}

/* One pass over text; with out NULL it only measures. Returns the output length. */
static size_t unmask_pass(const hale_redact_session *s, const char *text, size_t len, char *out)
{
    size_t i = 0, o = 0, tok, slashes;

    while (i < len) {
        const struct redact_entry *e;
        const char *lt = memchr(text + i, '<', len - i);
        size_t plain = lt ? (size_t)(lt - (text + i)) : len - i;

        if (out)
            memcpy(out + o, text + i, plain);
        o += plain;
        i += plain;
        if (!lt)
            break;
        tok = hale__redact_placeholder_at(text + i, len - i, &slashes);
        if (tok && slashes > 0) { /* escaped input: drop one backslash */
            if (out) {
                out[o] = '<';
                memcpy(out + o + 1, text + i + 2, tok - 2);
            }
            o += tok - 1;
            i += tok;
            continue;
        }
        e = tok ? lookup(s, text + i, tok) : NULL;
        if (!e) {
            if (out)
                out[o] = '<';
            o++;
            i++;
            continue;
        }
        if (out)
            memcpy(out + o, s->arena + e->off, e->len);
        o += e->len;
        i += tok;
        /* A multi-line value's line breaks were kept after its placeholder: absorb them. */
        for (size_t k = count_nl(s->arena + e->off, e->len); k > 0 && i < len && text[i] == '\n';
             k--)
            i++;
    }
    return o;
}

int hale_redact_unmask(const hale_redact_session *s, const char *text, size_t len, char **ret,
                       size_t *ret_len)
{
    size_t n;
    char *mem;

    if (len > HALE_REDACT_MAX_INPUT_BYTES)
        return HALE_ELIMIT;
    n = unmask_pass(s, text, len, NULL);
    if (n > SIZE_MAX - sizeof(size_t) - 1)
        return -ENOMEM;
    mem = malloc(sizeof(size_t) + n + 1);
    if (!mem)
        return -ENOMEM;
    memcpy(mem, &n, sizeof(n));
    (void)unmask_pass(s, text, len, mem + sizeof(size_t));
    mem[sizeof(size_t) + n] = '\0';
    *ret = mem + sizeof(size_t);
    if (ret_len)
        *ret_len = n;
    return 0;
}

void hale_redact_unmasked_free(char *text)
{
    char *mem;
    size_t n;

    if (!text)
        return;
    mem = text - sizeof(size_t);
    memcpy(&n, mem, sizeof(n));
    sodium_memzero(mem, sizeof(size_t) + n + 1);
    free(mem);
}
