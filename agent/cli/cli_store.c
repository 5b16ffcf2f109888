/* agent/cli/cli_store.c - the store a command reads: --db FILE, or data_dir/hale.db of the
 * configuration (--config FILE, ./hale.json or the built-in defaults). */
#include "internal.h"

#include <unistd.h>

#include "cli/cli.h"
#include "hale/store.h"

int hale_cli_open_store(const char *cmd, const char *db, const char *config, bool read_only,
                        hale_store **ret, char *path_out, size_t path_cap)
{
    hale_store_opts o = {.read_only = read_only};
    hale_config *cfg = NULL;
    hale_diag diag = {{0}};
    char path[4200];
    int r;

    if (db && config) {
        fprintf(stderr, "hale %s: give --db or --config, not both\n", cmd);
        return HALE_EXIT_USAGE;
    }
    if (db) {
        snprintf(path, sizeof(path), "%s", db);
    } else {
        if (hale_cli_load_config(config, &cfg, NULL) < 0)
            return HALE_EXIT_USAGE;
        snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, HALE_STORE_FILE);
        hale_config_unref(cfg);
    }
    if (path_out)
        snprintf(path_out, path_cap, "%s", path);
    /* A read-only open of a missing file would create nothing and say little: name it. */
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "hale %s: cannot read '%s': %s%s\n", cmd, path, strerror(errno),
                db ? "" : " (has `hale run` started with this data_dir?)");
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
