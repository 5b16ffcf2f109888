/* agent/sandbox/sandbox_launch.c - the hale-sandbox launcher: parse the command line, clone
 * the child into new namespaces (a user namespace too when not root), map its ids, release
 * it, then supervise: a pidfd and poll(2) for the wall-clock limit, SIGKILL to the namespace's
 * pid 1 (which ends every process in it), and one status line saying how the tool ended. */
#define _GNU_SOURCE /* clone flags, syscall(), pipe2() */
#include "internal.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"
#include "util/strparse.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef PR_SET_CHILD_SUBREAPER
#define PR_SET_CHILD_SUBREAPER 36
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

static const char usage[] =
    "usage: hale-sandbox [options] -- PATH [ARG...]\n"
    "Run the executable at the absolute PATH in hale's layered sandbox (docs/sandbox.md).\n"
    "  --status-fd=N     write status lines to descriptor N (default: stderr)\n"
    "  --timeout-ms=N    wall-clock limit; the whole process tree is killed (default 30000)\n"
    "  --uid=N --gid=N   ids the tool runs as when started by root (default 65534)\n"
    "  --memory=BYTES --nproc=N --fsize=BYTES --cpu=SECONDS --nofile=N   rlimits\n"
    "  --tmp-size=BYTES  size of the private /tmp (default 16m)\n"
    "  --rw=PATH         bind PATH read-write (repeatable)\n"
    "  --ro=PATH         bind PATH read-only (repeatable)\n"
    "  --env=NAME        give the tool NAME=VALUE from this environment's\n"
    "                    " HALE__SANDBOX_ENV_PREFIX "NAME=VALUE (repeatable)\n"
    "  --require=LAYERS  fail unless these layers apply (default: 'default')\n"
    "  --disable=LAYERS  skip these layers (diagnosis)\n"
    "Relaxations (docs/sandbox.md), each reported on the status descriptor:\n"
    "  --connect=HOST:PORT  let the tool reach this TCP destination through a forwarder\n"
    "                    in the host's network (repeatable, at most 8)\n"
    "  --connect-max-bytes=BYTES --connect-max-conns=N   the forwarder's caps (16m, 64)\n"
    "  --keep-caps=MASK  keep these capabilities (bit 1<<CAP_X), drop the rest\n"
    "  --host-pid        no pid namespace: the host's processes are visible\n"
    "Exit status: the tool's, 128+signal when killed, 125 when the sandbox failed.\n";

void hale__sandbox_status(int fd, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    (void)!write(fd < 0 ? 2 : fd, line, (size_t)n);
}

static int opt_u64(const char *arg, const char *name, uint64_t *v, bool bytes)
{
    size_t len = strlen(name);

    if (strncmp(arg, name, len) != 0 || arg[len] != '=')
        return 0;
    if ((bytes ? hale_parse_bytes(arg + len + 1, v) : hale_parse_u64(arg + len + 1, v)) < 0)
        return -EINVAL;
    return 1;
}

static int opt_str(const char *arg, const char *name, const char **list, unsigned *n, unsigned max)
{
    size_t len = strlen(name);

    if (strncmp(arg, name, len) != 0 || arg[len] != '=')
        return 0;
    if (*n >= max || arg[len + 1] == '\0')
        return -EINVAL;
    list[(*n)++] = arg + len + 1;
    return 1;
}

static int opt_layers(const char *arg, const char *name, uint32_t *v)
{
    size_t len = strlen(name);

    if (strncmp(arg, name, len) != 0 || arg[len] != '=')
        return 0;
    return hale_sandbox_layers_parse(arg + len + 1, v, NULL) < 0 ? -EINVAL : 1;
}

/* One option at argv[i]: 1 parsed, 0 unknown, -EINVAL bad value. */
static int parse_one(struct hale__sandbox_opts *o, const char *a)
{
    uint64_t fd = 0, uid = 0, gid = 0;
    int r;

    if ((r = opt_u64(a, "--status-fd", &fd, false)) != 0) {
        if (r > 0 && fd > 1024)
            return -EINVAL;
        o->status_fd = (int)fd;
        return r;
    }
    if ((r = opt_u64(a, "--uid", &uid, false)) != 0) {
        if (r > 0 && uid >= UINT32_MAX)
            return -EINVAL;
        o->uid = (uint32_t)uid;
        return r;
    }
    if ((r = opt_u64(a, "--gid", &gid, false)) != 0) {
        if (r > 0 && gid >= UINT32_MAX)
            return -EINVAL;
        o->gid = (uint32_t)gid;
        return r;
    }
    if ((r = opt_u64(a, "--timeout-ms", &o->timeout_ms, false)) ||
        (r = opt_u64(a, "--memory", &o->memory_bytes, true)) ||
        (r = opt_u64(a, "--nproc", &o->max_processes, false)) ||
        (r = opt_u64(a, "--fsize", &o->file_bytes, true)) ||
        (r = opt_u64(a, "--cpu", &o->cpu_s, false)) ||
        (r = opt_u64(a, "--nofile", &o->max_fds, false)) ||
        (r = opt_u64(a, "--tmp-size", &o->tmp_bytes, true)))
        return r;
    if ((r = opt_str(a, "--rw", o->rw, &o->n_rw, HALE_SANDBOX_MAX_PATHS)) ||
        (r = opt_str(a, "--ro", o->ro, &o->n_ro, HALE_SANDBOX_MAX_PATHS)) ||
        (r = opt_str(a, "--env", o->env, &o->n_env, HALE_SANDBOX_MAX_ENV)))
        return r;
    if ((r = opt_layers(a, "--require", &o->require)) ||
        (r = opt_layers(a, "--disable", &o->disable)))
        return r;
    if ((r = opt_u64(a, "--keep-caps", &o->keep_caps, false)) ||
        (r = opt_u64(a, "--connect-max-bytes", &o->connect_max_bytes, true)) ||
        (r = opt_u64(a, "--connect-max-conns", &o->connect_max_conns, false)))
        return r;
    if (strncmp(a, "--connect=", 10) == 0) {
        if (o->n_dest >= HALE_SANDBOX_MAX_CONNECT || a[10] == '\0')
            return -EINVAL;
        o->dest[o->n_dest++].spec = a + 10;
        return 1;
    }
    if (strcmp(a, "--host-pid") == 0) {
        o->host_pid = true;
        return 1;
    }
    return 0;
}

/* Absolute, no ".." component: the launcher is the last place a traversal could slip in. */
static bool path_ok(const char *p)
{
    size_t n = strlen(p);

    if (p[0] != '/' || n >= 4096 || strstr(p, "/../") || strchr(p, '\n'))
        return false;
    return !(n >= 3 && strcmp(p + n - 3, "/..") == 0);
}

static int parse_args(int argc, char **argv, struct hale__sandbox_opts *o)
{
    int i;

    *o = (struct hale__sandbox_opts){
        .status_fd = -1,
        .timeout_ms = 30000,
        .uid = 65534,
        .gid = 65534,
        .memory_bytes = 512u << 20,
        .max_processes = 64,
        .file_bytes = 16u << 20,
        .cpu_s = 10,
        .max_fds = 64,
        .tmp_bytes = 16u << 20,
        .require = HALE_SANDBOX_REQUIRE_DEFAULT,
        .connect_max_bytes = 16u << 20,
        .connect_max_conns = 64,
        .relay_fd = -1,
    };
    for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        int r = parse_one(o, argv[i]);

        if (r == 0) {
            fprintf(stderr, "hale-sandbox: unknown option '%s'\n%s", argv[i], usage);
            return -EINVAL;
        }
        if (r < 0) {
            fprintf(stderr, "hale-sandbox: bad value in '%s'\n%s", argv[i], usage);
            return -EINVAL;
        }
    }
    if (i + 1 >= argc || !path_ok(argv[i + 1])) {
        fprintf(stderr, "hale-sandbox: an absolute PATH without '..' is needed after '--'\n%s",
                usage);
        return -EINVAL;
    }
    for (unsigned k = 0; k < o->n_rw; k++)
        if (!path_ok(o->rw[k]))
            return -EINVAL;
    for (unsigned k = 0; k < o->n_ro; k++)
        if (!path_ok(o->ro[k]))
            return -EINVAL;
    if (o->keep_caps >> (HALE__SANDBOX_CAP_LAST + 1) ||
        (o->n_dest && (o->connect_max_bytes == 0 || o->connect_max_conns == 0))) {
        fprintf(stderr, "hale-sandbox: bad --keep-caps or --connect-max-* value\n%s", usage);
        return -EINVAL;
    }
    o->argv = argv + i + 1;
    return 0;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

    if (fd < 0)
        return -errno;
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        r = -errno;
    close(fd);
    return r;
}

/* Map uid and gid 0 inside the child's user namespace to ours outside. */
static int map_ids(pid_t pid)
{
    char path[64], map[64];
    int r;

    snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
    if ((r = write_file(path, "deny")) < 0)
        return r;
    snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
    snprintf(map, sizeof(map), "0 %u 1", (unsigned)geteuid());
    if ((r = write_file(path, map)) < 0)
        return r;
    snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
    snprintf(map, sizeof(map), "0 %u 1", (unsigned)getegid());
    return write_file(path, map);
}

/* clone() like fork(), into the namespaces in flags; *ret_pidfd gets a pidfd or -1. */
static pid_t clone_child(unsigned long flags, int *ret_pidfd)
{
    int pidfd = -1;
    long pid;

    pid = syscall(SYS_clone, flags | CLONE_PIDFD | SIGCHLD, NULL, &pidfd, NULL, NULL);
    if (pid < 0 && errno == EINVAL) /* a kernel before 5.2: no CLONE_PIDFD */
        pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
    *ret_pidfd = pid > 0 ? pidfd : -1;
    return (pid_t)pid;
}

static volatile sig_atomic_t stop_requested; /* SIGTERM: the daemon died or asked us to stop */

static void on_term(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* The launcher's children (with --host-pid it is the subreaper of the tool's tree, so every
 * process the tool left behind ends up here). Returns how many pids were put in kids. */
static unsigned list_children(pid_t *kids, unsigned max)
{
    char path[64], buf[4096];
    unsigned n = 0;
    ssize_t len;
    int fd;

    snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    len = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (len <= 0)
        return 0;
    buf[len] = '\0';
    for (char *p = buf; *p && n < max;) {
        size_t w = strspn(p, "0123456789");
        uint64_t v;

        if (w == 0) {
            p++;
            continue;
        }
        p[w] = '\0';
        if (hale_parse_u64(p, &v) == 0 && v > 0 && v < INT32_MAX)
            kids[n++] = (pid_t)v;
        p += w + 1;
        if (p > buf + len)
            break;
    }
    return n;
}

/* Kill and reap every child until none is left: a killed process's children come to us (the
 * subreaper) before we can reap it, so the next round sees them. A process that never shows
 * in the children list (a kernel without it) is waited for at most about 2 s. */
static void kill_tree(void)
{
    unsigned idle = 0;

    for (;;) {
        pid_t kids[256], w;
        unsigned n = list_children(kids, HALE_ARRAY_SIZE(kids));
        int st;

        for (unsigned i = 0; i < n; i++)
            (void)kill(kids[i], SIGKILL);
        w = waitpid(-1, &st, n ? 0 : WNOHANG);
        if (w < 0 && errno == ECHILD)
            return;
        if (w == 0) {
            struct timespec tick = {0, 1000 * 1000};

            if (++idle > 2000)
                return;
            nanosleep(&tick, NULL);
        }
    }
}

/* After set-up the launcher only waits, signals and relays: it keeps CAP_KILL (the tool runs
 * as another uid) and nothing else. It never executes anything again, so the permitted set is
 * what matters and one capset() suffices; with a forwarder, which handles the tool's bytes,
 * the bounding set goes too and no_new_privs is set, for whatever the future holds. Root only:
 * a launcher that is not root has no capability on the host to drop. */
static int drop_launcher_caps(bool forwarder)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];

    if (geteuid() != 0)
        return 0;
    for (int c = 0; forwarder && c < 64; c++)
        if (c != CAP_KILL && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return -errno;
    memset(d, 0, sizeof(d));
    d[0].permitted = d[0].effective = 1u << CAP_KILL;
    if (syscall(SYS_capset, &h, d) < 0 || (forwarder && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0))
        return -errno;
    return 0;
}

/* Wait for the tool up to the deadline, relaying its connections meanwhile; SIGKILL it (and
 * so its pid namespace, or with --host-pid its process group) after, or on SIGTERM. */
static int supervise(pid_t pid, int pidfd, uint64_t timeout_ms, struct hale__sandbox_relay *relay,
                     bool *timed_out)
{
    uint64_t deadline = mono_ms() + timeout_ms;
    int status = 0;

    *timed_out = false;
    for (;;) {
        struct pollfd p[1 + HALE_SANDBOX_MAX_CONNECT * HALE_SANDBOX_MAX_ADDRS + 64];
        uint64_t now = mono_ms(), left;
        unsigned n = 0, first;
        pid_t w;

        /* Reap whatever ended: with --host-pid, orphans the launcher adopted as well. */
        while ((w = waitpid(-1, &status, WNOHANG)) > 0)
            if (w == pid)
                return status;
        if (w < 0 && errno != EINTR)
            return -errno;
        if (now >= deadline || stop_requested)
            break;
        left = deadline - now;
        if (pidfd >= 0)
            p[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
        else if (left > 2)
            left = 2; /* no pidfd: poll the child every 2 ms */
        first = n;
        n += hale__sandbox_relay_fill(relay, p + n, (unsigned)HALE_ARRAY_SIZE(p) - n);
        if (poll(p, n, left > INT32_MAX ? INT32_MAX : (int)left) > 0)
            hale__sandbox_relay_events(relay, p + first, n - first);
    }
    *timed_out = !stop_requested;
    if (pidfd < 0 || syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0)
        (void)kill(pid, SIGKILL);
    (void)kill(-pid, SIGKILL); /* without a pid namespace: its session's process group */
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return status;
}

/* Resolve the destinations and make the socket the child passes its listeners on. */
static int prepare_connect(struct hale__sandbox_opts *o, int pair[2])
{
    const char *what = NULL;
    int r = hale__sandbox_resolve(o, &what);

    if (r < 0) {
        hale__sandbox_status(o->status_fd, "error connect:%.48s %d", what ? what : "?", -r);
        return r;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
        hale__sandbox_status(o->status_fd, "error socketpair %d", errno);
        return -errno;
    }
    o->relay_fd = pair[1];
    return 0;
}

int hale__sandbox_launcher_main(int argc, char **argv)
{
    static const struct {
        unsigned long flag;
        uint32_t layer;
    } ns_map[] = {
        {CLONE_NEWNS, HALE_SANDBOX_MOUNTNS}, {CLONE_NEWPID, HALE_SANDBOX_PIDNS},
        {CLONE_NEWNET, HALE_SANDBOX_NETNS},  {CLONE_NEWIPC, HALE_SANDBOX_IPCNS},
        {CLONE_NEWUTS, HALE_SANDBOX_UTSNS},  {CLONE_NEWCGROUP, HALE_SANDBOX_CGROUPNS},
    };
    struct sigaction sa = {.sa_handler = on_term};
    struct hale__sandbox_relay *relay = NULL;
    struct hale__sandbox_opts o;
    uint32_t applied = 0;
    bool root = geteuid() == 0, timed_out;
    int sync[2], pair[2] = {-1, -1}, pidfd = -1, status;
    unsigned long flags = 0;
    pid_t pid;
    char go = 'g';

    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (parse_args(argc, argv, &o) < 0)
        return HALE__SANDBOX_EXIT_SETUP;
    /* The status descriptor must not reach the tool, even where close_range is missing. */
    if (o.status_fd >= 0 && fcntl(o.status_fd, F_SETFD, FD_CLOEXEC) < 0) {
        fprintf(stderr, "hale-sandbox: --status-fd=%d: %s\n", o.status_fd, strerror(errno));
        return HALE__SANDBOX_EXIT_SETUP;
    }
    /* The daemon's death ends the launcher, which first kills the tool's whole tree (SIGTERM
     * is caught for that; the tool has PR_SET_PDEATHSIG(SIGKILL) besides). */
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGTERM, &sa, NULL);
    (void)prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (o.host_pid && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        hale__sandbox_status(o.status_fd, "error subreaper %d", errno);
        return HALE__SANDBOX_EXIT_SETUP;
    }
    if (o.n_dest && prepare_connect(&o, pair) < 0)
        return HALE__SANDBOX_EXIT_SETUP;
    if (pipe2(sync, O_CLOEXEC) < 0) {
        hale__sandbox_status(o.status_fd, "error pipe %d", errno);
        return HALE__SANDBOX_EXIT_SETUP;
    }
    /* Each namespace can be left out on its own (diagnosis); the user namespace only
     * exists for a launcher that is not root. */
    for (size_t i = 0; i < HALE_ARRAY_SIZE(ns_map); i++)
        if (!(o.disable & ns_map[i].layer))
            flags |= ns_map[i].flag;
    if (o.host_pid)
        flags &= ~(unsigned long)CLONE_NEWPID;
    if (flags && !root)
        flags |= CLONE_NEWUSER;
    pid = clone_child(flags, &pidfd);
    if (pid < 0 && flags && !o.n_dest) { /* no namespaces here (a container): degrade, loudly */
        flags = 0;
        pid = clone_child(0, &pidfd);
    }
    if (pid < 0) {
        hale__sandbox_status(o.status_fd, "error clone %d", errno);
        return HALE__SANDBOX_EXIT_SETUP;
    }
    for (size_t i = 0; i < HALE_ARRAY_SIZE(ns_map); i++)
        if (flags & ns_map[i].flag)
            applied |= ns_map[i].layer;
    if (flags & CLONE_NEWUSER)
        applied |= HALE_SANDBOX_USERNS;
    if (pid == 0) {
        (void)signal(SIGTERM, SIG_DFL);
        close(sync[1]);
        if (pair[0] >= 0)
            close(pair[0]);
        if (read(sync[0], &go, 1) != 1)
            _exit(HALE__SANDBOX_EXIT_SETUP); /* the launcher died or failed to map ids */
        close(sync[0]);
        hale__sandbox_child(&o, applied);
        _exit(HALE__SANDBOX_EXIT_SETUP);
    }
    close(sync[0]);
    if (pair[1] >= 0)
        close(pair[1]);
    if ((flags & CLONE_NEWUSER) && map_ids(pid) < 0) {
        hale__sandbox_status(o.status_fd, "error uid_map %d", errno);
        (void)kill(pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
        return HALE__SANDBOX_EXIT_SETUP;
    }
    if (write(sync[1], &go, 1) != 1) {
        hale__sandbox_status(o.status_fd, "error sync %d", errno);
        (void)kill(pid, SIGKILL);
    }
    close(sync[1]);
    if (pair[0] >= 0) {
        int r = hale__sandbox_relay_start(&o, pair[0], o.timeout_ms, &relay);

        close(pair[0]);
        if (r < 0) {
            hale__sandbox_status(o.status_fd, "error relay %d", -r);
            (void)kill(pid, SIGKILL);
        }
    }
    if (drop_launcher_caps(relay != NULL) < 0) {
        hale__sandbox_status(o.status_fd, "error launcher-caps %d", errno);
        (void)kill(pid, SIGKILL);
    }
    status = supervise(pid, pidfd, o.timeout_ms, relay, &timed_out);
    /* The tool is gone: so are its connections, and with --host-pid whatever it left. */
    if (o.n_dest)
        hale__sandbox_relay_free(relay, o.status_fd);
    if (o.host_pid)
        kill_tree();
    if (pidfd >= 0)
        close(pidfd);
    if (status < 0) {
        hale__sandbox_status(o.status_fd, "error wait %d", -status);
        return HALE__SANDBOX_EXIT_SETUP;
    }
    if (timed_out)
        hale__sandbox_status(o.status_fd, "timeout");
    if (WIFSIGNALED(status)) {
        hale__sandbox_status(o.status_fd, "signal %d", WTERMSIG(status));
        return 128 + WTERMSIG(status);
    }
    hale__sandbox_status(o.status_fd, "exit %d", WEXITSTATUS(status));
    return WEXITSTATUS(status);
}
