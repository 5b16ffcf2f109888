/* agent/cli/cli_audit.c - `hale audit <subcommand>`: the table of audit subcommands and what
 * they share: opening the store read-only from --db FILE or --config FILE (data_dir). */
#include "internal.h"

#include <unistd.h>

#include "cli/cli.h"
#include "hale/store.h"

struct sub {
    const char *name;                 /* second word */
    int (*fn)(int argc, char **argv); /* the subcommand; argv[0] is "audit <name>" */
    const char *summary;              /* one line for `hale audit --help` */
};

static const struct sub subs[] = {
    {"query", hale_cmd_audit_query, "list leaves by time, incident, kind, actor, tool, text"},
    {"show", hale_cmd_audit_show, "one leaf: exact bytes, leaf hash, covering checkpoint"},
    {"checkpoint", hale_cmd_audit_checkpoint, "print the latest signed checkpoint note"},
    {"export", hale_cmd_audit_export, "write an incident's evidence bundle"},
    {"verify-bundle", hale_cmd_audit_verify_bundle, "check an evidence bundle offline"},
};

static void print_usage(FILE *f)
{
    fprintf(f, "usage: hale audit <subcommand> [options]\n\nsubcommands:\n");
    for (size_t i = 0; i < HALE_ARRAY_SIZE(subs); i++)
        fprintf(f, "  %-14s %s\n", subs[i].name, subs[i].summary);
    fprintf(f, "\n`hale audit <subcommand> --help` shows its options. Every subcommand that reads\n"
               "the log takes --db FILE or --config FILE (default: hale.db in data_dir).\n");
}

int hale_cmd_audit(int argc, char **argv)
{
    char name[64];

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? HALE_EXIT_USAGE : HALE_EXIT_OK;
    }
    for (size_t i = 0; i < HALE_ARRAY_SIZE(subs); i++) {
        if (strcmp(subs[i].name, argv[1]) != 0)
            continue;
        /* argv[0] of the subcommand names both words, for its messages. */
        snprintf(name, sizeof(name), "audit %s", subs[i].name);
        argv[1] = name;
        return subs[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "hale audit: unknown subcommand '%s'\n\n", argv[1]);
    print_usage(stderr);
    return HALE_EXIT_USAGE;
}

int hale_cli_audit_db_path(const char *db, const char *config, char *out, size_t size,
                           char *dir_out, size_t dir_size)
{
    hale_config *cfg = NULL;
    const char *slash;

    if (db && config) {
        fprintf(stderr, "hale audit: give --db or --config, not both\n");
        return HALE_EUSAGE;
    }
    if (db) {
        snprintf(out, size, "%s", db);
        slash = strrchr(db, '/');
        snprintf(dir_out, dir_size, "%.*s", slash ? (int)(slash - db) : 1, slash ? db : ".");
        return 0;
    }
    if (hale_cli_load_config(config, &cfg, NULL) < 0)
        return HALE_EUSAGE;
    snprintf(out, size, "%s/%s", cfg->data_dir, HALE_STORE_FILE);
    snprintf(dir_out, dir_size, "%s", cfg->data_dir);
    hale_config_unref(cfg);
    return 0;
}

int hale_cli_audit_open(const char *cmd, const char *db, const char *config, hale_store **ret,
                        char *dir_out, size_t dir_size)
{
    hale_store_opts o = {.read_only = true};
    hale_diag diag = {{0}};
    char path[4096];
    int r;

    if (hale_cli_audit_db_path(db, config, path, sizeof(path), dir_out, dir_size) < 0)
        return HALE_EXIT_USAGE;
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "hale %s: cannot read '%s': %s\n", cmd, path, strerror(errno));
        return HALE_EXIT_FAILURE;
    }
    o.path = path;
    r = hale_store_open(&o, ret, &diag);
    if (r < 0) {
        fprintf(stderr, "hale %s: %s\n", cmd, diag.msg[0] ? diag.msg : hale_strerror(r));
        return HALE_EXIT_FAILURE;
    }
    return 0;
}
