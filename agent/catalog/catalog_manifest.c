/* agent/catalog/catalog_manifest.c - one tools/<name>/manifest.json into a struct hale_tool:
 * the closed schema of docs/tools.md, the pinned command (its real path inside the folder and
 * its SHA-256) and the sandbox profile the manifest declares. Errors name the JSON path. */
#define _DEFAULT_SOURCE /* realpath */
#include "internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog_int.h"
#include "hale/sandbox.h"
#include "util/json.h"
#include "util/regex.h"
#include "util/sha256.h"
#include "util/strparse.h"

struct top {
    const char *name;
    const char *description;
    const char *kind;
    const char *risk;
    bool idempotent;
    bool reversible;
    const char *command;
    json_t *args;
    json_t *required;
    int64_t timeout_s;
    json_t *limits;
    json_t *network;
    json_t *writable;
    json_t *readable;
    json_t *env;
    json_t *sandbox;
    json_t *precondition;
    json_t *verify;
    json_t *rollback;
};

#define F(n, t, req)                                                                               \
    {                                                                                              \
#n, HALE_JSON_##t, req, offsetof(struct top, n)                                            \
    }
static const hale_json_field top_table[] = {
    F(name, STRING, true),
    F(description, STRING, true),
    F(kind, STRING, true),
    F(risk, STRING, true),
    F(idempotent, BOOL, false),
    F(reversible, BOOL, false),
    F(command, STRING, true),
    F(args, OBJECT, false),
    F(required, STRING_ARRAY, false),
    F(timeout_s, INT, false),
    F(limits, OBJECT, false),
    F(network, OBJECT, false),
    F(writable, STRING_ARRAY, false),
    F(readable, STRING_ARRAY, false),
    F(env, STRING_ARRAY, false),
    F(sandbox, OBJECT, false),
    F(precondition, OBJECT, false),
    F(verify, OBJECT, false),
    F(rollback, OBJECT, false),
};
#undef F

void hale__tool_free(struct hale_tool *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->description);
    free(t->dir);
    free(t->path);
    for (size_t i = 0; i < t->n_args; i++)
        hale__arg_release(&t->args[i]);
    free(t->args);
    hale__strv_free(t->connect);
    hale__strv_free(t->writable);
    hale__strv_free(t->readable);
    hale__strv_free(t->env);
    hale__check_decl_release(&t->pre);
    hale__check_decl_release(&t->verify);
    free(t->rollback_tool);
    json_decref(t->rollback_args);
    json_decref(t->manifest);
    free(t->manifest_text);
    pcre2_match_context_free(t->mctx);
    free(t);
}

/* ---- The command --------------------------------------------------------------------------- */

static bool rel_path_ok(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || s[0] == '/' || len >= 1024)
        return false;
    for (const char *p = s; *p; p += strcspn(p, "/"), p += *p == '/') {
        size_t seg = strcspn(p, "/");

        if (seg == 0 || (seg == 2 && p[0] == '.' && p[1] == '.') || (seg == 1 && p[0] == '.'))
            return false;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static int hash_fd(int fd, size_t size, char out_hex[65])
{
    uint8_t h[HALE_SHA256_BYTES];
    char *buf = malloc(size ? size : 1);
    size_t got = 0;
    ssize_t n;

    if (!buf)
        return -ENOMEM;
    while (got < size && (n = read(fd, buf + got, size - got)) > 0)
        got += (size_t)n;
    if (got != size) {
        free(buf);
        return -EIO;
    }
    hale_sha256(&(hale_sha256_part){buf, size}, 1, h);
    hale_hex_encode(h, sizeof(h), out_hex);
    free(buf);
    return 0;
}

int hale__command_hash(const char *path, const char *shown, char out_hex[65], hale_diag *reterr)
{
    struct stat stb;
    int fd, r;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &stb) < 0) {
        r = errno;
        if (fd >= 0)
            close(fd);
        return hale_diag_set(reterr, "command: '%.128s': %s", shown, strerror(r)), HALE_ESCHEMA;
    }
    r = 0;
    if (!S_ISREG(stb.st_mode))
        r = (hale_diag_set(reterr, "command: '%.128s' is not a regular file", shown), HALE_ESCHEMA);
    else if (!(stb.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
        r = (hale_diag_set(reterr, "command: '%.128s' is not executable", shown), HALE_ESCHEMA);
    else if (stb.st_mode & S_IWOTH)
        r = (hale_diag_set(reterr, "command: '%.128s' is world-writable", shown), HALE_ESCHEMA);
    else if ((uint64_t)stb.st_size > HALE_CATALOG_MAX_COMMAND)
        r = (hale_diag_set(reterr, "command: larger than %u bytes", HALE_CATALOG_MAX_COMMAND),
             HALE_ELIMIT);
    if (r == 0 && (r = hash_fd(fd, (size_t)stb.st_size, out_hex)) == -EIO)
        r = (hale_diag_set(reterr, "command: '%.128s' changed while it was read", shown),
             HALE_ESCHEMA);
    close(fd);
    return r;
}

/* Resolve the command inside the folder, refuse what could change under us, and hash it. */
static int pin_command(struct hale_tool *t, const char *command, hale_diag *reterr)
{
    char joined[4200], real[4096];
    size_t dl = strlen(t->dir);
    int r;

    if (!rel_path_ok(command))
        return hale_diag_set(reterr,
                             "command: '%.128s' must be a path relative to the tool folder, "
                             "without '.' or '..' segments",
                             command),
               HALE_ESCHEMA;
    snprintf(joined, sizeof(joined), "%s/%s", t->dir, command);
    if (!realpath(joined, real))
        return hale_diag_set(reterr, "command: '%.128s': %s", command, strerror(errno)),
               HALE_ESCHEMA;
    if (strncmp(real, t->dir, dl) != 0 || real[dl] != '/')
        return hale_diag_set(reterr, "command: '%.128s' resolves outside the tool folder", command),
               HALE_ESCHEMA;
    r = hale__command_hash(real, command, t->sha256_hex, reterr);
    if (r == 0 && !(t->path = strdup(real)))
        r = -ENOMEM;
    return r;
}

/* ---- limits, network, paths, env, sandbox --------------------------------------------------- */

struct limit_row {
    const char *name; /* member of "limits" */
    int64_t min;      /* inclusive */
    int64_t max;      /* inclusive */
    int64_t scale;    /* multiplied into the spec field */
};

static const struct limit_row limit_rows[] = {
    {"memory_mb", 16, 65536, 1 << 20},   {"processes", 1, 4096, 1},
    {"file_size_mb", 1, 65536, 1 << 20}, {"cpu_s", 1, 3600, 1},
    {"open_files", 4, 65536, 1},         {"output_bytes", 1, HALE_SANDBOX_MAX_OUTPUT, 1},
};

static void set_limit(hale_sandbox_spec *s, size_t row, uint64_t v)
{
    switch (row) {
    case 0:
        s->memory_bytes = v;
        break;
    case 1:
        s->max_processes = (uint32_t)v;
        break;
    case 2:
        s->file_bytes = v;
        break;
    case 3:
        s->cpu_s = (uint32_t)v;
        break;
    case 4:
        s->max_fds = (uint32_t)v;
        break;
    default:
        s->stdout_max = s->stderr_max = (size_t)v;
        break;
    }
}

static int parse_limits(struct hale_tool *t, const json_t *limits, hale_diag *reterr)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)(uintptr_t)limits, key, v)
    {
        size_t row = 0;

        while (row < HALE_ARRAY_SIZE(limit_rows) && strcmp(limit_rows[row].name, key) != 0)
            row++;
        if (row == HALE_ARRAY_SIZE(limit_rows))
            return hale_diag_set(reterr,
                                 "limits.%.64s: unknown member, expected memory_mb, processes, "
                                 "file_size_mb, cpu_s, open_files or output_bytes",
                                 key),
                   HALE_ESCHEMA;
        if (!json_is_integer(v) || json_integer_value(v) < limit_rows[row].min ||
            json_integer_value(v) > limit_rows[row].max)
            return hale_diag_set(reterr, "limits.%s: expected an integer from %lld to %lld", key,
                                 (long long)limit_rows[row].min, (long long)limit_rows[row].max),
                   HALE_ESCHEMA;
        set_limit(&t->base, row, (uint64_t)json_integer_value(v) * (uint64_t)limit_rows[row].scale);
    }
    return 0;
}

static char **strv_from(const json_t *arr, size_t extra)
{
    char **v = calloc(json_array_size(arr) + extra + 1, sizeof(*v));
    size_t i;
    json_t *e;

    if (!v)
        return NULL;
    json_array_foreach(arr, i, e)
    {
        if (!(v[i] = strdup(json_string_value(e)))) {
            hale__strv_free(v);
            return NULL;
        }
    }
    return v;
}

static const char *const args_only[] = {"args", NULL};

static int parse_network(struct hale_tool *t, const json_t *net, hale_diag *reterr)
{
    json_t *connect = json_object_get(net, "connect"), *e;
    char host[256], where[64];
    uint16_t port;
    size_t i;
    int r;

    if (json_object_size(net) != (connect ? 1u : 0u) || !json_is_array(connect))
        return hale_diag_set(reterr, "network: expected {\"connect\": [\"HOST:PORT\", ...]}"),
               HALE_ESCHEMA;
    /* The sandbox's own limit: a manifest that passes `hale tool check` must also run. */
    if (json_array_size(connect) > HALE_SANDBOX_MAX_CONNECT)
        return hale_diag_set(reterr, "network.connect: more than %u destinations",
                             HALE_SANDBOX_MAX_CONNECT),
               HALE_ELIMIT;
    json_array_foreach(connect, i, e)
    {
        snprintf(where, sizeof(where), "network.connect[%zu]", i);
        if (!json_is_string(e))
            return hale_diag_set(reterr, "%s: expected string", where), HALE_ESCHEMA;
        if ((r = hale__tmpl_check(e, args_only, t, where, reterr)) < 0)
            return r;
        if (!strstr(json_string_value(e), "{{") &&
            hale_parse_hostport(json_string_value(e), host, sizeof(host), &port) < 0)
            return hale_diag_set(reterr, "%s: '%.128s', expected HOST:PORT", where,
                                 json_string_value(e)),
                   HALE_ESCHEMA;
    }
    if (!(t->connect = strv_from(connect, 0)))
        return -ENOMEM;
    return 0;
}

/* An absolute path below / without "." or "..", or exactly one "{{args.NAME}}". */
static int parse_paths(struct hale_tool *t, const json_t *arr, const char *what, size_t max,
                       char ***ret, hale_diag *reterr)
{
    char where[64];
    size_t i;
    json_t *e;
    int r;

    if (json_array_size(arr) > max)
        return hale_diag_set(reterr, "%s: more than %zu paths", what, max), HALE_ELIMIT;
    json_array_foreach(arr, i, e)
    {
        const char *s = json_string_value(e);

        snprintf(where, sizeof(where), "%s[%zu]", what, i);
        if (strstr(s, "{{")) {
            const struct hale__arg *a = NULL;
            char name[80];

            if ((r = hale__tmpl_check(e, args_only, t, where, reterr)) < 0)
                return r;
            if (hale__tmpl_whole(s, "args", name, sizeof(name)))
                a = hale__tool_arg(t, name);
            if (!a || a->type != ARG_STRING)
                return hale_diag_set(reterr,
                                     "%s: a template must be a whole \"{{args.NAME}}\" of a "
                                     "string argument",
                                     where),
                       HALE_ESCHEMA;
        } else if (!hale__abs_path_ok(s)) {
            return hale_diag_set(reterr,
                                 "%s: '%.128s', expected an absolute path below / without '.' "
                                 "or '..' segments",
                                 where, s),
                   HALE_ESCHEMA;
        }
    }
    return (*ret = strv_from(arr, 0)) ? 0 : -ENOMEM;
}

static int parse_env(struct hale_tool *t, const json_t *arr, hale_diag *reterr)
{
    static const char name_chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
    size_t i;
    json_t *e;

    if (json_array_size(arr) > HALE_SANDBOX_MAX_ENV - 1)
        return hale_diag_set(reterr, "env: more than %d names", HALE_SANDBOX_MAX_ENV - 1),
               HALE_ELIMIT;
    json_array_foreach(arr, i, e)
    {
        const char *s = json_string_value(e);
        size_t len = strlen(s);

        if (len == 0 || len > 128 || (s[0] >= '0' && s[0] <= '9') || strspn(s, name_chars) != len ||
            strcmp(s, "PATH") == 0)
            return hale_diag_set(reterr,
                                 "env[%zu]: '%.64s', expected a variable name (letters, digits, "
                                 "'_'; PATH is always set by hale)",
                                 i, s),
                   HALE_ESCHEMA;
    }
    return (t->env = strv_from(arr, 0)) ? 0 : -ENOMEM;
}

static int parse_caps(struct hale_tool *t, const json_t *caps, hale_diag *reterr)
{
    size_t i;
    json_t *e;

    json_array_foreach(caps, i, e)
    {
        int bit = hale_sandbox_cap_parse(json_string_value(e));

        if (bit < 0)
            return hale_diag_set(reterr,
                                 "sandbox.capabilities[%zu]: unknown capability '%.64s', "
                                 "expected a CAP_ name of <linux/capability.h>",
                                 i, json_string_value(e)),
                   HALE_ESCHEMA;
        t->base.keep_caps |= 1ull << bit;
    }
    return 0;
}

struct sandbox_fields {
    const char *run_as;
    json_t *capabilities;
    bool host_pid;
    json_t *require;
};

static const hale_json_field sandbox_table[] = {
    {"run_as", HALE_JSON_STRING, false, offsetof(struct sandbox_fields, run_as)},
    {"capabilities", HALE_JSON_STRING_ARRAY, false, offsetof(struct sandbox_fields, capabilities)},
    {"host_pid", HALE_JSON_BOOL, false, offsetof(struct sandbox_fields, host_pid)},
    {"require", HALE_JSON_STRING_ARRAY, false, offsetof(struct sandbox_fields, require)},
};

static int parse_sandbox(struct hale_tool *t, const json_t *sb, hale_diag *reterr)
{
    struct sandbox_fields f = {.run_as = "nobody"};
    hale_diag d;
    uint32_t bits;
    size_t i;
    json_t *e;
    int r;

    if (sb && (r = hale_json_fields(sb, sandbox_table, HALE_ARRAY_SIZE(sandbox_table),
                                    HALE_JSON_STRICT, &f, "sandbox", reterr)) < 0)
        return r;
    if (strcmp(f.run_as, "root") == 0)
        t->base.uid = t->base.gid = 0;
    else if (strcmp(f.run_as, "nobody") != 0)
        return hale_diag_set(reterr, "sandbox.run_as: '%.64s', expected nobody or root", f.run_as),
               HALE_ESCHEMA;
    if (f.capabilities && (r = parse_caps(t, f.capabilities, reterr)) < 0)
        return r;
    t->base.host_pid = f.host_pid;
    /* The relaxations that replace a layer take it out of the default set: the host's pid view
     * has no pid namespace and root has no unprivileged uid. Declared destinations keep the
     * network namespace (the launcher forwards to them) and kept capabilities keep the caps
     * layer (every other capability is still dropped, the bounding set included). */
    if (t->base.host_pid)
        t->base.require &= ~(uint32_t)HALE_SANDBOX_PIDNS;
    if (t->base.uid == 0)
        t->base.require &= ~(uint32_t)HALE_SANDBOX_UID;
    json_array_foreach(f.require, i, e)
    {
        if (strchr(json_string_value(e), ',') ||
            hale_sandbox_layers_parse(json_string_value(e), &bits, &d) < 0)
            return hale_diag_set(reterr,
                                 "sandbox.require[%zu]: unknown layer '%.64s' (docs/sandbox.md "
                                 "lists them)",
                                 i, json_string_value(e)),
                   HALE_ESCHEMA;
        t->base.require |= bits;
    }
    return 0;
}

/* ---- The whole manifest -------------------------------------------------------------------- */

static int parse_enums(struct hale_tool *t, const struct top *f, hale_diag *reterr)
{
    int risk = hale_policy_risk_parse(f->risk);

    if (strcmp(f->kind, "diagnostic") == 0)
        t->kind = HALE_TOOL_DIAGNOSTIC;
    else if (strcmp(f->kind, "remediation") == 0)
        t->kind = HALE_TOOL_REMEDIATION;
    else
        return hale_diag_set(reterr, "kind: '%.64s', expected diagnostic or remediation", f->kind),
               HALE_ESCHEMA;
    if (risk < 0)
        return hale_diag_set(reterr, "risk: '%.64s', expected low, medium, high or critical",
                             f->risk),
               HALE_ESCHEMA;
    t->risk = (hale_policy_risk)risk;
    t->idempotent = f->idempotent;
    if (f->timeout_s < 1 || f->timeout_s > HALE_CATALOG_MAX_TIMEOUT)
        return hale_diag_set(reterr, "timeout_s: %lld, expected 1 to %u", (long long)f->timeout_s,
                             HALE_CATALOG_MAX_TIMEOUT),
               HALE_ESCHEMA;
    t->timeout_ms = (uint64_t)f->timeout_s * 1000u;
    t->base.timeout_ms = t->timeout_ms;
    return 0;
}

static int parse_rollback(struct hale_tool *t, const json_t *rb, hale_diag *reterr)
{
    static const char *const ns[] = {"args", "output", NULL};
    const char *tool = json_string_value(json_object_get(rb, "tool"));
    json_t *args = json_object_get(rb, "args");
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)(uintptr_t)rb, key,
                        v) if (strcmp(key, "tool") != 0 &&
                               strcmp(key, "args") !=
                                   0) return hale_diag_set(reterr, "rollback.%.64s: unknown member",
                                                           key),
        HALE_ESCHEMA;
    if (!tool || !hale__name_valid(tool))
        return hale_diag_set(reterr, "rollback.tool: expected a tool name"), HALE_ESCHEMA;
    if (args && !json_is_object(args))
        return hale_diag_set(reterr, "rollback.args: expected object"), HALE_ESCHEMA;
    if (!(t->rollback_tool = strdup(tool)) ||
        !(t->rollback_args = args ? json_incref(args) : json_object()))
        return -ENOMEM;
    return hale__tmpl_check(t->rollback_args, ns, t, "rollback.args", reterr);
}

static int parse_fields(struct hale_tool *t, const struct top *f, hale_diag *reterr)
{
    int r;

    if ((r = parse_enums(t, f, reterr)) < 0 || (r = pin_command(t, f->command, reterr)) < 0)
        return r;
    if (f->args && (r = hale__args_parse(t, f->args, f->required, reterr)) < 0)
        return r;
    if (!f->args && json_array_size(f->required))
        return hale_diag_set(reterr, "required: names arguments, but there are no args"),
               HALE_ESCHEMA;
    if (t->kind == HALE_TOOL_DIAGNOSTIC && json_array_size(f->writable))
        return (hale_diag_set(reterr, "writable: a diagnostic tool is read-only"), HALE_ESCHEMA);
    if ((f->limits && (r = parse_limits(t, f->limits, reterr)) < 0) ||
        (f->network && (r = parse_network(t, f->network, reterr)) < 0) ||
        (r = parse_paths(t, f->writable, "writable", HALE_SANDBOX_MAX_PATHS, &t->writable,
                         reterr)) < 0 ||
        (r = parse_paths(t, f->readable, "readable", HALE_SANDBOX_MAX_PATHS - 1, &t->readable,
                         reterr)) < 0 ||
        (r = parse_env(t, f->env, reterr)) < 0 || (r = parse_sandbox(t, f->sandbox, reterr)) < 0)
        return r;
    if ((f->precondition &&
         (r = hale__check_parse(t, f->precondition, "precondition", &t->pre, reterr)) < 0) ||
        (f->verify && (r = hale__check_parse(t, f->verify, "verify", &t->verify, reterr)) < 0) ||
        (f->rollback && (r = parse_rollback(t, f->rollback, reterr)) < 0))
        return r;
    if (json_object_get(t->manifest, "reversible") && f->reversible != (f->rollback != NULL))
        return hale_diag_set(reterr, "reversible: %s, but the manifest %s a rollback",
                             f->reversible ? "true" : "false", f->rollback ? "has" : "has no"),
               HALE_ESCHEMA;
    return 0;
}

static struct hale_tool *tool_new(json_t *root)
{
    struct hale_tool *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    hale_sandbox_spec_init(&t->base);
    t->manifest = json_incref(root);
    if (!(t->mctx = hale_regex_limits_new())) {
        hale__tool_free(t);
        return NULL;
    }
    return t;
}

int hale__tool_parse(const char *name, const char *dir, const char *where, json_t *root,
                     struct hale_tool **ret, hale_diag *reterr)
{
    struct top f = {.timeout_s = HALE_CATALOG_DEFAULT_TIMEOUT};
    json_t *empty = json_array();
    struct hale_tool *t = tool_new(root);
    int r;

    f.writable = f.readable = f.env = empty;
    if (!t || !empty) {
        r = -ENOMEM;
        goto out;
    }
    r = hale_json_fields(root, top_table, HALE_ARRAY_SIZE(top_table), HALE_JSON_STRICT, &f, "",
                         reterr);
    if (r == 0 && strcmp(f.name, name) != 0)
        r = (hale_diag_set(reterr, "name: '%.64s' differs from the folder name '%.64s'", f.name,
                           name),
             HALE_ESCHEMA);
    if (r == 0 && !hale__name_valid(name))
        r = (hale_diag_set(reterr, "name: expected ^[a-z][a-z0-9_]{0,63}$"), HALE_ESCHEMA);
    if (r == 0 && (!(t->name = strdup(name)) || !(t->description = strdup(f.description)) ||
                   !(t->dir = strdup(dir))))
        r = -ENOMEM;
    if (r == 0)
        r = parse_fields(t, &f, reterr);
out:
    json_decref(empty);
    if (r < 0) {
        if (r != -ENOMEM)
            hale_diag_prefix(reterr, where);
        hale__tool_free(t);
        return r;
    }
    *ret = t;
    return 0;
}

int hale__tool_link(const hale_catalog *c, const struct hale_tool *t, hale_diag *reterr)
{
    char where[600];
    int r = 0;

    snprintf(where, sizeof(where), "tools/%s/manifest.json", t->name);
    if (t->pre.present)
        r = hale__check_link(c, t, &t->pre, "precondition", reterr);
    if (r == 0 && t->verify.present)
        r = hale__check_link(c, t, &t->verify, "verify", reterr);
    if (r == 0 && t->rollback_tool)
        r = hale__call_link(c, t->rollback_tool, t->rollback_args, "rollback", false, reterr);
    if (r < 0 && r != -ENOMEM)
        hale_diag_prefix(reterr, where);
    return r;
}
