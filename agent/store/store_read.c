/* agent/store/store_read.c - the store's queries: rows are turned into borrowed records and
 * handed to a callback, so no caller ever sees a sqlite3_stmt. */
#include "internal.h"

#include "store/store_int.h"

static void row_to_incident(sqlite3_stmt *st, hale_incident_rec *r)
{
    r->id = sqlite3_column_int64(st, 0);
    r->group_key = hale__store_col_text(st, 1);
    r->group_labels = hale__store_col_text(st, 2);
    r->title = hale__store_col_text(st, 3);
    r->state = hale__store_col_text(st, 4);
    r->severity = hale__store_col_text(st, 5);
    r->state_reason = hale__store_col_text(st, 6);
    r->context = hale__store_col_text(st, 7);
    r->created_ms = sqlite3_column_int64(st, 8);
    r->updated_ms = sqlite3_column_int64(st, 9);
    r->state_since_ms = sqlite3_column_int64(st, 10);
    r->last_alert_ms = sqlite3_column_int64(st, 11);
    r->closed_ms = sqlite3_column_int64(st, 12);
    r->alerts_total = sqlite3_column_int64(st, 13);
    r->alerts_firing = sqlite3_column_int64(st, 14);
    r->attempts = sqlite3_column_int64(st, 15);
    r->version = sqlite3_column_int64(st, 16);
}

static void row_to_alert(sqlite3_stmt *st, hale_alert_rec *r)
{
    r->id = sqlite3_column_int64(st, 0);
    r->fingerprint = hale__store_col_text(st, 1);
    r->status = hale__store_col_text(st, 2);
    r->labels = hale__store_col_text(st, 3);
    r->annotations = hale__store_col_text(st, 4);
    r->severity = hale__store_col_text(st, 5);
    r->source = hale__store_col_text(st, 6);
    r->generator_url = hale__store_col_text(st, 7);
    r->starts_ms = sqlite3_column_int64(st, 8);
    r->ends_ms = sqlite3_column_int64(st, 9);
    r->first_seen_ms = sqlite3_column_int64(st, 10);
    r->last_seen_ms = sqlite3_column_int64(st, 11);
    r->seen_count = sqlite3_column_int64(st, 12);
    r->incident_id = sqlite3_column_int64(st, 13);
    r->last_event_id = sqlite3_column_int64(st, 14);
}

static void row_to_transition(sqlite3_stmt *st, hale_transition_rec *r)
{
    r->incident_id = sqlite3_column_int64(st, 0);
    r->from = hale__store_col_text(st, 1);
    r->to = hale__store_col_text(st, 2);
    r->at_ms = sqlite3_column_int64(st, 3);
    r->reason = hale__store_col_text(st, 4);
}

static void row_to_outbox(sqlite3_stmt *st, hale_outbox_rec *r)
{
    r->id = sqlite3_column_int64(st, 0);
    r->kind = hale__store_col_text(st, 1);
    r->incident_id = sqlite3_column_int64(st, 2);
    r->payload = hale__store_col_text(st, 3);
    r->created_ms = sqlite3_column_int64(st, 4);
    r->due_ms = sqlite3_column_int64(st, 5);
    r->attempts = sqlite3_column_int64(st, 6);
}

/* Which callback a walk calls; ISO C has no generic function pointer, hence the union. */
struct walker {
    enum { ROW_INCIDENT, ROW_ALERT, ROW_TRANSITION, ROW_OUTBOX } kind;
    union {
        hale_store_incident_cb incident;
        hale_store_alert_cb alert;
        hale_store_transition_cb transition;
        hale_store_outbox_cb outbox;
    } cb;
    void *ud;  /* the caller's data */
    bool seen; /* at least one row was handed out */
};

static int call(const struct walker *w, sqlite3_stmt *st)
{
    switch (w->kind) {
    case ROW_INCIDENT: {
        hale_incident_rec rec;
        row_to_incident(st, &rec);
        return w->cb.incident(&rec, w->ud);
    }
    case ROW_ALERT: {
        hale_alert_rec rec;
        row_to_alert(st, &rec);
        return w->cb.alert(&rec, w->ud);
    }
    case ROW_TRANSITION: {
        hale_transition_rec rec;
        row_to_transition(st, &rec);
        return w->cb.transition(&rec, w->ud);
    }
    case ROW_OUTBOX: {
        hale_outbox_rec rec;
        row_to_outbox(st, &rec);
        return w->cb.outbox(&rec, w->ud);
    }
    }
    return 0;
}

/* Step st (parameters already bound) and call the walker's callback per row. Returns 0, the
 * callback's non-zero result, or HALE_ESTORE. Resets st in every case. */
static int walk(sqlite3_stmt *st, struct walker *w)
{
    int rc, r = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        w->seen = true;
        r = call(w, st);
        if (r != 0)
            break;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = HALE_ESTORE;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return r;
}

static int bind_failed(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return HALE_ESTORE;
}

int hale_store_incidents_each(hale_store *s, const char *state, unsigned limit,
                              hale_store_incident_cb cb, void *ud)
{
    sqlite3_stmt *st = s->stmt[state ? ST_INCIDENTS_BY_STATE : ST_INCIDENTS_ALL];
    struct walker w = {.kind = ROW_INCIDENT, .cb.incident = cb, .ud = ud};

    if (hale__store_bind_int(st, 1, limit ? (int64_t)limit : -1) < 0 ||
        (state && hale__store_bind_text(st, 2, state) < 0))
        return bind_failed(st);
    return walk(st, &w);
}

int hale_store_incidents_active_each(hale_store *s, hale_store_incident_cb cb, void *ud)
{
    struct walker w = {.kind = ROW_INCIDENT, .cb.incident = cb, .ud = ud};

    return walk(s->stmt[ST_INCIDENTS_ACTIVE], &w);
}

int hale_store_incident_get(hale_store *s, int64_t id, hale_store_incident_cb cb, void *ud)
{
    sqlite3_stmt *st = s->stmt[ST_INCIDENT_GET];
    struct walker w = {.kind = ROW_INCIDENT, .cb.incident = cb, .ud = ud};
    int r;

    if (hale__store_bind_int(st, 1, id) < 0)
        return bind_failed(st);
    r = walk(st, &w);
    return r == 0 && !w.seen ? HALE_ENOTFOUND : r;
}

int hale_store_alert_get(hale_store *s, int64_t id, hale_store_alert_cb cb, void *ud)
{
    sqlite3_stmt *st = s->stmt[ST_ALERT_GET];
    struct walker w = {.kind = ROW_ALERT, .cb.alert = cb, .ud = ud};
    int r;

    if (hale__store_bind_int(st, 1, id) < 0)
        return bind_failed(st);
    r = walk(st, &w);
    return r == 0 && !w.seen ? HALE_ENOTFOUND : r;
}

int hale_store_alerts_each(hale_store *s, int64_t incident_id, hale_store_alert_cb cb, void *ud)
{
    sqlite3_stmt *st = s->stmt[incident_id ? ST_ALERTS_OF_INCIDENT : ST_ALERTS_ALL];
    struct walker w = {.kind = ROW_ALERT, .cb.alert = cb, .ud = ud};

    if (incident_id && hale__store_bind_int(st, 1, incident_id) < 0)
        return bind_failed(st);
    return walk(st, &w);
}

int hale_store_transitions_each(hale_store *s, int64_t incident_id, hale_store_transition_cb cb,
                                void *ud)
{
    sqlite3_stmt *st = s->stmt[ST_TRANSITIONS_OF_INCIDENT];
    struct walker w = {.kind = ROW_TRANSITION, .cb.transition = cb, .ud = ud};

    if (hale__store_bind_int(st, 1, incident_id) < 0)
        return bind_failed(st);
    return walk(st, &w);
}

int hale_store_outbox_pending_each(hale_store *s, hale_store_outbox_cb cb, void *ud)
{
    struct walker w = {.kind = ROW_OUTBOX, .cb.outbox = cb, .ud = ud};

    return walk(s->stmt[ST_OUTBOX_PENDING], &w);
}

static int max_id(hale_store *s, enum store_stmt which, int64_t *ret)
{
    sqlite3_stmt *st = s->stmt[which];
    int r = HALE_ESTORE;

    if (sqlite3_step(st) == SQLITE_ROW) {
        *ret = sqlite3_column_int64(st, 0);
        r = 0;
    }
    sqlite3_reset(st);
    return r;
}

int hale_store_max_incident_id(hale_store *s, int64_t *ret)
{
    return max_id(s, ST_MAX_INCIDENT_ID, ret);
}

int hale_store_max_alert_id(hale_store *s, int64_t *ret)
{
    return max_id(s, ST_MAX_ALERT_ID, ret);
}

int hale_store_incident_counts(hale_store *s, int (*cb)(const char *state, int64_t n, void *ud),
                               void *ud)
{
    sqlite3_stmt *st = s->stmt[ST_INCIDENT_COUNTS];
    int rc = SQLITE_DONE, r = 0;

    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        r = cb(hale__store_col_text(st, 0), sqlite3_column_int64(st, 1), ud);
    if (r == 0 && rc != SQLITE_DONE)
        r = HALE_ESTORE;
    sqlite3_reset(st);
    return r;
}

int hale_store_count(hale_store *s, const char *table, int64_t *ret)
{
    static const char *const tables[] = {"events", "alerts", "incidents", "incident_transitions",
                                         "outbox"};
    sqlite3_stmt *st = NULL;
    char sql[96];
    int r = HALE_ESTORE;

    for (size_t i = 0; i < HALE_ARRAY_SIZE(tables); i++) {
        if (strcmp(table, tables[i]) != 0)
            continue;
        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", tables[i]);
        if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
            return HALE_ESTORE;
        if (sqlite3_step(st) == SQLITE_ROW) {
            *ret = sqlite3_column_int64(st, 0);
            r = 0;
        }
        sqlite3_finalize(st);
        return r;
    }
    return HALE_ENOTFOUND;
}
