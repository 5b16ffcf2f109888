/* agent/internal.h - included first by every .c file under agent/.
 * System headers the whole agent uses, the assertion macros, and banned functions last. */
#pragma once

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hale/err.h"
#include "hale/limits.h"

/* Programmer errors only: logs file:line and aborts. Runtime failures are returned instead. */
#define HALE_ASSERT(cond)                                                                          \
    ((cond) ? (void)0 : hale__assert_fail(#cond, __FILE__, __LINE__, __func__))
#if defined(HALE_DEBUG)
#define HALE_DASSERT(cond) HALE_ASSERT(cond)
#else
#define HALE_DASSERT(cond) ((void)0)
#endif
/* An impossible branch that is recovered anyway (SQLite's NEVER): true when cond holds. */
#define HALE_NEVER(cond) hale__never(!!(cond), #cond, __FILE__, __LINE__)

#define HALE_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

_Noreturn void hale__assert_fail(const char *expr, const char *file, int line, const char *func);
bool hale__never(bool cond, const char *expr, const char *file, int line);

#include "util/banned.h"
