/* tests/integ/integ_proc.c - child processes for the integration tests (integ_proc.h): fork
 * and execv with the output in a log file, waits with deadlines, signals to exactly the pids
 * started here, and hale on a free port in its own temporary directory. */
#include "integ_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "integ_http.h"

#define WAIT_POLL_MS   5u  /* reaping a child: short, it costs nothing */
#define READY_POLL_MS  20u /* GET /readyz while hale starts */
#define START_ATTEMPTS 4   /* new ports tried when the chosen one was taken meanwhile */
#define MAX_ARGS       64

extern char **environ;

uint64_t integ_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void integ_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int integ_which(const char *name, char *out, size_t out_size)
{
    const char *path = getenv("PATH");
    const char *p, *end;

    if (strchr(name, '/')) {
        if (access(name, X_OK) != 0)
            return -ENOENT;
        snprintf(out, out_size, "%s", name);
        return 0;
    }
    for (p = path ? path : "/usr/bin:/bin"; *p; p = *end ? end + 1 : end) {
        end = strchr(p, ':');
        if (!end)
            end = p + strlen(p);
        if (end == p)
            continue;
        snprintf(out, out_size, "%.*s/%s", (int)(end - p), p, name);
        if (access(out, X_OK) == 0)
            return 0;
    }
    return -ENOENT;
}

/* In the child between fork and exec: only async-signal-safe calls. */
static void redirect(int target, const char *path, int flags)
{
    int fd = open(path, flags, 0644);

    if (fd < 0)
        _exit(126);
    if (fd != target) {
        if (dup2(fd, target) < 0)
            _exit(126);
        close(fd);
    }
}

static int spawn(integ_proc *p, const char *const *argv, const char *in, const char *out,
                 const char *err)
{
    char exe[4096];
    char *args[MAX_ARGS + 1];
    pid_t parent = getpid(), pid;
    size_t n = 0;
    int r = 0;

    if (integ_which(argv[0], exe, sizeof(exe)) < 0)
        return -ENOENT;
    /* execv takes char *const[]: copy, so string literals stay const. */
    for (; argv[n] && n < MAX_ARGS; n++) {
        args[n] = strdup(argv[n]);
        if (!args[n]) {
            r = -ENOMEM;
            goto out;
        }
    }
    args[n] = NULL;
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        r = -errno;
        goto out;
    }
    if (pid == 0) {
        /* Die with the test: a failed or killed test must not leave daemons behind. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
            _exit(126);
        signal(SIGPIPE, SIG_DFL);
        redirect(0, in ? in : "/dev/null", O_RDONLY);
        redirect(1, out ? out : "/dev/null", O_WRONLY | O_CREAT | O_APPEND);
        redirect(2, err ? err : "/dev/null", O_WRONLY | O_CREAT | O_APPEND);
        execve(exe, args, environ);
        _exit(127);
    }
    *p = (integ_proc){.pid = pid};
out:
    while (n > 0)
        free(args[--n]);
    return r;
}

int integ_proc_start(integ_proc *p, const char *const *argv, const char *stdin_path,
                     const char *log_path)
{
    return spawn(p, argv, stdin_path, log_path, log_path);
}

int integ_proc_wait(integ_proc *p, unsigned timeout_ms)
{
    uint64_t deadline = integ_now_ms() + timeout_ms;
    int status;
    pid_t r;

    if (p->exited)
        return 0;
    if (p->pid <= 0)
        return -ECHILD;
    for (;;) {
        r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            p->exited = true;
            p->status = status;
            return 0;
        }
        if (r < 0 && errno != EINTR)
            return -errno;
        if (integ_now_ms() >= deadline)
            return -ETIMEDOUT;
        integ_sleep_ms(WAIT_POLL_MS);
    }
}

bool integ_proc_running(integ_proc *p)
{
    if (p->pid <= 0 || p->exited)
        return false;
    return integ_proc_wait(p, 0) == -ETIMEDOUT;
}

int integ_proc_signal(integ_proc *p, int sig)
{
    if (p->pid <= 0 || p->exited)
        return -ESRCH;
    return kill(p->pid, sig) == 0 ? 0 : -errno;
}

void integ_proc_kill(integ_proc *p)
{
    if (p->pid <= 0 || p->exited)
        return;
    (void)kill(p->pid, SIGKILL);
    (void)integ_proc_wait(p, 10000);
}

int integ_proc_exit_code(const integ_proc *p)
{
    if (!p->exited)
        return -1;
    if (WIFEXITED(p->status))
        return WEXITSTATUS(p->status);
    if (WIFSIGNALED(p->status))
        return 128 + WTERMSIG(p->status);
    return -1;
}

int integ_proc_stop(integ_proc *p, unsigned timeout_ms)
{
    if (p->pid <= 0)
        return -ECHILD;
    if (!p->exited) {
        (void)kill(p->pid, SIGTERM);
        if (integ_proc_wait(p, timeout_ms) == -ETIMEDOUT) {
            integ_proc_kill(p);
            return -ETIMEDOUT;
        }
    }
    return integ_proc_exit_code(p);
}

int integ_run(const char *work_dir, const char *const *argv, const char *stdin_path,
              unsigned timeout_ms, char **ret_out, char **ret_err)
{
    static unsigned seq;
    char out_path[4200], err_path[4200];
    integ_proc p = {0};
    int r;

    seq++;
    snprintf(out_path, sizeof(out_path), "%s/run-%u-%u.out", work_dir, (unsigned)getpid(), seq);
    snprintf(err_path, sizeof(err_path), "%s/run-%u-%u.err", work_dir, (unsigned)getpid(), seq);
    r = spawn(&p, argv, stdin_path, out_path, err_path);
    if (r < 0)
        return r;
    if (integ_proc_wait(&p, timeout_ms) == -ETIMEDOUT) {
        integ_proc_kill(&p);
        r = -ETIMEDOUT;
    } else {
        r = integ_proc_exit_code(&p);
    }
    if (ret_out)
        *ret_out = fixture_read(out_path, NULL);
    if (ret_err)
        *ret_err = fixture_read(err_path, NULL);
    (void)unlink(out_path);
    (void)unlink(err_path);
    return r;
}

uint16_t integ_free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(sa);
    uint16_t port = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

int integ_hale_init(integ_hale *h, const char *prefix)
{
    *h = (integ_hale){0};
    h->dir = fixture_tmpdir(prefix);
    if (!h->dir)
        return -errno;
    snprintf(h->config_path, sizeof(h->config_path), "%s/config.json", h->dir);
    snprintf(h->data_dir, sizeof(h->data_dir), "%s/data", h->dir);
    snprintf(h->log_path, sizeof(h->log_path), "%s/hale.log", h->dir);
    h->port = integ_free_port();
    return h->port ? 0 : -EADDRNOTAVAIL;
}

int integ_hale_write_config(integ_hale *h, const char *extra_keys)
{
    char *text;
    size_t n;
    int r;

    if (extra_keys != h->extra_keys) {
        free(h->extra_keys);
        h->extra_keys = extra_keys ? strdup(extra_keys) : NULL;
        if (extra_keys && !h->extra_keys)
            return -ENOMEM;
    }
    n = strlen(h->data_dir) + (h->extra_keys ? strlen(h->extra_keys) : 0) + 128;
    text = malloc(n);
    if (!text)
        return -ENOMEM;
    snprintf(text, n, "{\n  \"listen\": \"127.0.0.1:%u\",\n  \"data_dir\": \"%s\"%s%s\n}\n",
             (unsigned)h->port, h->data_dir, h->extra_keys ? ",\n  " : "",
             h->extra_keys ? h->extra_keys : "");
    r = fixture_write(h->config_path, text);
    free(text);
    return r;
}

/* Whether the log says the listen address was taken (another process won the port race). */
static bool port_was_taken(const integ_hale *h)
{
    char *log = integ_hale_log(h);
    bool taken = log && strstr(log, "cannot listen") && strstr(log, "address already in use");

    free(log);
    return taken;
}

static int start_once(integ_hale *h, unsigned timeout_ms)
{
    const char *argv[] = {HALE_BINARY, "run", "--config", h->config_path, NULL};
    uint64_t deadline = integ_now_ms() + timeout_ms;
    integ_resp resp = {0};
    int r;

    r = integ_proc_start(&h->proc, argv, NULL, h->log_path);
    if (r < 0)
        return r;
    for (;;) {
        if (!integ_proc_running(&h->proc))
            return -ECHILD;
        r = integ_http(h->port, "GET", "/readyz", NULL, NULL, 0, &resp);
        if (r == 0 && resp.status == 200) {
            integ_resp_release(&resp);
            h->starts++;
            return 0;
        }
        integ_resp_release(&resp);
        if (integ_now_ms() >= deadline) {
            integ_proc_kill(&h->proc);
            return -ETIMEDOUT;
        }
        integ_sleep_ms(READY_POLL_MS);
    }
}

int integ_hale_start(integ_hale *h, unsigned timeout_ms)
{
    int r = -ECHILD;

    for (int i = 0; i < START_ATTEMPTS; i++) {
        if (i > 0) {
            h->port = integ_free_port();
            if (integ_hale_write_config(h, h->extra_keys) < 0)
                return -EIO;
        }
        r = start_once(h, timeout_ms);
        if (r != -ECHILD || !port_was_taken(h))
            return r;
        /* Truncate, so the next attempt is judged by its own lines. */
        (void)fixture_write(h->log_path, "");
    }
    return r;
}

int integ_hale_stop(integ_hale *h, unsigned timeout_ms)
{
    return integ_proc_stop(&h->proc, timeout_ms);
}

/* A sanitizer build of hale reports to its log, which release deletes: show it first. */
static void report_sanitizer(const integ_hale *h)
{
    char *log = h->dir ? integ_hale_log(h) : NULL;

    if (log && (strstr(log, "Sanitizer") || strstr(log, "runtime error:")))
        fprintf(stderr, "--- sanitizer report in %s ---\n%s\n--- end ---\n", h->log_path, log);
    free(log);
}

void integ_hale_release(integ_hale *h)
{
    integ_proc_kill(&h->proc);
    report_sanitizer(h);
    if (h->dir) {
        (void)fixture_rmtree(h->dir);
        free(h->dir);
    }
    free(h->extra_keys);
    *h = (integ_hale){0};
}

char *integ_hale_log(const integ_hale *h)
{
    return fixture_read(h->log_path, NULL);
}

int integ_hale_cli(const integ_hale *h, const char *const *args, char **ret_out, char **ret_err)
{
    const char *argv[MAX_ARGS + 1] = {HALE_BINARY};
    size_t n = 1;

    for (size_t i = 0; args[i] && n < MAX_ARGS; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return integ_run(h->dir, argv, NULL, 30000, ret_out, ret_err);
}
