/* evals/bench_http_server.c - hale's HTTP server layer alone, for comparison with
 * bench_baseline_server: every request is answered 200 with the same tiny JSON body from the
 * handler at once (no routing, no store). With --parse the handler first parses the body as an
 * Alertmanager webhook (hale_ingest_parse_alertmanager) and answers 400 when that fails: the
 * ceiling of any intake that reads JSON in-process. Usage: bench_http_server PORT [--parse]
 * (127.0.0.1; SIGINT or SIGTERM drains and stops it). Prints the responses counted by the
 * observer at exit. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "hale/http.h"
#include "hale/ingest.h"

static uv_signal_t sigint, sigterm;
static hale_http_server *server;
static unsigned long long responses, non_2xx;
static int parse_bodies;

static void handler(hale_http_req *req, void *ud)
{
    static const char body[] = "{\"status\":\"ok\"}";
    hale_ingest_batch *batch = NULL;
    hale_diag diag;
    const char *in;
    size_t len;

    (void)ud;
    hale_http_req_set_label(req, "bench");
    if (parse_bodies) {
        in = hale_http_req_body(req, &len);
        if (hale_ingest_parse_alertmanager(in, len, &batch, &diag) < 0) {
            hale_http_respond_error(req, 400, "invalid_payload", diag.msg);
            return;
        }
        hale_ingest_batch_free(batch);
    }
    hale_http_respond(req, 200, "application/json", body, sizeof(body) - 1);
}

static void observer(const char *label, int status, double duration_ms, void *ud)
{
    (void)label;
    (void)duration_ms;
    (void)ud;
    responses++;
    if (status < 200 || status > 299)
        non_2xx++;
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
    hale_http_server_close(server, NULL, NULL);
}

int main(int argc, char **argv)
{
    uv_loop_t *loop = uv_default_loop();
    hale_http_limits lim;
    hale_diag diag;
    long port;
    int r;

    parse_bodies = argc == 3 && strcmp(argv[2], "--parse") == 0;
    if (argc < 2 || argc > 2 + parse_bodies || (port = strtol(argv[1], NULL, 10)) <= 0 ||
        port > 65535) {
        fprintf(stderr, "usage: %s PORT [--parse]\n", argv[0]);
        return 2;
    }
    hale_http_limits_default(&lim);
    r = hale_http_server_new(loop, &lim, handler, NULL, &server);
    if (r < 0) {
        fprintf(stderr, "cannot create the server: out of memory\n");
        return 1;
    }
    hale_http_server_set_observer(server, observer, NULL);
    r = hale_http_server_listen(server, "127.0.0.1", (uint16_t)port, &diag);
    if (r < 0) {
        fprintf(stderr, "%s\n", diag.msg);
        hale_http_server_close(server, NULL, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        return 1;
    }
    uv_signal_init(loop, &sigint);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    fprintf(stderr, "bench_http_server listening on 127.0.0.1:%ld\n", port);
    uv_run(loop, UV_RUN_DEFAULT);
    fprintf(stderr, "responses %llu, non-2xx %llu\n", responses, non_2xx);
    return uv_loop_close(loop) == 0 ? 0 : 1;
}
