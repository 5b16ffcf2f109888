/* agent/audit/verify_proof_json.c - the proof file format that `hale audit prove` and
 * `hale audit consistency` print and `verify-inclusion` / `verify-consistency` read
 * (include/hale/audit_verify.h, docs/audit.md). */
#include "internal.h"

#include <jansson.h>
#include <sodium.h>

#include "audit/note_int.h"
#include "hale/audit_verify.h"
#include "util/json.h"

#define B64_HASH_BYTES                                                                             \
    sodium_base64_ENCODED_LEN(HALE_MERKLE_HASH_BYTES, sodium_base64_VARIANT_ORIGINAL)

static json_t *b64(const hale_hash *h)
{
    char s[B64_HASH_BYTES];

    sodium_bin2base64(s, sizeof(s), h->b, sizeof(h->b), sodium_base64_VARIANT_ORIGINAL);
    return json_string(s);
}

int hale_audit_proof_format(const hale_audit_proof *p, char **ret)
{
    json_t *o = json_object(), *hashes = json_array();
    char *text = NULL;
    int bad = !o || !hashes;

    for (size_t i = 0; !bad && i < p->n_hashes; i++)
        bad |= json_array_append_new(hashes, b64(&p->hashes[i]));
    if (!bad && p->consistency) {
        bad |= json_object_set_new(o, "type", json_string("consistency"));
        bad |= json_object_set_new(o, "size1", json_integer((json_int_t)p->index));
        bad |= json_object_set_new(o, "size2", json_integer((json_int_t)p->size));
    } else if (!bad) {
        bad |= json_object_set_new(o, "type", json_string("inclusion"));
        bad |= json_object_set_new(o, "index", json_integer((json_int_t)p->index));
        bad |= json_object_set_new(o, "size", json_integer((json_int_t)p->size));
        bad |= json_object_set_new(o, "leaf_hash", b64(&p->leaf_hash));
    }
    if (!bad)
        bad |= json_object_set(o, "hashes", hashes);
    if (!bad && p->note1)
        bad |= json_object_set_new(o, "checkpoint1", json_string(p->note1));
    if (!bad && p->note)
        bad |= json_object_set_new(o, p->consistency ? "checkpoint2" : "checkpoint",
                                   json_string(p->note));
    if (!bad)
        text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(hashes);
    json_decref(o);
    if (!text)
        return -ENOMEM;
    *ret = text;
    return 0;
}

static int get_hash(const json_t *v, const char *name, hale_hash *ret, hale_diag *why)
{
    const char *s = json_string_value(v);
    size_t n = 0;

    if (!s || hale__note_b64_decode(s, strlen(s), ret->b, sizeof(ret->b), &n) < 0 ||
        n != sizeof(ret->b)) {
        hale_diag_set(why, "%s: expected the base64 of 32 bytes", name);
        return HALE_ESCHEMA;
    }
    return 0;
}

static int get_u64(const json_t *o, const char *name, uint64_t *ret, hale_diag *why)
{
    const json_t *v = json_object_get(o, name);

    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        hale_diag_set(why, "%s: expected a non-negative integer", name);
        return HALE_ESCHEMA;
    }
    *ret = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_note(const json_t *o, const char *name, char **ret, hale_diag *why)
{
    const json_t *v = json_object_get(o, name);

    if (!v)
        return 0;
    if (!json_is_string(v)) {
        hale_diag_set(why, "%s: expected the text of a signed note", name);
        return HALE_ESCHEMA;
    }
    *ret = strdup(json_string_value(v));
    return *ret ? 0 : -ENOMEM;
}

int hale_audit_proof_parse(const char *text, size_t len, hale_audit_proof *ret, hale_diag *reterr)
{
    hale_audit_proof p = {0};
    const json_t *hashes, *v;
    const char *type;
    json_t *o = NULL;
    size_t i;
    int r;

    r = hale_json_parse(text, len, &o, reterr);
    if (r < 0)
        return r;
    type = json_string_value(json_object_get(o, "type"));
    hashes = json_object_get(o, "hashes");
    if (!json_is_object(o) || !type ||
        (strcmp(type, "inclusion") != 0 && strcmp(type, "consistency") != 0)) {
        hale_diag_set(reterr, "type: expected \"inclusion\" or \"consistency\"");
        r = HALE_ESCHEMA;
        goto out;
    }
    p.consistency = strcmp(type, "consistency") == 0;
    if (!json_is_array(hashes)) {
        hale_diag_set(reterr, "hashes: expected an array");
        r = HALE_ESCHEMA;
        goto out;
    }
    if (json_array_size(hashes) > HALE_MERKLE_MAX_PROOF) {
        hale_diag_set(reterr, "hashes: more than %u", HALE_MERKLE_MAX_PROOF);
        r = HALE_ELIMIT;
        goto out;
    }
    json_array_foreach(hashes, i, v)
    {
        r = get_hash(v, "hashes[]", &p.hashes[i], reterr);
        if (r < 0)
            goto out;
    }
    p.n_hashes = json_array_size(hashes);
    if (p.consistency) {
        r = get_u64(o, "size1", &p.index, reterr);
        if (r == 0)
            r = get_u64(o, "size2", &p.size, reterr);
        if (r == 0)
            r = get_note(o, "checkpoint1", &p.note1, reterr);
        if (r == 0)
            r = get_note(o, "checkpoint2", &p.note, reterr);
    } else {
        r = get_u64(o, "index", &p.index, reterr);
        if (r == 0)
            r = get_u64(o, "size", &p.size, reterr);
        if (r == 0)
            r = get_hash(json_object_get(o, "leaf_hash"), "leaf_hash", &p.leaf_hash, reterr);
        if (r == 0)
            r = get_note(o, "checkpoint", &p.note, reterr);
    }
out:
    json_decref(o);
    if (r < 0) {
        hale_audit_proof_release(&p);
        return r;
    }
    *ret = p;
    return 0;
}
