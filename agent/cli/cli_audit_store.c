/* agent/cli/cli_audit_store.c - what the `hale audit` commands that read the log through the
 * store share: opening the database of --db FILE or --config FILE (data_dir) read-only, which
 * is safe while `hale run` writes to it, and knowing its directory (audit.pub). */
#include "internal.h"

#include <unistd.h>

#include "cli/cli.h"
#include "hale/store.h"

int hale_cli_audit_open(const char *cmd, const char *db, const char *config, hale_store **ret,
                        char *dir_out, size_t dir_size)
{
    hale_store_opts o = {.read_only = true};
    hale_diag diag = {{0}};
    const char *slash;
    char path[4096];
    int r;

    if (hale_cli_audit_db_path(cmd, db, config, path, sizeof(path)) < 0)
        return HALE_EXIT_USAGE;
    slash = strrchr(path, '/');
    snprintf(dir_out, dir_size, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "hale audit %s: cannot read '%s': %s\n", cmd, path, strerror(errno));
        return HALE_EXIT_FAILURE;
    }
    o.path = path;
    r = hale_store_open(&o, ret, &diag);
    if (r < 0) {
        fprintf(stderr, "hale audit %s: %s\n", cmd, diag.msg[0] ? diag.msg : hale_strerror(r));
        return HALE_EXIT_FAILURE;
    }
    return 0;
}
