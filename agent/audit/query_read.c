/* agent/audit/query_read.c - single reads of the audit log: one leaf by seq, the newest or the
 * covering checkpoint, and the JSON form of query rows that the API and the CLI print. */
#include "internal.h"

#include "hale/audit_query.h"
#include "hale/store.h"
#include "query_int.h"

static int set_str(json_t *o, const char *key, const char *v)
{
    return json_object_set_new(o, key, v ? json_string(v) : json_null());
}

json_t *hale_audit_row_json(const hale_audit_row *row)
{
    char ts[48], hex[2 * HALE_MERKLE_HASH_BYTES + 1];
    json_t *o = json_object(), *body;
    int r = 0;

    if (!o)
        return NULL;
    /* The body was written by jansson and hashed; if it no longer parses, the row was edited,
     * and the answer says so instead of dropping it. */
    body = json_loadb(row->body, row->body_len, JSON_REJECT_DUPLICATES, NULL);
    if (!body)
        body = json_string("<stored body is not JSON: run hale audit verify>");
    for (size_t i = 0; i < HALE_MERKLE_HASH_BYTES; i++)
        (void)snprintf(hex + 2 * i, 3, "%02x", row->leaf_hash.b[i]);
    r |= json_object_set_new(o, "seq", json_integer((json_int_t)row->seq));
    r |= json_object_set_new(o, "ts",
                             json_string(hale_audit_time_format(row->ts_ns, ts, sizeof(ts))));
    r |= json_object_set_new(o, "ts_ns", json_integer(row->ts_ns));
    r |= json_object_set_new(o, "kind", json_string(row->kind));
    r |= json_object_set_new(o, "incident_id",
                             row->incident_id ? json_integer(row->incident_id) : json_null());
    r |= set_str(o, "actor", row->actor);
    r |= set_str(o, "tool", row->tool);
    r |= set_str(o, "outcome", row->outcome);
    r |= json_object_set_new(o, "leaf_hash", json_string(hex));
    r |= json_object_set_new(o, "body", body);
    if (r != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int append_row(const hale_audit_row *row, void *ud)
{
    json_t *o = hale_audit_row_json(row);

    if (!o)
        return -ENOMEM;
    return json_array_append_new(ud, o) == 0 ? 0 : -ENOMEM;
}

int hale_audit_query_json(hale_store *s, const hale_audit_filter *f, json_t **ret,
                          hale_diag *reterr)
{
    json_t *leaves = json_array(), *out = NULL;
    uint64_t next = 0;
    bool more = false;
    int r;

    if (!leaves)
        return -ENOMEM;
    r = hale_audit_query(s, f, append_row, leaves, &next, &more, reterr);
    if (r < 0)
        goto out;
    out = json_object();
    if (!out || json_object_set(out, "leaves", leaves) < 0 ||
        json_object_set_new(out, "next_cursor",
                            more ? json_integer((json_int_t)next) : json_null()) < 0) {
        r = -ENOMEM;
        goto out;
    }
    *ret = out;
    out = NULL;
    r = 0;
out:
    json_decref(out);
    json_decref(leaves);
    return r;
}

int hale_audit_leaf_get(hale_store *s, uint64_t seq, hale_audit_row_cb cb, void *ud)
{
    sqlite3 *db = hale_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    hale_audit_row row;
    int rc, r;

    if (seq > (uint64_t)INT64_MAX)
        return HALE_ENOTFOUND;
    rc = sqlite3_prepare_v2(
        db, "SELECT " HALE__AUDIT_ROW_COLS " FROM audit_leaf l WHERE l.seq = ?1", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return hale__audit_sql_err(db, rc);
    }
    (void)sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        r = hale__audit_row_read(st, &row);
        if (r == 0)
            r = cb(&row, ud);
    } else {
        r = rc == SQLITE_DONE ? HALE_ENOTFOUND : HALE_ESTORE;
    }
    sqlite3_finalize(st);
    return r;
}

void hale_audit_ckpt_release(hale_audit_ckpt *c)
{
    if (!c)
        return;
    free(c->note);
    c->note = NULL;
}

static int ckpt_read(hale_store *s, const char *sql, int64_t arg, hale_audit_ckpt *ret)
{
    sqlite3 *db = hale_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    hale_audit_ckpt c = {0};
    int rc, r = 0;

    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return hale__audit_sql_err(db, rc);
    }
    if (arg >= 0)
        (void)sqlite3_bind_int64(st, 1, arg);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        r = rc == SQLITE_DONE ? HALE_ENOTFOUND : HALE_ESTORE;
        goto out;
    }
    if (sqlite3_column_int64(st, 0) < 0 ||
        sqlite3_column_bytes(st, 1) != (int)HALE_MERKLE_HASH_BYTES) {
        r = HALE_ESCHEMA;
        goto out;
    }
    c.size = (uint64_t)sqlite3_column_int64(st, 0);
    memcpy(c.root.b, sqlite3_column_blob(st, 1), HALE_MERKLE_HASH_BYTES);
    c.note_len = (size_t)sqlite3_column_bytes(st, 2);
    c.note = malloc(c.note_len + 1);
    if (!c.note) {
        r = -ENOMEM;
        goto out;
    }
    if (c.note_len)
        memcpy(c.note, sqlite3_column_blob(st, 2), c.note_len);
    c.note[c.note_len] = '\0';
    c.signed_ns = sqlite3_column_int64(st, 3);
    *ret = c;
out:
    sqlite3_finalize(st);
    return r;
}

int hale_audit_ckpt_latest(hale_store *s, hale_audit_ckpt *ret)
{
    return ckpt_read(s,
                     "SELECT size, root, note, signed_ns FROM audit_checkpoint "
                     "ORDER BY size DESC LIMIT 1",
                     -1, ret);
}

int hale_audit_ckpt_covering(hale_store *s, uint64_t seq, hale_audit_ckpt *ret)
{
    if (seq >= (uint64_t)INT64_MAX)
        return HALE_ENOTFOUND;
    return ckpt_read(s,
                     "SELECT size, root, note, signed_ns FROM audit_checkpoint "
                     "WHERE size > ?1 ORDER BY size LIMIT 1",
                     (int64_t)seq, ret);
}
