/* agent/cli/cli_approvals.c - `hale approvals list|show` (read from the store of the
 * configured data_dir), `hale approve ID` and `hale deny ID --reason TEXT` (through the running
 * hale's API, which checks the vote and records it in the audit log; refused when hale is not
 * running, since a vote written behind its back would be missing from the log). */
#include "internal.h"

#include "cli/cli.h"
#include "cli/cli_daemon.h"
#include "hale/policy.h"
#include "hale/store.h"
#include "util/strparse.h"
#include "util/timeutil.h"

static const char usage_list[] =
    "usage: hale approvals list [--state S] [--json] [--config FILE]\n"
    "       hale approvals show ID [--json] [--config FILE]\n\n"
    "Pending and decided approvals, newest first. States: pending, approved, denied, expired,\n"
    "consumed. Each shows the exact action (tool, arguments, target) and its digest.\n";

static const char usage_approve[] =
    "usage: hale approve ID [--comment TEXT] [--digest HEX] [--token-file FILE] [--config FILE]\n\n"
    "Approve the action of approval ID through the running hale (its HTTP API), which checks and\n"
    "records the vote in the audit log. The approver is the name of the bearer token (an\n"
    "approver or admin token, from --token-file or HALE_TOKEN); it must be allowed by the policy\n"
    "that asked for approval and may not be who proposed the action. --digest refuses the vote\n"
    "unless the pending action still has that digest (what `hale approvals show ID` printed).\n"
    "Refuses when hale is not running. Exit status: 0 counted, 1 refused, 2 usage.\n";

static const char usage_deny[] =
    "usage: hale deny ID --reason TEXT [--digest HEX] [--token-file FILE] [--config FILE]\n\n"
    "Deny the action of approval ID through the running hale, as for `hale approve`; one\n"
    "denial from an allowed approver ends it.\n";

static int open_store(const char *config, bool read_only, hale_store **ret_s,
                      hale_approvals **ret_a)
{
    hale_diag diag = {{0}};
    int r = hale_cli_open_store("approvals", NULL, config, read_only, ret_s, NULL, 0);

    if (r != 0)
        return r;
    if ((r = hale_approvals_open(*ret_s, ret_a, &diag)) < 0) {
        hale_store_free(*ret_s);
        fprintf(stderr, "hale approvals: %s\n", diag.msg[0] ? diag.msg : hale_strerror(r));
        return HALE_EXIT_FAILURE;
    }
    return 0;
}

static const char *str(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));

    return v ? v : "-";
}

static void print_one(const json_t *ap)
{
    char *args = json_dumps(json_object_get(json_object_get(ap, "request"), "args"),
                            JSON_COMPACT | JSON_SORT_KEYS);
    char *target = json_dumps(json_object_get(json_object_get(ap, "request"), "target"),
                              JSON_COMPACT | JSON_SORT_KEYS);
    size_t i;
    json_t *q, *v;

    printf("approval %lld: %s %s\n", (long long)json_integer_value(json_object_get(ap, "id")),
           str(ap, "state"), str(ap, "tool"));
    printf("  args       %s\n  target     %s\n  digest     %s\n", args ? args : "-",
           target ? target : "-", str(ap, "digest"));
    printf("  requested  by %s, incident %s, at %s\n  expires    %s (then %s)\n",
           str(ap, "requester"), str(ap, "incident_id"), str(ap, "created_at"),
           str(ap, "expires_at"), str(ap, "on_expiry"));
    json_array_foreach(json_object_get(ap, "requirements"), i, q)
    {
        char *users = json_dumps(json_object_get(q, "users"), JSON_COMPACT);

        printf("  needs      %lld of %s (rule %s), has %lld\n",
               (long long)json_integer_value(json_object_get(q, "count")), users ? users : "-",
               str(q, "rule"), (long long)json_integer_value(json_object_get(q, "approvals")));
        free(users);
    }
    json_array_foreach(json_object_get(ap, "votes"), i, v)
        printf("  vote       %s %s at %s: %s\n", str(v, "user"), str(v, "vote"), str(v, "at"),
               str(v, "comment"));
    free(args);
    free(target);
}

static int print_json(const json_t *v)
{
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    if (!text)
        return HALE_EXIT_FAILURE;
    printf("%s\n", text);
    free(text);
    return HALE_EXIT_OK;
}

static int parse_id(const char *text, int64_t *ret)
{
    if (hale_parse_i64(text, ret) < 0 || *ret <= 0) {
        fprintf(stderr, "hale: expected a positive approval id, got '%s'\n", text);
        return HALE_EXIT_USAGE;
    }
    return 0;
}

static int list_or_show(hale_approvals *a, const char *what, const char *id_text, const char *state,
                        bool as_json)
{
    json_t *out = NULL, *one;
    int64_t id = 0;
    size_t i;
    int r;

    if (strcmp(what, "show") == 0) {
        if ((r = parse_id(id_text, &id)) != 0)
            return r;
        r = hale_approvals_get_json(a, id, &out);
    } else {
        r = hale_approvals_list_json(a, state, 1000, &out);
    }
    if (r < 0) {
        fprintf(stderr, "hale approvals: %s\n",
                r == -EINVAL          ? "unknown --state"
                : r == HALE_ENOTFOUND ? "no such approval"
                                      : hale_strerror(r));
        return r == -EINVAL ? HALE_EXIT_USAGE : HALE_EXIT_FAILURE;
    }
    if (as_json)
        r = print_json(out);
    else if (id)
        print_one(out);
    else
        json_array_foreach(json_object_get(out, "approvals"), i, one) print_one(one);
    json_decref(out);
    return r;
}

int hale_cmd_approvals(int argc, char **argv)
{
    const char *config = NULL, *state = NULL, *pos[2] = {NULL, NULL};
    bool as_json = false;
    hale_cli_opt opts[] = {{"--config", true, &config, NULL},
                           {"--state", true, &state, NULL},
                           {"--json", false, NULL, &as_json},
                           {NULL, false, NULL, NULL}};
    hale_approvals *a = NULL;
    hale_store *s = NULL;
    int n_pos = 0, r;

    r = hale_cli_parse(argc, argv, opts, usage_list, pos, 2, &n_pos);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (n_pos == 0 || (strcmp(pos[0], "list") == 0 && n_pos != 1) ||
        (strcmp(pos[0], "show") == 0 && (n_pos != 2 || state)) ||
        (strcmp(pos[0], "list") != 0 && strcmp(pos[0], "show") != 0)) {
        fprintf(stderr, "hale approvals: expected 'list' or 'show ID'\n%s", usage_list);
        return HALE_EXIT_USAGE;
    }
    if ((r = open_store(config, true, &s, &a)) != 0)
        return r;
    r = list_or_show(a, pos[0], pos[1], state, as_json);
    hale_approvals_free(a);
    hale_store_free(s);
    return r;
}

static const char *or_empty(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));

    return v ? v : "";
}

/* The approval's nonce and digest as the running hale has them. */
static int fetch(hale_cli_daemon *d, const char *cmd, int64_t id, json_t **ret)
{
    char path[64];
    json_t *ans = NULL;
    long status = 0;
    int r;

    snprintf(path, sizeof(path), "/api/v1/approvals/%lld", (long long)id);
    r = hale_cli_daemon_call(d, "GET", path, NULL, &status, &ans);
    if (r != 0)
        return r;
    if (status != 200) {
        fprintf(stderr, "hale %s: %s\n", cmd,
                status == 404 ? "no such approval" : hale_cli_daemon_error(ans));
        json_decref(ans);
        return HALE_EXIT_FAILURE;
    }
    *ret = ans;
    return 0;
}

/* approve and deny: one vote, counted and audited by the running hale. */
static int vote(int argc, char **argv, bool approve)
{
    const char *config = NULL, *user = NULL, *comment = NULL, *digest = NULL, *pos[1] = {NULL};
    const char *token_file = NULL, *usage = approve ? usage_approve : usage_deny;
    hale_cli_opt opts[] = {{"--config", true, &config, NULL},
                           {"--as", true, &user, NULL},
                           {approve ? "--comment" : "--reason", true, &comment, NULL},
                           {"--digest", true, &digest, NULL},
                           {"--token-file", true, &token_file, NULL},
                           {NULL, false, NULL, NULL}};
    hale_cli_daemon d = {.token = NULL};
    json_t *cur = NULL, *body = NULL, *ans = NULL;
    char path[64];
    long status = 0;
    int64_t id = 0;
    int n_pos = 0, r;

    r = hale_cli_parse(argc, argv, opts, usage, pos, 1, &n_pos);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (user) {
        fprintf(stderr,
                "hale %s: --as is not taken: the approver is the name of the bearer "
                "token (--token-file or HALE_TOKEN)\n",
                argv[0]);
        return HALE_EXIT_USAGE;
    }
    if (n_pos != 1 || (!approve && (!comment || !*comment))) {
        fprintf(stderr, "hale %s: expected ID%s\n%s", argv[0], approve ? "" : " and --reason TEXT",
                usage);
        return HALE_EXIT_USAGE;
    }
    if ((r = parse_id(pos[0], &id)) != 0 ||
        (r = hale_cli_daemon_open(config, token_file, argv[0], &d)) != 0)
        return r;
    if ((r = fetch(&d, argv[0], id, &cur)) != 0)
        goto out;
    /* Without --digest the vote is for the action stored under ID, which `approvals show`
     * displays; the digest still travels with the vote, so the check is the same. */
    body = json_pack("{s:s,s:s,s:s}", "decision", approve ? "approve" : "deny", "digest",
                     digest ? digest : or_empty(cur, "digest"), "nonce", or_empty(cur, "nonce"));
    if (!body || (comment && json_object_set_new(body, "reason", json_string(comment)) < 0)) {
        r = HALE_EXIT_FAILURE;
        goto out;
    }
    snprintf(path, sizeof(path), "/api/v1/approvals/%lld", (long long)id);
    if ((r = hale_cli_daemon_call(&d, "POST", path, body, &status, &ans)) != 0)
        goto out;
    if (status != 200) {
        fprintf(stderr, "hale %s: refused: %s\n", argv[0], hale_cli_daemon_error(ans));
        r = HALE_EXIT_FAILURE;
        goto out;
    }
    printf("approval %lld: %s; now %s\n", (long long)id, approve ? "approved" : "denied",
           str(ans, "state"));
out:
    json_decref(ans);
    json_decref(body);
    json_decref(cur);
    hale_cli_daemon_release(&d);
    return r;
}

int hale_cmd_approve(int argc, char **argv)
{
    return vote(argc, argv, true);
}

int hale_cmd_deny(int argc, char **argv)
{
    return vote(argc, argv, false);
}
