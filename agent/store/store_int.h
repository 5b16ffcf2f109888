/* agent/store/store_int.h - private to the store module: the connection, its prepared
 * statements and the helpers the store_*.c files share. */
#pragma once
#include <sqlite3.h>

#include "hale/store.h"

enum store_stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_EVENT_INSERT,
    ST_ALERT_UPSERT,
    ST_ALERT_SEEN,
    ST_INCIDENT_PUT,
    ST_TRANSITION_ADD,
    ST_OUTBOX_ADD,
    ST_OUTBOX_FINISH,
    ST_EVENTS_PRUNE,
    ST_INCIDENTS_ALL,
    ST_INCIDENTS_BY_STATE,
    ST_INCIDENTS_ACTIVE,
    ST_INCIDENT_GET,
    ST_ALERT_GET,
    ST_ALERTS_ALL,
    ST_ALERTS_OF_INCIDENT,
    ST_INCIDENT_ALERT_ADD,
    ST_INCIDENT_ALERTS_REBUILD,
    ST_TRANSITIONS_OF_INCIDENT,
    ST_OUTBOX_PENDING,
    ST_MAX_INCIDENT_ID,
    ST_MAX_ALERT_ID,
    ST_INCIDENT_COUNTS,
    ST__COUNT
};

struct hale_store {
    sqlite3 *db;                   /* the connection, owned */
    sqlite3_stmt *stmt[ST__COUNT]; /* prepared at open, finalized in free; NULL when unused */
    int schema_version;            /* migrations applied */
    bool read_only;                /* opened for reading */
    bool in_tx;                    /* a write transaction is open */
    hale_store_tx_hooks hooks;     /* installed by the module that owns extra tables */
};

/* The SQL text of every statement, indexed by enum store_stmt. */
extern const char *const hale__store_sql[ST__COUNT];

/* Apply pending migrations. Returns 0, HALE_ESTORE or HALE_ESCHEMA (newer database). */
int hale__store_migrate(hale_store *s, hale_diag *reterr);

/* Bind helpers: return 0 or HALE_ESTORE. */
int hale__store_bind_text(sqlite3_stmt *st, int idx, const char *text);
int hale__store_bind_int(sqlite3_stmt *st, int idx, int64_t v);
/* Step a statement that returns no rows, then reset it. */
int hale__store_exec(hale_store *s, sqlite3_stmt *st);
/* Column text, never NULL (SQL NULL reads as ""). */
const char *hale__store_col_text(sqlite3_stmt *st, int col);
