/* agent/cli/cli_audit_proof.c - `hale audit prove`, `consistency`, `verify-inclusion` and
 * `verify-consistency`: print RFC 9162 proofs out of the database, and check them against a
 * signed checkpoint with nothing but public keys and files (docs/audit.md has the format). */
#include "internal.h"

#include <inttypes.h>
#include <sodium.h>

#include "cli/cli.h"
#include "hale/audit_verify.h"
#include "hale/note.h"
#include "util/strparse.h"

#define PROOF_MAX_BYTES (4u << 20) /* a proof file: 64 hashes and two notes fit many times */

static const char prove_usage[] =
    "usage: hale audit prove SEQ [--db FILE | --config FILE] [--size N]\n\n"
    "Print the inclusion proof of record SEQ in the stored checkpoint of N leaves (default: the\n"
    "newest) as JSON: index, size, leaf_hash, hashes (base64) and the signed checkpoint.\n"
    "Check it with `hale audit verify-inclusion`. Exit status: 0 printed, 1 failure, 2 usage.\n";

static const char consistency_usage[] =
    "usage: hale audit consistency --from N [--to M] [--db FILE | --config FILE]\n\n"
    "Print the consistency proof from the stored checkpoint of N leaves to the one of M\n"
    "(default: the newest) as JSON, with both signed checkpoints. Check it with\n"
    "`hale audit verify-consistency`. Exit status: 0 printed, 1 failure, 2 usage.\n";

static const char vincl_usage[] =
    "usage: hale audit verify-inclusion --index I --checkpoint FILE --pubkey FILE\n"
    "                                   (--leaf FILE | --leaf-hash B64) --proof FILE\n\n"
    "Check, without the database, that the record (its exact bytes in --leaf, or its RFC 6962\n"
    "leaf hash) is at index I of the log whose signed checkpoint is in --checkpoint, using the\n"
    "proof `hale audit prove` printed. --pubkey holds the keys to trust, one per line (the\n"
    "epoch keys `hale audit verify --json` lists). Exit status: 0 proven, 1 does not verify,\n"
    "3 usage or I/O error.\n";

static const char vcons_usage[] =
    "usage: hale audit verify-consistency --checkpoint OLD --checkpoint NEW --pubkey FILE\n"
    "                                     --proof FILE\n\n"
    "Check, without the database, that the log of signed checkpoint NEW extends the one of OLD\n"
    "(no record of OLD changed or removed), using the proof `hale audit consistency` printed.\n"
    "Exit status: 0 proven, 1 does not verify, 3 usage or I/O error.\n";

static int print_proof(const char *cmd, const hale_audit_proof *p)
{
    char *text;

    if (hale_audit_proof_format(p, &text) < 0) {
        fprintf(stderr, "hale audit %s: out of memory\n", cmd);
        return HALE_EXIT_FAILURE;
    }
    printf("%s\n", text);
    free(text);
    return HALE_EXIT_OK;
}

static int parse_count(const char *cmd, const char *opt, const char *text, uint64_t *ret)
{
    if (text && hale_parse_u64(text, ret) < 0) {
        fprintf(stderr, "hale audit %s: %s: expected a number, got '%s'\n", cmd, opt, text);
        return HALE_EUSAGE;
    }
    return 0;
}

int hale_cmd_audit_prove(int argc, char **argv)
{
    const char *db = NULL, *config = NULL, *size_text = NULL, *pos[1];
    const hale_cli_opt opts[] = {
        {"--db", true, &db, NULL},
        {"--config", true, &config, NULL},
        {"--size", true, &size_text, NULL},
        {NULL, false, NULL, NULL},
    };
    uint64_t seq = 0, size = 0;
    hale_audit_proof p;
    hale_diag diag = {{0}};
    char path[4096];
    int n_pos = 0, r;

    r = hale_cli_parse(argc, argv, opts, prove_usage, pos, 1, &n_pos);
    if (r == 1)
        return HALE_EXIT_OK;
    if (r == 0 && n_pos != 1) {
        fprintf(stderr, "hale audit prove: SEQ is required\n%s", prove_usage);
        r = HALE_EUSAGE;
    }
    if (r == 0)
        r = parse_count("prove", "SEQ", pos[0], &seq);
    if (r == 0)
        r = parse_count("prove", "--size", size_text, &size);
    if (r == 0)
        r = hale_cli_audit_db_path("prove", db, config, path, sizeof(path));
    if (r < 0)
        return HALE_EXIT_USAGE;
    r = hale_audit_prove_inclusion(path, seq, size, &p, &diag);
    if (r < 0) {
        fprintf(stderr, "hale audit prove: %s\n", diag.msg[0] ? diag.msg : hale_strerror(r));
        return HALE_EXIT_FAILURE;
    }
    r = print_proof("prove", &p);
    hale_audit_proof_release(&p);
    return r;
}

int hale_cmd_audit_consistency(int argc, char **argv)
{
    const char *db = NULL, *config = NULL, *from = NULL, *to = NULL;
    const hale_cli_opt opts[] = {
        {"--db", true, &db, NULL}, {"--config", true, &config, NULL}, {"--from", true, &from, NULL},
        {"--to", true, &to, NULL}, {NULL, false, NULL, NULL},
    };
    uint64_t size1 = 0, size2 = 0;
    hale_audit_proof p;
    hale_diag diag = {{0}};
    char path[4096];
    int r;

    r = hale_cli_parse(argc, argv, opts, consistency_usage, NULL, 0, NULL);
    if (r == 1)
        return HALE_EXIT_OK;
    if (r == 0 && !from) {
        fprintf(stderr, "hale audit consistency: --from N is required\n%s", consistency_usage);
        r = HALE_EUSAGE;
    }
    if (r == 0)
        r = parse_count("consistency", "--from", from, &size1);
    if (r == 0)
        r = parse_count("consistency", "--to", to, &size2);
    if (r == 0)
        r = hale_cli_audit_db_path("consistency", db, config, path, sizeof(path));
    if (r < 0)
        return HALE_EXIT_USAGE;
    r = hale_audit_prove_consistency(path, size1, size2, &p, &diag);
    if (r < 0) {
        fprintf(stderr, "hale audit consistency: %s\n", diag.msg[0] ? diag.msg : hale_strerror(r));
        return r == -EINVAL ? HALE_EXIT_USAGE : HALE_EXIT_FAILURE;
    }
    r = print_proof("consistency", &p);
    hale_audit_proof_release(&p);
    return r;
}

/* The trusted keys of --pubkey, without duplicates (hale_note_open refuses those). */
static int load_keys(const char *cmd, const char *path, hale_note_verifier **ret, size_t *ret_n)
{
    hale_note_verifier *k = NULL;
    hale_diag diag = {{0}};
    size_t n = 0, out = 0;
    int r;

    r = hale_audit_keys_load(path, &k, &n, &diag);
    if (r < 0) {
        fprintf(stderr, "hale audit %s: --pubkey: %s\n", cmd, diag.msg);
        return r;
    }
    for (size_t i = 0; i < n; i++) {
        bool dup = false;

        for (size_t j = 0; j < out && !dup; j++)
            dup = k[j].key_id == k[i].key_id && strcmp(k[j].name, k[i].name) == 0;
        if (!dup)
            k[out++] = k[i];
    }
    *ret = k;
    *ret_n = out;
    return 0;
}

/* Read a checkpoint file, check a trusted key signed it, and parse its text. 0, 1 (does not
 * verify; printed) or a negative usage/I/O error (printed). */
static int open_checkpoint(const char *cmd, const char *path, const hale_note_verifier *keys,
                           size_t n_keys, hale_checkpoint *ret)
{
    hale_note_opened o;
    hale_diag diag = {{0}};
    size_t len;
    char *note;
    int r;

    r = hale_cli_read_file(cmd, path, HALE_NOTE_MAX_BYTES, &note, &len);
    if (r < 0)
        return r;
    while (len >= 2 && note[len - 1] == '\n' && note[len - 2] == '\n')
        note[--len] = '\0'; /* an anchor record's closing blank line */
    r = hale_note_open(note, len, keys, n_keys, 0, &o, &diag);
    free(note);
    if (r < 0) {
        fprintf(stderr, "hale audit %s: %s: %s\n", cmd, path,
                r == HALE_ENOTFOUND ? "not signed by any key of --pubkey"
                                    : (diag.msg[0] ? diag.msg : hale_strerror(r)));
        return 1;
    }
    r = hale_checkpoint_parse(o.text, o.text_len, ret, &diag);
    hale_note_opened_release(&o);
    if (r < 0) {
        fprintf(stderr, "hale audit %s: %s: not a checkpoint: %s\n", cmd, path, diag.msg);
        return 1;
    }
    return 0;
}

static int load_proof(const char *cmd, const char *path, bool consistency, hale_audit_proof *ret)
{
    hale_diag diag = {{0}};
    size_t len;
    char *text;
    int r;

    r = hale_cli_read_file(cmd, path, PROOF_MAX_BYTES, &text, &len);
    if (r < 0)
        return r;
    r = hale_audit_proof_parse(text, len, ret, &diag);
    free(text);
    if (r < 0) {
        fprintf(stderr, "hale audit %s: %s: %s\n", cmd, path, diag.msg);
        return r;
    }
    if (ret->consistency != consistency) {
        fprintf(stderr, "hale audit %s: %s: a %s proof, not a%s one\n", cmd, path,
                ret->consistency ? "consistency" : "inclusion",
                consistency ? " consistency" : "n inclusion");
        hale_audit_proof_release(ret);
        return HALE_EUSAGE;
    }
    return 0;
}

static int leaf_hash_arg(const char *leaf, const char *leaf_b64, hale_hash *ret)
{
    size_t len = 0;
    char *data;

    if (leaf_b64) {
        const char *end = NULL;

        if (sodium_base642bin(ret->b, sizeof(ret->b), leaf_b64, strlen(leaf_b64), NULL, &len, &end,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            len != sizeof(ret->b) || *end != '\0') {
            fprintf(stderr, "hale audit verify-inclusion: --leaf-hash: expected the base64 of "
                            "32 bytes\n");
            return HALE_EUSAGE;
        }
        return 0;
    }
    if (hale_cli_read_file("verify-inclusion", leaf, HALE_AUDIT_VERIFY_MAX_BODY_BYTES, &data,
                           &len) < 0)
        return -EIO;
    if (len > 0 && data[len - 1] == '\n') /* a body never ends in a newline: an editor's */
        len--;
    hale_merkle_leaf_hash(data, len, ret);
    free(data);
    return 0;
}

int hale_cmd_audit_verify_inclusion(int argc, char **argv)
{
    const char *index_text = NULL, *cp_path = NULL, *pubkey = NULL, *leaf = NULL, *leaf_b64 = NULL,
               *proof_path = NULL;
    const hale_cli_opt opts[] = {
        {"--index", true, &index_text, NULL},
        {"--checkpoint", true, &cp_path, NULL},
        {"--pubkey", true, &pubkey, NULL},
        {"--leaf", true, &leaf, NULL},
        {"--leaf-hash", true, &leaf_b64, NULL},
        {"--proof", true, &proof_path, NULL},
        {NULL, false, NULL, NULL},
    };
    hale_note_verifier *keys = NULL;
    hale_audit_proof p = {0};
    hale_checkpoint cp = {0};
    uint64_t index = 0;
    size_t n_keys = 0;
    hale_hash h;
    int r;

    r = hale_cli_parse(argc, argv, opts, vincl_usage, NULL, 0, NULL);
    if (r == 1)
        return HALE_EXIT_OK;
    if (r == 0 && (!index_text || !cp_path || !pubkey || !proof_path || !leaf == !leaf_b64)) {
        fprintf(stderr,
                "hale audit verify-inclusion: --index, --checkpoint, --pubkey, --proof "
                "and one of --leaf or --leaf-hash are required\n%s",
                vincl_usage);
        r = HALE_EUSAGE;
    }
    if (r == 0)
        r = parse_count("verify-inclusion", "--index", index_text, &index);
    if (r == 0)
        r = leaf_hash_arg(leaf, leaf_b64, &h);
    if (r == 0)
        r = load_keys("verify-inclusion", pubkey, &keys, &n_keys);
    if (r == 0)
        r = load_proof("verify-inclusion", proof_path, false, &p);
    if (r < 0) {
        free(keys);
        return HALE_AUDIT_UNUSABLE;
    }
    r = open_checkpoint("verify-inclusion", cp_path, keys, n_keys, &cp);
    free(keys);
    if (r != 0) {
        hale_audit_proof_release(&p);
        return r < 0 ? HALE_AUDIT_UNUSABLE : HALE_AUDIT_TAMPERED;
    }
    if (p.index != index || p.size != cp.size)
        fprintf(stderr,
                "hale audit verify-inclusion: the proof is for index %" PRIu64 " in %" PRIu64
                " leaves, not index %" PRIu64 " in %" PRIu64 "\n",
                p.index, p.size, index, cp.size);
    else if (hale_merkle_verify_inclusion(&h, index, cp.size, p.hashes, p.n_hashes, &cp.root) < 0)
        fprintf(stderr,
                "hale audit verify-inclusion: the record is NOT at index %" PRIu64
                " of the signed log of %" PRIu64 " leaves\n",
                index, cp.size);
    else
        r = 1;
    if (r == 1)
        printf("hale audit verify-inclusion: record %" PRIu64 " is in the signed log %s of %" PRIu64
               " leaves\n",
               index, cp.origin, cp.size);
    hale_checkpoint_release(&cp);
    hale_audit_proof_release(&p);
    return r == 1 ? HALE_AUDIT_VERIFIED : HALE_AUDIT_TAMPERED;
}

/* Move the two --checkpoint values out of argv (hale_cli_parse keeps only the last). */
static int take_checkpoints(int *argc, char **argv, const char **ret)
{
    int out = 1, n = 0;

    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--checkpoint") == 0 && i + 1 < *argc && n < 2) {
            ret[n++] = argv[++i];
        } else if (strncmp(argv[i], "--checkpoint=", 13) == 0 && n < 2) {
            ret[n++] = argv[i] + 13;
        } else {
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    return n;
}

int hale_cmd_audit_verify_consistency(int argc, char **argv)
{
    const char *pubkey = NULL, *proof_path = NULL, *cps[2] = {NULL, NULL};
    const hale_cli_opt opts[] = {
        {"--pubkey", true, &pubkey, NULL},
        {"--proof", true, &proof_path, NULL},
        {NULL, false, NULL, NULL},
    };
    hale_note_verifier *keys = NULL;
    hale_checkpoint c1 = {0}, c2 = {0};
    hale_audit_proof p = {0};
    size_t n_keys = 0;
    int n_cps, r;

    n_cps = take_checkpoints(&argc, argv, cps);
    r = hale_cli_parse(argc, argv, opts, vcons_usage, NULL, 0, NULL);
    if (r == 1)
        return HALE_EXIT_OK;
    if (r == 0 && (n_cps != 2 || !pubkey || !proof_path)) {
        fprintf(stderr,
                "hale audit verify-consistency: two --checkpoint, --pubkey and --proof "
                "are required\n%s",
                vcons_usage);
        r = HALE_EUSAGE;
    }
    if (r == 0)
        r = load_keys("verify-consistency", pubkey, &keys, &n_keys);
    if (r == 0)
        r = load_proof("verify-consistency", proof_path, true, &p);
    if (r < 0) {
        free(keys);
        return HALE_AUDIT_UNUSABLE;
    }
    r = open_checkpoint("verify-consistency", cps[0], keys, n_keys, &c1);
    if (r == 0) {
        r = open_checkpoint("verify-consistency", cps[1], keys, n_keys, &c2);
        if (r != 0)
            hale_checkpoint_release(&c1);
    }
    free(keys);
    if (r != 0) {
        hale_audit_proof_release(&p);
        return r < 0 ? HALE_AUDIT_UNUSABLE : HALE_AUDIT_TAMPERED;
    }
    r = HALE_AUDIT_TAMPERED;
    if (strcmp(c1.origin, c2.origin) != 0)
        fprintf(stderr, "hale audit verify-consistency: the checkpoints are of different logs\n");
    else if (p.index != c1.size || p.size != c2.size)
        fprintf(stderr,
                "hale audit verify-consistency: the proof is from %" PRIu64 " to %" PRIu64
                " leaves, the checkpoints are of %" PRIu64 " and %" PRIu64 "\n",
                p.index, p.size, c1.size, c2.size);
    else if (hale_merkle_verify_consistency(c1.size, c2.size, &c1.root, &c2.root, p.hashes,
                                            p.n_hashes) < 0)
        fprintf(stderr,
                "hale audit verify-consistency: the log of %" PRIu64
                " leaves does NOT extend the one of %" PRIu64 "\n",
                c2.size, c1.size);
    else
        r = HALE_AUDIT_VERIFIED;
    if (r == HALE_AUDIT_VERIFIED)
        printf("hale audit verify-consistency: the signed log %s of %" PRIu64
               " leaves extends the one of %" PRIu64 "\n",
               c2.origin, c2.size, c1.size);
    hale_checkpoint_release(&c1);
    hale_checkpoint_release(&c2);
    hale_audit_proof_release(&p);
    return (int)r;
}
