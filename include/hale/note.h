/* include/hale/note.h - C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, and the
 * transparency-log checkpoint text they carry (c2sp.org/tlog-checkpoint): SECURITY.md 1.6 and
 * 1.12 step 2. Pure engine: no I/O, no logging, no key files, no sodium_init() (main calls it
 * once). Safe from any thread on distinct objects; nothing here calls back. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/diag.h"
#include "hale/merkle.h"

#define HALE_NOTE_MAX_BYTES      (1u << 20) /* a whole note, text and signatures */
#define HALE_NOTE_MAX_SIGS       100u       /* signature lines in one note (the spec: >= 16) */
#define HALE_NOTE_MAX_KNOWN      64u        /* verifier keys passed to one hale_note_open() */
#define HALE_NOTE_MAX_NAME_BYTES 255u       /* a key name, in bytes */
#define HALE_NOTE_ALG_ED25519    0x01u      /* the signature type byte of Ed25519 */
#define HALE_NOTE_PUBKEY_BYTES   32u        /* an Ed25519 public key (RFC 8032) */
#define HALE_NOTE_SEED_BYTES     32u        /* an Ed25519 private key seed (RFC 8032) */
#define HALE_NOTE_SIG_BYTES      64u        /* an Ed25519 signature */
/* Texts of keys, NUL included: "<name>+<8 hex>+<44 base64>", and "PRIVATE+KEY+" before that. */
#define HALE_NOTE_VKEY_MAX_BYTES (HALE_NOTE_MAX_NAME_BYTES + 1u + 8u + 1u + 44u + 1u)
#define HALE_NOTE_SKEY_MAX_BYTES (12u + HALE_NOTE_VKEY_MAX_BYTES)

/* ---- keys ---- */

/* A key that checks signatures: a value type, copy it freely. */
typedef struct hale_note_verifier {
    char name[HALE_NOTE_MAX_NAME_BYTES + 1]; /* key name, valid per hale_note_name_is_valid() */
    uint32_t key_id;                         /* hale_note_key_id(name, pk) */
    uint8_t pk[HALE_NOTE_PUBKEY_BYTES];      /* Ed25519 public key */
} hale_note_verifier;

/* A key name as the spec allows: 1 to HALE_NOTE_MAX_NAME_BYTES bytes of valid UTF-8 with no
 * Unicode space (White_Space: tab..CR, U+0020, U+0085, U+00A0, U+1680, U+2000..U+200A,
 * U+2028, U+2029, U+202F, U+205F, U+3000), no '+' and no control character below U+0020. */
bool hale_note_name_is_valid(const char *name, size_t len);

/* The Ed25519 key ID: the first 4 bytes, big-endian, of
 * SHA-256(name || 0x0A || 0x01 || pk). name is NUL-terminated; it is not validated here. */
uint32_t hale_note_key_id(const char *name, const uint8_t pk[HALE_NOTE_PUBKEY_BYTES]);

/* Build a verifier for name and pk. Returns 0, or HALE_EPARSE when name is not valid (*ret is
 * written only on success). pk is not checked for being a point: libsodium rejects low-order
 * and non-canonical keys when it verifies. */
int hale_note_verifier_from_pk(const char *name, const uint8_t pk[HALE_NOTE_PUBKEY_BYTES],
                               hale_note_verifier *ret);

/* Parse a verifier key text "<name>+<8 lowercase or uppercase hex>+<base64(0x01 || pk)>" (NUL-
 * terminated, nothing around it). Returns 0, or HALE_EPARSE (*ret untouched) when the text does
 * not have that form, the base64 is not canonical standard base64 with padding, the type byte is
 * not 0x01, the key is not 32 bytes, or the key ID does not match name and key. */
int hale_note_verifier_parse(const char *vkey, hale_note_verifier *ret);

/* Write v's key text, NUL-terminated, into out (cap bytes; HALE_NOTE_VKEY_MAX_BYTES suffices).
 * Returns its length without the NUL, or -ENOBUFS (out untouched) when cap is too small. */
int hale_note_verifier_format(const hale_note_verifier *v, char *out, size_t cap);

/* A key that signs. Opaque: it lives in sodium_malloc() memory, which _free wipes. */
typedef struct hale_note_signer hale_note_signer;

/* Derive the signer of name from a 32-byte seed (crypto_sign_seed_keypair). On success *ret is a
 * new signer owned by the caller. Returns 0, HALE_EPARSE (name not valid) or -ENOMEM. */
int hale_note_signer_from_seed(const char *name, const uint8_t seed[HALE_NOTE_SEED_BYTES],
                               hale_note_signer **ret);

/* Parse a signer key text "PRIVATE+KEY+<name>+<8 hex>+<base64(0x01 || seed)>". The key ID is
 * checked against the public key derived from the seed. Returns 0 (*ret owned by the caller),
 * HALE_EPARSE for any text that does not have that exact form, or -ENOMEM. */
int hale_note_signer_parse(const char *skey, hale_note_signer **ret);

/* The public half of s: borrowed, valid until s is freed. */
const hale_note_verifier *hale_note_signer_verifier(const hale_note_signer *s);

/* Write s's SECRET key text, NUL-terminated, into out (cap bytes; HALE_NOTE_SKEY_MAX_BYTES
 * suffices). The caller wipes out (sodium_memzero) when done. Returns the length without the
 * NUL, or -ENOBUFS (out untouched) when cap is too small. */
int hale_note_signer_format(const hale_note_signer *s, char *out, size_t cap);

void hale_note_signer_free(hale_note_signer *s); /* wipes and frees; NULL is a no-op */

/* ---- notes ---- */

/* Sign text (len bytes; the signed bytes exactly) with each of the n_signers signers and return
 * the note: text, a blank line, then one line "— <name> <base64(key ID || signature)>" per
 * signer, in order. text must be non-empty valid UTF-8 ending in '\n' with no control character
 * other than '\n' (it may hold blank lines). On success *ret_note is a new NUL-terminated string
 * owned by the caller (free()) and *ret_len (may be NULL) its length. Returns 0, -EINVAL
 * (n_signers is 0 or above HALE_NOTE_MAX_SIGS), HALE_EUTF8, HALE_EPARSE (text does not qualify),
 * HALE_ELIMIT (the note would pass HALE_NOTE_MAX_BYTES) or -ENOMEM. */
int hale_note_sign(const char *text, size_t len, const hale_note_signer *const *signers,
                   size_t n_signers, char **ret_note, size_t *ret_len);

/* Flags of hale_note_open(). */
enum hale_note_open_flags {
    /* The spec says a signature whose key name is known but whose key ID is not must be ignored
     * (so a verifier still pinned to an old key survives a rotation under the same name). With
     * this flag such a line fails the note with HALE_EPROOF instead: for a verifier that was
     * given every key of that name, an unknown ID under it is a key it did not approve. */
    HALE_NOTE_OPEN_REJECT_UNKNOWN_ID = 1u << 0,
};

/* What hale_note_open() found. */
typedef struct hale_note_opened {
    char *text;             /* owned: the signed text, NUL-terminated, final '\n' included */
    size_t text_len;        /* bytes in text, without the NUL */
    uint64_t verified_mask; /* bit i set when known[i] signed the note and verified */
    unsigned n_verified;    /* signature lines that verified (a repeated line counts again) */
    unsigned n_unknown;     /* signature lines by keys not in known, ignored */
} hale_note_opened;

/* Parse the note of len bytes and verify it against the n_known keys of known (no two may share
 * both name and key ID). Every signature line by a known key is verified against the text with
 * crypto_sign_verify_detached; lines by other keys are only parsed. On success fills *ret (the
 * caller calls hale_note_opened_release) and returns the number of verifying lines (> 0). On
 * failure *ret is untouched, reterr_diag (may be NULL) says "line N: ..." where it can, and the
 * result is:
 *   -EINVAL        n_known above HALE_NOTE_MAX_KNOWN, or two known keys share name and key ID;
 *   HALE_ELIMIT    len above HALE_NOTE_MAX_BYTES or more than HALE_NOTE_MAX_SIGS signature lines;
 *   HALE_EUTF8     the note is not valid UTF-8;
 *   HALE_EPARSE    a control character other than '\n', no blank line before the signatures,
 *                  no final '\n', a line that is not "— <valid name> <base64>", base64 that is
 *                  not canonical standard base64 or decodes to fewer than 5 bytes;
 *   HALE_EPROOF    a known key's signature does not verify, or (with
 *                  HALE_NOTE_OPEN_REJECT_UNKNOWN_ID) a known name comes with an unknown key ID;
 *   HALE_ENOTFOUND no signature line is by a known key;
 *   -ENOMEM. */
int hale_note_open(const char *note, size_t len, const hale_note_verifier *known, size_t n_known,
                   unsigned flags, hale_note_opened *ret, hale_diag *reterr_diag);

void hale_note_opened_release(hale_note_opened *o); /* frees text; NULL is a no-op */

/* ---- checkpoints (the note text of a transparency log head) ---- */

#define HALE_CHECKPOINT_MAX_EXT 64u /* extension lines accepted after the root hash */

/* A parsed checkpoint. */
typedef struct hale_checkpoint {
    char *storage;      /* owned: a copy of the text with each '\n' made a NUL */
    const char *origin; /* line 1, non-empty; points into storage */
    uint64_t size;      /* line 2: the tree size */
    hale_hash root;     /* line 3: the RFC 6962 root at that size */
    const char **ext;   /* owned array of n_ext lines after the root (into storage); NULL if 0 */
    size_t n_ext;       /* extension lines */
} hale_checkpoint;

/* Format a checkpoint text: origin, size in decimal, base64 of root, then n_ext extension lines
 * (ext may be NULL when n_ext is 0), each ending in '\n'. origin and each extension line must be
 * non-empty valid UTF-8 with no control characters. On success *ret_text is a new NUL-terminated
 * string owned by the caller (free()) and *ret_len (may be NULL) its length. Returns 0,
 * HALE_EUTF8, HALE_EPARSE (a line does not qualify), HALE_ELIMIT (more than
 * HALE_CHECKPOINT_MAX_EXT lines or a text above HALE_NOTE_MAX_BYTES) or -ENOMEM. */
int hale_checkpoint_format(const char *origin, uint64_t size, const hale_hash *root,
                           const char *const *ext, size_t n_ext, char **ret_text, size_t *ret_len);

/* Parse a checkpoint text of len bytes (a note's text: the final '\n' included, no blank line
 * after it). Strict: valid UTF-8 without control characters other than '\n'; a non-empty origin;
 * a size of decimal digits only, without leading zeros (except "0") and at most 2^64 - 1; a root
 * of canonical standard base64 decoding to exactly 32 bytes; non-empty extension lines. On
 * success fills *ret (release with hale_checkpoint_release). On failure *ret is untouched and
 * reterr_diag (may be NULL) names the line ("line 2: ..."). Returns 0, HALE_EUTF8, HALE_EPARSE,
 * HALE_ELIMIT (len above HALE_NOTE_MAX_BYTES or more than HALE_CHECKPOINT_MAX_EXT extension
 * lines) or -ENOMEM. */
int hale_checkpoint_parse(const char *text, size_t len, hale_checkpoint *ret,
                          hale_diag *reterr_diag);

void hale_checkpoint_release(hale_checkpoint *c); /* frees storage and ext; NULL is a no-op */
