/* agent/policy/policy_tz.c - time zones for policy windows: TZif files (RFC 8536) read from
 * the system zoneinfo at load, and the POSIX TZ footer for times after the last transition.
 * Parsing the file ourselves keeps evaluation pure and thread-safe: switching TZ and calling
 * tzset/localtime_r would change process-wide state under every other thread's feet. */
#include "internal.h"

#include <fcntl.h>
#include <unistd.h>

#include "policy/policy_int.h"

#define TZ_MAX_FILE (1u << 20)
#define TZ_HEADER   44u

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

static int64_t year_of_day(int64_t z)
{
    int64_t era, doe, yoe, y, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    return y + (mp >= 10);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Unix seconds at which rule r fires in year y, given the offset in effect before it. */
static int64_t rule_time(const struct tz_rule *r, int64_t y, int32_t off_before)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t day;

    if (r->kind == 'J') {
        day = days_from_civil(y, 1, 1) + r->day - 1 + (is_leap(y) && r->day >= 60);
    } else if (r->kind == 'D') {
        day = days_from_civil(y, 1, 1) + r->day;
    } else {
        int64_t first = days_from_civil(y, r->month, 1);
        int wday_first = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
        int len = mdays[r->month - 1] + (r->month == 2 && is_leap(y));
        int dom = 1 + (r->day - wday_first + 7) % 7 + (r->week - 1) * 7;

        while (dom > len)
            dom -= 7;
        day = first + dom - 1;
    }
    return day * 86400 + r->secs - off_before;
}

static int32_t footer_offset(const struct tz_zone *z, int64_t t)
{
    int64_t y, start, end;

    if (!z->has_dst)
        return z->std_off;
    y = year_of_day(floor_div(t + z->std_off, 86400));
    start = rule_time(&z->dst_start, y, z->std_off);
    end = rule_time(&z->dst_end, y, z->dst_off);
    if (start < end)
        return t >= start && t < end ? z->dst_off : z->std_off;
    return t >= end && t < start ? z->std_off : z->dst_off; /* southern hemisphere */
}

int32_t hale__policy_zone_offset(const struct tz_zone *z, int64_t t)
{
    size_t lo = 0, hi;

    if (!z)
        return 0;
    if (z->n_trans == 0 || t < z->trans[0])
        return z->n_trans == 0 && z->has_footer ? footer_offset(z, t) : z->first_off;
    if (t >= z->trans[z->n_trans - 1] && z->has_footer)
        return footer_offset(z, t);
    hi = z->n_trans; /* invariant: trans[lo] <= t < trans[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;

        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->utoff[z->trans_idx[lo]];
}

/* [+-]hh[:mm[:ss]] into seconds; advances *s. Returns 0 or -EINVAL. */
static int posix_time(const char **s, int max_hours, int32_t *ret)
{
    const char *p = *s;
    int sign = 1, part[3] = {0, 0, 0}, n = 0;

    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    for (n = 0; n < 3; n++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        while (*p >= '0' && *p <= '9' && part[n] <= 1000)
            part[n] = part[n] * 10 + (*p++ - '0');
        if (*p != ':' || n == 2)
            break;
        p++;
    }
    if (part[0] > max_hours || part[1] > 59 || part[2] > 59)
        return -EINVAL;
    *ret = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
    *s = p;
    return 0;
}

static int posix_name(const char **s)
{
    const char *p = *s;

    if (*p == '<') {
        while (*p && *p != '>')
            p++;
        if (*p != '>')
            return -EINVAL;
        *s = p + 1;
        return 0;
    }
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    if (p - *s < 3)
        return -EINVAL;
    *s = p;
    return 0;
}

static int posix_num(const char **s, int lo, int hi, int *ret)
{
    int v = 0;

    if (**s < '0' || **s > '9')
        return -EINVAL;
    while (**s >= '0' && **s <= '9' && v <= hi)
        v = v * 10 + (*(*s)++ - '0');
    if (v < lo || v > hi)
        return -EINVAL;
    *ret = v;
    return 0;
}

static int posix_rule(const char **s, struct tz_rule *r)
{
    int r1 = 0;

    r->secs = 7200;
    if (**s == 'M') {
        (*s)++;
        r->kind = 'M';
        r1 = posix_num(s, 1, 12, &r->month);
        if (r1 == 0 && *(*s)++ != '.')
            r1 = -EINVAL;
        if (r1 == 0)
            r1 = posix_num(s, 1, 5, &r->week);
        if (r1 == 0 && *(*s)++ != '.')
            r1 = -EINVAL;
        if (r1 == 0)
            r1 = posix_num(s, 0, 6, &r->day);
    } else if (**s == 'J') {
        (*s)++;
        r->kind = 'J';
        r1 = posix_num(s, 1, 365, &r->day);
    } else {
        r->kind = 'D';
        r1 = posix_num(s, 0, 365, &r->day);
    }
    if (r1 == 0 && **s == '/') {
        (*s)++;
        r1 = posix_time(s, 167, &r->secs);
    }
    return r1;
}

/* "CET-1CEST,M3.5.0,M10.5.0/3": offsets are west of UT in POSIX, east in struct tz_zone. */
static int posix_tz(const char *s, struct tz_zone *z)
{
    int32_t off;

    if (*s == '\0')
        return 0; /* empty footer: no rule beyond the table */
    if (posix_name(&s) < 0 || posix_time(&s, 24, &off) < 0)
        return -EINVAL;
    z->std_off = -off;
    z->dst_off = z->std_off + 3600;
    if (*s) {
        if (posix_name(&s) < 0)
            return -EINVAL;
        if (*s != ',') {
            if (posix_time(&s, 24, &off) < 0)
                return -EINVAL;
            z->dst_off = -off;
        }
        if (*s++ != ',' || posix_rule(&s, &z->dst_start) < 0 || *s++ != ',' ||
            posix_rule(&s, &z->dst_end) < 0)
            return -EINVAL;
        z->has_dst = true;
    }
    if (*s)
        return -EINVAL;
    z->has_footer = true;
    return 0;
}

static int parse_v2_block(struct tz_zone *z, const unsigned char *d, size_t len, size_t *pos)
{
    uint32_t isut, isstd, leap, timecnt, typecnt, charcnt;
    const unsigned char *h = d + *pos, *b;
    size_t need;

    if (len - *pos < TZ_HEADER || memcmp(h, "TZif", 4) != 0)
        return -EINVAL;
    isut = be32(h + 20), isstd = be32(h + 24), leap = be32(h + 28);
    timecnt = be32(h + 32), typecnt = be32(h + 36), charcnt = be32(h + 40);
    if (typecnt == 0 || typecnt > 256 || timecnt > 100000 || leap > 10000 || charcnt > 10000 ||
        isut > typecnt || isstd > typecnt)
        return -EINVAL;
    need = (size_t)timecnt * 9 + (size_t)typecnt * 6 + charcnt + (size_t)leap * 12 + isstd + isut;
    if (len - *pos - TZ_HEADER < need)
        return -EINVAL;
    b = h + TZ_HEADER;
    z->trans = calloc(timecnt ? timecnt : 1, sizeof(*z->trans));
    z->trans_idx = calloc(timecnt ? timecnt : 1, 1);
    z->utoff = calloc(typecnt, sizeof(*z->utoff));
    if (!z->trans || !z->trans_idx || !z->utoff)
        return -ENOMEM;
    for (uint32_t i = 0; i < timecnt; i++) {
        z->trans[i] = be64(b + 8 * i);
        z->trans_idx[i] = b[8 * timecnt + i];
        if (z->trans_idx[i] >= typecnt || (i > 0 && z->trans[i] <= z->trans[i - 1]))
            return -EINVAL;
    }
    b += 9 * (size_t)timecnt;
    for (uint32_t i = 0; i < typecnt; i++) {
        z->utoff[i] = (int32_t)be32(b + 6 * i);
        if (z->utoff[i] <= -25 * 3600 || z->utoff[i] >= 26 * 3600)
            return -EINVAL;
    }
    z->n_trans = timecnt;
    z->n_types = typecnt;
    z->first_off = z->utoff[0];
    *pos += TZ_HEADER + need;
    return 0;
}

int hale__policy_zone_parse(const char *name, const unsigned char *d, size_t len,
                            struct tz_zone **ret, hale_diag *reterr)
{
    struct tz_zone *z;
    size_t pos = TZ_HEADER, v1;
    char footer[128];
    const unsigned char *nl;
    int r = -EINVAL;

    if (len < TZ_HEADER || memcmp(d, "TZif", 4) != 0 || d[4] < '2') {
        hale_diag_set(reterr, "time zone '%s': not a TZif file of version 2 or later", name);
        return HALE_ESCHEMA;
    }
    v1 = (size_t)be32(d + 32) * 5 + (size_t)be32(d + 36) * 6 + be32(d + 40) +
         (size_t)be32(d + 28) * 8 + be32(d + 24) + be32(d + 20);
    z = calloc(1, sizeof(*z));
    if (!z || !(z->name = strdup(name))) {
        free(z);
        return -ENOMEM;
    }
    if (v1 <= len - TZ_HEADER) {
        pos += v1;
        r = parse_v2_block(z, d, len, &pos);
    }
    if (r == 0 && (pos >= len || d[pos] != '\n'))
        r = -EINVAL;
    if (r == 0) {
        nl = memchr(d + pos + 1, '\n', len - pos - 1);
        if (!nl || (size_t)(nl - (d + pos + 1)) >= sizeof(footer))
            r = -EINVAL;
        else {
            memcpy(footer, d + pos + 1, (size_t)(nl - (d + pos + 1)));
            footer[nl - (d + pos + 1)] = '\0';
            r = posix_tz(footer, z);
        }
    }
    if (r < 0) {
        hale__policy_zone_free(z);
        if (r == -EINVAL)
            hale_diag_set(reterr, "time zone '%s': malformed TZif data", name);
        return r == -EINVAL ? HALE_ESCHEMA : r;
    }
    *ret = z;
    return 0;
}

static bool zone_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 64 || name[0] == '/' || strstr(name, ".."))
        return false;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/") == n;
}

int hale__policy_zone_load(const char *name, struct tz_zone **ret, hale_diag *reterr)
{
    const char *dir = getenv("TZDIR");
    unsigned char *data = NULL;
    char path[512];
    size_t len = 0;
    ssize_t n;
    int fd, r;

    if (!zone_name_ok(name)) {
        hale_diag_set(reterr, "'%s' is not an IANA time zone name", name);
        return HALE_ESCHEMA;
    }
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        hale_diag_set(reterr, "unknown time zone '%s' (%s: %s)", name, path, strerror(errno));
        return HALE_ESCHEMA;
    }
    data = malloc(TZ_MAX_FILE);
    if (!data) {
        close(fd);
        return -ENOMEM;
    }
    while (len < TZ_MAX_FILE && (n = read(fd, data + len, TZ_MAX_FILE - len)) > 0)
        len += (size_t)n;
    close(fd);
    r = hale__policy_zone_parse(name, data, len, ret, reterr);
    free(data);
    return r;
}

void hale__policy_zone_free(struct tz_zone *z)
{
    if (!z)
        return;
    free(z->name);
    free(z->trans);
    free(z->trans_idx);
    free(z->utoff);
    free(z);
}

static bool weekly_active(const struct weekly *w, int wday, int min)
{
    int prev = (wday + 6) % 7;

    if (w->start_min < w->end_min)
        return (w->days >> wday & 1) && min >= w->start_min && min < w->end_min;
    return ((w->days >> wday & 1) && min >= w->start_min) ||
           ((w->days >> prev & 1) && min < w->end_min);
}

bool hale__policy_window_active(const struct window *w, int64_t now_ms)
{
    int64_t s, local, day;
    int wday, min;

    for (size_t i = 0; i < w->n_ranges; i++)
        if (now_ms >= w->ranges[i][0] && now_ms < w->ranges[i][1])
            return true;
    if (w->n_weekly == 0)
        return false;
    s = floor_div(now_ms, 1000);
    local = s + hale__policy_zone_offset(w->zone, s);
    day = floor_div(local, 86400);
    wday = (int)(((day + 4) % 7 + 7) % 7);
    min = (int)((local - day * 86400) / 60);
    for (size_t i = 0; i < w->n_weekly; i++)
        if (weekly_active(&w->weekly[i], wday, min))
            return true;
    return false;
}
