/* tests/fixture.c - fixture files and temporary directories for the tests. */
#define _XOPEN_SOURCE 700
#include "fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

const char *fixture_path(const char *rel)
{
    static char path[4096];

    snprintf(path, sizeof(path), "%s/%s", HALE_TEST_FIXTURES, rel);
    return path;
}

char *fixture_read(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long size;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    data = malloc((size_t)size + 1);
    if (!data)
        goto out;
    if (fread(data, 1, (size_t)size, f) != (size_t)size) {
        free(data);
        data = NULL;
        goto out;
    }
    data[size] = '\0';
    if (ret_len)
        *ret_len = (size_t)size;
out:
    fclose(f);
    return data;
}

int fixture_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    size_t len = strlen(text);

    if (!f)
        return -errno;
    if (fwrite(text, 1, len, f) != len) {
        fclose(f);
        return -EIO;
    }
    return fclose(f) == 0 ? 0 : -errno;
}

char *fixture_tmpdir(const char *prefix)
{
    const char *base = getenv("TMPDIR");
    char templ[4096];

    snprintf(templ, sizeof(templ), "%s/%s-XXXXXX", base && *base ? base : "/tmp", prefix);
    if (!mkdtemp(templ))
        return NULL;
    return strdup(templ);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path) == 0 ? 0 : -errno;
}

int fixture_rmtree(const char *dir)
{
    return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
