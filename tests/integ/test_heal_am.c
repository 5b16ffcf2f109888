/* tests/integ/test_heal_am.c - remediation end to end behind Debian's real Prometheus and
 * Alertmanager, on 127.0.0.1 ephemeral ports: the test serves an exporter whose gauge
 * hale_test_broken is 1 while work/broken exists, breaks it, Prometheus' rule fires,
 * Alertmanager posts the alert to hale, the runbook's tool (tests/fixtures/heal) removes the
 * marker, the diagnostic check verifies it, the incident resolves and the exporter reads 0
 * again; `hale audit verify --require-sealed` passes after hale stops. Then the same with what
 * hale ships: a directory the test fills with old files, Prometheus' DirectoryFull rule, the
 * shipped runbook proposing the shipped clean_disk, which runs in the sandbox, the alert
 * resolving and the manifest's verify check passing. Skipped only when the binaries are not
 * installed. */
#include "fixture.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "integ_http.h"
#include "integ_proc.h"
#include "integ_store.h"

#define START_ATTEMPTS 3
#define READY_MS       30000u
#define RESOLVE_MS     90000u

struct exporter {
    int fd;              /* listening socket */
    uint16_t port;       /* its port */
    const char *marker;  /* the file whose existence the gauge reports, or NULL */
    const char *dir;     /* else: the directory whose regular files' bytes it reports */
    atomic_uint scrapes; /* requests answered */
    pthread_t thread;    /* accept loop */
};

struct env {
    integ_hale h;        /* hale and the temporary directory everything lives in */
    integ_proc am;       /* prometheus-alertmanager */
    integ_proc prom;     /* prometheus */
    struct exporter exp; /* the broken service's metrics */
    uint16_t am_port;    /* Alertmanager's web port */
    uint16_t prom_port;  /* Prometheus' web port */
    char am_bin[4096];   /* path of prometheus-alertmanager */
    char prom_bin[4096]; /* path of prometheus */
    char work[4200];     /* where the tool repairs */
    char marker[4300];   /* work/broken */
    char am_yml[4200], prom_yml[4200], rules_yml[4200], am_log[4200], prom_log[4200];
};

static unsigned long long dir_bytes(const char *dir)
{
    unsigned long long sum = 0;
    DIR *d = opendir(dir);
    struct dirent *de;

    while (d && (de = readdir(d))) {
        struct stat st;

        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            sum += (unsigned long long)st.st_size;
    }
    if (d)
        closedir(d);
    return sum;
}

static void *exporter_thread(void *ud)
{
    struct exporter *x = ud;
    char req[4096], resp[8192], body[4600];
    int c;

    while ((c = accept(x->fd, NULL, NULL)) >= 0) {
        ssize_t n = read(c, req, sizeof(req) - 1);
        int bl, hl;

        if (n > 0) {
            if (x->marker)
                bl = snprintf(body, sizeof(body),
                              "# TYPE hale_test_broken gauge\nhale_test_broken %d\n",
                              access(x->marker, F_OK) == 0);
            else
                bl = snprintf(body, sizeof(body),
                              "# TYPE hale_test_dir_bytes gauge\nhale_test_dir_bytes{path=\"%s\"} "
                              "%llu\n",
                              x->dir, dir_bytes(x->dir));
            hl = snprintf(resp, sizeof(resp),
                          "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                          "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                          bl, body);
            if (write(c, resp, (size_t)hl) == hl)
                atomic_fetch_add(&x->scrapes, 1);
        }
        close(c);
    }
    return NULL;
}

static int exporter_start(struct exporter *x, const char *marker, const char *dir)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    x->marker = marker;
    x->dir = dir;
    x->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (x->fd < 0 || bind(x->fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(x->fd, 16) < 0 ||
        getsockname(x->fd, (struct sockaddr *)&a, &len) < 0)
        return -errno;
    x->port = ntohs(a.sin_port);
    return -pthread_create(&x->thread, NULL, exporter_thread, x);
}

static void exporter_stop(struct exporter *x)
{
    if (x->port == 0)
        return;
    shutdown(x->fd, SHUT_RDWR);
    pthread_join(x->thread, NULL);
    close(x->fd);
    x->port = 0;
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));

    if (!e || integ_hale_init(&e->h, "integ-heal-am") < 0) {
        free(e);
        return -1;
    }
    snprintf(e->work, sizeof(e->work), "%s/work", e->h.dir);
    snprintf(e->marker, sizeof(e->marker), "%s/broken", e->work);
    snprintf(e->am_yml, sizeof(e->am_yml), "%s/alertmanager.yml", e->h.dir);
    snprintf(e->prom_yml, sizeof(e->prom_yml), "%s/prometheus.yml", e->h.dir);
    snprintf(e->rules_yml, sizeof(e->rules_yml), "%s/rules.yml", e->h.dir);
    snprintf(e->am_log, sizeof(e->am_log), "%s/alertmanager.log", e->h.dir);
    snprintf(e->prom_log, sizeof(e->prom_log), "%s/prometheus.log", e->h.dir);
    if (chmod(e->h.dir, 0755) < 0 || mkdir(e->work, 0777) < 0 || chmod(e->work, 0777) < 0)
        return -1;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;

    /* Exactly the processes this test started, newest first. */
    (void)integ_proc_stop(&e->prom, 5000);
    (void)integ_proc_stop(&e->am, 5000);
    exporter_stop(&e->exp);
    integ_hale_release(&e->h);
    free(e);
    return 0;
}

static void dump_tail(const char *what, const char *path)
{
    char *text = fixture_read(path, NULL);
    size_t n = text ? strlen(text) : 0;

    fprintf(stderr, "--- %s (last 4000 bytes) ---\n%s\n--- end ---\n", what,
            text ? text + (n > 4000 ? n - 4000 : 0) : "(none)");
    free(text);
}

static bool wait_ready(integ_proc *p, uint16_t port, const char *path)
{
    uint64_t deadline = integ_now_ms() + READY_MS;

    while (integ_proc_running(p) && integ_now_ms() < deadline) {
        integ_resp resp = {0};
        int r = integ_http(port, "GET", path, NULL, NULL, 0, &resp);
        int status = resp.status;

        integ_resp_release(&resp);
        if (r == 0 && status == 200)
            return true;
        integ_sleep_ms(50);
    }
    return false;
}

static void start_alertmanager(struct env *e)
{
    char data[4200], cfg[4300], store[4300], web[64], ext[64], text[1024];
    const char *argv[] = {e->am_bin, cfg, store, web, ext, "--cluster.listen-address=", NULL};

    snprintf(text, sizeof(text),
             "route:\n  receiver: hale\n  group_by: ['alertname']\n  group_wait: 1s\n"
             "  group_interval: 2s\n  repeat_interval: 1h\n"
             "receivers:\n  - name: hale\n    webhook_configs:\n"
             "      - url: http://127.0.0.1:%u/api/v1/alerts\n        send_resolved: true\n",
             (unsigned)e->h.port);
    assert_int_equal(fixture_write(e->am_yml, text), 0);
    snprintf(data, sizeof(data), "%s/am-data", e->h.dir);
    snprintf(cfg, sizeof(cfg), "--config.file=%s", e->am_yml);
    snprintf(store, sizeof(store), "--storage.path=%s", data);
    for (int i = 0; i < START_ATTEMPTS; i++) {
        e->am_port = integ_free_port();
        snprintf(web, sizeof(web), "--web.listen-address=127.0.0.1:%u", (unsigned)e->am_port);
        snprintf(ext, sizeof(ext), "--web.external-url=http://127.0.0.1:%u", (unsigned)e->am_port);
        assert_int_equal(integ_proc_start(&e->am, argv, NULL, e->am_log), 0);
        if (wait_ready(&e->am, e->am_port, "/-/ready"))
            return;
        (void)integ_proc_stop(&e->am, 5000);
    }
    dump_tail("alertmanager log", e->am_log);
    fail_msg("alertmanager did not become ready");
}

static void start_prometheus(struct env *e, const char *rules)
{
    char data[4200], cfg[4300], tsdb[4300], web[64], text[8192];
    const char *argv[] = {e->prom_bin, cfg, tsdb, web, "--rules.alert.resend-delay=2s", NULL};

    assert_int_equal(fixture_write(e->rules_yml, rules), 0);
    snprintf(data, sizeof(data), "%s/prom-data", e->h.dir);
    snprintf(cfg, sizeof(cfg), "--config.file=%s", e->prom_yml);
    snprintf(tsdb, sizeof(tsdb), "--storage.tsdb.path=%s", data);
    for (int i = 0; i < START_ATTEMPTS; i++) {
        e->prom_port = integ_free_port();
        snprintf(text, sizeof(text),
                 "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                 "rule_files:\n  - %s\n"
                 "alerting:\n  alertmanagers:\n    - static_configs:\n"
                 "        - targets: ['127.0.0.1:%u']\n"
                 "scrape_configs:\n  - job_name: broken\n    static_configs:\n"
                 "      - targets: ['127.0.0.1:%u']\n",
                 e->rules_yml, (unsigned)e->am_port, (unsigned)e->exp.port);
        assert_int_equal(fixture_write(e->prom_yml, text), 0);
        snprintf(web, sizeof(web), "--web.listen-address=127.0.0.1:%u", (unsigned)e->prom_port);
        assert_int_equal(integ_proc_start(&e->prom, argv, NULL, e->prom_log), 0);
        if (wait_ready(&e->prom, e->prom_port, "/-/ready"))
            return;
        (void)integ_proc_stop(&e->prom, 5000);
    }
    dump_tail("prometheus log", e->prom_log);
    fail_msg("prometheus did not become ready");
}

static const char *incident_state(struct env *e, char *reason, size_t cap)
{
    static char state[64];
    json_t *v = NULL;

    state[0] = '\0';
    if (integ_get_json(e->h.port, "/api/v1/incidents/1", &v) == 200) {
        snprintf(state, sizeof(state), "%s", json_string_value(json_object_get(v, "state")));
        snprintf(reason, cap, "%s", json_string_value(json_object_get(v, "state_reason")));
    }
    json_decref(v);
    return state;
}

static void exporter_alert_is_repaired_by_hale(void **state)
{
    struct env *e = *state;
    char keys[9000], policies[4200], db[4200], pub[4200], reason[1024] = "", rules[8192];
    const char *verify[] = {"audit", "verify",           "--db", db, "--pubkey",
                            pub,     "--require-sealed", NULL};
    uint64_t deadline;
    const char *s = "";

    if (integ_which("prometheus-alertmanager", e->am_bin, sizeof(e->am_bin)) < 0 ||
        integ_which("prometheus", e->prom_bin, sizeof(e->prom_bin)) < 0) {
        fprintf(stderr, "prometheus or prometheus-alertmanager not installed: test skipped\n");
        skip();
    }
    snprintf(policies, sizeof(policies), "%s", fixture_path("heal/policies"));
    snprintf(keys, sizeof(keys),
             "\"policies_dir\": \"%s\", \"tools_dir\": \"%s\", \"group_by\": [\"alertname\", "
             "\"instance\"], \"log_level\": \"info\"",
             policies, fixture_path("heal/tools"));
    assert_int_equal(integ_hale_write_config(&e->h, keys), 0);
    assert_int_equal(integ_hale_start(&e->h, 15000), 0);
    assert_int_equal(fixture_write(e->marker, "x\n"), 0); /* break it */
    assert_int_equal(exporter_start(&e->exp, e->marker, NULL), 0);
    start_alertmanager(e);
    /* The rule's labels name the runbook's inputs: the directory to repair and a tag. */
    snprintf(rules, sizeof(rules),
             "groups:\n  - name: hale-heal\n    interval: 1s\n    rules:\n"
             "      - alert: MarkerBroken\n        expr: hale_test_broken > 0\n"
             "        for: 0s\n        labels:\n          service: auto\n"
             "          instance: am-e2e\n          dir: %s\n          severity: critical\n",
             e->work);
    start_prometheus(e, rules);
    deadline = integ_now_ms() + RESOLVE_MS;
    while (integ_now_ms() < deadline) {
        s = incident_state(e, reason, sizeof(reason));
        if (strcmp(s, "resolved") == 0 || strcmp(s, "escalated") == 0 ||
            strcmp(s, "rolled_back") == 0)
            break;
        integ_sleep_ms(200);
    }
    if (strcmp(s, "resolved") != 0) {
        dump_tail("hale log", e->h.log_path);
        dump_tail("alertmanager log", e->am_log);
        fail_msg("incident 1 is '%s' (%s), expected resolved", s, reason);
    }
    assert_int_equal(access(e->marker, F_OK), -1); /* repaired */
    assert_true(atomic_load(&e->exp.scrapes) > 0);
    assert_int_equal(integ_hale_stop(&e->h, 10000), 0);
    snprintf(db, sizeof(db), "%s/hale.db", e->h.data_dir);
    snprintf(pub, sizeof(pub), "%s/audit.pub", e->h.data_dir);
    assert_int_equal(integ_hale_cli(&e->h, verify, NULL, NULL), 0);
}

/* Files of size bytes in dir, modified age_days ago. */
static void fill(const char *dir, const char *prefix, int n, size_t size, int age_days)
{
    char path[4400], *data = calloc(1, size);
    struct timespec t[2];

    assert_non_null(data);
    clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= (time_t)age_days * 86400;
    t[1] = t[0];
    for (int i = 0; i < n; i++) {
        int fd;

        snprintf(path, sizeof(path), "%s/%s-%d.dat", dir, prefix, i);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, size), (ssize_t)size);
        assert_int_equal(futimens(fd, t), 0);
        close(fd);
    }
    free(data);
}

static int count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    while (d && (de = readdir(d)))
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

/* The shipped runbook, tool and redaction rules; a policy of the test's own that allows a
 * runbook's clean-up, because the shipped one has a weekly deploy window and a year-end freeze
 * that would make the test depend on the day it runs. */
static void shipped_policies(struct env *e, char *dir, size_t cap)
{
    char path[4400], *text;

    snprintf(dir, cap, "%s/policies", e->h.dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof(path), "%s/runbooks", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/redact", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    text = fixture_read(HALE_SOURCE_DIR "/policies/runbooks/default.json", NULL);
    assert_non_null(text);
    snprintf(path, sizeof(path), "%s/runbooks/default.json", dir);
    assert_int_equal(fixture_write(path, text), 0);
    free(text);
    text = fixture_read(HALE_SOURCE_DIR "/policies/redact/rules.json", NULL);
    assert_non_null(text);
    snprintf(path, sizeof(path), "%s/redact/rules.json", dir);
    assert_int_equal(fixture_write(path, text), 0);
    free(text);
    snprintf(path, sizeof(path), "%s/e2e.json", dir);
    assert_int_equal(
        fixture_write(path,
                      "{\"version\": 1, \"rules\": [{\"id\": \"clean-disk\", \"match\": {\"tool\": "
                      "\"clean_disk\", \"source\": \"runbook\"}, \"effect\": \"allow\", "
                      "\"thresholds\": {\"min_confidence_bp\": {\"runbook\": 8000}, \"max_risk\": "
                      "\"medium\"}, \"limits\": {\"rate\": [{\"per\": \"target\", \"max\": 2, "
                      "\"window\": \"1h\"}]}}]}"),
        0);
}

static void full_directory_is_cleaned_by_shipped_tools(void **state)
{
    struct env *e = *state;
    char keys[9000], policies[4200], db[4200], pub[4200], reason[1024] = "", rules[8192];
    const char *verify[] = {"audit", "verify",           "--db", db, "--pubkey",
                            pub,     "--require-sealed", NULL};
    uint64_t deadline;
    const char *s = "";
    int64_t n = 0;

    if (integ_which("prometheus-alertmanager", e->am_bin, sizeof(e->am_bin)) < 0 ||
        integ_which("prometheus", e->prom_bin, sizeof(e->prom_bin)) < 0) {
        fprintf(stderr, "prometheus or prometheus-alertmanager not installed: test skipped\n");
        skip();
    }
    if (geteuid() != 0) {
        fprintf(stderr, "clean_disk runs as root in the sandbox: test skipped when not root\n");
        skip();
    }
    shipped_policies(e, policies, sizeof(policies));
    snprintf(keys, sizeof(keys),
             "\"policies_dir\": \"%s\", \"tools_dir\": \"%s/tools\", \"group_by\": "
             "[\"alertname\", \"instance\"], \"log_level\": \"info\"",
             policies, HALE_SOURCE_DIR);
    assert_int_equal(integ_hale_write_config(&e->h, keys), 0);
    assert_int_equal(integ_hale_start(&e->h, 15000), 0);
    /* Fill it: 40 files of 10 KiB untouched for 30 days, 2 written today. */
    fill(e->work, "old", 40, 10240, 30);
    fill(e->work, "new", 2, 10240, 0);
    assert_int_equal(exporter_start(&e->exp, NULL, e->work), 0);
    start_alertmanager(e);
    snprintf(rules, sizeof(rules),
             "groups:\n  - name: hale-disk\n    interval: 1s\n    rules:\n"
             "      - alert: DirectoryFull\n        expr: hale_test_dir_bytes > 100000\n"
             "        for: 0s\n        labels:\n          service: e2e-disk\n"
             "          instance: am-e2e\n          severity: warning\n");
    start_prometheus(e, rules);
    deadline = integ_now_ms() + RESOLVE_MS;
    while (integ_now_ms() < deadline) {
        s = incident_state(e, reason, sizeof(reason));
        if (strcmp(s, "resolved") == 0 || strcmp(s, "escalated") == 0 ||
            strcmp(s, "rolled_back") == 0 || strcmp(s, "failed") == 0)
            break;
        integ_sleep_ms(200);
    }
    if (strcmp(s, "resolved") != 0) {
        dump_tail("hale log", e->h.log_path);
        dump_tail("alertmanager log", e->am_log);
        fail_msg("incident 1 is '%s' (%s), expected resolved", s, reason);
    }
    assert_int_equal(count_files(e->work, "old-"), 0); /* cleaned */
    assert_int_equal(count_files(e->work, "new-"), 2); /* recent files kept */
    assert_int_equal(integ_hale_stop(&e->h, 10000), 0);
    /* The chain of the action, in the log: the runbook's proposal allowed, intended, run. */
    assert_int_equal(
        integ_db_query_int(
            e->h.data_dir,
            "SELECT count(*) FROM audit_leaf WHERE json_extract(body, '$.kind') = 'decision' "
            "AND json_extract(body, '$.tool') = 'clean_disk' AND json_extract(body, '$.outcome') = "
            "'allow' AND "
            "json_extract(body, '$.request.source') = 'runbook'",
            &n),
        0);
    assert_int_equal(n, 1);
    assert_int_equal(
        integ_db_query_int(e->h.data_dir,
                           "SELECT count(*) FROM audit_leaf WHERE json_extract(body, '$.kind') = "
                           "'exec_intent' AND json_extract(body, '$.tool') = 'clean_disk'",
                           &n),
        0);
    assert_int_equal(n, 1);
    assert_int_equal(
        integ_db_query_int(e->h.data_dir,
                           "SELECT count(*) FROM audit_leaf WHERE json_extract(body, '$.kind') = "
                           "'exec_result' AND json_extract(body, '$.tool') = 'clean_disk' AND "
                           "json_extract(body, '$.exit') = 0",
                           &n),
        0);
    assert_int_equal(n, 1);
    snprintf(db, sizeof(db), "%s/hale.db", e->h.data_dir);
    snprintf(pub, sizeof(pub), "%s/audit.pub", e->h.data_dir);
    assert_int_equal(integ_hale_cli(&e->h, verify, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(exporter_alert_is_repaired_by_hale, setup, teardown),
        cmocka_unit_test_setup_teardown(full_directory_is_cleaned_by_shipped_tools, setup,
                                        teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
