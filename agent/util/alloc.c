/* agent/util/alloc.c - overflow-checked allocation helpers. */
#include "internal.h"

#include "util/alloc.h"

void *hale_reallocarray(void *p, size_t n, size_t size)
{
    size_t bytes;

    if (size && n > SIZE_MAX / size)
        return NULL;
    bytes = n * size;
    return realloc(p, bytes > 0 ? bytes : 1);
}

int hale_grow(void **arr, size_t *cap, size_t n, size_t elem_size)
{
    size_t want;
    void *p;

    if (n < *cap)
        return 0;
    want = *cap ? *cap * 2 : 8;
    if (want <= n)
        want = n + 1;
    p = hale_reallocarray(*arr, want, elem_size);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = want;
    return 0;
}
