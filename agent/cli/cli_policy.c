/* agent/cli/cli_policy.c - `hale policy check|eval|test`: validate a policy directory, explain
 * the verdict for one request, and run the policy unit tests under DIR/tests. */
#include "internal.h"

#include <dirent.h>

#include "cli/cli.h"
#include "hale/policy.h"
#include "hale/store.h"
#include "util/timeutil.h"

static const char usage[] =
    "usage: hale policy check [DIR] [--config FILE]\n"
    "       hale policy eval --request FILE [--dir DIR] [--json] [--config FILE]\n"
    "       hale policy test [DIR] [--config FILE]\n"
    "       hale policy replay --since T --candidate DIR [--db FILE | --config FILE] [--json]\n\n"
    "check  load every *.json policy file in DIR and report the first error as\n"
    "       file: rule ID: field: reason\n"
    "eval   evaluate the request in FILE ('-' for stdin) at its \"time\" (else now) and print\n"
    "       the verdict with one line per rule considered; --json prints the verdict object.\n"
    "       Limits are counted from the store in the configured data_dir when it exists.\n"
    "test   run every DIR/tests/*.json case: request, expected effect, expected reasons.\n"
    "replay what DIR would have decided about the proposals recorded since T (--help).\n"
    "DIR defaults to policies_dir of the configuration. Exit status: 0 ok (eval: allow),\n"
    "1 failure (eval: deny or require_approval, test: a case failed), 2 usage or invalid\n"
    "policy.\n";

static int load(const char *dir, hale_policy **ret)
{
    hale_diag diag = {{0}};
    int r = hale_policy_load(dir, ret, &diag);

    if (r < 0) {
        fprintf(stderr, "hale policy: %s\n", diag.msg[0] ? diag.msg : hale_strerror(r));
        return HALE_EXIT_USAGE;
    }
    return 0;
}

static char *read_all(const char *path, size_t *ret_len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t cap = HALE_MAX_REQUEST_BYTES + 1, n;
    char *buf;

    if (!f)
        return NULL;
    buf = malloc(cap + 1);
    n = buf ? fread(buf, 1, cap, f) : 0;
    if (f != stdin)
        fclose(f);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    *ret_len = n;
    return buf;
}

static int cmd_check(const char *dir)
{
    hale_policy *p = NULL;
    int r = load(dir, &p);

    if (r != 0)
        return r;
    printf("%s: %zu rules, ok (sha256 %s)\n", dir, hale_policy_rule_count(p),
           hale_policy_hash_hex(p));
    hale_policy_unref(p);
    return HALE_EXIT_OK;
}

static void print_verdict(const hale_policy_verdict *v, bool as_json)
{
    json_t *j;
    char *text;

    if (as_json && (j = hale_policy_verdict_to_json(v))) {
        text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(j);
        return;
    }
    printf("%s%s\n", hale_policy_effect_name(hale_policy_verdict_effect(v)),
           hale_policy_verdict_is_dry_run(v) ? " (dry run)" : "");
    for (size_t i = 0; i < hale_policy_verdict_reason_count(v); i++)
        printf("  %s\n", hale_policy_verdict_reason(v, i));
}

/* Without a store there is no history: every count is zero. */
static int no_history(void *ud, const hale_policy_count_query *q, int64_t *ret)
{
    (void)ud, (void)q;
    *ret = 0;
    return 0;
}

/* The ledger of the configured store, when there is one: limits count real history. */
static void open_ledger(const char *config, hale_store **ret_s, hale_policy_ledger **ret_l)
{
    hale_store_opts o = {.read_only = true};
    hale_config *cfg = NULL;
    char path[4096];

    if (hale_cli_load_config(config, &cfg, NULL) < 0)
        return;
    snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, HALE_STORE_FILE);
    hale_config_unref(cfg);
    o.path = path;
    if (hale_store_open(&o, ret_s, NULL) < 0)
        return;
    if (hale_policy_ledger_open(*ret_s, ret_l, NULL) < 0) {
        hale_store_free(*ret_s);
        *ret_s = NULL;
    }
}

static int cmd_eval(const char *dir, const char *file, const char *config, bool as_json)
{
    hale_policy_request *req = NULL;
    hale_policy_verdict *v = NULL;
    hale_policy_ledger *ledger = NULL;
    hale_policy_counts counts = {no_history, NULL};
    hale_store *s = NULL;
    hale_policy *p = NULL;
    hale_diag diag = {{0}};
    size_t len = 0;
    char *text;
    int r;

    if (!(text = read_all(file, &len))) {
        fprintf(stderr, "hale policy eval: cannot read '%s': %s\n", file, strerror(errno));
        return HALE_EXIT_FAILURE;
    }
    r = hale_policy_request_parse(text, len, &req, &diag);
    free(text);
    if (r < 0) {
        fprintf(stderr, "hale policy eval: %s: %s\n", file, diag.msg);
        return HALE_EXIT_USAGE;
    }
    if ((r = load(dir, &p)) != 0) {
        hale_policy_request_free(req);
        return r;
    }
    open_ledger(config, &s, &ledger);
    if (ledger)
        counts = hale_policy_ledger_counts(ledger);
    else if (!as_json)
        printf("(no store in the configured data_dir: limits see no history)\n");
    r = hale_policy_eval(p, req, &counts,
                         hale_policy_request_time_ms(req) ? hale_policy_request_time_ms(req)
                                                          : hale_time_now_ms(),
                         &v);
    if (r == 0) {
        print_verdict(v, as_json);
        r = hale_policy_verdict_effect(v) == HALE_POLICY_ALLOW ? HALE_EXIT_OK : HALE_EXIT_FAILURE;
    } else {
        fprintf(stderr, "hale policy eval: %s\n", hale_strerror(r));
        r = HALE_EXIT_FAILURE;
    }
    hale_policy_verdict_free(v);
    hale_policy_ledger_free(ledger);
    hale_store_free(s);
    hale_policy_unref(p);
    hale_policy_request_free(req);
    return r;
}

struct test_tally {
    const char *file; /* the test file at hand */
    int passed;       /* cases */
    int failed;       /* cases */
};

static void on_result(const hale_policy_test_result *res, void *ud)
{
    struct test_tally *t = ud;

    if (res->passed) {
        t->passed++;
        printf("ok    %s: %s\n", t->file, res->name);
        return;
    }
    t->failed++;
    printf("FAIL  %s: %s: %s\n", t->file, res->name, res->problem);
    for (size_t i = 0; res->got && i < hale_policy_verdict_reason_count(res->got); i++)
        printf("        %s\n", hale_policy_verdict_reason(res->got, i));
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.json names in dir, sorted; caller frees each and the array. */
static int test_files(const char *dir, char ***ret, size_t *ret_n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL, **grown;
    size_t n = 0, len;

    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        grown = realloc(names, (n + 1) * sizeof(*names));
        if (!grown || !(grown[n] = strdup(de->d_name))) {
            names = grown ? grown : names;
            break;
        }
        names = grown;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);
    *ret = names;
    *ret_n = n;
    return 0;
}

static int cmd_test(const char *dir)
{
    struct test_tally t = {NULL, 0, 0};
    char tests_dir[4096], path[4400], **names = NULL;
    hale_policy *p = NULL;
    size_t n = 0, len;
    int r = load(dir, &p);

    if (r != 0)
        return r;
    if ((size_t)snprintf(tests_dir, sizeof(tests_dir), "%s/tests", dir) >=
        sizeof(tests_dir) - 300) {
        fprintf(stderr, "hale policy test: directory name too long\n");
        hale_policy_unref(p);
        return HALE_EXIT_USAGE;
    }
    if ((r = test_files(tests_dir, &names, &n)) < 0 || n == 0) {
        fprintf(stderr, "hale policy test: no test files in '%s'\n", tests_dir);
        hale_policy_unref(p);
        free(names);
        return HALE_EXIT_FAILURE;
    }
    for (size_t i = 0; i < n; i++) {
        hale_diag diag = {{0}};
        char *text;

        snprintf(path, sizeof(path), "%s/%s", tests_dir, names[i]);
        t.file = names[i];
        text = read_all(path, &len);
        r = text ? hale_policy_test_text(p, text, len, on_result, &t, &diag) : -errno;
        if (r < 0) {
            printf("ERROR %s: %s\n", names[i], diag.msg[0] ? diag.msg : hale_strerror(r));
            t.failed++;
        }
        free(text);
        free(names[i]);
    }
    free(names);
    hale_policy_unref(p);
    printf("%d passed, %d failed\n", t.passed, t.failed);
    return t.failed ? HALE_EXIT_FAILURE : HALE_EXIT_OK;
}

static const char *policies_dir(const char *config, char *buf, size_t cap)
{
    hale_config *cfg = NULL;

    if (hale_cli_load_config(config, &cfg, NULL) < 0)
        return NULL;
    snprintf(buf, cap, "%s", cfg->policies_dir);
    hale_config_unref(cfg);
    return buf;
}

int hale_cmd_policy(int argc, char **argv)
{
    const char *config = NULL, *dir = NULL, *request = NULL, *pos[2] = {NULL, NULL};
    bool as_json = false;
    hale_cli_opt opts[] = {{"--config", true, &config, NULL},
                           {"--dir", true, &dir, NULL},
                           {"--request", true, &request, NULL},
                           {"--json", false, NULL, &as_json},
                           {NULL, false, NULL, NULL}};
    char dir_buf[4096];
    int n_pos = 0, r;

    if (argc >= 2 && strcmp(argv[1], "replay") == 0)
        return hale_cmd_policy_replay(argc - 1, argv + 1);
    r = hale_cli_parse(argc, argv, opts, usage, pos, 2, &n_pos);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (n_pos == 0 ||
        (strcmp(pos[0], "check") != 0 && strcmp(pos[0], "eval") != 0 &&
         strcmp(pos[0], "test") != 0) ||
        (strcmp(pos[0], "eval") == 0 && (n_pos != 1 || !request)) ||
        (strcmp(pos[0], "eval") != 0 && (request || as_json || dir))) {
        fprintf(stderr,
                "hale policy: expected 'check [DIR]', 'eval --request FILE' or "
                "'test [DIR]'\n%s",
                usage);
        return HALE_EXIT_USAGE;
    }
    if (n_pos == 2)
        dir = pos[1];
    if (!dir && !(dir = policies_dir(config, dir_buf, sizeof(dir_buf))))
        return HALE_EXIT_USAGE;
    if (strcmp(pos[0], "check") == 0)
        return cmd_check(dir);
    if (strcmp(pos[0], "test") == 0)
        return cmd_test(dir);
    return cmd_eval(dir, request, config, as_json);
}
