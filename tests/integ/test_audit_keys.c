/* tests/integ/test_audit_keys.c - `hale audit keygen` and `hale audit pubkey` as a user runs
 * them: exit codes, what goes to stdout, refusing to overwrite, and the hidden signer command
 * refusing to run without its socket. */
#include "fixture.h"

#include <sys/stat.h>
#include <unistd.h>

#include "hale/note.h"
#include "integ_proc.h"

#define ORIGIN "example.com/integ"

static int setup(void **state)
{
    integ_hale *h = calloc(1, sizeof(*h));

    if (!h || integ_hale_init(h, "audit-keys") < 0 || integ_hale_write_config(h, NULL) < 0 ||
        mkdir(h->data_dir, 0700) < 0)
        return -1;
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    integ_hale_release(*state);
    free(*state);
    return 0;
}

static int cli(integ_hale *h, const char *const *args, char **out, char **err)
{
    free(*out);
    free(*err);
    *out = *err = NULL;
    return integ_hale_cli(h, args, out, err);
}

static void keygen_then_pubkey(void **state)
{
    integ_hale *h = *state;
    char prefix[4200], key[4300], *out = NULL, *err = NULL, *pub;
    hale_note_verifier v;
    struct stat st;

    snprintf(prefix, sizeof(prefix), "%s/audit", h->data_dir);
    snprintf(key, sizeof(key), "%s.key", prefix);
    {
        const char *args[] = {"audit", "keygen", "--out", prefix, "--origin", ORIGIN, NULL};

        assert_int_equal(cli(h, args, &out, &err), 0);
        out[strcspn(out, "\n")] = '\0';
        assert_int_equal(hale_note_verifier_parse(out, &v), 0);
        assert_string_equal(v.name, ORIGIN);
        pub = strdup(out);
        assert_int_equal(stat(key, &st), 0);
        assert_int_equal(st.st_mode & 077, 0);
        /* Again: refused, and the key is untouched. */
        assert_int_equal(cli(h, args, &out, &err), 1);
        assert_non_null(strstr(err, "refusing to overwrite"));
    }
    {
        const char *by_dir[] = {"audit", "pubkey", "--data-dir", h->data_dir, NULL};
        const char *by_config[] = {"audit", "pubkey", "--config", h->config_path, NULL};

        assert_int_equal(cli(h, by_dir, &out, &err), 0);
        assert_int_equal(strncmp(out, pub, strlen(pub)), 0);
        assert_int_equal(cli(h, by_config, &out, &err), 0);
        assert_int_equal(strncmp(out, pub, strlen(pub)), 0);
    }
    free(pub);
    free(out);
    free(err);
}

static void usage_errors(void **state)
{
    integ_hale *h = *state;
    char *out = NULL, *err = NULL;
    const char *none[] = {"audit", NULL};
    const char *unknown[] = {"audit", "frobnicate", NULL};
    const char *no_out[] = {"audit", "keygen", NULL};
    const char *bad_origin[] = {"audit", "keygen", "--out", "/tmp/x", "--origin", "a b", NULL};
    const char *both[] = {"audit", "pubkey", "--data-dir", "/", "--config", "/x", NULL};
    const char *missing[] = {"audit", "pubkey", "--data-dir", h->dir, NULL};
    const char *help[] = {"help", NULL};
    const char *signer[] = {"__audit-signer", h->data_dir, ORIGIN, NULL};
    const char *sub_help[] = {"audit", "keygen", "--help", NULL};

    assert_int_equal(cli(h, none, &out, &err), 2);
    assert_int_equal(cli(h, unknown, &out, &err), 2);
    assert_non_null(strstr(err, "unknown subcommand 'frobnicate'"));
    assert_int_equal(cli(h, no_out, &out, &err), 2);
    assert_non_null(strstr(err, "--out PREFIX is required"));
    assert_int_equal(cli(h, bad_origin, &out, &err), 2);
    assert_non_null(strstr(err, "not valid"));
    assert_int_equal(cli(h, both, &out, &err), 2);
    assert_int_equal(cli(h, missing, &out, &err), 1);
    assert_non_null(strstr(err, "has `hale run` started"));
    assert_int_equal(cli(h, sub_help, &out, &err), 0);
    assert_non_null(strstr(out, "usage: hale audit keygen"));
    assert_int_equal(cli(h, help, &out, &err), 0);
    assert_non_null(strstr(out, "audit"));
    assert_null(strstr(out, "__audit-signer"));
    /* Started by a person, without the socket on fd 3: refuses. */
    assert_int_equal(cli(h, signer, &out, &err), 2);
    assert_non_null(strstr(err, "the daemon starts this"));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(keygen_then_pubkey, setup, teardown),
        cmocka_unit_test_setup_teardown(usage_errors, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
