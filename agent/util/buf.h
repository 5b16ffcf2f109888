/* agent/util/buf.h - a growable byte buffer with a hard cap set at creation (curl's dynbuf).
 * data is always NUL-terminated (when non-NULL) so text can be used as a C string.
 * Ownership: the buffer owns data until hale_buf_detach() hands it to the caller. */
#pragma once
#include <stdarg.h>
#include <stddef.h>

typedef struct hale_buf {
    char *data;     /* NULL until the first append; owned by the buffer */
    size_t len;     /* bytes used, not counting the trailing NUL */
    size_t cap;     /* bytes allocated */
    size_t max_len; /* appends that would pass this fail with HALE_ELIMIT */
} hale_buf;

void hale_buf_init(hale_buf *b, size_t max_len);
void hale_buf_release(hale_buf *b); /* frees data; the buffer can be reused after init */
void hale_buf_reset(hale_buf *b);   /* len = 0, keeps the allocation */

/* Append; on failure (-ENOMEM or HALE_ELIMIT) the buffer is unchanged. */
int hale_buf_append(hale_buf *b, const void *data, size_t len);
int hale_buf_puts(hale_buf *b, const char *s);
int hale_buf_putc(hale_buf *b, char c);
int hale_buf_printf(hale_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
int hale_buf_vprintf(hale_buf *b, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 0)))
#endif
    ;
/* Decimal text of an integer, as "%" PRId64 / "%" PRIu64 write it, NUL-terminated at the end
 * of buf; the functions return where it starts (the length is buf + HALE_INT_TEXT_BYTES - 1
 * minus that). */
#define HALE_INT_TEXT_BYTES 24
const char *hale_int_text(int64_t v, char buf[HALE_INT_TEXT_BYTES]);
const char *hale_uint_text(uint64_t v, char buf[HALE_INT_TEXT_BYTES]);
/* Make room for at least extra more bytes without changing len. */
int hale_buf_reserve(hale_buf *b, size_t extra);
/* Append s as a JSON string literal, quotes included (RFC 8259: '"', '\\' and control
 * characters escaped). s should be UTF-8 of length len; each byte that is not valid UTF-8 is
 * written as U+FFFD, so the output is always valid JSON. */
int hale_buf_json_str(hale_buf *b, const char *s, size_t len);
/* The same, using at most max_bytes (>= 5) bytes, quotes included: a string that does not fit
 * is cut at a character boundary and ends in "...". Returns 1 when it cut, 0 when it did not,
 * -EINVAL (max_bytes < 5), -ENOMEM or HALE_ELIMIT (buffer unchanged). */
int hale_buf_json_str_max(hale_buf *b, const char *s, size_t len, size_t max_bytes);

/* Drop the first n bytes (n <= len), moving the rest to the front. */
void hale_buf_consume(hale_buf *b, size_t n);

/* Hand the data to the caller (free() it); the buffer is left empty. Returns "" copy when
 * empty, NULL only on allocation failure. *ret_len (may be NULL) gets the length. */
char *hale_buf_detach(hale_buf *b, size_t *ret_len);
