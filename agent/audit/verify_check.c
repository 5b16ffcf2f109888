/* agent/audit/verify_check.c - the per-item checks of the verifier pass (verify.c drives it):
 * a checkpoint against the recomputed tree and the key of its epoch, anchors, the envelope of
 * each leaf, the key rotation chain and the semantic completeness of executions. */
#include "internal.h"

#include <inttypes.h>

#include "audit/verify_int.h"
#include "hale/audit.h"
#include "hale/audit_verify.h"
#include "hale/note.h"
#include "util/hashmap.h"
#include "util/strparse.h"

#define ID_MAX 512 /* bytes of a decision or intent id the verifier accepts */

enum { DEC_ALLOW, DEC_DENY, DEC_REQUIRE_APPROVAL, DEC_OTHER };

struct decision {
    uint64_t seq;  /* the decision leaf */
    int outcome;   /* DEC_* */
    bool approved; /* an approval "approved" followed it */
    bool denied;   /* an approval "denied" followed it */
};

struct intent {
    uint64_t seq; /* the exec_intent leaf */
};

static void frontier_root_at(const hale__vctx *c, hale_hash *ret)
{
    hale_merkle_frontier_root(&c->f, ret);
}

/* Open note with the key of the current epoch: checks 2 (format) and 7 (key) for a stored
 * checkpoint, check 8 for an anchored one. The head that seals a key rotation (size r + 1) is
 * the first the new key signs too, and the daemon anchors that copy: for an anchor, and only
 * there, either key will do. The stored checkpoint of that size must still carry the old
 * key's signature, and the anchored root must still equal the recomputed one. */
static int open_with_epoch_key(hale__vctx *c, const char *note, size_t len, bool anchor,
                               int64_t size, hale_checkpoint *ret_cp)
{
    const char *what = anchor ? "anchored checkpoint" : "checkpoint";
    hale_note_verifier keys[2] = {c->key, c->rot_key};
    size_t n_keys = 1;
    hale_note_opened o;
    hale_diag d = {{0}};
    unsigned check = anchor ? 8 : 2;
    int r;

    if (anchor && c->rot_pending && c->f.size == c->rot_seq + 1 &&
        c->rot_key.key_id != c->key.key_id)
        n_keys = 2;
    r = hale_note_open(note, len, keys, n_keys, 0, &o, &d);
    if (r == HALE_ENOTFOUND)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, anchor ? 8 : 7, -1, size,
                           "%s of size %" PRId64
                           " carries no signature by the key of epoch %" PRIu64 " (%s+%08" PRIx32
                           ")",
                           what, size, c->rep->n_epochs - 1, c->key.name, c->key.key_id);
    if (r < 0)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, check, -1, size,
                           "%s of size %" PRId64 ": signed note rejected: %s", what, size,
                           d.msg[0] ? d.msg : hale_strerror(r));
    r = hale_checkpoint_parse(o.text, o.text_len, ret_cp, &d);
    hale_note_opened_release(&o);
    if (r < 0)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, check, -1, size,
                           "%s of size %" PRId64 ": not a checkpoint: %s", what, size, d.msg);
    if (strcmp(ret_cp->origin, c->rep->origin) != 0 || (uint64_t)size != ret_cp->size ||
        ret_cp->n_ext != 0) {
        r = hale__vfail(c, HALE_AUDIT_TAMPERED, check, -1, size,
                        "%s of size %" PRId64 ": its text states log '%.100s' size %" PRIu64
                        " with %zu extension lines",
                        what, size, ret_cp->origin, ret_cp->size, ret_cp->n_ext);
        hale_checkpoint_release(ret_cp);
        return r;
    }
    return 0;
}

int hale__vcheck_checkpoint(hale__vctx *c)
{
    const hale__audit_cp *cp = &c->cp;
    uint8_t enc[HALE_MERKLE_FRONTIER_MAX_BYTES];
    hale_checkpoint text;
    hale_hash root;
    int r, n;

    r = open_with_epoch_key(c, cp->note, cp->note_len, false, (int64_t)cp->size, &text);
    if (r != 0)
        return r;
    frontier_root_at(c, &root);
    if (memcmp(root.b, text.root.b, sizeof(root.b)) != 0) {
        hale_checkpoint_release(&text);
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 5, (int64_t)c->rep->sealed_size,
                           (int64_t)cp->size,
                           "the root of the first %" PRIu64 " leaves differs from the signed "
                           "checkpoint: a leaf from seq %" PRIu64 " on was changed, added, "
                           "removed or moved",
                           cp->size, c->rep->sealed_size);
    }
    hale_checkpoint_release(&text);
    if (cp->root_len != sizeof(root.b) || memcmp(cp->root, root.b, sizeof(root.b)) != 0)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 5, -1, (int64_t)cp->size,
                           "checkpoint of size %" PRIu64 ": the root column differs from the "
                           "signed root",
                           cp->size);
    n = hale_merkle_frontier_encode(&c->f, enc, sizeof(enc));
    if (n < 0 || cp->frontier_len != (size_t)n || memcmp(cp->frontier, enc, (size_t)n) != 0)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 5, -1, (int64_t)cp->size,
                           "checkpoint of size %" PRIu64 ": the stored frontier differs from the "
                           "one recomputed from the leaves",
                           cp->size);
    if (c->rot_pending && cp->size == c->rot_seq + 1)
        c->rot_sealed = true;
    c->rep->n_checkpoints++;
    c->rep->sealed_size = cp->size;
    c->rep->sealed_root = root;
    return 0;
}

int hale__vcheck_anchors_here(hale__vctx *c)
{
    hale_hash root;

    if (c->next_anchor >= c->n_anchors || c->anchors[c->next_anchor].size != c->f.size)
        return 0; /* the common case: no root to compute */
    frontier_root_at(c, &root);
    while (c->next_anchor < c->n_anchors && c->anchors[c->next_anchor].size == c->f.size) {
        const hale__audit_anchor *a = &c->anchors[c->next_anchor];
        hale_checkpoint text;
        int r;

        r = open_with_epoch_key(c, a->note, a->note_len, true, (int64_t)a->size, &text);
        if (r != 0)
            return r;
        hale_checkpoint_release(&text);
        if (memcmp(root.b, a->root.b, sizeof(root.b)) != 0)
            return hale__vfail(c, HALE_AUDIT_TAMPERED, 8, -1, (int64_t)a->size,
                               "fork: %.120s record %u anchors a root at size %" PRIu64
                               " that differs from the local leaves",
                               a->path, a->record, a->size);
        c->rep->n_anchors++;
        c->next_anchor++;
    }
    return 0;
}

int hale__vcheck_anchors_beyond(hale__vctx *c)
{
    const hale__audit_anchor *a;
    hale_note_opened o;
    bool signed_by_chain = false;

    if (c->next_anchor >= c->n_anchors)
        return 0;
    a = &c->anchors[c->next_anchor];
    for (size_t i = 0; i < c->rep->n_keys && !signed_by_chain; i++) {
        if (hale_note_open(a->note, a->note_len, &c->rep->keys[i], 1, 0, &o, NULL) > 0) {
            hale_note_opened_release(&o);
            signed_by_chain = true;
        }
    }
    if (!signed_by_chain && c->rot_pending &&
        hale_note_open(a->note, a->note_len, &c->rot_key, 1, 0, &o, NULL) > 0) {
        hale_note_opened_release(&o);
        signed_by_chain = true;
    }
    return hale__vfail(c, HALE_AUDIT_TAMPERED, 8, (int64_t)c->f.size, (int64_t)a->size,
                       "truncation or rollback: %.120s record %u anchors %" PRIu64
                       " leaves but the log holds %" PRIu64 " (%s)",
                       a->path, a->record, a->size, c->f.size,
                       signed_by_chain ? "signed by a key of the chain"
                                       : "signed by no key of the local chain");
}

static int field_string(hale__vctx *c, uint64_t seq, const char *kind, const hale__audit_tok *t,
                        const char *name, char *out, size_t cap)
{
    if (t->type == HALE__TOK_STRING && hale__audit_tok_string(t, out, cap) >= 0)
        return 0;
    return hale__vfail(c, HALE_AUDIT_TAMPERED, kind ? 9 : 4, (int64_t)seq, -1,
                       "leaf %" PRIu64 "%s%s: member \"%s\" %s", seq, kind ? " " : "",
                       kind ? kind : "", name,
                       t->type == HALE__TOK_NONE ? "is missing" : "is not a valid string");
}

/* A decision or intent id: a string, or an integer (kept apart by a type prefix). */
static int field_id(hale__vctx *c, uint64_t seq, const char *kind, const hale__audit_tok *t,
                    const char *name, char *out)
{
    if (t->type == HALE__TOK_INT && t->len < ID_MAX - 2) {
        out[0] = 'n';
        memcpy(out + 1, t->p, t->len);
        out[t->len + 1] = '\0';
        return 0;
    }
    out[0] = 's';
    return field_string(c, seq, kind, t, name, out + 1, ID_MAX - 1);
}

static int check_rotation(hale__vctx *c, uint64_t seq, const hale__audit_tok *t)
{
    char key[HALE_NOTE_VKEY_MAX_BYTES], prev[16];
    hale_note_verifier v;
    int64_t epoch;
    uint32_t prev_id = 0;
    int r;

    r = field_string(c, seq, "key_rotation", &t[HALE__AF_KEY], "key", key, sizeof(key));
    if (r == 0)
        r = field_string(c, seq, "key_rotation", &t[HALE__AF_PREV_KEY_ID], "prev_key_id", prev,
                         sizeof(prev));
    if (r != 0)
        return r;
    if (hale__audit_tok_int(&t[HALE__AF_EPOCH], &epoch) < 0 || epoch < 1 ||
        (uint64_t)epoch != c->rep->n_epochs)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 7, (int64_t)seq, -1,
                           "key_rotation at seq %" PRIu64 ": epoch %.*s where %" PRIu64
                           " is next: epochs must be contiguous",
                           seq, (int)(t[HALE__AF_EPOCH].len % 32), t[HALE__AF_EPOCH].p,
                           c->rep->n_epochs);
    for (size_t i = 0; i < 8 && strlen(prev) == 8; i++) {
        int d = hale_hex_digit(prev[i]);

        if (d < 0)
            break;
        prev_id = (prev_id << 4) | (uint32_t)d;
        if (i == 7 && prev_id == c->key.key_id)
            goto prev_ok;
    }
    return hale__vfail(c, HALE_AUDIT_TAMPERED, 7, (int64_t)seq, -1,
                       "key_rotation at seq %" PRIu64 ": prev_key_id '%s' is not the key of "
                       "epoch %" PRIu64 " (%08" PRIx32 ")",
                       seq, prev, c->rep->n_epochs - 1, c->key.key_id);
prev_ok:
    if (hale_note_verifier_parse(key, &v) < 0 || strcmp(v.name, c->rep->origin) != 0)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 7, (int64_t)seq, -1,
                           "key_rotation at seq %" PRIu64 ": \"key\" is not a verifier key of "
                           "log '%s'",
                           seq, c->rep->origin);
    c->rot_pending = true;
    c->rot_seq = seq;
    c->rot_key = v;
    c->rot_sealed = false;
    return 0;
}

int hale__vcheck_rotation_seal(hale__vctx *c)
{
    hale_note_verifier *grown;

    if (!c->rot_pending || c->f.size != c->rot_seq + 1)
        return 0;
    if (!c->rot_sealed) {
        if (c->cp_have)
            return hale__vfail(c, HALE_AUDIT_TAMPERED, 7, (int64_t)c->rot_seq, (int64_t)c->cp.size,
                               "key_rotation at seq %" PRIu64 " is not sealed by a checkpoint of "
                               "size %" PRIu64 " signed by the key it replaces",
                               c->rot_seq, c->rot_seq + 1);
        c->rot_unsealed_tail = true; /* no checkpoint follows: the tail is unsealed anyway */
    }
    grown = realloc(c->rep->keys, (c->rep->n_keys + 1) * sizeof(*grown));
    if (!grown)
        return hale__vfail(c, HALE_AUDIT_UNUSABLE, 7, -1, -1, "out of memory");
    c->rep->keys = grown;
    c->rep->keys[c->rep->n_keys++] = c->rot_key;
    c->key = c->rot_key;
    c->rep->n_epochs++;
    c->rot_pending = false;
    return 0;
}

static int decision_outcome(const char *s)
{
    if (strcmp(s, "allow") == 0)
        return DEC_ALLOW;
    if (strcmp(s, "deny") == 0)
        return DEC_DENY;
    if (strcmp(s, "require_approval") == 0)
        return DEC_REQUIRE_APPROVAL;
    return DEC_OTHER;
}

static int on_decision(hale__vctx *c, uint64_t seq, const hale__audit_tok *t)
{
    char id[ID_MAX], outcome[64];
    struct decision *d;
    int r;

    r = field_id(c, seq, "decision", &t[HALE__AF_DECISION_ID], "decision_id", id);
    if (r == 0)
        r = field_string(c, seq, "decision", &t[HALE__AF_OUTCOME], "outcome", outcome,
                         sizeof(outcome));
    if (r != 0)
        return r;
    d = hale_map_get(c->decisions, id);
    if (!d) {
        d = malloc(sizeof(*d));
        if (!d || hale_map_put(c->decisions, id, d) < 0) {
            free(d);
            return hale__vfail(c, HALE_AUDIT_UNUSABLE, 9, -1, -1, "out of memory");
        }
    }
    *d = (struct decision){.seq = seq, .outcome = decision_outcome(outcome)};
    return 0;
}

static int on_approval(hale__vctx *c, uint64_t seq, const hale__audit_tok *t)
{
    char id[ID_MAX], outcome[64];
    struct decision *d;
    int r;

    r = field_id(c, seq, "approval", &t[HALE__AF_DECISION_ID], "decision_id", id);
    if (r == 0)
        r = field_string(c, seq, "approval", &t[HALE__AF_OUTCOME], "outcome", outcome,
                         sizeof(outcome));
    if (r != 0)
        return r;
    d = hale_map_get(c->decisions, id);
    if (!d) {
        hale__vwarn(c, "approval at seq %" PRIu64 " names no earlier decision", seq);
        return 0;
    }
    if (strcmp(outcome, "approved") == 0)
        d->approved = true;
    else
        d->denied = true;
    return 0;
}

static int on_intent(hale__vctx *c, uint64_t seq, const hale__audit_tok *t)
{
    char did[ID_MAX], iid[ID_MAX];
    const hale__audit_tok *ra = &t[HALE__AF_REQUIRES_APPROVAL];
    struct decision *d;
    struct intent *in;
    bool needs;
    int r;

    r = field_id(c, seq, "exec_intent", &t[HALE__AF_DECISION_ID], "decision_id", did);
    if (r == 0)
        r = field_id(c, seq, "exec_intent", &t[HALE__AF_INTENT_ID], "intent_id", iid);
    if (r != 0)
        return r;
    if (ra->type != HALE__TOK_TRUE && ra->type != HALE__TOK_FALSE)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 9, (int64_t)seq, -1,
                           "exec_intent at seq %" PRIu64 ": requires_approval is not a boolean",
                           seq);
    d = hale_map_get(c->decisions, did);
    if (!d)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 9, (int64_t)seq, -1,
                           "exec_intent at seq %" PRIu64 ": no earlier decision '%.200s'", seq,
                           did + 1);
    if (d->outcome != DEC_ALLOW && d->outcome != DEC_REQUIRE_APPROVAL)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 9, (int64_t)seq, -1,
                           "exec_intent at seq %" PRIu64 ": decision '%.200s' (seq %" PRIu64
                           ") did not allow it",
                           seq, did + 1, d->seq);
    needs = ra->type == HALE__TOK_TRUE || d->outcome == DEC_REQUIRE_APPROVAL;
    if (needs && (!d->approved || d->denied))
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 9, (int64_t)seq, -1,
                           "exec_intent at seq %" PRIu64 ": no approval of decision '%.200s' "
                           "between seq %" PRIu64 " and this intent",
                           seq, did + 1, d->seq);
    if (hale_map_get(c->intents, iid))
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 9, (int64_t)seq, -1,
                           "exec_intent at seq %" PRIu64 ": intent_id '%.200s' is still open", seq,
                           iid + 1);
    in = malloc(sizeof(*in));
    if (!in || hale_map_put(c->intents, iid, in) < 0) {
        free(in);
        return hale__vfail(c, HALE_AUDIT_UNUSABLE, 9, -1, -1, "out of memory");
    }
    in->seq = seq;
    c->rep->n_open_intents++;
    return 0;
}

static int on_terminal(hale__vctx *c, uint64_t seq, const char *kind, const hale__audit_tok *t)
{
    char iid[ID_MAX];
    int r;

    r = field_id(c, seq, kind, &t[HALE__AF_INTENT_ID], "intent_id", iid);
    if (r != 0)
        return r;
    if (!hale_map_get(c->intents, iid))
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 9, (int64_t)seq, -1,
                           "%s at seq %" PRIu64 ": no open exec_intent '%.200s'", kind, seq,
                           iid + 1);
    free(hale_map_remove(c->intents, iid));
    c->rep->n_open_intents--;
    return 0;
}

int hale__vcheck_leaf(hale__vctx *c, uint64_t seq, const hale__audit_tok *t)
{
    char log[sizeof(c->rep->origin)], kind[HALE_AUDIT_MAX_KIND_BYTES + 1];
    int64_t v, bseq, ts;
    int r;

    if (!c->rep->origin[0])
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 1, (int64_t)seq, -1,
                           "the log has leaves but audit_meta records no origin");
    if (hale__audit_tok_int(&t[HALE__AF_V], &v) < 0)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 4, (int64_t)seq, -1,
                           "leaf %" PRIu64 ": \"v\" is missing or not an integer", seq);
    if (v != HALE_AUDIT_VERSION)
        return hale__vfail(c, HALE_AUDIT_UNUSABLE, 4, (int64_t)seq, -1,
                           "leaf %" PRIu64 ": format version %" PRId64 ", this verifier reads %d",
                           seq, v, HALE_AUDIT_VERSION);
    if (hale__audit_tok_int(&t[HALE__AF_SEQ], &bseq) < 0 || bseq < 0 || (uint64_t)bseq != seq)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 4, (int64_t)seq, -1,
                           "leaf %" PRIu64 ": its body states seq %.*s", seq,
                           (int)(t[HALE__AF_SEQ].len % 32),
                           t[HALE__AF_SEQ].p ? t[HALE__AF_SEQ].p : "");
    r = field_string(c, seq, NULL, &t[HALE__AF_LOG], "log", log, sizeof(log));
    if (r == 0 && strcmp(log, c->rep->origin) != 0)
        r = hale__vfail(c, HALE_AUDIT_TAMPERED, 4, (int64_t)seq, -1,
                        "leaf %" PRIu64 ": belongs to log '%.200s'", seq, log);
    if (r == 0)
        r = field_string(c, seq, NULL, &t[HALE__AF_KIND], "kind", kind, sizeof(kind));
    if (r != 0)
        return r;
    if (hale__audit_tok_int(&t[HALE__AF_TS], &ts) < 0)
        return hale__vfail(c, HALE_AUDIT_TAMPERED, 4, (int64_t)seq, -1,
                           "leaf %" PRIu64 ": \"ts\" is missing or not an integer", seq);
    if (c->have_ts && ts < c->last_ts) {
        if (c->rep->n_ts_backwards++ == 0)
            hale__vwarn(c, "ts goes backwards at seq %" PRIu64 " (%" PRId64 " ns earlier)", seq,
                        c->last_ts - ts);
    }
    c->have_ts = true;
    c->last_ts = ts;
    if (strcmp(kind, HALE_AUDIT_KIND_KEY_ROTATION) == 0)
        return check_rotation(c, seq, t);
    if (strcmp(kind, HALE_AUDIT_KIND_DECISION) == 0)
        return on_decision(c, seq, t);
    if (strcmp(kind, HALE_AUDIT_KIND_APPROVAL) == 0)
        return on_approval(c, seq, t);
    if (strcmp(kind, HALE_AUDIT_KIND_EXEC_INTENT) == 0)
        return on_intent(c, seq, t);
    if (strcmp(kind, HALE_AUDIT_KIND_EXEC_RESULT) == 0 ||
        strcmp(kind, HALE_AUDIT_KIND_EXEC_ABANDON) == 0)
        return on_terminal(c, seq, kind, t);
    return 0;
}

struct first_open {
    uint64_t seq; /* lowest open intent seq so far */
    bool found;   /* any */
};

static int find_first_open(const char *key, void *value, void *ud)
{
    const struct intent *in = value;
    struct first_open *fo = ud;

    (void)key;
    if (!fo->found || in->seq < fo->seq)
        *fo = (struct first_open){.seq = in->seq, .found = true};
    return 0;
}

int hale__vcheck_open_intents(hale__vctx *c)
{
    struct first_open fo = {0};

    if (!c->intents || hale_map_size(c->intents) == 0)
        return 0;
    hale_map_foreach(c->intents, find_first_open, &fo);
    return hale__vfail(c, HALE_AUDIT_INCOMPLETE, 9, (int64_t)fo.seq, -1,
                       "%zu exec_intent leaves have no exec_result or exec_abandoned yet, the "
                       "first at seq %" PRIu64,
                       hale_map_size(c->intents), fo.seq);
}

static int free_value(const char *key, void *value, void *ud)
{
    (void)key;
    (void)ud;
    free(value);
    return 0;
}

void hale__vsemantic_free(hale__vctx *c)
{
    if (c->decisions)
        hale_map_foreach(c->decisions, free_value, NULL);
    if (c->intents)
        hale_map_foreach(c->intents, free_value, NULL);
    hale_map_free(c->decisions);
    hale_map_free(c->intents);
    c->decisions = c->intents = NULL;
}
