/* agent/util/timeutil.h - wall-clock time and RFC 3339 timestamps (records use int64 unix ms;
 * scheduling uses uv_now monotonic ms instead). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Go's zero time "0001-01-01T00:00:00Z", which Alertmanager sends as endsAt of firing alerts. */
#define HALE_TIME_ZERO_MS INT64_C(-62135596800000)

int64_t hale_time_now_ms(void); /* CLOCK_REALTIME in unix ms */

/* Parse RFC 3339 ("2026-11-22T13:08:22.079Z", 0-9 fraction digits, "Z" or "+hh:mm").
 * Fractions below a millisecond are truncated. Returns 0 or -EINVAL; *ret_ms only on success. */
int hale_rfc3339_parse(const char *s, int64_t *ret_ms);

/* Format unix ms as "2026-11-22T13:08:22.079Z" into out (at least 32 bytes). Returns out. */
char *hale_rfc3339_format(int64_t unix_ms, char *out, size_t out_size);
