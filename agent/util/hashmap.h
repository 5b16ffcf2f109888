/* agent/util/hashmap.h - an open-addressing map from NUL-terminated string keys to pointers.
 * The map copies keys (owned by the map) and borrows values (the caller owns them).
 * Iteration order is unspecified; mutation during iteration is not allowed. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

typedef struct hale_map hale_map;

hale_map *hale_map_new(void);    /* NULL only when out of memory */
void hale_map_free(hale_map *m); /* NULL is a no-op; values are not freed */
size_t hale_map_size(const hale_map *m);

void *hale_map_get(const hale_map *m, const char *key); /* NULL when absent */
/* Insert or replace. Returns 0 or -ENOMEM (map unchanged). */
int hale_map_put(hale_map *m, const char *key, void *value);
/* Remove; returns the value that was there or NULL. */
void *hale_map_remove(hale_map *m, const char *key);

/* Visit every entry; stop early when fn returns non-zero, which is then returned. */
int hale_map_foreach(const hale_map *m, int (*fn)(const char *key, void *value, void *ud),
                     void *ud);
