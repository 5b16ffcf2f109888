/* include/hale/err.h - the one error currency of hale.
 * Fallible functions return 0 (or a count) on success and a negative value on failure:
 * either -errno for system failures or one of the HALE_E* codes below for domain failures. */
#pragma once

/* X-macro of domain errors, numbered downward from -4000 (libuv's UV_ERRNO_MAP idea). */
#define HALE_ERR_MAP(XX)                                                                           \
    XX(ESCHEMA, -4000, "input does not match the expected schema")                                 \
    XX(ESTORE, -4001, "store operation failed")                                                    \
    XX(ELIMIT, -4002, "a configured limit was exceeded")                                           \
    XX(EPOLICY, -4003, "denied by policy")                                                         \
    XX(EUPSTREAM, -4004, "upstream service failed")                                                \
    XX(EPARSE, -4005, "malformed input")                                                           \
    XX(ESTATE, -4006, "transition not allowed from the current state")                             \
    XX(ENOTFOUND, -4007, "not found")                                                              \
    XX(EUTF8, -4008, "invalid UTF-8")                                                              \
    XX(ECONFIG, -4009, "invalid configuration")                                                    \
    XX(ECLOSING, -4010, "shutting down")                                                           \
    XX(EBUSY, -4011, "resource busy, try again")                                                   \
    XX(EUSAGE, -4012, "invalid command-line usage")                                                \
    XX(EPROOF, -4013, "proof does not verify")

enum hale_err {
#define HALE_ERR_ENUM(name, value, text) HALE_##name = (value),
    HALE_ERR_MAP(HALE_ERR_ENUM)
#undef HALE_ERR_ENUM
};

/* Describe an error code: HALE_E* or -errno. Never returns NULL; the string is static. */
const char *hale_strerror(int err);

/* The symbolic name ("ESCHEMA", "ENOENT", ...) of an error code; static, never NULL. */
const char *hale_errname(int err);
