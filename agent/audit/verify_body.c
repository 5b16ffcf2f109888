/* agent/audit/verify_body.c - reading the few top-level members of a leaf body the verifier
 * needs (envelope, ids, outcomes, rotation keys) without building a JSON tree. The body's
 * integrity comes from its hash, not from parsing; this scanner only has to be exact about the
 * members it returns and never read past the bytes it was given, whatever they hold. */
#include "internal.h"

#include "audit/verify_int.h"

#define FIELD(name)                                                                                \
    {                                                                                              \
        name, sizeof(name) - 1                                                                     \
    }
static const struct {
    const char *name; /* the member name */
    size_t len;       /* its length */
} fields[HALE__AF_COUNT] = {
    [HALE__AF_V] = FIELD("v"),
    [HALE__AF_LOG] = FIELD("log"),
    [HALE__AF_SEQ] = FIELD("seq"),
    [HALE__AF_TS] = FIELD("ts"),
    [HALE__AF_KIND] = FIELD("kind"),
    [HALE__AF_DECISION_ID] = FIELD("decision_id"),
    [HALE__AF_INTENT_ID] = FIELD("intent_id"),
    [HALE__AF_OUTCOME] = FIELD("outcome"),
    [HALE__AF_REQUIRES_APPROVAL] = FIELD("requires_approval"),
    [HALE__AF_EPOCH] = FIELD("epoch"),
    [HALE__AF_KEY] = FIELD("key"),
    [HALE__AF_PREV_KEY_ID] = FIELD("prev_key_id"),
};

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p is at the opening quote. Returns the byte after the closing quote, or NULL. The closing
 * quote is the first one not escaped, i.e. not preceded by an odd run of backslashes; memchr
 * finds candidates much faster than a byte loop, and most of a body is strings. Control
 * characters are not looked for here: only the members the verifier reads must be clean, and
 * hale__audit_tok_string() checks those. */
static const char *skip_string(const char *p, const char *end)
{
    const char *q = p + 1;

    for (;;) {
        const char *e = memchr(q, '"', (size_t)(end - q)), *b;

        if (!e)
            return NULL;
        for (b = e; b > p + 1 && b[-1] == '\\'; b--)
            ;
        if ((e - b) % 2 == 0)
            return e + 1;
        q = e + 1;
    }
}

/* An object or array: brackets counted, strings skipped whole. Not a full syntax check. */
static const char *skip_nested(const char *p, const char *end)
{
    unsigned depth = 0;

    while (p < end) {
        char c = *p;

        if (c == '"') {
            p = skip_string(p, end);
            if (!p)
                return NULL;
            continue;
        }
        if (c == '{' || c == '[') {
            if (++depth > HALE_MAX_JSON_DEPTH)
                return NULL;
        } else if (c == '}' || c == ']') {
            if (--depth == 0)
                return p + 1;
        }
        p++;
    }
    return NULL;
}

static bool is_scalar_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' || c == '.' ||
           c == 'E';
}

static bool is_int_literal(const char *p, size_t len)
{
    size_t i = (len > 0 && p[0] == '-') ? 1 : 0;

    if (i == len)
        return false;
    for (; i < len; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

/* Scan one value at p into *tok; returns the byte after it or NULL. */
static const char *scan_value(const char *p, const char *end, hale__audit_tok *tok)
{
    const char *q;

    if (p >= end)
        return NULL;
    if (*p == '"') {
        q = skip_string(p, end);
        if (q) {
            tok->type = HALE__TOK_STRING;
            tok->p = p + 1;
            tok->len = (size_t)(q - p) - 2;
        }
        return q;
    }
    if (*p == '{' || *p == '[') {
        q = skip_nested(p, end);
        if (q) {
            tok->type = HALE__TOK_OTHER;
            tok->p = p;
            tok->len = (size_t)(q - p);
        }
        return q;
    }
    for (q = p; q < end && is_scalar_char(*q); q++)
        ;
    if (q == p)
        return NULL;
    tok->p = p;
    tok->len = (size_t)(q - p);
    if (is_int_literal(p, tok->len))
        tok->type = HALE__TOK_INT;
    else if (tok->len == 4 && memcmp(p, "true", 4) == 0)
        tok->type = HALE__TOK_TRUE;
    else if (tok->len == 5 && memcmp(p, "false", 5) == 0)
        tok->type = HALE__TOK_FALSE;
    else if ((tok->len == 4 && memcmp(p, "null", 4) == 0) || (p[0] >= '0' && p[0] <= '9') ||
             p[0] == '-')
        tok->type = HALE__TOK_OTHER;
    else
        return NULL;
    return q;
}

/* Which field a member name is: compared by length first, since most names are not ours. */
static int field_of(const char *key, size_t len)
{
    for (int i = 0; i < HALE__AF_COUNT; i++)
        if (fields[i].len == len && memcmp(fields[i].name, key, len) == 0)
            return i;
    return -1;
}

int hale__audit_body_scan(const char *body, size_t len, hale__audit_tok out[HALE__AF_COUNT],
                          hale_diag *why)
{
    const char *p = body, *end = body + len;

    memset(out, 0, sizeof(*out) * HALE__AF_COUNT);
    p = skip_ws(p, end);
    if (p >= end || *p != '{') {
        hale_diag_set(why, "body is not a JSON object");
        return HALE_EPARSE;
    }
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        goto closed;
    for (;;) {
        hale__audit_tok key = {0}, val = {0}, *slot = &val;
        const char *key_end;
        int f;

        if (p >= end || *p != '"' || !(key_end = skip_string(p, end))) {
            hale_diag_set(why, "body: member name expected at byte %zu", (size_t)(p - body));
            return HALE_EPARSE;
        }
        key.p = p + 1;
        key.len = (size_t)(key_end - p) - 2;
        if (memchr(key.p, '\\', key.len)) {
            hale_diag_set(why, "body: escaped member name at byte %zu", (size_t)(p - body));
            return HALE_EPARSE;
        }
        p = skip_ws(key_end, end);
        if (p >= end || *p != ':') {
            hale_diag_set(why, "body: ':' expected at byte %zu", (size_t)(p - body));
            return HALE_EPARSE;
        }
        f = field_of(key.p, key.len);
        if (f >= 0) {
            if (out[f].type != HALE__TOK_NONE) {
                hale_diag_set(why, "body: member \"%s\" appears twice", fields[f].name);
                return HALE_EPARSE;
            }
            slot = &out[f];
        }
        p = scan_value(skip_ws(p + 1, end), end, slot);
        if (!p) {
            hale_diag_set(why, "body: malformed value of member \"%.*s\"", (int)(key.len % 64),
                          key.p);
            return HALE_EPARSE;
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}')
            break;
        hale_diag_set(why, "body: ',' or '}' expected at byte %zu", (size_t)(p - body));
        return HALE_EPARSE;
    }
closed:
    if (skip_ws(p + 1, end) != end) {
        hale_diag_set(why, "body: bytes after the closing '}'");
        return HALE_EPARSE;
    }
    return 0;
}

static int hex4(const char *p, uint32_t *ret)
{
    uint32_t v = 0;

    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d < 0)
            return HALE_EPARSE;
        v = (v << 4) | (uint32_t)d;
    }
    *ret = v;
    return 0;
}

static size_t put_utf8(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* One escape at s[*i] (the byte after '\\'); the code point goes to *ret. */
static int unescape(const char *s, size_t len, size_t *i, uint32_t *ret)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit = memchr(from, s[*i], sizeof(from) - 1);
    uint32_t hi, lo;

    if (hit) {
        *ret = (unsigned char)to[hit - from];
        (*i)++;
        return 0;
    }
    if (s[*i] != 'u' || *i + 5 > len || hex4(s + *i + 1, &hi) < 0)
        return HALE_EPARSE;
    *i += 5;
    if (hi >= 0xDC00 && hi <= 0xDFFF)
        return HALE_EPARSE;
    if (hi >= 0xD800 && hi <= 0xDBFF) {
        if (*i + 6 > len || s[*i] != '\\' || s[*i + 1] != 'u' || hex4(s + *i + 2, &lo) < 0 ||
            lo < 0xDC00 || lo > 0xDFFF)
            return HALE_EPARSE;
        *i += 6;
        hi = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
    }
    *ret = hi;
    return 0;
}

int hale__audit_tok_string(const hale__audit_tok *t, char *out, size_t cap)
{
    size_t i = 0, n = 0;

    if (t->type != HALE__TOK_STRING)
        return HALE_EPARSE;
    if (t->len >= cap && !memchr(t->p, '\\', t->len))
        return HALE_ELIMIT;
    while (i < t->len) {
        uint32_t cp;

        if ((unsigned char)t->p[i] < 0x20)
            return HALE_EPARSE; /* raw control characters are not JSON */
        if (t->p[i] != '\\') {
            if (n + 1 >= cap)
                return HALE_ELIMIT;
            out[n++] = t->p[i++];
            continue;
        }
        i++;
        if (i >= t->len || unescape(t->p, t->len, &i, &cp) < 0 || cp == 0)
            return HALE_EPARSE;
        if (n + 5 > cap)
            return HALE_ELIMIT;
        n += put_utf8(cp, out + n);
    }
    out[n] = '\0';
    return (int)n;
}

int hale__audit_tok_int(const hale__audit_tok *t, int64_t *ret)
{
    const char *p = t->p;
    size_t i = 0, len = t->len;
    bool neg = false;
    uint64_t v = 0, lim;

    if (t->type != HALE__TOK_INT)
        return HALE_EPARSE;
    if (p[0] == '-') {
        neg = true;
        i = 1;
    }
    if (len - i > 1 && p[i] == '0')
        return HALE_EPARSE;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        unsigned d = (unsigned)(p[i] - '0');

        if (v > (lim - d) / 10)
            return HALE_EPARSE;
        v = v * 10 + d;
    }
    if (neg && v == 0)
        return HALE_EPARSE; /* "-0" */
    *ret = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}
