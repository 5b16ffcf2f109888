/* agent/cli/cli_csv.c - the fields of the NAB-format `timestamp,value` CSV files that
 * `hale detect` and `hale forecast` read. */
#include "internal.h"

#include <math.h>

#include "cli/cli.h"
#include "util/timeutil.h"

int hale_cli_csv_time(const char *s, size_t len, int64_t *ret_ms, bool *ret_nab)
{
    char tmp[64];
    bool nab = false;

    if (len == 0 || len >= sizeof(tmp) - 1)
        return -EINVAL;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (len >= 19 && tmp[10] == ' ' && !memchr(tmp + 11, 'Z', len - 11) &&
        !memchr(tmp + 11, '+', len - 11)) {
        tmp[10] = 'T';
        tmp[len] = 'Z';
        tmp[len + 1] = '\0';
        nab = true;
    }
    if (ret_nab)
        *ret_nab = nab;
    return hale_rfc3339_parse(tmp, ret_ms);
}

int hale_cli_csv_value(const char *s, size_t len, double *ret)
{
    char tmp[128], *end;

    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    while (len > 0 && (*s == ' ' || *s == '\t'))
        s++, len--;
    if (len == 0) {
        *ret = NAN;
        return 0;
    }
    if (len >= sizeof(tmp))
        return -EINVAL;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    /* Overflow gives +-HUGE_VAL, which the models treat as missing. */
    *ret = strtod(tmp, &end);
    return end == tmp || *end != '\0' ? -EINVAL : 0;
}
