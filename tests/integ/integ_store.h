/* tests/integ/integ_store.h - read hale's SQLite file directly (read-only, safe while the
 * daemon runs) and build the alert payloads the integration tests post. */
#pragma once
#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

/* Open data_dir/hale.db read-only with a busy timeout. Returns 0 or -EIO; *ret on success. */
int integ_db_open(const char *data_dir, sqlite3 **ret);
void integ_db_close(sqlite3 *db); /* NULL is a no-op */

/* The first column of the first row of sql, with ?1 bound to param when non-NULL, as an
 * integer. Returns 0, -ENOENT (no row) or -EIO. */
int integ_db_int(sqlite3 *db, const char *sql, const char *param, int64_t *ret);
/* The same, as text copied into out. */
int integ_db_text(sqlite3 *db, const char *sql, char *out, size_t out_size);
/* Open, one integer query, close. */
int integ_db_query_int(const char *data_dir, const char *sql, int64_t *ret);

/* One Alertmanager alert: status "firing" or "resolved", fingerprint (NULL: none), startsAt
 * and endsAt (NULL: now and Go's zero time), then label name/value pairs ending with NULL.
 * A new object (caller decrefs), NULL on ENOMEM. */
json_t *integ_am_alert(const char *status, const char *fingerprint, const char *starts_at,
                       const char *ends_at, ...);
/* An Alertmanager v4 webhook message around alerts (consumed), as compact JSON text (caller
 * frees); status is "firing" when any alert fires, else "resolved". */
char *integ_am_webhook(json_t *alerts);
/* Unix milliseconds as RFC 3339 into out (>= 32 bytes); returns out. */
char *integ_rfc3339(int64_t unix_ms, char *out, size_t out_size);
int64_t integ_unix_ms(void); /* wall clock */
