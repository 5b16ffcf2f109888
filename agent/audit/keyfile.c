/* agent/audit/keyfile.c - the audit log's key files (include/hale/audit_signer.h): creating a
 * key pair without ever overwriting one, loading the secret with ssh's permission check, and
 * the first-start set-up of data_dir/audit.key and audit.pub. Secret bytes only ever sit in
 * sodium_malloc()'d memory and are wiped after use. */
#include "internal.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/signer_int.h"
#include "hale/audit.h"
#include "hale/audit_signer.h"

#define PATH_BYTES 4096u

/* Read the whole of fd (at most cap - 1 bytes) into buf and NUL-terminate it, dropping one
 * final '\n'. Returns the length, HALE_EPARSE when the file is larger, or -errno. */
static int read_text(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    ssize_t n;

    for (;;) {
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap)
            return HALE_EPARSE;
    }
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    buf[len] = '\0';
    return (int)len;
}

/* Refuse a secret key file anyone but its owner (us) could read or replace. */
static int check_secret_mode(int fd, const char *what, hale_diag *reterr)
{
    struct stat st;

    if (fstat(fd, &st) < 0) {
        hale_diag_set(reterr, "%s: cannot stat: %s", what, strerror(errno));
        return -errno;
    }
    if (!S_ISREG(st.st_mode)) {
        hale_diag_set(reterr, "%s: not a regular file", what);
        return HALE_ECONFIG;
    }
    if (st.st_uid != geteuid()) {
        hale_diag_set(reterr, "%s: owned by uid %lu, not by this user (uid %lu)", what,
                      (unsigned long)st.st_uid, (unsigned long)geteuid());
        return HALE_ECONFIG;
    }
    if (st.st_mode & 077) {
        hale_diag_set(reterr,
                      "%s: permissions %04o are too open: a secret key must not be accessible "
                      "by group or others (chmod 600 it, and consider it exposed)",
                      what, (unsigned)(st.st_mode & 07777));
        return HALE_ECONFIG;
    }
    return 0;
}

int hale__audit_key_load_at(int dirfd, const char *name, const char *what, hale_note_signer **ret,
                            hale_diag *reterr)
{
    const size_t cap = HALE_NOTE_SKEY_MAX_BYTES + 2;
    char *text;
    int fd, r;

    fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0) {
        r = -errno;
        hale_diag_set(reterr, "%s: cannot open: %s", what, strerror(errno));
        return r;
    }
    r = check_secret_mode(fd, what, reterr);
    if (r < 0)
        goto out_close;
    text = sodium_malloc(cap);
    if (!text) {
        r = -ENOMEM;
        goto out_close;
    }
    r = read_text(fd, text, cap);
    if (r >= 0)
        r = hale_note_signer_parse(text, ret);
    if (r == HALE_EPARSE)
        hale_diag_set(reterr, "%s: not a secret key (expected one line PRIVATE+KEY+<name>+...)",
                      what);
    else if (r < 0)
        hale_diag_set(reterr, "%s: cannot read: %s", what, hale_strerror(r));
    sodium_free(text); /* wipes */
out_close:
    close(fd);
    return r < 0 ? r : 0;
}

int hale_audit_key_load(const char *path, hale_note_signer **ret, hale_diag *reterr)
{
    return hale__audit_key_load_at(AT_FDCWD, path, path, ret, reterr);
}

int hale_audit_pub_load(const char *path, hale_note_verifier *ret, hale_diag *reterr)
{
    char text[HALE_NOTE_VKEY_MAX_BYTES + 2];
    int fd, r;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        r = -errno;
        hale_diag_set(reterr, "%s: cannot open: %s", path, strerror(errno));
        return r;
    }
    r = read_text(fd, text, sizeof(text));
    close(fd);
    if (r >= 0)
        r = hale_note_verifier_parse(text, ret);
    if (r == HALE_EPARSE)
        hale_diag_set(reterr, "%s: not a public key (expected one line <name>+<id>+<key>)", path);
    else if (r < 0)
        hale_diag_set(reterr, "%s: cannot read: %s", path, hale_strerror(r));
    return r < 0 ? r : 0;
}

/* Write len bytes of text to a new file (O_EXCL, mode) and fsync it. */
static int write_new(int dirfd, const char *name, const char *what, mode_t mode, const char *text,
                     size_t len, hale_diag *reterr)
{
    size_t off = 0;
    ssize_t n;
    int fd, r = 0;

    fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        r = -errno;
        if (r == -EEXIST)
            hale_diag_set(reterr, "%s: already exists, refusing to overwrite it", what);
        else
            hale_diag_set(reterr, "%s: cannot create: %s", what, strerror(errno));
        return r;
    }
    while (off < len && r == 0) {
        n = write(fd, text + off, len - off);
        if (n < 0 && errno != EINTR)
            r = -errno;
        else if (n > 0)
            off += (size_t)n;
    }
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    close(fd);
    if (r < 0) {
        hale_diag_set(reterr, "%s: cannot write: %s", what, strerror(-r));
        (void)unlinkat(dirfd, name, 0);
    }
    return r;
}

int hale__audit_key_write_at(int dirfd, const char *name, const char *what,
                             const hale_note_signer *s, bool replace, hale_diag *reterr)
{
    const size_t cap = HALE_NOTE_SKEY_MAX_BYTES + 1;
    char *text;
    int len, r;

    if (replace && unlinkat(dirfd, name, 0) < 0 && errno != ENOENT) {
        r = -errno;
        hale_diag_set(reterr, "%s: cannot remove the old file: %s", what, strerror(errno));
        return r;
    }
    text = sodium_malloc(cap);
    if (!text)
        return -ENOMEM;
    len = hale_note_signer_format(s, text, cap - 1);
    if (len < 0) {
        sodium_free(text);
        return len;
    }
    text[len++] = '\n';
    r = write_new(dirfd, name, what, 0600, text, (size_t)len, reterr);
    sodium_free(text);
    return r;
}

static int fsync_dir_of(const char *path)
{
    char dir[PATH_BYTES];
    const char *slash = strrchr(path, '/');
    int fd, r = 0;

    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        r = -errno;
    close(fd);
    return r;
}

static int keygen_write(const char *key_path, const char *pub_path, hale_note_signer *s,
                        hale_diag *reterr)
{
    char vkey[HALE_NOTE_VKEY_MAX_BYTES + 1];
    int len, r;

    len = hale_note_verifier_format(hale_note_signer_verifier(s), vkey, sizeof(vkey) - 1);
    if (len < 0)
        return len;
    vkey[len++] = '\n';
    r = hale__audit_key_write_at(AT_FDCWD, key_path, key_path, s, false, reterr);
    if (r < 0)
        return r;
    r = write_new(AT_FDCWD, pub_path, pub_path, 0644, vkey, (size_t)len, reterr);
    if (r < 0) {
        (void)unlink(key_path);
        return r;
    }
    r = fsync_dir_of(key_path);
    if (r < 0)
        hale_diag_set(reterr, "%s: cannot sync its directory: %s", key_path, strerror(-r));
    return r;
}

int hale_audit_keygen(const char *prefix, const char *name, hale_note_verifier *ret_pub,
                      hale_diag *reterr)
{
    char key_path[PATH_BYTES], pub_path[PATH_BYTES];
    hale_note_signer *s = NULL;
    uint8_t *seed;
    int r;

    if ((size_t)snprintf(key_path, sizeof(key_path), "%s.key", prefix) >= sizeof(key_path) ||
        (size_t)snprintf(pub_path, sizeof(pub_path), "%s.pub", prefix) >= sizeof(pub_path)) {
        hale_diag_set(reterr, "%s: path too long", prefix);
        return -ENAMETOOLONG;
    }
    if (!hale_note_name_is_valid(name, strlen(name))) {
        hale_diag_set(reterr,
                      "key name '%s' is not valid: 1 to %u bytes of UTF-8 without "
                      "spaces, '+' or control characters",
                      name, HALE_NOTE_MAX_NAME_BYTES);
        return HALE_EPARSE;
    }
    /* Both names are checked before either is created, so a refusal writes nothing. */
    if (access(key_path, F_OK) == 0 || access(pub_path, F_OK) == 0) {
        hale_diag_set(reterr, "%s: already exists, refusing to overwrite it",
                      access(key_path, F_OK) == 0 ? key_path : pub_path);
        return -EEXIST;
    }
    seed = sodium_malloc(HALE_NOTE_SEED_BYTES);
    if (!seed)
        return -ENOMEM;
    randombytes_buf(seed, HALE_NOTE_SEED_BYTES);
    r = hale_note_signer_from_seed(name, seed, &s);
    sodium_free(seed);
    if (r < 0)
        return r;
    r = keygen_write(key_path, pub_path, s, reterr);
    if (r == 0 && ret_pub)
        *ret_pub = *hale_note_signer_verifier(s);
    hale_note_signer_free(s);
    return r;
}

static bool has_signer_state(const char *data_dir)
{
    char path[PATH_BYTES];

    snprintf(path, sizeof(path), "%s/%s", data_dir, HALE_AUDIT_SIGNER_STATE);
    return access(path, F_OK) == 0;
}

int hale_audit_keys_ensure(const char *data_dir, const char *origin, bool *ret_created,
                           hale_note_verifier *ret_pub, hale_diag *reterr)
{
    char key_path[PATH_BYTES], pub_path[PATH_BYTES], prefix[PATH_BYTES];
    hale_note_verifier pub;
    bool has_key, has_pub;
    int r;

    snprintf(prefix, sizeof(prefix), "%s/audit", data_dir);
    if ((size_t)snprintf(key_path, sizeof(key_path), "%s/%s", data_dir, HALE_AUDIT_KEY_FILE) >=
            sizeof(key_path) ||
        (size_t)snprintf(pub_path, sizeof(pub_path), "%s/%s", data_dir, HALE_AUDIT_PUB_FILE) >=
            sizeof(pub_path)) {
        hale_diag_set(reterr, "%s: path too long", data_dir);
        return -ENAMETOOLONG;
    }
    has_key = access(key_path, F_OK) == 0;
    has_pub = access(pub_path, F_OK) == 0;
    if (!has_key && !has_pub && has_signer_state(data_dir)) {
        hale_diag_set(reterr,
                      "%s/%s exists without keys: it belongs to an earlier log identity; move "
                      "it away with that log (or restore its keys) before a new key is made",
                      data_dir, HALE_AUDIT_SIGNER_STATE);
        return HALE_ECONFIG;
    }
    if (!has_key && !has_pub) {
        r = hale_audit_keygen(prefix, origin, &pub, reterr);
        if (r < 0)
            return r;
        if (ret_created)
            *ret_created = true;
        if (ret_pub)
            *ret_pub = pub;
        return 0;
    }
    if (!has_key) {
        hale_diag_set(reterr,
                      "%s exists but %s is missing: restore the secret key from backup, or "
                      "move both away to start a new log identity",
                      pub_path, key_path);
        return HALE_ECONFIG;
    }
    if (!has_pub) {
        hale_diag_set(reterr,
                      "%s exists but %s (the root public key auditors pin) is missing: "
                      "restore it from backup or from where auditors keep it (if the very first "
                      "start was interrupted while creating the keys, remove the key instead)",
                      key_path, pub_path);
        return HALE_ECONFIG;
    }
    r = hale_audit_pub_load(pub_path, &pub, reterr);
    if (r < 0)
        return r;
    if (strcmp(pub.name, origin) != 0) {
        hale_diag_set(reterr, "%s: key named '%s', but the log's origin is '%s'", pub_path,
                      pub.name, origin);
        return HALE_ECONFIG;
    }
    if (ret_created)
        *ret_created = false;
    if (ret_pub)
        *ret_pub = pub;
    return 0;
}
