/* agent/cli/cli_prompt.c - `hale prompt render NAME@VERSION --vars FILE`: preview exactly the
 * prompt text an LLM call would send for these variables, after redaction and with every
 * variable in its data section, and the SHA-256 recorded with the call. */
#include "internal.h"

#include <jansson.h>

#include "cli/cli.h"
#include "hale/llm.h"
#include "hale/redact.h"
#include "util/fileio.h"
#include "util/json.h"

#define MAX_VARS_BYTES (64u * 1024u * 1024u)

static const char usage[] =
    "usage: hale prompt render NAME@VERSION --vars FILE [--json] [--dir DIR] [--rules FILE]\n"
    "                          [--config FILE]\n\n"
    "Render the prompt template DIR/NAME@VERSION.txt with the variables of FILE (a JSON object\n"
    "of strings) the way the LLM client does: every variable is stripped of invisible\n"
    "characters, redacted and placed in a delimited data section, and the template's own text\n"
    "is redacted too. Prints the rendered prompt, or with --json {\"prompt\", \"sha256\",\n"
    "\"schema\"}. DIR defaults to the configuration's prompts_dir; --rules "
    "to\n" HALE_REDACT_DEFAULT_RULES ".\nExit status: 0 done, 1 redaction failed (nothing is "
    "printed), 2 usage, bad prompt or vars.\n";

static int load_vars(const char *path, json_t **ret, hale_prompt_var *vars, size_t *n_vars)
{
    char *text = NULL;
    size_t len = 0, n = 0;
    hale_diag d = {{0}};
    const char *key;
    json_t *doc = NULL, *v;
    int r;

    r = hale_file_read(path, MAX_VARS_BYTES, &text, &len, &d);
    if (r == 0)
        r = hale_json_parse(text, len, &doc, &d);
    free(text);
    if (r < 0) {
        fprintf(stderr, "hale prompt render: %s: %s\n", path, d.msg[0] ? d.msg : hale_strerror(r));
        return r;
    }
    if (!json_is_object(doc) || json_object_size(doc) > HALE_LLM_MAX_VARS) {
        fprintf(stderr, "hale prompt render: %s: expected an object of at most %u strings\n", path,
                HALE_LLM_MAX_VARS);
        json_decref(doc);
        return HALE_EPARSE;
    }
    json_object_foreach(doc, key, v)
    {
        if (!json_is_string(v)) {
            fprintf(stderr, "hale prompt render: %s: variable '%.64s': expected a string, got %s\n",
                    path, key, hale_json_type_name(v));
            json_decref(doc);
            return HALE_EPARSE;
        }
        vars[n++] = (hale_prompt_var){key, json_string_value(v), json_string_length(v)};
    }
    *n_vars = n;
    *ret = doc;
    return 0;
}

static int render(const char *dir, const char *id, const char *vars_path, const char *rules_path,
                  bool json)
{
    hale_prompt_var vars[HALE_LLM_MAX_VARS];
    hale_redact_session *rs = NULL;
    hale_redact *rules = NULL;
    hale_prompt *p = NULL;
    json_t *doc = NULL;
    hale_diag d = {{0}};
    uint8_t sha[32];
    char hex[65], *out = NULL;
    size_t n_vars = 0, len = 0;
    int r, code = HALE_EXIT_USAGE;

    r = hale_prompt_load(dir, id, &p, &d);
    if (r < 0) {
        fprintf(stderr, "hale prompt render: %s\n", d.msg[0] ? d.msg : hale_strerror(r));
        goto out;
    }
    r = hale_redact_load(rules_path, &rules, &d);
    if (r < 0) {
        fprintf(stderr, "hale prompt render: %s\n", d.msg[0] ? d.msg : hale_strerror(r));
        goto out;
    }
    if (load_vars(vars_path, &doc, vars, &n_vars) < 0)
        goto out;
    r = hale_redact_session_new(rules, &rs);
    if (r == 0)
        r = hale_prompt_render(p, vars, n_vars, rs, &out, &len, sha, &d);
    if (r < 0) {
        fprintf(stderr, "hale prompt render: %s\n", d.msg[0] ? d.msg : hale_strerror(r));
        code = r == HALE_ECONFIG ? HALE_EXIT_USAGE : HALE_EXIT_FAILURE;
        goto out;
    }
    for (size_t i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", sha[i]);
    if (json) {
        json_t *o = json_pack("{s:s%,s:s,s:s,s:s}", "prompt", out, len, "sha256", hex, "id", id,
                              "schema", hale_llm_schema_text(hale_prompt_schema(p)));
        char *s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;

        json_decref(o);
        if (!s) {
            fprintf(stderr, "hale prompt render: out of memory\n");
            code = HALE_EXIT_FAILURE;
            goto out;
        }
        printf("%s\n", s);
        free(s);
    } else {
        fwrite(out, 1, len, stdout);
        if (len && out[len - 1] != '\n')
            putchar('\n');
    }
    code = fflush(stdout) == 0 ? HALE_EXIT_OK : HALE_EXIT_FAILURE;
out:
    free(out);
    hale_redact_session_free(rs);
    json_decref(doc);
    hale_redact_free(rules);
    hale_prompt_free(p);
    return code;
}

int hale_cmd_prompt(int argc, char **argv)
{
    const char *vars = NULL, *dir = NULL, *rules = HALE_REDACT_DEFAULT_RULES, *config = NULL;
    const char *pos[2];
    bool json = false;
    const hale_cli_opt opts[] = {
        {"--vars", true, &vars, NULL},   {"--dir", true, &dir, NULL},
        {"--rules", true, &rules, NULL}, {"--config", true, &config, NULL},
        {"--json", false, NULL, &json},  {NULL, false, NULL, NULL},
    };
    hale_config *cfg = NULL;
    int n_pos = 0, r;

    r = hale_cli_parse(argc, argv, opts, usage, pos, 2, &n_pos);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    if (n_pos != 2 || strcmp(pos[0], "render") != 0 || !vars) {
        fprintf(stderr, "hale prompt: expected render NAME@VERSION --vars FILE\n%s", usage);
        return HALE_EXIT_USAGE;
    }
    if (!dir) {
        if (hale_cli_load_config(config, &cfg, NULL) < 0)
            return HALE_EXIT_USAGE;
        dir = cfg->prompts_dir;
    }
    r = render(dir, pos[1], vars, rules, json);
    hale_config_unref(cfg);
    return r;
}
