/* agent/audit/bundle_verify.c - hale_audit_bundle_verify(): check an evidence bundle with a
 * pinned root key and nothing else. Trusts no field of the bundle: leaf hashes are recomputed
 * from the bytes, every proof ends at the checkpoint root, the key chain starts at the pinned
 * key, and the checkpoint must carry a valid signature by the key of its own epoch (a
 * signature by any other key, the current one included, does not count: SECURITY.md 1.12). */
#include "internal.h"

#include <sodium.h>
#include <strings.h>
#include <sys/types.h>

#include "hale/audit.h"
#include "hale/audit_query.h"
#include "hale/note.h"
#include "util/json.h"

#define MAX_EPOCHS 4096u /* key rotations one bundle may carry */

struct verify {
    hale_checkpoint cp;       /* the checkpoint text, parsed */
    const char *origin;       /* the bundle's origin */
    int64_t incident_id;      /* the bundle's incident */
    hale_note_verifier *keys; /* keys[e]: the key of epoch e */
    unsigned n_keys;          /* epochs known so far */
    unsigned epoch;           /* the checkpoint's epoch */
    hale_diag *reterr;        /* the first failure */
};

static int fail(struct verify *v, const char *what, int64_t seq)
{
    if (seq >= 0)
        hale_diag_set(v->reterr, "seq %lld: %s", (long long)seq, what);
    else
        hale_diag_set(v->reterr, "%s", what);
    return HALE_EPROOF;
}

/* Decode standard base64 with padding into out (cap bytes); -1 when it is not that. */
static ssize_t unb64(const char *text, uint8_t *out, size_t cap)
{
    size_t len = 0;

    if (!text || sodium_base642bin(out, cap, text, strlen(text), NULL, &len, NULL,
                                   sodium_base64_VARIANT_ORIGINAL) != 0)
        return -1;
    return (ssize_t)len;
}

struct entry {
    int64_t seq;       /* position claimed */
    const char *bytes; /* base64 of the leaf bytes */
    json_t *proof;     /* base64 hashes, bottom-up */
};

/* One entry {"seq", "bytes", "proof"}: the bytes proven at seq in the checkpoint. On success
 * *ret_body is the parsed body (owned by the caller). */
static int check_entry(struct verify *v, const json_t *e, int64_t after, json_t **ret_body)
{
    static const hale_json_field fields[] = {
        {"seq", HALE_JSON_INT, true, offsetof(struct entry, seq)},
        {"bytes", HALE_JSON_STRING, true, offsetof(struct entry, bytes)},
        {"proof", HALE_JSON_ARRAY, true, offsetof(struct entry, proof)}};
    struct entry in = {0};
    hale_hash proof[HALE_MERKLE_MAX_PROOF], leaf;
    size_t cap, i;
    uint8_t *body;
    ssize_t len;
    json_t *p;

    if (hale_json_fields(e, fields, 3, HALE_JSON_STRICT, &in, "entry", v->reterr) < 0)
        return HALE_EPROOF;
    if (in.seq < 0 || in.seq <= after)
        return fail(v, "entries must be in increasing seq order", in.seq);
    if ((uint64_t)in.seq >= v->cp.size)
        return fail(v, "not covered by the checkpoint", in.seq);
    if (json_array_size(in.proof) > HALE_MERKLE_MAX_PROOF)
        return fail(v, "proof too long", in.seq);
    json_array_foreach(
        in.proof, i,
        p) if (unb64(json_string_value(p), proof[i].b, sizeof(proof[i].b)) !=
               HALE_MERKLE_HASH_BYTES) return fail(v, "proof hash is not base64 of 32 bytes",
                                                   in.seq);
    cap = strlen(in.bytes) / 4 * 3 + 3;
    body = malloc(cap);
    if (!body)
        return -ENOMEM;
    len = unb64(in.bytes, body, cap);
    if (len < 0) {
        free(body);
        return fail(v, "bytes are not base64", in.seq);
    }
    hale_merkle_leaf_hash(body, (size_t)len, &leaf);
    if (hale_merkle_verify_inclusion(&leaf, (uint64_t)in.seq, v->cp.size, proof,
                                     json_array_size(in.proof), &v->cp.root) < 0) {
        free(body);
        return fail(v, "inclusion proof does not lead to the checkpoint root", in.seq);
    }
    *ret_body = json_loadb((const char *)body, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
    free(body);
    if (!json_is_object(*ret_body)) {
        json_decref(*ret_body);
        return fail(v, "leaf bytes are not a JSON object", in.seq);
    }
    return 0;
}

/* The envelope every leaf carries: v, log, seq, kind. */
static int check_envelope(struct verify *v, const json_t *body, int64_t seq, const char *kind)
{
    const char *log = json_string_value(json_object_get(body, "log"));
    const char *k = json_string_value(json_object_get(body, "kind"));

    if (json_integer_value(json_object_get(body, "v")) != HALE_AUDIT_VERSION ||
        !json_is_integer(json_object_get(body, "seq")) ||
        json_integer_value(json_object_get(body, "seq")) != seq || !log ||
        strcmp(log, v->origin) != 0 || !k || (kind && strcmp(k, kind) != 0))
        return fail(v,
                    kind ? "not a key_rotation leaf of this log at this seq"
                         : "envelope (v, log, seq, kind) does not match",
                    seq);
    return 0;
}

static int check_rotation(struct verify *v, const json_t *e, int64_t *after)
{
    char prev_id[9];
    json_t *body = NULL;
    const char *key, *prev;
    int64_t seq;
    int r;

    r = check_entry(v, e, *after, &body);
    if (r < 0)
        return r;
    seq = json_integer_value(json_object_get(e, "seq"));
    r = check_envelope(v, body, seq, HALE_AUDIT_KIND_KEY_ROTATION);
    key = json_string_value(json_object_get(body, "key"));
    prev = json_string_value(json_object_get(body, "prev_key_id"));
    snprintf(prev_id, sizeof(prev_id), "%08x", (unsigned)v->keys[v->n_keys - 1].key_id);
    if (r == 0 && json_integer_value(json_object_get(body, "epoch")) != (json_int_t)v->n_keys)
        r = fail(v, "key rotation epochs are not contiguous", seq);
    if (r == 0 && (!prev || strcasecmp(prev, prev_id) != 0))
        r = fail(v, "prev_key_id is not the key ID of the previous epoch's key", seq);
    if (r == 0 && (!key || hale_note_verifier_parse(key, &v->keys[v->n_keys]) < 0 ||
                   strcmp(v->keys[v->n_keys].name, v->origin) != 0))
        r = fail(v, "the new key is not a valid key of this log", seq);
    if (r == 0 && (uint64_t)seq + 1 < v->cp.size)
        v->epoch = v->n_keys; /* sealed before the checkpoint: the checkpoint is a later epoch */
    if (r == 0)
        v->n_keys++;
    *after = seq;
    json_decref(body);
    return r;
}

static int check_leaf(struct verify *v, const json_t *e, int64_t *after)
{
    json_t *body = NULL, *inc;
    int64_t seq;
    int r;

    r = check_entry(v, e, *after, &body);
    if (r < 0)
        return r;
    seq = json_integer_value(json_object_get(e, "seq"));
    r = check_envelope(v, body, seq, NULL);
    inc = json_object_get(body, "incident_id");
    if (r == 0 && (!json_is_integer(inc) || json_integer_value(inc) != v->incident_id))
        r = fail(v, "leaf does not belong to the bundle's incident", seq);
    *after = seq;
    json_decref(body);
    return r;
}

/* The checkpoint note must carry a valid signature by the key of its epoch; signatures by
 * other keys are ignored. */
static int check_signature(struct verify *v, const char *note)
{
    hale_note_opened o;
    hale_diag why = {{0}};
    int r;

    r = hale_note_open(note, strlen(note), &v->keys[v->epoch], 1, 0, &o, &why);
    if (r == -ENOMEM)
        return r;
    if (r >= 0) {
        bool ok = (o.verified_mask & 1) != 0;

        hale_note_opened_release(&o);
        if (ok)
            return 0;
    }
    hale_diag_set(v->reterr, "checkpoint: no valid signature by the key of epoch %u (%s)", v->epoch,
                  why.msg[0] ? why.msg : hale_strerror(r < 0 ? r : HALE_EPROOF));
    return HALE_EPROOF;
}

/* The checkpoint text without trusting the signature yet (the epoch decides which key must
 * have signed, and the epoch needs the proofs that need the root). */
static int parse_note_text(struct verify *v, const char *note)
{
    const char *sep = NULL;

    for (const char *p = note; (p = strstr(p, "\n\n")); p++)
        sep = p;
    if (!sep || hale_checkpoint_parse(note, (size_t)(sep - note) + 1, &v->cp, v->reterr) < 0)
        return fail(v, "checkpoint: not a signed checkpoint note", -1);
    if (strcmp(v->cp.origin, v->origin) != 0)
        return fail(v, "checkpoint origin is not the bundle's origin", -1);
    return 0;
}

struct doc {
    const char *format;   /* HALE_AUDIT_BUNDLE_FORMAT */
    const char *origin;   /* the log's origin */
    int64_t incident_id;  /* the incident */
    const char *note;     /* the checkpoint note */
    const char *root_key; /* optional root key text */
    json_t *leaves;       /* entries */
    json_t *rotations;    /* entries */
};

static int check_doc(struct verify *v, const json_t *root, struct doc *d,
                     const hale_note_verifier *pinned)
{
    static const hale_json_field fields[] = {
        {"format", HALE_JSON_STRING, true, offsetof(struct doc, format)},
        {"origin", HALE_JSON_STRING, true, offsetof(struct doc, origin)},
        {"incident_id", HALE_JSON_INT, true, offsetof(struct doc, incident_id)},
        {"checkpoint", HALE_JSON_STRING, true, offsetof(struct doc, note)},
        {"root_key", HALE_JSON_STRING, false, offsetof(struct doc, root_key)},
        {"leaves", HALE_JSON_ARRAY, true, offsetof(struct doc, leaves)},
        {"key_rotations", HALE_JSON_ARRAY, true, offsetof(struct doc, rotations)},
    };
    hale_note_verifier in_bundle;

    if (!json_is_object(root))
        return fail(v, "bundle: expected a JSON object", -1);
    if (hale_json_fields(root, fields, HALE_ARRAY_SIZE(fields), HALE_JSON_STRICT, d, "bundle",
                         v->reterr) < 0)
        return HALE_EPROOF;
    if (strcmp(d->format, HALE_AUDIT_BUNDLE_FORMAT) != 0)
        return fail(v, "bundle: unknown format (expected " HALE_AUDIT_BUNDLE_FORMAT ")", -1);
    if (strcmp(d->origin, pinned->name) != 0)
        return fail(v, "bundle: origin is not the name of the pinned key", -1);
    if (d->root_key && (hale_note_verifier_parse(d->root_key, &in_bundle) < 0 ||
                        in_bundle.key_id != pinned->key_id ||
                        sodium_memcmp(in_bundle.pk, pinned->pk, sizeof(in_bundle.pk)) != 0))
        return fail(v, "bundle: root_key is not the pinned key", -1);
    if (json_array_size(d->leaves) == 0 ||
        json_array_size(d->leaves) > HALE_AUDIT_BUNDLE_MAX_LEAVES)
        return fail(v, "bundle: expected 1 or more leaves", -1);
    if (json_array_size(d->rotations) >= MAX_EPOCHS)
        return fail(v, "bundle: too many key rotations", -1);
    v->origin = d->origin;
    v->incident_id = d->incident_id;
    return parse_note_text(v, d->note);
}

static int verify_doc(struct verify *v, const json_t *root, const hale_note_verifier *pinned,
                      hale_audit_bundle_info *info)
{
    struct doc d = {0};
    int64_t after = -1;
    json_t *e;
    size_t i;
    int r;

    r = check_doc(v, root, &d, pinned);
    if (r < 0)
        return r;
    v->keys = calloc(json_array_size(d.rotations) + 1, sizeof(*v->keys));
    if (!v->keys)
        return -ENOMEM;
    v->keys[0] = *pinned;
    v->n_keys = 1;
    json_array_foreach(d.rotations, i, e) if (r == 0) r = check_rotation(v, e, &after);
    after = -1;
    json_array_foreach(d.leaves, i, e) if (r == 0) r = check_leaf(v, e, &after);
    if (r == 0)
        r = check_signature(v, d.note);
    if (r == 0) {
        info->incident_id = d.incident_id;
        info->checkpoint_size = v->cp.size;
        info->n_leaves = json_array_size(d.leaves);
        info->n_rotations = json_array_size(d.rotations);
        info->epoch = v->epoch;
    }
    return r;
}

int hale_audit_bundle_verify(const char *bundle, size_t len, const char *pinned_vkey,
                             hale_audit_bundle_info *ret_info, hale_diag *reterr)
{
    struct verify v = {.reterr = reterr};
    hale_audit_bundle_info info = {0};
    hale_note_verifier pinned;
    hale_diag why = {{0}};
    json_t *root = NULL;
    int r;

    if (hale_note_verifier_parse(pinned_vkey, &pinned) < 0) {
        hale_diag_set(reterr, "pinned key: not a verifier key text (name+id+base64)");
        return -EINVAL;
    }
    if (len > HALE_AUDIT_BUNDLE_MAX_BYTES) {
        hale_diag_set(reterr, "bundle: larger than %u bytes", HALE_AUDIT_BUNDLE_MAX_BYTES);
        return HALE_EPROOF;
    }
    r = hale_json_parse(bundle, len, &root, &why);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        hale_diag_set(reterr, "bundle: not JSON: %s", why.msg);
        return HALE_EPROOF;
    }
    r = verify_doc(&v, root, &pinned, &info);
    json_decref(root);
    free(v.keys);
    hale_checkpoint_release(&v.cp);
    if (r == 0 && ret_info)
        *ret_info = info;
    return r;
}
