/* agent/loop/loop_metrics_src.c - the metric sources and the periodic work of the series
 * models, wired into the loop: the host collector and the fitting jobs run on the threadpool,
 * the Prometheus poller on curl multi in the loop, model state is snapshotted to the store in
 * batches on a connection of its own (and all of it at shutdown), and restored at start. */
#include "internal.h"

#define HALE_LOG_MODULE "metrics"
#include "hale/log.h"
#include "loop/loop_metrics_int.h"
#include "util/timeutil.h"

#define SNAP_BATCH    512u /* series states per snapshot transaction */
#define HOST_FIRST_MS 100u /* the first host collection, soon after start */
#define EVAL_MIN_MS   250u /* fitting jobs never start more often */
#define PROC_ROOT     "/proc"

static int open_store(struct hale__loop_metrics *lm, hale_diag *reterr)
{
    const hale_config *c = lm->l->cfg;
    hale_store_opts o = {.sync = HALE_STORE_SYNC_NORMAL};
    char path[4096];

    /* Model state is rebuilt by learning: NORMAL durability is enough, and keeps its batches
     * from waiting on an fsync. */
    snprintf(path, sizeof(path), "%s/%s", c->data_dir, HALE_STORE_FILE);
    o.path = path;
    return hale_store_open(&o, &lm->store, reterr);
}

static void restore(struct hale__loop_metrics *lm)
{
    size_t ok = 0, bad = 0;
    hale_diag d = {{0}};

    if (hale_metrics_state_load(lm->store, lm->reg, &ok, &bad, &d) < 0)
        log_warn("cannot read saved series state: %s, starting fresh", d.msg);
    else if (ok || bad)
        log_info("restored the models of %zu series (%zu saved states not usable)", ok, bad);
}

int hale__loop_metrics_open(hale_loop *l, hale_diag *reterr)
{
    const hale_metrics_config *mc = &l->cfg->metrics;
    hale_metrics_sink sink = {.signal = hale__loop_metrics_on_signal,
                              .refit_leaf = hale__loop_metrics_on_refit};
    struct hale__loop_metrics *lm = calloc(1, sizeof(*lm));
    int r;

    if (!lm)
        return -ENOMEM;
    lm->l = l;
    l->metrics = lm;
    sink.ud = lm;
    if ((r = hale_metrics_new(l->cfg, &sink, &lm->reg)) < 0 || (r = open_store(lm, reterr)) < 0)
        return r;
    restore(lm);
    if (mc->host_enabled && (r = hale_host_collector_new(PROC_ROOT, &lm->host)) < 0)
        return r;
    if (mc->n_queries && (!(lm->prom_runs = calloc(mc->n_queries, sizeof(uint64_t))) ||
                          !(lm->prom_errors = calloc(mc->n_queries, sizeof(uint64_t)))))
        return -ENOMEM;
    return 0;
}

static void learn_set(struct hale__loop_metrics *lm, hale_sample_set *set, enum metrics_src src)
{
    size_t ok = 0, refused = 0;

    hale__loop_metrics_learn(lm, set, src, &ok, &refused);
}

static void host_work(uv_work_t *w)
{
    struct hale__loop_metrics *lm = w->data;
    uint64_t t0 = uv_hrtime();

    lm->host_diag.msg[0] = '\0';
    lm->host_result = hale_sample_set_new(&lm->host_set);
    if (lm->host_result == 0)
        lm->host_result =
            hale_host_collect(lm->host, hale_time_now_ms(), lm->host_set, &lm->host_diag);
    lm->host_dur_s = (double)(uv_hrtime() - t0) / 1e9;
}

static void host_done(uv_work_t *w, int status)
{
    struct hale__loop_metrics *lm = w->data;
    hale_sample_set *set = lm->host_set;

    lm->host_running = false;
    lm->host_set = NULL;
    lm->st.host_scrapes++;
    lm->st.host_scrape_s = lm->host_dur_s;
    if (status < 0 || lm->host_result < 0) {
        lm->st.host_errors++;
        log_warn("host collection incomplete: %s, ignoring",
                 lm->host_diag.msg[0] ? lm->host_diag.msg : hale_strerror(lm->host_result));
    }
    if (set && !lm->closing)
        learn_set(lm, set, SRC_HOST);
    else
        hale_sample_set_free(set);
}

static void on_host_timer(uv_timer_t *t)
{
    struct hale__loop_metrics *lm = t->data;

    if (lm->host_running || lm->closing)
        return;
    lm->host_work.data = lm;
    if (uv_queue_work(&lm->l->uv, &lm->host_work, host_work, host_done) == 0)
        lm->host_running = true;
}

static void eval_work(uv_work_t *w)
{
    struct hale__loop_metrics *lm = w->data;

    hale_metrics_job_run(lm->job);
}

static void eval_done(uv_work_t *w, int status)
{
    struct hale__loop_metrics *lm = w->data;
    hale_metrics_job *j = lm->job;

    lm->job = NULL;
    lm->st.jobs++;
    lm->st.job_s = (double)(uv_hrtime() - lm->job_t0) / 1e9;
    if (status < 0)
        hale_metrics_job_cancel(lm->reg, j); /* evaluated by a later job */
    else
        hale_metrics_job_apply(lm->reg, j);
}

static void on_eval_timer(uv_timer_t *t)
{
    struct hale__loop_metrics *lm = t->data;
    int r;

    if (lm->job || lm->closing)
        return;
    r = hale_metrics_job_plan(lm->reg, hale_time_now_ms(), &lm->job);
    if (r < 0)
        log_warn("cannot plan model fits: %s, retrying next time", hale_strerror(r));
    if (!lm->job)
        return;
    lm->eval_work.data = lm;
    lm->job_t0 = uv_hrtime();
    if ((r = uv_queue_work(&lm->l->uv, &lm->eval_work, eval_work, eval_done)) < 0) {
        log_warn("cannot queue model fits: %s, retrying next time", uv_strerror(r));
        hale_metrics_job_cancel(lm->reg, lm->job);
        lm->job = NULL;
    }
}

static void snap_work(uv_work_t *w)
{
    struct hale__loop_metrics *lm = w->data;

    lm->snap_diag.msg[0] = '\0';
    lm->snap_result = hale_metrics_state_save(lm->store, lm->snaps, lm->n_snaps, hale_time_now_ms(),
                                              &lm->snap_diag);
}

static void start_snapshot(struct hale__loop_metrics *lm);

static void snap_done(uv_work_t *w, int status)
{
    struct hale__loop_metrics *lm = w->data;
    bool full = lm->n_snaps == SNAP_BATCH;

    lm->snap_running = false;
    if (status < 0 || lm->snap_result < 0) {
        lm->st.snapshot_failures++;
        log_warn("cannot save the state of %zu series: %s, retrying later", lm->n_snaps,
                 status < 0 ? uv_strerror(status) : lm->snap_diag.msg);
        hale_metrics_snaps_failed(lm->reg, lm->snaps, lm->n_snaps);
        full = false;
    } else {
        lm->st.snapshot_rows += lm->n_snaps;
    }
    hale_metrics_snaps_free(lm->snaps, lm->n_snaps);
    lm->snaps = NULL;
    lm->n_snaps = 0;
    if (full && !lm->closing)
        start_snapshot(lm); /* more series changed than one batch holds */
}

static void start_snapshot(struct hale__loop_metrics *lm)
{
    int r;

    if (lm->snap_running || lm->closing)
        return;
    r = hale_metrics_snapshot(lm->reg, SNAP_BATCH, false, &lm->snaps, &lm->n_snaps);
    if (r < 0) {
        log_warn("cannot encode series state: %s, retrying later", hale_strerror(r));
        return;
    }
    if (lm->n_snaps == 0) {
        hale_metrics_snaps_free(lm->snaps, 0);
        lm->snaps = NULL;
        return;
    }
    lm->snap_work.data = lm;
    if ((r = uv_queue_work(&lm->l->uv, &lm->snap_work, snap_work, snap_done)) < 0) {
        hale_metrics_snaps_failed(lm->reg, lm->snaps, lm->n_snaps);
        hale_metrics_snaps_free(lm->snaps, lm->n_snaps);
        lm->snaps = NULL;
        lm->n_snaps = 0;
        return;
    }
    lm->snap_running = true;
}

static void on_snap_timer(uv_timer_t *t)
{
    start_snapshot(t->data);
}

static size_t query_index(const struct hale__loop_metrics *lm, const char *query)
{
    const hale_metrics_config *mc = &lm->l->cfg->metrics;

    for (size_t i = 0; i < mc->n_queries; i++)
        if (strcmp(mc->queries[i].name, query) == 0)
            return i;
    return 0; /* names come from this config */
}

static void prom_samples(const char *query, hale_sample_set *set, void *ud)
{
    struct hale__loop_metrics *lm = ud;

    lm->prom_runs[query_index(lm, query)]++;
    log_debug("query '%s': %zu samples", query, hale_sample_set_size(set));
    learn_set(lm, set, SRC_PROMETHEUS);
}

static void prom_error(const char *query, int err, const char *msg, bool final, void *ud)
{
    struct hale__loop_metrics *lm = ud;

    lm->prom_errors[query_index(lm, query)]++;
    if (final)
        log_err("prometheus query '%s' failed: %s (%s)", query, msg, hale_errname(err));
    else
        log_warn("prometheus query '%s' failed: %s (%s), retrying", query, msg, hale_errname(err));
}

static int64_t prom_now(void *ud)
{
    (void)ud;
    return hale_time_now_ms();
}

void hale__loop_metrics_start(hale_loop *l)
{
    struct hale__loop_metrics *lm = l->metrics;
    const hale_metrics_config *mc = &l->cfg->metrics;
    hale_prom_poller_ops ops = {
        .samples = prom_samples, .error = prom_error, .now_ms = prom_now, .ud = lm};
    uint64_t eval_ms = mc->eval_interval_s * 1000u;
    int r;

    if (!lm || lm->started)
        return;
    lm->started = true;
    uv_timer_init(&l->uv, &lm->host_timer);
    uv_timer_init(&l->uv, &lm->eval_timer);
    uv_timer_init(&l->uv, &lm->snap_timer);
    lm->host_timer.data = lm->eval_timer.data = lm->snap_timer.data = lm;
    if (lm->host)
        uv_timer_start(&lm->host_timer, on_host_timer, HOST_FIRST_MS, mc->host_interval_s * 1000u);
    uv_timer_start(&lm->eval_timer, on_eval_timer, eval_ms < EVAL_MIN_MS ? EVAL_MIN_MS : eval_ms,
                   eval_ms < EVAL_MIN_MS ? EVAL_MIN_MS : eval_ms);
    uv_timer_start(&lm->snap_timer, on_snap_timer, mc->snapshot_interval_s * 1000u,
                   mc->snapshot_interval_s * 1000u);
    if (mc->n_queries > 0 && lm->prom_runs) {
        r = hale_prom_poller_new(&l->uv, l->cfg, &ops, &lm->prom);
        if (r < 0)
            log_err("cannot start the prometheus poller: %s", hale_strerror(r));
        else
            log_info("polling %zu prometheus queries at '%s'", mc->n_queries, mc->prom_url);
    }
    log_info("metrics: host collector %s, %zu series restored, max_series %llu",
             lm->host ? "on" : "off", hale_metrics_series_count(lm->reg),
             (unsigned long long)mc->max_series);
}

void hale__loop_metrics_close(hale_loop *l)
{
    struct hale__loop_metrics *lm = l->metrics;

    if (!lm || lm->closing)
        return;
    lm->closing = true;
    if (lm->prom)
        hale_prom_poller_close(lm->prom, NULL, NULL);
    lm->prom = NULL;
    if (!lm->started)
        return;
    uv_close((uv_handle_t *)&lm->host_timer, NULL);
    uv_close((uv_handle_t *)&lm->eval_timer, NULL);
    uv_close((uv_handle_t *)&lm->snap_timer, NULL);
}

/* After the loop ran out: nothing in flight. Everything that changed since the last batch is
 * written now, so the next start continues from here. */
void hale__loop_metrics_free(hale_loop *l)
{
    struct hale__loop_metrics *lm = l->metrics;
    hale_metrics_snap *snaps = NULL;
    hale_diag d = {{0}};
    size_t n = 0;
    int r;

    if (!lm)
        return;
    if (lm->store && lm->reg) {
        r = hale_metrics_snapshot(lm->reg, 0, true, &snaps, &n);
        if (r == 0 && n > 0)
            r = hale_metrics_state_save(lm->store, snaps, n, hale_time_now_ms(), &d);
        if (r < 0)
            log_warn("cannot save the state of %zu series at exit: %s", n,
                     d.msg[0] ? d.msg : hale_strerror(r));
        else if (n > 0)
            log_info("saved the state of %zu series", n);
        hale_metrics_snaps_free(snaps, n);
    }
    hale_metrics_job_free(lm->job);
    hale_metrics_snaps_free(lm->snaps, lm->n_snaps);
    hale_sample_set_free(lm->host_set);
    hale_host_collector_free(lm->host);
    hale_metrics_free(lm->reg);
    hale_store_free(lm->store);
    free(lm->prom_runs);
    free(lm->prom_errors);
    free(lm);
    l->metrics = NULL;
}
