/* agent/api/api_auth.c - the one access check of the HTTP API: every route declares who may
 * call it (api_int.h) and hale_api_handle() runs this before the handler. Bearer tokens
 * (RFC 6750) are configured as SHA-256 hashes with a role (config "auth"); a presented token
 * is hashed and compared with every configured hash in constant time. Nothing here logs, and
 * the token is never copied anywhere but a wiped stack buffer. */
#include "internal.h"

#include <sodium.h>
#include <strings.h>

#include "api/api_int.h"

#define MAX_TOKEN_BYTES 4096u /* a presented token; longer is malformed */

/* The roles that satisfy access once a token is needed. */
static unsigned roles_for(hale__api_access access)
{
    switch (access) {
    case HALE__API_INTAKE:
        return HALE_ROLE_INTAKE | HALE_ROLE_ADMIN;
    case HALE__API_READ:
        return HALE_ROLE_VIEWER | HALE_ROLE_AUDITOR | HALE_ROLE_APPROVER | HALE_ROLE_ADMIN;
    case HALE__API_AUDIT:
        return HALE_ROLE_AUDITOR | HALE_ROLE_ADMIN;
    case HALE__API_APPROVE:
        return HALE_ROLE_APPROVER | HALE_ROLE_ADMIN;
    case HALE__API_ADMIN:
        return HALE_ROLE_ADMIN;
    case HALE__API_OPEN:
        break;
    }
    return 0;
}

/* Does this request need a token at all? */
static bool needs_token(const hale_config *cfg, hale__api_access access)
{
    size_t n = cfg ? cfg->n_auth_tokens : 0;

    switch (access) {
    case HALE__API_OPEN:
        return false;
    case HALE__API_INTAKE:
        return cfg && cfg->auth_intake_token_required;
    case HALE__API_READ:
        return n > 0;
    case HALE__API_AUDIT:
    case HALE__API_APPROVE:
    case HALE__API_ADMIN:
        return true;
    }
    return true;
}

/* RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". */
static bool is_b64token(const char *s, size_t len)
{
    size_t i = 0;

    while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                       (s[i] >= '0' && s[i] <= '9') || strchr("-._~+/", s[i])))
        i++;
    if (i == 0)
        return false;
    while (i < len && s[i] == '=')
        i++;
    return i == len;
}

/* The token of "Bearer <token>" (scheme case-insensitive), or NULL with *len 0. */
static const char *bearer(const char *authorization, size_t *len)
{
    const char *t;

    *len = 0;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    for (t = authorization + 7; *t == ' '; t++)
        ;
    *len = strlen(t);
    while (*len && t[*len - 1] == ' ')
        (*len)--;
    if (*len == 0 || *len > MAX_TOKEN_BYTES || !is_b64token(t, *len))
        return NULL;
    return t;
}

/* The configured token whose hash is SHA-256(token), or NULL. Every configured hash is
 * compared, each in constant time, whatever matched before. */
static const hale_auth_token *find_token(const hale_config *cfg, const char *token, size_t len)
{
    uint8_t h[crypto_hash_sha256_BYTES];
    const hale_auth_token *found = NULL;

    crypto_hash_sha256(h, (const unsigned char *)token, len);
    for (size_t i = 0; cfg && i < cfg->n_auth_tokens; i++) {
        bool eq = sodium_memcmp(h, cfg->auth_tokens[i].sha256, sizeof(h)) == 0;

        found = eq ? &cfg->auth_tokens[i] : found;
    }
    sodium_memzero(h, sizeof(h));
    return found;
}

hale__api_verdict hale__api_auth_decide(const hale_config *cfg, const char *authorization,
                                        hale__api_access access, const hale_auth_token **ret_token)
{
    const hale_auth_token *t;
    const char *token;
    size_t len;

    if (ret_token)
        *ret_token = NULL;
    if (!needs_token(cfg, access))
        return HALE__API_ALLOW;
    token = bearer(authorization, &len);
    if (!token)
        return HALE__API_NO_TOKEN;
    t = find_token(cfg, token, len);
    if (!t)
        return HALE__API_BAD_TOKEN;
    if (!(t->role & roles_for(access)))
        return HALE__API_FORBIDDEN;
    if (ret_token)
        *ret_token = t;
    return HALE__API_ALLOW;
}

int hale__api_authorize(hale_api *api, hale_http_req *req, hale__api_access access,
                        const hale_auth_token **ret_token)
{
    static const char no_token[] =
        "{\"error\":{\"code\":\"unauthorized\",\"message\":\"this route needs a bearer token\"}}";
    static const char bad_token[] =
        "{\"error\":{\"code\":\"unauthorized\",\"message\":\"the bearer token is not valid\"}}";
    static const char forbidden[] = "{\"error\":{\"code\":\"forbidden\",\"message\":\"the token's "
                                    "role does not allow this route\"}}";
    const hale_config *cfg = api->ops.config ? api->ops.config(api->ud) : NULL;
    hale__api_verdict v;

    const hale_auth_token *token = NULL;

    v = hale__api_auth_decide(cfg, hale_http_req_header(req, "Authorization"), access, &token);
    switch (v) {
    case HALE__API_ALLOW:
        if (ret_token)
            *ret_token = token;
        return 0;
    case HALE__API_NO_TOKEN:
        (void)hale_http_respond_hdr(req, 401, "application/json",
                                    "WWW-Authenticate: Bearer realm=\"hale\"\r\n", no_token,
                                    sizeof(no_token) - 1);
        break;
    case HALE__API_BAD_TOKEN:
        (void)hale_http_respond_hdr(
            req, 401, "application/json",
            "WWW-Authenticate: Bearer realm=\"hale\", error=\"invalid_token\"\r\n", bad_token,
            sizeof(bad_token) - 1);
        break;
    case HALE__API_FORBIDDEN:
        (void)hale_http_respond_hdr(
            req, 403, "application/json",
            "WWW-Authenticate: Bearer realm=\"hale\", error=\"insufficient_scope\"\r\n", forbidden,
            sizeof(forbidden) - 1);
        break;
    }
    return -EACCES;
}
