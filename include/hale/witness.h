/* include/hale/witness.h - anchoring signed checkpoints with transparency-log witnesses:
 * the c2sp.org/tlog-witness add-checkpoint request, and c2sp.org/tlog-cosignature (v1,
 * Ed25519) lines a witness answers with. A witness keeps the latest checkpoint it cosigned per
 * log and cosigns a new one only with a consistency proof from it, so a log that is truncated,
 * rolled back or forked after a witness saw it can no longer get a cosignature, and a verifier
 * holding the witness's cosigned checkpoint detects it (SECURITY.md 1.9, check 8).
 *
 * Blocking HTTP through libcurl: call from a threadpool thread, never the loop thread. No
 * logging; errors come back with reterr. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "hale/diag.h"
#include "hale/merkle.h"

#define HALE_COSIG_ALG_ED25519 0x04u       /* the key ID type byte of cosignature/v1 */
#define HALE_WITNESS_MAX_REPLY (64u << 10) /* bytes of an answer read, at most */

/* The add-checkpoint body: "old <old_size>\n", one base64 line per proof hash (RFC 6962 proof
 * from old_size to the checkpoint's size; none when old_size is 0), an empty line, then note
 * (a signed checkpoint, as stored). On success *ret is malloc'd and NUL-terminated (caller
 * frees) and *ret_len its length. Returns 0, -EINVAL (more than 63 hashes, or hashes with
 * old_size 0) or -ENOMEM. */
int hale_witness_body(uint64_t old_size, const hale_hash *proof, size_t n_proof, const char *note,
                      char **ret, size_t *ret_len);

/* POST body to url (the witness's submission prefix; "/add-checkpoint" is appended) with a
 * deadline of timeout_ms for the whole exchange. On 200, *ret_cosigs is the answer (note
 * signature lines, malloc'd, NUL-terminated; caller frees) and 0 is returned. On 409 with a
 * text/x.tlog.size answer, *ret_size gets the size the witness last cosigned and HALE_ESTATE is
 * returned: ask again with a proof from that size. Otherwise HALE_EUPSTREAM with reterr naming
 * the status (404 unknown log, 403 signature not trusted, 422 proof rejected, ...) or the
 * transport error, HALE_ELIMIT for an answer over HALE_WITNESS_MAX_REPLY, or -ENOMEM. */
int hale_witness_add_checkpoint(const char *url, const char *body, size_t len, unsigned timeout_ms,
                                char **ret_cosigs, uint64_t *ret_size, hale_diag *reterr);

/* The cosignature/v1 key ID: SHA-256(name || 0x0A || 0x04 || pk)[:4], big-endian. */
uint32_t hale_cosig_key_id(const char *name, const uint8_t pk[32]);

/* The message a cosignature/v1 signs: "cosignature/v1\ntime <timestamp>\n" and the
 * checkpoint text (len bytes, the note's text with its final newline). malloc'd into *ret,
 * length in *ret_len. Returns 0 or -ENOMEM. */
int hale_cosig_message(const char *text, size_t len, uint64_t timestamp, char **ret,
                       size_t *ret_len);

/* Sign text as a cosignature/v1 of witness name with the 64-byte libsodium secret key sk at
 * timestamp. The signature line ("— <name> <base64(key ID || timestamp || signature)>\n") goes
 * into *ret (malloc'd). Returns 0, -EINVAL or -ENOMEM. (Witnesses and tests use it.) */
int hale_cosig_sign(const char *text, size_t len, const char *name, const uint8_t sk[64],
                    uint64_t timestamp, char **ret);

/* Verify one signature line (line_len bytes, with or without its newline) as a cosignature/v1
 * by (name, pk) over the checkpoint text. Returns 0 and *ret_timestamp (may be NULL),
 * HALE_ENOTFOUND when the line is by another key (name or key ID differ: ignore it),
 * HALE_EPARSE for a malformed line, HALE_EPROOF when the signature does not verify. */
int hale_cosig_verify(const char *text, size_t len, const char *line, size_t line_len,
                      const char *name, const uint8_t pk[32], uint64_t *ret_timestamp);
