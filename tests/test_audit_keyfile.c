/* tests/test_audit_keyfile.c - agent/audit/keyfile.c: creating key pairs without overwriting,
 * loading them with the permission check, and the daemon's first-start set-up of
 * data_dir/audit.key and audit.pub (include/hale/audit_signer.h). */
#include "fixture.h"

#include <errno.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hale/audit_signer.h"
#include "hale/err.h"

#define ORIGIN "example.com/log"

static char *path_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);

    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static mode_t mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static void keygen_writes_a_pair_that_loads(void **state)
{
    char *dir = fixture_tmpdir("keyfile"), *prefix, *key, *pub, *text;
    hale_note_verifier v, loaded;
    hale_note_signer *s = NULL;
    hale_diag d = {{0}};
    char vkey[HALE_NOTE_VKEY_MAX_BYTES];

    (void)state;
    prefix = path_in(dir, "k");
    key = path_in(dir, "k.key");
    pub = path_in(dir, "k.pub");
    assert_int_equal(hale_audit_keygen(prefix, ORIGIN, &v, &d), 0);
    assert_string_equal(v.name, ORIGIN);
    assert_int_equal(mode_of(key) & 077, 0);
    text = fixture_read(pub, NULL);
    assert_non_null(text);
    assert_true(hale_note_verifier_format(&v, vkey, sizeof(vkey)) > 0);
    assert_int_equal(strncmp(text, vkey, strlen(vkey)), 0);
    assert_string_equal(text + strlen(vkey), "\n");
    free(text);
    text = fixture_read(key, NULL);
    assert_int_equal(strncmp(text, "PRIVATE+KEY+" ORIGIN "+", strlen("PRIVATE+KEY+" ORIGIN "+")),
                     0);
    free(text);

    assert_int_equal(hale_audit_key_load(key, &s, &d), 0);
    assert_memory_equal(hale_note_signer_verifier(s)->pk, v.pk, sizeof(v.pk));
    hale_note_signer_free(s);
    assert_int_equal(hale_audit_pub_load(pub, &loaded, &d), 0);
    assert_memory_equal(loaded.pk, v.pk, sizeof(v.pk));
    assert_int_equal(loaded.key_id, v.key_id);

    fixture_rmtree(dir);
    free(dir);
    free(prefix);
    free(key);
    free(pub);
}

static void keygen_refuses_to_overwrite(void **state)
{
    char *dir = fixture_tmpdir("keyfile"), *prefix = path_in(dir, "k"),
         *pub = path_in(dir, "k.pub");
    char *key = path_in(dir, "k.key"), *before;
    hale_diag d = {{0}};

    (void)state;
    assert_int_equal(hale_audit_keygen(prefix, ORIGIN, NULL, &d), 0);
    before = fixture_read(key, NULL);
    assert_int_equal(hale_audit_keygen(prefix, ORIGIN, NULL, &d), -EEXIST);
    assert_non_null(strstr(d.msg, "refusing to overwrite"));
    /* Only the public half present: still nothing written. */
    assert_int_equal(unlink(key), 0);
    assert_int_equal(hale_audit_keygen(prefix, ORIGIN, NULL, &d), -EEXIST);
    assert_int_equal(access(key, F_OK), -1);
    assert_int_equal(hale_audit_keygen(prefix, "bad name", NULL, &d), HALE_EPARSE);
    free(before);
    fixture_rmtree(dir);
    free(dir);
    free(prefix);
    free(pub);
    free(key);
}

static void secret_with_open_permissions_is_refused(void **state)
{
    char *dir = fixture_tmpdir("keyfile"), *prefix = path_in(dir, "k"),
         *key = path_in(dir, "k.key");
    hale_note_signer *s = NULL;
    hale_diag d = {{0}};

    (void)state;
    assert_int_equal(hale_audit_keygen(prefix, ORIGIN, NULL, &d), 0);
    assert_int_equal(chmod(key, 0640), 0);
    assert_int_equal(hale_audit_key_load(key, &s, &d), HALE_ECONFIG);
    assert_null(s);
    assert_non_null(strstr(d.msg, "0640 are too open"));
    assert_int_equal(chmod(key, 0604), 0);
    assert_int_equal(hale_audit_key_load(key, &s, &d), HALE_ECONFIG);
    assert_int_equal(chmod(key, 0400), 0);
    assert_int_equal(hale_audit_key_load(key, &s, &d), 0);
    hale_note_signer_free(s);
    s = NULL;
    /* Not a key at all; and a key text with trailing garbage. */
    assert_int_equal(chmod(key, 0600), 0);
    assert_int_equal(fixture_write(key, "hello\n"), 0);
    assert_int_equal(hale_audit_key_load(key, &s, &d), HALE_EPARSE);
    assert_non_null(strstr(d.msg, "not a secret key"));
    assert_int_equal(hale_audit_key_load("/nonexistent/k.key", &s, &d), -ENOENT);
    fixture_rmtree(dir);
    free(dir);
    free(prefix);
    free(key);
}

static void keys_ensure_creates_once_and_checks(void **state)
{
    char *dir = fixture_tmpdir("keyfile"), *key = path_in(dir, "audit.key");
    char *pub = path_in(dir, "audit.pub"), *saved;
    hale_note_verifier v1, v2;
    hale_diag d = {{0}};
    bool created = false;

    (void)state;
    assert_int_equal(hale_audit_keys_ensure(dir, ORIGIN, &created, &v1, &d), 0);
    assert_true(created);
    assert_int_equal(mode_of(key) & 077, 0);
    assert_int_equal(hale_audit_keys_ensure(dir, ORIGIN, &created, &v2, &d), 0);
    assert_false(created);
    assert_memory_equal(v1.pk, v2.pk, sizeof(v1.pk));
    assert_int_equal(hale_audit_keys_ensure(dir, "example.com/other", &created, NULL, &d),
                     HALE_ECONFIG);
    assert_non_null(strstr(d.msg, "example.com/other"));

    /* audit.pub without audit.key: an error, never a silent new key. */
    saved = fixture_read(key, NULL);
    assert_int_equal(unlink(key), 0);
    assert_int_equal(hale_audit_keys_ensure(dir, ORIGIN, &created, NULL, &d), HALE_ECONFIG);
    assert_non_null(strstr(d.msg, "audit.key is missing"));
    assert_int_equal(access(key, F_OK), -1);
    /* audit.key without audit.pub: the root key cannot be made up again. */
    assert_int_equal(fixture_write(key, saved), 0);
    assert_int_equal(chmod(key, 0600), 0);
    assert_int_equal(unlink(pub), 0);
    assert_int_equal(hale_audit_keys_ensure(dir, ORIGIN, &created, NULL, &d), HALE_ECONFIG);
    assert_non_null(strstr(d.msg, "audit.pub"));
    assert_int_equal(access(pub, F_OK), -1);
    /* Neither key, but the signer state of an earlier identity: no new key over it. */
    {
        char *fresh = fixture_tmpdir("keyfile"), *fresh_state = path_in(fresh, "audit.signer");

        assert_int_equal(fixture_write(fresh_state, "x"), 0);
        assert_int_equal(hale_audit_keys_ensure(fresh, ORIGIN, &created, NULL, &d), HALE_ECONFIG);
        assert_non_null(strstr(d.msg, "earlier log identity"));
        assert_int_equal(unlink(fresh_state), 0);
        assert_int_equal(hale_audit_keys_ensure(fresh, ORIGIN, &created, NULL, &d), 0);
        assert_true(created);
        fixture_rmtree(fresh);
        free(fresh);
        free(fresh_state);
    }
    /* A damaged public key. */
    assert_int_equal(fixture_write(pub, "example.com/log+00000000+AAAA\n"), 0);
    assert_int_equal(hale_audit_keys_ensure(dir, ORIGIN, &created, NULL, &d), HALE_EPARSE);
    free(saved);
    fixture_rmtree(dir);
    free(dir);
    free(key);
    free(pub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keygen_writes_a_pair_that_loads),
        cmocka_unit_test(keygen_refuses_to_overwrite),
        cmocka_unit_test(secret_with_open_permissions_is_refused),
        cmocka_unit_test(keys_ensure_creates_once_and_checks),
    };

    if (sodium_init() < 0)
        return 1;
    umask(022);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
