/* include/hale/metrics.h - metric series: samples and their identity, the registry of series
 * with each one's anomaly detector, anomaly hysteresis, bucketed history, exhaustion
 * prediction, capacity forecast and drift check, the model state snapshots, the host collector
 * and the parsers of POST /api/v1/metrics bodies and Prometheus query answers.
 * Nothing here logs or does network I/O (the Prometheus transport is in metrics_http.c and
 * reports errors to its caller). Loop thread only, except where a function says "any thread".
 * docs/metrics.md describes the behaviour. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/config.h"
#include "hale/diag.h"
#include "hale/forecast.h"
#include "hale/fwd.h"

#define HALE_METRICS_MAX_LABELS      32u   /* labels of one series */
#define HALE_METRICS_MAX_NAME_BYTES  256u  /* a metric or label name */
#define HALE_METRICS_MAX_VALUE_BYTES 1024u /* a label value */

/* One sample. Strings are borrowed from whoever holds the sample. labels holds n_labels
 * (name, value) pairs, sorted by name, names unique. */
typedef struct hale_sample {
    const char *name;          /* metric name, [a-zA-Z_:][a-zA-Z0-9_:]* */
    const char *const *labels; /* 2 * n_labels strings */
    size_t n_labels;           /* pairs */
    double value;              /* may be NaN or infinite: counted, never learned */
    int64_t t_ms;              /* unix ms */
} hale_sample;

/* An owning list of samples. */
typedef struct hale_sample_set hale_sample_set;

int hale_sample_set_new(hale_sample_set **ret); /* 0 or -ENOMEM */
void hale_sample_set_free(hale_sample_set *s);  /* NULL is a no-op */
/* Copy a sample in. labels are n_labels (name, value) pairs in any order; they are sorted.
 * Returns 0, -ENOMEM, or -EINVAL with reterr naming what is wrong: a bad metric or label name,
 * a duplicate label, more than HALE_METRICS_MAX_LABELS labels, an over-long value, or a label
 * value that is not UTF-8. */
int hale_sample_set_add(hale_sample_set *s, const char *name, const char *const *labels,
                        size_t n_labels, double value, int64_t t_ms, hale_diag *reterr);
size_t hale_sample_set_size(const hale_sample_set *s);
const hale_sample *hale_sample_set_get(const hale_sample_set *s, size_t i); /* borrowed */

/* The series identity of s: name{l1="v1",l2="v2"} with labels sorted by name and values
 * escaped as in the Prometheus text format; just name without labels. Caller frees; NULL on
 * ENOMEM. */
char *hale_metrics_series_key(const hale_sample *s);

/* Parse a POST /api/v1/metrics body:
 *   {"samples": [{"metric": "name", "labels": {"k": "v"}, "value": 1.5,
 *                 "timestamp": "2026-11-22T13:08:22Z" | 1795352914125}]}
 * labels is optional, timestamp optional (now_ms when absent; a number is unix ms). Unknown
 * fields are refused. At most max_samples samples. Returns 0 with a new set in *ret, -ENOMEM,
 * or HALE_EPARSE/HALE_EUTF8/HALE_ESCHEMA/HALE_ELIMIT with "samples[3].value: expected a number,
 * got string" in reterr. */
int hale_metrics_parse_samples(const char *body, size_t len, size_t max_samples, int64_t now_ms,
                               hale_sample_set **ret, hale_diag *reterr);

/* Parse a Prometheus /api/v1/query_range (matrix) or /api/v1/query (vector, scalar) answer
 * into samples named name (the result's labels, less __name__, become the series labels),
 * appended to into. Values are Prometheus strings ("1", "NaN", "+Inf"). Returns the samples
 * added, or HALE_EPARSE/HALE_ESCHEMA, or HALE_EUPSTREAM for {"status": "error"} with
 * "errorType: error" in reterr, or HALE_ELIMIT past max_samples in into. */
int hale_metrics_parse_prom(const char *body, size_t len, const char *name, size_t max_samples,
                            hale_sample_set *into, hale_diag *reterr);

/* Anomaly hysteresis over a score stream, by sample time. Not active: a score at or above enter
 * starts a pending entry, which becomes active once scores stayed at or above exit for
 * min_ms (immediately when min_ms is 0); a score below exit cancels it. Active: a score below
 * exit starts a pending exit, which ends the anomaly once scores stayed below exit for min_ms;
 * a score at or above exit cancels it. Zero-initialise. */
typedef struct hale_metrics_hyst {
    bool active;      /* in an anomaly */
    bool pending;     /* a transition is waiting for min_ms */
    int64_t since_ms; /* active: when the anomaly began */
    int64_t mark_ms;  /* pending: when the transition began */
    double peak;      /* highest score of the current or last anomaly */
} hale_metrics_hyst;

typedef enum hale_metrics_hyst_event {
    HALE_METRICS_HYST_NONE = 0,
    HALE_METRICS_HYST_ENTER, /* the anomaly begins */
    HALE_METRICS_HYST_LEAVE, /* the anomaly ended */
} hale_metrics_hyst_event;

hale_metrics_hyst_event hale_metrics_hyst_step(hale_metrics_hyst *h, double score, int64_t t_ms,
                                               double enter, double exit_, int64_t min_ms);

/* The registry: every series, its models and its state. */
typedef struct hale_metrics hale_metrics;

typedef enum hale_metrics_signal_kind {
    HALE_METRICS_SIGNAL_ANOMALY = 1,    /* the anomaly hysteresis entered or left */
    HALE_METRICS_SIGNAL_EXHAUSTION = 2, /* an exhaustion prediction began or stopped holding */
} hale_metrics_signal_kind;

/* What the registry tells its sink. Strings are borrowed for the callback's duration. */
typedef struct hale_metrics_signal {
    hale_metrics_signal_kind kind;
    bool firing;               /* began (true) or ended (false) */
    const char *series;        /* the series key */
    const hale_sample *sample; /* the series' name and labels; value and t_ms of the newest */
    double score;              /* anomaly: the highest score of the anomaly */
    int64_t since_ms;          /* anomaly: sample time it began */
    double limit;              /* exhaustion: the rule's limit */
    double horizon_h;          /* exhaustion: the rule's horizon */
    double probability;        /* exhaustion: P(beyond limit at the horizon) */
    double rule_probability;   /* exhaustion: the rule's threshold */
    int64_t expected_ms;       /* exhaustion: when the trend reaches the limit (unix ms) */
} hale_metrics_signal;

/* Where signals and model refits go. signal returns whether it took the signal; when it did
 * not (shutting down, out of memory) the series stays in its previous state, so the signal is
 * raised again (after a restart, from the saved state). refit_leaf gets a model_refit audit
 * payload (taken). */
typedef struct hale_metrics_sink {
    bool (*signal)(const hale_metrics_signal *s, void *ud);
    void (*refit_leaf)(json_t *payload, void *ud);
    void *ud;
} hale_metrics_sink;

/* Counters for /metrics. */
typedef struct hale_metrics_counts {
    uint64_t samples;        /* samples offered to _observe */
    uint64_t learned;        /* of those, learned by their series */
    uint64_t refused_series; /* refused because max_series series exist */
    uint64_t out_of_order;   /* older than their series' newest sample */
    uint64_t duplicates;     /* same time as their series' newest sample */
    uint64_t nonfinite;      /* NaN or infinite values */
    uint64_t anomalies;      /* anomalies begun */
    uint64_t predictions;    /* exhaustion predictions begun */
    uint64_t fits;           /* forecast fits made */
    uint64_t refits;         /* refits for drift: forecasts and detectors */
    uint64_t fit_failures;   /* fits that failed (too little data) */
} hale_metrics_counts;

/* A registry for cfg's "metrics" key (a reference is taken). Returns 0, -ENOMEM. */
int hale_metrics_new(hale_config *cfg, const hale_metrics_sink *sink, hale_metrics **ret);
void hale_metrics_free(hale_metrics *m); /* NULL is a no-op; no job may be in flight */

/* Learn one sample into its series (created on first sight unless max_series exist: then
 * HALE_ELIMIT and the sample is counted as refused). The detector scores it, the hysteresis may
 * signal; a sample older than the series' newest is scored but not learned. Returns 0,
 * HALE_ELIMIT or -ENOMEM. */
int hale_metrics_observe(hale_metrics *m, const hale_sample *s);

void hale_metrics_get_counts(const hale_metrics *m, hale_metrics_counts *ret);
size_t hale_metrics_series_count(const hale_metrics *m);

/* Exhaustion predictions, capacity forecasts and drift refits run as jobs: plan on the loop
 * thread (copies the histories that changed), run anywhere (fits; touches only the job), apply
 * on the loop thread (updates the series, signals, frees the job). One job at a time.
 * _plan returns 0 with *ret NULL when nothing is due, or -ENOMEM. */
typedef struct hale_metrics_job hale_metrics_job;
int hale_metrics_job_plan(hale_metrics *m, int64_t now_ms, hale_metrics_job **ret);
void hale_metrics_job_run(hale_metrics_job *j); /* any thread */
void hale_metrics_job_apply(hale_metrics *m, hale_metrics_job *j);
/* Drop a planned job without using it (it was cancelled or could not be queued): its series
 * are evaluated again by a later job. NULL is a no-op. */
void hale_metrics_job_cancel(hale_metrics *m, hale_metrics_job *j);
void hale_metrics_job_free(hale_metrics_job *j); /* NULL is a no-op; after the loop ended */

/* Forecasts as JSON: {"forecasts": [...]} for every series with a history (series NULL), each
 * with its summary; or one series (its key) with every forecast point. HALE_ENOTFOUND when that
 * series has no history. Returns 0 with a new reference, or -ENOMEM. */
int hale_metrics_forecasts_json(const hale_metrics *m, const char *series, json_t **ret);

/* Model state snapshots. _snapshot encodes up to max series changed since their last
 * snapshot (all of them with all true) and marks them clean; *ret_n may be 0. */
typedef struct hale_metrics_snap {
    char *series;      /* key, owned */
    char *name;        /* metric name, owned */
    char *labels_json; /* compact JSON object of the labels, owned */
    uint8_t *state;    /* the encoded state, owned */
    size_t state_len;  /* bytes in state */
    uint64_t samples;  /* samples the series has seen */
} hale_metrics_snap;

int hale_metrics_snapshot(hale_metrics *m, size_t max, bool all, hale_metrics_snap **ret,
                          size_t *ret_n);
void hale_metrics_snaps_free(hale_metrics_snap *s, size_t n); /* NULL is a no-op */
/* Mark the series of snaps dirty again (their write failed). */
void hale_metrics_snaps_failed(hale_metrics *m, const hale_metrics_snap *s, size_t n);

/* Write snaps to the store's metric_series_state table in one transaction (any thread, on a
 * connection the caller owns there). Returns 0 or HALE_ESTORE with reterr. */
int hale_metrics_state_save(hale_store *s, const hale_metrics_snap *snaps, size_t n, int64_t now_ms,
                            hale_diag *reterr);
/* Restore every saved series into m (loop thread, before samples arrive). *ret_restored and
 * *ret_refused (may be NULL) count rows restored and rows refused (bad state, over the cap).
 * Returns 0 or HALE_ESTORE. */
int hale_metrics_state_load(hale_store *s, hale_metrics *m, size_t *ret_restored,
                            size_t *ret_refused, hale_diag *reterr);

/* The host collector: reads proc_root (normally "/proc") and statvfs of every real mounted
 * file system, into samples stamped t_ms: host_cpu_used_ratio (from the second call on),
 * host_memory_used_ratio, host_memory_available_bytes, host_swap_used_ratio, host_load1,
 * host_load5, host_load15, host_processes, host_disk_used_ratio{mount,fstype},
 * host_disk_free_bytes{mount,fstype}, host_inodes_used_ratio{mount,fstype}. Any thread; one
 * collector is used by one thread at a time. */
typedef struct hale_host_collector hale_host_collector;
int hale_host_collector_new(const char *proc_root, hale_host_collector **ret);
void hale_host_collector_free(hale_host_collector *h); /* NULL is a no-op */
/* Returns the samples added, or -errno when a required file is unreadable or malformed (what
 * it could read is added anyway). */
int hale_host_collect(hale_host_collector *h, int64_t t_ms, hale_sample_set *into,
                      hale_diag *reterr);

/* The pure parsers behind it, for tests. Each returns 0 or -EINVAL. */
typedef struct hale_host_cpu {
    uint64_t busy, total; /* jiffies */
} hale_host_cpu;
int hale_host_parse_stat(const char *text, hale_host_cpu *ret);
typedef struct hale_host_mem {
    uint64_t total, available, swap_total, swap_free; /* bytes */
} hale_host_mem;
int hale_host_parse_meminfo(const char *text, hale_host_mem *ret);
typedef struct hale_host_load {
    double load1, load5, load15;
    uint64_t processes; /* scheduling entities (threads included), the field after '/' */
} hale_host_load;
int hale_host_parse_loadavg(const char *text, hale_host_load *ret);
/* Each real mount (pseudo file systems, bind duplicates and autofs left out) of a
 * /proc/self/mounts text: cb(mount point, fstype, ud), octal escapes decoded. Returns the
 * mounts passed to cb or -EINVAL. */
int hale_host_parse_mounts(const char *text,
                           void (*cb)(const char *mnt, const char *fstype, void *ud), void *ud);

/* The Prometheus poller: each configured query runs against <prom_url>/api/v1/query_range
 * every interval_s, on curl multi driven by the uv loop. The first run fetches range_s of
 * history, later runs what is new since the last one. A failed run (connection, timeout,
 * 5xx, malformed answer, an answer over prom_max_response_bytes) is retried up to
 * prom_retries times with doubling backoff from 500 ms; a 4xx answer (the query is wrong) is
 * not retried. Loop thread only. */
typedef struct hale_prom_poller hale_prom_poller;

typedef struct hale_prom_poller_ops {
    /* A run's samples (taken, possibly empty), named after the query. */
    void (*samples)(const char *query, hale_sample_set *set, void *ud);
    /* A run failed: err (HALE_EUPSTREAM, -ETIMEDOUT, HALE_ELIMIT, HALE_ESCHEMA, ...), what
     * happened in msg; final when no retry follows. */
    void (*error)(const char *query, int err, const char *msg, bool final, void *ud);
    int64_t (*now_ms)(void *ud); /* wall clock, unix ms */
    void *ud;
} hale_prom_poller_ops;

struct uv_loop_s;
/* A poller for cfg (copied; a reference is taken). Starts at once: the first runs are due
 * immediately. Returns 0, -ENOMEM or a uv error. */
int hale_prom_poller_new(struct uv_loop_s *loop, hale_config *cfg, const hale_prom_poller_ops *ops,
                         hale_prom_poller **ret);
/* Stop every query (requests in flight are dropped, no callback runs after this) and free the
 * poller once its handles are closed; done (may be NULL) runs then. */
void hale_prom_poller_close(hale_prom_poller *p, void (*done)(void *ud), void *ud);
