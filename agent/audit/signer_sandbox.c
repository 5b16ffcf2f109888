/* agent/audit/signer_sandbox.c - what the signer child does to itself before it serves: ignore
 * the signals aimed at the daemon, refuse ptrace and core dumps, close inherited descriptors,
 * confine file access to data_dir (Landlock, where the kernel has it) and install a seccomp
 * allowlist of the few system calls serving needs (libseccomp). */
#define _DEFAULT_SOURCE /* syscall(), for Landlock, which the C library does not wrap */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "audit/signer_int.h"
#include "util/strparse.h"

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000 /* Linux: fstatat() on the descriptor itself */
#endif

int hale__signer_harden(void)
{
    static const int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT};
    struct sigaction sa = {.sa_handler = SIG_IGN};
    struct rlimit no_core = {0, 0};

    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < HALE_ARRAY_SIZE(ignored); i++)
        if (sigaction(ignored[i], &sa, NULL) < 0)
            return -errno;
    if (setrlimit(RLIMIT_CORE, &no_core) < 0)
        return -errno;
    /* Not dumpable: no core file, and processes of the same user can neither ptrace it nor
     * read its /proc/PID/mem, where the secret lives. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return -errno;
    return 0;
}

static bool is_kept(int fd, const int *keep, size_t n_keep)
{
    if (fd <= 2)
        return true;
    for (size_t i = 0; i < n_keep; i++)
        if (keep[i] == fd)
            return true;
    return false;
}

int hale__signer_close_fds(const int *keep, size_t n_keep)
{
    int fds[1024], n = 0, own;
    struct dirent *e;
    DIR *d;

    d = opendir("/proc/self/fd");
    if (!d)
        return -errno;
    own = dirfd(d);
    while ((e = readdir(d)) != NULL && n < (int)HALE_ARRAY_SIZE(fds)) {
        uint32_t fd;

        if (hale_parse_u32(e->d_name, &fd) < 0 || fd > INT32_MAX || (int)fd == own ||
            is_kept((int)fd, keep, n_keep))
            continue;
        fds[n++] = (int)fd;
    }
    closedir(d);
    if (n == (int)HALE_ARRAY_SIZE(fds))
        return -EMFILE; /* more than we can track: refuse rather than keep some open */
    for (int i = 0; i < n; i++)
        (void)close(fds[i]);
    return 0;
}

/* Every file system right of Landlock ABI 1 (ABI 2 adds REFER: linking or renaming across
 * directories). Handled rights are denied except where a rule grants them. */
#define LANDLOCK_FS_ABI1 ((LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1)

int hale__signer_confine(int dirfd)
{
    struct landlock_ruleset_attr ra = {.handled_access_fs = LANDLOCK_FS_ABI1};
    struct landlock_path_beneath_attr beneath = {
        /* Create and write audit.key.next, replace audit.key by rename, overwrite the old one:
         * nothing else, not even reading (everything is read before this). */
        .allowed_access = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG |
                          LANDLOCK_ACCESS_FS_REMOVE_FILE,
        .parent_fd = dirfd,
    };
    long abi, rs;
    int r = 0;

    abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1)
        return 0; /* not built into this kernel or disabled: seccomp alone */
    if (abi >= 2)
        ra.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
    rs = syscall(SYS_landlock_create_ruleset, &ra, sizeof(ra), 0);
    if (rs < 0)
        return -errno;
    if (syscall(SYS_landlock_add_rule, (int)rs, LANDLOCK_RULE_PATH_BENEATH, &beneath, 0) < 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(SYS_landlock_restrict_self, (int)rs, 0) < 0)
        r = -errno;
    close((int)rs);
    return r < 0 ? r : 1;
}

/* Argument conditions spelled out in full: libseccomp's SCMP_A0.. macros leave a field to
 * the default, which clang's -Wmissing-field-initializers reports. */
#define ARG_EQ(n, v)                                                                               \
    {                                                                                              \
        .arg = (n), .op = SCMP_CMP_EQ, .datum_a = (v), .datum_b = 0                                \
    }
#define ARG_MASKED(n, mask, v)                                                                     \
    {                                                                                              \
        .arg = (n), .op = SCMP_CMP_MASKED_EQ, .datum_a = (mask), .datum_b = (v)                    \
    }

/* One rule: a syscall by name with up to two argument conditions. */
struct rule {
    const char *name;           /* resolved for the native architecture; absent ones skipped */
    unsigned n_args;            /* conditions in arg */
    struct scmp_arg_cmp arg[2]; /* all must hold */
};

static int add_rules(scmp_filter_ctx ctx, const struct rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int nr = seccomp_syscall_resolve_name(rules[i].name), r;

        if (nr == __NR_SCMP_ERROR)
            continue; /* not a syscall on this architecture (renameat on aarch64, ...) */
        r = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, rules[i].n_args, rules[i].arg);
        if (r < 0)
            return r;
    }
    return 0;
}

int hale__signer_sandbox(int dirfd, int sockfd)
{
    const scmp_datum_t dfd = (scmp_datum_t)dirfd, sfd = (scmp_datum_t)sockfd;
    const struct rule rules[] = {
        /* The socket: requests in, replies out. */
        {"recvfrom", 1, {ARG_EQ(0, sfd)}},
        {"read", 1, {ARG_EQ(0, sfd)}},
        {"write", 0, {{0}}}, /* the socket, a new key file, stderr */
        /* The state file, key files and their directory, by names relative to dirfd. */
        {"pwrite64", 0, {{0}}},
        {"fdatasync", 0, {{0}}},
        {"fsync", 0, {{0}}},
        {"close", 0, {{0}}},
        {"openat", 1, {ARG_EQ(0, dfd)}},
        {"unlinkat", 1, {ARG_EQ(0, dfd)}},
        {"renameat", 2, {ARG_EQ(0, dfd), ARG_EQ(2, dfd)}},
        {"renameat2", 2, {ARG_EQ(0, dfd), ARG_EQ(2, dfd)}},
        {"fstat", 0, {{0}}},
        {"newfstatat", 1, {ARG_MASKED(3, AT_EMPTY_PATH, AT_EMPTY_PATH)}},
        /* Key generation, and memory: malloc, sodium_malloc's guard pages and mlock. Never
         * executable memory. */
        {"getrandom", 0, {{0}}},
        {"brk", 0, {{0}}},
        {"mmap", 1, {ARG_MASKED(2, PROT_EXEC, 0)}},
        {"mprotect", 1, {ARG_MASKED(2, PROT_EXEC, 0)}},
        {"munmap", 0, {{0}}},
        {"mremap", 0, {{0}}},
        {"madvise", 0, {{0}}},
        {"mlock", 0, {{0}}},
        {"munlock", 0, {{0}}},
        /* Ending, normally or by abort(). */
        {"exit", 0, {{0}}},
        {"exit_group", 0, {{0}}},
        {"rt_sigreturn", 0, {{0}}},
        {"rt_sigprocmask", 0, {{0}}},
        {"getpid", 0, {{0}}},
        {"gettid", 0, {{0}}},
        {"tgkill", 0, {{0}}},
        {"futex", 0, {{0}}},
        {"poll", 0, {{0}}}, /* telling an empty record from the end of the stream */
        {"ppoll", 0, {{0}}},
        {"clock_gettime", 0, {{0}}},
        {"restart_syscall", 0, {{0}}},
    };
    scmp_filter_ctx ctx;
    int r;

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!ctx)
        return -ENOMEM;
    r = add_rules(ctx, rules, HALE_ARRAY_SIZE(rules));
    if (r == 0)
        r = seccomp_load(ctx);
    seccomp_release(ctx);
    return r;
}
