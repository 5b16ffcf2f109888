/* evals/bench_heal.c - alert-to-action latency on the automatic remediation path: from the
 * moment a webhook is sent to the moment the tool is handed to the sandbox (the exec_result
 * leaf's start_unix_us), through intake, the open and deciding stages, policy evaluation, the
 * decision leaf, the exec_intent leaf and its signed checkpoint. The tool's own run and the
 * verification window are excluded. Baseline, measured in the same run: the webhook's own
 * round trip (a durable, fsync'd intake commit), which the remediation path cannot beat.
 *
 * usage: bench_heal [ALERTS]   (default 100; the controller runs in-process on a temporary
 * data_dir with the fixture tools and policies of tests/fixtures/heal, store_sync full) */
#include "internal.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hale/config.h"
#include "loop/loop.h"
#include "util/strparse.h"

#define FIXTURES HALE_SOURCE_DIR "/tests/fixtures/heal"

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};

    nanosleep(&ts, NULL);
}

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One HTTP/1.1 request over a new connection; returns the status, the body in out. */
static int http(unsigned port, const char *method, const char *path, const char *body, char *out,
                size_t cap)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char req[8192];
    size_t got = 0;
    int fd, n, status = -1;
    ssize_t k;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    n = snprintf(req, sizeof(req),
                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                 method, path, body ? strlen(body) : 0, body ? body : "");
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        write(fd, req, (size_t)n) != n) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    while (got + 1 < cap && (k = read(fd, out + got, cap - got - 1)) > 0)
        got += (size_t)k;
    out[got] = '\0';
    close(fd);
    if (got > 12 && strncmp(out, "HTTP/1.1 ", 9) == 0)
        status = (out[9] - '0') * 100 + (out[10] - '0') * 10 + (out[11] - '0');
    return status;
}

static hale_loop *loop;
static int run_result;

static void *run_thread(void *ud)
{
    (void)ud;
    run_result = hale_loop_run(loop);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static double pct(const int64_t *v, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);

    return (double)v[i < n ? i : n - 1] / 1000.0;
}

/* Wait until incident id has left the working states. */
static const char *wait_done(unsigned port, unsigned id, char *buf, size_t cap)
{
    char path[64];

    snprintf(path, sizeof(path), "/api/v1/incidents/%u", id);
    for (int i = 0; i < 3000; i++) {
        if (http(port, "GET", path, NULL, buf, cap) == 200 &&
            (strstr(buf, "\"state\":\"resolved\"") || strstr(buf, "\"state\":\"escalated\"") ||
             strstr(buf, "\"state\":\"failed\"")))
            return strstr(buf, "\"state\":\"resolved\"") ? "resolved" : "other";
        sleep_us(2000);
    }
    return "timeout";
}

/* start_unix_us of every exec_result, by incident id. */
static int read_starts(const char *db_path, int64_t *starts, size_t n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int found = 0;

    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT json_extract(body, '$.incident_id'), "
                           "json_extract(body, '$.start_unix_us') FROM audit_leaf "
                           "WHERE kind = 'exec_result'",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);

        if (id >= 1 && (size_t)id <= n) {
            starts[id - 1] = sqlite3_column_int64(st, 1);
            found++;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return found;
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/bench-heal-XXXXXX", work[300], cfgpath[300], db[300], text[4000];
    static char buf[1 << 16];
    uint32_t n = 100;
    int64_t *sent, *acks, *starts, *lat;
    hale_config *cfg = NULL;
    hale_diag d = {{0}};
    pthread_t th;
    unsigned port, resolved = 0;
    size_t nl = 0;

    if (argc > 1 && (hale_parse_u32(argv[1], &n) < 0 || n == 0 || n > 100000)) {
        fprintf(stderr, "usage: bench_heal [ALERTS]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(dir) || chmod(dir, 0755) < 0)
        return 1;
    snprintf(work, sizeof(work), "%s/work", dir);
    snprintf(cfgpath, sizeof(cfgpath), "%s/hale.json", dir);
    snprintf(db, sizeof(db), "%s/var/hale.db", dir);
    if (mkdir(work, 0777) < 0 || chmod(work, 0777) < 0)
        return 1;
    snprintf(text, sizeof(text),
             "{\"listen\": \"127.0.0.1:0\", \"data_dir\": \"%s/var\", \"log_level\": \"warn\", "
             "\"policies_dir\": \"%s/policies\", \"tools_dir\": \"%s/tools\", "
             "\"group_by\": [\"alertname\", \"instance\"]}",
             dir, FIXTURES, FIXTURES);
    {
        FILE *f = fopen(cfgpath, "w");

        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
            return 1;
    }
    hale_loop_set_exe(HALE_BINARY_PATH);
    if (hale_config_load(cfgpath, &cfg, &d) < 0 || hale_loop_new(cfg, cfgpath, &loop, &d) < 0) {
        fprintf(stderr, "bench_heal: %s\n", d.msg);
        return 1;
    }
    hale_config_unref(cfg);
    port = hale_loop_port(loop);
    if (pthread_create(&th, NULL, run_thread, NULL) != 0)
        return 1;
    sent = calloc(n, sizeof(*sent));
    acks = calloc(n, sizeof(*acks));
    starts = calloc(n, sizeof(*starts));
    lat = calloc(n, sizeof(*lat));
    if (!sent || !acks || !starts || !lat)
        return 1;
    sleep_us(200000);
    for (uint32_t i = 0; i < n; i++) {
        snprintf(text, sizeof(text),
                 "{\"receiver\":\"hale\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\","
                 "\"labels\":{\"alertname\":\"MarkerBroken\",\"service\":\"auto\","
                 "\"instance\":\"b-%u\",\"dir\":\"%s\"},\"annotations\":{},"
                 "\"startsAt\":\"2026-11-22T13:08:22.079Z\",\"endsAt\":\"0001-01-01T00:00:00Z\","
                 "\"generatorURL\":\"\",\"fingerprint\":\"%016x\"}],\"groupLabels\":{},"
                 "\"commonLabels\":{},\"commonAnnotations\":{},\"externalURL\":\"\","
                 "\"version\":\"4\",\"groupKey\":\"{}:{}\",\"truncatedAlerts\":0}",
                 i, work, i + 1);
        sent[i] = now_us();
        if (http(port, "POST", "/api/v1/alerts", text, buf, sizeof(buf)) != 200) {
            fprintf(stderr, "bench_heal: alert %u not accepted\n", i);
            return 1;
        }
        acks[i] = now_us() - sent[i];
        if (strcmp(wait_done(port, i + 1, buf, sizeof(buf)), "resolved") == 0)
            resolved++;
    }
    kill(getpid(), SIGTERM);
    pthread_join(th, NULL);
    hale_loop_free(loop);
    if (read_starts(db, starts, n) < 0)
        return 1;
    for (uint32_t i = 0; i < n; i++)
        if (starts[i] > 0)
            lat[nl++] = starts[i] - sent[i];
    qsort(acks, n, sizeof(*acks), cmp_i64);
    qsort(lat, nl, sizeof(*lat), cmp_i64);
    printf("alerts %u, actions started %zu, resolved %u (sequential, store_sync full)\n", n, nl,
           resolved);
    printf("baseline  webhook round trip (durable intake)  p50 %8.2f ms  p99 %8.2f ms\n",
           pct(acks, n, 0.5), pct(acks, n, 0.99));
    if (nl > 0)
        printf("alert -> tool started                          p50 %8.2f ms  p99 %8.2f ms\n",
               pct(lat, nl, 0.5), pct(lat, nl, 0.99));
    free(sent);
    free(acks);
    free(starts);
    free(lat);
    snprintf(text, sizeof(text), "%s", dir);
    {
        /* Remove the temporary tree: the store, its WAL, the keys and the work files. */
        char rm_name[] = "rm", rm_flags[] = "-rf";
        char *const rm[] = {rm_name, rm_flags, text, NULL};
        pid_t p = fork();

        if (p == 0) {
            execvp("rm", rm);
            _exit(127);
        }
        if (p > 0)
            (void)waitpid(p, NULL, 0);
    }
    return run_result == 0 && nl == n ? 0 : 1;
}
