/* agent/cli/cli_detect.c - `hale detect --csv FILE`: run one anomaly detector over a NAB-format
 * CSV (timestamp,value with a header line) and write timestamp,value,anomaly_score to stdout,
 * one row per input row, in input order. Rows are streamed: memory does not grow with the file. */
#include "internal.h"

#include <math.h>

#include "cli/cli.h"
#include "hale/detect.h"
#include "util/timeutil.h"

#define LINE_MAX_BYTES 4096 /* longer lines are refused */

static const char usage[] =
    "usage: hale detect --csv FILE [--detector NAME]\n\n"
    "Score every row of a CSV of timestamp,value (with a header line; NAB format) for anomalies\n"
    "and write timestamp,value,anomaly_score to stdout: same rows, same order, score in [0, 1].\n"
    "FILE may be - for standard input. Timestamps are \"YYYY-MM-DD HH:MM:SS[.fff]\" (UTC) or\n"
    "RFC 3339. An empty value, nan or inf is a missing sample: it scores 0 and is not learned.\n"
    "Detectors: ensemble (default), robust, cusum (see docs/models.md).\n";

struct row {
    const char *ts; /* timestamp field, not NUL-terminated */
    size_t ts_len;
    const char *val; /* value field */
    size_t val_len;
};

/* Split "timestamp,value" (CR already stripped). */
static int split_row(const char *line, size_t len, struct row *r)
{
    const char *comma = memchr(line, ',', len);

    if (!comma || memchr(comma + 1, ',', len - (size_t)(comma + 1 - line)))
        return -EINVAL;
    r->ts = line;
    r->ts_len = (size_t)(comma - line);
    r->val = comma + 1;
    r->val_len = len - r->ts_len - 1;
    return 0;
}

static int run(FILE *in, const char *path, hale_detect *d)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0;
    int rc = HALE_EXIT_OK;

    while ((n = getline(&line, &cap, in)) >= 0) {
        size_t len = (size_t)n;
        struct row r;
        int64_t t_ms;
        double v, s;

        lineno++;
        if (len > LINE_MAX_BYTES) {
            fprintf(stderr, "hale detect: %s:%lu: line longer than %d bytes\n", path, lineno,
                    LINE_MAX_BYTES);
            rc = HALE_EXIT_FAILURE;
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (lineno == 1) {
            if (len < 15 || strncmp(line, "timestamp,value", 15) != 0 ||
                split_row(line, len, &r) < 0) {
                fprintf(stderr,
                        "hale detect: %s:1: expected the header \"timestamp,value\", got '%.*s'\n",
                        path, (int)(len > 80 ? 80 : len), line);
                rc = HALE_EXIT_FAILURE;
                break;
            }
            printf("timestamp,value,anomaly_score\n");
            continue;
        }
        if (len == 0)
            continue;
        if (split_row(line, len, &r) < 0) {
            fprintf(stderr, "hale detect: %s:%lu: expected two fields \"timestamp,value\"\n", path,
                    lineno);
            rc = HALE_EXIT_FAILURE;
            break;
        }
        if (hale_cli_csv_time(r.ts, r.ts_len, &t_ms, NULL) < 0) {
            fprintf(stderr,
                    "hale detect: %s:%lu: bad timestamp '%.*s', expected \"YYYY-MM-DD "
                    "HH:MM:SS\" or RFC 3339\n",
                    path, lineno, (int)(r.ts_len > 64 ? 64 : r.ts_len), r.ts);
            rc = HALE_EXIT_FAILURE;
            break;
        }
        if (hale_cli_csv_value(r.val, r.val_len, &v) < 0) {
            fprintf(stderr, "hale detect: %s:%lu: bad value '%.*s', expected a number\n", path,
                    lineno, (int)(r.val_len > 64 ? 64 : r.val_len), r.val);
            rc = HALE_EXIT_FAILURE;
            break;
        }
        s = hale_detect_update(d, t_ms, v);
        printf("%.*s,%.*s,%.9f\n", (int)r.ts_len, r.ts, (int)r.val_len, r.val, s);
    }
    if (rc == HALE_EXIT_OK && ferror(in)) {
        fprintf(stderr, "hale detect: %s: read error: %s\n", path, strerror(errno));
        rc = HALE_EXIT_FAILURE;
    } else if (rc == HALE_EXIT_OK && lineno == 0) {
        fprintf(stderr, "hale detect: %s: empty file, expected the header \"timestamp,value\"\n",
                path);
        rc = HALE_EXIT_FAILURE;
    }
    free(line);
    return rc;
}

int hale_cmd_detect(int argc, char **argv)
{
    const char *csv = NULL, *name = NULL;
    const hale_cli_opt opts[] = {
        {"--csv", true, &csv, NULL},
        {"--detector", true, &name, NULL},
        {NULL, false, NULL, NULL},
    };
    hale_detect_opts o = {0};
    hale_detect *d = NULL;
    hale_diag diag = {{0}};
    FILE *in;
    int r;

    r = hale_cli_parse(argc, argv, opts, usage, NULL, 0, NULL);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (!csv) {
        fprintf(stderr, "hale detect: --csv FILE is required\n%s", usage);
        return HALE_EXIT_USAGE;
    }
    if (name && hale_detect_kind_parse(name, &o.kind) < 0) {
        fprintf(stderr, "hale detect: unknown detector '%s' (ensemble, robust, cusum)\n", name);
        return HALE_EXIT_USAGE;
    }
    in = strcmp(csv, "-") == 0 ? stdin : fopen(csv, "re");
    if (!in) {
        fprintf(stderr, "hale detect: cannot open '%s': %s\n", csv, strerror(errno));
        return HALE_EXIT_FAILURE;
    }
    r = hale_detect_new(&o, &d, &diag);
    if (r < 0) {
        fprintf(stderr, "hale detect: %s\n", diag.msg[0] ? diag.msg : hale_strerror(r));
        r = HALE_EXIT_FAILURE;
    } else {
        r = run(in, csv, d);
    }
    if (fflush(stdout) != 0 && r == HALE_EXIT_OK) {
        fprintf(stderr, "hale detect: cannot write output: %s\n", strerror(errno));
        r = HALE_EXIT_FAILURE;
    }
    hale_detect_free(d);
    if (in != stdin)
        fclose(in);
    return r;
}
