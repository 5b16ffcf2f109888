/* tests/fuzz/fuzz_metrics.c - libFuzzer target for the metric sample parsers: arbitrary bytes as
 * a POST /api/v1/metrics body, a Prometheus query answer or /proc text (the first byte
 * chooses). Oracles beyond "no crash, no leak, no undefined behaviour": a parse fails with a
 * domain error and a message, or yields samples whose names and sorted, unique labels pass
 * the same checks again and whose series key can be built. Build and run: see
 * docs/testing.md. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hale/err.h"
#include "hale/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_set(const hale_sample_set *set)
{
    hale_sample_set *again = NULL;

    if (hale_sample_set_new(&again) < 0)
        return;
    for (size_t i = 0; i < hale_sample_set_size(set); i++) {
        const hale_sample *s = hale_sample_set_get(set, i);
        char *key = hale_metrics_series_key(s);

        for (size_t j = 1; j < s->n_labels; j++)
            if (strcmp(s->labels[2 * (j - 1)], s->labels[2 * j]) >= 0)
                abort(); /* sorted, unique */
        if (!key || hale_sample_set_add(again, s->name, s->labels, s->n_labels, s->value, s->t_ms,
                                        NULL) != 0)
            abort();
        free(key);
    }
    hale_sample_set_free(again);
}

static void mount_cb(const char *mnt, const char *fstype, void *ud)
{
    (void)ud;
    if (mnt[0] != '/' || !*fstype)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hale_sample_set *set = NULL;
    hale_diag d = {{0}};
    char *text;
    int r;

    if (size < 1)
        return 0;
    text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    switch (data[0] % 3) {
    case 0:
        r = hale_metrics_parse_samples(text, size - 1, 1000, 0, &set, &d);
        if (r < 0 && (!d.msg[0] || set))
            abort();
        if (r == 0)
            check_set(set);
        break;
    case 1:
        if (hale_sample_set_new(&set) < 0)
            break;
        r = hale_metrics_parse_prom(text, size - 1, "q", 1000, set, &d);
        if (r < 0 && r != -ENOMEM && !d.msg[0])
            abort();
        check_set(set);
        break;
    default: {
        hale_host_cpu cpu;
        hale_host_mem mem;
        hale_host_load load;

        (void)hale_host_parse_stat(text, &cpu);
        if (hale_host_parse_meminfo(text, &mem) == 0 && mem.available > mem.total)
            abort();
        (void)hale_host_parse_loadavg(text, &load);
        (void)hale_host_parse_mounts(text, mount_cb, NULL);
        break;
    }
    }
    hale_sample_set_free(set);
    free(text);
    return 0;
}
