/* include/hale/sandbox.h - run one allowlisted executable inside the layered OS sandbox of
 * docs/sandbox.md: the hale-sandbox launcher puts it in new namespaces with a read-only file
 * system view, an unprivileged uid, no capabilities, no_new_privs, Landlock, a seccomp
 * deny-list and rlimits, kills the whole process tree at the wall-clock limit, and reports
 * which layers applied. Output is captured up to a byte cap. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/fwd.h"

/* The layers, as bits of hale_sandbox_result.layers and of the require/disable masks. */
#define HALE_SANDBOX_LAYER_MAP(XX)                                                                 \
    XX(USERNS, 0, "userns")         /* a user namespace (only when the launcher is not root) */    \
    XX(MOUNTNS, 1, "mountns")       /* mount namespace: read-only root, declared binds, /tmp */    \
    XX(PIDNS, 2, "pidns")           /* pid namespace: the tool is pid 1, its death ends all */     \
    XX(NETNS, 3, "netns")           /* network namespace with no interface up: no network */       \
    XX(IPCNS, 4, "ipcns")           /* System V IPC and POSIX queues of its own */                 \
    XX(UTSNS, 5, "utsns")           /* host name of its own */                                     \
    XX(CGROUPNS, 6, "cgroupns")     /* cgroup view rooted at its own cgroup */                     \
    XX(UID, 7, "uid")               /* runs as an unprivileged uid/gid with no groups */           \
    XX(CAPS, 8, "caps")             /* every capability set empty, bounding set too */             \
    XX(SECUREBITS, 9, "securebits") /* NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE, locked */    \
    XX(NNP, 10, "nnp")              /* PR_SET_NO_NEW_PRIVS: setuid bits and file caps inert */     \
    XX(LANDLOCK, 11, "landlock")    /* file access, TCP bind/connect, signal and socket scope */   \
    XX(SECCOMP, 12, "seccomp")      /* the deny-list of docs/sandbox.md */                         \
    XX(RLIMITS, 13, "rlimits")      /* memory, processes, file size, CPU, fds, no core */          \
    XX(SETSID, 14, "setsid")        /* a new session: no controlling terminal */                   \
    XX(CLOSEFDS, 15, "closefds")    /* every descriptor above 2 closed at exec */

enum hale_sandbox_layer {
#define HALE_SANDBOX_LAYER_ENUM(name, bit, text) HALE_SANDBOX_##name = 1u << (bit),
    HALE_SANDBOX_LAYER_MAP(HALE_SANDBOX_LAYER_ENUM)
#undef HALE_SANDBOX_LAYER_ENUM
};

/* Every layer but USERNS (only used when not root) and LANDLOCK (kernel-dependent): what
 * hale_sandbox_spec_init() requires by default. */
#define HALE_SANDBOX_REQUIRE_DEFAULT                                                               \
    (HALE_SANDBOX_MOUNTNS | HALE_SANDBOX_PIDNS | HALE_SANDBOX_NETNS | HALE_SANDBOX_IPCNS |         \
     HALE_SANDBOX_UTSNS | HALE_SANDBOX_UID | HALE_SANDBOX_CAPS | HALE_SANDBOX_SECUREBITS |         \
     HALE_SANDBOX_NNP | HALE_SANDBOX_SECCOMP | HALE_SANDBOX_RLIMITS | HALE_SANDBOX_SETSID |        \
     HALE_SANDBOX_CLOSEFDS)

#define HALE_SANDBOX_MAX_ARGS    64          /* argv entries after argv[0] */
#define HALE_SANDBOX_MAX_ENV     32          /* environment entries */
#define HALE_SANDBOX_MAX_PATHS   16          /* writable plus read-only extra paths */
#define HALE_SANDBOX_MAX_ARG     4096        /* bytes of one argument or environment entry */
#define HALE_SANDBOX_MAX_OUTPUT  (16u << 20) /* ceiling of each output cap */
#define HALE_SANDBOX_MAX_CONNECT 8           /* "HOST:PORT" destinations of one run */
#define HALE_SANDBOX_MAX_ADDRS   4           /* addresses kept per destination's host name */

/* Relaxations of the default sandbox a run had, as bits of hale_sandbox_result.relax: what
 * the spec declared and the launcher put in place (docs/sandbox.md "Relaxations"). */
#define HALE_SANDBOX_RELAX_CONNECT 1u /* declared TCP destinations reachable (result.granted) */
#define HALE_SANDBOX_RELAX_CAPS    2u /* capabilities kept (result.caps_kept) */
#define HALE_SANDBOX_RELAX_HOSTPID 4u /* the host's pid view; host processes can be signalled */

/* What to run and how tightly. Every pointer is borrowed for the duration of the call. */
typedef struct hale_sandbox_spec {
    const char *launcher;        /* hale-sandbox executable; NULL: beside /proc/self/exe */
    const char *path;            /* absolute path of the executable, no "..", visible inside */
    const char *const *argv;     /* arguments after argv[0], NULL-terminated; may be NULL */
    const char *const *env;      /* "NAME=VALUE" entries the tool gets, NULL-terminated */
    const char *const *writable; /* absolute paths bound read-write (nosuid, nodev, no exec) */
    const char *const *readable; /* absolute paths bound read-only (the tool's directory) */
    uint32_t uid;                /* uid and gid the tool runs as when the launcher is root */
    uint32_t gid;
    uint64_t memory_bytes;  /* RLIMIT_AS */
    uint32_t max_processes; /* RLIMIT_NPROC (counted per uid on the host) */
    uint64_t file_bytes;    /* RLIMIT_FSIZE */
    uint32_t cpu_s;         /* RLIMIT_CPU, seconds of CPU time */
    uint32_t max_fds;       /* RLIMIT_NOFILE */
    uint64_t tmp_bytes;     /* size of the private /tmp (tmpfs) */
    uint64_t timeout_ms;    /* wall clock from start; then the whole tree is killed */
    size_t stdout_max;      /* bytes of stdout kept; the rest is read and counted */
    size_t stderr_max;      /* bytes of stderr kept */
    uint32_t require;       /* HALE_SANDBOX_* layers that must apply, or the run fails */
    uint32_t disable;       /* layers not to apply (diagnosis only); reported as missing */
    /* Relaxations a tool's manifest declares (docs/tools.md "sandbox"); each is recorded in
     * the result so policy and auditors see it (docs/sandbox.md "Relaxations"). */
    const char *const *connect; /* "HOST:PORT" TCP destinations the tool may reach, through a
                                   forwarder the launcher runs in the host's network; NULL-
                                   terminated; NULL: no network at all. HOST is a name (letters,
                                   digits, '-', '.'), an IPv4 address or "[IPv6]"; PORT 1-65535;
                                   at most HALE_SANDBOX_MAX_CONNECT. The tool keeps its own
                                   network namespace (netns still applies). */
    uint64_t connect_max_bytes; /* bytes relayed per connection and direction (default 16 MiB) */
    uint32_t connect_max_conns; /* connections relayed per run (default 64) */
    uint64_t keep_caps;         /* capabilities kept (bit 1ull << CAP_X), default none; the
                                   caps layer then means "every other capability dropped" */
    bool host_pid;              /* no pid namespace: the tool sees and may signal host
                                   processes; the whole tree is still killed at the timeout.
                                   require must not then hold pidns (HALE_ESCHEMA). */
} hale_sandbox_spec;

/* The outcome of a run that started. Buffers are owned by the result: release with
 * hale_sandbox_result_release(). */
typedef struct hale_sandbox_result {
    int exit_code;          /* exit status when the tool exited, else -1 */
    int term_signal;        /* signal that ended it, else 0 */
    bool timed_out;         /* killed at timeout_ms (term_signal is then SIGKILL) */
    uint64_t wall_ms;       /* spawn of the launcher to its exit */
    uint32_t layers;        /* HALE_SANDBOX_* layers that applied */
    int landlock_abi;       /* Landlock ABI used, 0 when none */
    char *out;              /* stdout, NUL-terminated after out_len bytes; never NULL */
    size_t out_len;         /* bytes kept in out */
    uint64_t out_total;     /* bytes the tool wrote to stdout */
    bool out_truncated;     /* out_total > out_len */
    char *err;              /* stderr, as out */
    size_t err_len;         /* bytes kept in err */
    uint64_t err_total;     /* bytes the tool wrote to stderr */
    bool err_truncated;     /* err_total > err_len */
    uint32_t relax;         /* HALE_SANDBOX_RELAX_* in effect when the tool started */
    uint64_t caps_kept;     /* capabilities the tool held at execve (1ull << CAP_X) */
    char *granted;          /* the destinations made reachable, one "HOST:PORT ADDRESS" line per
                               resolved address ("[v6]" for IPv6); "" without connect; never NULL */
    uint32_t conns;         /* connections the forwarder relayed (accepted and connected) */
    uint32_t conns_refused; /* connections accepted but not relayed (cap, upstream failure) */
    uint64_t relay_bytes;   /* bytes relayed, both directions, all connections */
} hale_sandbox_result;

/* Defaults: uid/gid 65534, 512 MiB address space, 64 processes, 16 MiB files, 10 s CPU,
 * 64 fds, 16 MiB /tmp, 30 s wall clock, 1 MiB of each output, HALE_SANDBOX_REQUIRE_DEFAULT,
 * no relaxation (no connect, no capability, a pid namespace), 16 MiB and 64 connections as
 * the forwarder's caps. */
void hale_sandbox_spec_init(hale_sandbox_spec *spec);

/* Run spec->path with spec->argv through the launcher and wait for it: blocking, so call it
 * from a threadpool job (uv_queue_work), never on the loop thread. Thread-safe: its pipes are
 * close-on-exec, and the launcher starts with every signal at its default and none blocked,
 * whatever the caller's dispositions and mask.
 * Returns 0 when the tool ran (whatever its exit status) and fills *ret (release it).
 * Returns HALE_ESCHEMA for an invalid spec (also: a destination that is not HOST:PORT, more
 * than HALE_SANDBOX_MAX_CONNECT, connect with netns disabled, a capability above 40, one of
 * the escape-prone capabilities of docs/sandbox.md without seccomp, landlock and mountns
 * required, host_pid with pidns required), HALE_EPOLICY when a required layer is missing
 * (the tool did not start), -errno when the launcher could not be started or set up (a
 * destination that does not resolve: -EHOSTUNREACH, the diag names it; a kept capability
 * this kernel lacks: -EINVAL), or HALE_ELIMIT when it did not end within timeout_ms plus a
 * grace period; *reterr says why. */
int hale_sandbox_run(const hale_sandbox_spec *spec, hale_sandbox_result *ret, hale_diag *reterr);

/* Free the buffers of a result filled by hale_sandbox_run(); NULL is a no-op. */
void hale_sandbox_result_release(hale_sandbox_result *r);

/* Comma-separated names of the relaxations in relax ("connect,caps,host_pid") into buf;
 * returns buf. Names that do not fit are left out whole, as in the two below. */
const char *hale_sandbox_relax_str(uint32_t relax, char *buf, size_t size);

/* Comma-separated capability names ("cap_kill,cap_sys_admin") of mask into buf; returns buf. */
const char *hale_sandbox_caps_str(uint64_t mask, char *buf, size_t size);
/* The number of the capability named as <linux/capability.h> spells it ("CAP_KILL"), or -1
 * for a name the sandbox does not know. */
int hale_sandbox_cap_parse(const char *name);

/* Comma-separated names of the layers in mask ("mountns,pidns,...") into buf; returns buf. */
const char *hale_sandbox_layers_str(uint32_t mask, char *buf, size_t size);

/* Parse comma-separated layer names (or "all", "default", "none") into *ret.
 * Returns 0, or HALE_EPARSE naming the unknown word in *reterr. */
int hale_sandbox_layers_parse(const char *s, uint32_t *ret, hale_diag *reterr);

/* The Landlock ABI version of the running kernel, 0 when Landlock is unavailable. */
int hale_sandbox_landlock_abi(void);
