/* tests/fuzz/fuzz_json.c - differential libFuzzer target for hale's JSON reader
 * (hale_json_parse, agent/util/json_read.c) against jansson's json_loadb with the same rules
 * (JSON_REJECT_DUPLICATES). Oracles: both accept or both refuse, except where hale is
 * deliberately stricter (invalid UTF-8 that jansson lets through is impossible, NUL bytes,
 * nesting beyond HALE_MAX_JSON_DEPTH); when both accept, the values are equal (json_equal:
 * same types, same integers, the same doubles from strtod, same keys and order-free objects).
 * A second oracle for hale_json_dump_compact (agent/util/json_write.c): for every accepted
 * value it writes, its bytes are json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)'s; a third for
 * the audit log's canonical bytes (hale_audit_canonical, the same escaping with every
 * non-ASCII character as \uXXXX): json_dumps with JSON_SORT_KEYS | JSON_ENSURE_ASCII too. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hale/audit.h"
#include "hale/err.h"
#include "hale/limits.h"
#include "util/buf.h"
#include "util/json.h"

static void check_canonical(json_t *v)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    char *got = NULL;
    size_t len = 0;
    int r = hale_audit_canonical(v, &got, &len, NULL);

    if (r == 0 && want && (len != strlen(want) || memcmp(got, want, len) != 0))
        abort();
    if (r < 0 && r != HALE_ESCHEMA && r != HALE_ELIMIT && r != -ENOMEM)
        abort(); /* reals, nesting beyond the log's limit */
    free(got);
    free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Depth of v, counting containers; stops counting past limit. */
static unsigned depth(const json_t *v, unsigned limit)
{
    unsigned best = 0, d;
    const char *k;
    json_t *e;
    size_t i;

    if (limit == 0 || (!json_is_object(v) && !json_is_array(v)))
        return 0;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)(uintptr_t)v, k, e) if ((d = depth(e, limit - 1)) > best)
            best = d;
    } else {
        json_array_foreach(v, i, e) if ((d = depth(e, limit - 1)) > best) best = d;
    }
    return best + 1;
}

static void check_dump(const json_t *v)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    hale_buf b;
    int r;

    hale_buf_init(&b, SIZE_MAX);
    r = hale_json_dump_compact(v, &b);
    if (r == 0 && want && (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0))
        abort();
    if (r < 0 && r != -ENOTSUP && r != -ENOMEM)
        abort();
    hale_buf_release(&b);
    free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_t *ours = NULL, *theirs;
    json_error_t jerr;
    hale_diag d = {{0}};
    int r = hale_json_parse(text, size, &ours, &d);

    if (r < 0 && (r != HALE_EPARSE && r != HALE_EUTF8) && r != -ENOMEM)
        abort();
    if (r < 0 && d.msg[0] == '\0')
        abort();
    theirs = json_loadb(text, size, JSON_REJECT_DUPLICATES, &jerr);
    if (r == 0 && !theirs)
        abort(); /* we accepted what jansson refuses */
    if (r == 0 && !json_equal(ours, theirs))
        abort();
    if (r == 0) {
        check_dump(ours);
        check_canonical(ours);
    }
    if (r < 0 && theirs && r != -ENOMEM && r != HALE_EUTF8 && !memchr(text, '\0', size) &&
        depth(theirs, HALE_MAX_JSON_DEPTH + 2) <= HALE_MAX_JSON_DEPTH)
        abort(); /* we refused what jansson accepts, for no reason of ours */
    json_decref(ours);
    json_decref(theirs);
    return 0;
}
