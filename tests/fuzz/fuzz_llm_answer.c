/* tests/fuzz/fuzz_llm_answer.c - libFuzzer target for what an LLM gateway sends back: the
 * response envelope of both wire formats (hale__llm_wire_answer), the answer parser and
 * validator against the shipped incident_summary@1 schema and a nested one, and the schema
 * compiler itself. The first byte picks the mode; the rest is the input.
 * Oracles beyond "no crash, no leak, no undefined behaviour": a refusal is HALE_EPARSE,
 * HALE_EUTF8 or HALE_ESCHEMA with a message; an accepted answer re-serialises and validates
 * again (validation is a property of the value, not of its spelling); an accepted envelope has
 * text of the stated length without a NUL inside; a compiled schema's canonical text compiles
 * again to the same text. Build and run: see docs/testing.md. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hale/err.h"
#include "hale/llm.h"
#include "llm/llm_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char summary_schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"summary\",\"severity\"],"
    "\"properties\":{\"summary\":{\"type\":\"string\",\"maxLength\":600},\"severity\":{\"type\":"
    "\"string\",\"enum\":[\"low\",\"medium\",\"high\",\"critical\"]}}}";
static const char nested_schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"hypotheses\"],"
    "\"properties\":{\"hypotheses\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
    "\"additionalProperties\":false,\"required\":[\"cause\",\"confidence\"],\"properties\":{"
    "\"cause\":{\"type\":\"string\",\"maxLength\":200},\"confidence\":{\"type\":\"number\"},"
    "\"rank\":{\"type\":\"integer\",\"enum\":[1,2,3]},\"safe\":{\"type\":\"boolean\"}}}}}}";

static hale_llm_schema *schemas[2];

static void check_refusal(int r, const hale_diag *d)
{
    if (r != HALE_EPARSE && r != HALE_EUTF8 && r != HALE_ESCHEMA && r != -ENOMEM)
        abort();
    if (r != -ENOMEM && d->msg[0] == '\0')
        abort();
}

static void answer(const hale_llm_schema *s, const char *text, size_t len)
{
    hale_diag d = {{0}};
    json_t *doc = NULL, *again = NULL;
    char *dump;
    int r = hale_llm_answer_parse(s, text, len, &doc, &d);

    if (r < 0) {
        check_refusal(r, &d);
        return;
    }
    dump = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!dump || hale_llm_answer_parse(s, dump, strlen(dump), &again, &d) != 0 ||
        !json_equal(doc, again))
        abort();
    free(dump);
    json_decref(again);
    json_decref(doc);
}

static void envelope(hale_llm_kind kind, const char *text, size_t len)
{
    hale__llm_answer a = {0};
    hale_diag d = {{0}};
    int r = hale__llm_wire_answer(kind, text, len, &a, &d);

    if (r < 0) {
        check_refusal(r, &d);
        return;
    }
    if (!a.text || strlen(a.text) > a.len)
        abort();
    answer(schemas[0], a.text, a.len);
    hale__llm_answer_release(&a);
}

static void schema(const char *text, size_t len)
{
    hale_llm_schema *s = NULL, *s2 = NULL;
    hale_diag d = {{0}};
    int r = hale_llm_schema_parse(text, len, "fuzz", &s, &d);

    if (r < 0) {
        check_refusal(r, &d);
        return;
    }
    if (hale_llm_schema_parse(hale_llm_schema_text(s), strlen(hale_llm_schema_text(s)), "again",
                              &s2, &d) != 0 ||
        strcmp(hale_llm_schema_text(s), hale_llm_schema_text(s2)) != 0)
        abort();
    hale_llm_schema_free(s2);
    hale_llm_schema_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data + 1;

    if (!schemas[0] &&
        (hale_llm_schema_parse(summary_schema, strlen(summary_schema), "s", &schemas[0], NULL) ||
         hale_llm_schema_parse(nested_schema, strlen(nested_schema), "n", &schemas[1], NULL)))
        abort();
    if (size < 1)
        return 0;
    switch (data[0] % 5) {
    case 0:
        answer(schemas[0], text, size - 1);
        break;
    case 1:
        answer(schemas[1], text, size - 1);
        break;
    case 2:
        envelope(HALE_LLM_OPENAI, text, size - 1);
        break;
    case 3:
        envelope(HALE_LLM_ANTHROPIC, text, size - 1);
        break;
    default:
        schema(text, size - 1);
        break;
    }
    return 0;
}
