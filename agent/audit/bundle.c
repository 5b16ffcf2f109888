/* agent/audit/bundle.c - hale_audit_bundle_export(): the evidence bundle of one incident, a
 * JSON document an auditor checks with hale_audit_bundle_verify() and a pinned public key,
 * without the database. Format: docs/audit-query.md, "Evidence bundles". */
#include "internal.h"

#include <sodium.h>

#include "hale/audit.h"
#include "hale/audit_query.h"
#include "hale/note.h"
#include "hale/store.h"
#include "query_int.h"

/* What the bundle is built against. */
struct export
{
    sqlite3 *db;                   /* the store's connection */
    hale_checkpoint cp;            /* the parsed text of the newest checkpoint */
    json_t *list;                  /* the array being filled */
    hale_diag *reterr;             /* where failures are described */
    int64_t incident_id;           /* whose leaves */
    bool rotations;                /* collecting key rotations: stop at the checkpoint's size */
    hale__audit_head_cache *cache; /* range heads shared by the proofs */
};

static json_t *b64(const void *data, size_t len)
{
    size_t cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *text = malloc(cap);
    json_t *s;

    if (!text)
        return NULL;
    sodium_bin2base64(text, cap, data, len, sodium_base64_VARIANT_ORIGINAL);
    s = json_string(text);
    free(text);
    return s;
}

/* {"seq", "bytes", "proof"} for row, the proof checked against the checkpoint first. */
static int add_entry(const hale_audit_row *row, void *ud)
{
    hale_hash proof[HALE_MERKLE_MAX_PROOF], leaf;
    struct export *x = ud;
    json_t *o, *arr;
    int n, r = 0;

    if (row->seq >= x->cp.size && x->rotations)
        return 1; /* a rotation after the checkpoint: not part of its key chain */
    if (row->seq >= x->cp.size) {
        hale_diag_set(x->reterr,
                      "seq %llu: not sealed by a checkpoint yet (newest covers %llu leaves); "
                      "retry in a second",
                      (unsigned long long)row->seq, (unsigned long long)x->cp.size);
        return HALE_ESTATE;
    }
    if (json_array_size(x->list) >= HALE_AUDIT_BUNDLE_MAX_LEAVES) {
        hale_diag_set(x->reterr, "more than %u leaves", HALE_AUDIT_BUNDLE_MAX_LEAVES);
        return HALE_ELIMIT;
    }
    hale_merkle_leaf_hash(row->body, row->body_len, &leaf);
    n = hale__audit_prove(x->db, row->seq, x->cp.size, proof, x->cache);
    if (n >= 0 && hale_merkle_verify_inclusion(&leaf, row->seq, x->cp.size, proof, (size_t)n,
                                               &x->cp.root) < 0)
        n = HALE_EPROOF;
    if (n < 0) {
        if (n == HALE_EPROOF)
            hale_diag_set(x->reterr,
                          "seq %llu: the stored log does not match its checkpoint of size %llu; "
                          "run `hale audit verify`",
                          (unsigned long long)row->seq, (unsigned long long)x->cp.size);
        return n;
    }
    o = json_object();
    arr = json_array();
    if (!o || !arr)
        r = -ENOMEM;
    for (int i = 0; r == 0 && i < n; i++)
        if (json_array_append_new(arr, b64(proof[i].b, sizeof(proof[i].b))) < 0)
            r = -ENOMEM;
    if (r == 0 && (json_object_set_new(o, "seq", json_integer((json_int_t)row->seq)) < 0 ||
                   json_object_set_new(o, "bytes", b64(row->body, row->body_len)) < 0 ||
                   json_object_set(o, "proof", arr) < 0 || json_array_append(x->list, o) < 0))
        r = -ENOMEM;
    json_decref(arr);
    json_decref(o);
    return r;
}

/* Every leaf matching f, oldest first, through add_entry (which may stop early by returning
 * 1: hale_audit_query then returns 1 and leaves more false). */
static int collect(hale_store *s, hale_audit_filter *f, struct export *x)
{
    uint64_t next = 0;
    bool more = true;
    int r;

    f->oldest_first = true;
    f->limit = HALE_AUDIT_QUERY_MAX_LIMIT;
    while (more) {
        more = false;
        r = hale_audit_query(s, f, add_entry, x, &next, &more, x->reterr);
        if (r < 0)
            return r;
        f->has_cursor = true;
        f->cursor_seq = next;
    }
    return 0;
}

/* The newest checkpoint, its text parsed (the note's text ends at its last blank line). */
static int newest_checkpoint(hale_store *s, hale_audit_ckpt *ck, hale_checkpoint *cp,
                             hale_diag *reterr)
{
    const char *sep = NULL;
    int r;

    r = hale_audit_ckpt_latest(s, ck);
    if (r == HALE_ENOTFOUND) {
        hale_diag_set(reterr, "no checkpoint yet: the log has not been sealed");
        return HALE_ESTATE;
    }
    if (r < 0)
        return r;
    for (const char *p = ck->note; (p = strstr(p, "\n\n")); p++)
        sep = p;
    r = sep ? hale_checkpoint_parse(ck->note, (size_t)(sep - ck->note) + 1, cp, reterr) : -EINVAL;
    if (r == 0 && (cp->size != ck->size || memcmp(cp->root.b, ck->root.b, sizeof(cp->root.b)))) {
        hale_checkpoint_release(cp);
        r = -EINVAL;
    }
    if (r < 0 && r != -ENOMEM) {
        hale_diag_set(reterr,
                      "the checkpoint of size %llu does not hold a valid checkpoint text; "
                      "run `hale audit verify`",
                      (unsigned long long)ck->size);
        r = HALE_EPROOF;
    }
    return r;
}

static int set_all(json_t *out, const struct export *x, const hale_audit_ckpt *ck,
                   const char *root_vkey, json_t *leaves, json_t *rotations)
{
    int r = 0;

    r |= json_object_set_new(out, "format", json_string(HALE_AUDIT_BUNDLE_FORMAT));
    r |= json_object_set_new(out, "origin", json_string(x->cp.origin));
    r |= json_object_set_new(out, "incident_id", json_integer(x->incident_id));
    r |= json_object_set_new(out, "checkpoint", json_stringn(ck->note, ck->note_len));
    if (root_vkey)
        r |= json_object_set_new(out, "root_key", json_string(root_vkey));
    r |= json_object_set(out, "leaves", leaves);
    r |= json_object_set(out, "key_rotations", rotations);
    return r ? -ENOMEM : 0;
}

int hale_audit_bundle_export(hale_store *s, int64_t incident_id, const char *root_vkey,
                             json_t **ret, hale_diag *reterr)
{
    struct export x = {.db = hale_store_sqlite(s), .reterr = reterr, .incident_id = incident_id};
    hale_audit_filter inc = {.incident_id = incident_id};
    hale_audit_filter rot = {.kind = HALE_AUDIT_KIND_KEY_ROTATION};
    json_t *leaves = json_array(), *rotations = json_array(), *out = json_object();
    hale_audit_ckpt ck = {0};
    int r;

    x.cache = calloc(1, sizeof(*x.cache)); /* about 200 KiB: not for the stack */
    if (!leaves || !rotations || !out || !x.cache) {
        r = -ENOMEM;
        goto out;
    }
    r = newest_checkpoint(s, &ck, &x.cp, reterr);
    if (r < 0)
        goto out;
    x.list = leaves;
    r = collect(s, &inc, &x);
    if (r == 0 && json_array_size(leaves) == 0) {
        hale_diag_set(reterr, "no audit leaf names incident %lld", (long long)incident_id);
        r = HALE_ENOTFOUND;
    }
    x.list = rotations;
    x.rotations = true;
    if (r == 0)
        r = collect(s, &rot, &x); /* every rotation is below the newest checkpoint's size */
    if (r == 0)
        r = set_all(out, &x, &ck, root_vkey, leaves, rotations);
    if (r == 0) {
        *ret = out;
        out = NULL;
    }
    hale_checkpoint_release(&x.cp);
out:
    free(x.cache);
    hale_audit_ckpt_release(&ck);
    json_decref(leaves);
    json_decref(rotations);
    json_decref(out);
    return r;
}
