/* agent/policy/policy_request.c - a proposal as the policy engine sees it: parsed once against
 * a closed schema, with its action digest (what an approval binds to) and the identities the
 * limit counters use. */
#include "internal.h"

#include <sodium.h>

#include "policy/policy_int.h"
#include "util/json.h"
#include "util/strparse.h"
#include "util/timeutil.h"

struct req_in {
    const char *tool;      /* required */
    json_t *args;          /* object */
    json_t *target;        /* {"labels"} */
    json_t *incident;      /* {"id", "severity", "labels"} */
    int64_t confidence_bp; /* 0..10000 */
    const char *source;    /* runbook | kb | local_model | llm | human */
    const char *risk;      /* low | medium | high | critical */
    bool reversible;       /* from the manifest */
    const char *time;      /* RFC 3339 */
    json_t *untrusted;     /* JSON pointers */
};

static const hale_json_field req_table[] = {
    {"tool", HALE_JSON_STRING, true, offsetof(struct req_in, tool)},
    {"args", HALE_JSON_OBJECT, false, offsetof(struct req_in, args)},
    {"target", HALE_JSON_OBJECT, true, offsetof(struct req_in, target)},
    {"incident", HALE_JSON_OBJECT, false, offsetof(struct req_in, incident)},
    {"confidence_bp", HALE_JSON_INT, true, offsetof(struct req_in, confidence_bp)},
    {"source", HALE_JSON_STRING, true, offsetof(struct req_in, source)},
    {"risk", HALE_JSON_STRING, true, offsetof(struct req_in, risk)},
    {"reversible", HALE_JSON_BOOL, false, offsetof(struct req_in, reversible)},
    {"time", HALE_JSON_STRING, false, offsetof(struct req_in, time)},
    {"untrusted", HALE_JSON_STRING_ARRAY, false, offsetof(struct req_in, untrusted)},
};

struct target_in {
    json_t *labels; /* object of strings */
};

static const hale_json_field target_table[] = {
    {"labels", HALE_JSON_STRING_MAP, true, offsetof(struct target_in, labels)},
};

struct incident_in {
    const char *id;       /* incident id */
    const char *severity; /* "critical", ... */
    json_t *labels;       /* object of strings */
};

static const hale_json_field incident_table[] = {
    {"id", HALE_JSON_STRING, false, offsetof(struct incident_in, id)},
    {"severity", HALE_JSON_STRING, false, offsetof(struct incident_in, severity)},
    {"labels", HALE_JSON_STRING_MAP, false, offsetof(struct incident_in, labels)},
};

void hale_policy_request_free(hale_policy_request *r)
{
    if (!r)
        return;
    json_decref(r->root);
    json_decref(r->own_args);
    free(r->untrusted);
    free(r->target_key);
    free(r);
}

static int digest(hale_policy_request *r)
{
    json_t *o = json_object();
    uint8_t h[crypto_hash_sha256_BYTES];
    char *text = NULL;

    if (!o || json_object_set(o, "tool", json_object_get(r->root, "tool")) < 0 ||
        json_object_set(o, "args", r->args) < 0 || json_object_set(o, "target", r->target) < 0 ||
        !(text = hale_json_dump_canonical(o))) {
        json_decref(o);
        return -ENOMEM;
    }
    crypto_hash_sha256(h, (const uint8_t *)text, strlen(text));
    hale_hex_encode(h, sizeof(h), r->digest_hex);
    free(text);
    json_decref(o);
    return 0;
}

static int check_values(hale_policy_request *r, const struct req_in *in, hale_diag *reterr)
{
    int s, k;

    if (in->tool[0] == '\0') {
        hale_diag_set(reterr, "tool: expected a tool name");
        return HALE_ESCHEMA;
    }
    if (in->confidence_bp < 0 || in->confidence_bp > 10000) {
        hale_diag_set(reterr, "confidence_bp: expected an integer from 0 to 10000, got %lld",
                      (long long)in->confidence_bp);
        return HALE_ESCHEMA;
    }
    if ((s = hale__policy_source_parse(in->source)) < 0) {
        hale_diag_set(reterr, "source: expected runbook, kb, local_model, llm or human, got '%s'",
                      in->source);
        return HALE_ESCHEMA;
    }
    if ((k = hale_policy_risk_parse(in->risk)) < 0) {
        hale_diag_set(reterr, "risk: expected low, medium, high or critical, got '%s'", in->risk);
        return HALE_ESCHEMA;
    }
    if (in->time && (hale_rfc3339_parse(in->time, &r->time_ms) < 0 || r->time_ms == 0)) {
        hale_diag_set(reterr, "time: expected an RFC 3339 time, got '%s'", in->time);
        return HALE_ESCHEMA;
    }
    r->confidence_bp = in->confidence_bp;
    r->source = (hale_policy_source)s;
    r->risk = (hale_policy_risk)k;
    r->reversible = in->reversible;
    return 0;
}

static int read_untrusted(hale_policy_request *r, const json_t *list, hale_diag *reterr)
{
    size_t n = json_array_size(list);

    if (n > HALE_MAX_UNTRUSTED) {
        hale_diag_set(reterr, "untrusted: more than %u pointers", HALE_MAX_UNTRUSTED);
        return HALE_ELIMIT;
    }
    if (n == 0)
        return 0;
    if (!(r->untrusted = calloc(n, sizeof(*r->untrusted))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *ptr = json_string_value(json_array_get(list, i));

        if (ptr[0] != '/' && ptr[0] != '\0') {
            hale_diag_set(reterr,
                          "untrusted[%zu]: expected a JSON pointer such as "
                          "\"/args/unit\", got '%s'",
                          i, ptr);
            return HALE_ESCHEMA;
        }
        r->untrusted[r->n_untrusted++] = ptr;
    }
    return 0;
}

static int fill(hale_policy_request *r, hale_diag *reterr)
{
    struct req_in in = {0};
    struct target_in t = {0};
    struct incident_in inc = {0};
    int rc;

    rc = hale_json_fields(r->root, req_table, HALE_ARRAY_SIZE(req_table), HALE_JSON_STRICT, &in, "",
                          reterr);
    if (rc == 0)
        rc = hale_json_fields(in.target, target_table, HALE_ARRAY_SIZE(target_table),
                              HALE_JSON_STRICT, &t, "target", reterr);
    if (rc == 0 && in.incident)
        rc = hale_json_fields(in.incident, incident_table, HALE_ARRAY_SIZE(incident_table),
                              HALE_JSON_STRICT, &inc, "incident", reterr);
    if (rc == 0)
        rc = check_values(r, &in, reterr);
    if (rc == 0 && in.untrusted)
        rc = read_untrusted(r, in.untrusted, reterr);
    if (rc < 0)
        return rc;
    if (!in.args && !(in.args = r->own_args = json_object()))
        return -ENOMEM; /* absent args propose the same action as {} */
    r->tool = in.tool;
    r->args = in.args;
    r->target = in.target;
    r->target_labels = t.labels;
    r->incident_id = inc.id ? inc.id : "";
    r->severity = inc.severity ? inc.severity : "";
    r->incident_labels = inc.labels;
    r->service = json_string_value(json_object_get(t.labels, "service"));
    if (!r->service)
        r->service = "";
    if (!(r->target_key = hale_json_dump_canonical(t.labels)))
        return -ENOMEM;
    return digest(r);
}

int hale_policy_request_from_json(json_t *obj, hale_policy_request **ret, hale_diag *reterr)
{
    hale_policy_request *r = calloc(1, sizeof(*r));
    int rc;

    if (!r)
        return -ENOMEM;
    r->root = json_incref(obj);
    rc = fill(r, reterr);
    if (rc < 0) {
        hale_policy_request_free(r);
        return rc;
    }
    *ret = r;
    return 0;
}

int hale_policy_request_parse(const char *text, size_t len, hale_policy_request **ret,
                              hale_diag *reterr)
{
    json_t *root = NULL;
    int rc;

    if (len > HALE_MAX_REQUEST_BYTES) {
        hale_diag_set(reterr, "request larger than %u bytes", HALE_MAX_REQUEST_BYTES);
        return HALE_ELIMIT;
    }
    rc = hale_json_parse(text, len, &root, reterr);
    if (rc < 0)
        return rc;
    if (!json_is_object(root)) {
        json_decref(root);
        hale_diag_set(reterr, "expected a JSON object");
        return HALE_ESCHEMA;
    }
    rc = hale_policy_request_from_json(root, ret, reterr);
    json_decref(root);
    return rc;
}

const char *hale_policy_request_digest_hex(const hale_policy_request *r)
{
    return r->digest_hex;
}

const char *hale_policy_request_tool(const hale_policy_request *r)
{
    return r->tool;
}

int64_t hale_policy_request_time_ms(const hale_policy_request *r)
{
    return r->time_ms;
}

const char *hale_policy_request_target_key(const hale_policy_request *r)
{
    return r->target_key;
}

const char *hale_policy_request_service(const hale_policy_request *r)
{
    return r->service;
}
