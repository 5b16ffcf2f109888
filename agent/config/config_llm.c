/* agent/config/config_llm.c - the "llm" key: LLM gateways in fallback order and the client's
 * limits. A key is never written in the file: a gateway names an environment variable or a
 * 0600 file instead, so the file and `hale config check` output reveal no secret.
 *   "llm": {"gateways": [{"name": "local", "kind": "openai", "base_url": "http://127.0.0.1:8000",
 *            "model": "qwen2.5-7b-instruct", "api_key_env": "VLLM_KEY", "timeout_ms": 30000,
 *            "max_tokens": 1024, "usd_per_1k_in": 0, "usd_per_1k_out": 0}],
 *           "max_in_flight": 16, "day_max_usd": 20} */
#include "internal.h"

#include "config_int.h"
#include "util/json.h"

#define MAX_NAME 64u
#define MAX_TEXT 1024u

static int set_default(hale_config *c)
{
    c->llm = (hale_llm_config){.max_in_flight = 16,
                               .retries = 2,
                               .backoff_base_ms = 500,
                               .backoff_max_ms = 8000,
                               .breaker_failures = 5,
                               .breaker_open_ms = 30000};
    return 0;
}

static void gateways_free(hale_llm_gateway_config *g, size_t n)
{
    for (size_t i = 0; g && i < n; i++) {
        free(g[i].name);
        free(g[i].kind);
        free(g[i].base_url);
        free(g[i].model);
        free(g[i].api_key_env);
        free(g[i].api_key_file);
    }
    free(g);
}

static void clear(hale_config *c)
{
    gateways_free(c->llm.gateways, c->llm.n_gateways);
    (void)set_default(c);
}

struct gw_in {
    const char *name, *kind, *base_url, *model, *api_key_env, *api_key_file;
    int64_t timeout_ms, max_tokens;
    double in, out;
};

static char *dup_opt(const char *s, int *r)
{
    char *d;

    if (!s)
        return NULL;
    if (!(d = strdup(s)))
        *r = -ENOMEM;
    return d;
}

static int read_gateway(json_t *v, size_t i, hale_llm_gateway_config *g, hale_diag *reterr)
{
    static const hale_json_field fields[] = {
        {"name", HALE_JSON_STRING, true, offsetof(struct gw_in, name)},
        {"kind", HALE_JSON_STRING, true, offsetof(struct gw_in, kind)},
        {"base_url", HALE_JSON_STRING, true, offsetof(struct gw_in, base_url)},
        {"model", HALE_JSON_STRING, true, offsetof(struct gw_in, model)},
        {"api_key_env", HALE_JSON_STRING, false, offsetof(struct gw_in, api_key_env)},
        {"api_key_file", HALE_JSON_STRING, false, offsetof(struct gw_in, api_key_file)},
        {"timeout_ms", HALE_JSON_INT, false, offsetof(struct gw_in, timeout_ms)},
        {"max_tokens", HALE_JSON_INT, false, offsetof(struct gw_in, max_tokens)},
        {"usd_per_1k_in", HALE_JSON_NUMBER, false, offsetof(struct gw_in, in)},
        {"usd_per_1k_out", HALE_JSON_NUMBER, false, offsetof(struct gw_in, out)},
    };
    struct gw_in in = {.timeout_ms = 30000, .max_tokens = 1024};
    char path[64];
    int r = 0;

    snprintf(path, sizeof(path), "key 'llm': gateways[%zu]", i);
    if (json_object_get(v, "api_key") || json_object_get(v, "key")) {
        hale_diag_set(reterr,
                      "%s: an API key is never written in the configuration: name an "
                      "environment variable (api_key_env) or a 0600 file (api_key_file)",
                      path);
        return HALE_ECONFIG;
    }
    if (!json_is_object(v) || hale_json_fields(v, fields, HALE_ARRAY_SIZE(fields), HALE_JSON_STRICT,
                                               &in, path, reterr) < 0) {
        if (!json_is_object(v))
            hale_diag_set(reterr, "%s: expected an object, got %s", path, hale_json_type_name(v));
        return HALE_ECONFIG;
    }
    if (!hale__config_name_is_valid(in.name, MAX_NAME))
        hale_diag_set(reterr, "%s.name: expected 1 to %u of [A-Za-z0-9._-], got '%.64s'", path,
                      MAX_NAME, in.name);
    else if (strcmp(in.kind, "openai") != 0 && strcmp(in.kind, "anthropic") != 0)
        hale_diag_set(reterr, "%s.kind: expected openai or anthropic, got '%.32s'", path, in.kind);
    else if ((strncmp(in.base_url, "http://", 7) != 0 &&
              strncmp(in.base_url, "https://", 8) != 0) ||
             strlen(in.base_url) > MAX_TEXT)
        hale_diag_set(reterr, "%s.base_url: expected an http:// or https:// URL, got '%.64s'", path,
                      in.base_url);
    else if (!*in.model || strlen(in.model) > MAX_TEXT)
        hale_diag_set(reterr, "%s.model: expected a model name", path);
    else if (in.api_key_env && in.api_key_file)
        hale_diag_set(reterr, "%s: api_key_env and api_key_file exclude each other", path);
    else if (in.timeout_ms < 100 || in.timeout_ms > 600000)
        hale_diag_set(reterr, "%s.timeout_ms: expected 100 to 600000, got %lld", path,
                      (long long)in.timeout_ms);
    else if (in.max_tokens < 1 || in.max_tokens > 1000000)
        hale_diag_set(reterr, "%s.max_tokens: expected 1 to 1000000, got %lld", path,
                      (long long)in.max_tokens);
    else if (!(in.in >= 0 && in.in < 1e6) || !(in.out >= 0 && in.out < 1e6))
        hale_diag_set(reterr, "%s: prices must be 0 or more USD per 1000 tokens", path);
    else
        goto ok;
    return HALE_ECONFIG;
ok:
    g->name = dup_opt(in.name, &r);
    g->kind = dup_opt(in.kind, &r);
    g->base_url = dup_opt(in.base_url, &r);
    g->model = dup_opt(in.model, &r);
    g->api_key_env = dup_opt(in.api_key_env, &r);
    g->api_key_file = dup_opt(in.api_key_file, &r);
    g->timeout_ms = (uint64_t)in.timeout_ms;
    g->max_tokens = (uint64_t)in.max_tokens;
    g->usd_per_1k_in = in.in;
    g->usd_per_1k_out = in.out;
    return r;
}

struct llm_in {
    json_t *gateways;
    int64_t max_in_flight, retries, backoff_base_ms, backoff_max_ms, breaker_failures,
        breaker_open_ms, incident_max_tokens, day_max_tokens, cache_ttl_ms;
    double incident_max_usd, day_max_usd;
};

/* "key 'llm': NAME: expected lo to hi" unless lo <= v <= hi. */
static bool in_range(int64_t v, int64_t lo, int64_t hi, const char *name, hale_diag *reterr)
{
    if (v >= lo && v <= hi)
        return true;
    hale_diag_set(reterr, "key 'llm': %s: expected %lld to %lld, got %lld", name, (long long)lo,
                  (long long)hi, (long long)v);
    return false;
}

static int read_llm(hale_config *c, const json_t *v, hale_diag *reterr)
{
#define F(n, t)                                                                                    \
    {                                                                                              \
#n, t, false, offsetof(struct llm_in, n)                                                   \
    }
    static const hale_json_field fields[] = {
        F(gateways, HALE_JSON_ARRAY),
        F(max_in_flight, HALE_JSON_INT),
        F(retries, HALE_JSON_INT),
        F(backoff_base_ms, HALE_JSON_INT),
        F(backoff_max_ms, HALE_JSON_INT),
        F(breaker_failures, HALE_JSON_INT),
        F(breaker_open_ms, HALE_JSON_INT),
        F(incident_max_tokens, HALE_JSON_INT),
        F(day_max_tokens, HALE_JSON_INT),
        F(cache_ttl_ms, HALE_JSON_INT),
        F(incident_max_usd, HALE_JSON_NUMBER),
        F(day_max_usd, HALE_JSON_NUMBER),
    };
#undef F
    struct llm_in in = {.max_in_flight = 16,
                        .retries = 2,
                        .backoff_base_ms = 500,
                        .backoff_max_ms = 8000,
                        .breaker_failures = 5,
                        .breaker_open_ms = 30000};
    hale_llm_gateway_config *g = NULL;
    size_t n, i;
    int r = 0;

    if (!json_is_object(v) || hale_json_fields(v, fields, HALE_ARRAY_SIZE(fields), HALE_JSON_STRICT,
                                               &in, "key 'llm'", reterr) < 0) {
        if (!json_is_object(v))
            hale_diag_set(reterr, "key 'llm': expected an object, got %s", hale_json_type_name(v));
        return HALE_ECONFIG;
    }
    if (!in_range(in.max_in_flight, 1, 4096, "max_in_flight", reterr) ||
        !in_range(in.retries, 0, 10, "retries", reterr) ||
        !in_range(in.backoff_base_ms, 1, 600000, "backoff_base_ms", reterr) ||
        !in_range(in.backoff_max_ms, in.backoff_base_ms, 600000, "backoff_max_ms", reterr) ||
        !in_range(in.breaker_failures, 1, 1000, "breaker_failures", reterr) ||
        !in_range(in.breaker_open_ms, 1, 86400000, "breaker_open_ms", reterr) ||
        !in_range(in.incident_max_tokens, 0, INT64_MAX, "incident_max_tokens", reterr) ||
        !in_range(in.day_max_tokens, 0, INT64_MAX, "day_max_tokens", reterr) ||
        !in_range(in.cache_ttl_ms, 0, 30LL * 86400000, "cache_ttl_ms", reterr))
        return HALE_ECONFIG;
    if (!(in.incident_max_usd >= 0) || !(in.day_max_usd >= 0)) {
        hale_diag_set(reterr, "key 'llm': budgets in USD must be 0 (no limit) or more");
        return HALE_ECONFIG;
    }
    n = json_array_size(in.gateways);
    if (n > HALE_LLM_CONFIG_MAX_GATEWAYS) {
        hale_diag_set(reterr, "key 'llm': at most %u gateways, got %zu",
                      HALE_LLM_CONFIG_MAX_GATEWAYS, n);
        return HALE_ECONFIG;
    }
    if (n && !(g = calloc(n, sizeof(*g))))
        return -ENOMEM;
    for (i = 0; r == 0 && i < n; i++)
        r = read_gateway(json_array_get(in.gateways, i), i, &g[i], reterr);
    for (i = 0; r == 0 && i < n; i++)
        for (size_t j = 0; r == 0 && j < i; j++)
            if (strcmp(g[i].name, g[j].name) == 0) {
                hale_diag_set(reterr, "key 'llm': gateways[%zu] repeats the name of gateways[%zu]",
                              i, j);
                r = HALE_ECONFIG;
            }
    if (r < 0) {
        gateways_free(g, n);
        return r;
    }
    clear(c);
    c->llm = (hale_llm_config){.gateways = g,
                               .n_gateways = n,
                               .max_in_flight = (uint64_t)in.max_in_flight,
                               .retries = (uint64_t)in.retries,
                               .backoff_base_ms = (uint64_t)in.backoff_base_ms,
                               .backoff_max_ms = (uint64_t)in.backoff_max_ms,
                               .breaker_failures = (uint64_t)in.breaker_failures,
                               .breaker_open_ms = (uint64_t)in.breaker_open_ms,
                               .incident_max_tokens = (uint64_t)in.incident_max_tokens,
                               .incident_max_usd = in.incident_max_usd,
                               .day_max_tokens = (uint64_t)in.day_max_tokens,
                               .day_max_usd = in.day_max_usd,
                               .cache_ttl_ms = (uint64_t)in.cache_ttl_ms};
    return 0;
}

static json_t *gateway_json(const hale_llm_gateway_config *g)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:f,s:f}", "name", g->name, "kind", g->kind,
                          "base_url", g->base_url, "model", g->model, "timeout_ms",
                          (json_int_t)g->timeout_ms, "max_tokens", (json_int_t)g->max_tokens,
                          "usd_per_1k_in", g->usd_per_1k_in, "usd_per_1k_out", g->usd_per_1k_out);

    if (o && g->api_key_env && json_object_set_new(o, "api_key_env", json_string(g->api_key_env)))
        goto fail;
    if (o && g->api_key_file &&
        json_object_set_new(o, "api_key_file", json_string(g->api_key_file)))
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

static json_t *to_json(const hale_config *c)
{
    const hale_llm_config *l = &c->llm;
    json_t *gws = json_array();

    for (size_t i = 0; gws && i < l->n_gateways; i++)
        if (json_array_append_new(gws, gateway_json(&l->gateways[i])) < 0) {
            json_decref(gws);
            return NULL;
        }
    return gws ? json_pack(
                     "{s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:I,s:f,s:I}", "gateways", gws,
                     "max_in_flight", (json_int_t)l->max_in_flight, "retries",
                     (json_int_t)l->retries, "backoff_base_ms", (json_int_t)l->backoff_base_ms,
                     "backoff_max_ms", (json_int_t)l->backoff_max_ms, "breaker_failures",
                     (json_int_t)l->breaker_failures, "breaker_open_ms",
                     (json_int_t)l->breaker_open_ms, "incident_max_tokens",
                     (json_int_t)l->incident_max_tokens, "incident_max_usd", l->incident_max_usd,
                     "day_max_tokens", (json_int_t)l->day_max_tokens, "day_max_usd", l->day_max_usd,
                     "cache_ttl_ms", (json_int_t)l->cache_ttl_ms)
               : NULL;
}

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool equal(const hale_config *a, const hale_config *b)
{
    const hale_llm_config *x = &a->llm, *y = &b->llm;

    if (x->n_gateways != y->n_gateways || x->max_in_flight != y->max_in_flight ||
        x->retries != y->retries || x->backoff_base_ms != y->backoff_base_ms ||
        x->backoff_max_ms != y->backoff_max_ms || x->breaker_failures != y->breaker_failures ||
        x->breaker_open_ms != y->breaker_open_ms ||
        x->incident_max_tokens != y->incident_max_tokens ||
        x->incident_max_usd != y->incident_max_usd || x->day_max_tokens != y->day_max_tokens ||
        x->day_max_usd != y->day_max_usd || x->cache_ttl_ms != y->cache_ttl_ms)
        return false;
    for (size_t i = 0; i < x->n_gateways; i++) {
        const hale_llm_gateway_config *g = &x->gateways[i], *h = &y->gateways[i];

        if (!str_eq(g->name, h->name) || !str_eq(g->kind, h->kind) ||
            !str_eq(g->base_url, h->base_url) || !str_eq(g->model, h->model) ||
            !str_eq(g->api_key_env, h->api_key_env) || !str_eq(g->api_key_file, h->api_key_file) ||
            g->timeout_ms != h->timeout_ms || g->max_tokens != h->max_tokens ||
            g->usd_per_1k_in != h->usd_per_1k_in || g->usd_per_1k_out != h->usd_per_1k_out)
            return false;
    }
    return true;
}

const hale__config_ops hale__config_llm_ops = {
    .set_default = set_default,
    .read = read_llm,
    .clear = clear,
    .to_json = to_json,
    .equal = equal,
};
