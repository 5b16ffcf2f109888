/* tests/test_catalog.c - the tool catalog through include/hale/catalog.h: manifests valid and
 * invalid field by field, the pinned command, argument validation (the injection cases of
 * SECURITY.md 3.9 P48-P53 each on its own), the exact argv and its digest, the sandbox spec a
 * manifest maps to, rollback derivation, precondition and verify resolution, and one fixture
 * tool run through hale-sandbox whose result line is parsed. */
#define _GNU_SOURCE /* setenv, symlink */
#include "fixture.h"

#include <linux/capability.h>
#include <math.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hale/catalog.h"
#include "hale/err.h"
#include "hale/sandbox.h"

static hale_catalog *cat;

static int setup(void **state)
{
    hale_diag d = {{0}};

    (void)state;
    if (hale_catalog_load(fixture_path("catalog/tools"), &cat, &d) < 0) {
        fprintf(stderr, "load: %s\n", d.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hale_catalog_unref(cat);
    return 0;
}

static const hale_tool *tool(const char *name)
{
    const hale_tool *t = hale_catalog_find(cat, name);

    assert_non_null(t);
    return t;
}

/* ---- A temporary catalog ------------------------------------------------------------------- */

static const char script[] = "#!/bin/sh\nset -eu\nprintf '{\"ok\": true}\\n'\n";

/* dir/tools/name/{manifest.json,run}; returns the folder (static). */
static const char *add_tool(const char *dir, const char *name, const char *manifest)
{
    static char folder[1024];
    char path[1200];

    snprintf(folder, sizeof(folder), "%s/%s", dir, name);
    assert_int_equal(mkdir(folder, 0755), 0);
    snprintf(path, sizeof(path), "%s/manifest.json", folder);
    assert_int_equal(fixture_write(path, manifest), 0);
    snprintf(path, sizeof(path), "%s/run", folder);
    assert_int_equal(fixture_write(path, script), 0);
    assert_int_equal(chmod(path, 0755), 0);
    return folder;
}

static const char diag_manifest[] =
    "{\"name\":\"diag\",\"description\":\"d\",\"kind\":\"diagnostic\",\"risk\":\"low\","
    "\"command\":\"run\",\"args\":{\"unit\":{\"type\":\"string\"}}}";

/* Load a catalog of the tool "t" with the members extra after the required ones (or the whole
 * manifest when extra starts with '{'), beside a diagnostic tool "diag". Returns the error and
 * the message in d. */
static int load_with(const char *extra, hale_diag *d)
{
    char *dir = fixture_tmpdir("catalog");
    char manifest[4096];
    hale_catalog *c = NULL;
    int r;

    assert_non_null(dir);
    if (extra[0] == '{' || extra[0] == '[')
        snprintf(manifest, sizeof(manifest), "%s", extra);
    else
        snprintf(manifest, sizeof(manifest),
                 "{\"name\":\"t\",\"description\":\"d\",\"kind\":\"remediation\",\"risk\":"
                 "\"low\",\"command\":\"run\"%s}",
                 extra);
    add_tool(dir, "t", manifest);
    add_tool(dir, "diag", diag_manifest);
    d->msg[0] = '\0';
    r = hale_catalog_load(dir, &c, d);
    hale_catalog_unref(c);
    fixture_rmtree(dir);
    free(dir);
    return r;
}

static bool expect_invalid(const char *extra, const char *want)
{
    hale_diag d;
    int r = load_with(extra, &d);

    if (r >= 0 || !strstr(d.msg, want)) {
        printf("manifest extra '%s': got %d '%s', expected an error with '%s'\n", extra, r, d.msg,
               want);
        return false;
    }
    return true;
}

/* ---- Loading ------------------------------------------------------------------------------- */

static void loads_fixture_catalog_sorted(void **state)
{
    const char *names[] = {"clean", "echo_args", "probe", "scale", "status"};

    (void)state;
    assert_int_equal(hale_catalog_count(cat), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(hale_tool_name(hale_catalog_at(cat, i)), names[i]);
    assert_null(hale_catalog_at(cat, 5));
    assert_null(hale_catalog_find(cat, "nope"));
    assert_int_equal(strlen(hale_catalog_hash_hex(cat)), 64);
    assert_int_equal(strspn(hale_catalog_hash_hex(cat), "0123456789abcdef"), 64);
}

static void every_valid_field_is_read(void **state)
{
    const hale_tool *s = tool("scale"), *e = tool("echo_args"), *p = tool("probe");

    (void)state;
    assert_string_equal(hale_tool_description(s), "Scale a deployment (test tool).");
    assert_int_equal(hale_tool_kind_of(s), HALE_TOOL_REMEDIATION);
    assert_int_equal(hale_tool_kind_of(e), HALE_TOOL_DIAGNOSTIC);
    assert_int_equal(hale_tool_risk(s), HALE_POLICY_RISK_MEDIUM);
    assert_true(hale_tool_reversible(s));
    assert_false(hale_tool_reversible(e));
    assert_true(hale_tool_idempotent(s));
    assert_false(hale_tool_idempotent(p)); /* absent: false */
    assert_int_equal(hale_tool_timeout_ms(s), 60000);
    assert_int_equal(hale_tool_timeout_ms(p), 30000); /* default */
    assert_int_equal(hale_tool_timeout_ms(e), 20000);
    assert_int_equal(hale_tool_required_layers(e), HALE_SANDBOX_REQUIRE_DEFAULT);
}

static void command_is_pinned_absolute_with_sha256(void **state)
{
    const hale_tool *e = tool("echo_args");
    char want[65];
    unsigned char h[32];
    size_t len = 0;
    char *text = fixture_read(fixture_path("catalog/tools/echo_args/run"), &len);

    (void)state;
    assert_non_null(text);
    crypto_hash_sha256(h, (const unsigned char *)text, len);
    sodium_bin2hex(want, sizeof(want), h, sizeof(h));
    assert_string_equal(hale_tool_sha256_hex(e), want);
    assert_true(hale_tool_path(e)[0] == '/');
    assert_non_null(strstr(hale_tool_path(e), "/catalog/tools/echo_args/run"));
    free(text);
}

static void missing_dir_is_an_empty_catalog(void **state)
{
    hale_catalog *c = NULL;

    (void)state;
    assert_int_equal(hale_catalog_load("/nonexistent/hale/tools", &c, NULL), 0);
    assert_int_equal(hale_catalog_count(c), 0);
    hale_catalog_unref(c);
}

static void folder_without_manifest_is_skipped_and_hash_follows_command(void **state)
{
    char *dir = fixture_tmpdir("catalog");
    char sub[1200], h1[65];
    hale_catalog *c = NULL;

    (void)state;
    add_tool(dir, "diag", diag_manifest);
    snprintf(sub, sizeof(sub), "%s/notes", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(hale_catalog_load(dir, &c, NULL), 0);
    assert_int_equal(hale_catalog_count(c), 1);
    snprintf(h1, sizeof(h1), "%s", hale_catalog_hash_hex(c));
    hale_catalog_unref(c);
    snprintf(sub, sizeof(sub), "%s/diag/run", dir);
    assert_int_equal(fixture_write(sub, "#!/bin/sh\nexit 1\n"), 0);
    assert_int_equal(hale_catalog_load(dir, &c, NULL), 0);
    assert_string_not_equal(hale_catalog_hash_hex(c), h1);
    hale_catalog_unref(c);
    fixture_rmtree(dir);
    free(dir);
}

static void command_change_after_load_is_detected(void **state)
{
    char *dir = fixture_tmpdir("catalog");
    const char *folder = add_tool(dir, "diag", diag_manifest);
    hale_catalog *c = NULL;
    hale_diag d = {{0}};
    char run[1200];
    const hale_tool *t;

    (void)state;
    snprintf(run, sizeof(run), "%s/run", folder);
    assert_int_equal(hale_catalog_load(dir, &c, NULL), 0);
    t = hale_catalog_find(c, "diag");
    assert_int_equal(hale_tool_verify_command(t, &d), 0);
    assert_int_equal(fixture_write(run, "#!/bin/sh\nreboot\n"), 0);
    assert_int_equal(hale_tool_verify_command(t, &d), HALE_EPOLICY);
    assert_non_null(strstr(d.msg, "changed since the catalog was loaded"));
    assert_int_equal(fixture_write(run, script), 0);
    assert_int_equal(hale_tool_verify_command(t, &d), 0); /* the same bytes again */
    assert_int_equal(chmod(run, 0777), 0);
    assert_int_equal(hale_tool_verify_command(t, &d), HALE_ESCHEMA);
    assert_non_null(strstr(d.msg, "world-writable"));
    hale_catalog_unref(c);
    fixture_rmtree(dir);
    free(dir);
}

static void error_names_file_and_json_path(void **state)
{
    hale_diag d;

    (void)state;
    assert_int_equal(
        load_with(",\"args\":{\"root\":{\"type\":\"string\",\"pattern\":\"ab(c\"}}", &d),
        HALE_ESCHEMA);
    assert_non_null(strstr(d.msg, "tools/t/manifest.json: args.root.pattern: invalid regex at "
                                  "offset 4: "));
    assert_int_equal(load_with("{\"name\": \"t\",", &d), HALE_EPARSE);
    assert_non_null(strstr(d.msg, "tools/t/manifest.json:1:"));
}

static void every_invalid_field_is_refused(void **state)
{
    static const struct {
        const char *extra;
        const char *want;
    } cases[] = {
        {"{\"name\":\"other\",\"description\":\"d\",\"kind\":\"remediation\",\"risk\":\"low\","
         "\"command\":\"run\"}",
         "name: 'other' differs from the folder name"},
        {"{\"name\":\"t\",\"kind\":\"remediation\",\"risk\":\"low\",\"command\":\"run\"}",
         "description"},
        {"{\"name\":\"t\",\"description\":\"d\",\"kind\":\"fixer\",\"risk\":\"low\",\"command\":"
         "\"run\"}",
         "kind: 'fixer'"},
        {"{\"name\":\"t\",\"description\":\"d\",\"kind\":\"remediation\",\"risk\":\"extreme\","
         "\"command\":\"run\"}",
         "risk: 'extreme'"},
        {"{\"name\":\"t\",\"description\":\"d\",\"kind\":\"remediation\",\"risk\":\"low\"}",
         "command"},
        {"[1]", "expected a JSON object"},
        {",\"colour\":\"red\"", "colour"},
        {",\"idempotent\":\"yes\"", "idempotent"},
        {",\"timeout_s\":0", "timeout_s: 0"},
        {",\"timeout_s\":3601", "timeout_s: 3601"},
        {",\"args\":{\"x\":{\"type\":\"float\"}}", "args.x.type: 'float'"},
        {",\"args\":{\"x\":{\"type\":\"string\",\"minimum\":1}}",
         "args.x: unknown field 'minimum'"},
        {",\"args\":{\"Bad\":{\"type\":\"string\"}}", "args.Bad: expected a name"},
        {",\"args\":{\"x\":\"string\"}", "args.x: expected object"},
        {",\"args\":{\"x\":{\"type\":\"string\",\"min\":1}}", "args.x.min: not allowed"},
        {",\"args\":{\"x\":{\"type\":\"integer\",\"pattern\":\"^1$\"}}",
         "args.x.pattern: not allowed"},
        {",\"args\":{\"x\":{\"type\":\"boolean\",\"enum\":[true]}}", "args.x.enum: not allowed"},
        {",\"args\":{\"x\":{\"type\":\"string\",\"max_length\":5000}}", "args.x.max_length"},
        {",\"args\":{\"x\":{\"type\":\"string\",\"max_length\":0}}", "args.x.max_length"},
        {",\"args\":{\"x\":{\"type\":\"integer\",\"min\":5,\"max\":1}}", "args.x.min: greater"},
        {",\"args\":{\"x\":{\"type\":\"string\",\"enum\":[]}}", "args.x.enum"},
        {",\"args\":{\"x\":{\"type\":\"string\",\"enum\":[\"a\",1]}}", "args.x.enum[1]"},
        {",\"args\":{\"x\":{\"type\":\"integer\",\"min\":1,\"default\":0}}", "args.x.default"},
        {",\"args\":{\"x\":{\"type\":\"string\",\"pattern\":\"^a$\",\"default\":\"b\"}}",
         "args.x.default"},
        {",\"args\":{\"x\":{\"type\":\"string\",\"default\":\"../etc\"}}", "args.x.default"},
        {",\"args\":{\"x\":{\"type\":\"string\"}},\"required\":[\"y\"]", "required[0]"},
        {",\"required\":[\"y\"]", "required"},
        {",\"limits\":{\"memory_mb\":1}", "limits.memory_mb"},
        {",\"limits\":{\"open_files\":2}", "limits.open_files"},
        {",\"limits\":{\"swap_mb\":1}", "limits.swap_mb: unknown member"},
        {",\"limits\":{\"output_bytes\":\"64k\"}", "limits.output_bytes"},
        {",\"network\":{\"connect\":\"127.0.0.1:80\"}", "network"},
        {",\"network\":{\"listen\":[]}", "network"},
        {",\"network\":{\"connect\":[\"nohost\"]}", "network.connect[0]"},
        {",\"network\":{\"connect\":[\"a:1\",\"a:2\",\"a:3\",\"a:4\",\"a:5\",\"a:6\",\"a:7\","
         "\"a:8\",\"a:9\"]}",
         "more than 8 destinations"},
        {",\"network\":{\"connect\":[\"{{args.nope}}:80\"]}", "{{args.nope}}"},
        {",\"writable\":[\"var/tmp\"]", "writable[0]"},
        {",\"writable\":[\"/\"]", "writable[0]"},
        {",\"args\":{\"a\":{\"type\":\"string\"}},\"writable\":[\"/x/{{args.a}}\"]",
         "writable[0]: a template must be"},
        {",\"args\":{\"n\":{\"type\":\"integer\"}},\"writable\":[\"{{args.n}}\"]",
         "writable[0]: a template must be"},
        {",\"readable\":[\"/var/../etc\"]", "readable[0]"},
        {"{\"name\":\"t\",\"description\":\"d\",\"kind\":\"diagnostic\",\"risk\":\"low\","
         "\"command\":\"run\",\"writable\":[\"/var/tmp\"]}",
         "writable: a diagnostic tool is read-only"},
        {",\"readable\":[1]", "readable"},
        {",\"env\":[\"PATH\"]", "env[0]"},
        {",\"env\":[\"1X\"]", "env[0]"},
        {",\"env\":[\"A=B\"]", "env[0]"},
        {",\"sandbox\":{\"run_as\":\"admin\"}", "sandbox.run_as"},
        {",\"sandbox\":{\"capabilities\":[\"CAP_FLY\"]}", "sandbox.capabilities[0]"},
        {",\"sandbox\":{\"host_pid\":\"yes\"}", "sandbox.host_pid"},
        {",\"sandbox\":{\"require\":[\"warp\"]}", "sandbox.require[0]"},
        {",\"sandbox\":{\"require\":[\"netns,pidns\"]}", "sandbox.require[0]"},
        {",\"sandbox\":{\"chroot\":true}", "sandbox: unknown field 'chroot'"},
        {",\"precondition\":{\"tool\":\"diag\",\"alert\":\"firing\"}",
         "precondition: expected exactly one"},
        {",\"precondition\":{}", "precondition: expected exactly one"},
        {",\"precondition\":{\"tool\":\"nope\"}",
         "precondition.tool: 'nope' is not in the catalog"},
        {",\"precondition\":{\"tool\":\"t\"}", "precondition.tool: 't' is not a diagnostic tool"},
        {",\"precondition\":{\"alert\":\"firing\",\"args\":{}}", "precondition: args and expect"},
        {",\"precondition\":{\"tool\":\"diag\",\"args\":{\"unit\":\"{{output.x}}\"}}",
         "template namespace 'output' is not allowed"},
        {",\"verify\":{\"alert\":\"gone\"}", "verify.alert: 'gone'"},
        {",\"verify\":{\"alert\":\"resolved\",\"timeout_s\":0}", "verify: stabilize_s"},
        {",\"verify\":{\"alert\":\"resolved\",\"stabilize_s\":-1}", "verify: stabilize_s"},
        {",\"verify\":{\"metric\":{\"query\":\"up\",\"op\":\"~\",\"value\":1}}",
         "verify.metric.op"},
        {",\"verify\":{\"metric\":{\"query\":\"up\",\"op\":\"<\"}}", "verify.metric.value"},
        {",\"verify\":{\"metric\":{\"query\":\"up\",\"op\":\"<\",\"value\":1,\"x\":1}}",
         "verify.metric: unknown field 'x'"},
        {",\"verify\":{\"tool\":\"diag\",\"args\":{\"bogus\":\"1\"}}", "verify.args.bogus"},
        {",\"verify\":{\"tool\":\"diag\",\"args\":{\"unit\":5}}",
         "verify.args.unit: expected string"},
        {",\"verify\":{\"tool\":\"diag\",\"expect\":{\"exit_code\":300}}",
         "verify.expect.exit_code"},
        {",\"verify\":{\"tool\":\"diag\",\"expect\":{\"stdout\":\"x\"}}",
         "verify.expect: unknown field 'stdout'"},
        {",\"rollback\":{\"tool\":\"nope\"}", "rollback.tool: 'nope' is not in the catalog"},
        {",\"rollback\":{\"tool\":\"diag\",\"args\":{\"unit\":\"{{labels.x}}\"}}",
         "template namespace 'labels'"},
        {",\"rollback\":{\"tool\":\"diag\",\"when\":\"always\"}", "rollback.when"},
        {",\"reversible\":true", "reversible: true"},
        {",\"reversible\":false,\"rollback\":{\"tool\":\"diag\"}", "reversible: false"},
        {",\"args\":{\"a\":{\"type\":\"string\"}},\"writable\":[\"{{args.a\"]",
         "malformed template"},
        {",\"network\":{\"connect\":[\"{{args}}:80\"]}", "malformed template"},
    };

    (void)state;
    size_t bad = 0;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        bad += !expect_invalid(cases[i].extra, cases[i].want);
    assert_int_equal(bad, 0);
}

static void valid_optional_fields_load(void **state)
{
    hale_diag d;

    (void)state;
    assert_int_equal(load_with(",\"reversible\":false,\"idempotent\":true,\"timeout_s\":3600,"
                               "\"env\":[\"LANG\"],\"sandbox\":{\"run_as\":\"nobody\"},"
                               "\"precondition\":{\"alert\":\"firing\"},\"verify\":{\"tool\":"
                               "\"diag\",\"args\":{\"unit\":\"x\"}}",
                               &d),
                     0);
    assert_int_equal(load_with(",\"reversible\":true,\"rollback\":{\"tool\":\"diag\"}", &d), 0);
}

/* ---- The command --------------------------------------------------------------------------- */

static void expect_command_refused(void (*prepare)(const char *folder), const char *want)
{
    char *dir = fixture_tmpdir("catalog");
    hale_catalog *c = NULL;
    hale_diag d = {{0}};
    const char *folder = add_tool(dir, "diag", diag_manifest);

    prepare(folder);
    assert_int_equal(hale_catalog_load(dir, &c, &d), HALE_ESCHEMA);
    if (!strstr(d.msg, want))
        fail_msg("got '%s', expected '%s'", d.msg, want);
    assert_non_null(strstr(d.msg, "tools/diag/manifest.json: command: "));
    fixture_rmtree(dir);
    free(dir);
}

static void to_symlink_out(const char *folder)
{
    char p[1200];

    snprintf(p, sizeof(p), "%s/run", folder);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(symlink("/bin/sh", p), 0);
}

static void to_directory(const char *folder)
{
    char p[1200];

    snprintf(p, sizeof(p), "%s/run", folder);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(mkdir(p, 0755), 0);
}

static void to_not_executable(const char *folder)
{
    char p[1200];

    snprintf(p, sizeof(p), "%s/run", folder);
    assert_int_equal(chmod(p, 0644), 0);
}

static void to_world_writable(const char *folder)
{
    char p[1200];

    snprintf(p, sizeof(p), "%s/run", folder);
    assert_int_equal(chmod(p, 0777), 0);
}

static void to_missing(const char *folder)
{
    char p[1200];

    snprintf(p, sizeof(p), "%s/run", folder);
    assert_int_equal(unlink(p), 0);
}

static void command_symlink_out_of_folder_refused(void **state)
{
    (void)state;
    expect_command_refused(to_symlink_out, "resolves outside the tool folder");
}

static void command_not_regular_file_refused(void **state)
{
    (void)state;
    expect_command_refused(to_directory, "is not a regular file");
}

static void command_not_executable_refused(void **state)
{
    (void)state;
    expect_command_refused(to_not_executable, "is not executable");
}

static void command_world_writable_refused(void **state)
{
    (void)state;
    expect_command_refused(to_world_writable, "is world-writable");
}

static void command_missing_refused(void **state)
{
    (void)state;
    expect_command_refused(to_missing, "No such file");
}

static void command_symlink_inside_folder_pins_target(void **state)
{
    char *dir = fixture_tmpdir("catalog");
    const char *folder = add_tool(dir, "diag", diag_manifest);
    char p[1200], q[1200];
    hale_catalog *c = NULL;

    (void)state;
    snprintf(p, sizeof(p), "%s/run", folder);
    snprintf(q, sizeof(q), "%s/run.real", folder);
    assert_int_equal(rename(p, q), 0);
    assert_int_equal(symlink("run.real", p), 0);
    assert_int_equal(hale_catalog_load(dir, &c, NULL), 0);
    assert_non_null(strstr(hale_tool_path(hale_catalog_find(c, "diag")), "/diag/run.real"));
    hale_catalog_unref(c);
    fixture_rmtree(dir);
    free(dir);
}

/* ---- Argument validation ------------------------------------------------------------------- */

static void expect_args_refused(const char *json, const char *want)
{
    json_error_t jerr;
    json_t *args = json_loads(json, JSON_ALLOW_NUL, &jerr);
    hale_diag d = {{0}};
    hale_tool_run *run = NULL;

    assert_non_null(args);
    assert_int_equal(hale_tool_validate_args(tool("echo_args"), args, &d), HALE_ESCHEMA);
    if (!strstr(d.msg, want))
        fail_msg("args %s: got '%s', expected '%s'", json, d.msg, want);
    /* prepare refuses the same, so nothing reaches an argv */
    assert_int_equal(hale_tool_prepare(tool("echo_args"), args, &run, NULL), HALE_ESCHEMA);
    assert_null(run);
    json_decref(args);
}

static void expect_args_valid(const char *json)
{
    json_t *args = json_loads(json, 0, NULL);
    hale_diag d = {{0}};

    assert_non_null(args);
    if (hale_tool_validate_args(tool("echo_args"), args, &d) != 0)
        fail_msg("args %s: %s", json, d.msg);
    json_decref(args);
}

static void args_types_are_checked(void **state)
{
    (void)state;
    expect_args_refused("{\"name\": 5}", "args.name: expected string, got integer");
    expect_args_refused("{\"name\": \"a\", \"count\": \"3\"}", "args.count: expected integer");
    expect_args_refused("{\"name\": \"a\", \"count\": 2.5}", "args.count: expected integer");
    expect_args_refused("{\"name\": \"a\", \"loud\": \"yes\"}", "args.loud: expected boolean");
    expect_args_refused("{\"name\": \"a\", \"mode\": null}", "args.mode: expected string");
    expect_args_refused("[]", "args: expected object");
    expect_args_valid("{\"name\": \"a\", \"count\": 10, \"loud\": true, \"mode\": \"b\"}");
}

static void args_enum_pattern_range_length(void **state)
{
    (void)state;
    expect_args_refused("{\"name\": \"a\", \"mode\": \"c\"}",
                        "args.mode: not one of [\"a\",\"b\"]");
    expect_args_refused("{\"name\": \"Abc\"}", "args.name: does not match the pattern ^[a-z]+$");
    expect_args_refused("{\"name\": \"abc\\u00e9\"}", "does not match");
    expect_args_refused("{\"name\": \"a\", \"count\": 0}", "args.count: 0 is out of range");
    expect_args_refused("{\"name\": \"a\", \"count\": 11}", "args.count: 11 is out of range");
    expect_args_refused("{\"name\": \"abcdefghijklmnopqrstuvwxyzabcdefg\"}",
                        "args.name: 33 bytes, expected at most 32");
    expect_args_valid("{\"name\": \"abcdefghijklmnopqrstuvwxyzabcdef\", \"count\": 1}");
    expect_args_refused("{\"count\": 1}", "args.name: required");
    expect_args_refused("{\"name\": \"a\", \"extra\": 1}", "args.extra: echo_args has no such");
}

static void args_defaults_apply(void **state)
{
    json_t *args = json_pack("{s:s}", "name", "x");
    hale_tool_run *run = NULL;
    const json_t *got;

    (void)state;
    assert_int_equal(hale_tool_prepare(tool("echo_args"), args, &run, NULL), 0);
    got = hale_tool_run_args(run);
    assert_int_equal(json_integer_value(json_object_get(got, "count")), 3);
    assert_true(json_is_false(json_object_get(got, "loud")));
    assert_null(json_object_get(got, "mode"));
    hale_tool_run_free(run);
    json_decref(args);
}

/* SECURITY.md 3.9 P48-P53: each hostile argument on its own. */
static void p48_semicolon_rm_refused(void **state)
{
    (void)state;
    expect_args_refused("{\"name\": \"a\", \"path\": \"/var/tmp/x; rm -rf /\"}",
                        "args.path: does not match the pattern");
    expect_args_refused("{\"name\": \"a; rm -rf /\"}", "args.name: does not match");
}

static void p49_command_substitution_refused(void **state)
{
    (void)state;
    expect_args_refused("{\"name\": \"a\", \"path\": \"/var/tmp/$(id)\"}",
                        "args.path: does not match the pattern");
    expect_args_refused("{\"name\": \"a\", \"path\": \"/var/tmp/`id`\"}",
                        "args.path: does not match");
}

static void p50_embedded_newline_refused(void **state)
{
    (void)state;
    expect_args_refused("{\"name\": \"a\", \"text\": \"ok\\nrm -rf /\"}",
                        "args.text: control character (newline, tab, ...) at byte 2");
    expect_args_refused("{\"name\": \"a\", \"text\": \"ok\\u0085x\"}",
                        "args.text: control character");
}

static void p51_very_long_argument_refused(void **state)
{
    char *json = malloc(5100);

    (void)state;
    memcpy(json, "{\"name\": \"a\", \"text\": \"", 23);
    memset(json + 23, 'a', 5000);
    memcpy(json + 23 + 5000, "\"}", 3);
    expect_args_refused(json, "args.text: 5000 bytes, expected at most 256");
    free(json);
}

static void p52_nul_byte_refused(void **state)
{
    (void)state;
    expect_args_refused("{\"name\": \"a\", \"text\": \"a\\u0000b\"}", "args.text: contains a NUL");
}

static void p53_dotdot_traversal_refused(void **state)
{
    (void)state;
    expect_args_refused("{\"name\": \"a\", \"text\": \"../etc/shadow\"}", "args.text: a '..' path");
    expect_args_refused("{\"name\": \"a\", \"path\": \"/var/log/../../etc\"}", "args.path: a '..'");
    expect_args_refused("{\"name\": \"a\", \"text\": \"a/..\"}", "a '..' path segment");
    expect_args_valid("{\"name\": \"a\", \"text\": \"a..b/..c\"}"); /* not a segment */
}

/* ---- argv and its digest ------------------------------------------------------------------- */

static void argv_exact_bytes_sorted_after_defaults(void **state)
{
    json_t *args = json_pack("{s:s, s:s, s:s}", "path", "/var/log/x", "name", "abc", "mode", "a");
    const char *want[] = {"--count=3", "--loud=false", "--mode=a", "--name=abc",
                          "--path=/var/log/x"};
    crypto_hash_sha256_state st;
    unsigned char h[32];
    char hex[65];
    hale_tool_run *run = NULL;
    const hale_sandbox_spec *s;
    size_t i;

    (void)state;
    assert_int_equal(hale_tool_prepare(tool("echo_args"), args, &run, NULL), 0);
    s = hale_tool_run_spec(run);
    assert_string_equal(s->path, hale_tool_path(tool("echo_args")));
    for (i = 0; s->argv[i]; i++) {
        assert_true(i < 5);
        assert_string_equal(s->argv[i], want[i]);
    }
    assert_int_equal(i, 5);
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)s->path, strlen(s->path) + 1);
    for (i = 0; i < 5; i++)
        crypto_hash_sha256_update(&st, (const unsigned char *)want[i], strlen(want[i]) + 1);
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    assert_string_equal(hale_tool_run_argv_sha256(run), hex);
    assert_string_equal(s->env[0], "PATH=/usr/sbin:/usr/bin:/sbin:/bin");
    assert_null(s->env[1]);
    hale_tool_run_free(run);
    json_decref(args);
}

/* ---- Sandbox spec mapping ------------------------------------------------------------------ */

static void sandbox_spec_maps_manifest(void **state)
{
    json_t *args = json_pack("{s:s}", "host", "example.org");
    hale_tool_run *run = NULL;
    const hale_sandbox_spec *s;
    hale_diag d = {{0}};
    char folder[4096];
    uint32_t want_layers = (HALE_SANDBOX_REQUIRE_DEFAULT | HALE_SANDBOX_LANDLOCK) &
                           ~(uint32_t)(HALE_SANDBOX_PIDNS | HALE_SANDBOX_UID);

    (void)state;
    assert_int_equal(setenv("LANG", "C.UTF-8", 1), 0);
    assert_int_equal(unsetenv("HALE_TEST_TZ"), 0);
    assert_int_equal(hale_tool_prepare(tool("probe"), args, &run, &d), 0);
    s = hale_tool_run_spec(run);
    assert_int_equal(s->memory_bytes, 128u << 20);
    assert_int_equal(s->max_processes, 8);
    assert_int_equal(s->file_bytes, 2u << 20);
    assert_int_equal(s->cpu_s, 5);
    assert_int_equal(s->max_fds, 32);
    assert_int_equal(s->stdout_max, 4096);
    assert_int_equal(s->stderr_max, 4096);
    assert_int_equal(s->timeout_ms, 30000);
    assert_int_equal(s->uid, 0);
    assert_int_equal(s->gid, 0);
    assert_int_equal(s->keep_caps, (1ull << CAP_KILL) | (1ull << CAP_NET_RAW));
    assert_true(s->host_pid);
    assert_int_equal(s->require, want_layers);
    assert_int_equal(hale_tool_required_layers(tool("probe")), want_layers);
    assert_string_equal(s->connect[0], "127.0.0.1:9090");
    assert_string_equal(s->connect[1], "example.org:80"); /* port from its default */
    assert_null(s->connect[2]);
    assert_string_equal(s->writable[0], "/var/tmp/probe"); /* {{args.dir}} absent: left out */
    assert_null(s->writable[1]);
    assert_non_null(realpath(fixture_path("catalog/tools/probe"), folder));
    assert_string_equal(s->readable[0], folder); /* the tool's own folder, so it can exec */
    assert_string_equal(s->readable[1], "/etc/ssl/certs");
    assert_null(s->readable[2]);
    assert_string_equal(s->env[0], "PATH=/usr/sbin:/usr/bin:/sbin:/bin");
    assert_string_equal(s->env[1], "LANG=C.UTF-8");
    assert_null(s->env[2]); /* HALE_TEST_TZ unset in hale's environment */
    hale_tool_run_free(run);
    json_decref(args);
}

static void sandbox_spec_templates_filled_and_checked(void **state)
{
    json_t *args =
        json_pack("{s:s, s:i, s:s}", "host", "db.internal", "port", 5432, "dir", "/var/cache");
    hale_tool_run *run = NULL;
    const hale_sandbox_spec *s;
    json_t *nobody;

    (void)state;
    assert_int_equal(hale_tool_prepare(tool("probe"), args, &run, NULL), 0);
    s = hale_tool_run_spec(run);
    assert_string_equal(s->connect[1], "db.internal:5432");
    assert_string_equal(s->writable[0], "/var/cache");
    assert_string_equal(s->writable[1], "/var/tmp/probe");
    hale_tool_run_free(run);
    json_decref(args);
    /* run_as nobody (default): uid 65534, no caps, the default layers */
    nobody = json_pack("{s:s}", "name", "a");
    assert_int_equal(hale_tool_prepare(tool("echo_args"), nobody, &run, NULL), 0);
    s = hale_tool_run_spec(run);
    assert_int_equal(s->uid, 65534);
    assert_int_equal(s->keep_caps, 0);
    assert_false(s->host_pid);
    assert_null(s->connect);
    assert_int_equal(s->require, HALE_SANDBOX_REQUIRE_DEFAULT);
    assert_null(s->writable[0]);
    hale_tool_run_free(run);
    json_decref(nobody);
}

static void tool_to_json_view(void **state)
{
    json_t *j = hale_tool_to_json(tool("scale"));

    (void)state;
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "scale");
    assert_true(json_is_true(json_object_get(j, "reversible")));
    assert_int_equal(json_integer_value(json_object_get(j, "timeout_s")), 60);
    assert_string_equal(json_string_value(json_object_get(j, "sha256")),
                        hale_tool_sha256_hex(tool("scale")));
    assert_non_null(json_object_get(json_object_get(j, "args"), "replicas"));
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "network"), "connect")), 0);
    assert_null(json_object_get(j, "command"));
    json_decref(j);
}

/* ---- Result line --------------------------------------------------------------------------- */

static void output_json_is_last_line_object(void **state)
{
    static const char ok[] = "deleting...\ndone\n{\"ok\": true, \"deleted\": 12}\n\n";
    json_t *v;

    (void)state;
    v = hale_tool_output_json(ok, strlen(ok));
    assert_non_null(v);
    assert_int_equal(json_integer_value(json_object_get(v, "deleted")), 12);
    json_decref(v);
    assert_null(hale_tool_output_json("no result\n", 10));
    assert_null(hale_tool_output_json("{\"a\":1}\nafter\n", 14));
    assert_null(hale_tool_output_json("[1]\n", 4));
    assert_null(hale_tool_output_json("{\"a\":\n", 6));
    assert_null(hale_tool_output_json("", 0));
    v = hale_tool_output_json("{\"a\":1}", 7);
    assert_non_null(v);
    json_decref(v);
}

/* ---- Rollback and checks ------------------------------------------------------------------- */

static void rollback_derived_from_args_and_output(void **state)
{
    json_t *args = json_pack("{s:s, s:i}", "name", "api", "replicas", 5);
    json_t *out = json_pack("{s:b, s:i}", "ok", 1, "previous_replicas", 2), *rargs = NULL;
    json_t *bad = json_pack("{s:s}", "previous_replicas", "two");
    const hale_tool *rt = NULL;
    hale_diag d = {{0}};

    (void)state;
    assert_int_equal(hale_tool_rollback(cat, tool("scale"), args, out, &rt, &rargs, &d), 0);
    assert_ptr_equal(rt, tool("scale"));
    assert_string_equal(json_string_value(json_object_get(rargs, "name")), "api");
    assert_int_equal(json_integer_value(json_object_get(rargs, "replicas")), 2);
    json_decref(rargs);
    rargs = NULL;
    assert_int_equal(hale_tool_rollback(cat, tool("scale"), args, NULL, &rt, &rargs, &d),
                     HALE_ESCHEMA);
    assert_non_null(strstr(d.msg, "rollback.args.replicas: output.previous_replicas is not set"));
    assert_int_equal(hale_tool_rollback(cat, tool("scale"), args, bad, &rt, &rargs, &d),
                     HALE_ESCHEMA);
    assert_non_null(strstr(d.msg, "args.replicas: expected integer"));
    assert_null(rargs);
    assert_int_equal(hale_tool_rollback(cat, tool("status"), args, out, &rt, &rargs, &d),
                     HALE_ENOTFOUND);
    json_decref(args);
    json_decref(out);
    json_decref(bad);
}

static void precondition_and_verify_tool_checks(void **state)
{
    json_t *args = json_pack("{s:s, s:i}", "name", "api", "replicas", 5);
    json_t *active = json_pack("{s:b, s:i}", "active", 1, "pid", 9);
    json_t *inactive = json_pack("{s:b}", "active", 0);
    hale_tool_check *k = NULL;
    hale_diag d = {{0}};

    (void)state;
    assert_int_equal(
        hale_tool_check_resolve(cat, tool("scale"), HALE_TOOL_PRECONDITION, args, &k, &d), 0);
    assert_int_equal(hale_tool_check_kind_of(k), HALE_TOOL_CHECK_TOOL);
    assert_ptr_equal(hale_tool_check_tool(k), tool("status"));
    assert_string_equal(json_string_value(json_object_get(hale_tool_check_args(k), "unit")), "api");
    assert_true(hale_tool_check_tool_passed(k, 0, NULL, &d));
    assert_false(hale_tool_check_tool_passed(k, 1, NULL, &d));
    assert_non_null(strstr(d.msg, "exit code 1, expected 0"));
    hale_tool_check_free(k);
    assert_int_equal(hale_tool_check_resolve(cat, tool("scale"), HALE_TOOL_VERIFY, args, &k, &d),
                     0);
    assert_int_equal(hale_tool_check_stabilize_ms(k), 5000);
    assert_int_equal(hale_tool_check_timeout_ms(k), 30000);
    assert_true(hale_tool_check_tool_passed(k, 0, active, &d));
    assert_false(hale_tool_check_tool_passed(k, 0, inactive, &d));
    assert_non_null(strstr(d.msg, "output.active: false, expected true"));
    assert_false(hale_tool_check_tool_passed(k, 0, NULL, &d));
    assert_non_null(strstr(d.msg, "output.active: missing"));
    assert_false(hale_tool_check_metric_passed(k, 1.0)); /* not a metric check */
    hale_tool_check_free(k);
    json_decref(args);
    args = json_pack("{s:s}", "root", "/etc"); /* the run's own args are validated first */
    k = (hale_tool_check *)1;
    assert_int_equal(hale_tool_check_resolve(cat, tool("clean"), HALE_TOOL_VERIFY, args, &k, &d),
                     HALE_ESCHEMA);
    assert_ptr_equal(k, (hale_tool_check *)1);
    json_decref(args);
    args = json_pack("{s:s}", "name", "a");
    k = (hale_tool_check *)1;
    assert_int_equal(
        hale_tool_check_resolve(cat, tool("echo_args"), HALE_TOOL_VERIFY, args, &k, &d), 0);
    assert_null(k); /* declares none */
    json_decref(args);
    json_decref(active);
    json_decref(inactive);
}

static void alert_and_metric_checks(void **state)
{
    json_t *args = json_pack("{s:s}", "root", "/var/tmp/x");
    hale_tool_check *k = NULL;
    hale_diag d = {{0}};

    (void)state;
    assert_int_equal(
        hale_tool_check_resolve(cat, tool("clean"), HALE_TOOL_PRECONDITION, args, &k, &d), 0);
    assert_int_equal(hale_tool_check_kind_of(k), HALE_TOOL_CHECK_ALERT);
    assert_false(hale_tool_check_alert_resolved(k));
    assert_int_equal(hale_tool_check_timeout_ms(k), 60000); /* default */
    hale_tool_check_free(k);
    assert_int_equal(hale_tool_check_resolve(cat, tool("clean"), HALE_TOOL_VERIFY, args, &k, &d),
                     0);
    assert_int_equal(hale_tool_check_kind_of(k), HALE_TOOL_CHECK_METRIC);
    assert_string_equal(hale_tool_check_query(k), "disk_used_ratio{path=\"/var/tmp/x\"}");
    assert_string_equal(hale_tool_check_op(k), "<");
    assert_true(hale_tool_check_value(k) == 0.9);
    assert_int_equal(hale_tool_check_stabilize_ms(k), 30000);
    assert_int_equal(hale_tool_check_timeout_ms(k), 300000);
    assert_true(hale_tool_check_metric_passed(k, 0.5));
    assert_false(hale_tool_check_metric_passed(k, 0.9));
    assert_false(hale_tool_check_metric_passed(k, 0.95));
    assert_false(hale_tool_check_metric_passed(k, NAN));
    assert_false(hale_tool_check_tool_passed(k, 0, NULL, &d));
    hale_tool_check_free(k);
    json_decref(args);
}

/* ---- hale_catalog_check -------------------------------------------------------------------- */

static void count_report(const char *path, int err, const hale_diag *d, void *ud)
{
    int *n = ud;

    (void)path;
    if (err < 0) {
        assert_true(d->msg[0] != '\0');
        n[0]++;
    } else {
        n[1]++;
    }
}

static void check_reports_every_manifest(void **state)
{
    char *dir = fixture_tmpdir("catalog");
    int n[2] = {0, 0};

    (void)state;
    add_tool(dir, "diag", diag_manifest);
    add_tool(dir, "a", "{\"name\":\"a\"}");
    add_tool(dir, "b",
             "{\"name\":\"b\",\"description\":\"d\",\"kind\":\"remediation\",\"risk\":\"low\","
             "\"command\":\"run\",\"rollback\":{\"tool\":\"gone\"}}");
    assert_int_equal(hale_catalog_check(dir, count_report, n), 2);
    assert_int_equal(n[0], 2);
    assert_int_equal(n[1], 1);
    fixture_rmtree(dir);
    free(dir);
}

/* ---- A real run through the sandbox ------------------------------------------------------- */

static void prepared_tool_runs_in_sandbox(void **state)
{
    json_t *args = json_pack("{s:s, s:s}", "name", "abc", "text", "$(id); rm -rf / `id`");
    hale_sandbox_result res;
    hale_sandbox_spec spec;
    hale_tool_run *run = NULL;
    hale_diag d = {{0}};
    json_t *out;
    int r;

    (void)state;
    assert_int_equal(hale_tool_prepare(tool("echo_args"), args, &run, &d), 0);
    spec = *hale_tool_run_spec(run);
    spec.launcher = HALE_SANDBOX_LAUNCHER;
    r = hale_sandbox_run(&spec, &res, &d);
    if (r < 0)
        fail_msg("hale_sandbox_run: %s: %s", hale_strerror(r), d.msg);
    assert_int_equal(res.exit_code, 0);
    /* one argv element, byte for byte: no shell ever saw it */
    assert_non_null(strstr(res.out, "arg: --text=$(id); rm -rf / `id`\n"));
    assert_non_null(strstr(res.out, "arg: --count=3\n"));
    out = hale_tool_output_json(res.out, res.out_len);
    assert_non_null(out);
    assert_true(json_is_true(json_object_get(out, "ok")));
    assert_int_equal(json_integer_value(json_object_get(out, "argc")), 4);
    json_decref(out);
    hale_sandbox_result_release(&res);
    hale_tool_run_free(run);
    json_decref(args);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_fixture_catalog_sorted),
        cmocka_unit_test(every_valid_field_is_read),
        cmocka_unit_test(command_is_pinned_absolute_with_sha256),
        cmocka_unit_test(missing_dir_is_an_empty_catalog),
        cmocka_unit_test(folder_without_manifest_is_skipped_and_hash_follows_command),
        cmocka_unit_test(command_change_after_load_is_detected),
        cmocka_unit_test(error_names_file_and_json_path),
        cmocka_unit_test(every_invalid_field_is_refused),
        cmocka_unit_test(valid_optional_fields_load),
        cmocka_unit_test(command_symlink_out_of_folder_refused),
        cmocka_unit_test(command_not_regular_file_refused),
        cmocka_unit_test(command_not_executable_refused),
        cmocka_unit_test(command_world_writable_refused),
        cmocka_unit_test(command_missing_refused),
        cmocka_unit_test(command_symlink_inside_folder_pins_target),
        cmocka_unit_test(args_types_are_checked),
        cmocka_unit_test(args_enum_pattern_range_length),
        cmocka_unit_test(args_defaults_apply),
        cmocka_unit_test(p48_semicolon_rm_refused),
        cmocka_unit_test(p49_command_substitution_refused),
        cmocka_unit_test(p50_embedded_newline_refused),
        cmocka_unit_test(p51_very_long_argument_refused),
        cmocka_unit_test(p52_nul_byte_refused),
        cmocka_unit_test(p53_dotdot_traversal_refused),
        cmocka_unit_test(argv_exact_bytes_sorted_after_defaults),
        cmocka_unit_test(sandbox_spec_maps_manifest),
        cmocka_unit_test(sandbox_spec_templates_filled_and_checked),
        cmocka_unit_test(tool_to_json_view),
        cmocka_unit_test(output_json_is_last_line_object),
        cmocka_unit_test(rollback_derived_from_args_and_output),
        cmocka_unit_test(precondition_and_verify_tool_checks),
        cmocka_unit_test(alert_and_metric_checks),
        cmocka_unit_test(check_reports_every_manifest),
        cmocka_unit_test(prepared_tool_runs_in_sandbox),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
