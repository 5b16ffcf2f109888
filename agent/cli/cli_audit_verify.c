/* agent/cli/cli_audit_verify.c - `hale audit verify`: run the offline verifier
 * (include/hale/audit_verify.h) over a database file and print its report for people or as
 * JSON; plus the helpers every `hale audit` subcommand shares (database path, file reads). */
#include "internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "hale/audit_verify.h"
#include "hale/store.h"
#include "util/buf.h"
#include "util/fileio.h"

static const char usage[] =
    "usage: hale audit verify [--db FILE | --config FILE] --pubkey FILE [--origin NAME]\n"
    "                         [--anchor FILE]... [--require-sealed] [--json]\n\n"
    "Verify the audit log offline: every leaf hash recomputed from the stored bytes, the root\n"
    "at every checkpoint, each checkpoint's signature by the key of its epoch (following the\n"
    "rotation chain from the pinned root key in --pubkey), anchored checkpoints (truncation,\n"
    "rollback, forks) and that every executed action had an allowing decision, its approval\n"
    "and a result. The database is opened read-only; a copy works as well.\n"
    "  --db FILE         the database (default: hale.db in the configured data_dir)\n"
    "  --pubkey FILE     the pinned root public key (audit.pub), obtained out of band\n"
    "  --origin NAME     the log's expected origin (default: the one the database records)\n"
    "  --anchor FILE     an anchor file of checkpoints kept elsewhere (repeatable)\n"
    "  --require-sealed  fail (exit 2) when trailing records lack a signed checkpoint\n"
    "  --json            print the report as JSON\n"
    "Exit status: 0 verified, 1 tamper evidence, 2 incomplete or unsealed, 3 usage or I/O "
    "error.\n";

int hale_cli_read_file(const char *cmd, const char *path, size_t max_bytes, char **ret,
                       size_t *ret_len)
{
    hale_diag d = {{0}};
    int r = hale_file_read(path, max_bytes, ret, ret_len, &d);

    if (r < 0)
        fprintf(stderr, "hale audit %s: %s\n", cmd, d.msg[0] ? d.msg : hale_strerror(r));
    return r;
}

int hale_cli_audit_db_path(const char *cmd, const char *db, const char *config, char *out,
                           size_t cap)
{
    hale_config *cfg = NULL;

    if (db && config) {
        fprintf(stderr, "hale audit %s: give --db or --config, not both\n", cmd);
        return HALE_EUSAGE;
    }
    if (db) {
        snprintf(out, cap, "%s", db);
        return 0;
    }
    if (hale_cli_load_config(config, &cfg, NULL) < 0)
        return HALE_ECONFIG;
    snprintf(out, cap, "%s/%s", cfg->data_dir, HALE_STORE_FILE);
    hale_config_unref(cfg);
    return 0;
}

static const char *verdict_name(hale_audit_verdict v)
{
    switch (v) {
    case HALE_AUDIT_VERIFIED:
        return "verified";
    case HALE_AUDIT_TAMPERED:
        return "tampered";
    case HALE_AUDIT_INCOMPLETE:
        return "incomplete";
    case HALE_AUDIT_UNUSABLE:
        break;
    }
    return "error";
}

static int print_json(const char *db, const hale_audit_verify_report *r)
{
    char b64[sodium_base64_ENCODED_LEN(HALE_MERKLE_HASH_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    char vkey[HALE_NOTE_VKEY_MAX_BYTES];
    hale_buf b;
    char *text;

    sodium_bin2base64(b64, sizeof(b64), r->sealed_root.b, sizeof(r->sealed_root.b),
                      sodium_base64_VARIANT_ORIGINAL);
    hale_buf_init(&b, 64u << 20);
    hale_buf_printf(&b, "{\n  \"db\": ");
    hale_buf_json_str(&b, db, strlen(db));
    hale_buf_printf(&b,
                    ",\n  \"status\": %d,\n  \"verdict\": \"%s\",\n  \"origin\": ", (int)r->verdict,
                    verdict_name(r->verdict));
    hale_buf_json_str(&b, r->origin, strlen(r->origin));
    if (r->verdict != HALE_AUDIT_VERIFIED) {
        hale_buf_printf(&b, ",\n  \"check\": %u,\n  \"bad_seq\": %" PRId64 ",\n", r->check,
                        r->bad_seq);
        hale_buf_printf(&b,
                        "  \"bad_checkpoint\": %" PRId64 ",\n  \"reason\": ", r->bad_checkpoint);
        hale_buf_json_str(&b, r->reason, strlen(r->reason));
    }
    hale_buf_printf(&b,
                    ",\n  \"leaves\": %" PRIu64 ",\n  \"checkpoints\": %" PRIu64
                    ",\n  \"epochs\": %" PRIu64 ",\n  \"sealed_size\": %" PRIu64
                    ",\n  \"sealed_root\": \"%s\",\n  \"unsealed\": %" PRIu64
                    ",\n  \"anchors_checked\": %" PRIu64 ",\n  \"open_intents\": %" PRIu64
                    ",\n  \"ts_backwards\": %" PRIu64 ",\n  \"keys\": [",
                    r->n_leaves, r->n_checkpoints, r->n_epochs, r->sealed_size, b64, r->n_unsealed,
                    r->n_anchors, r->n_open_intents, r->n_ts_backwards);
    for (size_t i = 0; i < r->n_keys; i++) {
        int n = hale_note_verifier_format(&r->keys[i], vkey, sizeof(vkey));

        hale_buf_printf(&b, "%s\n    ", i ? "," : "");
        hale_buf_json_str(&b, vkey, n > 0 ? (size_t)n : 0);
    }
    hale_buf_printf(&b, "%s],\n  \"warnings\": [", r->n_keys ? "\n  " : "");
    for (uint64_t i = 0; i < r->n_warnings && i < HALE_AUDIT_VERIFY_MAX_WARNINGS; i++) {
        hale_buf_printf(&b, "%s", i ? ", " : "");
        hale_buf_json_str(&b, r->warnings[i], strlen(r->warnings[i]));
    }
    if (hale_buf_printf(&b, "]\n}\n") < 0) {
        hale_buf_release(&b);
        fprintf(stderr, "hale audit verify: out of memory\n");
        return -ENOMEM;
    }
    text = hale_buf_detach(&b, NULL);
    if (!text)
        return -ENOMEM;
    fputs(text, stdout);
    free(text);
    return 0;
}

static void print_text(const char *db, const hale_audit_verify_report *r)
{
    FILE *f = r->verdict == HALE_AUDIT_VERIFIED ? stdout : stderr;
    bool judged = r->verdict != HALE_AUDIT_UNUSABLE; /* a check decided, not an I/O error */

    if (r->verdict == HALE_AUDIT_VERIFIED) {
        fprintf(f, "hale audit verify: %s: verified\n", db);
    } else {
        fprintf(f, "hale audit verify: %s: %s", db, verdict_name(r->verdict));
        if (judged)
            fprintf(f, " (check %u", r->check);
        if (judged && r->bad_seq >= 0)
            fprintf(f, ", first bad seq %" PRId64, r->bad_seq);
        if (judged && r->bad_checkpoint >= 0)
            fprintf(f, ", checkpoint of size %" PRId64, r->bad_checkpoint);
        fprintf(f, "%s: %s\n", judged ? ")" : "", r->reason);
        if (!judged)
            return;
    }
    fprintf(f,
            "  log %s: %" PRIu64 " leaves, %" PRIu64 " checkpoints, %" PRIu64
            " key epochs, %" PRIu64 " anchored checkpoints checked\n",
            r->origin[0] ? r->origin : "(unknown)", r->n_leaves, r->n_checkpoints, r->n_epochs,
            r->n_anchors);
    fprintf(f, "  sealed up to %" PRIu64 " leaves; %" PRIu64 " trailing records unsealed\n",
            r->sealed_size, r->n_unsealed);
    for (uint64_t i = 0; i < r->n_warnings && i < HALE_AUDIT_VERIFY_MAX_WARNINGS; i++)
        fprintf(f, "  warning: %s\n", r->warnings[i]);
    if (r->n_warnings > HALE_AUDIT_VERIFY_MAX_WARNINGS)
        fprintf(f, "  (%" PRIu64 " more warnings)\n",
                r->n_warnings - HALE_AUDIT_VERIFY_MAX_WARNINGS);
}

/* Move every "--anchor FILE" / "--anchor=FILE" out of argv into anchors; argc shrinks. */
static int take_anchors(int *argc, char **argv, const char **anchors, size_t *n)
{
    int out = 1;

    for (int i = 1; i < *argc; i++) {
        const char *v = NULL;

        if (strcmp(argv[i], "--anchor") == 0) {
            if (i + 1 >= *argc) {
                fprintf(stderr, "hale audit verify: a value is needed by option '--anchor'\n%s",
                        usage);
                return HALE_EUSAGE;
            }
            v = argv[++i];
        } else if (strncmp(argv[i], "--anchor=", 9) == 0) {
            v = argv[i] + 9;
        } else {
            argv[out++] = argv[i];
            continue;
        }
        if (*n >= HALE_AUDIT_VERIFY_MAX_ANCHOR_FILES) {
            fprintf(stderr, "hale audit verify: at most %u --anchor files\n",
                    HALE_AUDIT_VERIFY_MAX_ANCHOR_FILES);
            return HALE_EUSAGE;
        }
        anchors[(*n)++] = v;
    }
    *argc = out;
    return 0;
}

int hale_cmd_audit_verify(int argc, char **argv)
{
    const char *db = NULL, *config = NULL, *pubkey = NULL, *origin = NULL;
    const char *anchors[HALE_AUDIT_VERIFY_MAX_ANCHOR_FILES];
    bool json = false, sealed = false;
    const hale_cli_opt opts[] = {
        {"--db", true, &db, NULL},
        {"--config", true, &config, NULL},
        {"--pubkey", true, &pubkey, NULL},
        {"--origin", true, &origin, NULL},
        {"--require-sealed", false, NULL, &sealed},
        {"--json", false, NULL, &json},
        {NULL, false, NULL, NULL},
    };
    hale_audit_verify_opts vo = {0};
    hale_audit_verify_report rep;
    hale_note_verifier *keys = NULL;
    hale_diag diag = {{0}};
    size_t n_anchors = 0, n_keys = 0;
    char path[4096];
    int r;

    r = take_anchors(&argc, argv, anchors, &n_anchors);
    if (r == 0)
        r = hale_cli_parse(argc, argv, opts, usage, NULL, 0, NULL);
    if (r == 1)
        return HALE_EXIT_OK;
    if (r < 0)
        return HALE_AUDIT_UNUSABLE;
    if (!pubkey) {
        fprintf(stderr, "hale audit verify: --pubkey FILE is required: the pinned root key\n%s",
                usage);
        return HALE_AUDIT_UNUSABLE;
    }
    if (hale_cli_audit_db_path("verify", db, config, path, sizeof(path)) < 0)
        return HALE_AUDIT_UNUSABLE;
    r = hale_audit_keys_load(pubkey, &keys, &n_keys, &diag);
    if (r == 0 && n_keys != 1) {
        snprintf(diag.msg, sizeof(diag.msg), "%s: holds %zu keys, the root key must be alone",
                 pubkey, n_keys);
        r = HALE_EPARSE;
    }
    if (r < 0) {
        fprintf(stderr, "hale audit verify: --pubkey: %s\n", diag.msg);
        free(keys);
        return HALE_AUDIT_UNUSABLE;
    }
    vo.root_key = &keys[0];
    vo.origin = origin;
    vo.anchor_paths = anchors;
    vo.n_anchor_paths = n_anchors;
    vo.require_sealed = sealed;
    hale_audit_verify(path, &vo, &rep);
    if (json)
        print_json(path, &rep);
    else
        print_text(path, &rep);
    r = (int)rep.verdict;
    hale_audit_verify_report_release(&rep);
    free(keys);
    return r;
}
