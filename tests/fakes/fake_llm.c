/* tests/fakes/fake_llm.c - see fake_llm.h. */
#include "fake_llm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <ctype.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define MAX_SCRIPT  512
#define MAX_RECORDS 8192
#define MAX_REQUEST (8u << 20)

const char fake_llm_default_answer[] = "{\"summary\": \"disk full\", \"severity\": \"high\"}";

typedef struct record {
    char *body;          /* request body */
    char *key;           /* key header value or NULL */
    uint64_t arrived_ms; /* monotonic */
} record;

struct fake_llm {
    hale_llm_kind kind;
    int fd; /* listening socket */
    uint16_t port;
    pthread_t acceptor;
    pthread_mutex_t mu;  /* guards everything below */
    pthread_cond_t idle; /* signalled when a connection thread ends */
    atomic_int stop;     /* set by fake_llm_stop */
    unsigned threads;    /* connection threads running */
    fake_llm_step script[MAX_SCRIPT];
    unsigned n_script, next_step;
    fake_llm_step def;
    record rec[MAX_RECORDS];
    unsigned n_rec;
};

typedef struct conn {
    fake_llm *f;
    int fd;
} conn;

/* Case-insensitive strstr (strcasestr is not POSIX). */
static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* Steps hold copies of their strings behind const pointers (the public type is const). */
static void free_owned(const char *p)
{
    char *q;

    memcpy(&q, &p, sizeof(q));
    free(q);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void copy_step(fake_llm_step *dst, const fake_llm_step *src)
{
    free_owned(dst->content);
    free_owned(dst->retry_after);
    *dst = *src;
    dst->content = dup_or_null(src->content);
    dst->retry_after = dup_or_null(src->retry_after);
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Read one request: headers then Content-Length bytes. Returns the buffer or NULL. */
static char *read_request(fake_llm *f, int fd, size_t *ret_hdr_len, size_t *ret_body_len)
{
    size_t cap = 65536, len = 0, hdr = 0, want = 0;
    char *buf = malloc(cap + 1);

    while (buf && !f->stop) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t n;

        if (poll(&p, 1, 20) == 0)
            continue; /* an idle keep-alive connection: look at stop again */

        if (len == cap) {
            char *nb;

            if (cap >= MAX_REQUEST || !(nb = realloc(buf, 2 * cap + 1)))
                break;
            buf = nb;
            cap *= 2;
        }
        n = recv(fd, buf + len, cap - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (!hdr) {
            char *end = strstr(buf, "\r\n\r\n");
            const char *cl;

            if (!end)
                continue;
            hdr = (size_t)(end - buf) + 4;
            cl = find_ci(buf, "\r\ncontent-length:");
            want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
        }
        if (hdr && len >= hdr + want) {
            *ret_hdr_len = hdr;
            *ret_body_len = want;
            return buf;
        }
    }
    free(buf);
    return NULL;
}

static char *header_value(const char *req, size_t hdr_len, const char *name)
{
    char pat[64];
    const char *p, *e;

    snprintf(pat, sizeof(pat), "\r\n%s:", name);
    p = find_ci(req, pat);
    if (!p || (size_t)(p - req) >= hdr_len)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    e = strstr(p, "\r\n");
    return e ? strndup(p, (size_t)(e - p)) : NULL;
}

static char *answer_body(const fake_llm *f, const fake_llm_step *s)
{
    const char *content = s->content ? s->content : fake_llm_default_answer;
    json_int_t in = s->tokens_in ? s->tokens_in : 100, out = s->tokens_out ? s->tokens_out : 20;
    bool cut = s->act == FAKE_LLM_TRUNCATED;
    json_t *o;
    char *text;

    if (f->kind == HALE_LLM_ANTHROPIC)
        o = json_pack("{s:s,s:s,s:s,s:s,s:[{s:s,s:s}],s:s,s:n,s:{s:I,s:I}}", "id", "msg_01", "type",
                      "message", "role", "assistant", "model", "fake", "content", "type", "text",
                      "text", content, "stop_reason", cut ? "max_tokens" : "end_turn",
                      "stop_sequence", "usage", "input_tokens", in, "output_tokens", out);
    else
        o = json_pack("{s:s,s:s,s:s,s:[{s:i,s:{s:s,s:s},s:s}],s:{s:I,s:I,s:I}}", "id", "chatcmpl-1",
                      "object", "chat.completion", "model", "fake", "choices", "index", 0,
                      "message", "role", "assistant", "content", content, "finish_reason",
                      cut ? "length" : "stop", "usage", "prompt_tokens", in, "completion_tokens",
                      out, "total_tokens", in + out);
    text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

/* A model that, told to answer in JSON, asks to run a command instead: each format's shape. */
static const char tool_call_openai[] =
    "{\"id\":\"chatcmpl-2\",\"object\":\"chat.completion\",\"model\":\"fake\",\"choices\":[{"
    "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
    "\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"run_shell\",\"arguments\":"
    "\"{\\\"cmd\\\":\\\"rm -rf /\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}],\"usage\":{"
    "\"prompt_tokens\":100,\"completion_tokens\":20,\"total_tokens\":120}}";
static const char tool_call_anthropic[] =
    "{\"id\":\"msg_02\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"fake\","
    "\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"run_shell\",\"input\":{"
    "\"cmd\":\"rm -rf /\"}}],\"stop_reason\":\"tool_use\",\"stop_sequence\":null,\"usage\":{"
    "\"input_tokens\":100,\"output_tokens\":20}}";

static void respond(int fd, int status, const char *extra, const char *body)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: "
                     "%zu\r\n%s\r\n",
                     status, strlen(body), extra);

    send_all(fd, head, (size_t)n);
    send_all(fd, body, strlen(body));
}

static void act(fake_llm *f, int fd, const fake_llm_step *s)
{
    char extra[128] = "", *body;

    for (unsigned waited = 0; waited < s->delay_ms && !f->stop; waited += 5) {
        struct timespec ts = {0, 5 * 1000000L};

        nanosleep(&ts, NULL);
    }
    switch (s->act) {
    case FAKE_LLM_ANSWER:
    case FAKE_LLM_TRUNCATED:
        body = answer_body(f, s);
        respond(fd, 200, "", body ? body : "{}");
        free(body);
        break;
    case FAKE_LLM_MALFORMED:
        respond(fd, 200, "", "{\"choices\": [{\"message\": ");
        break;
    case FAKE_LLM_TOOL_CALL:
        respond(fd, 200, "",
                f->kind == HALE_LLM_ANTHROPIC ? tool_call_anthropic : tool_call_openai);
        break;
    case FAKE_LLM_STATUS:
        if (s->retry_after)
            snprintf(extra, sizeof(extra), "Retry-After: %s\r\n", s->retry_after);
        respond(fd, s->status, extra,
                f->kind == HALE_LLM_ANTHROPIC
                    ? "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
                      "\"Overloaded\"}}"
                    : "{\"error\":{\"message\":\"scripted failure\",\"type\":\"server_error\","
                      "\"code\":null}}");
        break;
    case FAKE_LLM_RESET: {
        struct linger lg = {1, 0};

        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        break;
    }
    }
}

static void *conn_main(void *arg)
{
    conn *cn = arg;
    fake_llm *f = cn->f;
    size_t hdr = 0, blen = 0;
    char *req;

    /* Keep-alive, as real gateways do: one request after another until the client closes. */
    while ((req = read_request(f, cn->fd, &hdr, &blen))) {
        fake_llm_step step = {0};
        bool reset;

        pthread_mutex_lock(&f->mu);
        if (f->n_rec < MAX_RECORDS) {
            record *r = &f->rec[f->n_rec++];

            r->body = strndup(req + hdr, blen);
            r->key = header_value(req, hdr,
                                  f->kind == HALE_LLM_ANTHROPIC ? "x-api-key" : "authorization");
            r->arrived_ms = uv_hrtime() / 1000000u;
        }
        copy_step(&step, f->next_step < f->n_script ? &f->script[f->next_step++] : &f->def);
        pthread_mutex_unlock(&f->mu);
        act(f, cn->fd, &step);
        reset = step.act == FAKE_LLM_RESET;
        free_owned(step.content);
        free_owned(step.retry_after);
        free(req);
        if (reset)
            break;
    }
    close(cn->fd);
    free(cn);
    pthread_mutex_lock(&f->mu);
    f->threads--;
    pthread_cond_signal(&f->idle);
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

static void *accept_main(void *arg)
{
    fake_llm *f = arg;
    pthread_attr_t attr;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    while (!f->stop) {
        struct pollfd p = {f->fd, POLLIN, 0};
        conn *cn;
        pthread_t t;
        int fd;

        if (poll(&p, 1, 20) <= 0)
            continue;
        fd = accept(f->fd, NULL, NULL);
        if (fd < 0)
            continue;
        if (!(cn = malloc(sizeof(*cn)))) {
            close(fd);
            continue;
        }
        cn->f = f;
        cn->fd = fd;
        pthread_mutex_lock(&f->mu);
        f->threads++;
        pthread_mutex_unlock(&f->mu);
        if (pthread_create(&t, &attr, conn_main, cn) != 0) {
            close(fd);
            free(cn);
            pthread_mutex_lock(&f->mu);
            f->threads--;
            pthread_mutex_unlock(&f->mu);
        }
    }
    pthread_attr_destroy(&attr);
    return NULL;
}

int fake_llm_start(hale_llm_kind kind, fake_llm **ret)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    fake_llm *f = calloc(1, sizeof(*f));
    int one = 1;

    if (!f)
        return -ENOMEM;
    f->kind = kind;
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (f->fd < 0 || setsockopt(f->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(f->fd, 1024) < 0 ||
        getsockname(f->fd, (struct sockaddr *)&sa, &sl) < 0) {
        int e = errno;

        if (f->fd >= 0)
            close(f->fd);
        free(f);
        return -e;
    }
    f->port = ntohs(sa.sin_port);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->idle, NULL);
    if (pthread_create(&f->acceptor, NULL, accept_main, f) != 0) {
        close(f->fd);
        free(f);
        return -EAGAIN;
    }
    *ret = f;
    return 0;
}

uint16_t fake_llm_port(const fake_llm *f)
{
    return f->port;
}

void fake_llm_base_url(const fake_llm *f, char *out, size_t out_size)
{
    snprintf(out, out_size, "http://127.0.0.1:%u", f->port);
}

void fake_llm_push(fake_llm *f, const fake_llm_step *s)
{
    pthread_mutex_lock(&f->mu);
    if (f->n_script < MAX_SCRIPT)
        copy_step(&f->script[f->n_script++], s);
    pthread_mutex_unlock(&f->mu);
}

void fake_llm_set_default(fake_llm *f, const fake_llm_step *s)
{
    pthread_mutex_lock(&f->mu);
    copy_step(&f->def, s);
    pthread_mutex_unlock(&f->mu);
}

unsigned fake_llm_requests(fake_llm *f)
{
    unsigned n;

    pthread_mutex_lock(&f->mu);
    n = f->n_rec;
    pthread_mutex_unlock(&f->mu);
    return n;
}

uint64_t fake_llm_request_ms(fake_llm *f, unsigned i)
{
    uint64_t ms;

    pthread_mutex_lock(&f->mu);
    ms = i < f->n_rec ? f->rec[i].arrived_ms : 0;
    pthread_mutex_unlock(&f->mu);
    return ms;
}

char *fake_llm_body(fake_llm *f, unsigned i)
{
    char *s;

    pthread_mutex_lock(&f->mu);
    s = i < f->n_rec ? dup_or_null(f->rec[i].body) : NULL;
    pthread_mutex_unlock(&f->mu);
    return s;
}

char *fake_llm_key(fake_llm *f, unsigned i)
{
    char *s;

    pthread_mutex_lock(&f->mu);
    s = i < f->n_rec ? dup_or_null(f->rec[i].key) : NULL;
    pthread_mutex_unlock(&f->mu);
    return s;
}

/* Every string inside v, depth first, searched for needle. */
static bool json_has(json_t *v, const char *needle)
{
    const char *key;
    json_t *sub;
    size_t i;

    if (json_is_string(v))
        return strstr(json_string_value(v), needle) != NULL;
    if (json_is_array(v)) {
        json_array_foreach(v, i, sub) if (json_has(sub, needle)) return true;
    }
    if (json_is_object(v)) {
        json_object_foreach(v, key,
                            sub) if (strstr(key, needle) || json_has(sub, needle)) return true;
    }
    return false;
}

bool fake_llm_saw(fake_llm *f, const char *needle)
{
    bool seen = false;

    pthread_mutex_lock(&f->mu);
    for (unsigned i = 0; !seen && i < f->n_rec; i++) {
        json_t *doc;

        if (!f->rec[i].body)
            continue;
        seen = strstr(f->rec[i].body, needle) != NULL;
        if (!seen && (doc = json_loads(f->rec[i].body, 0, NULL))) {
            seen = json_has(doc, needle);
            json_decref(doc);
        }
    }
    pthread_mutex_unlock(&f->mu);
    return seen;
}

void fake_llm_stop(fake_llm *f)
{
    if (!f)
        return;
    f->stop = 1;
    pthread_join(f->acceptor, NULL);
    close(f->fd);
    pthread_mutex_lock(&f->mu);
    while (f->threads)
        pthread_cond_wait(&f->idle, &f->mu);
    pthread_mutex_unlock(&f->mu);
    for (unsigned i = 0; i < f->n_rec; i++) {
        free(f->rec[i].body);
        free(f->rec[i].key);
    }
    for (unsigned i = 0; i < f->n_script; i++) {
        free_owned(f->script[i].content);
        free_owned(f->script[i].retry_after);
    }
    free_owned(f->def.content);
    free_owned(f->def.retry_after);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->idle);
    free(f);
}
