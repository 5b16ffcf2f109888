/* agent/util/strparse.c - the only number, duration and size parsers in hale (strparse.h).
 * Strict: the whole string must match, no whitespace, no sign on unsigned values. */
#include "internal.h"

#include "hale/limits.h"
#include "util/strparse.h"

#define MAX_HOST_BYTES 255u /* a DNS name or an address literal */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int hale_parse_u64(const char *s, uint64_t *ret)
{
    unsigned long long v;
    char *end;

    if (!s || !is_digit(s[0]))
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0')
        return -EINVAL;
    if (errno == ERANGE)
        return -ERANGE;
    *ret = (uint64_t)v;
    return 0;
}

int hale_parse_u32(const char *s, uint32_t *ret)
{
    uint64_t v;
    int r = hale_parse_u64(s, &v);

    if (r < 0)
        return r;
    if (v > UINT32_MAX)
        return -ERANGE;
    *ret = (uint32_t)v;
    return 0;
}

int hale_parse_i64(const char *s, int64_t *ret)
{
    long long v;
    char *end;

    if (!s || !(is_digit(s[0]) || (s[0] == '-' && is_digit(s[1]))))
        return -EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0')
        return -EINVAL;
    if (errno == ERANGE)
        return -ERANGE;
    *ret = (int64_t)v;
    return 0;
}

int hale_parse_double(const char *s, double *ret)
{
    double v;
    char *end;

    if (!s || !(is_digit(s[0]) || ((s[0] == '-' || s[0] == '+') && is_digit(s[1]))))
        return -EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (*end != '\0')
        return -EINVAL;
    if (errno == ERANGE || v != v || v - v != 0)
        return -ERANGE;
    *ret = v;
    return 0;
}

/* Read the digits at *s into *ret and advance *s. -EINVAL when there are none. */
static int read_digits(const char **s, uint64_t *ret)
{
    const char *p = *s;
    uint64_t v = 0;

    if (!is_digit(*p))
        return -EINVAL;
    for (; is_digit(*p); p++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *s = p;
    *ret = v;
    return 0;
}

/* Add n * mult to *acc, reporting overflow as -ERANGE. */
static int add_scaled(uint64_t *acc, uint64_t n, uint64_t mult)
{
    if (n != 0 && mult > UINT64_MAX / n)
        return -ERANGE;
    if (*acc > UINT64_MAX - n * mult)
        return -ERANGE;
    *acc += n * mult;
    return 0;
}

static const struct unit {
    const char *suffix;
    uint64_t mult;
} ms_units[] = {
    /* "ms" before "m" so the longer suffix wins. */
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
};

int hale_parse_ms(const char *s, uint64_t *ret_ms)
{
    uint64_t total = 0, n;
    size_t i, len;
    int r;

    if (!s || !*s)
        return -EINVAL;
    r = read_digits(&s, &n);
    if (r < 0)
        return r;
    if (*s == '\0') { /* a bare number is seconds */
        r = add_scaled(&total, n, 1000);
        if (r == 0)
            *ret_ms = total;
        return r;
    }
    for (;;) {
        for (i = 0; i < HALE_ARRAY_SIZE(ms_units); i++) {
            len = strlen(ms_units[i].suffix);
            if (strncmp(s, ms_units[i].suffix, len) == 0)
                break;
        }
        if (i == HALE_ARRAY_SIZE(ms_units))
            return -EINVAL;
        s += len;
        r = add_scaled(&total, n, ms_units[i].mult);
        if (r < 0)
            return r;
        if (*s == '\0')
            break;
        r = read_digits(&s, &n);
        if (r < 0)
            return r;
        if (*s == '\0') /* "1h30": a trailing number without its unit */
            return -EINVAL;
    }
    *ret_ms = total;
    return 0;
}

static const struct unit byte_units[] = {
    {"", 1},
    {"B", 1},
    {"kB", UINT64_C(1000)},
    {"MB", UINT64_C(1000000)},
    {"GB", UINT64_C(1000000000)},
    {"KiB", UINT64_C(1) << 10},
    {"MiB", UINT64_C(1) << 20},
    {"GiB", UINT64_C(1) << 30},
};

int hale_parse_bytes(const char *s, uint64_t *ret_bytes)
{
    uint64_t n, v = 0;
    size_t i;
    int r;

    if (!s)
        return -EINVAL;
    r = read_digits(&s, &n);
    if (r < 0)
        return r;
    for (i = 0; i < HALE_ARRAY_SIZE(byte_units); i++) {
        if (strcmp(s, byte_units[i].suffix) != 0)
            continue;
        r = add_scaled(&v, n, byte_units[i].mult);
        if (r < 0)
            return r;
        *ret_bytes = v;
        return 0;
    }
    return -EINVAL;
}

/* A host: no whitespace, control characters, brackets or slashes. */
static bool host_ok(const char *h, size_t len, bool v6)
{
    size_t i;

    if (len == 0 || len > MAX_HOST_BYTES)
        return false;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c <= 0x20 || c >= 0x7F || c == '[' || c == ']' || c == '/' || (c == ':' && !v6))
            return false;
    }
    return true;
}

int hale_parse_hostport(const char *s, char *host, unsigned host_size, uint16_t *ret_port)
{
    const char *h = s, *colon;
    size_t hlen;
    uint32_t port;
    bool v6 = false;
    int r;

    if (!s)
        return -EINVAL;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
        v6 = true;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -EINVAL;
        hlen = (size_t)(colon - s);
    }
    if (!host_ok(h, hlen, v6))
        return -EINVAL;
    r = hale_parse_u32(colon + 1, &port);
    if (r < 0)
        return r;
    if (port > 65535)
        return -ERANGE;
    if (hlen >= host_size)
        return -ERANGE;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *ret_port = (uint16_t)port;
    return 0;
}

int hale_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void hale_hex_encode(const void *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
}

bool hale_is_metric_name(const char *s, bool colon)
{
    size_t i;

    for (i = 0; s[i]; i++) {
        char c = s[i];
        bool alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');

        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return i > 0 && i <= HALE_MAX_LABEL_NAME_BYTES;
}
