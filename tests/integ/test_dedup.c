/* tests/integ/test_dedup.c - the deduplication and grouping table of docs/incidents.md, row by
 * row, through the real daemon's HTTP API: webhooks posted as Alertmanager (or an HA peer, or a
 * retry after a lost answer) would post them. One daemon for the group; every test uses its own
 * alertname so the tests do not see each other's incidents. */
#include "fixture.h"

#include <errno.h>
#include <signal.h>

#include "integ_http.h"
#include "integ_proc.h"
#include "integ_store.h"

#define T1 "2026-11-22T10:00:00.000Z"
#define T2 "2026-11-22T10:10:00.000Z"
#define T3 "2026-11-22T10:20:00.000Z"
#define E1 "2026-11-22T10:05:00.000Z"
#define E2 "2026-11-22T10:15:00.000Z"

static int group_setup(void **state)
{
    integ_hale *h = calloc(1, sizeof(*h));

    if (!h || integ_hale_init(h, "integ-dedup") < 0 || integ_hale_write_config(h, NULL) < 0 ||
        integ_hale_start(h, 10000) < 0) {
        if (h)
            integ_hale_release(h);
        free(h);
        return -1;
    }
    *state = h;
    return 0;
}

static int group_teardown(void **state)
{
    integ_hale *h = *state;

    integ_hale_release(h);
    free(h);
    return 0;
}

/* Post one webhook with one alert of alertname name; status, episode start and end as given. */
static void hook(const integ_hale *h, const char *name, const char *service, const char *fp,
                 const char *status, const char *starts, const char *ends)
{
    json_t *alerts =
        json_pack("[o]", integ_am_alert(status, fp, starts, ends, "alertname", name, "service",
                                        service, "severity", "warning", NULL));
    char *msg = integ_am_webhook(alerts);
    json_t *answer = NULL;

    assert_non_null(msg);
    assert_int_equal(integ_post_json(h->port, "/api/v1/alerts", msg, &answer), 200);
    assert_string_equal(json_string_value(json_object_get(answer, "status")), "accepted");
    json_decref(answer);
    free(msg);
}

/* The incidents of alertname name, newest first (caller decrefs). */
static json_t *incidents_of(const integ_hale *h, const char *name)
{
    json_t *doc = NULL, *out = json_array(), *inc;
    size_t i;

    assert_int_equal(integ_get_json(h->port, "/api/v1/incidents", &doc), 200);
    json_array_foreach(json_object_get(doc, "incidents"), i, inc)
    {
        const char *n =
            json_string_value(json_object_get(json_object_get(inc, "group_labels"), "alertname"));

        if (n && strcmp(n, name) == 0)
            json_array_append(out, inc);
    }
    json_decref(doc);
    return out;
}

/* Diagnostics for a failed expectation: every incident, one line each. */
static void dump_incidents(const integ_hale *h)
{
    json_t *doc = NULL, *inc;
    size_t i;

    (void)integ_get_json(h->port, "/api/v1/incidents", &doc);
    json_array_foreach(json_object_get(doc, "incidents"), i, inc)
    {
        fprintf(stderr, "  incident %lld %s %s total %lld firing %lld\n",
                (long long)json_integer_value(json_object_get(inc, "id")),
                json_string_value(json_object_get(inc, "group_key")),
                json_string_value(json_object_get(inc, "state")),
                (long long)json_integer_value(json_object_get(inc, "alerts_total")),
                (long long)json_integer_value(json_object_get(inc, "alerts_firing")));
    }
    json_decref(doc);
}

#define SETTLE_MS 3000u

static json_t *detail(const integ_hale *h, json_int_t id)
{
    json_t *doc = NULL;

    assert_int_equal(integ_get_incident(h->port, (long long)id, SETTLE_MS, &doc), 200);
    return doc;
}

static const char *str(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));

    return v ? v : "";
}

static json_int_t num(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static json_t *first_alert(const json_t *d)
{
    return json_array_get(json_object_get(d, "alerts"), 0);
}

/* Row: "the same alert still firing (a re-send, also with a new startsAt and no resolve in
 * between): last_seen and seen_count update; nothing new is created". */
static void resend_counts_and_creates_nothing(void **state)
{
    integ_hale *h = *state;
    json_t *list, *d;

    hook(h, "Resend", "a", "00000000000d0001", "firing", T1, NULL);
    hook(h, "Resend", "a", "00000000000d0001", "firing", T1, NULL);
    hook(h, "Resend", "a", "00000000000d0001", "firing", T1, NULL);
    hook(h, "Resend", "a", "00000000000d0001", "firing", T2, NULL); /* new startsAt, no resolve */
    list = incidents_of(h, "Resend");
    assert_int_equal(json_array_size(list), 1);
    d = detail(h, num(json_array_get(list, 0), "id"));
    assert_string_equal(str(d, "state"), "open");
    assert_int_equal(num(d, "alerts_total"), 1);
    assert_int_equal(num(d, "alerts_firing"), 1);
    assert_int_equal(json_array_size(json_object_get(d, "alerts")), 1);
    assert_int_equal(num(first_alert(d), "seen_count"), 4);
    json_decref(d);
    json_decref(list);
}

/* Rows: "resolved, its episode firing: the incident resolves"; "resolved again: last_seen
 * updates, nothing else"; "firing for an episode that already resolved: ignored". */
static void resolve_then_late_copies_change_nothing(void **state)
{
    integ_hale *h = *state;
    json_t *list, *d;
    json_int_t id, version;
    char *before;

    hook(h, "Late", "a", "00000000000d0002", "firing", T1, NULL);
    hook(h, "Late", "a", "00000000000d0002", "resolved", T1, E1);
    list = incidents_of(h, "Late");
    assert_int_equal(json_array_size(list), 1);
    id = num(json_array_get(list, 0), "id");
    json_decref(list);
    d = detail(h, id);
    assert_string_equal(str(d, "state"), "resolved");
    assert_int_equal(num(d, "alerts_firing"), 0);
    assert_string_equal(str(first_alert(d), "status"), "resolved");
    version = num(d, "version");
    json_object_del(d, "alerts"); /* last_seen and seen_count may change; the incident not */
    before = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(d);

    hook(h, "Late", "a", "00000000000d0002", "resolved", T1, E1); /* re-send of the resolve */
    hook(h, "Late", "a", "00000000000d0002", "firing", T1, NULL); /* late copy of the firing */
    list = incidents_of(h, "Late");
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    d = detail(h, id);
    assert_string_equal(str(d, "state"), "resolved");
    assert_int_equal(num(d, "version"), version);
    if (strcmp(str(first_alert(d), "status"), "resolved") != 0)
        fprintf(stderr,
                "BUG: a late firing copy of the resolved episode " T1
                " set the alert back to '%s' (its incident stays resolved)\n",
                str(first_alert(d), "status"));
    assert_string_equal(str(first_alert(d), "status"), "resolved");
    json_object_del(d, "alerts");
    {
        char *after = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);

        assert_string_equal(after, before);
        free(after);
    }
    free(before);
    json_decref(d);
}

/* Row: "firing after a resolve, with a new startsAt: a new episode, joins or opens an
 * incident like a new alert". */
static void new_episode_opens_new_incident(void **state)
{
    integ_hale *h = *state;
    json_t *list, *d;

    hook(h, "Episode", "a", "00000000000d0003", "firing", T1, NULL);
    hook(h, "Episode", "a", "00000000000d0003", "resolved", T1, E1);
    hook(h, "Episode", "a", "00000000000d0003", "firing", T2, NULL);
    list = incidents_of(h, "Episode");
    assert_int_equal(json_array_size(list), 2);
    /* Newest first: the new episode's incident is open, the old one stays resolved. */
    assert_string_equal(str(json_array_get(list, 0), "state"), "open");
    assert_string_equal(str(json_array_get(list, 1), "state"), "resolved");
    d = detail(h, num(json_array_get(list, 0), "id"));
    assert_int_equal(num(d, "alerts_firing"), 1);
    assert_int_equal(json_array_size(json_object_get(d, "alerts")), 1);
    assert_string_equal(str(first_alert(d), "status"), "firing");
    json_decref(d);
    json_decref(list);
}

/* After a late copy of a resolved episode, the next real episode must still open an incident:
 * the late copy may not leave the alert looking "firing" in a closed incident. */
static void new_episode_after_late_copy_opens_incident(void **state)
{
    integ_hale *h = *state;
    json_t *list;

    hook(h, "Swallow", "a", "00000000000d0005", "firing", T1, NULL);
    hook(h, "Swallow", "a", "00000000000d0005", "resolved", T1, E1);
    hook(h, "Swallow", "a", "00000000000d0005", "firing", T1, NULL); /* late copy: ignored */
    hook(h, "Swallow", "a", "00000000000d0005", "firing", T2, NULL); /* a new episode */
    list = incidents_of(h, "Swallow");
    if (json_array_size(list) != 2 || strcmp(str(json_array_get(list, 0), "state"), "open") != 0)
        fprintf(stderr,
                "BUG: the new episode " T2 " after a late firing copy of " T1
                " opened no incident (%zu incidents, newest '%s')\n",
                json_array_size(list), str(json_array_get(list, 0), "state"));
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(str(json_array_get(list, 0), "state"), "open");
    assert_int_equal(num(json_array_get(list, 0), "alerts_firing"), 1);
    json_decref(list);
}

/* A resolve for an episode that has ended already must not end the episode firing now: the
 * idempotency key is fingerprint + startsAt (PROTOCOLS.md 1.3). Such a copy comes from an HA
 * Alertmanager peer or a retry whose first answer was lost. */
static void stale_resolve_does_not_resolve_new_episode(void **state)
{
    integ_hale *h = *state;
    json_t *list, *d;

    hook(h, "Stale", "a", "00000000000d0004", "firing", T1, NULL);
    hook(h, "Stale", "a", "00000000000d0004", "resolved", T1, E1);
    hook(h, "Stale", "a", "00000000000d0004", "firing", T2, NULL);
    hook(h, "Stale", "a", "00000000000d0004", "resolved", T1, E1); /* the old episode, again */
    list = incidents_of(h, "Stale");
    assert_int_equal(json_array_size(list), 2);
    if (strcmp(str(json_array_get(list, 0), "state"), "open") != 0)
        fprintf(stderr,
                "BUG: a late resolve of episode " T1 " resolved the incident of episode " T2
                " (state '%s')\n",
                str(json_array_get(list, 0), "state"));
    assert_string_equal(str(json_array_get(list, 0), "state"), "open");
    d = detail(h, num(json_array_get(list, 0), "id"));
    assert_int_equal(num(d, "alerts_firing"), 1);
    assert_string_equal(str(first_alert(d), "status"), "firing");
    json_decref(d);
    json_decref(list);

    /* The resolve of the current episode still works. */
    hook(h, "Stale", "a", "00000000000d0004", "resolved", T2, E2);
    list = incidents_of(h, "Stale");
    assert_string_equal(str(json_array_get(list, 0), "state"), "resolved");
    json_decref(list);
}

/* Grouping: same alertname and service share an incident (severity is the highest); another
 * service gets its own; a resolve of one alert leaves the incident open while another fires. */
static void grouping_by_alertname_and_service(void **state)
{
    integ_hale *h = *state;
    json_t *alerts, *list, *d;
    char *msg;

    alerts =
        json_pack("[o, o, o]",
                  integ_am_alert("firing", "00000000000d0011", T1, NULL, "alertname", "Grp",
                                 "service", "web", "instance", "w1", "severity", "warning", NULL),
                  integ_am_alert("firing", "00000000000d0012", T1, NULL, "alertname", "Grp",
                                 "service", "web", "instance", "w2", "severity", "critical", NULL),
                  integ_am_alert("firing", "00000000000d0013", T1, NULL, "alertname", "Grp",
                                 "service", "db", "instance", "d1", "severity", "info", NULL));
    msg = integ_am_webhook(alerts);
    assert_int_equal(integ_post_json(h->port, "/api/v1/alerts", msg, NULL), 200);
    free(msg);
    list = incidents_of(h, "Grp");
    if (json_array_size(list) != 2)
        dump_incidents(h);
    assert_int_equal(json_array_size(list), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *inc = json_array_get(list, i);
        bool web = strcmp(str(json_object_get(inc, "group_labels"), "service"), "web") == 0;

        assert_int_equal(num(inc, "alerts_total"), web ? 2 : 1);
        assert_string_equal(str(inc, "severity"), web ? "critical" : "info");
        assert_string_equal(str(inc, "group_key"), web ? "alertname=\"Grp\",service=\"web\""
                                                       : "alertname=\"Grp\",service=\"db\"");
    }
    json_decref(list);

    /* One of web's two alerts resolves: the incident stays open with one firing. */
    alerts = json_pack("[o]", integ_am_alert("resolved", "00000000000d0011", T1, E1, "alertname",
                                             "Grp", "service", "web", "instance", "w1", "severity",
                                             "warning", NULL));
    msg = integ_am_webhook(alerts);
    assert_int_equal(integ_post_json(h->port, "/api/v1/alerts", msg, NULL), 200);
    free(msg);
    list = incidents_of(h, "Grp");
    for (size_t i = 0; i < 2; i++) {
        json_t *inc = json_array_get(list, i);

        assert_string_equal(str(inc, "state"), "open");
        if (strcmp(str(json_object_get(inc, "group_labels"), "service"), "web") == 0) {
            assert_int_equal(num(inc, "alerts_firing"), 1);
            d = detail(h, num(inc, "id"));
            assert_int_equal(json_array_size(json_object_get(d, "alerts")), 2);
            json_decref(d);
        }
    }
    json_decref(list);
}

/* A generic event and an Alertmanager alert with the same labels are one alert: both use
 * Alertmanager's label-set fingerprint (PROTOCOLS.md 1.2 gives a captured one). */
static void event_and_webhook_share_fingerprint(void **state)
{
    integ_hale *h = *state;
    json_t *alerts =
        json_pack("[o]", integ_am_alert("firing", NULL, T3, NULL, "alertname", "AlwaysFiring",
                                        "service", "demo", "severity", "warning", NULL));
    char *msg = integ_am_webhook(alerts);
    json_t *list, *d;

    assert_int_equal(integ_post_json(h->port, "/api/v1/alerts", msg, NULL), 200);
    free(msg);
    assert_int_equal(integ_post_json(h->port, "/api/v1/events",
                                     "{\"source\":\"cron\",\"labels\":{\"severity\":\"warning\","
                                     "\"service\":\"demo\",\"alertname\":\"AlwaysFiring\"}}",
                                     NULL),
                     200);
    list = incidents_of(h, "AlwaysFiring");
    assert_int_equal(json_array_size(list), 1);
    d = detail(h, num(json_array_get(list, 0), "id"));
    assert_int_equal(json_array_size(json_object_get(d, "alerts")), 1);
    assert_string_equal(str(first_alert(d), "fingerprint"), "5fd73595ad6c3eef");
    assert_int_equal(num(first_alert(d), "seen_count"), 2);
    json_decref(d);
    json_decref(list);
}

/* The same alert twice in one message, and two connections posting the same new alert at
 * once (one transaction): one alert, one incident. */
static void duplicates_in_one_batch(void **state)
{
    integ_hale *h = *state;
    json_t *one = integ_am_alert("firing", "00000000000d0021", T1, NULL, "alertname", "Twice",
                                 "service", "a", NULL);
    json_t *alerts = json_pack("[O, O]", one, one);
    char *msg = integ_am_webhook(alerts), *text;
    integ_conn c[2];
    size_t len;
    json_t *list, *d;

    json_decref(one);
    assert_int_equal(integ_post_json(h->port, "/api/v1/alerts", msg, NULL), 200);
    free(msg);

    one = integ_am_alert("firing", "00000000000d0022", T1, NULL, "alertname", "Twice", "service",
                         "b", NULL);
    msg = integ_am_webhook(json_pack("[o]", one));
    text = integ_http_format(h->port, "POST", "/api/v1/alerts", "application/json", NULL, msg,
                             strlen(msg), &len);
    for (int i = 0; i < 2; i++) {
        integ_conn_init(&c[i], h->port);
        assert_int_equal(integ_conn_connect(&c[i], 5000), 0);
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(integ_conn_send(&c[i], text, len, 5000), 0);
    for (int i = 0; i < 2; i++) {
        integ_resp resp = {0};

        assert_int_equal(integ_conn_read_response(&c[i], 5000, &resp), 0);
        assert_int_equal(resp.status, 200);
        integ_resp_release(&resp);
        integ_conn_close(&c[i]);
    }
    free(text);
    free(msg);

    list = incidents_of(h, "Twice");
    assert_int_equal(json_array_size(list), 2);
    for (size_t i = 0; i < 2; i++) {
        d = detail(h, num(json_array_get(list, i), "id"));
        assert_int_equal(num(d, "alerts_total"), 1);
        assert_int_equal(num(d, "alerts_firing"), 1);
        assert_int_equal(json_array_size(json_object_get(d, "alerts")), 1);
        assert_int_equal(num(first_alert(d), "seen_count"), 2);
        json_decref(d);
    }
    json_decref(list);
}

/* A 200 means committed (docs/api.md): the very next GET of the incident lists the alert that
 * was just acknowledged, not only after some background write. */
static void incident_detail_lists_alert_right_after_ack(void **state)
{
    integ_hale *h = *state;
    unsigned missing = 0;

    for (unsigned i = 0; i < 20; i++) {
        char fp[24], inst[16], path[64];
        json_t *list, *d = NULL, *a;
        size_t k;
        bool found = false;

        snprintf(fp, sizeof(fp), "00000000000e%04x", i);
        snprintf(inst, sizeof(inst), "i%u", i);
        {
            json_t *alerts =
                json_pack("[o]", integ_am_alert("firing", fp, T1, NULL, "alertname", "ReadBack",
                                                "service", "a", "instance", inst, NULL));
            char *msg = integ_am_webhook(alerts);

            assert_int_equal(integ_post_json(h->port, "/api/v1/alerts", msg, NULL), 200);
            free(msg);
        }
        list = incidents_of(h, "ReadBack");
        assert_int_equal(json_array_size(list), 1);
        snprintf(path, sizeof(path), "/api/v1/incidents/%lld",
                 (long long)num(json_array_get(list, 0), "id"));
        json_decref(list);
        assert_int_equal(integ_get_json(h->port, path, &d), 200);
        json_array_foreach(json_object_get(d, "alerts"), k, a)
        {
            if (strcmp(str(a, "fingerprint"), fp) == 0)
                found = true;
        }
        if (!found) {
            if (missing == 0)
                fprintf(stderr,
                        "BUG: alert %s acknowledged, but GET %s lists %zu of its %lld alerts\n", fp,
                        path, json_array_size(json_object_get(d, "alerts")),
                        (long long)num(d, "alerts_total"));
            missing++;
        }
        json_decref(d);
    }
    if (missing)
        fprintf(stderr, "%u of 20 acknowledged alerts were missing from the detail view\n",
                missing);
    assert_int_equal(missing, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resend_counts_and_creates_nothing),
        cmocka_unit_test(resolve_then_late_copies_change_nothing),
        cmocka_unit_test(new_episode_opens_new_incident),
        cmocka_unit_test(new_episode_after_late_copy_opens_incident),
        cmocka_unit_test(stale_resolve_does_not_resolve_new_episode),
        cmocka_unit_test(grouping_by_alertname_and_service),
        cmocka_unit_test(event_and_webhook_share_fingerprint),
        cmocka_unit_test(duplicates_in_one_batch),
        cmocka_unit_test(incident_detail_lists_alert_right_after_ack),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
