/* include/hale/diag.h - failure details for parsers and loaders (file:line: key: reason).
 * Filled only on failure, by the function that fails; the caller decides whether to log it. */
#pragma once

struct hale_diag {
    char msg[512]; /* "where: what was wrong and what was expected", NUL-terminated */
};
typedef struct hale_diag hale_diag;

/* Write a printf-style message into d (NULL d is a no-op). Truncates at sizeof(d->msg). */
void hale_diag_set(hale_diag *d, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prefix the message already in d with "prefix: " (NULL d is a no-op). */
void hale_diag_prefix(hale_diag *d, const char *prefix);
