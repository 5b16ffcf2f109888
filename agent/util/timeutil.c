/* agent/util/timeutil.c - wall-clock time and RFC 3339 timestamps in unix ms.
 * Calendar arithmetic is done here (Howard Hinnant's days_from_civil) instead of timegm/mktime,
 * which are not C11 and depend on TZ. */
#include "internal.h"

#include <time.h>

#include "util/timeutil.h"

#define MS_PER_DAY INT64_C(86400000)

int64_t hale_time_now_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Read exactly n digits at *s, advancing it. false when they are not all digits. */
static bool digits(const char **s, unsigned n, unsigned *ret)
{
    unsigned v = 0, i;

    for (i = 0; i < n; i++) {
        char c = (*s)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (unsigned)(c - '0');
    }
    *s += n;
    *ret = v;
    return true;
}

/* The fraction after '.', 1 to 9 digits; *ret_ms gets the whole milliseconds. */
static bool fraction(const char **s, unsigned *ret_ms)
{
    const char *p = *s;
    unsigned n = 0, ms = 0;

    while (*p >= '0' && *p <= '9') {
        if (++n > 9)
            return false;
        if (n <= 3)
            ms = ms * 10 + (unsigned)(*p - '0');
        p++;
    }
    if (n == 0)
        return false;
    for (; n < 3; n++)
        ms *= 10;
    *s = p;
    *ret_ms = ms;
    return true;
}

/* "Z", "z", "+hh:mm" or "-hh:mm" ending the string; *ret_min is the offset east of UTC. */
static bool offset(const char *s, int *ret_min)
{
    unsigned hh, mm;
    int sign;

    if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0') {
        *ret_min = 0;
        return true;
    }
    if (s[0] != '+' && s[0] != '-')
        return false;
    sign = s[0] == '-' ? -1 : 1;
    s++;
    if (!digits(&s, 2, &hh) || *s++ != ':' || !digits(&s, 2, &mm) || *s != '\0')
        return false;
    if (hh > 23 || mm > 59)
        return false;
    *ret_min = sign * (int)(hh * 60 + mm);
    return true;
}

int hale_rfc3339_parse(const char *s, int64_t *ret_ms)
{
    unsigned y, mo, d, h, mi, sec, ms = 0;
    int off_min;
    int64_t days;

    if (!s)
        return -EINVAL;
    if (!digits(&s, 4, &y) || *s++ != '-' || !digits(&s, 2, &mo) || *s++ != '-' ||
        !digits(&s, 2, &d))
        return -EINVAL;
    if (*s != 'T' && *s != 't')
        return -EINVAL;
    s++;
    if (!digits(&s, 2, &h) || *s++ != ':' || !digits(&s, 2, &mi) || *s++ != ':' ||
        !digits(&s, 2, &sec))
        return -EINVAL;
    if (*s == '.') {
        s++;
        if (!fraction(&s, &ms))
            return -EINVAL;
    }
    if (!offset(s, &off_min))
        return -EINVAL;
    /* A leap second (:60) counts as the first second of the next minute. */
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return -EINVAL;
    days = days_from_civil(y, mo, d);
    *ret_ms = days * MS_PER_DAY + (int64_t)((h * 60 + mi) * 60 + sec) * 1000 + ms -
              (int64_t)off_min * 60000;
    return 0;
}

#define RFC3339_MS_LEN 24u /* "YYYY-MM-DDTHH:MM:SS.mmmZ" */

/* v in exactly n decimal digits, zero-padded (v < 10^n). */
static void put_digits(char *out, unsigned v, unsigned n)
{
    while (n-- > 0) {
        out[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

char *hale_rfc3339_format(int64_t unix_ms, char *out, size_t out_size)
{
    int64_t days, rem, y;
    unsigned m, d;

    /* Floor division so that times before 1970 land on the right day. */
    days = unix_ms / MS_PER_DAY;
    rem = unix_ms % MS_PER_DAY;
    if (rem < 0) {
        rem += MS_PER_DAY;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    if (y >= 0 && y <= 9999 && out_size >= RFC3339_MS_LEN + 1) {
        /* The common case without printf: the commit job formats two per alert. */
        put_digits(out, (unsigned)y, 4);
        out[4] = '-';
        put_digits(out + 5, m, 2);
        out[7] = '-';
        put_digits(out + 8, d, 2);
        out[10] = 'T';
        put_digits(out + 11, (unsigned)(rem / 3600000), 2);
        out[13] = ':';
        put_digits(out + 14, (unsigned)(rem / 60000 % 60), 2);
        out[16] = ':';
        put_digits(out + 17, (unsigned)(rem / 1000 % 60), 2);
        out[19] = '.';
        put_digits(out + 20, (unsigned)(rem % 1000), 3);
        out[23] = 'Z';
        out[24] = '\0';
        return out;
    }
    (void)snprintf(out, out_size, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y, m, d,
                   (unsigned)(rem / 3600000), (unsigned)(rem / 60000 % 60),
                   (unsigned)(rem / 1000 % 60), (unsigned)(rem % 1000));
    return out;
}
