/* evals/eval_forecast_m4.c - M4 Hourly (414 series, horizon 48): sMAPE and MASE of naive,
 * seasonal naive (m = 24) and hale's default forecaster, as M4 defines them (BENCHMARKS.md
 * §3.2: MASE scaled by the in-sample seasonal-naive error with m = 24; corpus values are means
 * over series). The baselines must print the published 43.003 / 11.608 and 13.912 / 1.193.
 * Also prints the 80 % and 95 % interval coverage of each method and the median fit time.
 * usage: eval_forecast_m4 [M4_DIR]   (default ../shared/m4 next to the source tree) */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hale/forecast.h"

#define H        48
#define M        24
#define MAX_N    1024
#define N_SERIES 414

struct m4 {
    double x[N_SERIES][MAX_N];
    size_t n[N_SERIES];
    double y[N_SERIES][H];
};

/* Read one file of "id","v1",...; values into rows (at most cols each). Returns rows read. */
static int read_m4(const char *path, double (*rows)[MAX_N], size_t *lens, size_t cols,
                   size_t stride)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int r = 0;

    if (!f) {
        fprintf(stderr, "eval_forecast_m4: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (getline(&line, &cap, f) < 0) { /* header */
        fclose(f);
        return -1;
    }
    while (r < N_SERIES && getline(&line, &cap, f) > 0) {
        char *p = strchr(line, ',');
        size_t k = 0;
        double *row = (double *)((char *)rows + (size_t)r * stride);

        while (p && k < cols) {
            char *q = p + 1, *end;

            if (*q == '"')
                q++;
            if (*q == '"' || *q == ',' || *q == '\n' || *q == '\0')
                break; /* padding */
            row[k++] = strtod(q, &end);
            p = strchr(end, ',');
        }
        if (lens)
            lens[r] = k;
        r++;
    }
    free(line);
    fclose(f);
    return r;
}

struct acc {
    double smape, mase, cov80, cov95;
    size_t cnt, inside80, inside95;
};

static void score(struct acc *a, const double *x, size_t n, const double *y, const double *f,
                  const double *lo80, const double *hi80, const double *lo95, const double *hi95)
{
    double s = 0, e = 0, scale = 0;

    for (size_t t = M; t < n; t++)
        scale += fabs(x[t] - x[t - M]);
    scale /= (double)(n - M);
    for (int t = 0; t < H; t++) {
        s += fabs(y[t] - f[t]) / (fabs(y[t]) + fabs(f[t]));
        e += fabs(y[t] - f[t]);
        a->inside80 += y[t] >= lo80[t] && y[t] <= hi80[t];
        a->inside95 += y[t] >= lo95[t] && y[t] <= hi95[t];
    }
    a->smape += 200.0 * s / H;
    a->mase += e / H / scale;
    a->cnt++;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : HALE_SOURCE_DIR "/../../shared/m4";
    static struct m4 d;
    static double times[N_SERIES];
    char path[1024];
    const struct {
        const char *name;
        hale_forecast_model model;
        uint32_t period;
    } methods[] = {
        {"naive", HALE_FORECAST_NAIVE, 1},
        {"seasonal naive (m=24)", HALE_FORECAST_SNAIVE, M},
        {"hale auto (default)", HALE_FORECAST_AUTO, 0},
        {"Holt-Winters m=24", HALE_FORECAST_HOLT_WINTERS, 24},
        {"Holt-Winters m=168", HALE_FORECAST_HOLT_WINTERS, 168},
        {"seasonal naive m=168", HALE_FORECAST_SNAIVE, 168},
    };
    size_t wl = hale_forecast_work_len(MAX_N, H);
    double *work = malloc(wl * sizeof(double));
    int nt;

    snprintf(path, sizeof(path), "%s/Hourly-train.csv", dir);
    if (!work || read_m4(path, d.x, d.n, MAX_N, sizeof(d.x[0])) != N_SERIES) {
        fprintf(stderr, "eval_forecast_m4: cannot read %s (give the m4 directory)\n", path);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/Hourly-test.csv", dir);
    nt = read_m4(path, (double(*)[MAX_N])d.y, NULL, H, sizeof(d.y[0]));
    if (nt != N_SERIES) {
        fprintf(stderr, "eval_forecast_m4: cannot read %s\n", path);
        return 1;
    }
    printf("M4 Hourly, %d series, horizon %d, MASE scale m = %d\n\n", N_SERIES, H, M);
    printf("| Method | sMAPE | MASE | 80%% coverage | 95%% coverage | median fit ms |\n");
    printf("|---|---:|---:|---:|---:|---:|\n");
    for (size_t mi = 0; mi < sizeof(methods) / sizeof(methods[0]); mi++) {
        struct acc a = {0};
        hale_forecast_opts o = {.model = methods[mi].model, .period = methods[mi].period};

        for (int s = 0; s < N_SERIES; s++) {
            double f[H], lo80[H], hi80[H], lo95[H], hi95[H];
            hale_forecast_out out = {f, lo80, hi80, lo95, hi95};
            struct timespec t0, t1;
            int r;

            clock_gettime(CLOCK_MONOTONIC, &t0);
            r = hale_forecast_run(d.x[s], d.n[s], H, &o, work, wl, &out, NULL, NULL);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if (r < 0) {
                fprintf(stderr, "eval_forecast_m4: series %d: %d\n", s + 1, r);
                return 1;
            }
            times[s] =
                (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
            score(&a, d.x[s], d.n[s], d.y[s], f, lo80, hi80, lo95, hi95);
        }
        qsort(times, N_SERIES, sizeof(double), cmp_d);
        printf("| %s | %.3f | %.3f | %.1f %% | %.1f %% | %.3f |\n", methods[mi].name,
               a.smape / (double)a.cnt, a.mase / (double)a.cnt,
               100.0 * (double)a.inside80 / (double)(a.cnt * H),
               100.0 * (double)a.inside95 / (double)(a.cnt * H), times[N_SERIES / 2]);
    }
    printf("\npublished: naive 43.003 / 11.608, seasonal naive 13.912 / 1.193\n");
    free(work);
    return 0;
}
