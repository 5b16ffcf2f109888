/* agent/cli/cli_tool.c - `hale tool check|list` and `hale runbook propose`: validate the tool
 * catalog and the runbooks against it, show what the catalog offers, and show what the
 * runbooks would propose for a set of alert labels (for runbook authors). */
#include "internal.h"

#include "cli/cli.h"
#include "hale/catalog.h"
#include "hale/runbook.h"
#include "util/json.h"

static const char tool_usage[] =
    "usage: hale tool check [DIR] [--config FILE]\n"
    "       hale tool list [--json] [--config FILE]\n"
    "       hale tool run NAME --args JSON [--dry-run] [--as USER] [--config FILE]\n\n"
    "check  validate every DIR/<name>/manifest.json (DIR defaults to tools_dir of the\n"
    "       configuration) and the runbooks under policies_dir/runbooks against that\n"
    "       catalog; prints each problem as file: field: reason. Exit status 1 when any.\n"
    "list   the tools of the catalog in tools_dir: name, kind, risk, reversible, timeout and\n"
    "       description; --json prints {\"catalog_sha256\", \"tools\": [manifest views]}.\n"
    "run    run one tool by hand through the running hale, judged by policy and audited\n"
    "       (`hale tool run --help`, docs/heal.md).\n";

static const char runbook_usage[] =
    "usage: hale runbook propose --labels JSON [--annotations JSON] [--json] [--config FILE]\n\n"
    "Print what the runbooks under policies_dir/runbooks propose for an incident whose alerts\n"
    "carry the labels (a JSON object of strings, \"alertname\" included) and annotations:\n"
    "each proposal as the policy request it would become, and each action dropped with the\n"
    "reason (a missing label, a value the tool's schema refuses). --json prints\n"
    "{\"proposals\": [...], \"rejected\": [...]}. Exit status: 0 when something is proposed,\n"
    "1 when nothing is, 2 usage or invalid catalog or runbooks.\n";

struct check_ctx {
    int problems; /* printed so far */
    int valid;    /* files without problems */
};

static void report(const char *file, int err, const hale_diag *d, void *ud)
{
    struct check_ctx *c = ud;

    if (err == 0) {
        c->valid++;
        return;
    }
    c->problems++;
    if (d->msg[0])
        printf("%s\n", d->msg);
    else
        printf("%s: %s\n", file, hale_strerror(err));
}

static int runbooks_dir(const hale_config *cfg, char *out, size_t cap)
{
    if (snprintf(out, cap, "%s/runbooks", cfg->policies_dir) >= (int)cap) {
        fprintf(stderr, "hale: policies_dir is too long\n");
        return HALE_EXIT_USAGE;
    }
    return 0;
}

static int cmd_check(const char *dir, const hale_config *cfg)
{
    struct check_ctx c = {0, 0};
    hale_catalog *cat = NULL;
    hale_diag d = {{0}};
    char rdir[4200];
    int n, r;

    n = hale_catalog_check(dir, report, &c);
    if (n < 0) {
        fprintf(stderr, "hale tool check: %s: %s\n", dir, hale_strerror(n));
        return HALE_EXIT_FAILURE;
    }
    if ((r = runbooks_dir(cfg, rdir, sizeof(rdir))) != 0)
        return r;
    if (n > 0) {
        printf("%s: runbooks not checked: the catalog has problems\n", rdir);
    } else if ((r = hale_catalog_load(dir, &cat, &d)) < 0) {
        printf("%s\n", d.msg[0] ? d.msg : hale_strerror(r));
        c.problems++;
    } else {
        int rn = hale_runbooks_check(rdir, cat, report, &c);

        if (rn < 0) {
            printf("%s: %s\n", rdir, hale_strerror(rn));
            c.problems++;
        }
        printf("%s: %zu tools (sha256 %s)\n", dir, hale_catalog_count(cat),
               hale_catalog_hash_hex(cat));
        hale_catalog_unref(cat);
    }
    printf("%d problem%s\n", c.problems, c.problems == 1 ? "" : "s");
    return c.problems ? HALE_EXIT_FAILURE : HALE_EXIT_OK;
}

static void print_json(json_t *j)
{
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;

    if (text)
        printf("%s\n", text);
    free(text);
}

static int cmd_list(const hale_catalog *cat, bool as_json)
{
    json_t *tools = json_array();

    for (size_t i = 0; i < hale_catalog_count(cat); i++) {
        const hale_tool *t = hale_catalog_at(cat, i);

        if (as_json) {
            (void)json_array_append_new(tools, hale_tool_to_json(t));
            continue;
        }
        printf("%-24s %-11s %-8s %-10s %4llus  %s\n", hale_tool_name(t),
               hale_tool_kind_of(t) == HALE_TOOL_DIAGNOSTIC ? "diagnostic" : "remediation",
               hale_policy_risk_name(hale_tool_risk(t)),
               hale_tool_reversible(t) ? "reversible" : "-",
               (unsigned long long)(hale_tool_timeout_ms(t) / 1000), hale_tool_description(t));
    }
    if (as_json) {
        json_t *o =
            json_pack("{s:s, s:O}", "catalog_sha256", hale_catalog_hash_hex(cat), "tools", tools);

        print_json(o);
        json_decref(o);
    }
    json_decref(tools);
    return HALE_EXIT_OK;
}

static int load_catalog(const char *cmd, const hale_config *cfg, hale_catalog **ret)
{
    hale_diag d = {{0}};
    int r = hale_catalog_load(cfg->tools_dir, ret, &d);

    if (r < 0) {
        fprintf(stderr, "hale %s: %s\n", cmd, d.msg[0] ? d.msg : hale_strerror(r));
        return HALE_EXIT_USAGE;
    }
    return 0;
}

int hale_cmd_tool(int argc, char **argv)
{
    const char *config = NULL, *pos[2] = {NULL, NULL};
    bool as_json = false;
    hale_cli_opt opts[] = {{"--config", true, &config, NULL},
                           {"--json", false, NULL, &as_json},
                           {NULL, false, NULL, NULL}};
    hale_catalog *cat = NULL;
    hale_config *cfg = NULL;
    int n_pos = 0, r;

    /* `run` has options of its own: its own parser (cli_tool_run.c). */
    if (argc > 1 && strcmp(argv[1], "run") == 0)
        return hale_cmd_tool_run(argc - 1, argv + 1);
    r = hale_cli_parse(argc, argv, opts, tool_usage, pos, 2, &n_pos);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (n_pos == 0 || (strcmp(pos[0], "check") != 0 && strcmp(pos[0], "list") != 0) ||
        (strcmp(pos[0], "list") == 0 && n_pos > 1) || (strcmp(pos[0], "check") == 0 && as_json)) {
        fprintf(stderr, "hale tool: expected 'check [DIR]' or 'list [--json]'\n%s", tool_usage);
        return HALE_EXIT_USAGE;
    }
    if (hale_cli_load_config(config, &cfg, NULL) < 0)
        return HALE_EXIT_USAGE;
    if (strcmp(pos[0], "check") == 0) {
        r = cmd_check(n_pos == 2 ? pos[1] : cfg->tools_dir, cfg);
    } else if ((r = load_catalog("tool list", cfg, &cat)) == 0) {
        r = cmd_list(cat, as_json);
        hale_catalog_unref(cat);
    }
    hale_config_unref(cfg);
    return r;
}

/* A JSON object of strings from the command line, or an error printed. */
static int parse_map(const char *opt, const char *text, json_t **ret)
{
    hale_diag d = {{0}};
    const char *key;
    json_t *v;

    if (hale_json_parse(text, strlen(text), ret, &d) < 0) {
        fprintf(stderr, "hale runbook propose: %s: %s\n", opt, d.msg);
        return HALE_EXIT_USAGE;
    }
    if (json_is_object(*ret)) {
        json_object_foreach(*ret, key, v) if (!json_is_string(v)) break;
        if (!key)
            return 0;
    }
    fprintf(stderr, "hale runbook propose: %s: expected a JSON object of strings\n", opt);
    json_decref(*ret);
    return HALE_EXIT_USAGE;
}

static void print_proposals(const json_t *proposals, const json_t *rejected)
{
    size_t i;
    json_t *e;

    json_array_foreach(proposals, i, e)
    {
        json_t *req = json_object_get(e, "request");
        char *args = hale_json_dump_canonical(json_object_get(req, "args"));
        char *target = hale_json_dump_canonical(json_object_get(req, "target"));
        char *untrusted = hale_json_dump_canonical(json_object_get(req, "untrusted"));

        printf("propose %s: %s %s target %s confidence_bp %lld risk %s%s%s\n",
               json_string_value(json_object_get(e, "runbook")),
               json_string_value(json_object_get(req, "tool")), args ? args : "?",
               target ? target : "?",
               (long long)json_integer_value(json_object_get(req, "confidence_bp")),
               json_string_value(json_object_get(req, "risk")),
               json_array_size(json_object_get(req, "untrusted")) ? " untrusted " : "",
               json_array_size(json_object_get(req, "untrusted")) && untrusted ? untrusted : "");
        free(args);
        free(target);
        free(untrusted);
    }
    json_array_foreach(rejected, i, e)
        printf("reject  %s: %s: %s\n", json_string_value(json_object_get(e, "runbook")),
               json_string_value(json_object_get(e, "tool")),
               json_string_value(json_object_get(e, "reason")));
}

static int propose(const hale_config *cfg, const json_t *labels, const json_t *annotations,
                   bool as_json)
{
    json_t *proposals = NULL, *rejected = NULL;
    hale_catalog *cat = NULL;
    hale_runbooks *rb = NULL;
    hale_diag d = {{0}};
    char rdir[4200];
    int r;

    if ((r = runbooks_dir(cfg, rdir, sizeof(rdir))) != 0 ||
        (r = load_catalog("runbook propose", cfg, &cat)) != 0)
        return r;
    r = hale_runbooks_load(rdir, cat, &rb, &d);
    hale_catalog_unref(cat);
    if (r < 0) {
        fprintf(stderr, "hale runbook propose: %s\n", d.msg[0] ? d.msg : hale_strerror(r));
        return HALE_EXIT_USAGE;
    }
    r = hale_runbooks_propose(rb, labels, annotations, &proposals, &rejected);
    hale_runbooks_unref(rb);
    if (r < 0) {
        fprintf(stderr, "hale runbook propose: %s\n", hale_strerror(r));
        return HALE_EXIT_FAILURE;
    }
    if (as_json) {
        json_t *o = json_pack("{s:O, s:O}", "proposals", proposals, "rejected", rejected);

        print_json(o);
        json_decref(o);
    } else {
        print_proposals(proposals, rejected);
    }
    r = json_array_size(proposals) ? HALE_EXIT_OK : HALE_EXIT_FAILURE;
    json_decref(proposals);
    json_decref(rejected);
    return r;
}

int hale_cmd_runbook(int argc, char **argv)
{
    const char *config = NULL, *labels_s = NULL, *ann_s = NULL, *pos[1] = {NULL};
    bool as_json = false;
    hale_cli_opt opts[] = {{"--config", true, &config, NULL},
                           {"--labels", true, &labels_s, NULL},
                           {"--annotations", true, &ann_s, NULL},
                           {"--json", false, NULL, &as_json},
                           {NULL, false, NULL, NULL}};
    json_t *labels = NULL, *annotations = NULL;
    hale_config *cfg = NULL;
    int n_pos = 0, r;

    r = hale_cli_parse(argc, argv, opts, runbook_usage, pos, 1, &n_pos);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (n_pos != 1 || strcmp(pos[0], "propose") != 0 || !labels_s) {
        fprintf(stderr, "hale runbook: expected 'propose --labels JSON'\n%s", runbook_usage);
        return HALE_EXIT_USAGE;
    }
    if ((r = parse_map("--labels", labels_s, &labels)) != 0)
        return r;
    if (ann_s && (r = parse_map("--annotations", ann_s, &annotations)) != 0) {
        json_decref(labels);
        return r;
    }
    if (hale_cli_load_config(config, &cfg, NULL) < 0) {
        r = HALE_EXIT_USAGE;
    } else {
        r = propose(cfg, labels, annotations, as_json);
        hale_config_unref(cfg);
    }
    json_decref(labels);
    json_decref(annotations);
    return r;
}
