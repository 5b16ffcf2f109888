/* tests/test_config.c - agent/config: defaults, a full file, every error class with its
 * message, the group_by and size rules, reload checks and the to_json round trip. */
#include "fixture.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hale/config.h"
#include "hale/err.h"
#include "hale/limits.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct tmp {
    char *dir;       /* temporary directory */
    char path[4200]; /* dir/hale.json */
};

static int setup(void **state)
{
    struct tmp *t = calloc(1, sizeof(*t));

    if (!t)
        return -1;
    t->dir = fixture_tmpdir("hale-config");
    if (!t->dir) {
        free(t);
        return -1;
    }
    snprintf(t->path, sizeof(t->path), "%s/hale.json", t->dir);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct tmp *t = *state;

    fixture_rmtree(t->dir);
    free(t->dir);
    free(t);
    return 0;
}

/* Write text to the temp file and load it; *ret and d as hale_config_load leaves them. */
static int load_text(struct tmp *t, const char *text, hale_config **ret, hale_diag *d)
{
    assert_int_equal(fixture_write(t->path, text), 0);
    d->msg[0] = '\0';
    return hale_config_load(t->path, ret, d);
}

/* Load text expecting HALE_ECONFIG with "<path><sep><want>" as the whole message. */
static void expect_error_sep(struct tmp *t, const char *text, const char *sep, const char *want)
{
    hale_config *c = (hale_config *)(uintptr_t)0x1;
    char full[5000];
    hale_diag d;

    assert_int_equal(load_text(t, text, &c, &d), HALE_ECONFIG);
    assert_ptr_equal(c, (hale_config *)(uintptr_t)0x1); /* untouched on failure */
    snprintf(full, sizeof(full), "%s%s%s", t->path, sep, want);
    if (strcmp(d.msg, full) != 0)
        fail_msg("for %s\n got: %s\nwant: %s", text, d.msg, full);
}

static void expect_error(struct tmp *t, const char *text, const char *want)
{
    expect_error_sep(t, text, ": ", want);
}

static void defaults(void **state)
{
    hale_config *c = NULL;

    (void)state;
    assert_int_equal(hale_config_new_defaults(&c), 0);
    assert_int_equal(c->refs, 1);
    assert_string_equal(c->source, "(defaults)");
    assert_string_equal(c->listen, "127.0.0.1:9464");
    assert_string_equal(c->data_dir, "./var");
    assert_string_equal(c->policies_dir, "./policies");
    assert_string_equal(c->tools_dir, "./tools");
    assert_string_equal(c->prompts_dir, "./prompts");
    assert_string_equal(c->log_level, "info");
    assert_int_equal(c->max_body_bytes, 1048576);
    assert_int_equal(c->n_group_by, 2);
    assert_string_equal(c->group_by[0], "alertname");
    assert_string_equal(c->group_by[1], "service");
    assert_null(c->group_by[2]);
    assert_int_equal(c->group_window_s, 300);
    assert_int_equal(c->max_connections, 1024);
    assert_int_equal(c->idle_timeout_s, 60);
    assert_int_equal(c->request_timeout_s, 10);
    assert_int_equal(c->shutdown_timeout_s, 5);
    assert_string_equal(c->store_sync, "full");
    assert_int_equal(c->event_retention_days, 30);
    assert_ptr_equal(hale_config_ref(c), c);
    assert_int_equal(c->refs, 2);
    hale_config_unref(c);
    assert_int_equal(c->refs, 1);
    hale_config_unref(c);
    hale_config_unref(NULL);
}

static void full_file(void **state)
{
    hale_config *c = NULL;
    hale_diag d;

    (void)state;
    assert_int_equal(hale_config_load(fixture_path("config/full.json"), &c, &d), 0);
    assert_string_equal(c->source, fixture_path("config/full.json"));
    assert_string_equal(c->listen, "[::1]:19464");
    assert_string_equal(c->data_dir, "/var/lib/hale");
    assert_string_equal(c->policies_dir, "/etc/hale/policies");
    assert_string_equal(c->tools_dir, "/usr/lib/hale/tools");
    assert_string_equal(c->prompts_dir, "/etc/hale/prompts");
    assert_string_equal(c->log_level, "warn,http=debug,store=info");
    assert_int_equal(c->max_body_bytes, 2 * 1048576);
    assert_int_equal(c->n_group_by, 3);
    assert_string_equal(c->group_by[2], "namespace");
    assert_null(c->group_by[3]);
    assert_int_equal(c->group_window_s, 600);
    assert_int_equal(c->max_connections, 256);
    assert_int_equal(c->idle_timeout_s, 30);
    assert_int_equal(c->request_timeout_s, 20);
    assert_int_equal(c->shutdown_timeout_s, 15);
    assert_string_equal(c->store_sync, "normal");
    assert_int_equal(c->event_retention_days, 0);
    hale_config_unref(c);
}

static void empty_object_gives_defaults(void **state)
{
    hale_config *c = NULL;
    hale_diag d;

    assert_int_equal(load_text(*state, "{}\n", &c, &d), 0);
    assert_string_equal(c->listen, "127.0.0.1:9464");
    assert_int_equal(c->n_group_by, 2);
    assert_string_equal(c->source, ((struct tmp *)*state)->path);
    hale_config_unref(c);
}

static void file_errors(void **state)
{
    struct tmp *t = *state;
    hale_config *c = NULL;
    hale_diag d;
    char want[4300];
    char *big;
    size_t n = HALE_MAX_CONFIG_BYTES + 1;

    (void)t;
    assert_int_equal(hale_config_load(fixture_path("config/bad_syntax.json"), &c, &d),
                     HALE_ECONFIG);
    snprintf(want, sizeof(want), "%s:3:25: string or '}' expected near ','",
             fixture_path("config/bad_syntax.json"));
    if (strncmp(d.msg, want, strlen(want)) != 0)
        fail_msg("got %s", d.msg);
    assert_int_equal(hale_config_load(fixture_path("config/top_array.json"), &c, &d), HALE_ECONFIG);
    snprintf(want, sizeof(want), "%s: expected a JSON object at the top level, got array",
             fixture_path("config/top_array.json"));
    assert_string_equal(d.msg, want);

    assert_int_equal(hale_config_load("/nonexistent/hale.json", &c, &d), -ENOENT);
    assert_string_equal(d.msg, "cannot read '/nonexistent/hale.json': no such file or directory");
    assert_int_equal(hale_config_load(t->dir, &c, &d), -EISDIR);
    assert_null(c);

    expect_error_sep(t, "{\"listen\": \"\xff\"}", ":", "1:13: invalid UTF-8 at byte 12");
    expect_error_sep(t, "{\"store_sync\": \"full\", \"store_sync\": \"normal\"}", ":",
                     "1:24: duplicate object key near '\"store_sync\"'");
    expect_error_sep(t, "", ":", "1:1: '[' or '{' expected near end of file");
    big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    snprintf(want, sizeof(want), "larger than %u bytes", HALE_MAX_CONFIG_BYTES);
    expect_error(t, big, want);
    big[n - 2] = '}';
    big[n - 1] = '\0'; /* exactly the limit is fine */
    assert_int_equal(load_text(t, big, &c, &d), 0);
    hale_config_unref(c);
    free(big);
}

static void llm_gateways(void **state)
{
    struct tmp *t = *state;
    hale_config *c = NULL, *c2 = NULL;
    hale_diag d;
    char *json;

    assert_int_equal(
        load_text(t,
                  "{\"llm\": {\"gateways\": [{\"name\": \"local\", \"kind\": \"openai\", "
                  "\"base_url\": \"http://127.0.0.1:8000\", \"model\": \"qwen\", "
                  "\"api_key_env\": \"VLLM_KEY\", \"timeout_ms\": 5000, \"usd_per_1k_in\": 0.5}, "
                  "{\"name\": \"claude\", \"kind\": \"anthropic\", \"base_url\": "
                  "\"https://api.anthropic.com\", \"model\": \"claude-x\", \"api_key_file\": "
                  "\"/etc/hale/anthropic.key\"}], \"day_max_usd\": 20, \"retries\": 1}}",
                  &c, &d),
        0);
    assert_int_equal(c->llm.n_gateways, 2);
    assert_string_equal(c->llm.gateways[0].kind, "openai");
    assert_string_equal(c->llm.gateways[0].api_key_env, "VLLM_KEY");
    assert_int_equal(c->llm.gateways[0].timeout_ms, 5000);
    assert_int_equal(c->llm.gateways[1].max_tokens, 1024);
    assert_null(c->llm.gateways[1].api_key_env);
    assert_int_equal(c->llm.retries, 1);
    assert_int_equal(c->llm.max_in_flight, 16);
    assert_true(c->llm.day_max_usd == 20.0);
    json = hale_config_to_json(c);
    assert_non_null(strstr(json, "\"api_key_file\": \"/etc/hale/anthropic.key\""));
    free(json);
    assert_int_equal(hale_config_check_reload(c, c, &d), 0);
    assert_int_equal(load_text(t, "{}", &c2, &d), 0);
    assert_int_equal(c2->llm.n_gateways, 0);
    hale_config_unref(c);
    hale_config_unref(c2);
    expect_error(
        t,
        "{\"llm\": {\"gateways\": [{\"name\": \"x\", \"kind\": \"openai\", "
        "\"base_url\": \"http://h\", \"model\": \"m\", \"api_key\": \"sk-live\"}]}}",
        "key 'llm': gateways[0]: an API key is never written in the configuration: name an "
        "environment variable (api_key_env) or a 0600 file (api_key_file)");
    expect_error(t,
                 "{\"llm\": {\"gateways\": [{\"name\": \"x\", \"kind\": \"grpc\", "
                 "\"base_url\": \"http://h\", \"model\": \"m\"}]}}",
                 "key 'llm': gateways[0].kind: expected openai or anthropic, got 'grpc'");
    expect_error(t, "{\"llm\": {\"backoff_base_ms\": 100, \"backoff_max_ms\": 50}}",
                 "key 'llm': backoff_max_ms: expected 100 to 600000, got 50");
}

static void unknown_key(void **state)
{
    expect_error(*state, "{\"listen\": \"127.0.0.1:1\", \"lissten\": 1}",
                 "unknown key 'lissten' (known keys: listen, data_dir, policies_dir, tools_dir, "
                 "prompts_dir, log_level, max_body_bytes, group_by, group_window_s, "
                 "max_connections, idle_timeout_s, request_timeout_s, shutdown_timeout_s, "
                 "store_sync, event_retention_days, audit_origin, audit_checkpoint_interval_ms, "
                 "audit_rotate_interval_s, audit_anchor_files, audit_anchor_interval_s, "
                 "audit_witness_urls, auth, llm, metrics)");
}

static void metrics_key(void **state)
{
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"{\"metrics\": []}", "key 'metrics': expected an object, got array"},
        {"{\"metrics\": {\"hosts\": {}}}", "key 'metrics': unknown field 'hosts'"},
        {"{\"metrics\": {\"max_series\": 0}}",
         "key 'metrics'.max_series: expected 1 to 1000000, got 0"},
        {"{\"metrics\": {\"anomaly\": {\"enter\": 0.2, \"exit\": 0.5}}}",
         "key 'metrics': anomaly: expected 0 < enter <= 1 and 0 <= exit <= enter"},
        {"{\"metrics\": {\"prometheus\": {\"queries\": [{\"name\": \"up\", \"query\": \"up\"}]}}}",
         "key 'metrics': prometheus.queries: need prometheus.url"},
        {"{\"metrics\": {\"exhaustion\": [{\"match\": {\"metric\": \"d\"}, \"limit\": 1, "
         "\"probability\": 2}]}}",
         "key 'metrics': exhaustion[0].probability: expected more than 0 and at most 1"},
        {"{\"metrics\": {\"capacity\": [{\"match\": {\"job\": \"x\"}}]}}",
         "key 'metrics': capacity[0].match: expected an object with a \"metric\" name"},
    };
    hale_config *c = NULL;
    hale_diag d;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(load_text(*state, bad[i].text, &c, &d), HALE_ECONFIG);
        if (!strstr(d.msg, bad[i].want))
            fail_msg("for %s\n got: %s\nwant: %s", bad[i].text, d.msg, bad[i].want);
    }
    assert_int_equal(
        load_text(*state,
                  "{\"metrics\": {\"host\": {\"enabled\": false}, \"prometheus\": "
                  "{\"url\": \"http://127.0.0.1:9090\", \"queries\": [{\"name\": "
                  "\"up\", \"query\": \"up\", \"step_s\": 5, \"range_s\": 600}]}, "
                  "\"exhaustion\": [{\"match\": {\"metric\": \"d\", \"mount\": \"/\"}, "
                  "\"limit\": 0.9}]}}",
                  &c, &d),
        0);
    assert_false(c->metrics.host_enabled);
    assert_int_equal(c->metrics.n_queries, 1);
    assert_int_equal(c->metrics.queries[0].step_s, 5);
    assert_int_equal(c->metrics.n_exhaustion, 1);
    assert_string_equal(c->metrics.exhaustion[0].match[0], "mount");
    assert_true(c->metrics.exhaustion[0].probability == 0.8);
    assert_int_equal(c->metrics.n_capacity, 3); /* the defaults stay */
    hale_config_unref(c);
}

static void wrong_types(void **state)
{
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {"{\"audit_origin\": \"aiops.example/a b\"}",
         "key 'audit_origin': expected \"\" or an origin like \"aiops.example.com/prod-1\": UTF-8 "
         "without spaces or '+', got 'aiops.example/a b'"},
        {"{\"audit_witness_urls\": [\"ftp://w.example/\"]}",
         "key 'audit_witness_urls': expected an array of at most 8 http:// or https:// URLs, got "
         "'ftp://w.example/'"},
        {"{\"audit_anchor_files\": [1]}",
         "key 'audit_anchor_files': expected an array of at most 8 "
         "file paths, got integer at index 0"},
        {"{\"group_window_s\": \"300\"}",
         "key 'group_window_s': expected an integer from 1 to 604800, got string"},
        {"{\"group_window_s\": 1.5}",
         "key 'group_window_s': expected an integer from 1 to 604800, got real"},
        {"{\"idle_timeout_s\": null}",
         "key 'idle_timeout_s': expected an integer from 1 to 3600, got null"},
        {"{\"data_dir\": 5}",
         "key 'data_dir': expected a non-empty string of at most 4096 bytes, got integer"},
        {"{\"listen\": [\"127.0.0.1:1\"]}",
         "key 'listen': expected \"host:port\" or \"[ipv6]:port\" with a port from 0 to 65535, "
         "got array"},
        {"{\"group_by\": \"alertname\"}",
         "key 'group_by': expected an array of 1 to 16 distinct label names matching "
         "[a-zA-Z_][a-zA-Z0-9_]*, got string"},
        {"{\"store_sync\": true}",
         "key 'store_sync': expected one of \"full\", \"normal\", got boolean"},
        {"{\"max_body_bytes\": {}}",
         "key 'max_body_bytes': expected a size from 1 to 16777216 bytes (an integer, or a "
         "string like \"1MiB\"), got object"},
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cases); i++)
        expect_error(*state, cases[i].text, cases[i].want);
}

static void ranges(void **state)
{
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {"{\"group_window_s\": 0}",
         "key 'group_window_s': expected an integer from 1 to 604800, got 0"},
        {"{\"group_window_s\": 604801}",
         "key 'group_window_s': expected an integer from 1 to 604800, got 604801"},
        {"{\"max_connections\": -1}",
         "key 'max_connections': expected an integer from 1 to 4096, got -1"},
        {"{\"max_connections\": 4097}",
         "key 'max_connections': expected an integer from 1 to 4096, got 4097"},
        {"{\"request_timeout_s\": 601}",
         "key 'request_timeout_s': expected an integer from 1 to 600, got 601"},
        {"{\"shutdown_timeout_s\": 301}",
         "key 'shutdown_timeout_s': expected an integer from 1 to 300, got 301"},
        {"{\"event_retention_days\": 36501}",
         "key 'event_retention_days': expected an integer from 0 to 36500, got 36501"},
        {"{\"max_body_bytes\": 16777217}",
         "key 'max_body_bytes': expected a size from 1 to 16777216 bytes (an integer, or a "
         "string like \"1MiB\"), got 16777217"},
        {"{\"max_body_bytes\": \"17MiB\"}",
         "key 'max_body_bytes': expected a size from 1 to 16777216 bytes (an integer, or a "
         "string like \"1MiB\"), got '17MiB'"},
        {"{\"max_body_bytes\": \"1 MiB\"}",
         "key 'max_body_bytes': expected a size from 1 to 16777216 bytes (an integer, or a "
         "string like \"1MiB\"), got '1 MiB'"},
        {"{\"max_body_bytes\": 0}",
         "key 'max_body_bytes': expected a size from 1 to 16777216 bytes (an integer, or a "
         "string like \"1MiB\"), got 0"},
        {"{\"data_dir\": \"\"}",
         "key 'data_dir': expected a non-empty string of at most 4096 bytes, got ''"},
        {"{\"store_sync\": \"fast\"}",
         "key 'store_sync': expected one of \"full\", \"normal\", got 'fast'"},
        {"{\"listen\": \"localhost\"}",
         "key 'listen': expected \"host:port\" or \"[ipv6]:port\" with a port from 0 to 65535, "
         "got 'localhost'"},
        {"{\"listen\": \":9464\"}",
         "key 'listen': expected \"host:port\" or \"[ipv6]:port\" with a port from 0 to 65535, "
         "got ':9464'"},
        {"{\"listen\": \"127.0.0.1:65536\"}",
         "key 'listen': expected \"host:port\" or \"[ipv6]:port\" with a port from 0 to 65535, "
         "got '127.0.0.1:65536'"},
        {"{\"log_level\": \"loud\"}",
         "key 'log_level': expected a level spec like \"info\" or \"warn,http=debug\" (levels: "
         "error, warn, notice, info, debug), got 'loud'"},
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cases); i++)
        expect_error(*state, cases[i].text, cases[i].want);
}

static void sizes_and_edges_accepted(void **state)
{
    hale_config *c = NULL;
    hale_diag d;

    assert_int_equal(load_text(*state,
                               "{\"max_body_bytes\": \"1MiB\", \"event_retention_days\": 36500,"
                               " \"listen\": \"0.0.0.0:0\", \"group_window_s\": 604800}",
                               &c, &d),
                     0);
    assert_int_equal(c->max_body_bytes, 1048576);
    assert_int_equal(c->event_retention_days, 36500);
    assert_int_equal(c->group_window_s, 604800);
    assert_string_equal(c->listen, "0.0.0.0:0");
    hale_config_unref(c);
    assert_int_equal(load_text(*state, "{\"max_body_bytes\": \"16MiB\"}", &c, &d), 0);
    assert_int_equal(c->max_body_bytes, HALE_MAX_BODY_BYTES);
    hale_config_unref(c);
    assert_int_equal(load_text(*state, "{\"max_body_bytes\": 1}", &c, &d), 0);
    assert_int_equal(c->max_body_bytes, 1);
    hale_config_unref(c);
}

static void group_by_rules(void **state)
{
    static const struct {
        const char *text;
        const char *got;
    } bad[] = {
        {"{\"group_by\": []}", "got 0 elements"},
        {"{\"group_by\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\","
         "\"m\",\"n\",\"o\",\"p\",\"q\"]}",
         "got 17 elements"},
        {"{\"group_by\": [\"alertname\", 3]}", "got integer at index 1"},
        {"{\"group_by\": [\"a-b\"]}", "got 'a-b'"},
        {"{\"group_by\": [\"1a\"]}", "got '1a'"},
        {"{\"group_by\": [\"\"]}", "got ''"},
        {"{\"group_by\": [\"service\", \"alertname\", \"service\"]}", "got a duplicate 'service'"},
    };
    hale_config *c = NULL;
    hale_diag d;
    char want[512];
    size_t i;

    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        snprintf(want, sizeof(want),
                 "key 'group_by': expected an array of 1 to 16 distinct label names matching "
                 "[a-zA-Z_][a-zA-Z0-9_]*, %s",
                 bad[i].got);
        expect_error(*state, bad[i].text, want);
    }
    assert_int_equal(load_text(*state, "{\"group_by\": [\"_a\", \"B9\", \"alertname\"]}", &c, &d),
                     0);
    assert_int_equal(c->n_group_by, 3);
    assert_string_equal(c->group_by[0], "_a");
    assert_string_equal(c->group_by[1], "B9");
    assert_null(c->group_by[3]);
    hale_config_unref(c);
}

static void reload_checks(void **state)
{
    hale_config *cur = NULL, *next = NULL;
    hale_diag d;
    char want[4400];

    assert_int_equal(hale_config_new_defaults(&cur), 0);
    assert_int_equal(
        load_text(*state, "{\"log_level\": \"debug\", \"group_window_s\": 60}", &next, &d), 0);
    assert_int_equal(hale_config_check_reload(cur, next, &d), 0);
    hale_config_unref(next);

    assert_int_equal(load_text(*state, "{\"listen\": \"0.0.0.0:9464\"}", &next, &d), 0);
    assert_int_equal(hale_config_check_reload(cur, next, &d), HALE_ECONFIG);
    snprintf(want, sizeof(want),
             "%s: key 'listen' changed from \"127.0.0.1:9464\" to \"0.0.0.0:9464\", which needs "
             "a restart",
             ((struct tmp *)*state)->path);
    assert_string_equal(d.msg, want);
    hale_config_unref(next);

    assert_int_equal(load_text(*state, "{\"store_sync\": \"normal\"}", &next, &d), 0);
    assert_int_equal(hale_config_check_reload(cur, next, &d), HALE_ECONFIG);
    assert_non_null(strstr(d.msg, "key 'store_sync' changed from \"full\" to \"normal\""));
    hale_config_unref(next);

    assert_int_equal(load_text(*state, "{\"data_dir\": \"./elsewhere\"}", &next, &d), 0);
    assert_int_equal(hale_config_check_reload(cur, next, &d), HALE_ECONFIG);
    assert_non_null(strstr(d.msg, "key 'data_dir'"));
    hale_config_unref(next);
    hale_config_unref(cur);
}

static void to_json_round_trip(void **state)
{
    struct tmp *t = *state;
    hale_config *c = NULL, *back = NULL;
    char *s1, *s2;
    hale_diag d;

    assert_int_equal(hale_config_load(fixture_path("config/full.json"), &c, &d), 0);
    s1 = hale_config_to_json(c);
    assert_non_null(s1);
    assert_non_null(strstr(s1, "\"max_body_bytes\": 2097152"));
    assert_non_null(strstr(s1, "\n  \"listen\": \"[::1]:19464\",\n"));
    assert_true(strstr(s1, "\"listen\"") < strstr(s1, "\"data_dir\""));
    assert_true(strstr(s1, "\"store_sync\"") < strstr(s1, "\"event_retention_days\""));
    assert_null(strstr(s1, "source"));
    assert_int_equal(load_text(t, s1, &back, &d), 0);
    s2 = hale_config_to_json(back);
    assert_string_equal(s1, s2);
    assert_int_equal(hale_config_check_reload(c, back, &d), 0);
    free(s1);
    free(s2);
    hale_config_unref(back);
    hale_config_unref(c);

    assert_int_equal(hale_config_new_defaults(&c), 0);
    s1 = hale_config_to_json(c);
    assert_int_equal(load_text(t, s1, &back, &d), 0);
    s2 = hale_config_to_json(back);
    assert_string_equal(s1, s2);
    assert_non_null(strstr(s1, "\"group_by\": [\n    \"alertname\",\n    \"service\"\n  ]"));
    free(s1);
    free(s2);
    hale_config_unref(back);
    hale_config_unref(c);
}

static void default_path_in_cwd(void **state)
{
    struct tmp *t = *state;
    char old[4096];

    assert_non_null(getcwd(old, sizeof(old)));
    assert_int_equal(chdir(t->dir), 0);
    assert_null(hale_config_default_path());
    assert_int_equal(fixture_write("hale.json", "{}"), 0);
    assert_string_equal(hale_config_default_path(), HALE_CONFIG_DEFAULT_FILE);
    assert_int_equal(chdir(old), 0);
}

#define HASH_A "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define HASH_B "60303AE22B998861BCE3B28F33EEC1BE758A213C86C93C076DBE9F558C11C752"

static void auth_tokens(void **state)
{
    struct tmp *t = *state;
    hale_config *c = NULL, *c2 = NULL;
    hale_diag d;
    char *json;

    assert_int_equal(
        load_text(t,
                  "{\"auth\": {\"tokens\": [{\"name\": \"ci\", \"sha256\": \"" HASH_A
                  "\", \"role\": \"auditor\"}, {\"name\": \"am\", \"sha256\": \"" HASH_B
                  "\", \"role\": \"intake\"}], \"intake_token_required\": true}}",
                  &c, &d),
        0);
    assert_int_equal(c->n_auth_tokens, 2);
    assert_string_equal(c->auth_tokens[0].name, "ci");
    assert_int_equal(c->auth_tokens[0].role, HALE_ROLE_AUDITOR);
    assert_int_equal(c->auth_tokens[0].sha256[0], 0x9f);
    assert_int_equal(c->auth_tokens[1].sha256[0], 0x60); /* upper-case hex too */
    assert_int_equal(c->auth_tokens[1].role, HALE_ROLE_INTAKE);
    assert_true(c->auth_intake_token_required);
    /* Printed with hashes only, and it reads back the same (reloadable). */
    json = hale_config_to_json(c);
    assert_non_null(strstr(json, "\"sha256\": \"60303ae22b99"));
    assert_int_equal(hale_config_check_reload(c, c, &d), 0);
    free(json);
    assert_int_equal(load_text(t, "{}", &c2, &d), 0);
    assert_int_equal(c2->n_auth_tokens, 0);
    assert_false(c2->auth_intake_token_required);
    assert_int_equal(hale_config_check_reload(c, c2, &d), 0);
    hale_config_unref(c);
    hale_config_unref(c2);

    expect_error(t, "{\"auth\": []}", "key 'auth': expected an object, got array");
    expect_error(t, "{\"auth\": {\"token\": []}}", "key 'auth': unknown field 'token'");
    expect_error(t,
                 "{\"auth\": {\"tokens\": [{\"name\": \"x\", \"sha256\": \"abc\", \"role\": "
                 "\"admin\"}]}}",
                 "key 'auth': tokens[0].sha256: expected 64 hex digits (the SHA-256 of the token, "
                 "e.g. from `printf %s TOKEN | sha256sum`), got 3 characters");
    expect_error(t,
                 "{\"auth\": {\"tokens\": [{\"name\": \"x\", \"sha256\": \"" HASH_A
                 "\", \"role\": \"root\"}]}}",
                 "key 'auth': tokens[0].role: expected viewer, auditor, approver, admin or intake, "
                 "got 'root'");
    expect_error(t,
                 "{\"auth\": {\"tokens\": [{\"name\": \"a b\", \"sha256\": \"" HASH_A
                 "\", \"role\": \"admin\"}]}}",
                 "key 'auth': tokens[0].name: expected 1 to 64 of [A-Za-z0-9._-], got 'a b'");
    expect_error(t,
                 "{\"auth\": {\"tokens\": [{\"name\": \"a\", \"sha256\": \"" HASH_A
                 "\", \"role\": \"admin\"}, {\"name\": \"b\", \"sha256\": \"" HASH_A
                 "\", \"role\": \"viewer\"}]}}",
                 "key 'auth': tokens[1] repeats the sha256 of tokens[0]");
    expect_error(t,
                 "{\"auth\": {\"tokens\": [{\"name\": \"a\", \"sha256\": \"" HASH_A
                 "\", \"role\": \"admin\", \"token\": \"s3cr3t\"}]}}",
                 "key 'auth': tokens[0]: unknown field 'token'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test_setup_teardown(auth_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(llm_gateways, setup, teardown),
        cmocka_unit_test(full_file),
        cmocka_unit_test_setup_teardown(empty_object_gives_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_key, setup, teardown),
        cmocka_unit_test_setup_teardown(metrics_key, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_types, setup, teardown),
        cmocka_unit_test_setup_teardown(ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(sizes_and_edges_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(group_by_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(reload_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(to_json_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(default_path_in_cwd, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
