/* agent/cli/cli_audit_bundle.c - `hale audit export --incident ID --out FILE` writes an
 * incident's evidence bundle; `hale audit verify-bundle FILE --pubkey FILE` checks one with no
 * database (docs/audit-query.md, "Evidence bundles"). */
#include "internal.h"

#include <fcntl.h>
#include <unistd.h>

#include "cli/cli.h"
#include "hale/audit.h"
#include "hale/audit_query.h"
#include "hale/note.h"
#include "hale/store.h"
#include "util/strparse.h"

#define VERIFY_TAMPER 1 /* verify-bundle: the bundle does not verify */
#define VERIFY_USAGE  3 /* verify-bundle: usage or I/O error (the verifiers' convention) */

static const char export_usage[] =
    "usage: hale audit export --incident ID --out FILE [--db FILE | --config FILE]\n\n"
    "Write the evidence bundle of an incident: its leaves (exact bytes), an inclusion proof of\n"
    "each against the newest signed checkpoint, that checkpoint, and the key chain (the root\n"
    "key from audit.pub beside the database, and every key_rotation leaf with its proof).\n"
    "FILE must not exist. Check it anywhere with `hale audit verify-bundle`.\n"
    "Exit status: 0 ok, 1 failure (no such incident, not sealed yet, I/O), 2 usage.\n";

static const char verify_usage[] =
    "usage: hale audit verify-bundle FILE --pubkey FILE [--json]\n\n"
    "Check an evidence bundle with no database: leaf bytes against their inclusion proofs, the\n"
    "proofs against the checkpoint, the key chain from the pinned root key (--pubkey, the\n"
    "log's audit.pub obtained out of band) and the checkpoint's signature by the key of its\n"
    "epoch. Exit status: 0 verified, 1 tamper evidence, 3 usage or I/O error.\n";

/* Trailing newlines and spaces of a key file's text off. */
static void trim(char *text, size_t *len)
{
    while (*len && (text[*len - 1] == '\n' || text[*len - 1] == ' '))
        text[--*len] = '\0';
}

/* The root key text from DIR/audit.pub, or NULL when there is none (the bundle then carries no
 * root key: the verifier's pinned key is the root anyway). */
static char *root_key(const char *dir)
{
    char path[4200], *text = NULL;
    size_t len = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, HALE_AUDIT_PUB_FILE);
    if (access(path, R_OK) != 0 ||
        hale_cli_read_file("export", path, HALE_NOTE_VKEY_MAX_BYTES + 16, &text, &len) < 0)
        return NULL;
    trim(text, &len);
    return text;
}

static int write_new(const char *path, const char *text)
{
    size_t len = strlen(text), off = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644), r = 0;

    if (fd < 0)
        return -errno;
    while (r == 0 && off < len) {
        ssize_t n = write(fd, text + off, len - off);

        if (n < 0 && errno != EINTR)
            r = -errno;
        if (n > 0)
            off += (size_t)n;
    }
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r < 0)
        (void)unlink(path);
    return r;
}

static int export_to(hale_store *s, int64_t incident, const char *dir, const char *out)
{
    hale_diag d = {{0}};
    char *key = root_key(dir), *text = NULL;
    json_t *bundle = NULL;
    int r;

    r = hale_audit_bundle_export(s, incident, key, &bundle, &d);
    if (r == 0) {
        text = json_dumps(bundle, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        r = text ? write_new(out, text) : -ENOMEM;
        if (r < 0)
            snprintf(d.msg, sizeof(d.msg), "cannot write '%s': %s", out, hale_strerror(r));
    }
    if (r == 0)
        printf("wrote %s: incident %lld, %zu leaves, %zu key rotations%s\n", out,
               (long long)incident, json_array_size(json_object_get(bundle, "leaves")),
               json_array_size(json_object_get(bundle, "key_rotations")),
               key ? "" : " (no audit.pub found: the bundle carries no root key)");
    else
        fprintf(stderr, "hale audit export: %s\n", d.msg[0] ? d.msg : hale_strerror(r));
    free(text);
    free(key);
    json_decref(bundle);
    return r < 0 ? HALE_EXIT_FAILURE : HALE_EXIT_OK;
}

int hale_cmd_audit_export(int argc, char **argv)
{
    const char *db = NULL, *config = NULL, *incident = NULL, *out = NULL;
    hale_cli_opt opts[] = {{"--db", true, &db, NULL},
                           {"--config", true, &config, NULL},
                           {"--incident", true, &incident, NULL},
                           {"--out", true, &out, NULL},
                           {NULL, false, NULL, NULL}};
    hale_store *s = NULL;
    int64_t id = 0;
    char dir[4096];
    int r;

    r = hale_cli_parse(argc, argv, opts, export_usage, NULL, 0, NULL);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (!incident || !out || hale_parse_i64(incident, &id) < 0 || id <= 0) {
        fprintf(stderr, "hale audit export: expected --incident ID (positive) and --out FILE\n%s",
                export_usage);
        return HALE_EXIT_USAGE;
    }
    r = hale_cli_audit_open("export", db, config, &s, dir, sizeof(dir));
    if (r != 0)
        return r;
    r = export_to(s, id, dir, out);
    hale_store_free(s);
    return r;
}

static int report(int r, const hale_audit_bundle_info *info, const hale_diag *d, bool as_json)
{
    if (as_json) {
        json_t *o = r == 0
                        ? json_pack("{s:b,s:I,s:I,s:I,s:I,s:I}", "verified", 1, "incident_id",
                                    (json_int_t)info->incident_id, "checkpoint_size",
                                    (json_int_t)info->checkpoint_size, "epoch",
                                    (json_int_t)info->epoch, "leaves", (json_int_t)info->n_leaves,
                                    "key_rotations", (json_int_t)info->n_rotations)
                        : json_pack("{s:b,s:s}", "verified", 0, "error", d->msg);

        if (o)
            (void)json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(o);
    } else if (r == 0) {
        printf("bundle verified: incident %lld, %zu leaves and %zu key rotations included in the "
               "checkpoint of size %llu, signed by the key of epoch %u\n",
               (long long)info->incident_id, info->n_leaves, info->n_rotations,
               (unsigned long long)info->checkpoint_size, info->epoch);
    } else {
        fprintf(stderr, "hale audit verify-bundle: TAMPER EVIDENCE: %s\n", d->msg);
    }
    return r == 0 ? HALE_EXIT_OK : VERIFY_TAMPER;
}

int hale_cmd_audit_verify_bundle(int argc, char **argv)
{
    const char *pubkey = NULL, *pos[1] = {NULL};
    bool as_json = false;
    hale_cli_opt opts[] = {{"--pubkey", true, &pubkey, NULL},
                           {"--json", false, NULL, &as_json},
                           {NULL, false, NULL, NULL}};
    hale_audit_bundle_info info = {0};
    char *bundle = NULL, *key = NULL;
    size_t bundle_len = 0, key_len = 0;
    hale_diag d = {{0}};
    int n = 0, r;

    r = hale_cli_parse(argc, argv, opts, verify_usage, pos, 1, &n);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : VERIFY_USAGE;
    if (n != 1 || !pubkey) {
        fprintf(stderr, "hale audit verify-bundle: expected FILE and --pubkey FILE\n%s",
                verify_usage);
        return VERIFY_USAGE;
    }
    /* Both read whole, each under its ceiling; hale_cli_read_file says what went wrong. */
    r = hale_cli_read_file("verify-bundle", pubkey, HALE_NOTE_VKEY_MAX_BYTES + 16, &key, &key_len);
    if (r == 0)
        r = hale_cli_read_file("verify-bundle", pos[0], HALE_AUDIT_BUNDLE_MAX_BYTES, &bundle,
                               &bundle_len);
    if (r == 0) {
        trim(key, &key_len);
        r = hale_audit_bundle_verify(bundle, bundle_len, key, &info, &d);
        if (r == -EINVAL)
            fprintf(stderr, "hale audit verify-bundle: %s: %s\n", pubkey, d.msg);
        else if (r == -ENOMEM)
            fprintf(stderr, "hale audit verify-bundle: out of memory\n");
    }
    free(bundle);
    free(key);
    if (r < 0 && r != HALE_EPROOF)
        return VERIFY_USAGE;
    return report(r, &info, &d, as_json);
}
