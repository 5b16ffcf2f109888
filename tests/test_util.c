/* tests/test_util.c - agent/util: errors, diag, buffers, number parsers, time, UTF-8, the map,
 * the JSON helpers and the assertion handlers. */
#include "fixture.h"

#include <errno.h>
#include <sodium.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "hale/diag.h"
#include "hale/log.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/lockfile.h"
#include "util/prom.h"
#include "util/hashmap.h"
#include "util/json.h"
#include "util/sha256.h"
#include "util/strparse.h"
#include "util/timeutil.h"
#include "util/utf8.h"

/* ---- err, diag ---- */

static void err_names_and_texts(void **state)
{
    (void)state;
    assert_string_equal(hale_errname(HALE_ESCHEMA), "ESCHEMA");
    assert_string_equal(hale_strerror(HALE_ELIMIT), "a configured limit was exceeded");
    assert_string_equal(hale_errname(HALE_EUSAGE), "EUSAGE");
    assert_string_equal(hale_errname(-ENOENT), "ENOENT");
    assert_string_equal(hale_strerror(-ENOENT), "no such file or directory");
    assert_string_equal(hale_errname(-EAGAIN), "EAGAIN");
    assert_string_equal(hale_errname(0), "OK");
    assert_string_equal(hale_strerror(0), "success");
    assert_string_equal(hale_errname(-3999), "EUNKNOWN");
    assert_string_equal(hale_strerror(-5000), "unknown error");
    assert_string_equal(hale_errname(42), "EUNKNOWN");
}

static void diag_set_and_prefix(void **state)
{
    hale_diag d;
    char big[1000];

    (void)state;
    hale_diag_set(&d, "key '%s': bad", "x");
    assert_string_equal(d.msg, "key 'x': bad");
    hale_diag_prefix(&d, "hale.json:3");
    assert_string_equal(d.msg, "hale.json:3: key 'x': bad");
    hale_diag_set(NULL, "ignored %d", 1);
    hale_diag_prefix(NULL, "ignored");
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    hale_diag_set(&d, "%s", big);
    assert_int_equal(strlen(d.msg), sizeof(d.msg) - 1);
    hale_diag_prefix(&d, "p");
    assert_int_equal(strlen(d.msg), sizeof(d.msg) - 1);
    assert_memory_equal(d.msg, "p: aaa", 6);
    hale_diag_prefix(&d, big);
    assert_int_equal(strlen(d.msg), sizeof(d.msg) - 1);
}

/* ---- buf ---- */

static void buf_append_and_cap(void **state)
{
    hale_buf b;
    int i;

    (void)state;
    hale_buf_init(&b, 10);
    assert_null(b.data);
    assert_int_equal(hale_buf_puts(&b, "hello"), 0);
    assert_int_equal(hale_buf_putc(&b, ' '), 0);
    assert_int_equal(hale_buf_printf(&b, "%d", 123), 0);
    assert_string_equal(b.data, "hello 123");
    assert_int_equal(b.len, 9);
    /* 2 more bytes would pass the cap: refused, buffer unchanged */
    assert_int_equal(hale_buf_puts(&b, "ab"), HALE_ELIMIT);
    assert_int_equal(hale_buf_printf(&b, "%s", "xyz"), HALE_ELIMIT);
    assert_int_equal(hale_buf_json_str(&b, "a", 1), HALE_ELIMIT);
    assert_string_equal(b.data, "hello 123");
    assert_int_equal(hale_buf_putc(&b, '!'), 0); /* exactly max_len is fine */
    assert_string_equal(b.data, "hello 123!");
    assert_int_equal(hale_buf_putc(&b, '!'), HALE_ELIMIT);
    assert_int_equal(hale_buf_reserve(&b, 1), HALE_ELIMIT);
    assert_int_equal(hale_buf_reserve(&b, SIZE_MAX), HALE_ELIMIT);
    hale_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    hale_buf_release(&b);
    assert_null(b.data);

    hale_buf_init(&b, 1u << 20);
    for (i = 0; i < 10000; i++)
        assert_int_equal(hale_buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(b.len, 100000);
    assert_true(b.cap > b.len && b.cap <= (1u << 20) + 1);
    assert_int_equal(b.data[b.len], '\0');
    assert_int_equal(hale_buf_append(&b, "", 0), 0);
    hale_buf_release(&b);
}

static void buf_consume_detach(void **state)
{
    hale_buf b;
    size_t len = 99;
    char *s;

    (void)state;
    hale_buf_init(&b, 100);
    s = hale_buf_detach(&b, &len);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    assert_int_equal(hale_buf_puts(&b, "abcdef"), 0);
    hale_buf_consume(&b, 2);
    assert_string_equal(b.data, "cdef");
    hale_buf_consume(&b, 0);
    assert_string_equal(b.data, "cdef");
    s = hale_buf_detach(&b, &len);
    assert_string_equal(s, "cdef");
    assert_int_equal(len, 4);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(s);
    assert_int_equal(hale_buf_puts(&b, "xy"), 0); /* usable after detach */
    hale_buf_consume(&b, 2);
    assert_string_equal(b.data, "");
    hale_buf_release(&b);
}

static void buf_json_escapes(void **state)
{
    static const char in[] = "q\"b\\s/\n\t\r\b\f\x01\x1f\x7f é €";
    hale_buf b;
    json_t *v;
    json_error_t jerr;

    (void)state;
    hale_buf_init(&b, 4096);
    assert_int_equal(hale_buf_json_str(&b, in, sizeof(in) - 1), 0);
    assert_string_equal(b.data, "\"q\\\"b\\\\s/\\n\\t\\r\\b\\f\\u0001\\u001f\\u007f é €\"");
    v = json_loadb(b.data, b.len, JSON_DECODE_ANY, &jerr);
    assert_non_null(v);
    assert_string_equal(json_string_value(v), in);
    json_decref(v);
    hale_buf_reset(&b);
    /* an embedded NUL and invalid UTF-8 still give valid JSON */
    assert_int_equal(hale_buf_json_str(&b, "a\0b\xff\xc3", 5), 0);
    assert_string_equal(b.data, "\"a\\u0000b\xEF\xBF\xBD\xEF\xBF\xBD\"");
    hale_buf_release(&b);
}

static void buf_json_str_max_truncates(void **state)
{
    hale_buf b;
    json_t *v;
    json_error_t jerr;
    size_t max;

    (void)state;
    hale_buf_init(&b, 4096);
    assert_int_equal(hale_buf_json_str_max(&b, "abc", 3, 5), 0); /* "abc" fits exactly */
    assert_string_equal(b.data, "\"abc\"");
    hale_buf_reset(&b);
    assert_int_equal(hale_buf_json_str_max(&b, "abcd", 4, 5), 1);
    assert_string_equal(b.data, "\"...\"");
    hale_buf_reset(&b);
    assert_int_equal(hale_buf_json_str_max(&b, "abcdefgh", 8, 8), 1);
    assert_string_equal(b.data, "\"abc...\"");
    hale_buf_reset(&b);
    assert_int_equal(hale_buf_json_str_max(&b, "x", 1, 4), -EINVAL);
    /* never split a multi-byte character or an escape, whatever the limit */
    for (max = 5; max < 30; max++) {
        hale_buf_reset(&b);
        assert_true(hale_buf_json_str_max(&b, "€€€\n\n\n\"\"", 14, max) >= 0);
        assert_true(b.len <= max);
        v = json_loadb(b.data, b.len, JSON_DECODE_ANY, &jerr);
        assert_non_null(v);
        json_decref(v);
    }
    hale_buf_release(&b);
}

/* ---- strparse ---- */

static void parse_integers(void **state)
{
    uint64_t u = 7;
    uint32_t u32 = 7;
    int64_t i = 7;

    (void)state;
    assert_int_equal(hale_parse_u64("0", &u), 0);
    assert_int_equal(u, 0);
    assert_int_equal(hale_parse_u64("18446744073709551615", &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(hale_parse_u64("18446744073709551616", &u), -ERANGE);
    assert_true(u == UINT64_MAX); /* untouched on failure */
    assert_int_equal(hale_parse_u64("-1", &u), -EINVAL);
    assert_int_equal(hale_parse_u64("+1", &u), -EINVAL);
    assert_int_equal(hale_parse_u64(" 1", &u), -EINVAL);
    assert_int_equal(hale_parse_u64("1 ", &u), -EINVAL);
    assert_int_equal(hale_parse_u64("", &u), -EINVAL);
    assert_int_equal(hale_parse_u64("0x10", &u), -EINVAL);
    assert_int_equal(hale_parse_u64(NULL, &u), -EINVAL);
    assert_int_equal(hale_parse_u32("4294967295", &u32), 0);
    assert_true(u32 == UINT32_MAX);
    assert_int_equal(hale_parse_u32("4294967296", &u32), -ERANGE);
    assert_int_equal(hale_parse_u32("12a", &u32), -EINVAL);
    assert_int_equal(hale_parse_i64("-9223372036854775808", &i), 0);
    assert_true(i == INT64_MIN);
    assert_int_equal(hale_parse_i64("9223372036854775807", &i), 0);
    assert_true(i == INT64_MAX);
    assert_int_equal(hale_parse_i64("9223372036854775808", &i), -ERANGE);
    assert_int_equal(hale_parse_i64("-9223372036854775809", &i), -ERANGE);
    assert_int_equal(hale_parse_i64("-", &i), -EINVAL);
    assert_int_equal(hale_parse_i64("--1", &i), -EINVAL);
    assert_int_equal(hale_parse_i64("-42", &i), 0);
    assert_true(i == -42);
}

static void parse_durations(void **state)
{
    uint64_t ms = 1;

    (void)state;
    assert_int_equal(hale_parse_ms("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(hale_parse_ms("5s", &ms), 0);
    assert_int_equal(ms, 5000);
    assert_int_equal(hale_parse_ms("2m", &ms), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(hale_parse_ms("1h", &ms), 0);
    assert_int_equal(ms, 3600000);
    assert_int_equal(hale_parse_ms("1d", &ms), 0);
    assert_int_equal(ms, 86400000);
    assert_int_equal(hale_parse_ms("1h30m", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(hale_parse_ms("1m30s500ms", &ms), 0);
    assert_int_equal(ms, 90500);
    assert_int_equal(hale_parse_ms("30", &ms), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(hale_parse_ms("0", &ms), 0);
    assert_int_equal(ms, 0);
    ms = 1;
    assert_int_equal(hale_parse_ms("1h30", &ms), -EINVAL);
    assert_int_equal(hale_parse_ms("h", &ms), -EINVAL);
    assert_int_equal(hale_parse_ms("1.5s", &ms), -EINVAL);
    assert_int_equal(hale_parse_ms("5x", &ms), -EINVAL);
    assert_int_equal(hale_parse_ms("5 s", &ms), -EINVAL);
    assert_int_equal(hale_parse_ms("-5s", &ms), -EINVAL);
    assert_int_equal(hale_parse_ms("", &ms), -EINVAL);
    assert_int_equal(ms, 1);
    assert_int_equal(hale_parse_ms("18446744073709551615ms", &ms), 0);
    assert_true(ms == UINT64_MAX);
    assert_int_equal(hale_parse_ms("18446744073709551615s", &ms), -ERANGE);
    assert_int_equal(hale_parse_ms("18446744073709551615ms1ms", &ms), -ERANGE);
    assert_int_equal(hale_parse_ms("99999999999999999999", &ms), -ERANGE);
    assert_int_equal(hale_parse_ms("213503982334602d", &ms), -ERANGE);
}

static void parse_sizes(void **state)
{
    static const struct {
        const char *in;
        uint64_t want;
    } ok[] = {
        {"512", 512},     {"0", 0},          {"7B", 7},
        {"64KiB", 65536}, {"1MiB", 1048576}, {"2GiB", UINT64_C(2147483648)},
        {"3kB", 3000},    {"4MB", 4000000},  {"5GB", UINT64_C(5000000000)},
    };
    static const char *const bad[] = {"", "KiB", "1 MiB", "1mib", "1KB", "1.5MiB", "-1", "1MiBx"};
    uint64_t v = 1;
    size_t i;

    (void)state;
    for (i = 0; i < HALE_ARRAY_SIZE(ok); i++) {
        assert_int_equal(hale_parse_bytes(ok[i].in, &v), 0);
        assert_true(v == ok[i].want);
    }
    v = 1;
    for (i = 0; i < HALE_ARRAY_SIZE(bad); i++)
        assert_int_equal(hale_parse_bytes(bad[i], &v), -EINVAL);
    assert_int_equal(v, 1);
    assert_int_equal(hale_parse_bytes("17179869184GiB", &v), -ERANGE);
    assert_int_equal(hale_parse_bytes("18446744073709551616", &v), -ERANGE);
}

static void parse_hostports(void **state)
{
    char host[64] = "untouched";
    uint16_t port = 1;

    (void)state;
    assert_int_equal(hale_parse_hostport("127.0.0.1:9464", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9464);
    assert_int_equal(hale_parse_hostport("localhost:80", host, sizeof(host), &port), 0);
    assert_string_equal(host, "localhost");
    assert_int_equal(port, 80);
    assert_int_equal(hale_parse_hostport("[::1]:9464", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(hale_parse_hostport("0.0.0.0:0", host, sizeof(host), &port), 0);
    assert_int_equal(port, 0);
    assert_int_equal(hale_parse_hostport("h:65535", host, sizeof(host), &port), 0);
    assert_int_equal(port, 65535);
    snprintf(host, sizeof(host), "untouched");
    port = 1;
    assert_int_equal(hale_parse_hostport(":9464", host, sizeof(host), &port), -EINVAL);
    assert_int_equal(hale_parse_hostport("h:65536", host, sizeof(host), &port), -ERANGE);
    assert_int_equal(hale_parse_hostport("h:", host, sizeof(host), &port), -EINVAL);
    assert_int_equal(hale_parse_hostport("h", host, sizeof(host), &port), -EINVAL);
    assert_int_equal(hale_parse_hostport("h:-1", host, sizeof(host), &port), -EINVAL);
    assert_int_equal(hale_parse_hostport("h:80x", host, sizeof(host), &port), -EINVAL);
    assert_int_equal(hale_parse_hostport("::1:80", host, sizeof(host), &port), -EINVAL);
    assert_int_equal(hale_parse_hostport("[::1]80", host, sizeof(host), &port), -EINVAL);
    assert_int_equal(hale_parse_hostport("[]:80", host, sizeof(host), &port), -EINVAL);
    assert_int_equal(hale_parse_hostport("[::1:80", host, sizeof(host), &port), -EINVAL);
    assert_int_equal(hale_parse_hostport("a b:80", host, sizeof(host), &port), -EINVAL);
    assert_int_equal(hale_parse_hostport("abcdefgh:80", host, 8, &port), -ERANGE);
    assert_string_equal(host, "untouched");
    assert_int_equal(port, 1);
    assert_int_equal(hale_parse_hostport("abcdefg:80", host, 8, &port), 0);
    assert_string_equal(host, "abcdefg");
}

/* ---- timeutil ---- */

static void rfc3339_valid(void **state)
{
    static const struct {
        const char *in;
        int64_t want;
    } ok[] = {
        {"2026-11-22T13:08:22.079Z", INT64_C(1795352902079)},
        {"2026-11-22T13:08:22Z", INT64_C(1795352902000)},
        {"2026-11-22t13:08:22z", INT64_C(1795352902000)},
        {"2026-11-22T13:08:22.0Z", INT64_C(1795352902000)},
        {"2026-11-22T13:08:22.5Z", INT64_C(1795352902500)},
        {"2026-11-22T13:08:22.07Z", INT64_C(1795352902070)},
        {"2026-11-22T13:08:22.079999999Z", INT64_C(1795352902079)},
        {"2026-11-22T14:08:22.079+01:00", INT64_C(1795352902079)},
        {"2026-11-22T07:38:22.079-05:30", INT64_C(1795352902079)},
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59.999Z", -1},
        {"0001-01-01T00:00:00Z", HALE_TIME_ZERO_MS},
        {"2024-02-29T00:00:00Z", INT64_C(1709164800000)},
        {"2000-02-29T12:00:00Z", INT64_C(951825600000)},
        {"2016-12-31T23:59:60Z", INT64_C(1483228800000)},
        {"9999-12-31T23:59:59.999Z", INT64_C(253402300799999)},
    };
    int64_t ms;
    size_t i;

    (void)state;
    for (i = 0; i < HALE_ARRAY_SIZE(ok); i++) {
        ms = 12345;
        if (hale_rfc3339_parse(ok[i].in, &ms) != 0 || ms != ok[i].want)
            fail_msg("'%s': got %lld", ok[i].in, (long long)ms);
    }
}

static void rfc3339_invalid(void **state)
{
    static const char *const bad[] = {
        "",
        "2026-11-22",
        "2026-11-22T13:08:22",             /* no offset */
        "2026-11-22 13:08:22Z",            /* space instead of T */
        "2026-11-22T13:08:22.Z",           /* empty fraction */
        "2026-11-22T13:08:22.0123456789Z", /* 10 fraction digits */
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T23:60:00Z",
        "2026-01-01T23:59:61Z",
        "2026-01-01T23:59:59+24:00",
        "2026-01-01T23:59:59+01:60",
        "2026-01-01T23:59:59+0100",
        "2026-01-01T23:59:59+01:00x",
        "2026-01-01T23:59:59Zx",
        "26-01-01T00:00:00Z",
        "2026-1-01T00:00:00Z",
        "+2026-01-01T00:00:00Z",
        "2026-01-01T00:00:0aZ",
    };
    int64_t ms = 77;
    size_t i;

    (void)state;
    for (i = 0; i < HALE_ARRAY_SIZE(bad); i++)
        if (hale_rfc3339_parse(bad[i], &ms) != -EINVAL)
            fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(ms, 77);
    assert_int_equal(hale_rfc3339_parse(NULL, &ms), -EINVAL);
}

static void rfc3339_format_roundtrip(void **state)
{
    static const int64_t samples[] = {0,
                                      -1,
                                      1,
                                      INT64_C(1795352902079),
                                      HALE_TIME_ZERO_MS,
                                      INT64_C(951825600000),
                                      INT64_C(253402300799999),
                                      INT64_C(-86400000),
                                      INT64_C(4102444800000)};
    char out[32];
    int64_t back, t;
    size_t i;

    (void)state;
    assert_string_equal(hale_rfc3339_format(INT64_C(1795352902079), out, sizeof(out)),
                        "2026-11-22T13:08:22.079Z");
    assert_string_equal(hale_rfc3339_format(HALE_TIME_ZERO_MS, out, sizeof(out)),
                        "0001-01-01T00:00:00.000Z");
    assert_string_equal(hale_rfc3339_format(-1, out, sizeof(out)), "1969-12-31T23:59:59.999Z");
    /* Outside the digit-writing fast path: years past 9999 or before 0, a short buffer. */
    assert_string_equal(hale_rfc3339_format(INT64_C(253402300800000), out, sizeof(out)),
                        "10000-01-01T00:00:00.000Z");
    assert_string_equal(hale_rfc3339_format(INT64_C(-62198755200000), out, sizeof(out)),
                        "-001-01-01T00:00:00.000Z");
    assert_string_equal(hale_rfc3339_format(INT64_C(1795352902079), out, 25),
                        "2026-11-22T13:08:22.079Z");
    assert_string_equal(hale_rfc3339_format(INT64_C(1795352902079), out, 24),
                        "2026-11-22T13:08:22.079");
    for (i = 0; i < HALE_ARRAY_SIZE(samples); i++) {
        hale_rfc3339_format(samples[i], out, sizeof(out));
        assert_int_equal(hale_rfc3339_parse(out, &back), 0);
        assert_true(back == samples[i]);
    }
    /* every day boundary across several leap cycles */
    for (t = INT64_C(-4102444800000); t < INT64_C(4102444800000); t += INT64_C(86399999) * 7) {
        hale_rfc3339_format(t, out, sizeof(out));
        assert_int_equal(hale_rfc3339_parse(out, &back), 0);
        assert_true(back == t);
    }
    t = hale_time_now_ms();
    assert_true(t > INT64_C(1700000000000));
}

/* ---- utf8 ---- */

static void utf8_validation(void **state)
{
    static const struct {
        const char *s;
        size_t len;
        size_t valid_len;
    } cases[] = {
        {"", 0, 0},
        {"plain ascii", 11, 11},
        {"\xc3\xa9", 2, 2},         /* é */
        {"\xe2\x82\xac", 3, 3},     /* € */
        {"\xf0\x9f\x98\x80", 4, 4}, /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, 4}, /* U+10FFFF */
        {"\xed\x9f\xbf", 3, 3},     /* U+D7FF */
        {"\xee\x80\x80", 3, 3},     /* U+E000 */
        {"a\xc0\x80", 3, 1},        /* overlong NUL */
        {"\xc1\xbf", 2, 0},         /* overlong */
        {"\xe0\x80\xaf", 3, 0},     /* overlong '/' */
        {"\xe0\x9f\xbf", 3, 0},     /* overlong below U+0800 */
        {"\xf0\x8f\xbf\xbf", 4, 0}, /* overlong below U+10000 */
        {"ab\xed\xa0\x80", 5, 2},   /* surrogate U+D800 */
        {"\xed\xbf\xbf", 3, 0},     /* surrogate U+DFFF */
        {"\xf4\x90\x80\x80", 4, 0}, /* U+110000 */
        {"\xf5\x80\x80\x80", 4, 0},
        {"\xff", 1, 0},
        {"\x80", 1, 0},                /* lone continuation */
        {"abc\xe2\x82", 5, 3},         /* truncated */
        {"\xf0\x9f\x98", 3, 0},        /* truncated 4-byte */
        {"\xe2\x28\xa1", 3, 0},        /* bad continuation */
        {"0123456789abc\xff", 14, 13}, /* the bad byte after an 8-byte ASCII block */
        {"01234567\xc3\xa9"
         "89abcdefgh",
         18, 18},
        {"a\0b", 3, 3}, /* NUL is valid UTF-8 */
    };
    size_t i;

    (void)state;
    for (i = 0; i < HALE_ARRAY_SIZE(cases); i++) {
        if (hale_utf8_valid_len(cases[i].s, cases[i].len) != cases[i].valid_len)
            fail_msg("case %zu: valid_len %zu", i, hale_utf8_valid_len(cases[i].s, cases[i].len));
        assert_int_equal(hale_utf8_is_valid(cases[i].s, cases[i].len),
                         cases[i].valid_len == cases[i].len);
    }
    assert_int_equal(hale_utf8_char_len("\xf0\x9f\x98\x80", 4), 4);
    assert_int_equal(hale_utf8_char_len("\xf0\x9f\x98\x80", 3), 0);
    assert_int_equal(hale_utf8_char_len("a", 1), 1);
    assert_int_equal(hale_utf8_char_len("a", 0), 0);
}

static void utf8_long_input(void **state)
{
    size_t n = 100003, i;
    char *s = malloc(n);

    (void)state;
    assert_non_null(s);
    for (i = 0; i < n; i++)
        s[i] = (char)('a' + i % 26);
    assert_true(hale_utf8_is_valid(s, n));
    s[n - 1] = (char)0xC3; /* truncated at the very end */
    assert_int_equal(hale_utf8_valid_len(s, n), n - 1);
    s[50001] = (char)0xBF;
    assert_int_equal(hale_utf8_valid_len(s, n), 50001);
    free(s);
}

/* ---- hashmap ---- */

static int count_entries(const char *key, void *value, void *ud)
{
    (void)key;
    (void)value;
    (*(size_t *)ud)++;
    return 0;
}

static int stop_at_third(const char *key, void *value, void *ud)
{
    (void)key;
    (void)value;
    return ++(*(size_t *)ud) == 3 ? 42 : 0;
}

static void map_basics(void **state)
{
    hale_map *m = hale_map_new();
    int a = 1, b = 2;
    char key[8];

    (void)state;
    assert_non_null(m);
    assert_int_equal(hale_map_size(m), 0);
    assert_null(hale_map_get(m, "x"));
    snprintf(key, sizeof(key), "x");
    assert_int_equal(hale_map_put(m, key, &a), 0);
    key[0] = 'y'; /* the map keeps its own copy */
    assert_ptr_equal(hale_map_get(m, "x"), &a);
    assert_null(hale_map_get(m, "y"));
    assert_int_equal(hale_map_put(m, "x", &b), 0); /* replace */
    assert_int_equal(hale_map_size(m), 1);
    assert_ptr_equal(hale_map_get(m, "x"), &b);
    assert_int_equal(hale_map_put(m, "", &a), 0); /* the empty key is a key */
    assert_ptr_equal(hale_map_get(m, ""), &a);
    assert_ptr_equal(hale_map_remove(m, "x"), &b);
    assert_null(hale_map_remove(m, "x"));
    assert_int_equal(hale_map_size(m), 1);
    hale_map_free(m);
    hale_map_free(NULL);
}

static void map_ten_thousand_keys(void **state)
{
    enum { N = 10000 };
    static int values[N];
    hale_map *m = hale_map_new();
    char key[32];
    size_t i, seen = 0;

    (void)state;
    assert_non_null(m);
    for (i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "key-%zu", i);
        assert_int_equal(hale_map_put(m, key, &values[i]), 0);
    }
    assert_int_equal(hale_map_size(m), N);
    for (i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "key-%zu", i);
        assert_ptr_equal(hale_map_get(m, key), &values[i]);
    }
    for (i = 0; i < N; i += 2) { /* remove every other key: exercises the backward shift */
        snprintf(key, sizeof(key), "key-%zu", i);
        assert_ptr_equal(hale_map_remove(m, key), &values[i]);
    }
    assert_int_equal(hale_map_size(m), N / 2);
    for (i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "key-%zu", i);
        if (i % 2)
            assert_ptr_equal(hale_map_get(m, key), &values[i]);
        else
            assert_null(hale_map_get(m, key));
    }
    assert_int_equal(hale_map_foreach(m, count_entries, &seen), 0);
    assert_int_equal(seen, N / 2);
    seen = 0;
    assert_int_equal(hale_map_foreach(m, stop_at_third, &seen), 42);
    assert_int_equal(seen, 3);
    hale_map_free(m);
}

/* ---- json ---- */

struct alert_like {
    const char *status;
    int64_t count;
    bool active;
    json_t *labels;
    json_t *refs;
    json_t *meta;
    json_t *list;
    double score;
    json_t *extra;
};

static const hale_json_field alert_fields[] = {
    {"status", HALE_JSON_STRING, true, offsetof(struct alert_like, status)},
    {"count", HALE_JSON_INT, false, offsetof(struct alert_like, count)},
    {"active", HALE_JSON_BOOL, false, offsetof(struct alert_like, active)},
    {"labels", HALE_JSON_STRING_MAP, false, offsetof(struct alert_like, labels)},
    {"refs", HALE_JSON_STRING_ARRAY, false, offsetof(struct alert_like, refs)},
    {"meta", HALE_JSON_OBJECT, false, offsetof(struct alert_like, meta)},
    {"list", HALE_JSON_ARRAY, false, offsetof(struct alert_like, list)},
    {"score", HALE_JSON_NUMBER, false, offsetof(struct alert_like, score)},
    {"extra", HALE_JSON_ANY, false, offsetof(struct alert_like, extra)},
};

/* Parse text and run the field table on it; returns the hale_json_fields result. */
static int fields_of(const char *text, unsigned flags, const char *path, struct alert_like *out,
                     hale_diag *d)
{
    json_t *v = NULL;
    int r;

    assert_int_equal(hale_json_parse(text, strlen(text), &v, d), 0);
    r = hale_json_fields(v, alert_fields, HALE_ARRAY_SIZE(alert_fields), flags, out, path, d);
    json_decref(v);
    return r;
}

static void json_fields_fill(void **state)
{
    static const char text[] =
        "{\"status\":\"firing\",\"count\":-3,\"active\":true,\"labels\":{\"a\":\"1\"},"
        "\"refs\":[\"x\",\"y\"],\"meta\":{\"n\":1},\"list\":[1,\"two\"],\"score\":2.5}";
    struct alert_like a = {0};
    json_t *v = NULL;
    hale_diag d;

    (void)state;
    assert_int_equal(hale_json_parse(text, strlen(text), &v, &d), 0);
    assert_int_equal(
        hale_json_fields(v, alert_fields, HALE_ARRAY_SIZE(alert_fields), 0, &a, NULL, &d), 0);
    assert_string_equal(a.status, "firing");
    assert_true(a.count == -3);
    assert_true(a.active);
    assert_string_equal(json_string_value(json_object_get(a.labels, "a")), "1");
    assert_int_equal(json_array_size(a.refs), 2);
    assert_true(json_is_object(a.meta));
    assert_int_equal(json_array_size(a.list), 2);
    assert_true(a.score == 2.5);
    json_decref(v);

    memset(&a, 0, sizeof(a));
    a.count = 99;
    assert_int_equal(fields_of("{\"status\":\"ok\",\"score\":7}", 0, "", &a, &d), 0);
    assert_true(a.score == 7.0); /* NUMBER accepts an integer */
    assert_true(a.count == 99);  /* absent optional: untouched */
    assert_null(a.labels);
    assert_null(a.extra);

    /* ANY takes a value of any type and leaves the checking to the caller. */
    assert_int_equal(hale_json_parse("{\"status\":\"ok\",\"extra\":[1]}", 27, &v, &d), 0);
    assert_int_equal(
        hale_json_fields(v, alert_fields, HALE_ARRAY_SIZE(alert_fields), 0, &a, NULL, &d), 0);
    assert_true(json_is_array(a.extra));
    json_decref(v);
}

static void json_fields_errors(void **state)
{
    static const struct {
        const char *text;
        const char *path;
        const char *msg;
    } cases[] = {
        {"{\"status\":\"x\",\"labels\":[]}", "alerts[2]",
         "alerts[2].labels: expected object of strings, got array"},
        {"{\"status\":\"x\",\"labels\":{\"a\":\"1\",\"b\":2}}", "alerts[2]",
         "alerts[2].labels.b: expected string, got integer"},
        {"{\"status\":\"x\",\"refs\":[\"a\",null]}", "", "refs[1]: expected string, got null"},
        {"{\"status\":\"x\",\"refs\":{}}", NULL, "refs: expected array of strings, got object"},
        {"{\"status\":\"x\",\"count\":1.5}", "e", "e.count: expected integer, got real"},
        {"{\"status\":\"x\",\"score\":\"1\"}", "e", "e.score: expected number, got string"},
        {"{\"status\":\"x\",\"active\":1}", "e", "e.active: expected boolean, got integer"},
        {"{\"status\":null}", "e", "e.status: expected string, got null"},
        {"{\"status\":\"x\",\"meta\":[]}", "e", "e.meta: expected object, got array"},
        {"{\"status\":\"x\",\"list\":{}}", "e", "e.list: expected array, got object"},
        {"{}", "alerts[0]", "alerts[0].status: missing, expected string"},
        {"{\"status\":\"x\",\"foo\":1}", "alerts[0]", "alerts[0]: unknown field 'foo'"},
        {"{\"status\":\"x\",\"foo\":1}", NULL, "unknown field 'foo'"},
    };
    struct alert_like a = {0};
    hale_diag d;
    size_t i;

    (void)state;
    for (i = 0; i < HALE_ARRAY_SIZE(cases); i++) {
        d.msg[0] = '\0';
        assert_int_equal(fields_of(cases[i].text, HALE_JSON_STRICT, cases[i].path, &a, &d),
                         HALE_ESCHEMA);
        assert_string_equal(d.msg, cases[i].msg);
    }
    assert_int_equal(fields_of("{\"status\":\"x\",\"foo\":1}", HALE_JSON_ALLOW_UNKNOWN, "", &a, &d),
                     0);
    assert_int_equal(hale_json_fields(json_null(), alert_fields, 1, 0, &a, "body", &d),
                     HALE_ESCHEMA);
    assert_string_equal(d.msg, "body: expected object, got null");
}

static void json_type_names(void **state)
{
    json_t *v = json_pack("{s:o,s:[],s:s,s:i,s:f,s:b,s:n}", "o", json_object(), "a", "s", "x", "i",
                          1, "f", 1.5, "b", 1, "n");

    (void)state;
    assert_non_null(v);
    assert_string_equal(hale_json_type_name(json_object_get(v, "o")), "object");
    assert_string_equal(hale_json_type_name(json_object_get(v, "a")), "array");
    assert_string_equal(hale_json_type_name(json_object_get(v, "s")), "string");
    assert_string_equal(hale_json_type_name(json_object_get(v, "i")), "integer");
    assert_string_equal(hale_json_type_name(json_object_get(v, "f")), "real");
    assert_string_equal(hale_json_type_name(json_object_get(v, "b")), "boolean");
    assert_string_equal(hale_json_type_name(json_object_get(v, "n")), "null");
    assert_string_equal(hale_json_type_name(NULL), "nothing");
    json_decref(v);
}

static int parse_str(const char *text, size_t len, hale_diag *d)
{
    json_t *v = NULL;
    int r = hale_json_parse(text, len, &v, d);

    assert_true(r == 0 ? v != NULL : v == NULL);
    json_decref(v);
    return r;
}

/* n nested arrays around 1: "[[[1]]]" for n == 3. */
static char *nested(unsigned n)
{
    char *s = malloc(2 * n + 2);
    unsigned i;

    assert_non_null(s);
    for (i = 0; i < n; i++) {
        s[i] = '[';
        s[n + 1 + i] = ']';
    }
    s[n] = '1';
    s[2 * n + 1] = '\0';
    return s;
}

static void json_parse_rules(void **state)
{
    hale_diag d;
    char *s;

    (void)state;
    assert_int_equal(parse_str("{\"a\":[1,2]}\n", 12, &d), 0); /* Alertmanager's newline */
    assert_int_equal(parse_str("{\"a\":1,\"a\":2}", 13, &d), HALE_EPARSE);
    assert_non_null(strstr(d.msg, "duplicate"));
    assert_true(strncmp(d.msg, "line 1 column ", 14) == 0);
    assert_int_equal(parse_str("{\"a\":\"\xc3\x28\"}", 10, &d), HALE_EUTF8);
    assert_string_equal(d.msg, "invalid UTF-8 at byte 6");
    assert_int_equal(parse_str("{\"a\":1}\0", 8, &d), HALE_EPARSE);
    assert_string_equal(d.msg, "NUL byte at byte 7");
    assert_int_equal(parse_str("{\"a\":\"\\u0000\"}", 14, &d), HALE_EPARSE);
    assert_int_equal(parse_str("{\n  \"a\": tru\n}", 14, &d), HALE_EPARSE);
    assert_true(strncmp(d.msg, "line 2 column ", 14) == 0);
    assert_int_equal(parse_str("{} {}", 5, &d), HALE_EPARSE);
    assert_int_equal(parse_str("\"scalar\"", 8, &d), HALE_EPARSE);
    assert_int_equal(parse_str("", 0, &d), HALE_EPARSE);
    s = nested(HALE_MAX_JSON_DEPTH);
    assert_int_equal(parse_str(s, strlen(s), &d), 0);
    free(s);
    s = nested(HALE_MAX_JSON_DEPTH + 1);
    assert_int_equal(parse_str(s, strlen(s), &d), HALE_EPARSE);
    assert_string_equal(d.msg, "line 1 column 33: nesting deeper than 32 levels");
    free(s);
    s = nested(5000); /* beyond jansson's own limit: still a clean error */
    assert_int_equal(parse_str(s, strlen(s), &d), HALE_EPARSE);
    free(s);
}

/* The reader gives exactly the values jansson's decoder gives, and refuses what it refuses. */
static void json_reader_matches_jansson(void **state)
{
    static const char *const valid[] = {
        "{}",
        "[]",
        " \t\r\n[ 1 , -0 , 0.5 , -2.5e-3 , 1E2 , 1e+2 ]\n",
        "[9223372036854775807, -9223372036854775808]",
        "[1.7976931348623157e308, 4.9e-324, 1e-400]",
        "{\"a\":{\"b\":[true,false,null,{}]},\"c\":\"\"}",
        "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20ac\", \"\\ud83d\\ude00\", \"x\\u0041y\"]",
        "{\"\\u0061\":1,\"b\\n\":{\"\\u00e9\":[\"\xc3\xa9\"]}}",
        "[123456789012345678901.5]",
        "{\"k\":\"a long string without escapes, borrowed straight from the input\"}"};
    static const char *const invalid[] = {"[01]",
                                          "[1.]",
                                          "[.5]",
                                          "[-]",
                                          "[1e]",
                                          "[+1]",
                                          "[tru]",
                                          "[truex]",
                                          "[nul]",
                                          "[1,]",
                                          "{\"a\"}",
                                          "{\"a\":}",
                                          "{,}",
                                          "{\"a\":1,}",
                                          "{'a':1}",
                                          "[\"\\x\"]",
                                          "[\"\\u12\"]",
                                          "[\"\\ud800\"]",
                                          "[\"\\udc00\"]",
                                          "[\"\\ud800\\u0041\"]",
                                          "[\"a\nb\"]",
                                          "[\"abc",
                                          "[9223372036854775808]",
                                          "[-9223372036854775809]",
                                          "[1e400]",
                                          "[] x",
                                          "{\"a\":1}}",
                                          "[",
                                          "{\"a\":1,\"a\":1}",
                                          "{\"\\u0061\":1,\"a\":2}",
                                          "[\"\\u0000\"]"};
    hale_diag d;

    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        json_t *ours = NULL, *theirs = json_loads(valid[i], JSON_REJECT_DUPLICATES, NULL);

        if (hale_json_parse(valid[i], strlen(valid[i]), &ours, &d) != 0)
            fail_msg("valid[%zu] %s refused: %s", i, valid[i], d.msg);
        assert_non_null(theirs);
        if (!json_equal(ours, theirs))
            fail_msg("valid[%zu] %s: values differ from jansson's", i, valid[i]);
        json_decref(ours);
        json_decref(theirs);
    }
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        json_t *ours = NULL, *theirs = json_loads(invalid[i], JSON_REJECT_DUPLICATES, NULL);

        if (hale_json_parse(invalid[i], strlen(invalid[i]), &ours, &d) != HALE_EPARSE)
            fail_msg("invalid[%zu] %s accepted", i, invalid[i]);
        assert_null(ours);
        assert_true(strncmp(d.msg, "line 1 column ", 14) == 0);
        if (theirs)
            fail_msg("invalid[%zu] %s: jansson accepts it", i, invalid[i]);
    }
    /* Where the fault is, and what it says. */
    assert_int_equal(parse_str("{\"a\": [1, 2,, 3]}", 17, &d), HALE_EPARSE);
    assert_string_equal(d.msg, "line 1 column 13: invalid token near ','");
    assert_int_equal(parse_str("{\"a\": 1 \"b\": 2}", 15, &d), HALE_EPARSE);
    assert_string_equal(d.msg, "line 1 column 9: ',' or '}' expected near '\"b\"'");
    assert_int_equal(parse_str("[1e400]", 7, &d), HALE_EPARSE);
    assert_string_equal(d.msg, "line 1 column 2: real number overflow");
}

static void json_parse_positions(void **state)
{
    json_t *v = NULL;
    hale_diag d;
    int line = -1, column = -1;

    (void)state;
    assert_int_equal(hale_json_parse_pos("{\n\"a\": \"\xe0\x80\x80\"}", 13, &v, &line, &column, &d),
                     HALE_EUTF8);
    assert_int_equal(line, 2);
    assert_int_equal(column, 7);
    assert_string_equal(d.msg, "invalid UTF-8 at byte 8");
    assert_int_equal(hale_json_parse_pos("[1,\n2,,3]", 9, &v, &line, &column, &d), HALE_EPARSE);
    assert_int_equal(line, 2);
    assert_int_equal(column, 3);
    assert_null(strstr(d.msg, "line")); /* the reason only */
    assert_int_equal(hale_json_parse_pos("[1,\0]", 5, &v, &line, &column, &d), HALE_EPARSE);
    assert_int_equal(column, 4);
    assert_string_equal(d.msg, "NUL byte at byte 3");
    assert_int_equal(
        hale_json_parse_pos("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
                            66, &v, &line, &column, &d),
        HALE_EPARSE);
    assert_int_equal(line, 1);
    assert_int_equal(column, 33); /* the container one level too deep */
    assert_null(v);
    assert_int_equal(hale_json_parse_pos("{\"ok\":true}", 11, &v, &line, &column, &d), 0);
    assert_true(json_is_true(json_object_get(v, "ok")));
    json_decref(v);
}

static void json_canonical_dump(void **state)
{
    json_t *v = json_pack("{s:i,s:[s,n],s:{s:b}}", "z", 1, "a", "x", "m", "k", 0);
    json_t *scalar = json_string("s\"");
    char *s;

    (void)state;
    s = hale_json_dump_canonical(v);
    assert_string_equal(s, "{\"a\":[\"x\",null],\"m\":{\"k\":false},\"z\":1}");
    free(s);
    s = hale_json_dump_canonical(scalar);
    assert_string_equal(s, "\"s\\\"\"");
    free(s);
    json_decref(v);
    json_decref(scalar);
}

/* ---- assert handlers ---- */

static void never_returns_cond(void **state)
{
    char path[] = "/tmp/hale-never-XXXXXX";
    int fd = mkstemp(path);
    char *text;

    (void)state;
    assert_true(fd >= 0);
    hale_log_set_fd(fd);
    assert_false(HALE_NEVER(1 + 1 == 3));
    assert_true(HALE_NEVER(1 + 1 == 2));
    hale_log_set_fd(2);
    text = fixture_read(path, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"level\":\"warn\""));
    assert_non_null(strstr(text, "impossible condition '1 + 1 == 2'"));
    assert_null(strstr(text, "1 + 1 == 3"));
    free(text);
    close(fd);
    unlink(path);
}

static void assert_fail_aborts_with_message(void **state)
{
    int fds[2], status;
    char out[512] = "";
    ssize_t n;
    pid_t pid;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        HALE_ASSERT(2 + 2 == 5);
        _exit(0);
    }
    close(fds[1]);
    n = read(fds[0], out, sizeof(out) - 1);
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    assert_true(n > 0);
    out[n] = '\0';
    assert_non_null(strstr(out, "assertion failed: 2 + 2 == 5 at "));
    assert_non_null(strstr(out, "test_util.c:"));
    assert_non_null(strstr(out, "(assert_fail_aborts_with_message)"));
}

static void lockfile_is_exclusive_between_processes(void **state)
{
    char *dir = fixture_tmpdir("hale-lock");
    char path[512], c;
    int fd = -1, ready[2], release[2], status;
    pid_t child, holder = 0;

    (void)state;
    snprintf(path, sizeof(path), "%s/hale.lock", dir);
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(release), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        int cfd;

        if (hale_lockfile_acquire(path, &cfd, NULL) < 0)
            _exit(1);
        if (write(ready[1], "x", 1) != 1 || read(release[0], &c, 1) != 1)
            _exit(2); /* hold the lock until the parent has tried */
        _exit(0);
    }
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(hale_lockfile_acquire(path, &fd, &holder), -EBUSY);
    assert_int_equal(holder, child);
    assert_int_equal(write(release[1], "y", 1), 1);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The holder died: the lock is free again without any clean-up. */
    assert_int_equal(hale_lockfile_acquire(path, &fd, NULL), 0);
    close(fd);
    for (int i = 0; i < 2; i++) {
        close(ready[i]);
        close(release[i]);
    }
    fixture_rmtree(dir);
    free(dir);
}

static void prom_text_format(void **state)
{
    static const double bounds[] = {0.1, 1};
    hale_histogram h;
    hale_buf b;

    (void)state;
    hale_buf_init(&b, 1u << 16);
    assert_int_equal(hale_prom_family(&b, "x_total", "counter", "a \\ b\nc"), 0);
    assert_int_equal(
        hale_prom_sample(&b, "x_total", (const char *const[]){"path", "C:\\t\"q\"\n", NULL}, 3), 0);
    assert_int_equal(hale_prom_sample(&b, "y", NULL, 0.25), 0);
    hale_histogram_init(&h, bounds, 2);
    hale_histogram_observe(&h, 0.05);
    hale_histogram_observe(&h, 0.5);
    hale_histogram_observe(&h, 7);
    assert_int_equal(hale_prom_histogram(&b, "d_seconds", "help", &h), 0);
    assert_string_equal(b.data, "# HELP x_total a \\\\ b\\nc\n"
                                "# TYPE x_total counter\n"
                                "x_total{path=\"C:\\\\t\\\"q\\\"\\n\"} 3\n"
                                "y 0.25\n"
                                "# HELP d_seconds help\n"
                                "# TYPE d_seconds histogram\n"
                                "d_seconds_bucket{le=\"0.1\"} 1\n"
                                "d_seconds_bucket{le=\"1\"} 2\n"
                                "d_seconds_bucket{le=\"+Inf\"} 3\n"
                                "d_seconds_sum 7.5499999999999998\n"
                                "d_seconds_count 3\n");
    hale_buf_release(&b);
}

static void hex_digits(void **state)
{
    (void)state;
    assert_int_equal(hale_hex_digit('0'), 0);
    assert_int_equal(hale_hex_digit('9'), 9);
    assert_int_equal(hale_hex_digit('a'), 10);
    assert_int_equal(hale_hex_digit('F'), 15);
    assert_int_equal(hale_hex_digit('g'), -1);
    assert_int_equal(hale_hex_digit('/'), -1);
    assert_int_equal(hale_hex_digit('\0'), -1);
}

static void check_sha256(const char *msg, size_t len, const char *want_hex)
{
    hale_sha256_part part = {msg, len};
    uint8_t out[32];
    char hex[65];

    for (int accel = 0; accel < 2; accel++) {
        hale_sha256_allow_acceleration(accel);
        hale_sha256(&part, 1, out);
        hale_hex_encode(out, sizeof(out), hex);
        assert_string_equal(hex, want_hex);
    }
}

/* FIPS 180-2 examples, then random messages split into random parts against libsodium, with
 * and without the CPU's SHA instructions. */
static void sha256_digests(void **state)
{
    static uint8_t buf[1000000];
    uint64_t x = 88172645463325252u;

    (void)state;
#if defined(__x86_64__)
    {
        /* The SHA instructions are used exactly when the kernel reports them. */
        FILE *f = fopen("/proc/cpuinfo", "r");
        char line[4096];
        bool sha_ni = false;

        while (f && !sha_ni && fgets(line, sizeof(line), f))
            sha_ni = strncmp(line, "flags", 5) == 0 && strstr(line, " sha_ni");
        if (f)
            fclose(f);
        hale_sha256_allow_acceleration(true);
        assert_int_equal(hale_sha256_accelerated(), sha_ni);
    }
#endif
    check_sha256("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_sha256("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    memset(buf, 'a', sizeof(buf));
    check_sha256((const char *)buf, sizeof(buf),
                 "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    for (size_t i = 0; i < 4096; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    for (size_t len = 0; len < 700; len++) {
        uint8_t want[32], got[32];
        hale_sha256_part parts[3] = {{buf, len / 3},
                                     {buf + len / 3, len / 5},
                                     {buf + len / 3 + len / 5, len - len / 3 - len / 5}};

        crypto_hash_sha256(want, buf, len);
        for (int accel = 0; accel < 2; accel++) {
            hale_sha256_allow_acceleration(accel);
            hale_sha256(parts, 3, got);
            assert_memory_equal(got, want, 32);
        }
    }
    hale_sha256_allow_acceleration(true);
}

static void file_read_with_cap(void **state)
{
    char *dir = fixture_tmpdir("hale-fileio"), path[600], *text = NULL;
    size_t len = 0;
    hale_diag d;

    (void)state;
    snprintf(path, sizeof(path), "%s/f", dir);
    assert_int_equal(fixture_write(path, "hello"), 0);
    assert_int_equal(hale_file_read(path, 5, &text, &len, &d), 0);
    assert_string_equal(text, "hello");
    assert_int_equal(len, 5);
    free(text);
    assert_int_equal(hale_file_read(path, 4, &text, &len, &d), HALE_ELIMIT);
    assert_non_null(strstr(d.msg, "larger than 4 bytes"));
    assert_int_equal(hale_file_read(dir, 100, &text, &len, &d), -EISDIR);
    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_int_equal(hale_file_read(path, 100, &text, &len, &d), -ENOENT);
    assert_non_null(strstr(d.msg, "missing"));
    /* Files whose size stat does not know are read to their end. */
    assert_int_equal(hale_file_read("/proc/self/status", 1 << 20, &text, &len, &d), 0);
    assert_non_null(strstr(text, "Pid:"));
    free(text);
    fixture_rmtree(dir);
    free(dir);
}

static void hex_encoding(void **state)
{
    static const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[9];

    (void)state;
    memset(out, 'x', sizeof(out));
    hale_hex_encode(bytes, sizeof(bytes), out);
    assert_string_equal(out, "000fa5ff");
    hale_hex_encode(bytes, 0, out);
    assert_string_equal(out, "");
}

static void grow_doubles_and_refuses_overflow(void **state)
{
    size_t cap = 0;
    int *arr = NULL;
    void *p;

    (void)state;
    for (size_t n = 0; n < 100; n++) {
        p = arr;
        assert_int_equal(hale_grow(&p, &cap, n, sizeof(*arr)), 0);
        arr = p;
        arr[n] = (int)n;
    }
    assert_true(cap >= 100);
    assert_null(hale_reallocarray(NULL, SIZE_MAX / 2, 4));
    free(arr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(err_names_and_texts),
        cmocka_unit_test(diag_set_and_prefix),
        cmocka_unit_test(buf_append_and_cap),
        cmocka_unit_test(buf_consume_detach),
        cmocka_unit_test(buf_json_escapes),
        cmocka_unit_test(buf_json_str_max_truncates),
        cmocka_unit_test(parse_integers),
        cmocka_unit_test(parse_durations),
        cmocka_unit_test(parse_sizes),
        cmocka_unit_test(parse_hostports),
        cmocka_unit_test(rfc3339_valid),
        cmocka_unit_test(rfc3339_invalid),
        cmocka_unit_test(rfc3339_format_roundtrip),
        cmocka_unit_test(utf8_validation),
        cmocka_unit_test(utf8_long_input),
        cmocka_unit_test(map_basics),
        cmocka_unit_test(map_ten_thousand_keys),
        cmocka_unit_test(json_fields_fill),
        cmocka_unit_test(json_fields_errors),
        cmocka_unit_test(json_type_names),
        cmocka_unit_test(json_parse_rules),
        cmocka_unit_test(json_reader_matches_jansson),
        cmocka_unit_test(json_parse_positions),
        cmocka_unit_test(json_canonical_dump),
        cmocka_unit_test(never_returns_cond),
        cmocka_unit_test(assert_fail_aborts_with_message),
        cmocka_unit_test(lockfile_is_exclusive_between_processes),
        cmocka_unit_test(prom_text_format),
        cmocka_unit_test(grow_doubles_and_refuses_overflow),
        cmocka_unit_test(hex_digits),
        cmocka_unit_test(hex_encoding),
        cmocka_unit_test(file_read_with_cap),
        cmocka_unit_test(sha256_digests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
