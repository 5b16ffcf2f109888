/* agent/util/fileio.c - see fileio.h. */
#include "internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fileio.h"

int hale_file_read(const char *path, size_t max_bytes, char **ret, size_t *ret_len,
                   hale_diag *reterr)
{
    char chunk[8192];
    struct stat st;
    hale_buf b;
    ssize_t n;
    int fd, r = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        fd = -1;
        errno = EISDIR;
    }
    if (fd < 0) {
        r = -errno;
        hale_diag_set(reterr, "cannot read '%s': %s", path, hale_strerror(r));
        return r;
    }
    hale_buf_init(&b, max_bytes);
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            hale_diag_set(reterr, "cannot read '%s': %s", path, hale_strerror(r));
            break;
        }
        r = hale_buf_append(&b, chunk, (size_t)n);
        if (r == HALE_ELIMIT)
            hale_diag_set(reterr, "%s: larger than %zu bytes", path, max_bytes);
        if (r < 0)
            break;
    }
    close(fd);
    if (r == 0 && !(*ret = hale_buf_detach(&b, ret_len)))
        r = -ENOMEM;
    if (r < 0)
        hale_buf_release(&b);
    return r;
}
