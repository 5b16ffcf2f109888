/* agent/cli/cli_audit_store.c - what the `hale audit` commands that read the log share:
 * finding the database from --db FILE or --config FILE (data_dir) and opening it read-only,
 * which is safe while `hale run` writes to it. */
#include "internal.h"

#include <unistd.h>

#include "cli/cli.h"
#include "hale/store.h"

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
