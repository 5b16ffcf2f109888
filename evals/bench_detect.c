/* evals/bench_detect.c - single-threaded throughput of the anomaly detectors.
 * Loads every NAB series (or a synthetic one when no directory is given) into memory, then
 * times, in the same run and on the same data: a bare loop that only sums the values (the
 * baseline: the cost of reading the samples), and each detector kind with one detector per
 * series. Times are this thread's CPU time, so other load on a shared machine does not count.
 * Prints the median of several repetitions in points/s and ns/point, and the state per series.
 * Usage: bench_detect [NAB_DATA_DIR] [REPS]   e.g. bench_detect ../shared/nab/data 7 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hale/detect.h"

struct series {
    int64_t *t; /* unix ms */
    double *v;
    size_t n;
};

static struct series *all;
static size_t n_series, cap_series;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID,
                  &ts); /* CPU time: other load on the machine does not count */
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* "YYYY-MM-DD HH:MM:SS" to unix ms (days from civil, UTC). */
static int64_t parse_ts(const char *s)
{
    long y = strtol(s, NULL, 10), m = strtol(s + 5, NULL, 10), d = strtol(s + 8, NULL, 10);
    long hh = strtol(s + 11, NULL, 10), mm = strtol(s + 14, NULL, 10);
    long ss = strtol(s + 17, NULL, 10), era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return ((int64_t)(era * 146097 + doe - 719468) * 86400 + hh * 3600 + mm * 60 + ss) * 1000;
}

static void add_series(struct series s)
{
    if (n_series == cap_series) {
        cap_series = cap_series ? 2 * cap_series : 64;
        all = realloc(all, cap_series * sizeof(*all));
        if (!all)
            exit(1);
    }
    all[n_series++] = s;
}

static void load_file(const char *path)
{
    FILE *f = fopen(path, "r");
    struct series s = {0};
    size_t cap = 0;
    char line[256];

    if (!f)
        return;
    if (!fgets(line, sizeof(line), f)) {
        fclose(f);
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        char *comma = strchr(line, ',');

        if (!comma || strlen(line) < 19)
            continue;
        if (s.n == cap) {
            cap = cap ? 2 * cap : 4096;
            s.t = realloc(s.t, cap * sizeof(*s.t));
            s.v = realloc(s.v, cap * sizeof(*s.v));
            if (!s.t || !s.v)
                exit(1);
        }
        s.t[s.n] = parse_ts(line);
        s.v[s.n] = strtod(comma + 1, NULL);
        s.n++;
    }
    fclose(f);
    if (s.n)
        add_series(s);
}

static void load_dir(const char *dir)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    char path[4096];

    if (!dp)
        return;
    while ((e = readdir(dp))) {
        size_t len = strlen(e->d_name);

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".csv") == 0)
            load_file(path);
        else
            load_dir(path);
    }
    closedir(dp);
}

static void synthetic(void)
{
    struct series s = {malloc(400000 * sizeof(int64_t)), malloc(400000 * sizeof(double)), 400000};
    uint64_t x = 88172645463325252ull;

    if (!s.t || !s.v)
        exit(1);
    for (size_t i = 0; i < s.n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        s.t[i] = INT64_C(1400000000000) + (int64_t)i * 300000;
        s.v[i] = 50.0 + 10.0 * sin((double)i / 45.8) + (double)(x >> 11) * 0x1p-53;
    }
    add_series(s);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static volatile double sink;

/* Seconds for one pass; kind < 0 is the bare loop. */
static double one_pass(int kind)
{
    double t0 = now_s(), acc = 0.0;

    for (size_t k = 0; k < n_series; k++) {
        const struct series *s = &all[k];
        hale_detect_opts o = {.kind = (hale_detect_kind)(kind < 0 ? 0 : kind)};
        hale_detect *d = NULL;

        if (kind < 0) {
            for (size_t i = 0; i < s->n; i++)
                acc += s->v[i] + (double)(s->t[i] & 1);
            continue;
        }
        if (hale_detect_new(&o, &d, NULL) < 0)
            exit(1);
        for (size_t i = 0; i < s->n; i++)
            acc += hale_detect_update(d, s->t[i], s->v[i]);
        hale_detect_free(d);
    }
    sink = acc;
    return now_s() - t0;
}

int main(int argc, char **argv)
{
    int reps = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 7;
    size_t points = 0;
    double *t;

    if (reps < 1 || reps > 1000)
        reps = 7;
    if (argc > 1)
        load_dir(argv[1]);
    if (n_series == 0) {
        if (argc > 1)
            fprintf(stderr, "bench_detect: no CSV under '%s', using a synthetic series\n", argv[1]);
        synthetic();
    }
    for (size_t k = 0; k < n_series; k++)
        points += all[k].n;
    t = calloc((size_t)reps, sizeof(*t));
    if (!t)
        return 1;
    printf("bench_detect: %zu series, %zu points, %d repetitions, one thread; medians\n", n_series,
           points, reps);
    printf("  %-22s %14s %10s\n", "loop", "points/s", "ns/point");
    for (int kind = -1; kind < HALE_DETECT_KIND_COUNT; kind++) {
        const char *name = kind < 0 ? "bare loop (baseline)" : hale_detect_kind_name(kind);

        (void)one_pass(kind); /* warm caches */
        for (int r = 0; r < reps; r++)
            t[r] = one_pass(kind);
        qsort(t, (size_t)reps, sizeof(*t), cmp_double);
        printf("  %-22s %14.0f %10.2f\n", name, (double)points / t[reps / 2],
               t[reps / 2] * 1e9 / (double)points);
    }
    printf("  state per series: %zu bytes in memory, %zu bytes as a snapshot\n",
           hale_detect_memory_bytes(), hale_detect_snapshot_size());
    for (size_t k = 0; k < n_series; k++) {
        free(all[k].t);
        free(all[k].v);
    }
    free(all);
    free(t);
    return 0;
}
