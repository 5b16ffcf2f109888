/* tests/integ/integ_store.c - read-only access to hale.db and alert payload builders for the
 * integration tests (integ_store.h). */
#include "integ_store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hale/store.h"
#include "util/timeutil.h"

int integ_db_open(const char *data_dir, sqlite3 **ret)
{
    char path[4200];
    sqlite3 *db = NULL;

    snprintf(path, sizeof(path), "%s/%s", data_dir, HALE_STORE_FILE);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -EIO;
    }
    sqlite3_busy_timeout(db, 5000);
    *ret = db;
    return 0;
}

void integ_db_close(sqlite3 *db)
{
    sqlite3_close(db);
}

static int first_row(sqlite3 *db, const char *sql, const char *param, sqlite3_stmt **ret)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    if (param && sqlite3_bind_text(st, 1, param, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        sqlite3_finalize(st);
        return -EIO;
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? -ENOENT : -EIO;
    }
    *ret = st;
    return 0;
}

int integ_db_int(sqlite3 *db, const char *sql, const char *param, int64_t *ret)
{
    sqlite3_stmt *st = NULL;
    int r = first_row(db, sql, param, &st);

    if (r < 0)
        return r;
    *ret = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

int integ_db_text(sqlite3 *db, const char *sql, char *out, size_t out_size)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *text;
    int r = first_row(db, sql, NULL, &st);

    if (r < 0)
        return r;
    text = sqlite3_column_text(st, 0);
    snprintf(out, out_size, "%s", text ? (const char *)text : "");
    sqlite3_finalize(st);
    return 0;
}

int integ_db_query_int(const char *data_dir, const char *sql, int64_t *ret)
{
    sqlite3 *db = NULL;
    int r = integ_db_open(data_dir, &db);

    if (r == 0)
        r = integ_db_int(db, sql, NULL, ret);
    integ_db_close(db);
    return r;
}

int64_t integ_unix_ms(void)
{
    return hale_time_now_ms();
}

char *integ_rfc3339(int64_t unix_ms, char *out, size_t out_size)
{
    return hale_rfc3339_format(unix_ms, out, out_size);
}

json_t *integ_am_alert(const char *status, const char *fingerprint, const char *starts_at,
                       const char *ends_at, ...)
{
    json_t *labels = json_object();
    json_t *alert = NULL;
    char now[40];
    const char *name;
    va_list ap;

    if (!labels)
        return NULL;
    va_start(ap, ends_at);
    while ((name = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);

        if (json_object_set_new(labels, name, json_string(value)) < 0) {
            va_end(ap);
            json_decref(labels);
            return NULL;
        }
    }
    va_end(ap);
    if (!starts_at)
        starts_at = integ_rfc3339(integ_unix_ms(), now, sizeof(now));
    alert = json_pack("{s:s, s:o, s:{s:s}, s:s, s:s, s:s}", "status", status, "labels", labels,
                      "annotations", "summary", "integration test alert", "startsAt", starts_at,
                      "endsAt", ends_at ? ends_at : "0001-01-01T00:00:00Z", "generatorURL",
                      "http://127.0.0.1/graph?g0.expr=up");
    if (alert && fingerprint &&
        json_object_set_new(alert, "fingerprint", json_string(fingerprint)) < 0) {
        json_decref(alert);
        return NULL;
    }
    return alert;
}

char *integ_am_webhook(json_t *alerts)
{
    const char *status = "resolved";
    json_t *msg, *a;
    char *text;
    size_t i;

    if (!alerts)
        return NULL;
    json_array_foreach(alerts, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "status")), "firing") == 0)
            status = "firing";
    }
    msg = json_pack("{s:s, s:s, s:s, s:o, s:{}, s:{}, s:{}, s:s, s:s, s:i}", "receiver", "integ",
                    "status", status, "version", "4", "alerts", alerts, "groupLabels",
                    "commonLabels", "commonAnnotations", "externalURL", "http://127.0.0.1:9093",
                    "groupKey", "{}:{alertname=\"integ\"}", "truncatedAlerts", 0);
    if (!msg)
        return NULL;
    text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    return text;
}
