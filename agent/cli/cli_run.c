/* agent/cli/cli_run.c - `hale run` and `hale config check`: load the configuration, then run
 * the controller or print the effective configuration. */
#include "internal.h"

#define HALE_LOG_MODULE "main"
#include "cli/cli.h"
#include "hale/log.h"
#include "loop/loop.h"

static const char run_usage[] =
    "usage: hale run [--config FILE]\n\n"
    "Run the controller: the HTTP API (alerts, events, incidents, health, metrics) and the\n"
    "incident loop, until SIGTERM or SIGINT. SIGHUP reloads the configuration file.\n"
    "Without --config, ./hale.json is used when present, else the built-in defaults\n"
    "(docs/config.md).\n";

int hale_cmd_run(int argc, char **argv)
{
    const char *path = NULL, *used = NULL;
    hale_cli_opt opts[] = {{"--config", true, &path, NULL}, {NULL, false, NULL, NULL}};
    hale_diag diag = {{0}};
    hale_config *cfg = NULL;
    hale_loop *loop = NULL;
    int r;

    r = hale_cli_parse(argc, argv, opts, run_usage, NULL, 0, NULL);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (hale_cli_load_config(path, &cfg, &used) < 0)
        return HALE_EXIT_USAGE;
    log_info("configuration from %s", used ? used : "built-in defaults");
    r = hale_loop_new(cfg, used, &loop, &diag);
    hale_config_unref(cfg);
    if (r < 0) {
        log_err("cannot start: %s", diag.msg[0] ? diag.msg : hale_strerror(r));
        return r == HALE_ECONFIG ? HALE_EXIT_USAGE : HALE_EXIT_FAILURE;
    }
    r = hale_loop_run(loop);
    hale_loop_free(loop);
    return r < 0 ? HALE_EXIT_FAILURE : HALE_EXIT_OK;
}

static const char config_usage[] =
    "usage: hale config check FILE\n\n"
    "Validate FILE against the configuration schema and print the effective configuration\n"
    "(every key, defaults filled in) as JSON. Exit status 0 when valid, 2 when not.\n";

int hale_cmd_config(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL};
    hale_diag diag = {{0}};
    hale_config *cfg = NULL;
    char *text;
    int n_pos = 0, r;

    r = hale_cli_parse(argc, argv, NULL, config_usage, pos, 2, &n_pos);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (n_pos != 2 || strcmp(pos[0], "check") != 0) {
        fprintf(stderr, "hale config: expected 'check FILE'\n%s", config_usage);
        return HALE_EXIT_USAGE;
    }
    r = hale_config_load(pos[1], &cfg, &diag);
    if (r < 0) {
        fprintf(stderr, "hale config check: %s\n", diag.msg[0] ? diag.msg : hale_strerror(r));
        return HALE_EXIT_USAGE;
    }
    text = hale_config_to_json(cfg);
    hale_config_unref(cfg);
    if (!text) {
        fprintf(stderr, "hale config check: out of memory\n");
        return HALE_EXIT_FAILURE;
    }
    printf("%s\n", text);
    free(text);
    return HALE_EXIT_OK;
}
