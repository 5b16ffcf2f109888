/* agent/audit/audit_int.h - private to the audit writer (audit*.c). */
#pragma once
#include <sqlite3.h>
#include <stdbool.h>

#include "hale/audit.h"
#include "hale/merkle.h"
#include "util/buf.h"

struct hale_audit {
    hale_store *store;          /* the writer connection, borrowed */
    sqlite3 *db;                /* its SQLite handle, borrowed */
    sqlite3_stmt *insert_leaf;  /* owned */
    sqlite3_stmt *put_frontier; /* owned */
    char origin[HALE_AUDIT_MAX_ORIGIN + 1];
    char origin_json[3 * HALE_AUDIT_MAX_ORIGIN + 8]; /* the origin as a JSON string */
    hale_buf body;                                   /* the leaf being serialized */
    hale_merkle_frontier head;                       /* including the open transaction's appends */
    hale_merkle_frontier committed;                  /* as of the last commit */
    bool hooked;                                     /* the store's transaction hooks are ours */
    bool dirty; /* head != committed: the frontier row must be written */
    /* The leaf hashes appended since the last stored checkpoint (recent_base.size), kept so
     * that proving the next head consistent with the last signed one reads no rows: reading
     * them back costs a pass over every row appended since (bodies included). Empty and
     * unused (recent_ok false) past HALE__AUDIT_RECENT_MAX leaves; then proofs read rows. */
    hale_merkle_frontier recent_base; /* the tree the cached hashes continue */
    hale_hash *recent;                /* leaf hashes from recent_base.size on; owned */
    size_t n_recent, cap_recent;      /* hashes held (the open transaction's too), allocated */
    bool recent_ok;                   /* the cache holds every leaf since recent_base */
};

#define HALE__AUDIT_RECENT_MAX ((size_t)1 << 20) /* leaf hashes cached: 32 MiB */

/* Start the cache of recent leaf hashes over at the committed head (after a checkpoint of it
 * is stored, and at open). (audit.c) */
void hale__audit_recent_rebase(hale_audit *a);

/* The envelope of one leaf, its strings already JSON-quoted. */
struct hale__audit_envelope {
    uint64_t seq;          /* position */
    int64_t ts_ns;         /* unix nanoseconds */
    const char *log_json;  /* the origin, quoted */
    const char *kind_json; /* the kind, quoted */
};

/* Append v (with env's members merged into it when env is not NULL; v must then be an object
 * or NULL) to b in canonical form: byte for byte what json_dumps(JSON_COMPACT |
 * JSON_SORT_KEYS | JSON_ENSURE_ASCII) writes. With env, v is a payload: a member named like
 * the envelope, or a filter attribute (incident_id, actor, tool, outcome) of the wrong type,
 * is refused with HALE_ESCHEMA, *ret_where naming it and *ret_problem saying why. Returns 0,
 * HALE_ESCHEMA (also for a real: *ret_problem NULL, *ret_where names the member when it can),
 * HALE_ELIMIT (nesting above 64 or b's cap), HALE_EUTF8 or -ENOMEM. (audit_canon.c) */
int hale__audit_canon(hale_buf *b, json_t *v, const struct hale__audit_envelope *env,
                      const char **ret_where, const char **ret_problem);

/* The stored checkpoint note of size into *ret (malloc'd). Returns 1 with one, 0 without,
 * HALE_ESTORE or -ENOMEM. (audit_seal.c) */
int hale__audit_checkpoint_note(hale_audit *a, uint64_t size, char **ret);

/* Write a->head into the audit_frontier row (inside a transaction). */
int hale__audit_write_frontier(hale_audit *a);

/* The store's transaction hooks (audit.c), installed by hale_audit_open. */
int hale__audit_before_commit(void *ud);
void hale__audit_after_end(bool committed, void *ud);
