/* tests/integ/test_tools_sandbox.c - the shipped diagnostics run the way hale runs them during
 * an investigation: tools/ loaded by the catalog (hale_catalog_load), each run prepared from
 * JSON arguments (hale_tool_prepare) and executed in the real sandbox (hale_sandbox_run) with
 * the manifest's relaxations (the host's pid view, a forwarded TCP destination, read-only
 * binds), its result read with hale_tool_output_json; and the remediations with theirs (root with
 * kept capabilities, writable binds, the host's pid view). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
#include "hale/catalog.h"
#include "hale/err.h"
#include "hale/sandbox.h"
#include "integ_proc.h"

static char work[64]; /* /tmp/hale-tools-sb-XXXXXX, 0755 so the sandboxed uid may read it */
static char launcher[4096];
static hale_catalog *catalog;

static int group_setup(void **state)
{
    hale_diag d = {{0}};
    char bin[4096];
    int r;

    (void)state;
    snprintf(work, sizeof(work), "/tmp/hale-tools-sb-XXXXXX");
    if (!mkdtemp(work) || chmod(work, 0755) < 0)
        return -1;
    snprintf(bin, sizeof(bin), "%s", HALE_BINARY);
    snprintf(launcher, sizeof(launcher), "%s/hale-sandbox", dirname(bin));
    r = hale_catalog_load(HALE_SOURCE_DIR "/tools", &catalog, &d);
    if (r < 0)
        fprintf(stderr, "hale_catalog_load: %s: %s\n", hale_strerror(r), d.msg);
    return r < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    hale_catalog_unref(catalog);
    return fixture_rmtree(work);
}

/* Prepare tool with args (JSON text), run it in the sandbox; returns its exit code, *ret its
 * result object and *ret_layers the layers that applied. */
static int run(const char *tool, const char *args_json, json_t **ret, uint32_t *ret_layers)
{
    const hale_tool *t = hale_catalog_find(catalog, tool);
    json_t *args = json_loads(args_json, 0, NULL);
    hale_tool_run *tr = NULL;
    hale_sandbox_spec spec;
    hale_sandbox_result res = {0};
    hale_diag d = {{0}};
    int r, code;

    assert_non_null(t);
    assert_non_null(args);
    r = hale_tool_prepare(t, args, &tr, &d);
    if (r < 0)
        fail_msg("hale_tool_prepare %s: %s: %s", tool, hale_strerror(r), d.msg);
    spec = *hale_tool_run_spec(tr);
    spec.launcher = launcher;
    r = hale_sandbox_run(&spec, &res, &d);
    if (r < 0)
        fail_msg("hale_sandbox_run %s: %s: %s", tool, hale_strerror(r), d.msg);
    *ret = hale_tool_output_json(res.out, res.out_len);
    if (!*ret)
        fail_msg("%s: no result line; stdout:\n%s\nstderr:\n%s", tool, res.out, res.err);
    if (ret_layers)
        *ret_layers = res.layers;
    code = res.exit_code;
    hale_sandbox_result_release(&res);
    hale_tool_run_free(tr);
    json_decref(args);
    return code;
}

static long long jint(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);

    if (!json_is_integer(v))
        fail_msg("result member %s is not an integer", k);
    return json_integer_value(v);
}

static void test_catalog_holds_every_tool(void **state)
{
    static const char *const diagnostics[] = {"service_status", "top_processes", "disk_usage",
                                              "recent_logs",    "http_probe",    "tcp_probe"};

    (void)state;
    assert_int_equal(hale_catalog_count(catalog), 13);
    for (size_t i = 0; i < sizeof(diagnostics) / sizeof(diagnostics[0]); i++)
        assert_int_equal(hale_tool_kind_of(hale_catalog_find(catalog, diagnostics[i])),
                         HALE_TOOL_DIAGNOSTIC);
    assert_int_equal(hale_tool_kind_of(hale_catalog_find(catalog, "clean_disk")),
                     HALE_TOOL_REMEDIATION);
    assert_true(hale_tool_reversible(hale_catalog_find(catalog, "scale_deployment")));
    assert_false(hale_tool_reversible(hale_catalog_find(catalog, "restart_service")));
}

static void test_disk_usage(void **state)
{
    json_t *res = NULL;
    uint32_t layers = 0;
    char args[256];

    (void)state;
    snprintf(args, sizeof(args), "{\"path\": \"%s\"}", work);
    assert_int_equal(run("disk_usage", args, &res, &layers), 0);
    assert_true(jint(res, "size_bytes") > 0);
    /* A plain diagnostic gets every default layer. */
    assert_true((layers & HALE_SANDBOX_PIDNS) && (layers & HALE_SANDBOX_NETNS));
    json_decref(res);
}

static void test_recent_logs(void **state)
{
    json_t *res = NULL;
    char args[256], dir[128], path[200];

    (void)state;
    snprintf(dir, sizeof(dir), "%s/logs", work);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof(path), "%s/app.log", dir);
    assert_int_equal(fixture_write(path, "one\ntwo\nthree\n"), 0);
    assert_int_equal(chmod(path, 0644), 0);
    snprintf(args, sizeof(args), "{\"dir\": \"%s\", \"name\": \"app.log\", \"lines\": 2}", dir);
    assert_int_equal(run("recent_logs", args, &res, NULL), 0);
    assert_int_equal(jint(res, "lines"), 2);
    json_decref(res);
}

static void test_top_processes_sees_the_host(void **state)
{
    json_t *res = NULL;
    uint32_t layers = 0;

    (void)state;
    assert_int_equal(run("top_processes", "{\"limit\": 5, \"interval_ms\": 200}", &res, &layers),
                     0);
    /* host_pid: no pid namespace, so more than the tool itself is in view. */
    assert_false(layers & HALE_SANDBOX_PIDNS);
    assert_true(jint(res, "total") > 1);
    assert_int_equal(json_array_size(json_object_get(res, "processes")), 5);
    json_decref(res);
}

static void test_service_status_pidfile(void **state)
{
    const char *sleeper[] = {"/bin/sleep", "30", NULL};
    integ_proc p = {0};
    json_t *res = NULL;
    char args[256], dir[128], path[200], pid[32];

    (void)state;
    snprintf(dir, sizeof(dir), "%s/run", work);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(integ_proc_start(&p, sleeper, NULL, NULL), 0);
    snprintf(path, sizeof(path), "%s/svc.pid", dir);
    snprintf(pid, sizeof(pid), "%d\n", (int)p.pid);
    assert_int_equal(fixture_write(path, pid), 0);
    assert_int_equal(chmod(path, 0644), 0);
    snprintf(args, sizeof(args), "{\"service\": \"svc\", \"dir\": \"%s\"}", dir);
    assert_int_equal(run("service_status", args, &res, NULL), 0);
    assert_true(json_is_true(json_object_get(res, "active")));
    assert_int_equal(jint(res, "pid"), p.pid);
    json_decref(res);
    integ_proc_kill(&p);
    assert_int_equal(run("service_status", args, &res, NULL), 0);
    assert_true(json_is_false(json_object_get(res, "active")));
    json_decref(res);
}

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

/* Answers every request on lfd with 204 until the socket is shut down. */
static void *serve(void *arg)
{
    int lfd = *(int *)arg;

    for (;;) {
        static const char ans[] = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n";
        char req[2048];
        int c = accept(lfd, NULL, NULL);

        if (c < 0)
            return NULL;
        (void)!read(c, req, sizeof(req));
        (void)!write(c, ans, sizeof(ans) - 1);
        close(c);
    }
}

static void test_probes_through_the_forwarder(void **state)
{
    uint16_t port;
    int lfd = listener(&port);
    pthread_t th;
    json_t *res = NULL;
    uint32_t layers = 0;
    char args[128];

    (void)state;
    assert_int_equal(pthread_create(&th, NULL, serve, &lfd), 0);
    snprintf(args, sizeof(args), "{\"host\": \"127.0.0.1\", \"port\": %u}", port);
    assert_int_equal(run("tcp_probe", args, &res, &layers), 0);
    assert_true(json_is_true(json_object_get(res, "open")));
    assert_true(layers & HALE_SANDBOX_NETNS); /* still its own network: only that destination */
    json_decref(res);
    assert_int_equal(run("http_probe", args, &res, NULL), 0);
    assert_int_equal(jint(res, "status"), 204);
    json_decref(res);
    shutdown(lfd, SHUT_RDWR);
    pthread_join(th, NULL);
    close(lfd);
    /* Nothing listens any more: the probe reports it closed. */
    assert_int_equal(run("tcp_probe", args, &res, NULL), 1);
    json_decref(res);
}

/* ---- remediations: root with kept capabilities, writable binds, the host's pid view ---- */

static void make_old(const char *path, const char *text)
{
    struct timespec ts[2];

    assert_int_equal(fixture_write(path, text), 0);
    assert_int_equal(chmod(path, 0644), 0);
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= 10 * 86400;
    ts[1] = ts[0];
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_clean_disk_and_rotate_logs(void **state)
{
    json_t *res = NULL;
    char args[256], dir[128], path[200];

    (void)state;
    if (geteuid() != 0)
        skip(); /* run_as root needs a root launcher */
    snprintf(dir, sizeof(dir), "%s/clean", work);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof(path), "%s/old.log", dir);
    make_old(path, "old\n");
    snprintf(args, sizeof(args), "{\"root\": \"%s\", \"older_than_days\": 1}", dir);
    assert_int_equal(run("clean_disk", args, &res, NULL), 0);
    assert_int_equal(jint(res, "deleted"), 1);
    assert_int_equal(access(path, F_OK), -1);
    json_decref(res);

    snprintf(path, sizeof(path), "%s/app.log", dir);
    assert_int_equal(fixture_write(path, "line\n"), 0);
    snprintf(args, sizeof(args), "{\"dir\": \"%s\", \"name\": \"app.log\"}", dir);
    assert_int_equal(run("rotate_logs", args, &res, NULL), 0);
    assert_true(json_is_true(json_object_get(res, "rotated")));
    json_decref(res);
}

static void test_kill_process(void **state)
{
    const char *sleeper[] = {"/bin/sleep", "30", NULL};
    integ_proc p = {0};
    json_t *res = NULL;
    char args[128];

    (void)state;
    if (geteuid() != 0)
        skip();
    assert_int_equal(integ_proc_start(&p, sleeper, NULL, NULL), 0);
    for (int i = 0; i < 500; i++) { /* until it has exec'd into sleep */
        char path[64], comm[32] = "";
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/comm", (int)p.pid);
        f = fopen(path, "r");
        if (f && fgets(comm, sizeof(comm), f) && strcmp(comm, "sleep\n") == 0) {
            fclose(f);
            break;
        }
        if (f)
            fclose(f);
        integ_sleep_ms(10);
    }
    snprintf(args, sizeof(args), "{\"pid\": %d, \"name\": \"sleep\"}", (int)p.pid);
    assert_int_equal(run("kill_process", args, &res, NULL), 0);
    assert_true(json_is_true(json_object_get(res, "exited")));
    json_decref(res);
    assert_int_equal(integ_proc_wait(&p, 2000), 0);
}

static void test_restart_service(void **state)
{
    fake_sv *sv = NULL;
    json_t *res = NULL;
    char args[256], dir[128];
    pid_t p0;

    (void)state;
    if (geteuid() != 0)
        skip();
    snprintf(dir, sizeof(dir), "%s/sv", work);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(fake_sv_start(dir, "web", FAKE_SV_RUNIT, &sv), 0);
    p0 = fake_sv_pid(sv, 0, 0);
    snprintf(args, sizeof(args), "{\"service\": \"web\", \"dir\": \"%s\"}", dir);
    assert_int_equal(run("restart_service", args, &res, NULL), 0);
    assert_int_equal(jint(res, "old_pid"), p0);
    assert_int_equal(jint(res, "pid"), fake_sv_pid(sv, p0, 5000));
    json_decref(res);
    fake_sv_stop(sv);

    assert_int_equal(fake_sv_start(dir, "api", FAKE_SV_PIDFILE, &sv), 0);
    p0 = fake_sv_pid(sv, 0, 0);
    snprintf(args, sizeof(args), "{\"service\": \"api\", \"dir\": \"%s\"}", dir);
    assert_int_equal(run("restart_service", args, &res, NULL), 0);
    assert_int_equal(jint(res, "old_pid"), p0);
    assert_int_equal(jint(res, "pid"), fake_sv_pid(sv, p0, 5000));
    json_decref(res);
    fake_sv_stop(sv);
}

static void test_drop_caches(void **state)
{
    json_t *res = NULL;

    (void)state;
    if (geteuid() != 0)
        skip();
    /* CAP_SYS_ADMIN kept, and /proc/sys/vm/drop_caches bound writable over the read-only
     * /proc/sys of the sandbox. */
    assert_int_equal(run("drop_caches", "{\"level\": 1}", &res, NULL), 0);
    json_decref(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_holds_every_tool),
        cmocka_unit_test(test_disk_usage),
        cmocka_unit_test(test_recent_logs),
        cmocka_unit_test(test_top_processes_sees_the_host),
        cmocka_unit_test(test_service_status_pidfile),
        cmocka_unit_test(test_probes_through_the_forwarder),
        cmocka_unit_test(test_clean_disk_and_rotate_logs),
        cmocka_unit_test(test_kill_process),
        cmocka_unit_test(test_restart_service),
        cmocka_unit_test(test_drop_caches),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
