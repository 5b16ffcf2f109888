/* tests/test_audit.c - the audit log writer: canonical leaves, the frontier that follows the
 * store's transactions, the log's identity, append-only tables, and consistency proofs from a
 * compact range. */
#include "fixture.h"

#include <errno.h>
#include <sodium.h>
#include <sqlite3.h>

#include "hale/audit.h"
#include "hale/audit_query.h"
#include "hale/err.h"
#include "hale/merkle.h"
#include "hale/note.h"
#include "hale/store.h"

#define ORIGIN "aiops.test/unit-1"

struct env {
    char *dir;
    char path[512];
    hale_store *s;
    hale_audit *a;
};

static int open_env(struct env *e)
{
    hale_store_opts o = {.path = e->path, .sync = HALE_STORE_SYNC_NORMAL};

    if (hale_store_open(&o, &e->s, NULL) < 0)
        return -1;
    return hale_audit_open(e->s, ORIGIN, &e->a, NULL) < 0 ? -1 : 0;
}

static void close_env(struct env *e)
{
    hale_audit_free(e->a);
    hale_store_free(e->s);
    e->a = NULL;
    e->s = NULL;
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));

    if (!e || sodium_init() < 0)
        return -1;
    e->dir = fixture_tmpdir("hale-audit");
    snprintf(e->path, sizeof(e->path), "%s/hale.db", e->dir);
    *state = e;
    return open_env(e);
}

static int teardown(void **state)
{
    struct env *e = *state;

    close_env(e);
    fixture_rmtree(e->dir);
    free(e->dir);
    free(e);
    return 0;
}

static void append_n(struct env *e, unsigned n)
{
    assert_int_equal(hale_store_begin(e->s), 0);
    for (unsigned i = 0; i < n; i++) {
        json_t *p = json_pack("{s:I,s:s}", "incident_id", (json_int_t)i, "note", "x");

        assert_int_equal(hale_audit_append(e->a, "incident_transition", p, 0, NULL, NULL), 0);
        json_decref(p);
    }
    assert_int_equal(hale_store_commit(e->s), 0);
}

/* Every stored leaf hash, in seq order, after checking each against its stored body. */
static hale_hash *stored_leaves(struct env *e, uint64_t *ret_n)
{
    sqlite3 *db = hale_store_sqlite(e->s);
    sqlite3_stmt *st;
    hale_hash *all = NULL;
    uint64_t n = 0;

    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT seq, body, leaf_hash FROM audit_leaf ORDER BY seq",
                                        -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        hale_hash h;

        assert_int_equal(sqlite3_column_int64(st, 0), (sqlite3_int64)n);
        hale_merkle_leaf_hash(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), &h);
        assert_int_equal(sqlite3_column_bytes(st, 2), 32);
        assert_memory_equal(h.b, sqlite3_column_blob(st, 2), 32);
        all = realloc(all, (n + 1) * sizeof(*all));
        assert_non_null(all);
        all[n++] = h;
    }
    sqlite3_finalize(st);
    *ret_n = n;
    return all;
}

static void canonical_leaf_bytes(void **state)
{
    struct env *e = *state;
    json_t *p = json_pack("{s:s,s:I,s:{s:s,s:[i,b]},s:s}", "tool", "restart_service", "incident_id",
                          (json_int_t)7, "zeta", "s", "\xc3\xa9", "a", 1, true, "outcome", "allow");
    sqlite3_stmt *st;
    uint64_t seq = 99;

    assert_int_equal(hale_store_begin(e->s), 0);
    assert_int_equal(hale_audit_append(e->a, "decision", p, 1234567890123456789, &seq, NULL), 0);
    assert_int_equal(hale_store_commit(e->s), 0);
    assert_int_equal(seq, 0);
    json_decref(p);
    /* The row holds the log; the filter attributes are indexed from the body afterwards. */
    assert_int_equal(hale_audit_index_catchup(e->s, 10), 1);
    assert_int_equal(sqlite3_prepare_v2(hale_store_sqlite(e->s),
                                        "SELECT l.body, a.kind, a.incident_id, a.tool, a.outcome, "
                                        "a.actor, a.ts_ns FROM audit_leaf l JOIN audit_leaf_attr "
                                        "a ON a.seq = l.seq WHERE l.seq = 0",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    /* Sorted keys, compact, ASCII only, the envelope merged in. */
    assert_string_equal((const char *)sqlite3_column_text(st, 0),
                        "{\"incident_id\":7,\"kind\":\"decision\",\"log\":\"" ORIGIN "\","
                        "\"outcome\":\"allow\",\"seq\":0,\"tool\":\"restart_service\","
                        "\"ts\":1234567890123456789,\"v\":1,\"zeta\":{\"a\":[1,true],"
                        "\"s\":\"\\u00E9\"}}");
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "decision");
    assert_int_equal(sqlite3_column_int64(st, 2), 7);
    assert_string_equal((const char *)sqlite3_column_text(st, 3), "restart_service");
    assert_string_equal((const char *)sqlite3_column_text(st, 4), "allow");
    assert_int_equal(sqlite3_column_type(st, 5), SQLITE_NULL);
    assert_int_equal(sqlite3_column_int64(st, 6), 1234567890123456789);
    sqlite3_finalize(st);
}

static void bad_appends_change_nothing(void **state)
{
    struct env *e = *state;
    json_t *real = json_pack("{s:{s:f}}", "result", "confidence", 0.93);
    json_t *env = json_pack("{s:i}", "seq", 5);
    json_t *wrong = json_pack("{s:s}", "incident_id", "7");
    json_t *arr = json_array();
    hale_diag d;
    uint64_t size;

    /* Outside a transaction. */
    assert_int_equal(hale_audit_append(e->a, "decision", NULL, 0, NULL, &d), HALE_ESTATE);
    append_n(e, 3);
    assert_int_equal(hale_store_begin(e->s), 0);
    assert_int_equal(hale_audit_append(e->a, "decision", real, 0, NULL, &d), HALE_ESCHEMA);
    assert_non_null(strstr(d.msg, "'confidence'"));
    assert_int_equal(hale_audit_append(e->a, "decision", env, 0, NULL, &d), HALE_ESCHEMA);
    assert_string_equal(d.msg, "member 'seq': reserved for the leaf envelope");
    assert_int_equal(hale_audit_append(e->a, "decision", wrong, 0, NULL, &d), HALE_ESCHEMA);
    assert_string_equal(d.msg, "member 'incident_id': expected an integer");
    assert_int_equal(json_object_set_new(wrong, "incident_id", json_integer(7)), 0);
    assert_int_equal(json_object_set_new(wrong, "tool", json_integer(7)), 0);
    assert_int_equal(hale_audit_append(e->a, "decision", wrong, 0, NULL, &d), HALE_ESCHEMA);
    assert_string_equal(d.msg, "member 'tool': expected a string");
    assert_int_equal(hale_audit_append(e->a, "decision", arr, 0, NULL, &d), -EINVAL);
    assert_int_equal(hale_audit_append(e->a, "Decision", NULL, 0, NULL, &d), -EINVAL);
    assert_int_equal(hale_audit_append(e->a, "", NULL, 0, NULL, &d), -EINVAL);
    assert_int_equal(hale_audit_append(e->a, "a-b", NULL, 0, NULL, &d), -EINVAL);
    hale_audit_head(e->a, &size, NULL);
    assert_int_equal(size, 3);
    assert_int_equal(hale_store_commit(e->s), 0);
    json_decref(real);
    json_decref(env);
    json_decref(wrong);
    json_decref(arr);
}

static void oversized_leaf_refused(void **state)
{
    struct env *e = *state;
    char *big = malloc(HALE_AUDIT_MAX_LEAF_BYTES + 1);
    json_t *p;
    uint64_t size;

    memset(big, 'x', HALE_AUDIT_MAX_LEAF_BYTES);
    big[HALE_AUDIT_MAX_LEAF_BYTES] = '\0';
    p = json_pack("{s:s}", "blob", big);
    assert_int_equal(hale_store_begin(e->s), 0);
    assert_int_equal(hale_audit_append(e->a, "decision", p, 0, NULL, NULL), HALE_ELIMIT);
    hale_store_rollback(e->s);
    hale_audit_head(e->a, &size, NULL);
    assert_int_equal(size, 0);
    json_decref(p);
    free(big);
}

static void frontier_follows_commit_and_rollback(void **state)
{
    struct env *e = *state;
    hale_hash root, want, *leaves;
    uint64_t size, n;

    append_n(e, 5);
    assert_int_equal(hale_store_begin(e->s), 0);
    assert_int_equal(hale_audit_append(e->a, "decision", NULL, 0, NULL, NULL), 0);
    hale_audit_head(e->a, &size, NULL);
    assert_int_equal(size, 6);
    hale_store_rollback(e->s);
    hale_audit_head(e->a, &size, &root);
    assert_int_equal(size, 5);
    append_n(e, 12);
    leaves = stored_leaves(e, &n);
    assert_int_equal(n, 17);
    hale_merkle_root(leaves, n, &want);
    hale_audit_head(e->a, &size, &root);
    assert_int_equal(size, 17);
    assert_memory_equal(root.b, want.b, 32);
    /* The stored frontier gives the same head after a restart. */
    close_env(e);
    assert_int_equal(open_env(e), 0);
    hale_audit_head(e->a, &size, &root);
    assert_int_equal(size, 17);
    assert_memory_equal(root.b, want.b, 32);
    free(leaves);
}

static void lagging_frontier_is_repaired_truncation_refused(void **state)
{
    struct env *e = *state;
    sqlite3 *db;
    hale_hash root, want, *leaves;
    hale_diag d;
    uint64_t size, n;

    append_n(e, 4);
    db = hale_store_sqlite(e->s);
    assert_int_equal(
        sqlite3_exec(db, "CREATE TEMP TABLE f AS SELECT * FROM audit_frontier", NULL, NULL, NULL),
        SQLITE_OK);
    append_n(e, 9);
    /* A frontier row from before the last commit: open extends it from the leaf hashes. */
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE audit_frontier SET size = (SELECT size FROM f), "
                                  "frontier = (SELECT frontier FROM f)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    close_env(e);
    assert_int_equal(open_env(e), 0);
    leaves = stored_leaves(e, &n);
    hale_merkle_root(leaves, n, &want);
    hale_audit_head(e->a, &size, &root);
    assert_int_equal(size, 13);
    assert_memory_equal(root.b, want.b, 32);
    free(leaves);
    /* Leaves deleted behind the triggers' back: the writer refuses to continue the log. */
    db = hale_store_sqlite(e->s);
    assert_int_equal(
        sqlite3_exec(db, "UPDATE audit_leaf SET body = x'7b7d' WHERE seq = 1", NULL, NULL, NULL),
        SQLITE_CONSTRAINT_TRIGGER);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM audit_leaf WHERE seq = 12", NULL, NULL, NULL),
                     SQLITE_CONSTRAINT_TRIGGER);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TRIGGER audit_leaf_no_delete; "
                                  "DELETE FROM audit_leaf WHERE seq >= 10",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    hale_audit_free(e->a);
    e->a = NULL;
    assert_int_equal(hale_audit_open(e->s, ORIGIN, &e->a, &d), HALE_ESCHEMA);
    assert_non_null(strstr(d.msg, "truncated"));
}

static void origin_is_fixed(void **state)
{
    struct env *e = *state;
    hale_audit *other = NULL;
    hale_diag d;

    hale_audit_free(e->a);
    e->a = NULL;
    assert_int_equal(hale_audit_open(e->s, "aiops.test/other", &other, &d), HALE_ESCHEMA);
    assert_non_null(strstr(d.msg, "differs"));
    assert_int_equal(hale_audit_open(e->s, "has space", &other, &d), HALE_ESCHEMA);
    assert_int_equal(hale_audit_open(e->s, "a+b", &other, &d), HALE_ESCHEMA);
    assert_null(other);
    assert_int_equal(hale_audit_open(e->s, ORIGIN, &e->a, &d), 0);
    assert_string_equal(hale_audit_origin(e->a), ORIGIN);
}

static void canonical_rejects_reals(void **state)
{
    json_t *ok = json_pack("{s:i,s:[s]}", "b", 1, "a", "x");
    json_t *bad = json_pack("[i,{s:f}]", 1, "x", 1.5);
    char *s = NULL;
    size_t len;

    (void)state;
    assert_int_equal(hale_audit_canonical(ok, &s, &len, NULL), 0);
    assert_string_equal(s, "{\"a\":[\"x\"],\"b\":1}");
    assert_int_equal(len, strlen(s));
    free(s);
    assert_int_equal(hale_audit_canonical(bad, &s, &len, NULL), HALE_ESCHEMA);
    json_decref(ok);
    json_decref(bad);
}

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A random string of valid UTF-8: ASCII, controls, quotes, 2/3/4-byte characters. */
static json_t *random_string(void)
{
    static const char *const pieces[] = {"a",
                                         "Z",
                                         "\"",
                                         "\\",
                                         "/",
                                         "\n",
                                         "\t",
                                         "\x01",
                                         "\x1f",
                                         "\x7f",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80",
                                         "key",
                                         " ",
                                         "+",
                                         "0"};
    char buf[128] = "";
    unsigned n = (unsigned)(next_rand() % 8);

    for (unsigned i = 0; i < n; i++)
        strncat(buf, pieces[next_rand() % (sizeof(pieces) / sizeof(pieces[0]))],
                sizeof(buf) - strlen(buf) - 1);
    return json_string(buf);
}

static json_t *random_value(int depth)
{
    static const json_int_t ints[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN, 1234567890123};
    unsigned kind = (unsigned)(next_rand() % (depth > 3 ? 5 : 7));
    json_t *v;

    switch (kind) {
    case 0:
        return json_integer(ints[next_rand() % 7]);
    case 1:
        return random_string();
    case 2:
        return json_boolean(next_rand() & 1);
    case 3:
        return json_null();
    case 4:
        return json_integer((json_int_t)(next_rand() >> 1) * (next_rand() & 1 ? 1 : -1));
    case 5:
        v = json_array();
        for (unsigned i = (unsigned)(next_rand() % 4); i > 0; i--)
            json_array_append_new(v, random_value(depth + 1));
        return v;
    default:
        v = json_object();
        for (unsigned i = (unsigned)(next_rand() % 6); i > 0; i--) {
            json_t *k = random_string();

            json_object_set_new(v, json_string_value(k), random_value(depth + 1));
            json_decref(k);
        }
        return v;
    }
}

/* Property: the canonical bytes are jansson's own compact, sorted, ASCII output, for
 * documents and for leaves with their envelope merged in. */
static void canonical_matches_jansson(void **state)
{
    struct env *e = *state;
    sqlite3_stmt *st;

    assert_int_equal(sqlite3_prepare_v2(hale_store_sqlite(e->s),
                                        "SELECT body FROM audit_leaf WHERE seq = ?1", -1, &st,
                                        NULL),
                     SQLITE_OK);
    for (unsigned i = 0; i < 3000; i++) {
        json_t *doc = random_value(0), *leaf;
        char *mine = NULL, *theirs;
        uint64_t seq;
        size_t len;

        assert_int_equal(hale_audit_canonical(doc, &mine, &len, NULL), 0);
        theirs =
            json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
        assert_string_equal(mine, theirs);
        free(mine);
        free(theirs);
        if (!json_is_object(doc) || json_object_get(doc, "incident_id") ||
            json_object_get(doc, "actor") || json_object_get(doc, "tool") ||
            json_object_get(doc, "outcome")) {
            json_decref(doc);
            continue;
        }
        assert_int_equal(hale_store_begin(e->s), 0);
        assert_int_equal(hale_audit_append(e->a, "k_1", doc, 77, &seq, NULL), 0);
        assert_int_equal(hale_store_commit(e->s), 0);
        leaf = json_copy(doc);
        json_object_set_new(leaf, "v", json_integer(1));
        json_object_set_new(leaf, "log", json_string(ORIGIN));
        json_object_set_new(leaf, "seq", json_integer((json_int_t)seq));
        json_object_set_new(leaf, "ts", json_integer(77));
        json_object_set_new(leaf, "kind", json_string("k_1"));
        theirs = json_dumps(leaf, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), theirs);
        sqlite3_reset(st);
        free(theirs);
        json_decref(leaf);
        json_decref(doc);
    }
    sqlite3_finalize(st);
}

/* Property: the proof built from the old compact range and the new leaves equals the one built
 * from every leaf, for every pair of sizes up to 70, and it verifies. */
static void consistency_from_frontier(void **state)
{
    enum { N = 70 };
    hale_hash leaves[N], a[HALE_MERKLE_MAX_PROOF], b[HALE_MERKLE_MAX_PROOF], r1, r2;
    hale_merkle_frontier f;

    (void)state;
    for (unsigned i = 0; i < N; i++)
        hale_merkle_leaf_hash(&i, sizeof(i), &leaves[i]);
    for (uint64_t m = 1; m <= N; m++) {
        hale_merkle_frontier_init(&f);
        for (uint64_t i = 0; i < m; i++)
            assert_int_equal(hale_merkle_frontier_append(&f, &leaves[i]), 0);
        hale_merkle_root(leaves, m, &r1);
        for (uint64_t n = m; n <= N; n++) {
            int na = hale_merkle_consistency_proof(leaves, m, n, a, HALE_MERKLE_MAX_PROOF);
            int nb = hale_merkle_consistency_proof_extend(&f, leaves + m, n - m, b,
                                                          HALE_MERKLE_MAX_PROOF);

            assert_true(na >= 0);
            assert_int_equal(na, nb);
            assert_memory_equal(a, b, (size_t)na * sizeof(a[0]));
            hale_merkle_root(leaves, n, &r2);
            assert_int_equal(hale_merkle_verify_consistency(m, n, &r1, &r2, b, (size_t)nb), 0);
        }
    }
    hale_merkle_frontier_init(&f);
    assert_int_equal(hale_merkle_consistency_proof_extend(&f, leaves, 3, b, 64), -EINVAL);
}

/* A note on the head of e's log, signed by a fixed test key. */
static char *sign_head(struct env *e, uint64_t size, const hale_hash *root)
{
    static const uint8_t seed[HALE_NOTE_SEED_BYTES] = {7};
    hale_note_signer *k = NULL;
    char *text = NULL, *note = NULL;
    size_t len;

    assert_int_equal(hale_note_signer_from_seed(ORIGIN, seed, &k), 0);
    assert_int_equal(
        hale_checkpoint_format(hale_audit_origin(e->a), size, root, NULL, 0, &text, &len), 0);
    assert_int_equal(hale_note_sign(text, len, (const hale_note_signer *const *)&k, 1, &note, NULL),
                     0);
    free(text);
    hale_note_signer_free(k);
    return note;
}

static void proofs_and_checkpoints(void **state)
{
    struct env *e = *state;
    hale_hash proof[HALE_MERKLE_MAX_PROOF], want[HALE_MERKLE_MAX_PROOF], r10, r17, root2;
    hale_hash *leaves;
    uint64_t size, n;
    char *note;
    hale_diag d;
    int np;

    append_n(e, 10);
    hale_audit_head(e->a, &size, &r10);
    note = sign_head(e, 10, &r10);
    assert_int_equal(hale_audit_store_checkpoint(e->a, note, 5, &d), 0);
    assert_int_equal(hale_audit_store_checkpoint(e->a, note, 6, &d), 0); /* kept as it was */
    free(note);
    assert_int_equal(hale_audit_last_checkpoint(e->a, &size), 0);
    assert_int_equal(size, 10);
    append_n(e, 7);
    hale_audit_head(e->a, &size, &r17);
    /* A note for another head is refused. */
    note = sign_head(e, 10, &r10);
    assert_int_equal(hale_audit_store_checkpoint(e->a, note, 7, &d), HALE_EPROOF);
    free(note);
    leaves = stored_leaves(e, &n);
    for (uint64_t m = 1; m <= 17; m++) {
        int nw = hale_merkle_consistency_proof(leaves, m, 17, want, HALE_MERKLE_MAX_PROOF);

        np = hale_audit_prove(e->a, m, 17, proof, HALE_MERKLE_MAX_PROOF, &root2, &d);
        assert_int_equal(np, nw);
        assert_memory_equal(proof, want, (size_t)np * sizeof(proof[0]));
        assert_memory_equal(root2.b, r17.b, 32);
    }
    np = hale_audit_prove(e->a, 3, 10, proof, HALE_MERKLE_MAX_PROOF, &root2, &d);
    assert_true(np > 0);
    assert_memory_equal(root2.b, r10.b, 32);
    assert_int_equal(hale_audit_prove(e->a, 0, 17, proof, 64, NULL, &d), -EINVAL);
    assert_int_equal(hale_audit_prove(e->a, 5, 18, proof, 64, NULL, &d), -EINVAL);
    /* Inside a transaction with pending appends a checkpoint cannot be stored. */
    assert_int_equal(hale_store_begin(e->s), 0);
    assert_int_equal(hale_audit_append(e->a, "decision", NULL, 0, NULL, NULL), 0);
    note = sign_head(e, 17, &r17);
    assert_int_equal(hale_audit_store_checkpoint(e->a, note, 8, &d), HALE_ESTATE);
    hale_store_rollback(e->s);
    assert_int_equal(hale_audit_store_checkpoint(e->a, note, 8, &d), 0);
    free(note);
    free(leaves);
    /* From the last stored checkpoint the writer proves from the hashes it appended, without
     * reading rows (here: gone behind its back), and a rolled-back append is not among them. */
    assert_int_equal(hale_store_begin(e->s), 0);
    assert_int_equal(hale_audit_append(e->a, "decision", NULL, 0, NULL, NULL), 0);
    hale_store_rollback(e->s);
    append_n(e, 3);
    leaves = stored_leaves(e, &n);
    assert_int_equal(n, 20);
    assert_int_equal(sqlite3_exec(hale_store_sqlite(e->s),
                                  "DROP TRIGGER audit_leaf_no_delete; "
                                  "DELETE FROM audit_leaf WHERE seq >= 17",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    np = hale_audit_prove(e->a, 17, 20, proof, HALE_MERKLE_MAX_PROOF, &root2, &d);
    assert_int_equal(np,
                     hale_merkle_consistency_proof(leaves, 17, 20, want, HALE_MERKLE_MAX_PROOF));
    assert_memory_equal(proof, want, (size_t)np * sizeof(proof[0]));
    hale_merkle_root(leaves, 20, &r17);
    assert_memory_equal(root2.b, r17.b, 32);
    /* From an older head the rows are read, and their absence is an error. */
    assert_int_equal(hale_audit_prove(e->a, 16, 20, proof, HALE_MERKLE_MAX_PROOF, NULL, &d),
                     HALE_ESCHEMA);
    free(leaves);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(canonical_leaf_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_appends_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(oversized_leaf_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(frontier_follows_commit_and_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(lagging_frontier_is_repaired_truncation_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(origin_is_fixed, setup, teardown),
        cmocka_unit_test_setup_teardown(proofs_and_checkpoints, setup, teardown),
        cmocka_unit_test(canonical_rejects_reals),
        cmocka_unit_test_setup_teardown(canonical_matches_jansson, setup, teardown),
        cmocka_unit_test(consistency_from_frontier),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
