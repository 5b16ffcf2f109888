/* tests/test_log.c - agent/log: line format, levels, per-module overrides, escaping,
 * truncation, and that disabled levels do not evaluate their arguments. */
#include "fixture.h"

#include <jansson.h>
#include <unistd.h>

#include "internal.h"
#define HALE_LOG_MODULE "http"
#include "hale/log.h"
#include "util/timeutil.h"

struct capture {
    char path[64]; /* temp file the log is written to */
    int fd;        /* open on path */
};

static int setup(void **state)
{
    struct capture *c = calloc(1, sizeof(*c));

    if (!c)
        return -1;
    snprintf(c->path, sizeof(c->path), "/tmp/hale-log-XXXXXX");
    c->fd = mkstemp(c->path);
    if (c->fd < 0 || hale_log_configure("info") != 0) {
        free(c);
        return -1;
    }
    hale_log_set_fd(c->fd);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct capture *c = *state;

    hale_log_set_fd(2);
    (void)hale_log_configure("info");
    close(c->fd);
    unlink(c->path);
    free(c);
    return 0;
}

/* Every line written so far, each parsed back; the caller decrefs the array. */
static json_t *lines(struct capture *c)
{
    char *text = fixture_read(c->path, NULL), *p, *nl;
    json_t *arr = json_array(), *v;
    json_error_t jerr;

    assert_non_null(text);
    assert_non_null(arr);
    for (p = text; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        assert_non_null(nl); /* every line is complete */
        v = json_loadb(p, (size_t)(nl - p), 0, &jerr);
        if (!v)
            fail_msg("line is not JSON (%s): %.*s", jerr.text, (int)(nl - p), p);
        assert_int_equal(json_array_append_new(arr, v), 0);
    }
    free(text);
    return arr;
}

static const char *field(json_t *arr, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(arr, i), key));
}

/* Runs first, before anything configured the sink. */
static void builtin_default_is_info(void **state)
{
    (void)state;
    assert_true(hale_log_enabled(HALE_LOG_INFO, "anything"));
    assert_false(hale_log_enabled(HALE_LOG_DEBUG, "anything"));
}

static void line_format(void **state)
{
    struct capture *c = *state;
    char *text;
    json_t *arr;
    int64_t ts, now = hale_time_now_ms();

    log_info_kv(((const char *const[]){"incident_id", "inc-1", "n", "2", NULL}), "started %d", 7);
    arr = lines(c);
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(field(arr, 0, "level"), "info");
    assert_string_equal(field(arr, 0, "module"), "http");
    assert_string_equal(field(arr, 0, "msg"), "started 7");
    assert_string_equal(field(arr, 0, "incident_id"), "inc-1");
    assert_string_equal(field(arr, 0, "n"), "2");
    assert_int_equal(hale_rfc3339_parse(field(arr, 0, "ts"), &ts), 0);
    assert_true(ts >= now - 5000 && ts <= now + 5000);
    assert_int_equal(json_object_size(json_array_get(arr, 0)), 6);
    json_decref(arr);
    text = fixture_read(c->path, NULL);
    assert_true(strncmp(text, "{\"ts\":\"", 7) == 0);
    assert_non_null(strstr(text, "\",\"level\":\"info\",\"module\":\"http\",\"msg\":\"started 7\","
                                 "\"incident_id\":\"inc-1\",\"n\":\"2\"}\n"));
    free(text);
}

static void level_names(void **state)
{
    struct capture *c = *state;
    json_t *arr;

    assert_int_equal(hale_log_configure("debug"), 0);
    log_err("e");
    log_warn("w");
    log_notice("n");
    log_info("i");
    log_debug("d");
    arr = lines(c);
    assert_int_equal(json_array_size(arr), 5);
    assert_string_equal(field(arr, 0, "level"), "error");
    assert_string_equal(field(arr, 1, "level"), "warn");
    assert_string_equal(field(arr, 2, "level"), "notice");
    assert_string_equal(field(arr, 3, "level"), "info");
    assert_string_equal(field(arr, 4, "level"), "debug");
    json_decref(arr);
}

static void default_level_is_info(void **state)
{
    struct capture *c = *state;
    json_t *arr;

    (void)c;
    assert_true(hale_log_enabled(HALE_LOG_INFO, "http"));
    assert_false(hale_log_enabled(HALE_LOG_DEBUG, "http"));
    log_debug("hidden");
    log_info("shown");
    arr = lines(c);
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(field(arr, 0, "msg"), "shown");
    json_decref(arr);
}

static void per_module_overrides(void **state)
{
    struct capture *c = *state;
    json_t *arr;

    assert_int_equal(hale_log_configure("warn,http=debug,store=info"), 0);
    assert_true(hale_log_enabled(HALE_LOG_DEBUG, "http"));
    assert_true(hale_log_enabled(HALE_LOG_INFO, "store"));
    assert_false(hale_log_enabled(HALE_LOG_DEBUG, "store"));
    assert_false(hale_log_enabled(HALE_LOG_INFO, "loop"));
    assert_true(hale_log_enabled(HALE_LOG_WARN, "loop"));
    assert_false(hale_log_enabled(HALE_LOG_INFO, NULL));
    hale_log_emit(HALE_LOG_INFO, "loop", NULL, "not %s", "filtered by emit"); /* emit writes */
    log_debug("http debug");
    arr = lines(c);
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(field(arr, 0, "module"), "loop");
    assert_string_equal(field(arr, 1, "msg"), "http debug");
    json_decref(arr);
    /* overrides alone keep the global level at info */
    assert_int_equal(hale_log_configure("store=error"), 0);
    assert_true(hale_log_enabled(HALE_LOG_INFO, "loop"));
    assert_false(hale_log_enabled(HALE_LOG_WARN, "store"));
    assert_int_equal(hale_log_configure("warning,store=err"), 0);
    assert_false(hale_log_enabled(HALE_LOG_NOTICE, "http"));
}

static void bad_specs_change_nothing(void **state)
{
    static const char *const bad[] = {
        "",
        "loud",
        "warn,",
        ",warn",
        "http=",
        "=debug",
        "warn,info",
        "Http=debug",
        "a=debug,a=info",
        "a=b=c",
        "warn http=debug",
        "a-b=debug",
        "abcdefghijklmnopqrstuvwxyz0123456=debug",
    };
    char spec[1024];
    size_t i, len = 0;

    (void)state;
    assert_int_equal(hale_log_configure("notice,store=debug"), 0);
    for (i = 0; i < HALE_ARRAY_SIZE(bad); i++) {
        if (hale_log_check_spec(bad[i]) != HALE_ECONFIG ||
            hale_log_configure(bad[i]) != HALE_ECONFIG)
            fail_msg("accepted '%s'", bad[i]);
    }
    assert_int_equal(hale_log_check_spec(NULL), HALE_ECONFIG);
    /* 32 overrides are fine, 33 are not */
    len = (size_t)snprintf(spec, sizeof(spec), "info");
    for (i = 0; i < 32; i++)
        len += (size_t)snprintf(spec + len, sizeof(spec) - len, ",m%zu=debug", i);
    assert_int_equal(hale_log_check_spec(spec), 0);
    snprintf(spec + len, sizeof(spec) - len, ",m32=debug");
    assert_int_equal(hale_log_configure(spec), HALE_ECONFIG);
    /* nothing above changed the applied spec */
    assert_true(hale_log_enabled(HALE_LOG_NOTICE, "http"));
    assert_false(hale_log_enabled(HALE_LOG_INFO, "http"));
    assert_true(hale_log_enabled(HALE_LOG_DEBUG, "store"));
    assert_int_equal(hale_log_check_spec("debug,abc_1=warn"), 0);
    assert_false(hale_log_enabled(HALE_LOG_INFO, "http")); /* check does not apply */
}

static void escapes_quotes_newlines_controls(void **state)
{
    struct capture *c = *state;
    char *text;
    json_t *arr;

    log_info_kv(((const char *const[]){"k\"ey", "v\n\"al\"\x01", NULL}), "say \"%s\"\n\tnext\x1b",
                "hi\\");
    text = fixture_read(c->path, NULL);
    assert_non_null(text);
    assert_int_equal(strchr(text, '\n') - text, (long)strlen(text) - 1); /* one line */
    free(text);
    arr = lines(c);
    assert_string_equal(field(arr, 0, "msg"), "say \"hi\\\"\n\tnext\x1b");
    assert_string_equal(field(arr, 0, "k\"ey"), "v\n\"al\"\x01");
    json_decref(arr);
}

static int evaluations;

static int count_evaluation(void)
{
    return ++evaluations;
}

static void disabled_levels_skip_arguments(void **state)
{
    struct capture *c = *state;
    json_t *arr;

    evaluations = 0;
    log_debug("n=%d", count_evaluation());
    log_debug_kv(((const char *const[]){"k", count_evaluation() ? "a" : "b", NULL}), "x");
    assert_int_equal(evaluations, 0);
    log_info("n=%d", count_evaluation());
    assert_int_equal(evaluations, 1);
    arr = lines(c);
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(field(arr, 0, "msg"), "n=1");
    json_decref(arr);
}

static void errno_logging(void **state)
{
    struct capture *c = *state;
    json_t *arr;

    assert_int_equal(log_err_errno(-ENOENT, "cannot open '%s'", "x.json"), -ENOENT);
    assert_int_equal(log_warn_errno(HALE_ELIMIT, "body too large"), HALE_ELIMIT);
    assert_int_equal(hale_log_errno(HALE_LOG_DEBUG, "http", -EIO, "hidden"), -EIO);
    arr = lines(c);
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(field(arr, 0, "msg"), "cannot open 'x.json': no such file or directory");
    assert_string_equal(field(arr, 0, "error"), "ENOENT");
    assert_string_equal(field(arr, 0, "level"), "error");
    assert_string_equal(field(arr, 1, "msg"), "body too large: a configured limit was exceeded");
    assert_string_equal(field(arr, 1, "error"), "ELIMIT");
    json_decref(arr);
}

static void long_lines_are_truncated(void **state)
{
    struct capture *c = *state;
    size_t n = 40000, i, len;
    char *big = malloc(n + 1), *text;
    const char *msg;
    json_t *arr;

    assert_non_null(big);
    for (i = 0; i < n; i++)
        big[i] = i % 7 == 0 ? '"' : (char)('a' + i % 26);
    big[n] = '\0';
    log_info("%s", big);
    log_info_kv(((const char *const[]){"a", big, "b", big, "c", "small", NULL}), "%s", big);
    assert_int_equal(log_err_errno(-EPIPE, "%s", big), -EPIPE);
    text = fixture_read(c->path, &len);
    assert_non_null(text);
    for (i = 0; i < 3; i++) { /* every line within 16 KiB, newline included */
        char *nl = strchr(text, '\n');
        assert_non_null(nl);
        assert_true((size_t)(nl - text) + 1 <= 16384);
        memmove(text, nl + 1, strlen(nl + 1) + 1);
    }
    free(text);
    arr = lines(c);
    assert_int_equal(json_array_size(arr), 3);
    msg = field(arr, 0, "msg");
    assert_true(strlen(msg) > 10000);
    assert_string_equal(msg + strlen(msg) - 3, "...");
    assert_memory_equal(msg, big, strlen(msg) - 3);
    assert_true(strlen(field(arr, 1, "msg")) > 4000);
    assert_non_null(field(arr, 1, "a"));
    assert_string_equal(field(arr, 2, "error"), "EPIPE");
    json_decref(arr);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builtin_default_is_info),
        cmocka_unit_test_setup_teardown(line_format, setup, teardown),
        cmocka_unit_test_setup_teardown(level_names, setup, teardown),
        cmocka_unit_test_setup_teardown(default_level_is_info, setup, teardown),
        cmocka_unit_test_setup_teardown(per_module_overrides, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_specs_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(escapes_quotes_newlines_controls, setup, teardown),
        cmocka_unit_test_setup_teardown(disabled_levels_skip_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(errno_logging, setup, teardown),
        cmocka_unit_test_setup_teardown(long_lines_are_truncated, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
