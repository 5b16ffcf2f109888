/* agent/redact/redact_prefilter.c - cheap byte scans that decide which rules are worth a pcre2
 * run on a line. Keywords are found through a filter on the first three (lower-cased) bytes
 * of every position; rules without a literal anchor name a built-in shape (an IPv4-like
 * dotted run, a long digit run, ...) that one pass over the line detects. */
#include "internal.h"

#include "redact/redact_int.h"

static const char *const shape_names[] = {
    [REDACT_SHAPE_IPV4] = "ipv4",
    [REDACT_SHAPE_IPV6] = "ipv6",
    [REDACT_SHAPE_LONG_NUMBER] = "long_number",
    [REDACT_SHAPE_SSN] = "ssn",
    [REDACT_SHAPE_IBAN] = "iban",
    [REDACT_SHAPE_MAC] = "mac",
    [REDACT_SHAPE_PAREN_PHONE] = "paren_phone",
};

int hale__redact_shape_from_name(const char *name)
{
    for (size_t i = 1; i < HALE_ARRAY_SIZE(shape_names); i++)
        if (shape_names[i] && strcmp(shape_names[i], name) == 0)
            return (int)i;
    return -1;
}

/* Byte classes for the shape scan (hale_redact.cls). */
enum {
    CL_DIG = 1,    /* 0-9 */
    CL_HEX = 2,    /* 0-9, a-f, A-F */
    CL_UP = 4,     /* A-Z */
    CL_DOT = 8,    /* . */
    CL_SEP = 16,   /* space or - */
    CL_COLON = 32, /* : */
    CL_PAREN = 64, /* ( */
    CL_DASH = 128, /* - */
};

void hale__redact_init_classes(uint8_t *cls)
{
    for (unsigned c = 0; c < 256; c++) {
        uint8_t k = 0;

        if (c >= '0' && c <= '9')
            k |= CL_DIG | CL_HEX;
        if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
            k |= CL_HEX;
        if (c >= 'A' && c <= 'Z')
            k |= CL_UP;
        k |= c == '.' ? CL_DOT : c == ' ' ? CL_SEP : c == '-' ? CL_SEP | CL_DASH : 0;
        k |= c == ':' ? CL_COLON : c == '(' ? CL_PAREN : 0;
        cls[c] = k;
    }
}

typedef bool (*run_check)(const uint8_t *cls, const unsigned char *p, size_t n);

/* Is p[i] part of a run: a member byte, or one separator between two members? */
static inline bool in_run(const uint8_t *cls, const unsigned char *p, size_t n, size_t i,
                          uint8_t member, uint8_t sep)
{
    if (cls[p[i]] & member)
        return true;
    return (cls[p[i]] & sep) && i > 0 && i + 1 < n && (cls[p[i - 1]] & member) &&
           (cls[p[i + 1]] & member);
}

/* Is there a run of at least min bytes (members, and single separators between members) that
 * check accepts? Probes every min-th byte: a byte outside the run class proves no such run
 * covers it, so most of the line is skipped (Boyer-Moore's bad-character shift, for a class
 * instead of a string). */
static bool has_run(const uint8_t *cls, const unsigned char *p, size_t n, uint8_t member,
                    uint8_t sep, size_t min, run_check check)
{
    size_t i = min - 1;

    while (i < n) {
        size_t s = i, e = i + 1;

        if (!(cls[p[i]] & member) && !in_run(cls, p, n, i, member, sep)) {
            i += min;
            continue;
        }
        while (s > 0 && in_run(cls, p, n, s - 1, member, sep))
            s--;
        while (e < n && in_run(cls, p, n, e, member, sep))
            e++;
        if (e - s >= min && check(cls, p + s, e - s))
            return true;
        i = e + min;
    }
    return false;
}

/* At least three dots between digits: 1.2.3.4 */
static bool dotted(const uint8_t *cls, const unsigned char *p, size_t n)
{
    unsigned dots = 0;

    for (size_t i = 1; i + 1 < n; i++)
        dots += p[i] == '.' && (cls[p[i - 1]] & cls[p[i + 1]] & CL_DIG);
    return dots >= 3;
}

/* At least 13 digits, however separated by spaces and dashes. */
static bool long_number(const uint8_t *cls, const unsigned char *p, size_t n)
{
    unsigned digits = 0;

    for (size_t i = 0; i < n; i++)
        digits += (cls[p[i]] & CL_DIG) != 0;
    return digits >= 13;
}

/* ddd-dd-dddd somewhere in the run. */
static bool ssn(const uint8_t *cls, const unsigned char *p, size_t n)
{
    for (size_t k = 3; k + 7 < n; k++) {
        if (p[k] == '-' && p[k + 3] == '-' &&
            (cls[p[k - 3]] & cls[p[k - 2]] & cls[p[k - 1]] & cls[p[k + 1]] & cls[p[k + 2]] &
             cls[p[k + 4]] & cls[p[k + 5]] & cls[p[k + 6]] & cls[p[k + 7]] & CL_DIG))
            return true;
    }
    return false;
}

/* hh-hh-hh-hh-hh-hh around a dash: found from each dash with memchr. */
static bool dashed_mac(const uint8_t *cls, const unsigned char *p, size_t n)
{
    const unsigned char *d = p, *end = p + n;

    while ((d = memchr(d, '-', (size_t)(end - d))) != NULL) {
        const unsigned char *s = d - 2; /* the MAC starts at the pair before a dash */

        if (d - p >= 2 && end - s >= 17 && s[5] == '-' && s[8] == '-' && s[11] == '-' &&
            s[14] == '-' &&
            (cls[s[0]] & cls[s[1]] & cls[s[3]] & cls[s[4]] & cls[s[6]] & cls[s[7]] & cls[s[9]] &
             cls[s[10]] & cls[s[12]] & cls[s[13]] & cls[s[15]] & cls[s[16]] & CL_HEX))
            return true;
        d++;
    }
    return false;
}

/* Two capitals and two digits: the start of an IBAN. */
static bool iban_start(const uint8_t *cls, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i + 3 < n; i++)
        if ((cls[p[i]] & cls[p[i + 1]] & CL_UP) && (cls[p[i + 2]] & cls[p[i + 3]] & CL_DIG))
            return true;
    return false;
}

/* Around each colon: a hex-and-colon run with three colons or a "::" (IPv6), five (MAC). */
static unsigned colon_shapes(const uint8_t *cls, const unsigned char *p, size_t n)
{
    const unsigned char *c = p, *end = p + n;
    unsigned out = 0;

    while (c < end && (c = memchr(c, ':', (size_t)(end - c))) != NULL) {
        const unsigned char *s = c, *e = c;
        unsigned colons = 0;
        bool dbl = false;

        while (s > p && (cls[s[-1]] & (CL_HEX | CL_COLON)))
            s--;
        for (; e < end && (cls[*e] & (CL_HEX | CL_COLON)); e++) {
            colons += *e == ':';
            dbl |= *e == ':' && e + 1 < end && e[1] == ':';
        }
        if (colons >= 3 || (dbl && colons >= 2))
            out |= 1u << REDACT_SHAPE_IPV6;
        if (colons >= 5)
            out |= 1u << REDACT_SHAPE_MAC;
        c = e;
    }
    return out;
}

static bool paren_phone(const uint8_t *cls, const unsigned char *p, size_t n)
{
    const unsigned char *c = p, *end = p + n;

    while ((c = memchr(c, '(', (size_t)(end - c))) != NULL) {
        if (end - c >= 5 && (cls[c[1]] & cls[c[2]] & cls[c[3]] & CL_DIG) && c[4] == ')')
            return true;
        c++;
    }
    return false;
}

unsigned hale__redact_line_shapes(const hale_redact *r, const char *line, size_t n, unsigned wanted)
{
    const unsigned char *p = (const unsigned char *)line;
    const uint8_t *cls = r->cls;
    unsigned out = 0;

#define WANT(shape) ((wanted & (1u << (shape))) && !(out & (1u << (shape))))
    if (WANT(REDACT_SHAPE_IPV4) && has_run(cls, p, n, CL_DIG, CL_DOT, 7, dotted))
        out |= 1u << REDACT_SHAPE_IPV4;
    if (WANT(REDACT_SHAPE_LONG_NUMBER) && has_run(cls, p, n, CL_DIG, CL_SEP, 13, long_number))
        out |= 1u << REDACT_SHAPE_LONG_NUMBER;
    if (WANT(REDACT_SHAPE_SSN) && has_run(cls, p, n, CL_DIG, CL_DASH, 11, ssn))
        out |= 1u << REDACT_SHAPE_SSN;
    if (wanted & (1u << REDACT_SHAPE_IPV6 | 1u << REDACT_SHAPE_MAC))
        out |= colon_shapes(cls, p, n);
    if (WANT(REDACT_SHAPE_MAC) && dashed_mac(cls, p, n))
        out |= 1u << REDACT_SHAPE_MAC;
    if (WANT(REDACT_SHAPE_IBAN) && has_run(cls, p, n, CL_UP | CL_DIG, CL_SEP, 15, iban_start))
        out |= 1u << REDACT_SHAPE_IBAN;
    if (WANT(REDACT_SHAPE_PAREN_PHONE) && paren_phone(cls, p, n))
        out |= 1u << REDACT_SHAPE_PAREN_PHONE;
#undef WANT
    return out & wanted;
}

/* Set the bit of rule in hit. */
static void mark(uint64_t *hit, uint16_t rule)
{
    hit[rule >> 6] |= UINT64_C(1) << (rule & 63);
}

/* Case-insensitive: does the lower-cased keyword kw (len bytes) start at p? */
static bool kw_at(const uint8_t *lower, const unsigned char *p, size_t avail, const char *kw,
                  size_t len)
{
    if (len > avail)
        return false;
    for (size_t i = 0; i < len; i++)
        if (lower[p[i]] != (unsigned char)kw[i])
            return false;
    return true;
}

/* Keywords of one or two bytes: memchr for each first byte that starts one, in both cases. */
static bool short_keywords(const hale_redact *r, const unsigned char *p, size_t n, uint64_t *hit)
{
    bool any = false;

    for (size_t b = 0; b < r->n_short_bytes; b++) {
        unsigned char c = r->short_bytes[b];

        for (const unsigned char *q = p; (q = memchr(q, c, (size_t)(p + n - q))) != NULL; q++) {
            for (int32_t k = r->head_short[r->lower[c]]; k >= 0; k = r->kws[k].next) {
                if (kw_at(r->lower, q, (size_t)(p + n - q), r->kws[k].lit, r->kws[k].len)) {
                    mark(hit, r->kws[k].rule);
                    any = true;
                }
            }
        }
    }
    return any;
}

bool hale__redact_line_keywords(const hale_redact *r, const char *line, size_t n, uint64_t *hit)
{
    const unsigned char *p = (const unsigned char *)line;
    const uint8_t *lo = r->lower;
    bool any = r->n_short_bytes && short_keywords(r, p, n, hit);
    unsigned h;

    if (n < 3)
        return any;
    /* Keywords of three bytes or more: a rolling REDACT_TRI_HASH of the three bytes at every
     * position (shifting by 5 bits per byte pushes the fourth-last byte out of the mask). */
    h = (unsigned)lo[p[0]] << 5 ^ lo[p[1]];
    for (size_t i = 0; i + 2 < n; i++) {
        h = ((h << 5) ^ lo[p[i + 2]]) & (REDACT_TRI_SIZE - 1);
        if (!(r->tri_bits[h >> 3] & (1u << (h & 7))))
            continue;
        for (int32_t k = r->head_tri[h]; k >= 0; k = r->kws[k].next) {
            if (kw_at(lo, p + i, n - i, r->kws[k].lit, r->kws[k].len)) {
                mark(hit, r->kws[k].rule);
                any = true;
            }
        }
    }
    return any;
}
