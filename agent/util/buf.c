/* agent/util/buf.c - the growable, capped byte buffer (buf.h) and JSON string literals in it.
 * Every append checks max_len first so hostile input can never grow a buffer past its cap.
 * JSON output is always valid, even for input that is not UTF-8: a bad byte becomes U+FFFD. */
#include "internal.h"

#include <stdarg.h>

#include "util/buf.h"
#include "util/utf8.h"

#define BUF_MIN_CAP 64u

void hale_buf_init(hale_buf *b, size_t max_len)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max_len = max_len;
}

void hale_buf_release(hale_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void hale_buf_reset(hale_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

int hale_buf_reserve(hale_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > b->max_len || b->len > b->max_len - extra)
        return HALE_ELIMIT;
    need = b->len + extra + 1; /* the NUL; cannot overflow: max_len < SIZE_MAX in practice */
    if (need == 0)
        return HALE_ELIMIT;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : BUF_MIN_CAP;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    /* Never allocate far beyond what the cap allows. */
    if (b->max_len < SIZE_MAX && cap > b->max_len + 1)
        cap = b->max_len + 1;
    if (cap < need)
        cap = need;
    p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    if (!b->data)
        p[0] = '\0';
    b->data = p;
    b->cap = cap;
    return 0;
}

int hale_buf_append(hale_buf *b, const void *data, size_t len)
{
    int r = hale_buf_reserve(b, len);

    if (r < 0)
        return r;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int hale_buf_puts(hale_buf *b, const char *s)
{
    return hale_buf_append(b, s, strlen(s));
}

static char *uint_text(uint64_t v, char buf[HALE_INT_TEXT_BYTES])
{
    char *p = buf + HALE_INT_TEXT_BYTES - 1;

    *p = '\0';
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

const char *hale_uint_text(uint64_t v, char buf[HALE_INT_TEXT_BYTES])
{
    return uint_text(v, buf);
}

const char *hale_int_text(int64_t v, char buf[HALE_INT_TEXT_BYTES])
{
    /* The magnitude in unsigned arithmetic: -INT64_MIN does not fit an int64_t. */
    char *p = uint_text(v < 0 ? 0ull - (uint64_t)v : (uint64_t)v, buf);

    if (v < 0)
        *--p = '-';
    return p;
}

int hale_buf_putc(hale_buf *b, char c)
{
    return hale_buf_append(b, &c, 1);
}

int hale_buf_vprintf(hale_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n, r;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return -EINVAL;
    r = hale_buf_reserve(b, (size_t)n);
    if (r < 0)
        return r;
    (void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int hale_buf_printf(hale_buf *b, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = hale_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

void hale_buf_consume(hale_buf *b, size_t n)
{
    if (HALE_NEVER(n > b->len))
        n = b->len;
    if (n == 0)
        return;
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *hale_buf_detach(hale_buf *b, size_t *ret_len)
{
    char *p = b->data;
    size_t len = b->len;

    if (!p) {
        p = malloc(1);
        if (!p)
            return NULL;
        p[0] = '\0';
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    if (ret_len)
        *ret_len = len;
    return p;
}

static size_t put2(char *out, char c)
{
    out[0] = '\\';
    out[1] = c;
    return 2;
}

/* The escaped form of the character at s into out (at least 7 bytes); returns its length and
 * how many input bytes it used in *used. */
static size_t escape_one(const unsigned char *s, size_t len, char *out, size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    unsigned c = s[0];
    size_t n;

    *used = 1;
    switch (c) {
    case '"':
    case '\\':
        return put2(out, (char)c);
    case '\b':
        return put2(out, 'b');
    case '\f':
        return put2(out, 'f');
    case '\n':
        return put2(out, 'n');
    case '\r':
        return put2(out, 'r');
    case '\t':
        return put2(out, 't');
    default:
        break;
    }
    if (c < 0x20 || c == 0x7F) {
        memcpy(out, "\\u00", 4);
        out[4] = hex[c >> 4];
        out[5] = hex[c & 0xF];
        return 6;
    }
    n = hale_utf8_char_len((const char *)s, len);
    if (n == 0) {
        memcpy(out, "\xEF\xBF\xBD", 3); /* U+FFFD stands for one bad byte */
        return 3;
    }
    memcpy(out, s, n);
    *used = n;
    return n;
}

/* Bytes that s takes once escaped, quotes excluded. */
static size_t escaped_len(const unsigned char *s, size_t len)
{
    size_t i = 0, total = 0, used;
    char esc[8];

    while (i < len) {
        total += escape_one(s + i, len - i, esc, &used);
        i += used;
    }
    return total;
}

int hale_buf_json_str_max(hale_buf *b, const char *s, size_t len, size_t max_bytes)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t old_len = b->len, i = 0, used, n, budget;
    bool cut;
    char esc[8];
    int r;

    if (max_bytes < 5)
        return -EINVAL;
    cut = escaped_len(p, len) > max_bytes - 2;
    /* When cutting, keep 3 bytes for "..."; budget is what the characters may use. */
    budget = max_bytes - 2 - (cut ? 3 : 0);
    r = hale_buf_putc(b, '"');
    while (r == 0 && i < len) {
        n = escape_one(p + i, len - i, esc, &used);
        if (n > budget)
            break;
        r = hale_buf_append(b, esc, n);
        budget -= n;
        i += used;
    }
    if (r == 0 && cut)
        r = hale_buf_append(b, "...", 3);
    if (r == 0)
        r = hale_buf_putc(b, '"');
    if (r < 0) {
        b->len = old_len;
        if (b->data)
            b->data[old_len] = '\0';
        return r;
    }
    return cut ? 1 : 0;
}

int hale_buf_json_str(hale_buf *b, const char *s, size_t len)
{
    int r = hale_buf_json_str_max(b, s, len, SIZE_MAX);

    return r < 0 ? r : 0;
}
