/* agent/loop/loop.c - the controller's lifecycle: build every part from the config, run the
 * uv loop, reload on SIGHUP, and shut down in reverse order on SIGTERM/SIGINT: stop intake,
 * answer what was accepted, commit, close handles, close the store. */
#include "internal.h"

#include <signal.h>
#include <sys/stat.h>

#define HALE_LOG_MODULE "loop"
#include "hale/log.h"
#include "loop/loop_int.h"
#include "util/lockfile.h"
#include "util/strparse.h"
#include "util/timeutil.h"

#define WRITER_AUTOCHECKPOINT_PAGES 4096 /* 32 MiB of 8 KiB pages */

static hale_store *api_store(void *ud)
{
    return ((hale_loop *)ud)->reader;
}

static bool api_ready(void *ud, const char **why)
{
    hale_loop *l = ud;

    if (l->draining)
        *why = "shutting down";
    else if (!l->store)
        *why = "store not open";
    else if (l->audit_broken)
        *why = "audit log cannot be sealed";
    else if (l->stats.lag_s > 1.0)
        *why = "event loop lagging";
    else
        return true;
    return false;
}

static const hale_config *api_config(void *ud)
{
    return ((hale_loop *)ud)->cfg;
}

static int64_t api_now(void *ud)
{
    (void)ud;
    return hale_time_now_ms();
}

static int api_pause_get(void *ud, json_t **ret)
{
    return hale__loop_pause_json(ud, ret);
}

static int api_pause_set(void *ud, bool paused, const char *actor, const char *reason,
                         const char *client, hale_diag *reterr)
{
    return hale_loop_set_paused(ud, paused, actor, reason, client, reterr);
}

static hale_approvals *api_approvals(void *ud)
{
    return hale__loop_approvals(ud);
}

static int api_vote(void *ud, int64_t id, const hale_approval_vote *v, json_t **ret,
                    int *reterr_status, hale_diag *reterr)
{
    static const int status[] = {[HALE_LOOP_VOTE_ERROR] = 503,
                                 [HALE_LOOP_VOTE_NOT_FOUND] = 404,
                                 [HALE_LOOP_VOTE_FORBIDDEN] = 403,
                                 [HALE_LOOP_VOTE_CONFLICT] = 409};
    hale_loop_vote_refusal kind = HALE_LOOP_VOTE_ERROR;
    int r = hale__loop_vote(ud, id, v, ret, &kind, reterr);

    if (r < 0)
        *reterr_status = status[kind];
    return r;
}

static void limits_from(const hale_config *c, hale_http_limits *lim)
{
    hale_http_limits_default(lim);
    lim->max_body_bytes = c->max_body_bytes;
    lim->max_connections = (unsigned)c->max_connections;
    lim->idle_timeout_ms = c->idle_timeout_s * 1000u;
    lim->request_timeout_ms = c->request_timeout_s * 1000u;
}

static int make_dir(const char *dir, hale_diag *reterr)
{
    if (mkdir(dir, 0750) == 0 || errno == EEXIST)
        return 0;
    hale_diag_set(reterr, "cannot create data_dir '%s': %s", dir, strerror(errno));
    return -errno;
}

/* Two controllers on one store would hand out the same ids from their own counters. */
static int lock_data_dir(hale_loop *l, hale_diag *reterr)
{
    char path[4096];
    pid_t holder = 0;
    int r;

    snprintf(path, sizeof(path), "%s/hale.lock", l->cfg->data_dir);
    r = hale_lockfile_acquire(path, &l->lock_fd, &holder);
    if (r == -EBUSY)
        hale_diag_set(reterr, "data_dir '%s' is in use by another hale (pid %ld)", l->cfg->data_dir,
                      (long)holder);
    else if (r < 0)
        hale_diag_set(reterr, "cannot lock '%s': %s", path, strerror(-r));
    return r;
}

static int open_store(hale_loop *l, hale_diag *reterr)
{
    const hale_config *c = l->cfg;
    hale_store_opts o = {.sync = strcmp(c->store_sync, "normal") == 0 ? HALE_STORE_SYNC_NORMAL
                                                                      : HALE_STORE_SYNC_FULL};
    char path[4096];
    int r;

    r = make_dir(c->data_dir, reterr);
    if (r == 0)
        r = lock_data_dir(l, reterr);
    if (r < 0)
        return r;
    snprintf(path, sizeof(path), "%s/%s", c->data_dir, HALE_STORE_FILE);
    o.path = path;
    /* Copying the WAL into the database from a thread of its own keeps the writer's own
     * checkpoints short: they stalled intake for up to a quarter of a second. Under load the
     * WAL grew past SQLite's 1000 pages between two of those turns, so the commit job still
     * copied pages itself: its own checkpoint is now only the backstop, at 32 MiB of WAL. */
    o.wal_autocheckpoint = WRITER_AUTOCHECKPOINT_PAGES;
    r = hale_store_open(&o, &l->store, reterr);
    o.wal_autocheckpoint = 0;
    if (r == 0)
        r = hale_store_open(&o, &l->checkpointer, reterr);
    if (r < 0)
        return r;
    /* The API reads through its own connection: the writer belongs to the commit in flight. */
    o.read_only = true;
    r = hale_store_open(&o, &l->reader, reterr);
    if (r < 0)
        return r;
    r = hale_incidents_new(l->store, (const char *const *)c->group_by, c->n_group_by,
                           c->group_window_s * 1000u, &l->incidents);
    if (r < 0)
        hale_diag_set(reterr, "cannot load incidents from '%s': %s", path, hale_strerror(r));
    return r;
}

static int open_http(hale_loop *l, hale_diag *reterr)
{
    hale_api_ops ops = {.submit = hale__loop_submit,
                        .store = api_store,
                        .metrics = hale__loop_metrics,
                        .ready = api_ready,
                        .now_ms = api_now,
                        .config = api_config,
                        .pause_get = api_pause_get,
                        .pause_set = api_pause_set,
                        .approvals = api_approvals,
                        .vote = api_vote,
                        .tool_run = hale__loop_heal_tool_run,
                        .metrics_ingest = hale__loop_api_metrics_ingest,
                        .metrics_max_samples = hale__loop_api_metrics_max,
                        .forecasts = hale__loop_api_forecasts};
    hale_http_limits lim;
    char host[256];
    uint16_t port;
    int r;

    r = hale_parse_hostport(l->cfg->listen, host, sizeof(host), &port);
    if (r < 0) {
        hale_diag_set(reterr, "listen: expected host:port, got '%s'", l->cfg->listen);
        return HALE_ECONFIG;
    }
    r = hale_api_new(&ops, l, &l->api);
    if (r < 0)
        return r;
    limits_from(l->cfg, &lim);
    r = hale_http_server_new(&l->uv, &lim, hale_api_handle, l->api, &l->http);
    if (r < 0)
        return r;
    hale_http_server_set_observer(l->http, hale_api_observe, l->api);
    return hale_http_server_listen(l->http, host, port, reterr);
}

int hale_loop_new(hale_config *cfg, const char *config_path, hale_loop **ret, hale_diag *reterr)
{
    hale_loop *l = calloc(1, sizeof(*l));
    int r;

    if (!l)
        return -ENOMEM;
    r = uv_loop_init(&l->uv);
    if (r < 0) {
        free(l);
        return r;
    }
    l->lock_fd = -1;
    hale_buf_init(&l->job.normalized, HALE_MAX_BODY_BYTES);
    l->cfg = hale_config_ref(cfg);
    l->started_ms = hale_time_now_ms();
    if (hale_log_configure(cfg->log_level) < 0) {
        hale_diag_set(reterr, "log_level: invalid '%s'", cfg->log_level);
        r = HALE_ECONFIG;
        goto fail;
    }
    hale__loop_stats_init(&l->stats);
    if (config_path && !(l->config_path = strdup(config_path))) {
        r = -ENOMEM;
        goto fail;
    }
    r = open_store(l, reterr);
    if (r == 0)
        r = hale__loop_audit_open(l, reterr);
    if (r == 0 && (r = hale__loop_llm_open(l, reterr)) < 0)
        hale_diag_prefix(reterr, "llm");
    if (r == 0)
        r = hale__loop_policy_open(l, reterr);
    if (r == 0 && (r = hale__loop_metrics_open(l, reterr)) < 0)
        hale_diag_prefix(reterr, "metrics");
    if (r == 0)
        r = hale__loop_heal_open(l, reterr);
    if (r == 0)
        r = open_http(l, reterr);
    if (r < 0)
        goto fail;
    hale__loop_stats_refresh(l);
    *ret = l;
    return 0;
fail:
    hale_loop_free(l);
    return r;
}

uint16_t hale_loop_port(const hale_loop *l)
{
    return l->http ? hale_http_server_port(l->http) : 0;
}
