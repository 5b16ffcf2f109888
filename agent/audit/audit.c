/* agent/audit/audit.c - the audit log writer: canonical leaf bytes, the leaf row and the
 * frontier that moves with the store's transactions (include/hale/audit.h). */
#include "internal.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <time.h>

#include "hale/audit.h"
#include "hale/note.h"
#include "hale/store.h"
#include "audit/audit_int.h"
#include "util/alloc.h"

static void set_real_diag(hale_diag *reterr, const char *where)
{
    hale_diag_set(reterr,
                  "member '%s': a real number; the log takes integers only (confidences as "
                  "basis points)",
                  where ? where : "(top level)");
}

int hale_audit_canonical(json_t *obj, char **ret, size_t *ret_len, hale_diag *reterr)
{
    const char *where = NULL, *problem = NULL;
    hale_buf b;
    int r;

    hale_buf_init(&b, HALE_AUDIT_MAX_LEAF_BYTES * 64u);
    r = hale__audit_canon(&b, obj, NULL, &where, &problem);
    if (r == HALE_ESCHEMA)
        set_real_diag(reterr, where);
    if (r < 0) {
        hale_buf_release(&b);
        return r;
    }
    *ret = hale_buf_detach(&b, ret_len);
    return *ret ? 0 : -ENOMEM;
}

static int64_t wall_ns(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool kind_is_valid(const char *kind)
{
    size_t n = kind ? strlen(kind) : 0;

    if (n == 0 || n > HALE_AUDIT_MAX_KIND_BYTES)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((kind[i] >= 'a' && kind[i] <= 'z') || (kind[i] >= '0' && kind[i] <= '9') ||
              kind[i] == '_'))
            return false;
    return true;
}

int hale__audit_write_frontier(hale_audit *a)
{
    uint8_t enc[HALE_MERKLE_FRONTIER_MAX_BYTES];
    int n = hale_merkle_frontier_encode(&a->head, enc, sizeof(enc));
    int rc;

    if (n < 0)
        return n;
    sqlite3_bind_int64(a->put_frontier, 1, (sqlite3_int64)a->head.size);
    sqlite3_bind_blob(a->put_frontier, 2, enc, n, SQLITE_STATIC);
    rc = sqlite3_step(a->put_frontier);
    sqlite3_reset(a->put_frontier);
    sqlite3_clear_bindings(a->put_frontier);
    return rc == SQLITE_DONE ? 0 : HALE_ESTORE;
}

static int hook_before_commit(void *ud)
{
    hale_audit *a = ud;

    return a->dirty ? hale__audit_write_frontier(a) : 0;
}

static void hook_after_end(bool committed, void *ud)
{
    hale_audit *a = ud;

    if (committed)
        a->committed = a->head;
    else
        a->head = a->committed;
    a->dirty = false;
    if (a->recent_ok)
        a->n_recent = (size_t)(a->committed.size - a->recent_base.size);
}

void hale__audit_recent_rebase(hale_audit *a)
{
    a->recent_base = a->committed;
    a->n_recent = 0;
    a->recent_ok = true;
}

/* Cache the hash of the leaf just appended at a->head.size (see struct hale_audit). */
static void recent_add(hale_audit *a, const hale_hash *leaf)
{
    void *arr = a->recent;
    size_t cap = a->cap_recent;

    if (!a->recent_ok)
        return;
    if (a->n_recent >= HALE__AUDIT_RECENT_MAX ||
        hale_grow(&arr, &cap, a->n_recent, sizeof(*a->recent)) < 0) {
        a->recent_ok = false; /* proofs read rows until the next checkpoint */
        return;
    }
    a->recent = arr;
    a->cap_recent = cap;
    a->recent[a->n_recent++] = *leaf;
}

static int check_payload(json_t *payload, hale_diag *reterr)
{
    if (payload && !json_is_object(payload)) {
        hale_diag_set(reterr, "payload: expected a JSON object");
        return -EINVAL;
    }
    return 0;
}

int hale_audit_append(hale_audit *a, const char *kind, json_t *payload, int64_t ts_ns,
                      uint64_t *ret_seq, hale_diag *reterr)
{
    struct hale__audit_envelope env;
    hale_merkle_frontier next = a->head;
    char kind_json[HALE_AUDIT_MAX_KIND_BYTES + 3];
    const char *where = NULL, *problem = NULL;
    hale_hash leaf;
    int r, rc;

    if (!hale_store_in_tx(a->store)) {
        hale_diag_set(reterr, "audit append outside a store transaction");
        return HALE_ESTATE;
    }
    if (!kind_is_valid(kind)) {
        hale_diag_set(reterr, "kind '%s': expected 1 to %u characters of [a-z0-9_]",
                      kind ? kind : "(null)", HALE_AUDIT_MAX_KIND_BYTES);
        return -EINVAL;
    }
    if ((r = check_payload(payload, reterr)) < 0)
        return r;
    snprintf(kind_json, sizeof(kind_json), "\"%s\"", kind); /* [a-z0-9_]: nothing to escape */
    env = (struct hale__audit_envelope){a->head.size, ts_ns > 0 ? ts_ns : wall_ns(), a->origin_json,
                                        kind_json};
    hale_buf_reset(&a->body);
    r = hale__audit_canon(&a->body, payload, &env, &where, &problem);
    if (r == HALE_ESCHEMA && problem)
        hale_diag_set(reterr, "member '%s': %s", where, problem);
    else if (r == HALE_ESCHEMA)
        set_real_diag(reterr, where);
    else if (r == HALE_ELIMIT)
        hale_diag_set(reterr, "leaf of kind '%s' is over %u bytes or nested too deeply", kind,
                      HALE_AUDIT_MAX_LEAF_BYTES);
    if (r < 0)
        return r;
    hale_merkle_leaf_hash(a->body.data, a->body.len, &leaf);
    r = hale_merkle_frontier_append(&next, &leaf);
    if (r == 0) {
        /* Every parameter is bound on every call: no sqlite3_clear_bindings needed. */
        sqlite3_bind_int64(a->insert_leaf, 1, (sqlite3_int64)a->head.size);
        sqlite3_bind_blob(a->insert_leaf, 2, a->body.data, (int)a->body.len, SQLITE_STATIC);
        sqlite3_bind_blob(a->insert_leaf, 3, leaf.b, sizeof(leaf.b), SQLITE_STATIC);
        rc = sqlite3_step(a->insert_leaf);
        if (rc != SQLITE_DONE) {
            hale_diag_set(reterr, "cannot insert leaf %" PRIu64 ": %s", a->head.size,
                          sqlite3_errmsg(a->db));
            r = HALE_ESTORE;
        }
        sqlite3_reset(a->insert_leaf);
    }
    if (r < 0)
        return r;
    if (ret_seq)
        *ret_seq = a->head.size;
    recent_add(a, &leaf);
    a->head = next;
    a->dirty = true;
    return 0;
}

void hale_audit_head(const hale_audit *a, uint64_t *ret_size, hale_hash *ret_root)
{
    if (ret_size)
        *ret_size = a->head.size;
    if (ret_root)
        hale_merkle_frontier_root(&a->head, ret_root);
}

void hale_audit_committed_frontier(const hale_audit *a, hale_merkle_frontier *ret)
{
    *ret = a->committed;
}

const char *hale_audit_origin(const hale_audit *a)
{
    return a->origin;
}

int hale__audit_before_commit(void *ud)
{
    return hook_before_commit(ud);
}

void hale__audit_after_end(bool committed, void *ud)
{
    hook_after_end(committed, ud);
}
