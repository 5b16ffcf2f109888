/* agent/cli/cli_audit.c - `hale audit <subcommand>`: a plain table of the audit log's commands
 * (keys, verification, proofs), plus the hidden command that runs the signer. */
#include "internal.h"

#include "cli/cli.h"
#include "hale/audit_signer.h"

struct audit_cmd {
    const char *name;                 /* the word after `hale audit` */
    int (*fn)(int argc, char **argv); /* gets argv with argv[0] = "audit <name>" */
    const char *summary;              /* one line for `hale audit --help` */
};

static const struct audit_cmd audit_cmds[] = {
    {"keygen", hale_cmd_audit_keygen, "create a signing key pair: keygen --out PREFIX"},
    {"pubkey", hale_cmd_audit_pubkey, "print the log's root public key (data_dir/audit.pub)"},
    {"rotate-key", hale_cmd_audit_rotate_key, "start a new signing key epoch now (hale stopped)"},
    {"verify", hale_cmd_audit_verify, "verify a log offline against the pinned root key"},
    {"prove", hale_cmd_audit_prove, "print the inclusion proof of one record"},
    {"consistency", hale_cmd_audit_consistency, "print a consistency proof between two heads"},
    {"verify-inclusion", hale_cmd_audit_verify_inclusion,
     "check an inclusion proof against a checkpoint file"},
    {"verify-consistency", hale_cmd_audit_verify_consistency,
     "check a consistency proof between two checkpoint files"},
    {"query", hale_cmd_audit_query, "list leaves by time, incident, kind, actor, tool, text"},
    {"show", hale_cmd_audit_show, "one leaf: exact bytes, leaf hash, covering checkpoint"},
    {"checkpoint", hale_cmd_audit_checkpoint, "print the latest signed checkpoint note"},
    {"export", hale_cmd_audit_export, "write an incident's evidence bundle"},
    {"verify-bundle", hale_cmd_audit_verify_bundle, "check an evidence bundle offline"},
};

static void print_usage(FILE *f)
{
    fprintf(f, "usage: hale audit <subcommand> [options]\n\n"
               "The signed, tamper-evident decision log (docs/audit.md, docs/audit-keys.md).\n\n"
               "subcommands:\n");
    for (size_t i = 0; i < HALE_ARRAY_SIZE(audit_cmds); i++)
        fprintf(f, "  %-18s %s\n", audit_cmds[i].name, audit_cmds[i].summary);
    fprintf(f, "\n`hale audit <subcommand> --help` shows its options.\n");
}

int hale_cmd_audit(int argc, char **argv)
{
    char name[64];

    if (argc < 2) {
        print_usage(stderr);
        return HALE_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_usage(stdout);
        return HALE_EXIT_OK;
    }
    for (size_t i = 0; i < HALE_ARRAY_SIZE(audit_cmds); i++) {
        if (strcmp(audit_cmds[i].name, argv[1]) != 0)
            continue;
        /* Error messages read "hale audit keygen: ...": argv[0] names the whole command. */
        snprintf(name, sizeof(name), "audit %s", audit_cmds[i].name);
        argv[1] = name;
        return audit_cmds[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "hale audit: unknown subcommand '%s'\n\n", argv[1]);
    print_usage(stderr);
    return HALE_EXIT_USAGE;
}

int hale_cmd_audit_signer(int argc, char **argv)
{
    return hale_audit_signer_main(argc, argv);
}
