/* tests/fuzz/fuzz_manifest.c - libFuzzer target for the tool catalog: arbitrary bytes as one
 * tools/t/manifest.json (first byte even), or as the arguments of a fixed manifest with every
 * argument type and check (first byte odd). Oracles beyond "no crash, no leak, no undefined
 * behaviour": a refused manifest has a domain error and a message naming the file; an accepted
 * one has a 64-hex-digit command digest and a JSON view; accepted arguments give an argv whose
 * every element is "--NAME=VALUE" without control characters or a ".." segment, and the same
 * arguments validate again; refused ones never yield a run. Build and run: docs/testing.md. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog_int.h"
#include "hale/err.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_manifest[] =
    "{\"name\":\"t\",\"description\":\"d\",\"kind\":\"remediation\",\"risk\":\"high\","
    "\"command\":\"run\",\"args\":{\"root\":{\"type\":\"string\",\"pattern\":"
    "\"^/var/(log|tmp)(/[A-Za-z0-9._-]+)*$\",\"max_length\":128},\"days\":{\"type\":\"integer\","
    "\"min\":1,\"max\":30,\"default\":7},\"dry\":{\"type\":\"boolean\",\"default\":false},"
    "\"mode\":{\"type\":\"string\",\"enum\":[\"a\",\"b\"]},\"text\":{\"type\":\"string\"},"
    "\"host\":{\"type\":\"string\",\"pattern\":\"^[a-z.]+$\"}},\"required\":[\"root\"],"
    "\"writable\":[\"{{args.root}}\"],\"network\":{\"connect\":[\"{{args.host}}:80\"]},"
    "\"verify\":{\"metric\":{\"query\":\"x{p=\\\"{{args.root}}\\\"}\",\"op\":\"<\",\"value\":1}},"
    "\"rollback\":{\"tool\":\"t\",\"args\":{\"root\":\"{{args.root}}\",\"days\":"
    "\"{{output.days}}\"}}}";

static char folder[256];

/* The folder goes when the fuzzer exits. */
static void remove_folder(void)
{
    char path[300];

    snprintf(path, sizeof(path), "%s/run", folder);
    (void)unlink(path);
    (void)rmdir(folder);
}

static int make_folder(void)
{
    char path[300];
    FILE *f;

    snprintf(folder, sizeof(folder), "%s/hale-fuzz-manifest-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(folder))
        return -1;
    snprintf(path, sizeof(path), "%s/run", folder);
    if (!(f = fopen(path, "w")))
        return -1;
    fputs("#!/bin/sh\nexit 0\n", f);
    fclose(f);
    (void)atexit(remove_folder);
    return chmod(path, 0755);
}

/* Parse and link root as the only tool of a catalog; *ret gets the tool on success. */
static int parse(json_t *root, struct hale_tool **ret, hale_diag *d)
{
    hale_catalog c = {0};
    struct hale_tool *t = NULL;
    int r = hale__tool_parse("t", folder, "tools/t/manifest.json", root, &t, d);

    if (r < 0)
        return r;
    c.tools = &t;
    c.n_tools = 1;
    if ((r = hale__tool_link(&c, t, d)) < 0) {
        hale__tool_free(t);
        return r;
    }
    *ret = t;
    return 0;
}

static void check_argv(const hale_sandbox_spec *s)
{
    for (size_t i = 0; s->argv[i]; i++) {
        const char *a = s->argv[i];

        if (strncmp(a, "--", 2) != 0 || !strchr(a, '='))
            abort();
        for (const char *p = a; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                abort();
        for (const char *seg = strchr(a, '=') + 1; seg;
             seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL)
            if (strncmp(seg, "..", 2) == 0 && (seg[2] == '/' || seg[2] == '\0'))
                abort(); /* a ".." segment of the value */
    }
}

static void fuzz_args(struct hale_tool *t, const uint8_t *data, size_t size)
{
    hale_tool_run *run = NULL;
    hale_tool_check *k = NULL;
    hale_diag d = {{0}};
    json_t *args = NULL;
    int r;

    if (hale_json_parse((const char *)data, size, &args, &d) < 0)
        return;
    r = hale_tool_prepare(t, args, &run, &d);
    if (r == 0) {
        check_argv(hale_tool_run_spec(run));
        if (hale_tool_validate_args(t, hale_tool_run_args(run), NULL) != 0 ||
            strlen(hale_tool_run_argv_sha256(run)) != 64)
            abort();
        if (hale_tool_check_resolve(NULL, t, HALE_TOOL_VERIFY, args, &k, &d) == 0 && !k)
            abort();
        hale_tool_check_free(k);
    } else if (run || (r != HALE_ESCHEMA && r != -ENOMEM) || !d.msg[0]) {
        abort();
    }
    hale_tool_run_free(run);
    json_decref(args);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct hale_tool *fixed;
    struct hale_tool *t = NULL;
    hale_diag d = {{0}};
    json_t *root = NULL;
    int r;

    if (!folder[0] && make_folder() < 0)
        abort();
    if (!fixed) {
        if (hale_json_parse(fixed_manifest, strlen(fixed_manifest), &root, &d) < 0 ||
            parse(root, &fixed, &d) < 0) {
            fprintf(stderr, "fixed manifest: %s\n", d.msg);
            abort();
        }
        json_decref(root);
        root = NULL;
    }
    if (size < 1)
        return 0;
    if (data[0] & 1) {
        fuzz_args(fixed, data + 1, size - 1);
        return 0;
    }
    if (hale_json_parse((const char *)data + 1, size - 1, &root, &d) < 0 || !json_is_object(root)) {
        json_decref(root);
        return 0;
    }
    r = parse(root, &t, &d);
    if (r < 0 && (r != -ENOMEM && (!strstr(d.msg, "tools/t/manifest.json") || r > -4000)))
        abort();
    if (r == 0) {
        json_t *view = hale_tool_to_json(t);

        if (!view || strlen(hale_tool_sha256_hex(t)) != 64)
            abort();
        json_decref(view);
        hale__tool_free(t);
    }
    json_decref(root);
    return 0;
}
