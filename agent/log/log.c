/* agent/log/log.c - structured logging: one JSON object per line, one write(2) per line.
 * The sink settings below (levels, per-module overrides, fd) are the only sanctioned global
 * state in hale. They are changed on the loop thread (startup, SIGHUP); emitters only read. */
#include "internal.h"

#include <stdarg.h>
#include <unistd.h>

#include "hale/log.h"
#include "util/buf.h"
#include "util/timeutil.h"

#define LOG_MAX_LINE       (16u * 1024u) /* bytes per line, newline included */
#define LOG_MAX_OVERRIDES  32u           /* per-module levels in one spec */
#define LOG_MAX_MODULE     31u           /* bytes in a module name */
#define LOG_MAX_MODULE_OUT 64u           /* bytes a module name may take in a line */
#define LOG_MIN_FIELD      16u           /* room below which further fields are dropped */

struct log_override {
    char module[LOG_MAX_MODULE + 1]; /* NUL-terminated module name */
    int level;                       /* lines at or below this level pass */
};

struct log_spec {
    int level;                                        /* for modules without an override */
    unsigned n_overrides;                             /* used entries of overrides */
    struct log_override overrides[LOG_MAX_OVERRIDES]; /* per-module levels */
};

static struct log_spec sink = {.level = HALE_LOG_INFO};
static int sink_fd = 2;

static const struct {
    const char *name;
    int level;
} level_names[] = {
    {"error", HALE_LOG_ERR},    {"err", HALE_LOG_ERR},       {"warn", HALE_LOG_WARN},
    {"warning", HALE_LOG_WARN}, {"notice", HALE_LOG_NOTICE}, {"info", HALE_LOG_INFO},
    {"debug", HALE_LOG_DEBUG},
};

static const char *level_name(int level)
{
    if (level <= HALE_LOG_ERR)
        return "error";
    if (level == HALE_LOG_WARN)
        return "warn";
    if (level == HALE_LOG_NOTICE)
        return "notice";
    if (level == HALE_LOG_INFO)
        return "info";
    return "debug";
}

static int parse_level(const char *s, size_t len, int *ret)
{
    size_t i;

    for (i = 0; i < HALE_ARRAY_SIZE(level_names); i++) {
        if (strlen(level_names[i].name) == len && memcmp(level_names[i].name, s, len) == 0) {
            *ret = level_names[i].level;
            return 0;
        }
    }
    return HALE_ECONFIG;
}

static bool module_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* One "module=level" item of a spec into out. */
static int parse_override(const char *s, size_t len, struct log_spec *out)
{
    const char *eq = memchr(s, '=', len);
    size_t mlen = eq ? (size_t)(eq - s) : 0, i;
    struct log_override *o;

    if (mlen == 0 || mlen > LOG_MAX_MODULE || out->n_overrides == LOG_MAX_OVERRIDES)
        return HALE_ECONFIG;
    for (i = 0; i < mlen; i++)
        if (!module_char_ok(s[i]))
            return HALE_ECONFIG;
    for (i = 0; i < out->n_overrides; i++)
        if (strlen(out->overrides[i].module) == mlen &&
            memcmp(out->overrides[i].module, s, mlen) == 0)
            return HALE_ECONFIG; /* the same module twice is a typo, not an intent */
    o = &out->overrides[out->n_overrides];
    if (parse_level(eq + 1, len - mlen - 1, &o->level) < 0)
        return HALE_ECONFIG;
    memcpy(o->module, s, mlen);
    o->module[mlen] = '\0';
    out->n_overrides++;
    return 0;
}

/* "level" or "level,mod=level,..." or "mod=level,..." (the global level stays info). */
static int parse_spec(const char *spec, struct log_spec *out)
{
    const char *p = spec, *end;
    bool have_global = false;
    size_t len;

    if (!spec || !*spec)
        return HALE_ECONFIG;
    out->level = HALE_LOG_INFO;
    out->n_overrides = 0;
    for (;;) {
        end = strchr(p, ',');
        len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            return HALE_ECONFIG;
        if (memchr(p, '=', len)) {
            if (parse_override(p, len, out) < 0)
                return HALE_ECONFIG;
        } else {
            if (have_global || parse_level(p, len, &out->level) < 0)
                return HALE_ECONFIG;
            have_global = true;
        }
        if (!end)
            return 0;
        p = end + 1;
    }
}

int hale_log_check_spec(const char *spec)
{
    struct log_spec tmp;

    return parse_spec(spec, &tmp);
}

int hale_log_configure(const char *spec)
{
    struct log_spec tmp;
    int r = parse_spec(spec, &tmp);

    if (r < 0)
        return r;
    sink = tmp;
    return 0;
}

bool hale_log_enabled(int level, const char *module)
{
    unsigned i;

    if (sink.n_overrides && module) {
        for (i = 0; i < sink.n_overrides; i++)
            if (strcmp(sink.overrides[i].module, module) == 0)
                return level <= sink.overrides[i].level;
    }
    return level <= sink.level;
}

void hale_log_set_fd(int fd)
{
    sink_fd = fd;
}

/* Write the whole line; a short write continues, so nothing is lost to a full pipe. */
static void write_line(const char *p, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(sink_fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

/* Room left for a JSON string in b, keeping "}\n" for the end of the line. */
static size_t room(const hale_buf *b)
{
    return b->len + 2 < LOG_MAX_LINE ? LOG_MAX_LINE - 2 - b->len : 0;
}

/* Append ,"key":"value" pairs while they fit; values that do not fit end in "...". */
static int put_fields(hale_buf *b, const char *const *kv, const char *err_name)
{
    size_t klen, avail;
    int r = 0;

    for (; r >= 0 && kv && kv[0] && kv[1]; kv += 2) {
        avail = room(b);
        if (avail < LOG_MIN_FIELD)
            return 0;
        klen = strlen(kv[0]);
        r = hale_buf_putc(b, ',');
        if (r >= 0)
            r = hale_buf_json_str_max(b, kv[0], klen, avail / 2);
        if (r >= 0)
            r = hale_buf_putc(b, ':');
        if (r >= 0)
            r = hale_buf_json_str_max(b, kv[1], strlen(kv[1]), room(b));
    }
    if (r >= 0 && err_name && room(b) >= LOG_MIN_FIELD)
        r = hale_buf_printf(b, ",\"error\":\"%s\"", err_name);
    return r < 0 ? r : 0;
}

/* Build and write one line. msg is the formatted message (already bounded). */
static void emit_line(int level, const char *module, const char *const *kv, const char *msg,
                      size_t msg_len, const char *err_name)
{
    static const char oom[] =
        "{\"level\":\"error\",\"module\":\"log\",\"msg\":\"out of memory\"}\n";
    char ts[40];
    hale_buf b;
    size_t avail;
    int r;

    hale_buf_init(&b, LOG_MAX_LINE);
    r = hale_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":",
                        hale_rfc3339_format(hale_time_now_ms(), ts, sizeof(ts)), level_name(level));
    if (r >= 0)
        r = hale_buf_json_str_max(&b, module ? module : "", module ? strlen(module) : 0,
                                  LOG_MAX_MODULE_OUT);
    if (r >= 0)
        r = hale_buf_puts(&b, ",\"msg\":");
    if (r >= 0) {
        /* With fields to follow, the message may take at most half of what is left. */
        avail = room(&b);
        r = hale_buf_json_str_max(&b, msg, msg_len, (kv && kv[0]) || err_name ? avail / 2 : avail);
    }
    if (r >= 0)
        r = put_fields(&b, kv, err_name);
    if (r >= 0)
        r = hale_buf_puts(&b, "}\n");
    if (r < 0)
        write_line(oom, sizeof(oom) - 1);
    else
        write_line(b.data, b.len);
    hale_buf_release(&b);
}

/* Format into a malloc'd string of at most LOG_MAX_LINE bytes; NULL on failure. */
static char *format_msg(const char *fmt, va_list ap, size_t *ret_len)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 0)))
#endif
    ;
static char *format_msg(const char *fmt, va_list ap, size_t *ret_len)
{
    va_list cp;
    char *s;
    int n;
    size_t size;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return NULL;
    size = (size_t)n < LOG_MAX_LINE ? (size_t)n + 1 : LOG_MAX_LINE;
    s = malloc(size);
    if (!s)
        return NULL;
    (void)vsnprintf(s, size, fmt, ap);
    *ret_len = size - 1;
    return s;
}

void hale_log_emit(int level, const char *module, const char *const *kv, const char *fmt, ...)
{
    va_list ap;
    size_t len = 0;
    char *msg;

    va_start(ap, fmt);
    msg = format_msg(fmt, ap, &len);
    va_end(ap);
    emit_line(level, module, kv, msg ? msg : "(message could not be formatted)",
              msg ? len : strlen("(message could not be formatted)"), NULL);
    free(msg);
}

int hale_log_errno(int level, const char *module, int err, const char *fmt, ...)
{
    va_list ap;
    size_t len = 0;
    char *msg;
    hale_buf b;

    if (!hale_log_enabled(level, module))
        return err;
    va_start(ap, fmt);
    msg = format_msg(fmt, ap, &len);
    va_end(ap);
    /* Room for the whole bounded message plus ": <strerror>", so only ENOMEM can fail. */
    hale_buf_init(&b, LOG_MAX_LINE + 256);
    if (!msg || hale_buf_append(&b, msg, len) < 0 ||
        hale_buf_printf(&b, ": %s", hale_strerror(err)) < 0) {
        hale_buf_reset(&b);
        (void)hale_buf_puts(&b, hale_strerror(err)); /* best effort: at least the cause */
    }
    emit_line(level, module, NULL, b.data ? b.data : "", b.len, hale_errname(err));
    hale_buf_release(&b);
    free(msg);
    return err;
}
