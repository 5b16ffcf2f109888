/* agent/audit/signer_int.h - what the signer's client (signer.c), the child (signer_main.c,
 * signer_sandbox.c), its state file (signer_state.c) and the key files (keyfile.c) share: the
 * wire protocol and internal helpers. No other module includes this.
 *
 * Protocol: one AF_UNIX SOCK_SEQPACKET socketpair, so each frame is one record and a malformed
 * frame cannot desynchronize the next. Every frame starts with an 8-byte header:
 *   u8 version (HALE__SIGNER_PROTO), u8 op, u16 flags (0), u32 payload length (big-endian),
 * and the payload length must equal the record's length minus 8. Integers are big-endian.
 * Requests (client -> child), one reply each, in order:
 *   HEAD                 empty
 *   SIGN, ROTATE_COMMIT  u64 size, 32-byte root, u8 n_proof (<= 64), n_proof * 32 bytes
 *   ROTATE_BEGIN         empty
 * Replies (child -> client) carry the request's op and start with an i32 status:
 *   status < 0           the error code (-errno or HALE_E*), then up to 255 bytes of message
 *   HELLO (unsolicited, once, when the child is ready) u64 size, root, then the vkey text
 *   HEAD                 u64 size, 32-byte root
 *   SIGN, ROTATE_COMMIT  the signed note
 *   ROTATE_BEGIN         the new key's vkey text
 * A request the child cannot parse gets an error reply with op ERROR. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/diag.h"
#include "hale/merkle.h"
#include "hale/note.h"

#define HALE__SIGNER_PROTO     1u
#define HALE__SIGNER_HDR       8u
#define HALE__SIGNER_MAX_FRAME 4096u /* bytes of a record either way, header included */
#define HALE__SIGNER_MAX_MSG   255u  /* bytes of an error message */
#define HALE__SIGNER_FD        3     /* the child's end of the socketpair */

enum hale__signer_op {
    HALE__SIGNER_OP_ERROR = 0, /* reply to a request that could not be parsed */
    HALE__SIGNER_OP_HELLO = 1,
    HALE__SIGNER_OP_HEAD = 2,
    HALE__SIGNER_OP_SIGN = 3,
    HALE__SIGNER_OP_ROTATE_BEGIN = 4,
    HALE__SIGNER_OP_ROTATE_COMMIT = 5,
};

/* A head and the proof that it extends the last one: the body of SIGN and ROTATE_COMMIT. */
typedef struct hale__signer_req {
    uint64_t size;                          /* tree size */
    hale_hash root;                         /* tree head at size */
    unsigned n_proof;                       /* hashes in proof */
    hale_hash proof[HALE_MERKLE_MAX_PROOF]; /* consistency proof from the signer's last head */
} hale__signer_req;

/* ---- framing (signer_proto.c) ---- */

void hale__signer_put_u32(uint8_t *p, uint32_t v);
void hale__signer_put_u64(uint8_t *p, uint64_t v);
uint32_t hale__signer_get_u32(const uint8_t *p);
uint64_t hale__signer_get_u64(const uint8_t *p);

/* Write the header for op and a payload of len bytes into hdr (HALE__SIGNER_HDR bytes). */
void hale__signer_header(uint8_t *hdr, unsigned op, size_t len);

/* Check the header of a record of n bytes. Returns 0 and sets *ret_op; HALE_EPARSE with the
 * reason in reterr otherwise. */
int hale__signer_check_header(const uint8_t *rec, size_t n, unsigned *ret_op, hale_diag *reterr);

/* Encode a SIGN / ROTATE_COMMIT payload into out (cap bytes). Returns its length or -ENOBUFS. */
int hale__signer_req_encode(const hale__signer_req *req, uint8_t *out, size_t cap);

/* Parse one, of len bytes. Returns 0, or HALE_EPARSE with the reason in reterr. */
int hale__signer_req_decode(const uint8_t *p, size_t len, hale__signer_req *ret, hale_diag *reterr);

/* ---- the state file (signer_state.c) ---- */

/* The file holds two fixed-size slots; each is one record (magic, generation, size, root,
 * SHA-256 checksum of the rest). Saves alternate between the slots and each ends with
 * fdatasync, so a torn write damages only the slot being written, whose head was never
 * answered: loading takes the valid slot of highest generation. A file of the wrong size, two
 * invalid slots or two valid slots that are not consecutive generations are refused. */
typedef struct hale__signer_state {
    int fd;              /* the open state file (read-write) */
    uint64_t generation; /* of the slot last written */
    uint64_t size;       /* the last signed head: tree size (0: none or the empty tree) */
    hale_hash root;      /* and its root (zero bytes when size is 0 and nothing was signed) */
} hale__signer_state;

/* Open (or create with an empty head, when missing) the state file name in the directory
 * dirfd. Returns 0 and fills *ret; HALE_ESCHEMA (corrupt; reterr says how) or -errno. */
int hale__signer_state_open(int dirfd, const char *name, hale__signer_state *ret,
                            hale_diag *reterr);

/* Persist (size, root) into the next slot and fdatasync. On success st holds the new head;
 * on failure st is unchanged. Returns 0 or -errno. */
int hale__signer_state_save(hale__signer_state *st, uint64_t size, const hale_hash *root);

/* ---- key files (keyfile.c) ---- */

/* Load a secret key from the file name relative to dirfd (AT_FDCWD for a plain path), with the
 * checks of hale_audit_key_load; what names the file in messages. */
int hale__audit_key_load_at(int dirfd, const char *name, const char *what, hale_note_signer **ret,
                            hale_diag *reterr);

/* Write s's secret text and '\n' to name relative to dirfd: created with O_EXCL and mode 0600,
 * fsync'd. With replace, an existing file of that name is unlinked first. The caller fsyncs
 * the directory. Returns 0 or -errno (-EEXIST without replace) with reterr set. */
int hale__audit_key_write_at(int dirfd, const char *name, const char *what,
                             const hale_note_signer *s, bool replace, hale_diag *reterr);

/* ---- the child's sandbox (signer_sandbox.c) ---- */

/* Ignore the signals a terminal or service manager sends the daemon, and forbid ptrace and core
 * dumps of this process (PR_SET_DUMPABLE 0). Returns 0 or -errno. */
int hale__signer_harden(void);

/* Close every descriptor except 0, 1, 2 and the n_keep of keep. Returns 0 or -errno. */
int hale__signer_close_fds(const int *keep, size_t n_keep);

/* Restrict file access by path to writing, creating and removing regular files beneath dirfd
 * (Landlock): names relative to dirfd cannot climb out of it with "..". Sets no_new_privs.
 * Returns 1 when applied, 0 when the kernel has no Landlock, or -errno. */
int hale__signer_confine(int dirfd);

/* Set no_new_privs and install the seccomp allowlist: only what serving needs afterwards, with
 * file system calls restricted to the directory dirfd and reads to the socket. A call outside
 * it kills the process. Returns 0 or -errno. */
int hale__signer_sandbox(int dirfd, int sockfd);
