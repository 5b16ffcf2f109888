/* tests/test_audit_verify.c - the offline verifier and the proof builders
 * (include/hale/audit_verify.h) on logs written by the real writer (tests/audit_testlog.c),
 * and on hostile databases: missing tables, wrong types, NULLs, non-JSON bodies, damaged
 * pages, execution records without their decision. */
#include "fixture.h"

#include <jansson.h>
#include <sodium.h>
#include <errno.h>
#include <sqlite3.h>

#include "audit/verify_int.h"
#include "hale/err.h"
#include "audit_testlog.h"
#include "hale/audit.h"
#include "hale/audit_verify.h"
#include "hale/store.h"

#define ORIGIN "test.example/verify"

struct env {
    char *dir;
    char db[512];
    testlog log;
    hale_note_verifier root;
};

static int build(struct env *e, uint64_t n, uint64_t batch, uint64_t rotate, bool unsealed)
{
    testlog_opts o = {.db_path = e->db,
                      .origin = ORIGIN,
                      .n_leaves = n,
                      .batch = batch,
                      .rotate_every = rotate,
                      .leave_unsealed = unsealed,
                      .seed = 7};

    if (testlog_build(&o, &e->log) < 0)
        return -1;
    return hale_note_verifier_parse(e->log.root_vkey, &e->root);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));

    e->dir = fixture_tmpdir("audit-verify");
    assert_non_null(e->dir);
    snprintf(e->db, sizeof(e->db), "%s/hale.db", e->dir);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;

    testlog_release(&e->log);
    fixture_rmtree(e->dir);
    free(e->dir);
    free(e);
    return 0;
}

static hale_audit_verdict verify(struct env *e, const char *anchor, bool sealed,
                                 hale_audit_verify_report *rep)
{
    const char *anchors[1] = {anchor};
    hale_audit_verify_opts o = {.root_key = &e->root,
                                .anchor_paths = anchors,
                                .n_anchor_paths = anchor ? 1 : 0,
                                .require_sealed = sealed};

    return hale_audit_verify(e->db, &o, rep);
}

static void exec_sql(struct env *e, const char *sql)
{
    sqlite3 *db;

    assert_int_equal(sqlite3_open(e->db, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

static void test_clean_log_verifies(void **state)
{
    struct env *e = *state;
    hale_audit_verify_report rep;

    assert_int_equal(build(e, 700, 13, 150, false), 0);
    assert_int_equal(verify(e, NULL, true, &rep), HALE_AUDIT_VERIFIED);
    assert_string_equal(rep.reason, "");
    assert_int_equal(rep.n_leaves, 700);
    assert_int_equal(rep.n_epochs, 5);
    assert_int_equal(rep.n_keys, 5);
    assert_int_equal(rep.sealed_size, 700);
    assert_int_equal(rep.n_unsealed, 0);
    assert_int_equal(rep.n_open_intents, 0);
    assert_true(rep.n_checkpoints > 700 / 13);
    assert_string_equal(rep.origin, ORIGIN);
    hale_audit_verify_report_release(&rep);
}

static void test_unsealed_tail(void **state)
{
    struct env *e = *state;
    hale_audit_verify_report rep;

    assert_int_equal(build(e, 100, 30, 0, true), 0);
    assert_int_equal(verify(e, NULL, false, &rep), HALE_AUDIT_VERIFIED);
    assert_int_equal(rep.n_unsealed, 10);
    assert_int_equal(rep.n_warnings, 1);
    hale_audit_verify_report_release(&rep);
    assert_int_equal(verify(e, NULL, true, &rep), HALE_AUDIT_INCOMPLETE);
    assert_int_equal(rep.check, 6);
    assert_int_equal(rep.bad_seq, 90);
    hale_audit_verify_report_release(&rep);
}

static void test_wrong_key_and_origin(void **state)
{
    struct env *e = *state;
    hale_audit_verify_report rep;
    hale_note_signer *other = testlog_signer(ORIGIN, 99, 0);
    hale_audit_verify_opts o = {.root_key = hale_note_signer_verifier(other)};

    assert_int_equal(build(e, 50, 10, 0, false), 0);
    assert_int_equal(hale_audit_verify(e->db, &o, &rep), HALE_AUDIT_TAMPERED);
    assert_int_equal(rep.check, 7);
    assert_int_equal(rep.bad_checkpoint, 10);
    hale_audit_verify_report_release(&rep);
    o.root_key = &e->root;
    o.origin = "another.example/log";
    assert_int_equal(hale_audit_verify(e->db, &o, &rep), HALE_AUDIT_TAMPERED);
    assert_int_equal(rep.check, 1);
    hale_audit_verify_report_release(&rep);
    hale_note_signer_free(other);
}

static void test_hostile_databases(void **state)
{
    struct env *e = *state;
    hale_audit_verify_report rep;
    FILE *f;

    assert_int_equal(build(e, 60, 10, 0, false), 0);
    /* A stored hash that no longer matches its body. */
    exec_sql(e, "DROP TRIGGER audit_leaf_no_update; UPDATE audit_leaf SET body = "
                "CAST('not json' AS BLOB) WHERE seq = 7");
    assert_int_equal(verify(e, NULL, false, &rep), HALE_AUDIT_TAMPERED);
    assert_int_equal(rep.check, 3);
    assert_int_equal(rep.bad_seq, 7);
    hale_audit_verify_report_release(&rep);
    /* A huge value is refused before it is hashed. */
    exec_sql(e, "UPDATE audit_leaf SET body = zeroblob(3000000) WHERE seq = 5");
    assert_int_equal(verify(e, NULL, false, &rep), HALE_AUDIT_TAMPERED);
    assert_int_equal(rep.bad_seq, 5);
    assert_non_null(strstr(rep.reason, "larger than"));
    hale_audit_verify_report_release(&rep);
    /* Its hash recomputed too: the body is not JSON. */
    exec_sql(e, "UPDATE audit_leaf SET leaf_hash = x'00' WHERE seq = 7");
    assert_int_equal(verify(e, NULL, false, &rep), HALE_AUDIT_TAMPERED);
    hale_audit_verify_report_release(&rep);
    /* NULLs and wrong types. */
    exec_sql(e, "PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = replace(sql, "
                "'body BLOB NOT NULL', 'body BLOB') WHERE name = 'audit_leaf'");
    exec_sql(e, "UPDATE audit_leaf SET body = NULL WHERE seq = 3");
    assert_int_equal(verify(e, NULL, false, &rep), HALE_AUDIT_TAMPERED);
    assert_int_equal(rep.bad_seq, 3);
    hale_audit_verify_report_release(&rep);
    /* Missing tables: no checkpoints is unsealed; no leaves with checkpoints is truncation. */
    exec_sql(e, "DROP TABLE audit_checkpoint");
    assert_int_equal(verify(e, NULL, false, &rep), HALE_AUDIT_TAMPERED); /* seq 3 still bad */
    hale_audit_verify_report_release(&rep);
    exec_sql(e, "DROP TABLE audit_leaf");
    assert_int_equal(verify(e, NULL, false, &rep), HALE_AUDIT_TAMPERED); /* audit_frontier */
    hale_audit_verify_report_release(&rep);
    exec_sql(e, "DROP TABLE audit_frontier; DROP TABLE audit_meta");
    assert_int_equal(verify(e, NULL, false, &rep), HALE_AUDIT_INCOMPLETE);
    hale_audit_verify_report_release(&rep);
    /* Not a database at all, and no file. */
    f = fopen(e->db, "w");
    assert_non_null(f);
    fputs("this is not an SQLite file, just some text that is long enough to have a header", f);
    fclose(f);
    assert_int_equal(verify(e, NULL, false, &rep), HALE_AUDIT_TAMPERED);
    hale_audit_verify_report_release(&rep);
    remove(e->db);
    assert_int_equal(verify(e, NULL, false, &rep), HALE_AUDIT_UNUSABLE);
    hale_audit_verify_report_release(&rep);
}

static void test_missing_checkpoints_is_incomplete(void **state)
{
    struct env *e = *state;
    hale_audit_verify_report rep;

    assert_int_equal(build(e, 60, 10, 0, false), 0);
    exec_sql(e, "DROP TABLE audit_checkpoint");
    assert_int_equal(verify(e, NULL, false, &rep), HALE_AUDIT_INCOMPLETE);
    assert_int_equal(rep.check, 6);
    hale_audit_verify_report_release(&rep);
}

/* Write leaves directly with the writer: an intent with no decision before it. */
static void test_intent_without_decision(void **state)
{
    struct env *e = *state;
    hale_store_opts so = {.path = e->db};
    hale_audit_verify_report rep;
    hale_note_signer *s = testlog_signer(ORIGIN, 5, 0);
    hale_store *st;
    hale_audit *a;
    hale_hash root;
    uint64_t size;
    char *note;
    json_t *p;

    assert_int_equal(hale_store_open(&so, &st, NULL), 0);
    assert_int_equal(hale_audit_open(st, ORIGIN, &a, NULL), 0);
    assert_int_equal(hale_store_begin(st), 0);
    p = json_pack("{s:s, s:s, s:b}", "decision_id", "d-x", "intent_id", "i-x", "requires_approval",
                  0);
    assert_int_equal(hale_audit_append(a, HALE_AUDIT_KIND_EXEC_INTENT, p, 0, NULL, NULL), 0);
    json_decref(p);
    assert_int_equal(hale_store_commit(st), 0);
    hale_audit_head(a, &size, &root);
    note = testlog_sign(s, ORIGIN, size, &root);
    assert_int_equal(hale_audit_store_checkpoint(a, note, 1, NULL), 0);
    free(note);
    hale_audit_free(a);
    hale_store_free(st);
    e->root = *hale_note_signer_verifier(s);
    assert_int_equal(verify(e, NULL, false, &rep), HALE_AUDIT_TAMPERED);
    assert_int_equal(rep.check, 9);
    assert_int_equal(rep.bad_seq, 0);
    hale_audit_verify_report_release(&rep);
    hale_note_signer_free(s);
}

static void test_anchors(void **state)
{
    struct env *e = *state;
    hale_audit_verify_report rep;
    hale_audit_proof p;
    char anchor[600], *newest;
    const char *text;
    FILE *f;

    assert_int_equal(build(e, 200, 20, 90, false), 0);
    assert_int_equal(hale_audit_prove_inclusion(e->db, 5, 0, &p, NULL), 0);
    snprintf(anchor, sizeof(anchor), "%s/anchor", e->dir);
    f = fopen(anchor, "w");
    fprintf(f, "%s\n%s\n", p.note, p.note);
    fclose(f);
    newest = strdup(p.note);
    hale_audit_proof_release(&p);
    assert_int_equal(verify(e, anchor, true, &rep), HALE_AUDIT_VERIFIED);
    assert_int_equal(rep.n_anchors, 2);
    hale_audit_verify_report_release(&rep);
    /* The head sealing a rotation (seq 90, size 91) anchored as the new key signed it too. */
    {
        hale_checkpoint cp;
        const char *sep;
        char *note, rec[2048];

        assert_int_equal(hale_audit_prove_inclusion(e->db, 0, 91, &p, NULL), 0);
        sep = strstr(p.note, "\n\n");
        assert_int_equal(hale_checkpoint_parse(p.note, (size_t)(sep - p.note) + 1, &cp, NULL), 0);
        for (unsigned k = 1; k <= 2; k++) { /* epoch 1 (the new key): fine; epoch 2: not */
            note = testlog_sign(e->log.signers[k], ORIGIN, 91, &cp.root);
            snprintf(rec, sizeof(rec), "%s\n", note);
            fixture_write(anchor, rec);
            free(note);
            assert_int_equal(verify(e, anchor, true, &rep),
                             k == 1 ? HALE_AUDIT_VERIFIED : HALE_AUDIT_TAMPERED);
            assert_int_equal(rep.n_anchors, k == 1 ? 1 : 0);
            hale_audit_verify_report_release(&rep);
        }
        hale_checkpoint_release(&cp);
        hale_audit_proof_release(&p);
    }
    /* Roll back: the anchor now lies beyond the log. */
    exec_sql(e, "DROP TRIGGER audit_leaf_no_delete; DROP TRIGGER audit_checkpoint_no_delete;"
                "DELETE FROM audit_leaf WHERE seq >= 80; DELETE FROM audit_checkpoint WHERE "
                "size > 80; UPDATE audit_frontier SET size = 80, frontier = (SELECT frontier "
                "FROM audit_checkpoint WHERE size = 80)");
    assert_int_equal(verify(e, NULL, true, &rep), HALE_AUDIT_VERIFIED);
    hale_audit_verify_report_release(&rep);
    f = fopen(anchor, "w");
    fprintf(f, "%s\n", newest);
    fclose(f);
    assert_int_equal(verify(e, anchor, true, &rep), HALE_AUDIT_TAMPERED);
    assert_int_equal(rep.check, 8);
    assert_int_equal(rep.bad_checkpoint, 200);
    hale_audit_verify_report_release(&rep);
    /* A torn last record is ignored; an anchor of another log is a usage error. */
    f = fopen(anchor, "w");
    fputs("test.example/verify\n10\n", f);
    fclose(f);
    assert_int_equal(verify(e, anchor, true, &rep), HALE_AUDIT_VERIFIED);
    assert_int_equal(rep.n_warnings, 1);
    hale_audit_verify_report_release(&rep);
    text = "other.example/x\n10\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n"
           "\xe2\x80\x94 other.example/x AAAAAAAA\n\n";
    fixture_write(anchor, text);
    assert_int_equal(verify(e, anchor, true, &rep), HALE_AUDIT_UNUSABLE);
    hale_audit_verify_report_release(&rep);
    free(newest);
}

static void test_proofs_from_database(void **state)
{
    struct env *e = *state;
    hale_audit_proof p, q;
    char *text;

    assert_int_equal(build(e, 333, 16, 0, false), 0);
    for (uint64_t i = 0; i < 333; i += 7) {
        assert_int_equal(hale_audit_prove_inclusion(e->db, i, 0, &p, NULL), 0);
        assert_int_equal(p.size, 333);
        assert_non_null(p.note);
        assert_int_equal(hale_audit_proof_format(&p, &text), 0);
        assert_int_equal(hale_audit_proof_parse(text, strlen(text), &q, NULL), 0);
        assert_int_equal(q.n_hashes, p.n_hashes);
        assert_memory_equal(q.hashes, p.hashes, p.n_hashes * sizeof(hale_hash));
        assert_string_equal(q.note, p.note);
        free(text);
        hale_audit_proof_release(&q);
        hale_audit_proof_release(&p);
    }
    assert_int_equal(hale_audit_prove_inclusion(e->db, 5, 48, &p, NULL), 0);
    assert_int_equal(p.size, 48);
    hale_audit_proof_release(&p);
    assert_int_equal(hale_audit_prove_inclusion(e->db, 5, 50, &p, NULL), HALE_ENOTFOUND);
    assert_int_equal(hale_audit_prove_inclusion(e->db, 333, 0, &p, NULL), HALE_ENOTFOUND);
    for (uint64_t s1 = 16; s1 <= 333; s1 += 16) {
        assert_int_equal(hale_audit_prove_consistency(e->db, s1, 0, &p, NULL), 0);
        assert_int_equal(p.index, s1);
        assert_int_equal(p.size, 333);
        hale_audit_proof_release(&p);
    }
    assert_int_equal(hale_audit_prove_consistency(e->db, 17, 0, &p, NULL), HALE_ENOTFOUND);
}

/* The generic path builders against merkle.h's in-memory proofs, for every small shape. */
static int mem_range(void *ud, uint64_t a, uint64_t b, hale_hash *ret)
{
    hale_merkle_root((const hale_hash *)ud + a, b - a, ret);
    return 0;
}

static void test_paths_match_reference(void **state)
{
    hale_hash leaves[70], got[HALE_MERKLE_MAX_PROOF], want[HALE_MERKLE_MAX_PROOF];

    (void)state;
    for (unsigned i = 0; i < 70; i++)
        hale_merkle_leaf_hash(&i, sizeof(i), &leaves[i]);
    for (uint64_t n = 1; n <= 70; n++) {
        for (uint64_t m = 0; m < n; m++) {
            int a = hale__audit_inclusion_path(m, n, mem_range, leaves, got, 64);
            int b = hale_merkle_inclusion_proof(leaves, n, m, want, 64);

            assert_int_equal(a, b);
            assert_memory_equal(got, want, (size_t)a * sizeof(hale_hash));
            a = hale__audit_consistency_path(m + 1, n, mem_range, leaves, got, 64);
            b = hale_merkle_consistency_proof(leaves, m + 1, n, want, 64);
            assert_int_equal(a, b);
            assert_memory_equal(got, want, (size_t)a * sizeof(hale_hash));
        }
    }
    assert_int_equal(hale__audit_inclusion_path(3, 3, mem_range, leaves, got, 64), -EINVAL);
    assert_int_equal(hale__audit_consistency_path(0, 3, mem_range, leaves, got, 64), -EINVAL);
}

static void test_body_scanner(void **state)
{
    static const char *bad[] = {
        "",
        "[]",
        "{",
        "{\"seq\":1,\"seq\":2}",
        "{\"seq\":1}x",
        "{\"a\":\"unterminated}",
        "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
        "]]}",
        "{\"s\\u0065q\":1}",
        "{\"a\":1,}",
        "{\"a\" 1}",
    };
    hale__audit_tok t[HALE__AF_COUNT];
    char out[64];
    int64_t v;
    const char *ok = " {\"v\":1,\"seq\":42,\"log\":\"a\\u00e9\\ud83d\\ude00\\n\",\"x\":{\"y\":[1,"
                     "\"}\"]},\"ts\":-5,\"requires_approval\":true} ";

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(hale__audit_body_scan(bad[i], strlen(bad[i]), t, NULL), HALE_EPARSE);
    assert_int_equal(hale__audit_body_scan(ok, strlen(ok), t, NULL), 0);
    assert_int_equal(hale__audit_tok_int(&t[HALE__AF_SEQ], &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(hale__audit_tok_int(&t[HALE__AF_TS], &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(hale__audit_tok_string(&t[HALE__AF_LOG], out, sizeof(out)), 8);
    assert_string_equal(out, "a\xc3\xa9\xf0\x9f\x98\x80\n");
    assert_int_equal(t[HALE__AF_REQUIRES_APPROVAL].type, HALE__TOK_TRUE);
    assert_int_equal(t[HALE__AF_KIND].type, HALE__TOK_NONE);
    /* A raw control character fails the member when it is read, not the scan. */
    {
        const char *b1 = "{\"log\":\"a\x01\",\"x\":\"\x02\"}",
                   *b2 = "{\"log\":\"a\\\\\",\"b\":\"\\\"\"}";

        assert_int_equal(hale__audit_body_scan(b1, strlen(b1), t, NULL), 0);
        assert_int_equal(hale__audit_tok_string(&t[HALE__AF_LOG], out, sizeof(out)), HALE_EPARSE);
        assert_int_equal(hale__audit_body_scan(b2, strlen(b2), t, NULL), 0);
        assert_int_equal(hale__audit_tok_string(&t[HALE__AF_LOG], out, sizeof(out)), 2);
        assert_string_equal(out, "a\\");
    }
    assert_int_equal(hale__audit_body_scan("{\"seq\":0123}", 12, t, NULL), 0);
    assert_int_equal(hale__audit_tok_int(&t[HALE__AF_SEQ], &v), HALE_EPARSE);
    assert_int_equal(hale__audit_body_scan("{\"seq\":99999999999999999999}", 28, t, NULL), 0);
    assert_int_equal(hale__audit_tok_int(&t[HALE__AF_SEQ], &v), HALE_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clean_log_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsealed_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key_and_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_databases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_checkpoints_is_incomplete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_intent_without_decision, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anchors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proofs_from_database, setup, teardown),
        cmocka_unit_test(test_paths_match_reference),
        cmocka_unit_test(test_body_scanner),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
