/* tests/test_redact.c - the redactor through its header: every entity type of the shipped rules
 * (policies/redact/rules.json), the validators that keep look-alikes out, placeholder
 * consistency, escaping and un-masking, failing closed on pcre2 limits, bad rules files, and
 * sessions used from several threads over one rule set. */
#include "fixture.h"

#include <errno.h>
#include <pthread.h>

#include "hale/err.h"
#include "hale/limits.h"
#include "hale/redact.h"

#define RULES HALE_SOURCE_DIR "/policies/redact/rules.json"

static int setup(void **state)
{
    hale_redact *r = NULL;
    hale_diag d = {{0}};

    if (hale_redact_load(RULES, &r, &d) < 0) {
        fprintf(stderr, "%s\n", d.msg);
        return -1;
    }
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    hale_redact_free(*state);
    return 0;
}

/* Redact text in a fresh session; the caller frees the result's text. */
static char *redact1(const hale_redact *r, const char *text, hale_redact_result *ret)
{
    hale_redact_session *s = NULL;
    hale_redact_result res = {0};

    assert_int_equal(hale_redact_session_new(r, &s), 0);
    assert_true(hale_redact_apply(s, text, strlen(text), &res) >= 0);
    hale_redact_session_free(s);
    if (ret) {
        *ret = res;
        return res.text;
    }
    free(res.findings);
    return res.text;
}

struct positive {
    const char *text;   /* input */
    const char *secret; /* must not survive */
    const char *type;   /* placeholder type expected */
};

static const struct positive positives[] = {
    {"login ok for jane.doe@example.org from web", "jane.doe@example.org", "EMAIL"},
    {"sms to +44 7700 900123 queued", "7700 900123", "PHONE"},
    {"support callback (415) 555-0132 requested", "555-0132", "PHONE"},
    {"contact phone: 020 7946 0958", "7946 0958", "PHONE"},
    {"client 203.0.113.45 connected", "203.0.113.45", "IPV4"},
    {"from 2001:db8:85a3::8a2e:370:7334 port 22", "2001:db8:85a3::8a2e:370:7334", "IPV6"},
    {"DHCPACK to 3c:22:fb:12:9a:0e via eth0", "3c:22:fb:12:9a:0e", "MAC"},
    {"card 4111 1111 1111 1111 declined", "4111 1111 1111 1111", "CARD"},
    {"charge pan=378282246310005 ok", "378282246310005", "CARD"},
    {"payout to GB82 WEST 1234 5698 7654 32 queued", "GB82 WEST 1234 5698 7654 32", "IBAN"},
    {"iban=DE89370400440532013000", "DE89370400440532013000", "IBAN"},
    {"applicant ssn 123-45-6789 flagged", "123-45-6789", "SSN"},
    {"SSN: 123456789", "123456789", "SSN"},
    {"id_token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4g"
     "RG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
     "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "JWT"},
    {"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi\nZ1BjP5CE/Wm/Rr\n"
     "-----END RSA PRIVATE KEY-----",
     "MIIEowIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi", "PRIVATE_KEY"},
    {"key id AKIAZ7Q4XK2LMN3PQR5T denied", "AKIAZ7Q4XK2LMN3PQR5T", "CLOUD_KEY"},
    {"aws_secret_access_key = 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",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8xTmPL2a", "CLOUD_KEY"},
    {"maps key AIzaSyD9tSrke72PouQMnMXa7eZSW0jkFMBWYq1 over quota",
     "AIzaSyD9tSrke72PouQMnMXa7eZSW0jkFMBWYq1", "CLOUD_KEY"},
    {"GITHUB_TOKEN=ghp_R2d2C3poL0v3sSk1walkerYoda4Obi1Wan00x",
     "ghp_R2d2C3poL0v3sSk1walkerYoda4Obi1Wan00x", "TOKEN"},
    {"using "
     "github_pat_11ABCDEFG0123456789abc_"
     "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456",
     "github_pat_11ABCDEFG0123456789abc", "TOKEN"},
    {"bot xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx ready",
     "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "TOKEN"},
    {"stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc used", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "TOKEN"},
    {"clone with glpat-Xy3kP9qR2sT5vW8zA1bC", "glpat-Xy3kP9qR2sT5vW8zA1bC", "TOKEN"},
    {"DATABASE_URL=postgres://app:s3cr3tPa55@db.internal:5432/orders", "s3cr3tPa55", "PASSWORD"},
    {"password=hunter2!", "hunter2!", "PASSWORD"},
    {"{\"user\":\"bob\",\"passwd\":\"Tr0ub4dor&3\"}", "Tr0ub4dor&3", "PASSWORD"},
    {"mysql --password Zx9kQ2vB7 -h db", "Zx9kQ2vB7", "PASSWORD"},
    {"machine api.example.com login ops password c0ffee-with-m1lk", "c0ffee-with-m1lk", "PASSWORD"},
    {"Authorization: Bearer abcDEF123ghiJKL456mnoPQR", "abcDEF123ghiJKL456mnoPQR", "AUTH"},
    {"AUTHORIZATION: Basic YWxhZGRpbjpvcGVuc2VzYW1l", "YWxhZGRpbjpvcGVuc2VzYW1l", "AUTH"},
    {"client_secret=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5", "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5", "SECRET"},
    {"generated api key 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
     "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "SECRET"},
};

static void redacts_every_entity_type(void **state)
{
    for (size_t i = 0; i < sizeof(positives) / sizeof(positives[0]); i++) {
        const struct positive *p = &positives[i];
        char want[64];
        char *out = redact1(*state, p->text, NULL);

        snprintf(want, sizeof(want), "<%s_1>", p->type);
        if (strstr(out, p->secret) || !strstr(out, want))
            fail_msg("'%s' -> '%s' (want %s, no '%s')", p->text, out, want, p->secret);
        free(out);
    }
}

/* Look-alikes the validators reject and log noise: each must come out unchanged. */
static const char *const negatives[] = {
    "order 4111111111111112 shipped",                 /* Luhn fails */
    "ref 1234567890123456 stored",                    /* no card prefix */
    "payout to GB82 WEST 1234 5698 7654 33 failed",   /* IBAN mod-97 fails */
    "ssn 666-12-3456 rejected",                       /* area 666 */
    "ssn 000-12-3456 rejected",                       /* area 000 */
    "ssn 912-34-5678 rejected",                       /* area 9xx */
    "ssn 123-00-4567 rejected",                       /* group 00 */
    "ssn 123-45-0000 rejected",                       /* serial 0000 */
    "bad address 999.1.2.3 in config",                /* inet_pton fails */
    "listening on 0.0.0.0:8080",                      /* bind-all */
    "nginx/1.25.3 kernel 6.1.0-28-amd64 v2.4.1-rc.1", /* versions */
    "Chrome/131.0.0.0 Safari/537.36",                 /* a product version */
    "commit 3f786850e387550fdab836ed7e6dc881de23001b merged",
    "request 123e4567-e89b-12d3-a456-426614174000 done in 1h30m",
    "image@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "pod checkout-7d9f8b6c5d-x2x4z started at 2026-11-22T15:28:20.123Z",
    "eyJub3QiOiJqb3NlIn0.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXN0dWZm", /* no "alg" */
    "token expired for session 42, password reset email sent",
    "password: ${DB_PASSWORD}",
    "Access denied for user 'app' (using password: NO)",
    "password=<redacted>",
    "secret_name=db-credentials tokenTTL=24h",
    "push to git@github.com:acme/app.git failed",
    "at 12:30:45 std::vector<int> resized",
};

static void leaves_look_alikes_alone(void **state)
{
    for (size_t i = 0; i < sizeof(negatives) / sizeof(negatives[0]); i++) {
        char *out = redact1(*state, negatives[i], NULL);

        if (strcmp(out, negatives[i]) != 0)
            fail_msg("'%s' -> '%s'", negatives[i], out);
        free(out);
    }
}

static void findings_name_spans_not_values(void **state)
{
    hale_redact_result res;
    const char *text = "a x@y.io b 10.1.2.3";

    redact1(*state, text, &res);
    assert_int_equal(res.n_findings, 2);
    assert_string_equal(res.findings[0].type, "EMAIL");
    assert_string_equal(res.findings[0].rule_id, "email");
    assert_int_equal(res.findings[0].offset, 2);
    assert_int_equal(res.findings[0].length, 6);
    assert_string_equal(res.findings[1].type, "IPV4");
    assert_int_equal(res.findings[1].offset, 11);
    assert_int_equal(res.findings[1].length, 8);
    assert_string_equal(res.text, "a <EMAIL_1> b <IPV4_1>");
    hale_redact_result_release(&res);
    assert_null(res.text);
}

static void add_count(const char *type, size_t n, void *ud)
{
    char *out = ud;

    snprintf(out + strlen(out), 128 - strlen(out), "%s=%zu;", type, n);
}

static void same_value_same_placeholder(void **state)
{
    hale_redact_session *s = NULL, *t = NULL;
    hale_redact_result a = {0}, b = {0}, c = {0};
    const char *x = "from ann@example.com and bob@example.com to ann@example.com";
    const char *y = "bob@example.com again, then cy@example.com";

    assert_int_equal(hale_redact_session_new(*state, &s), 0);
    assert_int_equal(hale_redact_apply(s, x, strlen(x), &a), 3);
    assert_string_equal(a.text, "from <EMAIL_1> and <EMAIL_2> to <EMAIL_1>");
    assert_int_equal(hale_redact_apply(s, y, strlen(y), &b), 2);
    assert_string_equal(b.text, "<EMAIL_2> again, then <EMAIL_3>");
    assert_int_equal(hale_redact_session_size(s), 3);
    {
        char counts[128] = "";
        hale_redact_result d = {0};
        const char *z = "ssh from 10.1.2.3 by ann@example.com";

        assert_int_equal(hale_redact_apply(s, z, strlen(z), &d), 2);
        hale_redact_session_counts(s, add_count, counts);
        assert_non_null(strstr(counts, "EMAIL=3;"));
        assert_non_null(strstr(counts, "IPV4=1;"));
        hale_redact_result_release(&d);
    }
    /* Another session numbers from 1 again. */
    assert_int_equal(hale_redact_session_new(*state, &t), 0);
    assert_int_equal(hale_redact_apply(t, y, strlen(y), &c), 2);
    assert_string_equal(c.text, "<EMAIL_1> again, then <EMAIL_2>");
    hale_redact_result_release(&a);
    hale_redact_result_release(&b);
    hale_redact_result_release(&c);
    hale_redact_session_free(s);
    hale_redact_session_free(t);
}

static void escapes_placeholder_look_alikes(void **state)
{
    hale_redact_result res;

    redact1(*state, "say <EMAIL_1> or <\\EMAIL_1> but not <email_1> <EMAIL_> <EMAIL_1", &res);
    assert_string_equal(res.text,
                        "say <\\EMAIL_1> or <\\\\EMAIL_1> but not <email_1> <EMAIL_> <EMAIL_1");
    assert_int_equal(res.n_escaped, 2);
    assert_int_equal(res.n_findings, 0);
    hale_redact_result_release(&res);
}

static void unmask_round_trips(void **state)
{
    const char *text =
        "user ann@example.com <EMAIL_1> from 10.0.0.7\n"
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n"
        "-----END PRIVATE KEY-----\n"
        "again ann@example.com <\\IPV4_1> password=hunter2! <EMAIL_9>\n";
    hale_redact_session *s = NULL;
    hale_redact_result res = {0};
    char *back = NULL;
    size_t n = 0, lines_in = 0, lines_out = 0;

    assert_int_equal(hale_redact_session_new(*state, &s), 0);
    assert_true(hale_redact_apply(s, text, strlen(text), &res) >= 4);
    assert_null(strstr(res.text, "ann@example.com"));
    assert_null(strstr(res.text, "MIIEvQ"));
    for (const char *p = text; *p; p++)
        lines_in += *p == '\n';
    for (const char *p = res.text; *p; p++)
        lines_out += *p == '\n';
    assert_int_equal(lines_in, lines_out); /* same line structure */
    assert_int_equal(hale_redact_unmask(s, res.text, res.len, &back, &n), 0);
    assert_int_equal(n, strlen(text));
    assert_string_equal(back, text);
    hale_redact_unmasked_free(back);
    hale_redact_result_release(&res);
    hale_redact_session_free(s);
}

static void unmask_only_what_this_session_issued(void **state)
{
    hale_redact_session *s = NULL, *t = NULL;
    hale_redact_result res = {0};
    char *back = NULL;
    const char *x = "mail ann@example.com";
    const char *answer = "<EMAIL_1> <EMAIL_2> <EMAIL_01> <IPV4_1> <NOPE_1>";

    assert_int_equal(hale_redact_session_new(*state, &s), 0);
    assert_int_equal(hale_redact_session_new(*state, &t), 0);
    assert_int_equal(hale_redact_apply(s, x, strlen(x), &res), 1);
    assert_int_equal(hale_redact_unmask(s, answer, strlen(answer), &back, NULL), 0);
    assert_string_equal(back, "ann@example.com <EMAIL_2> <EMAIL_01> <IPV4_1> <NOPE_1>");
    hale_redact_unmasked_free(back);
    assert_int_equal(hale_redact_unmask(t, answer, strlen(answer), &back, NULL), 0);
    assert_string_equal(back, answer);
    hale_redact_unmasked_free(back);
    hale_redact_unmasked_free(NULL);
    hale_redact_result_release(&res);
    hale_redact_session_free(s);
    hale_redact_session_free(t);
}

static void fails_closed_on_match_limit(void **state)
{
    static const char rules[] = "{\"version\":1,\"match_limit\":1000,\"rules\":["
                                "{\"id\":\"slow\",\"type\":\"SLOW\",\"pattern\":\"(a|aa)+$\"}]}";
    hale_redact *r = NULL;
    hale_redact_session *s = NULL;
    static char untouched[] = "untouched";
    hale_redact_result res = {.text = untouched};
    char text[64];

    (void)state;
    memset(text, 'a', sizeof(text) - 2);
    text[sizeof(text) - 2] = 'b';
    text[sizeof(text) - 1] = '\0';
    assert_int_equal(hale_redact_parse(rules, strlen(rules), "t.json", &r, NULL), 0);
    assert_int_equal(hale_redact_session_new(r, &s), 0);
    assert_int_equal(hale_redact_apply(s, text, strlen(text), &res), HALE_ELIMIT);
    assert_string_equal(res.text, "untouched");
    assert_null(res.findings);
    /* The session still works for input within the limit. */
    assert_int_equal(hale_redact_apply(s, "aaa", 3, &res), 1);
    assert_string_equal(res.text, "<SLOW_1>");
    hale_redact_result_release(&res);
    hale_redact_session_free(s);
    hale_redact_free(r);
}

struct bad_rules {
    const char *json; /* rules document */
    const char *diag; /* expected message */
};

#define RULE_WITH(extra)                                                                           \
    "{\"version\":1,\"rules\":[{\"id\":\"r1\",\"type\":\"T\",\"pattern\":\"x\"" extra "}]}"

static const struct bad_rules bad[] = {
    {"[", "bad.json: line 1 column 2: value expected near end of file"},
    {"{\"rules\":[]}", "bad.json: version: missing"},
    {"{\"version\":2,\"rules\":[]}", "bad.json: version: 2 is not supported, expected 1"},
    {"{\"version\":1,\"rules\":[],\"match_limit\":99999999}", "bad.json: match_limit: must be 1"},
    {"{\"version\":1,\"rules\":[],\"extra\":1}", "bad.json: unknown field 'extra'"},
    {"{\"version\":1,\"rules\":[7]}", "bad.json: rules[0]: expected object, got integer"},
    {"{\"version\":1,\"rules\":[{\"type\":\"T\",\"pattern\":\"x\"}]}",
     "bad.json: rules[0]: id: missing"},
    {RULE_WITH(",\"colour\":1"), "bad.json: r1: unknown field 'colour'"},
    {"{\"version\":1,\"rules\":[{\"id\":\"r1\",\"type\":\"T\",\"pattern\":\"(x\"}]}",
     "bad.json: r1: pattern: missing closing parenthesis at offset 2"},
    {"{\"version\":1,\"rules\":[{\"id\":\"r1\",\"type\":\"t\",\"pattern\":\"x\"}]}",
     "bad.json: r1: type: 't' must be"},
    {RULE_WITH(",\"validate\":\"crc\""), "bad.json: r1: validate: unknown validator 'crc'"},
    {RULE_WITH(",\"group\":1"), "bad.json: r1: group: 1 but the pattern has 0 capture groups"},
    {RULE_WITH(",\"keywords\":\"x\""), "bad.json: r1: keywords: expected array of strings"},
    {RULE_WITH(",\"keywords\":[\"\"]"), "bad.json: r1: keywords[0]: must be 1 to 64 bytes"},
    {RULE_WITH(",\"prefilter\":\"zip\""), "bad.json: r1: prefilter: unknown shape 'zip'"},
    {RULE_WITH(",\"prefilter\":\"ipv4\",\"keywords\":[\"x\"]"),
     "bad.json: r1: prefilter: a rule takes keywords or a prefilter, not both"},
    {RULE_WITH(",\"min_entropy\":9"), "bad.json: r1: min_entropy: must be 0 to 8"},
    {"{\"version\":1,\"rules\":[{\"id\":\"r1\",\"type\":\"T\",\"pattern\":\"x\"},"
     "{\"id\":\"r1\",\"type\":\"T\",\"pattern\":\"y\"}]}",
     "bad.json: r1: id: duplicate rule id"},
};

static void rejects_bad_rules_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        static int sentinel;
        hale_redact *r = (hale_redact *)&sentinel; /* must stay untouched */
        hale_diag d = {{0}};
        int rc = hale_redact_parse(bad[i].json, strlen(bad[i].json), "bad.json", &r, &d);

        if (rc != HALE_ECONFIG || r != (hale_redact *)&sentinel ||
            strncmp(d.msg, bad[i].diag, strlen(bad[i].diag)) != 0)
            fail_msg("rules %zu: rc %d, message '%s', expected '%s'", i, rc, d.msg, bad[i].diag);
    }
}

static void load_reports_the_file(void **state)
{
    char *dir = fixture_tmpdir("redact");
    char path[512];
    hale_redact *r = NULL;
    hale_diag d = {{0}};

    (void)state;
    assert_non_null(dir);
    snprintf(path, sizeof(path), "%s/rules.json", dir);
    assert_int_equal(hale_redact_load(path, &r, &d), -ENOENT);
    assert_non_null(strstr(d.msg, "rules.json"));
    assert_int_equal(fixture_write(path, RULE_WITH(",\"validate\":\"nope\"")), 0);
    assert_int_equal(hale_redact_load(path, &r, &d), HALE_ECONFIG);
    assert_non_null(strstr(d.msg, "rules.json: r1: validate: unknown validator 'nope'"));
    assert_int_equal(fixture_write(path, RULE_WITH(",\"keywords\":[\"X\"]")), 0);
    assert_int_equal(hale_redact_load(path, &r, &d), 0);
    assert_int_equal(hale_redact_rule_count(r), 1);
    hale_redact_free(r);
    hale_redact_free(NULL);
    hale_redact_session_free(NULL);
    hale_redact_result_release(NULL);
    fixture_rmtree(dir);
    free(dir);
}

struct worker {
    const hale_redact *r; /* shared rules */
    const char *text;     /* input */
    const char *want;     /* expected output */
    int bad;              /* mismatches seen */
};

static void *work(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < 200; i++) {
        hale_redact_session *s = NULL;
        hale_redact_result res = {0};

        if (hale_redact_session_new(w->r, &s) < 0 ||
            hale_redact_apply(s, w->text, strlen(w->text), &res) < 0 ||
            strcmp(res.text, w->want) != 0)
            w->bad++;
        hale_redact_result_release(&res);
        hale_redact_session_free(s);
    }
    return NULL;
}

static void rules_are_shared_across_threads(void **state)
{
    const char *text =
        "ann@example.com from 10.0.0.7 token=ghp_R2d2C3poL0v3sSk1walkerYoda4Obi1Wan00x "
        "card 4111 1111 1111 1111 Authorization: Bearer abcDEF123ghiJKL456mnoPQR";
    char *want = redact1(*state, text, NULL);
    struct worker w[4];
    pthread_t t[4];

    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){*state, text, want, 0};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].bad, 0);
    }
    free(want);
}

static void empty_and_binary_input(void **state)
{
    static const char bin[] = "a\0b@example.com\0\xff\xfe <X_1>";
    hale_redact_session *s = NULL;
    hale_redact_result res = {0};

    assert_int_equal(hale_redact_session_new(*state, &s), 0);
    assert_int_equal(hale_redact_apply(s, "", 0, &res), 0);
    assert_string_equal(res.text, "");
    hale_redact_result_release(&res);
    assert_int_equal(hale_redact_apply(s, bin, sizeof(bin) - 1, &res), 1);
    assert_int_equal(res.len, sizeof("a\0<EMAIL_1>\0\xff\xfe <\\X_1>") - 1);
    assert_memory_equal(res.text, "a\0<EMAIL_1>\0\xff\xfe <\\X_1>", res.len);
    hale_redact_result_release(&res);
    hale_redact_session_free(s);
}

/* Many BEGIN lines without END: each header is masked, and the full-block pattern can no
 * longer scan up to 60,000 bytes ahead from every header (it stops at the next "-----"). */
static void unterminated_key_headers_are_masked(void **state)
{
    static const char head[] = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n";
    size_t n = 2000 * (sizeof(head) - 1);
    char *text = malloc(n + 1);
    hale_redact_result res;

    assert_non_null(text);
    for (size_t i = 0; i < 2000; i++)
        memcpy(text + i * (sizeof(head) - 1), head, sizeof(head) - 1);
    text[n] = '\0';
    (void)redact1(*state, text, &res);
    assert_null(strstr(res.text, "MIIEvQ"));
    assert_null(strstr(res.text, "BEGIN"));
    hale_redact_result_release(&res);
    free(text);
}

static void refuses_input_over_the_limit(void **state)
{
    hale_redact_session *s = NULL;
    hale_redact_result res = {0};
    char *out = NULL;

    assert_int_equal(hale_redact_session_new(*state, &s), 0);
    /* The length is checked before any byte is read. */
    assert_int_equal(hale_redact_apply(s, "x", (size_t)HALE_REDACT_MAX_INPUT_BYTES + 1, &res),
                     HALE_ELIMIT);
    assert_null(res.text);
    assert_int_equal(
        hale_redact_unmask(s, "x", (size_t)HALE_REDACT_MAX_INPUT_BYTES + 1, &out, NULL),
        HALE_ELIMIT);
    assert_null(out);
    hale_redact_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redacts_every_entity_type),
        cmocka_unit_test(leaves_look_alikes_alone),
        cmocka_unit_test(findings_name_spans_not_values),
        cmocka_unit_test(same_value_same_placeholder),
        cmocka_unit_test(escapes_placeholder_look_alikes),
        cmocka_unit_test(unmask_round_trips),
        cmocka_unit_test(unmask_only_what_this_session_issued),
        cmocka_unit_test(fails_closed_on_match_limit),
        cmocka_unit_test(rejects_bad_rules_files),
        cmocka_unit_test(load_reports_the_file),
        cmocka_unit_test(rules_are_shared_across_threads),
        cmocka_unit_test(empty_and_binary_input),
        cmocka_unit_test(unterminated_key_headers_are_masked),
        cmocka_unit_test(refuses_input_over_the_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
