/* agent/audit/signer_main.c - the audit signer child (`hale __audit-signer DATA_DIR ORIGIN`):
 * loads the key and its state, sandboxes itself, then answers one request at a time on fd 3
 * until the daemon closes it. It signs only heads consistent with the last one it signed and
 * persists each head before it replies (SECURITY.md 1.7). */
#define _DEFAULT_SOURCE /* syscall(): see end_process() */
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "audit/signer_int.h"
#include "hale/audit.h"
#include "hale/audit_signer.h"

struct child {
    int sock;                           /* fd 3: the socketpair end */
    int dirfd;                          /* data_dir, for every file name below */
    const char *origin;                 /* the log's origin: every key's name */
    hale_note_signer *key;              /* signs now */
    hale_note_signer *pending;          /* rotate_begin's key until rotate_commit, or NULL */
    hale__signer_state state;           /* the last signed head and its file */
    bool fatal;                         /* the files no longer match memory: exit after replying */
    uint8_t in[HALE__SIGNER_MAX_FRAME]; /* the request being handled */
};

/* Send one reply: header, i32 status, body. A reply that cannot be sent ends nothing: the
 * daemon sees the missing answer as a timeout or the closed socket. */
static void reply(struct child *c, unsigned op, int status, const void *body, size_t len)
{
    uint8_t out[HALE__SIGNER_MAX_FRAME];
    ssize_t n;

    if (HALE_NEVER(len > sizeof(out) - HALE__SIGNER_HDR - 4))
        len = 0;
    hale__signer_header(out, op, 4 + len);
    hale__signer_put_u32(out + HALE__SIGNER_HDR, (uint32_t)status);
    if (len)
        memcpy(out + HALE__SIGNER_HDR + 4, body, len);
    do
        n = write(c->sock, out, HALE__SIGNER_HDR + 4 + len);
    while (n < 0 && errno == EINTR);
}

static void reply_error(struct child *c, unsigned op, int status, const hale_diag *d)
{
    const char *msg = d->msg[0] ? d->msg : hale_strerror(status);
    size_t len = strlen(msg);

    reply(c, op, status, msg, len > HALE__SIGNER_MAX_MSG ? HALE__SIGNER_MAX_MSG : len);
}

/* The rule of c2sp.org/tlog-checkpoint: never sign a head inconsistent with one signed before. */
static int check_head(const struct child *c, const hale__signer_req *q, hale_diag *d)
{
    const hale__signer_state *st = &c->state;
    hale_hash empty;

    if (st->size == 0) {
        hale_merkle_empty_root(&empty);
        if (q->n_proof != 0) {
            hale_diag_set(d, "no head signed yet: a proof of %u hashes was not expected",
                          q->n_proof);
            return HALE_EPROOF;
        }
        if (q->size == 0 && memcmp(q->root.b, empty.b, sizeof(empty.b)) != 0) {
            hale_diag_set(d, "a head of size 0 must have the empty tree's root");
            return HALE_EPROOF;
        }
        if (q->size > HALE_MERKLE_MAX_SIZE) {
            hale_diag_set(d, "size %llu exceeds the largest tree", (unsigned long long)q->size);
            return HALE_EPROOF;
        }
        return 0;
    }
    if (q->size < st->size) {
        hale_diag_set(d, "size %llu is below the last signed size %llu: refusing a rollback",
                      (unsigned long long)q->size, (unsigned long long)st->size);
        return HALE_EPROOF;
    }
    if (hale_merkle_verify_consistency(st->size, q->size, &st->root, &q->root, q->proof,
                                       q->n_proof) == 0)
        return 0;
    if (q->size == st->size)
        hale_diag_set(d, "the root at size %llu differs from the one signed at that size",
                      (unsigned long long)q->size);
    else
        hale_diag_set(d, "the consistency proof from size %llu to %llu does not verify",
                      (unsigned long long)st->size, (unsigned long long)q->size);
    return HALE_EPROOF;
}

/* Check, sign with key and persist q's head; *ret_note is malloc'd. */
static int sign_head(struct child *c, const hale_note_signer *key, const hale__signer_req *q,
                     char **ret_note, size_t *ret_len, hale_diag *d)
{
    const hale_note_signer *const signers[1] = {key};
    char *text = NULL, *note = NULL;
    size_t text_len, note_len;
    int r;

    r = check_head(c, q, d);
    if (r < 0)
        return r;
    r = hale_checkpoint_format(c->origin, q->size, &q->root, NULL, 0, &text, &text_len);
    if (r == 0)
        r = hale_note_sign(text, text_len, signers, 1, &note, &note_len);
    free(text);
    if (r < 0)
        return r;
    if (q->size != c->state.size || memcmp(q->root.b, c->state.root.b, sizeof(q->root.b))) {
        r = hale__signer_state_save(&c->state, q->size, &q->root);
        if (r < 0) {
            hale_diag_set(d, "cannot persist the head in %s: %s", HALE_AUDIT_SIGNER_STATE,
                          strerror(-r));
            free(note);
            return r;
        }
    }
    *ret_note = note;
    *ret_len = note_len;
    return 0;
}

static int rotate_begin(struct child *c, hale_diag *d)
{
    hale_note_signer *next = NULL;
    uint8_t *seed;
    int r;

    /* Whatever happens below, no earlier pending key may be committed any more: the file may
     * be replaced, and a rename must never install a key other than the one in memory. */
    hale_note_signer_free(c->pending);
    c->pending = NULL;
    seed = sodium_malloc(HALE_NOTE_SEED_BYTES);
    if (!seed)
        return -ENOMEM;
    randombytes_buf(seed, HALE_NOTE_SEED_BYTES);
    r = hale_note_signer_from_seed(c->origin, seed, &next);
    sodium_free(seed);
    if (r < 0)
        return r;
    r = hale__audit_key_write_at(c->dirfd, HALE_AUDIT_KEY_NEXT_FILE, HALE_AUDIT_KEY_NEXT_FILE, next,
                                 true, d);
    if (r == 0 && fsync(c->dirfd) < 0) {
        r = -errno;
        hale_diag_set(d, "cannot sync the data directory: %s", strerror(errno));
    }
    if (r < 0) {
        (void)unlinkat(c->dirfd, HALE_AUDIT_KEY_NEXT_FILE, 0);
        hale_note_signer_free(next);
        return r;
    }
    c->pending = next;
    return 0;
}

/* Overwrite the replaced key file's blocks through a descriptor opened before the rename. On
 * journaling or copy-on-write storage this is best effort; the memory copy is wiped for sure. */
static void scrub_file(int fd)
{
    static const uint8_t zeros[512];
    struct stat st;

    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        for (off_t off = 0; off < st.st_size; off += (off_t)sizeof(zeros))
            if (pwrite(fd, zeros, sizeof(zeros), off) < 0)
                break;
        (void)fdatasync(fd);
    }
    close(fd);
}

static int switch_key(struct child *c, hale_diag *d)
{
    int old, r = 0;

    old = openat(c->dirfd, HALE_AUDIT_KEY_FILE, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (renameat(c->dirfd, HALE_AUDIT_KEY_NEXT_FILE, c->dirfd, HALE_AUDIT_KEY_FILE) < 0) {
        r = -errno;
        hale_diag_set(d, "head signed with the old key, but %s cannot replace %s: %s",
                      HALE_AUDIT_KEY_NEXT_FILE, HALE_AUDIT_KEY_FILE, strerror(errno));
        if (old >= 0)
            close(old);
        return r;
    }
    /* Renamed: from here the new key is the current one, whatever else fails. */
    hale_note_signer_free(c->key);
    c->key = c->pending;
    c->pending = NULL;
    if (fsync(c->dirfd) < 0) {
        /* Which key a restart would find is unknown: end, so that the daemon's next signer
         * starts from what the disk holds. */
        r = -errno;
        c->fatal = true;
        hale_diag_set(d,
                      "key switched, but the data directory cannot be synced (%s): the "
                      "signer exits",
                      strerror(errno));
    }
    if (old >= 0)
        scrub_file(old);
    return r;
}

static int rotate_commit(struct child *c, const hale__signer_req *q, char **ret_note,
                         size_t *ret_len, hale_diag *d)
{
    int r;

    if (!c->pending) {
        hale_diag_set(d, "no key rotation is pending (rotate_begin first)");
        return HALE_ESTATE;
    }
    r = sign_head(c, c->key, q, ret_note, ret_len, d);
    if (r < 0)
        return r;
    r = switch_key(c, d);
    if (r < 0) {
        free(*ret_note);
        *ret_note = NULL;
    }
    return r;
}

static size_t put_vkey(uint8_t *out, const hale_note_signer *s)
{
    char vkey[HALE_NOTE_VKEY_MAX_BYTES];
    int n = s ? hale_note_verifier_format(hale_note_signer_verifier(s), vkey, sizeof(vkey)) : 0;

    if (n < 0)
        n = 0;
    out[0] = (uint8_t)(n >> 8);
    out[1] = (uint8_t)n;
    memcpy(out + 2, vkey, (size_t)n);
    return 2 + (size_t)n;
}

static void reply_head(struct child *c, unsigned op)
{
    uint8_t body[40 + 2 * (2 + HALE_NOTE_VKEY_MAX_BYTES)];
    size_t len = 40;

    hale__signer_put_u64(body, c->state.size);
    memcpy(body + 8, c->state.root.b, HALE_MERKLE_HASH_BYTES);
    if (op == HALE__SIGNER_OP_HELLO) {
        len += put_vkey(body + len, c->key);
        len += put_vkey(body + len, c->pending);
    }
    reply(c, op, 0, body, len);
}

static int handle_empty(struct child *c, unsigned op, size_t plen, hale_diag *d)
{
    uint8_t body[2 + HALE_NOTE_VKEY_MAX_BYTES];
    size_t len;
    int r;

    if (plen != 0) {
        hale_diag_set(d, "request %u takes no payload, got %zu bytes", op, plen);
        return HALE_EPARSE;
    }
    if (op == HALE__SIGNER_OP_HEAD) {
        reply_head(c, op);
        return 0;
    }
    r = rotate_begin(c, d);
    if (r < 0)
        return r;
    len = put_vkey(body, c->pending);
    reply(c, op, 0, body + 2, len - 2);
    return 0;
}

static int handle_head(struct child *c, unsigned op, const uint8_t *payload, size_t plen,
                       hale_diag *d)
{
    hale__signer_req q;
    char *note = NULL;
    size_t len = 0;
    int r;

    r = hale__signer_req_decode(payload, plen, &q, d);
    if (r == 0)
        r = op == HALE__SIGNER_OP_SIGN ? sign_head(c, c->key, &q, &note, &len, d)
                                       : rotate_commit(c, &q, &note, &len, d);
    if (r < 0)
        return r;
    reply(c, op, 0, note, len);
    free(note);
    return 0;
}

/* Answer the request of n bytes in c->in: exactly one reply, whatever it holds. */
static void handle(struct child *c, size_t n)
{
    hale_diag d = {{0}};
    unsigned op;
    int r;

    r = hale__signer_check_header(c->in, n, &op, &d);
    if (r < 0) {
        reply_error(c, HALE__SIGNER_OP_ERROR, r, &d);
        return;
    }
    switch (op) {
    case HALE__SIGNER_OP_HEAD:
    case HALE__SIGNER_OP_ROTATE_BEGIN:
        r = handle_empty(c, op, n - HALE__SIGNER_HDR, &d);
        break;
    case HALE__SIGNER_OP_SIGN:
    case HALE__SIGNER_OP_ROTATE_COMMIT:
        r = handle_head(c, op, c->in + HALE__SIGNER_HDR, n - HALE__SIGNER_HDR, &d);
        break;
    default:
        hale_diag_set(&d, "unknown request %u", op);
        op = HALE__SIGNER_OP_ERROR;
        r = HALE_EPARSE;
        break;
    }
    if (r < 0)
        reply_error(c, op, r, &d);
}

/* A record of 0 bytes reads like the end of the stream: only POLLHUP tells them apart. */
static bool peer_closed(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

static int serve(struct child *c)
{
    hale_diag d = {{0}};
    ssize_t n;

    for (;;) {
        n = recv(c->sock, c->in, sizeof(c->in), MSG_TRUNC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0 && peer_closed(c->sock))
            return 0;
        if ((size_t)n > sizeof(c->in)) {
            hale_diag_set(&d, "frame of %zd bytes exceeds the limit of %u", n,
                          HALE__SIGNER_MAX_FRAME);
            reply_error(c, HALE__SIGNER_OP_ERROR, HALE_EPARSE, &d);
            continue;
        }
        handle(c, (size_t)n);
        if (c->fatal)
            return -EIO;
    }
}

/* A pending key left by a rotation that was begun but not committed before a restart: kept,
 * so that a rotation leaf already in the log can still be sealed and its key used. An
 * unreadable one (a crash while it was written) is simply not pending. */
static void load_pending(struct child *c)
{
    hale_note_signer *next = NULL;

    if (hale__audit_key_load_at(c->dirfd, HALE_AUDIT_KEY_NEXT_FILE, HALE_AUDIT_KEY_NEXT_FILE, &next,
                                NULL) < 0)
        return;
    if (strcmp(hale_note_signer_verifier(next)->name, c->origin) != 0) {
        hale_note_signer_free(next);
        return;
    }
    c->pending = next;
}

static int setup(struct child *c, const char *data_dir, hale_diag *d)
{
    int keep[3], r;

    r = hale__signer_harden();
    if (r < 0) {
        hale_diag_set(d, "cannot harden the process: %s", strerror(-r));
        return r;
    }
    c->dirfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (c->dirfd < 0) {
        r = -errno;
        hale_diag_set(d, "%s: cannot open the data directory: %s", data_dir, strerror(errno));
        return r;
    }
    r = hale__audit_key_load_at(c->dirfd, HALE_AUDIT_KEY_FILE, HALE_AUDIT_KEY_FILE, &c->key, d);
    if (r < 0)
        return r;
    if (strcmp(hale_note_signer_verifier(c->key)->name, c->origin) != 0) {
        hale_diag_set(d, "%s: key named '%s', but the log's origin is '%s'", HALE_AUDIT_KEY_FILE,
                      hale_note_signer_verifier(c->key)->name, c->origin);
        return HALE_ECONFIG;
    }
    load_pending(c);
    r = hale__signer_state_open(c->dirfd, HALE_AUDIT_SIGNER_STATE, &c->state, d);
    if (r < 0)
        return r;
    keep[0] = c->sock;
    keep[1] = c->dirfd;
    keep[2] = c->state.fd;
    r = hale__signer_close_fds(keep, HALE_ARRAY_SIZE(keep));
    if (r == 0)
        r = hale__signer_confine(c->dirfd);
    if (r >= 0)
        r = hale__signer_sandbox(c->dirfd, c->sock);
    if (r < 0)
        hale_diag_set(d, "cannot install the sandbox: %s", strerror(-r));
    return r;
}

static void child_release(struct child *c)
{
    hale_note_signer_free(c->key);
    hale_note_signer_free(c->pending);
    if (c->state.fd >= 0)
        close(c->state.fd);
    if (c->dirfd >= 0)
        close(c->dirfd);
}

/* End the process with the raw system call: _exit() is intercepted by sanitizer runtimes, whose
 * leak check then makes calls (sigaltstack, clone, ptrace) the filter kills the process for. */
_Noreturn static void end_process(int status)
{
    for (;;)
        (void)syscall(SYS_exit_group, status);
}

int hale_audit_signer_main(int argc, char **argv)
{
    struct child c = {.sock = HALE__SIGNER_FD, .dirfd = -1, .state = {.fd = -1}};
    hale_diag d = {{0}};
    struct stat st;
    int r;

    if (argc != 3 || fstat(HALE__SIGNER_FD, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        fprintf(stderr,
                "usage: hale %s DATA_DIR ORIGIN, with a socket as fd 3: the daemon "
                "starts this, not a person\n",
                HALE_AUDIT_SIGNER_COMMAND);
        return 2;
    }
    c.origin = argv[2];
    r = setup(&c, argv[1], &d);
    if (r < 0) {
        reply_error(&c, HALE__SIGNER_OP_HELLO, r, &d);
        child_release(&c);
        return 1;
    }
    reply_head(&c, HALE__SIGNER_OP_HELLO);
    r = serve(&c);
    child_release(&c);
    end_process(r < 0 ? 1 : 0);
}
