/* tests/integ/test_tools.c - every shipped tool under tools/ run as a real child process with
 * argv exactly as hale builds it (--NAME=VALUE, sorted by NAME): exit codes and the JSON result
 * on the last stdout line. Argument checking is driven by each manifest (every argument gets
 * out-of-range, injected and traversing values); the tools then meet real counterparts: a
 * throw-away HTTP server and TCP listener, directories of old and new files with symlinks out of
 * the root and one swapped in mid-run, sleeping children to kill, a runit-protocol supervisor
 * and a pidfile supervisor (tests/fakes/fake_supervisor.h), and a fake kubectl on PATH. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on

#include "fake_supervisor.h"
#include "fixture.h"
#include "integ_proc.h"
#include "integ_tools.h"

#define TOOL_TIMEOUT_MS 60000u
#define N_TOOLS         13

static char work[64]; /* /tmp/hale-tools-XXXXXX: under /tmp, which the tools' patterns allow */

/* ---- helpers ----------------------------------------------------------------------------- */

/* printf into one of a ring of buffers: enough for the arguments of a few runs. */
static const char *fmt(const char *f, ...)
{
    static char ring[48][4200];
    static unsigned next;
    char *b = ring[next++ % 48];
    va_list ap;

    va_start(ap, f);
    vsnprintf(b, sizeof(ring[0]), f, ap);
    va_end(ap);
    return b;
}

static int run(const char *tool, const char *const *args, json_t **res, char **ret_out)
{
    char *out = NULL, *err = NULL;
    int r = integ_tool_run(work, tool, args, TOOL_TIMEOUT_MS, res, &out, &err);

    if (!*res)
        print_message("%s: no JSON object on the last line of:\n%s\n", tool, out ? out : "(none)");
    /* A Perl warning or death message means a bug, whatever the exit code. */
    if (err && (strstr(err, " line ") || strstr(err, "Use of ")))
        fail_msg("%s wrote to stderr:\n%s", tool, err);
    free(err);
    if (ret_out)
        *ret_out = out;
    else
        free(out);
    return r;
}
#define TOOL(res, tool, ...) run(tool, (const char *const[]){__VA_ARGS__, NULL}, &(res), NULL)
#define TOOL_OUT(res, out, tool, ...)                                                              \
    run(tool, (const char *const[]){__VA_ARGS__, NULL}, &(res), &(out))

static long long jint(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);

    if (!json_is_integer(v))
        fail_msg("result member %s is not an integer", k);
    return json_integer_value(v);
}

static bool jbool(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);

    if (!json_is_boolean(v))
        fail_msg("result member %s is not a boolean", k);
    return json_is_true(v);
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    if (!s)
        fail_msg("result member %s is not a string", k);
    return s;
}

static void make_file(const char *path, const char *text, int age_days)
{
    assert_int_equal(fixture_write(path, text), 0);
    if (age_days > 0) {
        struct timespec ts[2];

        clock_gettime(CLOCK_REALTIME, &ts[0]);
        ts[0].tv_sec -= (time_t)age_days * 86400;
        ts[1] = ts[0];
        assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
    }
}

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

/* A /proc file (whose size stat reports as 0) into buf, NUL-terminated; false when absent. */
static bool read_proc(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t got = 0;
    ssize_t n;

    if (fd < 0)
        return false;
    while (got < size - 1 && (n = read(fd, buf + got, size - 1 - got)) > 0)
        got += (size_t)n;
    close(fd);
    buf[got] = '\0';
    return got > 0;
}

/* Running, and not a zombie waiting to be reaped. */
static bool alive(pid_t pid)
{
    char path[64], stat[1024];

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (!read_proc(path, stat, sizeof(stat)))
        return false;
    return !strstr(stat, ") Z ") && !strstr(stat, ") X ");
}

/* Wait until pid has exec'd into a program called comm. */
static void wait_comm(pid_t pid, const char *comm)
{
    char path[64], buf[64];
    uint64_t end = integ_now_ms() + 5000;

    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    for (;;) {
        if (read_proc(path, buf, sizeof(buf)) && strncmp(buf, comm, strlen(comm)) == 0 &&
            buf[strlen(comm)] == '\n')
            return;
        assert_true(integ_now_ms() < end);
        integ_sleep_ms(5);
    }
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(work, sizeof(work), "/tmp/hale-tools-XXXXXX");
    return mkdtemp(work) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return fixture_rmtree(work);
}

/* ---- every manifest against its executable ------------------------------------------------ */

/* Valid values of each tool's required arguments, so a run fails on the argument under test. */
static const struct {
    const char *tool;
    const char *args[3];
} bases[] = {
    {"service_status", {"--service=web"}},
    {"restart_service", {"--service=web"}},
    {"http_probe", {"--host=127.0.0.1", "--port=1"}},
    {"tcp_probe", {"--host=127.0.0.1", "--port=1"}},
    {"kill_process", {"--name=sleep", "--pid=4194304"}},
    {"clean_disk", {"--root=/tmp/hale-tools-none"}},
    {"rotate_logs", {"--dir=/tmp/hale-tools-none", "--name=app.log"}},
    {"scale_deployment", {"--name=web", "--replicas=1"}},
    {"rollout_restart", {"--name=web"}},
};

/* Run tool with its base arguments, minus any for name, plus extra; expect exit 2 and an
 * error naming what (an argument "--NAME..." or a message prefix). */
static void expect_refused(const char *tool, const char *name, const char *extra, const char *what)
{
    const char *args[8];
    size_t n = 0;
    json_t *res = NULL;
    const char *err;
    int code;

    for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
        if (strcmp(bases[i].tool, tool) != 0)
            continue;
        for (size_t j = 0; j < 3 && bases[i].args[j]; j++) {
            const char *a = bases[i].args[j];

            if (name && strncmp(a + 2, name, strlen(name)) == 0 && a[2 + strlen(name)] == '=')
                continue;
            args[n++] = a;
        }
    }
    if (extra)
        args[n++] = extra;
    args[n] = NULL;
    code = run(tool, args, &res, NULL);
    if (code != 2)
        fail_msg("%s %s: exit %d, expected 2", tool, extra ? extra : "(missing)", code);
    assert_non_null(res);
    assert_false(jbool(res, "ok"));
    err = jstr(res, "error");
    if (strncmp(err, what, strlen(what)) != 0)
        fail_msg("%s %s: error \"%s\" does not start with \"%s\"", tool, extra, err, what);
    json_decref(res);
}

static void check_arg(const char *tool, const char *name, const json_t *spec)
{
    const char *type = json_string_value(json_object_get(spec, "type"));
    char prefix[80];

    snprintf(prefix, sizeof(prefix), "--%s", name);
    if (strcmp(type, "string") == 0) {
        static const char *const bad[] = {"; rm -rf /",  "$(id)",    "`id`",
                                          "a\nb",        "a\tb",     "../../etc/passwd",
                                          "/tmp/../etc", "web/../x", "\xff\xfe"};
        json_int_t max = json_integer_value(json_object_get(spec, "max_length"));

        if (!json_object_get(spec, "max_length"))
            max = 256; /* the contract's default */
        char *longer;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
            expect_refused(tool, name, fmt("--%s=%s", name, bad[i]), prefix);
        longer = malloc((size_t)max + 2);
        assert_non_null(longer);
        memset(longer, 'a', (size_t)max + 1);
        longer[max + 1] = '\0';
        expect_refused(tool, name, fmt("--%s=%s", name, longer), prefix);
        free(longer);
    } else if (strcmp(type, "integer") == 0) {
        const json_t *mn = json_object_get(spec, "min"), *mx = json_object_get(spec, "max");

        assert_true(json_is_integer(mn) && json_is_integer(mx));
        expect_refused(tool, name, fmt("--%s=%lld", name, (long long)json_integer_value(mn) - 1),
                       prefix);
        expect_refused(tool, name, fmt("--%s=%lld", name, (long long)json_integer_value(mx) + 1),
                       prefix);
        expect_refused(tool, name, fmt("--%s=1x", name), prefix);
        expect_refused(tool, name, fmt("--%s=", name), prefix);
    } else {
        assert_string_equal(type, "boolean");
        expect_refused(tool, name, fmt("--%s=yes", name), prefix);
        expect_refused(tool, name, fmt("--%s=1", name), prefix);
    }
}

static void test_manifests_and_arguments(void **state)
{
    char dir[4096];
    struct dirent *e;
    DIR *d;
    unsigned tools = 0;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/tools", HALE_SOURCE_DIR);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d))) {
        char path[4400];
        json_error_t jerr;
        json_t *m, *args, *req;
        const char *name, *kind;
        const char *key;
        json_t *spec;
        size_t i;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s/manifest.json", dir, e->d_name);
        m = json_load_file(path, 0, &jerr);
        if (!m)
            fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
        name = json_string_value(json_object_get(m, "name"));
        assert_non_null(name);
        assert_string_equal(name, e->d_name);
        snprintf(path, sizeof(path), "%s/%s/%s", dir, e->d_name,
                 json_string_value(json_object_get(m, "command")));
        assert_int_equal(access(path, X_OK), 0);
        kind = json_string_value(json_object_get(m, "kind"));
        assert_true(strcmp(kind, "diagnostic") == 0 || strcmp(kind, "remediation") == 0);
        args = json_object_get(m, "args");
        assert_true(json_is_object(args));
        json_object_foreach(args, key, spec) check_arg(name, key, spec);
        req = json_object_get(m, "required");
        json_array_foreach(req, i, spec)
        {
            char msg[96];

            snprintf(msg, sizeof(msg), "--%s is required", json_string_value(spec));
            expect_refused(name, json_string_value(spec), NULL, msg);
        }
        expect_refused(name, NULL, "--bogus=1", "unknown argument --bogus");
        expect_refused(name, NULL, "positional", "arguments are --NAME=VALUE");
        json_decref(m);
        tools++;
    }
    closedir(d);
    assert_int_equal(tools, N_TOOLS);
}

/* The block from "# ---- The shared tool preamble" to "# ---- end of the shared tool preamble"
 * of the tool's executable, as a new string; NULL when it has none. */
static char *preamble_of(const char *tool)
{
    char path[4096];
    char *text = fixture_read(integ_tool_path(tool, path, sizeof(path)), NULL), *a, *b, *r = NULL;

    if (!text)
        return NULL;
    a = strstr(text, "# ---- The shared tool preamble");
    b = a ? strstr(a, "# ---- end of the shared tool preamble") : NULL;
    if (b)
        r = strndup(a, (size_t)(b - a));
    free(text);
    return r;
}

/* Each tool is one standalone file (the catalog pins it by SHA-256), so the argument checking
 * and result printing they share is repeated in each: the copies must not drift apart. */
static void test_shared_preamble_identical(void **state)
{
    static const char *const tools[] = {
        "clean_disk",     "disk_usage",      "drop_caches",     "http_probe",  "kill_process",
        "recent_logs",    "restart_service", "rollout_restart", "rotate_logs", "scale_deployment",
        "service_status", "tcp_probe",       "top_processes"};
    char *first = preamble_of(tools[0]);

    (void)state;
    assert_non_null(first);
    assert_non_null(strstr(first, "sub parse_args"));
    for (size_t i = 1; i < sizeof(tools) / sizeof(tools[0]); i++) {
        char *p = preamble_of(tools[i]);

        if (!p || strcmp(p, first) != 0)
            fail_msg("tools/%s/%s: the shared preamble differs from clean_disk's", tools[i],
                     tools[i]);
        free(p);
    }
    free(first);
}

static void test_argument_shape(void **state)
{
    json_t *res = NULL;

    (void)state;
    assert_int_equal(TOOL(res, "tcp_probe", "--host=a", "--host=b", "--port=1"), 2);
    assert_string_equal(jstr(res, "error"), "--host given twice");
    json_decref(res);
    assert_int_equal(TOOL(res, "tcp_probe", "--host=a", "--port=1", "-port=2"), 2);
    json_decref(res);
    assert_int_equal(TOOL(res, "tcp_probe", "--host=a", "--port=1", "--Port=2"), 2);
    json_decref(res);
}

/* ---- probes -------------------------------------------------------------------------------- */

static int listener(uint16_t *ret_port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *ret_port = ntohs(a.sin_port);
    return fd;
}

/* A throw-away HTTP server: "/" answers 200, "/down" 503, "/garbage" something not HTTP,
 * "/silent" nothing at all. */
static void *serve_http(void *arg)
{
    int lfd = *(int *)arg;

    for (;;) {
        char req[2048];
        size_t got = 0;
        struct timeval tv = {.tv_sec = 3};
        int c = accept(lfd, NULL, NULL);
        const char *ans;

        if (c < 0)
            return NULL;
        (void)setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        while (got < sizeof(req) - 1) {
            ssize_t n = read(c, req + got, sizeof(req) - 1 - got);

            if (n <= 0)
                break;
            got += (size_t)n;
            req[got] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        req[got] = '\0';
        if (strncmp(req, "GET /down ", 10) == 0)
            ans = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown";
        else if (strncmp(req, "GET /garbage ", 13) == 0)
            ans = "SSH-2.0-OpenSSH_9.2\r\n\r\n";
        else if (strncmp(req, "GET /silent ", 12) == 0)
            ans = "";
        else if (strncmp(req, "GET / HTTP/1.1\r\n", 16) == 0 && strstr(req, "\r\nHost: 127.0.0.1:"))
            ans = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
        else
            ans = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        if (*ans)
            (void)!write(c, ans, strlen(ans));
        else
            integ_sleep_ms(1500);
        close(c);
    }
}

static void test_http_probe(void **state)
{
    uint16_t port, closed;
    int lfd = listener(&port), cfd = listener(&closed);
    pthread_t th;
    json_t *res = NULL;
    const char *p;

    (void)state;
    close(cfd); /* a port that was just free: nothing listens there */
    assert_int_equal(pthread_create(&th, NULL, serve_http, &lfd), 0);
    p = fmt("--port=%u", port);
    assert_int_equal(TOOL(res, "http_probe", "--host=127.0.0.1", p), 0);
    assert_int_equal(jint(res, "status"), 200);
    assert_true(jbool(res, "ok"));
    assert_int_equal(jint(res, "bytes"), 5);
    assert_true(jint(res, "latency_ms") >= 0);
    json_decref(res);
    assert_int_equal(TOOL(res, "http_probe", "--host=127.0.0.1", p, "--path=/down"), 0);
    assert_int_equal(jint(res, "status"), 503);
    assert_false(jbool(res, "ok"));
    json_decref(res);
    assert_int_equal(TOOL(res, "http_probe", "--host=127.0.0.1", p, "--path=/garbage"), 1);
    assert_true(json_is_null(json_object_get(res, "status")));
    json_decref(res);
    assert_int_equal(
        TOOL(res, "http_probe", "--host=127.0.0.1", p, "--path=/silent", "--timeout_ms=300"), 1);
    assert_true(jint(res, "latency_ms") >= 250);
    json_decref(res);
    assert_int_equal(TOOL(res, "http_probe", "--host=127.0.0.1", fmt("--port=%u", closed)), 1);
    assert_false(jbool(res, "ok"));
    json_decref(res);
    shutdown(lfd, SHUT_RDWR);
    pthread_join(th, NULL);
    close(lfd);
}

/* Accepts every connection and closes it at once, as a forwarder whose upstream refused. */
static void *accept_and_close(void *arg)
{
    int lfd = *(int *)arg;

    for (;;) {
        int c = accept(lfd, NULL, NULL);

        if (c < 0)
            return NULL;
        close(c);
    }
}

static void test_tcp_probe(void **state)
{
    uint16_t port;
    int lfd = listener(&port);
    json_t *res = NULL;

    (void)state;
    /* The kernel completes the handshake from the backlog: no accept needed. */
    assert_int_equal(TOOL(res, "tcp_probe", "--host=127.0.0.1", fmt("--port=%u", port)), 0);
    assert_true(jbool(res, "open"));
    assert_string_equal(jstr(res, "address"), "127.0.0.1");
    json_decref(res);
    assert_int_equal(TOOL(res, "tcp_probe", "--host=localhost", fmt("--port=%u", port)), 0);
    assert_true(jbool(res, "open"));
    json_decref(res);
    close(lfd);
    assert_int_equal(TOOL(res, "tcp_probe", "--host=127.0.0.1", fmt("--port=%u", port)), 1);
    assert_false(jbool(res, "open"));
    assert_non_null(strstr(jstr(res, "error"), "refused"));
    json_decref(res);

    /* Accepted and closed at once: nothing serves there. */
    {
        pthread_t th;

        lfd = listener(&port);
        assert_int_equal(pthread_create(&th, NULL, accept_and_close, &lfd), 0);
        assert_int_equal(TOOL(res, "tcp_probe", "--host=127.0.0.1", fmt("--port=%u", port)), 1);
        assert_false(jbool(res, "open"));
        assert_non_null(strstr(jstr(res, "error"), "closed at once"));
        json_decref(res);
        shutdown(lfd, SHUT_RDWR);
        pthread_join(th, NULL);
        close(lfd);
    }
}

/* ---- diagnostics ------------------------------------------------------------------------- */

static void test_disk_usage(void **state)
{
    json_t *res = NULL;

    (void)state;
    assert_int_equal(TOOL(res, "disk_usage", fmt("--path=%s", work)), 0);
    assert_true(jint(res, "size_bytes") > 0);
    assert_true(jint(res, "used_bytes") + jint(res, "avail_bytes") <= jint(res, "size_bytes"));
    assert_in_range(jint(res, "used_pct"), 0, 100);
    assert_true(jstr(res, "mount")[0] == '/');
    json_decref(res);
    assert_int_equal(TOOL(res, "disk_usage", fmt("--path=%s/none", work)), 1);
    json_decref(res);
}

static void test_top_processes(void **state)
{
    const char *spin[] = {"/bin/sh", "-c", "while :; do :; done", NULL};
    integ_proc p = {0};
    json_t *res = NULL, *procs, *e;
    double last = 1e9;
    bool found = false;
    size_t i;

    (void)state;
    assert_int_equal(integ_proc_start(&p, spin, NULL, NULL), 0);
    wait_comm(p.pid, "sh");
    assert_int_equal(TOOL(res, "top_processes", "--limit=100", "--interval_ms=1000"), 0);
    procs = json_object_get(res, "processes");
    assert_true(json_array_size(procs) > 1);
    json_array_foreach(procs, i, e)
    {
        double cpu = json_number_value(json_object_get(e, "cpu_pct"));

        assert_true(cpu <= last);
        last = cpu;
        if (jint(e, "pid") == p.pid) {
            found = true;
            assert_string_equal(jstr(e, "name"), "sh");
            assert_true(cpu > 0.0); /* busy for the whole sample, even on a loaded machine */
        }
    }
    assert_true(found);
    json_decref(res);
    integ_proc_kill(&p);
    assert_int_equal(TOOL(res, "top_processes", "--limit=5", "--sort=memory"), 0);
    procs = json_object_get(res, "processes");
    assert_int_equal(json_array_size(procs), 5);
    last = 1e18;
    json_array_foreach(procs, i, e)
    {
        assert_true((double)jint(e, "rss_bytes") <= last);
        last = (double)jint(e, "rss_bytes");
    }
    json_decref(res);
}

static bool journal_present(void)
{
    glob_t g;
    bool any;

    if (access("/run/systemd/journal", F_OK) == 0)
        return true;
    any = glob("/var/log/journal/*/*.journal", 0, NULL, &g) == 0 && g.gl_pathc > 0;
    globfree(&g);
    if (!any) {
        any = glob("/run/log/journal/*/*.journal", 0, NULL, &g) == 0 && g.gl_pathc > 0;
        globfree(&g);
    }
    return any;
}

static void test_recent_logs(void **state)
{
    char dir[128], path[200], *text, *out = NULL;
    size_t len = 0;
    json_t *res = NULL;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/logs", work);
    assert_int_equal(mkdir(dir, 0755), 0);
    text = malloc(20000);
    assert_non_null(text);
    for (int i = 1; i <= 500; i++)
        len += (size_t)snprintf(text + len, 20000 - len, "line %d\n", i);
    snprintf(path, sizeof(path), "%s/app.log", dir);
    make_file(path, text, 0);
    free(text);
    assert_int_equal(TOOL_OUT(res, out, "recent_logs", fmt("--dir=%s", dir), "--name=app.log",
                              "--lines=10", "--source=file"),
                     0);
    assert_int_equal(jint(res, "lines"), 10);
    assert_non_null(strstr(out, "line 491\n"));
    assert_non_null(strstr(out, "line 500\n"));
    assert_null(strstr(out, "line 490\n"));
    free(out);
    json_decref(res);

    /* Long lines: the newest that fit in 1 MiB are printed, and the result line still comes. */
    text = malloc(2000 * 3001 + 1);
    assert_non_null(text);
    memset(text, 'x', 2000 * 3001);
    for (int i = 1; i <= 2000; i++)
        text[i * 3001 - 1] = '\n';
    text[2000 * 3001] = '\0';
    snprintf(path, sizeof(path), "%s/big.log", dir);
    make_file(path, text, 0);
    free(text);
    assert_int_equal(
        TOOL_OUT(res, out, "recent_logs", fmt("--dir=%s", dir), "--name=big.log", "--lines=2000"),
        0);
    assert_true(strlen(out) < (1u << 20) + 4096);
    assert_true(jint(res, "lines") > 100);
    assert_int_equal(jint(res, "lines") + jint(res, "dropped"), 2000);
    free(out);
    json_decref(res);

    snprintf(path, sizeof(path), "%s/link.log", dir);
    assert_int_equal(symlink("/etc/passwd", path), 0);
    assert_int_equal(TOOL(res, "recent_logs", fmt("--dir=%s", dir), "--name=link.log"), 3);
    json_decref(res);
    /* The journal only where journald runs or left journal files. */
    assert_int_equal(TOOL(res, "recent_logs", "--source=journal", "--lines=1"),
                     journal_present() ? 0 : 1);
    json_decref(res);
}

/* ---- services ----------------------------------------------------------------------------- */

static void test_service_runit(void **state)
{
    char dir[128];
    fake_sv *sv = NULL;
    json_t *res = NULL;
    pid_t p0, p1;
    const char *d;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/sv", work);
    assert_int_equal(mkdir(dir, 0755), 0);
    d = fmt("--dir=%s", dir);
    assert_int_equal(fake_sv_start(dir, "web", FAKE_SV_RUNIT, &sv), 0);
    p0 = fake_sv_pid(sv, 0, 0);

    assert_int_equal(TOOL(res, "service_status", "--service=web", d), 0);
    assert_string_equal(jstr(res, "backend"), "runit");
    assert_true(jbool(res, "active"));
    assert_true(jbool(res, "supervised"));
    assert_int_equal(jint(res, "pid"), p0);
    assert_string_equal(jstr(res, "want"), "up");
    json_decref(res);

    assert_int_equal(TOOL(res, "restart_service", "--service=web", d, "--timeout_s=10"), 0);
    p1 = fake_sv_pid(sv, p0, 5000);
    assert_true(p1 > 0);
    assert_int_equal(jint(res, "old_pid"), p0);
    assert_int_equal(jint(res, "pid"), p1);
    assert_int_equal(fake_sv_starts(sv), 2);
    assert_false(alive(p0));
    assert_true(alive(p1));
    json_decref(res);

    /* Wanted down: the restart brings it up ("u") and reports no old pid. */
    {
        int fd = open(fmt("%s/web/supervise/control", dir), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        uint64_t end = integ_now_ms() + 5000;

        assert_true(fd >= 0);
        assert_int_equal(write(fd, "d", 1), 1);
        close(fd);
        while (alive(p1) && integ_now_ms() < end)
            integ_sleep_ms(10);
        assert_false(alive(p1));
    }
    /* The supervisor publishes "want down" a moment later. */
    for (uint64_t end = integ_now_ms() + 5000;;) {
        bool down;

        assert_int_equal(TOOL(res, "service_status", "--service=web", d), 0);
        assert_false(jbool(res, "active"));
        down = strcmp(jstr(res, "want"), "down") == 0;
        json_decref(res);
        if (down)
            break;
        assert_true(integ_now_ms() < end);
        integ_sleep_ms(20);
    }
    assert_int_equal(TOOL(res, "restart_service", "--service=web", d, "--timeout_s=10"), 0);
    assert_true(json_is_null(json_object_get(res, "old_pid")));
    assert_true(alive((pid_t)jint(res, "pid")));
    assert_int_equal(fake_sv_starts(sv), 3);
    json_decref(res);

    /* No supervisor: the status says so, and the restart refuses rather than start it. */
    fake_sv_stop(sv);
    assert_int_equal(TOOL(res, "service_status", "--service=web", d, "--backend=runit"), 0);
    assert_false(jbool(res, "supervised"));
    assert_false(jbool(res, "active"));
    json_decref(res);
    assert_int_equal(TOOL(res, "restart_service", "--service=web", d, "--timeout_s=2"), 1);
    assert_non_null(strstr(jstr(res, "error"), "no supervisor"));
    json_decref(res);
    /* Neither a service directory nor a pidfile (and no systemd here). */
    if (access("/run/systemd/system", F_OK) != 0) {
        assert_int_equal(TOOL(res, "restart_service", "--service=none", d), 1);
        json_decref(res);
        assert_int_equal(TOOL(res, "service_status", "--service=none", d, "--backend=systemd"), 1);
        assert_non_null(strstr(jstr(res, "error"), "systemd is not PID 1"));
        json_decref(res);
    }
}

static void test_service_pidfile(void **state)
{
    char dir[128], pidfile[200];
    fake_sv *sv = NULL;
    json_t *res = NULL;
    pid_t p0, p1;
    const char *d;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/pf", work);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(pidfile, sizeof(pidfile), "%s/api.pid", dir);
    d = fmt("--dir=%s", dir);
    assert_int_equal(fake_sv_start(dir, "api", FAKE_SV_PIDFILE, &sv), 0);
    p0 = fake_sv_pid(sv, 0, 0);

    assert_int_equal(TOOL(res, "service_status", "--service=api", d), 0);
    assert_string_equal(jstr(res, "backend"), "pidfile");
    assert_true(jbool(res, "active"));
    assert_int_equal(jint(res, "pid"), p0);
    json_decref(res);

    assert_int_equal(TOOL(res, "restart_service", "--service=api", d, "--backend=pidfile"), 0);
    p1 = fake_sv_pid(sv, p0, 5000);
    assert_int_equal(jint(res, "old_pid"), p0);
    assert_int_equal(jint(res, "pid"), p1);
    assert_false(alive(p0));
    json_decref(res);

    /* A pidfile or directory others could write names no pid worth signalling. */
    assert_int_equal(chmod(pidfile, 0666), 0);
    assert_int_equal(TOOL(res, "restart_service", "--service=api", d), 3);
    json_decref(res);
    assert_int_equal(chmod(pidfile, 0644), 0);
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(TOOL(res, "restart_service", "--service=api", d), 3);
    json_decref(res);
    assert_int_equal(chmod(dir, 0755), 0);
    assert_true(alive(p1));

    /* Supervisor gone: the pidfile names a dead process, and the tool does not start one. */
    fake_sv_stop(sv);
    assert_int_equal(TOOL(res, "service_status", "--service=api", d), 0);
    assert_false(jbool(res, "active"));
    json_decref(res);
    assert_int_equal(TOOL(res, "restart_service", "--service=api", d), 3);
    assert_non_null(strstr(jstr(res, "error"), "nothing to restart"));
    json_decref(res);

    /* A pidfile naming the caller (an ancestor of the tool) is refused. */
    assert_int_equal(fixture_write(pidfile, fmt("%d\n", (int)getpid())), 0);
    assert_int_equal(TOOL(res, "restart_service", "--service=api", d), 3);
    assert_non_null(strstr(jstr(res, "error"), "protected"));
    json_decref(res);
    assert_int_equal(fixture_write(pidfile, "1\n"), 0);
    assert_int_equal(TOOL(res, "restart_service", "--service=api", d), 3);
    json_decref(res);
}

/* ---- kill_process ------------------------------------------------------------------------- */

static void test_kill_process(void **state)
{
    const char *sleeper[] = {"/bin/sleep", "100", NULL};
    char hale[128], self[32] = {0};
    integ_proc p = {0}, h = {0};
    json_t *res = NULL;
    const char *pid;

    (void)state;
    assert_int_equal(integ_proc_start(&p, sleeper, NULL, NULL), 0);
    pid = fmt("--pid=%d", (int)p.pid);
    wait_comm(p.pid, "sleep");

    assert_int_equal(TOOL(res, "kill_process", pid, "--name=sleeq"), 3);
    assert_string_equal(jstr(res, "actual_name"), "sleep");
    assert_true(alive(p.pid));
    json_decref(res);
    assert_int_equal(TOOL(res, "kill_process", "--pid=1", "--name=init"), 2);
    json_decref(res);
    /* Kernel threads (kthreadd is pid 2 on Linux hosts, not in containers) are never signalled. */
    if (read_proc("/proc/2/comm", self, sizeof(self)) && strcmp(self, "kthreadd\n") == 0) {
        assert_int_equal(TOOL(res, "kill_process", "--pid=2", "--name=kthreadd"), 3);
        assert_non_null(strstr(jstr(res, "error"), "kernel thread"));
        json_decref(res);
    }

    /* The caller is an ancestor of the tool, as hale and its launcher are. */
    assert_true(read_proc("/proc/self/comm", self, sizeof(self)));
    self[strcspn(self, "\n")] = '\0';
    assert_int_equal(
        TOOL(res, "kill_process", fmt("--pid=%d", (int)getpid()), fmt("--name=%s", self)), 3);
    assert_non_null(strstr(jstr(res, "error"), "ancestor"));
    json_decref(res);

    /* Anything called hale is never signalled. */
    snprintf(hale, sizeof(hale), "%s/hale", work);
    {
        char *bin;
        size_t len;

        bin = fixture_read("/bin/sleep", &len);
        assert_non_null(bin);
        int fd = open(hale, O_WRONLY | O_CREAT | O_TRUNC, 0755);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, bin, len), (ssize_t)len);
        close(fd);
        free(bin);
    }
    {
        const char *argv[] = {hale, "100", NULL};

        assert_int_equal(integ_proc_start(&h, argv, NULL, NULL), 0);
    }
    wait_comm(h.pid, "hale");
    assert_int_equal(TOOL(res, "kill_process", fmt("--pid=%d", (int)h.pid), "--name=hale"), 3);
    assert_true(alive(h.pid));
    json_decref(res);
    integ_proc_kill(&h);

    assert_int_equal(TOOL(res, "kill_process", pid, "--name=sleep"), 0);
    assert_true(jbool(res, "exited"));
    assert_string_equal(jstr(res, "signal"), "TERM");
    json_decref(res);
    assert_int_equal(integ_proc_wait(&p, 2000), 0);
    assert_true(WIFSIGNALED(p.status) && WTERMSIG(p.status) == SIGTERM);

    /* Gone now: refused, not failed. */
    assert_int_equal(TOOL(res, "kill_process", pid, "--name=sleep"), 3);
    json_decref(res);
}

/* ---- files -------------------------------------------------------------------------------- */

static void test_clean_disk(void **state)
{
    char root[128], out_dir[128], p[256];
    json_t *res = NULL;
    const char *r;

    (void)state;
    snprintf(root, sizeof(root), "%s/clean", work);
    snprintf(out_dir, sizeof(out_dir), "%s/outside", work);
    assert_int_equal(mkdir(root, 0755), 0);
    assert_int_equal(mkdir(fmt("%s/sub", root), 0755), 0);
    assert_int_equal(mkdir(out_dir, 0755), 0);
    make_file(fmt("%s/old.log", root), "old old old\n", 10);
    make_file(fmt("%s/sub/old2.log", root), "older\n", 30);
    make_file(fmt("%s/new.log", root), "new\n", 0);
    make_file(fmt("%s/victim", out_dir), "keep me\n", 30);
    /* Links out of the root, to an old file and to a directory of old files. */
    assert_int_equal(symlink(fmt("%s/victim", out_dir), fmt("%s/link", root)), 0);
    assert_int_equal(symlink(out_dir, fmt("%s/linkdir", root)), 0);
    r = fmt("--root=%s", root);

    assert_int_equal(TOOL(res, "clean_disk", r, "--dry_run=true"), 0);
    assert_int_equal(jint(res, "would_delete"), 2);
    assert_int_equal(jint(res, "bytes"), 18);
    assert_true(exists(fmt("%s/old.log", root)));
    json_decref(res);

    assert_int_equal(TOOL(res, "clean_disk", r, "--older_than_days=7"), 0);
    assert_int_equal(jint(res, "deleted"), 2);
    assert_int_equal(jint(res, "bytes"), 18);
    assert_true(jint(res, "freed_bytes") >= 2 * 512);
    json_decref(res);
    assert_false(exists(fmt("%s/old.log", root)));
    assert_false(exists(fmt("%s/sub/old2.log", root)));
    assert_true(exists(fmt("%s/new.log", root)));
    assert_true(exists(fmt("%s/link", root)));
    assert_true(exists(fmt("%s/victim", out_dir)));

    /* A name with a newline and a byte that is not UTF-8: escaped in the listing, and the
     * result is still one valid JSON line. */
    {
        char *out = NULL;

        make_file(fmt("%s/bad\nname\xff", root), "z\n", 10);
        assert_int_equal(TOOL_OUT(res, out, "clean_disk", r, "--dry_run=true"), 0);
        assert_int_equal(jint(res, "would_delete"), 1);
        assert_non_null(strstr(out, "bad\\x0aname\xff"));
        free(out);
        json_decref(res);
    }
    assert_int_equal(TOOL(res, "clean_disk", r), 0);
    assert_int_equal(jint(res, "deleted"), 1);
    json_decref(res);

    /* Idempotent: nothing left to delete. */
    assert_int_equal(TOOL(res, "clean_disk", r), 0);
    assert_int_equal(jint(res, "deleted"), 0);
    json_decref(res);

    /* The root itself may not be a symlink, nor be reached through one. */
    assert_int_equal(TOOL(res, "clean_disk", fmt("--root=%s/linkdir", root)), 3);
    json_decref(res);
    snprintf(p, sizeof(p), "%s/lnroot", work);
    assert_int_equal(symlink(work, p), 0);
    assert_int_equal(TOOL(res, "clean_disk", fmt("--root=%s/clean", p)), 3);
    json_decref(res);
    assert_int_equal(TOOL(res, "clean_disk", "--root=/etc"), 2);
    json_decref(res);
    assert_true(exists(fmt("%s/victim", out_dir)));
}

/* Swap root/d for a symlink to outside and back, as fast as possible, until killed. */
static pid_t start_swapper(const char *root, const char *outside)
{
    pid_t parent = getpid();
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        char d[256], real[256];

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
            _exit(126);
        snprintf(d, sizeof(d), "%s/d", root);
        snprintf(real, sizeof(real), "%s/d.real", root);
        for (;;) {
            struct timespec hold = {.tv_nsec = 500 * 1000}; /* each state lasts about 0.5 ms */

            if (rename(d, real) == 0) {
                (void)symlink(outside, d);
                nanosleep(&hold, NULL);
                (void)unlink(d);
                (void)rename(real, d);
            }
            nanosleep(&hold, NULL);
        }
    }
    return pid;
}

static unsigned count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    unsigned n = 0;

    assert_non_null(d);
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_clean_disk_symlink_race(void **state)
{
    char root[128], outside[128], d[256];
    json_t *res = NULL;

    (void)state;
    snprintf(root, sizeof(root), "%s/race", work);
    snprintf(outside, sizeof(outside), "%s/race-outside", work);
    assert_int_equal(mkdir(root, 0755), 0);
    assert_int_equal(mkdir(outside, 0755), 0);
    for (int i = 0; i < 50; i++)
        make_file(fmt("%s/keep%d", outside, i), "x\n", 30);
    snprintf(d, sizeof(d), "%s/d", root);
    for (int round = 0; round < 5; round++) {
        pid_t swapper;
        int code, status;

        if (!exists(d))
            assert_int_equal(mkdir(d, 0755), 0);
        for (int i = 0; i < 200; i++)
            make_file(fmt("%s/old%d", d, i), "y\n", 30);
        swapper = start_swapper(root, outside);
        code = TOOL(res, "clean_disk", fmt("--root=%s", root), "--older_than_days=1");
        kill(swapper, SIGKILL);
        waitpid(swapper, &status, 0);
        /* find may report the directory that vanished mid-walk: 0 or 1, never a crash. */
        assert_true(code == 0 || code == 1);
        json_decref(res);
        /* Put d back if the swapper was killed in the middle of a swap. */
        {
            struct stat st;

            if (lstat(d, &st) == 0 && S_ISLNK(st.st_mode))
                assert_int_equal(unlink(d), 0);
            if (exists(fmt("%s/d.real", root)))
                assert_int_equal(rename(fmt("%s/d.real", root), d), 0);
        }
        assert_int_equal(count_files(outside), 50);
    }
}

static void test_rotate_logs(void **state)
{
    char dir[128], p[256], *text;
    json_t *res = NULL;
    const char *d;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/rot", work);
    assert_int_equal(mkdir(dir, 0755), 0);
    d = fmt("--dir=%s", dir);
    snprintf(p, sizeof(p), "%s/app.log", dir);
    make_file(p, "first\n", 0);
    assert_int_equal(TOOL(res, "rotate_logs", d, "--name=app.log", "--keep=2", "--compress=false"),
                     0);
    assert_true(jbool(res, "rotated"));
    assert_int_equal(jint(res, "bytes"), 6);
    json_decref(res);
    text = fixture_read(fmt("%s.1", p), NULL);
    assert_string_equal(text, "first\n");
    free(text);
    text = fixture_read(p, NULL);
    assert_string_equal(text, "");
    free(text);

    /* Idempotent: an empty file is left alone. */
    assert_int_equal(TOOL(res, "rotate_logs", d, "--name=app.log", "--keep=2"), 0);
    assert_false(jbool(res, "rotated"));
    json_decref(res);
    assert_false(exists(fmt("%s.2", p)));

    make_file(p, "second\n", 0);
    assert_int_equal(TOOL(res, "rotate_logs", d, "--name=app.log", "--keep=2", "--compress=false"),
                     0);
    json_decref(res);
    make_file(p, "third\n", 0);
    assert_int_equal(TOOL(res, "rotate_logs", d, "--name=app.log", "--keep=2", "--compress=false"),
                     0);
    json_decref(res);
    text = fixture_read(fmt("%s.1", p), NULL);
    assert_string_equal(text, "third\n");
    free(text);
    text = fixture_read(fmt("%s.2", p), NULL);
    assert_string_equal(text, "second\n");
    free(text);
    assert_false(exists(fmt("%s.3", p))); /* keep=2: "first" is gone */

    make_file(p, "fourth\n", 0);
    assert_int_equal(TOOL(res, "rotate_logs", d, "--name=app.log", "--keep=3"), 0);
    if (access("/bin/gzip", X_OK) == 0 || access("/usr/bin/gzip", X_OK) == 0) {
        assert_string_equal(jstr(res, "rotated_to"), fmt("%s.1.gz", p));
        assert_true(exists(fmt("%s.1.gz", p)));
        assert_false(exists(fmt("%s.1", p)));
    }
    assert_true(exists(fmt("%s.3", p)));
    json_decref(res);

    /* Symlinks are refused: the file itself, and a generation planted as a link. */
    assert_int_equal(symlink("/etc/passwd", fmt("%s/evil.log", dir)), 0);
    assert_int_equal(TOOL(res, "rotate_logs", d, "--name=evil.log"), 3);
    json_decref(res);
    make_file(fmt("%s/b.log", dir), "b\n", 0);
    assert_int_equal(symlink("/etc/passwd", fmt("%s/b.log.1", dir)), 0);
    assert_int_equal(TOOL(res, "rotate_logs", d, "--name=b.log", "--compress=false"), 3);
    json_decref(res);
    text = fixture_read("/etc/passwd", NULL);
    assert_non_null(strstr(text, "root:"));
    free(text);
    /* A directory others may write is refused. */
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(TOOL(res, "rotate_logs", d, "--name=app.log"), 3);
    json_decref(res);
    assert_int_equal(chmod(dir, 0755), 0);
}

/* ---- kubectl and drop_caches -------------------------------------------------------------- */

static void test_kubectl_tools(void **state)
{
    char bin[128], log[160], script[1024], *saved, *text;
    json_t *res = NULL;

    (void)state;
    saved = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    assert_non_null(saved);
    assert_int_equal(setenv("PATH", "/nonexistent", 1), 0);
    assert_int_equal(TOOL(res, "scale_deployment", "--name=web", "--replicas=2"), 1);
    assert_non_null(strstr(jstr(res, "error"), "kubectl is not installed"));
    json_decref(res);
    assert_int_equal(TOOL(res, "rollout_restart", "--name=web"), 1);
    json_decref(res);

    /* A fake kubectl that logs its argv, one element a line. */
    snprintf(bin, sizeof(bin), "%s/kbin", work);
    snprintf(log, sizeof(log), "%s/kubectl.log", work);
    assert_int_equal(mkdir(bin, 0755), 0);
    snprintf(script, sizeof(script),
             "#!/bin/sh\n"
             "for a in \"$@\"; do printf '%%s\\n' \"$a\"; done >>'%s'\n"
             "case \"$2\" in deployment/missing) echo 'Error from server (NotFound): "
             "deployments.apps \"missing\" not found' >&2; exit 1;; esac\n"
             "[ \"$1\" = get ] && printf 4\n"
             "exit 0\n",
             log);
    assert_int_equal(fixture_write(fmt("%s/kubectl", bin), script), 0);
    assert_int_equal(chmod(fmt("%s/kubectl", bin), 0755), 0);
    assert_int_equal(setenv("PATH", bin, 1), 0);

    assert_int_equal(
        TOOL(res, "scale_deployment", "--name=web", "--namespace=shop", "--replicas=2"), 0);
    assert_int_equal(jint(res, "previous_replicas"), 4);
    assert_int_equal(jint(res, "replicas"), 2);
    json_decref(res);
    text = fixture_read(log, NULL);
    assert_string_equal(text, "get\ndeployment/web\n--namespace=shop\n--request-timeout=30s\n-o\n"
                              "jsonpath={.spec.replicas}\n"
                              "scale\ndeployment/web\n--namespace=shop\n--request-timeout=30s\n"
                              "--current-replicas=4\n--replicas=2\n");
    free(text);
    assert_int_equal(unlink(log), 0);

    assert_int_equal(
        TOOL(res, "rollout_restart", "--name=db", "--kind=statefulset", "--timeout_s=9"), 0);
    json_decref(res);
    text = fixture_read(log, NULL);
    assert_string_equal(text,
                        "rollout\nrestart\nstatefulset/db\n--namespace=default\n"
                        "rollout\nstatus\nstatefulset/db\n--namespace=default\n--timeout=9s\n");
    free(text);

    assert_int_equal(TOOL(res, "scale_deployment", "--name=missing", "--replicas=1"), 1);
    assert_non_null(strstr(jstr(res, "error"), "not found"));
    json_decref(res);
    assert_int_equal(setenv("PATH", saved, 1), 0);
    free(saved);
}

static void test_drop_caches(void **state)
{
    struct statvfs sv;
    json_t *res = NULL;
    int want;

    (void)state;
    /* Root with a writable /proc/sys drops them; anything else fails cleanly. */
    want = geteuid() == 0 && statvfs("/proc/sys", &sv) == 0 && !(sv.f_flag & ST_RDONLY) ? 0 : 1;
    assert_int_equal(TOOL(res, "drop_caches", "--level=1"), want);
    if (want == 0) {
        assert_true(jint(res, "cached_kb_after") >= 0);
        assert_int_equal(jint(res, "level"), 1);
    }
    json_decref(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifests_and_arguments),
        cmocka_unit_test(test_argument_shape),
        cmocka_unit_test(test_shared_preamble_identical),
        cmocka_unit_test(test_service_runit),
        cmocka_unit_test(test_service_pidfile),
        cmocka_unit_test(test_kill_process),
        cmocka_unit_test(test_clean_disk),
        cmocka_unit_test(test_clean_disk_symlink_race),
        cmocka_unit_test(test_rotate_logs),
        cmocka_unit_test(test_kubectl_tools),
        cmocka_unit_test(test_drop_caches),
        cmocka_unit_test(test_disk_usage),
        cmocka_unit_test(test_top_processes),
        cmocka_unit_test(test_recent_logs),
        cmocka_unit_test(test_tcp_probe),
        cmocka_unit_test(test_http_probe),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
