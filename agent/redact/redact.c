/* agent/redact/redact.c - load and compile a redaction rules file (policies/redact/rules.json)
 * into an immutable rule set: one pcre2 code per rule, JIT-compiled, plus the keyword prefilter
 * tables the scanner uses to skip lines that no rule could match. */
#include "internal.h"

#include <fcntl.h>
#include <unistd.h>

#include "redact/redact_int.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/json.h"

/* rules.json top level. */
struct file_fields {
    int64_t version;     /* must be 1 */
    int64_t match_limit; /* optional, 1..HALE_REDACT_MATCH_LIMIT */
    int64_t depth_limit; /* optional, 1..HALE_REDACT_DEPTH_LIMIT */
    json_t *rules;       /* array of rule objects */
    const char *comment; /* free text, ignored */
};

static const hale_json_field file_table[] = {
    {"version", HALE_JSON_INT, true, offsetof(struct file_fields, version)},
    {"match_limit", HALE_JSON_INT, false, offsetof(struct file_fields, match_limit)},
    {"depth_limit", HALE_JSON_INT, false, offsetof(struct file_fields, depth_limit)},
    {"rules", HALE_JSON_ARRAY, true, offsetof(struct file_fields, rules)},
    {"comment", HALE_JSON_STRING, false, offsetof(struct file_fields, comment)},
};

/* One rule object. */
struct rule_fields {
    const char *id;          /* unique id */
    const char *type;        /* entity type */
    const char *pattern;     /* PCRE2 pattern */
    json_t *keywords;        /* array of strings */
    int64_t group;           /* capture group of the secret */
    const char *validate;    /* validator name */
    double min_entropy;      /* bits per byte */
    int64_t min_len;         /* shortest value */
    bool multiline;          /* whole-text rule */
    const char *prefilter;   /* built-in line shape */
    const char *description; /* free text, ignored */
};

static const hale_json_field rule_table[] = {
    {"id", HALE_JSON_STRING, true, offsetof(struct rule_fields, id)},
    {"type", HALE_JSON_STRING, true, offsetof(struct rule_fields, type)},
    {"pattern", HALE_JSON_STRING, true, offsetof(struct rule_fields, pattern)},
    {"keywords", HALE_JSON_STRING_ARRAY, false, offsetof(struct rule_fields, keywords)},
    {"group", HALE_JSON_INT, false, offsetof(struct rule_fields, group)},
    {"validate", HALE_JSON_STRING, false, offsetof(struct rule_fields, validate)},
    {"min_entropy", HALE_JSON_NUMBER, false, offsetof(struct rule_fields, min_entropy)},
    {"min_len", HALE_JSON_INT, false, offsetof(struct rule_fields, min_len)},
    {"multiline", HALE_JSON_BOOL, false, offsetof(struct rule_fields, multiline)},
    {"prefilter", HALE_JSON_STRING, false, offsetof(struct rule_fields, prefilter)},
    {"description", HALE_JSON_STRING, false, offsetof(struct rule_fields, description)},
};

static bool valid_type(const char *t)
{
    if (!(*t >= 'A' && *t <= 'Z') || strlen(t) > 32)
        return false;
    for (; *t; t++)
        if (!((*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') || *t == '_'))
            return false;
    return true;
}

static int type_index(hale_redact *r, char *type, const char *where, hale_diag *reterr)
{
    for (size_t i = 0; i < r->n_types; i++)
        if (strcmp(r->types[i], type) == 0)
            return (int)i;
    if (r->n_types >= REDACT_MAX_TYPES) {
        hale_diag_set(reterr, "%s: type: more than %u distinct types", where, REDACT_MAX_TYPES);
        return HALE_ECONFIG;
    }
    r->types[r->n_types] = type;
    return (int)r->n_types++;
}

static int compile(struct redact_rule *rule, const char *pattern, const char *where,
                   hale_diag *reterr)
{
    PCRE2_UCHAR msg[160];
    PCRE2_SIZE at;
    uint32_t n_groups;
    int err;

    if (strlen(pattern) > HALE_REDACT_MAX_PATTERN_LEN) {
        hale_diag_set(reterr, "%s: pattern: longer than %u bytes", where,
                      HALE_REDACT_MAX_PATTERN_LEN);
        return HALE_ECONFIG;
    }
    rule->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &err, &at, NULL);
    if (!rule->code) {
        if (err == PCRE2_ERROR_NOMEMORY)
            return -ENOMEM;
        (void)pcre2_get_error_message(err, msg, sizeof(msg));
        hale_diag_set(reterr, "%s: pattern: %s at offset %zu", where, (const char *)msg,
                      (size_t)at);
        return HALE_ECONFIG;
    }
    /* Without JIT (a platform pcre2 lacks it) matching still works, only slower. */
    (void)pcre2_jit_compile(rule->code, PCRE2_JIT_COMPLETE);
    (void)pcre2_pattern_info(rule->code, PCRE2_INFO_CAPTURECOUNT, &n_groups);
    rule->n_groups = n_groups;
    if (rule->group > n_groups) {
        hale_diag_set(reterr, "%s: group: %u but the pattern has %u capture groups", where,
                      rule->group, n_groups);
        return HALE_ECONFIG;
    }
    return 0;
}

static int take_keywords(hale_redact *r, struct redact_rule *rule, const json_t *arr,
                         const char *where, hale_diag *reterr)
{
    size_t i;
    json_t *v;

    if (json_array_size(arr) > HALE_REDACT_MAX_KEYWORDS) {
        hale_diag_set(reterr, "%s: keywords: more than %u", where, HALE_REDACT_MAX_KEYWORDS);
        return HALE_ECONFIG;
    }
    rule->keywords = calloc(json_array_size(arr) + 1, sizeof(*rule->keywords));
    if (!rule->keywords)
        return -ENOMEM;
    json_array_foreach(arr, i, v)
    {
        const char *k = json_string_value(v);
        size_t len = strlen(k);

        if (len == 0 || len > HALE_REDACT_MAX_KEYWORD_LEN) {
            hale_diag_set(reterr, "%s: keywords[%zu]: must be 1 to %u bytes", where, i,
                          HALE_REDACT_MAX_KEYWORD_LEN);
            return HALE_ECONFIG;
        }
        rule->keywords[i] = strdup(k);
        if (!rule->keywords[i])
            return -ENOMEM;
        rule->n_keywords = i + 1;
        for (char *c = rule->keywords[i]; *c; c++)
            *c = (char)r->lower[(unsigned char)*c];
    }
    rule->has_keywords = rule->n_keywords > 0;
    return 0;
}

static bool duplicate_id(const hale_redact *r, const char *id)
{
    for (size_t i = 0; i < r->n_rules; i++)
        if (strcmp(r->rules[i].id, id) == 0)
            return true;
    return false;
}

static int check_fields(const struct rule_fields *f, const char *where, hale_diag *reterr)
{
    if (!valid_type(f->type)) {
        hale_diag_set(reterr, "%s: type: '%s' must be 1 to 32 of A-Z, 0-9 and _, starting A-Z",
                      where, f->type);
        return HALE_ECONFIG;
    }
    if (f->group < 0 || f->group > 99) {
        hale_diag_set(reterr, "%s: group: must be 0 to 99", where);
        return HALE_ECONFIG;
    }
    if (f->min_len < 0 || f->min_len > 4096) {
        hale_diag_set(reterr, "%s: min_len: must be 0 to 4096", where);
        return HALE_ECONFIG;
    }
    if (!(f->min_entropy >= 0.0 && f->min_entropy <= 8.0)) {
        hale_diag_set(reterr, "%s: min_entropy: must be 0 to 8 bits per byte", where);
        return HALE_ECONFIG;
    }
    if (f->validate && hale__redact_validator_from_name(f->validate) < 0) {
        hale_diag_set(reterr,
                      "%s: validate: unknown validator '%s' (known: luhn, iban, ssn, ipv4, ipv6, "
                      "phone, jwt, email, mixed, random, not_placeholder)",
                      where, f->validate);
        return HALE_ECONFIG;
    }
    if (f->prefilter && hale__redact_shape_from_name(f->prefilter) < 0) {
        hale_diag_set(reterr,
                      "%s: prefilter: unknown shape '%s' (known: ipv4, ipv6, long_number, ssn, "
                      "iban, mac, paren_phone)",
                      where, f->prefilter);
        return HALE_ECONFIG;
    }
    if (f->prefilter && f->keywords && json_array_size(f->keywords) > 0) {
        hale_diag_set(reterr, "%s: prefilter: a rule takes keywords or a prefilter, not both",
                      where);
        return HALE_ECONFIG;
    }
    return 0;
}

/* Parse and compile rules[idx] into r->rules[r->n_rules]. where is "FILE: ID". */
static int add_rule(hale_redact *r, const json_t *obj, size_t idx, const char *name,
                    hale_diag *reterr)
{
    struct rule_fields f = {0};
    struct redact_rule *rule = &r->rules[r->n_rules];
    char where[256];
    int t, k;

    snprintf(where, sizeof(where), "%s: rules[%zu]", name, idx);
    if (hale_json_fields(obj, rule_table, HALE_ARRAY_SIZE(rule_table), HALE_JSON_STRICT, &f, NULL,
                         reterr) < 0) {
        const char *id = json_string_value(json_object_get(obj, "id"));

        if (id)
            snprintf(where, sizeof(where), "%s: %s", name, id);
        hale_diag_prefix(reterr, where);
        return HALE_ECONFIG;
    }
    snprintf(where, sizeof(where), "%s: %s", name, f.id);
    if (!*f.id || duplicate_id(r, f.id)) {
        hale_diag_set(reterr, "%s: id: %s", where, *f.id ? "duplicate rule id" : "empty");
        return HALE_ECONFIG;
    }
    t = check_fields(&f, where, reterr);
    if (t < 0)
        return t;
    rule->id = strdup(f.id);
    rule->type = strdup(f.type);
    r->n_rules++; /* from here hale_redact_free releases what the rule holds */
    if (!rule->id || !rule->type)
        return -ENOMEM;
    rule->group = (unsigned)f.group;
    rule->min_entropy = f.min_entropy;
    rule->min_len = (uint32_t)f.min_len;
    rule->multiline = f.multiline;
    k = f.validate ? hale__redact_validator_from_name(f.validate) : REDACT_V_NONE;
    rule->validator = (enum redact_validator)k;
    if (f.prefilter)
        rule->shape = (enum redact_shape)hale__redact_shape_from_name(f.prefilter);
    t = type_index(r, rule->type, where, reterr);
    if (t < 0)
        return t;
    rule->type_idx = (unsigned)t;
    if (f.keywords && (k = take_keywords(r, rule, f.keywords, where, reterr)) < 0)
        return k;
    return compile(rule, f.pattern, where, reterr);
}

static void add_keyword(hale_redact *r, const char *lit, uint16_t rule)
{
    struct redact_kw *kw = &r->kws[r->n_kws];
    unsigned char c0 = (unsigned char)lit[0];
    unsigned h;

    kw->lit = lit;
    kw->len = (uint32_t)strlen(lit);
    kw->rule = rule;
    if (kw->len < 3) {
        kw->next = r->head_short[c0];
        if (r->head_short[c0] < 0) {
            r->short_bytes[r->n_short_bytes++] = c0;
            if (c0 >= 'a' && c0 <= 'z')
                r->short_bytes[r->n_short_bytes++] = (unsigned char)(c0 - ('a' - 'A'));
        }
        r->head_short[c0] = (int32_t)r->n_kws;
    } else {
        h = REDACT_TRI_HASH(c0, (unsigned char)lit[1], (unsigned char)lit[2]);
        kw->next = r->head_tri[h];
        r->head_tri[h] = (int32_t)r->n_kws;
        r->tri_bits[h >> 3] |= (uint8_t)(1u << (h & 7));
    }
    r->n_kws++;
}

/* Build the keyword chains and the lists of shape and whole-text rules. */
static int build_prefilter(hale_redact *r)
{
    size_t total = 0;

    for (size_t i = 0; i < r->n_rules; i++)
        total += r->rules[i].n_keywords;
    r->kws = calloc(total + 1, sizeof(*r->kws));
    r->head_tri = malloc(REDACT_TRI_SIZE * sizeof(*r->head_tri));
    r->whole_rules = calloc(r->n_rules + 1, sizeof(*r->whole_rules));
    r->shape_rules = calloc(r->n_rules + 1, sizeof(*r->shape_rules));
    if (!r->kws || !r->head_tri || !r->whole_rules || !r->shape_rules)
        return -ENOMEM;
    memset(r->head_short, 0xff, sizeof(r->head_short));
    memset(r->head_tri, 0xff, REDACT_TRI_SIZE * sizeof(*r->head_tri));
    for (size_t i = 0; i < r->n_rules; i++) {
        const struct redact_rule *rule = &r->rules[i];

        if (rule->multiline || (!rule->has_keywords && rule->shape == REDACT_SHAPE_NONE)) {
            r->whole_rules[r->n_whole++] = (uint16_t)i;
            continue;
        }
        if (rule->shape != REDACT_SHAPE_NONE) {
            r->shape_rules[r->n_shape_rules++] = (uint16_t)i;
            r->shape_rules_mask |= 1u << rule->shape;
        }
        for (size_t k = 0; k < rule->n_keywords; k++)
            add_keyword(r, rule->keywords[k], (uint16_t)i);
    }
    return 0;
}

static int parse_top(hale_redact *r, const json_t *root, const char *name, hale_diag *reterr)
{
    struct file_fields f = {.match_limit = HALE_REDACT_MATCH_LIMIT,
                            .depth_limit = HALE_REDACT_DEPTH_LIMIT};
    size_t i;
    json_t *v;
    int k;

    if (hale_json_fields(root, file_table, HALE_ARRAY_SIZE(file_table), HALE_JSON_STRICT, &f, NULL,
                         reterr) < 0) {
        hale_diag_prefix(reterr, name);
        return HALE_ECONFIG;
    }
    if (f.version != 1) {
        hale_diag_set(reterr, "%s: version: %lld is not supported, expected 1", name,
                      (long long)f.version);
        return HALE_ECONFIG;
    }
    if (f.match_limit < 1 || f.match_limit > HALE_REDACT_MATCH_LIMIT || f.depth_limit < 1 ||
        f.depth_limit > HALE_REDACT_DEPTH_LIMIT) {
        hale_diag_set(reterr, "%s: %s: must be 1 to %u", name,
                      f.match_limit < 1 || f.match_limit > HALE_REDACT_MATCH_LIMIT ? "match_limit"
                                                                                   : "depth_limit",
                      f.match_limit < 1 || f.match_limit > HALE_REDACT_MATCH_LIMIT
                          ? HALE_REDACT_MATCH_LIMIT
                          : HALE_REDACT_DEPTH_LIMIT);
        return HALE_ECONFIG;
    }
    r->match_limit = (uint32_t)f.match_limit;
    r->depth_limit = (uint32_t)f.depth_limit;
    if (json_array_size(f.rules) > HALE_REDACT_MAX_RULES) {
        hale_diag_set(reterr, "%s: rules: more than %u rules", name, HALE_REDACT_MAX_RULES);
        return HALE_ECONFIG;
    }
    r->rules = calloc(json_array_size(f.rules) + 1, sizeof(*r->rules));
    if (!r->rules)
        return -ENOMEM;
    json_array_foreach(f.rules, i, v)
    {
        if (!json_is_object(v)) {
            hale_diag_set(reterr, "%s: rules[%zu]: expected object, got %s", name, i,
                          hale_json_type_name(v));
            return HALE_ECONFIG;
        }
        k = add_rule(r, v, i, name, reterr);
        if (k < 0)
            return k;
    }
    return build_prefilter(r);
}

int hale_redact_parse(const char *json, size_t len, const char *name, hale_redact **ret,
                      hale_diag *reterr)
{
    hale_redact *r;
    json_t *root = NULL;
    int k;

    if (len > HALE_REDACT_MAX_RULES_BYTES) {
        hale_diag_set(reterr, "%s: larger than %u bytes", name, HALE_REDACT_MAX_RULES_BYTES);
        return HALE_ECONFIG;
    }
    k = hale_json_parse(json, len, &root, reterr);
    if (k < 0) {
        hale_diag_prefix(reterr, name);
        return k == -ENOMEM ? k : HALE_ECONFIG;
    }
    r = calloc(1, sizeof(*r));
    if (!r) {
        json_decref(root);
        return -ENOMEM;
    }
    hale__redact_init_classes(r->cls);
    for (unsigned c = 0; c < 256; c++)
        r->lower[c] = (uint8_t)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    k = parse_top(r, root, name, reterr);
    json_decref(root);
    if (k < 0) {
        hale_redact_free(r);
        return k;
    }
    *ret = r;
    return 0;
}

int hale_redact_load(const char *path, hale_redact **ret, hale_diag *reterr)
{
    char *text = NULL;
    size_t len = 0;
    int r;

    r = hale_file_read(path, HALE_REDACT_MAX_RULES_BYTES, &text, &len, reterr);
    if (r == HALE_ELIMIT)
        r = HALE_ECONFIG;
    if (r == 0)
        r = hale_redact_parse(text, len, path, ret, reterr);
    free(text);
    return r;
}

size_t hale_redact_rule_count(const hale_redact *r)
{
    return r->n_rules;
}

void hale_redact_free(hale_redact *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_rules; i++) {
        struct redact_rule *rule = &r->rules[i];

        free(rule->id);
        free(rule->type);
        pcre2_code_free(rule->code);
        for (size_t k = 0; rule->keywords && rule->keywords[k]; k++)
            free(rule->keywords[k]);
        free(rule->keywords);
    }
    free(r->rules);
    free(r->kws);
    free(r->head_tri);
    free(r->shape_rules);
    free(r->whole_rules);
    free(r);
}
