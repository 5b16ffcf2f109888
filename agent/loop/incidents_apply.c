/* agent/loop/incidents_apply.c - correlation: each received alert is deduplicated by
 * fingerprint and episode, attached to the active incident of its group (group_by labels,
 * within the grouping window) or opens a new one, and resolves its incident when it was the
 * last one firing. Every change goes to the store inside the caller's transaction. */
#include "internal.h"

#include "hale/audit.h"
#include "hale/store.h"
#include "loop/incidents_int.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/json.h"

static const char *label(const hale_alert *a, const char *name)
{
    const char *v = json_string_value(json_object_get(a->labels, name));

    return v ? v : "";
}

/* 'alertname="X",service="Y"' with Prometheus-style escaping: the grouping key, built for
 * every firing alert that is not a re-send. */
static int group_key_of(const hale_incidents *m, const hale_alert *a, hale_buf *key)
{
    int r = 0;

    for (size_t i = 0; r == 0 && i < m->n_group_by; i++) {
        const char *v = label(a, m->group_by[i]);

        if (i > 0)
            r = hale_buf_putc(key, ',');
        if (r == 0)
            r = hale_buf_puts(key, m->group_by[i]);
        if (r == 0)
            r = hale_buf_putc(key, '=');
        if (r == 0)
            r = hale_buf_json_str(key, v, strlen(v));
    }
    return r;
}

/* The group_by labels the alert has, as JSON: only needed when it opens an incident. */
static char *group_labels_of(const hale_incidents *m, const hale_alert *a)
{
    json_t *labels = json_object();
    char *text = NULL;
    int r = labels ? 0 : -ENOMEM;

    for (size_t i = 0; r == 0 && i < m->n_group_by; i++) {
        json_t *v = json_object_get(a->labels, m->group_by[i]);

        if (v && json_object_set(labels, m->group_by[i], v) < 0)
            r = -ENOMEM;
    }
    if (r == 0)
        text = hale_json_dump_canonical(labels);
    json_decref(labels);
    return text;
}

static char *title_of(const hale_alert *a, const char *group_key)
{
    const char *summary = json_string_value(json_object_get(a->annotations, "summary"));
    const char *name = label(a, "alertname");
    char *t;
    size_t n;

    if (summary && *summary && *name) {
        n = strlen(name) + strlen(summary) + 3;
        t = malloc(n);
        if (t)
            snprintf(t, n, "%s: %s", name, summary);
        return t;
    }
    return strdup(*name ? name : group_key);
}

static int log_transition(hale_incidents *m, const hale_transition_rec *t, int64_t now_ms)
{
    json_t *p = json_pack("{s:I,s:s,s:s,s:s}", "incident_id", (json_int_t)t->incident_id, "from",
                          t->from, "to", t->to, "reason", t->reason ? t->reason : "");
    int r;

    if (!p)
        return -ENOMEM;
    r = hale_audit_append(m->audit, HALE_AUDIT_KIND_TRANSITION, p, now_ms * 1000000, NULL, NULL);
    json_decref(p);
    return r;
}

static int record_transition(hale_incidents *m, struct inc *inc, hale_incident_state from,
                             bool created, const char *reason, int64_t now_ms)
{
    hale_transition_rec t = {.incident_id = inc->id,
                             .from = created ? "" : hale_incident_state_name(from),
                             .to = hale_incident_state_name(inc->state),
                             .at_ms = now_ms,
                             .reason = reason};
    struct entered *ent;
    void *arr;
    int r;

    r = hale_store_transition_add(m->store, &t);
    if (r == 0 && m->audit)
        r = log_transition(m, &t, now_ms);
    if (r < 0 || !m->staged[inc->state])
        return r;
    arr = m->entered;
    r = hale_grow(&arr, &m->cap_entered, m->n_entered, sizeof(*m->entered));
    m->entered = arr;
    if (r < 0)
        return r;
    ent = &m->entered[m->n_entered];
    {
        char payload[96];
        hale_outbox_rec o = {
            .incident_id = inc->id, .payload = payload, .created_ms = now_ms, .due_ms = now_ms};
        char kind[48];

        snprintf(kind, sizeof(kind), "stage:%s", hale_incident_state_name(inc->state));
        snprintf(payload, sizeof(payload), "{\"incident_id\":%lld,\"state\":\"%s\"}",
                 (long long)inc->id, hale_incident_state_name(inc->state));
        o.kind = kind;
        r = hale_store_outbox_add(m->store, &o, &ent->outbox_id);
    }
    if (r < 0)
        return r;
    ent->incident_id = inc->id;
    ent->state = inc->state;
    m->n_entered++;
    return 0;
}

static int open_incident(hale_incidents *m, const hale_alert *a, const hale_buf *key,
                         int64_t now_ms, struct inc **ret)
{
    struct inc *inc = calloc(1, sizeof(*inc));
    char reason[96];
    int r;

    if (!inc)
        return -ENOMEM;
    inc->id = m->next_id;
    inc->state = HALE_INCIDENT_OPEN;
    inc->group_labels = group_labels_of(m, a);
    inc->group_key = strdup(key->data ? key->data : "");
    inc->title = title_of(a, inc->group_key);
    inc->severity = strdup(a->severity);
    inc->state_reason = strdup("opened by a firing alert");
    inc->context = strdup("{}");
    inc->created_ms = inc->state_since_ms = inc->last_alert_ms = now_ms;
    inc->version = -1; /* flush writes version + 1: 0 for a new incident */
    if (!inc->group_labels || !inc->group_key || !inc->title || !inc->severity ||
        !inc->state_reason || !inc->context) {
        hale__inc_free(inc);
        return -ENOMEM;
    }
    r = hale__incidents_add(m, inc);
    if (r < 0)
        return r;
    m->next_id++;
    snprintf(reason, sizeof(reason), "opened by alert %s", a->fingerprint);
    r = hale__incidents_mark_dirty(m, inc);
    if (r == 0)
        r = record_transition(m, inc, HALE_INCIDENT_OPEN, true, reason, now_ms);
    *ret = inc;
    return r;
}

/* The active incident a firing alert joins: its group's newest, if active within the window;
 * otherwise a new one. */
static int incident_for(hale_incidents *m, const hale_alert *a, int64_t now_ms, struct inc **ret)
{
    hale_buf *key = &m->group_key_text;
    struct inc *inc;
    int r;

    hale_buf_reset(key);
    r = group_key_of(m, a, key);
    if (r < 0)
        return r;
    inc = hale_map_get(m->by_group, key->data ? key->data : "");
    if (inc && inc->closed_ms == 0 && now_ms - inc->last_alert_ms <= (int64_t)m->window_ms)
        *ret = inc;
    else
        r = open_incident(m, a, key, now_ms, ret);
    return r;
}

static void bump_severity(struct inc *inc, const char *severity)
{
    char *copy;

    if (hale_severity_rank(severity) <= hale_severity_rank(inc->severity))
        return;
    copy = strdup(severity);
    if (copy) {
        free(inc->severity);
        inc->severity = copy;
    }
}

static int set_state(hale_incidents *m, struct inc *inc, hale_incident_state to, const char *reason,
                     int64_t now_ms)
{
    hale_incident_state from = inc->state;
    char *why = strdup(reason);
    int r;

    if (!why)
        return -ENOMEM;
    r = hale__incidents_mark_dirty(m, inc);
    if (r < 0) {
        free(why);
        return r;
    }
    free(inc->state_reason);
    inc->state_reason = why;
    inc->state = to;
    inc->state_since_ms = now_ms;
    if (hale_incident_state_is_terminal(to))
        inc->closed_ms = now_ms;
    return record_transition(m, inc, from, false, reason, now_ms);
}

int hale_incidents_transition(hale_incidents *m, int64_t id, hale_incident_state to,
                              const char *reason, int64_t now_ms)
{
    struct inc *inc = m->loaded ? hale__incidents_get(m, id) : NULL;

    if (!inc || inc->closed_ms != 0)
        return HALE_ENOTFOUND;
    if (!hale_incident_transition_allowed(inc->state, to))
        return HALE_ESTATE;
    return set_state(m, inc, to, reason, now_ms);
}

/* Firing: a re-send or a stale copy changes nothing; a new alert or a new episode joins the
 * incident of its group. Returns the incident the alert belongs to now (NULL for none). */
static int apply_firing(hale_incidents *m, const hale_alert *a, const struct alert_entry *e,
                        struct inc *cur, int64_t now_ms, struct inc **ret)
{
    struct inc *inc = NULL;
    int r;

    if (e && e->status == HALE_ALERT_FIRING && e->incident_id) {
        /* Still firing: a re-send, or a new startsAt without a resolve in between. It stays
         * with its incident even when that one was closed (failed, rolled back): a re-send
         * must never open a second incident. */
        *ret = cur;
        if (!cur || cur->closed_ms != 0)
            return 0;
        cur->last_alert_ms = now_ms;
        bump_severity(cur, a->severity);
        return hale__incidents_mark_dirty(m, cur);
    }
    r = incident_for(m, a, now_ms, &inc);
    if (r < 0)
        return r;
    if (!e || e->incident_id != inc->id)
        inc->alerts_total++;
    inc->alerts_firing++;
    inc->last_alert_ms = now_ms;
    bump_severity(inc, a->severity);
    *ret = inc;
    return hale__incidents_mark_dirty(m, inc);
}

/* A receipt about an older episode than the one on record (a late copy, a retry, an HA peer's
 * duplicate) changes nothing but last_seen. Episodes are ordered by startsAt; a source that
 * gives none (0) always speaks of the current one. */
static bool is_stale(const hale_alert *a, const struct alert_entry *e)
{
    if (!e || a->starts_ms == 0)
        return false;
    if (a->starts_ms < e->starts_ms)
        return true;
    return a->starts_ms == e->starts_ms && e->status == HALE_ALERT_RESOLVED &&
           a->status == HALE_ALERT_FIRING;
}

/* Resolved: the incident loses a firing alert and resolves with its last one. */
static int apply_resolved(hale_incidents *m, const struct alert_entry *e, struct inc *cur,
                          int64_t now_ms)
{
    int r;

    if (!e || e->status != HALE_ALERT_FIRING || !cur)
        return 0;
    if (cur->alerts_firing > 0)
        cur->alerts_firing--;
    r = hale__incidents_mark_dirty(m, cur);
    if (r == 0 && cur->alerts_firing == 0 &&
        hale_incident_transition_allowed(cur->state, HALE_INCIDENT_RESOLVED))
        r = set_state(m, cur, HALE_INCIDENT_RESOLVED, "all alerts resolved", now_ms);
    return r;
}

/* The alert's entry after this receipt; a new alert gets the next row id. */
static int remember(hale_incidents *m, const hale_alert *a, struct alert_entry *e,
                    int64_t incident_id, struct alert_entry **ret)
{
    if (!e) {
        e = malloc(sizeof(*e));
        if (!e || hale_map_put(m->alerts, a->fingerprint, e) < 0) {
            free(e);
            return -ENOMEM;
        }
        e->id = m->next_alert_id++;
    }
    e->incident_id = incident_id;
    e->starts_ms = a->starts_ms;
    e->status = a->status;
    *ret = e;
    return 0;
}

/* obj as json_dumps(obj, JSON_COMPACT) writes it, in one of the manager's scratch buffers:
 * the alert row's text without an allocation per alert. NULL only on allocation failure. */
static const char *compact_text(const json_t *obj, hale_buf *scratch, char **ret_dumped)
{
    int r;

    hale_buf_reset(scratch);
    r = hale_json_dump_compact(obj, scratch);
    if (r == 0)
        return scratch->data;
    if (r == -ENOMEM)
        return NULL;
    /* A real number, deep nesting or a value past the scratch cap: jansson writes it. */
    *ret_dumped = json_dumps(obj, JSON_COMPACT | JSON_ENCODE_ANY);
    return *ret_dumped;
}

static int store_alert(hale_incidents *m, const hale_alert *a, const char *source,
                       const struct alert_entry *e, int64_t event_id, int64_t now_ms)
{
    /* Alertmanager sends labels sorted (Go marshals maps in key order); insertion order is
     * kept as received, which spares a sort per alert. */
    char *dumped_labels = NULL, *dumped_annotations = NULL;
    const char *labels = compact_text(a->labels, &m->labels_text, &dumped_labels);
    const char *annotations =
        compact_text(a->annotations, &m->annotations_text, &dumped_annotations);
    const char *status = a->status == HALE_ALERT_FIRING ? "firing" : "resolved";
    hale_alert_rec rec = {.id = e->id,
                          .fingerprint = a->fingerprint,
                          .status = status,
                          .labels = labels,
                          .annotations = annotations,
                          .severity = a->severity,
                          .source = source,
                          .generator_url = a->generator_url,
                          .starts_ms = a->starts_ms,
                          .ends_ms = a->ends_ms,
                          .first_seen_ms = now_ms,
                          .last_seen_ms = now_ms,
                          .seen_count = 1,
                          .incident_id = e->incident_id,
                          .last_event_id = event_id};
    int r = labels && annotations ? 0 : -ENOMEM;

    if (r == 0)
        r = hale_store_alert_upsert(m->store, &rec);
    free(dumped_labels);
    free(dumped_annotations);
    return r;
}

int hale_incidents_apply_alert(hale_incidents *m, const hale_alert *a, const char *source,
                               int64_t event_id, int64_t now_ms)
{
    struct alert_entry *e, *now_e = NULL;
    struct inc *cur = NULL, *now_in = NULL;
    int r;

    if (!m->loaded && (r = hale_incidents_aborted(m)) < 0)
        return r;
    e = hale_map_get(m->alerts, a->fingerprint);
    if (is_stale(a, e))
        return hale_store_alert_seen(m->store, e->id, now_ms, event_id);
    if (e && e->incident_id)
        cur = hale__incidents_get(m, e->incident_id);
    if (a->status == HALE_ALERT_FIRING) {
        r = apply_firing(m, a, e, cur, now_ms, &now_in);
    } else {
        r = apply_resolved(m, e, cur, now_ms);
        now_in = cur;
    }
    if (r == 0)
        r = remember(m, a, e, now_in ? now_in->id : (e ? e->incident_id : 0), &now_e);
    if (r == 0 && now_in && (!e || now_in != cur))
        r = hale__incidents_add_pair(m, now_in->id, now_e->id);
    if (r == 0)
        r = store_alert(m, a, source, now_e, event_id, now_ms);
    return r;
}
