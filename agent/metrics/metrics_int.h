/* agent/metrics/metrics_int.h - private to agent/metrics: the registry and one series' state. */
#pragma once
#include "hale/detect.h"
#include "hale/forecast.h"
#include "hale/metrics.h"
#include "util/buf.h"
#include "util/hashmap.h"

#define HALE__METRICS_FORECAST_H    24u    /* capacity forecasts look this many hours ahead */
#define HALE__METRICS_MIN_HISTORY   10u    /* finite buckets before any prediction */
#define HALE__METRICS_HISTORY_DAYS  2u     /* buckets kept: this many days of step_s */
#define HALE__METRICS_MAX_BUCKETS   4096u  /* and never more */
#define HALE__METRICS_JOB_SERIES    256u   /* series one job fits at most */
#define HALE__METRICS_REFIT_H       12u    /* a forecast is refit on schedule after this long */
#define HALE__METRICS_CLEAR_RUNS    2u     /* evaluations without the prediction that end it */
#define HALE__METRICS_DRIFT_MIN_PTS 10u    /* checks before drift may be declared */
#define HALE__METRICS_SHIFT_START   500u   /* samples before the score distribution is watched */
#define HALE__METRICS_SHIFT_SHORT   30.0   /* half-life (samples) of the recent mean score */
#define HALE__METRICS_SHIFT_LONG    1000.0 /* half-life (samples) of the long-run mean score */
#define HALE__METRICS_SHIFT_LEVEL   0.2    /* a recent mean above this, and */
#define HALE__METRICS_SHIFT_RATIO   4.0    /* this many times the long-run mean, is a shift */
#define HALE__METRICS_SHIFT_COOL    10u    /* drift windows between two detector refits */

/* The bucketed history forecasts use: one value per step_s (the last sample in it), NaN for
 * buckets without samples. */
struct hale__metrics_ring {
    float *v;       /* cap values, bucket b at v[b % cap] */
    uint32_t cap;   /* buckets kept */
    uint32_t n;     /* buckets filled, counting back from head */
    int64_t head_b; /* newest bucket index (t_ms / step_ms) */
};

/* A capacity forecast, made at fit time from the buckets up to end_b. */
struct hale__metrics_fc {
    int64_t end_b;    /* last bucket the fit used; point k forecasts bucket end_b + 1 + k */
    uint32_t horizon; /* points */
    float *point, *lo80, *hi80, *lo95, *hi95; /* horizon values each, one allocation */
    hale_forecast_fit fit;                    /* what made it */
    int64_t fitted_ms;                        /* wall clock of the fit */
};

struct hale__metrics_series {
    uint32_t id;                         /* index in the registry's list */
    char *key;                           /* identity, owned */
    hale_sample ident;                   /* name and labels (value and t_ms unused), owned block */
    void *ident_block;                   /* the block ident's strings live in */
    hale_detect *det;                    /* the anomaly detector, owned */
    uint64_t samples;                    /* samples seen (restored across restarts) */
    int64_t newest_ms;                   /* newest sample learned */
    double last_value;                   /* its value */
    double last_score;                   /* the detector's last score */
    hale_metrics_hyst hyst;              /* anomaly state */
    const hale_metrics_rule_config *exh; /* exhaustion rule, borrowed from the config; NULL */
    bool capacity;                       /* a capacity rule names it */
    struct hale__metrics_ring *ring;     /* NULL unless exh or capacity */
    struct hale__metrics_fc *fc;         /* newest forecast, NULL before the first fit */
    uint64_t version;                    /* bumped when the ring changes */
    uint64_t evaluated;                  /* version at the last evaluation */
    bool in_job;                         /* a job holds a copy of its history */
    bool exh_firing;                     /* the exhaustion prediction holds */
    unsigned exh_clear;                  /* consecutive evaluations without it */
    double exh_probability;              /* last evaluation's probability */
    int64_t exh_expected_ms;             /* and expected crossing (0 when none) */
    uint64_t drift_bits[4];   /* ring of the last checks: bit set = outside the 95 % band */
    uint32_t drift_n;         /* checks in the ring (<= drift_window) */
    uint32_t drift_pos;       /* next slot */
    const char *refit_reason; /* static; non-NULL when a refit is due */
    double refit_miss_ratio;  /* what triggered it */
    double score_short;       /* EW mean of recent scores (HALE__METRICS_SHIFT_SHORT) */
    double score_long;        /* EW mean of scores over the long run */
    uint32_t shift_run;       /* consecutive samples with the recent mean shifted */
    uint64_t det_refit_at;    /* samples at the last detector refit (0: none) */
    bool det_refit_due;       /* the score distribution shifted: refit the detector */
    bool dirty;               /* changed since the last snapshot */
};

struct hale_metrics {
    hale_config *cfg;                     /* one reference; cfg->metrics is what we use */
    hale_metrics_sink sink;               /* where signals go */
    hale_map *by_key;                     /* key -> series */
    struct hale__metrics_series **series; /* by id, owned */
    size_t n_series, cap_series;
    uint32_t snap_cursor;       /* where the next partial snapshot starts */
    uint32_t job_cursor;        /* where the next job's planning starts */
    hale_metrics_counts counts; /* for /metrics */
    hale_buf key;               /* scratch: the key of the sample being looked up */
};

/* metrics_sample.c */
#define HALE__METRICS_MAX_KEY (1u << 20) /* bytes of a series key */
/* Append the series key of s (hale_metrics_series_key's text) to b. Returns 0 or an error of
 * hale_buf. */
int hale__metrics_series_key_append(hale_buf *b, const hale_sample *s);
/* Copy src's name and labels (already checked and sorted) into one new block (*ret_block, free
 * it) that *dst points into. Returns 0 or -ENOMEM. */
int hale__metrics_sample_copy(const hale_sample *src, hale_sample *dst, void **ret_block);

/* metrics.c */
/* The series for s, created when absent (HALE_ELIMIT over the cap). */
int hale__metrics_series_get(hale_metrics *m, const hale_sample *s,
                             struct hale__metrics_series **ret);
/* The step of the histories in ms. */
int64_t hale__metrics_step_ms(const hale_metrics *m);

/* metrics_model.c */
int hale__metrics_ring_new(uint32_t cap, struct hale__metrics_ring **ret);
void hale__metrics_ring_free(struct hale__metrics_ring *r);
/* Put a learned sample in its bucket; checks the closed bucket against the forecast. */
void hale__metrics_ring_add(hale_metrics *m, struct hale__metrics_series *s, int64_t t_ms,
                            double v);
void hale__metrics_fc_free(struct hale__metrics_fc *fc);
json_t *hale__metrics_fit_json(const hale_forecast_fit *f);

/* metrics_state.c */
json_t *hale__metrics_labels_json(const hale_sample *s);
