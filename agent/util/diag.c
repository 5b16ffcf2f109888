/* agent/util/diag.c - failure details for parsers and loaders (include/hale/diag.h).
 * Plain fixed-size text: filling a diag never allocates and never fails. */
#include "internal.h"

#include <stdarg.h>

#include "hale/diag.h"

void hale_diag_set(hale_diag *d, const char *fmt, ...)
{
    va_list ap;

    if (!d)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
    va_end(ap);
}

/* Truncation is intended here, so the text is moved by hand rather than with snprintf. */
void hale_diag_prefix(hale_diag *d, const char *prefix)
{
    size_t size = sizeof(d->msg), plen, mlen, shift;

    if (!d)
        return;
    d->msg[size - 1] = '\0';
    plen = strlen(prefix);
    if (plen > size - 3)
        plen = size - 3;
    shift = plen + 2;
    mlen = strlen(d->msg);
    if (mlen > size - 1 - shift)
        mlen = size - 1 - shift;
    memmove(d->msg + shift, d->msg, mlen);
    d->msg[shift + mlen] = '\0';
    memcpy(d->msg, prefix, plen);
    memcpy(d->msg + plen, ": ", 2);
}
