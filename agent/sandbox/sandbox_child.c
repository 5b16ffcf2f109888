/* agent/sandbox/sandbox_child.c - the sandboxed child between clone() and execve(), in the
 * order of docs/sandbox.md: file system view, host name, new session, securebits,
 * capabilities (bounding and ambient sets too), unprivileged ids, no_new_privs, Landlock,
 * seccomp, descriptors, rlimits, environment. A layer that cannot apply is recorded, never hidden:
 * the required ones are checked before execve. */
#define _GNU_SOURCE /* setresuid, sethostname, setgroups, syscall(), close_range flags */
#include "internal.h"

#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"

extern char **environ;

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT           47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef PR_CAP_AMBIENT_RAISE
#define PR_CAP_AMBIENT_RAISE 2
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int set_rlimits(const struct hale__sandbox_opts *o)
{
    const struct {
        int res;
        uint64_t v;
    } lim[] = {
        {RLIMIT_AS, o->memory_bytes},  {RLIMIT_NPROC, o->max_processes},
        {RLIMIT_FSIZE, o->file_bytes}, {RLIMIT_CPU, o->cpu_s},
        {RLIMIT_NOFILE, o->max_fds},   {RLIMIT_CORE, 0},
        {RLIMIT_MEMLOCK, 0},           {RLIMIT_MSGQUEUE, 0},
    };

    for (size_t i = 0; i < HALE_ARRAY_SIZE(lim); i++) {
        struct rlimit rl = {(rlim_t)lim[i].v, (rlim_t)lim[i].v};

        if (setrlimit(lim[i].res, &rl) < 0)
            return -errno;
    }
    return 0;
}

/* Lock root out of its special powers for good: uid 0 gains no capabilities at exec, a uid
 * change keeps none, nothing can be raised into the ambient set; every bit locked. With kept
 * capabilities the ambient bits wait until hale__sandbox_keep_caps() has raised them. */
#define SECBITS_BASE                                                                               \
    (SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |                               \
     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED)
#define SECBITS_ALL                                                                                \
    (SECBITS_BASE | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)

static int lock_securebits(unsigned long bits)
{
    return prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0 ? -errno : 0;
}

static int drop_bounding(uint64_t keep)
{
    for (int c = 0; c < 64; c++) {
        if (keep & (1ULL << c)) {
            if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1)
                return -EINVAL; /* a kept capability this kernel does not have */
            continue;
        }
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return -errno;
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return -errno;
    return 0;
}

static int clear_caps(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];

    memset(d, 0, sizeof(d));
    return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static int set_caps(uint64_t p, uint64_t e, uint64_t i)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2] = {
        {.effective = (uint32_t)e, .permitted = (uint32_t)p, .inheritable = (uint32_t)i},
        {.effective = (uint32_t)(e >> 32),
         .permitted = (uint32_t)(p >> 32),
         .inheritable = (uint32_t)(i >> 32)},
    };

    return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

/* The tool holds exactly keep across execve: NOROOT means uid 0 gains nothing at exec and
 * no_new_privs makes file capabilities inert, so the ambient set is the one way through, and
 * it needs each capability in the permitted and inheritable sets too. CAP_SETPCAP is held
 * only long enough to lock the ambient securebits after the raise. */
int hale__sandbox_keep_caps(uint64_t keep, bool lock)
{
    const uint64_t setpcap = 1ULL << CAP_SETPCAP;
    int r = set_caps(keep | setpcap, keep | setpcap, keep);

    for (int c = 0; c < 64 && r == 0; c++)
        if ((keep & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
            r = -errno;
    if (r == 0 && lock)
        r = lock_securebits(SECBITS_ALL);
    if (r == 0)
        r = set_caps(keep, keep, keep);
    return r;
}

/* The permitted set as it is now (1ull << CAP_X). */
static uint64_t caps_now(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];

    memset(d, 0, sizeof(d));
    if (syscall(SYS_capget, &h, d) < 0)
        return 0;
    return (uint64_t)d[0].permitted | (uint64_t)d[1].permitted << 32;
}

static int set_ids(const struct hale__sandbox_opts *o)
{
    gid_t none[1];

    if (setgroups(0, none) < 0 || setresgid(o->gid, o->gid, o->gid) < 0 ||
        setresuid(o->uid, o->uid, o->uid) < 0)
        return -errno;
    return 0;
}

/* The tool's environment: the allowlisted names (prefixed in ours), then the defaults they
 * do not override. */
static void build_env(const struct hale__sandbox_opts *o, char **envp, size_t max)
{
    static char path[] = "PATH=/usr/bin:/bin", home[] = "HOME=/tmp", tmp[] = "TMPDIR=/tmp",
                lang[] = "LANG=C.UTF-8";
    char *defaults[] = {path, home, tmp, lang};
    size_t n = 0;

    for (unsigned i = 0; i < o->n_env && n + 1 < max; i++) {
        const size_t plen = sizeof(HALE__SANDBOX_ENV_PREFIX) - 1;

        /* environ holds "PREFIX" "NAME=VALUE": hand the tool the part after the prefix. */
        for (char **e = environ; *e; e++)
            if (strncmp(*e, HALE__SANDBOX_ENV_PREFIX, plen) == 0 &&
                strncmp(*e + plen, o->env[i], strlen(o->env[i])) == 0 &&
                (*e)[plen + strlen(o->env[i])] == '=') {
                envp[n++] = *e + plen;
                break;
            }
    }
    for (size_t i = 0; i < HALE_ARRAY_SIZE(defaults) && n + 1 < max; i++) {
        size_t len = (size_t)(strchr(defaults[i], '=') - defaults[i]);
        bool have = false;

        for (size_t k = 0; k < n; k++)
            have |= strncmp(envp[k], defaults[i], len + 1) == 0;
        if (!have)
            envp[n++] = defaults[i];
    }
    envp[n] = NULL;
}

/* Run step unless disabled; a failure either fails the run (fatal) or leaves layer unset. */
#define STEP(layer, fatal, expr)                                                                   \
    do {                                                                                           \
        if (!(o->disable & (layer))) {                                                             \
            int r_ = (expr);                                                                       \
            if (r_ >= 0)                                                                           \
                applied |= (layer);                                                                \
            else if (fatal) {                                                                      \
                hale__sandbox_status(o->status_fd, "error %s %d", #layer, -r_);                    \
                return;                                                                            \
            }                                                                                      \
        }                                                                                          \
    } while (0)

void hale__sandbox_child(const struct hale__sandbox_opts *o, uint32_t applied_ns)
{
    const bool root = geteuid() == 0;
    uint32_t applied = 0, ns = applied_ns, relax = 0;
    char *envp[HALE_SANDBOX_MAX_ENV + 8];
    const char *stage = NULL;
    int abi = 0, r;

    (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (o->n_dest) { /* first: the launcher waits for the listeners */
        r = (ns & HALE_SANDBOX_NETNS) ? hale__sandbox_net_setup(o, &stage)
                                      : (stage = "connect-needs-netns", -EPERM);
        if (r < 0) {
            hale__sandbox_status(o->status_fd, "error %s %d", stage, -r);
            return;
        }
        close(o->relay_fd);
        relax |= HALE_SANDBOX_RELAX_CONNECT;
    }
    if (o->host_pid)
        relax |= HALE_SANDBOX_RELAX_HOSTPID;
    if (ns & HALE_SANDBOX_MOUNTNS) {
        r = hale__sandbox_mounts(o, &stage);
        if (r < 0) {
            hale__sandbox_status(o->status_fd, "error %s %d", stage, -r);
            return;
        }
        /* The first writable directory is the working directory (a file, say
         * /proc/sys/vm/drop_caches, is not). */
        if (o->n_rw > 0 && chdir(o->rw[0]) < 0 && errno != ENOTDIR) {
            hale__sandbox_status(o->status_fd, "error chdir %d", errno);
            return;
        }
    }
    if (ns & HALE_SANDBOX_UTSNS)
        (void)sethostname("hale-sandbox", 12);
    applied |= ns;
    STEP(HALE_SANDBOX_SETSID, false, setsid() < 0 ? -errno : 0);
    STEP(HALE_SANDBOX_SECUREBITS, false,
         lock_securebits(o->keep_caps ? SECBITS_BASE : SECBITS_ALL));
    STEP(HALE_SANDBOX_CAPS, o->keep_caps != 0, drop_bounding(o->keep_caps));
    /* As root: a dedicated uid. Not root: we already are an unprivileged uid on the host
     * (ns root in our user namespace, mapped to it), and NOROOT keeps exec from granting
     * capabilities. */
    if (root && !(ns & HALE_SANDBOX_USERNS)) {
        STEP(HALE_SANDBOX_UID, true, set_ids(o));
        /* A tool declared to run as root has no unprivileged uid: say so. */
        if (o->uid == 0)
            applied &= ~(uint32_t)HALE_SANDBOX_UID;
    } else if (!(o->disable & HALE_SANDBOX_UID))
        applied |= HALE_SANDBOX_UID;
    if (o->keep_caps && (applied & HALE_SANDBOX_CAPS)) {
        /* Kept capabilities are a declared contract: failing to set exactly them fails. */
        r = hale__sandbox_keep_caps(o->keep_caps, applied & HALE_SANDBOX_SECUREBITS);
        if (r < 0) {
            hale__sandbox_status(o->status_fd, "error keep-caps %d", -r);
            return;
        }
        relax |= HALE_SANDBOX_RELAX_CAPS;
    } else if ((applied & HALE_SANDBOX_CAPS) && clear_caps() < 0) {
        applied &= ~(uint32_t)HALE_SANDBOX_CAPS;
    }
    /* A credential change cleared the parent-death signal: set it again. */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    STEP(HALE_SANDBOX_NNP, true, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0);
    if (!(o->disable & HALE_SANDBOX_LANDLOCK) && (applied & HALE_SANDBOX_NNP)) {
        abi = hale__sandbox_landlock(o);
        if (abi < 0) {
            hale__sandbox_status(o->status_fd, "error landlock %d", -abi);
            return;
        }
        if (abi > 0)
            applied |= HALE_SANDBOX_LANDLOCK;
    }
    STEP(HALE_SANDBOX_SECCOMP, false, hale__sandbox_seccomp());
    STEP(HALE_SANDBOX_CLOSEFDS, false,
         syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0 ? -errno : 0);
    /* Last: nothing below allocates, so the address-space limit cannot starve this code
     * (or a sanitizer runtime in test builds); lowering limits needs no privilege. */
    STEP(HALE_SANDBOX_RLIMITS, true, set_rlimits(o));
    if (o->require & ~applied) {
        hale__sandbox_status(o->status_fd, "missing %u", o->require & ~applied);
        return;
    }
    build_env(o, envp, HALE_ARRAY_SIZE(envp));
    if (relax || o->keep_caps || !(applied & HALE_SANDBOX_CAPS))
        hale__sandbox_status(o->status_fd, "relax %u %llu", relax, (unsigned long long)caps_now());
    hale__sandbox_status(o->status_fd, "layers %u %d", applied, abi);
    execve(o->argv[0], o->argv, envp);
    hale__sandbox_status(o->status_fd, "error execve %d", errno);
}
