/* agent/util/json_write.c - hale_json_dump_compact(): the bytes json_dumps(v, JSON_COMPACT)
 * writes, appended to a caller's buffer. jansson's dumper calls back per token and allocates
 * per call; the commit job serializes two label objects per alert, so this writes straight
 * into a buffer the caller reuses. */
#include "internal.h"

#include "util/buf.h"
#include "util/json.h"

#define DUMP_MAX_DEPTH 64 /* deeper values go through jansson (none that hale stores) */

/* A string as jansson escapes it without flags: '"', '\\' and control characters (the usual
 * short forms, else \u00XX in upper-case hex); everything else, 0x7F and UTF-8 included, as
 * is. Runs of plain bytes are copied at once. */
static int put_string(hale_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t from = 0;
    int r = hale_buf_putc(out, '"');

    for (size_t i = 0; r == 0 && i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xF];
            n = 6;
            break;
        }
        r = hale_buf_append(out, s + from, i - from);
        if (r == 0)
            r = hale_buf_append(out, esc, n);
        from = i + 1;
    }
    if (r == 0)
        r = hale_buf_append(out, s + from, len - from);
    if (r == 0)
        r = hale_buf_putc(out, '"');
    return r;
}

static int put_integer(hale_buf *out, json_int_t v)
{
    char digits[24];
    size_t n = sizeof(digits);
    /* Magnitude in unsigned arithmetic: -INT64_MIN does not fit an int64_t. */
    unsigned long long m = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

    do {
        digits[--n] = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    if (v < 0)
        digits[--n] = '-';
    return hale_buf_append(out, digits + n, sizeof(digits) - n);
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
