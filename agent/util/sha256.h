/* agent/util/sha256.h - SHA-256 (FIPS 180-4) over a few concatenated parts, the hash of every
 * audit leaf and Merkle node. On x86-64 CPUs with the SHA extensions the compression runs on
 * them (several times faster than portable code: it bounds how fast a log is appended and
 * verified); elsewhere libsodium's crypto_hash_sha256 computes it. Both give the same digest,
 * which tests check on random inputs and the FIPS examples. Thread-safe, no allocation. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HALE_SHA256_BYTES 32u

/* One part of the message: len bytes at data (data may be NULL when len is 0). */
typedef struct hale_sha256_part {
    const void *data;
    size_t len;
} hale_sha256_part;

/* SHA-256 of the n parts concatenated, into out. out may alias a part's data. */
void hale_sha256(const hale_sha256_part *parts, size_t n, uint8_t out[HALE_SHA256_BYTES]);

/* Whether the CPU's SHA instructions are used (for benchmarks and logs). */
bool hale_sha256_accelerated(void);

/* For tests: force the portable path (false) or the detected one (true). */
void hale_sha256_allow_acceleration(bool allow);
