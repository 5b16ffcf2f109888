/* agent/sandbox/sandbox_mount.c - the file system view of a sandboxed tool, built in the
 * child's private mount namespace: a tmpfs root holding read-only binds of /usr and the
 * merged-/usr links, a few named /etc entries (never shadow or sudoers), a /dev of five
 * character devices, a fresh /proc, a size-capped /tmp and the declared binds; then
 * pivot_root, the old root detached, and the root made read-only. */
#define _GNU_SOURCE /* pivot_root via syscall(), O_PATH */
#include "internal.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"

#define STAGE "/tmp" /* mount point of the new root, inside our private namespace only */

/* Host entries bound read-only at the same place; absent ones are skipped. */
static const char *const system_paths[] = {
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
    /* What dynamic linking, name lookup and TLS need, and nothing with secrets. */
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
    "/etc/localtime", "/etc/hosts", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/ssl",
    "/etc/ca-certificates", "/etc/mime.types"};
static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom"};

/* mkdir -p of path below STAGE (path absolute). */
static int mkdirs(const char *path, bool last_is_file)
{
    char p[4096];
    size_t n = strlen(STAGE);

    if (n + strlen(path) >= sizeof(p))
        return -ENAMETOOLONG;
    memcpy(p, STAGE, n);
    memcpy(p + n, path, strlen(path) + 1);
    for (char *s = p + n + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (last_is_file) {
        struct stat st;
        int fd;

        /* Already there (a file of the fresh /proc a writable bind covers): mount over it. */
        if (lstat(p, &st) == 0 && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
            return 0;
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

        if (fd < 0)
            return errno == EEXIST ? 0 : -errno;
        close(fd);
        return 0;
    }
    return mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* Mount flags of the mount holding fd that an unprivileged remount must keep. */
static unsigned long locked_flags(int fd)
{
    struct statvfs sv;
    unsigned long f = 0;

    if (fstatvfs(fd, &sv) < 0)
        return 0;
    if (sv.f_flag & ST_NOEXEC)
        f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME)
        f |= MS_NOATIME;
    return f;
}

/* Bind the host file or directory open at fd (O_PATH) to path below STAGE; consumes fd.
 * extra: MS_RDONLY. */
static int bind_fd(int fd, const char *path, unsigned long extra)
{
    char src[64], dst[4096];
    struct stat st;
    int r;

    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    r = mkdirs(path, !S_ISDIR(st.st_mode));
    if (r < 0)
        goto out;
    snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
    snprintf(dst, sizeof(dst), STAGE "%s", path);
    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0 ||
        mount(NULL, dst, NULL,
              MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | extra | locked_flags(fd), NULL) < 0)
        r = -errno;
out:
    close(fd);
    return r;
}

static int bind_path(const char *path, unsigned long extra)
{
    int fd = open(path, O_PATH | O_CLOEXEC);

    if (fd < 0)
        return errno == ENOENT ? 0 : -errno; /* system entries only: absent is fine */
    return bind_fd(fd, path, extra);
}

/* A symlink on the host (merged /usr: /bin -> usr/bin) is recreated, a directory bound. */
static int system_entry(const char *path)
{
    char target[4096], dst[4096];
    struct stat st;
    ssize_t n;
    int r;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISLNK(st.st_mode))
        return bind_path(path, MS_RDONLY);
    n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
        return -errno;
    target[n] = '\0';
    r = mkdirs(path, true);
    if (r < 0)
        return r;
    snprintf(dst, sizeof(dst), STAGE "%s", path);
    (void)unlink(dst);
    return symlink(target, dst) < 0 ? -errno : 0;
}

static int make_dev(void)
{
    static const char *const links[][2] = {{"fd", "/proc/self/fd"},
                                           {"stdin", "/proc/self/fd/0"},
                                           {"stdout", "/proc/self/fd/1"},
                                           {"stderr", "/proc/self/fd/2"}};
    char src[64], dst[128];

    if (mkdir(STAGE "/dev", 0755) < 0 ||
        mount("tmpfs", STAGE "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755") < 0)
        return -errno;
    for (size_t i = 0; i < HALE_ARRAY_SIZE(dev_nodes); i++) {
        int fd;

        snprintf(src, sizeof(src), "/dev/%s", dev_nodes[i]);
        snprintf(dst, sizeof(dst), STAGE "/dev/%s", dev_nodes[i]);
        fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0)
            return -errno;
        close(fd);
        if (mount(src, dst, NULL, MS_BIND, NULL) < 0 ||
            mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC, NULL) < 0)
            return -errno;
    }
    for (size_t i = 0; i < HALE_ARRAY_SIZE(links); i++) {
        snprintf(dst, sizeof(dst), STAGE "/dev/%s", links[i][0]);
        if (symlink(links[i][1], dst) < 0)
            return -errno;
    }
    return mount(NULL, STAGE "/dev", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
                 "size=64k,mode=0755") < 0
               ? -errno
               : 0;
}

/* A fresh proc shows the pid namespace of the mounter: the tool's own, or with host_pid the
 * host's. A launcher that is not root may not mount the host's (its user namespace does not
 * own that pid namespace): it binds the host's /proc instead, read-only. */
static int make_proc(bool host_pid)
{
    if (mkdir(STAGE "/proc", 0555) < 0)
        return -errno;
    if (mount("proc", STAGE "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
        if (!host_pid || errno != EPERM)
            return -errno;
        if (mount("/proc", STAGE "/proc", NULL, MS_BIND | MS_REC, NULL) < 0 ||
            mount(NULL, STAGE "/proc", NULL,
                  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            return -errno;
    }
    /* Kernel tunables stay readable, never writable, even for a root that slipped through. */
    if (mount(STAGE "/proc/sys", STAGE "/proc/sys", NULL, MS_BIND | MS_REC, NULL) < 0 ||
        mount(NULL, STAGE "/proc/sys", NULL,
              MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        return -errno;
    return 0;
}

static int make_tmp(uint64_t bytes)
{
    char opts[64];

    snprintf(opts, sizeof(opts), "size=%llu,mode=1777", (unsigned long long)bytes);
    if (mkdir(STAGE "/tmp", 01777) < 0 ||
        mount("tmpfs", STAGE "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0)
        return -errno;
    return 0;
}

#define TRY(stage_name, expr)                                                                      \
    do {                                                                                           \
        r = (expr);                                                                                \
        if (r < 0) {                                                                               \
            *ret_stage = (stage_name);                                                             \
            return r;                                                                              \
        }                                                                                          \
    } while (0)

/* Open the declared paths before STAGE covers the host's /tmp, where they may live. */
static int open_declared(const char *const *paths, unsigned n, int *fds)
{
    for (unsigned i = 0; i < n; i++) {
        fds[i] = open(paths[i], O_PATH | O_CLOEXEC);
        if (fds[i] < 0)
            return -errno;
    }
    return 0;
}

int hale__sandbox_mounts(const struct hale__sandbox_opts *o, const char **ret_stage)
{
    int ro[HALE_SANDBOX_MAX_PATHS], rw[HALE_SANDBOX_MAX_PATHS], r;

    TRY("mount-private", mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ? -errno : 0);
    TRY("open-readable", open_declared(o->ro, o->n_ro, ro));
    TRY("open-writable", open_declared(o->rw, o->n_rw, rw));
    TRY("mount-root",
        mount("tmpfs", STAGE, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") < 0 ? -errno : 0);
    for (size_t i = 0; i < HALE_ARRAY_SIZE(system_paths); i++)
        if (!o->n_dest || strcmp(system_paths[i], "/etc/hosts") != 0)
            TRY("mount-system", system_entry(system_paths[i]));
    /* With destinations, a private hosts file names them: no DNS inside. */
    if (o->n_dest)
        TRY("write-hosts", hale__sandbox_write_hosts(o, STAGE));
    TRY("mount-dev", make_dev());
    TRY("mount-proc", make_proc(o->host_pid));
    TRY("mount-tmp", make_tmp(o->tmp_bytes));
    for (unsigned i = 0; i < o->n_ro; i++)
        TRY("mount-readable", bind_fd(ro[i], o->ro[i], MS_RDONLY));
    for (unsigned i = 0; i < o->n_rw; i++)
        TRY("mount-writable", bind_fd(rw[i], o->rw[i], 0));
    /* pivot_root(".", "."): the old root ends up stacked on the new one; detach it. */
    TRY("pivot-root", chdir(STAGE) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
                              umount2(".", MNT_DETACH) < 0 || chdir("/") < 0
                          ? -errno
                          : 0);
    TRY("remount-root",
        mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0
            ? -errno
            : 0);
    return 0;
}
