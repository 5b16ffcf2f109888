/* agent/loop/loop_heal_write.c - the heal module's records, carried out by the commit job: its
 * audit leaves, its heal_action row, its ledger entries and its incident transition go into
 * one transaction of the writer, on the thread that owns the writer at that moment, so the
 * heal module never waits for the writer and never opens a second one. */
#include "internal.h"

#include <stdarg.h>

#define HALE_LOG_MODULE "heal"
#include "hale/log.h"
#include "loop/loop_heal.h"

struct heal_write *hale__heal_write_new(struct heal_case *c)
{
    struct heal_write *w = calloc(1, sizeof(*w));

    if (!w)
        return NULL;
    w->c = c;
    w->incident_id = c ? c->incident_id : 0;
    w->finish = HALE_POLICY_OUTCOME_RUNNING;
    w->row.exit_code = -1;
    return w;
}

void hale__heal_write_free(struct heal_write *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_leaves; i++)
        json_decref(w->leaves[i].payload);
    hale_policy_request_free(w->ledger_req);
    hale__heal_row_release(&w->row);
    free(w);
}

int hale__heal_write_leaf(struct heal_write *w, const char *kind, json_t *payload)
{
    if (!payload)
        return -ENOMEM;
    if (HALE_NEVER(w->n_leaves >= HALE_ARRAY_SIZE(w->leaves))) {
        json_decref(payload);
        return -EOVERFLOW;
    }
    /* A run by hand belongs to no incident. */
    if (w->incident_id <= 0)
        json_object_del(payload, "incident_id");
    snprintf(w->leaves[w->n_leaves].kind, sizeof(w->leaves[0].kind), "%s", kind);
    w->leaves[w->n_leaves++].payload = payload;
    return 0;
}

void hale__heal_write_move(struct heal_write *w, hale_incident_state from, hale_incident_state to,
                           const char *fmt, ...)
{
    va_list ap;

    w->move = true;
    w->from = from;
    w->to = to;
    va_start(ap, fmt);
    vsnprintf(w->reason, sizeof(w->reason), fmt, ap);
    va_end(ap);
}

/* The commit job's thread: only the writer, the audit log, the incident manager, the ledger. */
static int run_write(hale_loop *l, void *ud, int64_t now_ms)
{
    struct heal_write *w = ud;
    sqlite3 *db = hale_store_sqlite(l->store);
    hale_incident_view v;
    int r = 0;

    if (w->ledger_req)
        r = hale_policy_ledger_begin(l->heal->ledger, w->ledger_req, w->automated, now_ms,
                                     &w->row.ledger_id);
    if (r == 0 && w->insert_row)
        r = hale__heal_db_insert(db, &w->row, now_ms);
    else if (r == 0 && w->update_row)
        r = hale__heal_db_update(db, &w->row, now_ms);
    /* The key is known once the row is: every leaf of the write names it. */
    for (size_t i = 0; r == 0 && i < w->n_leaves; i++) {
        if (w->row.idem_key[0] && json_object_set_new(w->leaves[i].payload, "idempotency_key",
                                                      json_string(w->row.idem_key)) < 0)
            r = -ENOMEM;
        if (r == 0)
            r = hale_audit_append(l->audit, w->leaves[i].kind, w->leaves[i].payload,
                                  now_ms * 1000000, NULL, NULL);
    }
    if (r == 0 && w->finish != HALE_POLICY_OUTCOME_RUNNING && w->row.ledger_id > 0) {
        r = hale_policy_ledger_finish(l->heal->ledger, w->row.ledger_id, w->finish, now_ms);
        if (r == HALE_ESTATE || r == HALE_ENOTFOUND)
            r = 0; /* finished already (abandoned at a restart) or pruned */
    }
    if (r == 0 && w->outbox_id > 0)
        r = hale_store_outbox_finish(l->store, w->outbox_id, now_ms, NULL);
    /* Last: the incident manager cannot take back an in-memory move if a later step failed. */
    w->moved = false;
    if (r == 0 && w->move && hale_incidents_view(l->incidents, w->incident_id, &v) == 0 &&
        v.state == w->from && hale_incident_transition_allowed(v.state, w->to)) {
        r = hale_incidents_transition(l->incidents, w->incident_id, w->to, w->reason, now_ms);
        w->moved = r == 0;
    }
    return r;
}

static void unlink_write(struct hale_heal *h, struct heal_write *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        h->writes = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next = w->prev = NULL;
}

static void write_done(hale_loop *l, void *ud, int result, bool committed)
{
    struct heal_write *w = ud;

    w->committed = committed;
    unlink_write(l->heal, w);
    if (result < 0)
        log_err("incident %lld: cannot record %s: %s", (long long)w->incident_id,
                w->n_leaves ? w->leaves[0].kind : "a remediation step", hale_strerror(result));
    if (w->after)
        w->after(w->c, w, result);
    hale__heal_write_free(w);
}

int hale__heal_write_submit(hale_loop *l, struct heal_write *w, bool seal)
{
    struct loop_write lw = {.fn = run_write, .done = write_done, .ud = w, .seal = seal};
    int r = hale__loop_write(l, &lw);

    if (r < 0) {
        hale__heal_write_free(w);
        return r;
    }
    w->next = l->heal->writes;
    if (w->next)
        w->next->prev = w;
    l->heal->writes = w;
    return 0;
}
