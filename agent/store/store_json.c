/* agent/store/store_json.c - the JSON views of incidents and alerts that both the HTTP API and
 * the CLI print, so the two can never disagree on a field name. */
#include "internal.h"

#include "store/store_int.h"
#include "util/timeutil.h"

/* RFC 3339 text, or JSON null for "unset" (0) and Go's zero time. */
static json_t *time_or_null(int64_t ms)
{
    char text[40];

    if (ms == 0 || ms == HALE_TIME_ZERO_MS)
        return json_null();
    return json_string(hale_rfc3339_format(ms, text, sizeof(text)));
}

/* Parse a JSON column we wrote ourselves; an unreadable one shows as its raw text. */
static json_t *json_column(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);

    return v ? v : json_string(text);
}

json_t *hale_store_incident_to_json(const hale_incident_rec *r)
{
    return json_pack(
        "{s:I, s:s, s:o, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:I, "
        "s:I, s:I, s:I}",
        "id", (json_int_t)r->id, "group_key", r->group_key, "group_labels",
        json_column(r->group_labels), "title", r->title, "state", r->state, "severity", r->severity,
        "state_reason", r->state_reason, "context", json_column(r->context), "created_at",
        time_or_null(r->created_ms), "updated_at", time_or_null(r->updated_ms), "state_since",
        time_or_null(r->state_since_ms), "last_alert_at", time_or_null(r->last_alert_ms),
        "closed_at", time_or_null(r->closed_ms), "alerts_total", (json_int_t)r->alerts_total,
        "alerts_firing", (json_int_t)r->alerts_firing, "attempts", (json_int_t)r->attempts,
        "version", (json_int_t)r->version);
}

json_t *hale_store_alert_to_json(const hale_alert_rec *r)
{
    return json_pack("{s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:I, s:I}",
                     "fingerprint", r->fingerprint, "status", r->status, "labels",
                     json_column(r->labels), "annotations", json_column(r->annotations), "severity",
                     r->severity, "source", r->source, "generator_url", r->generator_url,
                     "starts_at", time_or_null(r->starts_ms), "ends_at", time_or_null(r->ends_ms),
                     "first_seen", time_or_null(r->first_seen_ms), "last_seen",
                     time_or_null(r->last_seen_ms), "seen_count", (json_int_t)r->seen_count,
                     "incident_id", (json_int_t)r->incident_id);
}

static int append_incident(const hale_incident_rec *r, void *ud)
{
    json_t *v = hale_store_incident_to_json(r);

    return v && json_array_append_new(ud, v) == 0 ? 0 : -ENOMEM;
}

static int append_alert(const hale_alert_rec *r, void *ud)
{
    json_t *v = hale_store_alert_to_json(r);

    return v && json_array_append_new(ud, v) == 0 ? 0 : -ENOMEM;
}

static int append_transition(const hale_transition_rec *r, void *ud)
{
    json_t *v = json_pack("{s:s, s:s, s:o, s:s}", "from", r->from, "to", r->to, "at",
                          time_or_null(r->at_ms), "reason", r->reason);

    return v && json_array_append_new(ud, v) == 0 ? 0 : -ENOMEM;
}

int hale_store_incidents_json(hale_store *s, const char *state, unsigned limit, json_t **ret)
{
    json_t *list = json_array();
    int r;

    if (!list)
        return -ENOMEM;
    r = hale_store_incidents_each(s, state, limit, append_incident, list);
    if (r < 0) {
        json_decref(list);
        return r;
    }
    *ret = json_pack("{s:o}", "incidents", list);
    return *ret ? 0 : -ENOMEM;
}

static int keep_incident(const hale_incident_rec *r, void *ud)
{
    json_t **out = ud;

    *out = hale_store_incident_to_json(r);
    return *out ? 0 : -ENOMEM;
}

int hale_store_incident_detail_json(hale_store *s, int64_t id, json_t **ret)
{
    json_t *inc = NULL, *alerts = NULL, *transitions = NULL;
    int r;

    r = hale_store_incident_get(s, id, keep_incident, &inc);
    if (r < 0)
        return r;
    alerts = json_array();
    transitions = json_array();
    if (!alerts || !transitions) {
        r = -ENOMEM;
        goto fail;
    }
    r = hale_store_alerts_each(s, id, append_alert, alerts);
    if (r == 0)
        r = hale_store_transitions_each(s, id, append_transition, transitions);
    if (r < 0)
        goto fail;
    /* set_new consumes its value even when it fails. */
    r = json_object_set_new(inc, "alerts", alerts);
    alerts = NULL;
    if (r == 0)
        r = json_object_set_new(inc, "transitions", transitions);
    transitions = NULL;
    if (r < 0) {
        r = -ENOMEM;
        goto fail;
    }
    *ret = inc;
    return 0;
fail:
    json_decref(alerts);
    json_decref(transitions);
    json_decref(inc);
    return r;
}
