/* agent/audit/query.c - filtered, paged reads of audit_leaf for `hale audit query` and
 * GET /api/v1/audit. A query runs as two segments over disjoint seq ranges: the leaves the
 * side indexes of migrations 4 and 9 already cover (time filters narrowed to a seq range
 * through audit_ts_block, attributes through audit_leaf_attr, text through the audit_fts
 * trigram index) and the tail they do not cover yet (scanned). Every match is confirmed
 * against the stored body, so the indexes only make it fast. */
#include "internal.h"

#include <inttypes.h>
#include <sodium.h>

#include "hale/audit_query.h"
#include "hale/store.h"
#include "query_int.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/utf8.h"

#define MAX_BINDS     24u           /* parameters of one segment's statement */
#define SQL_MAX_BYTES (16u * 1024u) /* one segment's SQL text */

struct bind {
    bool is_text;     /* text or integer */
    int64_t i;        /* integer value */
    const char *text; /* borrowed text value */
};

/* One query in progress. */
struct run {
    sqlite3 *db;                /* the store's connection */
    const hale_audit_filter *f; /* what to select */
    char *needle;               /* lowercase escaped text, or NULL */
    char *match;                /* the FTS5 query for needle, or NULL (too short to index) */
    char *member[5];            /* "kind":"x" ... as a body holds it: kind, actor, tool,
                                 * outcome, incident_id; NULL where not filtered */
    uint32_t limit;             /* rows wanted */
    uint32_t rows;              /* rows given to cb */
    bool more;                  /* a row beyond limit exists */
    uint64_t last_seq;          /* seq of the last row given to cb */
    hale_audit_row_cb cb;       /* the caller's callback */
    void *ud;                   /* its argument */
};

int hale__audit_sql_err(sqlite3 *db, int rc)
{
    const char *msg = sqlite3_errmsg(db);

    if ((rc & 0xff) == SQLITE_NOMEM)
        return -ENOMEM;
    if ((rc & 0xff) == SQLITE_ERROR && msg && strstr(msg, "no such table"))
        return HALE_ESCHEMA;
    return HALE_ESTORE;
}

int hale__audit_row_read(sqlite3_stmt *st, hale_audit_row *row)
{
    const void *hash = sqlite3_column_blob(st, 8);
    sqlite3_int64 seq = sqlite3_column_int64(st, 0);

    if (seq < 0 || sqlite3_column_bytes(st, 8) != (int)HALE_MERKLE_HASH_BYTES || !hash)
        return HALE_ESCHEMA;
    row->seq = (uint64_t)seq;
    row->ts_ns = sqlite3_column_int64(st, 1);
    row->kind = (const char *)sqlite3_column_text(st, 2);
    row->incident_id = sqlite3_column_int64(st, 3);
    row->actor = (const char *)sqlite3_column_text(st, 4);
    row->tool = (const char *)sqlite3_column_text(st, 5);
    row->outcome = (const char *)sqlite3_column_text(st, 6);
    /* The body column is a BLOB; reading it as text adds the NUL without changing bytes. */
    row->body = (const char *)sqlite3_column_text(st, 7);
    row->body_len = (size_t)sqlite3_column_bytes(st, 7);
    if (!row->kind)
        row->kind = "";
    if (!row->body)
        row->body = "";
    memcpy(row->leaf_hash.b, hash, HALE_MERKLE_HASH_BYTES);
    return 0;
}

bool hale_audit_row_check(const hale_audit_row *row)
{
    hale_hash h;

    hale_merkle_leaf_hash(row->body, row->body_len, &h);
    return sodium_memcmp(h.b, row->leaf_hash.b, sizeof(h.b)) == 0;
}

int hale__audit_indexed(sqlite3 *db, uint64_t *ret)
{
    sqlite3_stmt *st = NULL;
    int rc;

    /* Before migration 9 (a store opened read-only) the attributes had no side table yet:
     * then nothing counts as indexed, and every filter scans. */
    rc = sqlite3_prepare_v2(db,
                            "SELECT indexed FROM audit_index_state WHERE id = 1 AND EXISTS "
                            "(SELECT 1 FROM sqlite_schema WHERE name = 'audit_leaf_attr')",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        int r = hale__audit_sql_err(db, rc);

        sqlite3_finalize(st);
        if (r == HALE_ESCHEMA) { /* before migration 4: scan everything */
            *ret = 0;
            return 0;
        }
        return r;
    }
    rc = sqlite3_step(st);
    *ret = rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0
               ? (uint64_t)sqlite3_column_int64(st, 0)
               : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : HALE_ESTORE;
}

int hale__audit_needle(const char *s, char **ret)
{
    json_t *str = json_string(s);
    char *dump, *p;
    size_t len;

    if (!str)
        return -EINVAL; /* jansson refuses strings that are not UTF-8 */
    dump = json_dumps(str, JSON_ENCODE_ANY | JSON_ENSURE_ASCII | JSON_COMPACT);
    json_decref(str);
    if (!dump)
        return -ENOMEM;
    len = strlen(dump);
    memmove(dump, dump + 1, len - 2); /* drop the quotes */
    dump[len - 2] = '\0';
    for (p = dump; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    *ret = dump;
    return 0;
}

/* "t1" AND "t2" ... over trigrams of needle: every third one and the last, which is enough
 * to narrow the candidates (each is confirmed with instr() against the body). NULL when the
 * needle is shorter than a trigram: such a search scans. */
static int fts_query(const char *needle, char **ret)
{
    size_t len = strlen(needle), i;
    hale_buf b;
    int r = 0;

    *ret = NULL;
    if (len < 3)
        return 0;
    hale_buf_init(&b, 8 * HALE_AUDIT_QUERY_MAX_TEXT * 6);
    for (i = 0;; i += 3) {
        if (i + 3 > len)
            i = len - 3;
        if (b.len)
            r = hale_buf_puts(&b, " AND ");
        if (r == 0)
            r = hale_buf_putc(&b, '"');
        for (size_t k = i; r == 0 && k < i + 3; k++) /* a '"' inside a string is doubled */
            r = needle[k] == '"' ? hale_buf_puts(&b, "\"\"") : hale_buf_putc(&b, needle[k]);
        if (r == 0)
            r = hale_buf_putc(&b, '"');
        if (r < 0 || i + 3 >= len)
            break;
    }
    if (r < 0) {
        hale_buf_release(&b);
        return r;
    }
    *ret = hale_buf_detach(&b, NULL);
    return *ret ? 0 : -ENOMEM;
}

static int add_bind(struct bind *binds, unsigned *n, bool is_text, int64_t i, const char *text)
{
    if (HALE_NEVER(*n >= MAX_BINDS))
        return -E2BIG;
    binds[(*n)++] = (struct bind){.is_text = is_text, .i = i, .text = text};
    return 0;
}

/* How a segment finds its rows. */
enum seg_path {
    SEG_SCAN, /* audit_leaf in seq order (the unindexed tail, or no filter an index serves) */
    SEG_ATTR, /* through the audit_leaf_attr index of a filtered attribute */
    SEG_FTS,  /* through the audit_fts trigram index */
};

static bool has_attr_filter(const hale_audit_filter *f)
{
    return f->kind || f->actor || f->tool || f->outcome || f->incident_id > 0 || f->since_ns ||
           f->until_ns;
}

#define BODY_TEXT "CAST(l.body AS TEXT)"

/* One condition on the body (" AND json_extract(body, '$.m') op ?") and, on the SEG_ATTR
 * path, the same on audit_leaf_attr so that its index finds the candidates: the attribute
 * table is derived data, so every match is confirmed against the body. Elsewhere a member
 * filter first looks for the member's canonical bytes (pre, "kind":"decision") in the body,
 * so that only candidates are parsed. */
static int add_cond(hale_buf *sql, struct bind *binds, unsigned *n, bool attr, const char *pre,
                    const char *col, const char *member, const char *op, int64_t i,
                    const char *text)
{
    int r = 0;

    if (attr) {
        r = hale_buf_printf(sql, " AND a.%s %s ?", col, op);
        if (r == 0)
            r = add_bind(binds, n, text != NULL, i, text);
    } else if (pre) {
        r = hale_buf_puts(sql, " AND instr(l.body, ?) > 0");
        if (r == 0)
            r = add_bind(binds, n, true, 0, pre);
    }
    if (r == 0)
        r = hale_buf_printf(sql, " AND json_extract(" BODY_TEXT ", '$.%s') %s ?", member, op);
    return r == 0 ? add_bind(binds, n, text != NULL, i, text) : r;
}

static const char *const member_names[] = {"kind", "actor", "tool", "outcome"};

static int add_filters(const struct run *q, hale_buf *sql, struct bind *binds, unsigned *n,
                       bool attr)
{
    const char *vals[] = {q->f->kind, q->f->actor, q->f->tool, q->f->outcome};
    int r = 0;

    for (size_t i = 0; r == 0 && i < HALE_ARRAY_SIZE(member_names); i++)
        if (vals[i])
            r = add_cond(sql, binds, n, attr, q->member[i], member_names[i], member_names[i], "=",
                         0, vals[i]);
    if (r == 0 && q->f->incident_id > 0)
        r = add_cond(sql, binds, n, attr, q->member[4], "incident_id", "incident_id", "=",
                     q->f->incident_id, NULL);
    if (r == 0 && q->f->since_ns)
        r = add_cond(sql, binds, n, attr, NULL, "ts_ns", "ts", ">=", q->f->since_ns, NULL);
    if (r == 0 && q->f->until_ns)
        r = add_cond(sql, binds, n, attr, NULL, "ts_ns", "ts", "<", q->f->until_ns, NULL);
    if (r == 0 && q->needle) {
        r = hale_buf_puts(sql, " AND instr(lower(" BODY_TEXT "), ?) > 0");
        if (r == 0)
            r = add_bind(binds, n, true, 0, q->needle);
    }
    return r;
}

/* "name":<value> as a canonical body holds that member (text, ASCII-escaped, or the integer
 * when text is NULL) into a malloc'd string. Returns 0, -EINVAL (text not UTF-8) or -ENOMEM. */
static int member_text(const char *name, const char *text, int64_t integer, char **ret)
{
    hale_buf b;
    int r;

    if (text && !hale_utf8_is_valid(text, strlen(text)))
        return -EINVAL;
    hale_buf_init(&b, SQL_MAX_BYTES);
    r = hale_buf_printf(&b, "\"%s\":", name);
    if (r == 0)
        r = text ? hale_json_put_string(&b, text, strlen(text), true)
                 : hale_buf_printf(&b, "%" PRId64, integer);
    *ret = r == 0 ? hale_buf_detach(&b, NULL) : NULL;
    if (!*ret)
        hale_buf_release(&b);
    return r < 0 ? (r == -ENOMEM ? r : -EINVAL) : *ret ? 0 : -ENOMEM;
}

static int member_texts(struct run *q)
{
    const char *vals[] = {q->f->kind, q->f->actor, q->f->tool, q->f->outcome};
    int r = 0;

    for (size_t i = 0; r == 0 && i < HALE_ARRAY_SIZE(member_names); i++)
        if (vals[i])
            r = member_text(member_names[i], vals[i], 0, &q->member[i]);
    if (r == 0 && q->f->incident_id > 0)
        r = member_text("incident_id", NULL, q->f->incident_id, &q->member[4]);
    return r;
}

/* The statement for seq in [lo, hi) with every filter, finding rows the way path says. */
static int build(const struct run *q, uint64_t lo, uint64_t hi, enum seg_path path, hale_buf *sql,
                 struct bind *binds, unsigned *n)
{
    const char *seq = path == SEG_FTS ? "f.rowid" : path == SEG_ATTR ? "a.seq" : "l.seq";
    int r;

    if (path == SEG_FTS)
        r = hale_buf_puts(sql, "SELECT " HALE__AUDIT_ROW_COLS " FROM audit_fts f CROSS JOIN "
                               "audit_leaf l ON l.seq = f.rowid WHERE audit_fts MATCH ?");
    else if (path == SEG_ATTR)
        r = hale_buf_puts(sql, "SELECT " HALE__AUDIT_ROW_COLS " FROM audit_leaf_attr a CROSS "
                               "JOIN audit_leaf l ON l.seq = a.seq WHERE 1");
    else
        r = hale_buf_puts(sql, "SELECT " HALE__AUDIT_ROW_COLS " FROM audit_leaf l WHERE 1");
    if (r == 0 && path == SEG_FTS)
        r = add_bind(binds, n, true, 0, q->match);
    if (r == 0)
        r = hale_buf_printf(sql, " AND %s >= ? AND %s < ?", seq, seq);
    if (r == 0)
        r = add_bind(binds, n, false, (int64_t)lo, NULL);
    if (r == 0)
        r = add_bind(binds, n, false, (int64_t)(hi > INT64_MAX ? INT64_MAX : hi), NULL);
    if (r == 0)
        r = add_filters(q, sql, binds, n, path == SEG_ATTR);
    if (r == 0)
        r = hale_buf_printf(sql, " ORDER BY %s %s LIMIT ?", seq,
                            q->f->oldest_first ? "ASC" : "DESC");
    if (r == 0)
        r = add_bind(binds, n, false, (int64_t)(q->limit + 1 - q->rows), NULL);
    return r;
}

static int bind_all(sqlite3_stmt *st, const struct bind *binds, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        int rc = binds[i].is_text
                     ? sqlite3_bind_text(st, (int)i + 1, binds[i].text, -1, SQLITE_STATIC)
                     : sqlite3_bind_int64(st, (int)i + 1, binds[i].i);

        if (rc != SQLITE_OK)
            return rc == SQLITE_NOMEM ? -ENOMEM : HALE_ESTORE;
    }
    return 0;
}

/* Run one segment, seq in [lo, hi), calling cb until the page is full. */
static int run_segment(struct run *q, uint64_t lo, uint64_t hi, enum seg_path path)
{
    struct bind binds[MAX_BINDS];
    sqlite3_stmt *st = NULL;
    hale_audit_row row;
    unsigned n = 0;
    hale_buf sql;
    int r, rc;

    if (lo >= hi || q->more)
        return 0;
    hale_buf_init(&sql, SQL_MAX_BYTES);
    r = build(q, lo, hi, path, &sql, binds, &n);
    if (r < 0)
        goto out;
    rc = sqlite3_prepare_v2(q->db, sql.data, (int)sql.len, &st, NULL);
    r = rc == SQLITE_OK ? bind_all(st, binds, n) : hale__audit_sql_err(q->db, rc);
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (q->rows == q->limit) {
            q->more = true;
            break;
        }
        r = hale__audit_row_read(st, &row);
        if (r == 0)
            r = q->cb(&row, q->ud);
        q->rows++;
        q->last_seq = row.seq;
    }
    if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = rc == SQLITE_NOMEM ? -ENOMEM : HALE_ESTORE;
out:
    sqlite3_finalize(st);
    hale_buf_release(&sql);
    return r;
}

/* Narrow [*lo, *hi) of the indexed segment to the blocks whose time range meets the filter. */
static int time_range(struct run *q, uint64_t *lo, uint64_t *hi)
{
    static const char *const sql[] = {
        "SELECT MIN(block) FROM audit_ts_block WHERE max_ts >= ?",
        "SELECT MAX(block) FROM audit_ts_block WHERE min_ts < ?",
    };
    const int64_t bound[] = {q->f->since_ns, q->f->until_ns};

    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st = NULL;
        int rc;

        if (!bound[i])
            continue;
        rc = sqlite3_prepare_v2(q->db, sql[i], -1, &st, NULL);
        if (rc != SQLITE_OK) {
            sqlite3_finalize(st);
            return hale__audit_sql_err(q->db, rc);
        }
        (void)sqlite3_bind_int64(st, 1, bound[i]);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_NULL) {
            *hi = *lo; /* no indexed block meets the bound */
        } else if (rc == SQLITE_ROW) {
            uint64_t b = (uint64_t)sqlite3_column_int64(st, 0);

            if (i == 0 && b * HALE_AUDIT_TS_BLOCK > *lo)
                *lo = b * HALE_AUDIT_TS_BLOCK;
            if (i == 1 && (b + 1) * HALE_AUDIT_TS_BLOCK < *hi)
                *hi = (b + 1) * HALE_AUDIT_TS_BLOCK;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW)
            return HALE_ESTORE;
    }
    return 0;
}

static int check_str(const char *name, const char *v, size_t max, hale_diag *reterr)
{
    if (!v)
        return 0;
    if (!*v || strlen(v) > max) {
        hale_diag_set(reterr, "%s: expected 1 to %zu bytes, got %zu", name, max, strlen(v));
        return -EINVAL;
    }
    return 0;
}

int hale_audit_filter_check(const hale_audit_filter *f, hale_diag *reterr)
{
    const char *names[] = {"kind", "actor", "tool", "outcome"};
    const char *vals[] = {f->kind, f->actor, f->tool, f->outcome};
    int r = 0;

    for (size_t i = 0; r == 0 && i < HALE_ARRAY_SIZE(names); i++)
        r = check_str(names[i], vals[i], HALE_AUDIT_QUERY_MAX_VALUE, reterr);
    if (r == 0)
        r = check_str("text", f->text, HALE_AUDIT_QUERY_MAX_TEXT, reterr);
    if (r < 0)
        return r;
    if (f->limit > HALE_AUDIT_QUERY_MAX_LIMIT) {
        hale_diag_set(reterr, "limit: expected 1 to %u, got %u", HALE_AUDIT_QUERY_MAX_LIMIT,
                      f->limit);
        return -EINVAL;
    }
    if (f->incident_id < 0) {
        hale_diag_set(reterr, "incident: expected a positive id");
        return -EINVAL;
    }
    if (f->since_ns && f->until_ns && f->since_ns >= f->until_ns) {
        hale_diag_set(reterr, "since: must be before until");
        return -EINVAL;
    }
    if (f->has_cursor && f->cursor_seq > (uint64_t)INT64_MAX) {
        hale_diag_set(reterr, "cursor: out of range");
        return -EINVAL;
    }
    return 0;
}

/* The two segments in the requested order, clipped by the cursor. */
static int run_all(struct run *q, uint64_t indexed)
{
    uint64_t lo = 0, hi = UINT64_MAX, ilo, ihi;
    /* With an incident, its index is the narrower path; the trigram index would walk every
     * leaf that contains the text. */
    enum seg_path indexed_path = q->match && q->f->incident_id == 0 ? SEG_FTS
                                 : has_attr_filter(q->f)            ? SEG_ATTR
                                                                    : SEG_SCAN;
    int r;

    if (q->f->has_cursor && q->f->oldest_first)
        lo = q->f->cursor_seq + 1;
    if (q->f->has_cursor && !q->f->oldest_first)
        hi = q->f->cursor_seq;
    ilo = lo;
    ihi = indexed < hi ? indexed : hi;
    r = ilo < ihi ? time_range(q, &ilo, &ihi) : 0; /* no side tables before migration 4 */
    if (r < 0)
        return r;
    if (q->f->oldest_first) {
        r = run_segment(q, ilo, ihi, indexed_path);
        if (r == 0)
            r = run_segment(q, lo > indexed ? lo : indexed, hi, SEG_SCAN);
    } else {
        r = run_segment(q, lo > indexed ? lo : indexed, hi, SEG_SCAN);
        if (r == 0)
            r = run_segment(q, ilo, ihi, indexed_path);
    }
    return r;
}

int hale_audit_query(hale_store *s, const hale_audit_filter *f, hale_audit_row_cb cb, void *ud,
                     uint64_t *ret_next, bool *ret_more, hale_diag *reterr)
{
    struct run q = {.db = hale_store_sqlite(s), .f = f, .cb = cb, .ud = ud};
    uint64_t indexed = 0;
    int r;

    r = hale_audit_filter_check(f, reterr);
    if (r < 0)
        return r;
    q.limit = f->limit ? f->limit : HALE_AUDIT_QUERY_DEFAULT_LIMIT;
    if (f->text) {
        r = hale__audit_needle(f->text, &q.needle);
        if (r == -EINVAL)
            hale_diag_set(reterr, "text: not valid UTF-8");
        if (r == 0)
            r = fts_query(q.needle, &q.match);
    }
    if (r == 0) {
        r = member_texts(&q);
        if (r == -EINVAL)
            hale_diag_set(reterr, "kind, actor, tool, outcome: expected UTF-8");
    }
    if (r == 0)
        r = hale__audit_indexed(q.db, &indexed);
    if (r == 0)
        r = run_all(&q, indexed);
    if (r == HALE_ESCHEMA)
        hale_diag_set(reterr, "the store has no audit log (schema older than migration 9)");
    else if (r == HALE_ESTORE)
        hale_diag_set(reterr, "store: %s", sqlite3_errmsg(q.db));
    free(q.needle);
    free(q.match);
    for (size_t i = 0; i < HALE_ARRAY_SIZE(q.member); i++)
        free(q.member[i]);
    if (r < 0 || r > 0)
        return r;
    if (ret_more)
        *ret_more = q.more;
    if (ret_next && q.more)
        *ret_next = q.last_seq;
    return (int)q.rows;
}
