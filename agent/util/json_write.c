/* agent/util/json_write.c - hale_json_dump_compact(): the bytes json_dumps(v, JSON_COMPACT)
 * writes, appended to a caller's buffer. jansson's dumper calls back per token and allocates
 * per call; the commit job serializes two label objects per alert, so this writes straight
 * into a buffer the caller reuses. */
#include "internal.h"

#include "util/buf.h"
#include "util/json.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define DUMP_MAX_DEPTH 64 /* deeper values go through jansson (none that hale stores) */

static int put_u16_escape(hale_buf *out, unsigned v)
{
    static const char hex[] = "0123456789ABCDEF";
    char e[6] = {'\\', 'u', hex[v >> 12 & 15], hex[v >> 8 & 15], hex[v >> 4 & 15], hex[v & 15]};

    return hale_buf_append(out, e, sizeof(e));
}

/* The escape of one byte below 0x80 that needs one, as jansson writes it. */
static int put_ascii_escape(hale_buf *out, unsigned char c)
{
    const char *esc = c == '"'    ? "\\\""
                      : c == '\\' ? "\\\\"
                      : c == '\b' ? "\\b"
                      : c == '\f' ? "\\f"
                      : c == '\n' ? "\\n"
                      : c == '\r' ? "\\r"
                      : c == '\t' ? "\\t"
                                  : NULL;

    return esc ? hale_buf_append(out, esc, 2) : put_u16_escape(out, c);
}

/* One UTF-8 sequence at p (n bytes, checked by the caller) as \uXXXX, a surrogate pair above
 * the BMP. */
static int put_utf8_escape(hale_buf *out, const unsigned char *p, int n)
{
    uint32_t cp = p[0] & (n == 4 ? 0x07u : n == 3 ? 0x0fu : 0x1fu);
    int r;

    for (int i = 1; i < n; i++)
        cp = cp << 6 | (p[i] & 0x3fu);
    if (cp < 0x10000)
        return put_u16_escape(out, cp);
    cp -= 0x10000;
    r = put_u16_escape(out, 0xd800 | (cp >> 10));
    return r == 0 ? put_u16_escape(out, 0xdc00 | (cp & 0x3ff)) : r;
}

static inline bool needs_escape(unsigned char c, bool ascii)
{
    return c < 0x20 || c == '"' || c == '\\' || (ascii && c >= 0x80);
}

/* The escaping path: runs of plain bytes copied at once. */
static int put_string_escaped(hale_buf *out, const char *s, size_t len, bool ascii)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len, *run = p;
    int r = hale_buf_putc(out, '"');

    while (r == 0 && p < end) {
        int n;

        if (!needs_escape(*p, ascii)) {
            p++;
            continue;
        }
        r = hale_buf_append(out, run, (size_t)(p - run));
        if (r == 0 && *p < 0x80) {
            r = put_ascii_escape(out, *p);
            p++;
        } else if (r == 0) {
            n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
            if (*p < 0xc0 || p + n > end)
                return HALE_EUTF8;
            r = put_utf8_escape(out, p, n);
            p += n;
        }
        run = p;
    }
    if (r == 0)
        r = hale_buf_append(out, run, (size_t)(p - run));
    return r == 0 ? hale_buf_putc(out, '"') : r;
}

/* hale_json_put_string with ascii a constant, so that each caller's byte loop is compiled for
 * its own rule. */
static inline __attribute__((always_inline)) int put_string_as(hale_buf *out, const char *s,
                                                               size_t len, const bool ascii)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    char *o;

    /* Most strings (keys, names, ids) need no escape: copied in one pass into space reserved
     * once; the first byte that needs one sends the string down the escaping path. The buffer
     * is usually reused and rarely has to grow. */
    if (len > out->max_len ||
        ((out->len + len + 3 > out->cap || out->len + len + 2 > out->max_len) &&
         hale_buf_reserve(out, len + 2) < 0))
        return put_string_escaped(out, s, len, ascii);
    o = out->data + out->len;
    o[0] = '"';
#ifdef __SSE2__
    /* 16 bytes at a time while none needs an escape. A signed compare below 0x20 also flags
     * every byte from 0x80 up (negative): escaped with ascii, copied by the byte loop below
     * without. */
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i esc = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                   _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));

        if (_mm_movemask_epi8(esc) != 0)
            break;
        _mm_storeu_si128((__m128i *)(o + 1 + i), v);
    }
#endif
    for (; i < len && !needs_escape(p[i], ascii); i++)
        o[i + 1] = (char)p[i];
    if (i < len)
        return put_string_escaped(out, s, len, ascii);
    o[len + 1] = '"';
    out->len += len + 2;
    out->data[out->len] = '\0';
    return 0;
}

int hale_json_put_string(hale_buf *out, const char *s, size_t len, bool ascii)
{
    return ascii ? put_string_as(out, s, len, true) : put_string_as(out, s, len, false);
}

static int put_string(hale_buf *out, const char *s, size_t len)
{
    return put_string_as(out, s, len, false);
}

static int put_integer(hale_buf *out, json_int_t v)
{
    char digits[HALE_INT_TEXT_BYTES];
    const char *p = hale_int_text(v, digits);

    return hale_buf_append(out, p, (size_t)(digits + HALE_INT_TEXT_BYTES - 1 - p));
}

static int put_value(const json_t *v, hale_buf *out, unsigned depth)
{
    const char *key;
    json_t *e;
    size_t i;
    int r = 0;

    switch (json_typeof(v)) {
    case JSON_STRING:
        return put_string(out, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return put_integer(out, json_integer_value(v));
    case JSON_TRUE:
        return hale_buf_append(out, "true", 4);
    case JSON_FALSE:
        return hale_buf_append(out, "false", 5);
    case JSON_NULL:
        return hale_buf_append(out, "null", 4);
    case JSON_REAL:
        return -ENOTSUP; /* jansson's "%.17g" rules are not worth repeating here */
    case JSON_ARRAY:
        if (depth >= DUMP_MAX_DEPTH)
            return -ENOTSUP;
        r = hale_buf_putc(out, '[');
        for (i = 0; r == 0 && i < json_array_size(v); i++) {
            if (i > 0)
                r = hale_buf_putc(out, ',');
            if (r == 0)
                r = put_value(json_array_get(v, i), out, depth + 1);
        }
        return r == 0 ? hale_buf_putc(out, ']') : r;
    case JSON_OBJECT:
        if (depth >= DUMP_MAX_DEPTH)
            return -ENOTSUP;
        r = hale_buf_putc(out, '{');
        i = 0;
        /* Insertion order, as jansson keeps and dumps it without JSON_SORT_KEYS. */
        for (void *it = json_object_iter((json_t *)(uintptr_t)v); r == 0 && it;
             it = json_object_iter_next((json_t *)(uintptr_t)v, it), i++) {
            key = json_object_iter_key(it);
            e = json_object_iter_value(it);
            if (i > 0)
                r = hale_buf_putc(out, ',');
            if (r == 0)
                r = put_string(out, key, json_object_iter_key_len(it));
            if (r == 0)
                r = hale_buf_putc(out, ':');
            if (r == 0)
                r = put_value(e, out, depth + 1);
        }
        return r == 0 ? hale_buf_putc(out, '}') : r;
    }
    return -ENOTSUP;
}

int hale_json_dump_compact(const json_t *v, hale_buf *out)
{
    size_t old_len = out->len;
    int r = v ? put_value(v, out, 0) : -EINVAL;

    if (r < 0) {
        out->len = old_len;
        if (out->data)
            out->data[old_len] = '\0';
    }
    return r;
}
