/* agent/audit/note_key.c - signed-note keys (include/hale/note.h): key names, Ed25519 key IDs,
 * and the verifier and signer key texts of c2sp.org/signed-note and golang.org/x/mod/sumdb/note.
 * The signer's secret lives in sodium_malloc() memory; stack copies of it are wiped. */
#include "internal.h"

#include "util/strparse.h"

#include <inttypes.h>
#include <sodium.h>

#include "audit/note_int.h"
#include "hale/note.h"
#include "util/utf8.h"

#define SKEY_PREFIX    "PRIVATE+KEY+"
#define KEY_BLOB_BYTES (1u + 32u) /* type byte, then a 32-byte public key or seed */
#define KEY_BLOB_B64   44u        /* base64 characters of KEY_BLOB_BYTES */
#define KEY_ID_HEX     8u

struct hale_note_signer {
    hale_note_verifier pub;                 /* name, key ID and public key */
    uint8_t sk[crypto_sign_SECRETKEYBYTES]; /* libsodium's secret key: seed || public key */
};

/* The White_Space characters of Unicode that are not controls below U+0020 (those are refused
 * anyway): what Go's unicode.IsSpace accepts, which the reference implementation checks. */
static bool is_unicode_space(uint32_t c)
{
    switch (c) {
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
        return true;
    default:
        return c >= 0x2000 && c <= 0x200A;
    }
}

/* The code point of the valid UTF-8 character of n bytes at p. */
static uint32_t decode_char(const unsigned char *p, size_t n)
{
    switch (n) {
    case 1:
        return p[0];
    case 2:
        return (uint32_t)(p[0] & 0x1F) << 6 | (uint32_t)(p[1] & 0x3F);
    case 3:
        return (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 |
               (uint32_t)(p[2] & 0x3F);
    default:
        return (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
               (uint32_t)(p[2] & 0x3F) << 6 | (uint32_t)(p[3] & 0x3F);
    }
}

bool hale_note_name_is_valid(const char *name, size_t len)
{
    size_t i = 0, n;
    uint32_t c;

    if (len == 0 || len > HALE_NOTE_MAX_NAME_BYTES)
        return false;
    while (i < len) {
        n = hale_utf8_char_len(name + i, len - i);
        if (n == 0)
            return false;
        c = decode_char((const unsigned char *)name + i, n);
        if (c < 0x20 || c == '+' || is_unicode_space(c))
            return false;
        i += n;
    }
    return true;
}

uint32_t hale_note_key_id(const char *name, const uint8_t pk[HALE_NOTE_PUBKEY_BYTES])
{
    static const uint8_t sep[2] = {'\n', HALE_NOTE_ALG_ED25519};
    crypto_hash_sha256_state st;
    uint8_t h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
    crypto_hash_sha256_update(&st, sep, sizeof(sep));
    crypto_hash_sha256_update(&st, pk, HALE_NOTE_PUBKEY_BYTES);
    crypto_hash_sha256_final(&st, h);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

int hale_note_verifier_from_pk(const char *name, const uint8_t pk[HALE_NOTE_PUBKEY_BYTES],
                               hale_note_verifier *ret)
{
    size_t len = strlen(name);

    if (!hale_note_name_is_valid(name, len))
        return HALE_EPARSE;
    memset(ret, 0, sizeof(*ret));
    memcpy(ret->name, name, len + 1);
    memcpy(ret->pk, pk, HALE_NOTE_PUBKEY_BYTES);
    ret->key_id = hale_note_key_id(name, pk);
    return 0;
}

/* Split "<name>+<8 hex>+<base64 of 0x01 || 32 bytes>" (NUL-terminated). On success name holds
 * the NUL-terminated name, *ret_id the key ID and blob the 32 key bytes after the type byte;
 * blob may hold secret bytes even on failure, so the caller wipes it. */
static int split_key_text(const char *s, char name[HALE_NOTE_MAX_NAME_BYTES + 1], uint32_t *ret_id,
                          uint8_t blob[KEY_BLOB_BYTES])
{
    const char *plus = strchr(s, '+'), *hex, *b64;
    size_t name_len, blob_len, i;
    uint32_t id = 0;
    int v;

    if (!plus)
        return HALE_EPARSE;
    name_len = (size_t)(plus - s);
    if (!hale_note_name_is_valid(s, name_len))
        return HALE_EPARSE;
    hex = plus + 1;
    for (i = 0; i < KEY_ID_HEX; i++) {
        v = hale_hex_digit(hex[i]);
        if (v < 0)
            return HALE_EPARSE;
        id = id << 4 | (uint32_t)v;
    }
    if (hex[KEY_ID_HEX] != '+')
        return HALE_EPARSE;
    b64 = hex + KEY_ID_HEX + 1;
    if (strlen(b64) != KEY_BLOB_B64 ||
        hale__note_b64_decode(b64, KEY_BLOB_B64, blob, KEY_BLOB_BYTES, &blob_len) < 0 ||
        blob_len != KEY_BLOB_BYTES || blob[0] != HALE_NOTE_ALG_ED25519)
        return HALE_EPARSE;
    memcpy(name, s, name_len);
    name[name_len] = '\0';
    *ret_id = id;
    return 0;
}

int hale_note_verifier_parse(const char *vkey, hale_note_verifier *ret)
{
    hale_note_verifier v;
    uint8_t blob[KEY_BLOB_BYTES];
    int r;

    memset(&v, 0, sizeof(v));
    r = split_key_text(vkey, v.name, &v.key_id, blob);
    if (r < 0)
        return r;
    memcpy(v.pk, blob + 1, HALE_NOTE_PUBKEY_BYTES);
    if (hale_note_key_id(v.name, v.pk) != v.key_id)
        return HALE_EPARSE;
    *ret = v;
    return 0;
}

/* "<prefix><name>+<8 hex>+<base64(0x01 || key32)>" into out (cap bytes); tmp is wiped. */
static int format_key_text(const char *prefix, const char *name, uint32_t id,
                           const uint8_t key32[32], char *out, size_t cap)
{
    char tmp[HALE_NOTE_SKEY_MAX_BYTES], b64[KEY_BLOB_B64 + 1];
    uint8_t blob[KEY_BLOB_BYTES];
    int n;

    blob[0] = HALE_NOTE_ALG_ED25519;
    memcpy(blob + 1, key32, 32);
    sodium_bin2base64(b64, sizeof(b64), blob, sizeof(blob), sodium_base64_VARIANT_ORIGINAL);
    n = snprintf(tmp, sizeof(tmp), "%s%s+%08" PRIx32 "+%s", prefix, name, id, b64);
    if (n < 0 || (size_t)n >= sizeof(tmp) || (size_t)n >= cap) {
        n = -ENOBUFS;
        goto out_wipe;
    }
    memcpy(out, tmp, (size_t)n + 1);
out_wipe:
    sodium_memzero(tmp, sizeof(tmp));
    sodium_memzero(b64, sizeof(b64));
    sodium_memzero(blob, sizeof(blob));
    return n;
}

int hale_note_verifier_format(const hale_note_verifier *v, char *out, size_t cap)
{
    return format_key_text("", v->name, v->key_id, v->pk, out, cap);
}

int hale_note_signer_from_seed(const char *name, const uint8_t seed[HALE_NOTE_SEED_BYTES],
                               hale_note_signer **ret)
{
    hale_note_signer *s;
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];

    if (!hale_note_name_is_valid(name, strlen(name)))
        return HALE_EPARSE;
    s = sodium_malloc(sizeof(*s));
    if (!s)
        return -ENOMEM;
    /* Neither can fail: the seed has the right size and the name was checked above. */
    if (HALE_NEVER(crypto_sign_seed_keypair(pk, s->sk, seed) != 0 ||
                   hale_note_verifier_from_pk(name, pk, &s->pub) < 0)) {
        sodium_free(s);
        return -EINVAL;
    }
    *ret = s;
    return 0;
}

int hale_note_signer_parse(const char *skey, hale_note_signer **ret)
{
    char name[HALE_NOTE_MAX_NAME_BYTES + 1];
    uint8_t blob[KEY_BLOB_BYTES];
    hale_note_signer *s = NULL;
    uint32_t id;
    int r;

    if (strncmp(skey, SKEY_PREFIX, strlen(SKEY_PREFIX)) != 0)
        return HALE_EPARSE;
    r = split_key_text(skey + strlen(SKEY_PREFIX), name, &id, blob);
    if (r < 0)
        goto out_wipe;
    r = hale_note_signer_from_seed(name, blob + 1, &s);
    if (r < 0)
        goto out_wipe;
    if (s->pub.key_id != id) {
        r = HALE_EPARSE;
        goto out_wipe;
    }
    *ret = s;
    s = NULL;
out_wipe:
    hale_note_signer_free(s);
    sodium_memzero(blob, sizeof(blob));
    return r;
}

const hale_note_verifier *hale_note_signer_verifier(const hale_note_signer *s)
{
    return &s->pub;
}

int hale_note_signer_format(const hale_note_signer *s, char *out, size_t cap)
{
    /* The seed is the first half of libsodium's secret key. */
    return format_key_text(SKEY_PREFIX, s->pub.name, s->pub.key_id, s->sk, out, cap);
}

void hale_note_signer_free(hale_note_signer *s)
{
    if (s)
        sodium_free(s); /* wipes before it unmaps */
}

/* For note.c: sign len bytes of text with s into sig. */
void hale__note_signer_sign(const hale_note_signer *s, const char *text, size_t len,
                            uint8_t sig[HALE_NOTE_SIG_BYTES])
{
    (void)crypto_sign_detached(sig, NULL, (const uint8_t *)text, len, s->sk);
}
