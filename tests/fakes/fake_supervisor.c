/* tests/fakes/fake_supervisor.c - see fake_supervisor.h. */
#define _DEFAULT_SOURCE 1 /* flock() */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake_supervisor.h"

struct fake_sv {
    pid_t pid; /* the supervisor */
    fake_sv_mode mode;
    char pid_path[2200]; /* supervise/pid or NAME.pid */
    char starts_path[2200];
};

static volatile sig_atomic_t stop_flag;

static void on_term(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void pause_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Write path atomically (a temporary file beside it, then rename), as runsv does. */
static void put_file(const char *path, const void *data, size_t len)
{
    char tmp[2300];
    int n;
    int fd;

    n = snprintf(tmp, sizeof(tmp), "%s.new", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (write(fd, data, len) != (ssize_t)len) {
        close(fd);
        (void)unlink(tmp);
        return;
    }
    close(fd);
    (void)rename(tmp, path);
}

static void put_number(const char *path, unsigned v)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%u\n", v);

    put_file(path, buf, (size_t)n);
}

static pid_t start_service(void)
{
    pid_t parent = getpid();
    pid_t pid = fork();

    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
            _exit(126);
        signal(SIGTERM, SIG_DFL);
        execl("/bin/sleep", "sleep", "3600", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* runit's supervise/status: TAI64N of the last change, pid, paused, want, term, state. */
static void publish(const char *dir, fake_sv_mode mode, pid_t svc, bool want_up, unsigned starts,
                    const char *pidfile, const char *starts_path)
{
    char path[2300];

    put_number(starts_path, starts);
    if (mode == FAKE_SV_PIDFILE) {
        if (svc > 0)
            put_number(pidfile, (unsigned)svc);
        return;
    }
    unsigned char st[20] = {0};
    uint64_t tai = (UINT64_C(1) << 62) + 10u + (uint64_t)time(NULL);
    uint32_t p = svc > 0 ? (uint32_t)svc : 0;

    for (int i = 0; i < 8; i++)
        st[i] = (unsigned char)(tai >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        st[12 + i] = (unsigned char)(p >> (8 * i));
    st[17] = want_up ? 'u' : 'd';
    st[19] = svc > 0 ? 1 : 0;
    snprintf(path, sizeof(path), "%s/status", dir);
    put_file(path, st, sizeof(st));
    snprintf(path, sizeof(path), "%s/stat", dir);
    put_file(path, svc > 0 ? "run\n" : "down\n", svc > 0 ? 4 : 5);
    if (svc > 0)
        put_number(pidfile, (unsigned)svc);
    else
        put_file(pidfile, "", 0);
}

/* The supervisor's main loop, in the forked child; never returns. */
static void supervise(const char *dir, fake_sv_mode mode, const char *pidfile,
                      const char *starts_path)
{
    char path[2300];
    int ctl = -1, ctl_w = -1, ok = -1, lock = -1;
    bool want_up = true;
    unsigned starts = 0;
    pid_t svc;

    signal(SIGTERM, on_term);
    if (mode == FAKE_SV_RUNIT) {
        snprintf(path, sizeof(path), "%s/lock", dir);
        lock = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0)
            _exit(3);
        snprintf(path, sizeof(path), "%s/control", dir);
        if ((mkfifo(path, 0600) < 0 && errno != EEXIST) ||
            (ctl = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0 ||
            (ctl_w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) /* no EOF when idle */
            _exit(3);
        snprintf(path, sizeof(path), "%s/ok", dir);
        if ((mkfifo(path, 0600) < 0 && errno != EEXIST) ||
            (ok = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
            _exit(3);
    }
    svc = start_service();
    starts++;
    publish(dir, mode, svc, want_up, starts, pidfile, starts_path);
    while (!stop_flag) {
        struct pollfd pfd = {.fd = ctl, .events = POLLIN};
        int status;

        if (poll(&pfd, ctl >= 0 ? 1 : 0, 20) > 0) {
            char cmds[64];
            ssize_t n = read(ctl, cmds, sizeof(cmds));

            for (ssize_t i = 0; i < n; i++) {
                if (cmds[i] == 'u') {
                    want_up = true;
                    if (svc <= 0) {
                        svc = start_service();
                        starts++;
                        publish(dir, mode, svc, want_up, starts, pidfile, starts_path);
                    }
                } else if (cmds[i] == 'd' || cmds[i] == 't') {
                    want_up = cmds[i] == 't' ? want_up : false;
                    if (svc > 0)
                        kill(svc, SIGTERM);
                } else if (cmds[i] == 'x') {
                    stop_flag = 1;
                }
            }
        }
        if (svc > 0 && waitpid(svc, &status, WNOHANG) == svc) {
            svc = 0;
            if (want_up) {
                svc = start_service();
                starts++;
            }
            publish(dir, mode, svc, want_up, starts, pidfile, starts_path);
        }
    }
    if (svc > 0) {
        kill(svc, SIGKILL);
        waitpid(svc, NULL, 0);
        publish(dir, mode, 0, false, starts, pidfile, starts_path);
    }
    _exit(0);
}

int fake_sv_start(const char *dir, const char *name, fake_sv_mode mode, fake_sv **ret)
{
    char sup[2048];
    fake_sv *s = calloc(1, sizeof(*s));
    pid_t parent = getpid();

    if (!s)
        return -ENOMEM;
    if (strlen(dir) + strlen(name) > 900) {
        free(s);
        return -ENAMETOOLONG;
    }
    s->mode = mode;
    if (mode == FAKE_SV_RUNIT) {
        snprintf(sup, sizeof(sup), "%s/%s", dir, name);
        if (mkdir(sup, 0755) < 0 && errno != EEXIST)
            goto fail;
        snprintf(sup, sizeof(sup), "%s/%s/supervise", dir, name);
        if (mkdir(sup, 0700) < 0 && errno != EEXIST)
            goto fail;
        snprintf(s->pid_path, sizeof(s->pid_path), "%s/pid", sup);
    } else {
        snprintf(sup, sizeof(sup), "%s", dir);
        snprintf(s->pid_path, sizeof(s->pid_path), "%s/%s.pid", dir, name);
    }
    snprintf(s->starts_path, sizeof(s->starts_path), "%s/.%s.starts", dir, name);
    (void)unlink(s->pid_path);
    fflush(NULL);
    s->pid = fork();
    if (s->pid < 0)
        goto fail;
    if (s->pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
            _exit(126);
        supervise(sup, mode, s->pid_path, s->starts_path);
    }
    if (fake_sv_pid(s, 0, 5000) < 0) {
        fake_sv_stop(s);
        return -ETIMEDOUT;
    }
    *ret = s;
    return 0;
fail : {
    int r = -errno;
    free(s);
    return r;
}
}

static long read_number(const char *path)
{
    char buf[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return strtol(buf, NULL, 10);
}

pid_t fake_sv_pid(const fake_sv *s, pid_t not_pid, unsigned timeout_ms)
{
    uint64_t end = now_ms() + timeout_ms;

    for (;;) {
        long p = read_number(s->pid_path);

        if (p > 0 && p != not_pid)
            return (pid_t)p;
        if (now_ms() >= end)
            return -ETIMEDOUT;
        pause_ms(10);
    }
}

unsigned fake_sv_starts(const fake_sv *s)
{
    long n = read_number(s->starts_path);

    return n > 0 ? (unsigned)n : 0;
}

void fake_sv_stop(fake_sv *s)
{
    if (!s)
        return;
    if (s->pid > 0) {
        uint64_t end = now_ms() + 3000;
        int status;

        kill(s->pid, SIGTERM);
        while (waitpid(s->pid, &status, WNOHANG) == 0) {
            if (now_ms() >= end) {
                kill(s->pid, SIGKILL);
                waitpid(s->pid, &status, 0);
                break;
            }
            pause_ms(10);
        }
    }
    free(s);
}
