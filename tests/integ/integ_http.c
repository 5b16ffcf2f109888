/* tests/integ/integ_http.c - the integration tests' HTTP/1.1 client (integ_http.h): blocking
 * sockets with poll() deadlines, Content-Length and chunked bodies, pipelining through a
 * per-connection buffer. Enough HTTP for hale, Prometheus and Alertmanager; nothing more. */
#include "integ_http.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "integ_proc.h"
#include "util/strparse.h"

#define READ_CHUNK     65536u
#define MAX_HEAD_BYTES (64u * 1024u)
#define MAX_BODY_BYTES (64u * 1024u * 1024u)

static int remaining_ms(uint64_t deadline)
{
    uint64_t now = integ_now_ms();

    return now >= deadline ? 0 : (int)(deadline - now);
}

/* Wait for events on fd until deadline. Returns revents, 0 on timeout, or -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int r;

    for (;;) {
        r = poll(&pfd, 1, remaining_ms(deadline));
        if (r > 0)
            return pfd.revents;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

int integ_sock_connect(uint16_t port, unsigned timeout_ms)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct sockaddr_in local;
    socklen_t len = sizeof(local);
    uint64_t deadline = integ_now_ms() + timeout_ms;
    int fd, r, err = 0, one = 1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (r < 0 && errno != EINPROGRESS) {
        err = -errno;
        goto fail;
    }
    if (r < 0) {
        r = wait_fd(fd, POLLOUT, deadline);
        if (r <= 0) {
            err = r == 0 ? -ETIMEDOUT : r;
            goto fail;
        }
        len = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
            err = err ? -err : -errno;
            goto fail;
        }
    }
    /* With nothing listening, a connect to an ephemeral port can meet itself (TCP
     * simultaneous open) and then hold the port the server wants: refuse that. */
    len = sizeof(local);
    if (getsockname(fd, (struct sockaddr *)&local, &len) == 0 && local.sin_port == sa.sin_port) {
        err = -ECONNREFUSED;
        goto fail;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
        err = -errno;
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return err;
}

int integ_sock_send(int fd, const void *data, size_t len, unsigned timeout_ms)
{
    const char *p = data;
    uint64_t deadline = integ_now_ms() + timeout_ms;
    ssize_t n;
    int r;

    while (len > 0) {
        r = wait_fd(fd, POLLOUT, deadline);
        if (r <= 0)
            return r == 0 ? -ETIMEDOUT : r;
        n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void integ_conn_init(integ_conn *c, uint16_t port)
{
    *c = (integ_conn){.fd = -1, .port = port};
}

static void conn_close_fd(integ_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
}

void integ_conn_close(integ_conn *c)
{
    conn_close_fd(c);
    free(c->buf);
    c->buf = NULL;
    c->cap = 0;
}

int integ_conn_connect(integ_conn *c, unsigned timeout_ms)
{
    int fd;

    conn_close_fd(c);
    fd = integ_sock_connect(c->port, timeout_ms);
    if (fd < 0)
        return fd;
    c->fd = fd;
    return 0;
}

int integ_conn_send(integ_conn *c, const void *data, size_t len, unsigned timeout_ms)
{
    if (c->fd < 0)
        return -ENOTCONN;
    return integ_sock_send(c->fd, data, len, timeout_ms);
}

int integ_conn_send_until_reply(integ_conn *c, const void *data, size_t len, unsigned timeout_ms)
{
    const char *p = data;
    uint64_t deadline = integ_now_ms() + timeout_ms;
    ssize_t n;
    int r;

    if (c->fd < 0)
        return -ENOTCONN;
    while (len > 0) {
        r = wait_fd(c->fd, POLLOUT | POLLIN, deadline);
        if (r <= 0)
            return r == 0 ? -ETIMEDOUT : r;
        if (r & POLLIN)
            return 0; /* an answer (or EOF) is waiting: read it */
        n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            r = -errno;
            return wait_fd(c->fd, POLLIN, integ_now_ms() + 1000) > 0 ? 0 : r;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read more bytes into the buffer. Returns bytes read, 0 at EOF, or -errno (-ETIMEDOUT). */
static int fill(integ_conn *c, uint64_t deadline)
{
    ssize_t n;
    int r;

    if (c->fd < 0)
        return -ENOTCONN;
    if (c->cap - c->len < READ_CHUNK) {
        size_t cap = c->cap ? c->cap * 2 : 2 * READ_CHUNK;
        char *p;

        if (cap > MAX_BODY_BYTES + MAX_HEAD_BYTES + READ_CHUNK)
            return -EMSGSIZE;
        p = realloc(c->buf, cap + 1);
        if (!p)
            return -ENOMEM;
        c->buf = p;
        c->cap = cap;
    }
    for (;;) {
        r = wait_fd(c->fd, POLLIN, deadline);
        if (r <= 0)
            return r == 0 ? -ETIMEDOUT : r;
        n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
        if (n >= 0) {
            c->len += (size_t)n;
            return (int)n;
        }
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
    }
}

/* Ensure at least want bytes are buffered. */
static int need(integ_conn *c, size_t want, uint64_t deadline)
{
    int r;

    while (c->len < want) {
        r = fill(c, deadline);
        if (r == 0)
            return -ECONNABORTED;
        if (r < 0)
            return r;
    }
    return 0;
}

static const char *find_crlf2(const char *p, size_t len)
{
    for (size_t i = 0; i + 3 < len; i++)
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
            return p + i;
    return NULL;
}

const char *integ_resp_header(const integ_resp *r, const char *name, char *out, size_t out_size)
{
    size_t n = strlen(name);
    const char *line = r->head ? strstr(r->head, "\r\n") : NULL;

    while (line) {
        const char *end;

        line += 2;
        end = strstr(line, "\r\n");
        if (!end)
            end = line + strlen(line);
        if ((size_t)(end - line) > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;

            while (*v == ' ' || *v == '\t')
                v++;
            snprintf(out, out_size, "%.*s", (int)(end - v), v);
            return out;
        }
        line = *end ? end : NULL;
    }
    return NULL;
}

static int parse_status(const char *head, int *ret)
{
    int status = 0;

    if (strncmp(head, "HTTP/1.", 7) != 0 || head[8] != ' ')
        return -EPROTO;
    for (int i = 9; i < 12; i++) {
        if (head[i] < '0' || head[i] > '9')
            return -EPROTO;
        status = status * 10 + (head[i] - '0');
    }
    *ret = status;
    return 0;
}

static void consume(integ_conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

static int set_body(integ_resp *ret, const char *data, size_t len)
{
    ret->body = malloc(len + 1);
    if (!ret->body)
        return -ENOMEM;
    if (len)
        memcpy(ret->body, data, len);
    ret->body[len] = '\0';
    ret->body_len = len;
    return 0;
}

/* The end of the line that starts at pos, reading more as needed. Returns 0 and *ret_next
 * (the offset after its '\n'), or -errno / -ECONNABORTED. */
static int next_line(integ_conn *c, size_t pos, uint64_t deadline, size_t *ret_next)
{
    const char *eol;
    int r;

    while (!(eol = c->len > pos ? memchr(c->buf + pos, '\n', c->len - pos) : NULL)) {
        r = fill(c, deadline);
        if (r <= 0)
            return r == 0 ? -ECONNABORTED : r;
    }
    *ret_next = (size_t)(eol - c->buf) + 1;
    return 0;
}

/* The hex chunk size at the start of s (extensions after ';' ignored). */
static int chunk_size(const char *s, size_t len, uint64_t *ret)
{
    uint64_t size = 0;

    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        int d = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (d < 0)
            break;
        size = size * 16 + (uint64_t)d;
        if (size > MAX_BODY_BYTES)
            return -EMSGSIZE;
    }
    *ret = size;
    return 0;
}

/* A chunked body at the front of the buffer, decoded into ret->body. */
static int read_chunked(integ_conn *c, uint64_t deadline, integ_resp *ret)
{
    char *body = NULL, *p;
    size_t body_len = 0, pos = 0, next = 0;
    uint64_t size = 0;
    int r;

    for (;;) {
        r = next_line(c, pos, deadline, &next);
        if (r == 0)
            r = chunk_size(c->buf + pos, next - pos, &size);
        if (r < 0)
            goto out;
        pos = next;
        if (size == 0)
            break;
        r = need(c, pos + size + 2, deadline);
        if (r < 0)
            goto out;
        p = realloc(body, body_len + size + 1);
        if (!p) {
            r = -ENOMEM;
            goto out;
        }
        body = p;
        memcpy(body + body_len, c->buf + pos, size);
        body_len += size;
        pos += size + 2;
    }
    /* Trailers (none expected) end with an empty line. */
    do {
        size_t start = pos;

        r = next_line(c, pos, deadline, &next);
        if (r < 0)
            goto out;
        pos = next;
        if (next - start <= 2)
            break;
    } while (true);
    consume(c, pos);
    r = set_body(ret, body ? body : "", body_len);
out:
    free(body);
    return r;
}

/* No length given: the body runs to the end of the connection. */
static int read_to_eof(integ_conn *c, uint64_t deadline, integ_resp *ret)
{
    int r;

    while ((r = fill(c, deadline)) > 0)
        ;
    if (r < 0 && r != -ECONNRESET)
        return r;
    r = set_body(ret, c->buf ? c->buf : "", c->len);
    c->len = 0;
    return r;
}

static int read_body(integ_conn *c, uint64_t deadline, integ_resp *ret)
{
    char v[64];
    uint64_t n;
    int r;

    if (integ_resp_header(ret, "Transfer-Encoding", v, sizeof(v)) && strcasecmp(v, "chunked") == 0)
        return read_chunked(c, deadline, ret);
    if (integ_resp_header(ret, "Content-Length", v, sizeof(v))) {
        if (hale_parse_u64(v, &n) < 0 || n > MAX_BODY_BYTES)
            return -EPROTO;
        r = need(c, (size_t)n, deadline);
        if (r < 0)
            return r;
        r = set_body(ret, c->buf, (size_t)n);
        if (r == 0)
            consume(c, (size_t)n);
        return r;
    }
    if (ret->status == 204 || ret->status == 304 || !ret->close)
        return set_body(ret, "", 0);
    return read_to_eof(c, deadline, ret);
}

int integ_conn_read_response(integ_conn *c, unsigned timeout_ms, integ_resp *ret)
{
    uint64_t deadline = integ_now_ms() + timeout_ms;
    const char *end;
    char v[64];
    size_t head_len;
    int r;

    *ret = (integ_resp){0};
    while (!(end = c->len ? find_crlf2(c->buf, c->len) : NULL)) {
        if (c->len > MAX_HEAD_BYTES)
            return -EPROTO;
        r = fill(c, deadline);
        if (r == 0)
            return -ECONNABORTED;
        if (r < 0)
            return r;
    }
    head_len = (size_t)(end - c->buf);
    ret->head = malloc(head_len + 1);
    if (!ret->head)
        return -ENOMEM;
    memcpy(ret->head, c->buf, head_len);
    ret->head[head_len] = '\0';
    consume(c, head_len + 4);
    r = parse_status(ret->head, &ret->status);
    if (r == 0) {
        ret->close =
            integ_resp_header(ret, "Connection", v, sizeof(v)) && strcasecmp(v, "close") == 0;
        r = read_body(c, deadline, ret);
    }
    if (r < 0) {
        integ_resp_release(ret);
        return r;
    }
    if (ret->close)
        conn_close_fd(c);
    return 0;
}

char *integ_http_format(uint16_t port, const char *method, const char *path,
                        const char *content_type, const char *extra_headers, const char *body,
                        size_t body_len, size_t *ret_len)
{
    size_t cap = strlen(method) + strlen(path) + (content_type ? strlen(content_type) : 0) +
                 (extra_headers ? strlen(extra_headers) : 0) + body_len + 160;
    char *text = malloc(cap);
    int n;

    if (!text)
        return NULL;
    n = snprintf(text, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%s%s%s%s", method, path,
                 (unsigned)port, content_type ? "Content-Type: " : "",
                 content_type ? content_type : "", content_type ? "\r\n" : "",
                 extra_headers ? extra_headers : "");
    if (body)
        n += snprintf(text + n, cap - (size_t)n, "Content-Length: %zu\r\n", body_len);
    n += snprintf(text + n, cap - (size_t)n, "\r\n");
    if (body && body_len)
        memcpy(text + n, body, body_len);
    text[(size_t)n + (body ? body_len : 0)] = '\0';
    *ret_len = (size_t)n + (body ? body_len : 0);
    return text;
}

int integ_conn_request(integ_conn *c, const char *method, const char *path,
                       const char *content_type, const char *body, size_t body_len,
                       unsigned timeout_ms, integ_resp *ret)
{
    uint64_t deadline = integ_now_ms() + timeout_ms;
    size_t len;
    char *text;
    int r;

    *ret = (integ_resp){0};
    if (c->fd < 0) {
        r = integ_conn_connect(c, timeout_ms);
        if (r < 0)
            return r;
    }
    text = integ_http_format(c->port, method, path, content_type, NULL, body, body_len, &len);
    if (!text)
        return -ENOMEM;
    r = integ_conn_send(c, text, len, (unsigned)remaining_ms(deadline));
    free(text);
    if (r == 0)
        r = integ_conn_read_response(c, (unsigned)remaining_ms(deadline), ret);
    if (r < 0)
        conn_close_fd(c);
    return r;
}

bool integ_conn_wait_closed(integ_conn *c, unsigned timeout_ms)
{
    uint64_t deadline = integ_now_ms() + timeout_ms;
    int r;

    if (c->fd < 0)
        return true;
    for (;;) {
        r = fill(c, deadline);
        if (r == 0 || (r < 0 && r != -ETIMEDOUT && r != -EMSGSIZE))
            return true;
        if (r == -ETIMEDOUT || r == -EMSGSIZE)
            return false;
    }
}

int integ_http(uint16_t port, const char *method, const char *path, const char *content_type,
               const char *body, size_t body_len, integ_resp *ret)
{
    integ_conn c;
    int r;

    integ_conn_init(&c, port);
    r = integ_conn_request(&c, method, path, content_type, body, body_len, INTEG_HTTP_TIMEOUT_MS,
                           ret);
    integ_conn_close(&c);
    return r;
}

static int json_answer(int r, integ_resp *resp, json_t **ret)
{
    if (ret)
        *ret = r == 0 ? integ_resp_json(resp) : NULL;
    if (r == 0)
        r = resp->status;
    integ_resp_release(resp);
    return r;
}

int integ_get_json(uint16_t port, const char *path, json_t **ret)
{
    integ_resp resp = {0};
    int r = integ_http(port, "GET", path, NULL, NULL, 0, &resp);

    return json_answer(r, &resp, ret);
}

int integ_post_json(uint16_t port, const char *path, const char *json_text, json_t **ret)
{
    integ_resp resp = {0};
    int r = integ_http(port, "POST", path, "application/json", json_text, strlen(json_text), &resp);

    return json_answer(r, &resp, ret);
}

int integ_get_incident(uint16_t port, long long id, unsigned settle_ms, json_t **ret)
{
    uint64_t deadline = integ_now_ms() + settle_ms;
    char path[64];
    json_t *doc = NULL;
    int r;

    snprintf(path, sizeof(path), "/api/v1/incidents/%lld", id);
    for (;;) {
        r = integ_get_json(port, path, &doc);
        if (r != 200 || !doc ||
            json_array_size(json_object_get(doc, "alerts")) >=
                (size_t)json_integer_value(json_object_get(doc, "alerts_total")) ||
            integ_now_ms() >= deadline)
            break;
        json_decref(doc);
        doc = NULL;
        integ_sleep_ms(20);
    }
    *ret = doc;
    return r;
}

void integ_resp_release(integ_resp *r)
{
    free(r->head);
    free(r->body);
    *r = (integ_resp){0};
}

json_t *integ_resp_json(const integ_resp *r)
{
    if (!r->body || r->body_len == 0)
        return NULL;
    return json_loadb(r->body, r->body_len, JSON_DECODE_ANY, NULL);
}

bool integ_resp_is_error(const integ_resp *r, const char *want_code)
{
    json_t *doc = integ_resp_json(r);
    json_t *err = json_object_get(doc, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    bool ok = json_is_object(doc) && json_object_size(doc) == 1 && json_is_object(err) &&
              json_object_size(err) == 2 && code && *code && msg && *msg &&
              (!want_code || strcmp(code, want_code) == 0);

    json_decref(doc);
    return ok;
}

int integ_metric(const char *text, const char *series, double *ret)
{
    size_t n = strlen(series);
    const char *line = text;

    while (line && *line) {
        const char *end = strchr(line, '\n');

        if (line[0] != '#' && strncmp(line, series, n) == 0 && line[n] == ' ') {
            char *stop;
            double v = strtod(line + n + 1, &stop);

            if (stop != line + n + 1) {
                *ret = v;
                return 0;
            }
        }
        line = end ? end + 1 : NULL;
    }
    return -ENOENT;
}
