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
        k |= c == '.' ? CL_DOT : c == ' ' || c == '-' ? CL_SEP : 0;
        k |= c == ':' ? CL_COLON : c == '(' ? CL_PAREN : 0;
        cls[c] = k;
    }
}

/* A run of digits, dots, spaces and dashes from p[0], a digit: IPv4-like dotted groups, long
 * numbers and ddd-dd-dddd. Returns the run's length. */
static size_t numeric_run(const uint8_t *cls, const unsigned char *p, size_t n, unsigned *out)
{
    unsigned dots = 0, digits = 0;
    size_t k = 0;

    for (; k < n && (cls[p[k]] & (CL_DIG | CL_DOT | CL_SEP)); k++) {
        unsigned char c = p[k];

        if (cls[c] & CL_DIG) {
            digits++;
            continue;
        }
        if (c == '.') {
            dots += k + 1 < n && (cls[p[k + 1]] & CL_DIG) && (cls[p[k - 1]] & CL_DIG);
            digits = 0;
        } else {
            dots = 0;
        }
        if (c == '-' && k >= 3 && k + 7 < n && p[k + 3] == '-' &&
            (cls[p[k - 3]] & cls[p[k - 1]] & cls[p[k + 1]] & cls[p[k + 2]] & cls[p[k + 4]] &
             cls[p[k + 7]] & CL_DIG))
            *out |= 1u << REDACT_SHAPE_SSN;
        if (dots >= 3)
            *out |= 1u << REDACT_SHAPE_IPV4;
        if (digits >= 12)
            *out |= 1u << REDACT_SHAPE_LONG_NUMBER;
    }
    if (digits >= 12)
        *out |= 1u << REDACT_SHAPE_LONG_NUMBER;
    return k;
}

/* A run of hex digits, colons and dashes around the colon or dash at p[at]: IPv6 and MAC. */
static size_t hex_run(const uint8_t *cls, const unsigned char *p, size_t n, size_t at,
                      unsigned *out)
{
    unsigned colons = 0, dashes = 0;
    bool dbl = false;
    size_t k = at;

    for (; k < n && ((cls[p[k]] & (CL_HEX | CL_COLON)) || p[k] == '-'); k++) {
        colons += p[k] == ':';
        dashes += p[k] == '-';
        dbl |= p[k] == ':' && k + 1 < n && p[k + 1] == ':';
    }
    if (colons >= 3 || (dbl && colons >= 2))
        *out |= 1u << REDACT_SHAPE_IPV6;
    if (colons >= 5 || dashes >= 5)
        *out |= 1u << REDACT_SHAPE_MAC;
    return k;
}

unsigned hale__redact_line_shapes(const hale_redact *r, const char *line, size_t n, unsigned wanted)
{
    const unsigned char *p = (const unsigned char *)line;
    const uint8_t *cls = r->cls;
    size_t num_end = 0, hex_end = 0;
    unsigned out = 0;

    /* Each run is measured once, from where it starts, so the pass stays linear. */
    for (size_t i = 0; i < n; i++) {
        uint8_t c = cls[p[i]];

        if (!(c & (CL_DIG | CL_COLON | CL_UP | CL_PAREN)) && p[i] != '-')
            continue;
        if ((c & CL_DIG) && i >= num_end)
            num_end = i + numeric_run(cls, p + i, n - i, &out);
        if (((c & CL_COLON) || p[i] == '-') && i >= hex_end) {
            size_t s = i;

            while (s > 0 && i - s < 8 && (cls[p[s - 1]] & CL_HEX))
                s--;
            hex_end = hex_run(cls, p, n, s, &out);
        }
        if ((c & CL_UP) && i + 3 < n && (cls[p[i + 1]] & CL_UP) &&
            (cls[p[i + 2]] & cls[p[i + 3]] & CL_DIG))
            out |= 1u << REDACT_SHAPE_IBAN;
        if ((c & CL_PAREN) && i + 4 < n && (cls[p[i + 1]] & cls[p[i + 3]] & CL_DIG) &&
            p[i + 4] == ')')
            out |= 1u << REDACT_SHAPE_PAREN_PHONE;
        if ((out & wanted) == wanted)
            break;
    }
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

bool hale__redact_line_keywords(const hale_redact *r, const char *line, size_t n, uint64_t *hit)
{
    const unsigned char *p = (const unsigned char *)line;
    const uint8_t *lo = r->lower;
    unsigned c0, c1 = n > 0 ? lo[p[0]] : 0, c2 = n > 1 ? lo[p[1]] : 0;
    bool any = false;
    int32_t k;

    for (size_t i = 0; i < n; i++) {
        unsigned h;

        c0 = c1;
        c1 = c2;
        c2 = i + 2 < n ? lo[p[i + 2]] : 0;
        if (r->short_first[c0]) {
            for (k = r->head_short[c0]; k >= 0; k = r->kws[k].next) {
                if (kw_at(lo, p + i, n - i, r->kws[k].lit, r->kws[k].len)) {
                    mark(hit, r->kws[k].rule);
                    any = true;
                }
            }
        }
        h = REDACT_TRI_HASH(c0, c1, c2);
        if (!(r->tri_bits[h >> 3] & (1u << (h & 7))))
            continue;
        for (k = r->head_tri[h]; k >= 0; k = r->kws[k].next) {
            if (kw_at(lo, p + i, n - i, r->kws[k].lit, r->kws[k].len)) {
                mark(hit, r->kws[k].rule);
                any = true;
            }
        }
    }
    return any;
}
