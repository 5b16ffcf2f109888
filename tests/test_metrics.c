/* tests/test_metrics.c - metric series: identity and the checks on samples, the POST body and
 * Prometheus answer parsers (bad input named by field), the registry's cap, out-of-order and
 * NaN samples, the anomaly hysteresis, exhaustion predictions and drift refits through jobs,
 * the state snapshot through the store, and the /proc parsers on fixture files. */
#include "fixture.h"

#include <errno.h>
#include <math.h>

#include "hale/config.h"
#include "hale/err.h"
#include "hale/metrics.h"
#include "hale/store.h"

#include <sqlite3.h>

#define T0   INT64_C(1795000000000)
#define STEP INT64_C(60000)

static uint64_t rng_state = 88172645463325252ull;

static double gauss(void)
{
    double u[2];

    for (int i = 0; i < 2; i++) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        u[i] = ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

/* A config whose "metrics" key is metrics_json (members without braces). */
static hale_config *config_with(const char *metrics_json)
{
    char *dir = fixture_tmpdir("metrics-cfg"), path[4200], text[4096];
    hale_config *c = NULL;
    hale_diag d = {{0}};

    assert_non_null(dir);
    snprintf(path, sizeof(path), "%s/c.json", dir);
    snprintf(text, sizeof(text), "{\"metrics\": {%s}}", metrics_json);
    assert_int_equal(fixture_write(path, text), 0);
    if (hale_config_load(path, &c, &d) < 0)
        fail_msg("config: %s", d.msg);
    fixture_rmtree(dir);
    free(dir);
    return c;
}

struct sink_log {
    int fired[3], resolved[3]; /* by kind */
    double last_probability;
    int64_t last_expected_ms;
    char last_series[256];
    json_t *refits; /* array of payloads */
    bool refuse;    /* answer signals as not taken (shutting down) */
    int refused;    /* signals refused */
};

static bool on_signal(const hale_metrics_signal *s, void *ud)
{
    struct sink_log *log = ud;

    if (log->refuse) {
        log->refused++;
        return false;
    }
    if (s->firing)
        log->fired[s->kind]++;
    else
        log->resolved[s->kind]++;
    log->last_probability = s->probability;
    log->last_expected_ms = s->expected_ms;
    snprintf(log->last_series, sizeof(log->last_series), "%s", s->series);
    return true;
}

static void on_refit(json_t *payload, void *ud)
{
    struct sink_log *log = ud;

    json_array_append_new(log->refits, payload);
}

static hale_metrics *registry(hale_config *c, struct sink_log *log)
{
    hale_metrics_sink sink = {on_signal, on_refit, log};
    hale_metrics *m = NULL;

    memset(log, 0, sizeof(*log));
    log->refits = json_array();
    assert_int_equal(hale_metrics_new(c, &sink, &m), 0);
    hale_config_unref(c);
    return m;
}

static void done(hale_metrics *m, struct sink_log *log)
{
    hale_metrics_free(m);
    json_decref(log->refits);
}

static hale_sample one(const char *name, const char *const *labels, size_t n, double v,
                       int64_t t_ms)
{
    return (hale_sample){.name = name, .labels = labels, .n_labels = n, .value = v, .t_ms = t_ms};
}

static void series_identity_sorts_and_escapes(void **state)
{
    const char *a[] = {"zone", "b", "host", "x\"y\\z"}, *b[] = {"host", "x\"y\\z", "zone", "b"};
    hale_sample_set *set = NULL;
    char *k1, *k2;

    (void)state;
    assert_int_equal(hale_sample_set_new(&set), 0);
    assert_int_equal(hale_sample_set_add(set, "m", a, 2, 1, 0, NULL), 0);
    assert_int_equal(hale_sample_set_add(set, "m", b, 2, 1, 0, NULL), 0);
    k1 = hale_metrics_series_key(hale_sample_set_get(set, 0));
    k2 = hale_metrics_series_key(hale_sample_set_get(set, 1));
    assert_string_equal(k1, "m{host=\"x\\\"y\\\\z\",zone=\"b\"}");
    assert_string_equal(k1, k2);
    free(k1);
    free(k2);
    hale_sample_set_free(set);
}

static void sample_set_refuses_bad_names(void **state)
{
    static const struct {
        const char *name, *k1, *v1, *k2;
        const char *why;
    } cases[] = {
        {"1abc", "a", "b", NULL, "metric"},     {"ok", "1a", "b", NULL, "labels.1a"},
        {"ok", "__x", "b", NULL, "labels.__x"}, {"ok", "a", "b", "a", "given twice"},
        {"", "a", "b", NULL, "metric"},         {"ok", "a", "\xff", NULL, "UTF-8"},
    };
    hale_sample_set *set = NULL;

    (void)state;
    assert_int_equal(hale_sample_set_new(&set), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *l[] = {cases[i].k1, cases[i].v1, cases[i].k2 ? cases[i].k2 : "", "v"};
        hale_diag d = {{0}};

        assert_int_equal(hale_sample_set_add(set, cases[i].name, l, cases[i].k2 ? 2 : 1, 1, 0, &d),
                         -EINVAL);
        if (!strstr(d.msg, cases[i].why))
            fail_msg("case %zu: '%s' lacks '%s'", i, d.msg, cases[i].why);
    }
    assert_int_equal(hale_sample_set_size(set), 0);
    hale_sample_set_free(set);
}

static void parse_samples_good(void **state)
{
    static const char body[] =
        "{\"samples\": [{\"metric\": \"a\", \"value\": 1.5},"
        " {\"metric\": \"b\", \"labels\": {\"z\": \"1\", \"a\": \"2\"}, \"value\": -3,"
        "  \"timestamp\": \"2026-11-22T13:08:22.079Z\"},"
        " {\"metric\": \"c\", \"value\": 0, \"timestamp\": 1795352914125}]}";
    hale_sample_set *set = NULL;
    const hale_sample *s;

    (void)state;
    assert_int_equal(hale_metrics_parse_samples(body, strlen(body), 10, 42, &set, NULL), 0);
    assert_int_equal(hale_sample_set_size(set), 3);
    assert_int_equal(hale_sample_set_get(set, 0)->t_ms, 42);
    s = hale_sample_set_get(set, 1);
    assert_string_equal(s->labels[0], "a"); /* sorted */
    assert_int_equal(s->t_ms, INT64_C(1795352902079));
    assert_true(s->value == -3);
    assert_int_equal(hale_sample_set_get(set, 2)->t_ms, INT64_C(1795352914125));
    hale_sample_set_free(set);
}

static void parse_samples_bad_input(void **state)
{
    static const struct {
        const char *body;
        int err;
        const char *why;
    } cases[] = {
        {"", HALE_EPARSE, ""},
        {"{\"samples\": [", HALE_EPARSE, ""},
        {"[]", HALE_ESCHEMA, "expected an object"},
        {"{}", HALE_ESCHEMA, "samples"},
        {"{\"samples\": {}}", HALE_ESCHEMA, "samples"},
        {"{\"samples\": [], \"extra\": 1}", HALE_ESCHEMA, "extra"},
        {"{\"samples\": [1]}", HALE_ESCHEMA, "samples[0]: expected an object"},
        {"{\"samples\": [{\"value\": 1}]}", HALE_ESCHEMA, "samples[0].metric"},
        {"{\"samples\": [{\"metric\": \"a\"}]}", HALE_ESCHEMA, "samples[0].value"},
        {"{\"samples\": [{\"metric\": \"a\", \"value\": \"1\"}]}", HALE_ESCHEMA,
         "samples[0].value: expected a number"},
        {"{\"samples\": [{\"metric\": \"a\", \"value\": 1, \"labels\": []}]}", HALE_ESCHEMA,
         "samples[0].labels"},
        {"{\"samples\": [{\"metric\": \"a\", \"value\": 1, \"labels\": {\"k\": 1}}]}", HALE_ESCHEMA,
         "samples[0].labels.k"},
        {"{\"samples\": [{\"metric\": \"a b\", \"value\": 1}]}", HALE_ESCHEMA, "samples[0].metric"},
        {"{\"samples\": [{\"metric\": \"a\", \"value\": 1, \"timestamp\": \"yesterday\"}]}",
         HALE_ESCHEMA, "samples[0].timestamp"},
        {"{\"samples\": [{\"metric\": \"a\", \"value\": 1, \"timestamp\": -5}]}", HALE_ESCHEMA,
         "samples[0].timestamp"},
        {"{\"samples\": [{\"metric\": \"a\", \"value\": 1, \"color\": \"red\"}]}", HALE_ESCHEMA,
         "color"},
        {"{\"samples\": [{\"metric\": \"a\", \"value\": 1}, {\"metric\": \"b\", \"value\": 1},"
         " {\"metric\": \"c\", \"value\": 1}]}",
         HALE_ELIMIT, "at most 2"},
        {"{\"samples\": [{\"metric\": \"a\", \"value\": 1, \"metric\": \"b\"}]}", HALE_EPARSE,
         "duplicate"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hale_sample_set *set = NULL;
        hale_diag d = {{0}};
        int r = hale_metrics_parse_samples(cases[i].body, strlen(cases[i].body), 2, 0, &set, &d);

        if (r != cases[i].err || !strstr(d.msg, cases[i].why))
            fail_msg("case %zu: got %d '%s', want %d '%s'", i, r, d.msg, cases[i].err,
                     cases[i].why);
        assert_null(set);
    }
}

static void parse_prometheus_answers(void **state)
{
    static const char matrix[] =
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
        "{\"metric\":{\"__name__\":\"up\",\"job\":\"p\",\"instance\":\"a:1\"},"
        "\"values\":[[1795352894,\"1\"],[1795352904.5,\"NaN\"],[1795352914,\"+Inf\"]]}]}}";
    static const char vector[] = "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
                                 "\"result\":[{\"metric\":{},\"value\":[1795352914.125,\"2\"]}]}}";
    static const char scalar[] = "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
                                 "\"result\":[1795352914.154,\"2.5\"]}}";
    static const char error[] = "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":"
                                "\"invalid parameter \\\"query\\\"\"}";
    static const char bad_pair[] = "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\","
                                   "\"result\":[{\"metric\":{},\"values\":[[1,2]]}]}}";
    static const char string_type[] = "{\"status\":\"success\",\"data\":{\"resultType\":"
                                      "\"string\",\"result\":[1,\"x\"]}}";
    hale_sample_set *set = NULL;
    const hale_sample *s;
    hale_diag d = {{0}};
    char *key;

    (void)state;
    assert_int_equal(hale_sample_set_new(&set), 0);
    assert_int_equal(hale_metrics_parse_prom(matrix, strlen(matrix), "q", 100, set, NULL), 3);
    s = hale_sample_set_get(set, 1);
    key = hale_metrics_series_key(s);
    assert_string_equal(key, "q{instance=\"a:1\",job=\"p\"}"); /* __name__ left out */
    free(key);
    assert_true(isnan(s->value));
    assert_int_equal(s->t_ms, INT64_C(1795352904500));
    assert_true(isinf(hale_sample_set_get(set, 2)->value));
    assert_int_equal(hale_metrics_parse_prom(vector, strlen(vector), "q", 100, set, NULL), 1);
    assert_int_equal(hale_metrics_parse_prom(scalar, strlen(scalar), "q", 100, set, NULL), 1);
    assert_true(hale_sample_set_get(set, 4)->value == 2.5);
    assert_int_equal(hale_metrics_parse_prom(error, strlen(error), "q", 100, set, &d),
                     HALE_EUPSTREAM);
    assert_non_null(strstr(d.msg, "bad_data: invalid parameter"));
    assert_int_equal(hale_metrics_parse_prom(bad_pair, strlen(bad_pair), "q", 100, set, &d),
                     HALE_ESCHEMA);
    assert_int_equal(hale_metrics_parse_prom(string_type, strlen(string_type), "q", 100, set, &d),
                     HALE_ESCHEMA);
    assert_int_equal(hale_metrics_parse_prom(matrix, strlen(matrix), "q", 6, set, &d), HALE_ELIMIT);
    assert_int_equal(hale_metrics_parse_prom("<html>", 6, "q", 100, set, &d), HALE_EPARSE);
    hale_sample_set_free(set);
}

static void registry_caps_series(void **state)
{
    struct sink_log log;
    hale_metrics *m =
        registry(config_with("\"max_series\": 3, \"host\": {\"enabled\": false}"), &log);
    const char *l[][2] = {{"i", "1"}, {"i", "2"}, {"i", "3"}, {"i", "4"}};
    hale_metrics_counts c;

    (void)state;
    for (int i = 0; i < 3; i++) {
        hale_sample s = one("m", l[i], 1, 1, T0);

        assert_int_equal(hale_metrics_observe(m, &s), 0);
    }
    for (int k = 0; k < 100; k++) { /* refused every time, never grows */
        hale_sample s = one("m", l[3], 1, 1, T0 + k);

        assert_int_equal(hale_metrics_observe(m, &s), HALE_ELIMIT);
    }
    {
        hale_sample s = one("m", l[0], 1, 2, T0 + STEP); /* known series still learn */

        assert_int_equal(hale_metrics_observe(m, &s), 0);
    }
    hale_metrics_get_counts(m, &c);
    assert_int_equal(hale_metrics_series_count(m), 3);
    assert_int_equal(c.refused_series, 100);
    assert_int_equal(c.learned, 4);
    /* Partial snapshots go round: 2, then the third; a failed write makes it due again; then
     * nothing until they learn again. */
    {
        static const size_t want[] = {2, 1, 1};
        hale_metrics_snap *snaps = NULL;
        size_t n = 0;

        for (size_t i = 0; i < 3; i++) {
            assert_int_equal(hale_metrics_snapshot(m, 2, false, &snaps, &n), 0);
            assert_int_equal(n, want[i]);
            if (i == 1)
                hale_metrics_snaps_failed(m, snaps, n); /* its write failed: dirty again */
            hale_metrics_snaps_free(snaps, n);
        }
        assert_int_equal(hale_metrics_snapshot(m, 2, false, &snaps, &n), 0);
        assert_int_equal(n, 0);
        hale_metrics_snaps_free(snaps, n);
    }
    done(m, &log);
}

static void registry_out_of_order_duplicates_and_nan(void **state)
{
    struct sink_log log;
    hale_metrics *m =
        registry(config_with("\"capacity\": [{\"match\": {\"metric\": \"m\"}}]"), &log);
    hale_metrics_counts c;
    json_t *fc = NULL;
    double v[] = {1, 2, NAN, INFINITY, 3};
    int64_t t[] = {T0 + 2 * STEP, T0 + STEP, T0 + 3 * STEP, T0 + 3 * STEP, T0 + 2 * STEP};

    (void)state;
    for (size_t i = 0; i < 5; i++) {
        hale_sample s = one("m", NULL, 0, v[i], t[i]);

        assert_int_equal(hale_metrics_observe(m, &s), 0);
    }
    hale_metrics_get_counts(m, &c);
    assert_int_equal(c.samples, 5);
    assert_int_equal(c.learned, 1);
    assert_int_equal(c.out_of_order, 1);
    assert_int_equal(c.nonfinite, 2);
    assert_int_equal(c.duplicates, 1);
    assert_int_equal(hale_metrics_forecasts_json(m, "m", &fc), 0);
    assert_int_equal(json_integer_value(json_object_get(fc, "samples")), 1);
    assert_true(json_real_value(json_object_get(fc, "value")) == 1);
    json_decref(fc);
    assert_int_equal(hale_metrics_forecasts_json(m, "nope", &fc), HALE_ENOTFOUND);
    done(m, &log);
}

static void hysteresis_enter_exit_and_duration(void **state)
{
    static const struct {
        double score;
        int64_t t;
        hale_metrics_hyst_event want;
    } run0[] =
        {
            {0.1, 0, HALE_METRICS_HYST_NONE},  {0.6, 1, HALE_METRICS_HYST_ENTER},
            {0.4, 2, HALE_METRICS_HYST_NONE}, /* between exit and enter: still active */
            {0.2, 3, HALE_METRICS_HYST_LEAVE}, {0.4, 4, HALE_METRICS_HYST_NONE},
        },
      run10[] = {
          {0.6, 0, HALE_METRICS_HYST_NONE},   /* pending */
          {0.4, 5, HALE_METRICS_HYST_NONE},   /* above exit: pending holds */
          {0.9, 10, HALE_METRICS_HYST_ENTER}, /* 10 ms after it began */
          {0.1, 12, HALE_METRICS_HYST_NONE},  /* pending exit */
          {0.5, 15, HALE_METRICS_HYST_NONE},  /* cancelled */
          {0.1, 16, HALE_METRICS_HYST_NONE},  {0.1, 25, HALE_METRICS_HYST_NONE},
          {0.1, 26, HALE_METRICS_HYST_LEAVE}, {0.6, 30, HALE_METRICS_HYST_NONE},
          {0.2, 31, HALE_METRICS_HYST_NONE}, /* below exit: the pending entry is dropped */
          {0.4, 45, HALE_METRICS_HYST_NONE},
      };
    hale_metrics_hyst h = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(run0) / sizeof(run0[0]); i++)
        assert_int_equal(hale_metrics_hyst_step(&h, run0[i].score, run0[i].t, 0.5, 0.3, 0),
                         run0[i].want);
    memset(&h, 0, sizeof(h));
    for (size_t i = 0; i < sizeof(run10) / sizeof(run10[0]); i++)
        if (hale_metrics_hyst_step(&h, run10[i].score, run10[i].t, 0.5, 0.3, 10) != run10[i].want)
            fail_msg("step %zu", i);
    assert_false(h.active);
    assert_true(h.peak == 0.6); /* of the entry that was dropped */
}

static void spike_raises_and_resolves_anomaly(void **state)
{
    struct sink_log log;
    hale_metrics *m = registry(config_with("\"host\": {\"enabled\": false}"), &log);
    const char *l[] = {"service", "api"};
    int64_t t = T0;

    (void)state;
    for (int i = 0; i < 400; i++, t += STEP) {
        hale_sample s =
            one("latency", l, 1, 10 + 2 * sin(6.283185307179586 * i / 24) + 0.1 * tanh(gauss()), t);

        assert_int_equal(hale_metrics_observe(m, &s), 0);
    }
    assert_int_equal(log.fired[HALE_METRICS_SIGNAL_ANOMALY], 0);
    {
        hale_sample s = one("latency", l, 1, 80, t);

        t += STEP;
        assert_int_equal(hale_metrics_observe(m, &s), 0);
    }
    assert_int_equal(log.fired[HALE_METRICS_SIGNAL_ANOMALY], 1);
    assert_string_equal(log.last_series, "latency{service=\"api\"}");
    for (int i = 0; i < 5; i++, t += STEP) {
        hale_sample s = one("latency", l, 1, 10 + 2 * sin(6.283185307179586 * (i + 401) / 24), t);

        assert_int_equal(hale_metrics_observe(m, &s), 0);
    }
    assert_int_equal(log.resolved[HALE_METRICS_SIGNAL_ANOMALY], 1);
    assert_int_equal(log.fired[HALE_METRICS_SIGNAL_ANOMALY], 1);
    done(m, &log);
}

static void run_job(hale_metrics *m, int64_t now_ms)
{
    hale_metrics_job *j = NULL;

    assert_int_equal(hale_metrics_job_plan(m, now_ms, &j), 0);
    if (!j)
        return;
    hale_metrics_job_run(j);
    hale_metrics_job_apply(m, j);
}

static void ramp_predicts_exhaustion_before_limit(void **state)
{
    struct sink_log log;
    hale_metrics *m = registry(config_with("\"exhaustion\": [{\"match\": {\"metric\": \"disk\"}, "
                                           "\"limit\": 0.9, \"horizon_h\": 6, \"probability\": "
                                           "0.8}]"),
                               &log);
    int64_t t = T0;

    (void)state;
    /* 0.5 rising 0.1 per hour: reaches 0.9 in 4 hours. */
    for (int i = 0; i < 120; i++, t += STEP) {
        hale_sample s = one("disk", NULL, 0, 0.5 + 0.1 * i / 60.0 + 0.002 * gauss(), t);

        assert_int_equal(hale_metrics_observe(m, &s), 0);
    }
    /* Not taken (hale is stopping): the state stays, the next evaluation raises it. */
    log.refuse = true;
    run_job(m, t);
    assert_int_equal(log.refused, 1);
    assert_int_equal(log.fired[HALE_METRICS_SIGNAL_EXHAUSTION], 0);
    log.refuse = false;
    run_job(m, t);
    assert_int_equal(log.fired[HALE_METRICS_SIGNAL_EXHAUSTION], 1);
    assert_true(log.last_probability >= 0.8);
    /* Last sample at 0.7 and t - STEP: the limit is about 2 hours away. */
    assert_true(llabs(log.last_expected_ms - (t - STEP + 2 * 3600000)) < 20 * 60000);
    run_job(m, t); /* nothing new: not evaluated again */
    assert_int_equal(log.fired[HALE_METRICS_SIGNAL_EXHAUSTION], 1);
    /* It levels off and falls: after two evaluations without the prediction, resolved. */
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 180; i++, t += STEP) {
            hale_sample s = one("disk", NULL, 0, 0.4 + 0.002 * gauss(), t);

            assert_int_equal(hale_metrics_observe(m, &s), 0);
        }
        run_job(m, t);
    }
    assert_int_equal(log.resolved[HALE_METRICS_SIGNAL_EXHAUSTION], 1);
    done(m, &log);
}

static void drift_refits_and_audits(void **state)
{
    struct sink_log log;
    hale_metrics *m = registry(config_with("\"capacity\": [{\"match\": {\"metric\": \"rps\"}}], "
                                           "\"step_s\": 600, \"drift\": {\"window\": 20}"),
                               &log);
    hale_metrics_counts c;
    json_t *leaf, *fc = NULL;
    int64_t t = T0, step = 600000;

    (void)state;
    for (int i = 0; i < 200; i++, t += step) {
        hale_sample s = one("rps", NULL, 0, 100 + gauss(), t);

        assert_int_equal(hale_metrics_observe(m, &s), 0);
    }
    run_job(m, t);
    hale_metrics_get_counts(m, &c);
    assert_int_equal(c.fits, 1);
    assert_int_equal(json_array_size(log.refits), 0); /* the first fit is not a refit */
    /* The level moves far outside the forecast's 95 % band. */
    for (int i = 0; i < 15; i++, t += step) {
        hale_sample s = one("rps", NULL, 0, 300 + gauss(), t);

        assert_int_equal(hale_metrics_observe(m, &s), 0);
    }
    run_job(m, t);
    hale_metrics_get_counts(m, &c);
    assert_int_equal(c.refits, 1);
    assert_int_equal(json_array_size(log.refits), 1);
    leaf = json_array_get(log.refits, 0);
    assert_string_equal(json_string_value(json_object_get(leaf, "series")), "rps");
    assert_string_equal(json_string_value(json_object_get(leaf, "reason")),
                        "forecast_interval_misses");
    assert_true(json_integer_value(json_object_get(leaf, "miss_ratio_bp")) > 2000);
    assert_true(json_is_object(json_object_get(leaf, "old")));
    assert_true(json_is_integer(json_object_get(json_object_get(leaf, "new"), "alpha_bp")));
    assert_int_equal(hale_metrics_forecasts_json(m, "rps", &fc), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(fc, "drift"), "checks")),
                     0); /* reset by the refit */
    json_decref(fc);
    done(m, &log);
}

static void score_shift_refits_detector(void **state)
{
    struct sink_log log;
    hale_metrics *m = registry(config_with("\"exhaustion\": [{\"match\": {\"metric\": \"jobs\"}, "
                                           "\"limit\": 1e12}], \"drift\": {\"window\": 50}"),
                               &log);
    hale_metrics_counts c;
    json_t *leaf;
    int64_t t = T0;
    double v = 100;

    (void)state;
    for (int i = 0; i < 600; i++, t += STEP) {
        hale_sample s = one("jobs", NULL, 0,
                            100 + 2 * sin(6.283185307179586 * i / 24) + 0.1 * tanh(gauss()), t);

        assert_int_equal(hale_metrics_observe(m, &s), 0);
    }
    run_job(m, t);
    hale_metrics_get_counts(m, &c);
    assert_int_equal(c.refits, 0); /* a steady series: no shift */
    /* Growth by 5 % a sample: every value is beyond the range seen, scores stay high. */
    for (int i = 0; i < 80; i++, t += STEP) {
        hale_sample s = one("jobs", NULL, 0, v *= 1.05, t);

        assert_int_equal(hale_metrics_observe(m, &s), 0);
    }
    run_job(m, t);
    hale_metrics_get_counts(m, &c);
    assert_int_equal(c.refits, 1);
    assert_int_equal(json_array_size(log.refits), 1);
    leaf = json_array_get(log.refits, 0);
    assert_string_equal(json_string_value(json_object_get(leaf, "reason")), "score_shift");
    assert_true(json_integer_value(json_object_get(leaf, "score_recent_bp")) > 2000);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(leaf, "new"), "detector")), "ensemble");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(leaf, "new"), "learned")),
                     json_integer_value(json_object_get(leaf, "points")));
    /* Within the cool-down the growth does not refit again. */
    for (int i = 0; i < 80; i++, t += STEP) {
        hale_sample s = one("jobs", NULL, 0, v *= 1.05, t);

        assert_int_equal(hale_metrics_observe(m, &s), 0);
    }
    run_job(m, t);
    hale_metrics_get_counts(m, &c);
    assert_int_equal(c.refits, 1);
    done(m, &log);
}

static void snapshot_restores_through_store(void **state)
{
    const char *cfg = "\"capacity\": [{\"match\": {\"metric\": \"m\"}}]";
    char *dir = fixture_tmpdir("metrics-snap"), path[4200];
    hale_store_opts o = {.path = path, .sync = HALE_STORE_SYNC_NORMAL};
    const char *l[] = {"host", "a"};
    hale_metrics_snap *snaps = NULL;
    struct sink_log log, log2;
    hale_metrics *m, *m2;
    hale_store *st = NULL;
    size_t n = 0, ok = 0, bad = 0;
    json_t *a = NULL, *b = NULL;
    int64_t t = T0;

    (void)state;
    snprintf(path, sizeof(path), "%s/hale.db", dir);
    assert_int_equal(hale_store_open(&o, &st, NULL), 0);
    m = registry(config_with(cfg), &log);
    m2 = registry(config_with(cfg), &log2);
    for (int i = 0; i < 300; i++, t += STEP) {
        hale_sample s = one("m", l, 1, 5 + gauss(), t);

        assert_int_equal(hale_metrics_observe(m, &s), 0);
    }
    assert_int_equal(hale_metrics_snapshot(m, 0, true, &snaps, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(hale_metrics_state_save(st, snaps, n, 1, NULL), 0);
    hale_metrics_snaps_free(snaps, n);
    assert_int_equal(hale_metrics_snapshot(m, 0, true, &snaps, &n), 0);
    assert_int_equal(n, 0); /* clean until it learns again */
    hale_metrics_snaps_free(snaps, n);
    assert_int_equal(hale_metrics_state_load(st, m2, &ok, &bad, NULL), 0);
    assert_int_equal(ok, 1);
    assert_int_equal(bad, 0);
    /* Both continue identically: same count, same next score, same history. */
    for (int i = 0; i < 50; i++, t += STEP) {
        double v = 5 + gauss();
        hale_sample s = one("m", l, 1, i == 40 ? 50 : v, t);

        assert_int_equal(hale_metrics_observe(m, &s), 0);
        assert_int_equal(hale_metrics_observe(m2, &s), 0);
    }
    assert_int_equal(hale_metrics_forecasts_json(m, "m{host=\"a\"}", &a), 0);
    assert_int_equal(hale_metrics_forecasts_json(m2, "m{host=\"a\"}", &b), 0);
    assert_int_equal(json_integer_value(json_object_get(b, "samples")), 350);
    assert_true(json_equal(a, b));
    assert_int_equal(log.fired[HALE_METRICS_SIGNAL_ANOMALY],
                     log2.fired[HALE_METRICS_SIGNAL_ANOMALY]);
    json_decref(a);
    json_decref(b);
    /* A corrupt row is refused, not trusted. */
    assert_int_equal(sqlite3_exec(hale_store_sqlite(st),
                                  "UPDATE metric_series_state SET state = "
                                  "substr(state, 1, 100)",
                                  NULL, NULL, NULL),
                     0);
    done(m2, &log2);
    m2 = registry(config_with(cfg), &log2);
    assert_int_equal(hale_metrics_state_load(st, m2, &ok, &bad, NULL), 0);
    assert_int_equal(ok, 0);
    assert_int_equal(bad, 1);
    done(m2, &log2);
    done(m, &log);
    hale_store_free(st);
    fixture_rmtree(dir);
    free(dir);
}

static void proc_parsers_on_fixtures(void **state)
{
    char *stat = fixture_read(fixture_path("metrics/proc/stat"), NULL);
    char *mem = fixture_read(fixture_path("metrics/proc/meminfo"), NULL);
    char *load = fixture_read(fixture_path("metrics/proc/loadavg"), NULL);
    hale_host_cpu cpu;
    hale_host_mem mi;
    hale_host_load la;

    (void)state;
    assert_int_equal(hale_host_parse_stat(stat, &cpu), 0);
    assert_int_equal(cpu.total, 9500);
    assert_int_equal(cpu.busy, 1400); /* idle and iowait excluded */
    assert_int_equal(hale_host_parse_meminfo(mem, &mi), 0);
    assert_int_equal(mi.total, UINT64_C(8000000) * 1024);
    assert_int_equal(mi.available, UINT64_C(2000000) * 1024);
    assert_int_equal(mi.swap_free, UINT64_C(750000) * 1024);
    assert_int_equal(hale_host_parse_loadavg(load, &la), 0);
    assert_true(la.load1 == 0.52 && la.load5 == 1.25 && la.load15 == 2.5);
    assert_int_equal(la.processes, 412);
    assert_int_equal(hale_host_parse_stat("intr 1 2\n", &cpu), -EINVAL);
    assert_int_equal(hale_host_parse_stat("cpu  1 2\n", &cpu), -EINVAL);
    assert_int_equal(hale_host_parse_meminfo("MemTotal: 1 kB\n", &mi), -EINVAL);
    assert_int_equal(hale_host_parse_meminfo("MemTotal: 1 kB\nMemAvailable: 2 kB\nSwapTotal: 0 "
                                             "kB\nSwapFree: 0 kB\n",
                                             &mi),
                     -EINVAL); /* more available than total */
    assert_int_equal(hale_host_parse_loadavg("0.1 0.2\n", &la), -EINVAL);
    assert_int_equal(hale_host_parse_loadavg("0.1 0.2 0.3 1/x 5\n", &la), -EINVAL);
    free(stat);
    free(mem);
    free(load);
}

static void collect_mount(const char *mnt, const char *fstype, void *ud)
{
    char *out = ud;

    snprintf(out + strlen(out), 1024 - strlen(out), "%s:%s;", mnt, fstype);
}

static void mounts_skip_pseudo_readonly_and_binds(void **state)
{
    char *text = fixture_read(fixture_path("metrics/proc/self/mounts"), NULL);
    char seen[1024] = "";

    (void)state;
    assert_int_equal(hale_host_parse_mounts(text, collect_mount, seen), 3);
    assert_string_equal(seen, "/:ext4;/data disk:xfs;/var/lib/docker/overlay2/x/merged:overlay;");
    seen[0] = '\0';
    assert_int_equal(hale_host_parse_mounts("/dev/vda1\n", collect_mount, seen), -EINVAL);
    free(text);
}

static void host_collect_on_fixture_root(void **state)
{
    hale_host_collector *h = NULL;
    hale_sample_set *set = NULL;
    bool mem = false, disk = false, cpu = false;
    hale_diag d = {{0}};
    int n;

    (void)state;
    /* The fixture's mounts name "/" (statvfs of the real root) and two absent paths. */
    assert_int_equal(hale_host_collector_new(fixture_path("metrics/proc"), &h), 0);
    assert_int_equal(hale_sample_set_new(&set), 0);
    n = hale_host_collect(h, T0, set, &d);
    assert_true(n >= 8);
    n = hale_host_collect(h, T0 + 1, set, &d); /* same counters: no CPU interval yet */
    for (size_t i = 0; i < hale_sample_set_size(set); i++) {
        const hale_sample *s = hale_sample_set_get(set, i);

        mem |= strcmp(s->name, "host_memory_used_ratio") == 0 && s->value == 0.75;
        disk |= strcmp(s->name, "host_disk_used_ratio") == 0 && s->n_labels == 2 &&
                strcmp(s->labels[3], "/") == 0; /* fstype, mount */
        cpu |= strcmp(s->name, "host_cpu_used_ratio") == 0;
    }
    assert_true(mem && disk && !cpu);
    hale_sample_set_free(set);
    hale_host_collector_free(h);
    /* Malformed files: an error naming the file, and no crash. */
    assert_int_equal(hale_host_collector_new(fixture_path("metrics/bad"), &h), 0);
    assert_int_equal(hale_sample_set_new(&set), 0);
    assert_true(hale_host_collect(h, T0, set, &d) < 0);
    assert_non_null(strstr(d.msg, "stat"));
    hale_sample_set_free(set);
    hale_host_collector_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(series_identity_sorts_and_escapes),
        cmocka_unit_test(sample_set_refuses_bad_names),
        cmocka_unit_test(parse_samples_good),
        cmocka_unit_test(parse_samples_bad_input),
        cmocka_unit_test(parse_prometheus_answers),
        cmocka_unit_test(registry_caps_series),
        cmocka_unit_test(registry_out_of_order_duplicates_and_nan),
        cmocka_unit_test(hysteresis_enter_exit_and_duration),
        cmocka_unit_test(spike_raises_and_resolves_anomaly),
        cmocka_unit_test(ramp_predicts_exhaustion_before_limit),
        cmocka_unit_test(drift_refits_and_audits),
        cmocka_unit_test(score_shift_refits_detector),
        cmocka_unit_test(snapshot_restores_through_store),
        cmocka_unit_test(proc_parsers_on_fixtures),
        cmocka_unit_test(mounts_skip_pseudo_readonly_and_binds),
        cmocka_unit_test(host_collect_on_fixture_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
