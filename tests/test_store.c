/* tests/test_store.c - the SQLite store: migrations, durability settings, records, constraints
 * and the JSON views, on a real file. */
#include "fixture.h"

#include <sqlite3.h>

#include "hale/err.h"
#include "hale/store.h"

struct env {
    char *dir;
    char path[512];
    hale_store *s;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    hale_store_opts o = {.sync = HALE_STORE_SYNC_FULL};

    e->dir = fixture_tmpdir("hale-store");
    snprintf(e->path, sizeof(e->path), "%s/hale.db", e->dir);
    o.path = e->path;
    if (hale_store_open(&o, &e->s, NULL) < 0)
        return -1;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;

    hale_store_free(e->s);
    fixture_rmtree(e->dir);
    free(e->dir);
    free(e);
    return 0;
}

static hale_incident_rec incident_rec(int64_t id, const char *state)
{
    return (hale_incident_rec){.id = id,
                               .group_key = "alertname=\"X\"",
                               .group_labels = "{\"alertname\":\"X\"}",
                               .title = "X",
                               .state = state,
                               .severity = "warning",
                               .state_reason = "test",
                               .context = "{}",
                               .created_ms = 1000,
                               .updated_ms = 1000,
                               .state_since_ms = 1000,
                               .last_alert_ms = 1000,
                               .alerts_total = 1,
                               .alerts_firing = 1};
}

static void migrates_and_reopens(void **state)
{
    struct env *e = *state;
    hale_store_opts o = {.path = e->path, .read_only = true};
    hale_store *ro = NULL;

    assert_int_equal(hale_store_schema_version(e->s), 9);
    assert_int_equal(hale_store_open(&o, &ro, NULL), 0);
    assert_int_equal(hale_store_schema_version(ro), 9);
    /* A read-only connection refuses writes. */
    assert_int_equal(hale_store_begin(ro), HALE_ESTORE);
    hale_store_free(ro);
}

static void refuses_missing_and_newer_databases(void **state)
{
    struct env *e = *state;
    hale_store_opts o = {.read_only = true};
    hale_diag diag = {{0}};
    char path[600];
    hale_store *s = NULL;
    sqlite3 *db;

    snprintf(path, sizeof(path), "%s/none.db", e->dir);
    o.path = path;
    assert_int_equal(hale_store_open(&o, &s, &diag), HALE_ESTORE);
    assert_non_null(strstr(diag.msg, "none.db"));
    hale_store_free(e->s);
    e->s = NULL;
    assert_int_equal(sqlite3_open(e->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    o.path = e->path;
    o.read_only = false;
    assert_int_equal(hale_store_open(&o, &s, &diag), HALE_ESCHEMA);
    assert_non_null(strstr(diag.msg, "newer"));
    assert_null(s);
    o.read_only = false;
}

static int64_t pragma_int(sqlite3 *db, const char *sql, char *text, size_t text_size)
{
    sqlite3_stmt *st;
    int64_t v;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    if (text)
        snprintf(text, text_size, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

static void wal_and_page_size(void **state)
{
    struct env *e = *state;
    char mode[16];
    sqlite3 *db;

    assert_int_equal(sqlite3_open(e->path, &db), SQLITE_OK);
    (void)pragma_int(db, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    assert_int_equal(pragma_int(db, "PRAGMA page_size", NULL, 0), 8192);
    sqlite3_close(db);
}

static int seen_count(const hale_alert_rec *r, void *ud)
{
    *(int64_t *)ud = r->seen_count;
    return 0;
}

static void alert_upsert_by_id_counts_receipts(void **state)
{
    struct env *e = *state;
    hale_alert_rec a = {.id = 1,
                        .fingerprint = "0123456789abcdef",
                        .status = "firing",
                        .labels = "{}",
                        .annotations = "{}",
                        .severity = "",
                        .source = "t",
                        .generator_url = "",
                        .seen_count = 1};
    int64_t n = 0;

    assert_int_equal(hale_store_begin(e->s), 0);
    for (int i = 0; i < 3; i++) {
        a.last_seen_ms = i;
        assert_int_equal(hale_store_alert_upsert(e->s, &a), 0);
    }
    a.id = 2;
    a.fingerprint = "fedcba9876543210";
    assert_int_equal(hale_store_alert_upsert(e->s, &a), 0);
    assert_int_equal(hale_store_commit(e->s), 0);
    assert_int_equal(hale_store_count(e->s, "alerts", &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(hale_store_alert_get(e->s, 1, seen_count, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(hale_store_alert_get(e->s, 9, seen_count, &n), HALE_ENOTFOUND);
    assert_int_equal(hale_store_max_alert_id(e->s, &n), 0);
    assert_int_equal(n, 2);
}

static void dangling_incident_reference_fails_commit(void **state)
{
    struct env *e = *state;
    hale_transition_rec t = {
        .incident_id = 77, .from = "", .to = "open", .at_ms = 1, .reason = "x"};
    int64_t n = -1;

    assert_int_equal(hale_store_begin(e->s), 0);
    assert_int_equal(hale_store_transition_add(e->s, &t), 0); /* deferred until commit */
    assert_int_equal(hale_store_commit(e->s), HALE_ESTORE);
    assert_int_equal(hale_store_count(e->s, "incident_transitions", &n), 0);
    assert_int_equal(n, 0);
    /* The connection is usable again after the failed commit. */
    assert_int_equal(hale_store_begin(e->s), 0);
    hale_incident_rec r = incident_rec(77, "open");
    assert_int_equal(hale_store_incident_put(e->s, &r), 0);
    assert_int_equal(hale_store_transition_add(e->s, &t), 0);
    assert_int_equal(hale_store_commit(e->s), 0);
}

static int keep_state(const hale_incident_rec *r, void *ud)
{
    snprintf(ud, 32, "%s:%lld", r->state, (long long)r->version);
    return 0;
}

static void incident_upsert_and_json(void **state)
{
    struct env *e = *state;
    hale_incident_rec r = incident_rec(1, "open");
    hale_alert_rec a = {.id = 1,
                        .fingerprint = "0123456789abcdef",
                        .status = "firing",
                        .labels = "{\"alertname\":\"X\"}",
                        .annotations = "{}",
                        .severity = "warning",
                        .source = "alertmanager",
                        .generator_url = "",
                        .starts_ms = 1000,
                        .ends_ms = -62135596800000LL,
                        .first_seen_ms = 1000,
                        .last_seen_ms = 1000,
                        .seen_count = 1,
                        .incident_id = 1,
                        .last_event_id = 1};
    json_t *detail = NULL, *list = NULL;
    char got[32];

    assert_int_equal(hale_store_begin(e->s), 0);
    assert_int_equal(hale_store_incident_put(e->s, &r), 0);
    assert_int_equal(hale_store_alert_upsert(e->s, &a), 0);
    a.last_seen_ms = 2000;
    assert_int_equal(hale_store_alert_upsert(e->s, &a), 0);
    /* Membership is written separately; a lost pair is rebuilt from alerts.incident_id. */
    assert_int_equal(hale_store_incident_alerts_rebuild(e->s), 1);
    assert_int_equal(hale_store_incident_alerts_rebuild(e->s), 0);
    assert_int_equal(hale_store_incident_alert_add(e->s, 1, 1), 0);
    r.state = "investigating";
    r.version = 1;
    assert_int_equal(hale_store_incident_put(e->s, &r), 0);
    assert_int_equal(hale_store_commit(e->s), 0);
    assert_int_equal(hale_store_incident_get(e->s, 1, keep_state, got), 0);
    assert_string_equal(got, "investigating:1");
    assert_int_equal(hale_store_incident_get(e->s, 2, keep_state, got), HALE_ENOTFOUND);

    assert_int_equal(hale_store_incident_detail_json(e->s, 1, &detail), 0);
    assert_string_equal(json_string_value(json_object_get(detail, "state")), "investigating");
    json_t *alert = json_array_get(json_object_get(detail, "alerts"), 0);
    assert_int_equal(json_integer_value(json_object_get(alert, "seen_count")), 2);
    assert_true(json_is_null(json_object_get(alert, "ends_at"))); /* still open */
    assert_string_equal(json_string_value(json_object_get(alert, "first_seen")),
                        "1970-01-01T00:00:01.000Z");
    assert_string_equal(json_string_value(json_object_get(alert, "last_seen")),
                        "1970-01-01T00:00:02.000Z");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(detail, "group_labels"), "alertname")),
        "X");
    json_decref(detail);

    assert_int_equal(hale_store_incidents_json(e->s, "open", 0, &list), 0);
    assert_int_equal(json_array_size(json_object_get(list, "incidents")), 0);
    json_decref(list);
    assert_int_equal(hale_store_incidents_json(e->s, NULL, 0, &list), 0);
    assert_int_equal(json_array_size(json_object_get(list, "incidents")), 1);
    json_decref(list);
}

static int count_outbox(const hale_outbox_rec *o, void *ud)
{
    (void)o;
    (*(int *)ud)++;
    return 0;
}

static void outbox_and_prune(void **state)
{
    struct env *e = *state;
    hale_incident_rec r = incident_rec(1, "open");
    hale_outbox_rec o = {
        .kind = "stage:open", .incident_id = 1, .payload = "{}", .created_ms = 5, .due_ms = 5};
    hale_event_rec ev = {
        .kind = "event", .source = "t", .raw = "{}", .raw_len = 2, .normalized = "[]"};
    int64_t id = 0, n = 0;
    int pending = 0;

    assert_int_equal(hale_store_begin(e->s), 0);
    assert_int_equal(hale_store_incident_put(e->s, &r), 0);
    assert_int_equal(hale_store_outbox_add(e->s, &o, &id), 0);
    for (int i = 0; i < 10; i++) {
        ev.received_ms = i * 1000;
        assert_int_equal(hale_store_event_insert(e->s, &ev, &ev.id), 0);
    }
    assert_int_equal(hale_store_commit(e->s), 0);
    assert_int_equal(hale_store_outbox_pending_each(e->s, count_outbox, &pending), 0);
    assert_int_equal(pending, 1);
    assert_int_equal(hale_store_begin(e->s), 0);
    assert_int_equal(hale_store_outbox_finish(e->s, id, 6, NULL), 0);
    assert_int_equal(hale_store_events_prune(e->s, 5000, 3), 3); /* bounded per call */
    assert_int_equal(hale_store_events_prune(e->s, 5000, 100), 2);
    assert_int_equal(hale_store_commit(e->s), 0);
    pending = 0;
    assert_int_equal(hale_store_outbox_pending_each(e->s, count_outbox, &pending), 0);
    assert_int_equal(pending, 0);
    assert_int_equal(hale_store_count(e->s, "events", &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(hale_store_count(e->s, "sqlite_master", &n), HALE_ENOTFOUND);
}

static void settings_survive_a_reopen(void **state)
{
    struct env *e = *state;
    hale_store_opts o = {.path = e->path, .read_only = true};
    hale_diag d = {{0}};
    hale_store *ro = NULL;
    json_t *v = NULL, *in;

    assert_int_equal(hale_store_setting_get(e->s, "pause", &v, &d), HALE_ENOTFOUND);
    in = json_pack("{s:b,s:s}", "paused", 1, "actor", "ops");
    assert_int_equal(hale_store_setting_put(e->s, "pause", in, 10, &d), 0);
    json_decref(in);
    in = json_pack("{s:b,s:s}", "paused", 0, "actor", "lead");
    assert_int_equal(hale_store_setting_put(e->s, "pause", in, 20, &d), 0); /* replaces */
    json_decref(in);
    assert_int_equal(hale_store_open(&o, &ro, NULL), 0);
    assert_int_equal(hale_store_setting_get(ro, "pause", &v, &d), 0);
    assert_false(json_is_true(json_object_get(v, "paused")));
    assert_string_equal(json_string_value(json_object_get(v, "actor")), "lead");
    json_decref(v);
    /* A reader cannot write it. */
    in = json_object();
    assert_int_equal(hale_store_setting_put(ro, "pause", in, 30, &d), HALE_ESTORE);
    assert_non_null(strstr(d.msg, "control_setting 'pause'"));
    json_decref(in);
    hale_store_free(ro);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrates_and_reopens, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_missing_and_newer_databases, setup, teardown),
        cmocka_unit_test_setup_teardown(wal_and_page_size, setup, teardown),
        cmocka_unit_test_setup_teardown(alert_upsert_by_id_counts_receipts, setup, teardown),
        cmocka_unit_test_setup_teardown(dangling_incident_reference_fails_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(incident_upsert_and_json, setup, teardown),
        cmocka_unit_test_setup_teardown(outbox_and_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(settings_survive_a_reopen, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
