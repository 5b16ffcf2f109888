/* tests/fuzz/fuzz_detect_snapshot.c - libFuzzer target for the detector snapshot decoder.
 * Arbitrary bytes go to hale_detect_restore. When the first byte is odd, the rest is first
 * given a valid header and checksum, so the fuzzer reaches field validation instead of
 * stopping at the CRC. Oracles beyond "no crash, no leak, no undefined behaviour": a refusal
 * is HALE_EPARSE (or -ENOMEM) with a message; an accepted snapshot re-encodes to the same
 * bytes and the restored detector scores any sample, including NaN and huge values, within
 * [0, 1]. Build and run: see docs/testing.md. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hale/detect.h"
#include "hale/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;

    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void exercise(hale_detect *d)
{
    const double values[] = {0.0, 1.0, -1e149, 1e149, NAN, INFINITY, 42.0};
    size_t cap = hale_detect_snapshot_size();
    uint8_t *a = malloc(cap), *b = malloc(cap);
    hale_detect *again = NULL;

    if (!a || !b)
        abort();
    if (hale_detect_snapshot(d, a, cap) != (int)cap)
        abort();
    if (hale_detect_restore(a, cap, &again, NULL) != 0)
        abort();
    if (hale_detect_snapshot(again, b, cap) != (int)cap || memcmp(a, b, cap) != 0)
        abort();
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        const int64_t ts[] = {INT64_C(1400000000000), INT64_MIN, INT64_MAX, 0};
        double s =
            hale_detect_update(d, ts[i % 4] + (i % 4 == 0 ? (int64_t)i * 60000 : 0), values[i]);

        if (!(s >= 0.0 && s <= 1.0))
            abort();
    }
    hale_detect_free(again);
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t want = hale_detect_snapshot_size();
    hale_diag diag = {{0}};
    hale_detect *d = NULL;
    uint8_t *buf;
    size_t len;
    int r;

    if (size < 1)
        return 0;
    len = size - 1;
    if (data[0] & 1)
        len = want; /* forge the envelope: magic, version, length, checksum */
    buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    memset(buf, 0, len ? len : 1);
    memcpy(buf, data + 1, size - 1 < len ? size - 1 : len);
    if (data[0] & 1) {
        uint32_t c;

        memcpy(buf, "HDET", 4);
        buf[4] = HALE_DETECT_SNAPSHOT_VERSION, buf[5] = buf[6] = buf[7] = 0;
        for (int i = 0; i < 4; i++)
            buf[8 + i] = (uint8_t)(want >> (8 * i));
        c = crc32(buf, want - 4);
        for (int i = 0; i < 4; i++)
            buf[want - 4 + (size_t)i] = (uint8_t)(c >> (8 * i));
    }
    r = hale_detect_restore(buf, len, &d, &diag);
    if (r < 0) {
        if (d || (r != HALE_EPARSE && r != -ENOMEM) || (r == HALE_EPARSE && !diag.msg[0]))
            abort();
    } else {
        exercise(d);
        hale_detect_free(d);
    }
    free(buf);
    return 0;
}
