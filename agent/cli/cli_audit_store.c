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
    char name[64], path[4200] = "";
    const char *slash;
    int r;

    snprintf(name, sizeof(name), "audit %s", cmd);
    r = hale_cli_open_store(name, db, config, true, ret, path, sizeof(path));
    slash = strrchr(path, '/');
    snprintf(dir_out, dir_size, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    return r;
}
