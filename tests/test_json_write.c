/* tests/test_json_write.c - hale_json_dump_compact (agent/util/json_write.c) against its
 * reference, json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY): the alerts table's text must stay
 * byte for byte what jansson wrote before. */
#include "fixture.h"

#include <errno.h>
#include <stdint.h>

#include "internal.h"
#include "util/buf.h"
#include "util/json.h"

/* Assert that ours equals jansson's for v, appended after a prefix already in the buffer. */
static void assert_same_as_jansson(const json_t *v)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    hale_buf b;

    assert_non_null(want);
    hale_buf_init(&b, 1u << 20);
    assert_int_equal(hale_buf_puts(&b, "x"), 0);
    assert_int_equal(hale_json_dump_compact(v, &b), 0);
    assert_string_equal(b.data + 1, want);
    assert_int_equal(b.len, 1 + strlen(want));
    hale_buf_release(&b);
    free(want);
}

static void alertmanager_labels(void **state)
{
    json_t *v = json_loads("{\"alertname\":\"HighLatency\",\"service\":\"checkout\",\"severity\":"
                           "\"critical\",\"instance\":\"10.0.0.7:9090\",\"url\":\"http://x/y?a=1&b"
                           "=2\",\"empty\":\"\"}",
                           0, NULL);

    (void)state;
    assert_non_null(v);
    assert_same_as_jansson(v);
    json_decref(v);
}

static void escapes_like_jansson(void **state)
{
    /* Every control character, the two that need a backslash, DEL (jansson leaves it), a
     * slash (not escaped without JSON_ESCAPE_SLASH), and multi-byte UTF-8 kept as is. */
    char all[64];
    size_t n = 0;
    json_t *o = json_object();

    (void)state;
    for (int c = 1; c < 0x20; c++)
        all[n++] = (char)c;
    {
        static const char rest[] = "\"\\\x7f/\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";

        memcpy(all + n, rest, sizeof(rest) - 1);
        n += sizeof(rest) - 1;
    }
    assert_int_equal(json_object_set_new(o, "k\"\n\x01\xc3\xa9", json_stringn(all, n)), 0);
    assert_int_equal(json_object_set_new(o, "plain", json_string("no escapes at all")), 0);
    assert_int_equal(json_object_set_new(o, "", json_string("")), 0);
    assert_same_as_jansson(o);
    json_decref(o);
}

static void every_type_and_nesting(void **state)
{
    json_t *v = json_loads("[{},[],{\"a\":[1,-2,0,true,false,null,\"s\"],\"b\":{\"c\":{}}},"
                           "9223372036854775807,-9223372036854775808]",
                           0, NULL);

    (void)state;
    assert_non_null(v);
    assert_same_as_jansson(v);
    json_decref(v);
    v = json_string("scalar \"too\"");
    assert_same_as_jansson(v);
    json_decref(v);
    v = json_integer(-42);
    assert_same_as_jansson(v);
    json_decref(v);
}

/* Insertion order, not key order: what jansson dumps without JSON_SORT_KEYS. */
static void keeps_insertion_order(void **state)
{
    json_t *o = json_object();

    (void)state;
    for (int i = 40; i > 0; i--) {
        char key[16];

        snprintf(key, sizeof(key), "k%02d", i);
        assert_int_equal(json_object_set_new(o, key, json_integer(i)), 0);
    }
    assert_int_equal(json_object_del(o, "k20"), 0);
    assert_int_equal(json_object_set_new(o, "k20", json_string("again")), 0);
    assert_same_as_jansson(o);
    json_decref(o);
}

/* Random objects of random strings: every byte value jansson accepts, and UTF-8 sequences. */
static void random_objects(void **state)
{
    static const char *const multi[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xdf\xbf"};
    uint32_t seed = 12345;

    (void)state;
    for (int round = 0; round < 500; round++) {
        json_t *o = json_object();
        int keys;

        seed = seed * 1103515245u + 12345u;
        keys = (int)(seed >> 16) % 12;
        for (int k = 0; k < keys; k++) {
            char key[32], val[192];
            size_t n = 0;

            snprintf(key, sizeof(key), "key%d_%d", round, k);
            seed = seed * 1103515245u + 12345u;
            for (int len = (int)(seed >> 16) % 40; len > 0; len--) {
                seed = seed * 1103515245u + 12345u;
                if ((seed >> 16) % 8 == 0) {
                    const char *m = multi[(seed >> 20) % 4];

                    memcpy(val + n, m, strlen(m));
                    n += strlen(m);
                } else {
                    val[n++] = (char)(1 + (seed >> 16) % 127);
                }
            }
            assert_int_equal(json_object_set_new(o, key, json_stringn(val, n)), 0);
        }
        assert_same_as_jansson(o);
        json_decref(o);
    }
}

/* What it does not write leaves the buffer as it was. */
static void refusals_leave_buffer_unchanged(void **state)
{
    json_t *real = json_loads("{\"a\":\"x\",\"b\":1.5}", 0, NULL);
    json_t *deep = json_array(), *inner = deep;
    json_t *big = json_object();
    char long_value[300];
    hale_buf b;

    (void)state;
    assert_non_null(real);
    assert_non_null(big);
    memset(long_value, 'v', sizeof(long_value));
    assert_int_equal(json_object_set_new(big, "k", json_stringn(long_value, sizeof(long_value))),
                     0);
    for (int i = 0; i < 70; i++) {
        json_t *next = json_array();

        assert_int_equal(json_array_append_new(inner, next), 0);
        inner = next;
    }
    hale_buf_init(&b, 256);
    assert_int_equal(hale_buf_puts(&b, "keep"), 0);
    assert_int_equal(hale_json_dump_compact(real, &b), -ENOTSUP);
    assert_string_equal(b.data, "keep");
    assert_int_equal(hale_json_dump_compact(deep, &b), -ENOTSUP);
    assert_string_equal(b.data, "keep");
    assert_int_equal(hale_json_dump_compact(big, &b), HALE_ELIMIT);
    assert_string_equal(b.data, "keep");
    assert_int_equal(b.len, 4);
    assert_int_equal(hale_json_dump_compact(NULL, &b), -EINVAL);
    assert_string_equal(b.data, "keep");
    hale_buf_release(&b);
    json_decref(real);
    json_decref(deep);
    json_decref(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alertmanager_labels),    cmocka_unit_test(escapes_like_jansson),
        cmocka_unit_test(every_type_and_nesting), cmocka_unit_test(keeps_insertion_order),
        cmocka_unit_test(random_objects),         cmocka_unit_test(refusals_leave_buffer_unchanged),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
