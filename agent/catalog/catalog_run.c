/* agent/catalog/catalog_run.c - one prepared invocation of a tool: validated arguments into the
 * argv hale execs directly (no shell), the environment allowlist, and the sandbox spec the
 * manifest declares; the argv digest the audit leaf records; the tool's result line. */
#include "internal.h"

#include "catalog/catalog_int.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/sha256.h"
#include "util/strparse.h"

#define TOOL_PATH_ENV "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

struct hale_tool_run {
    hale_sandbox_spec spec; /* pointers below are owned here */
    json_t *args;           /* validated, defaults applied */
    char **argv;            /* "--NAME=VALUE", NULL-terminated */
    char **env;             /* "NAME=VALUE", NULL-terminated */
    char **writable;        /* filled paths, NULL-terminated */
    char **readable;        /* the tool folder, then filled paths */
    char **connect;         /* filled "HOST:PORT", NULL-terminated, or NULL */
    char sha256_hex[65];    /* of path and argv */
};

void hale_tool_run_free(hale_tool_run *r)
{
    if (!r)
        return;
    json_decref(r->args);
    hale__strv_free(r->argv);
    hale__strv_free(r->env);
    hale__strv_free(r->writable);
    hale__strv_free(r->readable);
    hale__strv_free(r->connect);
    free(r);
}

const hale_sandbox_spec *hale_tool_run_spec(const hale_tool_run *r)
{
    return &r->spec;
}

const char *hale_tool_run_argv_sha256(const hale_tool_run *r)
{
    return r->sha256_hex;
}

const json_t *hale_tool_run_args(const hale_tool_run *r)
{
    return r->args;
}

static int value_text(const json_t *v, hale_buf *b)
{
    if (json_is_string(v))
        return hale_buf_append(b, json_string_value(v), json_string_length(v));
    if (json_is_integer(v))
        return hale_buf_printf(b, "%lld", (long long)json_integer_value(v));
    return hale_buf_puts(b, json_is_true(v) ? "true" : "false");
}

/* argv in the order of the (sorted) schema: every argument present after defaults. */
static int build_argv(const struct hale_tool *t, hale_tool_run *r, hale_diag *reterr)
{
    size_t n = 0;
    hale_buf b;
    int e;

    if (!(r->argv = calloc(t->n_args + 1, sizeof(*r->argv))))
        return -ENOMEM;
    for (size_t i = 0; i < t->n_args; i++) {
        const json_t *v = json_object_get(r->args, t->args[i].name);

        if (!v)
            continue;
        hale_buf_init(&b, HALE_SANDBOX_MAX_ARG);
        if ((e = hale_buf_printf(&b, "--%s=", t->args[i].name)) < 0 ||
            (e = value_text(v, &b)) < 0) {
            hale_buf_release(&b);
            if (e == HALE_ELIMIT)
                return hale_diag_set(reterr, "args.%s: the argument is longer than %d bytes",
                                     t->args[i].name, HALE_SANDBOX_MAX_ARG),
                       HALE_ESCHEMA;
            return e;
        }
        if (!(r->argv[n++] = hale_buf_detach(&b, NULL)))
            return -ENOMEM;
    }
    return 0;
}

static void hash_argv(const char *path, char *const *argv, char out_hex[65])
{
    hale_sha256_part parts[HALE_SANDBOX_MAX_ARGS + 2];
    uint8_t h[HALE_SHA256_BYTES];
    size_t n = 0;

    parts[n++] = (hale_sha256_part){path, strlen(path) + 1};
    for (size_t i = 0; argv[i] && n < HALE_ARRAY_SIZE(parts); i++)
        parts[n++] = (hale_sha256_part){argv[i], strlen(argv[i]) + 1};
    hale_sha256(parts, n, h);
    hale_hex_encode(h, sizeof(h), out_hex);
}

static int build_env(const struct hale_tool *t, hale_tool_run *r, hale_diag *reterr)
{
    size_t n = 0, cnt = 0;

    while (t->env && t->env[cnt])
        cnt++;
    if (!(r->env = calloc(cnt + 2, sizeof(*r->env))) || !(r->env[n++] = strdup(TOOL_PATH_ENV)))
        return -ENOMEM;
    for (size_t i = 0; i < cnt; i++) {
        const char *v = getenv(t->env[i]);
        size_t len;

        if (!v)
            continue; /* unset in hale's environment: unset for the tool too */
        len = strlen(t->env[i]) + 1 + strlen(v);
        if (len > HALE_SANDBOX_MAX_ARG)
            return hale_diag_set(reterr, "env.%s: hale's value is longer than %d bytes", t->env[i],
                                 HALE_SANDBOX_MAX_ARG),
                   HALE_ESCHEMA;
        if (!(r->env[n] = malloc(len + 1)))
            return -ENOMEM;
        snprintf(r->env[n++], len + 1, "%s=%s", t->env[i], v);
    }
    return 0;
}

static const json_t *args_lookup(void *ud, const char *ns, const char *name)
{
    return strcmp(ns, "args") == 0 ? json_object_get((const json_t *)ud, name) : NULL;
}

/* Fill templates of src into a NULL-terminated list after skip leading slots. An element whose
 * whole template names an absent optional argument is left out (nothing to bind or reach). */
static int fill_list(char *const *src, const json_t *args, const char *what, size_t skip,
                     bool paths, char ***ret, hale_diag *reterr)
{
    char where[64], name[80], host[256];
    size_t n = 0, k = skip;
    json_t *tmpl, *out;
    uint16_t port;
    int r = 0;

    while (src && src[n])
        n++;
    if (!(*ret = calloc(n + skip + 1, sizeof(**ret))))
        return -ENOMEM;
    for (size_t i = 0; i < n && r == 0; i++) {
        snprintf(where, sizeof(where), "%s[%zu]", what, i);
        if (hale__tmpl_whole(src[i], "args", name, sizeof(name)) && !json_object_get(args, name))
            continue;
        if (!(tmpl = json_string(src[i])))
            return -ENOMEM;
        out = NULL;
        r = hale__tmpl_fill(tmpl, args_lookup, (void *)(uintptr_t)args, where, &out, reterr);
        json_decref(tmpl);
        if (r == 0 && paths && !hale__abs_path_ok(json_string_value(out)))
            r = (hale_diag_set(reterr, "%s: '%.128s' is not an absolute path below /", where,
                               json_string_value(out)),
                 HALE_ESCHEMA);
        if (r == 0 && !paths &&
            hale_parse_hostport(json_string_value(out), host, sizeof(host), &port) < 0)
            r = (hale_diag_set(reterr, "%s: '%.128s', expected HOST:PORT", where,
                               json_string_value(out)),
                 HALE_ESCHEMA);
        if (r == 0 && !((*ret)[k++] = strdup(json_string_value(out))))
            r = -ENOMEM;
        json_decref(out);
    }
    return r;
}

static int build_spec(const struct hale_tool *t, hale_tool_run *r, hale_diag *reterr)
{
    int e;

    if ((e = fill_list(t->writable, r->args, "writable", 0, true, &r->writable, reterr)) < 0 ||
        (e = fill_list(t->readable, r->args, "readable", 1, true, &r->readable, reterr)) < 0)
        return e;
    if (!(r->readable[0] = strdup(t->dir)))
        return -ENOMEM;
    if (t->connect &&
        (e = fill_list(t->connect, r->args, "network.connect", 0, false, &r->connect, reterr)) < 0)
        return e;
    r->spec = t->base;
    r->spec.path = t->path;
    r->spec.argv = (const char *const *)r->argv;
    r->spec.env = (const char *const *)r->env;
    r->spec.writable = (const char *const *)r->writable;
    r->spec.readable = (const char *const *)r->readable;
    r->spec.connect = (const char *const *)r->connect;
    return 0;
}

int hale_tool_prepare(const hale_tool *t, const json_t *args, hale_tool_run **ret,
                      hale_diag *reterr)
{
    hale_tool_run *r = calloc(1, sizeof(*r));
    json_t *none = args ? NULL : json_object();
    int e;

    if (!r || (!args && !none)) {
        free(r);
        return -ENOMEM;
    }
    e = hale__args_complete(t, args ? args : none, &r->args, reterr);
    json_decref(none);
    if (e < 0 || (e = build_argv(t, r, reterr)) < 0 || (e = build_env(t, r, reterr)) < 0 ||
        (e = build_spec(t, r, reterr)) < 0) {
        hale_tool_run_free(r);
        return e;
    }
    hash_argv(t->path, r->argv, r->sha256_hex);
    *ret = r;
    return 0;
}

json_t *hale_tool_output_json(const char *out, size_t len)
{
    size_t end = len, start;
    json_t *v = NULL;

    while (end > 0 && (out[end - 1] == '\n' || out[end - 1] == '\r' || out[end - 1] == ' ' ||
                       out[end - 1] == '\t'))
        end--;
    start = end;
    while (start > 0 && out[start - 1] != '\n')
        start--;
    if (start == end || out[start] != '{')
        return NULL;
    if (hale_json_parse(out + start, end - start, &v, NULL) < 0)
        return NULL;
    if (!json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

json_t *hale_tool_to_json(const hale_tool *t)
{
    json_t *j = json_deep_copy(t->manifest), *net;
    int r = 0;

    if (!j)
        return NULL;
    (void)json_object_del(j, "command");
    if (!json_object_get(j, "network")) {
        net = json_pack("{s:[]}", "connect");
        r |= json_object_set_new(j, "network", net);
    }
    r |= json_object_set_new(j, "reversible", json_boolean(t->rollback_tool != NULL));
    r |= json_object_set_new(j, "idempotent", json_boolean(t->idempotent));
    r |= json_object_set_new(j, "timeout_s", json_integer((json_int_t)(t->timeout_ms / 1000)));
    r |= json_object_set_new(j, "path", json_string(t->path));
    r |= json_object_set_new(j, "sha256", json_string(t->sha256_hex));
    if (!json_object_get(j, "args"))
        r |= json_object_set_new(j, "args", json_object());
    if (r) {
        json_decref(j);
        return NULL;
    }
    return j;
}
