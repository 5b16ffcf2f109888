/* agent/util/hashmap.c - string-keyed map: open addressing, linear probing, FNV-1a hashes.
 * Deletion shifts later entries of the probe run back (no tombstones), so lookups stay short
 * however many removals happen. The table grows at 70% load. */
#include "internal.h"

#include "util/hashmap.h"

#define MAP_MIN_SLOTS 16u

struct slot {
    char *key;     /* owned copy; NULL marks an empty slot */
    void *value;   /* borrowed from the caller */
    uint64_t hash; /* cached so growing never rehashes strings */
};

struct hale_map {
    struct slot *slots; /* n_slots entries, a power of two */
    size_t n_slots;     /* capacity */
    size_t size;        /* occupied slots */
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

hale_map *hale_map_new(void)
{
    hale_map *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->slots = calloc(MAP_MIN_SLOTS, sizeof(*m->slots));
    if (!m->slots) {
        free(m);
        return NULL;
    }
    m->n_slots = MAP_MIN_SLOTS;
    return m;
}

void hale_map_free(hale_map *m)
{
    size_t i;

    if (!m)
        return;
    for (i = 0; i < m->n_slots; i++)
        free(m->slots[i].key);
    free(m->slots);
    free(m);
}

size_t hale_map_size(const hale_map *m)
{
    return m->size;
}

/* Index of key's slot, or of the empty slot where it would go. */
static size_t find(const hale_map *m, const char *key, uint64_t h)
{
    size_t mask = m->n_slots - 1, i = (size_t)h & mask;

    while (m->slots[i].key) {
        if (m->slots[i].hash == h && strcmp(m->slots[i].key, key) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

static int grow(hale_map *m)
{
    struct slot *old = m->slots, *fresh;
    size_t n_old = m->n_slots, i, j, mask;

    if (n_old > SIZE_MAX / 2 / sizeof(*fresh))
        return -ENOMEM;
    fresh = calloc(n_old * 2, sizeof(*fresh));
    if (!fresh)
        return -ENOMEM;
    mask = n_old * 2 - 1;
    for (i = 0; i < n_old; i++) {
        if (!old[i].key)
            continue;
        for (j = (size_t)old[i].hash & mask; fresh[j].key; j = (j + 1) & mask)
            ;
        fresh[j] = old[i];
    }
    m->slots = fresh;
    m->n_slots = n_old * 2;
    free(old);
    return 0;
}

void *hale_map_get(const hale_map *m, const char *key)
{
    size_t i = find(m, key, fnv1a(key));

    return m->slots[i].key ? m->slots[i].value : NULL;
}

int hale_map_put(hale_map *m, const char *key, void *value)
{
    uint64_t h = fnv1a(key);
    size_t i = find(m, key, h);
    char *copy;
    int r;

    if (m->slots[i].key) {
        m->slots[i].value = value;
        return 0;
    }
    if ((m->size + 1) * 10 > m->n_slots * 7) {
        r = grow(m);
        if (r < 0)
            return r;
        i = find(m, key, h);
    }
    copy = strdup(key);
    if (!copy)
        return -ENOMEM;
    m->slots[i].key = copy;
    m->slots[i].value = value;
    m->slots[i].hash = h;
    m->size++;
    return 0;
}

void *hale_map_remove(hale_map *m, const char *key)
{
    size_t mask = m->n_slots - 1, i = find(m, key, fnv1a(key)), j, home;
    void *value;

    if (!m->slots[i].key)
        return NULL;
    value = m->slots[i].value;
    free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->size--;
    /* Backward shift: move each later entry of the run into the hole when its home slot does
     * not lie cyclically between the hole and its current position. */
    for (j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        home = (size_t)m->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            m->slots[j].key = NULL;
            i = j;
        }
    }
    return value;
}

int hale_map_foreach(const hale_map *m, int (*fn)(const char *key, void *value, void *ud), void *ud)
{
    size_t i;
    int r;

    for (i = 0; i < m->n_slots; i++) {
        if (!m->slots[i].key)
            continue;
        r = fn(m->slots[i].key, m->slots[i].value, ud);
        if (r != 0)
            return r;
    }
    return 0;
}
