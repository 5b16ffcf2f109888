/* agent/policy/policy_parse.c - one policy file into the set being built: the top level, the
 * approver groups and the named windows. Rules are read by policy_rule.c. A file is read in
 * two phases (groups and windows of every file first, then the rules) so a rule may name a
 * window or group defined in another file. Errors read "file: field: reason". */
#include "internal.h"

#include "policy/policy_int.h"
#include "util/alloc.h"
#include "util/json.h"
#include "util/timeutil.h"

void hale__policy_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* A string or an array of strings (non-empty, at most HALE_MAX_POLICY_LIST) into a new
 * vector. what names the field in errors. */
int hale__policy_strv_parse(const json_t *v, char ***ret, size_t *ret_n, const char *what,
                            hale_diag *reterr)
{
    size_t n = json_is_string(v) ? 1 : json_array_size(v), i;
    char **out;

    if (!json_is_string(v) && (!json_is_array(v) || n == 0)) {
        hale_diag_set(reterr, "%s: expected a string or a non-empty array of strings, got %s", what,
                      hale_json_type_name(v));
        return HALE_ESCHEMA;
    }
    if (n > HALE_MAX_POLICY_LIST) {
        hale_diag_set(reterr, "%s: more than %u entries", what, HALE_MAX_POLICY_LIST);
        return HALE_ELIMIT;
    }
    out = calloc(n, sizeof(*out));
    if (!out)
        return -ENOMEM;
    for (i = 0; i < n; i++) {
        const json_t *e = json_is_string(v) ? v : json_array_get(v, i);

        if (!json_is_string(e) || json_string_length(e) == 0) {
            hale_diag_set(reterr, "%s[%zu]: expected a non-empty string, got %s", what, i,
                          hale_json_type_name(e));
            hale__policy_strv_free(out, i);
            return HALE_ESCHEMA;
        }
        out[i] = strdup(json_string_value(e));
        if (!out[i]) {
            hale__policy_strv_free(out, i);
            return -ENOMEM;
        }
    }
    *ret = out;
    *ret_n = n;
    return 0;
}

void hale__policy_window_release(struct window *w)
{
    free(w->name);
    free(w->ranges);
    free(w->weekly);
}

static int parse_hhmm(const char *s, bool is_end, int *ret)
{
    int h, m;

    if (strlen(s) != 5 || s[2] != ':' || s[0] < '0' || s[0] > '2' || s[1] < '0' || s[1] > '9' ||
        s[3] < '0' || s[3] > '5' || s[4] < '0' || s[4] > '9')
        return -EINVAL;
    h = (s[0] - '0') * 10 + (s[1] - '0');
    m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 24 || (h == 24 && (m != 0 || !is_end)))
        return -EINVAL;
    *ret = h * 60 + m;
    return 0;
}

static int parse_days(const json_t *v, uint8_t *ret, const char *field, hale_diag *reterr)
{
    static const char *const names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    uint8_t days = 0;
    size_t i, d;
    json_t *e;

    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 7) {
        hale_diag_set(reterr, "%s.days: expected an array of 1 to 7 day names (mon..sun)", field);
        return HALE_ESCHEMA;
    }
    json_array_foreach(v, i, e)
    {
        for (d = 0; d < 7; d++)
            if (json_is_string(e) && strcmp(json_string_value(e), names[d]) == 0)
                break;
        if (d == 7) {
            hale_diag_set(reterr,
                          "%s.days[%zu]: expected one of mon, tue, wed, thu, fri, sat, "
                          "sun",
                          field, i);
            return HALE_ESCHEMA;
        }
        days |= (uint8_t)(1u << d);
    }
    *ret = days;
    return 0;
}

struct weekly_in {
    json_t *days;      /* array of day names */
    const char *start; /* "HH:MM" */
    const char *end;   /* "HH:MM", "24:00" allowed */
};

static const hale_json_field weekly_table[] = {
    {"days", HALE_JSON_ARRAY, true, offsetof(struct weekly_in, days)},
    {"start", HALE_JSON_STRING, true, offsetof(struct weekly_in, start)},
    {"end", HALE_JSON_STRING, true, offsetof(struct weekly_in, end)},
};

static int parse_weekly(const json_t *v, struct weekly *w, const char *field, hale_diag *reterr)
{
    struct weekly_in in = {0};
    int r;

    r = hale_json_fields(v, weekly_table, HALE_ARRAY_SIZE(weekly_table), HALE_JSON_STRICT, &in,
                         field, reterr);
    if (r < 0)
        return r;
    r = parse_days(in.days, &w->days, field, reterr);
    if (r < 0)
        return r;
    if (parse_hhmm(in.start, false, &w->start_min) < 0 ||
        parse_hhmm(in.end, true, &w->end_min) < 0) {
        hale_diag_set(reterr, "%s: start and end must be local times HH:MM (end may be 24:00)",
                      field);
        return HALE_ESCHEMA;
    }
    if (w->start_min == w->end_min) {
        hale_diag_set(reterr, "%s: start equals end; use 00:00 to 24:00 for a whole day", field);
        return HALE_ESCHEMA;
    }
    return 0;
}

struct range_in {
    const char *start; /* RFC 3339 */
    const char *end;   /* RFC 3339, after start */
};

static const hale_json_field range_table[] = {
    {"start", HALE_JSON_STRING, true, offsetof(struct range_in, start)},
    {"end", HALE_JSON_STRING, true, offsetof(struct range_in, end)},
};

static int parse_range(const json_t *v, int64_t out[2], const char *field, hale_diag *reterr)
{
    struct range_in in = {0};
    int r;

    r = hale_json_fields(v, range_table, HALE_ARRAY_SIZE(range_table), HALE_JSON_STRICT, &in, field,
                         reterr);
    if (r < 0)
        return r;
    if (hale_rfc3339_parse(in.start, &out[0]) < 0 || hale_rfc3339_parse(in.end, &out[1]) < 0) {
        hale_diag_set(reterr, "%s: start and end must be RFC 3339 times with an offset", field);
        return HALE_ESCHEMA;
    }
    if (out[1] <= out[0]) {
        hale_diag_set(reterr, "%s: end must be after start", field);
        return HALE_ESCHEMA;
    }
    return 0;
}

static int zone_get(hale_policy *p, const char *name, struct tz_zone **ret, hale_diag *reterr)
{
    struct tz_zone *z = NULL;
    int r;

    for (size_t i = 0; i < p->n_zones; i++) {
        if (strcmp(p->zones[i]->name, name) == 0) {
            *ret = p->zones[i];
            return 0;
        }
    }
    if (p->n_zones >= HALE_MAX_POLICY_ZONES) {
        hale_diag_set(reterr, "more than %u time zones", HALE_MAX_POLICY_ZONES);
        return HALE_ELIMIT;
    }
    r = hale__policy_zone_load(name, &z, reterr);
    if (r < 0)
        return r;
    p->zones = hale_reallocarray(p->zones, p->n_zones + 1, sizeof(*p->zones));
    if (!p->zones) {
        hale__policy_zone_free(z);
        return -ENOMEM;
    }
    p->zones[p->n_zones++] = z;
    *ret = z;
    return 0;
}

struct window_in {
    const char *tz;          /* IANA name */
    json_t *ranges;          /* array of {start, end} */
    json_t *weekly;          /* array of {days, start, end} */
    const char *description; /* free text */
};

static const hale_json_field window_table[] = {
    {"tz", HALE_JSON_STRING, false, offsetof(struct window_in, tz)},
    {"ranges", HALE_JSON_ARRAY, false, offsetof(struct window_in, ranges)},
    {"weekly", HALE_JSON_ARRAY, false, offsetof(struct window_in, weekly)},
    {"description", HALE_JSON_STRING, false, offsetof(struct window_in, description)},
};

static int parse_window(hale_policy *p, struct window *w, const json_t *v, const char *field,
                        hale_diag *reterr)
{
    struct window_in in = {0};
    char sub[320];
    size_t n_r, n_w;
    int r;

    r = hale_json_fields(v, window_table, HALE_ARRAY_SIZE(window_table), HALE_JSON_STRICT, &in,
                         field, reterr);
    if (r < 0)
        return r;
    n_r = json_array_size(in.ranges), n_w = json_array_size(in.weekly);
    if (n_r + n_w == 0 || n_r > HALE_MAX_POLICY_LIST || n_w > HALE_MAX_POLICY_LIST) {
        hale_diag_set(reterr, "%s: expected 1 to %u ranges or weekly entries", field,
                      HALE_MAX_POLICY_LIST);
        return HALE_ESCHEMA;
    }
    if (in.tz && (r = zone_get(p, in.tz, &w->zone, reterr)) < 0) {
        hale_diag_prefix(reterr, field);
        return r;
    }
    w->ranges = calloc(n_r ? n_r : 1, sizeof(*w->ranges));
    w->weekly = calloc(n_w ? n_w : 1, sizeof(*w->weekly));
    if (!w->ranges || !w->weekly)
        return -ENOMEM;
    for (size_t i = 0; i < n_r; i++, w->n_ranges++) {
        snprintf(sub, sizeof(sub), "%s.ranges[%zu]", field, i);
        if ((r = parse_range(json_array_get(in.ranges, i), w->ranges[i], sub, reterr)) < 0)
            return r;
    }
    for (size_t i = 0; i < n_w; i++, w->n_weekly++) {
        snprintf(sub, sizeof(sub), "%s.weekly[%zu]", field, i);
        if ((r = parse_weekly(json_array_get(in.weekly, i), &w->weekly[i], sub, reterr)) < 0)
            return r;
    }
    return 0;
}

static int parse_windows(hale_policy *p, const char *file, const json_t *obj, hale_diag *reterr)
{
    char field[300];
    const char *name;
    json_t *v;
    int r;

    if (!json_is_object(obj)) {
        hale_diag_set(reterr, "windows: expected object, got %s", hale_json_type_name(obj));
        return HALE_ESCHEMA;
    }
    json_object_foreach((json_t *)(uintptr_t)obj, name, v)
    {
        struct window *w;

        snprintf(field, sizeof(field), "windows.%s", name);
        for (size_t i = 0; i < p->n_windows; i++) {
            if (strcmp(p->windows[i].name, name) == 0) {
                hale_diag_set(reterr, "%s: already defined in %s", field, p->windows[i].file);
                return HALE_ESCHEMA;
            }
        }
        if (p->n_windows >= HALE_MAX_POLICY_LIST) {
            hale_diag_set(reterr, "%s: more than %u windows", field, HALE_MAX_POLICY_LIST);
            return HALE_ELIMIT;
        }
        p->windows = hale_reallocarray(p->windows, p->n_windows + 1, sizeof(*p->windows));
        if (!p->windows)
            return -ENOMEM;
        w = &p->windows[p->n_windows++];
        memset(w, 0, sizeof(*w));
        w->file = file;
        if (!(w->name = strdup(name)))
            return -ENOMEM;
        if ((r = parse_window(p, w, v, field, reterr)) < 0)
            return r;
    }
    return 0;
}

static void group_free(struct group *g)
{
    if (g)
        hale__policy_strv_free(g->users, g->n);
    free(g);
}

static int parse_groups(hale_policy *p, const json_t *obj, hale_diag *reterr)
{
    char field[300];
    const char *name;
    json_t *v;
    int r;

    if (!json_is_object(obj)) {
        hale_diag_set(reterr, "groups: expected object, got %s", hale_json_type_name(obj));
        return HALE_ESCHEMA;
    }
    json_object_foreach((json_t *)(uintptr_t)obj, name, v)
    {
        struct group *g;

        snprintf(field, sizeof(field), "groups.%s", name);
        if (hale_map_get(p->groups, name)) {
            hale_diag_set(reterr, "%s: group defined twice", field);
            return HALE_ESCHEMA;
        }
        if (!(g = calloc(1, sizeof(*g))))
            return -ENOMEM;
        r = hale__policy_strv_parse(v, &g->users, &g->n, field, reterr);
        if (r == 0 && (r = hale_map_put(p->groups, name, g)) == 0)
            continue;
        group_free(g);
        return r;
    }
    return 0;
}

static int free_group_cb(const char *key, void *value, void *ud)
{
    (void)key, (void)ud;
    group_free(value);
    return 0;
}

void hale__policy_groups_free(hale_map *groups)
{
    if (!groups)
        return;
    (void)hale_map_foreach(groups, free_group_cb, NULL);
    hale_map_free(groups);
}

struct file_in {
    int64_t version;         /* must be 1 */
    const char *description; /* free text */
    json_t *groups;          /* name -> users */
    json_t *windows;         /* name -> window */
    json_t *rules;           /* array of rules */
};

static const hale_json_field file_table[] = {
    {"version", HALE_JSON_INT, true, offsetof(struct file_in, version)},
    {"description", HALE_JSON_STRING, false, offsetof(struct file_in, description)},
    {"groups", HALE_JSON_OBJECT, false, offsetof(struct file_in, groups)},
    {"windows", HALE_JSON_OBJECT, false, offsetof(struct file_in, windows)},
    {"rules", HALE_JSON_ARRAY, false, offsetof(struct file_in, rules)},
};

static int parse_rules(hale_policy *p, const char *file, const json_t *rules, hale_diag *reterr)
{
    size_t i;
    json_t *v;
    int r;

    json_array_foreach(rules, i, v)
    {
        struct rule *rule;

        if (p->n_rules >= HALE_MAX_POLICY_RULES) {
            hale_diag_set(reterr, "rules: more than %u rules in the set", HALE_MAX_POLICY_RULES);
            return HALE_ELIMIT;
        }
        if (hale_grow((void **)&p->rules, &p->cap_rules, p->n_rules, sizeof(*p->rules)) < 0)
            return -ENOMEM;
        rule = &p->rules[p->n_rules++];
        memset(rule, 0, sizeof(*rule));
        rule->file = file;
        rule->index = p->n_rules - 1;
        r = hale__policy_rule_parse(p, rule, v, i, reterr);
        if (r < 0)
            return r;
    }
    return 0;
}

int hale__policy_parse_file(hale_policy *p, const char *name, json_t *root, int phase,
                            hale_diag *reterr)
{
    struct file_in in = {0};
    int r;

    r = hale_json_fields(root, file_table, HALE_ARRAY_SIZE(file_table), HALE_JSON_STRICT, &in, "",
                         reterr);
    if (r == 0 && in.version != 1) {
        hale_diag_set(reterr, "version: expected 1, got %lld", (long long)in.version);
        r = HALE_ESCHEMA;
    }
    if (r == 0 && phase == 0 && in.groups)
        r = parse_groups(p, in.groups, reterr);
    if (r == 0 && phase == 0 && in.windows)
        r = parse_windows(p, name, in.windows, reterr);
    if (r == 0 && phase == 1 && in.rules)
        r = parse_rules(p, name, in.rules, reterr);
    return r;
}
