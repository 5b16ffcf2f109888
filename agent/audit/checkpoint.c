/* agent/audit/checkpoint.c - the text of a transparency-log checkpoint (c2sp.org/tlog-checkpoint,
 * include/hale/note.h): origin, tree size, RFC 6962 root, optional extension lines. The signed
 * note around it is note.c's business; this file only formats and strictly parses the text. */
#include "internal.h"

#include <inttypes.h>
#include <sodium.h>

#include "audit/note_int.h"
#include "hale/diag.h"
#include "hale/note.h"
#include "util/buf.h"
#include "util/strparse.h"

#define ROOT_B64_LEN 44u /* base64 characters of a 32-byte hash */

/* One line as formatting takes it: non-empty, one line, no controls, valid UTF-8. */
static int check_line(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || memchr(s, '\n', len))
        return HALE_EPARSE;
    return hale__note_check_text(s, len, NULL);
}

int hale_checkpoint_format(const char *origin, uint64_t size, const hale_hash *root,
                           const char *const *ext, size_t n_ext, char **ret_text, size_t *ret_len)
{
    char b64[sodium_base64_ENCODED_LEN(HALE_MERKLE_HASH_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    hale_buf b;
    char *text;
    size_t i;
    int r;

    if (n_ext > HALE_CHECKPOINT_MAX_EXT)
        return HALE_ELIMIT;
    r = check_line(origin);
    for (i = 0; r == 0 && i < n_ext; i++)
        r = check_line(ext[i]);
    if (r < 0)
        return r;
    sodium_bin2base64(b64, sizeof(b64), root->b, sizeof(root->b), sodium_base64_VARIANT_ORIGINAL);
    hale_buf_init(&b, HALE_NOTE_MAX_BYTES);
    r = hale_buf_printf(&b, "%s\n%" PRIu64 "\n%s\n", origin, size, b64);
    for (i = 0; r == 0 && i < n_ext; i++)
        r = hale_buf_printf(&b, "%s\n", ext[i]);
    if (r < 0)
        goto out_release;
    text = hale_buf_detach(&b, ret_len);
    if (!text)
        return -ENOMEM;
    *ret_text = text;
    return 0;
out_release:
    hale_buf_release(&b);
    return r;
}

static int parse_size(const char *s, uint64_t *ret, hale_diag *diag)
{
    size_t i, n = strlen(s);
    int r;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            hale_diag_set(diag, "line 2: tree size '%s' is not a decimal number", s);
            return HALE_EPARSE;
        }
    }
    if (n == 0 || (n > 1 && s[0] == '0')) {
        hale_diag_set(diag, "line 2: tree size '%s' is empty or has a leading zero", s);
        return HALE_EPARSE;
    }
    r = hale_parse_u64(s, ret);
    if (r < 0) {
        hale_diag_set(diag, "line 2: tree size '%s' is above 2^64 - 1", s);
        return HALE_EPARSE;
    }
    return 0;
}

static int parse_root(const char *s, hale_hash *ret, hale_diag *diag)
{
    hale_hash h;
    size_t n = 0;

    if (strlen(s) != ROOT_B64_LEN ||
        hale__note_b64_decode(s, ROOT_B64_LEN, h.b, sizeof(h.b), &n) < 0 || n != sizeof(h.b)) {
        hale_diag_set(diag, "line 3: root hash '%s' is not the base64 of 32 bytes", s);
        return HALE_EPARSE;
    }
    *ret = h;
    return 0;
}

/* Check text's bytes and split storage (a copy of them, NUL-terminated) into *ret_n lines,
 * each '\n' made a NUL. */
static int split_lines(const char *text, size_t len, char *storage, size_t *ret_n, hale_diag *diag)
{
    size_t bad = 0, i, n = 0;
    int r;

    r = hale__note_check_text(text, len, &bad);
    if (r < 0) {
        hale_diag_set(diag, "line %u: %s at byte %zu", hale__note_line_of(text, bad),
                      r == HALE_EUTF8 ? "invalid UTF-8" : "control character", bad);
        return r;
    }
    if (len == 0 || text[len - 1] != '\n') {
        hale_diag_set(diag, "line %u: no final newline", hale__note_line_of(text, len));
        return HALE_EPARSE;
    }
    memcpy(storage, text, len);
    storage[len] = '\0';
    for (i = 0; i < len; i++) {
        if (storage[i] == '\n') {
            storage[i] = '\0';
            n++;
        }
    }
    if (n < 3) {
        hale_diag_set(diag, "line %zu: missing %s", n + 1, n == 1 ? "tree size" : "root hash");
        return HALE_EPARSE;
    }
    if (n - 3 > HALE_CHECKPOINT_MAX_EXT) {
        hale_diag_set(diag, "%zu extension lines, at most %u", n - 3, HALE_CHECKPOINT_MAX_EXT);
        return HALE_ELIMIT;
    }
    *ret_n = n;
    return 0;
}

/* Fill c from storage, which holds n >= 3 NUL-terminated lines back to back. */
static int parse_lines(hale_checkpoint *c, size_t n, hale_diag *diag)
{
    const char *line = c->storage;
    size_t i;
    int r;

    if (line[0] == '\0') {
        hale_diag_set(diag, "line 1: empty origin");
        return HALE_EPARSE;
    }
    c->origin = line;
    line += strlen(line) + 1;
    r = parse_size(line, &c->size, diag);
    if (r < 0)
        return r;
    line += strlen(line) + 1;
    r = parse_root(line, &c->root, diag);
    if (r < 0)
        return r;
    line += strlen(line) + 1;
    c->n_ext = n - 3;
    if (c->n_ext == 0)
        return 0;
    c->ext = calloc(c->n_ext, sizeof(*c->ext));
    if (!c->ext)
        return -ENOMEM;
    for (i = 0; i < c->n_ext; i++, line += strlen(line) + 1) {
        if (line[0] == '\0') {
            hale_diag_set(diag, "line %zu: empty extension line", i + 4);
            return HALE_EPARSE;
        }
        c->ext[i] = line;
    }
    return 0;
}

int hale_checkpoint_parse(const char *text, size_t len, hale_checkpoint *ret,
                          hale_diag *reterr_diag)
{
    hale_checkpoint c = {0};
    size_t n = 0;
    int r;

    if (len > HALE_NOTE_MAX_BYTES) {
        hale_diag_set(reterr_diag, "checkpoint of %zu bytes, at most %u", len, HALE_NOTE_MAX_BYTES);
        return HALE_ELIMIT;
    }
    c.storage = malloc(len + 1);
    if (!c.storage)
        return -ENOMEM;
    r = split_lines(text, len, c.storage, &n, reterr_diag);
    if (r == 0)
        r = parse_lines(&c, n, reterr_diag);
    if (r < 0) {
        hale_checkpoint_release(&c);
        return r;
    }
    *ret = c;
    return 0;
}

void hale_checkpoint_release(hale_checkpoint *c)
{
    if (!c)
        return;
    free(c->storage);
    free(c->ext);
    memset(c, 0, sizeof(*c));
}
