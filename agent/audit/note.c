/* agent/audit/note.c - signing and opening C2SP signed notes (include/hale/note.h), the envelope
 * of every audit checkpoint (SECURITY.md 1.6) and the parser `hale audit verify` trusts
 * (1.12 step 2). Strict where the reference implementation is lenient: canonical base64 only,
 * and every signature line by a known key is verified, repeated ones included. */
#include "internal.h"

#include <inttypes.h>
#include <sodium.h>

#include "audit/note_int.h"
#include "hale/diag.h"
#include "hale/note.h"
#include "util/buf.h"
#include "util/utf8.h"

#define EM_DASH_SP     "\xE2\x80\x94 " /* U+2014 then U+0020: how a signature line starts */
#define EM_DASH_SP_LEN 4u
#define SIG_BLOB_BYTES (4u + HALE_NOTE_SIG_BYTES) /* key ID, then the Ed25519 signature */
#define SIG_MIN_BYTES  5u                         /* a key ID and at least one byte */

int hale__note_check_text(const char *s, size_t len, size_t *ret_bad_off)
{
    size_t ok = hale_utf8_valid_len(s, len), i;

    for (i = 0; i < ok; i++) {
        if ((unsigned char)s[i] < 0x20 && s[i] != '\n') {
            if (ret_bad_off)
                *ret_bad_off = i;
            return HALE_EPARSE;
        }
    }
    if (ok != len) {
        if (ret_bad_off)
            *ret_bad_off = ok;
        return HALE_EUTF8;
    }
    return 0;
}

unsigned hale__note_line_of(const char *s, size_t off)
{
    unsigned line = 1;
    size_t i;

    for (i = 0; i < off; i++)
        if (s[i] == '\n')
            line++;
    return line;
}

int hale__note_b64_decode(const char *b64, size_t len, uint8_t *out, size_t cap, size_t *ret_len)
{
    size_t n;

    /* With VARIANT_ORIGINAL libsodium refuses missing or extra padding and non-zero unused
     * bits, and with no b64_end it refuses input it did not consume: only the canonical
     * encoding of the bytes passes. */
    if (sodium_base642bin(out, cap, b64, len, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
        return HALE_EPARSE;
    *ret_len = n;
    return 0;
}

static int check_sign_text(const char *text, size_t len)
{
    int r;

    if (len == 0 || text[len - 1] != '\n')
        return HALE_EPARSE;
    if (len > HALE_NOTE_MAX_BYTES)
        return HALE_ELIMIT;
    r = hale__note_check_text(text, len, NULL);
    return r < 0 ? r : 0;
}

static int append_signature(hale_buf *b, const hale_note_signer *s, const char *text, size_t len)
{
    const hale_note_verifier *v = hale_note_signer_verifier(s);
    char b64[sodium_base64_ENCODED_LEN(SIG_BLOB_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    uint8_t blob[SIG_BLOB_BYTES];

    blob[0] = (uint8_t)(v->key_id >> 24);
    blob[1] = (uint8_t)(v->key_id >> 16);
    blob[2] = (uint8_t)(v->key_id >> 8);
    blob[3] = (uint8_t)v->key_id;
    hale__note_signer_sign(s, text, len, blob + 4);
    sodium_bin2base64(b64, sizeof(b64), blob, sizeof(blob), sodium_base64_VARIANT_ORIGINAL);
    return hale_buf_printf(b, EM_DASH_SP "%s %s\n", v->name, b64);
}

int hale_note_sign(const char *text, size_t len, const hale_note_signer *const *signers,
                   size_t n_signers, char **ret_note, size_t *ret_len)
{
    hale_buf b;
    char *note;
    size_t i;
    int r;

    if (n_signers == 0 || n_signers > HALE_NOTE_MAX_SIGS)
        return -EINVAL;
    r = check_sign_text(text, len);
    if (r < 0)
        return r;
    hale_buf_init(&b, HALE_NOTE_MAX_BYTES);
    r = hale_buf_append(&b, text, len);
    if (r == 0)
        r = hale_buf_putc(&b, '\n');
    for (i = 0; r == 0 && i < n_signers; i++)
        r = append_signature(&b, signers[i], text, len);
    if (r < 0)
        goto out_release;
    note = hale_buf_detach(&b, ret_len);
    if (!note)
        return -ENOMEM;
    *ret_note = note;
    return 0;
out_release:
    hale_buf_release(&b);
    return r;
}

/* ---- opening ---- */

/* State of one hale_note_open() call. */
struct open_ctx {
    const char *text;                /* the signed text, inside the note */
    size_t text_len;                 /* its bytes, final '\n' included */
    const hale_note_verifier *known; /* trusted keys */
    size_t n_known;                  /* entries in known */
    unsigned flags;                  /* enum hale_note_open_flags */
    uint8_t *scratch;                /* decoded signature bytes of the current line */
    size_t scratch_cap;              /* bytes in scratch */
    hale_note_opened *out;           /* counts and mask so far */
    hale_diag *diag;                 /* failure details, may be NULL */
};

static int check_known(const hale_note_verifier *known, size_t n_known, hale_diag *diag)
{
    size_t i, j;

    if (n_known > HALE_NOTE_MAX_KNOWN) {
        hale_diag_set(diag, "%zu verifier keys, at most %u", n_known, HALE_NOTE_MAX_KNOWN);
        return -EINVAL;
    }
    for (i = 0; i < n_known; i++) {
        for (j = i + 1; j < n_known; j++) {
            if (known[i].key_id == known[j].key_id && strcmp(known[i].name, known[j].name) == 0) {
                hale_diag_set(diag, "verifier key '%s+%08" PRIx32 "' given twice", known[i].name,
                              known[i].key_id);
                return -EINVAL;
            }
        }
    }
    return 0;
}

/* Index of the known key with this name and ID, or -1; *ret_name_known says whether some known
 * key has the name. */
static int find_known(const struct open_ctx *c, const char *name, size_t name_len, uint32_t id,
                      bool *ret_name_known)
{
    size_t i;

    *ret_name_known = false;
    for (i = 0; i < c->n_known; i++) {
        if (strlen(c->known[i].name) != name_len || memcmp(c->known[i].name, name, name_len))
            continue;
        *ret_name_known = true;
        if (c->known[i].key_id == id)
            return (int)i;
    }
    return -1;
}

/* One signature line (without its '\n'). */
static int open_line(struct open_ctx *c, const char *line, size_t len, unsigned line_no)
{
    const char *name = line + EM_DASH_SP_LEN, *sp, *b64;
    size_t name_len, b64_len, sig_len;
    bool name_known;
    uint32_t id;
    int k;

    if (len < EM_DASH_SP_LEN || memcmp(line, EM_DASH_SP, EM_DASH_SP_LEN) != 0)
        goto out_malformed;
    sp = memchr(name, ' ', len - EM_DASH_SP_LEN);
    if (!sp)
        goto out_malformed;
    name_len = (size_t)(sp - name);
    b64 = sp + 1;
    b64_len = (size_t)(line + len - b64);
    if (!hale_note_name_is_valid(name, name_len) || b64_len == 0 ||
        hale__note_b64_decode(b64, b64_len, c->scratch, c->scratch_cap, &sig_len) < 0 ||
        sig_len < SIG_MIN_BYTES)
        goto out_malformed;
    id = (uint32_t)c->scratch[0] << 24 | (uint32_t)c->scratch[1] << 16 |
         (uint32_t)c->scratch[2] << 8 | c->scratch[3];
    k = find_known(c, name, name_len, id, &name_known);
    if (k < 0 && name_known && (c->flags & HALE_NOTE_OPEN_REJECT_UNKNOWN_ID)) {
        hale_diag_set(c->diag, "line %u: key '%.*s' signed with unknown key ID %08" PRIx32, line_no,
                      (int)name_len, name, id);
        return HALE_EPROOF;
    }
    if (k < 0) {
        c->out->n_unknown++;
        return 0;
    }
    if (sig_len != SIG_BLOB_BYTES ||
        crypto_sign_verify_detached(c->scratch + 4, (const uint8_t *)c->text, c->text_len,
                                    c->known[k].pk) != 0) {
        hale_diag_set(c->diag, "line %u: signature by '%s+%08" PRIx32 "' does not verify", line_no,
                      c->known[k].name, id);
        return HALE_EPROOF;
    }
    c->out->verified_mask |= UINT64_C(1) << k;
    c->out->n_verified++;
    return 0;
out_malformed:
    hale_diag_set(c->diag, "line %u: not a signature line '" EM_DASH_SP "<name> <base64>'",
                  line_no);
    return HALE_EPARSE;
}

/* Find the text and the signature block; checks the block's shape and size. */
static int split_note(const char *note, size_t len, size_t *ret_text_len, hale_diag *diag)
{
    size_t i, split = len, n_lines = 0;

    for (i = len; i >= 2; i--) {
        if (note[i - 1] == '\n' && note[i - 2] == '\n') {
            split = i - 2;
            break;
        }
    }
    if (split == len) {
        hale_diag_set(diag, "no blank line before the signatures");
        return HALE_EPARSE;
    }
    if (split + 2 == len || note[len - 1] != '\n') {
        hale_diag_set(diag, "line %u: no signature line ending in a newline",
                      hale__note_line_of(note, len));
        return HALE_EPARSE;
    }
    for (i = split + 2; i < len; i++)
        n_lines += note[i] == '\n';
    if (n_lines > HALE_NOTE_MAX_SIGS) {
        hale_diag_set(diag, "%zu signature lines, at most %u", n_lines, HALE_NOTE_MAX_SIGS);
        return HALE_ELIMIT;
    }
    *ret_text_len = split + 1;
    return 0;
}

static int check_note(const char *note, size_t len, hale_diag *diag)
{
    size_t bad = 0;
    int r;

    if (len > HALE_NOTE_MAX_BYTES) {
        hale_diag_set(diag, "note of %zu bytes, at most %u", len, HALE_NOTE_MAX_BYTES);
        return HALE_ELIMIT;
    }
    r = hale__note_check_text(note, len, &bad);
    if (r < 0)
        hale_diag_set(diag, "line %u: %s at byte %zu", hale__note_line_of(note, bad),
                      r == HALE_EUTF8 ? "invalid UTF-8" : "control character", bad);
    return r;
}

static int open_signatures(struct open_ctx *c, const char *note, size_t len)
{
    size_t pos = c->text_len + 1;
    unsigned line_no = hale__note_line_of(note, pos);
    const char *eol;
    size_t line_len;
    int r;

    while (pos < len) {
        /* split_note saw a final '\n'; a last line without one would still be read whole. */
        eol = memchr(note + pos, '\n', len - pos);
        line_len = eol ? (size_t)(eol - (note + pos)) : len - pos;
        r = open_line(c, note + pos, line_len, line_no++);
        if (r < 0)
            return r;
        pos += line_len + 1;
    }
    if (c->out->n_verified == 0) {
        hale_diag_set(c->diag, "no signature by a known key");
        return HALE_ENOTFOUND;
    }
    return 0;
}

int hale_note_open(const char *note, size_t len, const hale_note_verifier *known, size_t n_known,
                   unsigned flags, hale_note_opened *ret, hale_diag *reterr_diag)
{
    hale_note_opened o = {0};
    struct open_ctx c = {0};
    int r;

    r = check_known(known, n_known, reterr_diag);
    if (r == 0)
        r = check_note(note, len, reterr_diag);
    if (r == 0)
        r = split_note(note, len, &c.text_len, reterr_diag);
    if (r < 0)
        return r;
    c.text = note;
    c.known = known;
    c.n_known = n_known;
    c.flags = flags;
    c.out = &o;
    c.diag = reterr_diag;
    c.scratch_cap = len - c.text_len; /* more than any line's base64 decodes to */
    c.scratch = malloc(c.scratch_cap);
    if (!c.scratch)
        return -ENOMEM;
    r = open_signatures(&c, note, len);
    if (r < 0)
        goto out_free;
    o.text = malloc(c.text_len + 1);
    if (!o.text) {
        r = -ENOMEM;
        goto out_free;
    }
    memcpy(o.text, note, c.text_len);
    o.text[c.text_len] = '\0';
    o.text_len = c.text_len;
    *ret = o;
    r = (int)o.n_verified;
out_free:
    free(c.scratch);
    return r;
}

void hale_note_opened_release(hale_note_opened *o)
{
    if (!o)
        return;
    free(o->text);
    o->text = NULL;
    o->text_len = 0;
}
