/* agent/sandbox/sandbox_int.h - private to agent/sandbox/: the options the launcher parses
 * from its command line, the steps of the launcher and its child, and the status protocol on
 * the descriptor the caller reads (one line per write):
 *   layers MASK ABI      the child is about to execve; MASK of layers applied
 *   missing MASK         required layers that did not apply; the tool did not start
 *   error STAGE ERRNO    a step failed; the tool did not start
 *   exit CODE | signal SIG | timeout    how the tool ended, written by the launcher */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "hale/sandbox.h"

/* The tool's environment reaches the launcher (which runs as root, dynamically linked) under
 * this prefix, so no entry can steer its dynamic loader or C library (LD_PRELOAD, GCONV_PATH,
 * MALLOC_...); the child strips it. */
#define HALE__SANDBOX_ENV_PREFIX "HALE_TOOL_ENV_"

#define HALE__SANDBOX_EXIT_SETUP 125 /* the launcher or its child failed before execve */

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
