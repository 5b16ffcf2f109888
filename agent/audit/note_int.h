/* agent/audit/note_int.h - helpers shared by note.c, note_key.c and checkpoint.c (signed notes
 * and checkpoints, include/hale/note.h); no other module includes this. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Check that s (len bytes) is valid UTF-8 with no control character below U+0020 other than
 * '\n', as every signed note must be. Returns 0, HALE_EUTF8 or HALE_EPARSE; on failure
 * *ret_bad_off (may be NULL) is the offset of the first byte at fault. */
int hale__note_check_text(const char *s, size_t len, size_t *ret_bad_off);

/* The 1-based number of the line of s that holds offset off. */
unsigned hale__note_line_of(const char *s, size_t off);

/* Decode len bytes of standard base64 (RFC 4648 section 4, padding required) into out (cap
 * bytes). Only the canonical encoding is accepted: no whitespace, no missing or extra padding,
 * no non-zero unused bits. Returns 0 and sets *ret_len, or HALE_EPARSE (also when the data does
 * not fit in cap). */
int hale__note_b64_decode(const char *b64, size_t len, uint8_t *out, size_t cap, size_t *ret_len);

struct hale_note_signer;

/* Sign len bytes of text with s (Ed25519, RFC 8032) into sig (64 bytes). Lives in note_key.c,
 * next to the secret it reads. */
void hale__note_signer_sign(const struct hale_note_signer *s, const char *text, size_t len,
                            uint8_t sig[64]);
