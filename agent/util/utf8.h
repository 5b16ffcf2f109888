/* agent/util/utf8.h - UTF-8 validation (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

bool hale_utf8_is_valid(const char *s, size_t len);

/* How many leading bytes of s form valid UTF-8: len when all of it is valid, else the offset
 * of the first byte of the first invalid or truncated sequence. */
size_t hale_utf8_valid_len(const char *s, size_t len);

/* Length (1-4) of the one valid UTF-8 character at the start of s (len > 0 bytes available),
 * or 0 when the bytes there are not a valid character. */
size_t hale_utf8_char_len(const char *s, size_t len);
