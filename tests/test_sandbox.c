/* tests/test_sandbox.c - the sandbox escape suite (SECURITY.md 3.9) through the public API:
 * every probe of tests/fixtures/sandbox/probe.c runs through hale-sandbox against host
 * fixtures (a TCP listener, unix sockets, a secret file and descriptor, a sacrificial
 * process), each its own test; where one layer alone stops a probe, the suite proves it by
 * running the probe again without that layer. A table of probe, outcome and layer closes the
 * run. Probes whose layer this kernel lacks are skipped with the reason. */
#define _GNU_SOURCE /* pipe2, strsignal */
#include "fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "hale/diag.h"
#include "hale/err.h"
#include "hale/sandbox.h"

#define ESCAPED  10
#define TOOL_UID 65534

static struct {
    char *work;          /* writable work directory of the probes (owned by TOOL_UID) */
    char *data;          /* stands in for the daemon's data directory: a 0600 secret */
    char probe_dir[512]; /* where sandbox_probe lives: bound read-only */
    char suid[512];      /* a setuid-root copy of the probe */
    int listener;        /* TCP listener on 127.0.0.1 */
    unsigned port;       /* its port */
    int abstract;        /* abstract unix socket listener */
    char abstract_name[64];
    int unix_fd; /* unix socket listener on a path */
    char unix_path[600];
    int secret_fd;      /* inherited, not close-on-exec, on purpose */
    pid_t victim;       /* a host process the probes try to kill */
    uint32_t available; /* layers a run applies on this machine */
} h;

struct row {
    const char *id;    /* SECURITY.md 3.9 probe id */
    const char *probe; /* what it tried */
    bool blocked;      /* contained */
    char layer[96];    /* the layer(s) that stopped it */
    char detail[96];   /* what the probe saw */
};
static struct row rows[96];
static size_t n_rows;

static void record(const char *id, const char *probe, bool blocked, const char *layer,
                   const char *detail)
{
    struct row *r;

    if (n_rows >= sizeof(rows) / sizeof(rows[0]))
        return;
    r = &rows[n_rows++];
    r->id = id;
    r->probe = probe;
    r->blocked = blocked;
    snprintf(r->layer, sizeof(r->layer), "%s", layer);
    snprintf(r->detail, sizeof(r->detail), "%.*s", (int)strcspn(detail, "\n"), detail);
}

static void spec_base(hale_sandbox_spec *s, const char *const *argv)
{
    static const char *ro[3], *rw[2];

    hale_sandbox_spec_init(s);
    ro[0] = h.probe_dir;
    ro[1] = h.suid;
    rw[0] = h.work;
    s->launcher = HALE_SANDBOX_LAUNCHER;
    s->path = HALE_SANDBOX_PROBE;
    s->argv = argv;
    s->readable = ro;
    s->writable = rw;
    s->uid = s->gid = TOOL_UID;
    s->timeout_ms = 20000;
}

/* Run the probe with argv; disable: layers left out. Asserts the run itself worked. */
static void run(const char *const *argv, uint32_t disable, hale_sandbox_result *res)
{
    hale_sandbox_spec s;
    hale_diag d = {{0}};
    int r;

    spec_base(&s, argv);
    s.disable = disable;
    s.require = HALE_SANDBOX_REQUIRE_DEFAULT & ~disable;
    r = hale_sandbox_run(&s, res, &d);
    if (r < 0)
        fail_msg("hale_sandbox_run: %s: %s", hale_strerror(r), d.msg);
}

static void need(uint32_t layers)
{
    char names[256];

    if ((h.available & layers) != layers) {
        printf("[  SKIP    ] this kernel or user lacks the layer(s) '%s'\n",
               hale_sandbox_layers_str(layers & ~h.available, names, sizeof(names)));
        skip();
    }
}

/* A containment probe: exit 0 means stopped. proof: layers that, all left out, let the same
 * probe through (0: not proved by removal, for destructive or layered probes). */
static void probe(const char *id, const char *what, const char *layer, uint32_t needs,
                  uint32_t proof, const char *const *argv)
{
    hale_sandbox_result res;
    char lay[160];

    need(needs | proof);
    run(argv, 0, &res);
    record(id, what, res.exit_code == 0, layer, res.out);
    if (res.exit_code != 0)
        fail_msg("%s %s: exit %d signal %d: %s%s", id, what, res.exit_code, res.term_signal,
                 res.out, res.err);
    hale_sandbox_result_release(&res);
    if (!proof)
        return;
    run(argv, proof, &res);
    if (res.exit_code != ESCAPED)
        fail_msg("%s %s: still stopped without '%s' (exit %d: %s%s): the layer named is wrong", id,
                 what, hale_sandbox_layers_str(proof, lay, sizeof(lay)), res.exit_code, res.out,
                 res.err);
    snprintf(rows[n_rows - 1].layer, sizeof(rows[n_rows - 1].layer), "%s (proved)", layer);
    hale_sandbox_result_release(&res);
}

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NS        (HALE_SANDBOX_MOUNTNS | HALE_SANDBOX_PIDNS | HALE_SANDBOX_NETNS)
#define SECCOMP   HALE_SANDBOX_SECCOMP
#define LANDLOCK  HALE_SANDBOX_LANDLOCK

static char port_str[16], victim_str[16], data_secret[600], marker[600], fill_path[600],
    input_path[600], suid_arg[600];

/* Filesystem (P1-P4). */
static void read_shadow(void **s)
{
    (void)s;
    probe("P1", "read /etc/shadow", "mountns (not in the view)", NS, 0,
          ARGV("read", "/etc/shadow"));
}
static void read_daemon_data(void **s)
{
    (void)s;
    probe("P1", "read the daemon's data dir", "mountns (not in the view)", NS, 0,
          ARGV("read", data_secret));
}
static void write_usr(void **s)
{
    (void)s;
    probe("P3", "write /usr", "mountns (read-only)", NS, 0, ARGV("write", "/usr/hale-escape"));
}
static void write_outside_writable(void **s)
{
    (void)s;
    probe("P4", "write outside writable paths", "mountns (read-only root)", NS, 0,
          ARGV("write", "/etc/hale-escape"));
}
static void write_readonly_bind(void **s)
{
    char p[600];

    (void)s;
    snprintf(p, sizeof(p), "%s/hale-escape", h.probe_dir);
    probe("P4", "write a read-only bind", "mountns (read-only bind)", NS, 0, ARGV("write", p));
}

/* Network and IPC (P5-P11). */
static void tcp_connect_host(void **s)
{
    int c;

    (void)s;
    probe("P5", "connect to a host TCP listener", "netns + landlock", NS | LANDLOCK,
          HALE_SANDBOX_NETNS | LANDLOCK, ARGV("connect", port_str));
    /* The proof run did connect (that was its point): drain it, nothing else may be queued. */
    while ((c = accept4(h.listener, NULL, NULL, SOCK_NONBLOCK)) >= 0)
        close(c);
}
static void tcp_bind(void **s)
{
    (void)s;
    probe("P6", "bind a TCP port", "landlock", LANDLOCK, LANDLOCK, ARGV("bind"));
}
static void abstract_unix(void **s)
{
    (void)s;
    probe("P7", "connect to a host abstract unix socket", "netns + landlock scope", NS | LANDLOCK,
          HALE_SANDBOX_NETNS | LANDLOCK, ARGV("abstract", h.abstract_name));
}
static void unix_path(void **s)
{
    (void)s;
    probe("P8", "connect to a host unix socket by path", "mountns (not in the view)", NS, 0,
          ARGV("unix", h.unix_path));
}
static void raw_socket(void **s)
{
    (void)s;
    probe("P9", "open a raw socket", "caps", HALE_SANDBOX_CAPS, 0, ARGV("raw"));
}
static void packet_socket(void **s)
{
    (void)s;
    probe("P10", "open an AF_PACKET socket", "seccomp (+caps)", SECCOMP, 0, ARGV("packet"));
}
static void netlink_socket(void **s)
{
    (void)s;
    probe("P11", "open an AF_NETLINK socket", "seccomp", SECCOMP, SECCOMP, ARGV("netlink"));
}

/* Processes (P12-P16). */
static void ptrace_child(void **s)
{
    (void)s;
    probe("P12", "ptrace a child", "seccomp", SECCOMP, SECCOMP, ARGV("ptrace"));
}
static void vm_read(void **s)
{
    (void)s;
    probe("P13", "process_vm_readv", "seccomp", SECCOMP, SECCOMP, ARGV("vm_read"));
}
static void kill_host_process(void **s)
{
    (void)s;
    probe("P14", "kill a host process", "pidns", NS, 0, ARGV("kill", victim_str));
    assert_int_equal(kill(h.victim, 0), 0); /* still alive */
}
static void see_host_process(void **s)
{
    (void)s;
    probe("P15", "see a host process", "pidns", NS, 0, ARGV("see", victim_str));
}
static void setns_escape(void **s)
{
    (void)s;
    probe("P16", "setns", "seccomp (+caps)", SECCOMP, 0, ARGV("setns"));
}

/* Mounts and namespaces (P17-P22). */
static void mount_tmpfs(void **s)
{
    (void)s;
    probe("P17", "mount a tmpfs", "seccomp (+caps)", SECCOMP, 0, ARGV("mount"));
}
static void remount_root(void **s)
{
    (void)s;
    probe("P18", "remount / read-write", "seccomp (+caps)", SECCOMP, 0, ARGV("remount"));
}
static void chroot_escape(void **s)
{
    (void)s;
    probe("P19", "chroot", "seccomp (+caps)", SECCOMP, 0, ARGV("chroot"));
}
static void unshare_userns(void **s)
{
    (void)s;
    probe("P20", "unshare(CLONE_NEWUSER)", "seccomp", SECCOMP, SECCOMP, ARGV("unshare"));
}
static void clone_userns(void **s)
{
    (void)s;
    probe("P21", "clone(CLONE_NEWUSER)", "seccomp", SECCOMP, SECCOMP, ARGV("clone_userns"));
}
static void clone3_userns(void **s)
{
    (void)s;
    probe("P22", "clone3(CLONE_NEWUSER)", "seccomp (ENOSYS)", SECCOMP, SECCOMP, ARGV("clone3"));
}

/* Privilege (P23). */
static void setuid_binary(void **s)
{
    (void)s;
    probe("P23", "exec a setuid-root binary", "nnp + nosuid + securebits",
          HALE_SANDBOX_NNP | HALE_SANDBOX_MOUNTNS, 0, ARGV("setuid", suid_arg));
}

/* Resources (P24-P30). */
static void fork_bomb(void **s)
{
    (void)s;
    probe("P24", "fork bomb", "rlimits (NPROC) + uid", HALE_SANDBOX_RLIMITS | HALE_SANDBOX_UID, 0,
          ARGV("forkbomb"));
}
static void memory_bomb(void **s)
{
    (void)s;
    probe("P25", "memory bomb (2 GiB)", "rlimits (AS)", HALE_SANDBOX_RLIMITS, 0, ARGV("membomb"));
}
static void disk_fill_tmp(void **s)
{
    (void)s;
    probe("P26", "fill /tmp (256 MiB)", "mountns (tmpfs size) + rlimits (FSIZE)",
          HALE_SANDBOX_RLIMITS | NS, 0, ARGV("diskfill", "/tmp/fill"));
}
static void disk_fill_work(void **s)
{
    (void)s;
    probe("P26", "fill the work dir (256 MiB)", "rlimits (FSIZE)", HALE_SANDBOX_RLIMITS, 0,
          ARGV("diskfill", fill_path));
    (void)unlink(fill_path);
}
static void fd_exhaustion(void **s)
{
    (void)s;
    probe("P27", "fd exhaustion", "rlimits (NOFILE)", HALE_SANDBOX_RLIMITS, 0, ARGV("fdbomb"));
}
static void cpu_spin(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    hale_diag d = {{0}};

    (void)s;
    need(HALE_SANDBOX_RLIMITS);
    spec_base(&sp, ARGV("spin"));
    sp.cpu_s = 1;
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), 0);
    record("P28", "CPU spin", res.term_signal == SIGXCPU || res.term_signal == SIGKILL,
           "rlimits (CPU)", strsignal(res.term_signal));
    assert_true(res.term_signal == SIGXCPU || res.term_signal == SIGKILL);
    assert_false(res.timed_out);
    hale_sandbox_result_release(&res);
}
static void hang_past_timeout(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    hale_diag d = {{0}};
    char detail[64];

    (void)s;
    spec_base(&sp, ARGV("hang"));
    sp.timeout_ms = 500;
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), 0);
    snprintf(detail, sizeof(detail), "killed after %llu ms", (unsigned long long)res.wall_ms);
    record("P29", "hang past the wall-clock limit", res.timed_out, "launcher timeout + pidns",
           detail);
    assert_true(res.timed_out);
    assert_int_equal(res.term_signal, SIGKILL);
    assert_true(res.wall_ms >= 490 && res.wall_ms < 3000);
    hale_sandbox_result_release(&res);
}
static void daemonise(void **s)
{
    hale_sandbox_result res;
    struct timespec t = {1, 500 * 1000 * 1000};
    struct stat st;

    (void)s;
    need(HALE_SANDBOX_PIDNS);
    run(ARGV("daemon", marker), 0, &res);
    hale_sandbox_result_release(&res);
    nanosleep(&t, NULL); /* the grandchild would write the marker after 1 s */
    record("P30", "daemonise and outlive the run", stat(marker, &st) < 0, "pidns (pid 1 exit)",
           "no marker after 1.5 s");
    assert_true(stat(marker, &st) < 0 && errno == ENOENT);
}
static void huge_output(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    hale_diag d = {{0}};
    char detail[96];

    (void)s;
    spec_base(&sp, ARGV("output"));
    sp.stdout_max = 4096;
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), 0);
    snprintf(detail, sizeof(detail), "kept %zu of %llu bytes", res.out_len,
             (unsigned long long)res.out_total);
    record("--", "64 MiB of output", res.out_truncated && res.out_len == 4096, "output cap",
           detail);
    assert_int_equal(res.out_len, 4096);
    assert_true(res.out_truncated);
    assert_true(res.out_total > 4096);
    assert_int_equal(strlen(res.out), 4096);
    hale_sandbox_result_release(&res);
}

/* Leaks (P31-P32). */
static void inherited_fd(void **s)
{
    (void)s;
    probe("P31", "read an fd inherited from the caller", "closefds", HALE_SANDBOX_CLOSEFDS,
          HALE_SANDBOX_CLOSEFDS, ARGV("fds"));
}
static void environment_leak(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    hale_diag d = {{0}};
    const char *env[] = {"ALLOWED=yes", NULL};

    (void)s;
    setenv("HALE_TEST_SECRET", "hunter2", 1); /* in the caller's environment: must not pass */
    spec_base(&sp, ARGV("env"));
    sp.env = env;
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), 0);
    record("P32", "read a secret from the environment", res.exit_code == 0, "empty env + allowlist",
           res.out);
    assert_int_equal(res.exit_code, 0);
    hale_sandbox_result_release(&res);
}

/* The tool's environment must not steer the launcher, which runs as root: an LD_PRELOAD
 * entry reaches the tool only, so the loader complains exactly once (in the tool). */
static void loader_env_skips_launcher(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    hale_diag d = {{0}};
    const char *env[] = {"LD_PRELOAD=/nonexistent/hale-preload.so", NULL};
    const char *first;

    (void)s;
    spec_base(&sp, ARGV("true"));
    sp.env = env;
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), 0);
    first = strstr(res.err, "hale-preload.so");
    record("--", "LD_PRELOAD in the tool's env vs the launcher",
           first && !strstr(first + 1, "hale-preload.so"), "env prefixed for the launcher",
           first ? "loader warned once (the tool)" : "none");
    assert_non_null(first);
    assert_null(strstr(first + 1, "hale-preload.so"));
    hale_sandbox_result_release(&res);
}

/* Terminal, kernel interfaces, devices, host state (P33-P47). */
static void tiocsti(void **s)
{
    (void)s;
    probe("P33", "TIOCSTI", "seccomp (+setsid)", SECCOMP, SECCOMP, ARGV("tiocsti"));
}
static void tioclinux(void **s)
{
    (void)s;
    probe("P34", "TIOCLINUX", "seccomp", SECCOMP, SECCOMP, ARGV("tioclinux"));
}
static void keyctl(void **s)
{
    (void)s;
    probe("P35", "add_key/keyctl", "seccomp", SECCOMP, SECCOMP, ARGV("keyctl"));
}
static void bpf(void **s)
{
    (void)s;
    probe("P36", "bpf", "seccomp (+caps)", SECCOMP, 0, ARGV("bpf"));
}
static void perf(void **s)
{
    (void)s;
    probe("P37", "perf_event_open", "seccomp", SECCOMP, 0, ARGV("perf"));
}
static void io_uring(void **s)
{
    (void)s;
    /* Without seccomp, RLIMIT_MEMLOCK 0 still refuses the rings' memory (ENOMEM). */
    probe("P38", "io_uring_setup", "seccomp + rlimits (MEMLOCK 0)", SECCOMP,
          SECCOMP | HALE_SANDBOX_RLIMITS, ARGV("io_uring"));
}
static void userfaultfd(void **s)
{
    (void)s;
    probe("P39", "userfaultfd", "seccomp", SECCOMP, 0, ARGV("userfaultfd"));
}
static void file_handles(void **s)
{
    (void)s;
    probe("P40", "name_to_handle_at", "seccomp", SECCOMP, SECCOMP, ARGV("handle"));
}
static void dev_mem(void **s)
{
    (void)s;
    probe("P41", "open /dev/mem", "mountns (minimal /dev)", NS, 0, ARGV("devmem"));
}
static void dev_kmsg(void **s)
{
    (void)s;
    probe("P42", "open /dev/kmsg", "mountns (minimal /dev)", NS, 0, ARGV("kmsg"));
}
static void sysrq(void **s)
{
    (void)s;
    probe("P43", "write /proc/sysrq-trigger", "uid + landlock (file absent here)", HALE_SANDBOX_UID,
          0, ARGV("sysrq"));
}
static void cgroup_write(void **s)
{
    (void)s;
    probe("P44", "write cgroup control files", "mountns (no /sys)", NS, 0, ARGV("cgroup"));
}
static void proc_self_mem(void **s)
{
    (void)s;
    probe("--", "write /proc/self/mem", "landlock", LANDLOCK, LANDLOCK, ARGV("mem"));
}
static void hostname(void **s)
{
    (void)s;
    probe("P45", "sethostname", "seccomp (+utsns, caps)", SECCOMP, 0, ARGV("hostname"));
}
static void settime(void **s)
{
    (void)s;
    probe("P46", "clock_settime", "seccomp (+caps)", SECCOMP, 0, ARGV("settime"));
}
static void personality_flags(void **s)
{
    (void)s;
    probe("P47", "personality(READ_IMPLIES_EXEC)", "seccomp", SECCOMP, SECCOMP,
          ARGV("personality"));
}

/* Argument injection (P48-P53): argv reaches the tool verbatim, no shell ever sees it. */
static void argument_injection(void **s)
{
    char pwned[600], subst[1300], semi[700];
    char *expect = NULL;
    hale_sandbox_result res;
    struct stat st;

    (void)s;
    snprintf(pwned, sizeof(pwned), "%s/pwned", h.work);
    snprintf(semi, sizeof(semi), "; touch %s", pwned);
    snprintf(subst, sizeof(subst), "$(touch %s)`touch %s`", pwned, pwned);
    run(ARGV("argv", semi, subst, "a\nb", "../../etc/passwd", "|| id"), 0, &res);
    assert_true(
        asprintf(&expect, "[%s]\n[%s]\n[a\nb]\n[../../etc/passwd]\n[|| id]\n", semi, subst) > 0);
    record("P48-50", "';', '$(...)', newline in argv",
           strcmp(res.out, expect) == 0 && stat(pwned, &st) < 0, "execve argv (no shell)",
           "arguments arrived verbatim, nothing ran");
    assert_string_equal(res.out, expect);
    assert_true(stat(pwned, &st) < 0);
    free(expect);
    hale_sandbox_result_release(&res);
}

static void rejected_spec(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    hale_diag d = {{0}};
    char *long_arg = malloc(HALE_SANDBOX_MAX_ARG + 2);
    const char *dotdot[] = {"/tmp/../etc", NULL};
    const char *bad_env[] = {"A B=1", NULL};

    (void)s;
    assert_non_null(long_arg);
    memset(long_arg, 'a', HALE_SANDBOX_MAX_ARG + 1);
    long_arg[HALE_SANDBOX_MAX_ARG + 1] = '\0';
    spec_base(&sp, ARGV("true"));
    sp.path = "/usr/bin/../bin/true";
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), HALE_ESCHEMA);
    assert_non_null(strstr(d.msg, "path"));
    spec_base(&sp, ARGV("true"));
    sp.path = "usr/bin/true";
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), HALE_ESCHEMA);
    spec_base(&sp, ARGV("true"));
    sp.writable = dotdot;
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), HALE_ESCHEMA);
    assert_non_null(strstr(d.msg, "writable"));
    spec_base(&sp, ARGV("argv", long_arg));
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), HALE_ESCHEMA);
    spec_base(&sp, ARGV("true"));
    sp.env = bad_env;
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), HALE_ESCHEMA);
    spec_base(&sp, ARGV("true"));
    sp.timeout_ms = 0;
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), HALE_ESCHEMA);
    record("P51-53", "'../' paths, long argument, bad env name", true, "spec validation",
           "HALE_ESCHEMA before anything starts");
    free(long_arg);
}

/* C1: legitimate work passes, with every default layer reported. */
static void control(void **s)
{
    hale_sandbox_result res;
    char layers[256];

    (void)s;
    run(ARGV("control", input_path), 0, &res);
    record("C1", "control: read input, write /tmp, exec sha256sum", res.exit_code == 0, "(allowed)",
           res.out);
    assert_int_equal(res.exit_code, 0);
    /* sha256 of "hale input\n" */
    assert_string_equal(res.out, "fc9fa385d8c3881c717124ada726ba59002c87e2340971b7ae5bf5709ba047fb"
                                 "  /tmp/copy\n");
    assert_int_equal(res.layers & HALE_SANDBOX_REQUIRE_DEFAULT, HALE_SANDBOX_REQUIRE_DEFAULT);
    printf("layers applied: %s; Landlock ABI %d\n",
           hale_sandbox_layers_str(res.layers, layers, sizeof(layers)), res.landlock_abi);
    hale_sandbox_result_release(&res);
}

/* Degrade loudly: a required layer that does not apply fails the run before the tool. */
static void required_layer_missing(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    hale_diag d = {{0}};

    (void)s;
    spec_base(&sp, ARGV("write", marker));
    sp.require |= LANDLOCK;
    sp.disable = LANDLOCK;
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), HALE_EPOLICY);
    assert_non_null(strstr(d.msg, "landlock"));
    assert_int_equal(access(marker, F_OK), -1); /* the tool never ran */
    /* Not required: the run goes on and says what is missing. */
    sp.require &= ~(uint32_t)LANDLOCK;
    spec_base(&sp, ARGV("true"));
    sp.disable = LANDLOCK;
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), 0);
    assert_int_equal(res.layers & LANDLOCK, 0);
    assert_int_equal(res.exit_code, 0);
    hale_sandbox_result_release(&res);
}

static void launcher_missing(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    hale_diag d = {{0}};

    (void)s;
    spec_base(&sp, ARGV("true"));
    sp.launcher = "/nonexistent/hale-sandbox";
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), -ENOENT);
    assert_non_null(strstr(d.msg, "cannot start"));
    spec_base(&sp, ARGV("true"));
    sp.path = "/nonexistent/tool";
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), -ENOENT);
    assert_non_null(strstr(d.msg, "execve"));
}

/* From the libuv daemon: the blocking call runs in a threadpool job while the loop keeps
 * ticking, and the result comes back in after_work on the loop thread. */
struct pool_job {
    uv_work_t req;           /* the threadpool request */
    uv_timer_t tick;         /* proves the loop is not blocked */
    unsigned ticks;          /* timer callbacks during the run */
    int r;                   /* hale_sandbox_run()'s return */
    hale_sandbox_result res; /* filled in the worker */
    bool done;               /* after_work ran */
};

static void pool_work(uv_work_t *req)
{
    struct pool_job *j = req->data;
    hale_sandbox_spec sp;

    spec_base(&sp, ARGV("hang"));
    sp.timeout_ms = 300;
    j->r = hale_sandbox_run(&sp, &j->res, NULL);
}

static void pool_after(uv_work_t *req, int status)
{
    struct pool_job *j = req->data;

    assert_int_equal(status, 0);
    j->done = true;
    uv_close((uv_handle_t *)&j->tick, NULL);
}

static void pool_tick(uv_timer_t *t)
{
    ((struct pool_job *)t->data)->ticks++;
}

static void from_threadpool(void **s)
{
    uv_loop_t loop;
    struct pool_job j = {.r = -1};

    (void)s;
    assert_int_equal(uv_loop_init(&loop), 0);
    j.req.data = &j;
    j.tick.data = &j;
    assert_int_equal(uv_timer_init(&loop, &j.tick), 0);
    assert_int_equal(uv_timer_start(&j.tick, pool_tick, 10, 10), 0);
    assert_int_equal(uv_queue_work(&loop, &j.req, pool_work, pool_after), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_true(j.done);
    assert_int_equal(j.r, 0);
    assert_true(j.res.timed_out);
    assert_true(j.ticks >= 15); /* about 30 in 300 ms; the loop was never held */
    hale_sandbox_result_release(&j.res);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void layer_names(void **s)
{
    uint32_t m = 0;
    char buf[256];
    hale_diag d = {{0}};

    (void)s;
    assert_int_equal(hale_sandbox_layers_parse("seccomp,landlock", &m, &d), 0);
    assert_int_equal(m, SECCOMP | LANDLOCK);
    assert_string_equal(hale_sandbox_layers_str(m, buf, sizeof(buf)), "landlock,seccomp");
    assert_int_equal(hale_sandbox_layers_parse("default", &m, &d), 0);
    assert_int_equal(m, HALE_SANDBOX_REQUIRE_DEFAULT);
    assert_int_equal(hale_sandbox_layers_parse("seccomp,bogus", &m, &d), HALE_EPARSE);
    assert_non_null(strstr(d.msg, "'bogus'"));
    assert_string_equal(
        hale_sandbox_caps_str((1ULL << 5) | (1ULL << 21) | (1ULL << 40), buf, sizeof(buf)),
        "cap_kill,cap_sys_admin,cap_checkpoint_restore");
    assert_string_equal(hale_sandbox_caps_str(1ULL << 50, buf, sizeof(buf)), "cap_50");
    assert_string_equal(hale_sandbox_caps_str(0, buf, sizeof(buf)), "");
    assert_string_equal(hale_sandbox_relax_str(7, buf, sizeof(buf)), "connect,caps,host_pid");
    assert_string_equal(hale_sandbox_caps_str(1ULL << 5, buf, 4), "");
}

static int listen_on(int fd, const struct sockaddr *a, socklen_t len)
{
    if (fd < 0 || bind(fd, a, len) < 0 || listen(fd, 16) < 0)
        return -1;
    return fd;
}

/* ---- Relaxations: what a manifest may declare, and that it gets exactly that ------------- */

/* The host service a declared destination stands for: on every address (so 127.0.0.2 reaches
 * it from the host too), it answers "pong:" and what it read, and notes who connected. */
static struct {
    int fd;             /* listener on :: (dual-stack) or 0.0.0.0 */
    bool v6;            /* it is the IPv6 one */
    unsigned port;      /* its port */
    pthread_t thread;   /* serve() */
    atomic_bool stop;   /* teardown */
    atomic_int conns;   /* connections served */
    char peer_caps[96]; /* CapEff and CapBnd of the last peer process, "NoNewPrivs" */
} echo;
static char echo_port_str[16], echo_dest[64], hostname_dest[300], host_name[256], marker2[600];

/* Capability lines of /proc/PID/status, for the forwarder check. */
static void peer_caps(pid_t pid, char *out, size_t size)
{
    char path[64], line[256];
    FILE *f;
    size_t off = 0;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    out[0] = '\0';
    f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f) && off < size)
        if (strncmp(line, "CapEff:", 7) == 0 || strncmp(line, "CapBnd:", 7) == 0 ||
            strncmp(line, "NoNewPrivs:", 11) == 0) {
            int n = snprintf(out + off, size - off, "%.*s ", (int)strcspn(line, "\n"), line);

            off += n > 0 ? (size_t)n : 0;
        }
    fclose(f);
}

/* The launcher running now: the test's child named hale-sandbox (SO_PEERCRED is for unix
 * sockets only, so the TCP peer is found this way). */
static pid_t running_launcher(void)
{
    char path[96], buf[512], comm[32];
    char *save = NULL;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
    f = fopen(path, "r");
    if (!f)
        return -1;
    buf[0] = '\0';
    if (!fgets(buf, sizeof(buf), f))
        buf[0] = '\0';
    fclose(f);
    for (char *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
        snprintf(path, sizeof(path), "/proc/%s/comm", t);
        f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof(comm), f) && strncmp(comm, "hale-sandbox", 12) == 0) {
            fclose(f);
            return (pid_t)strtol(t, NULL, 10);
        }
        fclose(f);
    }
    return -1;
}

static void *serve(void *arg)
{
    (void)arg;
    while (!atomic_load(&echo.stop)) {
        struct pollfd p = {.fd = echo.fd, .events = POLLIN};
        char buf[64], reply[80];
        pid_t launcher;
        size_t len = 0;
        ssize_t n;
        int c;

        if (poll(&p, 1, 50) <= 0)
            continue;
        c = accept4(echo.fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        launcher = running_launcher();
        if (launcher > 0)
            peer_caps(launcher, echo.peer_caps, sizeof(echo.peer_caps));
        while (len < sizeof(buf) && (n = read(c, buf + len, sizeof(buf) - len)) > 0)
            len += (size_t)n;
        n = snprintf(reply, sizeof(reply), "pong:%.*s", (int)len, buf);
        (void)!write(c, reply, (size_t)n);
        close(c);
        atomic_fetch_add(&echo.conns, 1);
    }
    return NULL;
}

static int echo_start(void)
{
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
    socklen_t len = sizeof(in6);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), zero = 0;

    /* Dual-stack where IPv6 exists, so the IPv6 destinations can be tried as well. */
    if (fd >= 0 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) == 0)
        echo.fd = listen_on(fd, (struct sockaddr *)&in6, sizeof(in6));
    else
        echo.fd = -1;
    if (echo.fd < 0) {
        if (fd >= 0)
            close(fd);
        echo.fd = listen_on(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), (struct sockaddr *)&in,
                            sizeof(in));
        len = sizeof(in);
        if (echo.fd < 0 || getsockname(echo.fd, (struct sockaddr *)&in, &len) < 0)
            return -1;
        echo.port = ntohs(in.sin_port);
    } else {
        if (getsockname(echo.fd, (struct sockaddr *)&in6, &len) < 0)
            return -1;
        echo.port = ntohs(in6.sin6_port);
        echo.v6 = true;
    }
    snprintf(echo_port_str, sizeof(echo_port_str), "%u", echo.port);
    snprintf(echo_dest, sizeof(echo_dest), "127.0.0.1:%u", echo.port);
    /* The machine's own name, when the host resolves it (the "listed host name" case). */
    if (gethostname(host_name, sizeof(host_name) - 1) == 0 &&
        getaddrinfo(host_name, echo_port_str, &hints, &ai) == 0) {
        snprintf(hostname_dest, sizeof(hostname_dest), "%s:%u", host_name, echo.port);
        freeaddrinfo(ai);
    }
    return pthread_create(&echo.thread, NULL, serve, NULL) == 0 ? 0 : -1;
}

static void echo_stop(void)
{
    atomic_store(&echo.stop, true);
    pthread_join(echo.thread, NULL);
    close(echo.fd);
}

/* A host process of another uid, for the signal tests: the caller reaps it. */
static pid_t victim_of(uid_t uid)
{
    pid_t p = fork();

    if (p == 0) {
        if (setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
            _exit(2);
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL); /* after the uid change, which clears it */
        for (;;)
            pause();
    }
    return p;
}

static void spec_connect(hale_sandbox_spec *s, const char *const *argv, const char *const *dest)
{
    spec_base(s, argv);
    s->connect = dest;
}

static void run_spec(hale_sandbox_spec *s, hale_sandbox_result *res)
{
    hale_diag d = {{0}};
    int r = hale_sandbox_run(s, res, &d);

    if (r < 0)
        fail_msg("hale_sandbox_run: %s: %s", hale_strerror(r), d.msg);
}

static void connect_declared(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    const char *dest[] = {echo_dest, NULL};
    char want[128], relax[64];

    (void)s;
    need(HALE_SANDBOX_NETNS);
    spec_connect(&sp, ARGV("tcp", "127.0.0.1", echo_port_str), dest);
    run_spec(&sp, &res);
    record("R1", "connect: declared 127.0.0.1:PORT, both ways", res.exit_code == ESCAPED,
           "(allowed: forwarder)", res.out);
    assert_int_equal(res.exit_code, ESCAPED);
    assert_string_equal(res.out, "reached reply=[pong:ping|]\n");
    /* Recorded: the relaxation, the address granted, one connection, 5 + 10 bytes; the
     * network namespace still applied. */
    snprintf(want, sizeof(want), "%s 127.0.0.1\n", echo_dest);
    assert_string_equal(res.granted, want);
    assert_int_equal(res.relax, HALE_SANDBOX_RELAX_CONNECT);
    assert_string_equal(hale_sandbox_relax_str(res.relax, relax, sizeof(relax)), "connect");
    assert_int_equal(res.conns, 1);
    assert_int_equal(res.conns_refused, 0);
    assert_int_equal(res.relay_bytes, 15);
    assert_true(res.layers & HALE_SANDBOX_NETNS);
    assert_int_equal(res.layers & HALE_SANDBOX_REQUIRE_DEFAULT, HALE_SANDBOX_REQUIRE_DEFAULT);
    hale_sandbox_result_release(&res);
}

/* What the forwarder runs with: it is the process the host service sees connecting. */
static void forwarder_caps(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    const char *dest[] = {echo_dest, NULL};

    (void)s;
    need(HALE_SANDBOX_NETNS);
    echo.peer_caps[0] = '\0';
    spec_connect(&sp, ARGV("tcp", "127.0.0.1", echo_port_str), dest);
    run_spec(&sp, &res);
    assert_int_equal(res.exit_code, ESCAPED);
    record("R2", "forwarder: CAP_KILL only, no_new_privs",
           strstr(echo.peer_caps, "CapEff:\t0000000000000020") &&
               strstr(echo.peer_caps, "CapBnd:\t0000000000000020") &&
               strstr(echo.peer_caps, "NoNewPrivs:\t1"),
           "(launcher after set-up)", "CapEff, CapBnd 0x20");
    if (!strstr(echo.peer_caps, "CapEff:\t0000000000000020"))
        fail_msg("the forwarder runs with '%s'", echo.peer_caps);
    assert_non_null(strstr(echo.peer_caps, "CapBnd:\t0000000000000020"));
    assert_non_null(strstr(echo.peer_caps, "NoNewPrivs:\t1"));
    hale_sandbox_result_release(&res);
}

/* Not declared: another port of the same address, another address of the same port (which
 * the host does serve: 127.0.0.2 reaches the service from outside). */
static void connect_undeclared(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    const char *dest[] = {echo_dest, NULL};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)echo.port)};
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    (void)s;
    need(HALE_SANDBOX_NETNS);
    a.sin_addr.s_addr = htonl(0x7f000002);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0); /* the control */
    close(c);
    spec_connect(&sp, ARGV("tcp", "127.0.0.2", echo_port_str), dest);
    run_spec(&sp, &res);
    record("R3", "connect: undeclared address, declared port", res.exit_code == 0, "netns",
           res.out);
    assert_int_equal(res.exit_code, 0);
    assert_non_null(strstr(res.out, "ECONNREFUSED"));
    hale_sandbox_result_release(&res);
    /* Another port: Landlock (ABI >= 4) refuses it before the empty namespace would. */
    spec_connect(&sp, ARGV("tcp", "127.0.0.1", port_str), dest);
    run_spec(&sp, &res);
    record("R4", "connect: declared address, undeclared port", res.exit_code == 0,
           res.landlock_abi >= 4 ? "landlock (port) + netns" : "netns", res.out);
    assert_int_equal(res.exit_code, 0);
    assert_non_null(strstr(res.out, res.landlock_abi >= 4 ? "EACCES" : "ECONNREFUSED"));
    hale_sandbox_result_release(&res);
    if (res.landlock_abi >= 4) { /* without Landlock the namespace still refuses it */
        sp.disable = LANDLOCK;
        sp.require &= ~(uint32_t)LANDLOCK;
        run_spec(&sp, &res);
        assert_int_equal(res.exit_code, 0);
        assert_non_null(strstr(res.out, "ECONNREFUSED"));
        hale_sandbox_result_release(&res);
    }
}

static void connect_by_name(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    const char *dest[] = {hostname_dest, NULL};

    (void)s;
    need(HALE_SANDBOX_NETNS);
    if (!hostname_dest[0]) {
        printf("[  SKIP    ] the host name '%s' does not resolve here\n", host_name);
        skip();
    }
    spec_connect(&sp, ARGV("tcp", host_name, echo_port_str), dest);
    run_spec(&sp, &res);
    record("R5", "connect: declared host name (private /etc/hosts)", res.exit_code == ESCAPED,
           "(allowed: hosts + forwarder)", res.out);
    assert_int_equal(res.exit_code, ESCAPED);
    assert_string_equal(res.out, "reached reply=[pong:ping|]\n");
    assert_non_null(strstr(res.granted, hostname_dest));
    hale_sandbox_result_release(&res);
    /* A name not declared has no entry: no DNS inside. */
    spec_connect(&sp, ARGV("tcp", "hale-undeclared.example", echo_port_str), dest);
    run_spec(&sp, &res);
    assert_int_equal(res.exit_code, 0);
    assert_non_null(strstr(res.out, "blocked resolve"));
    hale_sandbox_result_release(&res);
}

/* Addresses that are not lo's already: the child adds them to lo in the tool's namespace
 * (netlink), so the tool reaches the machine's own non-loopback addresses, and IPv6 ones. */
static void connect_other_addresses(void **s)
{
    struct ifaddrs *ifa = NULL;
    char addrs[3][INET6_ADDRSTRLEN + 2] = {"", "", ""}, dests[3][INET6_ADDRSTRLEN + 16];
    unsigned tried = 0;

    (void)s;
    need(HALE_SANDBOX_NETNS);
    if (echo.v6)
        snprintf(addrs[0], sizeof(addrs[0]), "::1");
    if (getifaddrs(&ifa) == 0) {
        for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
            char t[INET6_ADDRSTRLEN];

            if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
                continue;
            if (i->ifa_addr->sa_family == AF_INET && !addrs[1][0]) {
                inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, t, sizeof(t));
                snprintf(addrs[1], sizeof(addrs[1]), "%s", t);
            } else if (i->ifa_addr->sa_family == AF_INET6 && echo.v6 && !addrs[2][0] &&
                       !IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr)) {
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, t, sizeof(t));
                snprintf(addrs[2], sizeof(addrs[2]), "%s", t);
            }
        }
        freeifaddrs(ifa);
    }
    for (unsigned i = 0; i < 3; i++) {
        hale_sandbox_spec sp;
        hale_sandbox_result res;
        const char *dest[] = {dests[i], NULL};
        bool v6 = strchr(addrs[i], ':') != NULL;
        static char what[3][256]; /* record() keeps the pointer */

        if (!addrs[i][0])
            continue;
        snprintf(dests[i], sizeof(dests[i]), v6 ? "[%s]:%u" : "%s:%u", addrs[i], echo.port);
        spec_connect(&sp, ARGV("tcp", addrs[i], echo_port_str), dest);
        run_spec(&sp, &res);
        static const char *const ids[] = {"R5a", "R5b", "R5c"};

        snprintf(what[i], sizeof(what[i]), "connect: declared %s", dests[i]);
        record(ids[i], what[i], res.exit_code == ESCAPED, "(allowed: lo address + forwarder)",
               res.out);
        if (res.exit_code != ESCAPED || strcmp(res.out, "reached reply=[pong:ping|]\n") != 0)
            fail_msg("%s: exit %d: %s%s", dests[i], res.exit_code, res.out, res.err);
        hale_sandbox_result_release(&res);
        tried++;
    }
    if (!tried) {
        printf("[  SKIP    ] no IPv6 and no non-loopback address here\n");
        skip();
    }
}

/* The forwarder's caps: connections per run and bytes per connection and direction. */
static void connect_caps(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    const char *dest[] = {echo_dest, NULL};

    (void)s;
    need(HALE_SANDBOX_NETNS);
    spec_connect(&sp, ARGV("tcp", "127.0.0.1", echo_port_str, "2"), dest);
    sp.connect_max_conns = 1;
    run_spec(&sp, &res);
    record("R6", "forwarder: connection cap (1 of 2)", res.conns == 1 && res.conns_refused == 1,
           "forwarder cap", res.out);
    /* The second is accepted inside and closed at once: the tool sees an empty reply or a
     * reset, never the service. */
    assert_true(strncmp(res.out, "reached reply=[pong:ping|]\n", 27) == 0);
    assert_null(strstr(res.out + 27, "pong"));
    assert_int_equal(res.conns, 1);
    assert_int_equal(res.conns_refused, 1);
    hale_sandbox_result_release(&res);
    spec_connect(&sp, ARGV("tcp", "127.0.0.1", echo_port_str), dest);
    sp.connect_max_bytes = 4;
    run_spec(&sp, &res);
    record("R7", "forwarder: 4-byte cap each way", strcmp(res.out, "reached reply=[pong]\n") == 0,
           "forwarder cap", res.out);
    assert_string_equal(res.out, "reached reply=[pong]\n");
    assert_int_equal(res.relay_bytes, 8);
    hale_sandbox_result_release(&res);
}

/* The declared service is down: the connection is accepted inside, the forwarder's connect
 * fails, the tool sees it closed, and the result counts it refused. */
static void connect_upstream_down(void **s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    char dest_s[32], port_s[8];
    const char *dest[] = {dest_s, NULL};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    (void)s;
    need(HALE_SANDBOX_NETNS);
    /* A port nothing listens on: bound (so it was free), never listened on, closed. */
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    snprintf(port_s, sizeof(port_s), "%u", ntohs(a.sin_port));
    snprintf(dest_s, sizeof(dest_s), "127.0.0.1:%s", port_s);
    spec_connect(&sp, ARGV("tcp", "127.0.0.1", port_s), dest);
    run_spec(&sp, &res);
    record("R7b", "forwarder: declared service down", res.conns_refused == 1 && res.conns == 0,
           "(closed, counted)", res.out);
    assert_int_equal(res.conns, 0);
    assert_int_equal(res.conns_refused, 1);
    assert_null(strstr(res.out, "pong"));
    hale_sandbox_result_release(&res);
}

static void connect_rejected(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    hale_diag d = {{0}};
    const char *bad[][2] = {{"127.0.0.1", NULL}, {"127.0.0.1:0", NULL}, {"127.0.0.1:70000", NULL},
                            {"a b:80", NULL},    {"[::1:80", NULL},     {"host/x:80", NULL}};
    const char *nine[] = {"a:1", "a:2", "a:3", "a:4", "a:5", "a:6", "a:7", "a:8", "a:9", NULL};
    const char *unknown[] = {"hale-nonexistent.invalid:80", NULL};

    (void)s;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        spec_connect(&sp, ARGV("true"), bad[i]);
        assert_int_equal(hale_sandbox_run(&sp, &res, &d), HALE_ESCHEMA);
        assert_non_null(strstr(d.msg, "connect[0]"));
    }
    spec_connect(&sp, ARGV("true"), nine);
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), HALE_ESCHEMA);
    spec_connect(&sp, ARGV("true"), (const char *[]){echo_dest, NULL});
    sp.disable = HALE_SANDBOX_NETNS; /* never the host's network */
    sp.require &= ~(uint32_t)HALE_SANDBOX_NETNS;
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), HALE_ESCHEMA);
    assert_non_null(strstr(d.msg, "netns"));
    /* A name that does not resolve fails the run before the tool starts. */
    spec_connect(&sp, ARGV("true"), unknown);
    assert_true(hale_sandbox_run(&sp, &res, &d) < 0);
    assert_non_null(strstr(d.msg, "connect:hale-nonexistent.invalid:80"));
}

/* uid 0 with no capability (a manifest's run_as root) works and holds nothing. */
static void root_without_caps(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;

    (void)s;
    spec_base(&sp, ARGV("creds"));
    sp.uid = sp.gid = 0;
    sp.require &= ~(uint32_t)HALE_SANDBOX_UID; /* root has no unprivileged uid */
    run_spec(&sp, &res);
    record("R8", "uid 0, no capability", res.exit_code == 0, "caps + securebits", res.out);
    assert_int_equal(res.exit_code, 0);
    assert_non_null(strstr(res.out, "uid 0 "));
    assert_non_null(strstr(res.out, "CapEff=0000000000000000"));
    assert_non_null(strstr(res.out, "CapBnd=0000000000000000"));
    assert_int_equal(res.relax, 0);
    assert_int_equal(res.caps_kept, 0);
    hale_sandbox_result_release(&res);
}

/* CAP_KILL kept: a root tool with the host's pid view signals a process of another uid; the
 * same run without it gets EPERM. Without host_pid the process is not even visible. */
static void keep_cap_kill(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    pid_t v = victim_of(12345);
    char vs[16], caps[64];
    int st = 0;

    (void)s;
    assert_true(v > 0);
    snprintf(vs, sizeof(vs), "%d", (int)v);
    spec_base(&sp, ARGV("kill", vs));
    sp.uid = sp.gid = 0;
    sp.require &= ~(uint32_t)HALE_SANDBOX_UID; /* root has no unprivileged uid */
    sp.host_pid = true;
    sp.require &= ~(uint32_t)HALE_SANDBOX_PIDNS;
    run_spec(&sp, &res);
    record("R9", "host_pid, uid 0, no CAP_KILL: kill uid 12345", res.exit_code == 0,
           "caps (uid differs)", res.out);
    assert_int_equal(res.exit_code, 0);
    assert_non_null(strstr(res.out, "EPERM"));
    assert_int_equal(kill(v, 0), 0);
    hale_sandbox_result_release(&res);

    sp.keep_caps = 1ULL << 5; /* CAP_KILL */
    sp.require = HALE_SANDBOX_REQUIRE_DEFAULT & ~(uint32_t)(HALE_SANDBOX_PIDNS | HALE_SANDBOX_UID);
    run_spec(&sp, &res);
    hale_sandbox_caps_str(res.caps_kept, caps, sizeof(caps));
    record("R10", "host_pid, uid 0, CAP_KILL kept: kill uid 12345", res.exit_code == ESCAPED,
           "(allowed: declared)", caps);
    assert_int_equal(res.exit_code, ESCAPED);
    assert_int_equal(waitpid(v, &st, 0), v);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_int_equal(res.relax, HALE_SANDBOX_RELAX_CAPS | HALE_SANDBOX_RELAX_HOSTPID);
    assert_int_equal(res.caps_kept, 1ULL << 5);
    assert_string_equal(caps, "cap_kill");
    assert_int_equal(res.layers & HALE_SANDBOX_PIDNS, 0);
    assert_true(res.layers & HALE_SANDBOX_CAPS);
    hale_sandbox_result_release(&res);

    /* In its own pid namespace the same capability reaches nothing outside. */
    v = victim_of(12345);
    snprintf(vs, sizeof(vs), "%d", (int)v);
    spec_base(&sp, ARGV("kill", vs));
    sp.uid = sp.gid = 0;
    sp.require &= ~(uint32_t)HALE_SANDBOX_UID; /* root has no unprivileged uid */
    sp.keep_caps = 1ULL << 5;
    run_spec(&sp, &res);
    assert_int_equal(res.exit_code, 0);
    assert_non_null(strstr(res.out, "ESRCH"));
    assert_int_equal(kill(v, 0), 0);
    kill(v, SIGKILL);
    waitpid(v, NULL, 0);
    hale_sandbox_result_release(&res);
}

/* The tool holds exactly what it declared, in every set, as a non-root uid too. */
static void keep_caps_exact(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;

    (void)s;
    spec_base(&sp, ARGV("creds"));
    sp.keep_caps = (1ULL << 5) | (1ULL << 1); /* CAP_KILL, CAP_DAC_OVERRIDE */
    run_spec(&sp, &res);
    record("R11", "keep CAP_KILL+CAP_DAC_OVERRIDE as uid 65534", res.exit_code == 0,
           "caps (exactly these)", res.out);
    assert_non_null(strstr(res.out, "uid 65534 "));
    assert_non_null(strstr(res.out, "CapPrm=0000000000000022"));
    assert_non_null(strstr(res.out, "CapEff=0000000000000022"));
    assert_non_null(strstr(res.out, "CapBnd=0000000000000022"));
    assert_non_null(strstr(res.out, "CapAmb=0000000000000022"));
    assert_int_equal(res.caps_kept, 0x22);
    hale_sandbox_result_release(&res);
}

/* CAP_SYS_ADMIN kept still cannot mount (seccomp), and may only be kept with seccomp,
 * Landlock and the mount view required. */
static void keep_sys_admin(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    hale_diag d = {{0}};

    (void)s;
    need(SECCOMP);
    spec_base(&sp, ARGV("mount"));
    sp.uid = sp.gid = 0;
    sp.require &= ~(uint32_t)HALE_SANDBOX_UID; /* root has no unprivileged uid */
    sp.keep_caps = 1ULL << 21;
    sp.require |= LANDLOCK;
    run_spec(&sp, &res);
    record("R12", "CAP_SYS_ADMIN kept: mount a tmpfs", res.exit_code == 0, "seccomp", res.out);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(res.caps_kept, 1ULL << 21);
    hale_sandbox_result_release(&res);
    spec_base(&sp, ARGV("remount"));
    sp.keep_caps = 1ULL << 21;
    sp.require |= LANDLOCK;
    run_spec(&sp, &res);
    assert_int_equal(res.exit_code, 0);
    hale_sandbox_result_release(&res);
    sp.disable = SECCOMP;
    sp.require &= ~(uint32_t)SECCOMP;
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), HALE_ESCHEMA);
    assert_non_null(strstr(d.msg, "cap_sys_admin"));
    spec_base(&sp, ARGV("true"));
    sp.keep_caps = 1ULL << 21; /* Landlock not required: refused too */
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), HALE_ESCHEMA);
    spec_base(&sp, ARGV("true"));
    sp.keep_caps = 1ULL << 63;
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), HALE_ESCHEMA);
    assert_non_null(strstr(d.msg, "keep_caps"));
}

/* A drop_caches tool: uid 0, no capability, /proc/sys/vm/drop_caches declared writable. It
 * writes 4 (only silences the kernel's message: harmless here); every other tunable stays
 * read-only, and uid 65534 may not write it at all. */
static void writable_sysctl(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    const char *rw[] = {"/proc/sys/vm/drop_caches", NULL};

    (void)s;
    need(HALE_SANDBOX_MOUNTNS);
    spec_base(&sp, ARGV("sysctl", "/proc/sys/vm/drop_caches", "4"));
    sp.uid = sp.gid = 0;
    sp.require &= ~(uint32_t)HALE_SANDBOX_UID; /* root has no unprivileged uid */
    sp.writable = rw;
    run_spec(&sp, &res);
    record("R16", "uid 0, writable /proc/sys/vm/drop_caches", res.exit_code == ESCAPED,
           "(allowed: declared)", res.out);
    assert_int_equal(res.exit_code, ESCAPED);
    hale_sandbox_result_release(&res);
    spec_base(&sp, ARGV("sysctl", "/proc/sys/vm/overcommit_memory", "0"));
    sp.uid = sp.gid = 0;
    sp.require &= ~(uint32_t)HALE_SANDBOX_UID; /* root has no unprivileged uid */
    sp.writable = rw;
    run_spec(&sp, &res);
    assert_int_equal(res.exit_code, 0);
    assert_non_null(strstr(res.out, "EROFS"));
    hale_sandbox_result_release(&res);
    spec_base(&sp, ARGV("sysctl", "/proc/sys/vm/drop_caches", "4"));
    sp.writable = rw;
    run_spec(&sp, &res);
    assert_int_equal(res.exit_code, 0);
    assert_non_null(strstr(res.out, "EACCES"));
    hale_sandbox_result_release(&res);
}

static void spec_host_pid(hale_sandbox_spec *sp, const char *const *argv)
{
    spec_base(sp, argv);
    sp->host_pid = true;
    sp->require &= ~(uint32_t)HALE_SANDBOX_PIDNS;
}

static void host_pid_sees(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    hale_diag d = {{0}};

    (void)s;
    spec_host_pid(&sp, ARGV("see", victim_str));
    run_spec(&sp, &res);
    record("R13", "host_pid: see a host process", res.exit_code == ESCAPED, "(allowed: declared)",
           res.out);
    assert_int_equal(res.exit_code, ESCAPED);
    assert_int_equal(res.relax, HALE_SANDBOX_RELAX_HOSTPID);
    assert_int_equal(res.layers & HALE_SANDBOX_PIDNS, 0);
    hale_sandbox_result_release(&res);
    /* Still not: killing a process of another uid, reading its memory (Landlock keeps ptrace
     * access, which /proc/PID/mem and environ need, inside the sandbox). */
    spec_host_pid(&sp, ARGV("kill", victim_str));
    run_spec(&sp, &res);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(kill(h.victim, 0), 0);
    hale_sandbox_result_release(&res);
    spec_host_pid(&sp, ARGV("see", victim_str));
    sp.require |= HALE_SANDBOX_PIDNS; /* a contradiction: refused */
    assert_int_equal(hale_sandbox_run(&sp, &res, &d), HALE_ESCHEMA);
    assert_non_null(strstr(d.msg, "host_pid"));
}

/* The wall clock still ends the whole tree, a child in its own session and its grandchild
 * included; and a daemonised grandchild of a tool that exits does not outlive the run. */
static void host_pid_tree(void **s)
{
    hale_sandbox_spec sp;
    hale_sandbox_result res;
    struct timespec t = {2, 0};
    struct stat st;
    char detail[64];

    (void)s;
    spec_host_pid(&sp, ARGV("hangtree", marker2));
    sp.timeout_ms = 500;
    run_spec(&sp, &res);
    assert_true(res.timed_out);
    assert_string_equal(res.out, "tree started\n");
    snprintf(detail, sizeof(detail), "killed after %llu ms, no marker after 2 s",
             (unsigned long long)res.wall_ms);
    hale_sandbox_result_release(&res);
    nanosleep(&t, NULL);
    record("R14", "host_pid: hang with a setsid'd tree past the timeout", stat(marker2, &st) < 0,
           "subreaper + kill of the tree", detail);
    assert_true(stat(marker2, &st) < 0 && errno == ENOENT);

    spec_host_pid(&sp, ARGV("daemon", marker));
    run_spec(&sp, &res);
    hale_sandbox_result_release(&res);
    t.tv_sec = 1;
    t.tv_nsec = 500 * 1000 * 1000;
    nanosleep(&t, NULL);
    record("R15", "host_pid: daemonise and outlive the run", stat(marker, &st) < 0,
           "subreaper + kill of the tree", "no marker after 1.5 s");
    assert_true(stat(marker, &st) < 0 && errno == ENOENT);
}

static int setup(void **s)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_un ab = {.sun_family = AF_UNIX}, un = {.sun_family = AF_UNIX};
    socklen_t len = sizeof(in);
    hale_sandbox_result res;
    hale_sandbox_spec sp;
    hale_diag d = {{0}};
    char *slash;
    int r;

    (void)s;
    h.work = fixture_tmpdir("sandbox-work");
    h.data = fixture_tmpdir("sandbox-data");
    if (!h.work || !h.data || chown(h.work, TOOL_UID, TOOL_UID) < 0 || chmod(h.data, 0700) < 0)
        return -1;
    snprintf(h.probe_dir, sizeof(h.probe_dir), "%s", HALE_SANDBOX_PROBE);
    slash = strrchr(h.probe_dir, '/');
    *slash = '\0';
    snprintf(data_secret, sizeof(data_secret), "%s/audit.key", h.data);
    snprintf(marker, sizeof(marker), "%s/marker", h.work);
    snprintf(marker2, sizeof(marker2), "%s/marker2", h.work);
    snprintf(fill_path, sizeof(fill_path), "%s/fill", h.work);
    snprintf(input_path, sizeof(input_path), "%s/input", h.work);
    if (fixture_write(data_secret, "secret key material\n") < 0 || chmod(data_secret, 0600) < 0 ||
        fixture_write(input_path, "hale input\n") < 0)
        return -1;
    /* A setuid-root copy of the probe, in the read-only probe directory's neighbour. */
    snprintf(h.suid, sizeof(h.suid), "%s/suid", h.data);
    snprintf(suid_arg, sizeof(suid_arg), "%s/probe", h.suid);
    if (mkdir(h.suid, 0755) < 0)
        return -1;
    {
        char *bin = fixture_read(HALE_SANDBOX_PROBE, NULL);
        FILE *f = NULL;
        struct stat st;
        size_t n = 0;

        if (!bin || stat(HALE_SANDBOX_PROBE, &st) < 0)
            return -1;
        n = (size_t)st.st_size;
        f = fopen(suid_arg, "wb");
        if (!f || fwrite(bin, 1, n, f) != n || fclose(f) != 0 || chmod(suid_arg, 04755) < 0)
            return -1;
        free(bin);
    }
    /* The host's fixtures. */
    h.listener = listen_on(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0),
                           (struct sockaddr *)&in, sizeof(in));
    if (h.listener < 0 || getsockname(h.listener, (struct sockaddr *)&in, &len) < 0)
        return -1;
    h.port = ntohs(in.sin_port);
    snprintf(port_str, sizeof(port_str), "%u", h.port);
    snprintf(h.abstract_name, sizeof(h.abstract_name), "hale-sandbox-test-%d", (int)getpid());
    memcpy(ab.sun_path + 1, h.abstract_name, strlen(h.abstract_name));
    h.abstract = listen_on(
        socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), (struct sockaddr *)&ab,
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(h.abstract_name)));
    snprintf(h.unix_path, sizeof(h.unix_path), "%s/ctl.sock", h.data);
    if (strlen(h.unix_path) >= sizeof(un.sun_path))
        return -1;
    memcpy(un.sun_path, h.unix_path, strlen(h.unix_path) + 1);
    h.unix_fd = listen_on(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), (struct sockaddr *)&un,
                          sizeof(un));
    /* Not close-on-exec, on purpose: the launcher must still keep it from the tool. */
    h.secret_fd = open(data_secret, O_RDONLY);
    h.victim = fork();
    if (h.victim == 0) {
        pause();
        _exit(0);
    }
    snprintf(victim_str, sizeof(victim_str), "%d", (int)h.victim);
    if (h.abstract < 0 || h.unix_fd < 0 || h.secret_fd < 0 || h.victim < 0 || echo_start() < 0)
        return -1;
    /* What this machine offers: one run that requires nothing. */
    spec_base(&sp, ARGV("true"));
    sp.require = 0;
    r = hale_sandbox_run(&sp, &res, &d);
    if (r < 0) {
        fprintf(stderr, "sandbox unusable here: %s: %s\n", hale_strerror(r), d.msg);
        return -1;
    }
    h.available = res.layers;
    hale_sandbox_result_release(&res);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    printf("\n%-7s %-48s %-8s %-40s %s\n", "id", "probe", "blocked", "stopped by", "tool saw");
    for (size_t i = 0; i < n_rows; i++)
        printf("%-7s %-48s %-8s %-40s %s\n", rows[i].id, rows[i].probe,
               rows[i].blocked ? "yes" : "NO", rows[i].layer, rows[i].detail);
    {
        size_t blocked = 0;

        for (size_t i = 0; i < n_rows; i++)
            blocked += rows[i].blocked;
        printf("%zu/%zu contained (the control counts as passing)\n", blocked, n_rows);
    }
    if (h.victim > 0) {
        kill(h.victim, SIGKILL);
        waitpid(h.victim, NULL, 0);
    }
    echo_stop();
    close(h.listener);
    close(h.abstract);
    close(h.unix_fd);
    close(h.secret_fd);
    fixture_rmtree(h.work);
    fixture_rmtree(h.data);
    free(h.work);
    free(h.data);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layer_names),
        cmocka_unit_test(control),
        cmocka_unit_test(read_shadow),
        cmocka_unit_test(read_daemon_data),
        cmocka_unit_test(write_usr),
        cmocka_unit_test(write_outside_writable),
        cmocka_unit_test(write_readonly_bind),
        cmocka_unit_test(tcp_connect_host),
        cmocka_unit_test(tcp_bind),
        cmocka_unit_test(abstract_unix),
        cmocka_unit_test(unix_path),
        cmocka_unit_test(raw_socket),
        cmocka_unit_test(packet_socket),
        cmocka_unit_test(netlink_socket),
        cmocka_unit_test(ptrace_child),
        cmocka_unit_test(vm_read),
        cmocka_unit_test(kill_host_process),
        cmocka_unit_test(see_host_process),
        cmocka_unit_test(setns_escape),
        cmocka_unit_test(mount_tmpfs),
        cmocka_unit_test(remount_root),
        cmocka_unit_test(chroot_escape),
        cmocka_unit_test(unshare_userns),
        cmocka_unit_test(clone_userns),
        cmocka_unit_test(clone3_userns),
        cmocka_unit_test(setuid_binary),
        cmocka_unit_test(fork_bomb),
        cmocka_unit_test(memory_bomb),
        cmocka_unit_test(disk_fill_tmp),
        cmocka_unit_test(disk_fill_work),
        cmocka_unit_test(fd_exhaustion),
        cmocka_unit_test(cpu_spin),
        cmocka_unit_test(hang_past_timeout),
        cmocka_unit_test(daemonise),
        cmocka_unit_test(huge_output),
        cmocka_unit_test(inherited_fd),
        cmocka_unit_test(environment_leak),
        cmocka_unit_test(loader_env_skips_launcher),
        cmocka_unit_test(tiocsti),
        cmocka_unit_test(tioclinux),
        cmocka_unit_test(keyctl),
        cmocka_unit_test(bpf),
        cmocka_unit_test(perf),
        cmocka_unit_test(io_uring),
        cmocka_unit_test(userfaultfd),
        cmocka_unit_test(file_handles),
        cmocka_unit_test(dev_mem),
        cmocka_unit_test(dev_kmsg),
        cmocka_unit_test(sysrq),
        cmocka_unit_test(cgroup_write),
        cmocka_unit_test(proc_self_mem),
        cmocka_unit_test(hostname),
        cmocka_unit_test(settime),
        cmocka_unit_test(personality_flags),
        cmocka_unit_test(argument_injection),
        cmocka_unit_test(rejected_spec),
        cmocka_unit_test(required_layer_missing),
        cmocka_unit_test(launcher_missing),
        cmocka_unit_test(from_threadpool),
        cmocka_unit_test(connect_declared),
        cmocka_unit_test(forwarder_caps),
        cmocka_unit_test(connect_undeclared),
        cmocka_unit_test(connect_by_name),
        cmocka_unit_test(connect_other_addresses),
        cmocka_unit_test(connect_caps),
        cmocka_unit_test(connect_upstream_down),
        cmocka_unit_test(connect_rejected),
        cmocka_unit_test(root_without_caps),
        cmocka_unit_test(keep_cap_kill),
        cmocka_unit_test(keep_caps_exact),
        cmocka_unit_test(keep_sys_admin),
        cmocka_unit_test(writable_sysctl),
        cmocka_unit_test(host_pid_sees),
        cmocka_unit_test(host_pid_tree),
    };

    if (geteuid() != 0) {
        printf("[  SKIP    ] the escape suite needs root here: it chowns the work directory "
               "to uid %d and plants a setuid-root binary\n",
               TOOL_UID);
        return 0;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
