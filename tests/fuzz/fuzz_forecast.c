/* tests/fuzz/fuzz_forecast.c - libFuzzer target for the forecasters: the first bytes choose the
 * model, the period and the horizon, the rest are raw doubles (NaN, infinities, huge and
 * subnormal values included). Oracles beyond "no crash, no undefined behaviour": the call fails
 * only with -ENODATA, or it succeeds with finite points and intervals ordered
 * lo95 <= lo80 <= point <= hi80 <= hi95; the trend crossing fails only with -ENODATA, or gives a
 * probability in [0, 1] and lo <= expected_at <= hi. Build and run: see docs/testing.md. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hale/forecast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_H 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    double y[512], point[MAX_H], lo80[MAX_H], hi80[MAX_H], lo95[MAX_H], hi95[MAX_H], *work;
    hale_forecast_out out = {point, lo80, hi80, lo95, hi95};
    hale_forecast_opts o = {0};
    hale_forecast_crossing x;
    size_t n, h, wl;
    int r;

    if (size < 4)
        return 0;
    o.model = (hale_forecast_model)(data[0] % HALE_FORECAST_MODEL_COUNT);
    o.period = data[1] % 40;
    o.max_evals = 40; /* keep each input fast */
    h = 1 + data[2] % MAX_H;
    n = (size - 4) / sizeof(double);
    if (n > 512)
        n = 512;
    memcpy(y, data + 4, n * sizeof(double));
    wl = hale_forecast_work_len(n, h);
    work = malloc(wl * sizeof(double));
    if (!work)
        return 0;
    r = hale_forecast_run(y, n, h, &o, work, wl, &out, NULL, NULL);
    if (r != 0 && r != -ENODATA)
        abort();
    for (size_t i = 0; r == 0 && i < h; i++) {
        if (!isfinite(point[i]) || !isfinite(lo95[i]) || !isfinite(hi95[i]))
            abort();
        if (!(lo95[i] <= lo80[i] && lo80[i] <= point[i] && point[i] <= hi80[i] &&
              hi80[i] <= hi95[i]))
            abort();
    }
    r = hale_forecast_crossing_eval(y, n, (double)(int8_t)data[3], 1.0 + data[2], work, wl, &x);
    if (r != 0 && r != -ENODATA)
        abort();
    if (r == 0 && (!(x.probability >= 0.0 && x.probability <= 1.0) ||
                   !(x.lo <= x.expected_at && x.expected_at <= x.hi)))
        abort();
    free(work);
    return 0;
}
