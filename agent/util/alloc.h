/* agent/util/alloc.h - overflow-checked allocation helpers. */
#pragma once
#include <stddef.h>

/* realloc(p, n * size) that fails (NULL, p untouched) on overflow instead of wrapping. */
void *hale_reallocarray(void *p, size_t n, size_t size);

/* Make *arr (of elem_size entries, *cap allocated) hold at least n + 1 entries, doubling.
 * Returns 0 or -ENOMEM (*arr and *cap untouched). */
int hale_grow(void **arr, size_t *cap, size_t n, size_t elem_size);
