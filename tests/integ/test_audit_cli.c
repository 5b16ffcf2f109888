/* tests/integ/test_audit_cli.c - the auditor's commands end to end with the real binary:
 * `hale audit verify --json` (the key chain it reports), `prove` and `verify-inclusion`,
 * `consistency` and `verify-consistency`, and their exit codes for proofs that must fail and
 * for usage errors. */
#include "fixture.h"

#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>

#include "audit_testlog.h"
#include "integ_proc.h"

#define ORIGIN "aiops.example/cli-test"

struct env {
    char *dir;
    char db[4096], pub[4096], keys[4096], proof[4096], cp[4096], cp2[4096], leaf[4096];
    testlog log;
};

/* Run `hale audit ARGS...` (args NULL-terminated); stdout into *out when out is non-NULL. */
static int run(struct env *e, char **out, const char *const *args)
{
    const char *argv[24] = {HALE_BINARY, "audit"};
    char *err = NULL;
    size_t n = 2;
    int r;

    for (; *args && n + 1 < sizeof(argv) / sizeof(argv[0]); args++)
        argv[n++] = *args;
    argv[n] = NULL;
    r = integ_run(e->dir, argv, NULL, 60000, out, &err);
    if (getenv("HALE_TEST_VERBOSE") && err)
        fprintf(stderr, "%s", err);
    free(err);
    return r;
}

#define H(e, out, ...) run(e, out, (const char *const[]){__VA_ARGS__, NULL})

static void save_json_string(const char *text, const char *member, const char *path)
{
    json_t *o = json_loads(text, 0, NULL);

    assert_non_null(o);
    assert_int_equal(fixture_write(path, json_string_value(json_object_get(o, member))), 0);
    json_decref(o);
}

static void save_leaf(struct env *e, uint64_t seq, bool alter)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    FILE *f;

    assert_int_equal(sqlite3_open_v2(e->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_prepare_v2(db, "SELECT body FROM audit_leaf WHERE seq = ?1", -1, &st, NULL);
    sqlite3_bind_int64(st, 1, (int64_t)seq);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    f = fopen(e->leaf, "wb");
    assert_non_null(f);
    fwrite(sqlite3_column_blob(st, 0), 1, (size_t)sqlite3_column_bytes(st, 0), f);
    if (alter)
        fputc(' ', f);
    fclose(f);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_audit_commands(void **state)
{
    struct env *e = *state;
    testlog_opts o = {.db_path = e->db,
                      .origin = ORIGIN,
                      .n_leaves = 600,
                      .batch = 23,
                      .rotate_every = 250,
                      .seed = 3};
    char *out = NULL, keys_text[4096] = "";
    json_t *rep, *k;
    size_t i;

    assert_int_equal(testlog_build(&o, &e->log), 0);
    assert_int_equal(testlog_write_key(e->pub, e->log.root_vkey), 0);

    /* verify --json: verified, with the key of each of the three epochs. */
    assert_int_equal(H(e, &out, "verify", "--db", e->db, "--pubkey", e->pub, "--json"), 0);
    rep = json_loads(out, 0, NULL);
    assert_non_null(rep);
    assert_int_equal(json_integer_value(json_object_get(rep, "status")), 0);
    assert_int_equal(json_integer_value(json_object_get(rep, "leaves")), 600);
    assert_int_equal(json_array_size(json_object_get(rep, "keys")), 3);
    json_array_foreach(json_object_get(rep, "keys"), i, k)
    {
        size_t len = strlen(keys_text);

        snprintf(keys_text + len, sizeof(keys_text) - len, "%s\n", json_string_value(k));
    }
    json_decref(rep);
    free(out);
    assert_int_equal(fixture_write(e->keys, keys_text), 0);

    /* prove + verify-inclusion. */
    assert_int_equal(H(e, &out, "prove", "321", "--db", e->db), 0);
    assert_int_equal(fixture_write(e->proof, out), 0);
    save_json_string(out, "checkpoint", e->cp);
    free(out);
    save_leaf(e, 321, false);
    assert_int_equal(H(e, NULL, "verify-inclusion", "--index", "321", "--checkpoint", e->cp,
                       "--pubkey", e->keys, "--leaf", e->leaf, "--proof", e->proof),
                     0);
    /* The wrong index, an altered record, a key file without the checkpoint's epoch key. */
    assert_int_equal(H(e, NULL, "verify-inclusion", "--index", "322", "--checkpoint", e->cp,
                       "--pubkey", e->keys, "--leaf", e->leaf, "--proof", e->proof),
                     1);
    save_leaf(e, 321, true);
    assert_int_equal(H(e, NULL, "verify-inclusion", "--index", "321", "--checkpoint", e->cp,
                       "--pubkey", e->keys, "--leaf", e->leaf, "--proof", e->proof),
                     1);
    save_leaf(e, 321, false);
    assert_int_equal(H(e, NULL, "verify-inclusion", "--index", "321", "--checkpoint", e->cp,
                       "--pubkey", e->pub, "--leaf", e->leaf, "--proof", e->proof),
                     1);
    assert_int_equal(H(e, NULL, "verify-inclusion", "--index", "321", "--checkpoint", e->cp,
                       "--pubkey", e->keys, "--proof", e->proof),
                     3);

    /* consistency + verify-consistency, and the two heads swapped. */
    assert_int_equal(H(e, &out, "consistency", "--from", "46", "--db", e->db), 0);
    assert_int_equal(fixture_write(e->proof, out), 0);
    save_json_string(out, "checkpoint1", e->cp);
    save_json_string(out, "checkpoint2", e->cp2);
    free(out);
    assert_int_equal(H(e, NULL, "verify-consistency", "--checkpoint", e->cp, "--checkpoint", e->cp2,
                       "--pubkey", e->keys, "--proof", e->proof),
                     0);
    assert_int_equal(H(e, NULL, "verify-consistency", "--checkpoint", e->cp2, "--checkpoint", e->cp,
                       "--pubkey", e->keys, "--proof", e->proof),
                     1);
    assert_int_equal(H(e, NULL, "consistency", "--from", "47", "--db", e->db), 1);

    /* Usage and I/O errors. */
    assert_int_equal(H(e, NULL, "verify", "--db", e->db), 3);
    assert_int_equal(H(e, NULL, "verify", "--db", "/nonexistent/hale.db", "--pubkey", e->pub), 3);
    assert_int_equal(
        H(e, NULL, "verify", "--db", e->db, "--pubkey", e->pub, "--anchor", "/nonexistent/anchor"),
        3);
    assert_int_equal(H(e, NULL, "verify", "--db", e->db, "--pubkey", e->db), 3);
    assert_int_equal(H(e, NULL, "prove", "--db", e->db), 2);
    assert_int_equal(H(e, NULL, "prove", "600", "--db", e->db), 1);
    assert_int_equal(H(e, NULL, "verify", "--help"), 0);
    assert_int_equal(H(e, NULL, "nosuch"), 2);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));

    e->dir = fixture_tmpdir("audit-cli");
    assert_non_null(e->dir);
    snprintf(e->db, sizeof(e->db), "%s/hale.db", e->dir);
    snprintf(e->pub, sizeof(e->pub), "%s/audit.pub", e->dir);
    snprintf(e->keys, sizeof(e->keys), "%s/epoch-keys", e->dir);
    snprintf(e->proof, sizeof(e->proof), "%s/proof.json", e->dir);
    snprintf(e->cp, sizeof(e->cp), "%s/a.note", e->dir);
    snprintf(e->cp2, sizeof(e->cp2), "%s/b.note", e->dir);
    snprintf(e->leaf, sizeof(e->leaf), "%s/leaf.json", e->dir);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_audit_commands, setup, teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
