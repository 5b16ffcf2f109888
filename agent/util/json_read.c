/* agent/util/json_read.c - the JSON reader behind hale_json_parse(): RFC 8259 text into
 * jansson values, in one pass over the buffer. jansson's own decoder reads one character at a
 * time through a callback and copies every token into a growing buffer; on the intake path
 * (an Alertmanager webhook per request) that was most of the loop thread's time. Here string
 * contents without escapes become values straight from the input, numbers are scanned once,
 * and only escaped strings are decoded into a scratch buffer.
 *
 * The caller has checked that the text is valid UTF-8 without NUL bytes, so strings are built
 * with jansson's *_nocheck constructors. The values are exactly those json_loadb() gives
 * (integers as json_int_t, other numbers through strtod), which tests/fuzz/fuzz_json.c checks
 * differentially. */
#include "internal.h"

#include <math.h>

#include "util/json_int.h"

struct reader {
    const char *text; /* start, for offsets */
    const char *p;    /* next byte */
    const char *end;  /* one past the last byte */
    unsigned depth;   /* containers open */
    unsigned max_depth;
    const char *fault; /* where the error is */
    hale_diag *diag;
    char *scratch; /* decoded escaped strings and number text, owned */
    size_t scratch_cap;
};

static int parse_value(struct reader *r, json_t **ret);

static void skip_ws(struct reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

static bool is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '+' || c == '-' || c == '_';
}

/* The token at at, as an error message shows it: "end of file", a quoted string cut to 32
 * bytes, a word or number, or the single character. */
static void describe(const struct reader *r, const char *at, char *out, size_t size)
{
    size_t n = 1;

    if (at >= r->end) {
        snprintf(out, size, "end of file");
        return;
    }
    if (*at == '"') {
        while (at + n < r->end && n < 32 && at[n] != '"')
            n += at[n] == '\\' && at + n + 1 < r->end ? 2 : 1;
        if (at + n < r->end && at[n] == '"')
            n++;
    } else if (is_word(*at)) {
        while (at + n < r->end && n < 32 && is_word(at[n]))
            n++;
    }
    snprintf(out, size, "'%.*s'", (int)n, at);
}

static int fail(struct reader *r, const char *at, const char *expected)
{
    char near[48];

    describe(r, at, near, sizeof(near));
    r->fault = at;
    hale_diag_set(r->diag, "%s near %s", expected, near);
    return HALE_EPARSE;
}

static int fail_plain(struct reader *r, const char *at, const char *why)
{
    r->fault = at;
    hale_diag_set(r->diag, "%s", why);
    return HALE_EPARSE;
}

static int scratch_reserve(struct reader *r, size_t n)
{
    char *s;
    size_t cap = r->scratch_cap ? r->scratch_cap : 256;

    if (n <= r->scratch_cap)
        return 0;
    while (cap < n)
        cap *= 2;
    if (!(s = realloc(r->scratch, cap)))
        return -ENOMEM;
    r->scratch = s;
    r->scratch_cap = cap;
    return 0;
}

static int hex4(const char *s, uint32_t *ret)
{
    uint32_t v = 0;

    for (int i = 0; i < 4; i++) {
        char c = s[i];

        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *ret = v;
    return 0;
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* One \uXXXX escape at p (p[0] == 'u'), a surrogate pair taking two; *ret_cp is the code
 * point and *ret_used the bytes after the backslash. */
static int unicode_escape(struct reader *r, const char *p, uint32_t *ret_cp, size_t *ret_used)
{
    uint32_t hi, lo;

    if (r->end - p < 5 || hex4(p + 1, &hi) < 0)
        return fail_plain(r, p - 1, "invalid \\u escape: expected four hex digits");
    if (hi == 0)
        return fail_plain(r, p - 1, "\\u0000 is not allowed");
    if (hi >= 0xdc00 && hi <= 0xdfff)
        return fail_plain(r, p - 1, "invalid Unicode escape: a low surrogate without a high one");
    if (hi < 0xd800 || hi > 0xdbff) {
        *ret_cp = hi;
        *ret_used = 5;
        return 0;
    }
    if (r->end - p < 11 || p[5] != '\\' || p[6] != 'u' || hex4(p + 7, &lo) < 0 || lo < 0xdc00 ||
        lo > 0xdfff)
        return fail_plain(r, p - 1, "invalid Unicode escape: a high surrogate without a low one");
    *ret_cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
    *ret_used = 11;
    return 0;
}

/* Decode the escaped string whose contents start at from (after the quote) into scratch. */
static int decode_escaped(struct reader *r, const char *from, const char **ret, size_t *ret_len)
{
    size_t n = 0;
    const char *p = from;
    int e;

    /* Decoding never grows the text: every escape is longer than what it stands for. */
    if ((e = scratch_reserve(r, (size_t)(r->end - from) + 1)) < 0)
        return e;
    while (p < r->end && *p != '"') {
        unsigned char c = (unsigned char)*p;

        if (c < 0x20)
            return fail_plain(r, p, "control character in a string");
        if (c != '\\') {
            r->scratch[n++] = (char)c;
            p++;
            continue;
        }
        if (++p >= r->end)
            break;
        switch (*p) {
        case '"':
            r->scratch[n++] = '"';
            break;
        case '\\':
            r->scratch[n++] = '\\';
            break;
        case '/':
            r->scratch[n++] = '/';
            break;
        case 'b':
            r->scratch[n++] = '\b';
            break;
        case 'f':
            r->scratch[n++] = '\f';
            break;
        case 'n':
            r->scratch[n++] = '\n';
            break;
        case 'r':
            r->scratch[n++] = '\r';
            break;
        case 't':
            r->scratch[n++] = '\t';
            break;
        case 'u': {
            uint32_t cp;
            size_t used;

            if ((e = unicode_escape(r, p, &cp, &used)) < 0)
                return e;
            n += put_utf8(r->scratch + n, cp);
            p += used;
            continue;
        }
        default:
            return fail_plain(r, p - 1, "invalid escape in a string");
        }
        p++;
    }
    if (p >= r->end)
        return fail_plain(r, from - 1, "premature end of input in a string");
    r->p = p + 1;
    *ret = r->scratch;
    *ret_len = n;
    return 0;
}

/* The string at r->p (a quote): its contents, borrowed from the input when it has no escape,
 * else from scratch (valid until the next string or number). */
static int read_string(struct reader *r, const char **ret, size_t *ret_len)
{
    const char *from = r->p + 1, *p = from;

    while (p < r->end) {
        unsigned char c = (unsigned char)*p;

        if (c == '"') {
            r->p = p + 1;
            *ret = from;
            *ret_len = (size_t)(p - from);
            return 0;
        }
        if (c == '\\')
            return decode_escaped(r, from, ret, ret_len);
        if (c < 0x20)
            return fail_plain(r, p, "control character in a string");
        p++;
    }
    return fail_plain(r, from - 1, "premature end of input in a string");
}

static int parse_number(struct reader *r, json_t **ret)
{
    const char *s = r->p, *p = s;
    bool neg = false, integral = true;
    uint64_t mag = 0, limit;
    size_t n;
    double d;
    int e;

    if (*p == '-') {
        neg = true;
        p++;
    }
    if (p >= r->end || !(*p >= '0' && *p <= '9'))
        return fail(r, s, "invalid token");
    if (*p == '0' && p + 1 < r->end && p[1] >= '0' && p[1] <= '9')
        return fail(r, s, "invalid token");
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; p < r->end && *p >= '0' && *p <= '9'; p++) {
        unsigned digit = (unsigned)(*p - '0');

        if (mag > (limit - digit) / 10)
            mag = limit + 1; /* over: reported below unless this is a real */
        else
            mag = mag * 10 + digit;
    }
    if (p < r->end && *p == '.') {
        integral = false;
        if (++p >= r->end || !(*p >= '0' && *p <= '9'))
            return fail(r, s, "invalid token");
        while (p < r->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < r->end && (*p == 'e' || *p == 'E')) {
        integral = false;
        if (++p < r->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= r->end || !(*p >= '0' && *p <= '9'))
            return fail(r, s, "invalid token");
        while (p < r->end && *p >= '0' && *p <= '9')
            p++;
    }
    r->p = p;
    if (integral) {
        if (mag > limit)
            return fail_plain(r, s, neg ? "too big negative integer" : "too big integer");
        *ret = json_integer(neg ? (json_int_t)(0 - mag) : (json_int_t)mag);
        return *ret ? 0 : -ENOMEM;
    }
    n = (size_t)(p - s);
    if ((e = scratch_reserve(r, n + 1)) < 0)
        return e;
    memcpy(r->scratch, s, n);
    r->scratch[n] = '\0';
    errno = 0;
    d = strtod(r->scratch, NULL);
    if (errno == ERANGE && isinf(d))
        return fail_plain(r, s, "real number overflow");
    *ret = json_real(d);
    return *ret ? 0 : -ENOMEM;
}

static int parse_literal(struct reader *r, json_t **ret)
{
    static const struct {
        const char *word;
        size_t len;
    } words[] = {{"true", 4}, {"false", 5}, {"null", 4}};

    for (size_t i = 0; i < 3; i++) {
        const char *after = r->p + words[i].len;

        if ((size_t)(r->end - r->p) >= words[i].len &&
            memcmp(r->p, words[i].word, words[i].len) == 0 &&
            (after >= r->end || !is_word(*after))) {
            r->p = after;
            *ret = i == 0 ? json_true() : i == 1 ? json_false() : json_null();
            return 0;
        }
    }
    return fail(r, r->p, "invalid token");
}

static int open_container(struct reader *r)
{
    if (++r->depth > r->max_depth) {
        r->fault = r->p;
        hale_diag_set(r->diag, "nesting deeper than %u levels", r->max_depth);
        return HALE_EPARSE;
    }
    r->p++;
    skip_ws(r);
    return 0;
}

static int parse_object(struct reader *r, json_t *obj)
{
    int e;

    if ((e = open_container(r)) < 0)
        return e;
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        r->depth--;
        return 0;
    }
    for (;;) {
        const char *key_at = r->p, *key;
        size_t key_len;
        json_t *v = NULL;
        char *k;

        if (r->p >= r->end || *r->p != '"')
            return fail(r, r->p, "string or '}' expected");
        if ((e = read_string(r, &key, &key_len)) < 0)
            return e;
        if (json_object_getn(obj, key, key_len))
            return fail(r, key_at, "duplicate object key");
        /* The value may reuse scratch: an escaped key needs a copy of its own. */
        k = NULL;
        if (key == r->scratch) {
            if (!(k = malloc(key_len + 1)))
                return -ENOMEM;
            memcpy(k, key, key_len);
            k[key_len] = '\0';
            key = k;
        }
        skip_ws(r);
        if (r->p >= r->end || *r->p != ':') {
            free(k);
            return fail(r, r->p, "':' expected");
        }
        r->p++;
        skip_ws(r);
        e = parse_value(r, &v);
        if (e == 0 && json_object_setn_new_nocheck(obj, key, key_len, v) < 0)
            e = -ENOMEM;
        free(k);
        if (e < 0)
            return e;
        skip_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            skip_ws(r);
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            r->depth--;
            return 0;
        }
        return fail(r, r->p, "',' or '}' expected");
    }
}

static int parse_array(struct reader *r, json_t *arr)
{
    int e;

    if ((e = open_container(r)) < 0)
        return e;
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        r->depth--;
        return 0;
    }
    for (;;) {
        json_t *v = NULL;

        if ((e = parse_value(r, &v)) < 0)
            return e;
        if (json_array_append_new(arr, v) < 0)
            return -ENOMEM;
        skip_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            skip_ws(r);
            continue;
        }
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            r->depth--;
            return 0;
        }
        return fail(r, r->p, "',' or ']' expected");
    }
}

static int parse_container(struct reader *r, json_t **ret)
{
    bool object = *r->p == '{';
    json_t *c = object ? json_object() : json_array();
    int e;

    if (!c)
        return -ENOMEM;
    e = object ? parse_object(r, c) : parse_array(r, c);
    if (e < 0) {
        json_decref(c);
        return e;
    }
    *ret = c;
    return 0;
}

static int parse_value(struct reader *r, json_t **ret)
{
    const char *s;
    size_t n;
    int e;

    if (r->p >= r->end)
        return fail(r, r->p, "value expected");
    switch (*r->p) {
    case '{':
    case '[':
        return parse_container(r, ret);
    case '"':
        if ((e = read_string(r, &s, &n)) < 0)
            return e;
        *ret = json_stringn_nocheck(s, n);
        return *ret ? 0 : -ENOMEM;
    case 't':
    case 'f':
    case 'n':
        return parse_literal(r, ret);
    default:
        if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
            return parse_number(r, ret);
        return fail(r, r->p, "invalid token");
    }
}

int hale__json_read(const char *text, size_t len, unsigned max_depth, json_t **ret,
                    size_t *ret_fault, hale_diag *reterr)
{
    struct reader r = {
        .text = text, .p = text, .end = text + len, .max_depth = max_depth, .diag = reterr};
    json_t *v = NULL;
    int e;

    skip_ws(&r);
    if (r.p >= r.end || (*r.p != '{' && *r.p != '['))
        e = fail(&r, r.p, "'[' or '{' expected");
    else
        e = parse_container(&r, &v);
    if (e == 0) {
        skip_ws(&r);
        if (r.p < r.end) {
            json_decref(v);
            e = fail(&r, r.p, "end of file expected");
        }
    }
    free(r.scratch);
    if (e == HALE_EPARSE)
        *ret_fault = (size_t)(r.fault - text);
    if (e == 0)
        *ret = v;
    return e;
}
