/* agent/api/api_metrics.c - POST /api/v1/metrics (samples into the series models) and
 * GET /api/v1/forecasts (capacity forecasts and exhaustion predictions). Thin: parse, call one
 * op, format. */
#include "internal.h"

#include "api/api_int.h"
#include "hale/metrics.h"

#define SERIES_PARAM_BYTES 8192u

void hale__api_on_metrics_post(hale_api *api, hale_http_req *req, const char *rest)
{
    hale_sample_set *set = NULL;
    hale_diag diag = {{0}};
    size_t len, accepted = 0, refused = 0;
    const char *body;
    int r;

    (void)rest;
    if (!api->ops.metrics_ingest || !api->ops.metrics_max_samples) {
        (void)hale_http_respond_error(req, 503, "metrics_unavailable", "metrics are not running");
        return;
    }
    if (!hale__api_require_json(req))
        return;
    body = hale_http_req_body(req, &len);
    r = hale_metrics_parse_samples(body, len, api->ops.metrics_max_samples(api->ud),
                                   api->ops.now_ms(api->ud), &set, &diag);
    if (r < 0) {
        hale__api_respond_parse_error(req, r, &diag);
        return;
    }
    r = api->ops.metrics_ingest(api->ud, set, &accepted, &refused);
    if (r < 0) {
        (void)hale_http_respond_error(req, 503, "metrics_error", hale_strerror(r));
        return;
    }
    hale__api_respond_json(req, 200,
                           json_pack("{s:s,s:I,s:I}", "status", "accepted", "samples",
                                     (json_int_t)accepted, "refused", (json_int_t)refused));
}

void hale__api_on_forecasts(hale_api *api, hale_http_req *req, const char *rest)
{
    char *series = NULL;
    json_t *out = NULL;
    int r;

    (void)rest;
    if (!api->ops.forecasts) {
        (void)hale_http_respond_error(req, 503, "metrics_unavailable", "metrics are not running");
        return;
    }
    if (!(series = malloc(SERIES_PARAM_BYTES))) {
        (void)hale_http_respond_error(req, 503, "out_of_memory", "try again later");
        return;
    }
    r = hale_http_req_query_param(req, "series", series, SERIES_PARAM_BYTES);
    if (r < 0 && r != -ENOENT) {
        (void)hale_http_respond_error(req, 400, "invalid_parameter",
                                      "series: expected a series key such as "
                                      "host_disk_used_ratio{fstype=\"ext4\",mount=\"/\"}, "
                                      "percent-encoded");
        free(series);
        return;
    }
    r = api->ops.forecasts(api->ud, r == 0 ? series : NULL, &out);
    free(series);
    if (r == HALE_ENOTFOUND)
        (void)hale_http_respond_error(req, 404, "not_found",
                                      "no series with a history by that key");
    else if (r < 0)
        (void)hale_http_respond_error(req, 503, "metrics_error", hale_strerror(r));
    else
        hale__api_respond_json(req, 200, out);
}
