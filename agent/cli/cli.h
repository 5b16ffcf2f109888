/* agent/cli/cli.h - the `hale` command line: a command table (git.c), option parsing shared by
 * every command, and the exit-code convention: 0 success, 1 runtime failure, 2 usage or
 * configuration error. */
#pragma once
#include <stdbool.h>
#include <stdio.h>

#include "hale/config.h"
#include "hale/fwd.h"

#define HALE_EXIT_OK      0
#define HALE_EXIT_FAILURE 1
#define HALE_EXIT_USAGE   2

/* One option a command takes. */
typedef struct hale_cli_opt {
    const char *name;   /* "--state" */
    bool takes_value;   /* "--state S" or "--state=S" */
    const char **value; /* where the value goes (borrowed from argv); NULL for flags */
    bool *flag;         /* set when a flag is given; NULL for valued options */
} hale_cli_opt;

/* Parse argv[1..] (argv[0] is the command's name) against opts; non-option words are
 * collected into positional (at most max_pos, else usage error). Returns 0, or HALE_EUSAGE after
 * printing "hale <cmd>: <what was wrong>" and usage to stderr. --help prints usage to stdout
 * and returns 1. */
int hale_cli_parse(int argc, char **argv, const hale_cli_opt *opts, const char *usage,
                   const char **positional, int max_pos, int *ret_n_pos);

/* The config for --config FILE (or the default file, or built-in defaults). Prints the error
 * and returns HALE_ECONFIG on failure. *ret_path (may be NULL) gets the file used, or NULL. */
int hale_cli_load_config(const char *path, hale_config **ret, const char **ret_path);

int hale_cli_main(int argc, char **argv);

/* Commands (cli_*.c). Each gets argv with argv[0] = its own name. */
int hale_cmd_run(int argc, char **argv);
int hale_cmd_version(int argc, char **argv);
int hale_cmd_help(int argc, char **argv);
int hale_cmd_config(int argc, char **argv);
int hale_cmd_incidents(int argc, char **argv);
int hale_cmd_audit(int argc, char **argv); /* dispatches `hale audit <sub>` */
int hale_cmd_pause(int argc, char **argv); /* cli_pause.c */
int hale_cmd_resume(int argc, char **argv);
int hale_cmd_audit_signer(int argc, char **argv); /* hidden: the signer child */

/* `hale audit` subcommands (cli_audit_*.c), argv[0] = "audit <sub>". */
int hale_cmd_audit_keygen(int argc, char **argv);
int hale_cmd_audit_pubkey(int argc, char **argv);
int hale_cmd_audit_rotate_key(int argc, char **argv);
int hale_cmd_audit_verify(int argc, char **argv);
int hale_cmd_audit_prove(int argc, char **argv);
int hale_cmd_audit_consistency(int argc, char **argv);
int hale_cmd_audit_verify_inclusion(int argc, char **argv);
int hale_cmd_audit_verify_consistency(int argc, char **argv);
int hale_cmd_audit_query(int argc, char **argv);
int hale_cmd_audit_show(int argc, char **argv);
int hale_cmd_audit_checkpoint(int argc, char **argv);
int hale_cmd_audit_export(int argc, char **argv);
int hale_cmd_audit_verify_bundle(int argc, char **argv);
/* The verify family (cli_audit_verify.c, cli_audit_proof.c) exits 0 verified, 1 tamper
 * evidence, 2 incomplete, 3 usage or I/O error (hale_audit_verdict of audit_verify.h). */

/* The audit database named by --db FILE or, failing that, by the data_dir of --config FILE
 * (or the default configuration), into out (cap bytes). Prints the problem and returns
 * HALE_EUSAGE (both given) or HALE_ECONFIG. */
int hale_cli_audit_db_path(const char *cmd, const char *db, const char *config, char *out,
                           size_t cap);
/* Read a whole file of at most max_bytes (NUL-terminated; caller frees). Prints
 * "hale audit <cmd>: FILE: reason" and returns -errno or HALE_ELIMIT on failure. */
int hale_cli_read_file(const char *cmd, const char *path, size_t max_bytes, char **ret,
                       size_t *ret_len);
int hale_cmd_redact(int argc, char **argv);
int hale_cmd_prompt(int argc, char **argv); /* `hale prompt render` */
int hale_cmd_policy(int argc, char **argv);
int hale_cmd_policy_replay(int argc, char **argv); /* cli_policy_replay.c, argv[0] "replay" */
int hale_cmd_approvals(int argc, char **argv);
int hale_cmd_approve(int argc, char **argv);
int hale_cmd_deny(int argc, char **argv);
int hale_cmd_detect(int argc, char **argv);
int hale_cmd_forecasts(int argc, char **argv); /* cli_forecasts.c: `hale forecasts list` */
int hale_cmd_forecast(int argc, char **argv);
int hale_cmd_tool(int argc, char **argv);    /* cli_tool.c: `hale tool check|list` */
int hale_cmd_runbook(int argc, char **argv); /* cli_tool.c: `hale runbook propose` */

/* Open the database of --db FILE or --config FILE (hale_cli_audit_db_path) read-only, and put
 * its directory (where audit.pub lives) into dir_out. cmd is the subcommand ("query") for
 * messages. Returns 0, or the exit code after printing why. */
int hale_cli_audit_open(const char *cmd, const char *db, const char *config, hale_store **ret,
                        char *dir_out, size_t dir_size);

/* Write row as one CSV record (RFC 4180; docs/audit-query.md says how hostile values are
 * neutralised) to f. Returns 0 or -EIO. */
struct hale_audit_row;
int hale_cli_audit_csv_row(FILE *f, const struct hale_audit_row *row);

/* Fields of NAB-format CSV files (cli_csv.c). A timestamp is RFC 3339 or NAB's
 * "YYYY-MM-DD HH:MM:SS[.fff]" (read as UTC; *ret_nab, may be NULL, says which). A value is a
 * number; an empty field is missing (NaN). Both return 0 or -EINVAL. */
int hale_cli_csv_time(const char *s, size_t len, int64_t *ret_ms, bool *ret_nab);
int hale_cli_csv_value(const char *s, size_t len, double *ret);

/* Open the store of --db FILE (may be NULL), else data_dir/hale.db of --config FILE (NULL: the
 * default config), for command cmd ("incidents", "audit query") (cli_store.c). path_out (may
 * be NULL) gets the file's path. Prints what went wrong and returns its exit code:
 * HALE_EXIT_USAGE (both given, bad config) or HALE_EXIT_FAILURE (unreadable, not a store);
 * 0 with *ret owned by the caller. */
struct hale_store;
int hale_cli_open_store(const char *cmd, const char *db, const char *config, bool read_only,
                        struct hale_store **ret, char *path_out, size_t path_cap);
