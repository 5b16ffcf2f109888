/* tests/test_detect.c - streaming anomaly detectors: edge cases of the input (NaN/Inf, huge
 * values, gaps, irregular and out-of-order timestamps, constant series), determinism, detection
 * of a planted anomaly, and the snapshot codec (round trip, every corruption rejected). */
#include "fixture.h"

#include <errno.h>
#include <math.h>

#include "hale/detect.h"
#include "hale/err.h"

#define T0   INT64_C(1400000000000) /* 2014-05-13, in unix ms */
#define STEP INT64_C(300000)        /* 5 minutes */
#define N    3000

static uint64_t rng_state;

static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
    return sqrt(-2.0 * log(uniform())) * cos(6.283185307179586 * uniform());
}

/* A daily cycle with noise: what most infrastructure series look like. */
static void make_series(double *v, size_t n, uint64_t seed)
{
    rng_state = seed;
    for (size_t i = 0; i < n; i++)
        v[i] = 50.0 + 10.0 * sin(6.283185307179586 * (double)i / 288.0) + gauss();
}

static hale_detect *new_det(hale_detect_kind kind)
{
    hale_detect_opts o = {.kind = kind};
    hale_detect *d = NULL;

    assert_int_equal(hale_detect_new(&o, &d, NULL), 0);
    assert_non_null(d);
    return d;
}

static void options_are_validated(void **state)
{
    hale_detect_opts o = {.lik_short = 33};
    hale_diag diag = {{0}};
    hale_detect *d = NULL;

    (void)state;
    assert_int_equal(hale_detect_new(&o, &d, &diag), -EINVAL);
    assert_null(d);
    assert_non_null(strstr(diag.msg, "lik_short"));
    o = (hale_detect_opts){.level_halflife = NAN};
    assert_int_equal(hale_detect_new(&o, &d, &diag), -EINVAL);
    assert_non_null(strstr(diag.msg, "level_halflife"));
    o = (hale_detect_opts){.kind = (hale_detect_kind)7};
    assert_int_equal(hale_detect_new(&o, &d, &diag), -EINVAL);
    assert_int_equal(hale_detect_new(NULL, &d, NULL), 0);
    assert_int_equal(hale_detect_get_kind(d), HALE_DETECT_ENSEMBLE);
    hale_detect_free(d);
    hale_detect_free(NULL);
}

static void kind_names_round_trip(void **state)
{
    hale_detect_kind k;

    (void)state;
    for (int i = 0; i < HALE_DETECT_KIND_COUNT; i++) {
        assert_int_equal(hale_detect_kind_parse(hale_detect_kind_name((hale_detect_kind)i), &k), 0);
        assert_int_equal(k, i);
    }
    assert_int_equal(hale_detect_kind_parse("htm", &k), -EINVAL);
    assert_int_equal(hale_detect_kind_parse(NULL, &k), -EINVAL);
    assert_null(hale_detect_kind_name(HALE_DETECT_KIND_COUNT));
}

static void constant_series_scores_zero_then_a_change_is_loud(void **state)
{
    (void)state;
    for (int k = 0; k < HALE_DETECT_KIND_COUNT; k++) {
        hale_detect *d = new_det((hale_detect_kind)k);
        double s;

        for (int i = 0; i < N; i++) {
            s = hale_detect_update(d, T0 + i * STEP, 42.0);
            assert_true(s == 0.0);
        }
        s = hale_detect_update(d, T0 + N * STEP, 43.0);
        assert_true(s >= 0.5);
        for (int i = N + 1; i < N + 50; i++) {
            s = hale_detect_update(d, T0 + i * STEP, 42.0);
            assert_true(isfinite(s) && s >= 0.0 && s <= 1.0);
        }
        hale_detect_free(d);
    }
}

static void nonfinite_values_are_skipped_without_trace(void **state)
{
    static double v[N];

    (void)state;
    make_series(v, N, 7);
    for (int k = 0; k < HALE_DETECT_KIND_COUNT; k++) {
        hale_detect *a = new_det((hale_detect_kind)k), *b = new_det((hale_detect_kind)k);
        const double bad[] = {NAN, INFINITY, -INFINITY, 1e200, -1e300};
        hale_detect_stats st;

        for (int i = 0; i < N; i++) {
            int64_t t = T0 + i * STEP;

            if (i % 10 == 5)
                assert_true(hale_detect_update(a, t, bad[(i / 10) % 5]) == 0.0);
            /* Same scores as a detector that never saw the bad samples. */
            assert_true(hale_detect_update(a, t, v[i]) == hale_detect_update(b, t, v[i]));
        }
        hale_detect_get_stats(a, &st);
        assert_int_equal(st.nonfinite, N / 10);
        assert_int_equal(st.learned, N);
        hale_detect_free(a);
        hale_detect_free(b);
    }
}

static void out_of_order_samples_are_scored_not_learned(void **state)
{
    static double v[N];

    (void)state;
    make_series(v, N, 11);
    for (int k = 0; k < HALE_DETECT_KIND_COUNT; k++) {
        hale_detect *a = new_det((hale_detect_kind)k), *b = new_det((hale_detect_kind)k);
        hale_detect_stats st;

        for (int i = 0; i < N; i++) {
            int64_t t = T0 + i * STEP;
            double s;

            if (i > 0 && i % 7 == 0) {
                s = hale_detect_update(a, t - 3 * STEP, v[i] + 1000.0);
                assert_true(isfinite(s) && s >= 0.0 && s <= 1.0);
            }
            assert_true(hale_detect_update(a, t, v[i]) == hale_detect_update(b, t, v[i]));
        }
        hale_detect_get_stats(a, &st);
        assert_int_equal(st.out_of_order, (N - 1) / 7);
        hale_detect_free(a);
        hale_detect_free(b);
    }
}

static void gaps_and_irregular_steps_stay_finite(void **state)
{
    static double v[N];
    hale_detect *d = new_det(HALE_DETECT_ENSEMBLE);
    hale_detect_stats st;
    int64_t t = T0;

    (void)state;
    make_series(v, N, 13);
    for (int i = 0; i < N; i++) {
        double s;

        t += (int64_t)(uniform() * 2.0 * STEP); /* steps of 0 to 10 minutes, duplicates too */
        if (i == N / 2)
            t += 400 * STEP; /* a day and a half missing */
        s = hale_detect_update(d, t, v[i]);
        assert_true(isfinite(s) && s >= 0.0 && s <= 1.0);
    }
    hale_detect_get_stats(d, &st);
    assert_true(st.gaps >= 1);
    assert_int_equal(st.learned, N);
    hale_detect_free(d);
}

static void extreme_timestamps_stay_in_range(void **state)
{
    const int64_t ts[] = {INT64_MIN, INT64_MAX, 0, -1, INT64_MIN + 1, T0, INT64_MAX - 1};

    (void)state;
    for (int k = 0; k < HALE_DETECT_KIND_COUNT; k++) {
        hale_detect *d = new_det((hale_detect_kind)k);

        for (int i = 0; i < 700; i++) {
            double s = hale_detect_update(d, ts[i % 7], (double)(i % 5));

            assert_true(isfinite(s) && s >= 0.0 && s <= 1.0);
        }
        hale_detect_free(d);
    }
}

static void same_input_gives_identical_scores(void **state)
{
    static double v[N];

    (void)state;
    make_series(v, N, 17);
    for (int k = 0; k < HALE_DETECT_KIND_COUNT; k++) {
        hale_detect *a = new_det((hale_detect_kind)k), *b = new_det((hale_detect_kind)k);

        for (int i = 0; i < N; i++) {
            double sa = hale_detect_update(a, T0 + i * STEP, v[i]);
            double sb = hale_detect_update(b, T0 + i * STEP, v[i]);

            assert_memory_equal(&sa, &sb, sizeof(sa));
        }
        hale_detect_free(a);
        hale_detect_free(b);
    }
}

static void planted_spike_is_the_loudest_point(void **state)
{
    static double v[N];
    hale_detect *d = new_det(HALE_DETECT_ENSEMBLE);
    double before = 0.0, at;

    (void)state;
    make_series(v, N, 19);
    for (int i = 0; i < 2500; i++) {
        double s = hale_detect_update(d, T0 + i * STEP, v[i]);

        if (i >= 750 && s > before)
            before = s;
    }
    at = hale_detect_update(d, T0 + 2500 * STEP, v[2500] + 40.0);
    assert_true(at >= 0.5);
    assert_true(at > before);
    hale_detect_free(d);
}

static void snapshot_round_trip_continues_exactly(void **state)
{
    static double v[N];
    size_t size = hale_detect_snapshot_size();

    (void)state;
    make_series(v, N, 23);
    assert_true(hale_detect_memory_bytes() > 0);
    for (int k = 0; k < HALE_DETECT_KIND_COUNT; k++) {
        hale_detect *a = new_det((hale_detect_kind)k), *b = NULL;
        unsigned char *buf = malloc(size), *buf2 = malloc(size);

        assert_non_null(buf);
        assert_non_null(buf2);
        for (int i = 0; i < N / 2; i++)
            (void)hale_detect_update(a, T0 + i * STEP, v[i]);
        assert_int_equal(hale_detect_snapshot(a, buf, size - 1), -ENOBUFS);
        assert_int_equal(hale_detect_snapshot(a, buf, size), (int)size);
        assert_int_equal(hale_detect_restore(buf, size, &b, NULL), 0);
        assert_int_equal(hale_detect_get_kind(b), k);
        assert_int_equal(hale_detect_snapshot(b, buf2, size), (int)size);
        assert_memory_equal(buf, buf2, size);
        for (int i = N / 2; i < N; i++) {
            double sa = hale_detect_update(a, T0 + i * STEP, v[i]);
            double sb = hale_detect_update(b, T0 + i * STEP, v[i]);

            assert_memory_equal(&sa, &sb, sizeof(sa));
        }
        hale_detect_free(a);
        hale_detect_free(b);
        free(buf);
        free(buf2);
    }
}

/* The CRC-32 the codec appends (reflected, polynomial 0xEDB88320), to forge valid checksums. */
static uint32_t crc32(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;

    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void reseal(unsigned char *buf, size_t size)
{
    uint32_t c = crc32(buf, size - 4);

    for (int i = 0; i < 4; i++)
        buf[size - 4 + (size_t)i] = (unsigned char)(c >> (8 * i));
}

static int restore_fails(const unsigned char *buf, size_t len, const char *want)
{
    hale_diag diag = {{0}};
    hale_detect *d = NULL;
    int r = hale_detect_restore(buf, len, &d, &diag);

    if (r != HALE_EPARSE || d != NULL || (want && !strstr(diag.msg, want))) {
        print_error("restore gave %d, diag '%s', wanted '%s'\n", r, diag.msg, want ? want : "");
        hale_detect_free(d);
        return 0;
    }
    return 1;
}

static void corrupted_snapshots_are_rejected(void **state)
{
    static double v[N];
    size_t size = hale_detect_snapshot_size();
    unsigned char *good = malloc(size), *buf = malloc(size);
    hale_detect *a = new_det(HALE_DETECT_ENSEMBLE);
    double nan = NAN;

    (void)state;
    assert_non_null(good);
    assert_non_null(buf);
    make_series(v, N, 29);
    for (int i = 0; i < N; i++)
        (void)hale_detect_update(a, T0 + i * STEP, v[i]);
    assert_int_equal(hale_detect_snapshot(a, good, size), (int)size);
    /* Every single-bit flip is caught (by the checksum if nothing else). */
    for (size_t i = 0; i < size; i++) {
        memcpy(buf, good, size);
        buf[i] ^= (unsigned char)(1u << (i % 8));
        assert_true(restore_fails(buf, size, NULL));
    }
    for (size_t len = 0; len < size; len += 97)
        assert_true(restore_fails(good, len, NULL));
    assert_true(restore_fails(good, size - 1, NULL));
    assert_true(restore_fails(NULL, 0, "too short"));
    /* Resealed corruptions must be caught by field validation. */
    memcpy(buf, good, size);
    buf[4] = 2;
    reseal(buf, size);
    assert_true(restore_fails(buf, size, "version 2"));
    memcpy(buf, good, size);
    buf[12] = 9; /* kind */
    reseal(buf, size);
    assert_true(restore_fails(buf, size, "option"));
    memcpy(buf, good, size);
    memcpy(buf + 12 + 6 * 4 + 8 * 8, &nan, sizeof(nan)); /* level mean */
    reseal(buf, size);
    assert_true(restore_fails(buf, size, "level"));
    memcpy(buf, good, size);
    memcpy(buf, "HDEX", 4);
    assert_true(restore_fails(buf, size, "magic"));
    free(good);
    free(buf);
    hale_detect_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(options_are_validated),
        cmocka_unit_test(kind_names_round_trip),
        cmocka_unit_test(constant_series_scores_zero_then_a_change_is_loud),
        cmocka_unit_test(nonfinite_values_are_skipped_without_trace),
        cmocka_unit_test(out_of_order_samples_are_scored_not_learned),
        cmocka_unit_test(gaps_and_irregular_steps_stay_finite),
        cmocka_unit_test(extreme_timestamps_stay_in_range),
        cmocka_unit_test(same_input_gives_identical_scores),
        cmocka_unit_test(planted_spike_is_the_loudest_point),
        cmocka_unit_test(snapshot_round_trip_continues_exactly),
        cmocka_unit_test(corrupted_snapshots_are_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
