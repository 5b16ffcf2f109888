/* agent/audit/signer_state.c - the signer's own record of the last head it signed
 * (data_dir/audit.signer): two fixed-size checksummed slots written alternately with pwrite and
 * fdatasync, so one sync per signature and a torn write never loses the head before it. */
#include "internal.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/signer_int.h"

#define MAGIC       "HALESIG\x01"
#define MAGIC_BYTES 8u
#define BODY_BYTES  (MAGIC_BYTES + 8u + 8u + HALE_MERKLE_HASH_BYTES) /* what the sum covers */
#define SLOT_BYTES  (BODY_BYTES + crypto_hash_sha256_BYTES)
#define FILE_BYTES  (2u * SLOT_BYTES)

struct slot {
    bool valid;          /* magic and checksum match */
    uint64_t generation; /* counts saves; slot index is generation % 2 */
    uint64_t size;       /* tree size */
    hale_hash root;      /* tree head */
};

static void slot_encode(uint8_t *out, uint64_t generation, uint64_t size, const hale_hash *root)
{
    memcpy(out, MAGIC, MAGIC_BYTES);
    hale__signer_put_u64(out + MAGIC_BYTES, generation);
    hale__signer_put_u64(out + MAGIC_BYTES + 8, size);
    memcpy(out + MAGIC_BYTES + 16, root->b, HALE_MERKLE_HASH_BYTES);
    crypto_hash_sha256(out + BODY_BYTES, out, BODY_BYTES);
}

static struct slot slot_decode(const uint8_t *in)
{
    struct slot s = {.valid = false};
    uint8_t sum[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(sum, in, BODY_BYTES);
    if (memcmp(in, MAGIC, MAGIC_BYTES) != 0 || sodium_memcmp(sum, in + BODY_BYTES, sizeof(sum)))
        return s;
    s.generation = hale__signer_get_u64(in + MAGIC_BYTES);
    s.size = hale__signer_get_u64(in + MAGIC_BYTES + 8);
    memcpy(s.root.b, in + MAGIC_BYTES + 16, HALE_MERKLE_HASH_BYTES);
    s.valid = true;
    return s;
}

/* A new file: slot 0 holds generation 0 with no head, slot 1 is zeros (invalid). */
static int create_file(int dirfd, const char *name, int *ret_fd)
{
    uint8_t buf[FILE_BYTES] = {0};
    hale_hash zero = {{0}};
    int fd, r = 0;

    fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    slot_encode(buf, 0, 0, &zero);
    errno = 0;
    if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) || fdatasync(fd) < 0 ||
        fsync(dirfd) < 0)
        r = errno ? -errno : -EIO;
    if (r < 0) {
        close(fd);
        (void)unlinkat(dirfd, name, 0);
        return r;
    }
    *ret_fd = fd;
    return 0;
}

static int pick_slot(const uint8_t *buf, const char *name, struct slot *ret, hale_diag *reterr)
{
    struct slot a = slot_decode(buf), b = slot_decode(buf + SLOT_BYTES);

    if (a.valid && a.generation % 2 != 0)
        a.valid = false;
    if (b.valid && b.generation % 2 != 1)
        b.valid = false;
    if (!a.valid && !b.valid) {
        hale_diag_set(reterr, "%s: no valid record (bad magic or checksum in both slots)", name);
        return HALE_ESCHEMA;
    }
    if (a.valid && b.valid && a.generation + 1 != b.generation &&
        b.generation + 1 != a.generation) {
        hale_diag_set(reterr, "%s: records of generations %llu and %llu are not consecutive", name,
                      (unsigned long long)a.generation, (unsigned long long)b.generation);
        return HALE_ESCHEMA;
    }
    *ret = !b.valid || (a.valid && a.generation > b.generation) ? a : b;
    return 0;
}

int hale__signer_state_open(int dirfd, const char *name, hale__signer_state *ret, hale_diag *reterr)
{
    uint8_t buf[FILE_BYTES];
    struct slot cur;
    struct stat st;
    ssize_t n;
    int fd, r;

    fd = openat(dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT)
        r = create_file(dirfd, name, &fd);
    else
        r = fd < 0 ? -errno : 0;
    if (r < 0) {
        hale_diag_set(reterr, "%s: cannot open: %s", name, strerror(-r));
        return r;
    }
    if (fstat(fd, &st) < 0) {
        r = -errno;
        hale_diag_set(reterr, "%s: cannot stat: %s", name, strerror(-r));
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || st.st_size != (off_t)FILE_BYTES) {
        hale_diag_set(reterr, "%s: %lld bytes, expected a regular file of %u", name,
                      (long long)st.st_size, FILE_BYTES);
        r = HALE_ESCHEMA;
        goto fail;
    }
    n = pread(fd, buf, sizeof(buf), 0);
    if (n != (ssize_t)sizeof(buf)) {
        r = n < 0 ? -errno : -EIO;
        hale_diag_set(reterr, "%s: cannot read: %s", name, strerror(-r));
        goto fail;
    }
    r = pick_slot(buf, name, &cur, reterr);
    if (r < 0)
        goto fail;
    ret->fd = fd;
    ret->generation = cur.generation;
    ret->size = cur.size;
    ret->root = cur.root;
    return 0;
fail:
    close(fd);
    return r;
}

int hale__signer_state_save(hale__signer_state *st, uint64_t size, const hale_hash *root)
{
    uint8_t rec[SLOT_BYTES];
    uint64_t gen = st->generation + 1;
    off_t off = (off_t)(gen % 2) * (off_t)SLOT_BYTES;

    slot_encode(rec, gen, size, root);
    errno = 0;
    if (pwrite(st->fd, rec, sizeof(rec), off) != (ssize_t)sizeof(rec))
        return errno ? -errno : -EIO;
    if (fdatasync(st->fd) < 0)
        return -errno;
    st->generation = gen;
    st->size = size;
    st->root = *root;
    return 0;
}
