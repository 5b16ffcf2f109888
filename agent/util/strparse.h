/* agent/util/strparse.h - the only number, duration and size parsers in hale, and the check of
 * Prometheus names.
 * Each parses the whole string (no trailing bytes), writes *ret only on success, and returns
 * 0, -EINVAL (not a number of that form) or -ERANGE (out of range). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int hale_parse_u64(const char *s, uint64_t *ret);
int hale_parse_u32(const char *s, uint32_t *ret);
int hale_parse_i64(const char *s, int64_t *ret);
/* A finite decimal number as Prometheus prints sample values ("0.93", "-1e-3", "12"). */
int hale_parse_double(const char *s, double *ret);
/* Durations: "250ms", "5s", "2m", "1h", "1h30m"; a bare number is seconds. */
int hale_parse_ms(const char *s, uint64_t *ret_ms);
/* Sizes: "512", "64KiB", "1MiB", "2GiB", also "kB"/"MB" (powers of 1000). */
int hale_parse_bytes(const char *s, uint64_t *ret_bytes);
/* "host:port" or "[v6]:port" into host (NUL-terminated, at most host_size) and port. */
int hale_parse_hostport(const char *s, char *host, unsigned host_size, uint16_t *ret_port);
/* The value of one hexadecimal digit (either case), or -1 when c is not one. */
int hale_hex_digit(char c);
/* Lowercase hex of len bytes of data into out, which holds 2 * len + 1 bytes (NUL added). */
void hale_hex_encode(const void *data, size_t len, char *out);

/* A Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, with colon false, label name (no
 * ':'), 1 to HALE_MAX_LABEL_NAME_BYTES bytes. */
bool hale_is_metric_name(const char *s, bool colon);
