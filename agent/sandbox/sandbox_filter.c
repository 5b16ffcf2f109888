/* agent/sandbox/sandbox_filter.c - the last two layers before execve: Landlock (files by
 * path, TCP bind/connect, abstract unix sockets and signals beyond the sandbox) at the
 * newest ABI the kernel offers, and the seccomp deny-list (libseccomp) of docs/sandbox.md. */
#define _GNU_SOURCE /* syscall() */
#include "internal.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"

/* Landlock rights by ABI; Debian 12's header stops at ABI 2, so they are spelled here. */
#define LL_EXECUTE    (1ULL << 0)
#define LL_WRITE_FILE (1ULL << 1)
#define LL_READ_FILE  (1ULL << 2)
#define LL_READ_DIR   (1ULL << 3)
#define LL_FS_ABI1    ((1ULL << 13) - 1) /* ... through MAKE_SYM */
#define LL_REFER      (1ULL << 13)       /* ABI 2 */
#define LL_TRUNCATE   (1ULL << 14)       /* ABI 3 */
#define LL_IOCTL_DEV  (1ULL << 15)       /* ABI 5 */
#define LL_NET_TCP    3ULL               /* ABI 4: BIND_TCP | CONNECT_TCP */
#define LL_CONNECT    2ULL               /* ABI 4: CONNECT_TCP */
#define LL_RULE_PORT  2                  /* LANDLOCK_RULE_NET_PORT */
#define LL_SCOPE_ALL  3ULL               /* ABI 6: ABSTRACT_UNIX_SOCKET | SIGNAL */
#define LL_SCOPE_UNIX 1ULL               /* ABI 6: ABSTRACT_UNIX_SOCKET */

#define LL_READ  (LL_READ_FILE | LL_READ_DIR)
#define LL_RX    (LL_READ | LL_EXECUTE)
#define LL_RW_NX (LL_FS_ABI1 & ~LL_EXECUTE) /* everything on files and dirs but running them */

/* struct landlock_ruleset_attr as of ABI 6; older kernels get a prefix of it. */
/* struct landlock_net_port_attr, ABI 4 (the kernel's is packed to 16 bytes too). */
struct ll_port {
    uint64_t allowed_access;
    uint64_t port;
};

struct ll_ruleset {
    uint64_t fs;     /* handled_access_fs */
    uint64_t net;    /* handled_access_net, ABI 4 */
    uint64_t scoped; /* scoped, ABI 6 */
};

int hale_sandbox_landlock_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

    return abi < 0 ? 0 : (int)abi;
}

static int add_path(int rs, const char *path, uint64_t access, uint64_t handled)
{
    struct landlock_path_beneath_attr pb = {0};
    struct stat st;
    int fd, r = 0;

    fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) /* files take file rights only */
        access &= LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV;
    pb.allowed_access = access & handled;
    pb.parent_fd = fd;
    if (pb.allowed_access &&
        syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
        r = -errno;
    close(fd);
    return r;
}

int hale__sandbox_landlock(const struct hale__sandbox_opts *o)
{
    struct ll_ruleset ra = {.fs = LL_FS_ABI1};
    size_t size = sizeof(ra.fs);
    uint64_t rw;
    int abi = hale_sandbox_landlock_abi(), rs, r = 0;

    if (abi < 1)
        return 0;
    if (abi >= 2)
        ra.fs |= LL_REFER;
    if (abi >= 3)
        ra.fs |= LL_TRUNCATE;
    if (abi >= 4) {
        ra.net = LL_NET_TCP; /* handled with no rule: no TCP bind or connect at all */
        size = 2 * sizeof(uint64_t);
    }
    if (abi >= 5)
        ra.fs |= LL_IOCTL_DEV;
    if (abi >= 6) {
        /* With the host's pid view, signals to host processes are the point (what reaches
         * them is then the uid's and CAP_KILL's business); ptrace stays confined to the
         * sandbox at every ABI. */
        ra.scoped = o->host_pid ? LL_SCOPE_UNIX : LL_SCOPE_ALL;
        size = sizeof(ra);
    }
    rw = (LL_RW_NX | LL_REFER | LL_TRUNCATE);
    rs = (int)syscall(SYS_landlock_create_ruleset, &ra, size, 0);
    if (rs < 0)
        return -errno;
    /* The view built by sandbox_mount.c; rules on absent paths are skipped. */
    if ((r = add_path(rs, "/", LL_READ_DIR, ra.fs)) < 0 ||
        (r = add_path(rs, "/usr", LL_RX, ra.fs)) < 0 ||
        (r = add_path(rs, "/etc", LL_READ, ra.fs)) < 0 ||
        (r = add_path(rs, "/proc", LL_READ, ra.fs)) < 0 ||
        (r = add_path(rs, "/dev", LL_READ | LL_WRITE_FILE | LL_TRUNCATE, ra.fs)) < 0 ||
        (r = add_path(rs, "/tmp", rw, ra.fs)) < 0)
        goto out;
    for (unsigned i = 0; i < o->n_ro; i++)
        if ((r = add_path(rs, o->ro[i], LL_RX, ra.fs)) < 0)
            goto out;
    for (unsigned i = 0; i < o->n_rw; i++)
        if ((r = add_path(rs, o->rw[i], rw, ra.fs)) < 0)
            goto out;
    /* TCP connect to the declared ports only (binding stays refused); which addresses is
     * the network namespace's part. */
    for (unsigned i = 0; abi >= 4 && i < o->n_dest; i++) {
        struct ll_port np = {.allowed_access = LL_CONNECT, .port = o->dest[i].port};

        if (syscall(SYS_landlock_add_rule, rs, LL_RULE_PORT, &np, 0) < 0) {
            r = -errno;
            goto out;
        }
    }
    if (syscall(SYS_landlock_restrict_self, rs, 0) < 0)
        r = -errno;
out:
    close(rs);
    return r < 0 ? r : abi;
}

#define ARG_EQ(n, v)                                                                               \
    {                                                                                              \
        .arg = (n), .op = SCMP_CMP_EQ, .datum_a = (v), .datum_b = 0                                \
    }
#define ARG_MASKED(n, mask, v)                                                                     \
    {                                                                                              \
        .arg = (n), .op = SCMP_CMP_MASKED_EQ, .datum_a = (mask), .datum_b = (v)                    \
    }
#define ARG_GT(n, v)                                                                               \
    {                                                                                              \
        .arg = (n), .op = SCMP_CMP_GT, .datum_a = (v), .datum_b = 0                                \
    }

/* Refused outright with EPERM. */
static const char *const denied[] = {"ptrace",
                                     "process_vm_readv",
                                     "process_vm_writev",
                                     "mount",
                                     "umount",
                                     "umount2",
                                     "pivot_root",
                                     "chroot",
                                     "unshare",
                                     "setns",
                                     "fsopen",
                                     "fsconfig",
                                     "fsmount",
                                     "fspick",
                                     "move_mount",
                                     "open_tree",
                                     "mount_setattr",
                                     "keyctl",
                                     "add_key",
                                     "request_key",
                                     "bpf",
                                     "perf_event_open",
                                     "userfaultfd",
                                     "io_uring_setup",
                                     "io_uring_enter",
                                     "io_uring_register",
                                     "kexec_load",
                                     "kexec_file_load",
                                     "init_module",
                                     "finit_module",
                                     "delete_module",
                                     "open_by_handle_at",
                                     "name_to_handle_at",
                                     "swapon",
                                     "swapoff",
                                     "reboot",
                                     "settimeofday",
                                     "clock_settime",
                                     "clock_adjtime",
                                     "adjtimex",
                                     "acct",
                                     "quotactl",
                                     "quotactl_fd",
                                     "sethostname",
                                     "setdomainname",
                                     "modify_ldt",
                                     "fanotify_init",
                                     "syslog",
                                     "vhangup",
                                     "iopl",
                                     "ioperm",
                                     "uselib",
                                     "landlock_create_ruleset",
                                     "lookup_dcookie",
                                     "nfsservctl",
                                     "vm86",
                                     "vm86old",
                                     "pidfd_getfd"};

static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
                const struct scmp_arg_cmp *args)
{
    int nr = seccomp_syscall_resolve_name(name);

    if (nr == __NR_SCMP_ERROR)
        return 0; /* not on this architecture */
    return seccomp_rule_add_array(ctx, action, nr, n, args);
}

static int add_arg_rules(scmp_filter_ctx ctx)
{
    static const uint64_t ns_flags[] = {CLONE_NEWNS,
                                        CLONE_NEWUTS,
                                        CLONE_NEWIPC,
                                        CLONE_NEWUSER,
                                        CLONE_NEWPID,
                                        CLONE_NEWNET,
                                        0x02000000 /* NEWCGROUP */,
                                        0x00000080 /* NEWTIME */};
    /* Dangerous personality bits: READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO,
     * ADDR_COMPAT_LAYOUT, ADDR_LIMIT_3GB, ADDR_LIMIT_32BIT. */
    static const uint64_t persona[] = {0x0400000, 0x0040000, 0x0100000,
                                       0x0200000, 0x8000000, 0x0800000};
    const uint32_t eperm = SCMP_ACT_ERRNO(EPERM), eaf = SCMP_ACT_ERRNO(EAFNOSUPPORT);
    int r = 0;

    for (size_t i = 0; i < HALE_ARRAY_SIZE(ns_flags) && r == 0; i++) {
        struct scmp_arg_cmp a[] = {ARG_MASKED(0, ns_flags[i], ns_flags[i])};

        r = rule(ctx, eperm, "clone", 1, a);
    }
    for (size_t i = 0; i < HALE_ARRAY_SIZE(persona) && r == 0; i++) {
        struct scmp_arg_cmp a[] = {ARG_MASKED(0, persona[i], persona[i])};

        r = rule(ctx, eperm, "personality", 1, a);
    }
    /* TIOCSTI pushes input into a terminal; TIOCLINUX reads and writes the console. */
    for (size_t i = 0; i < 2 && r == 0; i++) {
        struct scmp_arg_cmp a[] = {ARG_MASKED(1, 0xffffffffu, i ? 0x541Cu : 0x5412u)};

        r = rule(ctx, eperm, "ioctl", 1, a);
    }
    /* Sockets of AF_UNIX (1), AF_INET (2) and AF_INET6 (10) only: netlink, packet, ... no. */
    for (uint64_t fam = 0; fam < 10 && r == 0; fam++) {
        struct scmp_arg_cmp a[] = {ARG_EQ(0, fam)};

        if (fam != AF_UNIX && fam != AF_INET)
            r = rule(ctx, eaf, "socket", 1, a);
    }
    if (r == 0) {
        struct scmp_arg_cmp a[] = {ARG_GT(0, AF_INET6)};

        r = rule(ctx, eaf, "socket", 1, a);
    }
    /* clone3's flags sit behind a pointer seccomp cannot read: ENOSYS makes the C library
     * fall back to clone, which the rules above see. */
    if (r == 0)
        r = rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
    return r;
}

int hale__sandbox_seccomp(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int r = 0;

    if (!ctx)
        return -ENOMEM;
    /* x32 system calls reach the kernel under the x86_64 audit arch: cover them too. Any
     * other foreign architecture (i386 through int 0x80) is killed by libseccomp's default. */
    if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
        r = seccomp_arch_add(ctx, SCMP_ARCH_X32);
        if (r == -EEXIST)
            r = 0;
    }
    for (size_t i = 0; i < HALE_ARRAY_SIZE(denied) && r == 0; i++)
        r = rule(ctx, SCMP_ACT_ERRNO(EPERM), denied[i], 0, NULL);
    if (r == 0)
        r = add_arg_rules(ctx);
    if (r == 0)
        r = seccomp_load(ctx);
    seccomp_release(ctx);
    return r;
}
