/* tests/integ/integ_tools.h - run a shipped tool (tools/NAME/NAME) the way hale does: argv[0]
 * its absolute path, then one --NAME=VALUE per argument sorted by NAME, no shell; and read
 * the tool protocol's result, the JSON object on the last line of stdout. */
#pragma once
#include <jansson.h>
#include <stddef.h>

/* Absolute path of tools/name/name in the source tree, into out; returns out. */
const char *integ_tool_path(const char *name, char *out, size_t out_size);

/* The last line of out as a JSON object (new reference), NULL when it is not one. */
json_t *integ_tool_result(const char *out);

/* Run tool name with args ("--NAME=VALUE" strings, NULL-terminated, any order: sorted here)
 * to completion, at most timeout_ms. *ret_result (may be NULL) gets the result object or NULL,
 * *ret_out and *ret_err (each may be NULL) the whole stdout and stderr (caller frees). Returns
 * the exit code as integ_run() does. */
int integ_tool_run(const char *work_dir, const char *name, const char *const *args,
                   unsigned timeout_ms, json_t **ret_result, char **ret_out, char **ret_err);
