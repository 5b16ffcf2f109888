/* agent/util/prom.c - the text exposition writer behind GET /metrics. */
#include "internal.h"

#include <math.h>

#include "util/prom.h"

static int put_escaped(hale_buf *b, const char *s, bool quote_too)
{
    int r = 0;

    for (; r == 0 && *s; s++) {
        if (*s == '\\')
            r = hale_buf_puts(b, "\\\\");
        else if (*s == '\n')
            r = hale_buf_puts(b, "\\n");
        else if (quote_too && *s == '"')
            r = hale_buf_puts(b, "\\\"");
        else
            r = hale_buf_putc(b, *s);
    }
    return r;
}

int hale_prom_family(hale_buf *b, const char *name, const char *type, const char *help)
{
    int r = hale_buf_printf(b, "# HELP %s ", name);

    if (r == 0)
        r = put_escaped(b, help, false);
    if (r == 0)
        r = hale_buf_printf(b, "\n# TYPE %s %s\n", name, type);
    return r;
}

static int put_value(hale_buf *b, double v)
{
    if (isnan(v))
        return hale_buf_puts(b, " NaN\n");
    if (isinf(v))
        return hale_buf_puts(b, v > 0 ? " +Inf\n" : " -Inf\n");
    if (v == (double)(int64_t)v && fabs(v) < 9e15)
        return hale_buf_printf(b, " %lld\n", (long long)v);
    return hale_buf_printf(b, " %.17g\n", v);
}

int hale_prom_sample(hale_buf *b, const char *name, const char *const *labels, double value)
{
    int r = hale_buf_puts(b, name);

    for (size_t i = 0; r == 0 && labels && labels[i] && labels[i + 1]; i += 2) {
        r = hale_buf_printf(b, "%s%s=\"", i ? "," : "{", labels[i]);
        if (r == 0)
            r = put_escaped(b, labels[i + 1], true);
        if (r == 0)
            r = hale_buf_putc(b, '"');
    }
    if (r == 0 && labels && labels[0])
        r = hale_buf_putc(b, '}');
    if (r == 0)
        r = put_value(b, value);
    return r;
}

void hale_histogram_init(hale_histogram *h, const double *bounds, size_t n)
{
    memset(h, 0, sizeof(*h));
    if (n > HALE_PROM_MAX_BUCKETS)
        n = HALE_PROM_MAX_BUCKETS;
    memcpy(h->bounds, bounds, n * sizeof(*bounds));
    h->n_bounds = n;
}

void hale_histogram_observe(hale_histogram *h, double v)
{
    for (size_t i = 0; i < h->n_bounds; i++) {
        if (v <= h->bounds[i]) {
            h->counts[i]++;
            break;
        }
    }
    h->count++;
    h->sum += v;
}

int hale_prom_histogram(hale_buf *b, const char *name, const char *help, const hale_histogram *h)
{
    char bucket[128], le[32];
    uint64_t cumulative = 0;
    int r;

    snprintf(bucket, sizeof(bucket), "%s_bucket", name);
    r = hale_prom_family(b, name, "histogram", help);
    for (size_t i = 0; r == 0 && i < h->n_bounds; i++) {
        cumulative += h->counts[i];
        snprintf(le, sizeof(le), "%g", h->bounds[i]);
        r = hale_prom_sample(b, bucket, (const char *const[]){"le", le, NULL}, (double)cumulative);
    }
    if (r == 0)
        r = hale_prom_sample(b, bucket, (const char *const[]){"le", "+Inf", NULL},
                             (double)h->count);
    if (r == 0)
        r = hale_buf_printf(b, "%s_sum", name);
    if (r == 0)
        r = put_value(b, h->sum);
    if (r == 0)
        r = hale_buf_printf(b, "%s_count %llu\n", name, (unsigned long long)h->count);
    return r;
}
