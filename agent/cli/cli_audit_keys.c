/* agent/cli/cli_audit_keys.c - `hale audit keygen` and `hale audit pubkey`: create a key pair
 * for an explicit set-up, and print the root public key auditors pin. */
#include "internal.h"

#include <unistd.h>

#include "cli/cli.h"
#include "hale/audit.h"
#include "hale/audit_signer.h"

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
    char path[4096], vkey[HALE_NOTE_VKEY_MAX_BYTES];
    hale_diag diag = {{0}};
    hale_config *cfg = NULL;
    hale_note_verifier pub;
    int r;

    r = hale_cli_parse(argc, argv, opts, pubkey_usage, NULL, 0, NULL);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (config && data_dir) {
        fprintf(stderr, "hale audit pubkey: give --config or --data-dir, not both\n%s",
                pubkey_usage);
        return HALE_EXIT_USAGE;
    }
    if (!data_dir) {
        if (hale_cli_load_config(config, &cfg, NULL) < 0)
            return HALE_EXIT_USAGE;
        snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, HALE_AUDIT_PUB_FILE);
        hale_config_unref(cfg);
    } else {
        snprintf(path, sizeof(path), "%s/%s", data_dir, HALE_AUDIT_PUB_FILE);
    }
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
