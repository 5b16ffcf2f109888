/* agent/loop/loop_stages.c - handing incidents to the stages that work on their state, from
 * the durable outbox: once after the commit that moved them, and again after a restart while
 * the work item is unfinished. */
#include "internal.h"

#define HALE_LOG_MODULE "loop"
#include "hale/log.h"
#include "loop/loop_int.h"
#include "util/alloc.h"
#include "util/timeutil.h"

int hale_loop_register_stage(hale_loop *l, const hale_stage *stage)
{
    if ((unsigned)stage->state >= HALE_INCIDENT__STATE_COUNT || !stage->on_enter)
        return -EINVAL;
    if (l->stages[stage->state].on_enter)
        return -EEXIST;
    l->stages[stage->state] = *stage;
    hale_incidents_set_staged(l->incidents, stage->state, true);
    return 0;
}

static void enqueue(hale_loop *l, const struct stage_item *it)
{
    void *arr = l->stage_queue;

    if (hale_grow(&arr, &l->cap_stage_queue, l->n_stage_queue, sizeof(*l->stage_queue)) < 0) {
        /* The item stays pending in the outbox and is delivered after the next restart. */
        log_err("out of memory queueing incident %lld for a stage, ignoring",
                (long long)it->incident_id);
        return;
    }
    l->stage_queue = arr;
    l->stage_queue[l->n_stage_queue++] = *it;
}

void hale__loop_entered(void *ud, int64_t incident_id, hale_incident_state s, int64_t outbox_id)
{
    struct stage_item it = {.incident_id = incident_id, .state = s, .outbox_id = outbox_id};

    enqueue(ud, &it);
}

static int finish_item(hale_loop *l, int64_t outbox_id, const char *error)
{
    int r = hale__loop_store_idle(l) ? hale_store_begin(l->store) : HALE_EBUSY;

    if (r == 0)
        r = hale_store_outbox_finish(l->store, outbox_id, hale_time_now_ms(), error);
    if (r == 0)
        r = hale_store_commit(l->store);
    else
        hale_store_rollback(l->store);
    return r;
}

static void deliver(hale_loop *l, const struct stage_item *it)
{
    const hale_stage *st = &l->stages[it->state];
    hale_incident_view v;

    if (hale_incidents_view(l->incidents, it->incident_id, &v) < 0 || v.state != it->state) {
        /* The incident moved on (or closed) before its stage saw it. */
        if (finish_item(l, it->outbox_id, "superseded") < 0)
            log_warn("cannot finish work item %lld, ignoring", (long long)it->outbox_id);
        return;
    }
    v.outbox_id = it->outbox_id;
    v.attempt = it->attempt;
    st->on_enter(st->ud, &v);
}

/* Stages may move incidents from on_enter, which queues more items: drain until empty, and do
 * not re-enter from a nested commit. */
void hale__loop_dispatch_stages(hale_loop *l)
{
    if (l->dispatching)
        return;
    l->dispatching = true;
    while (l->n_stage_queue > 0) {
        struct stage_item it = l->stage_queue[0];

        memmove(l->stage_queue, l->stage_queue + 1,
                (l->n_stage_queue - 1) * sizeof(*l->stage_queue));
        l->n_stage_queue--;
        if (l->stages[it.state].on_enter)
            deliver(l, &it);
    }
    l->dispatching = false;
}

static int redeliver_one(const hale_outbox_rec *o, void *ud)
{
    hale_loop *l = ud;
    hale_incident_state s;
    struct stage_item it;

    if (strncmp(o->kind, "stage:", 6) != 0 || hale_incident_state_parse(o->kind + 6, &s) < 0 ||
        !l->stages[s].on_enter)
        return 0;
    it = (struct stage_item){.incident_id = o->incident_id,
                             .state = s,
                             .outbox_id = o->id,
                             .attempt = (unsigned)o->attempts + 1};
    enqueue(l, &it);
    return 0;
}

int hale__loop_redeliver(hale_loop *l)
{
    int r = hale_store_outbox_pending_each(l->store, redeliver_one, l);

    if (r == 0)
        hale__loop_dispatch_stages(l);
    return r;
}

static int run_transition(hale_loop *l, int64_t outbox_id, int64_t incident_id,
                          hale_incident_state to, const char *reason, const char *error)
{
    hale_incident_view v;
    int64_t now_ms = hale_time_now_ms();
    int r;

    if (!hale__loop_store_idle(l))
        return HALE_EBUSY;
    r = hale_store_begin(l->store);

    if (r == 0 && outbox_id)
        r = hale_store_outbox_finish(l->store, outbox_id, now_ms, error);
    if (r == 0 &&
        !(outbox_id && hale_incidents_view(l->incidents, incident_id, &v) == 0 && v.state == to))
        r = hale_incidents_transition(l->incidents, incident_id, to, reason, now_ms);
    if (r == 0)
        r = hale_incidents_flush(l->incidents, now_ms, false);
    if (r == 0)
        r = hale_store_commit(l->store);
    if (r < 0) {
        hale_store_rollback(l->store);
        (void)hale_incidents_aborted(l->incidents);
        return r;
    }
    hale_incidents_committed(l->incidents, hale__loop_entered, l);
    hale__loop_stats_refresh(l);
    hale__loop_dispatch_stages(l);
    return 0;
}

int hale_loop_incident_transition(hale_loop *l, int64_t incident_id, hale_incident_state to,
                                  const char *reason)
{
    return run_transition(l, 0, incident_id, to, reason, NULL);
}

int hale_loop_stage_done(hale_loop *l, int64_t outbox_id, int64_t incident_id,
                         hale_incident_state to, const char *reason, const char *error)
{
    return run_transition(l, outbox_id, incident_id, to, reason, error);
}
