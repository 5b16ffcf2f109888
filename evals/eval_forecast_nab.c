/* evals/eval_forecast_nab.c - rolling-origin 24-hour-ahead forecasts on the NAB real-world
 * series (BENCHMARKS.md §4.3). For every series with a regular step that divides a day
 * (realTraffic is irregular and skipped): from day 8 on, each day is forecast in one go from
 * the (at most 28) days before it; points inside NAB's labelled anomaly windows are left out
 * of the scores, never out of the fitting. MASE is scaled by the in-sample seasonal-naive
 * (one day) error of the history used. Prints, per category and overall, the median over
 * forecast days of MASE and sMAPE for seasonal naive, Holt-Winters alone and hale's default
 * model, the 80 % and 95 % interval coverage, and the fit time for one week of 5-minute points.
 * usage: eval_forecast_nab [NAB_DIR]   (default ../shared/nab next to the source tree) */
#include <dirent.h>
#include <time.h>

#include "forecast_nab.h"
#include "hale/forecast.h"

#define DAY_MS       86400000LL
#define HIST_DAYS    28
#define MAX_DAYS_ALL 20000
#define N_METHODS    3

static const char *const categories[] = {"realAWSCloudwatch", "realAdExchange", "realKnownCause",
                                         "realTweets"};
#define N_CAT 4

struct stats {
    double *mase[N_METHODS], *smape[N_METHODS];
    size_t n, n_mase, cap;
    size_t in80[N_METHODS], in95[N_METHODS], points;
    size_t series;
};

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *a, size_t n)
{
    if (n == 0)
        return NAN;
    qsort(a, n, sizeof(double), cmp_d);
    return n % 2 ? a[n / 2] : 0.5 * (a[n / 2 - 1] + a[n / 2]);
}

static int grow(struct stats *s)
{
    if (s->n < s->cap)
        return 0;
    s->cap = s->cap ? 2 * s->cap : 256;
    for (int k = 0; k < N_METHODS; k++) {
        s->mase[k] = realloc(s->mase[k], s->cap * sizeof(double));
        s->smape[k] = realloc(s->smape[k], s->cap * sizeof(double));
        if (!s->mase[k] || !s->smape[k])
            return -1;
    }
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One series: every day from day 8 on. */
static int eval_series(const struct nab_series *s, struct stats *st, double *work, size_t wl,
                       double *buf)
{
    size_t m = (size_t)(DAY_MS / s->step_ms);
    const hale_forecast_opts opts[N_METHODS] = {
        {.model = HALE_FORECAST_SNAIVE, .period = (uint32_t)m},
        {.model = HALE_FORECAST_HOLT_WINTERS, .period = (uint32_t)m},
        {.model = HALE_FORECAST_AUTO},
    };

    for (size_t o = 7 * m; o + m <= s->n; o += m) {
        size_t start = o > HIST_DAYS * m ? o - HIST_DAYS * m : 0, hn = o - start, scored = 0;
        const double *hist = s->y + start;
        double scale = 0, mase[N_METHODS], smape[N_METHODS];
        size_t sc = 0, in80[N_METHODS] = {0}, in95[N_METHODS] = {0};

        for (size_t t = m; t < hn; t++)
            if (isfinite(hist[t]) && isfinite(hist[t - m]))
                scale += fabs(hist[t] - hist[t - m]), sc++;
        scale = sc ? scale / (double)sc : 0;
        for (int k = 0; k < N_METHODS; k++) {
            double *f = buf, *lo80 = buf + m, *hi80 = buf + 2 * m, *lo95 = buf + 3 * m,
                   *hi95 = buf + 4 * m, ae = 0, sm = 0;
            hale_forecast_out out = {f, lo80, hi80, lo95, hi95};
            int r = hale_forecast_run(hist, hn, m, &opts[k], work, wl, &out, NULL, NULL);

            if (r < 0)
                return r;
            scored = 0;
            for (size_t t = 0; t < m; t++) {
                double a = s->y[o + t];

                if (!isfinite(a) || nab_in_window(s, s->t0_ms + (int64_t)(o + t) * s->step_ms))
                    continue;
                ae += fabs(a - f[t]);
                sm += fabs(a) + fabs(f[t]) > 0 ? fabs(a - f[t]) / (fabs(a) + fabs(f[t])) : 0;
                in80[k] += a >= lo80[t] && a <= hi80[t];
                in95[k] += a >= lo95[t] && a <= hi95[t];
                scored++;
            }
            mase[k] = scored && scale > 0 ? ae / (double)scored / scale : NAN;
            smape[k] = scored ? 200.0 * sm / (double)scored : NAN;
        }
        if (scored < m / 4)
            continue; /* mostly inside an anomaly window or missing */
        if (grow(st) < 0)
            return -ENOMEM;
        for (int k = 0; k < N_METHODS; k++) {
            st->mase[k][st->n] = mase[k];
            st->smape[k][st->n] = smape[k];
            st->in80[k] += in80[k];
            st->in95[k] += in95[k];
        }
        st->points += scored;
        st->n++;
    }
    st->series++;
    return 0;
}

static void print_row(const char *name, struct stats *st)
{
    double mm[N_METHODS], sm[N_METHODS];

    for (int k = 0; k < N_METHODS; k++) {
        size_t j = 0;

        for (size_t i = 0; i < st->n; i++) /* MASE is undefined on a constant history */
            if (isfinite(st->mase[k][i]))
                st->mase[k][j++] = st->mase[k][i];
        mm[k] = median(st->mase[k], j);
        sm[k] = median(st->smape[k], st->n);
    }
    printf("| %s | %zu | %zu | %.3f | %.3f | %.3f | %.2f | %.2f | %.2f | %.1f %% | %.1f %% | %.1f "
           "%% |\n",
           name, st->series, st->n, mm[0], mm[1], mm[2], sm[0], sm[1], sm[2],
           100.0 * (double)st->in80[2] / (double)st->points,
           100.0 * (double)st->in95[2] / (double)st->points,
           100.0 * (double)st->in95[0] / (double)st->points);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : HALE_SOURCE_DIR "/../../shared/nab";
    static struct stats cat[N_CAT], all;
    static double fit_ms[64];
    size_t n_fit = 0, wl = hale_forecast_work_len(HIST_DAYS * 288, 288);
    double *work = malloc(wl * sizeof(double)), *buf = malloc(5 * 288 * sizeof(double));
    char labels[1024];
    double fit_med;

    if (!work || !buf)
        return 1;
    snprintf(labels, sizeof(labels), "%s/labels/combined_windows.json", dir);
    for (int c = 0; c < N_CAT; c++) {
        char path[1024], *names[64];
        size_t nn = 0;
        DIR *dp;
        struct dirent *de;

        snprintf(path, sizeof(path), "%s/data/%s", dir, categories[c]);
        dp = opendir(path);
        if (!dp) {
            fprintf(stderr, "eval_forecast_nab: %s: %s (give the nab directory)\n", path,
                    strerror(errno));
            return 1;
        }
        while ((de = readdir(dp)) && nn < 64)
            if (strstr(de->d_name, ".csv"))
                names[nn++] = strdup(de->d_name);
        closedir(dp);
        qsort(names, nn, sizeof(char *), cmp_str);
        for (size_t i = 0; i < nn; i++) {
            char key[300];
            struct nab_series s;
            int r;

            snprintf(key, sizeof(key), "%s/%s", categories[c], names[i]);
            free(names[i]);
            r = nab_read(dir, key, &s);
            if (r == 0)
                r = nab_windows(labels, key, &s);
            if (r < 0) {
                fprintf(stderr, "eval_forecast_nab: %s: %s\n", key, strerror(-r));
                return 1;
            }
            if (DAY_MS % s.step_ms != 0 || DAY_MS / s.step_ms > 288) {
                free(s.y);
                continue;
            }
            r = eval_series(&s, &cat[c], work, wl, buf);
            if (r == 0 && s.step_ms == 300000 && s.n >= 2016 && n_fit < 64) {
                /* fit time: the default model on the last week of 5-minute points, one day ahead */
                double t0 = now_ms();
                hale_forecast_out out = {buf, NULL, NULL, NULL, NULL};

                r = hale_forecast_run(s.y + s.n - 2016, 2016, 288, NULL, work, wl, &out, NULL,
                                      NULL);
                fit_ms[n_fit++] = now_ms() - t0;
            }
            free(s.y);
            if (r < 0) {
                fprintf(stderr, "eval_forecast_nab: %s: forecast failed: %d\n", key, r);
                return 1;
            }
        }
    }
    printf("NAB real-world series, rolling origin, 24 h ahead from day 8, history <= %d days,\n"
           "anomaly windows masked from scoring; medians over forecast days\n\n",
           HIST_DAYS);
    printf("| Category | series | days | MASE snaive | MASE HW | MASE hale | sMAPE snaive | "
           "sMAPE HW | sMAPE hale | hale 80%% cov | hale 95%% cov | snaive 95%% cov |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int c = 0; c < N_CAT; c++) {
        for (size_t i = 0; i < cat[c].n; i++) {
            if (grow(&all) < 0)
                return 1;
            for (int k = 0; k < N_METHODS; k++) {
                all.mase[k][all.n] = cat[c].mase[k][i];
                all.smape[k][all.n] = cat[c].smape[k][i];
            }
            all.n++;
        }
        for (int k = 0; k < N_METHODS; k++) {
            all.in80[k] += cat[c].in80[k];
            all.in95[k] += cat[c].in95[k];
        }
        all.points += cat[c].points;
        all.series += cat[c].series;
        print_row(categories[c], &cat[c]);
    }
    print_row("all", &all);
    fit_med = median(fit_ms, n_fit); /* sorts fit_ms */
    printf("\nfit time, default model, one week of 5-minute points (2016), 288 steps ahead: "
           "median %.2f ms, max %.2f ms over %zu series\n",
           fit_med, n_fit ? fit_ms[n_fit - 1] : 0.0, n_fit);
    free(work);
    free(buf);
    return 0;
}
