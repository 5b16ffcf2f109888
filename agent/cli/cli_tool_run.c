/* agent/cli/cli_tool_run.c - `hale tool run NAME --args JSON`: run one tool by hand through the
 * running hale (POST /api/v1/tools/NAME/run with an admin token), which judges it with the
 * policy set in force (source "human"), records the decision, the sealed intent and the result
 * in the audit log and runs it in the sandbox, once. The controller's writer is the only one,
 * so the command refuses when no hale runs on the data_dir. */
#include "internal.h"

#include <pwd.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_daemon.h"
#include "util/json.h"

#define RUN_TIMEOUT_MS (3700L * 1000L) /* the longest tool timeout and some */

static const char usage_run[] =
    "usage: hale tool run NAME --args JSON [--dry-run] [--as USER] [--json]\n"
    "                     [--token-file FILE] [--config FILE]\n\n"
    "Run tool NAME of the catalog once, by hand, through the running hale: the request (source\n"
    "\"human\", confidence 10000, target {\"requested_by\": TOKEN NAME}) is judged by the policy\n"
    "set in force and recorded as a decision in the audit log; an allow runs the tool in the\n"
    "sandbox after a sealed exec_intent and records its exec_result. A deny or require_approval\n"
    "verdict refuses (a run by hand never waits for approval), --dry-run only records the\n"
    "decision. The actor is the admin token's name (--token-file or HALE_TOKEN); --as USER is\n"
    "recorded as who it was done for (default: your login), and is not checked.\n"
    "Prints the outcome, exit code and redacted output. Exit status: 0 the tool succeeded,\n"
    "1 it failed or was refused, 2 usage.\n";

static void print_answer(const json_t *a)
{
    const char *out = json_string_value(json_object_get(a, "stdout"));
    const char *err = json_string_value(json_object_get(a, "stderr"));
    const char *why = json_string_value(json_object_get(a, "reason"));

    printf("%s: %s %s (decision %s, intent %s, key %s)\n",
           json_string_value(json_object_get(a, "tool")),
           json_string_value(json_object_get(a, "state")),
           json_string_value(json_object_get(a, "outcome")),
           json_string_value(json_object_get(a, "decision_id")),
           json_string_value(json_object_get(a, "intent_id")),
           json_string_value(json_object_get(a, "idempotency_key")));
    if (json_object_get(a, "exit"))
        printf("exit %lld, signal %lld, %lld ms\n",
               (long long)json_integer_value(json_object_get(a, "exit")),
               (long long)json_integer_value(json_object_get(a, "signal")),
               (long long)json_integer_value(json_object_get(a, "wall_ms")));
    if (why && *why)
        printf("reason: %s\n", why);
    if (out && *out)
        printf("--- stdout (redacted) ---\n%s%s", out, out[strlen(out) - 1] == '\n' ? "" : "\n");
    if (err && *err)
        printf("--- stderr (redacted) ---\n%s%s", err, err[strlen(err) - 1] == '\n' ? "" : "\n");
}

static int parse_args(const char *text, json_t **ret)
{
    hale_diag d = {{0}};
    json_t *v = NULL;

    if (hale_json_parse(text, strlen(text), &v, &d) < 0 || !json_is_object(v)) {
        fprintf(stderr, "hale tool run: --args: %s\n%s",
                d.msg[0] ? d.msg : "expected a JSON object", usage_run);
        json_decref(v);
        return HALE_EXIT_USAGE;
    }
    *ret = v;
    return 0;
}

int hale_cmd_tool_run(int argc, char **argv)
{
    const char *config = NULL, *token_file = NULL, *args_text = NULL, *as = NULL, *pos[1] = {NULL};
    bool dry_run = false, as_json = false;
    hale_cli_opt opts[] = {{"--config", true, &config, NULL},
                           {"--token-file", true, &token_file, NULL},
                           {"--args", true, &args_text, NULL},
                           {"--as", true, &as, NULL},
                           {"--dry-run", false, NULL, &dry_run},
                           {"--json", false, NULL, &as_json},
                           {NULL, false, NULL, NULL}};
    hale_cli_daemon d = {.token = NULL};
    json_t *args = NULL, *body = NULL, *ans = NULL;
    const struct passwd *pw = getpwuid(geteuid());
    char path[200];
    long status = 0;
    int n_pos = 0, r;

    r = hale_cli_parse(argc, argv, opts, usage_run, pos, 1, &n_pos);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (n_pos != 1 || !args_text || strlen(pos[0]) > 64) {
        fprintf(stderr, "hale tool run: expected NAME and --args JSON\n%s", usage_run);
        return HALE_EXIT_USAGE;
    }
    if ((r = parse_args(args_text, &args)) != 0)
        return r;
    body = json_pack("{s:o,s:b,s:s}", "args", args, "dry_run", dry_run, "on_behalf_of",
                     as                  ? as
                     : pw && pw->pw_name ? pw->pw_name
                                         : "?");
    if (!body)
        return HALE_EXIT_FAILURE;
    if ((r = hale_cli_daemon_open(config, token_file, "tool run", &d)) != 0)
        goto out;
    d.timeout_ms = RUN_TIMEOUT_MS;
    snprintf(path, sizeof(path), "/api/v1/tools/%s/run", pos[0]);
    if ((r = hale_cli_daemon_call(&d, "POST", path, body, &status, &ans)) != 0)
        goto out;
    if (as_json && ans) {
        char *text = json_dumps(ans, JSON_INDENT(2) | JSON_SORT_KEYS);

        printf("%s\n", text ? text : "{}");
        free(text);
    } else if (json_object_get(ans, "tool")) {
        print_answer(ans);
    }
    if (!json_object_get(ans, "tool"))
        fprintf(stderr, "hale tool run: refused (HTTP %ld): %s\n", status,
                hale_cli_daemon_error(ans));
    r = status == 200 && json_integer_value(json_object_get(ans, "exit")) == 0 &&
                json_object_get(ans, "exit")
            ? HALE_EXIT_OK
            : HALE_EXIT_FAILURE;
    if (status == 200 && dry_run)
        r = HALE_EXIT_OK;
out:
    json_decref(ans);
    json_decref(body);
    hale_cli_daemon_release(&d);
    return r;
}
