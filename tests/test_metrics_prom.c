/* tests/test_metrics_prom.c - the Prometheus poller on a real uv loop against a scripted fake
 * Prometheus: answers become samples, 5xx and timeouts are retried with backoff and reported
 * with the query's name, a 4xx is final at once, an answer over the size cap is refused, and
 * later runs ask only for what is new. Every case ends with uv_loop_close() == 0. */
#include "fixture.h"

#include <errno.h>
#include <uv.h>

#include "fake_prom.h"
#include "hale/config.h"
#include "hale/err.h"
#include "hale/metrics.h"

#define MAX_EVENTS 16

struct run {
    uv_loop_t loop;
    uv_timer_t deadline;
    hale_prom_poller *p;
    int errs[MAX_EVENTS]; /* error codes in order */
    bool final[MAX_EVENTS];
    char msg[MAX_EVENTS][256];
    size_t n_errs;
    size_t n_runs;    /* successful runs */
    size_t samples;   /* samples handed over */
    char series[256]; /* key of the last sample */
    size_t stop_after_runs, stop_after_finals;
    size_t finals;
    bool timed_out;
};

static void stop(struct run *r)
{
    if (r->p) {
        hale_prom_poller_close(r->p, NULL, NULL);
        r->p = NULL;
        uv_close((uv_handle_t *)&r->deadline, NULL);
    }
}

static void on_samples(const char *query, hale_sample_set *set, void *ud)
{
    struct run *r = ud;

    assert_string_equal(query, "q");
    r->n_runs++;
    r->samples += hale_sample_set_size(set);
    if (hale_sample_set_size(set)) {
        char *key = hale_metrics_series_key(hale_sample_set_get(set, 0));

        snprintf(r->series, sizeof(r->series), "%s", key);
        free(key);
    }
    hale_sample_set_free(set);
    if (r->n_runs >= r->stop_after_runs)
        stop(r);
}

static void on_error(const char *query, int err, const char *msg, bool final, void *ud)
{
    struct run *r = ud;

    assert_string_equal(query, "q");
    if (r->n_errs < MAX_EVENTS) {
        r->errs[r->n_errs] = err;
        r->final[r->n_errs] = final;
        snprintf(r->msg[r->n_errs], sizeof(r->msg[0]), "%s", msg);
        r->n_errs++;
    }
    r->finals += final;
    if (r->stop_after_finals && r->finals >= r->stop_after_finals)
        stop(r);
}

static int64_t now_ms(void *ud)
{
    (void)ud;
    return INT64_C(1795352914000);
}

static void on_deadline(uv_timer_t *t)
{
    struct run *r = t->data;

    r->timed_out = true;
    stop(r);
}

static hale_config *config_for(uint16_t port)
{
    char *dir = fixture_tmpdir("metrics-prom"), path[4200], text[1024];
    hale_config *c = NULL;

    snprintf(path, sizeof(path), "%s/c.json", dir);
    snprintf(text, sizeof(text),
             "{\"metrics\": {\"prometheus\": {\"url\": \"http://127.0.0.1:%u\", \"timeout_ms\": "
             "300, \"retries\": 2, \"max_response_bytes\": 2048, \"queries\": [{\"name\": \"q\", "
             "\"query\": \"sum(rate(x[5m]))\", \"interval_s\": 1, \"step_s\": 5, \"range_s\": "
             "60}]}}}",
             (unsigned)port);
    assert_int_equal(fixture_write(path, text), 0);
    assert_int_equal(hale_config_load(path, &c, NULL), 0);
    fixture_rmtree(dir);
    free(dir);
    return c;
}

/* Run the poller until the run's stop condition or 10 s. */
static void drive(struct run *r, fake_prom *f)
{
    hale_prom_poller_ops ops = {on_samples, on_error, now_ms, r};
    hale_config *c = config_for(fake_prom_port(f));

    assert_int_equal(uv_loop_init(&r->loop), 0);
    uv_timer_init(&r->loop, &r->deadline);
    r->deadline.data = r;
    uv_timer_start(&r->deadline, on_deadline, 10000, 0);
    assert_int_equal(hale_prom_poller_new(&r->loop, c, &ops, &r->p), 0);
    hale_config_unref(c); /* the poller holds its own reference */
    assert_int_equal(uv_run(&r->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&r->loop), 0);
    assert_false(r->timed_out);
}

static int setup(void **state)
{
    fake_prom *f = NULL;

    if (fake_prom_start(&f) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fake_prom_stop(*state);
    return 0;
}

static void answers_become_samples_and_later_runs_ask_for_new(void **state)
{
    struct run r = {.stop_after_runs = 2};
    char form[4096];

    fake_prom_script(*state, (fake_prom_step[]){{0}}, 1);
    drive(&r, *state);
    assert_int_equal(r.n_runs, 2);
    assert_int_equal(r.n_errs, 0);
    assert_int_equal(r.samples, 6);
    assert_string_equal(r.series, "q{job=\"fake\"}");
    fake_prom_last_body(*state, form, sizeof(form));
    /* The second run starts one step after the first one's end (the clock stands still here,
     * so start is capped at end). */
    assert_non_null(strstr(form, "query=sum%28rate%28x%5B5m%5D%29%29&"));
    assert_non_null(strstr(form, "&start=1795352914&end=1795352914&step=5s"));
}

static void server_errors_and_timeouts_retry_then_succeed(void **state)
{
    static const char html[] = "<html>bad gateway</html>";
    struct run r = {.stop_after_runs = 1};

    fake_prom_script(*state,
                     (fake_prom_step[]){{.status = 503,
                                         .body = "{\"status\":\"error\","
                                                 "\"errorType\":\"unavailable\","
                                                 "\"error\":\"not ready\"}"},
                                        {.status = 502, .body = html},
                                        {.delay_ms = 600},
                                        {0}},
                     4);
    drive(&r, *state);
    /* 503 and 502 are retried (2 retries), then the timeout is final; the next interval's
     * run succeeds. */
    assert_int_equal(r.n_errs, 3);
    assert_int_equal(r.errs[0], HALE_EUPSTREAM);
    assert_non_null(strstr(r.msg[0], "HTTP 503: unavailable: not ready"));
    assert_false(r.final[0]);
    assert_int_equal(r.errs[1], HALE_EPARSE);
    assert_non_null(strstr(r.msg[1], "HTTP 502"));
    assert_false(r.final[1]);
    assert_int_equal(r.errs[2], -ETIMEDOUT);
    assert_true(r.final[2]);
    assert_int_equal(r.n_runs, 1);
    assert_int_equal(fake_prom_requests(*state), 4);
}

static void client_error_is_final_at_once(void **state)
{
    struct run r = {.stop_after_finals = 1};

    fake_prom_script(*state,
                     (fake_prom_step[]){{.status = 400,
                                         .body = "{\"status\":\"error\",\"errorType\":"
                                                 "\"bad_data\",\"error\":\"parse error\"}"}},
                     1);
    drive(&r, *state);
    assert_int_equal(r.n_errs, 1);
    assert_true(r.final[0]);
    assert_int_equal(r.errs[0], HALE_EUPSTREAM);
    assert_non_null(strstr(r.msg[0], "HTTP 400: bad_data: parse error"));
    assert_int_equal(fake_prom_requests(*state), 1);
}

static void oversized_answer_is_refused(void **state)
{
    struct run r = {.stop_after_finals = 1};

    fake_prom_script(*state, (fake_prom_step[]){{.pad_bytes = 4096}}, 1);
    drive(&r, *state);
    assert_int_equal(r.n_errs, 3); /* retried: a proxy may have sent it */
    assert_int_equal(r.errs[0], HALE_ELIMIT);
    assert_non_null(strstr(r.msg[0], "larger than 2048 bytes"));
    assert_int_equal(r.n_runs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(answers_become_samples_and_later_runs_ask_for_new, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(server_errors_and_timeouts_retry_then_succeed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(client_error_is_final_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(oversized_answer_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
