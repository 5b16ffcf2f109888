/* agent/audit/audit_chain.c - sealing the log with the signer and keeping the key chain: the
 * signed head after appends, key rotation (a key_rotation leaf sealed by the old key), and
 * reconciling the signer's key with the log's chain at start. Shared by the daemon and the
 * `hale audit rotate-key` command. */
#include "internal.h"

#include <inttypes.h>
#include <time.h>

#include "audit/audit_int.h"
#include "hale/audit_query.h"
#include "hale/audit_signer.h"
#include "hale/note.h"
#include "hale/store.h"

static int64_t wall_ns(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int hale_audit_seal(hale_audit *a, hale_audit_signer *s, bool rotate, char **ret_note,
                    hale_diag *reterr)
{
    hale_hash proof[HALE_MERKLE_MAX_PROOF], root, signed_root, step_root;
    uint64_t size, signed_size = 0, step;
    char *note = NULL;
    int n = 0, r;

    if (a->dirty) {
        hale_diag_set(reterr, "audit seal with appends of an open transaction pending");
        return HALE_ESTATE;
    }
    hale_audit_head(a, &size, &root);
    /* A head already sealed keeps the checkpoint it has: a fresh signature by a later key
     * would sit in anchors beside the stored one from the head's own epoch. */
    if (!rotate && (r = hale__audit_checkpoint_note(a, size, &note)) != 0) {
        if (r > 0 && ret_note)
            *ret_note = note;
        else
            free(note);
        return r > 0 ? 0 : r;
    }
    r = hale_audit_signer_head(s, &signed_size, &signed_root, reterr);
    if (r < 0)
        return r;
    if (signed_size > size) {
        hale_diag_set(reterr,
                      "the signer signed a head of %" PRIu64 " leaves but the store has %" PRIu64
                      ": the log was truncated or rolled back",
                      signed_size, size);
        return HALE_EPROOF;
    }
    /* A head far behind (sealing stopped for long) is caught up in signed steps. */
    while (signed_size > 0 && size - signed_size > HALE_AUDIT_MAX_PROOF_LEAVES) {
        step = signed_size + HALE_AUDIT_MAX_PROOF_LEAVES;
        n = hale_audit_prove(a, signed_size, step, proof, HALE_MERKLE_MAX_PROOF, &step_root,
                             reterr);
        if (n < 0)
            return n;
        r = hale_audit_signer_sign(s, step, &step_root, proof, (size_t)n, &note, NULL, reterr);
        free(note);
        note = NULL;
        if (r < 0)
            return r;
        signed_size = step;
    }
    n = 0;
    if (signed_size > 0 && signed_size < size) {
        n = hale_audit_prove(a, signed_size, size, proof, HALE_MERKLE_MAX_PROOF, NULL, reterr);
        if (n < 0)
            return n;
    }
    if (rotate)
        r = hale_audit_signer_rotate_commit(s, size, &root, proof, (size_t)n, &note, NULL, reterr);
    else
        r = hale_audit_signer_sign(s, size, &root, proof, (size_t)n, &note, NULL, reterr);
    if (r == 0)
        r = hale_audit_store_checkpoint(a, note, wall_ns(), reterr);
    if (r == 0 && ret_note)
        *ret_note = note;
    else
        free(note);
    return r;
}

/* Seal the head holding the rotation leaf with the old key and store that checkpoint first,
 * then switch keys by signing the same head again (Ed25519 is deterministic: the same note).
 * Switching first would lose the sealing checkpoint to a crash before it is stored. */
int hale_audit_rotate_finish(hale_audit *a, hale_audit_signer *s, hale_diag *reterr)
{
    int r = hale_audit_seal(a, s, false, NULL, reterr);

    return r == 0 ? hale_audit_seal(a, s, true, NULL, reterr) : r;
}

int hale_audit_rotate(hale_audit *a, hale_audit_signer *s, uint64_t *io_epoch, bool *ret_pending,
                      hale_diag *reterr)
{
    hale_note_verifier cur, next;
    char vkey[HALE_NOTE_VKEY_MAX_BYTES], prev_id[9];
    json_t *p;
    int r;

    *ret_pending = false;
    hale_audit_signer_verifier(s, &cur);
    r = hale_audit_signer_rotate_begin(s, &next, reterr);
    if (r < 0)
        return r;
    if (hale_note_verifier_format(&next, vkey, sizeof(vkey)) < 0)
        return -ENOBUFS;
    snprintf(prev_id, sizeof(prev_id), "%08" PRIx32, cur.key_id);
    p = json_pack("{s:I,s:s,s:s}", "epoch", (json_int_t)(*io_epoch + 1), "key", vkey, "prev_key_id",
                  prev_id);
    if (!p)
        return -ENOMEM;
    r = hale_store_begin(a->store);
    if (r == 0)
        r = hale_audit_append(a, HALE_AUDIT_KIND_KEY_ROTATION, p, 0, NULL, reterr);
    json_decref(p);
    if (r == 0)
        r = hale_store_commit(a->store);
    else
        hale_store_rollback(a->store);
    if (r < 0)
        return r;
    /* From here the leaf names the pending key: a failed switch is retried with the same key
     * (the signer keeps it pending, across restarts too), never with a new one. */
    r = hale_audit_rotate_finish(a, s, reterr);
    if (r == 0)
        (*io_epoch)++;
    else
        *ret_pending = true;
    return r;
}

struct rotation_row {
    uint64_t seq;
    json_t *body; /* owned */
};

static int take_rotation(const hale_audit_row *row, void *ud)
{
    struct rotation_row *rr = ud;

    rr->seq = row->seq;
    rr->body = json_loadb(row->body, row->body_len, JSON_REJECT_DUPLICATES, NULL);
    return 0;
}

/* The last key_rotation leaf: its seq, epoch and key. Returns 1 with one, 0 without. */
static int last_rotation(hale_audit *a, uint64_t *ret_seq, uint64_t *ret_epoch,
                         hale_note_verifier *ret_key, hale_diag *reterr)
{
    hale_audit_filter f = {.kind = "key_rotation", .limit = 1};
    struct rotation_row rr = {0};
    const char *key;
    json_int_t epoch;
    int r = hale_audit_query(a->store, &f, take_rotation, &rr, NULL, NULL, reterr);

    if (r <= 0)
        return r;
    key = json_string_value(json_object_get(rr.body, "key"));
    epoch = json_integer_value(json_object_get(rr.body, "epoch"));
    *ret_seq = rr.seq;
    *ret_epoch = (uint64_t)epoch;
    if (!key || epoch < 1 || hale_note_verifier_parse(key, ret_key) < 0) {
        hale_diag_set(reterr, "key_rotation leaf %" PRIu64 " names no valid key or epoch", rr.seq);
        r = HALE_ESCHEMA;
    } else {
        r = 1;
    }
    json_decref(rr.body);
    return r;
}

static bool same_key(const hale_note_verifier *x, const hale_note_verifier *y)
{
    return x->key_id == y->key_id && memcmp(x->pk, y->pk, sizeof(x->pk)) == 0 &&
           strcmp(x->name, y->name) == 0;
}

int hale_audit_resume(hale_audit *a, hale_audit_signer *s, const hale_note_verifier *root,
                      uint64_t *ret_epoch, hale_diag *reterr)
{
    hale_note_verifier want = *root, have, pending;
    uint64_t seq = 0, epoch = 0, size, sealed;
    int r;

    if ((r = last_rotation(a, &seq, &epoch, &want, reterr)) < 0)
        return r;
    hale_audit_signer_verifier(s, &have);
    hale_audit_head(a, &size, NULL);
    if (!same_key(&have, &want)) {
        /* A rotation whose leaf was committed but whose key switch was not: finish it with the
         * key the leaf names, which the signer kept pending. Nothing is appended between the
         * leaf and the switch, so the leaf is the last one. */
        if (r == 1 && seq + 1 == size && hale_audit_signer_pending(s, &pending) == 0 &&
            same_key(&pending, &want)) {
            r = hale_audit_rotate_finish(a, s, reterr);
            if (r < 0)
                return r;
        } else {
            hale_diag_set(reterr,
                          "the signing key (id %08" PRIx32 ") is not the key of the log's epoch "
                          "%" PRIu64 " (id %08" PRIx32 ")",
                          have.key_id, epoch, want.key_id);
            return HALE_ECONFIG;
        }
    }
    /* Leaves a crash left unsealed are sealed with the key of their epoch. */
    if ((r = hale_audit_last_checkpoint(a, &sealed)) < 0)
        return r;
    if (sealed < size && (r = hale_audit_seal(a, s, false, NULL, reterr)) < 0)
        return r;
    *ret_epoch = epoch;
    return 0;
}
