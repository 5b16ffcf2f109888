/* agent/redact/redact_session.c - one session's placeholders: overlapping candidates are
 * resolved (longest wins), each distinct value gets "<TYPE_N>", and the value->placeholder
 * mapping is kept in memory that is wiped before it is freed or moved. Also the un-masking
 * of text for human display. */
#include "internal.h"

#include <sodium.h>

#include "redact/redact_int.h"
#include "util/alloc.h"
#include "util/buf.h"

int hale_redact_session_new(const hale_redact *r, hale_redact_session **ret)
{
    hale_redact_session *s;
    unsigned max_groups = 0;

    if (sodium_init() < 0)
        return -ENOMEM;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->r = r;
    for (size_t i = 0; i < r->n_rules; i++)
        if (r->rules[i].n_groups > max_groups)
            max_groups = r->rules[i].n_groups;
    s->md = pcre2_match_data_create(max_groups + 1, NULL);
    s->mctx = pcre2_match_context_create(NULL);
    s->jit_stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
    if (!s->md || !s->mctx || !s->jit_stack) {
        hale_redact_session_free(s);
        return -ENOMEM;
    }
    (void)pcre2_set_match_limit(s->mctx, r->match_limit);
    (void)pcre2_set_depth_limit(s->mctx, r->depth_limit);
    pcre2_jit_stack_assign(s->mctx, NULL, s->jit_stack);
    randombytes_buf(s->hash_key, sizeof(s->hash_key));
    *ret = s;
    return 0;
}

void hale_redact_session_free(hale_redact_session *s)
{
    if (!s)
        return;
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mctx);
    pcre2_jit_stack_free(s->jit_stack);
    free(s->spans);
    if (s->arena)
        sodium_memzero(s->arena, s->arena_cap);
    free(s->arena);
    free(s->entries);
    free(s->slots);
    for (size_t t = 0; t < REDACT_MAX_TYPES; t++)
        free(s->by_type[t]);
    sodium_memzero(s->hash_key, sizeof(s->hash_key));
    free(s);
}

size_t hale_redact_session_size(const hale_redact_session *s)
{
    return s->n_entries;
}

void hale_redact_session_counts(const hale_redact_session *s,
                                void (*fn)(const char *type, size_t n, void *ud), void *ud)
{
    for (size_t t = 0; t < s->r->n_types; t++)
        if (s->n_by_type[t] > 0)
            fn(s->r->types[t], s->n_by_type[t], ud);
}

static uint64_t hash_value(const hale_redact_session *s, const char *v, size_t len)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t x;

    crypto_shorthash(h, (const unsigned char *)v, len, s->hash_key);
    memcpy(&x, h, sizeof(x));
    return x;
}

/* Grow the arena by moving it, wiping the old copy (realloc could leave it behind). */
static int arena_reserve(hale_redact_session *s, size_t extra)
{
    size_t cap = s->arena_cap ? s->arena_cap : 4096;
    char *n;

    if (s->arena_len + extra <= s->arena_cap)
        return 0;
    while (cap < s->arena_len + extra) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    n = malloc(cap);
    if (!n)
        return -ENOMEM;
    if (s->arena) {
        memcpy(n, s->arena, s->arena_len);
        sodium_memzero(s->arena, s->arena_cap);
        free(s->arena);
    }
    s->arena = n;
    s->arena_cap = cap;
    return 0;
}

static void slot_insert(hale_redact_session *s, uint32_t idx)
{
    size_t mask = s->n_slots - 1, i = (size_t)s->entries[idx].hash & mask;

    while (s->slots[i])
        i = (i + 1) & mask;
    s->slots[i] = idx + 1;
}

static int slots_grow(hale_redact_session *s)
{
    size_t n = s->n_slots ? s->n_slots * 2 : 64;
    uint32_t *slots = calloc(n, sizeof(*slots));

    if (!slots)
        return -ENOMEM;
    free(s->slots);
    s->slots = slots;
    s->n_slots = n;
    for (size_t i = 0; i < s->n_entries; i++)
        slot_insert(s, (uint32_t)i);
    return 0;
}

/* The entry for value, created with the next number of type if it is new. */
static int entry_for(hale_redact_session *s, const char *v, size_t len, unsigned type,
                     const struct redact_entry **ret)
{
    uint64_t h = hash_value(s, v, len);
    struct redact_entry *e;
    size_t i;

    for (i = s->n_slots ? (size_t)h & (s->n_slots - 1) : 0; s->n_slots && s->slots[i];
         i = (i + 1) & (s->n_slots - 1)) {
        e = &s->entries[s->slots[i] - 1];
        if (e->hash == h && e->len == len && memcmp(s->arena + e->off, v, len) == 0) {
            *ret = e;
            return 0;
        }
    }
    if (s->n_entries >= UINT32_MAX - 1 || arena_reserve(s, len) < 0 ||
        hale_grow((void **)&s->entries, &s->cap_entries, s->n_entries, sizeof(*e)) < 0 ||
        hale_grow((void **)&s->by_type[type], &s->cap_by_type[type], s->n_by_type[type],
                  sizeof(uint32_t)) < 0 ||
        ((s->n_entries + 1) * 2 > s->n_slots && slots_grow(s) < 0))
        return -ENOMEM;
    memcpy(s->arena + s->arena_len, v, len);
    e = &s->entries[s->n_entries];
    *e = (struct redact_entry){h, s->arena_len, len, (uint16_t)type,
                               (uint32_t)s->n_by_type[type] + 1};
    s->arena_len += len;
    s->by_type[type][s->n_by_type[type]++] = (uint32_t)s->n_entries;
    slot_insert(s, (uint32_t)s->n_entries++);
    *ret = e;
    return 0;
}

size_t hale__redact_placeholder_at(const char *p, size_t n, size_t *ret_slashes)
{
    size_t i = 1, name, last_us = 0;

    if (n < 5 || p[0] != '<')
        return 0;
    while (i < n && p[i] == '\\')
        i++;
    name = i;
    if (i >= n || !(p[i] >= 'A' && p[i] <= 'Z'))
        return 0;
    for (; i < n; i++) {
        char c = p[i];

        if (c == '_')
            last_us = i;
        else if (c == '>')
            break;
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    if (i >= n || p[i] != '>' || last_us <= name || last_us + 1 == i)
        return 0;
    for (size_t k = last_us + 1; k < i; k++)
        if (!(p[k] >= '0' && p[k] <= '9'))
            return 0;
    *ret_slashes = name - 1;
    return i + 1;
}

/* Append text, escaping placeholder-shaped strings by one more backslash after '<'. */
static int put_escaped(hale_buf *b, const char *p, size_t n, size_t *n_escaped)
{
    const char *end = p + n, *lt;
    size_t len, slashes;

    while ((lt = memchr(p, '<', (size_t)(end - p))) != NULL) {
        len = hale__redact_placeholder_at(lt, (size_t)(end - lt), &slashes);
        if (len == 0) {
            if (hale_buf_append(b, p, (size_t)(lt - p) + 1) < 0)
                return -ENOMEM;
            p = lt + 1;
            continue;
        }
        if (hale_buf_append(b, p, (size_t)(lt - p) + 1) < 0 || hale_buf_putc(b, '\\') < 0 ||
            hale_buf_append(b, lt + 1, len - 1) < 0)
            return -ENOMEM;
        (*n_escaped)++;
        p = lt + len;
    }
    return hale_buf_append(b, p, (size_t)(end - p)) < 0 ? -ENOMEM : 0;
}

static int cmp_span(const void *a, const void *b)
{
    const struct redact_span *x = a, *y = b;

    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end > y->end ? -1 : 1; /* longer first */
    return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* Sort the candidates and merge overlapping ones into their union, so no byte any rule
 * flagged survives (a password that an e-mail match half covers is still masked whole). The
 * union takes the type of its longest candidate. */
static size_t resolve(struct redact_span *sp, size_t n)
{
    size_t kept = 0, longest = 0;

    if (n == 0)
        return 0;
    qsort(sp, n, sizeof(*sp), cmp_span);
    for (size_t i = 0; i < n; i++) {
        struct redact_span *last = kept ? &sp[kept - 1] : NULL;

        if (last && sp[i].start < last->end) {
            if (sp[i].end - sp[i].start > longest) {
                longest = sp[i].end - sp[i].start;
                last->rule = sp[i].rule;
            }
            if (sp[i].end > last->end)
                last->end = sp[i].end;
            continue;
        }
        longest = sp[i].end - sp[i].start;
        sp[kept++] = sp[i];
    }
    return kept;
}

static int put_placeholder(hale_redact_session *s, hale_buf *b, const char *v, size_t len,
                           unsigned type)
{
    const struct redact_entry *e;

    int r = entry_for(s, v, len, type, &e);

    if (r == 0)
        r = hale_buf_printf(b, "<%s_%u>", s->r->types[e->type], (unsigned)e->number);
    for (const char *nl = v; r == 0 && (nl = memchr(nl, '\n', (size_t)(v + len - nl))) != NULL;
         nl++)
        r = hale_buf_putc(b, '\n');
    return r < 0 ? r : 0;
}

int hale_redact_apply(hale_redact_session *s, const char *text, size_t len, hale_redact_result *ret)
{
    hale_redact_result res = {0};
    hale_buf b;
    size_t n, pos = 0;
    int r;

    if (len > HALE_REDACT_MAX_INPUT_BYTES)
        return HALE_ELIMIT;
    r = hale__redact_scan(s, text, len);
    if (r < 0)
        return r;
    n = resolve(s->spans, s->n_spans);
    res.findings = calloc(n + 1, sizeof(*res.findings));
    if (!res.findings)
        return -ENOMEM;
    /* A placeholder can be a few times longer than what it replaces ("1.2.3.4"). */
    hale_buf_init(&b, (size_t)HALE_REDACT_MAX_INPUT_BYTES * 4);
    r = hale_buf_reserve(&b, len + 64) < 0 ? -ENOMEM : 0;
    for (size_t i = 0; r == 0 && i < n; i++) {
        const struct redact_span *sp = &s->spans[i];
        const struct redact_rule *rule = &s->r->rules[sp->rule];

        r = put_escaped(&b, text + pos, sp->start - pos, &res.n_escaped);
        if (r == 0)
            r = put_placeholder(s, &b, text + sp->start, sp->end - sp->start, rule->type_idx);
        res.findings[i] =
            (hale_redact_finding){rule->type, rule->id, sp->start, sp->end - sp->start};
        pos = sp->end;
    }
    if (r == 0)
        r = put_escaped(&b, text + pos, len - pos, &res.n_escaped);
    if (r == 0 && !(res.text = hale_buf_detach(&b, &res.len)))
        r = -ENOMEM;
    hale_buf_release(&b);
    if (r < 0) {
        free(res.findings);
        return r;
    }
    res.n_findings = n;
    *ret = res;
    return (int)(n > INT32_MAX ? INT32_MAX : n);
}

void hale_redact_result_release(hale_redact_result *res)
{
    if (!res)
        return;
    free(res->text);
    free(res->findings);
    memset(res, 0, sizeof(*res));
}
