/* evals/bench_redact.c - redaction throughput on realistic log text, one core, all rules on.
 * The text is built from the lines of evals/redaction/corpus.jsonl: every negative record ten
 * times for every positive one, so about one line in twelve carries a secret or PII, as in a
 * log excerpt attached to an incident. Measured in the same run: a baseline that splits the
 * text into lines with memchr and copies it (the least any line-preserving filter must do), one
 * hale_redact_apply over the whole text, and one call per line (how short fields are sent).
 * Median of 5 runs. Usage: bench_redact [MB] [--rules FILE] [--corpus FILE] */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hale/err.h"
#include "hale/redact.h"

#define RUNS 5

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Concatenate corpus texts, negatives 10 times each, until the text holds want bytes. */
static char *build_text(const char *corpus, size_t want, size_t *ret_len)
{
    char *text = malloc(want + 65536), *line = NULL;
    size_t len = 0, cap = 0;
    FILE *f = fopen(corpus, "r");

    if (!text || !f) {
        free(text);
        if (f)
            fclose(f);
        return NULL;
    }
    while (len < want) {
        if (getline(&line, &cap, f) <= 0) {
            rewind(f);
            continue;
        }
        json_t *rec = json_loads(line, 0, NULL);
        const char *t = json_string_value(json_object_get(rec, "text"));
        int reps = json_array_size(json_object_get(rec, "spans")) ? 1 : 10;

        for (int i = 0; t && i < reps && len + strlen(t) + 1 < want + 65536; i++) {
            memcpy(text + len, t, strlen(t));
            len += strlen(t);
            text[len++] = '\n';
        }
        json_decref(rec);
    }
    free(line);
    fclose(f);
    *ret_len = len;
    return text;
}

static double baseline(const char *text, size_t len, char *out)
{
    double t0 = now_s();
    size_t pos = 0, lines = 0;

    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) + 1 : len;

        memcpy(out + pos, text + pos, end - pos);
        lines++;
        pos = end;
    }
    if (lines == 0 || out[len - 1] != text[len - 1])
        abort();
    return now_s() - t0;
}

static double whole(const hale_redact *rules, const char *text, size_t len, size_t *ret_found)
{
    hale_redact_session *s = NULL;
    hale_redact_result res = {0};
    double t0 = now_s(), t;
    int r = hale_redact_session_new(rules, &s);

    if (r >= 0)
        r = hale_redact_apply(s, text, len, &res);
    t = now_s() - t0;
    if (r < 0) {
        fprintf(stderr, "bench_redact: redaction failed: %s\n", hale_strerror(r));
        exit(1);
    }
    *ret_found = res.n_findings;
    hale_redact_result_release(&res);
    hale_redact_session_free(s);
    return t;
}

static double per_line(const hale_redact *rules, const char *text, size_t len)
{
    hale_redact_session *s = NULL;
    double t0 = now_s();
    size_t pos = 0;

    if (hale_redact_session_new(rules, &s) < 0)
        exit(1);
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        hale_redact_result res = {0};

        if (hale_redact_apply(s, text + pos, end - pos, &res) < 0)
            exit(1);
        hale_redact_result_release(&res);
        pos = end + 1;
    }
    hale_redact_session_free(s);
    return now_s() - t0;
}

int main(int argc, char **argv)
{
    const char *rules_path = HALE_SOURCE_DIR "/policies/redact/rules.json";
    const char *corpus = HALE_SOURCE_DIR "/evals/redaction/corpus.jsonl";
    double tb[RUNS], tw[RUNS], tl[RUNS], mb;
    size_t want = 32u << 20, len = 0, found = 0;
    hale_redact *rules = NULL;
    hale_diag diag = {{0}};
    char *text, *out;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc)
            rules_path = argv[++i];
        else if (strcmp(argv[i], "--corpus") == 0 && i + 1 < argc)
            corpus = argv[++i];
        else if (atof(argv[i]) > 0)
            want = (size_t)(atof(argv[i]) * 1048576.0);
    }
    if (hale_redact_load(rules_path, &rules, &diag) < 0)
        return fprintf(stderr, "bench_redact: %s\n", diag.msg), 2;
    text = build_text(corpus, want, &len);
    out = malloc(len + 1);
    if (!text || !out)
        return fprintf(stderr, "bench_redact: cannot read '%s'\n", corpus), 2;
    for (int i = 0; i < RUNS; i++) {
        tb[i] = baseline(text, len, out);
        tw[i] = whole(rules, text, len, &found);
        tl[i] = per_line(rules, text, len);
    }
    qsort(tb, RUNS, sizeof(double), cmp_d);
    qsort(tw, RUNS, sizeof(double), cmp_d);
    qsort(tl, RUNS, sizeof(double), cmp_d);
    mb = (double)len / 1048576.0;
    printf("text: %.1f MiB of log lines, %zu rules, %zu findings; median of %d runs, one core\n",
           mb, hale_redact_rule_count(rules), found, RUNS);
    printf("%-36s %10s\n", "", "MiB/s");
    printf("%-36s %10.1f\n", "baseline (memchr lines + memcpy)", mb / tb[RUNS / 2]);
    printf("%-36s %10.1f\n", "redact, one call for the whole text", mb / tw[RUNS / 2]);
    printf("%-36s %10.1f\n", "redact, one call per line", mb / tl[RUNS / 2]);
    free(text);
    free(out);
    hale_redact_free(rules);
    return 0;
}
