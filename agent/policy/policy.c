/* agent/policy/policy.c - loading a policy set: the files of a directory, parsed in two
 * phases, the tool index that keeps evaluation cost independent of unrelated rules, the
 * content hash the audit log records, and the set's lifetime (refcount, reload). */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/policy_int.h"
#include "util/alloc.h"
#include "util/json.h"
#include "util/regex.h"
#include "util/strparse.h"

static const char *const effect_names[] = {
    [HALE_POLICY_DENY] = "deny",
    [HALE_POLICY_REQUIRE_APPROVAL] = "require_approval",
    [HALE_POLICY_ALLOW] = "allow",
};
static const char *const source_names[] = {"runbook", "kb", "local_model", "llm", "human"};
static const char *const risk_names[] = {"low", "medium", "high", "critical"};

const char *hale_policy_effect_name(hale_policy_effect e)
{
    return (unsigned)e < HALE_ARRAY_SIZE(effect_names) ? effect_names[e] : "deny";
}

const char *hale__policy_source_name(hale_policy_source s)
{
    return (unsigned)s < HALE_ARRAY_SIZE(source_names) ? source_names[s] : "?";
}

const char *hale_policy_risk_name(hale_policy_risk r)
{
    return (unsigned)r < HALE_ARRAY_SIZE(risk_names) ? risk_names[r] : "?";
}

int hale__policy_source_parse(const char *s)
{
    for (size_t i = 0; i < HALE_ARRAY_SIZE(source_names); i++)
        if (strcmp(s, source_names[i]) == 0)
            return (int)i;
    return -1;
}

int hale_policy_risk_parse(const char *s)
{
    for (size_t i = 0; i < HALE_ARRAY_SIZE(risk_names); i++)
        if (strcmp(s, risk_names[i]) == 0)
            return (int)i;
    return -1;
}

static int free_idx_cb(const char *key, void *value, void *ud)
{
    struct idx_list *l = value;

    (void)key, (void)ud;
    free(l->v);
    free(l);
    return 0;
}

static void policy_free(hale_policy *p)
{
    for (size_t i = 0; i < p->n_rules; i++)
        hale__policy_rule_release(&p->rules[i]);
    free(p->rules);
    for (size_t i = 0; i < p->n_windows; i++)
        hale__policy_window_release(&p->windows[i]);
    free(p->windows);
    for (size_t i = 0; i < p->n_zones; i++)
        hale__policy_zone_free(p->zones[i]);
    free(p->zones);
    hale__policy_groups_free(p->groups);
    hale_map_free(p->ids);
    if (p->by_tool)
        (void)hale_map_foreach(p->by_tool, free_idx_cb, NULL);
    hale_map_free(p->by_tool);
    free(p->fallback.v);
    hale__policy_strv_free(p->files, p->n_files);
    pcre2_match_context_free(p->mctx);
    free(p);
}

hale_policy *hale_policy_ref(hale_policy *p)
{
    atomic_fetch_add(&p->refs, 1);
    return p;
}

void hale_policy_unref(hale_policy *p)
{
    if (p && atomic_fetch_sub(&p->refs, 1) == 1)
        policy_free(p);
}

size_t hale_policy_rule_count(const hale_policy *p)
{
    return p->n_rules;
}

const char *hale_policy_hash_hex(const hale_policy *p)
{
    return p->hash_hex;
}

static hale_policy *policy_new(void)
{
    hale_policy *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    atomic_init(&p->refs, 1);
    p->groups = hale_map_new();
    p->ids = hale_map_new();
    p->by_tool = hale_map_new();
    p->mctx = hale_regex_limits_new();
    if (!p->groups || !p->ids || !p->by_tool || !p->mctx) {
        policy_free(p);
        return NULL;
    }
    return p;
}

static int idx_push(struct idx_list *l, size_t idx)
{
    if (l->n > 0 && l->v[l->n - 1] == idx)
        return 0; /* a rule naming the same tool twice */
    if (hale_grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v)) < 0)
        return -ENOMEM;
    l->v[l->n++] = idx;
    return 0;
}

/* Exact tool names go to the map; everything else to the fallback list scanned every time. */
static int build_index(hale_policy *p)
{
    for (size_t i = 0; i < p->n_rules; i++) {
        const struct rule *r = &p->rules[i];

        if (r->tool_kind != TM_EXACT) {
            if (idx_push(&p->fallback, i) < 0)
                return -ENOMEM;
            continue;
        }
        for (size_t t = 0; t < r->n_tools; t++) {
            struct idx_list *l = hale_map_get(p->by_tool, r->tools[t]);

            if (!l) {
                if (!(l = calloc(1, sizeof(*l))))
                    return -ENOMEM;
                if (hale_map_put(p->by_tool, r->tools[t], l) < 0) {
                    free(l);
                    return -ENOMEM;
                }
            }
            if (idx_push(l, i) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

static void hash_files(hale_policy *p, const char *const *texts, const size_t *lens)
{
    crypto_hash_sha256_state st;
    uint8_t h[crypto_hash_sha256_BYTES], n8[8];

    crypto_hash_sha256_init(&st);
    for (size_t i = 0; i < p->n_files; i++) {
        uint64_t n = lens[i];

        for (int b = 0; b < 8; b++)
            n8[b] = (uint8_t)(n >> (56 - 8 * b));
        crypto_hash_sha256_update(&st, (const uint8_t *)p->files[i], strlen(p->files[i]) + 1);
        crypto_hash_sha256_update(&st, n8, sizeof(n8));
        crypto_hash_sha256_update(&st, (const uint8_t *)texts[i], lens[i]);
    }
    crypto_hash_sha256_final(&st, h);
    hale_hex_encode(h, sizeof(h), p->hash_hex);
}

static int parse_all(hale_policy *p, json_t **roots, hale_diag *reterr)
{
    int r = 0;

    for (int phase = 0; phase < 2 && r == 0; phase++) {
        for (size_t i = 0; i < p->n_files && r == 0; i++) {
            r = hale__policy_parse_file(p, p->files[i], roots[i], phase, reterr);
            if (r < 0 && r != -ENOMEM)
                hale_diag_prefix(reterr, p->files[i]);
        }
    }
    return r;
}

int hale_policy_load_texts(const char *const *names, const char *const *texts, const size_t *lens,
                           size_t n, hale_policy **ret, hale_diag *reterr)
{
    hale_policy *p = policy_new();
    json_t **roots = calloc(n ? n : 1, sizeof(*roots));
    int r = 0, line, col;

    if (!p || !roots) {
        r = -ENOMEM;
        goto out;
    }
    if (n > HALE_MAX_POLICY_FILES) {
        hale_diag_set(reterr, "more than %u policy files", HALE_MAX_POLICY_FILES);
        r = HALE_ELIMIT;
        goto out;
    }
    if (!(p->files = calloc(n ? n : 1, sizeof(*p->files)))) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n && r == 0; i++) {
        if (!(p->files[i] = strdup(names[i]))) {
            r = -ENOMEM;
            break;
        }
        p->n_files = i + 1;
        if (lens[i] > HALE_MAX_POLICY_FILE_BYTES) {
            hale_diag_set(reterr, "%s: larger than %u bytes", names[i], HALE_MAX_POLICY_FILE_BYTES);
            r = HALE_ELIMIT;
            break;
        }
        line = col = 0;
        r = hale_json_parse_pos(texts[i], lens[i], &roots[i], &line, &col, reterr);
        if (r < 0 && r != -ENOMEM) {
            char where[300];

            snprintf(where, sizeof(where), "%s:%d:%d", names[i], line, col);
            hale_diag_prefix(reterr, where);
        }
    }
    if (r == 0)
        r = parse_all(p, roots, reterr);
    if (r == 0)
        r = build_index(p);
    if (r == 0)
        hash_files(p, texts, lens);
out:
    for (size_t i = 0; roots && i < n; i++)
        json_decref(roots[i]);
    free(roots);
    if (r < 0) {
        if (r == -ENOMEM)
            hale_diag_set(reterr, "out of memory loading policies");
        hale_policy_unref(p);
        return r;
    }
    *ret = p;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int read_file(int dfd, const char *name, char **ret, size_t *ret_len, hale_diag *reterr)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat stb;
    char *buf = NULL;
    size_t len = 0;
    ssize_t n;

    if (fd < 0 || fstat(fd, &stb) < 0) {
        int e = errno;

        hale_diag_set(reterr, "%s: cannot read: %s", name, strerror(e));
        if (fd >= 0)
            close(fd);
        return -e;
    }
    if (stb.st_size > (off_t)HALE_MAX_POLICY_FILE_BYTES) {
        close(fd);
        hale_diag_set(reterr, "%s: larger than %u bytes", name, HALE_MAX_POLICY_FILE_BYTES);
        return HALE_ELIMIT;
    }
    if (!(buf = malloc((size_t)stb.st_size + 1))) {
        close(fd);
        return -ENOMEM;
    }
    while (len < (size_t)stb.st_size && (n = read(fd, buf + len, (size_t)stb.st_size - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    *ret = buf;
    *ret_len = len;
    return 0;
}

static int list_dir(DIR *d, char ***ret, size_t *ret_n, hale_diag *reterr)
{
    char **names = NULL;
    size_t n = 0, cap = 0, len;
    struct dirent *de;
    struct stat stb;

    while ((de = readdir(d))) {
        len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if (fstatat(dirfd(d), de->d_name, &stb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(stb.st_mode))
            continue;
        if (n >= HALE_MAX_POLICY_FILES) {
            hale__policy_strv_free(names, n);
            hale_diag_set(reterr, "more than %u policy files", HALE_MAX_POLICY_FILES);
            return HALE_ELIMIT;
        }
        if (hale_grow((void **)&names, &cap, n, sizeof(*names)) < 0 ||
            !(names[n] = strdup(de->d_name))) {
            hale__policy_strv_free(names, n);
            return -ENOMEM;
        }
        n++;
    }
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_str);
    *ret = names;
    *ret_n = n;
    return 0;
}

int hale_policy_load(const char *dir, hale_policy **ret, hale_diag *reterr)
{
    DIR *d = opendir(dir);
    char **names = NULL, **texts = NULL;
    size_t n = 0, *lens = NULL;
    int r;

    if (!d) {
        r = -errno;
        hale_diag_set(reterr, "%s: cannot open policy directory: %s", dir, strerror(-r));
        return r;
    }
    r = list_dir(d, &names, &n, reterr);
    if (r == 0) {
        texts = calloc(n ? n : 1, sizeof(*texts));
        lens = calloc(n ? n : 1, sizeof(*lens));
        if (!texts || !lens)
            r = -ENOMEM;
    }
    for (size_t i = 0; r == 0 && i < n; i++)
        r = read_file(dirfd(d), names[i], &texts[i], &lens[i], reterr);
    if (r == 0)
        r = hale_policy_load_texts((const char *const *)names, (const char *const *)texts, lens, n,
                                   ret, reterr);
    closedir(d);
    for (size_t i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
    free(lens);
    hale__policy_strv_free(names, n);
    return r;
}

int hale_policy_reload(hale_policy **cur, const char *dir, hale_diag *reterr)
{
    hale_policy *fresh = NULL;
    int r = hale_policy_load(dir, &fresh, reterr);

    if (r < 0)
        return r;
    hale_policy_unref(*cur);
    *cur = fresh;
    return 0;
}
