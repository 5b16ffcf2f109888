/* agent/util/assert.c - the handlers behind HALE_ASSERT and HALE_NEVER (agent/internal.h).
 * An assertion is a programmer error: report it plainly on stderr and abort. */
#include "internal.h"

#include <stdatomic.h>
#include <unistd.h>

#define HALE_LOG_MODULE "assert"
#include "hale/log.h"

/* NEVER hits are logged at most this many times per process so a hot impossible branch
 * cannot flood the log; the first hits carry the information. */
#define NEVER_LOG_MAX 16

_Noreturn void hale__assert_fail(const char *expr, const char *file, int line, const char *func)
{
    char msg[1024];
    int n;

    n = snprintf(msg, sizeof(msg), "assertion failed: %s at %s:%d (%s)\n", expr, file, line, func);
    if (n > 0) {
        size_t len = (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;
        (void)!write(STDERR_FILENO, msg, len);
    }
    abort();
}

bool hale__never(bool cond, const char *expr, const char *file, int line)
{
    static atomic_uint hits;
    unsigned n;

    if (!cond)
        return false;
    n = atomic_fetch_add(&hits, 1u);
    if (n < NEVER_LOG_MAX)
        log_warn("impossible condition '%s' at %s:%d, recovering%s", expr, file, line,
                 n + 1 == NEVER_LOG_MAX ? " (further ones not logged)" : "");
    return true;
}
