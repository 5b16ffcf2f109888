/* tests/test_audit_signer.c - the audit signer child (agent/audit/signer*.c) through real child
 * processes of the hale binary: signing only consistent heads, state that survives restarts
 * and refuses corruption, key rotation with erasure, malformed frames, and the sandbox. */
#define _DEFAULT_SOURCE /* syscall(): ending a filtered child without the sanitizers' exit */
#include "fixture.h"

#include <dirent.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <errno.h>
#include <sodium.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit/signer_int.h"
#include "hale/audit_signer.h"
#include "hale/err.h"

#define ORIGIN   "example.com/log"
#define N_LEAVES 64u

struct env {
    char *dir;                   /* data_dir */
    hale_note_verifier root_key; /* audit.pub */
    hale_hash leaves[N_LEAVES];  /* leaf hashes of the honest log */
    hale_hash forked[N_LEAVES];  /* another log: same first 4 leaves, then different */
    hale_audit_signer *s;        /* the running signer, or NULL */
};

static const hale_audit_signer_opts opts = {.exe = HALE_BINARY, .timeout_ms = 5000};

static char *path_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);

    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    char leaf[32];

    if (!e)
        return -1;
    e->dir = fixture_tmpdir("signer");
    if (!e->dir || hale_audit_keys_ensure(e->dir, ORIGIN, NULL, &e->root_key, NULL) < 0)
        return -1;
    for (unsigned i = 0; i < N_LEAVES; i++) {
        snprintf(leaf, sizeof(leaf), "leaf %u", i);
        hale_merkle_leaf_hash(leaf, strlen(leaf), &e->leaves[i]);
        snprintf(leaf, sizeof(leaf), i < 4 ? "leaf %u" : "forged %u", i);
        hale_merkle_leaf_hash(leaf, strlen(leaf), &e->forked[i]);
    }
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;

    (void)hale_audit_signer_stop(e->s, NULL);
    fixture_rmtree(e->dir);
    free(e->dir);
    free(e);
    return 0;
}

static void start(struct env *e)
{
    hale_diag d = {{0}};
    int r = hale_audit_signer_start(e->dir, ORIGIN, &opts, &e->s, &d);

    if (r < 0)
        fail_msg("start: %s: %s", hale_strerror(r), d.msg);
}

static void stop(struct env *e)
{
    hale_diag d = {{0}};
    int r = hale_audit_signer_stop(e->s, &d);

    e->s = NULL;
    if (r < 0)
        fail_msg("stop: %s: %s", hale_strerror(r), d.msg);
}

/* A process that was itself started as a signer starts none: were the signer executable not
 * hale (a test binary, another program embedding the loop), it would run its own main, start
 * signers of its own, and so on without end. */
static void signer_child_starts_no_signer(void **state)
{
    struct env *e = *state;
    hale_diag d = {{0}};

    assert_int_equal(setenv("HALE_AUDIT_SIGNER_CHILD", "1", 1), 0);
    assert_int_equal(hale_audit_signer_start(e->dir, ORIGIN, &opts, &e->s, &d), -ELOOP);
    assert_null(e->s);
    assert_non_null(strstr(d.msg, "is the signer executable hale?"));
    assert_int_equal(unsetenv("HALE_AUDIT_SIGNER_CHILD"), 0);
    start(e);
    stop(e);
}

static hale_hash root_of(const hale_hash *leaves, uint64_t n)
{
    hale_hash h;

    hale_merkle_root(leaves, n, &h);
    return h;
}

/* Ask for the head of the first size leaves, with the proof from `from`. */
static int sign_tree(struct env *e, const hale_hash *leaves, uint64_t from, uint64_t size,
                     char **ret_note, hale_diag *d)
{
    hale_hash proof[HALE_MERKLE_MAX_PROOF], root = root_of(leaves, size);
    int n = 0;

    if (from > 0 && from < size)
        n = hale_merkle_consistency_proof(leaves, from, size, proof, HALE_MERKLE_MAX_PROOF);
    assert_true(n >= 0);
    return hale_audit_signer_sign(e->s, size, &root, proof, (size_t)n, ret_note, NULL, d);
}

/* The note must be the checkpoint of (size, root) signed by key, and by key only. */
static void assert_note(const char *note, const hale_note_verifier *key, uint64_t size,
                        const hale_hash *root)
{
    hale_note_opened o;
    hale_checkpoint c;

    assert_int_equal(hale_note_open(note, strlen(note), key, 1, 0, &o, NULL), 1);
    assert_int_equal(o.n_unknown, 0);
    assert_int_equal(hale_checkpoint_parse(o.text, o.text_len, &c, NULL), 0);
    assert_string_equal(c.origin, ORIGIN);
    assert_int_equal(c.size, size);
    assert_memory_equal(c.root.b, root->b, sizeof(root->b));
    hale_checkpoint_release(&c);
    hale_note_opened_release(&o);
}

static void assert_head(struct env *e, uint64_t size, const hale_hash *root)
{
    hale_hash got;
    uint64_t n = 99;

    assert_int_equal(hale_audit_signer_head(e->s, &n, &got, NULL), 0);
    assert_int_equal(n, size);
    if (size)
        assert_memory_equal(got.b, root->b, sizeof(got.b));
}

/* The state file must hold (size, root) in one of its slots as soon as the signature is out:
 * persisted before the reply, not at exit. */
static void assert_persisted(struct env *e, uint64_t size, const hale_hash *root)
{
    char *path = path_in(e->dir, "audit.signer"), *data;
    size_t len;
    bool found = false;

    data = fixture_read(path, &len);
    assert_int_equal(len, 176);
    for (size_t slot = 0; slot < 2 && !found; slot++) {
        const uint8_t *p = (const uint8_t *)data + slot * 88;
        uint64_t got = 0;

        for (int i = 0; i < 8; i++)
            got = got << 8 | p[16 + i];
        found = got == size && memcmp(p + 24, root->b, 32) == 0;
    }
    assert_true(found);
    free(data);
    free(path);
}

static void signs_a_growing_log(void **state)
{
    struct env *e = *state;
    hale_note_verifier key;
    hale_hash root;
    char *note = NULL;
    hale_diag d = {{0}};
    uint64_t sizes[] = {3, 7, 7, 8, 16, 17, 33, 64};

    start(e);
    hale_audit_signer_verifier(e->s, &key);
    assert_memory_equal(key.pk, e->root_key.pk, sizeof(key.pk));
    assert_head(e, 0, NULL);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint64_t from = i ? sizes[i - 1] : 0;

        assert_int_equal(sign_tree(e, e->leaves, from, sizes[i], &note, &d), 0);
        root = root_of(e->leaves, sizes[i]);
        assert_note(note, &key, sizes[i], &root);
        assert_head(e, sizes[i], &root);
        assert_persisted(e, sizes[i], &root);
        free(note);
    }
    stop(e);
}

static void refuses_inconsistent_heads(void **state)
{
    struct env *e = *state;
    char *path = path_in(e->dir, "audit.signer"), *before, *after, *note = NULL;
    hale_hash proof[HALE_MERKLE_MAX_PROOF], root5 = root_of(e->leaves, 5), root;
    hale_diag d = {{0}};
    size_t len_before, len_after;
    int n;

    start(e);
    assert_int_equal(sign_tree(e, e->leaves, 0, 5, &note, &d), 0);
    free(note);
    before = fixture_read(path, &len_before);

    /* Another root at the same size. */
    root = root_of(e->forked, 5);
    assert_int_equal(hale_audit_signer_sign(e->s, 5, &root, NULL, 0, &note, NULL, &d), HALE_EPROOF);
    assert_non_null(strstr(d.msg, "differs"));
    /* A smaller size, even with the honest root. */
    root = root_of(e->leaves, 4);
    assert_int_equal(hale_audit_signer_sign(e->s, 4, &root, NULL, 0, &note, NULL, &d), HALE_EPROOF);
    assert_non_null(strstr(d.msg, "below the last signed size 5"));
    /* A fork after leaf 4 with the fork's own (valid for it) proof. */
    assert_int_equal(sign_tree(e, e->forked, 5, 9, &note, &d), HALE_EPROOF);
    assert_non_null(strstr(d.msg, "does not verify"));
    /* The honest head with a damaged proof, a short proof, and no proof. */
    n = hale_merkle_consistency_proof(e->leaves, 5, 9, proof, HALE_MERKLE_MAX_PROOF);
    assert_true(n > 1);
    root = root_of(e->leaves, 9);
    proof[0].b[0] ^= 1;
    assert_int_equal(hale_audit_signer_sign(e->s, 9, &root, proof, (size_t)n, &note, NULL, &d),
                     HALE_EPROOF);
    proof[0].b[0] ^= 1;
    assert_int_equal(hale_audit_signer_sign(e->s, 9, &root, proof, (size_t)n - 1, &note, NULL, &d),
                     HALE_EPROOF);
    assert_int_equal(hale_audit_signer_sign(e->s, 9, &root, NULL, 0, &note, NULL, &d), HALE_EPROOF);
    assert_int_equal(
        hale_audit_signer_sign(e->s, 9, &root, proof, HALE_MERKLE_MAX_PROOF + 1, &note, NULL, &d),
        -EINVAL);

    /* Nothing changed: not the head, not a byte of the state file. */
    assert_head(e, 5, &root5);
    after = fixture_read(path, &len_after);
    assert_int_equal(len_after, len_before);
    assert_memory_equal(after, before, len_before);
    /* And the signer still signs the honest continuation. */
    assert_int_equal(hale_audit_signer_sign(e->s, 9, &root, proof, (size_t)n, &note, NULL, &d), 0);
    free(note);
    stop(e);
    free(before);
    free(after);
    free(path);
}

static void first_head_rules(void **state)
{
    struct env *e = *state;
    hale_hash empty, other = root_of(e->leaves, 1), proof[1] = {{{0}}};
    hale_diag d = {{0}};
    char *note = NULL;

    start(e);
    hale_merkle_empty_root(&empty);
    assert_int_equal(hale_audit_signer_sign(e->s, 0, &other, NULL, 0, &note, NULL, &d),
                     HALE_EPROOF);
    assert_int_equal(hale_audit_signer_sign(e->s, 0, &empty, NULL, 0, &note, NULL, &d), 0);
    free(note);
    assert_int_equal(hale_audit_signer_sign(e->s, 1, &other, proof, 1, &note, NULL, &d),
                     HALE_EPROOF);
    assert_non_null(strstr(d.msg, "not expected"));
    assert_int_equal(hale_audit_signer_sign(e->s, 1, &other, NULL, 0, &note, NULL, &d), 0);
    free(note);
    stop(e);
}

static void state_survives_restart(void **state)
{
    struct env *e = *state;
    hale_hash root6 = root_of(e->leaves, 6), root;
    hale_diag d = {{0}};
    char *note = NULL;

    start(e);
    assert_int_equal(sign_tree(e, e->leaves, 0, 6, &note, &d), 0);
    free(note);
    stop(e);
    start(e);
    assert_head(e, 6, &root6);
    root = root_of(e->forked, 6);
    assert_int_equal(hale_audit_signer_sign(e->s, 6, &root, NULL, 0, &note, NULL, &d), HALE_EPROOF);
    assert_int_equal(sign_tree(e, e->leaves, 6, 10, &note, &d), 0);
    free(note);
    stop(e);
}

/* Overwrite len bytes at off of the state file. */
static void damage(struct env *e, off_t off, size_t len)
{
    char *path = path_in(e->dir, "audit.signer");
    uint8_t junk[256];
    int fd = open(path, O_WRONLY);

    assert_true(fd >= 0);
    memset(junk, 0xA5, sizeof(junk));
    assert_int_equal(pwrite(fd, junk, len, off), (ssize_t)len);
    close(fd);
    free(path);
}

static void expect_start_fails(struct env *e, int code, const char *needle)
{
    hale_audit_signer *s = NULL;
    hale_diag d = {{0}};

    assert_int_equal(hale_audit_signer_start(e->dir, ORIGIN, &opts, &s, &d), code);
    assert_null(s);
    if (!strstr(d.msg, needle))
        fail_msg("'%s' not in '%s'", needle, d.msg);
}

static void corrupt_state_is_refused(void **state)
{
    struct env *e = *state;
    hale_hash root3 = root_of(e->leaves, 3);
    char *path = path_in(e->dir, "audit.signer"), *note = NULL;
    hale_diag d = {{0}};

    /* Saves: generation 1 (size 3) in slot 1, generation 2 (size 5) in slot 0. */
    start(e);
    assert_int_equal(sign_tree(e, e->leaves, 0, 3, &note, &d), 0);
    free(note);
    assert_int_equal(sign_tree(e, e->leaves, 3, 5, &note, &d), 0);
    free(note);
    stop(e);
    /* A torn write of the newest slot: its head was never answered, the one before stands. */
    damage(e, 40, 8);
    start(e);
    assert_head(e, 3, &root3);
    stop(e);
    /* Both slots damaged: refused, never reset. */
    damage(e, 88 + 20, 8);
    expect_start_fails(e, HALE_ESCHEMA, "audit.signer: no valid record");
    /* A file of the wrong size. */
    assert_int_equal(truncate(path, 100), 0);
    expect_start_fails(e, HALE_ESCHEMA, "expected a regular file of 176");
    free(path);
}

static void key_problems_fail_start(void **state)
{
    struct env *e = *state;
    char *key = path_in(e->dir, "audit.key");
    hale_audit_signer *s = NULL;
    hale_diag d = {{0}};

    assert_int_equal(chmod(key, 0644), 0);
    expect_start_fails(e, HALE_ECONFIG, "0644 are too open");
    {
        char *moved = path_in(e->dir, "moved.key");

        assert_int_equal(rename(key, moved), 0);
        expect_start_fails(e, -ENOENT, "audit.key: cannot open");
        assert_int_equal(rename(moved, key), 0);
        free(moved);
    }
    assert_int_equal(chmod(key, 0600), 0);
    assert_int_equal(hale_audit_signer_start(e->dir, "example.com/other", &opts, &s, &d),
                     HALE_ECONFIG);
    assert_non_null(strstr(d.msg, "example.com/other"));
    free(key);
}

static bool file_contains(const char *path, const char *needle)
{
    size_t len, n = strlen(needle);
    char *data = fixture_read(path, &len);
    bool found = false;

    for (size_t i = 0; data && i + n <= len && !found; i++)
        found = memcmp(data + i, needle, n) == 0;
    free(data);
    return found;
}

/* No file under dir holds needle. */
static void assert_nowhere(const char *dir, const char *needle)
{
    struct dirent *de;
    DIR *d = opendir(dir);

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char *p;

        if (de->d_name[0] == '.')
            continue;
        p = path_in(dir, de->d_name);
        if (file_contains(p, needle))
            fail_msg("%s still holds the old secret", p);
        free(p);
    }
    closedir(d);
}

static char *secret_b64(const char *dir)
{
    char *key = path_in(dir, "audit.key"), *text = fixture_read(key, NULL), *b64;

    assert_non_null(text);
    text[strcspn(text, "\n")] = '\0';
    b64 = strdup(strrchr(text, '+') + 1);
    free(text);
    free(key);
    return b64;
}

static void rotation_switches_and_erases(void **state)
{
    struct env *e = *state;
    char *next_path = path_in(e->dir, "audit.key.next"), *key_path = path_in(e->dir, "audit.key");
    char *pub_path = path_in(e->dir, "audit.pub"), *old_secret, *note = NULL;
    hale_note_verifier k0, k1, cur, loaded;
    hale_hash root, proof[HALE_MERKLE_MAX_PROOF];
    hale_note_signer *s = NULL;
    hale_note_opened o;
    hale_diag d = {{0}};
    struct stat st;
    int n;

    start(e);
    hale_audit_signer_verifier(e->s, &k0);
    assert_int_equal(sign_tree(e, e->leaves, 0, 4, &note, &d), 0);
    free(note);
    old_secret = secret_b64(e->dir);
    root = root_of(e->leaves, 5);
    n = hale_merkle_consistency_proof(e->leaves, 4, 5, proof, HALE_MERKLE_MAX_PROOF);
    assert_int_equal(
        hale_audit_signer_rotate_commit(e->s, 5, &root, proof, (size_t)n, &note, NULL, &d),
        HALE_ESTATE);

    assert_int_equal(hale_audit_signer_rotate_begin(e->s, &k1, &d), 0);
    assert_string_equal(k1.name, ORIGIN);
    assert_memory_not_equal(k1.pk, k0.pk, sizeof(k0.pk));
    assert_int_equal(stat(next_path, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    assert_int_equal(hale_audit_signer_pending(e->s, &cur), 0);
    assert_memory_equal(cur.pk, k1.pk, sizeof(k1.pk));
    /* A refused head commits nothing. */
    assert_int_equal(hale_audit_signer_rotate_commit(e->s, 3, &root, NULL, 0, &note, NULL, &d),
                     HALE_EPROOF);
    assert_int_equal(hale_audit_signer_pending(e->s, &cur), 0);
    hale_audit_signer_verifier(e->s, &cur);
    assert_memory_equal(cur.pk, k0.pk, sizeof(k0.pk));

    /* The head holding the rotation leaf is sealed by the OLD key. */
    assert_int_equal(
        hale_audit_signer_rotate_commit(e->s, 5, &root, proof, (size_t)n, &note, NULL, &d), 0);
    assert_note(note, &k0, 5, &root);
    assert_int_equal(hale_note_open(note, strlen(note), &k1, 1, 0, &o, NULL), HALE_ENOTFOUND);
    free(note);
    hale_audit_signer_verifier(e->s, &cur);
    assert_memory_equal(cur.pk, k1.pk, sizeof(k1.pk));
    assert_int_equal(hale_audit_signer_pending(e->s, &cur), HALE_ENOTFOUND);
    assert_int_equal(access(next_path, F_OK), -1);
    assert_int_equal(hale_audit_key_load(key_path, &s, &d), 0);
    assert_memory_equal(hale_note_signer_verifier(s)->pk, k1.pk, sizeof(k1.pk));
    hale_note_signer_free(s);
    assert_int_equal(hale_audit_pub_load(pub_path, &loaded, &d), 0);
    assert_memory_equal(loaded.pk, k0.pk, sizeof(k0.pk)); /* the root key stays */
    assert_nowhere(e->dir, old_secret);

    /* Later heads: the new key only. */
    assert_int_equal(sign_tree(e, e->leaves, 5, 6, &note, &d), 0);
    root = root_of(e->leaves, 6);
    assert_note(note, &k1, 6, &root);
    assert_int_equal(hale_note_open(note, strlen(note), &k0, 1, 0, &o, NULL), HALE_ENOTFOUND);
    free(note);
    stop(e);
    start(e);
    hale_audit_signer_verifier(e->s, &cur);
    assert_memory_equal(cur.pk, k1.pk, sizeof(k1.pk));
    assert_head(e, 6, &root);
    stop(e);
    free(old_secret);
    free(next_path);
    free(key_path);
    free(pub_path);
}

static void rotation_survives_restart(void **state)
{
    struct env *e = *state;
    hale_note_verifier k0, k1, k2, cur;
    hale_hash root, proof[HALE_MERKLE_MAX_PROOF];
    hale_diag d = {{0}};
    char *note = NULL;
    int n;

    start(e);
    hale_audit_signer_verifier(e->s, &k0);
    assert_int_equal(sign_tree(e, e->leaves, 0, 2, &note, &d), 0);
    free(note);
    assert_int_equal(hale_audit_signer_rotate_begin(e->s, &k1, &d), 0);
    stop(e);
    /* The pending key outlives the restart ... */
    start(e);
    assert_int_equal(hale_audit_signer_pending(e->s, &cur), 0);
    assert_memory_equal(cur.pk, k1.pk, sizeof(k1.pk));
    /* ... and a new rotate_begin replaces it. */
    assert_int_equal(hale_audit_signer_rotate_begin(e->s, &k2, &d), 0);
    assert_memory_not_equal(k2.pk, k1.pk, sizeof(k1.pk));
    root = root_of(e->leaves, 3);
    n = hale_merkle_consistency_proof(e->leaves, 2, 3, proof, HALE_MERKLE_MAX_PROOF);
    assert_int_equal(
        hale_audit_signer_rotate_commit(e->s, 3, &root, proof, (size_t)n, &note, NULL, &d), 0);
    assert_note(note, &k0, 3, &root);
    free(note);
    hale_audit_signer_verifier(e->s, &cur);
    assert_memory_equal(cur.pk, k2.pk, sizeof(k2.pk));
    stop(e);
}

/* One thread grows the log while another reads heads: every reply must pair with its request. */
struct reader {
    struct env *e;  /* shared, read-only here */
    int bad;        /* replies that did not match a head of the honest log */
    unsigned reads; /* heads read */
};

static void *read_heads(void *arg)
{
    struct reader *rd = arg;
    uint64_t last = 0, size;
    hale_hash root, want;

    for (unsigned i = 0; i < 300; i++) {
        if (hale_audit_signer_head(rd->e->s, &size, &root, NULL) < 0 || size < last || size > 40) {
            rd->bad++;
            continue;
        }
        want = root_of(rd->e->leaves, size);
        if (size && memcmp(root.b, want.b, sizeof(want.b)) != 0)
            rd->bad++;
        last = size;
        rd->reads++;
    }
    return NULL;
}

static void calls_from_two_threads(void **state)
{
    struct env *e = *state;
    struct reader rd = {.e = e};
    hale_diag d = {{0}};
    char *note = NULL;
    pthread_t t;

    start(e);
    assert_int_equal(pthread_create(&t, NULL, read_heads, &rd), 0);
    for (uint64_t size = 1; size <= 40; size++) {
        assert_int_equal(sign_tree(e, e->leaves, size - 1, size, &note, &d), 0);
        free(note);
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(rd.bad, 0);
    assert_int_equal(rd.reads, 300);
    stop(e);
}

/* ---- the raw protocol, with a child started by hand ---- */

static pid_t raw_spawn(struct env *e, int *ret_fd)
{
    char arg0[] = "hale", arg1[] = "__audit-signer", org[] = ORIGIN;
    char *argv[] = {arg0, arg1, e->dir, org, NULL}, *envp[] = {NULL};
    posix_spawn_file_actions_t fa;
    int sv[2];
    pid_t pid;

    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    if (sv[1] == 3) {
        int moved = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);

        close(sv[1]);
        sv[1] = moved;
    }
    assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
    assert_int_equal(posix_spawn_file_actions_adddup2(&fa, sv[1], 3), 0);
    assert_int_equal(posix_spawn(&pid, HALE_BINARY, &fa, NULL, argv, envp), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(sv[1]);
    *ret_fd = sv[0];
    return pid;
}

/* Read one reply: its op, and its status (or INT32_MIN for a reply too short to hold one). */
static int32_t raw_reply(int fd, unsigned *ret_op, size_t *ret_len)
{
    uint8_t buf[8192];
    struct timeval tv = {5, 0};
    ssize_t n;
    uint32_t v;

    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    n = recv(fd, buf, sizeof(buf), 0);
    if (n < 12)
        fail_msg("reply of %zd bytes (errno %d)", n, errno);
    assert_int_equal(buf[0], 1);
    v = (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 | (uint32_t)buf[10] << 8 | buf[11];
    *ret_op = buf[1];
    *ret_len = (size_t)n;
    return (int32_t)v;
}

static void raw_expect_error(int fd, const void *frame, size_t len)
{
    unsigned op;
    size_t n;

    assert_int_equal(send(fd, frame, len, 0), (ssize_t)len);
    assert_true(raw_reply(fd, &op, &n) < 0);
}

static void malformed_frames_get_errors(void **state)
{
    struct env *e = *state;
    static const uint8_t short_frame[] = {1, 2, 0};
    static const uint8_t bad_version[] = {2, 2, 0, 0, 0, 0, 0, 0};
    static const uint8_t bad_flags[] = {1, 2, 0, 1, 0, 0, 0, 0};
    static const uint8_t bad_length[] = {1, 2, 0, 0, 0, 0, 0, 10};
    static const uint8_t bad_op[] = {1, 99, 0, 0, 0, 0, 0, 0};
    static const uint8_t head_payload[] = {1, 2, 0, 0, 0, 0, 0, 1, 7};
    static const uint8_t head[] = {1, 2, 0, 0, 0, 0, 0, 0};
    uint8_t big[5000] = {1, 3}, sign[8 + 41 + 32] = {1, 3, 0, 0, 0, 0, 0, 41 + 32};
    unsigned op;
    size_t n;
    int fd, status;
    pid_t pid = raw_spawn(e, &fd);

    assert_int_equal(raw_reply(fd, &op, &n), 0);
    assert_int_equal(op, 1); /* HELLO */
    raw_expect_error(fd, short_frame, sizeof(short_frame));
    raw_expect_error(fd, bad_version, sizeof(bad_version));
    raw_expect_error(fd, bad_flags, sizeof(bad_flags));
    raw_expect_error(fd, bad_length, sizeof(bad_length));
    raw_expect_error(fd, bad_op, sizeof(bad_op));
    raw_expect_error(fd, head_payload, sizeof(head_payload));
    raw_expect_error(fd, big, sizeof(big));
    raw_expect_error(fd, "", 0); /* an empty record is not the end */
    sign[8 + 40] = 65;           /* a proof above the limit */
    raw_expect_error(fd, sign, 8 + 41);
    sign[8 + 40] = 2; /* two hashes announced, one sent */
    raw_expect_error(fd, sign, sizeof(sign));
    sign[8 + 40] = 0; /* a proper length for no proof: 41 bytes */
    sign[7] = 41;
    raw_expect_error(fd, sign, 8 + 41); /* size 0 with a zero root: refused, not a crash */
    /* A first head (size 1, no proof), so that a random head that happens to parse is refused
     * too: it would need the signed root or a proof from it. */
    sign[15] = 1;
    memcpy(sign + 16, e->leaves[0].b, 32);
    assert_int_equal(send(fd, sign, 8 + 41, 0), 8 + 41);
    assert_int_equal(raw_reply(fd, &op, &n), 0);
    for (int i = 0; i < 300; i++) {
        uint8_t junk[600];
        size_t len = randombytes_uniform(sizeof(junk));

        randombytes_buf(junk, len);
        if (i % 2 && len >= 8) { /* a valid header over random bytes */
            len += len == 8;     /* head and rotate_begin take no payload: give them one */
            junk[0] = 1;
            junk[1] = (uint8_t)(2 + randombytes_uniform(4));
            junk[2] = junk[3] = 0;
            junk[4] = junk[5] = 0;
            junk[6] = (uint8_t)((len - 8) >> 8);
            junk[7] = (uint8_t)(len - 8);
        }
        raw_expect_error(fd, junk, len);
    }
    /* Still serving. */
    assert_int_equal(send(fd, head, sizeof(head), 0), (ssize_t)sizeof(head));
    assert_int_equal(raw_reply(fd, &op, &n), 0);
    assert_int_equal(op, 2);
    assert_int_equal(n, 8 + 4 + 40);
    close(fd);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* A /proc file (its size reads as 0, so fixture_read cannot). */
static char *read_proc(const char *path)
{
    char *buf = calloc(1, 65536);
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(buf);
    assert_non_null(f);
    n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void child_is_sandboxed(void **state)
{
    struct env *e = *state;
    char path[64], *status;
    struct dirent *de;
    int n_fds = 0;
    DIR *d;

    start(e);
    snprintf(path, sizeof(path), "/proc/%d/status", hale_audit_signer_pid(e->s));
    status = read_proc(path);
    assert_non_null(status);
    if (!strstr(status, "\nSeccomp:\t2\n"))
        fail_msg("%s", status);
    assert_non_null(strstr(status, "\nNoNewPrivs:\t1\n"));
    free(status);
    /* 0-2, the socket, the directory and the state file: nothing inherited. Readable only with
     * CAP_SYS_PTRACE, since the child is not dumpable. */
    snprintf(path, sizeof(path), "/proc/%d/fd", hale_audit_signer_pid(e->s));
    d = opendir(path);
    if (d) {
        while ((de = readdir(d)) != NULL)
            n_fds += de->d_name[0] != '.';
        closedir(d);
        assert_int_equal(n_fds, 6);
    }
    stop(e);
}

/* In a child of this test: what Landlock leaves the signer, when the kernel has it. Exit codes:
 * 0 as expected, 77 no Landlock, else the number of the check that failed. */
static int confine_checks(const char *dir)
{
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd;

    if (dirfd < 0)
        return 1;
    switch (hale__signer_confine(dirfd)) {
    case 0:
        return 77;
    case 1:
        break;
    default:
        return 2;
    }
    fd = openat(dirfd, "audit.key.next", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return 3;
    close(fd);
    if (renameat(dirfd, "audit.key.next", dirfd, "moved") < 0 || unlinkat(dirfd, "moved", 0) < 0)
        return 4;
    if (openat(dirfd, "../escaped", O_WRONLY | O_CREAT | O_CLOEXEC, 0600) >= 0 || errno != EACCES)
        return 5;
    if (open("/etc/passwd", O_RDONLY | O_CLOEXEC) >= 0 || errno != EACCES)
        return 6;
    if (openat(dirfd, "audit.pub", O_RDONLY | O_CLOEXEC) >= 0 || errno != EACCES)
        return 7; /* everything is read before the sandbox: reading is not granted */
    return 0;
}

static void confined_to_data_dir(void **state)
{
    struct env *e = *state;
    int status;
    pid_t pid = fork(); /* the test process has one thread */

    assert_true(pid >= 0);
    if (pid == 0)
        _exit(confine_checks(e->dir));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* In a child of this test: harden (no core file when it is killed) and install the signer's
 * filter, then make call `which`. The allowed
 * calls end with exit_group(0); a forbidden one must kill the process with SIGSYS. */
static void filtered_call(const char *dir, int which)
{
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd;
    char c = 'x';

    if (dirfd < 0 || hale__signer_harden() < 0 || hale__signer_sandbox(dirfd, 0) < 0)
        syscall(SYS_exit_group, 3);
    switch (which) {
    case 0: /* allowed: a file beneath the directory, written and synced */
        fd = openat(dirfd, "allowed", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, &c, 1) != 1 || fdatasync(fd) < 0)
            syscall(SYS_exit_group, 4);
        break;
    case 1:
        (void)openat(AT_FDCWD, "/etc/hostname", O_RDONLY | O_CLOEXEC);
        break;
    case 2:
        (void)socket(AF_INET, SOCK_STREAM, 0);
        break;
    case 3:
        (void)mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        break;
    case 4:
        (void)read(dirfd, &c, 1); /* reads only from the socket (fd 0 here) */
        break;
    default:
        (void)syscall(SYS_execve, "/bin/true", NULL, NULL);
        break;
    }
    syscall(SYS_exit_group, 0);
}

static void filter_kills_forbidden_calls(void **state)
{
    struct env *e = *state;

    for (int which = 0; which <= 5; which++) {
        int status;
        pid_t pid = fork(); /* the test process has one thread */

        assert_true(pid >= 0);
        if (pid == 0)
            filtered_call(e->dir, which);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (which == 0) {
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
        } else if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS) {
            fail_msg("call %d: status 0x%x, expected death by SIGSYS", which, status);
        }
    }
}

static void dead_or_hung_child(void **state)
{
    struct env *e = *state;
    hale_audit_signer_opts hang = {.timeout_ms = 300};
    char *script = path_in(e->dir, "hang.sh"), *note = NULL;
    hale_hash root = root_of(e->leaves, 1);
    hale_audit_signer *s = NULL;
    hale_diag d = {{0}};
    uint64_t size;

    start(e);
    assert_int_equal(kill(hale_audit_signer_pid(e->s), SIGKILL), 0);
    assert_int_equal(hale_audit_signer_sign(e->s, 1, &root, NULL, 0, &note, NULL, &d), -EPIPE);
    assert_non_null(strstr(d.msg, "killed by signal 9"));
    assert_int_equal(hale_audit_signer_head(e->s, &size, &root, &d), -ENOTCONN);
    assert_int_equal(hale_audit_signer_stop(e->s, &d), -ECHILD);
    e->s = NULL;

    assert_int_equal(fixture_write(script, "#!/bin/sh\nexec /bin/sleep 30\n"), 0);
    assert_int_equal(chmod(script, 0755), 0);
    hang.exe = script;
    assert_int_equal(hale_audit_signer_start(e->dir, ORIGIN, &hang, &s, &d), -ETIMEDOUT);
    assert_null(s);
    hang.exe = "/nonexistent/hale";
    assert_int_equal(hale_audit_signer_start(e->dir, ORIGIN, &hang, &s, &d), -ENOENT);
    free(script);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(signs_a_growing_log, setup, teardown),
        cmocka_unit_test_setup_teardown(signer_child_starts_no_signer, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_inconsistent_heads, setup, teardown),
        cmocka_unit_test_setup_teardown(first_head_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(state_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_state_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(key_problems_fail_start, setup, teardown),
        cmocka_unit_test_setup_teardown(rotation_switches_and_erases, setup, teardown),
        cmocka_unit_test_setup_teardown(rotation_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(calls_from_two_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_frames_get_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(child_is_sandboxed, setup, teardown),
        cmocka_unit_test_setup_teardown(confined_to_data_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(filter_kills_forbidden_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(dead_or_hung_child, setup, teardown),
    };

    (void)argc;
    (void)argv;
    if (sodium_init() < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
