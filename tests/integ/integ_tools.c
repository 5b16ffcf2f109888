/* tests/integ/integ_tools.c - see integ_tools.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integ_proc.h"
#include "integ_tools.h"

#define MAX_TOOL_ARGS 32

const char *integ_tool_path(const char *name, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s/tools/%s/%s", HALE_SOURCE_DIR, name, name);
    return out;
}

json_t *integ_tool_result(const char *out)
{
    size_t len;
    const char *line;
    json_t *j;

    if (!out)
        return NULL;
    len = strlen(out);
    if (len == 0 || out[len - 1] != '\n')
        return NULL; /* the result line ends with a newline like every other */
    len--;
    line = out + len;
    while (line > out && line[-1] != '\n')
        line--;
    j = json_loadb(line, (size_t)(out + len - line), 0, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* By the name between "--" and "=", as hale sorts them. */
static int by_name(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t nx = strcspn(x, "="), ny = strcspn(y, "=");
    int c = strncmp(x, y, nx < ny ? nx : ny);

    return c ? c : (nx > ny) - (nx < ny);
}

int integ_tool_run(const char *work_dir, const char *name, const char *const *args,
                   unsigned timeout_ms, json_t **ret_result, char **ret_out, char **ret_err)
{
    const char *argv[MAX_TOOL_ARGS + 2];
    char path[4096];
    char *out = NULL;
    size_t n = 0;
    int r;

    argv[0] = integ_tool_path(name, path, sizeof(path));
    for (; args && args[n] && n < MAX_TOOL_ARGS; n++)
        argv[n + 1] = args[n];
    argv[n + 1] = NULL;
    qsort(argv + 1, n, sizeof(argv[0]), by_name);
    r = integ_run(work_dir, argv, NULL, timeout_ms, &out, ret_err);
    if (ret_result)
        *ret_result = integ_tool_result(out);
    if (ret_out)
        *ret_out = out;
    else
        free(out);
    return r;
}
