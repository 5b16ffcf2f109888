/* include/hale/audit_signer.h - the audit log's signing keys and the privilege-separated signer
 * process that holds them (SECURITY.md 1.7 and 1.8; docs/audit-keys.md).
 *
 * Key files. A secret key file holds the text of hale_note_signer_format() and a final '\n'; it
 * is created 0600 with O_EXCL and fsync'd, and is refused on load when group or others may
 * access it (as ssh refuses private keys). A public key file holds hale_note_verifier_format()
 * and a final '\n'. In data_dir, audit.key is the current secret and audit.pub the ROOT public
 * key (epoch 0): audit.pub never changes, even after rotations.
 *
 * The signer. The daemon never holds the secret: hale_audit_signer_start() executes the hale
 * binary again as `hale __audit-signer DATA_DIR ORIGIN` with one end of a socketpair as fd 3.
 * The child loads audit.key into sodium_malloc()'d memory, opens its state file
 * (data_dir/audit.signer: the last head it signed), makes itself non-dumpable, closes every
 * other descriptor, and installs a seccomp syscall allowlist (no_new_privs set) before it
 * answers. It signs a checkpoint only for a head that is consistent with the last head it
 * signed (RFC 9162 consistency proof), and persists that head before it replies, so it never
 * signs two inconsistent checkpoints (the c2sp.org/tlog-checkpoint MUST), whatever the daemon
 * asks. The child ignores SIGINT, SIGTERM and SIGHUP and runs in its own process group, so
 * that the daemon can still sign its shutdown checkpoint; it exits when its socket closes.
 *
 * Threading: every hale_audit_signer call blocks (for at most the timeout) and may be made from
 * any thread, including libuv threadpool threads; calls on one object serialize on its mutex.
 * Never call them on the loop thread: a signature round trip includes an fdatasync. Nothing
 * here calls back, logs or touches signal dispositions. The child is reaped with waitpid() on
 * its own pid only, which does not disturb libuv's SIGCHLD handling of its own children. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hale/diag.h"
#include "hale/merkle.h"
#include "hale/note.h"

#define HALE_AUDIT_KEY_NEXT_FILE     "audit.key.next" /* in data_dir: a rotation's pending key */
#define HALE_AUDIT_SIGNER_COMMAND    "__audit-signer" /* the hidden `hale` command of the child */
#define HALE_AUDIT_SIGNER_TIMEOUT_MS 10000u           /* default limit of one call */

/* ---- key files ---- */

/* Generate a random Ed25519 key named name (a valid note key name: the log's origin) and write
 * PREFIX.key (mode 0600) and PREFIX.pub (mode 0644), both created with O_EXCL and fsync'd, then
 * fsync their directory. Refuses to overwrite: when either file exists nothing is written.
 * On success *ret_pub (may be NULL) gets the public key. Returns 0; -EEXIST (a file exists),
 * HALE_EPARSE (name not valid), -ENAMETOOLONG, -ENOMEM or another -errno, with reterr saying
 * which file and why. */
int hale_audit_keygen(const char *prefix, const char *name, hale_note_verifier *ret_pub,
                      hale_diag *reterr);

/* Load the secret key file at path. It must be a regular file owned by the effective user with
 * no permission bits for group or others. On success *ret is a new signer owned by the caller
 * (hale_note_signer_free wipes it); the file's bytes are read into sodium_malloc()'d memory and
 * wiped. Returns 0; HALE_ECONFIG (permissions too open, wrong owner, not a regular file),
 * HALE_EPARSE (not a key text), -ENOENT, -ENOMEM or another -errno; reterr names the file. */
int hale_audit_key_load(const char *path, hale_note_signer **ret, hale_diag *reterr);

/* Load a public key file (a verifier key text and an optional final '\n'). Returns 0 and fills
 * *ret; HALE_EPARSE, -ENOENT or another -errno with reterr naming the file. */
int hale_audit_pub_load(const char *path, hale_note_verifier *ret, hale_diag *reterr);

/* Make sure data_dir holds the log's keys, for the daemon's start: when neither audit.key nor
 * audit.pub exists, generate a key named origin into them (hale_audit_keygen with prefix
 * data_dir/audit) and set *ret_created (may be NULL) to true; when both exist, check that
 * audit.pub parses and is named origin, and set it false (the secret file is NOT read: only the
 * signer reads it). *ret_pub (may be NULL) gets audit.pub's key, for the daemon to log it.
 * Returns 0; HALE_ECONFIG when only one of the two files exists, when neither does but the
 * signer's state file (audit.signer) of an earlier identity does, or when audit.pub names another
 * origin; HALE_EPARSE or -errno otherwise. reterr says what to do about it. */
int hale_audit_keys_ensure(const char *data_dir, const char *origin, bool *ret_created,
                           hale_note_verifier *ret_pub, hale_diag *reterr);

/* ---- the signer process ---- */

typedef struct hale_audit_signer hale_audit_signer;

/* Options of hale_audit_signer_start(); a NULL pointer means all defaults. */
typedef struct hale_audit_signer_opts {
    const char *exe;     /* the hale binary to execute; NULL: /proc/self/exe */
    unsigned timeout_ms; /* limit of start and of each call; 0: HALE_AUDIT_SIGNER_TIMEOUT_MS */
} hale_audit_signer_opts;

/* Start the signer for data_dir (which holds audit.key; see hale_audit_keys_ensure) and the
 * log's origin (the key's name must equal it). The child is spawned with posix_spawn (no fork
 * without exec: safe from a multithreaded process), stdin and stdout on /dev/null, stderr
 * inherited (a crash report reaches the daemon's log), an empty environment and no signal
 * blocked. Returns once the child has loaded its key and state and installed its filter.
 * On success *ret is owned by the caller (end it with hale_audit_signer_stop). On failure
 * reterr carries the child's own message where it sent one. Returns 0; -ENOENT (no audit.key,
 * or no data_dir); HALE_ECONFIG (permissions too open, key name is not origin); HALE_ESCHEMA (the
 * state file is corrupt: never repaired automatically, see docs/audit-keys.md), HALE_EPARSE,
 * -ETIMEDOUT, -ENOMEM or another -errno. */
int hale_audit_signer_start(const char *data_dir, const char *origin,
                            const hale_audit_signer_opts *opts, hale_audit_signer **ret,
                            hale_diag *reterr);

/* The key the signer signs with now: changes at hale_audit_signer_rotate_commit(). */
void hale_audit_signer_verifier(hale_audit_signer *s, hale_note_verifier *ret);

/* The key of a rotation begun but not committed: the child loads a pending audit.key.next at
 * start (a rotation interrupted by a restart), so that a key_rotation leaf already in the log
 * can still be sealed with rotate_commit; or rotate_begin replaces it. Returns 0 and fills
 * *ret, or HALE_ENOTFOUND when none is pending. */
int hale_audit_signer_pending(hale_audit_signer *s, hale_note_verifier *ret);

/* The child's pid, for diagnostics (its /proc status shows the filter); 0 once reaped. */
int hale_audit_signer_pid(const hale_audit_signer *s);

/* The last head the signer signed: *ret_size 0 means none yet (or the empty tree). Returns 0 or
 * an error as for the calls below. */
int hale_audit_signer_head(hale_audit_signer *s, uint64_t *ret_size, hale_hash *ret_root,
                           hale_diag *reterr);

/* Ask for the checkpoint of the tree (size, root), given the n_proof hashes of the RFC 9162
 * consistency proof from the signer's last head (see _head) to it. The signer accepts:
 *   - any head (no proof) when it has signed none, or only the empty tree; a head of size 0
 *     must have the empty tree's root;
 *   - the same size with the same root again (no proof; a re-signature);
 *   - a larger size with a proof that verifies (hale_merkle_verify_consistency).
 * It persists the head (fdatasync) before it answers. On success *ret_note is the signed note
 * (hale_checkpoint_format text with origin, signed by the current key; NUL-terminated, owned by
 * the caller, free()) and *ret_len (may be NULL) its length.
 * Returns 0; HALE_EPROOF when the signer refuses the head (smaller size, other root at the
 * same size, proof that does not verify): the signer's state is unchanged, and the caller must
 * treat it as a fatal integrity problem (the store no longer extends what was signed);
 * -EINVAL (n_proof above HALE_MERKLE_MAX_PROOF); -ETIMEDOUT, -EPIPE (the child is gone) or
 * -EPROTO (a reply that is not the protocol): after these the object only fails with -ENOTCONN
 * and must be stopped; another negative code the child reported (-EIO when it could not
 * persist its state, for instance). */
int hale_audit_signer_sign(hale_audit_signer *s, uint64_t size, const hale_hash *root,
                           const hale_hash *proof, size_t n_proof, char **ret_note, size_t *ret_len,
                           hale_diag *reterr);

/* Begin a key rotation: the signer generates a new key named origin, writes it to
 * data_dir/audit.key.next (0600, fsync'd; any earlier pending file, such as one left by a crash
 * before a commit, is replaced) and keeps it pending. *ret_next gets its public key, which the
 * caller records in the key_rotation leaf. Calling it again replaces the pending key; when it
 * fails, no key is pending any more (a commit then gives HALE_ESTATE). Returns 0 or an error as
 * for _sign. */
int hale_audit_signer_rotate_begin(hale_audit_signer *s, hale_note_verifier *ret_next,
                                   hale_diag *reterr);

/* Commit the pending rotation: sign (size, root) as _sign does, with the OLD key (the head must
 * include the key_rotation leaf: that is the caller's job), then rename audit.key.next over
 * audit.key, fsync the directory, overwrite the old key file's blocks, wipe the old secret and
 * sign with the new key from then on. Returns 0 with the note as _sign; HALE_ESTATE when no
 * rotation is pending; HALE_EPROOF as _sign; another error when the switch failed after the
 * head was persisted: if the rename failed, the old key stays current and the rotation stays
 * pending (committing the same head again is allowed and retries it); if only the directory
 * sync after it failed, the child exits and the object is broken (start a new signer: it
 * loads whichever key the disk holds).
 * Crash-safe order for the writer (docs/audit-keys.md): append and commit the key_rotation leaf
 * at seq r, _sign(r + 1) and STORE that checkpoint, then _rotate_commit(r + 1, same root, no
 * proof), whose note is identical (Ed25519 is deterministic). Committing a new head directly
 * loses the sealing note for good if the daemon dies between the switch and storing it. */
int hale_audit_signer_rotate_commit(hale_audit_signer *s, uint64_t size, const hale_hash *root,
                                    const hale_hash *proof, size_t n_proof, char **ret_note,
                                    size_t *ret_len, hale_diag *reterr);

/* Close the socket, wait up to the timeout for the child to exit (SIGKILL after that) and free
 * s. Returns 0 when the child exited with status 0, else -ECHILD with reterr saying how it
 * ended. NULL is a no-op returning 0. */
int hale_audit_signer_stop(hale_audit_signer *s, hale_diag *reterr);

/* The child's side: the `hale __audit-signer DATA_DIR ORIGIN` command (argv[0] is the command
 * name), serving the socket on fd 3. Returns an exit status only for failures before its filter
 * is installed (after reporting them on fd 3 when it can); once the filter is installed it
 * never returns: it ends the process with the exit_group system call, since nothing else
 * (atexit handlers, sanitizer leak checks) may run under the filter. */
int hale_audit_signer_main(int argc, char **argv);
