/* agent/config/config_value.c - typed access to one configuration member through its schema
 * row: defaults, reading from JSON with range checks, freeing, comparing and printing.
 * Each operation switches on the row type once, so adding a key never touches this file. */
#include "internal.h"

#include <inttypes.h>

#include "config_int.h"
#include "util/json.h"
#include "util/strparse.h"

#define GOT_MAX 160 /* bytes of the "got ..." part of a message */

static char **str_slot(hale_config *c, const hale__config_key *k)
{
    return (char **)(void *)((char *)c + k->offset);
}

static const char *str_get(const hale_config *c, const hale__config_key *k)
{
    return *(char *const *)(const void *)((const char *)c + k->offset);
}

static uint64_t *num_slot(hale_config *c, const hale__config_key *k)
{
    return (uint64_t *)(void *)((char *)c + k->offset);
}

static uint64_t num_get(const hale_config *c, const hale__config_key *k)
{
    return *(const uint64_t *)(const void *)((const char *)c + k->offset);
}

static char ***list_slot(hale_config *c, const hale__config_key *k)
{
    return (char ***)(void *)((char *)c + k->offset);
}

static char *const *list_get(const hale_config *c, const hale__config_key *k)
{
    return *(char **const *)(const void *)((const char *)c + k->offset);
}

static size_t *count_slot(hale_config *c, const hale__config_key *k)
{
    return (size_t *)(void *)((char *)c + k->count_offset);
}

static void free_list(char **list)
{
    size_t i;

    if (!list)
        return;
    for (i = 0; list[i]; i++)
        free(list[i]);
    free(list);
}

/* A NULL-terminated copy of n strings from src (json array or C list); NULL on ENOMEM. */
static char **copy_list(const json_t *arr, const char *const *src, size_t n)
{
    char **list = calloc(n + 1, sizeof(*list));
    size_t i;

    if (!list)
        return NULL;
    for (i = 0; i < n; i++) {
        list[i] = strdup(arr ? json_string_value(json_array_get(arr, i)) : src[i]);
        if (!list[i]) {
            free_list(list);
            return NULL;
        }
    }
    return list;
}

void hale__config_clear(hale_config *c, const hale__config_key *k)
{
    switch (k->type) {
    case HALE_CONFIG_STRING:
    case HALE_CONFIG_ENUM:
        free(*str_slot(c, k));
        *str_slot(c, k) = NULL;
        break;
    case HALE_CONFIG_STRING_ARRAY:
        free_list(*list_slot(c, k));
        *list_slot(c, k) = NULL;
        *count_slot(c, k) = 0;
        break;
    case HALE_CONFIG_UINT:
    case HALE_CONFIG_BYTES:
        *num_slot(c, k) = 0;
        break;
    case HALE_CONFIG_CUSTOM:
        k->ops->clear(c);
        break;
    }
}

int hale__config_set_default(hale_config *c, const hale__config_key *k)
{
    size_t n = 0;

    switch (k->type) {
    case HALE_CONFIG_STRING:
    case HALE_CONFIG_ENUM:
        *str_slot(c, k) = strdup(k->def_str);
        return *str_slot(c, k) ? 0 : -ENOMEM;
    case HALE_CONFIG_STRING_ARRAY:
        while (k->def_list[n])
            n++;
        *list_slot(c, k) = copy_list(NULL, k->def_list, n);
        if (!*list_slot(c, k))
            return -ENOMEM;
        *count_slot(c, k) = n;
        return 0;
    case HALE_CONFIG_UINT:
    case HALE_CONFIG_BYTES:
        *num_slot(c, k) = k->def_num;
        return 0;
    case HALE_CONFIG_CUSTOM:
        return k->ops->set_default(c);
    }
    (void)HALE_NEVER(true);
    return -EINVAL;
}

/* What a row accepts, for "expected ..." in messages. */
static void describe(const hale__config_key *k, char *out, size_t size)
{
    size_t len, i;

    if (k->expect) {
        (void)snprintf(out, size, "%s", k->expect);
        return;
    }
    switch (k->type) {
    case HALE_CONFIG_UINT:
        (void)snprintf(out, size, "an integer from %" PRIu64 " to %" PRIu64, k->min, k->max);
        return;
    case HALE_CONFIG_BYTES:
        (void)snprintf(out, size,
                       "a size from %" PRIu64 " to %" PRIu64
                       " bytes (an integer, or a string like \"1MiB\")",
                       k->min, k->max);
        return;
    case HALE_CONFIG_STRING:
        (void)snprintf(out, size, "a non-empty string of at most %" PRIu64 " bytes", k->max);
        return;
    case HALE_CONFIG_STRING_ARRAY:
        (void)snprintf(out, size, "an array of %" PRIu64 " to %" PRIu64 " strings", k->min, k->max);
        return;
    case HALE_CONFIG_CUSTOM:
        (void)snprintf(out, size, "a value as docs/config.md describes");
        return;
    case HALE_CONFIG_ENUM:
        len = (size_t)snprintf(out, size, "one of");
        for (i = 0; k->choices[i] && len < size; i++)
            len +=
                (size_t)snprintf(out + len, size - len, "%s \"%s\"", i ? "," : "", k->choices[i]);
        return;
    }
}

static int fail(const hale__config_key *k, const char *got, hale_diag *reterr)
{
    char expect[256];

    describe(k, expect, sizeof(expect));
    hale_diag_set(reterr, "key '%s': expected %s, %s", k->key, expect, got);
    return HALE_ECONFIG;
}

static int fail_type(const hale__config_key *k, const json_t *v, hale_diag *reterr)
{
    char got[GOT_MAX];

    (void)snprintf(got, sizeof(got), "got %s", hale_json_type_name(v));
    return fail(k, got, reterr);
}

/* "got 'text'" with the text cut for the message. */
static int fail_text(const hale__config_key *k, const char *prefix, const char *s,
                     hale_diag *reterr)
{
    char got[GOT_MAX];

    (void)snprintf(got, sizeof(got), "%s'%.64s%s'", prefix, s, strlen(s) > 64 ? "..." : "");
    return fail(k, got, reterr);
}

/* UINT and BYTES: an integer in range, or for BYTES a size string too. */
static int read_number(hale_config *c, const hale__config_key *k, const json_t *v,
                       hale_diag *reterr)
{
    char got[GOT_MAX];
    uint64_t n;

    if (json_is_string(v) && k->type == HALE_CONFIG_BYTES) {
        if (hale_parse_bytes(json_string_value(v), &n) < 0 || n < k->min || n > k->max)
            return fail_text(k, "got ", json_string_value(v), reterr);
    } else if (json_is_integer(v)) {
        if (json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < k->min ||
            (uint64_t)json_integer_value(v) > k->max) {
            (void)snprintf(got, sizeof(got), "got %" JSON_INTEGER_FORMAT, json_integer_value(v));
            return fail(k, got, reterr);
        }
        n = (uint64_t)json_integer_value(v);
    } else {
        return fail_type(k, v, reterr);
    }
    *num_slot(c, k) = n;
    return 0;
}

/* STRING and ENUM. */
static int read_string(hale_config *c, const hale__config_key *k, const json_t *v,
                       hale_diag *reterr)
{
    const char *s = json_string_value(v);
    char got[GOT_MAX], *copy;
    size_t i;

    if (!json_is_string(v))
        return fail_type(k, v, reterr);
    if (k->type == HALE_CONFIG_ENUM) {
        for (i = 0; k->choices[i] && strcmp(k->choices[i], s) != 0; i++)
            ;
        if (!k->choices[i])
            return fail_text(k, "got ", s, reterr);
    } else if (strlen(s) < k->min || strlen(s) > k->max) {
        return fail_text(k, "got ", s, reterr);
    }
    if (k->check_str && !k->check_str(s, got, sizeof(got)))
        return fail(k, got, reterr);
    copy = strdup(s);
    if (!copy)
        return -ENOMEM;
    free(*str_slot(c, k));
    *str_slot(c, k) = copy;
    return 0;
}

static int read_list(hale_config *c, const hale__config_key *k, const json_t *v, hale_diag *reterr)
{
    char got[GOT_MAX], **list;
    size_t n = json_array_size(v), i;

    if (!json_is_array(v))
        return fail_type(k, v, reterr);
    if (n < k->min || n > k->max) {
        (void)snprintf(got, sizeof(got), "got %zu element%s", n, n == 1 ? "" : "s");
        return fail(k, got, reterr);
    }
    for (i = 0; i < n; i++) {
        if (!json_is_string(json_array_get(v, i))) {
            (void)snprintf(got, sizeof(got), "got %s at index %zu",
                           hale_json_type_name(json_array_get(v, i)), i);
            return fail(k, got, reterr);
        }
    }
    list = copy_list(v, NULL, n);
    if (!list)
        return -ENOMEM;
    if (k->check_list && !k->check_list(list, got, sizeof(got))) {
        free_list(list);
        return fail(k, got, reterr);
    }
    free_list(*list_slot(c, k));
    *list_slot(c, k) = list;
    *count_slot(c, k) = n;
    return 0;
}

int hale__config_set_json(hale_config *c, const hale__config_key *k, const json_t *v,
                          hale_diag *reterr)
{
    switch (k->type) {
    case HALE_CONFIG_UINT:
    case HALE_CONFIG_BYTES:
        return read_number(c, k, v, reterr);
    case HALE_CONFIG_STRING:
    case HALE_CONFIG_ENUM:
        return read_string(c, k, v, reterr);
    case HALE_CONFIG_STRING_ARRAY:
        return read_list(c, k, v, reterr);
    case HALE_CONFIG_CUSTOM:
        return k->ops->read(c, v, reterr);
    }
    (void)HALE_NEVER(true);
    return -EINVAL;
}

json_t *hale__config_to_json_value(const hale_config *c, const hale__config_key *k)
{
    char *const *list;
    json_t *arr;
    size_t i;

    switch (k->type) {
    case HALE_CONFIG_STRING:
    case HALE_CONFIG_ENUM:
        return json_string(str_get(c, k));
    case HALE_CONFIG_UINT:
    case HALE_CONFIG_BYTES:
        return json_integer((json_int_t)num_get(c, k));
    case HALE_CONFIG_STRING_ARRAY:
        arr = json_array();
        list = list_get(c, k);
        for (i = 0; arr && list[i]; i++) {
            if (json_array_append_new(arr, json_string(list[i])) < 0) {
                json_decref(arr);
                return NULL;
            }
        }
        return arr;
    case HALE_CONFIG_CUSTOM:
        return k->ops->to_json(c);
    }
    return NULL;
}

bool hale__config_equal(const hale_config *c1, const hale_config *c2, const hale__config_key *k)
{
    char *const *a, *const *b;
    size_t i;

    switch (k->type) {
    case HALE_CONFIG_STRING:
    case HALE_CONFIG_ENUM:
        return strcmp(str_get(c1, k), str_get(c2, k)) == 0;
    case HALE_CONFIG_UINT:
    case HALE_CONFIG_BYTES:
        return num_get(c1, k) == num_get(c2, k);
    case HALE_CONFIG_STRING_ARRAY:
        a = list_get(c1, k);
        b = list_get(c2, k);
        for (i = 0; a[i] && b[i]; i++)
            if (strcmp(a[i], b[i]) != 0)
                return false;
        return !a[i] && !b[i];
    case HALE_CONFIG_CUSTOM:
        return k->ops->equal(c1, c2);
    }
    return false;
}

bool hale__config_name_is_valid(const char *s, size_t max_len)
{
    size_t i;

    for (i = 0; s[i]; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return false;
    return i > 0 && i <= max_len;
}
