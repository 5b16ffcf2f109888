/* agent/cli/cli_approvals.c - `hale approvals list|show`, `hale approve ID --as USER` and
 * `hale deny ID --as USER --reason TEXT`: decide pending approvals in the store of the
 * configured data_dir (works while `hale run` runs: SQLite serialises the writers). */
#include "internal.h"

#include "cli/cli.h"
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
    "usage: hale approve ID --as USER [--comment TEXT] [--digest HEX] [--config FILE]\n\n"
    "Approve the action of approval ID as USER. USER must be allowed by the policy that asked\n"
    "for approval and may not be who proposed it (unless the policy allows self-approval).\n"
    "--digest refuses the vote unless the pending action still has that digest (what `hale\n"
    "approvals show ID` printed). Exit status: 0 counted, 1 refused, 2 usage.\n";

static const char usage_deny[] =
    "usage: hale deny ID --as USER --reason TEXT [--digest HEX] [--config FILE]\n\n"
    "Deny the action of approval ID as USER; one denial from an allowed approver ends it.\n";

static int open_store(const char *config, bool read_only, hale_store **ret_s,
                      hale_approvals **ret_a)
{
    hale_store_opts o = {.read_only = read_only};
    hale_diag diag = {{0}};
    hale_config *cfg = NULL;
    char path[4096];
    int r;

    if (hale_cli_load_config(config, &cfg, NULL) < 0)
        return HALE_EXIT_USAGE;
    snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, HALE_STORE_FILE);
    hale_config_unref(cfg);
    o.path = path;
    r = hale_store_open(&o, ret_s, &diag);
    if (r == 0 && (r = hale_approvals_open(*ret_s, ret_a, &diag)) < 0)
        hale_store_free(*ret_s);
    if (r < 0) {
        fprintf(stderr, "hale: %s: %s\n", path, diag.msg[0] ? diag.msg : hale_strerror(r));
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

/* approve and deny: one vote. */
static int vote(int argc, char **argv, bool approve)
{
    const char *config = NULL, *user = NULL, *comment = NULL, *digest = NULL, *pos[1] = {NULL};
    const char *usage = approve ? usage_approve : usage_deny;
    hale_cli_opt opts[] = {{"--config", true, &config, NULL},
                           {"--as", true, &user, NULL},
                           {approve ? "--comment" : "--reason", true, &comment, NULL},
                           {"--digest", true, &digest, NULL},
                           {NULL, false, NULL, NULL}};
    hale_approval_state next = HALE_APPROVAL_PENDING;
    hale_approval_vote v = {0};
    hale_diag diag = {{0}};
    hale_approvals *a = NULL;
    hale_store *s = NULL;
    json_t *cur = NULL;
    int64_t id = 0;
    int n_pos = 0, r;

    r = hale_cli_parse(argc, argv, opts, usage, pos, 1, &n_pos);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (n_pos != 1 || !user || !*user || (!approve && (!comment || !*comment))) {
        fprintf(stderr, "hale %s: expected ID, --as USER%s\n%s", argv[0],
                approve ? "" : " and --reason TEXT", usage);
        return HALE_EXIT_USAGE;
    }
    if ((r = parse_id(pos[0], &id)) != 0 || (r = open_store(config, false, &s, &a)) != 0)
        return r;
    /* Without --digest the vote is for the action stored under ID, which `approvals show`
     * displays; the digest still travels with the vote so the check is the same as remote. */
    if (!digest && hale_approvals_get_json(a, id, &cur) == 0)
        digest = json_string_value(json_object_get(cur, "digest"));
    v = (hale_approval_vote){user, approve, digest, NULL, comment};
    r = hale_approvals_decide(a, id, &v, hale_time_now_ms(), &next, &diag);
    if (r < 0)
        fprintf(stderr, "hale %s: refused: %s\n", argv[0],
                diag.msg[0] ? diag.msg : hale_strerror(r));
    else
        printf("approval %lld: %s by %s; now %s\n", (long long)id, approve ? "approved" : "denied",
               user, hale_approval_state_name(next));
    json_decref(cur);
    hale_approvals_free(a);
    hale_store_free(s);
    return r < 0 ? HALE_EXIT_FAILURE : HALE_EXIT_OK;
}

int hale_cmd_approve(int argc, char **argv)
{
    return vote(argc, argv, true);
}

int hale_cmd_deny(int argc, char **argv)
{
    return vote(argc, argv, false);
}
