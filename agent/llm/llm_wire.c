/* agent/llm/llm_wire.c - the two wire formats: OpenAI-compatible Chat Completions and
 * Anthropic Messages (../shared/PROTOCOLS.md section 4). Bodies are built with jansson and
 * answers read field by field; any shape we do not expect is an error, never a guess. */
#include "internal.h"

#include "llm_int.h"
#include "util/json.h"

char *hale__llm_wire_request(hale_llm_kind kind, const char *model, uint32_t max_tokens,
                             const char *system, const char *user, size_t *ret_len)
{
    json_t *o;
    char *s;

    if (kind == HALE_LLM_ANTHROPIC)
        o = json_pack("{s:s,s:I,s:i,s:s,s:[{s:s,s:s}]}", "model", model, "max_tokens",
                      (json_int_t)max_tokens, "temperature", 0, "system", system, "messages",
                      "role", "user", "content", user);
    else
        o = json_pack("{s:s,s:I,s:i,s:[{s:s,s:s},{s:s,s:s}],s:{s:s}}", "model", model, "max_tokens",
                      (json_int_t)max_tokens, "temperature", 0, "messages", "role", "system",
                      "content", system, "role", "user", "content", user, "response_format", "type",
                      "json_object");
    if (!o)
        return NULL;
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s && ret_len)
        *ret_len = strlen(s);
    return s;
}

static uint64_t count(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static int openai_answer(const json_t *doc, hale__llm_answer *a, hale_diag *reterr)
{
    const json_t *choice = json_array_get(json_object_get(doc, "choices"), 0), *msg, *content, *fr,
                 *usage = json_object_get(doc, "usage");

    if (!json_is_object(choice) || !json_is_object(msg = json_object_get(choice, "message"))) {
        hale_diag_set(reterr, "response: expected choices[0].message");
        return HALE_EPARSE;
    }
    content = json_object_get(msg, "content");
    fr = json_object_get(choice, "finish_reason");
    a->truncated = json_is_string(fr) && strcmp(json_string_value(fr), "length") == 0;
    a->tokens_in = count(json_object_get(usage, "prompt_tokens"));
    a->tokens_out = count(json_object_get(usage, "completion_tokens"));
    if (!json_is_string(content)) {
        hale_diag_set(reterr, "response: choices[0].message.content: expected a string, got %s",
                      hale_json_type_name(content));
        return HALE_EPARSE;
    }
    a->len = json_string_length(content);
    if (!(a->text = malloc(a->len + 1)))
        return -ENOMEM;
    memcpy(a->text, json_string_value(content), a->len + 1);
    return 0;
}

static int anthropic_answer(const json_t *doc, hale__llm_answer *a, hale_diag *reterr)
{
    const json_t *content = json_object_get(doc, "content"),
                 *sr = json_object_get(doc, "stop_reason"), *usage = json_object_get(doc, "usage");
    hale_buf text;
    size_t n_text = 0;
    int r = 0;

    if (!json_is_array(content)) {
        hale_diag_set(reterr, "response: expected a content array");
        return HALE_EPARSE;
    }
    a->truncated = json_is_string(sr) && strcmp(json_string_value(sr), "max_tokens") == 0;
    a->tokens_in = count(json_object_get(usage, "input_tokens"));
    a->tokens_out = count(json_object_get(usage, "output_tokens"));
    hale_buf_init(&text, HALE_LLM_MAX_ANSWER_BYTES);
    for (size_t i = 0; r == 0 && i < json_array_size(content); i++) {
        const json_t *b = json_array_get(content, i), *t = json_object_get(b, "text");

        if (!json_is_string(json_object_get(b, "type")) ||
            strcmp(json_string_value(json_object_get(b, "type")), "text") != 0)
            continue;
        if (!json_is_string(t)) {
            hale_diag_set(reterr, "response: content[%zu].text: expected a string", i);
            r = HALE_EPARSE;
        } else {
            r = hale_buf_append(&text, json_string_value(t), json_string_length(t));
            n_text++;
        }
    }
    if (r == 0 && n_text == 0) {
        hale_diag_set(reterr, "response: no text block in content");
        r = HALE_EPARSE;
    }
    if (r == 0 && !(a->text = hale_buf_detach(&text, &a->len)))
        r = -ENOMEM;
    hale_buf_release(&text);
    return r == HALE_ELIMIT ? HALE_EPARSE : r;
}

int hale__llm_wire_answer(hale_llm_kind kind, const char *body, size_t len, hale__llm_answer *ret,
                          hale_diag *reterr)
{
    hale__llm_answer a = {0};
    hale_diag d = {{0}};
    json_t *doc = NULL;
    int r = hale_json_parse(body, len, &doc, &d);

    if (r < 0) {
        hale_diag_set(reterr, "response: not JSON: %s", d.msg);
        return r == -ENOMEM ? r : HALE_EPARSE;
    }
    r = kind == HALE_LLM_ANTHROPIC ? anthropic_answer(doc, &a, reterr)
                                   : openai_answer(doc, &a, reterr);
    json_decref(doc);
    if (r < 0) {
        hale__llm_answer_release(&a);
        return r;
    }
    *ret = a;
    return 0;
}

void hale__llm_answer_release(hale__llm_answer *a)
{
    if (!a)
        return;
    free(a->text);
    memset(a, 0, sizeof(*a));
}

void hale__llm_wire_error(const char *body, size_t len, char *out, size_t out_size)
{
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *m = json_object_get(json_object_get(doc, "error"), "message");
    size_t n;

    if (!json_is_string(m))
        m = json_object_get(doc, "message");
    if (json_is_string(m)) {
        snprintf(out, out_size, "%s", json_string_value(m));
    } else {
        n = len < out_size - 1 ? len : out_size - 1;
        for (size_t i = 0; i < n; i++) /* a proxy's HTML page: printable bytes only */
            out[i] = body[i] >= 0x20 && body[i] < 0x7f ? body[i] : ' ';
        out[n] = '\0';
    }
    json_decref(doc);
}
