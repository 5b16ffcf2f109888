/* tests/test_audit_note.c - agent/audit/note*.c and checkpoint.c: C2SP signed notes with Ed25519
 * and tlog checkpoints (SECURITY.md 1.6, 1.12 step 2, 1.15). Worked examples taken byte for byte
 * from golang/mod sumdb/note/note_test.go (BSD-3-Clause): the PeterNeumann and EnochRoot keys and
 * the signed note of TestSign/TestOpen; and from C2SP/C2SP signed-note.md and tlog-checkpoint.md:
 * the example note and checkpoint (their keys are not published, so those are only parsed). */
#include "fixture.h"

#include <sodium.h>

#include "internal.h"
#include "audit/note_int.h"
#include "hale/note.h"

#define DASH "\xE2\x80\x94" /* U+2014 EM DASH */

/* golang/mod sumdb/note/note_test.go */
static const char peter_vkey[] =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const char peter_skey[] =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
static const char enoch_vkey[] = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
static const char go_text[] = "If you think cryptography is the answer to your problem,\n"
                              "then you don't know what your problem is.\n";
static const char peter_sig[] = DASH " PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZIn"
                                     "NIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
static const char enoch_sig[] = DASH " EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2t"
                                     "iOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

/* C2SP/C2SP signed-note.md and tlog-checkpoint.md */
static const char spec_note[] =
    "Ognuno sta solo sul cuor della terra\n"
    "trafitto da un raggio di sole:\n"
    "\n"
    "ed \xC3\xA8 subito sera.\n"
    "\n" DASH " quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ"
    "2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
static const char spec_checkpoint[] = "example.com/behind-the-sofa\n"
                                      "20852163\n"
                                      "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
                                      "\n" DASH " example.com/behind-the-sofa Az3grlgtzPICa5OS8npVm"
                                      "f1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyW"
                                      "E+xeMcTOAYQ8=\n";

/* Concatenate up to four strings; caller frees. */
static char *cat4(const char *a, const char *b, const char *c, const char *d)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c), ld = strlen(d);
    char *s = malloc(la + lb + lc + ld + 1);

    assert_non_null(s);
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc);
    memcpy(s + la + lb + lc, d, ld + 1);
    return s;
}

static void parse_vkey(const char *text, hale_note_verifier *v)
{
    assert_int_equal(hale_note_verifier_parse(text, v), 0);
}

static int open_str(const char *note, const hale_note_verifier *known, size_t n, unsigned flags,
                    hale_note_opened *o)
{
    hale_diag d = {{0}};

    return hale_note_open(note, strlen(note), known, n, flags, o, &d);
}

/* ---- keys ---- */

static void worked_verifier_keys(void **state)
{
    hale_note_verifier v;
    char out[HALE_NOTE_VKEY_MAX_BYTES];
    uint8_t h[crypto_hash_sha256_BYTES], buf[64];
    size_t n;

    (void)state;
    parse_vkey(peter_vkey, &v);
    assert_string_equal(v.name, "PeterNeumann");
    assert_int_equal(v.key_id, 0xc74f20a3u);
    assert_int_equal(hale_note_verifier_format(&v, out, sizeof(out)), strlen(peter_vkey));
    assert_string_equal(out, peter_vkey);
    assert_int_equal(hale_note_verifier_format(&v, out, strlen(peter_vkey)), -ENOBUFS);

    /* The key-ID formula written out: SHA-256(name || 0x0A || 0x01 || pk)[:4], big-endian. */
    n = strlen("PeterNeumann");
    memcpy(buf, "PeterNeumann", n);
    buf[n] = 0x0A;
    buf[n + 1] = 0x01;
    memcpy(buf + n + 2, v.pk, 32);
    crypto_hash_sha256(h, buf, n + 34);
    assert_memory_equal(h, "\xc7\x4f\x20\xa3", 4);
    assert_int_equal(hale_note_key_id("PeterNeumann", v.pk), 0xc74f20a3u);

    parse_vkey(enoch_vkey, &v);
    assert_int_equal(v.key_id, 0xaf0cfe78u);
}

/* note_test.go TestNewVerifier: every proper substring and every single-byte increment fail. */
static void verifier_manglings(void **state)
{
    char b[sizeof(peter_vkey)], sub[sizeof(peter_vkey)];
    size_t len = strlen(peter_vkey), i, j;
    hale_note_verifier v;

    (void)state;
    memcpy(b, peter_vkey, sizeof(b));
    for (i = 0; i <= len; i++) {
        for (j = i + 1; j <= len; j++) {
            if (i == 0 && j == len)
                continue;
            memcpy(sub, b + i, j - i);
            sub[j - i] = '\0';
            assert_int_equal(hale_note_verifier_parse(sub, &v), HALE_EPARSE);
        }
    }
    for (i = 0; i < len; i++) {
        b[i]++;
        assert_int_equal(hale_note_verifier_parse(b, &v), HALE_EPARSE);
        b[i]--;
    }
    /* Wrong key length and unknown algorithm, each with an adjusted key hash (note_test.go). */
    assert_int_equal(hale_note_verifier_parse("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVk"
                                              "mqq/LDE4izWy10TWBADKEY==",
                                              &v),
                     HALE_EPARSE);
    assert_int_equal(hale_note_verifier_parse(
                         "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", &v),
                     HALE_EPARSE);
    assert_int_equal(hale_note_verifier_parse("", &v), HALE_EPARSE);
}

static void key_names(void **state)
{
    static const char *const bad[] = {
        "",           "a+b",           "a b",           "a\tb", "a\nb",      "a\x01",
        "a\xC2\xA0z", "a\xE3\x80\x80", "a\xE2\x80\x8A", "\xff", "a\xC0\xAF",
    };
    char long_name[HALE_NOTE_MAX_NAME_BYTES + 2];
    size_t i;

    (void)state;
    assert_true(hale_note_name_is_valid("example.com/log42", 17));
    assert_true(hale_note_name_is_valid("quasimodo.example/salvatore", 27));
    assert_true(hale_note_name_is_valid("caf\xC3\xA9", 5));
    for (i = 0; i < HALE_ARRAY_SIZE(bad); i++)
        assert_false(hale_note_name_is_valid(bad[i], strlen(bad[i])));
    memset(long_name, 'a', sizeof(long_name));
    assert_true(hale_note_name_is_valid(long_name, HALE_NOTE_MAX_NAME_BYTES));
    assert_false(hale_note_name_is_valid(long_name, HALE_NOTE_MAX_NAME_BYTES + 1));
}

/* note_test.go TestNewSigner, plus: the seed derives the published verifier key. */
static void worked_signer_key(void **state)
{
    char b[sizeof(peter_skey)], sub[sizeof(peter_skey)], out[HALE_NOTE_SKEY_MAX_BYTES];
    size_t len = strlen(peter_skey), i, j;
    hale_note_signer *s = NULL;

    (void)state;
    assert_int_equal(hale_note_signer_parse(peter_skey, &s), 0);
    assert_int_equal(hale_note_verifier_format(hale_note_signer_verifier(s), out, sizeof(out)),
                     strlen(peter_vkey));
    assert_string_equal(out, peter_vkey);
    assert_int_equal(hale_note_signer_format(s, out, sizeof(out)), len);
    assert_string_equal(out, peter_skey);
    assert_int_equal(hale_note_signer_format(s, out, len), -ENOBUFS);
    hale_note_signer_free(s);
    hale_note_signer_free(NULL);

    memcpy(b, peter_skey, sizeof(b));
    for (i = 0; i <= len; i++) {
        for (j = i + 1; j <= len; j++) {
            if (i == 0 && j == len)
                continue;
            memcpy(sub, b + i, j - i);
            sub[j - i] = '\0';
            s = NULL;
            assert_int_equal(hale_note_signer_parse(sub, &s), HALE_EPARSE);
            assert_null(s);
        }
    }
    for (i = 0; i < len; i++) {
        b[i]++;
        assert_int_equal(hale_note_signer_parse(b, &s), HALE_EPARSE);
        b[i]--;
    }
}

static void signer_from_seed(void **state)
{
    uint8_t seed[HALE_NOTE_SEED_BYTES];
    char vkey[HALE_NOTE_VKEY_MAX_BYTES], skey[HALE_NOTE_SKEY_MAX_BYTES];
    hale_note_signer *s = NULL, *s2 = NULL;
    hale_note_verifier v;

    (void)state;
    memset(seed, 7, sizeof(seed));
    assert_int_equal(hale_note_signer_from_seed("a+b", seed, &s), HALE_EPARSE);
    assert_int_equal(hale_note_signer_from_seed("aiops.example/ctl-1", seed, &s), 0);
    assert_true(hale_note_verifier_format(hale_note_signer_verifier(s), vkey, sizeof(vkey)) > 0);
    parse_vkey(vkey, &v);
    assert_memory_equal(&v, hale_note_signer_verifier(s), sizeof(v));
    assert_int_equal(v.key_id, hale_note_key_id("aiops.example/ctl-1", v.pk));
    assert_true(hale_note_signer_format(s, skey, sizeof(skey)) > 0);
    assert_int_equal(hale_note_signer_parse(skey, &s2), 0);
    assert_memory_equal(hale_note_signer_verifier(s2), &v, sizeof(v));
    sodium_memzero(skey, sizeof(skey));
    hale_note_signer_free(s);
    hale_note_signer_free(s2);
    assert_int_equal(hale_note_verifier_from_pk("bad name", v.pk, &v), HALE_EPARSE);
}

/* ---- signing and opening ---- */

/* note_test.go TestSign: Ed25519 is deterministic, so the note is the published one. */
static void worked_sign(void **state)
{
    hale_note_signer *s = NULL;
    char *note = NULL, *want = cat4(go_text, "\n", peter_sig, "");
    size_t len = 0;

    (void)state;
    assert_int_equal(hale_note_signer_parse(peter_skey, &s), 0);
    assert_int_equal(hale_note_sign(go_text, strlen(go_text), (const hale_note_signer *const *)&s,
                                    1, &note, &len),
                     0);
    assert_string_equal(note, want);
    assert_int_equal(len, strlen(want));
    free(note);
    /* note_test.go: "abc" has no final newline. */
    assert_int_equal(hale_note_sign("abc", 3, (const hale_note_signer *const *)&s, 1, &note, NULL),
                     HALE_EPARSE);
    assert_int_equal(hale_note_sign("", 0, (const hale_note_signer *const *)&s, 1, &note, NULL),
                     HALE_EPARSE);
    assert_int_equal(
        hale_note_sign("a\tb\n", 4, (const hale_note_signer *const *)&s, 1, &note, NULL),
        HALE_EPARSE);
    assert_int_equal(
        hale_note_sign("a\xff\n", 3, (const hale_note_signer *const *)&s, 1, &note, NULL),
        HALE_EUTF8);
    assert_int_equal(hale_note_sign(go_text, strlen(go_text), NULL, 0, &note, NULL), -EINVAL);
    hale_note_signer_free(s);
    free(want);
}

/* note_test.go TestOpen: one key known, both known, none known. */
static void worked_open(void **state)
{
    hale_note_verifier keys[2];
    hale_note_opened o = {0};
    char *note = cat4(go_text, "\n", peter_sig, enoch_sig);

    (void)state;
    parse_vkey(peter_vkey, &keys[0]);
    parse_vkey(enoch_vkey, &keys[1]);
    assert_int_equal(open_str(note, keys, 1, 0, &o), 1);
    assert_string_equal(o.text, go_text);
    assert_int_equal(o.text_len, strlen(go_text));
    assert_int_equal(o.verified_mask, 1);
    assert_int_equal(o.n_unknown, 1);
    hale_note_opened_release(&o);

    assert_int_equal(open_str(note, keys, 2, 0, &o), 2);
    assert_int_equal(o.verified_mask, 3);
    assert_int_equal(o.n_unknown, 0);
    hale_note_opened_release(&o);

    assert_int_equal(open_str(note, &keys[1], 1, 0, &o), 1);
    assert_int_equal(o.verified_mask, 1);
    hale_note_opened_release(&o);

    assert_int_equal(open_str(note, NULL, 0, 0, &o), HALE_ENOTFOUND);
    keys[1] = keys[0];
    assert_int_equal(open_str(note, keys, 2, 0, &o), -EINVAL); /* ambiguous key set */
    hale_note_opened_release(NULL);
    free(note);
}

/* The spec examples parse (their keys are not published, so nothing can verify). */
static void spec_examples_parse(void **state)
{
    hale_note_verifier peter;
    hale_note_opened o = {0};
    hale_checkpoint c = {0};
    hale_diag d = {{0}};
    size_t text_len;

    (void)state;
    parse_vkey(peter_vkey, &peter);
    assert_int_equal(open_str(spec_note, &peter, 1, 0, &o), HALE_ENOTFOUND);
    assert_int_equal(open_str(spec_checkpoint, &peter, 1, 0, &o), HALE_ENOTFOUND);
    text_len = (size_t)(strstr(spec_checkpoint, "\n\n") - spec_checkpoint) + 1;
    assert_int_equal(hale_checkpoint_parse(spec_checkpoint, text_len, &c, &d), 0);
    assert_string_equal(c.origin, "example.com/behind-the-sofa");
    assert_int_equal(c.size, 20852163);
    assert_int_equal(c.root.b[0], 0x0a); /* "CsUY" */
    assert_int_equal(c.n_ext, 0);
    assert_null(c.ext);
    hale_checkpoint_release(&c);
}

static void open_rejects_malformed(void **state)
{
    hale_note_verifier peter;
    hale_note_opened o = {0};
    char bad_sig[sizeof(peter_sig) + 8];
    char *msgs[9];
    size_t i;

    (void)state;
    parse_vkey(peter_vkey, &peter);
    memcpy(bad_sig, peter_sig, strlen(peter_sig) - 1); /* no final newline */
    bad_sig[strlen(peter_sig) - 1] = '\0';
    /* note_test.go TestOpen badMsgs, then hale's own. */
    msgs[0] = cat4(go_text, "", "", "");
    msgs[1] = cat4(go_text, "\n", "", "");
    msgs[2] = cat4(go_text, "\n", bad_sig, "");
    msgs[3] = cat4("\x01", go_text, "\n", peter_sig);
    msgs[4] = cat4(go_text, "\n",
                   DASH " Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNI"
                        "uGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
                   "");
    msgs[5] = cat4(go_text, "\n", peter_sig, "Unexpected line.\n");
    msgs[6] = cat4(go_text, "\n", DASH " PeterNeumann \n", "");            /* empty base64 */
    msgs[7] = cat4(go_text, "\n", DASH " PeterNeumann x08g\n", "");        /* < 5 bytes */
    msgs[8] = cat4(go_text, "\n", "- PeterNeumann x08go/ZJ\n", peter_sig); /* not an em dash */
    for (i = 0; i < HALE_ARRAY_SIZE(msgs); i++) {
        assert_int_equal(open_str(msgs[i], &peter, 1, 0, &o), HALE_EPARSE);
        free(msgs[i]);
    }
    msgs[0] = cat4("\xff", go_text, "\n", peter_sig);
    assert_int_equal(open_str(msgs[0], &peter, 1, 0, &o), HALE_EUTF8);
    free(msgs[0]);
    msgs[0] = cat4("ab\xC0\xAF\n", "\n", peter_sig, ""); /* overlong '/' */
    assert_int_equal(open_str(msgs[0], &peter, 1, 0, &o), HALE_EUTF8);
    free(msgs[0]);
}

/* Base64 that decodes but is not canonical, and base64 that does not decode. */
static void open_rejects_bad_base64(void **state)
{
    static const char *const sigs[] = {
        /* last character 'M' -> 'N': unused bits set */
        DASH " PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq"
             "fqdngotpRZb6KE6RyyBwJnAN=\n",
        /* padding dropped */
        DASH " PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq"
             "fqdngotpRZb6KE6RyyBwJnAM\n",
        /* URL-safe alphabet */
        DASH " PeterNeumann x08go_ZJkuBS9UG_SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq"
             "fqdngotpRZb6KE6RyyBwJnAM=\n",
        /* a space inside */
        DASH " PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAc ElZInNIuGUgYN1FFYC2pZSNXgKv"
             "qfqdngotpRZb6KE6RyyBwJnAM=\n",
    };
    hale_note_verifier peter;
    hale_note_opened o = {0};
    size_t i;
    char *note;

    (void)state;
    parse_vkey(peter_vkey, &peter);
    for (i = 0; i < HALE_ARRAY_SIZE(sigs); i++) {
        note = cat4(go_text, "\n", sigs[i], "");
        assert_int_equal(open_str(note, &peter, 1, 0, &o), HALE_EPARSE);
        free(note);
    }
}

static void open_limits(void **state)
{
    hale_note_verifier peter, many[HALE_NOTE_MAX_KNOWN + 1];
    hale_note_opened o = {0};
    size_t sig_len = strlen(peter_sig), text_len = strlen(go_text), i;
    char *note = malloc(text_len + 1 + 101 * sig_len + 1), *big;

    (void)state;
    assert_non_null(note);
    parse_vkey(peter_vkey, &peter);
    memcpy(note, go_text, text_len);
    note[text_len] = '\n';
    for (i = 0; i < 101; i++)
        memcpy(note + text_len + 1 + i * sig_len, peter_sig, sig_len + 1);
    /* note_test.go: 101 signatures are too many, known key or not. */
    assert_int_equal(open_str(note, &peter, 1, 0, &o), HALE_ELIMIT);
    assert_int_equal(open_str(note, NULL, 0, 0, &o), HALE_ELIMIT);
    note[text_len + 1 + 100 * sig_len] = '\0'; /* 100 are fine; repeats all verify */
    assert_int_equal(open_str(note, &peter, 1, 0, &o), 100);
    assert_int_equal(o.verified_mask, 1);
    hale_note_opened_release(&o);
    free(note);

    big = malloc(HALE_NOTE_MAX_BYTES + 1);
    assert_non_null(big);
    memset(big, 'a', HALE_NOTE_MAX_BYTES + 1);
    assert_int_equal(hale_note_open(big, HALE_NOTE_MAX_BYTES + 1, &peter, 1, 0, &o, NULL),
                     HALE_ELIMIT);
    free(big);

    for (i = 0; i < HALE_ARRAY_SIZE(many); i++) {
        many[i] = peter;
        many[i].key_id = (uint32_t)i;
    }
    note = cat4(go_text, "\n", peter_sig, "");
    assert_int_equal(open_str(note, many, HALE_NOTE_MAX_KNOWN + 1, 0, &o), -EINVAL);
    free(note);
}

/* Re-encode peter's signature line with mask xored into one of its decoded bytes and extra zero
 * bytes after it. */
static char *peter_note_changed(size_t byte, uint8_t mask, size_t extra)
{
    const char *b64 = peter_sig + strlen(DASH " PeterNeumann ");
    uint8_t blob[72] = {0};
    char enc[sodium_base64_ENCODED_LEN(72, sodium_base64_VARIANT_ORIGINAL)], *line, *note;
    size_t n = 0;

    assert_int_equal(hale__note_b64_decode(b64, strlen(b64) - 1, blob, sizeof(blob), &n), 0);
    assert_int_equal(n, 68);
    blob[byte] ^= mask;
    sodium_bin2base64(enc, sizeof(enc), blob, 68 + extra, sodium_base64_VARIANT_ORIGINAL);
    line = cat4(DASH " PeterNeumann ", enc, "\n", "");
    note = cat4(go_text, "\n", line, "");
    free(line);
    return note;
}

static void one_bit_flips(void **state)
{
    hale_note_verifier peter, keys[2];
    hale_note_opened o = {0};
    hale_diag d = {{0}};
    char *note;
    size_t i;

    (void)state;
    parse_vkey(peter_vkey, &peter);
    /* The text: 'I' (0x49) -> 'H'. */
    note = cat4(go_text, "\n", peter_sig, "");
    note[0] ^= 1;
    assert_int_equal(hale_note_open(note, strlen(note), &peter, 1, 0, &o, &d), HALE_EPROOF);
    assert_non_null(strstr(d.msg, "line 4"));
    assert_non_null(strstr(d.msg, "PeterNeumann+c74f20a3"));
    free(note);
    /* Every bit of the signature (R and S). */
    for (i = 4; i < 68; i += 7) {
        note = peter_note_changed(i, (uint8_t)(1u << (i % 8)), 0);
        assert_int_equal(open_str(note, &peter, 1, 0, &o), HALE_EPROOF);
        free(note);
    }
    /* The key ID: the line becomes an unknown key under a known name, ignored by default. */
    note = peter_note_changed(3, 1, 0);
    assert_int_equal(open_str(note, &peter, 1, 0, &o), HALE_ENOTFOUND);
    assert_int_equal(open_str(note, &peter, 1, HALE_NOTE_OPEN_REJECT_UNKNOWN_ID, &o), HALE_EPROOF);
    free(note);
    /* A valid signature with bytes after it is not an Ed25519 signature. */
    for (i = 1; i <= 4; i++) {
        note = peter_note_changed(0, 0, i);
        assert_int_equal(open_str(note, &peter, 1, 0, &o), HALE_EPROOF);
        free(note);
    }
    /* The public key the verifier holds. */
    note = cat4(go_text, "\n", peter_sig, "");
    keys[0] = peter;
    keys[0].pk[5] ^= 0x10;
    assert_int_equal(open_str(note, keys, 1, 0, &o), HALE_EPROOF);
    /* The same line under a key ID that matches the flipped key is unknown, not verified. */
    keys[0].key_id = hale_note_key_id(keys[0].name, keys[0].pk);
    assert_int_equal(open_str(note, keys, 1, 0, &o), HALE_ENOTFOUND);
    free(note);
}

/* note_test.go: peterSig[:60] + "ABCD" + peterSig[60:] is an invalid signature by a known key,
 * and the spec's "known name, unknown ID" line is ignored unless the caller asks otherwise. */
static void known_key_failures(void **state)
{
    hale_note_verifier keys[2];
    hale_note_opened o = {0};
    char head[61], *note, *wrong_id;

    (void)state;
    parse_vkey(peter_vkey, &keys[0]);
    parse_vkey(enoch_vkey, &keys[1]);
    memcpy(head, peter_sig, 60);
    head[60] = '\0';
    note = cat4(go_text, "\n", head, "ABCD");
    wrong_id = cat4(note, peter_sig + 60, "", "");
    free(note);
    assert_int_equal(open_str(wrong_id, keys, 1, 0, &o), HALE_EPROOF);
    free(wrong_id);

    /* note_test.go wrongHash: "x08g" -> "xxxx" changes the key ID; enoch still verifies. */
    wrong_id = cat4(go_text, "\n",
                    DASH " PeterNeumann xxxxo/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcEl"
                         "ZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
                    enoch_sig);
    assert_int_equal(open_str(wrong_id, keys, 2, 0, &o), 1);
    assert_int_equal(o.verified_mask, 2);
    assert_int_equal(o.n_unknown, 1);
    hale_note_opened_release(&o);
    assert_int_equal(open_str(wrong_id, keys, 2, HALE_NOTE_OPEN_REJECT_UNKNOWN_ID, &o),
                     HALE_EPROOF);
    free(wrong_id);
}

static void sign_open_round_trip(void **state)
{
    static const char text[] = "first\n\n\nafter two blank lines \xE2\x9C\x93\n";
    uint8_t seed[HALE_NOTE_SEED_BYTES];
    hale_note_signer *s[2] = {NULL, NULL};
    hale_note_verifier keys[2];
    hale_note_opened o = {0};
    char *note = NULL;
    size_t len = 0;

    (void)state;
    memset(seed, 1, sizeof(seed));
    assert_int_equal(hale_note_signer_from_seed("aiops.example/ctl-1", seed, &s[0]), 0);
    seed[0] = 2;
    assert_int_equal(hale_note_signer_from_seed("witness.example/w1", seed, &s[1]), 0);
    keys[0] = *hale_note_signer_verifier(s[0]);
    keys[1] = *hale_note_signer_verifier(s[1]);
    assert_int_equal(
        hale_note_sign(text, strlen(text), (const hale_note_signer *const *)s, 2, &note, &len), 0);
    assert_int_equal(hale_note_open(note, len, keys, 2, 0, &o, NULL), 2);
    assert_string_equal(o.text, text);
    assert_int_equal(o.verified_mask, 3);
    hale_note_opened_release(&o);
    assert_int_equal(hale_note_open(note, len, &keys[1], 1, 0, &o, NULL), 1);
    assert_int_equal(o.n_unknown, 1);
    hale_note_opened_release(&o);
    free(note);
    hale_note_signer_free(s[0]);
    hale_note_signer_free(s[1]);
}

/* ---- checkpoints ---- */

static void checkpoint_round_trip(void **state)
{
    static const char *const ext[] = {"ext one", "ext \xC3\xA9"};
    hale_note_signer *s = NULL;
    hale_note_opened o = {0};
    hale_checkpoint c = {0};
    hale_hash root;
    uint8_t seed[HALE_NOTE_SEED_BYTES] = {9};
    char *text = NULL, *note = NULL;
    size_t len = 0, i;

    (void)state;
    for (i = 0; i < sizeof(root.b); i++)
        root.b[i] = (uint8_t)(i * 7);
    assert_int_equal(hale_checkpoint_format("aiops.example/ctl-1", 42, &root, ext, 2, &text, &len),
                     0);
    assert_int_equal(hale_checkpoint_parse(text, len, &c, NULL), 0);
    assert_string_equal(c.origin, "aiops.example/ctl-1");
    assert_int_equal(c.size, 42);
    assert_memory_equal(c.root.b, root.b, sizeof(root.b));
    assert_int_equal(c.n_ext, 2);
    assert_string_equal(c.ext[0], "ext one");
    assert_string_equal(c.ext[1], "ext \xC3\xA9");
    hale_checkpoint_release(&c);

    /* Signed end to end, as SECURITY.md 1.6 stores it. */
    assert_int_equal(hale_note_signer_from_seed("aiops.example/ctl-1", seed, &s), 0);
    assert_int_equal(hale_note_sign(text, len, (const hale_note_signer *const *)&s, 1, &note, NULL),
                     0);
    assert_int_equal(open_str(note, hale_note_signer_verifier(s), 1, 0, &o), 1);
    assert_int_equal(hale_checkpoint_parse(o.text, o.text_len, &c, NULL), 0);
    assert_int_equal(c.size, 42);
    hale_checkpoint_release(&c);
    hale_note_opened_release(&o);
    free(note);
    free(text);
    hale_note_signer_free(s);

    assert_int_equal(hale_checkpoint_format("o", 0, &root, NULL, 0, &text, NULL), 0);
    assert_non_null(strstr(text, "o\n0\n"));
    free(text);
    assert_int_equal(hale_checkpoint_format("", 1, &root, NULL, 0, &text, NULL), HALE_EPARSE);
    assert_int_equal(hale_checkpoint_format("a\nb", 1, &root, NULL, 0, &text, NULL), HALE_EPARSE);
    assert_int_equal(
        hale_checkpoint_format("o", 1, &root, (const char *const[]){""}, 1, &text, NULL),
        HALE_EPARSE);
}

/* Parse a checkpoint with n extension lines "e". */
static int many_ext(size_t n, hale_checkpoint *c)
{
    static const char head[] = "o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    char text[sizeof(head) + 2 * (HALE_CHECKPOINT_MAX_EXT + 1)];
    size_t len = sizeof(head) - 1, i;

    assert_true(n <= HALE_CHECKPOINT_MAX_EXT + 1);
    memcpy(text, head, len);
    for (i = 0; i < n; i++) {
        text[len++] = 'e';
        text[len++] = '\n';
    }
    return hale_checkpoint_parse(text, len, c, NULL);
}

static void checkpoint_parse_errors(void **state)
{
    static const struct {
        const char *text;  /* the checkpoint text */
        int want;          /* the error */
        const char *where; /* expected in the diagnostic */
    } cases[] = {
        {"", HALE_EPARSE, "line 1"},
        {"origin", HALE_EPARSE, "line 1: no final newline"},
        {"origin\n", HALE_EPARSE, "line 2: missing tree size"},
        {"origin\n5\n", HALE_EPARSE, "line 3: missing root hash"},
        {"\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", HALE_EPARSE,
         "line 1: empty origin"},
        {"o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", HALE_EPARSE, "line 2"},
        {"o\n00\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", HALE_EPARSE, "line 2"},
        {"o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", HALE_EPARSE, "line 2"},
        {"o\n+1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", HALE_EPARSE, "line 2"},
        {"o\n 1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", HALE_EPARSE, "line 2"},
        {"o\n\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", HALE_EPARSE, "line 2"},
        {"o\n18446744073709551616\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", HALE_EPARSE,
         "line 2"},
        {"o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==\n", HALE_EPARSE, "line 3"}, /* 31 B */
        {"o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2IA\n", HALE_EPARSE, "line 3"}, /* 33 B */
        {"o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n", HALE_EPARSE, "line 3"}, /* bits */
        {"o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n", HALE_EPARSE, "line 3"},
        {"o\n5\n\n", HALE_EPARSE, "line 3"},
        {"o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n", HALE_EPARSE, "line 4"},
        {"o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\nx\n\nz\n", HALE_EPARSE, "line 5"},
        {"o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\nx", HALE_EPARSE, "line 4"},
        {"o\n5\r\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", HALE_EPARSE, "line 2"},
        {"o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\xed\xa0\x80\n", HALE_EUTF8,
         "line 4"},
    };
    static const char zero[] = "o\n0\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    hale_checkpoint c = {0};
    hale_diag d;
    size_t i;

    (void)state;
    for (i = 0; i < HALE_ARRAY_SIZE(cases); i++) {
        memset(&d, 0, sizeof(d));
        assert_int_equal(hale_checkpoint_parse(cases[i].text, strlen(cases[i].text), &c, &d),
                         cases[i].want);
        if (!strstr(d.msg, cases[i].where))
            fail_msg("case %zu: diag '%s' lacks '%s'", i, d.msg, cases[i].where);
        assert_null(c.storage);
    }
    /* HALE_CHECKPOINT_MAX_EXT extension lines are fine, one more is not. */
    assert_int_equal(many_ext(HALE_CHECKPOINT_MAX_EXT, &c), 0);
    assert_int_equal(c.n_ext, HALE_CHECKPOINT_MAX_EXT);
    assert_string_equal(c.ext[HALE_CHECKPOINT_MAX_EXT - 1], "e");
    hale_checkpoint_release(&c);
    assert_int_equal(many_ext(HALE_CHECKPOINT_MAX_EXT + 1, &c), HALE_ELIMIT);
    /* The largest size and the smallest are fine. */
    assert_int_equal(hale_checkpoint_parse("o\n18446744073709551615\nCsUYapGGPo4dkMgIAUqom/Xajj7h2"
                                           "fB2MPA3j2jxq2I=\n",
                                           strlen("o\n18446744073709551615\nCsUYapGGPo4dkMgIAUqom/"
                                                  "Xajj7h2fB2MPA3j2jxq2I=\n"),
                                           &c, NULL),
                     0);
    assert_int_equal(c.size, UINT64_MAX);
    hale_checkpoint_release(&c);
    assert_int_equal(hale_checkpoint_parse(zero, strlen(zero), &c, NULL), 0);
    assert_int_equal(c.size, 0);
    hale_checkpoint_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(worked_verifier_keys),
        cmocka_unit_test(verifier_manglings),
        cmocka_unit_test(key_names),
        cmocka_unit_test(worked_signer_key),
        cmocka_unit_test(signer_from_seed),
        cmocka_unit_test(worked_sign),
        cmocka_unit_test(worked_open),
        cmocka_unit_test(spec_examples_parse),
        cmocka_unit_test(open_rejects_malformed),
        cmocka_unit_test(open_rejects_bad_base64),
        cmocka_unit_test(open_limits),
        cmocka_unit_test(one_bit_flips),
        cmocka_unit_test(known_key_failures),
        cmocka_unit_test(sign_open_round_trip),
        cmocka_unit_test(checkpoint_round_trip),
        cmocka_unit_test(checkpoint_parse_errors),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
