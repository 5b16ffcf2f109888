/* agent/cli/cli.c - `hale <command>`: the command table, help, version and option parsing.
 * Commands are thin: parse, call one function below, format the answer. */
#include "internal.h"

#include <unistd.h>

#include "cli/cli.h"
#include "hale/audit_signer.h"
#include "hale/log.h"

struct cmd {
    const char *name;                 /* first word */
    int (*fn)(int argc, char **argv); /* the command */
    const char *summary;              /* one line for `hale help`; NULL: hidden */
};

static const struct cmd commands[] = {
    {"run", hale_cmd_run, "run the controller (HTTP API, intake, incident loop)"},
    {"config", hale_cmd_config, "check a configuration file: config check FILE"},
    {"incidents", hale_cmd_incidents, "list or show incidents from the store"},
    {"audit", hale_cmd_audit,
     "the signed decision log: keys, verification, proofs, queries, bundles (audit --help)"},
    {"redact", hale_cmd_redact, "redact secrets and personal data from stdin"},
    {"prompt", hale_cmd_prompt, "preview a rendered, redacted LLM prompt (prompt --help)"},
    {"policy", hale_cmd_policy, "check, evaluate against or test a policy directory"},
    {"tool", hale_cmd_tool,
     "check or list the tool catalog, or run one tool by hand (tool --help)"},
    {"runbook", hale_cmd_runbook, "what the runbooks propose for alert labels (runbook --help)"},
    {"approvals", hale_cmd_approvals, "list or show approvals of proposed actions"},
    {"approve", hale_cmd_approve, "approve a pending action (through the running hale)"},
    {"deny", hale_cmd_deny, "deny a pending action: deny ID --reason TEXT (running hale)"},
    {"pause", hale_cmd_pause, "stop the running hale from executing anything until resume"},
    {"resume", hale_cmd_resume, "let the running hale execute actions again"},
    {"detect", hale_cmd_detect, "score a CSV series for anomalies: detect --csv FILE"},
    {"forecast", hale_cmd_forecast,
     "forecast a CSV series or its time to a limit: forecast --csv FILE --horizon N|--limit L"},
    {"forecasts", hale_cmd_forecasts,
     "list the running hale's capacity forecasts and exhaustion predictions"},
    {"version", hale_cmd_version, "print the version"},
    {"help", hale_cmd_help, "show help for hale or one command"},
    /* Started by the daemon itself (include/hale/audit_signer.h), never by a person. */
    {HALE_AUDIT_SIGNER_COMMAND, hale_cmd_audit_signer, NULL},
};

static void print_help(FILE *f)
{
    fprintf(f, "usage: hale <command> [options]\n\n"
               "hale is an AIOps remediation controller: it accepts Alertmanager webhooks,\n"
               "generic events and metrics, groups them into incidents, predicts exhaustion\n"
               "and anomalies, runs the runbooks' remediations in a sandbox when policy\n"
               "allows (or a human approves), verifies and rolls them back, and records every\n"
               "decision in a signed, tamper-evident audit log that auditors verify offline.\n"
               "\ncommands:\n");
    for (size_t i = 0; i < HALE_ARRAY_SIZE(commands); i++)
        if (commands[i].summary)
            fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nglobal options: --help, --version\n"
               "`hale <command> --help` shows a command's options. Exit status: 0 success,\n"
               "1 failure, 2 usage or configuration error.\n");
}

int hale_cmd_help(int argc, char **argv)
{
    static char help_flag[] = "--help";
    char *sub[] = {NULL, help_flag, NULL};

    if (argc > 2) {
        fprintf(stderr, "usage: hale help [command]\n");
        return HALE_EXIT_USAGE;
    }
    if (argc == 2 && strcmp(argv[1], "help") != 0 && strcmp(argv[1], "--help") != 0) {
        for (size_t i = 0; i < HALE_ARRAY_SIZE(commands); i++) {
            if (strcmp(commands[i].name, argv[1]) == 0) {
                sub[0] = argv[1];
                return commands[i].fn(2, sub);
            }
        }
        fprintf(stderr, "hale: unknown command '%s'\n\n", argv[1]);
        print_help(stderr);
        return HALE_EXIT_USAGE;
    }
    print_help(stdout);
    return HALE_EXIT_OK;
}

int hale_cmd_version(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        printf("usage: hale version\n");
        return HALE_EXIT_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "hale version: unexpected argument '%s'\nusage: hale version\n", argv[1]);
        return HALE_EXIT_USAGE;
    }
    printf("hale %s (revision %s)\n", HALE_VERSION, HALE_REVISION);
    return HALE_EXIT_OK;
}

static const hale_cli_opt *find_opt(const hale_cli_opt *opts, const char *arg, size_t len)
{
    for (; opts && opts->name; opts++)
        if (strlen(opts->name) == len && strncmp(opts->name, arg, len) == 0)
            return opts;
    return NULL;
}

/* "hale <cmd>: <problem> '<what>'" and the usage, on stderr. */
static int usage_error(const char *cmd, const char *usage, const char *problem, const char *what)
{
    fprintf(stderr, "hale %s: %s '%s'\n%s", cmd, problem, what, usage);
    return HALE_EUSAGE;
}

int hale_cli_parse(int argc, char **argv, const hale_cli_opt *opts, const char *usage,
                   const char **positional, int max_pos, int *ret_n_pos)
{
    int n_pos = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *eq;
        const hale_cli_opt *o;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            printf("%s", usage);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (n_pos >= max_pos)
                return usage_error(argv[0], usage, "unexpected argument", arg);
            positional[n_pos++] = arg;
            continue;
        }
        eq = strchr(arg, '=');
        o = find_opt(opts, arg, eq ? (size_t)(eq - arg) : strlen(arg));
        if (!o)
            return usage_error(argv[0], usage, "unknown option", arg);
        if (!o->takes_value) {
            if (eq)
                return usage_error(argv[0], usage, "no value is taken by option", o->name);
            *o->flag = true;
            continue;
        }
        if (!eq && i + 1 >= argc)
            return usage_error(argv[0], usage, "a value is needed by option", o->name);
        *o->value = eq ? eq + 1 : argv[++i];
    }
    if (ret_n_pos)
        *ret_n_pos = n_pos;
    return 0;
}

int hale_cli_load_config(const char *path, hale_config **ret, const char **ret_path)
{
    hale_diag diag = {{0}};
    int r;

    if (!path)
        path = hale_config_default_path();
    r = path ? hale_config_load(path, ret, &diag) : hale_config_new_defaults(ret);
    if (r < 0) {
        fprintf(stderr, "hale: %s\n", diag.msg[0] ? diag.msg : hale_strerror(r));
        return HALE_ECONFIG;
    }
    if (ret_path)
        *ret_path = path;
    return 0;
}

int hale_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stdout);
        return HALE_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
        return hale_cmd_version(1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return hale_cmd_help(1, argv + 1);
    for (size_t i = 0; i < HALE_ARRAY_SIZE(commands); i++)
        if (strcmp(commands[i].name, argv[1]) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hale: unknown command '%s'\n\n", argv[1]);
    print_help(stderr);
    return HALE_EXIT_USAGE;
}
