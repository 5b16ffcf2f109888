/* agent/store/store_setting.c - control_setting (migration 5): small JSON values the
 * controller keeps across restarts (the global pause switch). Rare writes: statements are
 * prepared per call instead of at open. */
#include "internal.h"

#include <sqlite3.h>

#include "hale/store.h"
#include "store/store_int.h"

static int need_schema(hale_store *s, hale_diag *reterr)
{
    if (s->schema_version >= 5)
        return 0;
    hale_diag_set(reterr, "store schema %d has no control_setting table (needs 5)",
                  s->schema_version);
    return HALE_ESCHEMA;
}

int hale_store_setting_get(hale_store *s, const char *key, json_t **ret, hale_diag *reterr)
{
    sqlite3_stmt *st = NULL;
    json_t *v = NULL;
    int r;

    if ((r = need_schema(s, reterr)) < 0)
        return r;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM control_setting WHERE key = ?1", -1, &st,
                           NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK) {
        r = HALE_ESTORE;
        goto out;
    }
    r = sqlite3_step(st);
    if (r == SQLITE_DONE) {
        r = HALE_ENOTFOUND;
    } else if (r != SQLITE_ROW) {
        r = HALE_ESTORE;
    } else {
        const char *text = (const char *)sqlite3_column_text(st, 0);

        v = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
        r = v ? 0 : HALE_ESTORE;
    }
out:
    if (r == HALE_ESTORE && !v)
        hale_diag_set(reterr, "control_setting '%s': %s", key, sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    if (r == 0)
        *ret = v;
    return r;
}

int hale_store_setting_put(hale_store *s, const char *key, const json_t *value, int64_t at_ms,
                           hale_diag *reterr)
{
    sqlite3_stmt *st = NULL;
    char *text;
    int r;

    if ((r = need_schema(s, reterr)) < 0)
        return r;
    text = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return -ENOMEM;
    r = HALE_ESTORE;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO control_setting (key, value, updated_ms) "
                           "VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET "
                           "value = ?2, updated_ms = ?3",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_int64(st, 3, at_ms) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE)
        r = 0;
    if (r < 0)
        hale_diag_set(reterr, "control_setting '%s': %s", key, sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    free(text);
    return r;
}
