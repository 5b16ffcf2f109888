/* agent/cli/cli_pause.c - `hale pause [--reason TEXT]`, `hale resume` and `hale pause
 * --status`: the global kill switch of the running hale, set through its API (admin token)
 * so that the controller persists it and records it in the audit log itself. */
#include "internal.h"

#include <pwd.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_daemon.h"

static const char usage_pause[] =
    "usage: hale pause [--reason TEXT] [--token-file FILE] [--config FILE]\n"
    "       hale pause --status [--token-file FILE] [--config FILE]\n\n"
    "Stop the running hale from executing anything, including work already queued, until\n"
    "`hale resume`. The switch is kept in the store, so it survives restarts, and is recorded\n"
    "in the audit log with the token's name as actor. Needs an admin token (--token-file or\n"
    "HALE_TOKEN; --status: any reader token). Refuses when hale is not running.\n";

static const char usage_resume[] =
    "usage: hale resume [--reason TEXT] [--token-file FILE] [--config FILE]\n\n"
    "Let the running hale execute actions again after `hale pause` (admin token).\n";

/* "cli:<login>" for the leaf's client member: who typed the command, as the OS says. */
static void client_name(char *out, size_t size)
{
    const struct passwd *pw = getpwuid(geteuid());

    snprintf(out, size, "cli:%s", pw && pw->pw_name ? pw->pw_name : "?");
}

static void print_state(const json_t *s)
{
    const char *actor = json_string_value(json_object_get(s, "actor"));
    const char *reason = json_string_value(json_object_get(s, "reason"));
    const char *since = json_string_value(json_object_get(s, "since"));

    if (json_is_true(json_object_get(s, "paused")))
        printf("paused since %s by %s: %s\n", since ? since : "?", actor ? actor : "?",
               reason && *reason ? reason : "(no reason)");
    else if (since)
        printf("running (resumed %s by %s)\n", since, actor ? actor : "?");
    else
        printf("running\n");
}

static int switch_cmd(int argc, char **argv, bool pause)
{
    const char *config = NULL, *reason = NULL, *token_file = NULL;
    bool status_only = false;
    hale_cli_opt opts[] = {{"--config", true, &config, NULL},
                           {"--reason", true, &reason, NULL},
                           {"--token-file", true, &token_file, NULL},
                           {"--status", false, NULL, &status_only},
                           {NULL, false, NULL, NULL}};
    hale_cli_daemon d = {.token = NULL};
    json_t *body = NULL, *ans = NULL;
    char client[300];
    long status = 0;
    int n_pos = 0, r;

    if (!pause)
        opts[3] = opts[4]; /* resume has no --status */
    r = hale_cli_parse(argc, argv, opts, pause ? usage_pause : usage_resume, NULL, 0, &n_pos);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (status_only && reason) {
        fprintf(stderr, "hale pause: --status takes no --reason\n%s", usage_pause);
        return HALE_EXIT_USAGE;
    }
    if ((r = hale_cli_daemon_open(config, token_file, argv[0], &d)) != 0)
        return r;
    client_name(client, sizeof(client));
    if (!status_only) {
        body = json_pack("{s:s,s:s}", "reason", reason ? reason : "", "client", client);
        if (!body) {
            r = HALE_EXIT_FAILURE;
            goto out;
        }
    }
    r = hale_cli_daemon_call(&d, status_only ? "GET" : "POST",
                             status_only ? "/api/v1/pause"
                             : pause     ? "/api/v1/pause"
                                         : "/api/v1/resume",
                             body, &status, &ans);
    if (r != 0)
        goto out;
    if (status != 200) {
        fprintf(stderr, "hale %s: refused (HTTP %ld): %s\n", argv[0], status,
                hale_cli_daemon_error(ans));
        r = HALE_EXIT_FAILURE;
        goto out;
    }
    print_state(ans);
out:
    json_decref(ans);
    json_decref(body);
    hale_cli_daemon_release(&d);
    return r;
}

int hale_cmd_pause(int argc, char **argv)
{
    return switch_cmd(argc, argv, true);
}

int hale_cmd_resume(int argc, char **argv)
{
    return switch_cmd(argc, argv, false);
}
