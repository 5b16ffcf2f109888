/* agent/loop/loop_metrics_int.h - private to loop_metrics_*.c: the controller's metric sources
 * (host collector, Prometheus poller, POST /api/v1/metrics), the series registry, and the
 * threadpool work that collects, fits and snapshots. */
#pragma once
#include <uv.h>

#include "hale/metrics.h"
#include "loop/loop_int.h"

/* Counters for /metrics, beyond the registry's own. */
struct metrics_stats {
    uint64_t host_scrapes;      /* host collections done */
    uint64_t host_errors;       /* of those, with a file unreadable or malformed */
    double host_scrape_s;       /* duration of the last one */
    uint64_t samples_by_src[3]; /* samples offered, by source (enum metrics_src) */
    uint64_t events_raised;     /* anomaly and exhaustion events submitted */
    uint64_t snapshot_rows;     /* series states written */
    uint64_t snapshot_failures; /* batches that could not be written */
    uint64_t jobs;              /* fitting jobs done */
    double job_s;               /* duration of the last one */
};

enum metrics_src { SRC_HOST = 0, SRC_PROMETHEUS, SRC_API };

struct hale__loop_metrics {
    hale_loop *l;              /* owner */
    hale_metrics *reg;         /* series and models */
    hale_store *store;         /* own writer connection: snapshot jobs only */
    hale_host_collector *host; /* NULL when the host collector is off */
    hale_prom_poller *prom;    /* NULL without queries */
    uv_timer_t host_timer;     /* starts host collections */
    uv_timer_t eval_timer;     /* starts fitting jobs */
    uv_timer_t snap_timer;     /* starts snapshot jobs */
    uv_work_t host_work;       /* a collection on the threadpool */
    hale_sample_set *host_set; /* its samples */
    hale_diag host_diag;       /* its error */
    int host_result;           /* its result */
    double host_dur_s;         /* its duration (written by the work, read after it) */
    bool host_running;         /* host_work is queued or running */
    uv_work_t eval_work;       /* a fitting job on the threadpool */
    hale_metrics_job *job;     /* the job eval_work runs */
    uint64_t job_t0;           /* uv_hrtime when it was queued */
    uv_work_t snap_work;       /* a snapshot batch on the threadpool */
    hale_metrics_snap *snaps;  /* the batch */
    size_t n_snaps;            /* its rows */
    int snap_result;           /* its result */
    hale_diag snap_diag;       /* its error */
    bool snap_running;         /* snap_work is queued or running */
    bool started;              /* timers initialised */
    bool closing;              /* sources stopped */
    struct metrics_stats st;   /* for /metrics */
    uint64_t *prom_runs;       /* successful runs, by query index */
    uint64_t *prom_errors;     /* failed attempts (retries included), by query index */
};

/* loop_metrics_sig.c */
bool hale__loop_metrics_on_signal(const hale_metrics_signal *s, void *ud);
void hale__loop_metrics_on_refit(json_t *payload, void *ud);
/* Learn a set's samples (taken) from src; counts what was accepted and refused. */
void hale__loop_metrics_learn(struct hale__loop_metrics *lm, hale_sample_set *set,
                              enum metrics_src src, size_t *ret_accepted, size_t *ret_refused);
