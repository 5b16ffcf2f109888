/* agent/audit/verify_anchor.c - files the verifier reads: key files, and anchor files for its
 * check 8, append-only text files
 * of signed checkpoint notes, each record a note followed by one blank line. Here they are only
 * split and their checkpoint text parsed; verify.c checks each signature with the key of the
 * record's epoch and its root against the local leaves. */
#include "internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/verify_int.h"
#include "hale/audit_verify.h"
#include "hale/note.h"
#include "util/fileio.h"

static int cmp_size(const void *a, const void *b)
{
    const hale__audit_anchor *x = a, *y = b;

    return x->size < y->size ? -1 : x->size > y->size;
}

/* Add the note [p, p + len) as record rec of path. */
static int add_record(const char *p, size_t len, const char *path, unsigned rec, const char *origin,
                      hale__audit_anchor **list, size_t *n, size_t *cap, hale_diag *why)
{
    const char *text_end = NULL;
    hale_checkpoint cp;
    hale_diag d = {{0}};
    hale__audit_anchor *a;
    int r;

    for (size_t i = 0; i + 1 < len; i++) {
        if (p[i] == '\n' && p[i + 1] == '\n') {
            text_end = p + i + 1;
            break;
        }
    }
    if (!text_end) {
        hale_diag_set(why, "%s: record %u: no blank line between text and signatures", path, rec);
        return HALE_EPARSE;
    }
    r = hale_checkpoint_parse(p, (size_t)(text_end - p), &cp, &d);
    if (r < 0) {
        hale_diag_set(why, "%s: record %u: not a checkpoint: %s", path, rec, d.msg);
        return HALE_EPARSE;
    }
    if (strcmp(cp.origin, origin) != 0) {
        hale_diag_set(why, "%s: record %u: checkpoint of log '%.200s', not of '%.200s'", path, rec,
                      cp.origin, origin);
        hale_checkpoint_release(&cp);
        return HALE_EPARSE;
    }
    if (*n >= HALE_AUDIT_VERIFY_MAX_ANCHORS) {
        hale_checkpoint_release(&cp);
        hale_diag_set(why, "more than %u anchor records", HALE_AUDIT_VERIFY_MAX_ANCHORS);
        return HALE_ELIMIT;
    }
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        hale__audit_anchor *grown = realloc(*list, nc * sizeof(**list));

        if (!grown) {
            hale_checkpoint_release(&cp);
            return -ENOMEM;
        }
        *list = grown;
        *cap = nc;
    }
    a = &(*list)[*n];
    a->note = malloc(len + 1);
    if (!a->note) {
        hale_checkpoint_release(&cp);
        return -ENOMEM;
    }
    memcpy(a->note, p, len);
    a->note[len] = '\0';
    a->note_len = len;
    a->size = cp.size;
    a->root = cp.root;
    a->path = path;
    a->record = rec;
    (*n)++;
    hale_checkpoint_release(&cp);
    return 0;
}

/* Split one file into records: text lines, a blank line, signature lines, a blank line. */
static int split_file(const char *data, size_t len, const char *path, const char *origin,
                      hale__audit_anchor **list, size_t *n, size_t *cap, unsigned *torn,
                      hale_diag *why)
{
    size_t pos = 0;
    unsigned rec = 0;
    int r;

    while (pos < len) {
        size_t start = pos, blanks = 0, end = len;
        bool done = false;

        while (pos < len && data[pos] == '\n') /* tolerate extra blank lines between records */
            start = ++pos;
        if (pos >= len)
            break;
        rec++;
        /* The record ends at its second blank line: after the text, after the signatures. */
        for (size_t i = start; i + 1 < len; i++) {
            if (data[i] == '\n' && data[i + 1] == '\n' && ++blanks == 2) {
                end = i + 1;
                done = true;
                break;
            }
        }
        r = add_record(data + start, end - start, path, rec, origin, list, n, cap, why);
        if (r == HALE_EPARSE && !done) {
            (*torn)++; /* the last append was cut short: ignore the fragment */
            return 0;
        }
        if (r < 0)
            return r;
        pos = done ? end + 1 : len;
    }
    return 0;
}

int hale__audit_anchors_load(const char *const *paths, size_t n_paths, const char *origin,
                             hale__audit_anchor **ret, size_t *ret_n, unsigned *ret_torn,
                             hale_diag *why)
{
    hale__audit_anchor *list = NULL;
    size_t n = 0, cap = 0;
    unsigned torn = 0;
    int r = 0;

    if (n_paths > HALE_AUDIT_VERIFY_MAX_ANCHOR_FILES) {
        hale_diag_set(why, "%zu anchor files, at most %u", n_paths,
                      HALE_AUDIT_VERIFY_MAX_ANCHOR_FILES);
        return HALE_ELIMIT;
    }
    for (size_t i = 0; i < n_paths && r == 0; i++) {
        char *data;
        size_t len;

        r = hale_file_read(paths[i], HALE_AUDIT_VERIFY_MAX_ANCHOR_BYTES, &data, &len, why);
        if (r < 0)
            break;
        r = split_file(data, len, paths[i], origin, &list, &n, &cap, &torn, why);
        free(data);
    }
    if (r < 0) {
        hale__audit_anchors_free(list, n);
        return r;
    }
    if (n > 1)
        qsort(list, n, sizeof(*list), cmp_size);
    *ret = list;
    *ret_n = n;
    *ret_torn = torn;
    return 0;
}

void hale__audit_anchors_free(hale__audit_anchor *a, size_t n)
{
    if (!a)
        return;
    for (size_t i = 0; i < n; i++)
        free(a[i].note);
    free(a);
}

int hale_audit_keys_load(const char *path, hale_note_verifier **ret, size_t *ret_n,
                         hale_diag *reterr)
{
    hale_note_verifier *keys = NULL;
    size_t n = 0, len;
    unsigned line = 0;
    char *data, *p, *nl;
    int r;

    r = hale_file_read(path, 1u << 20, &data, &len, reterr);
    if (r < 0)
        return r;
    keys = calloc(HALE_NOTE_MAX_KNOWN, sizeof(*keys));
    if (!keys) {
        free(data);
        return -ENOMEM;
    }
    for (p = data; r == 0 && p < data + len; p = nl + 1) {
        size_t l;

        nl = memchr(p, '\n', (size_t)(data + len - p));
        if (!nl)
            nl = data + len;
        *nl = '\0';
        line++;
        l = strlen(p);
        if (l && p[l - 1] == '\r')
            p[--l] = '\0';
        if (l == 0 || p[0] == '#')
            continue;
        if (n >= HALE_NOTE_MAX_KNOWN) {
            hale_diag_set(reterr, "%s: more than %u keys", path, HALE_NOTE_MAX_KNOWN);
            r = HALE_ELIMIT;
        } else if (hale_note_verifier_parse(p, &keys[n]) < 0) {
            hale_diag_set(reterr, "%s:%u: not a verifier key (expected NAME+KEYID+BASE64)", path,
                          line);
            r = HALE_EPARSE;
        } else {
            n++;
        }
    }
    free(data);
    if (r == 0 && n == 0) {
        hale_diag_set(reterr, "%s: no key in the file", path);
        r = HALE_EPARSE;
    }
    if (r < 0) {
        free(keys);
        return r;
    }
    *ret = keys;
    *ret_n = n;
    return 0;
}
