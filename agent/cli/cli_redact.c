/* agent/cli/cli_redact.c - `hale redact`: redact stdin to stdout with the rules an LLM request
 * would go through, or list what was found (--json). This is how operators test their rules.
 * Fails closed: when redaction fails, nothing of the input is written. */
#include "internal.h"

#include <unistd.h>

#include "cli/cli.h"
#include "hale/redact.h"
#include "util/buf.h"

static const char usage[] =
    "usage: hale redact [--json] [--rules FILE]\n\n"
    "Read text on stdin and write it to stdout with secrets and personal data replaced by\n"
    "typed placeholders (<EMAIL_1>, <CLOUD_KEY_2>, ...); the same value always gets the same\n"
    "placeholder, and lines stay lines. With --json, print what was found instead: each\n"
    "finding's type, rule, line, column, offset and length (never the value), and counts by\n"
    "type. --rules FILE defaults to " HALE_REDACT_DEFAULT_RULES ". At most 256 MiB of input.\n"
    "Exit status: 0 done, 1 redaction failed (nothing is written), 2 usage or bad rules.\n";

static int read_stdin(hale_buf *in)
{
    char chunk[65536];
    ssize_t n;

    while ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (hale_buf_append(in, chunk, (size_t)n) < 0)
            return in->len + (size_t)n > in->max_len ? HALE_ELIMIT : -ENOMEM;
    }
    return 0;
}

static int write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* {"findings":[{type, rule, line, column, offset, length}...], "counts":{TYPE: n}, ...}. */
static int findings_json(const hale_redact_result *res, const char *in, hale_buf *out)
{
    const char *types[64];
    size_t counts[64], n_types = 0, line = 1, line_start = 0, pos = 0;
    int r = hale_buf_puts(out, "{\"findings\":[");

    for (size_t i = 0; r == 0 && i < res->n_findings; i++) {
        const hale_redact_finding *f = &res->findings[i];
        size_t t;

        for (; pos < f->offset; pos++)
            if (in[pos] == '\n') {
                line++;
                line_start = pos + 1;
            }
        r = hale_buf_printf(out, "%s{\"type\":", i ? "," : "");
        r = r ? r : hale_buf_json_str(out, f->type, strlen(f->type));
        r = r ? r : hale_buf_puts(out, ",\"rule\":");
        r = r ? r : hale_buf_json_str(out, f->rule_id, strlen(f->rule_id));
        r = r ? r
              : hale_buf_printf(out, ",\"line\":%zu,\"column\":%zu,\"offset\":%zu,\"length\":%zu}",
                                line, f->offset - line_start + 1, f->offset, f->length);
        for (t = 0; t < n_types && strcmp(types[t], f->type) != 0; t++)
            ;
        if (t == n_types && n_types < HALE_ARRAY_SIZE(types)) {
            types[n_types] = f->type;
            counts[n_types++] = 0;
        }
        if (t < n_types)
            counts[t]++;
    }
    r = r ? r : hale_buf_puts(out, "],\"counts\":{");
    for (size_t t = 0; r == 0 && t < n_types; t++) {
        r = hale_buf_printf(out, "%s\"%s\":%zu", t ? "," : "", types[t], counts[t]);
    }
    return r ? r
             : hale_buf_printf(out, "},\"total\":%zu,\"escaped\":%zu}\n", res->n_findings,
                               res->n_escaped);
}

static int redact_input(const hale_redact *rules, const hale_buf *in, bool json)
{
    hale_redact_result res = {0};
    hale_redact_session *s = NULL;
    hale_buf out;
    int r;

    r = hale_redact_session_new(rules, &s);
    if (r >= 0)
        r = hale_redact_apply(s, in->data ? in->data : "", in->len, &res);
    if (r < 0) {
        fprintf(stderr, "hale redact: redaction failed, nothing written: %s\n", hale_strerror(r));
        hale_redact_session_free(s);
        return HALE_EXIT_FAILURE;
    }
    hale_buf_init(&out, SIZE_MAX / 2);
    if (json)
        r = findings_json(&res, in->data ? in->data : "", &out);
    r = r < 0 ? r : write_all(json ? out.data : res.text, json ? out.len : res.len);
    if (r < 0)
        fprintf(stderr, "hale redact: cannot write the output: %s\n", hale_strerror(r));
    hale_buf_release(&out);
    hale_redact_result_release(&res);
    hale_redact_session_free(s);
    return r < 0 ? HALE_EXIT_FAILURE : HALE_EXIT_OK;
}

int hale_cmd_redact(int argc, char **argv)
{
    const char *rules_path = HALE_REDACT_DEFAULT_RULES;
    bool json = false;
    const hale_cli_opt opts[] = {
        {"--json", false, NULL, &json},
        {"--rules", true, &rules_path, NULL},
        {NULL, false, NULL, NULL},
    };
    hale_redact *rules = NULL;
    hale_diag diag = {{0}};
    hale_buf in;
    int r;

    r = hale_cli_parse(argc, argv, opts, usage, NULL, 0, NULL);
    if (r != 0)
        return r > 0 ? HALE_EXIT_OK : HALE_EXIT_USAGE;
    r = hale_redact_load(rules_path, &rules, &diag);
    if (r < 0) {
        fprintf(stderr, "hale redact: %s\n", diag.msg[0] ? diag.msg : hale_strerror(r));
        return HALE_EXIT_USAGE;
    }
    hale_buf_init(&in, HALE_REDACT_MAX_INPUT_BYTES);
    r = read_stdin(&in);
    if (r < 0) {
        fprintf(stderr, "hale redact: cannot read stdin: %s\n",
                r == HALE_ELIMIT ? "input is larger than 256 MiB" : hale_strerror(r));
        hale_buf_release(&in);
        hale_redact_free(rules);
        return HALE_EXIT_FAILURE;
    }
    r = redact_input(rules, &in, json);
    hale_buf_release(&in);
    hale_redact_free(rules);
    return r;
}
