/* tests/test_loop.c - the controller end to end in one process: intake through the HTTP API,
 * persistence across restarts, stage delivery and redelivery from the outbox, reload and
 * shutdown by signal. The loop runs on its own thread; the test is the HTTP client. */
#include "fixture.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

#include "hale/config.h"
#include "hale/err.h"
#include "hale/incident.h"
#include "loop/loop.h"

struct env {
    char *dir;
    char config[600];
    hale_loop *loop;
    pthread_t thread;
    int run_result;
    unsigned port;
    /* stage observations, written on the loop thread, read after join */
    int open_calls;
    int investigating_calls;
    unsigned last_attempt;
    bool finish_investigating;
};

static const char firing[] =
    "{\"receiver\":\"hale\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\","
    "\"labels\":{\"alertname\":\"DiskFull\",\"service\":\"db\",\"severity\":\"critical\"},"
    "\"annotations\":{\"summary\":\"disk / at 97%\"},\"startsAt\":\"2026-11-22T13:08:22.079Z\","
    "\"endsAt\":\"0001-01-01T00:00:00Z\",\"generatorURL\":\"http://x/graph\","
    "\"fingerprint\":\"1111111111111111\"}],\"groupLabels\":{},\"commonLabels\":{},"
    "\"commonAnnotations\":{},\"externalURL\":\"http://am\",\"version\":\"4\","
    "\"groupKey\":\"{}:{}\",\"truncatedAlerts\":0}\n";

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    char text[1024];

    e->dir = fixture_tmpdir("hale-loop");
    snprintf(e->config, sizeof(e->config), "%s/hale.json", e->dir);
    snprintf(text, sizeof(text),
             "{\"listen\": \"127.0.0.1:0\", \"data_dir\": \"%s/var\", \"log_level\": \"warn\"}",
             e->dir);
    if (fixture_write(e->config, text) < 0)
        return -1;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;

    fixture_rmtree(e->dir);
    free(e->dir);
    free(e);
    return 0;
}

static void *run_thread(void *ud)
{
    struct env *e = ud;

    e->run_result = hale_loop_run(e->loop);
    return NULL;
}

static void on_open(void *ud, const hale_incident_view *v)
{
    struct env *e = ud;

    e->open_calls++;
    assert_int_equal(hale_loop_stage_done(e->loop, v->outbox_id, v->id, HALE_INCIDENT_INVESTIGATING,
                                          "triaged", NULL),
                     0);
}

static void on_investigating(void *ud, const hale_incident_view *v)
{
    struct env *e = ud;

    e->investigating_calls++;
    e->last_attempt = v->attempt;
    if (e->finish_investigating)
        assert_int_equal(hale_loop_stage_done(e->loop, v->outbox_id, v->id, HALE_INCIDENT_ESCALATED,
                                              "needs a human", NULL),
                         0);
}

static void start(struct env *e, bool stages)
{
    hale_config *cfg = NULL;
    hale_diag diag = {{0}};

    assert_int_equal(hale_config_load(e->config, &cfg, &diag), 0);
    assert_int_equal(hale_loop_new(cfg, e->config, &e->loop, &diag), 0);
    hale_config_unref(cfg);
    if (stages) {
        hale_stage open = {"triage", HALE_INCIDENT_OPEN, on_open, e};
        hale_stage inv = {"investigate", HALE_INCIDENT_INVESTIGATING, on_investigating, e};

        assert_int_equal(hale_loop_register_stage(e->loop, &open), 0);
        assert_int_equal(hale_loop_register_stage(e->loop, &inv), 0);
        assert_int_equal(hale_loop_register_stage(e->loop, &inv), -EEXIST);
    }
    e->port = hale_loop_port(e->loop);
    assert_true(e->port > 0);
    assert_int_equal(pthread_create(&e->thread, NULL, run_thread, e), 0);
    /* Answered only once the loop runs, so its signal handlers are installed by then. */
    assert_int_equal(fixture_http(e->port, "GET", "/healthz", NULL, NULL, NULL), 200);
}

static void stop(struct env *e)
{
    /* The loop's uv_signal handler turns this into an orderly shutdown. */
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    assert_int_equal(pthread_join(e->thread, NULL), 0);
    assert_int_equal(e->run_result, 0);
    hale_loop_free(e->loop);
    e->loop = NULL;
}

static json_t *get_json(struct env *e, const char *path, int want_status)
{
    char *body = NULL;
    json_t *v;

    assert_int_equal(fixture_http(e->port, "GET", path, NULL, NULL, &body), want_status);
    v = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(v);
    return v;
}

static const char *incident_state(json_t *list, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(list, "incidents"), i), "state"));
}

static void accepted_alert_survives_restart(void **state)
{
    struct env *e = *state;
    json_t *list;
    char *body = NULL;

    start(e, false);
    assert_int_equal(
        fixture_http(e->port, "POST", "/api/v1/alerts", "application/json", firing, &body), 200);
    assert_non_null(strstr(body, "\"accepted\""));
    free(body);
    list = get_json(e, "/api/v1/incidents", 200);
    assert_int_equal(json_array_size(json_object_get(list, "incidents")), 1);
    assert_string_equal(incident_state(list, 0), "open");
    json_decref(list);
    stop(e);

    start(e, false);
    list = get_json(e, "/api/v1/incidents?state=open", 200);
    assert_int_equal(json_array_size(json_object_get(list, "incidents")), 1);
    json_decref(list);
    /* The re-send after the restart is a duplicate of the reloaded alert. */
    assert_int_equal(
        fixture_http(e->port, "POST", "/api/v1/alerts", "application/json", firing, NULL), 200);
    list = get_json(e, "/api/v1/incidents/1", 200);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(list, "alerts"), 0), "seen_count")),
                     2);
    json_decref(list);
    stop(e);
}

static void routes_answer_with_right_status(void **state)
{
    struct env *e = *state;
    char *body = NULL;
    json_t *v;

    start(e, false);
    assert_int_equal(fixture_http(e->port, "GET", "/healthz", NULL, NULL, NULL), 200);
    assert_int_equal(fixture_http(e->port, "GET", "/readyz", NULL, NULL, NULL), 200);
    assert_int_equal(fixture_http(e->port, "GET", "/nope", NULL, NULL, NULL), 404);
    assert_int_equal(fixture_http(e->port, "GET", "/api/v1/alerts", NULL, NULL, NULL), 405);
    assert_int_equal(fixture_http(e->port, "GET", "/api/v1/incidents/77", NULL, NULL, NULL), 404);
    assert_int_equal(fixture_http(e->port, "GET", "/api/v1/incidents/x1", NULL, NULL, NULL), 404);
    assert_int_equal(
        fixture_http(e->port, "GET", "/api/v1/incidents?state=bogus", NULL, NULL, NULL), 400);
    assert_int_equal(fixture_http(e->port, "GET", "/api/v1/incidents?limit=0", NULL, NULL, NULL),
                     400);
    assert_int_equal(fixture_http(e->port, "POST", "/api/v1/alerts", "text/plain", firing, NULL),
                     415);
    assert_int_equal(
        fixture_http(e->port, "POST", "/api/v1/alerts", "application/json", "{\"version\":", &body),
        400);
    v = json_loads(body, 0, NULL);
    free(body);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "error"), "code")),
                        "malformed_json");
    json_decref(v);
    assert_int_equal(fixture_http(e->port, "POST", "/api/v1/events",
                                  "application/json; charset=utf-8",
                                  "{\"source\":\"cron\",\"labels\":{\"alertname\":\"Backup\"},"
                                  "\"status\":\"firing\"}",
                                  NULL),
                     200);
    assert_int_equal(fixture_http(e->port, "POST", "/api/v1/events", "application/json",
                                  "{\"source\":\"cron\",\"labels\":{\"a\":\"b\"},\"x\":1}", NULL),
                     400);
    assert_int_equal(fixture_http(e->port, "GET", "/metrics", NULL, NULL, &body), 200);
    assert_non_null(strstr(body, "hale_alerts_accepted_total 1\n"));
    assert_non_null(strstr(body, "hale_incidents{state=\"open\"} 1\n"));
    assert_non_null(strstr(body, "hale_http_requests_total{route=\"alerts\",code=\"415\"} 1\n"));
    assert_non_null(strstr(body, "hale_store_commit_duration_seconds_bucket{le=\"+Inf\"} 1\n"));
    free(body);
    stop(e);
}

static void stages_receive_incidents_and_redelivery_follows_restart(void **state)
{
    struct env *e = *state;
    json_t *v;

    start(e, true);
    assert_int_equal(
        fixture_http(e->port, "POST", "/api/v1/alerts", "application/json", firing, NULL), 200);
    v = get_json(e, "/api/v1/incidents/1", 200);
    assert_string_equal(json_string_value(json_object_get(v, "state")), "investigating");
    assert_int_equal(json_array_size(json_object_get(v, "transitions")), 2);
    json_decref(v);
    stop(e);
    assert_int_equal(e->open_calls, 1);
    assert_int_equal(e->investigating_calls, 1);
    assert_int_equal(e->last_attempt, 0);

    /* The investigating item was never finished: the next start hands it over again. */
    e->finish_investigating = true;
    start(e, true);
    v = get_json(e, "/api/v1/incidents/1", 200);
    assert_string_equal(json_string_value(json_object_get(v, "state")), "escalated");
    json_decref(v);
    stop(e);
    assert_int_equal(e->open_calls, 1);
    assert_int_equal(e->investigating_calls, 2);
    assert_int_equal(e->last_attempt, 1);

    start(e, true); /* nothing left to deliver */
    stop(e);
    assert_int_equal(e->investigating_calls, 2);
}

/* Poll /metrics until it holds line (a whole "name value" line), for up to two seconds. */
static bool wait_for_metric(struct env *e, const char *line)
{
    char *body = NULL;
    bool found = false;

    for (int i = 0; i < 200 && !found; i++) {
        assert_int_equal(fixture_http(e->port, "GET", "/metrics", NULL, NULL, &body), 200);
        found = strstr(body, line) != NULL;
        free(body);
        if (!found)
            nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    return found;
}

static void sighup_reloads_and_keeps_old_config_on_error(void **state)
{
    struct env *e = *state;
    char text[1024];

    start(e, false);
    snprintf(text, sizeof(text),
             "{\"listen\": \"127.0.0.1:0\", \"data_dir\": \"%s/var\", \"log_level\": \"error\", "
             "\"group_window_s\": 60}",
             e->dir);
    assert_int_equal(fixture_write(e->config, text), 0);
    assert_int_equal(kill(getpid(), SIGHUP), 0);
    assert_true(wait_for_metric(e, "hale_config_reloads_total 1\n"));
    assert_int_equal(fixture_write(e->config, "{\"group_window_s\": \"soon\"}"), 0);
    assert_int_equal(kill(getpid(), SIGHUP), 0);
    assert_true(wait_for_metric(e, "hale_config_reload_failures_total 1\n"));
    assert_int_equal(fixture_http(e->port, "GET", "/readyz", NULL, NULL, NULL), 200);
    stop(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(accepted_alert_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(routes_answer_with_right_status, setup, teardown),
        cmocka_unit_test_setup_teardown(stages_receive_incidents_and_redelivery_follows_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(sighup_reloads_and_keeps_old_config_on_error, setup,
                                        teardown),
    };

    /* Signals go to the loop thread's libuv handlers only: block them in this thread. */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
