/* agent/loop/loop_run.c - running the controller: signals, periodic timers, the per-turn
 * commit, configuration reload, and the ordered shutdown. */
#include "internal.h"

#include <signal.h>
#include <unistd.h>

#define HALE_LOG_MODULE "loop"
#include "hale/audit_query.h"
#include "hale/log.h"
#include "loop/loop_int.h"
#include "util/timeutil.h"

#define LAG_SAMPLE_MS       250u
#define DRAIN_POLL_MS       10u
#define MAINTENANCE_MS      (3600u * 1000u)
#define PRUNE_ROWS_PER_TURN 5000
#define CHECKPOINT_MS       100u

static void on_flush_check(uv_check_t *h)
{
    hale__loop_flush(h->data);
}

static void on_lag_timer(uv_timer_t *t)
{
    hale_loop *l = t->data;
    uint64_t now = uv_now(&l->uv);
    uint64_t elapsed = now - l->lag_last_ms;

    l->stats.lag_s = elapsed > LAG_SAMPLE_MS ? (double)(elapsed - LAG_SAMPLE_MS) / 1000.0 : 0;
    if (l->stats.lag_s > l->stats.lag_max_s)
        l->stats.lag_max_s = l->stats.lag_s;
    l->lag_last_ms = now;
}

static void on_maintenance(uv_timer_t *t)
{
    hale_loop *l = t->data;
    int64_t keep_ms = (int64_t)l->cfg->event_retention_days * 86400 * 1000;
    int r;

    if (keep_ms == 0 || !hale__loop_store_idle(l))
        return; /* the next hour's turn catches up */
    r = hale_store_begin(l->store);
    if (r == 0)
        r = hale_store_events_prune(l->store, hale_time_now_ms() - keep_ms, PRUNE_ROWS_PER_TURN);
    if (r >= 0) {
        int deleted = r;

        r = hale_store_commit(l->store);
        if (r == 0 && deleted > 0)
            log_info("deleted %d events older than %llu days", deleted,
                     (unsigned long long)l->cfg->event_retention_days);
    } else {
        hale_store_rollback(l->store);
    }
    if (r < 0)
        log_warn("cannot prune old events: %s, ignoring", hale_strerror(r));
}

#define INDEX_BATCH    256       /* audit leaves indexed per catch-up call */
#define INDEX_SLICE_NS 50000000u /* at most this long indexing per checkpoint turn */

static void checkpoint_work(uv_work_t *w)
{
    hale_loop *l = w->data;
    uint64_t t0 = uv_hrtime();

    (void)hale_store_checkpoint(l->checkpointer, NULL); /* the writer's own one is the backstop */
    /* The audit log's query side tables follow the log here, off the append path; a failure
     * is retried at the next turn, and queries scan what is not indexed yet. */
    while (hale_audit_index_catchup(l->checkpointer, INDEX_BATCH) == INDEX_BATCH &&
           uv_hrtime() - t0 < INDEX_SLICE_NS)
        ;
}

static void checkpoint_done(uv_work_t *w, int status)
{
    (void)status;
    ((hale_loop *)w->data)->ckpt_running = false;
}

static void on_checkpoint_timer(uv_timer_t *t)
{
    hale_loop *l = t->data;

    hale__loop_flush_idle(l);
    if (l->ckpt_running)
        return;
    l->ckpt_work.data = l;
    if (uv_queue_work(&l->uv, &l->ckpt_work, checkpoint_work, checkpoint_done) == 0)
        l->ckpt_running = true;
}

static void close_handles(hale_loop *l);

static void on_drain_timer(uv_timer_t *t)
{
    hale_loop *l = t->data;
    bool quiet = l->n_pending == 0 && hale__loop_store_idle(l) && !hale__loop_heal_busy(l) &&
                 (!l->http || hale_http_server_connections(l->http) == 0);

    if (!quiet && uv_now(&l->uv) < l->drain_deadline_ms)
        return;
    if (!quiet)
        log_warn("shutdown deadline reached with %zu connections open, closing them",
                 l->http ? hale_http_server_connections(l->http) : 0);
    /* Whatever is still pending is committed; an in-flight commit completes before the loop
     * ends, since its work request keeps the loop alive. */
    hale__loop_flush(l);
    close_handles(l);
}

void hale_loop_stop(hale_loop *l)
{
    if (l->draining)
        return;
    l->draining = true;
    log_notice("shutting down: intake stopped, answering requests already accepted");
    if (l->http)
        hale_http_server_drain(l->http);
    l->drain_deadline_ms = uv_now(&l->uv) + l->cfg->shutdown_timeout_s * 1000u;
    (void)uv_timer_start(&l->drain_timer, on_drain_timer, DRAIN_POLL_MS, DRAIN_POLL_MS);
}

int hale_loop_reload(hale_loop *l, hale_diag *reterr)
{
    hale_http_limits lim;
    hale_config *next = NULL;
    int r;

    if (!l->config_path) {
        hale_diag_set(reterr, "running on built-in defaults: no file to reload");
        return HALE_ECONFIG;
    }
    r = hale_config_load(l->config_path, &next, reterr);
    if (r == 0)
        r = hale_config_check_reload(l->cfg, next, reterr);
    if (r < 0) {
        hale_config_unref(next);
        return r;
    }
    (void)hale_log_configure(next->log_level);
    hale_http_limits_default(&lim);
    lim.max_body_bytes = next->max_body_bytes;
    lim.max_connections = (unsigned)next->max_connections;
    lim.idle_timeout_ms = next->idle_timeout_s * 1000u;
    lim.request_timeout_ms = next->request_timeout_s * 1000u;
    if (l->http)
        hale_http_server_set_limits(l->http, &lim);
    hale_config_unref(l->cfg);
    l->cfg = next;
    /* The incident manager belongs to the commit job while one runs: regroup after it. */
    l->regroup = true;
    hale__loop_apply_grouping(l);
    if (l->audit && hale__loop_audit_config_reloaded(l) < 0)
        log_warn("cannot queue the config_reload audit leaf: out of memory");
    return 0;
}

static void reload_config(hale_loop *l)
{
    hale_diag diag = {{0}};

    if (!l->config_path)
        return;
    if (hale_loop_reload(l, &diag) < 0) {
        l->stats.reload_failures++;
        log_err("config reload failed, keeping the running config: %s", diag.msg);
        return;
    }
    l->stats.reloads++;
    log_notice("config reloaded from '%s'", l->config_path);
}

/* SIGHUP: the config first (policies_dir may have moved), then the policy set, which reloads
 * even when the config did not. */
static void on_hangup(hale_loop *l)
{
    hale_diag diag = {{0}};

    reload_config(l);
    if (hale_loop_policy_reload(l, &diag) < 0)
        log_err("policy reload failed, keeping the policies in force: %s", diag.msg);
    if (hale__loop_heal_reload(l, &diag) < 0)
        log_err("tool catalog or runbook reload failed, keeping those in force: %s", diag.msg);
}

static void on_signal(uv_signal_t *h, int signum)
{
    hale_loop *l = h->data;

    if (signum == SIGHUP) {
        on_hangup(l);
        return;
    }
    log_notice("received %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    hale_loop_stop(l);
}

static void on_http_closed(void *ud)
{
    ((hale_loop *)ud)->http = NULL;
}

static void close_handles(hale_loop *l)
{
    uv_handle_t *handles[] = {(uv_handle_t *)&l->sig_term,          (uv_handle_t *)&l->sig_int,
                              (uv_handle_t *)&l->sig_hup,           (uv_handle_t *)&l->flush_check,
                              (uv_handle_t *)&l->lag_timer,         (uv_handle_t *)&l->drain_timer,
                              (uv_handle_t *)&l->maintenance_timer, (uv_handle_t *)&l->ckpt_timer};

    if (l->closed)
        return;
    l->closed = true;
    hale__loop_llm_close(l);
    hale__loop_heal_close(l);
    hale__loop_metrics_close(l);
    if (l->http)
        hale_http_server_close(l->http, on_http_closed, l);
    for (size_t i = 0; i < HALE_ARRAY_SIZE(handles); i++)
        if (handles[i]->type != UV_UNKNOWN_HANDLE && !uv_is_closing(handles[i]))
            uv_close(handles[i], NULL);
}

static int start_handles(hale_loop *l)
{
    int r;

    uv_signal_init(&l->uv, &l->sig_term);
    uv_signal_init(&l->uv, &l->sig_int);
    uv_signal_init(&l->uv, &l->sig_hup);
    uv_check_init(&l->uv, &l->flush_check);
    uv_timer_init(&l->uv, &l->lag_timer);
    uv_timer_init(&l->uv, &l->drain_timer);
    uv_timer_init(&l->uv, &l->maintenance_timer);
    uv_timer_init(&l->uv, &l->ckpt_timer);
    l->sig_term.data = l->sig_int.data = l->sig_hup.data = l;
    l->flush_check.data = l;
    l->lag_timer.data = l->drain_timer.data = l->maintenance_timer.data = l;
    l->ckpt_timer.data = l;
    r = uv_signal_start(&l->sig_term, on_signal, SIGTERM);
    if (r == 0)
        r = uv_signal_start(&l->sig_int, on_signal, SIGINT);
    if (r == 0)
        r = uv_signal_start(&l->sig_hup, on_signal, SIGHUP);
    if (r == 0)
        r = uv_check_start(&l->flush_check, on_flush_check);
    l->lag_last_ms = uv_now(&l->uv);
    if (r == 0)
        r = uv_timer_start(&l->lag_timer, on_lag_timer, LAG_SAMPLE_MS, LAG_SAMPLE_MS);
    if (r == 0)
        r = uv_timer_start(&l->maintenance_timer, on_maintenance, 60000, MAINTENANCE_MS);
    if (r == 0)
        r = uv_timer_start(&l->ckpt_timer, on_checkpoint_timer, CHECKPOINT_MS, CHECKPOINT_MS);
    if (r == 0)
        hale__loop_metrics_start(l);

    /* Handles keep the loop alive; the lag and maintenance timers must not hold shutdown. */
    return r;
}

int hale_loop_run(hale_loop *l)
{
    int r = start_handles(l);

    if (r == 0)
        r = hale__loop_heal_start(l);
    if (r < 0) {
        close_handles(l);
        (void)uv_run(&l->uv, UV_RUN_DEFAULT);
        return r;
    }
    r = hale__loop_redeliver(l);
    if (r < 0)
        log_warn("cannot read pending stage work: %s, ignoring", hale_strerror(r));
    log_notice("hale %s listening on %s (port %u), data_dir '%s', store_sync %s", HALE_VERSION,
               l->cfg->listen, (unsigned)hale_loop_port(l), l->cfg->data_dir, l->cfg->store_sync);
    (void)uv_run(&l->uv, UV_RUN_DEFAULT);
    log_notice("stopped");
    return 0;
}

/* Membership pairs are written about once a second; write the rest before the store closes. */
static int write_last_pairs(hale_loop *l)
{
    int r = hale_store_begin(l->store);

    if (r == 0)
        r = hale_incidents_flush(l->incidents, hale_time_now_ms(), true);
    if (r == 0)
        r = hale_store_commit(l->store);
    else
        hale_store_rollback(l->store);
    if (r == 0)
        hale_incidents_committed(l->incidents, NULL, NULL);
    return r;
}

void hale_loop_free(hale_loop *l)
{
    if (!l)
        return;
    close_handles(l);
    (void)uv_run(&l->uv, UV_RUN_DEFAULT);
    if (uv_loop_close(&l->uv) != 0)
        log_warn("event loop closed with handles still open, ignoring");
    if (l->store && l->incidents && write_last_pairs(l) < 0)
        log_warn("cannot write incident membership at exit (rebuilt at next start), ignoring");
    hale__loop_heal_free(l); /* its unfinished writes are dropped with the queue below */
    free(l->writes);
    free(l->job.writes);
    hale__loop_metrics_free(l);
    hale__loop_audit_close(l, l->draining ? "shutdown" : "stopped");
    hale__loop_llm_free(l);
    hale__loop_policy_close(l);
    free(l->job.audit_items);
    hale_incidents_free(l->incidents);
    hale_store_free(l->reader);
    hale_store_free(l->checkpointer);
    hale_store_free(l->store);
    free(l->job.items);
    hale_buf_release(&l->job.normalized);
    hale_api_free(l->api);
    free(l->pending);
    free(l->stage_queue);
    free(l->config_path);
    hale_config_unref(l->cfg);
    if (l->lock_fd >= 0)
        close(l->lock_fd); /* last: the store is closed, another hale may take over */
    free(l);
}
