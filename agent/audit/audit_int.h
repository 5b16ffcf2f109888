/* agent/audit/audit_int.h - private to the audit writer (audit*.c). */
#pragma once
#include <sqlite3.h>
#include <stdbool.h>

#include "hale/audit.h"
#include "hale/merkle.h"

struct hale_audit {
    hale_store *store;          /* the writer connection, borrowed */
    sqlite3 *db;                /* its SQLite handle, borrowed */
    sqlite3_stmt *insert_leaf;  /* owned */
    sqlite3_stmt *put_frontier; /* owned */
    char origin[HALE_AUDIT_MAX_ORIGIN + 1];
    hale_merkle_frontier head;      /* including the open transaction's appends */
    hale_merkle_frontier committed; /* as of the last commit */
    bool hooked;                    /* the store's transaction hooks are ours */
    bool dirty;                     /* head != committed: the frontier row must be written */
};

/* Write a->head into the audit_frontier row (inside a transaction). */
int hale__audit_write_frontier(hale_audit *a);

/* The store's transaction hooks (audit.c), installed by hale_audit_open. */
int hale__audit_before_commit(void *ud);
void hale__audit_after_end(bool committed, void *ud);
