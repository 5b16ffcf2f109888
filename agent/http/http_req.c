/* agent/http/http_req.c - the request accessors of include/hale/http.h. Everything points into
 * the connection's per-request buffers, valid until the request is answered. */
#include "internal.h"

#include "util/strparse.h"

#include <strings.h>

#include "http/http_int.h"

const char *hale_http_req_method(const hale_http_req *req)
{
    return req->method;
}

const char *hale_http_req_path(const hale_http_req *req)
{
    return req->path;
}

const char *hale_http_req_query(const hale_http_req *req)
{
    return req->query;
}

const char *hale_http_req_header(const hale_http_req *req, const char *name)
{
    const struct hale__http_conn *conn = req->conn;
    const char *base = conn->hdr.data;
    unsigned i;

    for (i = 0; i < conn->n_hdrs; i++) {
        if (strcasecmp(base + conn->hdrs[i].name, name) == 0)
            return base + conn->hdrs[i].value;
    }
    return NULL;
}

const char *hale_http_req_body(const hale_http_req *req, size_t *ret_len)
{
    const hale_buf *body = &req->conn->body;

    if (ret_len)
        *ret_len = body->len;
    return body->data ? body->data : "";
}

void hale_http_req_set_label(hale_http_req *req, const char *static_label)
{
    req->label = static_label ? static_label : "none";
}

uint64_t hale_http_req_start_ms(const hale_http_req *req)
{
    return req->start_ms;
}

/* Decode the next character of a form-encoded component ('+' is a space, %XX a byte) and
 * advance *p. Returns the byte, or -EINVAL for a bad escape or an encoded NUL (which would
 * silently truncate the C string handed out). */
static int next_char(const char **p, const char *end)
{
    const char *s = *p;
    int hi, lo;

    if (*s == '+') {
        *p = s + 1;
        return ' ';
    }
    if (*s != '%') {
        *p = s + 1;
        return (unsigned char)*s;
    }
    if (end - s < 3)
        return -EINVAL;
    hi = hale_hex_digit(s[1]);
    lo = hale_hex_digit(s[2]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
        return -EINVAL;
    *p = s + 3;
    return hi * 16 + lo;
}

static bool key_matches(const char *k, const char *end, const char *name)
{
    int c;

    while (k < end) {
        c = next_char(&k, end);
        if (c < 0 || *name == '\0' || (unsigned char)*name != c)
            return false;
        name++;
    }
    return *name == '\0';
}

static int decode_into(const char *v, const char *end, char *out, size_t out_size)
{
    size_t n = 0;
    int c;

    while (v < end) {
        c = next_char(&v, end);
        if (c < 0)
            return c;
        if (n + 1 >= out_size)
            return -ENOSPC;
        out[n++] = (char)c;
    }
    if (out_size == 0)
        return -ENOSPC;
    out[n] = '\0';
    return 0;
}

int hale_http_req_query_param(const hale_http_req *req, const char *name, char *out,
                              size_t out_size)
{
    const char *q = req->query;
    const char *end, *eq;

    while (*q) {
        end = strchr(q, '&');
        if (!end)
            end = q + strlen(q);
        eq = memchr(q, '=', (size_t)(end - q));
        if (key_matches(q, eq ? eq : end, name))
            return decode_into(eq ? eq + 1 : end, end, out, out_size);
        q = *end ? end + 1 : end;
    }
    return -ENOENT;
}
