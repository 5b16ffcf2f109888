/* tests/test_ingest.c - agent/ingest through include/hale/ingest.h: the Alertmanager webhook
 * (captured payloads from PROTOCOLS.md 1.2 and larger ones), generic events, the label-set
 * fingerprint, the JSON form of an alert, every error class, and jansson allocation failures. */
#include "fixture.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>

#include "hale/err.h"
#include "hale/ingest.h"
#include "hale/limits.h"
#include "util/buf.h"
#include "util/timeutil.h"
#include "util/utf8.h"

#define T_FIRING_STARTS   INT64_C(1795352902079) /* 2026-11-22T13:08:22.079Z */
#define T_RESOLVED_STARTS INT64_C(1795352747079) /* 2026-11-22T13:05:47.079Z */
#define T_RESOLVED_ENDS   INT64_C(1795352877079) /* 2026-11-22T13:07:57.079Z */
#define T_NOW             INT64_C(1795352400000) /* 2026-11-22T13:00:00Z */
#define AM_FP             "5fd73595ad6c3eef"     /* the captured alert's fingerprint */

/* A minimal valid message around the given alerts, and a minimal alert with extra fields. */
#define AM(alerts)   "{\"version\":\"4\",\"alerts\":[" alerts "]}"
#define ALERT(extra) "{\"status\":\"firing\",\"labels\":{\"alertname\":\"X\"}" extra "}"
#define EVENT(extra) "{\"source\":\"cron\",\"labels\":{\"job\":\"backup\"}" extra "}"
/* The start of a message whose first alert's labels object is open, and one numbered alert. */
#define LHEAD      "{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",\"labels\":{"
#define ALERT_PRE  "{\"status\":\"firing\",\"labels\":{\"alertname\":\"X"
#define ALERT_POST "\"}}"
#define CAPTURED_LABELS                                                                            \
    "{\"alertname\":\"AlwaysFiring\",\"service\":\"demo\",\"severity\":\"warning\"}"

static hale_ingest_batch *const untouched = (hale_ingest_batch *)(uintptr_t)0x1;

static hale_ingest_batch *am_ok(const char *body, size_t len)
{
    hale_ingest_batch *b = NULL;
    hale_diag d = {{0}};
    int r = hale_ingest_parse_alertmanager(body, len, &b, &d);

    if (r != 0)
        fail_msg("unexpected %s: %s", hale_errname(r), d.msg);
    assert_non_null(b);
    return b;
}

static hale_ingest_batch *am_fixture(const char *name)
{
    hale_ingest_batch *b;
    size_t len;
    char *body = fixture_read(fixture_path(name), &len);

    assert_non_null(body);
    b = am_ok(body, len);
    free(body);
    return b;
}

static hale_ingest_batch *event_ok(const char *body)
{
    hale_ingest_batch *b = NULL;
    hale_diag d = {{0}};
    int r = hale_ingest_parse_event(body, strlen(body), T_NOW, &b, &d);

    if (r != 0)
        fail_msg("unexpected %s: %s", hale_errname(r), d.msg);
    assert_non_null(b);
    assert_int_equal(b->n_alerts, 1);
    return b;
}

/* Expect the exact error and message; *ret must stay untouched. msg NULL checks only code. */
static void expect_err(bool event, const char *body, size_t len, int code, const char *msg)
{
    hale_ingest_batch *b = untouched;
    hale_diag d = {{0}};
    int r = event ? hale_ingest_parse_event(body, len, T_NOW, &b, &d)
                  : hale_ingest_parse_alertmanager(body, len, &b, &d);

    if (r != code)
        fail_msg("%s: got %s (%s), expected %s", body, hale_errname(r), d.msg, hale_errname(code));
    assert_ptr_equal(b, untouched);
    if (msg && strcmp(d.msg, msg) != 0)
        fail_msg("%s: message '%s', expected '%s'", body, d.msg, msg);
    assert_true(hale_utf8_is_valid(d.msg, strlen(d.msg)));
    /* No diag at all must be fine too. */
    r = event ? hale_ingest_parse_event(body, len, T_NOW, &b, NULL)
              : hale_ingest_parse_alertmanager(body, len, &b, NULL);
    assert_int_equal(r, code);
}

static void am_err(const char *body, int code, const char *msg)
{
    expect_err(false, body, strlen(body), code, msg);
}

static void event_err(const char *body, int code, const char *msg)
{
    expect_err(true, body, strlen(body), code, msg);
}

static const char *label(const json_t *labels, const char *name)
{
    return json_string_value(json_object_get(labels, name));
}

static void assert_computed_fp(const hale_alert *a)
{
    char fp[HALE_FINGERPRINT_LEN + 1];

    assert_int_equal(hale_ingest_fingerprint(a->labels, fp), 0);
    assert_string_equal(fp, a->fingerprint);
}

/* ---- Alertmanager: captured and fixture payloads ---- */

static void am_captured_firing(void **state)
{
    hale_ingest_batch *b = am_fixture("ingest/am_firing.json");
    const hale_alert *a = &b->alerts[0];

    (void)state;
    assert_string_equal(b->source, "alertmanager");
    assert_string_equal(b->receiver, "controller");
    assert_string_equal(b->group_key, "{}:{alertname=\"AlwaysFiring\"}");
    assert_string_equal(b->external_url, "http://127.0.0.1:19093");
    assert_int_equal(b->truncated_alerts, 0);
    assert_int_equal(b->n_alerts, 1);
    assert_string_equal(a->fingerprint, AM_FP);
    assert_int_equal(a->status, HALE_ALERT_FIRING);
    assert_int_equal(json_object_size(a->labels), 3);
    assert_string_equal(label(a->labels, "alertname"), "AlwaysFiring");
    assert_string_equal(label(a->labels, "service"), "demo");
    assert_string_equal(label(a->labels, "severity"), "warning");
    assert_int_equal(json_object_size(a->annotations), 2);
    assert_string_equal(label(a->annotations, "runbook"), "restart-demo");
    assert_string_equal(label(a->annotations, "summary"), "Synthetic test alert");
    assert_int_equal(a->starts_ms, T_FIRING_STARTS);
    assert_int_equal(a->ends_ms, HALE_TIME_ZERO_MS);
    /* Go's \u0026 escape is decoded. */
    assert_string_equal(a->generator_url,
                        "http://127.0.0.1:19090/graph?g0.expr=vector%281%29+%3E+0&g0.tab=1");
    assert_string_equal(a->severity, "warning");
    assert_computed_fp(a); /* our FNV-1a reproduces Alertmanager's own fingerprint */
    hale_ingest_batch_free(b);
}

static void am_captured_resolved(void **state)
{
    hale_ingest_batch *b = am_fixture("ingest/am_resolved.json");
    const hale_alert *a = &b->alerts[0];

    (void)state;
    assert_string_equal(b->receiver, "controller");
    assert_string_equal(b->external_url, "http://vm:19093");
    assert_int_equal(b->n_alerts, 1);
    assert_int_equal(a->status, HALE_ALERT_RESOLVED);
    assert_int_equal(a->starts_ms, T_RESOLVED_STARTS);
    assert_int_equal(a->ends_ms, T_RESOLVED_ENDS);
    assert_string_equal(a->fingerprint, AM_FP);
    assert_string_equal(a->generator_url,
                        "http://vm:19090/graph?g0.expr=vector%280%29+%3E+0&g0.tab=1");
    hale_ingest_batch_free(b);
}

static void am_multi_alert(void **state)
{
    hale_ingest_batch *b = am_fixture("ingest/am_multi.json");
    static const char *const fps[] = {"e5e103150211c7dc", "8bf6903c50e0212b", "0b07f1966f609d28"};
    size_t i;

    (void)state;
    assert_string_equal(b->group_key, "{}/{severity=\"critical\"}:{service=\"web\"}");
    assert_int_equal(b->n_alerts, 3);
    for (i = 0; i < 3; i++) {
        assert_string_equal(b->alerts[i].fingerprint, fps[i]);
        assert_computed_fp(&b->alerts[i]);
        assert_string_equal(b->alerts[i].severity, "critical");
    }
    assert_string_equal(label(b->alerts[1].labels, "instance"), "web-2");
    /* Nanosecond fractions are truncated to the millisecond. */
    assert_int_equal(b->alerts[0].starts_ms, INT64_C(1795353001613));
    assert_int_equal(b->alerts[1].starts_ms, INT64_C(1795353002500));
    assert_int_equal(b->alerts[1].ends_ms, HALE_TIME_ZERO_MS);
    /* An offset is applied; a resolved alert has its real end. */
    assert_int_equal(b->alerts[2].status, HALE_ALERT_RESOLVED);
    assert_int_equal(b->alerts[2].starts_ms, INT64_C(1795348680000));
    assert_int_equal(b->alerts[2].ends_ms, INT64_C(1795352970123));
    assert_string_equal(b->alerts[2].generator_url, "");
    assert_string_equal(label(b->alerts[2].annotations, "summary"), "p99 <250ms> again");
    hale_ingest_batch_free(b);
}

static void am_truncated_alerts(void **state)
{
    hale_ingest_batch *b = am_fixture("ingest/am_truncated.json");

    (void)state;
    assert_int_equal(b->truncated_alerts, 2);
    assert_int_equal(b->n_alerts, 1);
    assert_string_equal(b->alerts[0].fingerprint, "e5e103150211c7dc");
    hale_ingest_batch_free(b);
}

static void am_minimal_and_defaults(void **state)
{
    const char *empty = AM("");
    const char *bare = AM(ALERT(""));
    hale_ingest_batch *b;

    (void)state;
    b = am_ok(empty, strlen(empty));
    assert_int_equal(b->n_alerts, 0);
    assert_null(b->alerts);
    assert_string_equal(b->source, "alertmanager");
    assert_string_equal(b->receiver, "");
    assert_string_equal(b->group_key, "");
    assert_string_equal(b->external_url, "");
    hale_ingest_batch_free(b);

    b = am_ok(bare, strlen(bare));
    assert_int_equal(b->alerts[0].starts_ms, 0);               /* absent: none */
    assert_int_equal(b->alerts[0].ends_ms, HALE_TIME_ZERO_MS); /* absent: open */
    assert_string_equal(b->alerts[0].generator_url, "");
    assert_string_equal(b->alerts[0].severity, "");
    assert_true(json_is_object(b->alerts[0].annotations));
    assert_int_equal(json_object_size(b->alerts[0].annotations), 0);
    assert_string_equal(b->alerts[0].fingerprint, "d2aeefc389ca7746"); /* computed */
    hale_ingest_batch_free(b);
}

static void am_labels_shared_not_copied(void **state)
{
    const char *body = AM(ALERT(",\"annotations\":{\"a\":\"b\"}"));
    hale_ingest_batch *b = am_ok(body, strlen(body));

    (void)state;
    /* The parsed document is gone: the batch holds the only reference to each object. */
    assert_int_equal(b->alerts[0].labels->refcount, 1);
    assert_int_equal(b->alerts[0].annotations->refcount, 1);
    hale_ingest_batch_free(b);
}

static void am_fingerprint_rules(void **state)
{
    const char *absent = AM("{\"status\":\"firing\",\"labels\":" CAPTURED_LABELS "}");
    const char *upper = AM("{\"status\":\"firing\",\"labels\":" CAPTURED_LABELS
                           ",\"fingerprint\":\"5FD73595AD6C3EEF\"}");
    const char *other = AM(ALERT(",\"fingerprint\":\"0123456789abcdef\""));
    hale_ingest_batch *b;

    (void)state;
    b = am_ok(absent, strlen(absent));
    assert_string_equal(b->alerts[0].fingerprint, AM_FP); /* computed when absent */
    hale_ingest_batch_free(b);
    b = am_ok(upper, strlen(upper));
    assert_string_equal(b->alerts[0].fingerprint, AM_FP); /* normalized to lowercase */
    hale_ingest_batch_free(b);
    b = am_ok(other, strlen(other));
    /* Differs from the computed one: Alertmanager's own dedup key wins. */
    assert_string_equal(b->alerts[0].fingerprint, "0123456789abcdef");
    hale_ingest_batch_free(b);

    am_err(AM(ALERT(",\"fingerprint\":\"5fd73595ad6c3ee\"")), HALE_ESCHEMA,
           "alerts[0].fingerprint: expected 16 hex digits, got \"5fd73595ad6c3ee\"");
    am_err(AM(ALERT(",\"fingerprint\":\"5fd73595ad6c3eef0\"")), HALE_ESCHEMA,
           "alerts[0].fingerprint: expected 16 hex digits, got \"5fd73595ad6c3eef0\"");
    am_err(AM(ALERT(",\"fingerprint\":\"5fd73595ad6c3eeg\"")), HALE_ESCHEMA,
           "alerts[0].fingerprint: expected 16 hex digits, got \"5fd73595ad6c3eeg\"");
    am_err(AM(ALERT(",\"fingerprint\":\"\"")), HALE_ESCHEMA,
           "alerts[0].fingerprint: expected 16 hex digits, got \"\"");
    am_err(AM(ALERT(",\"fingerprint\":12")), HALE_ESCHEMA,
           "alerts[0].fingerprint: expected string, got integer");
}

static void am_unknown_fields_ignored(void **state)
{
    const char *body = "{\"version\":\"4\",\"future\":{\"x\":[1,2]},\"alerts\":["
                       "{\"status\":\"resolved\",\"labels\":{\"a\":\"b\"},\"silencedBy\":[]}]}";
    hale_ingest_batch *b = am_ok(body, strlen(body));

    (void)state;
    assert_int_equal(b->alerts[0].status, HALE_ALERT_RESOLVED);
    hale_ingest_batch_free(b);
}

/* ---- Alertmanager: errors ---- */

struct err_case {
    const char *body; /* NUL-terminated input */
    int code;         /* expected return */
    const char *msg;  /* expected diag, exactly */
};

static const struct err_case am_schema_cases[] = {
    {"[]", HALE_ESCHEMA, "expected a JSON object at the top level, got array"},
    {"{\"version\":\"5\",\"alerts\":[]}", HALE_ESCHEMA, "version: expected \"4\", got \"5\""},
    {"{\"version\":4,\"alerts\":[]}", HALE_ESCHEMA, "version: expected string, got integer"},
    {"{\"alerts\":[]}", HALE_ESCHEMA, "version: missing, expected string"},
    {"{\"version\":\"4\"}", HALE_ESCHEMA, "alerts: missing, expected array"},
    {"{\"version\":\"4\",\"alerts\":{}}", HALE_ESCHEMA, "alerts: expected array, got object"},
    {"{\"version\":\"4\",\"alerts\":null}", HALE_ESCHEMA, "alerts: expected array, got null"},
    {"{\"version\":\"4\",\"alerts\":[],\"groupKey\":1}", HALE_ESCHEMA,
     "groupKey: expected string, got integer"},
    {"{\"version\":\"4\",\"alerts\":[],\"truncatedAlerts\":\"2\"}", HALE_ESCHEMA,
     "truncatedAlerts: expected integer, got string"},
    {"{\"version\":\"4\",\"alerts\":[],\"truncatedAlerts\":1.5}", HALE_ESCHEMA,
     "truncatedAlerts: expected integer, got real"},
    {"{\"version\":\"4\",\"alerts\":[],\"truncatedAlerts\":-1}", HALE_ESCHEMA,
     "truncatedAlerts: expected an integer >= 0, got -1"},
    {"{\"version\":\"4\",\"alerts\":[],\"status\":\"ok\"}", HALE_ESCHEMA,
     "status: expected \"firing\" or \"resolved\", got \"ok\""},
    {"{\"version\":\"4\",\"alerts\":[],\"status\":true}", HALE_ESCHEMA,
     "status: expected string, got boolean"},
    {"{\"version\":\"4\",\"alerts\":[],\"receiver\":[]}", HALE_ESCHEMA,
     "receiver: expected string, got array"},
    {"{\"version\":\"4\",\"alerts\":[],\"groupLabels\":{\"a\":1}}", HALE_ESCHEMA,
     "groupLabels.a: expected string, got integer"},
    {"{\"version\":\"4\",\"alerts\":[],\"commonLabels\":[]}", HALE_ESCHEMA,
     "commonLabels: expected object of strings, got array"},
    {"{\"version\":\"4\",\"alerts\":[],\"commonAnnotations\":{\"s\":null}}", HALE_ESCHEMA,
     "commonAnnotations.s: expected string, got null"},
    {"{\"version\":\"4\",\"alerts\":[],\"externalURL\":false}", HALE_ESCHEMA,
     "externalURL: expected string, got boolean"},
    {AM(ALERT("") ",\"firing\""), HALE_ESCHEMA, "alerts[1]: expected object, got string"},
    {AM("{\"labels\":{\"a\":\"b\"}}"), HALE_ESCHEMA, "alerts[0].status: missing, expected string"},
    {AM("{\"status\":\"pending\",\"labels\":{\"a\":\"b\"}}"), HALE_ESCHEMA,
     "alerts[0].status: expected \"firing\" or \"resolved\", got \"pending\""},
    {AM("{\"status\":1,\"labels\":{\"a\":\"b\"}}"), HALE_ESCHEMA,
     "alerts[0].status: expected string, got integer"},
    {AM("{\"status\":\"firing\"}"), HALE_ESCHEMA, "alerts[0].labels: missing, expected object"},
    {AM("{\"status\":\"firing\",\"labels\":[]}"), HALE_ESCHEMA,
     "alerts[0].labels: expected object, got array"},
    {AM("{\"status\":\"firing\",\"labels\":{}}"), HALE_ESCHEMA,
     "alerts[0].labels: expected at least one label, got none"},
    {AM(ALERT("") "," ALERT("") "," ALERT("") ",{\"status\":\"firing\",\"labels\":{\"foo\":1}}"),
     HALE_ESCHEMA, "alerts[3].labels.foo: expected string, got integer"},
    {AM("{\"status\":\"firing\",\"labels\":{\"foo-bar\":\"x\"}}"), HALE_ESCHEMA,
     "alerts[0].labels: invalid label name 'foo-bar', expected [a-zA-Z_][a-zA-Z0-9_]*"},
    {AM("{\"status\":\"firing\",\"labels\":{\"1abc\":\"x\"}}"), HALE_ESCHEMA,
     "alerts[0].labels: invalid label name '1abc', expected [a-zA-Z_][a-zA-Z0-9_]*"},
    {AM("{\"status\":\"firing\",\"labels\":{\"\":\"x\"}}"), HALE_ESCHEMA,
     "alerts[0].labels: invalid label name '', expected [a-zA-Z_][a-zA-Z0-9_]*"},
    {AM("{\"status\":\"firing\",\"labels\":{\"caf\xc3\xa9\":\"x\"}}"), HALE_ESCHEMA,
     "alerts[0].labels: invalid label name 'caf\xc3\xa9', expected [a-zA-Z_][a-zA-Z0-9_]*"},
    {AM(ALERT(",\"annotations\":[]")), HALE_ESCHEMA,
     "alerts[0].annotations: expected object, got array"},
    {AM(ALERT(",\"annotations\":null")), HALE_ESCHEMA,
     "alerts[0].annotations: expected object, got null"},
    {AM(ALERT(",\"annotations\":{\"summary\":{}}")), HALE_ESCHEMA,
     "alerts[0].annotations.summary: expected string, got object"},
    {AM(ALERT(",\"annotations\":{\"\":\"x\"}")), HALE_ESCHEMA,
     "alerts[0].annotations: expected non-empty names, got \"\""},
    {AM(ALERT(",\"startsAt\":\"yesterday\"")), HALE_ESCHEMA,
     "alerts[0].startsAt: expected RFC 3339 time, got \"yesterday\""},
    {AM(ALERT(",\"startsAt\":\"2026-11-22 13:08:22Z\"")), HALE_ESCHEMA,
     "alerts[0].startsAt: expected RFC 3339 time, got \"2026-11-22 13:08:22Z\""},
    {AM(ALERT(",\"endsAt\":\"2026-02-30T00:00:00Z\"")), HALE_ESCHEMA,
     "alerts[0].endsAt: expected RFC 3339 time, got \"2026-02-30T00:00:00Z\""},
    {AM(ALERT(",\"endsAt\":1795352877079")), HALE_ESCHEMA,
     "alerts[0].endsAt: expected string, got integer"},
    {AM(ALERT(",\"generatorURL\":{}")), HALE_ESCHEMA,
     "alerts[0].generatorURL: expected string, got object"},
};

static void am_schema_errors(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(am_schema_cases) / sizeof(am_schema_cases[0]); i++)
        am_err(am_schema_cases[i].body, am_schema_cases[i].code, am_schema_cases[i].msg);
}

static void am_parse_errors(void **state)
{
    static const char nul[] = "{\"version\":\"4\",\0\"alerts\":[]}";
    static const char bad_utf8[] = "{\"version\":\"4\",\"alerts\":[],\"receiver\":\"\xc3\x28\"}";
    static const char overlong[] = "{\"version\":\"4\",\"alerts\":[],\"receiver\":\"\xc0\xaf\"}";
    hale_ingest_batch *b = untouched;

    (void)state;
    am_err("{\"version\":\"4\",\"alerts\":[}", HALE_EPARSE, NULL);
    am_err("{\"version\":\"4\",\"alerts\":[]} trailing", HALE_EPARSE, NULL);
    am_err("", HALE_EPARSE, "expected a JSON object, got an empty body");
    am_err("{\"version\":\"4\",\"version\":\"4\",\"alerts\":[]}", HALE_EPARSE, NULL);
    expect_err(false, nul, sizeof(nul) - 1, HALE_EPARSE, NULL);
    am_err(bad_utf8, HALE_EUTF8, NULL);
    am_err(overlong, HALE_EUTF8, NULL);
    assert_int_equal(hale_ingest_parse_alertmanager(NULL, 0, &b, NULL), HALE_EPARSE);
    assert_ptr_equal(b, untouched);
    /* The length is checked before a byte is read, so a short buffer is safe here. */
    assert_int_equal(hale_ingest_parse_alertmanager("{}", HALE_MAX_BODY_BYTES + 1u, &b, NULL),
                     HALE_ELIMIT);
}

/* head, then n comma-separated items pre<i>post, then tail: a body of any size. */
static char *repeat(const char *head, const char *pre, const char *post, unsigned n,
                    const char *tail)
{
    hale_buf buf;
    unsigned i;

    hale_buf_init(&buf, HALE_MAX_BODY_BYTES);
    assert_int_equal(hale_buf_puts(&buf, head), 0);
    for (i = 0; i < n; i++) {
        assert_int_equal(hale_buf_printf(&buf, "%s%s%u%s", i > 0 ? "," : "", pre, i, post), 0);
    }
    assert_int_equal(hale_buf_puts(&buf, tail), 0);
    return hale_buf_detach(&buf, NULL);
}

static void am_too_deep(void **state)
{
    hale_buf buf;
    unsigned i;

    (void)state;
    hale_buf_init(&buf, 4096);
    assert_int_equal(hale_buf_puts(&buf, "{\"version\":\"4\",\"alerts\":[],\"x\":"), 0);
    for (i = 0; i < 40; i++)
        assert_int_equal(hale_buf_putc(&buf, '['), 0);
    for (i = 0; i < 40; i++)
        assert_int_equal(hale_buf_putc(&buf, ']'), 0);
    assert_int_equal(hale_buf_putc(&buf, '}'), 0);
    am_err(buf.data, HALE_EPARSE, "line 1 column 63: nesting deeper than 32 levels");
    hale_buf_release(&buf);
}

static void am_limits(void **state)
{
    char *body;
    char msg[128];
    hale_ingest_batch *b;

    (void)state;
    body = repeat(LHEAD, "\"l", "\":\"v\"", 10000, "}}]}");
    am_err(body, HALE_ELIMIT, "alerts[0].labels: 10000 labels, at most 128 accepted");
    free(body);

    body = repeat(LHEAD, "\"l", "\":\"v\"", HALE_MAX_LABELS, "}}]}");
    b = am_ok(body, strlen(body)); /* exactly the limit is fine */
    assert_int_equal(json_object_size(b->alerts[0].labels), HALE_MAX_LABELS);
    assert_computed_fp(&b->alerts[0]);
    hale_ingest_batch_free(b);
    free(body);

    body = repeat("{\"version\":\"4\",\"alerts\":[", ALERT_PRE, ALERT_POST, 1200, "]}");
    am_err(body, HALE_ELIMIT, "alerts: 1200 alerts, at most 1000 accepted");
    free(body);

    body = repeat("{\"version\":\"4\",\"alerts\":[", ALERT_PRE, ALERT_POST,
                  HALE_MAX_ALERTS_PER_BATCH, "]}");
    b = am_ok(body, strlen(body));
    assert_int_equal(b->n_alerts, HALE_MAX_ALERTS_PER_BATCH);
    hale_ingest_batch_free(b);
    free(body);

    body = repeat(LHEAD "\"a\":\"b\"},\"annotations\":{", "\"a", "\":\"v\"",
                  HALE_MAX_ANNOTATIONS + 1, "}}]}");
    snprintf(msg, sizeof(msg), "alerts[0].annotations: %u annotations, at most %u accepted",
             HALE_MAX_ANNOTATIONS + 1, HALE_MAX_ANNOTATIONS);
    am_err(body, HALE_ELIMIT, msg);
    free(body);
}

/* A body whose one label (or annotation) has a value or name of n bytes of 'x'. */
static char *sized(const char *fmt_head, size_t n, const char *tail)
{
    hale_buf buf;

    hale_buf_init(&buf, HALE_MAX_BODY_BYTES);
    assert_int_equal(hale_buf_puts(&buf, fmt_head), 0);
    assert_int_equal(hale_buf_reserve(&buf, n), 0);
    memset(buf.data + buf.len, 'x', n);
    buf.len += n;
    buf.data[buf.len] = '\0';
    assert_int_equal(hale_buf_puts(&buf, tail), 0);
    return hale_buf_detach(&buf, NULL);
}

static void am_oversize_values(void **state)
{
    char *body;
    char msg[160];
    hale_ingest_batch *b;

    (void)state;
    body = sized(LHEAD "\"v\":\"", HALE_MAX_LABEL_VALUE_BYTES + 1, "\"}}]}");
    snprintf(msg, sizeof(msg), "alerts[0].labels.v: value of %u bytes, at most %u accepted",
             HALE_MAX_LABEL_VALUE_BYTES + 1, HALE_MAX_LABEL_VALUE_BYTES);
    am_err(body, HALE_ELIMIT, msg);
    free(body);

    body = sized(LHEAD "\"v\":\"", HALE_MAX_LABEL_VALUE_BYTES, "\"}}]}");
    b = am_ok(body, strlen(body)); /* exactly the limit */
    assert_int_equal(json_string_length(json_object_get(b->alerts[0].labels, "v")),
                     HALE_MAX_LABEL_VALUE_BYTES);
    hale_ingest_batch_free(b);
    free(body);

    body = sized(LHEAD "\"", HALE_MAX_LABEL_NAME_BYTES + 1, "\":\"v\"}}]}");
    snprintf(msg, sizeof(msg), "alerts[0].labels: label name of %u bytes, at most %u accepted",
             HALE_MAX_LABEL_NAME_BYTES + 1, HALE_MAX_LABEL_NAME_BYTES);
    am_err(body, HALE_ELIMIT, msg);
    free(body);

    body = sized(LHEAD "\"a\":\"b\"},\"annotations\":{\"s\":\"", HALE_MAX_ANNOTATION_BYTES + 1,
                 "\"}}]}");
    snprintf(msg, sizeof(msg), "alerts[0].annotations.s: value of %u bytes, at most %u accepted",
             HALE_MAX_ANNOTATION_BYTES + 1, HALE_MAX_ANNOTATION_BYTES);
    am_err(body, HALE_ELIMIT, msg);
    free(body);
}

/* A hostile value quoted in a message is cut short on a character boundary. */
static void am_quoted_values_stay_utf8(void **state)
{
    hale_buf buf;
    hale_diag d;
    hale_ingest_batch *b = untouched;
    unsigned i;

    (void)state;
    hale_buf_init(&buf, 4096);
    assert_int_equal(hale_buf_puts(&buf, "{\"alerts\":[],\"version\":\"x"), 0);
    for (i = 0; i < 100; i++)
        assert_int_equal(hale_buf_puts(&buf, "\xc3\xa9"), 0); /* é, 2 bytes, odd offset */
    assert_int_equal(hale_buf_puts(&buf, "\"}"), 0);
    assert_int_equal(hale_ingest_parse_alertmanager(buf.data, buf.len, &b, &d), HALE_ESCHEMA);
    assert_true(hale_utf8_is_valid(d.msg, strlen(d.msg)));
    assert_true(strlen(d.msg) < 100);
    assert_non_null(strstr(d.msg, "version: expected \"4\", got \"x\xc3\xa9"));
    hale_buf_release(&buf);
}

/* ---- the fingerprint ---- */

static void fingerprint_vectors(void **state)
{
    static const struct {
        const char *labels; /* JSON object */
        const char *fp;     /* Prometheus' model.LabelSet.Fingerprint() */
    } cases[] = {
        {CAPTURED_LABELS, AM_FP},
        {"{\"severity\":\"warning\",\"service\":\"demo\",\"alertname\":\"AlwaysFiring\"}", AM_FP},
        {"{\"alertname\":\"X\"}", "d2aeefc389ca7746"},
        {"{\"a\":\"1\",\"B\":\"2\",\"_\":\"3\",\"ab\":\"4\"}", "c8deb9eba82a75e6"}, /* bytewise */
        {"{\"k\":\"caf\xc3\xa9\",\"e\":\"\"}", "22c7ce479a23bd03"},
        {"{\"ab\":\"1\",\"a\":\"2\",\"a_\":\"3\"}", "1eec0933acc5d9f3"}, /* a prefix first */
        {"{}", "cbf29ce484222325"}, /* FNV offset basis, as Prometheus' emptyLabelSignature */
    };
    char fp[HALE_FINGERPRINT_LEN + 1];
    json_t *v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        v = json_loads(cases[i].labels, 0, NULL);
        assert_non_null(v);
        assert_int_equal(hale_ingest_fingerprint(v, fp), 0);
        assert_string_equal(fp, cases[i].fp);
        json_decref(v);
    }
}

static void fingerprint_rejects(void **state)
{
    char fp[HALE_FINGERPRINT_LEN + 1];
    char *text;
    json_t *v;

    (void)state;
    v = json_loads("{\"a\":1}", 0, NULL);
    assert_int_equal(hale_ingest_fingerprint(v, fp), HALE_ESCHEMA);
    json_decref(v);
    v = json_loads("[\"a\"]", 0, NULL);
    assert_int_equal(hale_ingest_fingerprint(v, fp), HALE_ESCHEMA);
    json_decref(v);
    assert_int_equal(hale_ingest_fingerprint(NULL, fp), HALE_ESCHEMA);
    text = repeat("{", "\"l", "\":\"v\"", HALE_MAX_LABELS + 1, "}");
    v = json_loads(text, 0, NULL);
    assert_int_equal(hale_ingest_fingerprint(v, fp), HALE_ELIMIT);
    json_decref(v);
    free(text);
}

/* ---- generic events ---- */

static void event_minimal(void **state)
{
    hale_ingest_batch *b = event_ok(EVENT(""));
    const hale_alert *a = &b->alerts[0];

    (void)state;
    assert_string_equal(b->source, "cron");
    assert_string_equal(b->receiver, "");
    assert_string_equal(b->group_key, "");
    assert_string_equal(b->external_url, "");
    assert_int_equal(b->truncated_alerts, 0);
    assert_int_equal(a->status, HALE_ALERT_FIRING);
    assert_int_equal(a->starts_ms, T_NOW);
    assert_int_equal(a->ends_ms, HALE_TIME_ZERO_MS);
    assert_string_equal(a->severity, "");
    assert_string_equal(a->generator_url, "");
    assert_string_equal(label(a->labels, "job"), "backup");
    assert_int_equal(json_object_size(a->annotations), 0);
    assert_computed_fp(a);
    hale_ingest_batch_free(b);
}

static void event_full(void **state)
{
    hale_ingest_batch *b = event_ok(
        "{\"source\":\"backup-checker\",\"severity\":\"critical\","
        "\"labels\":{\"job\":\"backup\",\"host\":\"db-1\",\"severity\":\"warning\"},"
        "\"annotations\":{\"summary\":\"backup older than 26h\",\"runbook-url\":\"https://x/y\"},"
        "\"fingerprint\":\"disk-full:web-1\",\"timestamp\":\"2026-11-22T13:08:22.079Z\","
        "\"status\":\"firing\"}");
    const hale_alert *a = &b->alerts[0];

    (void)state;
    assert_string_equal(b->source, "backup-checker");
    assert_string_equal(a->severity, "critical"); /* the event's field wins over the label */
    assert_string_equal(label(a->labels, "severity"), "warning");
    assert_string_equal(label(a->annotations, "runbook-url"), "https://x/y");
    assert_string_equal(a->fingerprint, "36c057c4b8eb81ca"); /* sha256("disk-full:web-1")[:8] */
    assert_int_equal(a->starts_ms, T_FIRING_STARTS);
    assert_int_equal(a->ends_ms, HALE_TIME_ZERO_MS);
    assert_int_equal(a->status, HALE_ALERT_FIRING);
    hale_ingest_batch_free(b);
}

static void event_severity_from_labels(void **state)
{
    hale_ingest_batch *b = event_ok("{\"source\":\"s\",\"labels\":{\"severity\":\"page\"}}");

    (void)state;
    assert_string_equal(b->alerts[0].severity, "page");
    hale_ingest_batch_free(b);
}

static void event_resolved(void **state)
{
    hale_ingest_batch *b =
        event_ok(EVENT(",\"status\":\"resolved\",\"timestamp\":\"2026-11-22T13:07:57.079Z\""));

    (void)state;
    assert_int_equal(b->alerts[0].status, HALE_ALERT_RESOLVED);
    assert_int_equal(b->alerts[0].starts_ms, T_RESOLVED_ENDS);
    assert_int_equal(b->alerts[0].ends_ms, T_RESOLVED_ENDS);
    hale_ingest_batch_free(b);

    b = event_ok(EVENT(",\"status\":\"resolved\"")); /* no timestamp: resolved now */
    assert_int_equal(b->alerts[0].ends_ms, T_NOW);
    hale_ingest_batch_free(b);
}

static void event_fingerprint_mapping(void **state)
{
    static const struct {
        const char *given;  /* the event's fingerprint */
        const char *mapped; /* the alert's */
    } cases[] = {
        {"disk-full:web-1", "36c057c4b8eb81ca"},
        {"a", "ca978112ca1bbdca"},
        {"checkout.payments:db-7", "2c7933c0fc75fd40"},
        {"5FD73595AD6C3EEF", AM_FP}, /* already 16 hex digits: only lowercased */
        {"5fd73595ad6c3eef", AM_FP},
    };
    char body[256];
    hale_ingest_batch *b;
    char *long_fp;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body), EVENT(",\"fingerprint\":\"%s\""), cases[i].given);
        b = event_ok(body);
        assert_string_equal(b->alerts[0].fingerprint, cases[i].mapped);
        hale_ingest_batch_free(b);
    }
    long_fp = sized("{\"source\":\"s\",\"labels\":{\"a\":\"b\"},\"fingerprint\":\"", 128, "\"}");
    b = event_ok(long_fp);
    hale_ingest_batch_free(b);
    free(long_fp);
    long_fp = sized("{\"source\":\"s\",\"labels\":{\"a\":\"b\"},\"fingerprint\":\"", 129, "\"}");
    event_err(long_fp, HALE_ELIMIT, "fingerprint: 129 bytes, at most 128 accepted");
    free(long_fp);
}

static void event_and_alertmanager_agree(void **state)
{
    hale_ingest_batch *ev = event_ok("{\"source\":\"x\",\"labels\":" CAPTURED_LABELS "}");
    hale_ingest_batch *am = am_fixture("ingest/am_firing.json");

    (void)state;
    assert_string_equal(ev->alerts[0].fingerprint, am->alerts[0].fingerprint);
    assert_string_equal(ev->alerts[0].fingerprint, AM_FP);
    assert_string_equal(ev->alerts[0].severity, am->alerts[0].severity);
    hale_ingest_batch_free(ev);
    hale_ingest_batch_free(am);
}

static const struct err_case event_cases[] = {
    {EVENT(",\"foo\":1"), HALE_ESCHEMA, "unknown field 'foo'"},
    {"{\"labels\":{\"a\":\"b\"}}", HALE_ESCHEMA, "source: missing, expected string"},
    {"{\"source\":7,\"labels\":{\"a\":\"b\"}}", HALE_ESCHEMA,
     "source: expected string, got integer"},
    {"{\"source\":\"\",\"labels\":{\"a\":\"b\"}}", HALE_ESCHEMA,
     "source: expected a non-empty string, got \"\""},
    {"{\"source\":\"s\"}", HALE_ESCHEMA, "labels: missing, expected object"},
    {"{\"source\":\"s\",\"labels\":\"a=b\"}", HALE_ESCHEMA, "labels: expected object, got string"},
    {"{\"source\":\"s\",\"labels\":{}}", HALE_ESCHEMA,
     "labels: expected at least one label, got none"},
    {"{\"source\":\"s\",\"labels\":{\"a\":true}}", HALE_ESCHEMA,
     "labels.a: expected string, got boolean"},
    {"{\"source\":\"s\",\"labels\":{\"a.b\":\"c\"}}", HALE_ESCHEMA,
     "labels: invalid label name 'a.b', expected [a-zA-Z_][a-zA-Z0-9_]*"},
    {EVENT(",\"severity\":\"CRITICAL\""), HALE_ESCHEMA,
     "severity: expected one of critical, error, warning, info, none, got \"CRITICAL\""},
    {EVENT(",\"severity\":\"\""), HALE_ESCHEMA,
     "severity: expected one of critical, error, warning, info, none, got \"\""},
    {EVENT(",\"severity\":3"), HALE_ESCHEMA, "severity: expected string, got integer"},
    {EVENT(",\"annotations\":[\"x\"]"), HALE_ESCHEMA, "annotations: expected object, got array"},
    {EVENT(",\"annotations\":{\"x\":2}"), HALE_ESCHEMA,
     "annotations.x: expected string, got integer"},
    {EVENT(",\"fingerprint\":42"), HALE_ESCHEMA, "fingerprint: expected string, got integer"},
    {EVENT(",\"fingerprint\":\"\""), HALE_ESCHEMA,
     "fingerprint: expected 1 to 128 characters of [A-Za-z0-9._:-], got \"\""},
    {EVENT(",\"fingerprint\":\"a b\""), HALE_ESCHEMA,
     "fingerprint: expected 1 to 128 characters of [A-Za-z0-9._:-], got \"a b\""},
    {EVENT(",\"fingerprint\":\"a/b\""), HALE_ESCHEMA,
     "fingerprint: expected 1 to 128 characters of [A-Za-z0-9._:-], got \"a/b\""},
    {EVENT(",\"timestamp\":\"now\""), HALE_ESCHEMA,
     "timestamp: expected RFC 3339 time, got \"now\""},
    {EVENT(",\"timestamp\":1795352400"), HALE_ESCHEMA, "timestamp: expected string, got integer"},
    {EVENT(",\"timestamp\":\"0001-01-01T00:00:00Z\""), HALE_ESCHEMA,
     "timestamp: expected a time not before 1970-01-01, got \"0001-01-01T00:00:00Z\""},
    {EVENT(",\"status\":\"open\""), HALE_ESCHEMA,
     "status: expected \"firing\" or \"resolved\", got \"open\""},
    {EVENT(",\"status\":false"), HALE_ESCHEMA, "status: expected string, got boolean"},
    {"[]", HALE_ESCHEMA, "expected a JSON object at the top level, got array"},
    {"{\"source\":", HALE_EPARSE, NULL},
    {"{\"source\":\"\xff\",\"labels\":{\"a\":\"b\"}}", HALE_EUTF8, NULL},
};

static void event_errors(void **state)
{
    char *body;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(event_cases) / sizeof(event_cases[0]); i++)
        event_err(event_cases[i].body, event_cases[i].code, event_cases[i].msg);
    body = sized("{\"labels\":{\"a\":\"b\"},\"source\":\"", 129, "\"}");
    event_err(body, HALE_ELIMIT, "source: 129 bytes, at most 128 accepted");
    free(body);
    body = repeat("{\"source\":\"s\",\"labels\":{", "\"l", "\":\"v\"", 10000, "}}");
    event_err(body, HALE_ELIMIT, "labels: 10000 labels, at most 128 accepted");
    free(body);
}

/* ---- JSON form ---- */

static void to_json_firing_and_resolved(void **state)
{
    hale_ingest_batch *b = am_fixture("ingest/am_firing.json");
    hale_ingest_batch *r = am_fixture("ingest/am_resolved.json");
    json_t *o = hale_ingest_alert_to_json(&b->alerts[0]);
    json_t *ro = hale_ingest_alert_to_json(&r->alerts[0]);

    (void)state;
    assert_non_null(o);
    assert_int_equal(json_object_size(o), 8);
    assert_string_equal(json_string_value(json_object_get(o, "fingerprint")), AM_FP);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "firing");
    assert_ptr_equal(json_object_get(o, "labels"), b->alerts[0].labels); /* shared */
    assert_ptr_equal(json_object_get(o, "annotations"), b->alerts[0].annotations);
    assert_string_equal(json_string_value(json_object_get(o, "startsAt")),
                        "2026-11-22T13:08:22.079Z");
    assert_true(json_is_null(json_object_get(o, "endsAt")));
    assert_string_equal(json_string_value(json_object_get(o, "generatorURL")),
                        b->alerts[0].generator_url);
    assert_string_equal(json_string_value(json_object_get(o, "severity")), "warning");

    assert_non_null(ro);
    assert_string_equal(json_string_value(json_object_get(ro, "status")), "resolved");
    assert_string_equal(json_string_value(json_object_get(ro, "endsAt")),
                        "2026-11-22T13:07:57.079Z");
    json_decref(o);
    json_decref(ro);
    /* The JSON took its own references: the batch is still whole after it is gone. */
    assert_string_equal(label(b->alerts[0].labels, "service"), "demo");
    hale_ingest_batch_free(b);
    hale_ingest_batch_free(r);
}

static void to_json_no_start(void **state)
{
    const char *body = AM(ALERT(",\"startsAt\":\"0001-01-01T00:00:00Z\""));
    hale_ingest_batch *b = am_ok(body, strlen(body));
    json_t *o;

    (void)state;
    assert_int_equal(b->alerts[0].starts_ms, 0); /* Go's zero time means none */
    o = hale_ingest_alert_to_json(&b->alerts[0]);
    assert_non_null(o);
    assert_true(json_is_null(json_object_get(o, "startsAt")));
    assert_true(json_is_object(json_object_get(o, "annotations")));
    json_decref(o);
    hale_ingest_batch_free(b);
}

/* ---- allocation failures (jansson's allocator; libc's cannot be hooked without wrapping) ---- */

static long fail_at; /* the allocation number that fails; < 0: none */
static long n_allocs;

static void *failing_malloc(size_t n)
{
    if (fail_at >= 0 && n_allocs++ == fail_at)
        return NULL;
    return malloc(n);
}

static void alloc_failures(void **state)
{
    char *am_body = fixture_read(fixture_path("ingest/am_multi.json"), NULL);
    const char *ev_body = "{\"source\":\"s\",\"labels\":{\"a\":\"b\"},\"fingerprint\":\"k\"}";
    hale_ingest_batch *b;
    hale_diag d;
    int r_am, r_ev;
    long am_allocs;
    json_t *o;
    long i;

    (void)state;
    assert_non_null(am_body);
    json_set_alloc_funcs(failing_malloc, free);
    for (i = 0;; i++) {
        fail_at = i;
        n_allocs = 0;
        b = untouched;
        r_am = hale_ingest_parse_alertmanager(am_body, strlen(am_body), &b, &d);
        if (r_am == 0) {
            o = hale_ingest_alert_to_json(&b->alerts[0]); /* may fail: must not leak */
            json_decref(o);
            hale_ingest_batch_free(b);
        } else {
            /* Any error will do: jansson 2.14's lexer drops a byte when its buffer cannot
             * grow (lex_save ignores the failure), so OOM can also surface as ESCHEMA. */
            if (r_am >= 0 || b != untouched)
                fail_msg("allocation %ld: %s: %s", i, hale_errname(r_am), d.msg);
        }
        am_allocs = n_allocs;
        n_allocs = 0;
        b = untouched;
        r_ev = hale_ingest_parse_event(ev_body, strlen(ev_body), T_NOW, &b, NULL);
        if (r_ev == 0)
            hale_ingest_batch_free(b);
        else
            assert_ptr_equal(b, untouched);
        if (r_am == 0 && r_ev == 0 && am_allocs <= i && n_allocs <= i)
            break; /* the failure point is past every allocation: all paths were tried */
    }
    assert_true(i > 50); /* the multi-alert message alone needs more than that */
    fail_at = -1;
    json_set_alloc_funcs(malloc, free);
    free(am_body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(am_captured_firing),
        cmocka_unit_test(am_captured_resolved),
        cmocka_unit_test(am_multi_alert),
        cmocka_unit_test(am_truncated_alerts),
        cmocka_unit_test(am_minimal_and_defaults),
        cmocka_unit_test(am_labels_shared_not_copied),
        cmocka_unit_test(am_fingerprint_rules),
        cmocka_unit_test(am_unknown_fields_ignored),
        cmocka_unit_test(am_schema_errors),
        cmocka_unit_test(am_parse_errors),
        cmocka_unit_test(am_too_deep),
        cmocka_unit_test(am_limits),
        cmocka_unit_test(am_oversize_values),
        cmocka_unit_test(am_quoted_values_stay_utf8),
        cmocka_unit_test(fingerprint_vectors),
        cmocka_unit_test(fingerprint_rejects),
        cmocka_unit_test(event_minimal),
        cmocka_unit_test(event_full),
        cmocka_unit_test(event_severity_from_labels),
        cmocka_unit_test(event_resolved),
        cmocka_unit_test(event_fingerprint_mapping),
        cmocka_unit_test(event_and_alertmanager_agree),
        cmocka_unit_test(event_errors),
        cmocka_unit_test(to_json_firing_and_resolved),
        cmocka_unit_test(to_json_no_start),
        cmocka_unit_test(alloc_failures),
    };

    if (sodium_init() < 0)
        return 1;
    fail_at = -1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
