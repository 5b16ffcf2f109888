/* agent/util/sha256.c - SHA-256 with the x86 SHA extensions when the CPU has them, libsodium
 * otherwise (util/sha256.h). */
#include "internal.h"

#include <sodium.h>

#include "util/sha256.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_SHA_NI 1
#include <immintrin.h>
#endif

static bool allow_accel = true;

#ifdef HAVE_SHA_NI

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

/* Compress nblocks 64-byte blocks into state (a..h). The message schedule lives in four
 * registers of four words each; group g handles rounds 4g..4g+3: it feeds words 4g..4g+3 to
 * two double-rounds, finishes words 4g+4..4g+7 (sha256msg2) and starts words 4g+12..
 * (sha256msg1), as the SHA extensions are meant to be used. */
__attribute__((target("sha,sse4.1"))) static void compress_ni(uint32_t state[8],
                                                              const uint8_t *data, size_t nblocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i s0, s1, tmp, msg, abef, cdgh, w[4];

    tmp = _mm_loadu_si128((const __m128i *)&state[0]); /* DCBA */
    s1 = _mm_loadu_si128((const __m128i *)&state[4]);  /* HGFE */
    tmp = _mm_shuffle_epi32(tmp, 0xB1);                /* CDAB */
    s1 = _mm_shuffle_epi32(s1, 0x1B);                  /* EFGH */
    s0 = _mm_alignr_epi8(tmp, s1, 8);                  /* ABEF */
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);               /* CDGH */
    for (; nblocks > 0; nblocks--, data += 64) {
        abef = s0;
        cdgh = s1;
        for (int i = 0; i < 4; i++)
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * i)), bswap);
#pragma GCC unroll 16
        for (int g = 0; g < 16; g++) {
            __m128i cur = w[g & 3];

            msg = _mm_add_epi32(cur, _mm_loadu_si128((const __m128i *)&K[4 * g]));
            s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
            if (g >= 3 && g <= 14) {
                tmp = _mm_alignr_epi8(cur, w[(g + 3) & 3], 4);
                w[(g + 1) & 3] = _mm_add_epi32(w[(g + 1) & 3], tmp);
                w[(g + 1) & 3] = _mm_sha256msg2_epu32(w[(g + 1) & 3], cur);
            }
            msg = _mm_shuffle_epi32(msg, 0x0E);
            s0 = _mm_sha256rnds2_epu32(s0, s1, msg);
            if (g >= 1 && g <= 12)
                w[(g + 3) & 3] = _mm_sha256msg1_epu32(w[(g + 3) & 3], cur);
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
    }
    tmp = _mm_shuffle_epi32(s0, 0x1B);   /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);    /* DCHG */
    s0 = _mm_blend_epi16(tmp, s1, 0xF0); /* DCBA */
    s1 = _mm_alignr_epi8(s1, tmp, 8);    /* ABEF */
    _mm_storeu_si128((__m128i *)&state[0], s0);
    _mm_storeu_si128((__m128i *)&state[4], s1);
}

static bool cpu_has_sha(void)
{
    static int has = -1; /* racing first calls compute the same answer */

    if (has < 0) {
        __builtin_cpu_init();
        has = __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1");
    }
    return has == 1;
}

static void sha256_ni(const hale_sha256_part *parts, size_t n, uint8_t out[32])
{
    uint32_t st[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    uint8_t block[128];
    size_t have = 0;
    uint64_t total = 0;

    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = parts[i].data;
        size_t len = parts[i].len;

        if (len == 0)
            continue; /* data may be NULL */
        total += len;
        if (have > 0) {
            size_t take = 64 - have < len ? 64 - have : len;

            memcpy(block + have, p, take);
            have += take;
            p += take;
            len -= take;
            if (have < 64)
                continue;
            compress_ni(st, block, 1);
            have = 0;
        }
        if (len >= 64) {
            compress_ni(st, p, len / 64);
            p += len & ~(size_t)63;
            len &= 63;
        }
        if (len > 0)
            memcpy(block, p, len);
        have = len;
    }
    /* Padding: 0x80, zeros, the bit length big-endian; one or two blocks. */
    block[have++] = 0x80;
    memset(block + have, 0, sizeof(block) - have);
    have = have <= 56 ? 64 : 128;
    for (int i = 0; i < 8; i++)
        block[have - 1 - i] = (uint8_t)((total * 8) >> (8 * i));
    compress_ni(st, block, have / 64);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(st[i] >> 24);
        out[4 * i + 1] = (uint8_t)(st[i] >> 16);
        out[4 * i + 2] = (uint8_t)(st[i] >> 8);
        out[4 * i + 3] = (uint8_t)st[i];
    }
}
#endif

bool hale_sha256_accelerated(void)
{
#ifdef HAVE_SHA_NI
    return allow_accel && cpu_has_sha();
#else
    return false;
#endif
}

void hale_sha256_allow_acceleration(bool allow)
{
    allow_accel = allow;
}

void hale_sha256(const hale_sha256_part *parts, size_t n, uint8_t out[HALE_SHA256_BYTES])
{
    crypto_hash_sha256_state st;

#ifdef HAVE_SHA_NI
    if (hale_sha256_accelerated()) {
        sha256_ni(parts, n, out);
        return;
    }
#endif
    crypto_hash_sha256_init(&st);
    for (size_t i = 0; i < n; i++)
        if (parts[i].len > 0)
            crypto_hash_sha256_update(&st, parts[i].data, parts[i].len);
    crypto_hash_sha256_final(&st, out);
}
