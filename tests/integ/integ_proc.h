/* tests/integ/integ_proc.h - child processes for the integration tests: start one with its
 * output in a log file, wait for it with a deadline, signal or kill exactly that pid; run a CLI
 * command to completion; and run hale itself on a free 127.0.0.1 port in its own temporary
 * directory. Children get PR_SET_PDEATHSIG(SIGKILL), so a test that dies does not leave them
 * behind. Not thread-safe: start and reap processes from one thread. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One child process. Zero-initialise before use; pid 0 means "none". */
typedef struct integ_proc {
    pid_t pid;   /* the child, 0 when none was started or it has been reaped */
    bool exited; /* reaped; status is valid */
    int status;  /* wait status once exited (WIFEXITED/WEXITSTATUS apply) */
} integ_proc;

/* Monotonic milliseconds. */
uint64_t integ_now_ms(void);
/* Sleep ms milliseconds (for pacing only, never as synchronisation). */
void integ_sleep_ms(unsigned ms);

/* Start argv[0] (an absolute path or a name looked up in PATH) with argv, stdin from
 * stdin_path (NULL: /dev/null), stdout and stderr appended to log_path (NULL: /dev/null).
 * Returns 0 or -errno; *p is filled on success only. */
int integ_proc_start(integ_proc *p, const char *const *argv, const char *stdin_path,
                     const char *log_path);

/* Wait up to timeout_ms for the child to exit (0: just poll). Returns 0 once reaped (also when
 * it already was), -ETIMEDOUT, or -ECHILD when p holds no child. */
int integ_proc_wait(integ_proc *p, unsigned timeout_ms);

/* Whether the child is still running (reaps it when it has exited). */
bool integ_proc_running(integ_proc *p);

/* Send sig to the child. Returns 0, -ESRCH when it is already reaped or never started. */
int integ_proc_signal(integ_proc *p, int sig);

/* SIGKILL and reap. A no-op for a child that is reaped already or was never started. */
void integ_proc_kill(integ_proc *p);

/* SIGTERM, wait up to timeout_ms, then SIGKILL. Returns the exit code (0..255), 128+signal
 * when it died of a signal, -ETIMEDOUT when SIGKILL was needed, -ECHILD when nothing ran. */
int integ_proc_stop(integ_proc *p, unsigned timeout_ms);

/* The exit code of a reaped child: 0..255, 128+signal when killed, -1 when not reaped. */
int integ_proc_exit_code(const integ_proc *p);

/* Run argv to completion (at most timeout_ms, then SIGKILL) with stdin from stdin_path (NULL:
 * /dev/null). *ret_out and *ret_err (each may be NULL) get stdout and stderr, NUL-terminated,
 * caller frees. work_dir holds the capture files. Returns the exit code as integ_proc_stop()
 * does, or -errno when it could not start. */
int integ_run(const char *work_dir, const char *const *argv, const char *stdin_path,
              unsigned timeout_ms, char **ret_out, char **ret_err);

/* A port on 127.0.0.1 that was free a moment ago: bind port 0, read it, close. 0 on failure. */
uint16_t integ_free_port(void);

/* Absolute path of an executable found in PATH (or name itself when it contains a '/' and is
 * executable), in out. Returns 0 or -ENOENT. */
int integ_which(const char *name, char *out, size_t out_size);

/* hale under test: a temporary directory with config.json, data/ and hale.log. */
typedef struct integ_hale {
    char *dir;              /* the temporary directory (owned), removed by release */
    char config_path[4096]; /* dir/config.json */
    char data_dir[4096];    /* dir/data */
    char log_path[4096];    /* dir/hale.log: stdout and stderr of every run, appended */
    char *extra_keys;       /* what integ_hale_write_config() got last (owned), or NULL */
    uint16_t port;          /* the port hale listens on */
    integ_proc proc;        /* the running daemon, pid 0 when none */
    unsigned starts;        /* successful starts so far */
} integ_hale;

/* Create the directory (prefix names it) and pick a port. Returns 0 or -errno. */
int integ_hale_init(integ_hale *h, const char *prefix);

/* Write config.json: listen and data_dir, then extra_keys verbatim when non-NULL (JSON members
 * without braces, e.g. "\"request_timeout_s\": 1"). Returns 0 or -errno. */
int integ_hale_write_config(integ_hale *h, const char *extra_keys);

/* Start `hale run --config config.json` and wait up to timeout_ms until GET /readyz answers
 * 200. When hale exits early because the port was taken, picks another port, rewrites the
 * listen key of the config written last and tries again (a few times). Returns 0, -ETIMEDOUT
 * (the daemon is killed), or -ECHILD when hale exited (its code is in h->proc). */
int integ_hale_start(integ_hale *h, unsigned timeout_ms);

/* SIGTERM and wait up to timeout_ms; returns as integ_proc_stop(). */
int integ_hale_stop(integ_hale *h, unsigned timeout_ms);

/* Kill the daemon if it runs, remove the directory, free what init allocated. Safe on a
 * zeroed or half-initialised h. */
void integ_hale_release(integ_hale *h);

/* The log as text (caller frees), NULL when unreadable. */
char *integ_hale_log(const integ_hale *h);

/* Run the hale binary with argv after "hale" (NULL-terminated), as integ_run() does. */
int integ_hale_cli(const integ_hale *h, const char *const *args, char **ret_out, char **ret_err);
