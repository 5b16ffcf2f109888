/* tests/fakes/fake_prom.c - see fake_prom.h. */
#include "fake_prom.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "hale/http.h"

#define MAX_STEPS 16

struct fake_prom {
    uv_loop_t loop;
    uv_async_t stop;
    hale_http_server *srv;
    pthread_t thread;
    pthread_mutex_t mu;              /* guards everything below */
    fake_prom_step steps[MAX_STEPS]; /* bodies owned */
    size_t n_steps;
    unsigned requests;
    char last[4096];
};

/* The request's end=N parameter, in seconds. */
static long long end_of(const char *form)
{
    const char *e = form ? strstr(form, "&end=") : NULL;

    return e ? strtoll(e + 5, NULL, 10) : 0;
}

static void handle(hale_http_req *req, void *ud)
{
    fake_prom *f = ud;
    const char *form = hale_http_req_body(req, NULL);
    fake_prom_step st = {0};
    char *body = NULL;
    size_t len;

    pthread_mutex_lock(&f->mu);
    if (f->n_steps)
        st = f->steps[f->requests < f->n_steps ? f->requests : f->n_steps - 1];
    f->requests++;
    snprintf(f->last, sizeof(f->last), "%s", form ? form : "");
    len = (st.body ? strlen(st.body) : 256) + st.pad_bytes + 1;
    body = malloc(len);
    if (body && st.body) {
        memcpy(body, st.body, strlen(st.body) + 1);
    } else if (body) {
        long long e = end_of(form);

        snprintf(body, len,
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{"
                 "\"metric\":{\"__name__\":\"up\",\"job\":\"fake\"},\"values\":[[%lld,\"1\"],"
                 "[%lld,\"1\"],[%lld,\"1\"]]}]}}",
                 e - 10, e - 5, e);
    }
    pthread_mutex_unlock(&f->mu);
    if (!body) {
        (void)hale_http_respond(req, 500, "text/plain", "oom\n", 4);
        return;
    }
    if (st.pad_bytes) {
        size_t at = strlen(body);

        memset(body + at, ' ', st.pad_bytes);
        body[at + st.pad_bytes] = '\0';
    }
    if (st.delay_ms) /* blocks this fake's loop: one client at a time is all it serves */
        nanosleep(&(struct timespec){st.delay_ms / 1000, (long)(st.delay_ms % 1000) * 1000000},
                  NULL);
    (void)hale_http_respond(req, st.status ? st.status : 200, "application/json", body,
                            strlen(body));
    free(body);
}

static void on_stop(uv_async_t *a)
{
    fake_prom *f = a->data;

    hale_http_server_close(f->srv, NULL, NULL);
    uv_close((uv_handle_t *)&f->stop, NULL);
}

static void *run(void *arg)
{
    fake_prom *f = arg;

    (void)uv_run(&f->loop, UV_RUN_DEFAULT);
    return NULL;
}

int fake_prom_start(fake_prom **ret)
{
    fake_prom *f = calloc(1, sizeof(*f));
    hale_http_limits lim;
    hale_diag d;
    int r;

    if (!f)
        return -ENOMEM;
    pthread_mutex_init(&f->mu, NULL);
    hale_http_limits_default(&lim);
    r = uv_loop_init(&f->loop);
    if (r == 0)
        r = hale_http_server_new(&f->loop, &lim, handle, f, &f->srv);
    if (r == 0)
        r = hale_http_server_listen(f->srv, "127.0.0.1", 0, &d);
    if (r == 0)
        r = uv_async_init(&f->loop, &f->stop, on_stop);
    f->stop.data = f;
    if (r == 0)
        r = -pthread_create(&f->thread, NULL, run, f);
    if (r < 0) {
        free(f);
        return r;
    }
    *ret = f;
    return 0;
}

uint16_t fake_prom_port(const fake_prom *f)
{
    return hale_http_server_port(f->srv);
}

static void clear_steps(fake_prom *f)
{
    for (size_t i = 0; i < f->n_steps; i++)
        free((char *)(uintptr_t)f->steps[i].body);
    f->n_steps = 0;
}

void fake_prom_script(fake_prom *f, const fake_prom_step *steps, size_t n)
{
    pthread_mutex_lock(&f->mu);
    clear_steps(f);
    for (size_t i = 0; i < n && i < MAX_STEPS; i++) {
        f->steps[i] = steps[i];
        f->steps[i].body = steps[i].body ? strdup(steps[i].body) : NULL;
        f->n_steps++;
    }
    f->requests = 0;
    pthread_mutex_unlock(&f->mu);
}

unsigned fake_prom_requests(fake_prom *f)
{
    unsigned n;

    pthread_mutex_lock(&f->mu);
    n = f->requests;
    pthread_mutex_unlock(&f->mu);
    return n;
}

void fake_prom_last_body(fake_prom *f, char *out, size_t size)
{
    pthread_mutex_lock(&f->mu);
    snprintf(out, size, "%s", f->last);
    pthread_mutex_unlock(&f->mu);
}

void fake_prom_stop(fake_prom *f)
{
    if (!f)
        return;
    uv_async_send(&f->stop);
    pthread_join(f->thread, NULL);
    (void)uv_loop_close(&f->loop);
    clear_steps(f);
    pthread_mutex_destroy(&f->mu);
    free(f);
}
