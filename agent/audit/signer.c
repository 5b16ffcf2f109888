/* agent/audit/signer.c - the daemon's side of the audit signer (include/hale/audit_signer.h):
 * spawn the child without fork (posix_spawn), then one blocking request and reply at a time
 * over a SOCK_SEQPACKET socketpair, each bounded by a timeout. A failed exchange leaves the
 * order of replies unknown, so it breaks the object for good: only _stop is left. */
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/signer_int.h"
#include "hale/audit_signer.h"

struct hale_audit_signer {
    pthread_mutex_t lock;                /* serializes calls from any thread */
    int fd;                              /* our end of the socketpair */
    pid_t pid;                           /* the child; 0 once reaped */
    int wait_status;                     /* waitpid()'s status once reaped */
    unsigned timeout_ms;                 /* limit of one exchange */
    bool broken;                         /* an exchange failed: calls give -ENOTCONN */
    hale_note_verifier key;              /* the key the child signs with */
    bool has_pending;                    /* a rotation is begun, not committed */
    hale_note_verifier pending;          /* its key, when has_pending */
    uint8_t buf[HALE__SIGNER_MAX_FRAME]; /* one frame either way */
};

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int32_t get_i32(const uint8_t *p)
{
    uint32_t v = hale__signer_get_u32(p);

    return v <= INT32_MAX ? (int32_t)v : -(int32_t)(~v) - 1;
}

/* How the child ended, if it has within wait_ms: "" while it runs. */
static void describe_exit(hale_audit_signer *s, unsigned wait_ms, char *out, size_t cap)
{
    uint64_t deadline = now_ms() + wait_ms;
    struct timespec tick = {0, 2 * 1000 * 1000};
    pid_t w = 0;
    int status;

    out[0] = '\0';
    while (s->pid > 0 && (w = waitpid(s->pid, &status, WNOHANG)) == 0 && now_ms() < deadline)
        nanosleep(&tick, NULL);
    if (s->pid <= 0 || w != s->pid)
        return;
    s->pid = 0;
    s->wait_status = status;
    if (WIFEXITED(status))
        snprintf(out, cap, " (it exited with status %d)", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, cap, " (it was killed by signal %d%s)", WTERMSIG(status),
                 WTERMSIG(status) == SIGSYS ? ": a system call outside its filter" : "");
}

static int fail(hale_audit_signer *s, int r, hale_diag *reterr, const char *what)
{
    char how[96];

    s->broken = true;
    /* A closed socket means the child is exiting: its status follows a moment later. */
    describe_exit(s, r == -EPIPE ? 500 : 0, how, sizeof(how));
    hale_diag_set(reterr, "audit signer: %s%s", what, how);
    return r;
}

/* Read the reply to op. On success *ret_body points into s->buf (len *ret_len). */
static int recv_reply(hale_audit_signer *s, unsigned op, const uint8_t **ret_body, size_t *ret_len,
                      hale_diag *reterr)
{
    uint64_t deadline = now_ms() + s->timeout_ms, now;
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    unsigned got;
    ssize_t n;
    int r;

    for (;;) {
        now = now_ms();
        if (now >= deadline)
            return fail(s, -ETIMEDOUT, reterr, "no reply within the timeout");
        r = poll(&p, 1, (int)(deadline - now));
        if (r < 0 && errno != EINTR)
            return fail(s, -errno, reterr, "cannot poll its socket");
        if (r <= 0)
            continue;
        n = recv(s->fd, s->buf, sizeof(s->buf), MSG_TRUNC | MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return fail(s, -EPIPE, reterr, "the signer closed its socket");
        if (n < 0)
            return fail(s, -errno, reterr, "cannot read its socket");
        break;
    }
    if ((size_t)n > sizeof(s->buf) ||
        hale__signer_check_header(s->buf, (size_t)n, &got, NULL) < 0 ||
        (size_t)n < HALE__SIGNER_HDR + 4 || (got != op && got != HALE__SIGNER_OP_ERROR))
        return fail(s, -EPROTO, reterr, "a reply that is not the protocol");
    r = get_i32(s->buf + HALE__SIGNER_HDR);
    *ret_body = s->buf + HALE__SIGNER_HDR + 4;
    *ret_len = (size_t)n - HALE__SIGNER_HDR - 4;
    if (r >= 0 && got == HALE__SIGNER_OP_ERROR)
        return fail(s, -EPROTO, reterr, "a reply that is not the protocol");
    if (r < 0) {
        if (r < -5000 || *ret_len > HALE__SIGNER_MAX_MSG)
            return fail(s, -EPROTO, reterr, "an error reply that is not the protocol");
        hale_diag_set(reterr, "audit signer: %.*s", (int)*ret_len, (const char *)*ret_body);
    }
    return r;
}

/* One request and its reply. */
static int xfer(hale_audit_signer *s, unsigned op, const uint8_t *payload, size_t len,
                const uint8_t **ret_body, size_t *ret_len, hale_diag *reterr)
{
    uint8_t frame[HALE__SIGNER_MAX_FRAME];
    ssize_t n;

    if (s->broken) {
        hale_diag_set(reterr, "audit signer: unusable after an earlier failure: stop it");
        return -ENOTCONN;
    }
    if (HALE_NEVER(len > sizeof(frame) - HALE__SIGNER_HDR))
        return -EINVAL;
    hale__signer_header(frame, op, len);
    if (len)
        memcpy(frame + HALE__SIGNER_HDR, payload, len);
    do
        n = send(s->fd, frame, HALE__SIGNER_HDR + len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
        return fail(s, -EPIPE, reterr, "the signer closed its socket");
    if (n < 0)
        return fail(s, -errno, reterr, "cannot send a request");
    return recv_reply(s, op, ret_body, ret_len, reterr);
}

/* A vkey text of len bytes at p (not NUL-terminated) into *ret. */
static int parse_vkey(const uint8_t *p, size_t len, hale_note_verifier *ret)
{
    char text[HALE_NOTE_VKEY_MAX_BYTES];

    if (len == 0 || len >= sizeof(text) || memchr(p, '\0', len))
        return -EPROTO;
    memcpy(text, p, len);
    text[len] = '\0';
    return hale_note_verifier_parse(text, ret) < 0 ? -EPROTO : 0;
}

/* HELLO: u64 size, root, then two length-prefixed vkeys (current; pending or empty). */
static int parse_hello(hale_audit_signer *s, const uint8_t *p, size_t len)
{
    size_t off = 40, n1, n2;

    if (len < off + 2)
        return -EPROTO;
    n1 = (size_t)p[off] << 8 | p[off + 1];
    if (len < off + 2 + n1 + 2 || parse_vkey(p + off + 2, n1, &s->key) < 0)
        return -EPROTO;
    off += 2 + n1;
    n2 = (size_t)p[off] << 8 | p[off + 1];
    if (len != off + 2 + n2)
        return -EPROTO;
    s->has_pending = n2 > 0;
    return n2 > 0 ? parse_vkey(p + off + 2, n2, &s->pending) : 0;
}

/* In the signer's environment, which is otherwise empty. */
#define SIGNER_ENV "HALE_AUDIT_SIGNER_CHILD"

static int spawn_child(hale_audit_signer *s, const char *exe, const char *data_dir,
                       const char *origin, int child_fd)
{
    char arg0[] = "hale", arg1[] = HALE_AUDIT_SIGNER_COMMAND;
    char *dir = strdup(data_dir), *org = strdup(origin);
    char *argv[] = {arg0, arg1, dir, org, NULL};
    char env0[] = SIGNER_ENV "=1";
    char *envp[] = {env0, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none;
    int r;

    if (!dir || !org) {
        free(dir);
        free(org);
        return -ENOMEM;
    }
    r = posix_spawn_file_actions_init(&fa);
    if (r == 0 && (r = posix_spawnattr_init(&attr)) != 0)
        posix_spawn_file_actions_destroy(&fa);
    if (r) {
        free(dir);
        free(org);
        return -r;
    }
    sigemptyset(&none);
    if (!r)
        r = posix_spawn_file_actions_adddup2(&fa, child_fd, HALE__SIGNER_FD);
    if (!r)
        r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!r)
        r = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    /* Its own process group: a terminal's ^C or a group kill aimed at the daemon must not end
     * the signer before the daemon signs its last checkpoint. */
    if (!r)
        r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
    if (!r)
        r = posix_spawnattr_setsigmask(&attr, &none);
    if (!r)
        r = posix_spawnattr_setpgroup(&attr, 0);
    if (!r)
        r = posix_spawn(&s->pid, exe, &fa, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    free(dir);
    free(org);
    return -r;
}

/* Reap the child, SIGKILL'ing it when it has not exited by the deadline. */
static int reap(hale_audit_signer *s, hale_diag *reterr)
{
    uint64_t deadline = now_ms() + s->timeout_ms;
    int status = s->wait_status;
    pid_t w = 1;

    while (s->pid > 0) {
        struct timespec tick = {0, 5 * 1000 * 1000};

        w = waitpid(s->pid, &status, WNOHANG);
        if (w != 0)
            break;
        if (now_ms() >= deadline) {
            (void)kill(s->pid, SIGKILL);
            w = waitpid(s->pid, &status, 0);
            break;
        }
        nanosleep(&tick, NULL);
    }
    if (s->pid > 0 && w < 0) {
        s->pid = 0;
        return -errno;
    }
    s->pid = 0;
    s->wait_status = status;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        hale_diag_set(reterr, "the audit signer exited with status %d", WEXITSTATUS(status));
    else
        hale_diag_set(reterr, "the audit signer was killed by signal %d", WTERMSIG(status));
    return -ECHILD;
}

static void signer_free(hale_audit_signer *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    (void)reap(s, NULL);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int start_child(hale_audit_signer *s, const char *exe, const char *data_dir,
                       const char *origin, hale_diag *reterr)
{
    const uint8_t *body;
    size_t len;
    int sv[2], r;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        hale_diag_set(reterr, "audit signer: cannot create a socketpair: %s", strerror(errno));
        return -errno;
    }
    s->fd = sv[0];
    if (sv[1] == HALE__SIGNER_FD) {
        /* dup2() onto itself would keep FD_CLOEXEC on some C libraries: move it first. */
        int moved = fcntl(sv[1], F_DUPFD_CLOEXEC, HALE__SIGNER_FD + 1);

        close(sv[1]);
        if (moved < 0) {
            hale_diag_set(reterr, "audit signer: cannot move a descriptor: %s", strerror(errno));
            return -errno;
        }
        sv[1] = moved;
    }
    r = spawn_child(s, exe, data_dir, origin, sv[1]);
    close(sv[1]);
    if (r < 0) {
        hale_diag_set(reterr, "audit signer: cannot execute '%s': %s", exe, strerror(-r));
        return r;
    }
    r = recv_reply(s, HALE__SIGNER_OP_HELLO, &body, &len, reterr);
    if (r < 0)
        return r;
    r = parse_hello(s, body, len);
    if (r < 0)
        return fail(s, r, reterr, "a greeting that is not the protocol");
    if (strcmp(s->key.name, origin) != 0)
        return fail(s, -EPROTO, reterr, "a key for another origin");
    return 0;
}

int hale_audit_signer_start(const char *data_dir, const char *origin,
                            const hale_audit_signer_opts *opts, hale_audit_signer **ret,
                            hale_diag *reterr)
{
    const char *exe = opts && opts->exe ? opts->exe : "/proc/self/exe";
    hale_audit_signer *s;
    int r;

    if (!data_dir || !origin || !hale_note_name_is_valid(origin, strlen(origin))) {
        hale_diag_set(reterr, "audit signer: the origin is not a valid key name");
        return -EINVAL;
    }
    /* A program started as the signer that is not hale (a wrong exe: a test binary, another
     * program embedding the loop) would run its own main and start signers of its own: one
     * level only, never a fork bomb. */
    if (getenv(SIGNER_ENV)) {
        hale_diag_set(reterr,
                      "audit signer: this process was started as the audit signer of "
                      "another (%s is set): is the signer executable hale?",
                      SIGNER_ENV);
        return -ELOOP;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->fd = -1;
    s->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : HALE_AUDIT_SIGNER_TIMEOUT_MS;
    r = pthread_mutex_init(&s->lock, NULL);
    if (r) {
        free(s);
        return -r;
    }
    r = start_child(s, exe, data_dir, origin, reterr);
    if (r < 0) {
        signer_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

void hale_audit_signer_verifier(hale_audit_signer *s, hale_note_verifier *ret)
{
    pthread_mutex_lock(&s->lock);
    *ret = s->key;
    pthread_mutex_unlock(&s->lock);
}

int hale_audit_signer_pending(hale_audit_signer *s, hale_note_verifier *ret)
{
    int r = HALE_ENOTFOUND;

    pthread_mutex_lock(&s->lock);
    if (s->has_pending) {
        *ret = s->pending;
        r = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

int hale_audit_signer_pid(const hale_audit_signer *s)
{
    return (int)s->pid;
}

int hale_audit_signer_head(hale_audit_signer *s, uint64_t *ret_size, hale_hash *ret_root,
                           hale_diag *reterr)
{
    const uint8_t *body;
    size_t len;
    int r;

    pthread_mutex_lock(&s->lock);
    r = xfer(s, HALE__SIGNER_OP_HEAD, NULL, 0, &body, &len, reterr);
    if (r == 0 && len != 40)
        r = fail(s, -EPROTO, reterr, "a head reply that is not the protocol");
    if (r == 0) {
        *ret_size = hale__signer_get_u64(body);
        memcpy(ret_root->b, body + 8, HALE_MERKLE_HASH_BYTES);
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* SIGN or ROTATE_COMMIT: the note comes back; s->lock is held. */
static int sign_op(hale_audit_signer *s, unsigned op, uint64_t size, const hale_hash *root,
                   const hale_hash *proof, size_t n_proof, char **ret_note, size_t *ret_len,
                   hale_diag *reterr)
{
    hale__signer_req q = {.size = size, .root = *root, .n_proof = (unsigned)n_proof};
    uint8_t payload[sizeof(q)];
    const uint8_t *body;
    size_t len;
    char *note;
    int n, r;

    if (n_proof > HALE_MERKLE_MAX_PROOF || (n_proof && !proof)) {
        hale_diag_set(reterr, "audit signer: a proof of %zu hashes (at most %u)", n_proof,
                      HALE_MERKLE_MAX_PROOF);
        return -EINVAL;
    }
    if (n_proof)
        memcpy(q.proof, proof, n_proof * sizeof(*proof));
    n = hale__signer_req_encode(&q, payload, sizeof(payload));
    if (HALE_NEVER(n < 0))
        return n;
    r = xfer(s, op, payload, (size_t)n, &body, &len, reterr);
    if (r < 0)
        return r;
    if (len == 0 || memchr(body, '\0', len))
        return fail(s, -EPROTO, reterr, "a note that is not text");
    note = malloc(len + 1);
    if (!note)
        return -ENOMEM;
    memcpy(note, body, len);
    note[len] = '\0';
    *ret_note = note;
    if (ret_len)
        *ret_len = len;
    return 0;
}

int hale_audit_signer_sign(hale_audit_signer *s, uint64_t size, const hale_hash *root,
                           const hale_hash *proof, size_t n_proof, char **ret_note, size_t *ret_len,
                           hale_diag *reterr)
{
    int r;

    pthread_mutex_lock(&s->lock);
    r = sign_op(s, HALE__SIGNER_OP_SIGN, size, root, proof, n_proof, ret_note, ret_len, reterr);
    pthread_mutex_unlock(&s->lock);
    return r;
}

int hale_audit_signer_rotate_begin(hale_audit_signer *s, hale_note_verifier *ret_next,
                                   hale_diag *reterr)
{
    hale_note_verifier next;
    const uint8_t *body;
    size_t len;
    int r;

    pthread_mutex_lock(&s->lock);
    s->has_pending = false; /* the child drops its pending key whether or not this succeeds */
    r = xfer(s, HALE__SIGNER_OP_ROTATE_BEGIN, NULL, 0, &body, &len, reterr);
    if (r == 0 && (parse_vkey(body, len, &next) < 0 || strcmp(next.name, s->key.name) != 0))
        r = fail(s, -EPROTO, reterr, "a new key that is not the protocol");
    if (r == 0) {
        s->pending = next;
        s->has_pending = true;
        *ret_next = next;
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

int hale_audit_signer_rotate_commit(hale_audit_signer *s, uint64_t size, const hale_hash *root,
                                    const hale_hash *proof, size_t n_proof, char **ret_note,
                                    size_t *ret_len, hale_diag *reterr)
{
    int r;

    pthread_mutex_lock(&s->lock);
    r = sign_op(s, HALE__SIGNER_OP_ROTATE_COMMIT, size, root, proof, n_proof, ret_note, ret_len,
                reterr);
    if (r == 0 && HALE_NEVER(!s->has_pending))
        r = fail(s, -EPROTO, reterr, "a rotation committed without a pending key");
    if (r == 0) {
        s->key = s->pending;
        s->has_pending = false;
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

int hale_audit_signer_stop(hale_audit_signer *s, hale_diag *reterr)
{
    int r;

    if (!s)
        return 0;
    pthread_mutex_lock(&s->lock);
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    r = reap(s, reterr);
    pthread_mutex_unlock(&s->lock);
    signer_free(s);
    return r;
}
