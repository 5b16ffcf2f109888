/* agent/config/config_auth.c - the "auth" key: bearer tokens (each a name, the SHA-256 of the
 * token and one role) and whether webhook intake needs one. Tokens themselves never appear in
 * the configuration, so the file and `hale config check` output reveal no secret.
 *   "auth": {"tokens": [{"name": "ci", "sha256": "<64 hex>", "role": "auditor"}],
 *            "intake_token_required": false} */
#include "internal.h"

#include "config_int.h"
#include "util/json.h"
#include "util/strparse.h"

static const struct {
    const char *name; /* in the file */
    hale_role role;   /* its value */
} roles[] = {
    {"viewer", HALE_ROLE_VIEWER}, {"auditor", HALE_ROLE_AUDITOR}, {"approver", HALE_ROLE_APPROVER},
    {"admin", HALE_ROLE_ADMIN},   {"intake", HALE_ROLE_INTAKE},
};

const char *hale_role_name(hale_role role)
{
    for (size_t i = 0; i < HALE_ARRAY_SIZE(roles); i++)
        if (roles[i].role == role)
            return roles[i].name;
    return "?";
}

static int set_default(hale_config *c)
{
    c->auth_tokens = NULL;
    c->n_auth_tokens = 0;
    c->auth_intake_token_required = false;
    return 0;
}

static void clear(hale_config *c)
{
    free(c->auth_tokens);
    (void)set_default(c);
}

static bool parse_hash(const char *hex, uint8_t *out)
{
    if (strlen(hex) != 2 * HALE_AUTH_HASH_BYTES)
        return false;
    for (size_t i = 0; i < HALE_AUTH_HASH_BYTES; i++) {
        int hi = hale_hex_digit(hex[2 * i]), lo = hale_hex_digit(hex[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

struct token_in {
    const char *name;   /* who */
    const char *sha256; /* hex */
    const char *role;   /* role name */
};

/* Token i of the array into *t; "key 'auth': tokens[i]: ..." on failure. */
static int read_token(const json_t *v, size_t i, hale_auth_token *t, hale_diag *reterr)
{
    static const hale_json_field fields[] = {
        {"name", HALE_JSON_STRING, true, offsetof(struct token_in, name)},
        {"sha256", HALE_JSON_STRING, true, offsetof(struct token_in, sha256)},
        {"role", HALE_JSON_STRING, true, offsetof(struct token_in, role)},
    };
    struct token_in in = {0};
    char path[64];
    size_t k;

    snprintf(path, sizeof(path), "key 'auth': tokens[%zu]", i);
    if (hale_json_fields(v, fields, HALE_ARRAY_SIZE(fields), HALE_JSON_STRICT, &in, path, reterr) <
        0)
        return HALE_ECONFIG;
    if (!hale__config_name_is_valid(in.name, HALE_AUTH_MAX_NAME)) {
        hale_diag_set(reterr, "%s.name: expected 1 to %u of [A-Za-z0-9._-], got '%.64s'", path,
                      HALE_AUTH_MAX_NAME, in.name);
        return HALE_ECONFIG;
    }
    if (!parse_hash(in.sha256, t->sha256)) {
        hale_diag_set(reterr,
                      "%s.sha256: expected 64 hex digits (the SHA-256 of the token, e.g. from "
                      "`printf %%s TOKEN | sha256sum`), got %zu characters",
                      path, strlen(in.sha256));
        return HALE_ECONFIG;
    }
    for (k = 0; k < HALE_ARRAY_SIZE(roles); k++)
        if (strcmp(roles[k].name, in.role) == 0)
            break;
    if (k == HALE_ARRAY_SIZE(roles)) {
        hale_diag_set(reterr,
                      "%s.role: expected viewer, auditor, approver, admin or intake, got '%.32s'",
                      path, in.role);
        return HALE_ECONFIG;
    }
    memcpy(t->name, in.name, strlen(in.name) + 1);
    t->role = roles[k].role;
    return 0;
}

/* Two tokens of one name, or of one hash (the same secret twice, under two roles), are
 * refused: a token must mean one thing. */
static int check_unique(const hale_auth_token *t, size_t n, hale_diag *reterr)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(t[i].name, t[j].name) == 0 ||
                memcmp(t[i].sha256, t[j].sha256, HALE_AUTH_HASH_BYTES) == 0) {
                hale_diag_set(reterr, "key 'auth': tokens[%zu] repeats the %s of tokens[%zu]", i,
                              strcmp(t[i].name, t[j].name) == 0 ? "name" : "sha256", j);
                return HALE_ECONFIG;
            }
    return 0;
}

struct auth_in {
    json_t *tokens; /* array, borrowed */
    bool intake;    /* intake_token_required */
};

static int read_auth(hale_config *c, const json_t *v, hale_diag *reterr)
{
    static const hale_json_field fields[] = {
        {"tokens", HALE_JSON_ARRAY, false, offsetof(struct auth_in, tokens)},
        {"intake_token_required", HALE_JSON_BOOL, false, offsetof(struct auth_in, intake)},
    };
    struct auth_in in = {0};
    hale_auth_token *t = NULL;
    size_t n, i;
    int r = 0;

    if (!json_is_object(v) || hale_json_fields(v, fields, HALE_ARRAY_SIZE(fields), HALE_JSON_STRICT,
                                               &in, "key 'auth'", reterr) < 0) {
        if (!json_is_object(v))
            hale_diag_set(reterr, "key 'auth': expected an object, got %s", hale_json_type_name(v));
        return HALE_ECONFIG;
    }
    n = json_array_size(in.tokens);
    if (n > HALE_AUTH_MAX_TOKENS) {
        hale_diag_set(reterr, "key 'auth': at most %u tokens, got %zu", HALE_AUTH_MAX_TOKENS, n);
        return HALE_ECONFIG;
    }
    if (n && !(t = calloc(n, sizeof(*t))))
        return -ENOMEM;
    for (i = 0; r == 0 && i < n; i++)
        r = read_token(json_array_get(in.tokens, i), i, &t[i], reterr);
    if (r == 0)
        r = check_unique(t, n, reterr);
    if (r < 0) {
        free(t);
        return r;
    }
    clear(c);
    c->auth_tokens = t;
    c->n_auth_tokens = n;
    c->auth_intake_token_required = in.intake;
    return 0;
}

static json_t *to_json(const hale_config *c)
{
    json_t *tokens = json_array(), *o;
    char hex[2 * HALE_AUTH_HASH_BYTES + 1];

    for (size_t i = 0; tokens && i < c->n_auth_tokens; i++) {
        hale_hex_encode(c->auth_tokens[i].sha256, HALE_AUTH_HASH_BYTES, hex);
        if (json_array_append_new(tokens, json_pack("{s:s,s:s,s:s}", "name", c->auth_tokens[i].name,
                                                    "sha256", hex, "role",
                                                    hale_role_name(c->auth_tokens[i].role))) < 0) {
            json_decref(tokens);
            return NULL;
        }
    }
    o = tokens ? json_pack("{s:o,s:b}", "tokens", tokens, "intake_token_required",
                           c->auth_intake_token_required)
               : NULL;
    return o;
}

static bool equal(const hale_config *a, const hale_config *b)
{
    return a->n_auth_tokens == b->n_auth_tokens &&
           a->auth_intake_token_required == b->auth_intake_token_required &&
           (a->n_auth_tokens == 0 || memcmp(a->auth_tokens, b->auth_tokens,
                                            a->n_auth_tokens * sizeof(*a->auth_tokens)) == 0);
}

const hale__config_ops hale__config_auth_ops = {
    .set_default = set_default,
    .read = read_auth,
    .clear = clear,
    .to_json = to_json,
    .equal = equal,
};
