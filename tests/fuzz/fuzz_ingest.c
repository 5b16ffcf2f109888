/* tests/fuzz/fuzz_ingest.c - libFuzzer target for the intake parsers: arbitrary bytes as an
 * Alertmanager webhook or a generic event (the first byte chooses). Oracles beyond "no crash,
 * no leak, no undefined behaviour": a parse either fails with a domain error and a message, or
 * yields alerts with a 16-hex-digit fingerprint, a valid status, labels that are an object of
 * strings, and a JSON form that can be produced. Build and run: see docs/testing.md. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hale/err.h"
#include "hale/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_alert(const hale_alert *a)
{
    const char *key;
    json_t *v, *out;

    if (strlen(a->fingerprint) != HALE_FINGERPRINT_LEN ||
        strspn(a->fingerprint, "0123456789abcdef") != HALE_FINGERPRINT_LEN)
        abort();
    if (a->status != HALE_ALERT_FIRING && a->status != HALE_ALERT_RESOLVED)
        abort();
    if (!json_is_object(a->labels) || !json_is_object(a->annotations))
        abort();
    json_object_foreach(a->labels, key, v) if (!json_is_string(v)) abort();
    out = hale_ingest_alert_to_json(a);
    if (!out)
        abort();
    json_decref(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hale_ingest_batch *b = NULL;
    hale_diag diag = {{0}};
    int r;

    if (size < 1)
        return 0;
    if (data[0] & 1)
        r = hale_ingest_parse_event((const char *)data + 1, size - 1, 1795000000000LL, &b, &diag);
    else
        r = hale_ingest_parse_alertmanager((const char *)data + 1, size - 1, &b, &diag);
    if (r < 0) {
        /* Every refusal is a domain error (or out of memory) and says why. */
        if (b || (r != -ENOMEM && diag.msg[0] == '\0') ||
            (r != HALE_EPARSE && r != HALE_EUTF8 && r != HALE_ESCHEMA && r != HALE_ELIMIT &&
             r != -ENOMEM))
            abort();
        return 0;
    }
    for (size_t i = 0; i < b->n_alerts; i++)
        check_alert(&b->alerts[i]);
    hale_ingest_batch_free(b);
    return 0;
}
