/* agent/net/curl_uv.c - curl's multi-socket API on a libuv loop (agent/net/curl_uv.h). */
#include "internal.h"

#include "net/curl_uv.h"

struct sock {
    uv_poll_t poll;   /* first member: the handle's address is the struct's */
    curl_socket_t fd; /* the socket it watches */
    hale_curl_uv *cu; /* owner */
};

static void on_closed(uv_handle_t *h)
{
    hale_curl_uv *cu = h->data;

    if (h != (uv_handle_t *)&cu->timer)
        free(h); /* a struct sock */
    cu->open--;
    cu->closed(cu);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct sock *s = (struct sock *)h;
    int flags = status < 0 ? CURL_CSELECT_ERR : 0, running;

    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(s->cu->multi, s->fd, flags, &running);
    s->cu->progress(s->cu);
}

static void on_timeout(uv_timer_t *t)
{
    hale_curl_uv *cu = t->data;
    int running;

    curl_multi_socket_action(cu->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    cu->progress(cu);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    hale_curl_uv *cu = userp;

    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&cu->timer);
    else /* 0 means "now": the callback runs on the next loop turn, never re-entrantly */
        uv_timer_start(&cu->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    hale_curl_uv *cu = userp;
    struct sock *s = socketp;
    int events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            curl_multi_assign(cu->multi, fd, NULL);
            uv_close((uv_handle_t *)&s->poll, on_closed);
        }
        return 0;
    }
    if (!s) {
        if (!(s = calloc(1, sizeof(*s))))
            return -1;
        if (uv_poll_init_socket(cu->loop, &s->poll, fd) < 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->cu = cu;
        s->poll.data = cu;
        cu->open++;
        curl_multi_assign(cu->multi, fd, s);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

int hale_curl_uv_init(hale_curl_uv *cu, uv_loop_t *loop, void (*progress)(hale_curl_uv *cu),
                      void (*closed)(hale_curl_uv *cu))
{
    *cu = (hale_curl_uv){.loop = loop, .progress = progress, .closed = closed};
    if (!(cu->multi = curl_multi_init()))
        return -ENOMEM;
    uv_timer_init(loop, &cu->timer);
    cu->timer.data = cu;
    cu->open = 1;
    curl_multi_setopt(cu->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(cu->multi, CURLMOPT_SOCKETDATA, cu);
    curl_multi_setopt(cu->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(cu->multi, CURLMOPT_TIMERDATA, cu);
    return 0;
}

void hale_curl_uv_close(hale_curl_uv *cu)
{
    curl_multi_cleanup(cu->multi);
    cu->multi = NULL;
    uv_timer_stop(&cu->timer);
    uv_close((uv_handle_t *)&cu->timer, on_closed);
}
