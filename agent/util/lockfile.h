/* agent/util/lockfile.h - an exclusive, advisory lock on a file (POSIX fcntl record lock),
 * held for as long as the descriptor stays open; the kernel drops it when the process dies,
 * so a crash never leaves a stale lock behind. */
#pragma once
#include <sys/types.h>

/* Create or open path, lock it, and write our pid into it. On success *ret_fd holds the lock
 * (close it to release). Returns 0, -EBUSY when another process holds it (its pid, when
 * known, in *reterr_holder, else 0), or -errno. */
int hale_lockfile_acquire(const char *path, int *ret_fd, pid_t *reterr_holder);

/* Is path locked by another process (without locking it)? Returns 1 with its pid in *ret_pid,
 * 0 when nobody holds it (or it does not exist), or -errno. */
int hale_lockfile_holder(const char *path, pid_t *ret_pid);
