/* agent/llm/llm_cache.c - the response cache in the store's table llm_cache (migration 5).
 * The key is SHA-256(model NUL prompt-digest schema-text): the same rendered, redacted prompt
 * with the same schema to the same model gets the stored answer until its TTL passes. An
 * answer is validated again when it is read back, so a row edited on disk cannot smuggle in
 * what the schema forbids. A cache failure is a miss, never an error of the call. */
#include "internal.h"

#include "hale/llm.h"
#include "llm_int.h"
#include "util/sha256.h"
#include "util/timeutil.h"

int hale__llm_cache_open(hale_llm *c)
{
    sqlite3 *db = hale_store_sqlite(c->o.cache);

    if (sqlite3_prepare_v3(db,
                           "SELECT answer, gateway FROM llm_cache WHERE key = ?1 AND "
                           "expires_ms > ?2",
                           -1, SQLITE_PREPARE_PERSISTENT, &c->cache_get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(db,
                           "INSERT OR REPLACE INTO llm_cache (key, model, gateway, answer, "
                           "created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, SQLITE_PREPARE_PERSISTENT, &c->cache_put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(db, "DELETE FROM llm_cache WHERE expires_ms <= ?1", -1,
                           SQLITE_PREPARE_PERSISTENT, &c->cache_del, NULL) != SQLITE_OK) {
        hale__llm_cache_close(c);
        return HALE_ESTORE;
    }
    return 0;
}

void hale__llm_cache_close(hale_llm *c)
{
    sqlite3_finalize(c->cache_get);
    sqlite3_finalize(c->cache_put);
    sqlite3_finalize(c->cache_del);
    c->cache_get = c->cache_put = c->cache_del = NULL;
}

static void cache_key(const char *model, const hale_llm_schema *s, const uint8_t prompt_sha[32],
                      uint8_t out[32])
{
    const char *text = hale_llm_schema_text(s);
    hale_sha256_part parts[] = {{model, strlen(model) + 1}, {prompt_sha, 32}, {text, strlen(text)}};

    hale_sha256(parts, HALE_ARRAY_SIZE(parts), out);
}

int hale__llm_cache_get(hale_llm *c, const hale_llm_schema *s, const uint8_t prompt_sha[32],
                        json_t **ret, size_t *ret_gw)
{
    int64_t now = hale_time_now_ms();
    uint8_t key[32];

    for (size_t i = 0; i < c->n_gw; i++) {
        const unsigned char *text;
        const char *gw;
        json_t *doc = NULL;
        int r;

        cache_key(c->gw[i].model, s, prompt_sha, key);
        sqlite3_bind_blob(c->cache_get, 1, key, sizeof(key), SQLITE_STATIC);
        sqlite3_bind_int64(c->cache_get, 2, now);
        r = sqlite3_step(c->cache_get);
        if (r == SQLITE_ROW) {
            text = sqlite3_column_text(c->cache_get, 0);
            gw = (const char *)sqlite3_column_text(c->cache_get, 1);
            r = text && gw && strcmp(gw, c->gw[i].name) == 0
                    ? hale_llm_answer_parse(s, (const char *)text,
                                            (size_t)sqlite3_column_bytes(c->cache_get, 0), &doc,
                                            NULL)
                    : HALE_ENOTFOUND;
        } else {
            r = HALE_ENOTFOUND;
        }
        sqlite3_reset(c->cache_get);
        sqlite3_clear_bindings(c->cache_get);
        if (r == 0) {
            *ret = doc;
            *ret_gw = i;
            return 0;
        }
    }
    return HALE_ENOTFOUND;
}

void hale__llm_cache_put(hale_llm *c, const hale__llm_gw *g, const hale_llm_schema *s,
                         const uint8_t prompt_sha[32], const json_t *answer)
{
    int64_t now = hale_time_now_ms();
    char *text = json_dumps(answer, JSON_COMPACT | JSON_SORT_KEYS);
    uint8_t key[32];

    if (!text)
        return;
    /* Expired rows go first, in the same autocommit statement group: the table stays small. */
    sqlite3_bind_int64(c->cache_del, 1, now);
    (void)sqlite3_step(c->cache_del);
    sqlite3_reset(c->cache_del);
    cache_key(g->model, s, prompt_sha, key);
    sqlite3_bind_blob(c->cache_put, 1, key, sizeof(key), SQLITE_STATIC);
    sqlite3_bind_text(c->cache_put, 2, g->model, -1, SQLITE_STATIC);
    sqlite3_bind_text(c->cache_put, 3, g->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(c->cache_put, 4, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(c->cache_put, 5, now);
    sqlite3_bind_int64(c->cache_put, 6, now + (int64_t)c->o.cache_ttl_ms);
    (void)sqlite3_step(c->cache_put);
    sqlite3_reset(c->cache_put);
    sqlite3_clear_bindings(c->cache_put);
    free(text);
}
