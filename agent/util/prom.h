/* agent/util/prom.h - Prometheus text exposition format 0.0.4: metric families, label
 * escaping and fixed-bucket histograms. Writers append to a hale_buf; they check nothing about
 * naming, the callers use fixed names. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define HALE_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* "# HELP name help\n# TYPE name type\n" (help escaped). */
int hale_prom_family(hale_buf *b, const char *name, const char *type, const char *help);
/* "name{k="v",...} value\n"; labels is NULL or a NULL-terminated list of name, value pairs. */
int hale_prom_sample(hale_buf *b, const char *name, const char *const *labels, double value);

#define HALE_PROM_MAX_BUCKETS 16

typedef struct hale_histogram {
    double bounds[HALE_PROM_MAX_BUCKETS];   /* upper bounds, increasing; +Inf is implicit */
    uint64_t counts[HALE_PROM_MAX_BUCKETS]; /* observations <= bounds[i] and > bounds[i-1] */
    size_t n_bounds;                        /* used entries in bounds */
    uint64_t count;                         /* all observations */
    double sum;                             /* of all observations */
} hale_histogram;

/* bounds: n (<= HALE_PROM_MAX_BUCKETS) increasing upper bounds. */
void hale_histogram_init(hale_histogram *h, const double *bounds, size_t n);
void hale_histogram_observe(hale_histogram *h, double v);
/* The family, cumulative buckets in order, le="+Inf" equal to _count, _sum and _count. */
int hale_prom_histogram(hale_buf *b, const char *name, const char *help, const hale_histogram *h);
