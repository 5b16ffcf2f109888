/* agent/sandbox/sandbox_run.c - hale_sandbox_run(): spawn the launcher, pump its three pipes
 * (stdout and stderr with caps, the status lines) until all close, enforce a last-resort
 * deadline on the launcher itself, and read the status lines into the result. */
#define _GNU_SOURCE /* pipe2 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hale/diag.h"
#include "sandbox/sandbox_int.h"
#include "util/buf.h"
#include "util/strparse.h"

#define GRACE_MS   3000  /* beyond timeout_ms before the launcher itself is killed */
#define STATUS_MAX 32768 /* bytes of status lines read from the launcher */

/* The launcher's environment: the tool's entries, each behind HALE__SANDBOX_ENV_PREFIX. */
static char **prefixed_env(const char *const *env)
{
    size_t n = 0;
    char **v;

    while (env && env[n])
        n++;
    v = calloc(n + 1, sizeof(*v));
    for (size_t i = 0; v && i < n; i++) {
        size_t len = strlen(env[i]) + sizeof(HALE__SANDBOX_ENV_PREFIX);

        v[i] = malloc(len);
        if (!v[i]) {
            for (size_t k = 0; k < i; k++)
                free(v[k]);
            free(v);
            return NULL;
        }
        snprintf(v[i], len, "%s%s", HALE__SANDBOX_ENV_PREFIX, env[i]);
    }
    return v;
}

static void free_env(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

struct argv_builder {
    char *v[HALE_SANDBOX_MAX_ARGS + 3 * HALE_SANDBOX_MAX_PATHS + HALE_SANDBOX_MAX_ENV +
            HALE_SANDBOX_MAX_CONNECT + 32];
    size_t n; /* entries in v */
    bool oom; /* an allocation failed */
};

static void add(struct argv_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(struct argv_builder *b, const char *fmt, ...)
{
    char tmp[HALE_SANDBOX_MAX_ARG + 64];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp) || b->n + 1 >= HALE_ARRAY_SIZE(b->v)) {
        b->oom = true;
        return;
    }
    b->v[b->n] = strdup(tmp);
    if (!b->v[b->n])
        b->oom = true;
    else
        b->n++;
}

static void build_argv(const hale_sandbox_spec *s, struct argv_builder *b)
{
    char layers[256];

    add(b, "hale-sandbox");
    add(b, "--status-fd=3");
    add(b, "--timeout-ms=%llu", (unsigned long long)s->timeout_ms);
    add(b, "--uid=%u", s->uid);
    add(b, "--gid=%u", s->gid);
    add(b, "--memory=%llu", (unsigned long long)s->memory_bytes);
    add(b, "--nproc=%u", s->max_processes);
    add(b, "--fsize=%llu", (unsigned long long)s->file_bytes);
    add(b, "--cpu=%u", s->cpu_s);
    add(b, "--nofile=%u", s->max_fds);
    add(b, "--tmp-size=%llu", (unsigned long long)s->tmp_bytes);
    add(b, "--require=%s",
        s->require ? hale_sandbox_layers_str(s->require, layers, sizeof(layers)) : "none");
    if (s->disable)
        add(b, "--disable=%s", hale_sandbox_layers_str(s->disable, layers, sizeof(layers)));
    for (size_t i = 0; s->writable && s->writable[i]; i++)
        add(b, "--rw=%s", s->writable[i]);
    for (size_t i = 0; s->readable && s->readable[i]; i++)
        add(b, "--ro=%s", s->readable[i]);
    for (size_t i = 0; s->env && s->env[i]; i++)
        add(b, "--env=%.*s", (int)strcspn(s->env[i], "="), s->env[i]);
    for (size_t i = 0; s->connect && s->connect[i]; i++)
        add(b, "--connect=%s", s->connect[i]);
    if (s->connect && s->connect[0]) {
        add(b, "--connect-max-bytes=%llu", (unsigned long long)s->connect_max_bytes);
        add(b, "--connect-max-conns=%u", s->connect_max_conns);
    }
    if (s->keep_caps)
        add(b, "--keep-caps=%llu", (unsigned long long)s->keep_caps);
    if (s->host_pid)
        add(b, "--host-pid");
    add(b, "--");
    add(b, "%s", s->path);
    for (size_t i = 0; s->argv && s->argv[i]; i++)
        add(b, "%s", s->argv[i]);
    b->v[b->n] = NULL;
}

static void free_argv(struct argv_builder *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->v[i]);
}

static int default_launcher(char *buf, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    char *slash;

    if (n < 0)
        return -errno;
    buf[n] = '\0';
    slash = strrchr(buf, '/');
    if (!slash || (size_t)(slash - buf) + sizeof("/hale-sandbox") > size)
        return -ENAMETOOLONG;
    memcpy(slash, "/hale-sandbox", sizeof("/hale-sandbox"));
    return 0;
}

static int spawn(const char *exe, char **argv, char **env, int out, int err, int status,
                 pid_t *ret_pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    int r;

    sigemptyset(&none);
    sigfillset(&all);
    r = posix_spawn_file_actions_init(&fa);
    if (r)
        return -r;
    r = posix_spawnattr_init(&attr);
    if (r) {
        posix_spawn_file_actions_destroy(&fa);
        return -r;
    }
    if (!r)
        r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!r)
        r = posix_spawn_file_actions_adddup2(&fa, out, 1);
    if (!r)
        r = posix_spawn_file_actions_adddup2(&fa, err, 2);
    if (!r)
        r = posix_spawn_file_actions_adddup2(&fa, status, 3);
    /* The daemon ignores SIGPIPE and blocks signals in its threads: the tool gets neither. */
    if (!r)
        r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (!r)
        r = posix_spawnattr_setsigmask(&attr, &none);
    if (!r)
        r = posix_spawnattr_setsigdefault(&attr, &all);
    if (!r)
        r = posix_spawn(ret_pid, exe, &fa, &attr, argv, env);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return -r;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct stream {
    int fd;         /* read end, -1 once closed */
    hale_buf buf;   /* kept bytes */
    size_t max;     /* cap of buf */
    uint64_t total; /* bytes read */
};

/* Read what is there; 1 at end of stream, 0 otherwise, -errno on failure. */
static int pump(struct stream *s)
{
    char chunk[16384];
    ssize_t n = read(s->fd, chunk, sizeof(chunk));

    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -errno;
    if (n == 0)
        return 1;
    s->total += (uint64_t)n;
    if (s->buf.len < s->max) {
        size_t keep = (size_t)n < s->max - s->buf.len ? (size_t)n : s->max - s->buf.len;

        if (hale_buf_append(&s->buf, chunk, keep) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* Pump all three until they close or the deadline passes (then kill the launcher). */
static int collect(struct stream *st, pid_t pid, uint64_t deadline, bool *ret_killed)
{
    *ret_killed = false;
    for (;;) {
        struct pollfd p[3];
        nfds_t n = 0;
        uint64_t now = mono_ms();
        int idx[3];

        for (int i = 0; i < 3; i++)
            if (st[i].fd >= 0) {
                p[n] = (struct pollfd){.fd = st[i].fd, .events = POLLIN};
                idx[n++] = i;
            }
        if (n == 0)
            return 0;
        if (now >= deadline && !*ret_killed) {
            (void)kill(pid, SIGKILL); /* the tool follows: PDEATHSIG and its pid namespace */
            *ret_killed = true;
            deadline = now + GRACE_MS;
        } else if (now >= deadline) {
            return -ETIMEDOUT; /* a descriptor held open past every kill: give up on it */
        }
        if (poll(p, n, (int)(deadline - now > INT_MAX ? INT_MAX : deadline - now)) < 0 &&
            errno != EINTR)
            return -errno;
        for (nfds_t k = 0; k < n; k++) {
            int r;

            if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            r = pump(&st[idx[k]]);
            if (r < 0)
                return r;
            if (r == 1) {
                close(st[idx[k]].fd);
                st[idx[k]].fd = -1;
            }
        }
    }
}

/* A "grant HOST:PORT ADDR" line (after the word) appended to granted; 0 or -ENOMEM. */
static int parse_grant(const char *rest, hale_buf *granted)
{
    if (strlen(rest) > 400 || !strchr(rest, ' '))
        return 0; /* not one the launcher writes: ignored */
    if (hale_buf_append(granted, rest, strlen(rest)) < 0 || hale_buf_append(granted, "\n", 1) < 0)
        return -ENOMEM;
    return 0;
}

/* "relay N REFUSED BYTES": arg1 is N, rest is "REFUSED BYTES". */
static void parse_relay(const char *rest, const char *arg1, hale_sandbox_result *res)
{
    char refused[24] = "";
    uint64_t n = 0, nr = 0, bytes = 0;
    size_t a = strcspn(rest, " ");

    if (a >= sizeof(refused) || rest[a] != ' ')
        return;
    memcpy(refused, rest, a);
    refused[a] = '\0';
    if (hale_parse_u64(arg1, &n) < 0 || hale_parse_u64(refused, &nr) < 0 ||
        hale_parse_u64(rest + a + 1, &bytes) < 0 || n > UINT32_MAX || nr > UINT32_MAX)
        return;
    res->conns = (uint32_t)n;
    res->conns_refused = (uint32_t)nr;
    res->relay_bytes = bytes;
}

/* The status lines into *res; returns 0 when the tool ran, else the failure. */
static int parse_status(char *text, hale_sandbox_result *res, hale_buf *granted, hale_diag *reterr)
{
    bool ran = false, ended = false;
    int r = 0;

    for (char *line = text, *nl; *line; line = nl + 1) {
        char word[16] = "", arg1[64] = "", arg2[32] = "";
        uint64_t v = 0, caps = 0;
        int64_t iv = 0;

        nl = strchr(line, '\n');
        if (!nl)
            break; /* a partial line: the launcher died mid-write */
        *nl = '\0';
        if (strncmp(line, "grant ", 6) == 0) {
            if (parse_grant(line + 6, granted) < 0)
                return -ENOMEM;
            continue;
        }
        {
            size_t a = strcspn(line, " "), b;

            if (a >= sizeof(word))
                continue;
            memcpy(word, line, a);
            word[a] = '\0';
            line += a + (line[a] == ' ');
            b = strcspn(line, " ");
            if (b < sizeof(arg1)) {
                memcpy(arg1, line, b);
                arg1[b] = '\0';
            }
            line += b + (line[b] == ' ');
            if (strlen(line) < sizeof(arg2))
                memcpy(arg2, line, strlen(line) + 1);
        }
        if (strcmp(word, "layers") == 0 && hale_parse_u64(arg1, &v) == 0 &&
            hale_parse_i64(arg2, &iv) == 0) {
            res->layers = (uint32_t)v;
            res->landlock_abi = (int)iv;
            ran = true;
        } else if (strcmp(word, "relax") == 0 && hale_parse_u64(arg1, &v) == 0 &&
                   hale_parse_u64(arg2, &caps) == 0) {
            res->relax = (uint32_t)v;
            res->caps_kept = caps;
        } else if (strcmp(word, "relay") == 0) {
            parse_relay(line, arg1, res);
        } else if (strcmp(word, "exit") == 0 && hale_parse_u64(arg1, &v) == 0 && v < 256) {
            res->exit_code = (int)v;
            ended = true;
        } else if (strcmp(word, "signal") == 0 && hale_parse_u64(arg1, &v) == 0 && v < 128) {
            res->term_signal = (int)v;
            ended = true;
        } else if (strcmp(word, "timeout") == 0) {
            res->timed_out = true;
        } else if (strcmp(word, "missing") == 0 && hale_parse_u64(arg1, &v) == 0) {
            char names[256];

            hale_diag_set(reterr, "sandbox: required layers did not apply: %s",
                          hale_sandbox_layers_str((uint32_t)v, names, sizeof(names)));
            r = HALE_EPOLICY;
        } else if (strcmp(word, "error") == 0 && hale_parse_u64(arg2, &v) == 0 && v > 0 &&
                   v < 4096 && r == 0) {
            hale_diag_set(reterr, "sandbox: %s: %s", arg1, strerror((int)v));
            r = -(int)v;
        }
    }
    if (r < 0 || r == HALE_EPOLICY)
        return r;
    if (!ran || !ended) {
        hale_diag_set(reterr, "sandbox: the launcher ended without %s",
                      ran ? "reporting how the tool ended" : "starting the tool");
        return -EPROTO;
    }
    return 0;
}

/* The buffer's text (always NUL-terminated), or a fresh empty string; NULL: no memory. */
static char *detach(hale_buf *b)
{
    char *p = b->data ? b->data : strdup("");

    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

int hale_sandbox_run(const hale_sandbox_spec *spec, hale_sandbox_result *ret, hale_diag *reterr)
{
    struct argv_builder b = {.n = 0};
    char **envp = NULL;
    struct stream st[3];
    hale_buf granted;
    char exe[PATH_MAX];
    int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}}, r, wstatus = 0;
    hale_sandbox_result res = {.exit_code = -1};
    uint64_t t0;
    bool killed = false;
    pid_t pid;

    r = hale__sandbox_check_spec(spec, reterr);
    if (r < 0)
        return r;
    if (spec->launcher) {
        if (strlen(spec->launcher) >= sizeof(exe))
            return -ENAMETOOLONG;
        memcpy(exe, spec->launcher, strlen(spec->launcher) + 1);
    } else if ((r = default_launcher(exe, sizeof(exe))) < 0) {
        hale_diag_set(reterr, "sandbox: cannot locate hale-sandbox: %s", strerror(-r));
        return r;
    }
    build_argv(spec, &b);
    envp = prefixed_env(spec->env);
    if (b.oom || !envp) {
        r = -ENOMEM;
        goto out_argv;
    }
    for (int i = 0; i < 3; i++)
        if (pipe2(p[i], O_CLOEXEC) < 0) {
            r = -errno;
            goto out_pipes;
        }
    st[0] = (struct stream){.fd = p[0][0], .max = spec->stdout_max};
    st[1] = (struct stream){.fd = p[1][0], .max = spec->stderr_max};
    st[2] = (struct stream){.fd = p[2][0], .max = STATUS_MAX};
    for (int i = 0; i < 3; i++)
        hale_buf_init(&st[i].buf, st[i].max + 1);
    hale_buf_init(&granted, STATUS_MAX);
    t0 = mono_ms();
    r = spawn(exe, b.v, envp, p[0][1], p[1][1], p[2][1], &pid);
    for (int i = 0; i < 3; i++) {
        close(p[i][1]);
        p[i][1] = -1;
    }
    if (r < 0) {
        hale_diag_set(reterr, "sandbox: cannot start '%s': %s", exe, strerror(-r));
        goto out_bufs;
    }
    r = collect(st, pid, t0 + spec->timeout_ms + GRACE_MS, &killed);
    if (r < 0)
        (void)kill(pid, SIGKILL);
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
        ;
    res.wall_ms = mono_ms() - t0;
    if (r < 0) {
        hale_diag_set(reterr, "sandbox: reading the tool's output: %s", strerror(-r));
        goto out_bufs;
    }
    if (killed) {
        hale_diag_set(reterr, "sandbox: the launcher outlived the wall-clock limit by %d ms",
                      GRACE_MS);
        r = HALE_ELIMIT;
        goto out_bufs;
    }
    r = parse_status(st[2].buf.data ? st[2].buf.data : (char[]){""}, &res, &granted, reterr);
    if (r < 0)
        goto out_bufs;
    res.out_total = st[0].total;
    res.err_total = st[1].total;
    res.out_len = st[0].buf.len;
    res.err_len = st[1].buf.len;
    res.out_truncated = res.out_total > res.out_len;
    res.err_truncated = res.err_total > res.err_len;
    res.out = detach(&st[0].buf);
    res.err = detach(&st[1].buf);
    res.granted = detach(&granted);
    if (!res.out || !res.err || !res.granted) {
        hale_sandbox_result_release(&res);
        r = -ENOMEM;
        goto out_bufs;
    }
    *ret = res;
out_bufs:
    for (int i = 0; i < 3; i++) {
        if (st[i].fd >= 0)
            close(st[i].fd);
        hale_buf_release(&st[i].buf);
    }
    hale_buf_release(&granted);
    p[0][0] = p[1][0] = p[2][0] = -1;
out_pipes:
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 2; k++)
            if (p[i][k] >= 0)
                close(p[i][k]);
out_argv:
    free_env(envp);
    free_argv(&b);
    return r;
}
