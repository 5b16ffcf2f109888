/* agent/util/lockfile.c - exclusive advisory lock files (one daemon per data_dir). */
#include "internal.h"

#include <fcntl.h>
#include <unistd.h>

#include "util/lockfile.h"

int hale_lockfile_acquire(const char *path, int *ret_fd, pid_t *reterr_holder)
{
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    char pid[32];
    int fd, n, r;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    if (fcntl(fd, F_SETLK, &lk) < 0) {
        r = errno == EACCES || errno == EAGAIN ? -EBUSY : -errno;
        if (r == -EBUSY && reterr_holder) {
            struct flock probe = {.l_type = F_WRLCK, .l_whence = SEEK_SET};

            *reterr_holder =
                fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK ? probe.l_pid : 0;
        }
        close(fd);
        return r;
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        r = -errno;
        close(fd);
        return r ? r : -EIO;
    }
    *ret_fd = fd;
    return 0;
}

int hale_lockfile_holder(const char *path, pid_t *ret_pid)
{
    struct flock probe = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int r;

    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    /* F_GETLK reports a conflicting lock without taking one: a daemon starting right now is
     * never refused because of this look. */
    r = fcntl(fd, F_GETLK, &probe);
    close(fd);
    if (r < 0)
        return -errno;
    if (probe.l_type == F_UNLCK)
        return 0;
    *ret_pid = probe.l_pid;
    return 1;
}
