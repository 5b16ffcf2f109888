/* agent/config/config.c - load hale.json against the schema table into an immutable,
 * refcounted snapshot; compare snapshots for SIGHUP; print the effective configuration.
 * Library code: it reports through hale_diag and never logs. */
#include "internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_int.h"
#include "hale/config.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/json.h"

static void config_free(hale_config *c)
{
    size_t i;

    for (i = 0; i < hale__config_n_keys; i++)
        hale__config_clear(c, &hale__config_keys[i]);
    free(c->source);
    free(c);
}

hale_config *hale_config_ref(hale_config *c)
{
    HALE_ASSERT(c && c->refs > 0);
    c->refs++;
    return c;
}

void hale_config_unref(hale_config *c)
{
    if (!c)
        return;
    HALE_ASSERT(c->refs > 0);
    if (--c->refs == 0)
        config_free(c);
}

/* A config holding every default, with source set to a copy of source. */
static int new_with_defaults(const char *source, hale_config **ret)
{
    hale_config *c = calloc(1, sizeof(*c));
    size_t i;
    int r = -ENOMEM;

    if (!c)
        return -ENOMEM;
    c->refs = 1;
    c->source = strdup(source);
    if (!c->source)
        goto out_free;
    for (i = 0; i < hale__config_n_keys; i++) {
        r = hale__config_set_default(c, &hale__config_keys[i]);
        if (r < 0)
            goto out_free;
    }
    *ret = c;
    return 0;
out_free:
    hale_config_unref(c);
    return r;
}

int hale_config_new_defaults(hale_config **ret)
{
    return new_with_defaults("(defaults)", ret);
}

const char *hale_config_default_path(void)
{
    return access(HALE_CONFIG_DEFAULT_FILE, R_OK) == 0 ? HALE_CONFIG_DEFAULT_FILE : NULL;
}

/* "FILE: unknown key 'foo' (known keys: listen, data_dir, ...)". */
static int unknown_key(const char *path, const char *key, hale_diag *reterr)
{
    char known[400];
    size_t len = 0, i;

    known[0] = '\0';
    for (i = 0; i < hale__config_n_keys && len < sizeof(known); i++)
        len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "",
                                hale__config_keys[i].key);
    hale_diag_set(reterr, "%s: unknown key '%.64s' (known keys: %s)", path, key, known);
    return HALE_ECONFIG;
}

/* Parse text into a top-level object, with "FILE:LINE:COL: reason" on failure. */
static int parse_object(const char *path, const char *text, size_t len, json_t **ret,
                        hale_diag *reterr)
{
    hale_diag why;
    int line, column, r;
    json_t *root;

    r = hale_json_parse_pos(text, len, &root, &line, &column, &why);
    if (r < 0) {
        if (line > 0)
            hale_diag_set(reterr, "%s:%d:%d: %s", path, line, column, why.msg);
        else
            hale_diag_set(reterr, "%s: %s", path, why.msg);
        return HALE_ECONFIG;
    }
    if (!json_is_object(root)) {
        hale_diag_set(reterr, "%s: expected a JSON object at the top level, got %s", path,
                      hale_json_type_name(root));
        json_decref(root);
        return HALE_ECONFIG;
    }
    *ret = root;
    return 0;
}

/* Apply every key of root over the defaults in c. */
static int apply(hale_config *c, const char *path, json_t *root, hale_diag *reterr)
{
    const char *key;
    json_t *v;
    size_t i;
    int r;

    json_object_foreach(root, key, v)
    {
        for (i = 0; i < hale__config_n_keys; i++)
            if (strcmp(hale__config_keys[i].key, key) == 0)
                break;
        if (i == hale__config_n_keys)
            return unknown_key(path, key, reterr);
        r = hale__config_set_json(c, &hale__config_keys[i], v, reterr);
        if (r == HALE_ECONFIG)
            hale_diag_prefix(reterr, path);
        if (r < 0)
            return r;
    }
    return 0;
}

int hale_config_load(const char *path, hale_config **ret, hale_diag *reterr)
{
    hale_config *c = NULL;
    json_t *root = NULL;
    char *text = NULL;
    size_t len = 0;
    int r;

    r = hale_file_read(path, HALE_MAX_CONFIG_BYTES, &text, &len, reterr);
    if (r == HALE_ELIMIT)
        r = HALE_ECONFIG;
    if (r < 0)
        goto out;
    r = parse_object(path, text, len, &root, reterr);
    if (r < 0)
        goto out;
    r = new_with_defaults(path, &c);
    if (r < 0)
        goto out;
    r = apply(c, path, root, reterr);
    if (r < 0)
        goto out;
    *ret = c;
    c = NULL;
out:
    hale_config_unref(c);
    json_decref(root);
    free(text);
    return r;
}

/* Short text of one value for a reload message. */
static void value_text(const hale_config *c, const hale__config_key *k, char *out, size_t size)
{
    json_t *v = hale__config_to_json_value(c, k);
    char *s = v ? hale_json_dump_canonical(v) : NULL;

    (void)snprintf(out, size, "%.100s%s", s ? s : "?", s && strlen(s) > 100 ? "..." : "");
    free(s);
    json_decref(v);
}

int hale_config_check_reload(const hale_config *cur, const hale_config *next, hale_diag *reterr)
{
    const hale__config_key *k;
    char was[128], now[128];
    size_t i;

    for (i = 0; i < hale__config_n_keys; i++) {
        k = &hale__config_keys[i];
        if (k->reloadable || hale__config_equal(cur, next, k))
            continue;
        value_text(cur, k, was, sizeof(was));
        value_text(next, k, now, sizeof(now));
        hale_diag_set(reterr, "%s: key '%s' changed from %s to %s, which needs a restart",
                      next->source, k->key, was, now);
        return HALE_ECONFIG;
    }
    return 0;
}

char *hale_config_to_json(const hale_config *c)
{
    json_t *obj = json_object(), *v;
    char *s = NULL;
    size_t i;

    if (!obj)
        return NULL;
    for (i = 0; i < hale__config_n_keys; i++) {
        v = hale__config_to_json_value(c, &hale__config_keys[i]);
        if (json_object_set_new(obj, hale__config_keys[i].key, v) < 0)
            goto out;
    }
    s = json_dumps(obj, JSON_INDENT(2));
out:
    json_decref(obj);
    return s;
}
