/* include/hale/log.h - structured logging: one JSON object per line on stderr.
 * Each .c file that logs defines HALE_LOG_MODULE before including this header.
 * Arguments are not evaluated when their level is off. Logging is not the audit log. */
#pragma once
#include <stdbool.h>

enum hale_log_level {
    HALE_LOG_ERR = 3,
    HALE_LOG_WARN = 4,
    HALE_LOG_NOTICE = 5,
    HALE_LOG_INFO = 6,
    HALE_LOG_DEBUG = 7,
};

/* Parse a level spec: "info" or "warn,http=debug,store=info" (global level then per-module
 * overrides). Returns 0 and applies it, or HALE_ECONFIG and changes nothing. */
int hale_log_configure(const char *spec);

/* Validate a level spec without applying it. Returns 0 or HALE_ECONFIG. */
int hale_log_check_spec(const char *spec);

bool hale_log_enabled(int level, const char *module);

/* Where log lines go (default stderr's fd 2). Test hook; not thread-safe against emitters. */
void hale_log_set_fd(int fd);

/* kv is NULL or a NULL-terminated list of key, value string pairs added as JSON fields. */
void hale_log_emit(int level, const char *module, const char *const *kv, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Log "msg: <strerror(err)>" with field "error" and return err, so that edges can write
 * return log_err_errno(r, "cannot open '%s'", path); */
int hale_log_errno(int level, const char *module, int err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#define HALE_LOG_AT(lvl, kv, ...)                                                                  \
    do {                                                                                           \
        if (hale_log_enabled((lvl), HALE_LOG_MODULE))                                              \
            hale_log_emit((lvl), HALE_LOG_MODULE, (kv), __VA_ARGS__);                              \
    } while (0)

#define log_err(...)    HALE_LOG_AT(HALE_LOG_ERR, NULL, __VA_ARGS__)
#define log_warn(...)   HALE_LOG_AT(HALE_LOG_WARN, NULL, __VA_ARGS__)
#define log_notice(...) HALE_LOG_AT(HALE_LOG_NOTICE, NULL, __VA_ARGS__)
#define log_info(...)   HALE_LOG_AT(HALE_LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...)  HALE_LOG_AT(HALE_LOG_DEBUG, NULL, __VA_ARGS__)
/* With structured fields: log_info_kv(((const char *const[]){"incident_id", id, NULL}), "...") */
#define log_info_kv(kv, ...)  HALE_LOG_AT(HALE_LOG_INFO, (kv), __VA_ARGS__)
#define log_warn_kv(kv, ...)  HALE_LOG_AT(HALE_LOG_WARN, (kv), __VA_ARGS__)
#define log_debug_kv(kv, ...) HALE_LOG_AT(HALE_LOG_DEBUG, (kv), __VA_ARGS__)

#define log_err_errno(err, ...)  hale_log_errno(HALE_LOG_ERR, HALE_LOG_MODULE, (err), __VA_ARGS__)
#define log_warn_errno(err, ...) hale_log_errno(HALE_LOG_WARN, HALE_LOG_MODULE, (err), __VA_ARGS__)
