/* evals/bench_metrics.c - cost of hale's metric sources and series models, each against a
 * baseline measured in the same run:
 *   1. the host collector, one scrape of /proc and statvfs, against reading the three /proc
 *      files alone (the floor of any collector);
 *   2. hale_metrics_observe over 1000 series, against hale_detect_update alone on the same
 *      samples (what the registry adds: identity, lookup, hysteresis, history);
 *   3. POST /api/v1/metrics to a running hale (the built binary, loopback, one keep-alive
 *      connection), samples per second at 1, 100 and 1000 samples per request, against
 *      GET /healthz on the same connection (the HTTP floor).
 * Medians of REPS runs. Usage: bench_metrics [--quick]. */
#include <curl/curl.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hale/config.h"
#include "hale/detect.h"
#include "hale/metrics.h"

#define REPS 7

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp);
    return v[n / 2];
}

static void read_floor(void)
{
    static const char *const files[] = {"/proc/stat", "/proc/meminfo", "/proc/loadavg",
                                        "/proc/self/mounts"};
    char buf[65536];

    for (size_t i = 0; i < 4; i++) {
        int fd = open(files[i], O_RDONLY | O_CLOEXEC);

        if (fd >= 0) {
            while (read(fd, buf, sizeof(buf)) > 0)
                ;
            close(fd);
        }
    }
}

static void bench_host(unsigned scrapes)
{
    double t_col[REPS], t_floor[REPS];
    hale_host_collector *h = NULL;
    int samples = 0;

    if (hale_host_collector_new("/proc", &h) < 0)
        exit(1);
    for (int r = 0; r < REPS; r++) {
        double t0 = now_s();

        for (unsigned i = 0; i < scrapes; i++) {
            hale_sample_set *set = NULL;

            if (hale_sample_set_new(&set) < 0)
                exit(1);
            samples = hale_host_collect(h, (int64_t)i, set, NULL);
            hale_sample_set_free(set);
        }
        t_col[r] = (now_s() - t0) / scrapes;
        t0 = now_s();
        for (unsigned i = 0; i < scrapes; i++)
            read_floor();
        t_floor[r] = (now_s() - t0) / scrapes;
    }
    printf("host collector: %.1f us per scrape (%d samples), baseline read of the /proc files "
           "alone %.1f us\n",
           median(t_col, REPS) * 1e6, samples, median(t_floor, REPS) * 1e6);
    hale_host_collector_free(h);
}

static void bench_observe(unsigned per_series)
{
    enum { SERIES = 1000 };
    double t_obs[REPS], t_det[REPS];
    char names[SERIES][16];
    hale_config *cfg = NULL;

    if (hale_config_new_defaults(&cfg) < 0)
        exit(1);
    for (int i = 0; i < SERIES; i++)
        snprintf(names[i], sizeof(names[i]), "%d", i);
    for (int r = 0; r < REPS; r++) {
        hale_metrics *m = NULL;
        hale_detect **d = calloc(SERIES, sizeof(*d));
        double t0;

        if (!d || hale_metrics_new(cfg, NULL, &m) < 0)
            exit(1);
        t0 = now_s();
        for (unsigned k = 0; k < per_series; k++)
            for (int i = 0; i < SERIES; i++) {
                const char *l[] = {"instance", names[i]};
                hale_sample s = {"bench_value", l, 1, sin(k * 0.1 + i), 1795000000000 + k * 15000};

                (void)hale_metrics_observe(m, &s);
            }
        t_obs[r] = (now_s() - t0) / ((double)per_series * SERIES);
        for (int i = 0; i < SERIES; i++)
            if (hale_detect_new(NULL, &d[i], NULL) < 0)
                exit(1);
        t0 = now_s();
        for (unsigned k = 0; k < per_series; k++)
            for (int i = 0; i < SERIES; i++)
                (void)hale_detect_update(d[i], 1795000000000 + k * 15000, sin(k * 0.1 + i));
        t_det[r] = (now_s() - t0) / ((double)per_series * SERIES);
        for (int i = 0; i < SERIES; i++)
            hale_detect_free(d[i]);
        free(d);
        hale_metrics_free(m);
    }
    printf("observe, %d series: %.0f samples/s (%.2f us each); baseline detector alone %.0f "
           "samples/s (%.2f us)\n",
           SERIES, 1 / median(t_obs, REPS), median(t_obs, REPS) * 1e6, 1 / median(t_det, REPS),
           median(t_det, REPS) * 1e6);
    hale_config_unref(cfg);
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* Requests per second of one keep-alive connection: body NULL is GET url. */
static double rate(CURL *c, const char *url, const char *body, unsigned requests)
{
    double t0 = now_s();

    curl_easy_setopt(c, CURLOPT_URL, url);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    for (unsigned i = 0; i < requests; i++) {
        long status = 0;

        if (curl_easy_perform(c) != CURLE_OK)
            return -1;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200)
            return -1;
    }
    return requests / (now_s() - t0);
}

static char *batch_body(unsigned n, unsigned round)
{
    size_t cap = 64 + (size_t)n * 128, len = 0;
    char *b = malloc(cap);

    len += (size_t)snprintf(b + len, cap - len, "{\"samples\":[");
    for (unsigned i = 0; i < n; i++)
        len += (size_t)snprintf(b + len, cap - len,
                                "%s{\"metric\":\"bench\",\"labels\":{\"i\":\"%u\"},\"value\":%u,"
                                "\"timestamp\":%llu}",
                                i ? "," : "", i, round % 97,
                                1795000000000ull + (unsigned long long)round * 1000);
    snprintf(b + len, cap - len, "]}");
    return b;
}

static void bench_http(const char *dir, unsigned requests)
{
    static const unsigned sizes[] = {1, 100, 1000};
    char cfg[4300], text[8600], url[128], health[128];
    char bin[] = HALE_BINARY_PATH, run[] = "run", conf[] = "--config";
    char *argv[] = {bin, run, conf, cfg, NULL};
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *c = curl_easy_init();
    pid_t pid;
    int port = 19000 + (int)(getpid() % 2000);

    snprintf(cfg, sizeof(cfg), "%s/c.json", dir);
    snprintf(text, sizeof(text),
             "{\"listen\": \"127.0.0.1:%d\", \"data_dir\": \"%s/data\", \"log_level\": \"warn\", "
             "\"metrics\": {\"host\": {\"enabled\": false}, \"max_series\": 100000}}",
             port, dir);
    FILE *f;

    if (!(f = fopen(cfg, "w")) || fputs(text, f) < 0 || fclose(f) != 0)
        exit(1);
    if ((pid = fork()) == 0) {
        int fd = open("/dev/null", O_WRONLY);

        dup2(fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/metrics", port);
    snprintf(health, sizeof(health), "http://127.0.0.1:%d/healthz", port);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    for (int i = 0; i < 100 && rate(c, health, NULL, 1) < 0; i++)
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    {
        double base[REPS];

        for (int r = 0; r < REPS; r++)
            base[r] = rate(c, health, NULL, requests);
        printf("HTTP baseline GET /healthz: %.0f requests/s\n", median(base, REPS));
    }
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        unsigned n_req = sizes[s] >= 1000  ? requests / 20
                         : sizes[s] >= 100 ? requests / 4
                                           : requests;
        double v[REPS];

        for (int r = 0; r < REPS; r++) {
            char *body = batch_body(sizes[s], (unsigned)(s * 1000 + r));
            double t0 = now_s(), rr;

            curl_easy_setopt(c, CURLOPT_URL, url);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
            rr = 0;
            for (unsigned i = 0; i < n_req; i++) {
                long status = 0;

                /* Distinct timestamps per request, so every sample is learned, none a duplicate. */
                free(body);
                body = batch_body(sizes[s], (unsigned)((s * 1000 + r) * 100000 + i));
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                if (curl_easy_perform(c) != CURLE_OK)
                    break;
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
                rr += status == 200;
            }
            v[r] = rr * sizes[s] / (now_s() - t0);
            free(body);
        }
        printf("POST /api/v1/metrics, %4u samples per request: %.0f samples/s\n", sizes[s],
               median(v, REPS));
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
}

int main(int argc, char **argv)
{
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    char dir[] = "/tmp/hale-bench-metrics-XXXXXX";

    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!mkdtemp(dir))
        return 1;
    bench_host(quick ? 50 : 500);
    bench_observe(quick ? 50 : 300);
    bench_http(dir, quick ? 200 : 2000);
    if (fork() == 0) {
        execl("/bin/rm", "rm", "-rf", "--", dir, (char *)NULL);
        _exit(127);
    }
    wait(NULL);
    curl_global_cleanup();
    return 0;
}
