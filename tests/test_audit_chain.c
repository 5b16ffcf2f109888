/* tests/test_audit_chain.c - sealing with the real signer process and the key chain: heads
 * signed by the key of their epoch, a rotation sealed by the old key, a rotation a crash
 * interrupted finished at the next start, and a store that no longer extends what the signer
 * signed (rollback, fork, other key) refused. */
#include "fixture.h"

#include <errno.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>

#include "hale/audit.h"
#include "hale/audit_signer.h"
#include "hale/err.h"
#include "hale/note.h"
#include "hale/store.h"

#define ORIGIN "aiops.test/chain"

struct env {
    char *dir;
    hale_store *s;
    hale_audit *a;
    hale_audit_signer *sg;
    hale_note_verifier root;
};

static const hale_audit_signer_opts signer_opts = {.exe = HALE_BINARY};

static void open_log(struct env *e, const char *db)
{
    char path[600];
    hale_store_opts o = {.path = path, .sync = HALE_STORE_SYNC_NORMAL};
    hale_diag d = {{0}};

    snprintf(path, sizeof(path), "%s/%s", e->dir, db);
    assert_int_equal(hale_store_open(&o, &e->s, &d), 0);
    assert_int_equal(hale_audit_open(e->s, ORIGIN, &e->a, &d), 0);
    if (!e->sg)
        assert_int_equal(hale_audit_signer_start(e->dir, ORIGIN, &signer_opts, &e->sg, &d), 0);
}

static void close_log(struct env *e, bool signer_too)
{
    hale_audit_free(e->a);
    hale_store_free(e->s);
    e->a = NULL;
    e->s = NULL;
    if (signer_too) {
        assert_int_equal(hale_audit_signer_stop(e->sg, NULL), 0);
        e->sg = NULL;
    }
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));

    if (!e || sodium_init() < 0)
        return -1;
    e->dir = fixture_tmpdir("hale-chain");
    if (hale_audit_keys_ensure(e->dir, ORIGIN, NULL, &e->root, NULL) < 0)
        return -1;
    open_log(e, "hale.db");
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;

    close_log(e, e->sg != NULL);
    fixture_rmtree(e->dir);
    free(e->dir);
    free(e);
    return 0;
}

static void append_n(struct env *e, unsigned n)
{
    assert_int_equal(hale_store_begin(e->s), 0);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(hale_audit_append(e->a, "decision", NULL, 0, NULL, NULL), 0);
    assert_int_equal(hale_store_commit(e->s), 0);
}

/* The stored checkpoint of size must be signed by key (and by no other known key). */
static void assert_signed_by(struct env *e, uint64_t size, const hale_note_verifier *key)
{
    sqlite3_stmt *st;
    hale_note_opened o;

    assert_int_equal(sqlite3_prepare_v2(hale_store_sqlite(e->s),
                                        "SELECT note FROM audit_checkpoint WHERE size = ?1", -1,
                                        &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(hale_note_open((const char *)sqlite3_column_text(st, 0),
                                    (size_t)sqlite3_column_bytes(st, 0), key, 1, 0, &o, NULL),
                     1);
    hale_note_opened_release(&o);
    sqlite3_finalize(st);
}

static void rotation_is_sealed_by_the_old_key(void **state)
{
    struct env *e = *state;
    hale_note_verifier k1;
    uint64_t epoch = 9, size;
    bool pending = true;

    assert_int_equal(hale_audit_resume(e->a, e->sg, &e->root, &epoch, NULL), 0);
    assert_int_equal(epoch, 0);
    append_n(e, 5);
    assert_int_equal(hale_audit_seal(e->a, e->sg, false, NULL, NULL), 0);
    assert_signed_by(e, 5, &e->root);
    append_n(e, 3);
    assert_int_equal(hale_audit_rotate(e->a, e->sg, &epoch, &pending, NULL), 0);
    assert_false(pending);
    assert_int_equal(epoch, 1);
    hale_audit_head(e->a, &size, NULL);
    assert_int_equal(size, 9); /* the rotation leaf is seq 8, sealed at 9 by the old key */
    assert_signed_by(e, 9, &e->root);
    hale_audit_signer_verifier(e->sg, &k1);
    assert_true(k1.key_id != e->root.key_id);
    append_n(e, 2);
    assert_int_equal(hale_audit_seal(e->a, e->sg, false, NULL, NULL), 0);
    assert_signed_by(e, 11, &k1);
    /* A restart finds the chain consistent and the new epoch. */
    close_log(e, true);
    open_log(e, "hale.db");
    assert_int_equal(hale_audit_resume(e->a, e->sg, &e->root, &epoch, NULL), 0);
    assert_int_equal(epoch, 1);
}

static void interrupted_rotation_is_finished_at_start(void **state)
{
    struct env *e = *state;
    hale_note_verifier next, now;
    char vkey[HALE_NOTE_VKEY_MAX_BYTES], prev[9];
    uint64_t epoch = 0;
    json_t *p;

    append_n(e, 4);
    assert_int_equal(hale_audit_seal(e->a, e->sg, false, NULL, NULL), 0);
    /* The rotation leaf commits, then the process dies before the key switch. */
    assert_int_equal(hale_audit_signer_rotate_begin(e->sg, &next, NULL), 0);
    assert_true(hale_note_verifier_format(&next, vkey, sizeof(vkey)) > 0);
    snprintf(prev, sizeof(prev), "%08x", (unsigned)e->root.key_id);
    p = json_pack("{s:i,s:s,s:s}", "epoch", 1, "key", vkey, "prev_key_id", prev);
    assert_int_equal(hale_store_begin(e->s), 0);
    assert_int_equal(hale_audit_append(e->a, "key_rotation", p, 0, NULL, NULL), 0);
    assert_int_equal(hale_store_commit(e->s), 0);
    json_decref(p);
    close_log(e, true);

    open_log(e, "hale.db");
    assert_int_equal(hale_audit_resume(e->a, e->sg, &e->root, &epoch, NULL), 0);
    assert_int_equal(epoch, 1);
    hale_audit_signer_verifier(e->sg, &now);
    assert_int_equal(now.key_id, next.key_id);
    assert_signed_by(e, 5, &e->root); /* the rotation's seal, by the old key */
    append_n(e, 1);
    assert_int_equal(hale_audit_seal(e->a, e->sg, false, NULL, NULL), 0);
    assert_signed_by(e, 6, &next);
}

static void foreign_key_is_refused(void **state)
{
    struct env *e = *state;
    char prefix[600], from[600], to[600];
    uint64_t epoch;
    hale_diag d = {{0}};

    close_log(e, true);
    snprintf(prefix, sizeof(prefix), "%s/other", e->dir);
    assert_int_equal(hale_audit_keygen(prefix, ORIGIN, NULL, NULL), 0);
    snprintf(from, sizeof(from), "%s/other.key", e->dir);
    snprintf(to, sizeof(to), "%s/audit.key", e->dir);
    assert_int_equal(rename(from, to), 0);
    open_log(e, "hale.db");
    assert_int_equal(hale_audit_resume(e->a, e->sg, &e->root, &epoch, &d), HALE_ECONFIG);
    assert_non_null(strstr(d.msg, "is not the key of the log's epoch 0"));
}

static void rollback_and_fork_are_refused(void **state)
{
    struct env *e = *state;
    hale_diag d = {{0}};

    append_n(e, 6);
    assert_int_equal(hale_audit_seal(e->a, e->sg, false, NULL, NULL), 0);
    close_log(e, false);
    /* Another file at fewer leaves: the signer has signed further (rollback/truncation). */
    open_log(e, "rolled-back.db");
    append_n(e, 3);
    assert_int_equal(hale_audit_seal(e->a, e->sg, false, NULL, &d), HALE_EPROOF);
    assert_non_null(strstr(d.msg, "truncated or rolled back"));
    /* The same size with other leaves: a fork; a longer forked log fails its proof. */
    append_n(e, 3);
    assert_int_equal(hale_audit_seal(e->a, e->sg, false, NULL, &d), HALE_EPROOF);
    append_n(e, 4);
    assert_int_equal(hale_audit_seal(e->a, e->sg, false, NULL, &d), HALE_EPROOF);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rotation_is_sealed_by_the_old_key, setup, teardown),
        cmocka_unit_test_setup_teardown(interrupted_rotation_is_finished_at_start, setup, teardown),
        cmocka_unit_test_setup_teardown(foreign_key_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(rollback_and_fork_are_refused, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
