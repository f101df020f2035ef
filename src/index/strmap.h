/* String -> int64 map (open addressing) for matching a build's sources
 * against the previous index and the resume journal by path. Keys are
 * borrowed and must outlive the map. */
#ifndef CLIP_INDEX_STRMAP_H
#define CLIP_INDEX_STRMAP_H
#include <stddef.h>
#include <stdint.h>

typedef struct strmap {
    const char **keys;
    int64_t *values;
    size_t cap, count;
} strmap;

int strmap_init(strmap *m, size_t expected);
/* Inserts or replaces. Returns 0 when out of memory. */
int strmap_put(strmap *m, const char *key, int64_t value);
/* The value, or -1 when absent. */
int64_t strmap_get(const strmap *m, const char *key);
void strmap_free(strmap *m);

#endif
