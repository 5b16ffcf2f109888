/* tests/fixture.c - fixture files and temporary directories for the tests. */
#define _XOPEN_SOURCE 700
#include "fixture.h"

#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <ftw.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

const char *fixture_path(const char *rel)
{
    static char path[4096];

    snprintf(path, sizeof(path), "%s/%s", HALE_TEST_FIXTURES, rel);
    return path;
}

char *fixture_read(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long size;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    data = malloc((size_t)size + 1);
    if (!data)
        goto out;
    if (fread(data, 1, (size_t)size, f) != (size_t)size) {
        free(data);
        data = NULL;
        goto out;
    }
    data[size] = '\0';
    if (ret_len)
        *ret_len = (size_t)size;
out:
    fclose(f);
    return data;
}

int fixture_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    size_t len = strlen(text);

    if (!f)
        return -errno;
    if (fwrite(text, 1, len, f) != len) {
        fclose(f);
        return -EIO;
    }
    return fclose(f) == 0 ? 0 : -errno;
}

char *fixture_tmpdir(const char *prefix)
{
    const char *base = getenv("TMPDIR");
    char templ[4096];

    snprintf(templ, sizeof(templ), "%s/%s-XXXXXX", base && *base ? base : "/tmp", prefix);
    if (!mkdtemp(templ))
        return NULL;
    return strdup(templ);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path) == 0 ? 0 : -errno;
}

int fixture_rmtree(const char *dir)
{
    return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -errno;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int fixture_http(unsigned port, const char *method, const char *path, const char *content_type,
                 const char *body, char **ret_body)
{
    return fixture_http_ex(port, method, path, NULL, content_type, body, NULL, ret_body);
}

int fixture_http_ex(unsigned port, const char *method, const char *path, const char *headers,
                    const char *content_type, const char *body, char **ret_head, char **ret_body)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char head[8192], *resp = NULL, *p;
    size_t len = 0, cap = 0;
    int fd, r, status = -EPROTO;

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    snprintf(head, sizeof(head),
             "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s%s%s"
             "Content-Length: %zu\r\n\r\n",
             method, path, headers ? headers : "", content_type ? "Content-Type: " : "",
             content_type ? content_type : "", content_type ? "\r\n" : "", body ? strlen(body) : 0);
    r = send_all(fd, head, strlen(head));
    if (r == 0 && body)
        r = send_all(fd, body, strlen(body));
    for (;;) {
        ssize_t n;

        if (r < 0)
            break;
        if (len + 4096 + 1 > cap) {
            char *grown = realloc(resp, cap = cap * 2 + 8192);
            if (!grown) {
                r = -ENOMEM;
                break;
            }
            resp = grown;
        }
        n = recv(fd, resp + len, cap - len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (r == 0 && resp) {
        resp[len] = '\0';
        if (strncmp(resp, "HTTP/1.1 ", 9) == 0)
            status = (int)strtol(resp + 9, NULL, 10);
        p = strstr(resp, "\r\n\r\n");
        if (ret_body)
            *ret_body = strdup(p ? p + 4 : "");
        if (ret_head)
            *ret_head = strndup(resp, p ? (size_t)(p - resp) + 2 : len);
    }
    free(resp);
    return r < 0 ? r : status;
}

static long json_fail_at = -1; /* index of the JSON allocation to fail, -1: none */
static long json_allocs;       /* JSON allocations since fixture_json_fail_at() */

static void *json_failing_malloc(size_t n)
{
    if (json_fail_at >= 0 && json_allocs++ == json_fail_at)
        return NULL;
    return malloc(n);
}

void fixture_json_fail_at(long n)
{
    json_fail_at = n;
    json_allocs = 0;
    if (n < 0)
        json_set_alloc_funcs(malloc, free);
    else
        json_set_alloc_funcs(json_failing_malloc, free);
}

long fixture_json_allocs(void)
{
    return json_allocs;
}
