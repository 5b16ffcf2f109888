/* agent/audit/query_int.h - private to the audit query and bundle files: the column list they
 * share, row reading, and the index position that splits a query into its two segments. */
#pragma once
#include <sqlite3.h>

#include "hale/audit_query.h"

/* The envelope time and the filter attributes of body text b, in the column order of
 * audit_leaf_attr after seq: ts_ns, kind, incident_id, actor, tool, outcome. SQLite parses a
 * body once per row for all the members one statement reads. */
#define HALE__AUDIT_ATTR_EXPRS(b)                                                                  \
    "json_extract(" b ", '$.ts'), json_extract(" b ", '$.kind'), json_extract(" b                  \
    ", '$.incident_id'), json_extract(" b ", '$.actor'), json_extract(" b                          \
    ", '$.tool'), json_extract(" b ", '$.outcome')"

/* The columns every row query selects, in the order hale__audit_row_read reads them: the
 * attributes come from the body itself, never from the derived audit_leaf_attr. */
#define HALE__AUDIT_ROW_COLS                                                                       \
    "l.seq, " HALE__AUDIT_ATTR_EXPRS("CAST(l.body AS TEXT)") ", l.body, l.leaf_hash"

/* HALE_AUDIT_TS_BLOCK as SQL text. */
#define HALE__AUDIT_TS_BLOCK_SQL "1024"
_Static_assert(HALE_AUDIT_TS_BLOCK == 1024, "update HALE__AUDIT_TS_BLOCK_SQL");

/* Fill row from the current result row of st (columns HALE__AUDIT_ROW_COLS from col 0).
 * Returns 0 or HALE_ESCHEMA when a column has an impossible value (negative seq, a leaf hash
 * that is not 32 bytes): the table was edited. */
int hale__audit_row_read(sqlite3_stmt *st, hale_audit_row *row);

/* Map an SQLite result code of prepare to ours: a missing table is HALE_ESCHEMA. */
int hale__audit_sql_err(sqlite3 *db, int rc);

/* Leaves below this seq are in audit_fts and audit_ts_block (0 without migration 4). */
int hale__audit_indexed(sqlite3 *db, uint64_t *ret);

/* Lowercase JSON text of s as it appears inside a stored body (escaped as canonical JSON
 * escapes it, without the quotes) into a malloc'd string. Returns 0, -EINVAL (not UTF-8) or
 * -ENOMEM. */
int hale__audit_needle(const char *s, char **ret);

/* Heads of leaf ranges already computed during one export: the proofs of leaves close to each
 * other share most of their hashes. Direct-mapped, so its size is fixed whatever the bundle. */
#define HALE__AUDIT_HEAD_CACHE 4096u
typedef struct hale__audit_head_cache {
    struct {
        uint64_t a, b;  /* the range [a, b); b == 0: empty slot */
        hale_hash head; /* its head */
    } slot[HALE__AUDIT_HEAD_CACHE];
} hale__audit_head_cache;

/* The head (Merkle root) of the stored leaves [a, b), an aligned range (b - a <= 2^tz(a), as
 * every range of an RFC 9162 inclusion or consistency path is): a stored checkpoint frontier
 * node when one is that subtree, else the part of the nearest checkpoint frontier inside the
 * range plus the leaf hashes after it, streamed. Returns 0, HALE_EPROOF (a gap, a damaged
 * hash or frontier), HALE_ESTORE. */
int hale__audit_range_head(sqlite3 *db, uint64_t a, uint64_t b, hale_hash *ret);

/* Inclusion proof of leaf index in the tree of the first size leaves (size: a checkpoint
 * size), bottom-up into proof (HALE_MERKLE_MAX_PROOF entries). Uses checkpoint frontiers and
 * streams only the leaf hashes between them; cache (may be NULL; zero it before first use, and
 * use it for one checkpoint only) keeps heads between calls. Returns the number of hashes,
 * HALE_EPROOF (the stored leaves or frontiers are inconsistent), HALE_ESTORE or -ENOMEM. */
int hale__audit_prove(sqlite3 *db, uint64_t index, uint64_t size, hale_hash *proof,
                      hale__audit_head_cache *cache);
