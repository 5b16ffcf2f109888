/* agent/http/http_status.c - reason phrases, from the parser library's own status table so
 * that hale keeps no second copy of it. */
#include "internal.h"

#include <http_parser.h>

#include "hale/http.h"

const char *hale_http_status_text(int status)
{
    const char *s;

    /* http_status_str() knows 100..511; keep other values out of the enum's range. */
    if (status < 100 || status > 599)
        return "Unknown";
    s = http_status_str((enum http_status)status);
    return strcmp(s, "<unknown>") == 0 ? "Unknown" : s;
}
