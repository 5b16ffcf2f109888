/* tests/fixture.h - what every test includes first: cmocka's prerequisites, cmocka, and helpers
 * for fixture files and temporary directories. */
#pragma once
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Absolute path of tests/fixtures/<rel>; static storage, valid until the next call. */
const char *fixture_path(const char *rel);

/* Read a whole file (NUL-terminated); caller frees. NULL on failure. */
char *fixture_read(const char *path, size_t *ret_len);

/* Write text to path (created or truncated). Returns 0 or -errno. */
int fixture_write(const char *path, const char *text);

/* A new empty directory under $TMPDIR (or /tmp); caller frees the string and may remove the
 * tree with fixture_rmtree(). NULL on failure. */
char *fixture_tmpdir(const char *prefix);

/* rm -rf dir (no symlinks followed). Returns 0 or -errno. */
int fixture_rmtree(const char *dir);

/* One HTTP/1.1 request to 127.0.0.1:port over a new connection (Connection: close).
 * content_type and body may be NULL. On success returns the status code and, when
 * ret_body is non-NULL, the response body (caller frees); -errno on failure. */
int fixture_http(unsigned port, const char *method, const char *path, const char *content_type,
                 const char *body, char **ret_body);

/* The same with extra request header lines (headers: "Name: value\r\n..." or NULL) and, when
 * ret_head is non-NULL, the status line and response headers (caller frees). */
int fixture_http_ex(unsigned port, const char *method, const char *path, const char *headers,
                    const char *content_type, const char *body, char **ret_head, char **ret_body);

/* Fault injection for jansson: from now on, allocation number n (0-based) of every JSON
 * function fails; n < 0 restores plain malloc. fixture_json_allocs() counts the allocations
 * since the last call, so a loop can stop once n is past all of them. */
void fixture_json_fail_at(long n);
long fixture_json_allocs(void);
