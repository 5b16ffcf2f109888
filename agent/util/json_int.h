/* agent/util/json_int.h - private to agent/util/json*.c. */
#pragma once
#include <jansson.h>
#include <stddef.h>

#include "hale/diag.h"

/* Parse text (valid UTF-8 without NUL bytes: the caller checked) whose top level is an object
 * or array, nested at most max_depth deep, rejecting duplicate keys and \u0000. Returns 0 and
 * *ret (a new reference), HALE_EPARSE with the byte offset of the fault in *ret_fault and the
 * reason in reterr, or -ENOMEM. */
int hale__json_read(const char *text, size_t len, unsigned max_depth, json_t **ret,
                    size_t *ret_fault, hale_diag *reterr);
