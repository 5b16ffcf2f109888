/* agent/redact/redact_validate.c - checks a pattern match must pass before it is redacted:
 * checksums (Luhn, IBAN mod-97), number-assignment rules (US SSN), address parsing (inet_pton),
 * and plausibility (entropy, character mix, stand-in values). They keep log noise such as
 * timestamps, ids and version strings from being taken for PII. */
#include "internal.h"

#include <arpa/inet.h>
#include <math.h>

#include "redact/redact_int.h"

static const char *const validator_names[] = {
    [REDACT_V_NONE] = "",
    [REDACT_V_LUHN] = "luhn",
    [REDACT_V_IBAN] = "iban",
    [REDACT_V_SSN] = "ssn",
    [REDACT_V_IPV4] = "ipv4",
    [REDACT_V_IPV6] = "ipv6",
    [REDACT_V_PHONE] = "phone",
    [REDACT_V_JWT] = "jwt",
    [REDACT_V_EMAIL] = "email",
    [REDACT_V_MIXED] = "mixed",
    [REDACT_V_NOT_PLACEHOLDER] = "not_placeholder",
    [REDACT_V_RANDOM] = "random",
};

int hale__redact_validator_from_name(const char *name)
{
    for (size_t i = 0; i < HALE_ARRAY_SIZE(validator_names); i++)
        if (strcmp(validator_names[i], name) == 0)
            return (int)i;
    return -1;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Copy the digits of v into out (at most cap), skipping separators. Returns the count, or 0
 * when v holds anything but digits, spaces, dashes and dots, or too many digits. */
static size_t digits_of(const char *v, size_t len, char *out, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        if (is_digit(v[i])) {
            if (n == cap)
                return 0;
            out[n++] = v[i];
        } else if (v[i] != ' ' && v[i] != '-' && v[i] != '.' && v[i] != '(' && v[i] != ')' &&
                   v[i] != '+') {
            return 0;
        }
    }
    return n;
}

static bool all_same(const char *d, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (d[i] != d[0])
            return false;
    return true;
}

static bool card_prefix(const char *d, size_t n)
{
    int p2 = (d[0] - '0') * 10 + (d[1] - '0');
    int p4 = p2 * 100 + (d[2] - '0') * 10 + (d[3] - '0');

    if (d[0] == '4') /* Visa */
        return n == 13 || n == 16 || n == 19;
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) /* Mastercard */
        return n == 16;
    if (p2 == 34 || p2 == 37) /* American Express */
        return n == 15;
    if (p4 == 6011 || p2 == 65 || (p4 >= 6440 && p4 <= 6499)) /* Discover */
        return n >= 16;
    if (p2 == 35) /* JCB */
        return n >= 16;
    if (p2 == 36 || p2 == 38 || p2 == 39 || (p4 >= 3000 && p4 <= 3059)) /* Diners Club */
        return n >= 14;
    if (p2 == 62 || p2 == 81) /* UnionPay */
        return n >= 16;
    if (p2 == 50 || (p2 >= 56 && p2 <= 69)) /* Maestro */
        return n >= 12;
    return false;
}

static bool luhn(const char *v, size_t len)
{
    char d[24];
    size_t n = digits_of(v, len, d, sizeof(d));
    unsigned sum = 0;

    if (n < 13 || n > 19 || all_same(d, n) || !card_prefix(d, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned x = (unsigned)(d[n - 1 - i] - '0');

        if (i & 1)
            x = x * 2 > 9 ? x * 2 - 9 : x * 2;
        sum += x;
    }
    return sum % 10 == 0;
}

/* IBAN lengths by country (ISO 13616 registry). */
static const struct {
    char cc[3];
    unsigned char len;
} iban_len[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
    {"BH", 22}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22},
    {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27},
    {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28},
    {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20},
    {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21}, {"MC", 27}, {"MD", 24},
    {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18}, {"NO", 15}, {"PK", 24},
    {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"SA", 24}, {"SC", 31},
    {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24},
    {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
};

static bool iban(const char *v, size_t len)
{
    char s[40];
    size_t n = 0, want = 0;
    unsigned rem = 0;

    for (size_t i = 0; i < len; i++) {
        char c = v[i];

        if (c == ' ')
            continue;
        if (n == sizeof(s) || !(is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            return false;
        s[n++] = (char)(c >= 'a' && c <= 'z' ? c - ('a' - 'A') : c);
    }
    for (size_t i = 0; n >= 4 && i < HALE_ARRAY_SIZE(iban_len); i++)
        if (s[0] == iban_len[i].cc[0] && s[1] == iban_len[i].cc[1])
            want = iban_len[i].len;
    if (want == 0 || n != want)
        return false;
    /* Move the first four characters to the end; letters count as 10..35. */
    for (size_t k = 0; k < n; k++) {
        char c = s[(k + 4) % n];

        if (is_digit(c))
            rem = (rem * 10 + (unsigned)(c - '0')) % 97;
        else
            rem = (rem * 100 + (unsigned)(c - 'A' + 10)) % 97;
    }
    return rem == 1;
}

static bool ssn(const char *v, size_t len)
{
    char d[12];
    int area, group, serial;

    if (digits_of(v, len, d, sizeof(d)) != 9)
        return false;
    area = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    group = (d[3] - '0') * 10 + (d[4] - '0');
    serial = ((d[5] - '0') * 10 + (d[6] - '0')) * 100 + (d[7] - '0') * 10 + (d[8] - '0');
    if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0)
        return false;
    /* Numbers published in advertising and documentation, never issued to anyone. */
    return !(area == 78 && group == 5 && serial == 1120) &&
           !(area == 219 && group == 9 && serial == 9999);
}

static bool ip(int af, const char *v, size_t len)
{
    char s[INET6_ADDRSTRLEN + 1];
    unsigned char addr[16];
    bool hexdigit = false;

    if (len >= sizeof(s))
        return false;
    memcpy(s, v, len);
    s[len] = '\0';
    for (size_t i = 0; i < len; i++)
        hexdigit |= v[i] != ':' && v[i] != '.';
    if (!hexdigit || inet_pton(af, s, addr) != 1)
        return false;
    /* 0.0.0.0 and 255.255.255.255 (bind-all, broadcast) identify no one. */
    return af != AF_INET ||
           !((addr[0] == 0 && addr[1] == 0 && addr[2] == 0 && addr[3] == 0) ||
             (addr[0] == 255 && addr[1] == 255 && addr[2] == 255 && addr[3] == 255));
}

static bool phone(const char *v, size_t len)
{
    char d[20];
    size_t n = digits_of(v, len, d, sizeof(d));

    return n >= 7 && n <= 15 && !all_same(d, n);
}

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (is_digit(c))
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* The JOSE header (first segment) decodes to a JSON object that names "alg". */
static bool jwt(const char *v, size_t len)
{
    char hdr[512];
    size_t n = 0, i;
    unsigned acc = 0, bits = 0;

    for (i = 0; i < len && v[i] != '.'; i++) {
        int x = b64url_value(v[i]);

        if (x < 0)
            return false;
        acc = (acc << 6 | (unsigned)x) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == sizeof(hdr) - 1)
                return false;
            hdr[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    hdr[n] = '\0';
    return i < len && n > 2 && hdr[0] == '{' && strstr(hdr, "\"alg\"") != NULL;
}

static bool email(const char *v, size_t len)
{
    const char *at = memchr(v, '@', len), *dot = NULL;
    size_t tld = 0;

    if (!at)
        return false;
    for (const char *p = at + 1; p < v + len; p++)
        if (*p == '.')
            dot = p;
    if (!dot)
        return false;
    for (const char *p = dot + 1; p < v + len; p++, tld++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return false;
    return tld >= 2;
}

/* How many of upper case, lower case and digits value holds. */
static int classes(const char *v, size_t len)
{
    bool up = false, lo = false, dg = false;

    for (size_t i = 0; i < len; i++) {
        up |= v[i] >= 'A' && v[i] <= 'Z';
        lo |= v[i] >= 'a' && v[i] <= 'z';
        dg |= is_digit(v[i]);
    }
    return up + lo + dg;
}

static bool ieq(const char *v, size_t len, const char *word)
{
    size_t n = strlen(word);

    if (len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i] >= 'A' && v[i] <= 'Z' ? (char)(v[i] + ('a' - 'A')) : v[i];

        if (c != word[i])
            return false;
    }
    return true;
}

/* Values that stand in for a secret rather than being one, or say whether one was used
 * (MySQL: "using password: YES"). */
static bool not_placeholder(const char *v, size_t len)
{
    static const char *const words[] = {"null",  "none",     "nil",    "true",   "false",
                                        "empty", "redacted", "hidden", "masked", "undefined",
                                        "yes",   "no",       "on",     "off"};
    bool all_mask = true;

    for (size_t i = 0; i < len; i++)
        all_mask &= v[i] == '*' || v[i] == 'x' || v[i] == 'X' || v[i] == '.' || v[i] == '#';
    if (all_mask || v[0] == '<' || (v[0] == '$' && len > 1 && (v[1] == '{' || v[1] == '(')) ||
        (len > 3 && v[0] == '{' && v[1] == '{'))
        return false;
    /* Prose punctuation after the word: "(using password: NO)". */
    if (len > 1 && (v[len - 1] == ')' || v[len - 1] == '.' || v[len - 1] == ']'))
        len--;
    for (size_t i = 0; i < HALE_ARRAY_SIZE(words); i++)
        if (ieq(v, len, words[i]))
            return false;
    return true;
}

bool hale__redact_validate(enum redact_validator v, const char *value, size_t len)
{
    switch (v) {
    case REDACT_V_NONE:
        return true;
    case REDACT_V_LUHN:
        return luhn(value, len);
    case REDACT_V_IBAN:
        return iban(value, len);
    case REDACT_V_SSN:
        return ssn(value, len);
    case REDACT_V_IPV4:
        return ip(AF_INET, value, len);
    case REDACT_V_IPV6:
        return ip(AF_INET6, value, len);
    case REDACT_V_PHONE:
        return phone(value, len);
    case REDACT_V_JWT:
        return jwt(value, len);
    case REDACT_V_EMAIL:
        return email(value, len);
    case REDACT_V_MIXED:
        return classes(value, len) >= 2 && not_placeholder(value, len);
    case REDACT_V_RANDOM:
        return classes(value, len) == 3 && not_placeholder(value, len);
    case REDACT_V_NOT_PLACEHOLDER:
        return not_placeholder(value, len);
    }
    return false;
}

double hale__redact_entropy(const char *value, size_t len)
{
    unsigned count[256] = {0};
    double h = 0;

    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        count[(unsigned char)value[i]]++;
    for (unsigned c = 0; c < 256; c++) {
        if (count[c]) {
            double p = (double)count[c] / (double)len;

            h -= p * log2(p);
        }
    }
    return h;
}
