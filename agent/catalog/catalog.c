/* agent/catalog/catalog.c - loading the tool catalog: every tools/<name>/manifest.json parsed
 * and its command pinned, the cross-tool references checked, the content hash the audit log
 * records, and the catalog's lifetime. The executor asks it for prepared runs. */
#define _DEFAULT_SOURCE /* realpath */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog_int.h"
#include "util/alloc.h"
#include "util/fileio.h"
#include "util/json.h"
#include "util/sha256.h"
#include "util/strparse.h"

void hale__strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

bool hale__name_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64 || s[0] < 'a' || s[0] > 'z')
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void strv_free_n(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static bool dir_entry_wanted(DIR *d, const struct dirent *de, const char *suffix)
{
    size_t len = strlen(de->d_name), sl = suffix ? strlen(suffix) : 0;
    struct stat stb;

    if (de->d_name[0] == '.' || len <= sl || (suffix && strcmp(de->d_name + len - sl, suffix)))
        return false;
    /* A tool folder may be a link (packaging often does that); a runbook file may not. */
    if (fstatat(dirfd(d), de->d_name, &stb, suffix ? AT_SYMLINK_NOFOLLOW : 0) < 0)
        return false;
    return suffix ? S_ISREG(stb.st_mode) : S_ISDIR(stb.st_mode);
}

int hale__dir_list(const char *dir, const char *suffix, size_t max, char ***ret, size_t *ret_n,
                   hale_diag *reterr)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int r = 0;

    if (!d) {
        r = -errno;
        hale_diag_set(reterr, "%s: cannot open directory: %s", dir, strerror(-r));
        return r;
    }
    while ((de = readdir(d))) {
        if (!dir_entry_wanted(d, de, suffix))
            continue;
        if (n >= max) {
            hale_diag_set(reterr, "%s: more than %zu entries", dir, max);
            r = HALE_ELIMIT;
            break;
        }
        if (hale_grow((void **)&names, &cap, n, sizeof(*names)) < 0 ||
            !(names[n] = strdup(de->d_name))) {
            r = -ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (r < 0) {
        strv_free_n(names, n);
        return r;
    }
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_str);
    *ret = names;
    *ret_n = n;
    return 0;
}

void hale__hash_named(char *const *names, char *const *texts, const size_t *lens,
                      const char *const *extra, size_t n, char out_hex[65])
{
    hale_sha256_part *parts = hale_reallocarray(NULL, 4 * n + 1, sizeof(*parts));
    uint8_t(*len8)[8] = hale_reallocarray(NULL, n + 1, sizeof(*len8));
    uint8_t h[HALE_SHA256_BYTES];
    size_t k = 0;

    if (!parts || !len8) {
        /* No digest without memory: an impossible value, never equal to a real one. */
        memset(out_hex, 'x', 64);
        out_hex[64] = '\0';
        free(parts);
        free(len8);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        for (int b = 0; b < 8; b++)
            len8[i][b] = (uint8_t)((uint64_t)lens[i] >> (56 - 8 * b));
        parts[k++] = (hale_sha256_part){names[i], strlen(names[i]) + 1};
        parts[k++] = (hale_sha256_part){len8[i], 8};
        parts[k++] = (hale_sha256_part){texts[i], lens[i]};
        if (extra)
            parts[k++] = (hale_sha256_part){extra[i], strlen(extra[i])};
    }
    hale_sha256(parts, k, h);
    hale_hex_encode(h, sizeof(h), out_hex);
    free(parts);
    free(len8);
}

int hale__json_file(const char *path, const char *where, size_t max, char **ret_text,
                    size_t *ret_len, json_t **ret, hale_diag *reterr)
{
    char *text = NULL, pos[600];
    size_t len = 0;
    int line = 0, col = 0, r;

    r = hale_file_read(path, max, &text, &len, reterr);
    if (r < 0) {
        if (r == HALE_ELIMIT)
            hale_diag_set(reterr, "%s: larger than %zu bytes", where, max);
        return r;
    }
    r = hale_json_parse_pos(text, len, ret, &line, &col, reterr);
    if (r < 0) {
        free(text);
        if (r == -ENOMEM)
            return r;
        snprintf(pos, sizeof(pos), "%s:%d:%d", where, line, col);
        hale_diag_prefix(reterr, pos);
        return HALE_EPARSE;
    }
    if (!json_is_object(*ret)) {
        json_decref(*ret);
        free(text);
        hale_diag_set(reterr, "%s: expected a JSON object", where);
        return HALE_ESCHEMA;
    }
    *ret_text = text;
    *ret_len = len;
    return 0;
}

/* ---- Lifetime ------------------------------------------------------------------------------ */

static void catalog_free(hale_catalog *c)
{
    for (size_t i = 0; i < c->n_tools; i++)
        hale__tool_free(c->tools[i]);
    free(c->tools);
    free(c);
}

hale_catalog *hale_catalog_ref(hale_catalog *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

void hale_catalog_unref(hale_catalog *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1)
        catalog_free(c);
}

/* ---- Loading ------------------------------------------------------------------------------- */

/* Parse dir/name/manifest.json; *ret is NULL (and 0 returned) when the folder has none. */
static int load_one(const char *dir, const char *name, struct hale_tool **ret, hale_diag *reterr)
{
    char where[600], folder[4096], file[4200], real[4096];
    struct hale_tool *t = NULL;
    json_t *root = NULL;
    char *text = NULL;
    size_t len = 0;
    int r;

    snprintf(where, sizeof(where), "tools/%s/manifest.json", name);
    if (snprintf(folder, sizeof(folder), "%s/%s", dir, name) >= (int)sizeof(folder) ||
        !realpath(folder, real)) {
        hale_diag_set(reterr, "%s: cannot resolve the tool folder: %s", where, strerror(errno));
        return HALE_ESCHEMA;
    }
    snprintf(file, sizeof(file), "%s/manifest.json", real);
    if (access(file, F_OK) < 0 && errno == ENOENT) {
        *ret = NULL;
        return 0;
    }
    r = hale__json_file(file, where, HALE_CATALOG_MAX_MANIFEST, &text, &len, &root, reterr);
    if (r < 0)
        return r;
    r = hale__tool_parse(name, real, where, root, &t, reterr);
    json_decref(root);
    if (r < 0) {
        free(text);
        return r;
    }
    t->manifest_text = text;
    t->manifest_len = len;
    *ret = t;
    return 0;
}

static hale_catalog *catalog_new(size_t n)
{
    hale_catalog *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    if (!(c->tools = calloc(n ? n : 1, sizeof(*c->tools)))) {
        free(c);
        return NULL;
    }
    return c;
}

static void catalog_hash(hale_catalog *c)
{
    char **names = calloc(c->n_tools + 1, sizeof(*names));
    char **texts = calloc(c->n_tools + 1, sizeof(*texts));
    size_t *lens = calloc(c->n_tools + 1, sizeof(*lens));
    const char **extra = calloc(c->n_tools + 1, sizeof(*extra));

    if (names && texts && lens && extra) {
        for (size_t i = 0; i < c->n_tools; i++) {
            names[i] = c->tools[i]->name;
            texts[i] = c->tools[i]->manifest_text;
            lens[i] = c->tools[i]->manifest_len;
            extra[i] = c->tools[i]->sha256_hex;
        }
        hale__hash_named(names, texts, lens, extra, c->n_tools, c->hash_hex);
    } else {
        memset(c->hash_hex, 'x', 64); /* never equal to a real digest */
        c->hash_hex[64] = '\0';
    }
    free(names);
    free(texts);
    free(lens);
    free(extra);
}

int hale_catalog_load(const char *dir, hale_catalog **ret, hale_diag *reterr)
{
    hale_catalog *c = NULL;
    char **names = NULL;
    size_t n = 0;
    int r;

    r = hale__dir_list(dir, NULL, HALE_CATALOG_MAX_TOOLS, &names, &n, reterr);
    if (r == -ENOENT) {
        names = NULL, n = 0, r = 0;
    }
    if (r < 0)
        return r;
    if (!(c = catalog_new(n))) {
        strv_free_n(names, n);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n && r == 0; i++) {
        struct hale_tool *t = NULL;

        r = load_one(dir, names[i], &t, reterr);
        if (r == 0 && t)
            c->tools[c->n_tools++] = t;
    }
    for (size_t i = 0; i < c->n_tools && r == 0; i++)
        r = hale__tool_link(c, c->tools[i], reterr);
    strv_free_n(names, n);
    if (r < 0) {
        if (r == -ENOMEM)
            hale_diag_set(reterr, "out of memory loading the tool catalog");
        hale_catalog_unref(c);
        return r;
    }
    catalog_hash(c);
    *ret = c;
    return 0;
}

int hale_catalog_check(const char *dir,
                       void (*cb)(const char *manifest_path, int err, const hale_diag *d, void *ud),
                       void *ud)
{
    hale_catalog *c = NULL;
    char **names = NULL, path[4200];
    size_t n = 0;
    int bad = 0, r;
    hale_diag d = {{0}};

    r = hale__dir_list(dir, NULL, HALE_CATALOG_MAX_TOOLS, &names, &n, &d);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    if (!(c = catalog_new(n))) {
        strv_free_n(names, n);
        return -ENOMEM;
    }
    /* Every manifest alone first, then the references between the valid ones. */
    for (size_t i = 0; i < n; i++) {
        struct hale_tool *t = NULL;

        d.msg[0] = '\0';
        snprintf(path, sizeof(path), "%s/%s/manifest.json", dir, names[i]);
        r = load_one(dir, names[i], &t, &d);
        if (r == 0 && !t)
            continue;
        if (r == 0)
            c->tools[c->n_tools++] = t;
        else
            bad++;
        if (cb && r < 0)
            cb(path, r, &d, ud);
    }
    for (size_t i = 0; i < c->n_tools; i++) {
        d.msg[0] = '\0';
        snprintf(path, sizeof(path), "%s/%s/manifest.json", dir, c->tools[i]->name);
        r = hale__tool_link(c, c->tools[i], &d);
        bad += r < 0;
        if (cb)
            cb(path, r < 0 ? r : 0, &d, ud);
    }
    strv_free_n(names, n);
    hale_catalog_unref(c);
    return bad;
}

/* ---- Accessors ----------------------------------------------------------------------------- */

const char *hale_catalog_hash_hex(const hale_catalog *c)
{
    return c->hash_hex;
}

size_t hale_catalog_count(const hale_catalog *c)
{
    return c->n_tools;
}

const hale_tool *hale_catalog_at(const hale_catalog *c, size_t i)
{
    return i < c->n_tools ? c->tools[i] : NULL;
}

const hale_tool *hale_catalog_find(const hale_catalog *c, const char *name)
{
    size_t lo = 0, hi = c->n_tools;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(name, c->tools[mid]->name);

        if (cmp == 0)
            return c->tools[mid];
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *hale_tool_name(const hale_tool *t)
{
    return t->name;
}

const char *hale_tool_description(const hale_tool *t)
{
    return t->description;
}

hale_tool_kind hale_tool_kind_of(const hale_tool *t)
{
    return t->kind;
}

hale_policy_risk hale_tool_risk(const hale_tool *t)
{
    return t->risk;
}

bool hale_tool_reversible(const hale_tool *t)
{
    return t->rollback_tool != NULL;
}

bool hale_tool_idempotent(const hale_tool *t)
{
    return t->idempotent;
}

const char *hale_tool_path(const hale_tool *t)
{
    return t->path;
}

const char *hale_tool_sha256_hex(const hale_tool *t)
{
    return t->sha256_hex;
}

uint64_t hale_tool_timeout_ms(const hale_tool *t)
{
    return t->timeout_ms;
}

uint32_t hale_tool_required_layers(const hale_tool *t)
{
    return t->base.require;
}

int hale_tool_verify_command(const hale_tool *t, hale_diag *reterr)
{
    char now[65];
    int r = hale__command_hash(t->path, t->path, now, reterr);

    if (r < 0)
        return r;
    if (strcmp(now, t->sha256_hex) != 0)
        return hale_diag_set(reterr,
                             "command: '%.256s' changed since the catalog was loaded (sha256 "
                             "%.16s..., pinned %.16s...)",
                             t->path, now, t->sha256_hex),
               HALE_EPOLICY;
    return 0;
}
