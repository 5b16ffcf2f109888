/* tests/test_witness.c - the tlog-witness client and cosignature/v1 lines, against the
 * in-process stand-in witness of tests/fakes. */
#include "fixture.h"

#include <curl/curl.h>
#include <errno.h>
#include <sodium.h>

#include "fake_witness.h"
#include "hale/err.h"
#include "hale/merkle.h"
#include "hale/note.h"
#include "hale/witness.h"

#define ORIGIN "aiops.test/witnessed"
#define WNAME  "witness.test/w1"
#define LEAVES 40

static hale_hash leaves[LEAVES];

/* The signed checkpoint of the first size leaves (or of a forked tree). */
static char *note_for(uint64_t size, bool fork)
{
    static const uint8_t seed[32] = {3};
    hale_hash copy[LEAVES], root;
    hale_note_signer *k = NULL;
    char *text = NULL, *note = NULL;
    size_t len;

    memcpy(copy, leaves, sizeof(copy));
    if (fork)
        copy[0].b[0] ^= 1;
    hale_merkle_root(copy, size, &root);
    assert_int_equal(hale_note_signer_from_seed(ORIGIN, seed, &k), 0);
    assert_int_equal(hale_checkpoint_format(ORIGIN, size, &root, NULL, 0, &text, &len), 0);
    assert_int_equal(hale_note_sign(text, len, (const hale_note_signer *const *)&k, 1, &note, NULL),
                     0);
    free(text);
    hale_note_signer_free(k);
    return note;
}

static int post(fake_witness *w, uint64_t old, uint64_t size, bool fork, bool bad_proof,
                char **ret_cosigs, uint64_t *ret_size)
{
    hale_hash proof[HALE_MERKLE_MAX_PROOF];
    char url[64], *note = note_for(size, fork), *body = NULL;
    int n = 0, r;
    size_t len;
    hale_diag d;

    if (old > 0 && old < size)
        n = hale_merkle_consistency_proof(leaves, old, size, proof, HALE_MERKLE_MAX_PROOF);
    assert_true(n >= 0);
    if (bad_proof && n > 0)
        proof[0].b[5] ^= 0x40;
    assert_int_equal(hale_witness_body(old, proof, (size_t)n, note, &body, &len), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", fake_witness_port(w));
    r = hale_witness_add_checkpoint(url, body, len, 5000, ret_cosigs, ret_size, &d);
    free(body);
    free(note);
    return r;
}

static void cosignature_lines(void **state)
{
    static const uint8_t seed[32] = {9};
    uint8_t pk[32], sk[64];
    char *note = note_for(5, false), *line = NULL, *bad;
    size_t text_len = (size_t)(strstr(note, "\n\n") - note) + 1;
    uint64_t ts = 0;

    (void)state;
    crypto_sign_seed_keypair(pk, sk, seed);
    assert_int_equal(hale_cosig_sign(note, text_len, WNAME, sk, 1679315147, &line), 0);
    assert_int_equal(strncmp(line, "\xe2\x80\x94 " WNAME " ", strlen(WNAME) + 5), 0);
    assert_int_equal(hale_cosig_verify(note, text_len, line, strlen(line), WNAME, pk, &ts), 0);
    assert_int_equal(ts, 1679315147);
    /* Another name, or the same name with another key: not ours, ignored. */
    assert_int_equal(
        hale_cosig_verify(note, text_len, line, strlen(line), "witness.test/w2", pk, NULL),
        HALE_ENOTFOUND);
    pk[0] ^= 1;
    assert_int_equal(hale_cosig_verify(note, text_len, line, strlen(line), WNAME, pk, NULL),
                     HALE_ENOTFOUND);
    pk[0] ^= 1;
    /* Another checkpoint under the same signature. */
    note[strlen(ORIGIN) + 1] = '6';
    assert_int_equal(hale_cosig_verify(note, text_len, line, strlen(line), WNAME, pk, NULL),
                     HALE_EPROOF);
    bad = strdup(line);
    bad[strlen(bad) - 3] = '!';
    assert_int_equal(hale_cosig_verify(note, text_len, bad, strlen(bad), WNAME, pk, NULL),
                     HALE_EPARSE);
    assert_int_equal(hale_cosig_verify(note, text_len, "- x y", 5, WNAME, pk, NULL), HALE_EPARSE);
    free(bad);
    free(line);
    free(note);
}

static void request_body(void **state)
{
    hale_hash proof[2];
    char *body = NULL;
    size_t len;

    (void)state;
    memset(proof, 0, sizeof(proof));
    assert_int_equal(hale_witness_body(7, proof, 2, "N\n", &body, &len), 0);
    assert_string_equal(body, "old 7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
                              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\nN\n");
    assert_int_equal(len, strlen(body));
    free(body);
    assert_int_equal(hale_witness_body(0, proof, 1, "N\n", &body, &len), -EINVAL);
    assert_int_equal(hale_witness_body(3, proof, 64, "N\n", &body, &len), -EINVAL);
}

static void witness_protocol(void **state)
{
    static const uint8_t seed[32] = {11};
    fake_witness *w = NULL;
    char *cosigs = NULL, *note;
    uint64_t size = 0, ts;
    uint8_t pk[32];

    (void)state;
    assert_int_equal(fake_witness_start(WNAME, seed, &w), 0);
    fake_witness_pubkey(w, pk);
    /* First contact: old 0, no proof. */
    assert_int_equal(post(w, 0, 10, false, false, &cosigs, &size), 0);
    note = note_for(10, false);
    assert_int_equal(hale_cosig_verify(note, (size_t)(strstr(note, "\n\n") - note) + 1, cosigs,
                                       strlen(cosigs), WNAME, pk, &ts),
                     0);
    free(note);
    free(cosigs);
    cosigs = NULL;
    /* A client that does not know the witness's size learns it from 409. */
    assert_int_equal(post(w, 0, 25, false, false, &cosigs, &size), HALE_ESTATE);
    assert_int_equal(size, 10);
    assert_int_equal(post(w, 10, 25, false, false, &cosigs, &size), 0);
    free(cosigs);
    cosigs = NULL;
    assert_int_equal(fake_witness_size(w, NULL), 25);
    /* A proof that does not verify, a fork at the same size, a rollback: all refused. */
    assert_int_equal(post(w, 25, 40, false, true, &cosigs, &size), HALE_EUPSTREAM);
    assert_int_equal(post(w, 25, 25, true, false, &cosigs, &size), HALE_EUPSTREAM);
    assert_int_equal(post(w, 10, 20, false, false, &cosigs, &size), HALE_ESTATE);
    assert_int_equal(size, 25);
    assert_null(cosigs);
    assert_int_equal(fake_witness_size(w, NULL), 25);
    assert_int_equal(fake_witness_cosigned(w), 2);
    assert_int_equal(fake_witness_refused(w), 4);
    fake_witness_stop(w);
}

static void unreachable_witness(void **state)
{
    char *cosigs = NULL;
    uint64_t size = 0;
    hale_diag d;

    (void)state;
    assert_int_equal(hale_witness_add_checkpoint("http://127.0.0.1:1", "old 0\n\nx\n", 10, 2000,
                                                 &cosigs, &size, &d),
                     HALE_EUPSTREAM);
    assert_non_null(strstr(d.msg, "127.0.0.1:1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cosignature_lines),
        cmocka_unit_test(request_body),
        cmocka_unit_test(witness_protocol),
        cmocka_unit_test(unreachable_witness),
    };
    int r;

    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    for (unsigned i = 0; i < LEAVES; i++)
        hale_merkle_leaf_hash(&i, sizeof(i), &leaves[i]);
    r = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return r;
}
