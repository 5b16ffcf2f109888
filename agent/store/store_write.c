/* agent/store/store_write.c - the store's write statements. Each binds one record and steps a
 * statement prepared at open; the caller groups them in one transaction per loop turn. */
#include "internal.h"

#include "store/store_int.h"

/* Bind a run of text parameters starting at index first. */
static int bind_texts(sqlite3_stmt *st, int first, const char *const *texts, int n)
{
    for (int i = 0; i < n; i++)
        if (hale__store_bind_text(st, first + i, texts[i]) < 0)
            return HALE_ESTORE;
    return 0;
}

static int bind_ints(sqlite3_stmt *st, int first, const int64_t *values, int n)
{
    for (int i = 0; i < n; i++)
        if (hale__store_bind_int(st, first + i, values[i]) < 0)
            return HALE_ESTORE;
    return 0;
}

static int step_insert(hale_store *s, sqlite3_stmt *st, int r, int64_t *ret_id)
{
    if (r < 0) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
    }
    r = hale__store_exec(s, st);
    if (r == 0 && ret_id)
        *ret_id = sqlite3_last_insert_rowid(s->db);
    return r;
}

int hale_store_event_insert(hale_store *s, const hale_event_rec *e, int64_t *ret_id)
{
    sqlite3_stmt *st = s->stmt[ST_EVENT_INSERT];
    int r;

    r = hale__store_bind_int(st, 1, e->received_ms);
    if (r == 0)
        r = bind_texts(st, 2, (const char *const[]){e->kind, e->source}, 2);
    if (r == 0 && sqlite3_bind_blob64(st, 4, e->raw ? e->raw : "", e->raw_len, SQLITE_STATIC))
        r = HALE_ESTORE;
    if (r == 0)
        r = hale__store_bind_text(st, 5, e->normalized);
    return step_insert(s, st, r, ret_id);
}

int hale_store_alert_upsert(hale_store *s, const hale_alert_rec *a)
{
    sqlite3_stmt *st = s->stmt[ST_ALERT_UPSERT];
    const char *texts[] = {a->fingerprint, a->status, a->labels,       a->annotations,
                           a->severity,    a->source, a->generator_url};
    const int64_t ints[] = {a->starts_ms,  a->ends_ms,     a->first_seen_ms, a->last_seen_ms,
                            a->seen_count, a->incident_id, a->last_event_id};
    int r;

    if (HALE_NEVER(a->id <= 0))
        return HALE_ESCHEMA;
    r = hale__store_bind_int(st, 1, a->id);
    if (r == 0)
        r = bind_texts(st, 2, texts, (int)HALE_ARRAY_SIZE(texts));
    if (r == 0)
        r = bind_ints(st, 9, ints, (int)HALE_ARRAY_SIZE(ints));
    return step_insert(s, st, r, NULL);
}

int hale_store_alert_seen(hale_store *s, int64_t id, int64_t seen_ms, int64_t event_id)
{
    sqlite3_stmt *st = s->stmt[ST_ALERT_SEEN];

    return step_insert(s, st, bind_ints(st, 1, (const int64_t[]){id, seen_ms, event_id}, 3), NULL);
}

int hale_store_incident_put(hale_store *s, const hale_incident_rec *i)
{
    sqlite3_stmt *st = s->stmt[ST_INCIDENT_PUT];
    const char *texts[] = {i->group_key, i->group_labels, i->title,  i->state,
                           i->severity,  i->state_reason, i->context};
    const int64_t ints[] = {i->created_ms,    i->updated_ms, i->state_since_ms,
                            i->last_alert_ms, i->closed_ms,  i->alerts_total,
                            i->alerts_firing, i->attempts,   i->version};
    int r;

    if (HALE_NEVER(i->id <= 0))
        return HALE_ESCHEMA;
    r = hale__store_bind_int(st, 1, i->id);
    if (r == 0)
        r = bind_texts(st, 2, texts, (int)HALE_ARRAY_SIZE(texts));
    if (r == 0)
        r = bind_ints(st, 9, ints, (int)HALE_ARRAY_SIZE(ints));
    return step_insert(s, st, r, NULL);
}

int hale_store_transition_add(hale_store *s, const hale_transition_rec *t)
{
    sqlite3_stmt *st = s->stmt[ST_TRANSITION_ADD];
    int r;

    r = hale__store_bind_int(st, 1, t->incident_id);
    if (r == 0)
        r = bind_texts(st, 2, (const char *const[]){t->from, t->to}, 2);
    if (r == 0)
        r = hale__store_bind_int(st, 4, t->at_ms);
    if (r == 0)
        r = hale__store_bind_text(st, 5, t->reason);
    return step_insert(s, st, r, NULL);
}

int hale_store_outbox_add(hale_store *s, const hale_outbox_rec *o, int64_t *ret_id)
{
    sqlite3_stmt *st = s->stmt[ST_OUTBOX_ADD];
    int r;

    r = hale__store_bind_text(st, 1, o->kind);
    if (r == 0)
        r = hale__store_bind_int(st, 2, o->incident_id);
    if (r == 0)
        r = hale__store_bind_text(st, 3, o->payload);
    if (r == 0)
        r = bind_ints(st, 4, (const int64_t[]){o->created_ms, o->due_ms}, 2);
    return step_insert(s, st, r, ret_id);
}

int hale_store_outbox_finish(hale_store *s, int64_t id, int64_t done_ms, const char *error)
{
    sqlite3_stmt *st = s->stmt[ST_OUTBOX_FINISH];
    int r;

    r = bind_ints(st, 1, (const int64_t[]){id, done_ms}, 2);
    if (r == 0 && error)
        r = hale__store_bind_text(st, 3, error);
    return step_insert(s, st, r, NULL);
}

int hale_store_incident_alert_add(hale_store *s, int64_t incident_id, int64_t alert_id)
{
    sqlite3_stmt *st = s->stmt[ST_INCIDENT_ALERT_ADD];

    return step_insert(s, st, bind_ints(st, 1, (const int64_t[]){incident_id, alert_id}, 2), NULL);
}

int hale_store_incident_alerts_rebuild(hale_store *s)
{
    int r = hale__store_exec(s, s->stmt[ST_INCIDENT_ALERTS_REBUILD]);

    return r < 0 ? r : sqlite3_changes(s->db);
}

int hale_store_events_prune(hale_store *s, int64_t before_ms, int max_rows)
{
    sqlite3_stmt *st = s->stmt[ST_EVENTS_PRUNE];
    int r;

    r = bind_ints(st, 1, (const int64_t[]){before_ms, max_rows}, 2);
    r = step_insert(s, st, r, NULL);
    return r < 0 ? r : sqlite3_changes(s->db);
}
