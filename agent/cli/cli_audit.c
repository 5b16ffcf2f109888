/* agent/cli/cli_audit.c - `hale audit <subcommand>`: the table of audit subcommands. Each
 * subcommand lives in its own cli_audit_*.c file and parses its own options. */
#include "internal.h"

#include "cli/cli.h"

struct subcmd {
    const char *name;                 /* second word */
    int (*fn)(int argc, char **argv); /* the subcommand */
    const char *summary;              /* one line for `hale audit --help` */
};

static const struct subcmd subcommands[] = {
    {"verify", hale_cmd_audit_verify, "verify a log offline against the pinned root key"},
    {"prove", hale_cmd_audit_prove, "print the inclusion proof of one record"},
    {"consistency", hale_cmd_audit_consistency, "print a consistency proof between two heads"},
    {"verify-inclusion", hale_cmd_audit_verify_inclusion,
     "check an inclusion proof against a checkpoint, without the database"},
    {"verify-consistency", hale_cmd_audit_verify_consistency,
     "check a consistency proof between two checkpoints, without the database"},
};

static void print_usage(FILE *f)
{
    fprintf(f, "usage: hale audit <subcommand> [options]\n\nsubcommands:\n");
    for (size_t i = 0; i < HALE_ARRAY_SIZE(subcommands); i++)
        fprintf(f, "  %-19s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(f, "\n`hale audit <subcommand> --help` shows its options; docs/audit.md explains the "
               "log and how to verify it.\n");
}

int hale_cmd_audit(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? HALE_EXIT_USAGE : HALE_EXIT_OK;
    }
    for (size_t i = 0; i < HALE_ARRAY_SIZE(subcommands); i++)
        if (strcmp(subcommands[i].name, argv[1]) == 0)
            return subcommands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hale audit: unknown subcommand '%s'\n\n", argv[1]);
    print_usage(stderr);
    return HALE_EXIT_USAGE;
}
