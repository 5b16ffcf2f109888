/* tests/integ/test_crash.c - durability under kill -9: a client thread posts two-alert webhooks
 * without pause on a keep-alive connection while the main thread SIGKILLs hale at random
 * moments and restarts it on the same data_dir. After every kill the audit log must verify
 * (`hale audit verify`: 0, or 2 for a tail the next start seals). Afterwards every alert that
 * was answered 2xx must be in the SQLite file exactly once with its incident, every stored
 * request must be named by an alerts_accepted leaf, the database must pass integrity_check, a final
 * SIGTERM must end hale with 0 and the log must then verify with 0. The seed is printed; set
 * INTEG_CRASH_SEED to replay a run, INTEG_CRASH_KILLS to change the number of kills. */
#include "fixture.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "integ_http.h"
#include "integ_proc.h"
#include "integ_store.h"
#include "util/strparse.h"

#define DEFAULT_KILLS   100
#define MIN_DELAY_MS    5u
#define MAX_DELAY_MS    150u
#define REQUEST_TIMEOUT 3000u
#define SERVICES        8u
#define FINAL_ACKS      50u /* acknowledged alerts to wait for after the last restart */

struct client {
    pthread_t thread;      /* the posting thread */
    atomic_uint port;      /* where hale listens now (it may move when a port was taken) */
    atomic_bool stop;      /* set by main to end the thread */
    atomic_uint n_acked;   /* published count of acked, for main to watch */
    uint32_t prefix;       /* high half of every fingerprint: unique per run */
    uint64_t *acked;       /* fingerprints answered 2xx (thread-owned until joined) */
    size_t len;            /* entries in acked */
    size_t cap;            /* allocated entries */
    unsigned requests;     /* requests sent */
    unsigned answered_2xx; /* of those, answered 2xx */
    unsigned answered_5xx; /* answered 503 (shutdown or store trouble) */
    unsigned failures;     /* connection errors and timeouts */
    unsigned connects;     /* connections made */
    unsigned other;        /* any other status: a test failure */
};

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    /* xorshift64*: reproducible from the printed seed. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static char *webhook_for(const struct client *cl, uint32_t seq)
{
    json_t *alerts = json_array();
    char fp[2][24], service[16], s0[16], s1[16];

    snprintf(fp[0], sizeof(fp[0]), "%08" PRIx32 "%08" PRIx32, cl->prefix, seq);
    snprintf(fp[1], sizeof(fp[1]), "%08" PRIx32 "%08" PRIx32, cl->prefix, seq + 1);
    snprintf(service, sizeof(service), "svc-%u", (unsigned)((seq / 2) % SERVICES));
    snprintf(s0, sizeof(s0), "%u", (unsigned)seq);
    snprintf(s1, sizeof(s1), "%u", (unsigned)seq + 1);
    if (!alerts ||
        json_array_append_new(alerts, integ_am_alert("firing", fp[0], NULL, NULL, "alertname",
                                                     "CrashTest", "service", service, "seq", s0,
                                                     "severity", "warning", NULL)) < 0 ||
        json_array_append_new(alerts, integ_am_alert("firing", fp[1], NULL, NULL, "alertname",
                                                     "CrashTest", "service", service, "seq", s1,
                                                     "severity", "critical", NULL)) < 0) {
        json_decref(alerts);
        return NULL;
    }
    return integ_am_webhook(alerts);
}

static int record_ack(struct client *cl, uint32_t seq)
{
    if (cl->len + 2 > cl->cap) {
        size_t cap = cl->cap ? cl->cap * 2 : 4096;
        uint64_t *p = realloc(cl->acked, cap * sizeof(*p));

        if (!p)
            return -ENOMEM;
        cl->acked = p;
        cl->cap = cap;
    }
    cl->acked[cl->len++] = ((uint64_t)cl->prefix << 32) | seq;
    cl->acked[cl->len++] = ((uint64_t)cl->prefix << 32) | (seq + 1);
    atomic_store(&cl->n_acked, (unsigned)cl->len);
    return 0;
}

/* Post one payload; a request whose outcome is unknown (connection lost) is sent again, as
 * Alertmanager would, so re-sends of possibly committed alerts are part of the test. */
static void *client_main(void *arg)
{
    struct client *cl = arg;
    uint32_t seq = 0;
    char *body = NULL;
    integ_conn c;

    integ_conn_init(&c, (uint16_t)atomic_load(&cl->port));
    while (!atomic_load(&cl->stop)) {
        integ_resp resp = {0};
        int r;

        if (!body && !(body = webhook_for(cl, seq)))
            break;
        if (c.fd < 0) {
            c.port = (uint16_t)atomic_load(&cl->port);
            if (integ_conn_connect(&c, 200) < 0) {
                integ_sleep_ms(2); /* hale is down: pacing, not synchronisation */
                continue;
            }
            cl->connects++;
        }
        cl->requests++;
        r = integ_conn_request(&c, "POST", "/api/v1/alerts", "application/json", body, strlen(body),
                               REQUEST_TIMEOUT, &resp);
        if (r < 0) {
            cl->failures++;
            continue; /* unknown outcome: the same body again */
        }
        if (resp.status >= 200 && resp.status < 300) {
            cl->answered_2xx++;
            if (record_ack(cl, seq) < 0)
                break;
        } else if (resp.status == 503) {
            cl->answered_5xx++;
            integ_resp_release(&resp);
            continue; /* try again: the same body */
        } else {
            fprintf(stderr, "crash client: unexpected %d %s\n", resp.status, resp.body);
            cl->other++;
        }
        integ_resp_release(&resp);
        free(body);
        body = NULL;
        seq += 2;
    }
    free(body);
    integ_conn_close(&c);
    return NULL;
}

struct crash {
    integ_hale h;        /* the daemon */
    struct client cl;    /* the posting thread's state */
    bool client_running; /* cl.thread must be stopped and joined */
};

static int setup(void **state)
{
    struct crash *t = calloc(1, sizeof(*t));

    if (!t || integ_hale_init(&t->h, "integ-crash") < 0 ||
        integ_hale_write_config(&t->h, "\"audit_checkpoint_interval_ms\": 250") < 0) {
        if (t)
            integ_hale_release(&t->h);
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static void stop_client(struct crash *t)
{
    if (!t->client_running)
        return;
    atomic_store(&t->cl.stop, true);
    (void)pthread_join(t->cl.thread, NULL);
    t->client_running = false;
}

static int teardown(void **state)
{
    struct crash *t = *state;

    stop_client(t);
    integ_hale_release(&t->h);
    free(t->cl.acked);
    free(t);
    return 0;
}

static void start_or_dump(integ_hale *h)
{
    int r = integ_hale_start(h, 10000);

    if (r < 0) {
        char *log = integ_hale_log(h);
        size_t n = log ? strlen(log) : 0;

        fprintf(stderr, "hale did not come up (%d, exit %d); end of log:\n%s\n", r,
                integ_proc_exit_code(&h->proc), log ? log + (n > 4000 ? n - 4000 : 0) : "");
        free(log);
    }
    assert_int_equal(r, 0);
}

static uint64_t seed_from_env(void)
{
    const char *s = getenv("INTEG_CRASH_SEED");
    uint64_t seed;

    if (s && hale_parse_u64(s, &seed) == 0 && seed != 0)
        return seed;
    return ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ integ_now_ms();
}

static unsigned kills_from_env(void)
{
    const char *s = getenv("INTEG_CRASH_KILLS");
    uint32_t n;

    if (s && hale_parse_u32(s, &n) == 0 && n > 0)
        return n;
    return DEFAULT_KILLS;
}

/* What the store holds for one fingerprint. */
struct stored {
    uint64_t fp;          /* the fingerprint as a number */
    int64_t rows;         /* rows in alerts with it */
    int64_t in_incidents; /* of those, rows whose incident exists */
};

static int cmp_stored(const void *a, const void *b)
{
    uint64_t x = ((const struct stored *)a)->fp, y = ((const struct stored *)b)->fp;

    return (x > y) - (x < y);
}

static bool parse_hex64(const unsigned char *s, uint64_t *ret)
{
    uint64_t v = 0;
    int i;

    for (i = 0; s && s[i]; i++) {
        int d = s[i] >= '0' && s[i] <= '9'   ? s[i] - '0'
                : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
                                             : -1;
        if (d < 0 || i >= 16)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *ret = v;
    return i == 16;
}

/* Every fingerprint in alerts with its row count, in one pass (no index on fingerprint is
 * assumed), sorted for lookups. */
static struct stored *load_stored(sqlite3 *db, size_t *ret_n)
{
    const char *sql = "SELECT a.fingerprint, COUNT(*), SUM(i.id IS NOT NULL) FROM alerts a "
                      "LEFT JOIN incidents i ON i.id = a.incident_id GROUP BY a.fingerprint";
    struct stored *arr = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *st = NULL;
    int rc;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            arr = realloc(arr, cap * sizeof(*arr));
            assert_non_null(arr);
        }
        if (!parse_hex64(sqlite3_column_text(st, 0), &arr[n].fp))
            continue; /* not one of ours */
        arr[n].rows = sqlite3_column_int64(st, 1);
        arr[n].in_incidents = sqlite3_column_int64(st, 2);
        n++;
    }
    assert_int_equal(rc, SQLITE_DONE);
    sqlite3_finalize(st);
    if (n > 1)
        qsort(arr, n, sizeof(*arr), cmp_stored);
    *ret_n = n;
    return arr;
}

/* Every acked fingerprint exactly once, attached to an incident that exists. */
static void check_acked(sqlite3 *db, const struct client *cl, unsigned *ret_lost)
{
    size_t n = 0;
    struct stored *all = load_stored(db, &n);
    unsigned lost = 0;

    for (size_t i = 0; i < cl->len; i++) {
        struct stored key = {.fp = cl->acked[i]};
        const struct stored *s = n ? bsearch(&key, all, n, sizeof(*all), cmp_stored) : NULL;

        if (!s || s->rows != 1 || s->in_incidents != 1) {
            if (lost < 10)
                fprintf(stderr,
                        "acknowledged alert %016" PRIx64 ": %lld rows, %lld with an "
                        "incident\n",
                        cl->acked[i], s ? (long long)s->rows : 0LL,
                        s ? (long long)s->in_incidents : 0LL);
            lost++;
        }
    }
    free(all);
    *ret_lost = lost;
}

static void check_database(const integ_hale *h, const struct client *cl, unsigned *ret_lost)
{
    char text[256];
    int64_t n = -1;
    sqlite3 *db = NULL;

    assert_int_equal(integ_db_open(h->data_dir, &db), 0);
    assert_int_equal(integ_db_text(db, "PRAGMA integrity_check", text, sizeof(text)), 0);
    assert_string_equal(text, "ok");
    /* No row pointing at an incident that does not exist. */
    assert_int_equal(integ_db_int(db, "SELECT COUNT(*) FROM pragma_foreign_key_check", NULL, &n),
                     0);
    assert_int_equal(n, 0);
    check_acked(db, cl, ret_lost);
    /* Each incident's counters agree with its alerts after all the crashes. */
    assert_int_equal(integ_db_int(db,
                                  "SELECT COUNT(*) FROM incidents i WHERE i.alerts_total != "
                                  "(SELECT COUNT(*) FROM alerts a WHERE a.incident_id = i.id) "
                                  "OR i.alerts_firing != (SELECT COUNT(*) FROM alerts a WHERE "
                                  "a.incident_id = i.id AND a.status = 'firing')",
                                  NULL, &n),
                     0);
    if (n != 0)
        fprintf(stderr, "%lld incidents whose alert counters disagree with their alerts\n",
                (long long)n);
    assert_int_equal(n, 0);
    /* One incident per (alertname, service) group: crashes must not split a group. */
    assert_int_equal(integ_db_int(db, "SELECT COUNT(*) FROM incidents", NULL, &n), 0);
    assert_true(n >= 1 && n <= (int64_t)SERVICES);
    integ_db_close(db);
}

/* `hale audit verify` on the data_dir as it is; returns its exit code. */
static int verify_audit(const integ_hale *h)
{
    char db[4200], pub[4200], *out = NULL, *err = NULL;
    int code;

    snprintf(db, sizeof(db), "%s/hale.db", h->data_dir);
    snprintf(pub, sizeof(pub), "%s/audit.pub", h->data_dir);
    code = integ_hale_cli(
        h,
        (const char *[]){"audit", "verify", "--require-sealed", "--db", db, "--pubkey", pub, NULL},
        &out, &err);
    if (code != 0 && code != 2)
        fprintf(stderr, "hale audit verify exited %d:\n%s%s", code, out ? out : "", err ? err : "");
    free(out);
    free(err);
    return code;
}

/* Each stored request is named, once, by an alerts_accepted leaf committed with it. */
static void check_leaves(const integ_hale *h)
{
    int64_t events = -1, named = -2, distinct = -3;

    assert_int_equal(integ_db_query_int(h->data_dir, "SELECT COUNT(*) FROM events", &events), 0);
    assert_int_equal(
        integ_db_query_int(h->data_dir,
                           "SELECT COUNT(*) FROM audit_leaf l, "
                           "json_each(l.body, '$.events') e WHERE json_extract(l.body, '$.kind') = "
                           "'alerts_accepted'",
                           &named),
        0);
    assert_int_equal(
        integ_db_query_int(
            h->data_dir,
            "SELECT COUNT(DISTINCT json_extract(e.value, "
            "'$.event_id')) FROM audit_leaf l, json_each(l.body, "
            "'$.events') e WHERE json_extract(l.body, '$.kind') = 'alerts_accepted' AND "
            "json_extract(e.value, '$.event_id') IN (SELECT id FROM "
            "events)",
            &distinct),
        0);
    assert_int_equal(events, named);
    assert_int_equal(events, distinct);
}

/* The CLI reads the same store: as many incidents as the file holds. */
static void check_cli(const integ_hale *h)
{
    char *out = NULL;
    json_t *doc;
    int64_t n = -1;

    assert_int_equal(integ_hale_cli(h,
                                    (const char *[]){"incidents", "list", "--json", "--config",
                                                     h->config_path, NULL},
                                    &out, NULL),
                     0);
    doc = json_loads(out ? out : "", 0, NULL);
    free(out);
    assert_non_null(doc);
    assert_int_equal(integ_db_query_int(h->data_dir, "SELECT COUNT(*) FROM incidents", &n), 0);
    assert_int_equal((int64_t)json_array_size(json_object_get(doc, "incidents")), n);
    json_decref(doc);
}

static void acked_alerts_survive_kill9(void **state)
{
    struct crash *t = *state;
    integ_hale *h = &t->h;
    struct client *cl = &t->cl;
    uint64_t seed = seed_from_env(), t0 = integ_now_ms();
    unsigned kills = kills_from_env(), lost = 0, target, unsealed = 0;
    int code;

    rng_state = seed;
    cl->prefix = (uint32_t)(rng_next() >> 32) | 1u;
    fprintf(stderr, "crash test: seed %" PRIu64 " (INTEG_CRASH_SEED), %u kills\n", seed, kills);

    start_or_dump(h);
    atomic_store(&cl->port, h->port);
    assert_int_equal(pthread_create(&cl->thread, NULL, client_main, cl), 0);
    t->client_running = true;
    for (unsigned k = 0; k < kills; k++) {
        unsigned delay = MIN_DELAY_MS + (unsigned)(rng_next() % (MAX_DELAY_MS - MIN_DELAY_MS + 1));

        integ_sleep_ms(delay); /* the random moment of the crash, not a synchronisation */
        integ_proc_kill(&h->proc);
        assert_int_equal(integ_proc_exit_code(&h->proc), 128 + SIGKILL);
        code = verify_audit(h);
        assert_true(code == 0 || code == 2);
        unsealed += code == 2;
        start_or_dump(h);
        atomic_store(&cl->port, h->port);
    }
    /* Let the client get a few more through the last incarnation, then stop it. */
    target = atomic_load(&cl->n_acked) + FINAL_ACKS;
    for (uint64_t deadline = integ_now_ms() + 10000;
         atomic_load(&cl->n_acked) < target && integ_now_ms() < deadline;)
        integ_sleep_ms(20);
    stop_client(t);

    {
        uint64_t t_stop = integ_now_ms();

        code = integ_hale_stop(h, 5000);
        assert_int_equal(code, 0);
        assert_true(integ_now_ms() - t_stop <= 5000);
    }
    check_database(h, cl, &lost);
    check_leaves(h);
    assert_int_equal(verify_audit(h), 0);
    check_cli(h);
    fprintf(stderr,
            "crash test: %u kills, %u starts, %u requests (%u answered 2xx, %u 503, %u lost "
            "connections, %u connects), %zu acknowledged alerts, %u lost; audit log verified "
            "after every kill (%u with an unsealed tail, sealed by the next start), %.1f s\n",
            kills, h->starts, cl->requests, cl->answered_2xx, cl->answered_5xx, cl->failures,
            cl->connects, cl->len, lost, unsealed, (double)(integ_now_ms() - t0) / 1000.0);
    assert_int_equal(cl->other, 0);
    assert_true(cl->len >= 2u * kills / 4u); /* the client did make progress */
    assert_int_equal(lost, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(acked_alerts_survive_kill9, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
