/* agent/sandbox/sandbox_int.h - private to agent/sandbox/: the options the launcher parses
 * from its command line, the steps of the launcher and its child, and the status protocol on
 * the descriptor the caller reads (one line per write):
 *   grant HOST:PORT ADDR a declared destination resolved to ADDR, reachable (launcher)
 *   relax MASK CAPS      relaxations in effect and the capabilities kept (child, before layers)
 *   layers MASK ABI      the child is about to execve; MASK of layers applied
 *   relay N REFUSED BYTES  connections relayed and refused, bytes (launcher, at the end)
 *   missing MASK         required layers that did not apply; the tool did not start
 *   error STAGE ERRNO    a step failed; the tool did not start
 *   exit CODE | signal SIG | timeout    how the tool ended, written by the launcher */
#pragma once

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "hale/sandbox.h"

/* The tool's environment reaches the launcher (which runs as root, dynamically linked) under
 * this prefix, so no entry can steer its dynamic loader or C library (LD_PRELOAD, GCONV_PATH,
 * MALLOC_...); the child strips it. */
#define HALE__SANDBOX_ENV_PREFIX "HALE_TOOL_ENV_"

/* The highest capability number known here (CAP_CHECKPOINT_RESTORE, Linux 5.9). */
#define HALE__SANDBOX_CAP_LAST 40

/* Capabilities a run may keep only with seccomp, Landlock and the mount view required: each
 * has a known escape those layers close (mount and setns, module loading, /dev/mem and
 * iopl, open_by_handle_at, ptrace and /proc/PID/mem, bpf and perf, writes to /proc). */
#define HALE__SANDBOX_CAPS_GUARDED                                                                 \
    ((1ULL << 21) | (1ULL << 16) | (1ULL << 17) | (1ULL << 2) | (1ULL << 19) | (1ULL << 39) |      \
     (1ULL << 38) | (1ULL << 33) | (1ULL << 32) | (1ULL << 22))

#define HALE__SANDBOX_EXIT_SETUP 125 /* the launcher or its child failed before execve */

/* One declared destination, resolved on the host before the child leaves its network. */
struct hale__sandbox_dest {
    const char *spec;                                     /* "HOST:PORT" as declared */
    char host[256];                                       /* HOST without brackets */
    uint16_t port;                                        /* PORT */
    struct sockaddr_storage addr[HALE_SANDBOX_MAX_ADDRS]; /* resolved, port set */
    socklen_t addr_len[HALE_SANDBOX_MAX_ADDRS];           /* lengths of addr */
    unsigned n_addr;                                      /* entries in addr */
};

struct hale__sandbox_opts {
    int status_fd;                          /* where status lines go; -1: stderr */
    uint64_t timeout_ms;                    /* wall clock of the tool */
    uint32_t uid;                           /* tool uid when the launcher is root */
    uint32_t gid;                           /* tool gid when the launcher is root */
    uint64_t memory_bytes;                  /* RLIMIT_AS */
    uint64_t max_processes;                 /* RLIMIT_NPROC */
    uint64_t file_bytes;                    /* RLIMIT_FSIZE */
    uint64_t cpu_s;                         /* RLIMIT_CPU */
    uint64_t max_fds;                       /* RLIMIT_NOFILE */
    uint64_t tmp_bytes;                     /* size of /tmp */
    uint32_t require;                       /* layers that must apply */
    uint32_t disable;                       /* layers not to apply */
    const char *rw[HALE_SANDBOX_MAX_PATHS]; /* writable binds */
    unsigned n_rw;                          /* entries in rw */
    const char *ro[HALE_SANDBOX_MAX_PATHS]; /* read-only binds */
    unsigned n_ro;                          /* entries in ro */
    const char *env[HALE_SANDBOX_MAX_ENV];  /* names passed from the launcher's env */
    unsigned n_env;                         /* entries in env */
    char **argv;                            /* argv[0] is the absolute tool path */
    uint64_t keep_caps;                     /* capabilities kept, 1ull << CAP_X */
    bool host_pid;                          /* no pid namespace */
    struct hale__sandbox_dest dest[HALE_SANDBOX_MAX_CONNECT]; /* --connect */
    unsigned n_dest;                                          /* entries in dest */
    uint64_t connect_max_bytes;                               /* per connection and direction */
    uint64_t connect_max_conns;                               /* per run */
    int relay_fd; /* child: socket to pass the listeners on, -1: none */
};

/* `hale-sandbox [options] -- PATH [ARG...]`: parse, start the child, supervise it, report.
 * Returns the launcher's exit status. */
int hale__sandbox_launcher_main(int argc, char **argv);

/* In the child of clone(), in its new namespaces: everything up to execve. Returns only on
 * failure, after writing the status line; the caller then _exit()s. applied holds the layers
 * the launcher obtained (namespaces). */
void hale__sandbox_child(const struct hale__sandbox_opts *o, uint32_t applied);

/* Mount the file system view (tmpfs root, read-only system binds, /dev, /proc, /tmp, the
 * declared binds) and pivot into it. Returns 0 or -errno with *ret_stage set. */
int hale__sandbox_mounts(const struct hale__sandbox_opts *o, const char **ret_stage);

/* Landlock for the layout hale__sandbox_mounts() built. Returns the ABI used (> 0), 0 when
 * the kernel has no Landlock, or -errno. Needs no_new_privs first. */
int hale__sandbox_landlock(const struct hale__sandbox_opts *o);

/* After the bounding set was cut to keep and the ids set: hold exactly keep (permitted,
 * effective, inheritable, ambient), then (lock) lock the ambient securebits. 0 or -errno. */
int hale__sandbox_keep_caps(uint64_t keep, bool lock);

/* Resolve every --connect destination (getaddrinfo, numeric hosts too) into o->dest and write
 * a "grant" status line per address. 0 or -errno / -EHOSTUNREACH (a name that resolves to
 * nothing); *ret_what names the destination at fault. */
int hale__sandbox_resolve(struct hale__sandbox_opts *o, const char **ret_what);

/* Child, in its new network namespace: bring lo up, add the destinations' addresses to it,
 * listen on each ADDR:PORT and pass the listeners to the launcher over o->relay_fd. 0 or
 * -errno with *ret_stage set. */
int hale__sandbox_net_setup(const struct hale__sandbox_opts *o, const char **ret_stage);

/* Child: write the private /etc/hosts (localhost and each destination name) below the new
 * root being built at stage (before pivot_root). 0 or -errno. */
int hale__sandbox_write_hosts(const struct hale__sandbox_opts *o, const char *stage);

struct hale__sandbox_relay;

/* Launcher: receive the listeners the child passes over sock (waiting up to timeout_ms) and
 * start forwarding. *ret is NULL when the child passed none (it failed and says why on the
 * status descriptor). Returns 0 or -errno. */
int hale__sandbox_relay_start(const struct hale__sandbox_opts *o, int sock, uint64_t timeout_ms,
                              struct hale__sandbox_relay **ret);
/* Add the relay's descriptors to p (at most max); returns how many were added (0 for NULL). */
unsigned hale__sandbox_relay_fill(struct hale__sandbox_relay *r, struct pollfd *p, unsigned max);
/* Handle the events of the descriptors fill() added (in the same order). */
void hale__sandbox_relay_events(struct hale__sandbox_relay *r, const struct pollfd *p, unsigned n);
/* Close everything; write the "relay" status line to status_fd. NULL is a no-op. */
void hale__sandbox_relay_free(struct hale__sandbox_relay *r, int status_fd);

/* The seccomp deny-list of docs/sandbox.md. Returns 0 or a negative libseccomp/errno code. */
int hale__sandbox_seccomp(void);

/* Write one status line (printf format) with a single write(2). Async-signal-safe enough for
 * a single-threaded child: no allocation. */
void hale__sandbox_status(int fd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The checks hale_sandbox_run() makes before starting anything. 0 or HALE_ESCHEMA. */
int hale__sandbox_check_spec(const hale_sandbox_spec *s, hale_diag *reterr);
