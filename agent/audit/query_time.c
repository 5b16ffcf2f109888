/* agent/audit/query_time.c - the times of audit queries: --since/--until as RFC 3339 or as a
 * duration back from now, and leaf times printed as RFC 3339 with nanoseconds. */
#include "internal.h"

#include "hale/audit_query.h"
#include "util/strparse.h"
#include "util/timeutil.h"

int hale_audit_time_parse(const char *text, int64_t now_ns, int64_t *ret_ns, hale_diag *reterr)
{
    static const struct {
        char unit;    /* suffix */
        int64_t secs; /* seconds per unit */
    } units[] = {{'d', 86400}, {'w', 7 * 86400}};
    size_t len = text ? strlen(text) : 0;
    uint64_t n, ms;
    int64_t ms_signed;
    char num[32];

    if (len > 0 && len < sizeof(num)) {
        for (size_t i = 0; i < HALE_ARRAY_SIZE(units); i++) {
            if (text[len - 1] != units[i].unit)
                continue;
            memcpy(num, text, len - 1);
            num[len - 1] = '\0';
            if (hale_parse_u64(num, &n) < 0)
                break;
            if (n > (uint64_t)(INT64_MAX / 1000000000 / units[i].secs))
                return -ERANGE;
            *ret_ns = now_ns - (int64_t)n * units[i].secs * 1000000000;
            return 0;
        }
        if (hale_parse_ms(text, &ms) == 0) {
            if (ms > (uint64_t)(INT64_MAX / 1000000))
                return -ERANGE;
            *ret_ns = now_ns - (int64_t)ms * 1000000;
            return 0;
        }
        if (hale_rfc3339_parse(text, &ms_signed) == 0) {
            if (ms_signed <= 0 || ms_signed > INT64_MAX / 1000000) {
                hale_diag_set(reterr, "time '%s' is before 1970 or too far ahead", text);
                return -ERANGE;
            }
            *ret_ns = ms_signed * 1000000;
            return 0;
        }
    }
    hale_diag_set(reterr,
                  "expected an RFC 3339 time (2026-11-22T13:08:22Z) or a duration back from now "
                  "(30m, 24h, 7d), got '%.64s'",
                  text ? text : "");
    return -EINVAL;
}

char *hale_audit_time_format(int64_t ts_ns, char *out, size_t out_size)
{
    int64_t ms = ts_ns / 1000000, sub = ts_ns % 1000000;
    char *z;

    if (sub < 0) { /* floor division: times before 1970 */
        sub += 1000000;
        ms--;
    }
    hale_rfc3339_format(ms, out, out_size);
    z = strchr(out, 'Z');
    if (z && (size_t)(z - out) + 8 <= out_size)
        (void)snprintf(z, out_size - (size_t)(z - out), "%06lldZ", (long long)sub);
    return out;
}
