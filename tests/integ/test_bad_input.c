/* tests/integ/test_bad_input.c - hostile and broken requests against a running hale: each is
 * refused with the right status and a JSON error body, none of them changes the store or the
 * accepted-alerts counter, slow clients are cut off without delaying others, and the daemon
 * is still healthy at the end. One daemon serves the whole group (request_timeout_s 1, the
 * default 1 MiB body limit); the tests run in order and the last one compares the store. */
#include "fixture.h"

#include <errno.h>
#include <signal.h>

#include "integ_http.h"
#include "integ_proc.h"
#include "integ_store.h"

#define REQUEST_TIMEOUT_MS 1000u
#define SLOW_BYTE_MS       200u

struct bad {
    integ_hale h;           /* the daemon */
    char *incidents_before; /* GET /api/v1/incidents after the baseline */
    int64_t events_before;  /* rows in events after the baseline */
    int64_t alerts_before;  /* rows in alerts after the baseline */
    double accepted_before; /* hale_alerts_accepted_total after the baseline */
};

static char *get_text(uint16_t port, const char *path, int *ret_status)
{
    integ_resp resp = {0};
    char *body = NULL;

    *ret_status = integ_http(port, "GET", path, NULL, NULL, 0, &resp);
    if (*ret_status == 0) {
        *ret_status = resp.status;
        body = resp.body;
        resp.body = NULL;
    }
    integ_resp_release(&resp);
    return body;
}

static int accepted_total(uint16_t port, double *ret)
{
    int status;
    char *text = get_text(port, "/metrics", &status);
    int r = status == 200 && text ? integ_metric(text, "hale_alerts_accepted_total", ret) : -EIO;

    free(text);
    return r;
}

static int snapshot(struct bad *b, char **ret_incidents, int64_t *ret_events, int64_t *ret_alerts,
                    double *ret_accepted)
{
    int status;

    *ret_incidents = get_text(b->h.port, "/api/v1/incidents", &status);
    if (status != 200 || !*ret_incidents)
        return -EIO;
    if (integ_db_query_int(b->h.data_dir, "SELECT COUNT(*) FROM events", ret_events) < 0 ||
        integ_db_query_int(b->h.data_dir, "SELECT COUNT(*) FROM alerts", ret_alerts) < 0)
        return -EIO;
    return accepted_total(b->h.port, ret_accepted);
}

static int post_baseline(struct bad *b)
{
    json_t *alerts =
        json_pack("[o]", integ_am_alert("firing", "00000000000000b1", NULL, NULL, "alertname",
                                        "Baseline", "service", "db", "severity", "critical", NULL));
    char *msg = integ_am_webhook(alerts);
    int r = msg ? integ_post_json(b->h.port, "/api/v1/alerts", msg, NULL) : -ENOMEM;

    free(msg);
    if (r != 200)
        return -EIO;
    r = integ_post_json(b->h.port, "/api/v1/events",
                        "{\"source\":\"integ\",\"severity\":\"warning\","
                        "\"labels\":{\"alertname\":\"Disk\",\"service\":\"web\"}}",
                        NULL);
    return r == 200 ? 0 : -EIO;
}

static int group_setup(void **state)
{
    struct bad *b = calloc(1, sizeof(*b));

    if (!b || integ_hale_init(&b->h, "integ-bad") < 0 ||
        integ_hale_write_config(&b->h, "\"request_timeout_s\": 1, \"idle_timeout_s\": 30") < 0)
        goto fail;
    if (integ_hale_start(&b->h, 10000) < 0 || post_baseline(b) < 0)
        goto fail;
    if (snapshot(b, &b->incidents_before, &b->events_before, &b->alerts_before,
                 &b->accepted_before) < 0)
        goto fail;
    *state = b;
    return 0;
fail:
    if (b) {
        char *log = integ_hale_log(&b->h);

        fprintf(stderr, "hale did not start or take the baseline; log:\n%s\n",
                log ? log : "(none)");
        free(log);
        integ_hale_release(&b->h);
        free(b->incidents_before);
    }
    free(b);
    return -1;
}

static int group_teardown(void **state)
{
    struct bad *b = *state;

    if (b) {
        integ_hale_release(&b->h);
        free(b->incidents_before);
        free(b);
    }
    return 0;
}

/* POST body to path and expect status with an error body carrying code (NULL: any code). */
static void expect_post(struct bad *b, const char *path, const char *content_type, const char *body,
                        size_t len, int status, const char *code)
{
    integ_resp resp = {0};

    assert_int_equal(integ_http(b->h.port, "POST", path, content_type, body, len, &resp), 0);
    if (resp.status != status || !integ_resp_is_error(&resp, code))
        fprintf(stderr, "POST %s: got %d %s\n", path, resp.status, resp.body);
    assert_int_equal(resp.status, status);
    assert_true(integ_resp_is_error(&resp, code));
    integ_resp_release(&resp);
}

static void expect_json_400(struct bad *b, const char *path, const char *body, const char *code)
{
    expect_post(b, path, "application/json", body, strlen(body), 400, code);
}

static void malformed_json_is_400(void **state)
{
    struct bad *b = *state;
    static const char *const bodies[] = {
        "{", "{\"version\":\"4\",", "not json", "[1,2", "{\"a\":1}}", "\"\\ud800\"", "{'a':1}",
    };

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        expect_json_400(b, "/api/v1/alerts", bodies[i], NULL);
        expect_json_400(b, "/api/v1/events", bodies[i], NULL);
    }
    expect_json_400(b, "/api/v1/alerts", "{", "malformed_json");
    /* An empty body is not a JSON document either. */
    expect_post(b, "/api/v1/alerts", "application/json", "", 0, 400, NULL);
}

static void wrong_types_are_400(void **state)
{
    struct bad *b = *state;

    expect_json_400(b, "/api/v1/alerts", "[]", "invalid_payload");
    expect_json_400(b, "/api/v1/alerts", "{\"version\":4,\"status\":\"firing\",\"alerts\":[]}",
                    "invalid_payload");
    expect_json_400(b, "/api/v1/alerts", "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":{}}",
                    "invalid_payload");
    expect_json_400(b, "/api/v1/alerts",
                    "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\","
                    "\"labels\":{\"alertname\":5}}]}",
                    "invalid_payload");
    expect_json_400(b, "/api/v1/alerts",
                    "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\","
                    "\"labels\":{\"alertname\":\"X\"},\"startsAt\":17}]}",
                    "invalid_payload");
    expect_json_400(b, "/api/v1/alerts",
                    "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":\"burning\","
                    "\"labels\":{\"alertname\":\"X\"}}]}",
                    "invalid_payload");
    expect_json_400(b, "/api/v1/events", "{\"source\":\"x\",\"labels\":\"a=b\"}",
                    "invalid_payload");
    expect_json_400(b, "/api/v1/events", "{\"source\":1,\"labels\":{\"a\":\"b\"}}",
                    "invalid_payload");
    expect_json_400(b, "/api/v1/events", "{\"source\":\"x\",\"labels\":{\"a\":[\"b\"]}}",
                    "invalid_payload");
}

/* A 3 MB body under the default 1 MiB limit: 413 and the connection closed, whether the size
 * is declared up front or streamed in chunks. */
static void huge_body_is_413(void **state)
{
    struct bad *b = *state;
    size_t n = 3u * 1000u * 1000u, len;
    char *body = malloc(n + 1), *head;
    integ_resp resp = {0};
    integ_conn c;
    char hdr[32];

    assert_non_null(body);
    memset(body, ' ', n);
    memcpy(body, "{\"pad\":\"", 8);
    body[n - 2] = '"';
    body[n - 1] = '}';
    body[n] = '\0';
    integ_conn_init(&c, b->h.port);
    assert_int_equal(integ_conn_connect(&c, 5000), 0);
    head = integ_http_format(b->h.port, "POST", "/api/v1/alerts", "application/json", NULL, body, n,
                             &len);
    assert_non_null(head);
    assert_int_equal(integ_conn_send_until_reply(&c, head, len, 10000), 0);
    free(head);
    assert_int_equal(integ_conn_read_response(&c, 5000, &resp), 0);
    assert_int_equal(resp.status, 413);
    assert_true(integ_resp_is_error(&resp, NULL));
    assert_true(resp.close);
    assert_string_equal(integ_resp_header(&resp, "Connection", hdr, sizeof(hdr)), "close");
    integ_resp_release(&resp);
    integ_conn_close(&c);

    /* The same size, chunked: no length is declared, the limit must still hold. */
    integ_conn_init(&c, b->h.port);
    assert_int_equal(integ_conn_connect(&c, 5000), 0);
    head = integ_http_format(b->h.port, "POST", "/api/v1/events", "application/json",
                             "Transfer-Encoding: chunked\r\n", NULL, 0, &len);
    assert_non_null(head);
    assert_int_equal(integ_conn_send(&c, head, len, 5000), 0);
    free(head);
    for (size_t off = 0; off < n; off += 65536) {
        size_t k = n - off < 65536 ? n - off : 65536;
        char size_line[32];
        int m = snprintf(size_line, sizeof(size_line), "%zx\r\n", k);

        if (integ_conn_send_until_reply(&c, size_line, (size_t)m, 5000) < 0 ||
            integ_conn_send_until_reply(&c, body + off, k, 5000) < 0 ||
            integ_conn_send_until_reply(&c, "\r\n", 2, 5000) < 0)
            break;
    }
    (void)integ_conn_send_until_reply(&c, "0\r\n\r\n", 5, 5000);
    assert_int_equal(integ_conn_read_response(&c, 5000, &resp), 0);
    assert_int_equal(resp.status, 413);
    assert_true(integ_resp_is_error(&resp, NULL));
    integ_resp_release(&resp);
    integ_conn_close(&c);
    free(body);
}

static void invalid_utf8_is_400(void **state)
{
    struct bad *b = *state;

    expect_json_400(b, "/api/v1/events", "{\"source\":\"x\",\"labels\":{\"a\":\"\xff\xfe\"}}",
                    "invalid_utf8");
    expect_json_400(b, "/api/v1/events", "{\"source\":\"x\",\"labels\":{\"a\":\"\xc3\"}}",
                    "invalid_utf8");
    /* An overlong encoding of '/' and a UTF-16 surrogate encoded in UTF-8. */
    expect_json_400(b, "/api/v1/alerts",
                    "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\","
                    "\"labels\":{\"alertname\":\"\xc0\xaf\"}}]}",
                    "invalid_utf8");
    expect_json_400(b, "/api/v1/alerts",
                    "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\","
                    "\"labels\":{\"alertname\":\"\xed\xa0\x80\"}}]}",
                    "invalid_utf8");
}

static void ten_thousand_labels_is_400(void **state)
{
    struct bad *b = *state;
    size_t cap = 10000u * 32u + 256u, n = 0;
    char *body = malloc(cap);

    assert_non_null(body);
    n += (size_t)snprintf(body + n, cap - n,
                          "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":"
                          "\"firing\",\"labels\":{");
    for (unsigned i = 0; i < 10000; i++)
        n += (size_t)snprintf(body + n, cap - n, "%s\"l%u\":\"v\"", i ? "," : "", i);
    n += (size_t)snprintf(body + n, cap - n, "}}]}");
    expect_json_400(b, "/api/v1/alerts", body, "limit_exceeded");

    n = (size_t)snprintf(body, cap, "{\"source\":\"x\",\"labels\":{");
    for (unsigned i = 0; i < 10000; i++)
        n += (size_t)snprintf(body + n, cap - n, "%s\"l%u\":\"v\"", i ? "," : "", i);
    n += (size_t)snprintf(body + n, cap - n, "}}");
    expect_json_400(b, "/api/v1/events", body, "limit_exceeded");
    free(body);
}

/* Limits on everything a sender can grow: nesting, alerts per message, label value size. */
static void limits_are_400(void **state)
{
    struct bad *b = *state;
    size_t cap = 1001u * 96u + 256u, n;
    char *body = malloc(cap);

    assert_non_null(body);
    /* 40 levels inside a field Alertmanager may add later (unknown fields are ignored). */
    n = (size_t)snprintf(body, cap,
                         "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[],\"x\":");
    for (int i = 0; i < 40; i++)
        body[n++] = '[';
    for (int i = 0; i < 40; i++)
        body[n++] = ']';
    body[n++] = '}';
    body[n] = '\0';
    expect_json_400(b, "/api/v1/alerts", body, NULL);

    n = (size_t)snprintf(body, cap, "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[");
    for (unsigned i = 0; i < 1001; i++)
        n += (size_t)snprintf(body + n, cap - n,
                              "%s{\"status\":\"firing\",\"labels\":{\"alertname\":\"Many\","
                              "\"i\":\"%u\"}}",
                              i ? "," : "", i);
    n += (size_t)snprintf(body + n, cap - n, "]}");
    expect_json_400(b, "/api/v1/alerts", body, "limit_exceeded");
    free(body);

    cap = 17u * 1024u + 256u;
    body = malloc(cap);
    assert_non_null(body);
    n = (size_t)snprintf(body, cap, "{\"source\":\"x\",\"labels\":{\"alertname\":\"");
    memset(body + n, 'v', 16385);
    n += 16385;
    snprintf(body + n, cap - n, "\"}}");
    expect_json_400(b, "/api/v1/events", body, "limit_exceeded");
    free(body);
    /* Duplicate keys make a document ambiguous. */
    expect_json_400(b, "/api/v1/events",
                    "{\"source\":\"x\",\"source\":\"y\",\"labels\":{\"alertname\":\"D\"}}",
                    "malformed_json");
    expect_json_400(b, "/api/v1/events", "{\"source\":\"x\",\"labels\":{\"a\":\"b\\u0000c\"}}",
                    NULL);
}

/* Time for a served request on a fresh connection, in ms; -1 when it failed. */
static int64_t timed_healthz(uint16_t port)
{
    uint64_t t0 = integ_now_ms();
    integ_resp resp = {0};
    int r = integ_http(port, "GET", "/healthz", NULL, NULL, 0, &resp);
    int status = resp.status;

    integ_resp_release(&resp);
    return r == 0 && status == 200 ? (int64_t)(integ_now_ms() - t0) : -1;
}

/* Send the first at_once bytes of text, then trickle the rest one byte every SLOW_BYTE_MS;
 * meanwhile another client must be served at once, and the slow one must get 408 or be
 * disconnected soon after request_timeout_s (counted from the request's first byte). */
static void slow_client(struct bad *b, const char *text, size_t at_once)
{
    size_t len = strlen(text), sent = at_once;
    uint64_t t0, cut_ms;
    int64_t other_ms = -1;
    integ_resp resp = {0};
    bool answered = false;
    integ_conn c;

    integ_conn_init(&c, b->h.port);
    assert_int_equal(integ_conn_connect(&c, 5000), 0);
    t0 = integ_now_ms();
    if (at_once)
        assert_int_equal(integ_conn_send(&c, text, at_once, 1000), 0);
    while (sent < len && integ_now_ms() - t0 < 5000) {
        if (integ_conn_send(&c, text + sent, 1, 1000) < 0)
            break; /* disconnected */
        sent++;
        if (sent == at_once + 2)
            other_ms = timed_healthz(b->h.port);
        if (integ_conn_wait_closed(&c, SLOW_BYTE_MS))
            break;
    }
    cut_ms = integ_now_ms() - t0;
    /* Whatever arrived before the close: a 408 when the server had the time to say so. */
    if (integ_conn_read_response(&c, 1000, &resp) == 0) {
        answered = true;
        assert_int_equal(resp.status, 408);
        assert_true(integ_resp_is_error(&resp, "request_timeout"));
    }
    integ_resp_release(&resp);
    integ_conn_close(&c);
    fprintf(stderr, "slow client: %s after %llu ms (%zu of %zu bytes sent); other client %lld ms\n",
            answered ? "408" : "disconnected", (unsigned long long)cut_ms, sent, len,
            (long long)other_ms);
    assert_true(sent < len);
    assert_true(cut_ms >= REQUEST_TIMEOUT_MS - 100);
    assert_true(cut_ms <= REQUEST_TIMEOUT_MS + 1500);
    assert_true(other_ms >= 0);
    assert_true(other_ms < 500);
}

static void slow_loris_headers_is_cut_off(void **state)
{
    slow_client(*state, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: yes\r\n\r\n", 0);
}

/* Headers at once, then the body byte by byte: the deadline covers the whole request. */
static void slow_loris_body_is_cut_off(void **state)
{
    struct bad *b = *state;
    const char *body = "{\"source\":\"slow\",\"labels\":{\"alertname\":\"Slow\"}}";
    char text[256];
    int head;

    head = snprintf(text, sizeof(text),
                    "POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Type: "
                    "application/json\r\nContent-Length: %zu\r\n\r\n",
                    (unsigned)b->h.port, strlen(body));
    snprintf(text + head, sizeof(text) - (size_t)head, "%s", body);
    slow_client(b, text, (size_t)head);
}

static void expect_status(struct bad *b, const char *method, const char *path, int status,
                          const char *allow)
{
    integ_resp resp = {0};
    char hdr[64];

    assert_int_equal(integ_http(b->h.port, method, path, NULL, NULL, 0, &resp), 0);
    if (resp.status != status)
        fprintf(stderr, "%s %s: got %d %s\n", method, path, resp.status, resp.body);
    assert_int_equal(resp.status, status);
    assert_true(integ_resp_is_error(&resp, NULL));
    if (allow) {
        assert_non_null(integ_resp_header(&resp, "Allow", hdr, sizeof(hdr)));
        assert_string_equal(hdr, allow);
    }
    integ_resp_release(&resp);
}

static void unknown_route_is_404(void **state)
{
    struct bad *b = *state;

    expect_status(b, "GET", "/nope", 404, NULL);
    expect_status(b, "GET", "/api/v1/incidents/999999", 404, NULL);
    expect_status(b, "GET", "/api/v1/incidents/abc", 404, NULL);
    expect_status(b, "POST", "/api/v2/alerts", 404, NULL);
}

static void wrong_method_is_405_with_allow(void **state)
{
    struct bad *b = *state;

    expect_status(b, "GET", "/api/v1/alerts", 405, "POST");
    expect_status(b, "DELETE", "/api/v1/incidents", 405, "GET");
    expect_status(b, "PUT", "/api/v1/events", 405, "POST");
    expect_status(b, "POST", "/healthz", 405, "GET");
}

static void wrong_content_type_is_415(void **state)
{
    struct bad *b = *state;
    const char *ok = "{\"source\":\"x\",\"labels\":{\"alertname\":\"CT\"}}";

    expect_post(b, "/api/v1/events", "text/plain", ok, strlen(ok), 415, NULL);
    expect_post(b, "/api/v1/alerts", "application/x-www-form-urlencoded", ok, strlen(ok), 415,
                NULL);
    expect_post(b, "/api/v1/events", NULL, ok, strlen(ok), 415, NULL);
}

static void unknown_event_field_is_400(void **state)
{
    expect_json_400(*state, "/api/v1/events",
                    "{\"source\":\"x\",\"labels\":{\"alertname\":\"U\"},\"bogus\":true}",
                    "invalid_payload");
}

static void malformed_http_is_400(void **state)
{
    struct bad *b = *state;
    static const char *const texts[] = {
        "GARBAGE\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n",
        "POST /api/v1/events HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        /* Request smuggling shapes: two lengths, or a length and chunked together. */
        "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 3\r\nContent-Length: 40\r\n\r\n{}\n",
        "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
    };

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        integ_resp resp = {0};
        integ_conn c;

        integ_conn_init(&c, b->h.port);
        assert_int_equal(integ_conn_connect(&c, 5000), 0);
        assert_int_equal(integ_conn_send(&c, texts[i], strlen(texts[i]), 5000), 0);
        assert_int_equal(integ_conn_read_response(&c, 5000, &resp), 0);
        assert_int_equal(resp.status, 400);
        assert_true(integ_resp_is_error(&resp, NULL));
        assert_true(resp.close);
        integ_resp_release(&resp);
        integ_conn_close(&c);
    }
}

/* Oversized request heads: 431 for too many or too large headers, 414 for a long target. */
static void oversized_heads_are_refused(void **state)
{
    struct bad *b = *state;
    size_t cap = 24u * 1024u, n;
    char *text = malloc(cap);
    static const int want[3] = {431, 431, 414};

    assert_non_null(text);
    for (int k = 0; k < 3; k++) {
        integ_resp resp = {0};
        integ_conn c;

        if (k == 0) {
            n = (size_t)snprintf(text, cap, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
            for (int i = 0; i < 100; i++)
                n += (size_t)snprintf(text + n, cap - n, "X-H%d: y\r\n", i);
            n += (size_t)snprintf(text + n, cap - n, "\r\n");
        } else if (k == 1) {
            n = (size_t)snprintf(text, cap, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
            memset(text + n, 'a', 20000);
            n += 20000;
            n += (size_t)snprintf(text + n, cap - n, "\r\n\r\n");
        } else {
            n = (size_t)snprintf(text, cap, "GET /");
            memset(text + n, 'a', 5000);
            n += 5000;
            n += (size_t)snprintf(text + n, cap - n, " HTTP/1.1\r\nHost: x\r\n\r\n");
        }
        integ_conn_init(&c, b->h.port);
        assert_int_equal(integ_conn_connect(&c, 5000), 0);
        assert_int_equal(integ_conn_send_until_reply(&c, text, n, 5000), 0);
        assert_int_equal(integ_conn_read_response(&c, 5000, &resp), 0);
        assert_int_equal(resp.status, want[k]);
        assert_true(integ_resp_is_error(&resp, NULL));
        assert_true(resp.close);
        integ_resp_release(&resp);
        integ_conn_close(&c);
    }
    free(text);
}

/* Four requests in one write, a refused POST among them: four answers, in order. */
static void pipelined_requests_answered_in_order(void **state)
{
    struct bad *b = *state;
    const char *bad_body = "{\"source\":\"x\"}";
    char *parts[4] = {NULL};
    size_t lens[4], total = 0;
    char *all;
    static const int want[4] = {200, 400, 404, 200};
    integ_conn c;

    parts[0] = integ_http_format(b->h.port, "GET", "/healthz", NULL, NULL, NULL, 0, &lens[0]);
    parts[1] = integ_http_format(b->h.port, "POST", "/api/v1/events", "application/json", NULL,
                                 bad_body, strlen(bad_body), &lens[1]);
    parts[2] = integ_http_format(b->h.port, "GET", "/nope", NULL, NULL, NULL, 0, &lens[2]);
    parts[3] = integ_http_format(b->h.port, "GET", "/readyz", NULL, NULL, NULL, 0, &lens[3]);
    for (int i = 0; i < 4; i++) {
        assert_non_null(parts[i]);
        total += lens[i];
    }
    all = malloc(total);
    assert_non_null(all);
    total = 0;
    for (int i = 0; i < 4; i++) {
        memcpy(all + total, parts[i], lens[i]);
        total += lens[i];
        free(parts[i]);
    }
    integ_conn_init(&c, b->h.port);
    assert_int_equal(integ_conn_connect(&c, 5000), 0);
    assert_int_equal(integ_conn_send(&c, all, total, 5000), 0);
    free(all);
    for (int i = 0; i < 4; i++) {
        integ_resp resp = {0};

        assert_int_equal(integ_conn_read_response(&c, 5000, &resp), 0);
        assert_int_equal(resp.status, want[i]);
        if (i == 0)
            assert_string_equal(resp.body, "{\"status\":\"ok\"}");
        if (i == 3)
            assert_string_equal(resp.body, "{\"status\":\"ready\"}");
        if (want[i] >= 400)
            assert_true(integ_resp_is_error(&resp, NULL));
        assert_false(resp.close);
        integ_resp_release(&resp);
    }
    integ_conn_close(&c);
}

static void still_healthy_and_store_unchanged(void **state)
{
    struct bad *b = *state;
    char *incidents = NULL;
    int64_t events = -1, alerts = -1;
    double accepted = -1;
    int status;
    char *health = get_text(b->h.port, "/healthz", &status);

    assert_int_equal(status, 200);
    free(health);
    assert_true(integ_proc_running(&b->h.proc));
    assert_int_equal(snapshot(b, &incidents, &events, &alerts, &accepted), 0);
    assert_string_equal(incidents, b->incidents_before);
    assert_int_equal(events, b->events_before);
    assert_int_equal(alerts, b->alerts_before);
    assert_true(accepted == b->accepted_before);
    assert_true(accepted == 2.0);
    free(incidents);
    assert_int_equal(integ_hale_stop(&b->h, 5000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(malformed_json_is_400),
        cmocka_unit_test(wrong_types_are_400),
        cmocka_unit_test(huge_body_is_413),
        cmocka_unit_test(invalid_utf8_is_400),
        cmocka_unit_test(ten_thousand_labels_is_400),
        cmocka_unit_test(limits_are_400),
        cmocka_unit_test(slow_loris_headers_is_cut_off),
        cmocka_unit_test(slow_loris_body_is_cut_off),
        cmocka_unit_test(unknown_route_is_404),
        cmocka_unit_test(wrong_method_is_405_with_allow),
        cmocka_unit_test(wrong_content_type_is_415),
        cmocka_unit_test(unknown_event_field_is_400),
        cmocka_unit_test(malformed_http_is_400),
        cmocka_unit_test(oversized_heads_are_refused),
        cmocka_unit_test(pipelined_requests_answered_in_order),
        cmocka_unit_test(still_healthy_and_store_unchanged),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
