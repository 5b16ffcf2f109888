/* agent/cli/cli_daemon.c - commands that change what a running controller does (pause,
 * resume, votes) ask it over its HTTP API instead of writing its store: the controller owns
 * the audit log's writer, and a change it did not make would not be in the log. Which
 * controller: the one holding the lock of the configured data_dir, at the configured listen
 * address; the bearer token comes from --token-file or HALE_TOKEN. */
#include "internal.h"

#include <curl/curl.h>
#include <sodium.h>

#include "cli/cli.h"
#include "cli/cli_daemon.h"
#include "hale/store.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/lockfile.h"
#include "util/strparse.h"

#define MAX_TOKEN_FILE_BYTES 8192u
#define MAX_ANSWER_BYTES     (16u << 20)
#define CALL_TIMEOUT_MS      15000L

/* The first line of text, without surrounding blanks, moved to the front; its length. */
static size_t first_line(char *text)
{
    char *s = text, *e;

    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    e = s + strcspn(s, "\r\n");
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    memmove(text, s, (size_t)(e - s));
    text[e - s] = '\0';
    return (size_t)(e - s);
}

static int read_token(const char *token_file, char **ret)
{
    hale_diag d = {{0}};
    const char *env = getenv("HALE_TOKEN");
    char *t = NULL;
    size_t len;

    if (token_file) {
        if (hale_file_read(token_file, MAX_TOKEN_FILE_BYTES, &t, &len, &d) < 0) {
            fprintf(stderr, "hale: --token-file: %s\n", d.msg);
            return HALE_EXIT_USAGE;
        }
    } else if (env && *env) {
        if (!(t = strdup(env)))
            return HALE_EXIT_FAILURE;
        len = strlen(t);
    } else {
        fprintf(stderr, "hale: this needs a bearer token of the running hale: --token-file FILE "
                        "or the HALE_TOKEN environment variable\n");
        return HALE_EXIT_USAGE;
    }
    if (first_line(t) == 0) {
        sodium_memzero(t, len);
        free(t);
        fprintf(stderr, "hale: the token is empty\n");
        return HALE_EXIT_USAGE;
    }
    *ret = t;
    return 0;
}

/* The base URL of the controller that listens on listen. */
static int base_url(const char *listen, char *out, size_t size)
{
    char host[256];
    uint16_t port;

    if (hale_parse_hostport(listen, host, sizeof(host), &port) < 0 || port == 0) {
        fprintf(stderr, "hale: listen '%s' names no port to reach the running hale at\n", listen);
        return HALE_EXIT_USAGE;
    }
    if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "127.0.0.1");
    else if (strcmp(host, "::") == 0)
        snprintf(host, sizeof(host), "::1");
    snprintf(out, size, strchr(host, ':') ? "http://[%s]:%u" : "http://%s:%u", host,
             (unsigned)port);
    return 0;
}

static int daemon_open(const char *config, const char *token_file, const char *what, bool reader,
                       hale_cli_daemon *ret)
{
    hale_cli_daemon d = {0};
    hale_config *cfg = NULL;
    char lock[4200];
    pid_t pid = 0;
    int r;

    if (hale_cli_load_config(config, &cfg, NULL) < 0)
        return HALE_EXIT_USAGE;
    snprintf(lock, sizeof(lock), "%s/hale.lock", cfg->data_dir);
    r = hale_lockfile_holder(lock, &pid);
    if (r == 0) {
        if (reader)
            fprintf(stderr,
                    "hale %s: no hale is running on data_dir '%s'; start it (`hale run`) first: "
                    "only the running controller holds %s\n",
                    what, cfg->data_dir, what);
        else
            fprintf(stderr,
                    "hale %s: no hale is running on data_dir '%s'; start it (`hale run`) first: "
                    "only the running controller records %s in the audit log\n",
                    what, cfg->data_dir, what);
        hale_config_unref(cfg);
        return HALE_EXIT_FAILURE;
    }
    if (r < 0) {
        fprintf(stderr, "hale %s: cannot check '%s': %s\n", what, lock, strerror(-r));
        hale_config_unref(cfg);
        return HALE_EXIT_FAILURE;
    }
    r = base_url(cfg->listen, d.base, sizeof(d.base));
    hale_config_unref(cfg);
    /* A reader goes without a token when none is given: reads are open until tokens exist. */
    if (r == 0 && (!reader || token_file || (getenv("HALE_TOKEN") && *getenv("HALE_TOKEN"))))
        r = read_token(token_file, &d.token);
    if (r != 0)
        return r;
    d.pid = (long)pid;
    *ret = d;
    return 0;
}

int hale_cli_daemon_open(const char *config, const char *token_file, const char *what,
                         hale_cli_daemon *ret)
{
    return daemon_open(config, token_file, what, false, ret);
}

int hale_cli_daemon_open_reader(const char *config, const char *token_file, const char *what,
                                hale_cli_daemon *ret)
{
    return daemon_open(config, token_file, what, true, ret);
}

void hale_cli_daemon_release(hale_cli_daemon *d)
{
    if (d->token) {
        sodium_memzero(d->token, strlen(d->token));
        free(d->token);
        d->token = NULL;
    }
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    return hale_buf_append(ud, p, size * n) < 0 ? 0 : size * n;
}

int hale_cli_daemon_call(hale_cli_daemon *d, const char *method, const char *path,
                         const json_t *body, long *ret_status, json_t **ret_answer)
{
    struct curl_slist *hdrs = NULL;
    char url[700], *auth = NULL, *text = NULL;
    size_t auth_len = (d->token ? strlen(d->token) : 0) + 32;
    long status = 0;
    hale_buf b;
    CURL *c;
    CURLcode cc;
    int r = HALE_EXIT_FAILURE;

    snprintf(url, sizeof(url), "%s%s", d->base, path);
    hale_buf_init(&b, MAX_ANSWER_BYTES);
    c = curl_easy_init();
    auth = malloc(auth_len);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (!c || !auth || (body && !text))
        goto out;
    if (d->token)
        snprintf(auth, auth_len, "Authorization: Bearer %s", d->token);
    else
        snprintf(auth, auth_len, "Accept: application/json");
    hdrs = curl_slist_append(NULL, auth);
    if (hdrs && body)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    if (!hdrs)
        goto out;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (text) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, CALL_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        fprintf(stderr, "hale: cannot reach the running hale (pid %ld) at %s: %s\n", d->pid,
                d->base, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    *ret_answer = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
    *ret_status = status;
    r = 0;
out:
    curl_slist_free_all(hdrs);
    if (auth) {
        sodium_memzero(auth, strlen(auth));
        free(auth);
    }
    free(text);
    if (c)
        curl_easy_cleanup(c);
    hale_buf_release(&b);
    return r;
}

const char *hale_cli_daemon_error(const json_t *answer)
{
    const char *m = json_string_value(json_object_get(json_object_get(answer, "error"), "message"));

    return m ? m : "no reason given";
}
