/* tests/test_incidents.c - correlation of alerts into incidents and the state machine, against
 * a real SQLite file. */
#include "fixture.h"

#include <unistd.h>

#include "hale/err.h"
#include "hale/incident.h"
#include "hale/store.h"
#include "loop/incidents.h"
#include "util/timeutil.h"

#define MIN_MS 60000
#define T0     1795000000000LL

struct env {
    char *dir;
    char path[512];
    hale_store *store;
    hale_incidents *m;
    int64_t event_id;
    int entered;            /* entered callbacks seen */
    int64_t entered_outbox; /* last outbox id handed out */
    hale_incident_state entered_state;
};

static const char *const group_by[] = {"alertname", "service"};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    hale_store_opts o = {.sync = HALE_STORE_SYNC_NORMAL};

    e->dir = fixture_tmpdir("hale-incidents");
    snprintf(e->path, sizeof(e->path), "%s/hale.db", e->dir);
    o.path = e->path;
    if (hale_store_open(&o, &e->store, NULL) < 0)
        return -1;
    if (hale_incidents_new(e->store, group_by, 2, 5 * MIN_MS, &e->m) < 0)
        return -1;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;

    hale_incidents_free(e->m);
    hale_store_free(e->store);
    fixture_rmtree(e->dir);
    free(e->dir);
    free(e);
    return 0;
}

static hale_alert make_alert(const char *labels_json, hale_alert_status status, int64_t starts)
{
    hale_alert a = {.status = status, .starts_ms = starts};

    a.labels = json_loads(labels_json, 0, NULL);
    assert_non_null(a.labels);
    a.annotations = json_object();
    assert_int_equal(hale_ingest_fingerprint(a.labels, a.fingerprint), 0);
    a.ends_ms = status == HALE_ALERT_FIRING ? HALE_TIME_ZERO_MS : starts + 1000;
    a.generator_url = strdup("");
    a.severity = strdup(json_string_value(json_object_get(a.labels, "severity"))
                            ? json_string_value(json_object_get(a.labels, "severity"))
                            : "");
    return a;
}

static void drop_alert(hale_alert *a)
{
    json_decref(a->labels);
    json_decref(a->annotations);
    free(a->generator_url);
    free(a->severity);
}

static void on_entered(void *ud, int64_t id, hale_incident_state s, int64_t outbox_id)
{
    struct env *e = ud;

    (void)id;
    e->entered++;
    e->entered_state = s;
    e->entered_outbox = outbox_id;
}

/* One transaction: one event carrying these alerts at now_ms. */
static void receive(struct env *e, hale_alert *alerts, size_t n, int64_t now_ms)
{
    hale_event_rec ev = {.received_ms = now_ms,
                         .kind = "event",
                         .source = "test",
                         .raw = "{}",
                         .raw_len = 2,
                         .normalized = "[]"};

    assert_int_equal(hale_store_begin(e->store), 0);
    assert_int_equal(hale_store_event_insert(e->store, &ev, &e->event_id), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(hale_incidents_apply_alert(e->m, &alerts[i], "test", e->event_id, now_ms),
                         0);
    assert_int_equal(hale_incidents_flush(e->m, now_ms, true), 0);
    assert_int_equal(hale_store_commit(e->store), 0);
    hale_incidents_committed(e->m, on_entered, e);
}

struct snap {
    int64_t id;
    char state[32];
    int64_t total, firing, version;
    char severity[16];
    int count;
};

static int snap_cb(const hale_incident_rec *r, void *ud)
{
    struct snap *s = ud;

    s->count++;
    s->id = r->id;
    snprintf(s->state, sizeof(s->state), "%s", r->state);
    snprintf(s->severity, sizeof(s->severity), "%s", r->severity);
    s->total = r->alerts_total;
    s->firing = r->alerts_firing;
    s->version = r->version;
    return 0;
}

static struct snap incident(struct env *e, int64_t id)
{
    struct snap s = {0};

    assert_int_equal(hale_store_incident_get(e->store, id, snap_cb, &s), 0);
    return s;
}

static int count_incidents(struct env *e)
{
    struct snap s = {0};

    assert_int_equal(hale_store_incidents_each(e->store, NULL, 0, snap_cb, &s), 0);
    return s.count;
}

static int64_t count(struct env *e, const char *table)
{
    int64_t n = -1;

    assert_int_equal(hale_store_count(e->store, table, &n), 0);
    return n;
}

static void firing_alert_opens_incident(void **state)
{
    struct env *e = *state;
    hale_alert a = make_alert("{\"alertname\":\"DiskFull\",\"service\":\"db\","
                              "\"severity\":\"critical\"}",
                              HALE_ALERT_FIRING, T0);
    struct snap s;

    receive(e, &a, 1, T0);
    assert_int_equal(count_incidents(e), 1);
    s = incident(e, 1);
    assert_string_equal(s.state, "open");
    assert_string_equal(s.severity, "critical");
    assert_int_equal(s.total, 1);
    assert_int_equal(s.firing, 1);
    assert_int_equal(s.version, 0);
    assert_int_equal(count(e, "incident_transitions"), 1);
    assert_int_equal(hale_incidents_active(e->m), 1);
    drop_alert(&a);
}

struct seen {
    const char *fingerprint; /* which alert */
    int64_t count;           /* its seen_count */
    int rows;                /* rows with that fingerprint */
    char status[16];         /* its status */
};

static int seen_cb(const hale_alert_rec *r, void *ud)
{
    struct seen *s = ud;

    if (strcmp(r->fingerprint, s->fingerprint) == 0) {
        s->count = r->seen_count;
        s->rows++;
        snprintf(s->status, sizeof(s->status), "%s", r->status);
    }
    return 0;
}

static void resend_creates_nothing_new(void **state)
{
    struct env *e = *state;
    hale_alert a =
        make_alert("{\"alertname\":\"DiskFull\",\"service\":\"db\"}", HALE_ALERT_FIRING, T0);
    struct seen seen = {.fingerprint = a.fingerprint};

    receive(e, &a, 1, T0);
    receive(e, &a, 1, T0 + MIN_MS);
    receive(e, &a, 1, T0 + 10 * MIN_MS); /* beyond the window: still the same alert */
    assert_int_equal(count_incidents(e), 1);
    assert_int_equal(count(e, "alerts"), 1);
    assert_int_equal(count(e, "events"), 3);
    assert_int_equal(hale_store_alerts_each(e->store, 0, seen_cb, &seen), 0);
    assert_int_equal(seen.rows, 1);
    assert_int_equal(seen.count, 3);
    assert_int_equal(incident(e, 1).firing, 1);
    drop_alert(&a);
}

static void same_group_joins_other_group_opens(void **state)
{
    struct env *e = *state;
    hale_alert a[3] = {
        make_alert("{\"alertname\":\"Down\",\"service\":\"web\",\"instance\":\"a\"}",
                   HALE_ALERT_FIRING, T0),
        make_alert("{\"alertname\":\"Down\",\"service\":\"web\",\"instance\":\"b\"}",
                   HALE_ALERT_FIRING, T0),
        make_alert("{\"alertname\":\"Down\",\"service\":\"api\",\"instance\":\"a\"}",
                   HALE_ALERT_FIRING, T0),
    };

    receive(e, a, 2, T0);
    receive(e, a + 2, 1, T0 + 1000);
    assert_int_equal(count_incidents(e), 2);
    assert_int_equal(incident(e, 1).total, 2);
    assert_int_equal(incident(e, 2).total, 1);
    for (int i = 0; i < 3; i++)
        drop_alert(&a[i]);
}

static void window_expiry_opens_new_incident(void **state)
{
    struct env *e = *state;
    hale_alert a = make_alert("{\"alertname\":\"Down\",\"service\":\"web\",\"instance\":\"a\"}",
                              HALE_ALERT_FIRING, T0);
    hale_alert b = make_alert("{\"alertname\":\"Down\",\"service\":\"web\",\"instance\":\"b\"}",
                              HALE_ALERT_FIRING, T0 + 6 * MIN_MS);
    hale_alert c = make_alert("{\"alertname\":\"Down\",\"service\":\"web\",\"instance\":\"c\"}",
                              HALE_ALERT_FIRING, T0 + 7 * MIN_MS);

    receive(e, &a, 1, T0);
    receive(e, &b, 1, T0 + 6 * MIN_MS); /* 6 min of silence > 5 min window */
    receive(e, &c, 1, T0 + 7 * MIN_MS); /* joins the newer incident */
    assert_int_equal(count_incidents(e), 2);
    assert_int_equal(incident(e, 1).total, 1);
    assert_int_equal(incident(e, 2).total, 2);
    drop_alert(&a);
    drop_alert(&b);
    drop_alert(&c);
}

static void last_resolved_alert_resolves_incident(void **state)
{
    struct env *e = *state;
    hale_alert f[2] = {
        make_alert("{\"alertname\":\"Down\",\"service\":\"web\",\"instance\":\"a\"}",
                   HALE_ALERT_FIRING, T0),
        make_alert("{\"alertname\":\"Down\",\"service\":\"web\",\"instance\":\"b\"}",
                   HALE_ALERT_FIRING, T0),
    };
    hale_alert r0 = make_alert("{\"alertname\":\"Down\",\"service\":\"web\",\"instance\":\"a\"}",
                               HALE_ALERT_RESOLVED, T0);
    hale_alert r1 = make_alert("{\"alertname\":\"Down\",\"service\":\"web\",\"instance\":\"b\"}",
                               HALE_ALERT_RESOLVED, T0);

    receive(e, f, 2, T0);
    receive(e, &r0, 1, T0 + 1000);
    assert_string_equal(incident(e, 1).state, "open");
    assert_int_equal(incident(e, 1).firing, 1);
    receive(e, &r0, 1, T0 + 2000); /* a re-sent resolve changes nothing */
    assert_int_equal(incident(e, 1).firing, 1);
    receive(e, &r1, 1, T0 + 3000);
    assert_string_equal(incident(e, 1).state, "resolved");
    assert_int_equal(incident(e, 1).firing, 0);
    assert_int_equal(hale_incidents_active(e->m), 0);
    assert_int_equal(hale_incidents_cached_alerts(e->m), 2) /* kept for dedup */;
    /* A late copy of the resolved episode's firing notification is stale. */
    receive(e, &f[0], 1, T0 + 4000);
    assert_int_equal(count_incidents(e), 1);
    for (int i = 0; i < 2; i++)
        drop_alert(&f[i]);
    drop_alert(&r0);
    drop_alert(&r1);
}

static void new_episode_after_resolve_opens_new_incident(void **state)
{
    struct env *e = *state;
    const char *labels = "{\"alertname\":\"Down\",\"service\":\"web\"}";
    hale_alert f1 = make_alert(labels, HALE_ALERT_FIRING, T0);
    hale_alert r1 = make_alert(labels, HALE_ALERT_RESOLVED, T0);
    hale_alert f2 = make_alert(labels, HALE_ALERT_FIRING, T0 + MIN_MS);

    receive(e, &f1, 1, T0);
    receive(e, &r1, 1, T0 + 1000);
    receive(e, &f2, 1, T0 + MIN_MS);
    assert_int_equal(count_incidents(e), 2);
    assert_string_equal(incident(e, 1).state, "resolved");
    assert_string_equal(incident(e, 2).state, "open");
    assert_int_equal(count(e, "alerts"), 1);
    drop_alert(&f1);
    drop_alert(&r1);
    drop_alert(&f2);
}

static void stale_resolve_does_not_resolve_new_episode(void **state)
{
    struct env *e = *state;
    const char *labels = "{\"alertname\":\"Down\",\"service\":\"web\"}";
    hale_alert f1 = make_alert(labels, HALE_ALERT_FIRING, T0);
    hale_alert r1 = make_alert(labels, HALE_ALERT_RESOLVED, T0);
    hale_alert f2 = make_alert(labels, HALE_ALERT_FIRING, T0 + MIN_MS);
    struct seen seen = {.fingerprint = f1.fingerprint};

    receive(e, &f1, 1, T0);
    receive(e, &r1, 1, T0 + 1000);
    receive(e, &f2, 1, T0 + MIN_MS);
    receive(e, &r1, 1, T0 + MIN_MS + 1000); /* a late copy of the first resolve */
    assert_string_equal(incident(e, 2).state, "open");
    assert_int_equal(incident(e, 2).firing, 1);
    assert_int_equal(hale_store_alerts_each(e->store, 0, seen_cb, &seen), 0);
    assert_int_equal(seen.count, 4);
    assert_string_equal(seen.status, "firing");
    drop_alert(&f1);
    drop_alert(&r1);
    drop_alert(&f2);
}

static void late_firing_copy_changes_nothing(void **state)
{
    struct env *e = *state;
    const char *labels = "{\"alertname\":\"Down\",\"service\":\"web\"}";
    hale_alert f1 = make_alert(labels, HALE_ALERT_FIRING, T0);
    hale_alert r1 = make_alert(labels, HALE_ALERT_RESOLVED, T0);
    hale_alert f2 = make_alert(labels, HALE_ALERT_FIRING, T0 + MIN_MS);
    struct seen seen = {.fingerprint = f1.fingerprint};

    receive(e, &f1, 1, T0);
    receive(e, &r1, 1, T0 + 1000);
    receive(e, &f1, 1, T0 + 2000); /* a retried copy of the first firing notification */
    assert_int_equal(hale_store_alerts_each(e->store, 0, seen_cb, &seen), 0);
    assert_string_equal(seen.status, "resolved");
    receive(e, &f2, 1, T0 + MIN_MS); /* a real new episode still opens an incident */
    assert_int_equal(count_incidents(e), 2);
    assert_string_equal(incident(e, 2).state, "open");
    drop_alert(&f1);
    drop_alert(&r1);
    drop_alert(&f2);
}

static void transition(struct env *e, int64_t id, hale_incident_state to, int want)
{
    assert_int_equal(hale_store_begin(e->store), 0);
    assert_int_equal(hale_incidents_transition(e->m, id, to, "test", T0 + 5000), want);
    assert_int_equal(hale_incidents_flush(e->m, T0 + 5000, true), 0);
    assert_int_equal(hale_store_commit(e->store), 0);
    hale_incidents_committed(e->m, on_entered, e);
}

static void resend_after_failure_stays_with_closed_incident(void **state)
{
    struct env *e = *state;
    hale_alert a =
        make_alert("{\"alertname\":\"Down\",\"service\":\"web\"}", HALE_ALERT_FIRING, T0);

    receive(e, &a, 1, T0);
    transition(e, 1, HALE_INCIDENT_FAILED, 0);
    receive(e, &a, 1, T0 + MIN_MS);
    assert_int_equal(count_incidents(e), 1);
    assert_string_equal(incident(e, 1).state, "failed");
    drop_alert(&a);
}

static void transitions_are_validated(void **state)
{
    struct env *e = *state;
    hale_alert a = make_alert("{\"alertname\":\"X\",\"service\":\"y\"}", HALE_ALERT_FIRING, T0);

    receive(e, &a, 1, T0);
    transition(e, 1, HALE_INCIDENT_VERIFYING, HALE_ESTATE);
    transition(e, 1, HALE_INCIDENT_INVESTIGATING, 0);
    transition(e, 1, HALE_INCIDENT_DECIDING, 0);
    transition(e, 1, HALE_INCIDENT_HEALING, 0);
    transition(e, 1, HALE_INCIDENT_VERIFYING, 0);
    transition(e, 1, HALE_INCIDENT_RESOLVED, 0);
    transition(e, 1, HALE_INCIDENT_OPEN, HALE_ENOTFOUND); /* closed: no longer active */
    transition(e, 42, HALE_INCIDENT_FAILED, HALE_ENOTFOUND);
    assert_int_equal(count(e, "incident_transitions"), 6);
    assert_int_equal(incident(e, 1).version, 5);
    drop_alert(&a);
}

static void state_table(void **state)
{
    hale_incident_state s;

    (void)state;
    assert_true(hale_incident_transition_allowed(HALE_INCIDENT_OPEN, HALE_INCIDENT_RESOLVED));
    assert_true(
        hale_incident_transition_allowed(HALE_INCIDENT_AWAITING_APPROVAL, HALE_INCIDENT_HEALING));
    assert_true(hale_incident_transition_allowed(HALE_INCIDENT_ESCALATED, HALE_INCIDENT_RESOLVED));
    assert_false(hale_incident_transition_allowed(HALE_INCIDENT_ESCALATED, HALE_INCIDENT_HEALING));
    assert_false(hale_incident_transition_allowed(HALE_INCIDENT_RESOLVED, HALE_INCIDENT_OPEN));
    assert_false(hale_incident_transition_allowed(HALE_INCIDENT_OPEN, HALE_INCIDENT_OPEN));
    assert_false(hale_incident_transition_allowed(HALE_INCIDENT_OPEN, HALE_INCIDENT_HEALING));
    assert_false(hale_incident_transition_allowed(HALE_INCIDENT_OPEN, HALE_INCIDENT_ROLLED_BACK));
    assert_true(
        hale_incident_transition_allowed(HALE_INCIDENT_VERIFYING, HALE_INCIDENT_ROLLED_BACK));
    assert_false(hale_incident_transition_allowed((hale_incident_state)99, HALE_INCIDENT_OPEN));
    assert_true(hale_incident_state_is_terminal(HALE_INCIDENT_ROLLED_BACK));
    assert_false(hale_incident_state_is_terminal(HALE_INCIDENT_ESCALATED));
    for (int i = 0; i < HALE_INCIDENT__STATE_COUNT; i++) {
        assert_int_equal(
            hale_incident_state_parse(hale_incident_state_name((hale_incident_state)i), &s), 0);
        assert_int_equal(s, i);
    }
    assert_int_equal(hale_incident_state_parse("bogus", &s), HALE_ESCHEMA);
    assert_string_equal(hale_incident_state_name((hale_incident_state)77), "invalid");
    assert_int_equal(hale_severity_rank("critical"), 4);
    assert_int_equal(hale_severity_rank("page-me"), 0);
}

static void staged_state_writes_work_item(void **state)
{
    struct env *e = *state;
    hale_alert a = make_alert("{\"alertname\":\"X\",\"service\":\"y\"}", HALE_ALERT_FIRING, T0);

    hale_incidents_set_staged(e->m, HALE_INCIDENT_OPEN, true);
    hale_incidents_set_staged(e->m, HALE_INCIDENT_DECIDING, true);
    receive(e, &a, 1, T0);
    assert_int_equal(e->entered, 1);
    assert_int_equal(e->entered_state, HALE_INCIDENT_OPEN);
    assert_true(e->entered_outbox > 0);
    transition(e, 1, HALE_INCIDENT_INVESTIGATING, 0); /* not staged: no item */
    assert_int_equal(e->entered, 1);
    transition(e, 1, HALE_INCIDENT_DECIDING, 0);
    assert_int_equal(e->entered, 2);
    assert_int_equal(e->entered_state, HALE_INCIDENT_DECIDING);
    assert_int_equal(count(e, "outbox"), 2);
    drop_alert(&a);
}

static void aborted_transaction_leaves_no_trace(void **state)
{
    struct env *e = *state;
    hale_alert a = make_alert("{\"alertname\":\"X\",\"service\":\"y\"}", HALE_ALERT_FIRING, T0);
    hale_alert b =
        make_alert("{\"alertname\":\"X\",\"service\":\"y\",\"i\":\"2\"}", HALE_ALERT_FIRING, T0);

    receive(e, &a, 1, T0);
    assert_int_equal(hale_store_begin(e->store), 0);
    assert_int_equal(hale_incidents_apply_alert(e->m, &b, "test", e->event_id, T0 + 1), 0);
    assert_int_equal(hale_incidents_flush(e->m, T0 + 1, true), 0);
    hale_store_rollback(e->store);
    assert_int_equal(hale_incidents_aborted(e->m), 0);
    assert_int_equal(incident(e, 1).total, 1);
    /* The same alert again after the rollback is new, not a duplicate. */
    receive(e, &b, 1, T0 + 2);
    assert_int_equal(incident(e, 1).total, 2);
    assert_int_equal(hale_incidents_cached_alerts(e->m), 2);
    drop_alert(&a);
    drop_alert(&b);
}

static void restart_resumes_grouping(void **state)
{
    struct env *e = *state;
    hale_alert a =
        make_alert("{\"alertname\":\"X\",\"service\":\"y\",\"i\":\"1\"}", HALE_ALERT_FIRING, T0);
    hale_alert b =
        make_alert("{\"alertname\":\"X\",\"service\":\"y\",\"i\":\"2\"}", HALE_ALERT_FIRING, T0);
    hale_alert ra =
        make_alert("{\"alertname\":\"X\",\"service\":\"y\",\"i\":\"1\"}", HALE_ALERT_RESOLVED, T0);
    hale_alert rb =
        make_alert("{\"alertname\":\"X\",\"service\":\"y\",\"i\":\"2\"}", HALE_ALERT_RESOLVED, T0);

    receive(e, &a, 1, T0);
    hale_incidents_free(e->m);
    assert_int_equal(hale_incidents_new(e->store, group_by, 2, 5 * MIN_MS, &e->m), 0);
    assert_int_equal(hale_incidents_active(e->m), 1);
    receive(e, &a, 1, T0 + 1000); /* re-send after restart: still a duplicate */
    receive(e, &b, 1, T0 + 2000); /* joins the reloaded incident */
    assert_int_equal(count_incidents(e), 1);
    assert_int_equal(incident(e, 1).total, 2);
    receive(e, &ra, 1, T0 + 3000);
    receive(e, &rb, 1, T0 + 4000);
    assert_string_equal(incident(e, 1).state, "resolved");
    drop_alert(&a);
    drop_alert(&b);
    drop_alert(&ra);
    drop_alert(&rb);
}

static void severity_rises_with_worse_alert(void **state)
{
    struct env *e = *state;
    hale_alert a[2] = {
        make_alert("{\"alertname\":\"X\",\"service\":\"y\",\"severity\":\"info\"}",
                   HALE_ALERT_FIRING, T0),
        make_alert("{\"alertname\":\"X\",\"service\":\"y\",\"severity\":\"critical\"}",
                   HALE_ALERT_FIRING, T0),
    };

    receive(e, a, 1, T0);
    assert_string_equal(incident(e, 1).severity, "info");
    receive(e, a + 1, 1, T0 + 1);
    assert_string_equal(incident(e, 1).severity, "critical");
    receive(e, a, 1, T0 + 2);
    assert_string_equal(incident(e, 1).severity, "critical");
    drop_alert(&a[0]);
    drop_alert(&a[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(firing_alert_opens_incident, setup, teardown),
        cmocka_unit_test_setup_teardown(resend_creates_nothing_new, setup, teardown),
        cmocka_unit_test_setup_teardown(same_group_joins_other_group_opens, setup, teardown),
        cmocka_unit_test_setup_teardown(window_expiry_opens_new_incident, setup, teardown),
        cmocka_unit_test_setup_teardown(last_resolved_alert_resolves_incident, setup, teardown),
        cmocka_unit_test_setup_teardown(new_episode_after_resolve_opens_new_incident, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(resend_after_failure_stays_with_closed_incident, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stale_resolve_does_not_resolve_new_episode, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(late_firing_copy_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(transitions_are_validated, setup, teardown),
        cmocka_unit_test(state_table),
        cmocka_unit_test_setup_teardown(staged_state_writes_work_item, setup, teardown),
        cmocka_unit_test_setup_teardown(aborted_transaction_leaves_no_trace, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_resumes_grouping, setup, teardown),
        cmocka_unit_test_setup_teardown(severity_rises_with_worse_alert, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
