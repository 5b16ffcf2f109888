/* agent/audit/signer_sandbox.c - what the signer child does to itself before it serves: ignore
 * the signals aimed at the daemon, refuse ptrace and core dumps, close inherited descriptors,
 * and install a seccomp allowlist of the few system calls serving needs (libseccomp). */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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
        {"recvfrom", 1, {SCMP_A0(SCMP_CMP_EQ, sfd)}},
        {"read", 1, {SCMP_A0(SCMP_CMP_EQ, sfd)}},
        {"write", 0, {{0}}}, /* the socket, a new key file, stderr */
        /* The state file, key files and their directory, by names relative to dirfd. */
        {"pwrite64", 0, {{0}}},
        {"fdatasync", 0, {{0}}},
        {"fsync", 0, {{0}}},
        {"close", 0, {{0}}},
        {"openat", 1, {SCMP_A0(SCMP_CMP_EQ, dfd)}},
        {"unlinkat", 1, {SCMP_A0(SCMP_CMP_EQ, dfd)}},
        {"renameat", 2, {SCMP_A0(SCMP_CMP_EQ, dfd), SCMP_A2(SCMP_CMP_EQ, dfd)}},
        {"renameat2", 2, {SCMP_A0(SCMP_CMP_EQ, dfd), SCMP_A2(SCMP_CMP_EQ, dfd)}},
        {"fstat", 0, {{0}}},
        {"newfstatat", 1, {SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH)}},
        /* Key generation, and memory: malloc, sodium_malloc's guard pages and mlock. Never
         * executable memory. */
        {"getrandom", 0, {{0}}},
        {"brk", 0, {{0}}},
        {"mmap", 1, {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)}},
        {"mprotect", 1, {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)}},
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
