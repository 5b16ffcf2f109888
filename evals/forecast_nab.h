/* evals/forecast_nab.h - reading NAB series for the forecasting evaluations: a CSV onto a
 * regular grid of its median step (rows out of order sorted, missing steps NaN), and the
 * labelled anomaly windows of one file from labels/combined_windows.json. Evaluation code only. */
#pragma once
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nab_series {
    int64_t t0_ms, step_ms; /* time of y[0] and the grid step */
    double *y;              /* NaN where no row fell */
    size_t n;
    int64_t win[64][2]; /* anomaly windows, inclusive unix ms */
    size_t n_win;
};

static int64_t nab_days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* "YYYY-MM-DD HH:MM:SS[.ffffff]" into unix ms; -1 on a malformed stamp. */
static int64_t nab_time(const char *s)
{
    int y, mo, d, h, mi, se;

    if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6)
        return -1;
    return ((nab_days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) * 60 + mi) * 60000 +
           (int64_t)se * 1000;
}

struct nab_row {
    int64_t t;
    double v;
};

static int nab_cmp_row(const void *a, const void *b)
{
    int64_t x = ((const struct nab_row *)a)->t, y = ((const struct nab_row *)b)->t;
    return (x > y) - (x < y);
}

static int nab_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The windows of "<category>/<file>.csv" from the labels file (a small hand parser: the file
 * is a flat object of lists of [start, end] string pairs). */
static int nab_windows(const char *labels, const char *key, struct nab_series *s)
{
    FILE *f = fopen(labels, "r");
    static char buf[1 << 20];
    size_t len;
    char quoted[1100], *p;
    int64_t pair[2];
    int k = 0;

    s->n_win = 0;
    if (!f)
        return -errno;
    len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = '\0';
    snprintf(quoted, sizeof(quoted), "\"%s\"", key);
    p = strstr(buf, quoted);
    if (!p)
        return 0;
    p = strchr(p + strlen(quoted), '[');
    if (!p)
        return -EINVAL;
    for (int depth = 0; *p; p++) {
        if (*p == '[') {
            depth++;
        } else if (*p == ']') {
            if (--depth == 0)
                break;
        } else if (*p == '"') {
            pair[k++] = nab_time(p + 1);
            p = strchr(p + 1, '"');
            if (!p)
                return -EINVAL;
            if (k == 2) {
                if (s->n_win < 64) {
                    s->win[s->n_win][0] = pair[0];
                    s->win[s->n_win][1] = pair[1];
                    s->n_win++;
                }
                k = 0;
            }
        }
    }
    return 0;
}

static int nab_in_window(const struct nab_series *s, int64_t t)
{
    for (size_t w = 0; w < s->n_win; w++)
        if (t >= s->win[w][0] && t <= s->win[w][1])
            return 1;
    return 0;
}

/* Read data/<key> under nab_dir onto the grid. Returns 0 or a negative errno. */
static int nab_read(const char *nab_dir, const char *key, struct nab_series *s)
{
    char path[1024], line[256];
    struct nab_row *rows = NULL;
    size_t n = 0, cap = 0, k = 0;
    int64_t *d;
    FILE *f;

    memset(s, 0, sizeof(*s));
    snprintf(path, sizeof(path), "%s/data/%s", nab_dir, key);
    f = fopen(path, "r");
    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        char *comma = strchr(line, ',');
        int64_t t;

        if (!comma || (t = nab_time(line)) < 0)
            continue; /* header */
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            rows = realloc(rows, cap * sizeof(*rows));
            if (!rows) {
                fclose(f);
                return -ENOMEM;
            }
        }
        rows[n].t = t;
        rows[n].v = strtod(comma + 1, NULL);
        n++;
    }
    fclose(f);
    if (n < 3) {
        free(rows);
        return -EINVAL;
    }
    qsort(rows, n, sizeof(*rows), nab_cmp_row);
    d = malloc(n * sizeof(*d));
    if (!d) {
        free(rows);
        return -ENOMEM;
    }
    for (size_t i = 0; i + 1 < n; i++)
        if (rows[i + 1].t > rows[i].t)
            d[k++] = rows[i + 1].t - rows[i].t;
    qsort(d, k, sizeof(*d), nab_cmp_i64);
    s->step_ms = d[k / 2];
    free(d);
    s->t0_ms = rows[0].t;
    s->n = (size_t)((rows[n - 1].t - rows[0].t) / s->step_ms) + 1;
    s->y = malloc(s->n * sizeof(double));
    if (!s->y) {
        free(rows);
        return -ENOMEM;
    }
    for (size_t i = 0; i < s->n; i++)
        s->y[i] = NAN;
    for (size_t i = 0; i < n; i++) {
        size_t at = (size_t)((rows[i].t - s->t0_ms + s->step_ms / 2) / s->step_ms);

        if (at < s->n)
            s->y[at] = rows[i].v;
    }
    free(rows);
    return 0;
}
