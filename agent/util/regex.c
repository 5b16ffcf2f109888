/* agent/util/regex.c - pcre2 compile and match with hale's limits (util/regex.h). */
#include "internal.h"

#include "hale/limits.h"
#include "util/regex.h"

int hale_regex_compile(const char *src, uint32_t flags, const char *where, pcre2_code **ret,
                       hale_diag *reterr)
{
    PCRE2_UCHAR msg[160];
    PCRE2_SIZE off = 0;
    pcre2_code *re;
    int code = 0;

    re =
        pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, PCRE2_UTF | flags, &code, &off, NULL);
    if (!re) {
        pcre2_get_error_message(code, msg, sizeof(msg));
        hale_diag_set(reterr, "%s%sinvalid regex at offset %zu: %s", where ? where : "",
                      where ? ": " : "", (size_t)off, (const char *)msg);
        return HALE_ESCHEMA;
    }
    /* JIT when the platform has it (matching then honours the match limit; the depth limit
     * is the interpreter's); without it the interpreter runs the same pattern. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    *ret = re;
    return 0;
}

pcre2_match_context *hale_regex_limits_new(void)
{
    pcre2_match_context *m = pcre2_match_context_create(NULL);

    if (m) {
        (void)pcre2_set_match_limit(m, HALE_PCRE2_MATCH_LIMIT);
        (void)pcre2_set_depth_limit(m, HALE_PCRE2_DEPTH_LIMIT);
    }
    return m;
}

bool hale_regex_match(const pcre2_code *re, pcre2_match_context *mctx, const char *s, size_t len,
                      uint32_t options, int *ret_err)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    int rc = PCRE2_ERROR_NOMEMORY;

    if (md) {
        rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, options, md, mctx);
        pcre2_match_data_free(md);
    }
    if (ret_err)
        *ret_err = rc < 0 && rc != PCRE2_ERROR_NOMATCH ? rc : 0;
    return rc >= 0;
}
