/* tests/fakes/fake_witness.c - see fake_witness.h. */
#include "fake_witness.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "hale/http.h"
#include "hale/merkle.h"
#include "hale/note.h"
#include "hale/witness.h"

struct fake_witness {
    char name[128];
    uint8_t sk[64], pk[32];
    uv_loop_t loop;
    uv_async_t stop;
    hale_http_server *srv;
    pthread_t thread;
    pthread_mutex_t mu; /* guards the fields below for readers on other threads */
    char origin[256];   /* the log it follows, "" until the first request */
    uint64_t size;      /* latest cosigned size */
    hale_hash root;     /* and its root */
    unsigned cosigned, refused;
};

static void reply(hale_http_req *req, fake_witness *w, int status, const char *ctype,
                  const char *body)
{
    if (status != 200) {
        pthread_mutex_lock(&w->mu);
        w->refused++;
        pthread_mutex_unlock(&w->mu);
    }
    (void)hale_http_respond(req, status, ctype, body, strlen(body));
}

/* Parse "old N\n", proof lines, "\n", then the note; returns the note or NULL. */
static const char *parse_body(const char *b, uint64_t *old, hale_hash *proof, size_t *n_proof)
{
    char *end;

    if (strncmp(b, "old ", 4) != 0)
        return NULL;
    *old = strtoull(b + 4, &end, 10);
    if (*end != '\n')
        return NULL;
    b = end + 1;
    *n_proof = 0;
    while (*b && *b != '\n') {
        const char *nl = strchr(b, '\n');
        size_t len = 0;

        if (!nl || *n_proof >= 63 ||
            sodium_base642bin(proof[*n_proof].b, 32, b, (size_t)(nl - b), NULL, &len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            len != 32)
            return NULL;
        (*n_proof)++;
        b = nl + 1;
    }
    return *b == '\n' ? b + 1 : NULL;
}

static void handle(hale_http_req *req, void *ud)
{
    fake_witness *w = ud;
    hale_hash proof[64];
    hale_checkpoint cp;
    const char *body = hale_http_req_body(req, NULL), *note, *sigs;
    char line[300], size_text[32], *cosig = NULL;
    uint64_t old = 0;
    size_t n_proof = 0, text_len;
    int status = 200;

    if (strcmp(hale_http_req_path(req), "/add-checkpoint") != 0 ||
        strcmp(hale_http_req_method(req), "POST") != 0) {
        reply(req, w, 404, "text/plain", "not found\n");
        return;
    }
    note = parse_body(body ? body : "", &old, proof, &n_proof);
    sigs = note ? strstr(note, "\n\n") : NULL;
    if (!sigs) {
        reply(req, w, 400, "text/plain", "malformed request\n");
        return;
    }
    text_len = (size_t)(sigs - note) + 1;
    if (hale_checkpoint_parse(note, text_len, &cp, NULL) < 0) {
        reply(req, w, 400, "text/plain", "malformed checkpoint\n");
        return;
    }
    snprintf(line, sizeof(line), "\n\xe2\x80\x94 %s ", cp.origin);
    pthread_mutex_lock(&w->mu);
    if (!w->origin[0])
        snprintf(w->origin, sizeof(w->origin), "%s", cp.origin);
    if (strcmp(w->origin, cp.origin) != 0)
        status = 404;
    else if (!strstr(sigs, line))
        status = 403;
    else if (old > cp.size)
        status = 400;
    else if (old != w->size)
        status = 409;
    else if (old == cp.size && memcmp(cp.root.b, w->root.b, 32) != 0)
        status = 409; /* same size, another root: a fork */
    else if (old > 0 && old < cp.size &&
             hale_merkle_verify_consistency(old, cp.size, &w->root, &cp.root, proof, n_proof) < 0)
        status = 422;
    else if (old == 0 && n_proof > 0)
        status = 400;
    if (status == 200 &&
        hale_cosig_sign(note, text_len, w->name, w->sk, (uint64_t)time(NULL), &cosig) == 0) {
        w->size = cp.size;
        w->root = cp.root;
        w->cosigned++;
    }
    snprintf(size_text, sizeof(size_text), "%" PRIu64 "\n", w->size);
    pthread_mutex_unlock(&w->mu);
    hale_checkpoint_release(&cp);
    if (status == 200 && cosig)
        reply(req, w, 200, "text/plain; charset=utf-8", cosig);
    else if (status == 409 && old != w->size)
        reply(req, w, 409, "text/x.tlog.size", size_text);
    else
        reply(req, w, status == 200 ? 500 : status, "text/plain", "refused\n");
    free(cosig);
}

static void on_stop(uv_async_t *a)
{
    fake_witness *w = a->data;

    hale_http_server_close(w->srv, NULL, NULL);
    uv_close((uv_handle_t *)&w->stop, NULL);
}

static void *run(void *arg)
{
    fake_witness *w = arg;

    (void)uv_run(&w->loop, UV_RUN_DEFAULT);
    return NULL;
}

int fake_witness_start(const char *name, const uint8_t seed[32], fake_witness **ret)
{
    fake_witness *w = calloc(1, sizeof(*w));
    hale_diag d;
    int r;

    if (!w)
        return -ENOMEM;
    snprintf(w->name, sizeof(w->name), "%s", name);
    crypto_sign_seed_keypair(w->pk, w->sk, seed);
    hale_merkle_empty_root(&w->root);
    pthread_mutex_init(&w->mu, NULL);
    r = uv_loop_init(&w->loop);
    if (r == 0)
        r = hale_http_server_new(&w->loop, NULL, handle, w, &w->srv);
    if (r == 0)
        r = hale_http_server_listen(w->srv, "127.0.0.1", 0, &d);
    if (r == 0)
        r = uv_async_init(&w->loop, &w->stop, on_stop);
    w->stop.data = w;
    if (r == 0)
        r = -pthread_create(&w->thread, NULL, run, w);
    if (r < 0) {
        free(w);
        return r;
    }
    *ret = w;
    return 0;
}

uint16_t fake_witness_port(const fake_witness *w)
{
    return hale_http_server_port(w->srv);
}

void fake_witness_pubkey(const fake_witness *w, uint8_t pk[32])
{
    memcpy(pk, w->pk, 32);
}

uint64_t fake_witness_size(fake_witness *w, uint8_t root[32])
{
    uint64_t n;

    pthread_mutex_lock(&w->mu);
    n = w->size;
    if (root)
        memcpy(root, w->root.b, 32);
    pthread_mutex_unlock(&w->mu);
    return n;
}

unsigned fake_witness_cosigned(fake_witness *w)
{
    unsigned n;

    pthread_mutex_lock(&w->mu);
    n = w->cosigned;
    pthread_mutex_unlock(&w->mu);
    return n;
}

unsigned fake_witness_refused(fake_witness *w)
{
    unsigned n;

    pthread_mutex_lock(&w->mu);
    n = w->refused;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void fake_witness_stop(fake_witness *w)
{
    if (!w)
        return;
    uv_async_send(&w->stop);
    pthread_join(w->thread, NULL);
    (void)uv_loop_close(&w->loop);
    pthread_mutex_destroy(&w->mu);
    sodium_memzero(w->sk, sizeof(w->sk));
    free(w);
}
