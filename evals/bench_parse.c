/* evals/bench_parse.c - CPU cost of parsing one realistic two-alert Alertmanager webhook
 * (the body evals/wrk_alerts.lua posts): jansson's json_loadb alone as the baseline, hale's
 * JSON reader (hale_json_parse: UTF-8 and NUL checks plus agent/util/json_read.c), and hale's whole
 * Alertmanager parser (that reader, field tables, fingerprints, times). Single thread, median of 7
 * runs of N parses. Usage: bench_parse [N] */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hale/ingest.h"
#include "util/json.h"

static const char alert[] =
    "{\"status\":\"firing\",\"labels\":{\"alertname\":\"HighLatency\",\"service\":\"svc-%d\","
    "\"instance\":\"10.0.0.%d:9100\",\"job\":\"node\",\"severity\":\"warning\"},"
    "\"annotations\":{\"runbook\":\"restart-api\",\"summary\":\"p99 latency above 500 ms for 5 "
    "minutes\",\"description\":\"The 99th percentile of request latency on instance 10.0.0.%d "
    "has been above 500 ms for 5 minutes.\"},\"startsAt\":\"2026-11-22T13:08:22.079Z\","
    "\"endsAt\":\"0001-01-01T00:00:00Z\",\"generatorURL\":\"http://127.0.0.1:19090/graph?g0."
    "expr=histogram_quantile%%280.99%%29+%%3E+0.5\\u0026g0.tab=1\",\"fingerprint\":"
    "\"00000001%08x\"}";

static double now_us(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Median over 7 runs of the per-call time of fn, in microseconds. */
static double median_us(int (*fn)(const char *, size_t), const char *body, size_t len, int n)
{
    double runs[7];

    for (int r = 0; r < 7; r++) {
        double t0 = now_us();

        for (int i = 0; i < n; i++)
            if (fn(body, len) < 0)
                return -1;
        runs[r] = (now_us() - t0) / n;
    }
    qsort(runs, 7, sizeof(runs[0]), cmp);
    return runs[3];
}

static int jansson_only(const char *body, size_t len)
{
    json_t *doc = json_loadb(body, len, 0, NULL);

    if (!doc)
        return -1;
    json_decref(doc);
    return 0;
}

static int hale_reader(const char *body, size_t len)
{
    json_t *doc = NULL;

    if (hale_json_parse(body, len, &doc, NULL) < 0)
        return -1;
    json_decref(doc);
    return 0;
}

static int hale_parser(const char *body, size_t len)
{
    hale_ingest_batch *b = NULL;
    hale_diag diag;

    if (hale_ingest_parse_alertmanager(body, len, &b, &diag) < 0) {
        fprintf(stderr, "parse failed: %s\n", diag.msg);
        return -1;
    }
    hale_ingest_batch_free(b);
    return 0;
}

int main(int argc, char **argv)
{
    char a1[2048], a2[2048], body[8192];
    int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 20000;
    double j, r, h;
    size_t len;

    snprintf(a1, sizeof(a1), alert, 1, 1, 1, 1);
    snprintf(a2, sizeof(a2), alert, 2, 2, 2, 2);
    snprintf(body, sizeof(body),
             "{\"receiver\":\"hale\",\"status\":\"firing\",\"alerts\":[%s,%s],\"groupLabels\":{"
             "\"alertname\":\"HighLatency\"},\"commonLabels\":{\"alertname\":\"HighLatency\"},"
             "\"commonAnnotations\":{},\"externalURL\":\"http://127.0.0.1:19093\",\"version\":"
             "\"4\",\"groupKey\":\"{}:{alertname=\\\"HighLatency\\\"}\",\"truncatedAlerts\":0}\n",
             a1, a2);
    len = strlen(body);
    if (n <= 0)
        n = 20000;
    j = median_us(jansson_only, body, len, n);
    r = median_us(hale_reader, body, len, n);
    h = median_us(hale_parser, body, len, n);
    if (j < 0 || r < 0 || h < 0)
        return 1;
    printf("body %zu bytes, %d parses per run, median of 7 runs\n", len, n);
    printf("json_loadb + json_decref:        %6.2f us  (%8.0f /s on one core)\n", j, 1e6 / j);
    printf("hale_json_parse + json_decref:   %6.2f us  (%8.0f /s on one core), %.2fx jansson's\n",
           r, 1e6 / r, j / r);
    printf("hale_ingest_parse_alertmanager:  %6.2f us  (%8.0f /s on one core)\n", h, 1e6 / h);
    return 0;
}
