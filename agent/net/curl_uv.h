/* agent/net/curl_uv.h - curl's multi-socket API driven by a libuv loop: curl says which
 * sockets to watch (one uv_poll each) and when to call it back (one uv_timer); the loop tells
 * curl what became ready. Every outbound HTTP client in hale (the LLM gateways, the Prometheus
 * poller) embeds one, so this plumbing exists once. Loop thread only. */
#pragma once
#include <curl/curl.h>
#include <uv.h>

typedef struct hale_curl_uv hale_curl_uv;

struct hale_curl_uv {
    uv_loop_t *loop;  /* borrowed */
    CURLM *multi;     /* all transfers; NULL once closed */
    uv_timer_t timer; /* curl's timeout */
    unsigned open;    /* our uv handles (the timer and the polls) not yet closed */
    /* After every socket action or timeout: read finished transfers with
     * curl_multi_info_read(cu->multi, ...). */
    void (*progress)(hale_curl_uv *cu);
    /* One of our handles finished closing (cu->open is already one less). Called from
     * uv_close callbacks; after hale_curl_uv_close, cu->open reaching 0 means the owner may
     * free the memory holding cu. */
    void (*closed)(hale_curl_uv *cu);
};

/* Set up cu, embedded in its owner (which finds itself from cu in the callbacks). Returns 0
 * or -ENOMEM (nothing to close then). */
int hale_curl_uv_init(hale_curl_uv *cu, uv_loop_t *loop, void (*progress)(hale_curl_uv *cu),
                      void (*closed)(hale_curl_uv *cu));

/* Clean up the multi (the caller removed its transfers first): curl reports every socket
 * removed and their polls close; then the timer closes. closed() follows each close. */
void hale_curl_uv_close(hale_curl_uv *cu);
