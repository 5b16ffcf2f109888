/* agent/config/config_schema.c - every configuration key, its type, default, range and
 * reloadability, in one table (redis static_configs[], systemd ConfigTableItem), and the typed
 * readers that move a JSON value into struct hale_config. docs/config.md documents each row. */
#include "internal.h"

#include <inttypes.h>

#include "config_int.h"
#include "hale/log.h"
#include "util/json.h"
#include "util/strparse.h"

#define PATH_MAX_BYTES  4096u /* a directory path */
#define QUOTE_MAX_BYTES 64    /* user text quoted in an error message */

/* 'text' for an error message, cut at QUOTE_MAX_BYTES. */
static void quote(char *out, size_t size, const char *prefix, const char *s)
{
    (void)snprintf(out, size, "%s'%.*s%s'", prefix, QUOTE_MAX_BYTES, s,
                   strlen(s) > QUOTE_MAX_BYTES ? "..." : "");
}

static bool check_listen(const char *s, char *got, size_t got_size)
{
    char host[256];
    uint16_t port;

    if (hale_parse_hostport(s, host, sizeof(host), &port) == 0)
        return true;
    quote(got, got_size, "got ", s);
    return false;
}

static bool check_log_level(const char *s, char *got, size_t got_size)
{
    if (hale_log_check_spec(s) == 0)
        return true;
    quote(got, got_size, "got ", s);
    return false;
}

static bool is_label_name(const char *s)
{
    size_t i;

    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
        return false;
    for (i = 1; s[i]; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return i <= HALE_MAX_LABEL_NAME_BYTES;
}

static bool check_label_names(char *const *names, char *got, size_t got_size)
{
    size_t i, j;

    for (i = 0; names[i]; i++) {
        if (!is_label_name(names[i])) {
            quote(got, got_size, "got ", names[i]);
            return false;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(names[i], names[j]) == 0) {
                quote(got, got_size, "got a duplicate ", names[i]);
                return false;
            }
        }
    }
    return true;
}

static const char *const group_by_default[] = {"alertname", "service", NULL};
static const char *const empty_list[] = {NULL};

static bool check_urls(char *const *urls, char *got, size_t got_size)
{
    for (size_t i = 0; urls[i]; i++) {
        if ((strncmp(urls[i], "http://", 7) != 0 && strncmp(urls[i], "https://", 8) != 0) ||
            strlen(urls[i]) > 1000 || strpbrk(urls[i], " \t\r\n")) {
            quote(got, got_size, "got ", urls[i]);
            return false;
        }
    }
    return true;
}

/* The origin names the log's signing key, so it must be a note key name (c2sp.org/signed-
 * note): no spaces, no '+', no control characters. Unicode spaces are caught when the audit
 * log opens, which checks the full rule. */
static bool check_origin(const char *s, char *got, size_t got_size)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= ' ' || *p == '+' || *p == 0x7f) {
            quote(got, got_size, "got ", s);
            return false;
        }
    }
    return true;
}
static const char *const store_sync_choices[] = {"full", "normal", NULL};

#define STR(k_, def_, max_, reload_, check_, expect_)                                              \
    {                                                                                              \
        .key = #k_, .type = HALE_CONFIG_STRING, .def_str = def_, .min = 1, .max = max_,            \
        .offset = offsetof(hale_config, k_), .reloadable = reload_, .check_str = check_,           \
        .expect = expect_                                                                          \
    }
#define UINT(k_, def_, min_, max_, reload_)                                                        \
    {                                                                                              \
        .key = #k_, .type = HALE_CONFIG_UINT, .def_num = def_, .min = min_, .max = max_,           \
        .offset = offsetof(hale_config, k_), .reloadable = reload_                                 \
    }

/* Table order is the order of docs/config.md and of hale_config_to_json(). */
const hale__config_key hale__config_keys[] = {
    STR(listen, "127.0.0.1:9464", 300, false, check_listen,
        "\"host:port\" or \"[ipv6]:port\" with a port from 0 to 65535"),
    STR(data_dir, "./var", PATH_MAX_BYTES, false, NULL, NULL),
    STR(policies_dir, "./policies", PATH_MAX_BYTES, true, NULL, NULL),
    STR(tools_dir, "./tools", PATH_MAX_BYTES, true, NULL, NULL),
    STR(prompts_dir, "./prompts", PATH_MAX_BYTES, true, NULL, NULL),
    STR(log_level, "info", 1024, true, check_log_level,
        "a level spec like \"info\" or \"warn,http=debug\" (levels: error, warn, notice, info, "
        "debug)"),
    {.key = "max_body_bytes",
     .type = HALE_CONFIG_BYTES,
     .def_num = HALE_DEFAULT_BODY_BYTES,
     .min = 1,
     .max = HALE_MAX_BODY_BYTES,
     .offset = offsetof(hale_config, max_body_bytes),
     .reloadable = true},
    {.key = "group_by",
     .type = HALE_CONFIG_STRING_ARRAY,
     .def_list = group_by_default,
     .min = 1,
     .max = HALE_MAX_GROUP_BY,
     .offset = offsetof(hale_config, group_by),
     .count_offset = offsetof(hale_config, n_group_by),
     .reloadable = true,
     .check_list = check_label_names,
     .expect = "an array of 1 to 16 distinct label names matching [a-zA-Z_][a-zA-Z0-9_]*"},
    UINT(group_window_s, 300, 1, 86400 * 7, true),
    UINT(max_connections, 1024, 1, HALE_MAX_CONNECTIONS, true),
    UINT(idle_timeout_s, 60, 1, 3600, true),
    UINT(request_timeout_s, 10, 1, 600, true),
    UINT(shutdown_timeout_s, 5, 1, 300, true),
    {.key = "store_sync",
     .type = HALE_CONFIG_ENUM,
     .def_str = "full",
     .offset = offsetof(hale_config, store_sync),
     .reloadable = false,
     .choices = store_sync_choices},
    UINT(event_retention_days, 30, 0, 36500, true),
    {.key = "audit_origin",
     .type = HALE_CONFIG_STRING,
     .def_str = "",
     .min = 0,
     .max = 255,
     .offset = offsetof(hale_config, audit_origin),
     .reloadable = false,
     .check_str = check_origin,
     .expect = "\"\" or an origin like \"aiops.example.com/prod-1\": UTF-8 without spaces or "
               "'+'"},
    UINT(audit_checkpoint_interval_ms, 1000, 10, 60000, true),
    UINT(audit_rotate_interval_s, 3600, 0, 86400 * 30, true),
    {.key = "audit_anchor_files",
     .type = HALE_CONFIG_STRING_ARRAY,
     .def_list = empty_list,
     .min = 0,
     .max = 8,
     .offset = offsetof(hale_config, audit_anchor_files),
     .count_offset = offsetof(hale_config, n_audit_anchor_files),
     .reloadable = true,
     .expect = "an array of at most 8 file paths"},
    UINT(audit_anchor_interval_s, 60, 1, 86400, true),
    {.key = "audit_witness_urls",
     .type = HALE_CONFIG_STRING_ARRAY,
     .def_list = empty_list,
     .min = 0,
     .max = 8,
     .offset = offsetof(hale_config, audit_witness_urls),
     .count_offset = offsetof(hale_config, n_audit_witness_urls),
     .reloadable = true,
     .check_list = check_urls,
     .expect = "an array of at most 8 http:// or https:// URLs"},
    {.key = "auth", .type = HALE_CONFIG_CUSTOM, .reloadable = true, .ops = &hale__config_auth_ops},
    {.key = "llm", .type = HALE_CONFIG_CUSTOM, .reloadable = true, .ops = &hale__config_llm_ops},
    {.key = "metrics",
     .type = HALE_CONFIG_CUSTOM,
     .reloadable = false,
     .ops = &hale__config_metrics_ops},
};
const size_t hale__config_n_keys = HALE_ARRAY_SIZE(hale__config_keys);

_Static_assert(HALE_MAX_GROUP_BY == 16, "update the group_by expect text");
