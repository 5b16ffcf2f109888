/* agent/util/utf8.c - strict UTF-8 validation (RFC 3629 table 4.1 in code).
 * Runs over every request body, so runs of ASCII are skipped eight bytes at a time. */
#include "internal.h"

#include "util/utf8.h"

#define HIGH_BITS UINT64_C(0x8080808080808080)

size_t hale_utf8_char_len(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    size_t n, i;

    if (len == 0)
        return 0;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        n = 2;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        n = 3;
        if (p[0] == 0xE0)
            lo = 0xA0; /* overlong below U+0800 */
        else if (p[0] == 0xED)
            hi = 0x9F; /* surrogates U+D800..U+DFFF */
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        n = 4;
        if (p[0] == 0xF0)
            lo = 0x90; /* overlong below U+10000 */
        else if (p[0] == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0; /* continuation byte, C0/C1 overlongs, F5..FF */
    }
    if (len < n || p[1] < lo || p[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

size_t hale_utf8_valid_len(const char *s, size_t len)
{
    size_t i = 0, n;
    uint64_t w;

    while (i < len) {
        if (len - i >= 8) {
            memcpy(&w, s + i, 8);
            if ((w & HIGH_BITS) == 0) {
                i += 8;
                continue;
            }
        }
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        n = hale_utf8_char_len(s + i, len - i);
        if (n == 0)
            return i;
        i += n;
    }
    return len;
}

bool hale_utf8_is_valid(const char *s, size_t len)
{
    return hale_utf8_valid_len(s, len) == len;
}
