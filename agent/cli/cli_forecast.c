/* agent/cli/cli_forecast.c - `hale forecast --csv FILE`: forecast the steps after a series
 * (timestamp,point,lo,hi) or, with --limit, say when its trend crosses a limit (JSON). The
 * series is read whole (at most MAX_ROWS rows), put on a regular grid of its median step
 * (missing steps become missing values) and handed to include/hale/forecast.h. */
#include "internal.h"

#include <math.h>
#include <time.h>

#include "cli/cli.h"
#include "hale/forecast.h"
#include "util/strparse.h"
#include "util/timeutil.h"

#define LINE_MAX_BYTES 4096
#define MAX_ROWS       2000000 /* rows read; the newest HALE_FORECAST_MAX_POINTS steps are used */

static const char usage[] =
    "usage: hale forecast --csv FILE --horizon N [--interval 0.95|0.8] [--model NAME]\n"
    "                     [--period P]\n"
    "       hale forecast --csv FILE --limit L [--horizon-hours H] [--window-hours W]\n\n"
    "Read a CSV of timestamp,value (with a header line; NAB format; FILE may be -) and\n"
    "either write timestamp,point,lo,hi for the N steps after the data, the timestamps\n"
    "continuing the series' (median) step, lo/hi bounding the central prediction interval\n"
    "(0.95 by default, or 0.8); or, with --limit, print as JSON whether the robust trend of\n"
    "the last W hours (default 2*H) crosses L within H hours (default 6), when (expected_at)\n"
    "with a 95% range (lo, hi; null when never), and the probability that the value is\n"
    "beyond L after H hours.\n"
    "Models: auto (default: Holt-Winters with a detected season), holt-winters, snaive,\n"
    "naive. --period fixes the season in steps (1 = none). An empty value, nan or inf is a\n"
    "missing sample. See docs/models.md.\n";

struct sample {
    int64_t t;  /* unix ms */
    double v;   /* NaN when missing */
    size_t seq; /* input row order, to break ties */
};

struct series {
    struct sample *r; /* rows, sorted by time after read_csv */
    size_t n, cap;
    bool nab_time; /* input used "YYYY-MM-DD HH:MM:SS": answer in the same form */
};

static int push(struct series *s, int64_t t, double v)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 1024;
        struct sample *nr = realloc(s->r, nc * sizeof(*nr));

        if (!nr)
            return -ENOMEM;
        s->r = nr;
        s->cap = nc;
    }
    s->r[s->n] = (struct sample){.t = t, .v = v, .seq = s->n};
    s->n++;
    return 0;
}

static int cmp_sample(const void *a, const void *b)
{
    const struct sample *x = a, *y = b;

    if (x->t != y->t)
        return (x->t > y->t) - (x->t < y->t);
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Read the whole CSV. Prints the problem and returns HALE_EXIT_FAILURE on error. */
static int read_csv(FILE *in, const char *path, struct series *s)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0;
    int rc = HALE_EXIT_OK;

    while ((n = getline(&line, &cap, in)) >= 0) {
        size_t len = (size_t)n;
        const char *comma;
        int64_t t;
        double v;
        bool nab;

        lineno++;
        if (len > LINE_MAX_BYTES) {
            fprintf(stderr, "hale forecast: %s:%lu: line longer than %d bytes\n", path, lineno,
                    LINE_MAX_BYTES);
            rc = HALE_EXIT_FAILURE;
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (lineno == 1) {
            if (len < 15 || strncmp(line, "timestamp,value", 15) != 0) {
                fprintf(stderr,
                        "hale forecast: %s:1: expected the header \"timestamp,value\", got "
                        "'%.*s'\n",
                        path, (int)(len > 80 ? 80 : len), line);
                rc = HALE_EXIT_FAILURE;
                break;
            }
            continue;
        }
        if (len == 0)
            continue;
        comma = memchr(line, ',', len);
        if (!comma || memchr(comma + 1, ',', len - (size_t)(comma + 1 - line))) {
            fprintf(stderr, "hale forecast: %s:%lu: expected two fields \"timestamp,value\"\n",
                    path, lineno);
            rc = HALE_EXIT_FAILURE;
            break;
        }
        if (hale_cli_csv_time(line, (size_t)(comma - line), &t, &nab) < 0) {
            fprintf(stderr,
                    "hale forecast: %s:%lu: bad timestamp '%.*s', expected \"YYYY-MM-DD "
                    "HH:MM:SS\" or RFC 3339\n",
                    path, lineno, (int)(comma - line > 64 ? 64 : comma - line), line);
            rc = HALE_EXIT_FAILURE;
            break;
        }
        if (hale_cli_csv_value(comma + 1, len - (size_t)(comma + 1 - line), &v) < 0) {
            fprintf(stderr, "hale forecast: %s:%lu: bad value '%.*s', expected a number\n", path,
                    lineno,
                    (int)(len - (size_t)(comma + 1 - line) > 64 ? 64
                                                                : len - (size_t)(comma + 1 - line)),
                    comma + 1);
            rc = HALE_EXIT_FAILURE;
            break;
        }
        if (s->n == 0)
            s->nab_time = nab;
        if (s->n >= MAX_ROWS) {
            fprintf(stderr, "hale forecast: %s: more than %d rows\n", path, MAX_ROWS);
            rc = HALE_EXIT_FAILURE;
            break;
        }
        if (push(s, t, isfinite(v) ? v : NAN) < 0) {
            fprintf(stderr, "hale forecast: out of memory\n");
            rc = HALE_EXIT_FAILURE;
            break;
        }
    }
    if (rc == HALE_EXIT_OK && ferror(in)) {
        fprintf(stderr, "hale forecast: %s: read error: %s\n", path, strerror(errno));
        rc = HALE_EXIT_FAILURE;
    } else if (rc == HALE_EXIT_OK && s->n < 2) {
        fprintf(stderr, "hale forecast: %s: %zu data rows, expected at least 2\n", path, s->n);
        rc = HALE_EXIT_FAILURE;
    }
    free(line);
    /* rows out of time order are put in order; of equal timestamps the later row wins */
    if (rc == HALE_EXIT_OK)
        qsort(s->r, s->n, sizeof(*s->r), cmp_sample);
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* Put the rows on a grid of the median step ending at the last row: *ret_y (caller frees)
 * holds one value per step, NaN where no row fell. */
static int regularise(const struct series *s, int64_t *ret_step, double **ret_y, size_t *ret_n)
{
    size_t nd = s->n - 1, len, k = 0;
    int64_t *d = malloc(nd * sizeof(*d)), step, t_end = s->r[s->n - 1].t;
    double *y;

    if (!d)
        return -ENOMEM;
    for (size_t i = 0; i < nd; i++)
        if (s->r[i + 1].t > s->r[i].t)
            d[k++] = s->r[i + 1].t - s->r[i].t;
    if (k == 0) {
        free(d);
        return -EDOM;
    }
    qsort(d, k, sizeof(*d), cmp_i64);
    step = d[k / 2];
    free(d);
    len = (size_t)((t_end - s->r[0].t) / step) + 1;
    if (len > HALE_FORECAST_MAX_POINTS)
        len = HALE_FORECAST_MAX_POINTS;
    y = malloc(len * sizeof(*y));
    if (!y)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++)
        y[i] = NAN;
    for (size_t i = 0; i < s->n; i++) {
        int64_t back = (t_end - s->r[i].t + step / 2) / step; /* steps before the last row */

        if (back < (int64_t)len && isfinite(s->r[i].v))
            y[len - 1 - (size_t)back] = s->r[i].v;
    }
    *ret_step = step;
    *ret_y = y;
    *ret_n = len;
    return 0;
}

static void format_time(int64_t ms, bool nab, char *out, size_t cap)
{
    time_t sec = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;

    if (!gmtime_r(&sec, &tm) ||
        strftime(out, cap, nab ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, cap, "%lld", (long long)ms);
}

static int do_forecast(const struct series *s, const double *y, size_t n, int64_t step,
                       size_t horizon, const hale_forecast_opts *o, bool wide)
{
    size_t wl = hale_forecast_work_len(n, horizon);
    double *work = malloc(wl * sizeof(double)), *buf = malloc(3 * horizon * sizeof(double));
    hale_forecast_out out = {0};
    hale_diag diag = {{0}};
    int r, rc = HALE_EXIT_OK;

    if (!work || !buf) {
        fprintf(stderr, "hale forecast: out of memory\n");
        rc = HALE_EXIT_FAILURE;
        goto out;
    }
    out.point = buf;
    if (wide) {
        out.lo95 = buf + horizon;
        out.hi95 = buf + 2 * horizon;
    } else {
        out.lo80 = buf + horizon;
        out.hi80 = buf + 2 * horizon;
    }
    r = hale_forecast_run(y, n, horizon, o, work, wl, &out, NULL, &diag);
    if (r < 0) {
        fprintf(stderr, "hale forecast: %s\n", diag.msg[0] ? diag.msg : hale_strerror(r));
        rc = HALE_EXIT_FAILURE;
        goto out;
    }
    printf("timestamp,point,lo,hi\n");
    for (size_t h = 0; h < horizon; h++) {
        char ts[40];

        format_time(s->r[s->n - 1].t + (int64_t)(h + 1) * step, s->nab_time, ts, sizeof(ts));
        printf("%s,%.9g,%.9g,%.9g\n", ts, buf[h], buf[horizon + h], buf[2 * horizon + h]);
    }
out:
    free(work);
    free(buf);
    return rc;
}

static void print_when(const char *key, double steps, int64_t t_last, int64_t step, bool nab)
{
    char ts[40];

    if (!isfinite(steps) || steps * (double)step > 1e15) {
        printf("\"%s\":null", key);
        return;
    }
    format_time(t_last + (int64_t)llround(steps * (double)step), nab, ts, sizeof(ts));
    printf("\"%s\":\"%s\"", key, ts);
}

static int do_limit(const struct series *s, const double *y, size_t n, int64_t step, double limit,
                    double hours, double window_hours)
{
    double steps_h = hours * 3600000.0 / (double)step;
    size_t win = (size_t)ceil(window_hours * 3600000.0 / (double)step) + 1, wl;
    double *work;
    hale_forecast_crossing x;
    int64_t t_last = s->r[s->n - 1].t;
    int r;

    if (win > n)
        win = n;
    wl = hale_forecast_work_len(win, 0);
    work = malloc(wl * sizeof(double));
    if (!work) {
        fprintf(stderr, "hale forecast: out of memory\n");
        return HALE_EXIT_FAILURE;
    }
    r = hale_forecast_crossing_eval(y + (n - win), win, limit, steps_h, work, wl, &x);
    free(work);
    if (r < 0) {
        fprintf(stderr, "hale forecast: %s\n",
                r == -ENODATA ? "fewer than 3 values in the trend window (--window-hours)"
                              : hale_strerror(r));
        return HALE_EXIT_FAILURE;
    }
    printf("{\"crosses\":%s,", x.crosses ? "true" : "false");
    print_when("expected_at", x.expected_at, t_last, step, s->nab_time);
    putchar(',');
    print_when("lo", x.lo, t_last, step, s->nab_time);
    putchar(',');
    print_when("hi", x.hi, t_last, step, s->nab_time);
    printf(",\"probability\":%.4f,\"limit\":%.9g,\"horizon_hours\":%.9g,\"slope_per_hour\":%.9g,"
           "\"current\":%.9g}\n",
           x.probability, limit, hours, x.trend.slope * 3600000.0 / (double)step,
           x.trend.intercept + x.trend.slope * (double)(win - 1));
    return HALE_EXIT_OK;
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *ret)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || errno || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "hale forecast: %s '%s': expected a number in [%g, %g]\n", opt, s, lo, hi);
        return -EINVAL;
    }
    *ret = v;
    return 0;
}

int hale_cmd_forecast(int argc, char **argv)
{
    const char *csv = NULL, *hz = NULL, *ival = NULL, *model = NULL, *per = NULL;
    const char *lim = NULL, *hh = NULL, *wh = NULL;
    const hale_cli_opt opts[] = {
        {"--csv", true, &csv, NULL},
        {"--horizon", true, &hz, NULL},
        {"--interval", true, &ival, NULL},
        {"--model", true, &model, NULL},
        {"--period", true, &per, NULL},
        {"--limit", true, &lim, NULL},
        {"--horizon-hours", true, &hh, NULL},
        {"--window-hours", true, &wh, NULL},
        {NULL, false, NULL, NULL},
    };
    hale_forecast_opts o = {0};
    struct series s = {0};
    double horizon = 0, level = 0.95, limit = 0, hours = 6, window = 0, period = 0;
    double *y = NULL;
    size_t n = 0;
    int64_t step = 0;
    FILE *in = NULL;
    int r;

    r = hale_cli_parse(argc, argv, opts, usage, NULL, 0, NULL);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (!csv || (!hz && !lim) || (hz && lim)) {
        fprintf(stderr,
                "hale forecast: --csv FILE and exactly one of --horizon N or --limit L "
                "are required\n%s",
                usage);
        return HALE_EXIT_USAGE;
    }
    if ((hz && parse_num("--horizon", hz, 1, HALE_FORECAST_MAX_HORIZON, &horizon) < 0) ||
        (hz && horizon != floor(horizon)) ||
        (ival && parse_num("--interval", ival, 0.8, 0.95, &level) < 0) ||
        (ival && level != 0.8 && level != 0.95) ||
        (per && (parse_num("--period", per, 1, HALE_FORECAST_MAX_PERIOD, &period) < 0 ||
                 period != floor(period))) ||
        (lim && parse_num("--limit", lim, -1e300, 1e300, &limit) < 0) ||
        (hh && parse_num("--horizon-hours", hh, 1e-3, 1e5, &hours) < 0) ||
        (wh && parse_num("--window-hours", wh, 1e-3, 1e6, &window) < 0)) {
        fprintf(stderr, "hale forecast: --horizon takes a whole number of steps, --interval "
                        "0.95 or 0.8, --period a whole number of steps\n");
        return HALE_EXIT_USAGE;
    }
    if (model && hale_forecast_model_parse(model, &o.model) < 0) {
        fprintf(stderr, "hale forecast: unknown model '%s' (auto, holt-winters, snaive, naive)\n",
                model);
        return HALE_EXIT_USAGE;
    }
    if (lim && (hz || ival || model || per)) {
        fprintf(stderr, "hale forecast: --limit takes only --horizon-hours and --window-hours\n");
        return HALE_EXIT_USAGE;
    }
    o.period = (uint32_t)period;
    in = strcmp(csv, "-") == 0 ? stdin : fopen(csv, "re");
    if (!in) {
        fprintf(stderr, "hale forecast: cannot open '%s': %s\n", csv, strerror(errno));
        return HALE_EXIT_FAILURE;
    }
    r = read_csv(in, csv, &s);
    if (r == HALE_EXIT_OK) {
        int g = regularise(&s, &step, &y, &n);

        if (g < 0) {
            fprintf(stderr, "hale forecast: %s\n",
                    g == -EDOM ? "all rows share one timestamp, expected a series"
                               : "out of memory");
            r = HALE_EXIT_FAILURE;
        }
    }
    if (r == HALE_EXIT_OK && hz)
        r = do_forecast(&s, y, n, step, (size_t)horizon, &o, level == 0.95);
    else if (r == HALE_EXIT_OK)
        r = do_limit(&s, y, n, step, limit, hours, window > 0 ? window : 2 * hours);
    if (fflush(stdout) != 0 && r == HALE_EXIT_OK) {
        fprintf(stderr, "hale forecast: cannot write output: %s\n", strerror(errno));
        r = HALE_EXIT_FAILURE;
    }
    free(y);
    free(s.r);
    if (in != stdin)
        fclose(in);
    return r;
}
