/* agent/util/regex.h - pcre2 patterns as hale uses them wherever a file or a person supplies
 * one (tool argument schemas, runbook matchers, policy rules): compiled as UTF with JIT when
 * the platform has it, matched under HALE_PCRE2_MATCH_LIMIT and HALE_PCRE2_DEPTH_LIMIT so
 * that a catastrophic pattern fails instead of hanging. A limit hit is reported, never taken
 * for a match: callers fail closed. Thread-safe: a compiled pattern and a match context may be
 * shared; match data is made per call. */
#pragma once
#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/diag.h"

/* Compile src (UTF, plus pcre2 compile options flags) into *ret, owned by the caller
 * (pcre2_code_free). Returns 0, or HALE_ESCHEMA with "WHERE: invalid regex at offset N: MSG"
 * in reterr (without "WHERE: " when where is NULL). */
int hale_regex_compile(const char *src, uint32_t flags, const char *where, pcre2_code **ret,
                       hale_diag *reterr);

/* A match context with hale's match and depth limits, owned by the caller
 * (pcre2_match_context_free); NULL when out of memory. */
pcre2_match_context *hale_regex_limits_new(void);

/* Whether re matches the len bytes at s with pcre2 match options (PCRE2_ANCHORED ...) under
 * mctx's limits. On an error (a limit hit, no memory) the answer is false and *ret_err gets
 * the pcre2 code (< 0); otherwise *ret_err is 0. ret_err may be NULL. */
bool hale_regex_match(const pcre2_code *re, pcre2_match_context *mctx, const char *s, size_t len,
                      uint32_t options, int *ret_err);
