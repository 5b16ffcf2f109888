/* agent/loop/loop_metrics.c - the controller's own metric families for GET /metrics:
 * intake, incidents by state, store commit latency, loop lag, build info. */
#include "internal.h"

#include "loop/loop_int.h"

void hale__loop_stats_init(struct loop_stats *st)
{
    static const double commit_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                           0.01,   0.025,   0.05,   0.1,   0.25,   1};
    static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};

    memset(st, 0, sizeof(*st));
    hale_histogram_init(&st->commit_s, commit_bounds, HALE_ARRAY_SIZE(commit_bounds));
    hale_histogram_init(&st->batch_size, batch_bounds, HALE_ARRAY_SIZE(batch_bounds));
}

void hale__loop_stats_refresh(hale_loop *l)
{
    l->stats.incidents_active = hale_incidents_active(l->incidents);
    l->stats.alerts_known = hale_incidents_cached_alerts(l->incidents);
    if (l->audit)
        hale_audit_head(l->audit, &l->stats.audit_leaves, NULL);
    l->stats.audit_sealed = l->audit_sealed;
    l->stats.audit_epoch = l->audit_epoch;
}

static int counter(hale_buf *b, const char *name, const char *help, uint64_t v)
{
    int r = hale_prom_family(b, name, "counter", help);

    return r ? r : hale_prom_sample(b, name, NULL, (double)v);
}

static int gauge(hale_buf *b, const char *name, const char *help, double v)
{
    int r = hale_prom_family(b, name, "gauge", help);

    return r ? r : hale_prom_sample(b, name, NULL, v);
}

static int count_state(const char *state, int64_t n, void *ud)
{
    int64_t *counts = ud;
    hale_incident_state s;

    if (hale_incident_state_parse(state, &s) == 0)
        counts[s] = n;
    return 0;
}

/* Every state is listed, zeros included, so dashboards see the whole machine. */
static int incidents_by_state(hale_loop *l, hale_buf *b)
{
    int64_t counts[HALE_INCIDENT__STATE_COUNT] = {0};
    int r = hale_store_incident_counts(l->reader, count_state, counts);

    if (r == 0)
        r = hale_prom_family(b, "hale_incidents", "gauge", "Incidents in the store, by state.");
    for (unsigned s = 0; r == 0 && s < HALE_INCIDENT__STATE_COUNT; s++)
        r = hale_prom_sample(
            b, "hale_incidents",
            (const char *const[]){"state", hale_incident_state_name((hale_incident_state)s), NULL},
            (double)counts[s]);
    return r;
}

int hale__loop_metrics(void *ud, hale_buf *b)
{
    hale_loop *l = ud;
    const struct loop_stats *st = &l->stats;
    int r;

    r = counter(b, "hale_alerts_accepted_total", "Alerts durably accepted.", st->alerts_accepted);
    if (r == 0)
        r = counter(b, "hale_intake_requests_accepted_total",
                    "Webhook and event requests durably accepted.", st->requests_accepted);
    if (r == 0)
        r = counter(b, "hale_store_commit_failures_total",
                    "Store transactions that failed and were answered 503.", st->commit_failures);
    if (r == 0)
        r = hale_prom_histogram(b, "hale_store_commit_duration_seconds",
                                "Time to write and commit one batch of requests.", &st->commit_s);
    if (r == 0)
        r = hale_prom_histogram(b, "hale_store_batch_requests",
                                "Requests committed per store transaction.", &st->batch_size);
    if (r == 0)
        r = incidents_by_state(l, b);
    if (r == 0)
        r = gauge(b, "hale_incidents_active_cached", "Active incidents held in memory.",
                  (double)st->incidents_active);
    if (r == 0)
        r = gauge(b, "hale_alerts_known",
                  "Distinct alerts in the in-memory deduplication map (about 120 bytes each).",
                  (double)st->alerts_known);
    if (r == 0)
        r = gauge(b, "hale_loop_lag_seconds", "Event loop lag at the last sample.", st->lag_s);
    if (r == 0)
        r = gauge(b, "hale_loop_lag_max_seconds", "Largest event loop lag since start.",
                  st->lag_max_s);
    if (r == 0)
        r = gauge(b, "hale_audit_leaves", "Leaves in the audit log.", (double)st->audit_leaves);
    if (r == 0)
        r = gauge(b, "hale_audit_sealed_leaves",
                  "Audit leaves covered by the newest signed checkpoint.",
                  (double)st->audit_sealed);
    if (r == 0)
        r = gauge(b, "hale_audit_key_epoch", "Signing key epoch of the audit log.",
                  (double)st->audit_epoch);
    if (r == 0)
        r = counter(b, "hale_audit_seal_failures_total",
                    "Signed checkpoints that could not be made or stored.",
                    st->audit_seal_failures);
    if (r == 0)
        r = counter(b, "hale_config_reloads_total", "Successful configuration reloads.",
                    st->reloads);
    if (r == 0)
        r = counter(b, "hale_config_reload_failures_total",
                    "Rejected configuration reloads (old config kept).", st->reload_failures);
    if (r == 0)
        r = counter(b, "hale_policy_reloads_total",
                    "Successful policy set reloads (SIGHUP) since start.", st->policy_reloads);
    if (r == 0)
        r = counter(b, "hale_policy_reload_failures_total",
                    "Rejected policy reloads (the set in force was kept).",
                    st->policy_reload_failures);
    if (r == 0 && l->policy)
        r = gauge(b, "hale_policy_rules", "Rules in the policy set in force.",
                  (double)hale_policy_rule_count(l->policy));
    if (r == 0)
        r = gauge(b, "hale_paused", "1 while the global kill switch (hale pause) is on.",
                  l->paused ? 1 : 0);
    if (r == 0)
        r = hale__loop_metrics_families(l, b);
    if (r == 0)
        r = gauge(b, "process_start_time_seconds", "Start time of the process, unix seconds.",
                  (double)l->started_ms / 1000.0);
    if (r == 0)
        r = hale_prom_family(b, "hale_build_info", "gauge", "Build of this hale, value 1.");
    if (r == 0)
        r = hale_prom_sample(
            b, "hale_build_info",
            (const char *const[]){"version", HALE_VERSION, "revision", HALE_REVISION, NULL}, 1);
    return r;
}
