/* agent/cli/cli_audit_keys.c - `hale audit keygen` and `hale audit pubkey`: create a key pair
 * for an explicit set-up, and print the root public key auditors pin. */
#include "internal.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <unistd.h>

#include "cli/cli.h"
#include "hale/audit.h"
#include "hale/audit_signer.h"
#include "hale/store.h"
#include "util/lockfile.h"

static const char keygen_usage[] =
    "usage: hale audit keygen --out PREFIX [--origin ORIGIN]\n\n"
    "Create a new Ed25519 signing key: PREFIX.key (the secret, mode 0600) and PREFIX.pub (the\n"
    "public key, printed on stdout). Refuses to overwrite either file. The key name is the\n"
    "log's origin, aiops.<org>/<controller-instance-id>; default aiops.local/<hostname>.\n"
    "To use the pair, place it as data_dir/audit.key and data_dir/audit.pub before the first\n"
    "`hale run`, and give auditors PREFIX.pub.\n";

static const char pubkey_usage[] =
    "usage: hale audit pubkey [--config FILE | --data-dir DIR]\n\n"
    "Print the log's root public key (data_dir/audit.pub), the key auditors pin for\n"
    "`hale audit verify --pubkey`. It never changes, also not after key rotations.\n";

static const char rotate_usage[] =
    "usage: hale audit rotate-key [--config FILE | --data-dir DIR]\n\n"
    "Start a new signing key epoch now: seal the log with the current key, record the new\n"
    "public key in a key_rotation leaf sealed by the old key, then erase the old secret. The\n"
    "daemon does this at every start and every audit_rotate_interval_s; this command is for an\n"
    "immediate rotation (after a suspected key exposure) while hale is stopped.\n";

/* data_dir from --data-dir, else from --config (or the default config) into out. */
static int resolve_data_dir(const char *cmd, const char *usage, const char *config,
                            const char *data_dir, char *out, size_t cap)
{
    hale_config *cfg = NULL;

    if (config && data_dir) {
        fprintf(stderr, "hale %s: give --config or --data-dir, not both\n%s", cmd, usage);
        return HALE_EXIT_USAGE;
    }
    if (data_dir) {
        snprintf(out, cap, "%s", data_dir);
        return 0;
    }
    if (hale_cli_load_config(config, &cfg, NULL) < 0)
        return HALE_EXIT_USAGE;
    snprintf(out, cap, "%s", cfg->data_dir);
    hale_config_unref(cfg);
    return 0;
}

/* aiops.local/<hostname>: a valid key name as long as the host name is one. */
static int default_origin(char *out, size_t cap)
{
    char host[256] = {0};

    if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
        snprintf(host, sizeof(host), "localhost");
    if ((size_t)snprintf(out, cap, "aiops.local/%s", host) >= cap)
        return -ENAMETOOLONG;
    return 0;
}

int hale_cmd_audit_keygen(int argc, char **argv)
{
    const char *out = NULL, *origin = NULL;
    const hale_cli_opt opts[] = {
        {"--out", true, &out, NULL},
        {"--origin", true, &origin, NULL},
        {NULL, false, NULL, NULL},
    };
    char def[HALE_NOTE_MAX_NAME_BYTES + 1], vkey[HALE_NOTE_VKEY_MAX_BYTES];
    hale_diag diag = {{0}};
    hale_note_verifier pub;
    int r;

    r = hale_cli_parse(argc, argv, opts, keygen_usage, NULL, 0, NULL);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (!out || !*out) {
        fprintf(stderr, "hale audit keygen: --out PREFIX is required\n%s", keygen_usage);
        return HALE_EXIT_USAGE;
    }
    if (!origin) {
        if (default_origin(def, sizeof(def)) < 0) {
            fprintf(stderr, "hale audit keygen: the host name is too long: pass --origin\n");
            return HALE_EXIT_USAGE;
        }
        origin = def;
    }
    r = hale_audit_keygen(out, origin, &pub, &diag);
    if (r < 0) {
        fprintf(stderr, "hale audit keygen: %s\n", diag.msg[0] ? diag.msg : hale_strerror(r));
        return r == HALE_EPARSE ? HALE_EXIT_USAGE : HALE_EXIT_FAILURE;
    }
    if (hale_note_verifier_format(&pub, vkey, sizeof(vkey)) < 0)
        return HALE_EXIT_FAILURE;
    fprintf(stderr, "wrote %s.key (secret, mode 0600) and %s.pub\n", out, out);
    printf("%s\n", vkey);
    return HALE_EXIT_OK;
}

int hale_cmd_audit_pubkey(int argc, char **argv)
{
    const char *config = NULL, *data_dir = NULL;
    const hale_cli_opt opts[] = {
        {"--config", true, &config, NULL},
        {"--data-dir", true, &data_dir, NULL},
        {NULL, false, NULL, NULL},
    };
    char path[4200], dir[4096], vkey[HALE_NOTE_VKEY_MAX_BYTES];
    hale_diag diag = {{0}};
    hale_note_verifier pub;
    int r;

    r = hale_cli_parse(argc, argv, opts, pubkey_usage, NULL, 0, NULL);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if ((r = resolve_data_dir("audit pubkey", pubkey_usage, config, data_dir, dir, sizeof(dir))) !=
        0)
        return r;
    snprintf(path, sizeof(path), "%s/%s", dir, HALE_AUDIT_PUB_FILE);
    r = hale_audit_pub_load(path, &pub, &diag);
    if (r < 0) {
        fprintf(stderr, "hale audit pubkey: %s%s\n", diag.msg,
                r == -ENOENT ? " (has `hale run` started with this data_dir?)" : "");
        return HALE_EXIT_FAILURE;
    }
    if (hale_note_verifier_format(&pub, vkey, sizeof(vkey)) < 0)
        return HALE_EXIT_FAILURE;
    printf("%s\n", vkey);
    return HALE_EXIT_OK;
}

/* The origin the log in db recorded at its first start. */
static int stored_origin(hale_store *s, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    int r = -ENOENT;

    if (sqlite3_prepare_v2(hale_store_sqlite(s),
                           "SELECT value FROM audit_meta WHERE name = "
                           "'origin'",
                           -1, &st, NULL) != SQLITE_OK)
        return HALE_ESTORE;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        r = 0;
    }
    sqlite3_finalize(st);
    return r;
}

static int rotate_in(const char *dir, hale_diag *diag)
{
    char path[4200], origin[HALE_AUDIT_MAX_ORIGIN + 1];
    hale_store_opts o = {.path = path, .sync = HALE_STORE_SYNC_FULL};
    hale_audit_signer *signer = NULL;
    hale_note_verifier root, now;
    hale_store *s = NULL;
    hale_audit *a = NULL;
    uint64_t epoch = 0;
    bool pending = false;
    int r;

    snprintf(path, sizeof(path), "%s/%s", dir, HALE_AUDIT_PUB_FILE);
    r = hale_audit_pub_load(path, &root, diag);
    snprintf(path, sizeof(path), "%s/%s", dir, HALE_STORE_FILE);
    if (r == 0 && access(path, F_OK) != 0) {
        hale_diag_set(diag, "no store at '%s'", path);
        r = -ENOENT;
    }
    if (r == 0)
        r = hale_store_open(&o, &s, diag);
    if (r == 0 && (r = stored_origin(s, origin, sizeof(origin))) < 0)
        hale_diag_set(diag, "'%s' holds no audit log yet", path);
    if (r == 0)
        r = hale_audit_open(s, origin, &a, diag);
    if (r == 0)
        r = hale_audit_signer_start(dir, origin, NULL, &signer, diag);
    if (r == 0)
        r = hale_audit_resume(a, signer, &root, &epoch, diag);
    if (r == 0)
        r = hale_audit_rotate(a, signer, &epoch, &pending, diag);
    if (r == 0) {
        hale_audit_signer_verifier(signer, &now);
        printf("signing key epoch %" PRIu64 ", key id %08" PRIx32 "\n", epoch, now.key_id);
    } else if (pending) {
        hale_diag_prefix(diag, "the rotation is recorded but the key switch failed (the next "
                               "start of hale completes it)");
    }
    if (signer && hale_audit_signer_stop(signer, r == 0 ? diag : NULL) < 0 && r == 0)
        r = -ECHILD;
    hale_audit_free(a);
    hale_store_free(s);
    return r;
}

int hale_cmd_audit_rotate_key(int argc, char **argv)
{
    const char *config = NULL, *data_dir = NULL;
    const hale_cli_opt opts[] = {
        {"--config", true, &config, NULL},
        {"--data-dir", true, &data_dir, NULL},
        {NULL, false, NULL, NULL},
    };
    char dir[4096], lock[4200];
    hale_diag diag = {{0}};
    pid_t holder = 0;
    int r, fd = -1;

    r = hale_cli_parse(argc, argv, opts, rotate_usage, NULL, 0, NULL);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if ((r = resolve_data_dir("audit rotate-key", rotate_usage, config, data_dir, dir,
                              sizeof(dir))) != 0)
        return r;
    snprintf(lock, sizeof(lock), "%s/hale.lock", dir);
    r = hale_lockfile_acquire(lock, &fd, &holder);
    if (r < 0) {
        if (r == -EBUSY)
            fprintf(stderr,
                    "hale audit rotate-key: hale (pid %ld) is running on '%s': stop it "
                    "first (it rotates at every start anyway)\n",
                    (long)holder, dir);
        else
            fprintf(stderr, "hale audit rotate-key: cannot lock '%s': %s\n", lock, strerror(-r));
        return HALE_EXIT_FAILURE;
    }
    r = rotate_in(dir, &diag);
    close(fd);
    if (r < 0) {
        fprintf(stderr, "hale audit rotate-key: %s\n", diag.msg[0] ? diag.msg : hale_strerror(r));
        return HALE_EXIT_FAILURE;
    }
    return HALE_EXIT_OK;
}
