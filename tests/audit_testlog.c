/* tests/audit_testlog.c - see audit_testlog.h. */
#include "audit_testlog.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hale/audit.h"
#include "hale/store.h"

hale_note_signer *testlog_signer(const char *origin, uint32_t seed, unsigned epoch)
{
    uint8_t in[8], s[HALE_NOTE_SEED_BYTES];
    hale_note_signer *out = NULL;

    memcpy(in, &seed, 4);
    memcpy(in + 4, &epoch, 4);
    crypto_generichash(s, sizeof(s), in, sizeof(in), NULL, 0);
    if (hale_note_signer_from_seed(origin, s, &out) < 0)
        return NULL;
    sodium_memzero(s, sizeof(s));
    return out;
}

int testlog_write_key(const char *path, const char *vkey)
{
    FILE *f = fopen(path, "w");

    if (!f)
        return -errno;
    fprintf(f, "%s\n", vkey);
    return fclose(f) == 0 ? 0 : -EIO;
}

char *testlog_sign(const hale_note_signer *s, const char *origin, uint64_t size,
                   const hale_hash *root)
{
    char *text = NULL, *note = NULL;

    if (hale_checkpoint_format(origin, size, root, NULL, 0, &text, NULL) < 0)
        return NULL;
    if (hale_note_sign(text, strlen(text), &s, 1, &note, NULL) < 0)
        note = NULL;
    free(text);
    return note;
}

/* The payload of leaf number i of the workload (a cycle of one incident's life). */
static json_t *payload(uint64_t i, uint32_t seed, const char **ret_kind)
{
    uint64_t cycle = i / 6, step = i % 6;
    bool approval = (cycle + seed) % 3 == 0;
    char did[48], iid[48];

    snprintf(did, sizeof(did), "d-%" PRIu64, cycle);
    snprintf(iid, sizeof(iid), "i-%" PRIu64, cycle);
    switch (step) {
    case 0:
        *ret_kind = HALE_AUDIT_KIND_ALERT;
        return json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}], s:I}", "event_id", iid, "source",
                         "alertmanager", "body_sha256",
                         "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                         "alerts", "fingerprint", "c0ffee", "status", "firing", "incident_id",
                         (json_int_t)cycle + 1);
    case 1:
        *ret_kind = HALE_AUDIT_KIND_DECISION;
        return json_pack("{s:s, s:I, s:s, s:{s:s}, s:s, s:i, s:s, s:[s], s:s}", "decision_id", did,
                         "incident_id", (json_int_t)cycle + 1, "tool", "restart_service", "args",
                         "unit", "web.service", "outcome", approval ? "require_approval" : "allow",
                         "confidence_bp", 8700, "risk", "low", "reasons", "runbook match",
                         "policy_sha256",
                         "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae");
    case 2:
        if (approval) {
            *ret_kind = HALE_AUDIT_KIND_APPROVAL;
            return json_pack("{s:s, s:I, s:s, s:s}", "decision_id", did, "incident_id",
                             (json_int_t)cycle + 1, "actor", "alice", "outcome", "approved");
        }
        *ret_kind = HALE_AUDIT_KIND_TRANSITION;
        return json_pack("{s:I, s:s, s:s, s:s}", "incident_id", (json_int_t)cycle + 1, "from",
                         "open", "to", "deciding", "reason", "diagnosed");
    case 3:
        *ret_kind = HALE_AUDIT_KIND_EXEC_INTENT;
        return json_pack("{s:s, s:s, s:I, s:s, s:s, s:b}", "decision_id", did, "intent_id", iid,
                         "incident_id", (json_int_t)cycle + 1, "tool", "restart_service",
                         "argv_sha256",
                         "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9",
                         "requires_approval", approval);
    case 4:
        *ret_kind = HALE_AUDIT_KIND_EXEC_RESULT;
        return json_pack("{s:s, s:s, s:I, s:s, s:s, s:i, s:i, s:i}", "intent_id", iid,
                         "decision_id", did, "incident_id", (json_int_t)cycle + 1, "tool",
                         "restart_service", "outcome", "success", "exit", 0, "signal", 0, "wall_ms",
                         412);
    default:
        *ret_kind = HALE_AUDIT_KIND_TRANSITION;
        return json_pack("{s:I, s:s, s:s, s:s}", "incident_id", (json_int_t)cycle + 1, "from",
                         "healing", "to", "resolved", "reason", "verified");
    }
}

static int seal(hale_audit *a, const hale_note_signer *s, const char *origin)
{
    uint64_t size;
    hale_hash root;
    hale_diag d = {{0}};
    char *note;
    int r;

    hale_audit_head(a, &size, &root);
    note = testlog_sign(s, origin, size, &root);
    if (!note)
        return -ENOMEM;
    r = hale_audit_store_checkpoint(a, note, (int64_t)time(NULL) * 1000000000, &d);
    if (r < 0)
        fprintf(stderr, "testlog: checkpoint %" PRIu64 ": %s\n", size, d.msg);
    free(note);
    return r;
}

static int append(hale_store *st, hale_audit *a, const char *kind, json_t *p, int64_t ts)
{
    hale_diag d = {{0}};
    int r = hale_audit_append(a, kind, p, ts, NULL, &d);

    (void)st;
    if (r < 0)
        fprintf(stderr, "testlog: append %s: %s\n", kind, d.msg);
    json_decref(p);
    return r;
}

/* Append a key_rotation leaf, commit, seal it with the old key, then switch keys. */
static int rotate(hale_store *st, hale_audit *a, testlog *t, const testlog_opts *o, int64_t ts)
{
    const hale_note_verifier *oldv = hale_note_signer_verifier(t->signers[t->n_epochs - 1]);
    char vkey[HALE_NOTE_VKEY_MAX_BYTES], prev[16];
    hale_note_signer *next;
    int r;

    if (t->n_epochs >= TESTLOG_MAX_EPOCHS)
        return -E2BIG;
    next = testlog_signer(o->origin, o->seed, t->n_epochs);
    if (!next)
        return -ENOMEM;
    hale_note_verifier_format(hale_note_signer_verifier(next), vkey, sizeof(vkey));
    snprintf(prev, sizeof(prev), "%08" PRIx32, oldv->key_id);
    r = append(
        st, a, HALE_AUDIT_KIND_KEY_ROTATION,
        json_pack("{s:i, s:s, s:s}", "epoch", (int)t->n_epochs, "key", vkey, "prev_key_id", prev),
        ts);
    if (r == 0)
        r = hale_store_commit(st);
    if (r == 0)
        r = seal(a, t->signers[t->n_epochs - 1], o->origin);
    if (r < 0) {
        hale_note_signer_free(next);
        return r;
    }
    t->signers[t->n_epochs++] = next;
    return hale_store_begin(st);
}

int testlog_build(const testlog_opts *o, testlog *ret)
{
    hale_store_opts so = {.path = o->db_path, .sync = HALE_STORE_SYNC_NORMAL};
    testlog t = {0};
    hale_store *st = NULL;
    hale_audit *a = NULL;
    hale_diag d = {{0}};
    int64_t ts = INT64_C(1700000000) * 1000000000;
    uint64_t i = 0, in_batch = 0, work = 0;
    int r;

    t.signers[0] = testlog_signer(o->origin, o->seed, 0);
    if (!t.signers[0])
        return -ENOMEM;
    t.n_epochs = 1;
    hale_note_verifier_format(hale_note_signer_verifier(t.signers[0]), t.root_vkey,
                              sizeof(t.root_vkey));
    r = hale_store_open(&so, &st, &d);
    if (r == 0)
        r = hale_audit_open(st, o->origin, &a, &d);
    if (r < 0) {
        fprintf(stderr, "testlog: %s: %s\n", o->db_path, d.msg);
        goto out;
    }
    r = hale_store_begin(st);
    while (r == 0 && i < o->n_leaves) {
        const char *kind;
        json_t *p;

        ts += 1000000 + (int64_t)(i % 7) * 1000;
        if (o->rotate_every && i > 0 && i % o->rotate_every == 0 && o->n_leaves - i > 7) {
            r = hale_store_commit(st);
            if (r == 0 && in_batch)
                r = seal(a, t.signers[t.n_epochs - 1], o->origin);
            if (r == 0)
                r = hale_store_begin(st);
            if (r == 0)
                r = rotate(st, a, &t, o, ts);
            if (r == 0 && o->on_checkpoint)
                o->on_checkpoint(o->ud, i + 1);
            in_batch = 0;
            i++;
            continue;
        }
        /* A cycle (6 leaves) starts only with room to finish, so no execution stays open. */
        if (work % 6 == 0 && o->n_leaves - i < 6) {
            p = payload(5, o->seed, &kind);
        } else {
            p = payload(work, o->seed, &kind);
            work++;
        }
        r = append(st, a, kind, p, ts);
        i++;
        if (r == 0 && ++in_batch >= o->batch) {
            r = hale_store_commit(st);
            if (r == 0 && !(o->leave_unsealed && i == o->n_leaves))
                r = seal(a, t.signers[t.n_epochs - 1], o->origin);
            if (r == 0 && o->on_checkpoint)
                o->on_checkpoint(o->ud, i);
            if (r == 0)
                r = hale_store_begin(st);
            in_batch = 0;
        }
    }
    if (r == 0)
        r = hale_store_commit(st);
    if (r == 0 && in_batch && !o->leave_unsealed) {
        r = seal(a, t.signers[t.n_epochs - 1], o->origin);
        if (r == 0 && o->on_checkpoint)
            o->on_checkpoint(o->ud, i);
    }
out:
    hale_audit_free(a);
    hale_store_free(st);
    if (r < 0) {
        testlog_release(&t);
        return r;
    }
    *ret = t;
    return 0;
}

void testlog_release(testlog *t)
{
    for (unsigned i = 0; i < t->n_epochs; i++)
        hale_note_signer_free(t->signers[i]);
    memset(t, 0, sizeof(*t));
}
