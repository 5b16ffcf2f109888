/* tests/fakes/fake_supervisor.h - stand-ins for the supervisors restart_service and
 * service_status talk to, run as a forked child of the test, each keeping one `sleep 3600`
 * service process alive:
 *   - runit mode: the runsv protocol of DIR/NAME/supervise: an exclusive lock on
 *     supervise/lock, the control FIFO (u: want up and start, d: want down and SIGTERM,
 *     t: SIGTERM, x: exit), the ok FIFO held open for reading, and supervise/pid, stat and the
 *     20-byte status (TAI64N, pid little-endian, paused, want, term, state), each replaced
 *     atomically as runsv does;
 *   - pidfile mode: DIR/NAME.pid (mode 0644, replaced atomically), the service restarted
 *     whenever it exits.
 * Both die with the test (PR_SET_PDEATHSIG), and so does the service with its supervisor.
 * Not thread-safe: start and stop from the test's thread, before any other thread runs. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

typedef enum fake_sv_mode {
    FAKE_SV_RUNIT = 0,
    FAKE_SV_PIDFILE,
} fake_sv_mode;

typedef struct fake_sv fake_sv;

/* Start a supervisor for service name under dir (which must exist) and wait until its first
 * service process runs. Returns 0 or -errno (-ETIMEDOUT). */
int fake_sv_start(const char *dir, const char *name, fake_sv_mode mode, fake_sv **ret);

/* The service's current pid as the supervisor published it, waiting up to timeout_ms for one
 * different from not_pid (0: any). Returns the pid, or -ETIMEDOUT. */
pid_t fake_sv_pid(const fake_sv *s, pid_t not_pid, unsigned timeout_ms);

/* How many times the supervisor has started the service (1 after start). */
unsigned fake_sv_starts(const fake_sv *s);

/* Stop the supervisor and its service (SIGTERM, then SIGKILL) and reap it; NULL is a no-op. */
void fake_sv_stop(fake_sv *s);
