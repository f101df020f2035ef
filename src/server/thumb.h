/* Thumbnails for the results grid: the indexed image scaled so its longer
 * side is `size`, as PNG bytes, with a small cache so a page of results
 * does not decode the same photos again on every search. */
#ifndef CLIP_SERVER_THUMB_H
#define CLIP_SERVER_THUMB_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "clip.h"

typedef struct thumb_entry {
    int64_t id;
    unsigned char *png;
    size_t size;
    unsigned long long used; /* clock of the last hit, for LRU eviction */
} thumb_entry;

typedef struct thumb_cache {
    pthread_mutex_t lock;
    thumb_entry *entries;
    int n, cap;
    size_t bytes, max_bytes;
    unsigned long long clock;
} thumb_cache;

clip_status thumb_png(const char *path, int size, unsigned char **png, size_t *png_size);

void thumb_cache_init(thumb_cache *c, int max_entries, size_t max_bytes);
void thumb_cache_free(thumb_cache *c);
/* A malloc'd copy of the cached PNG of `id`, or NULL. */
unsigned char *thumb_cache_get(thumb_cache *c, int64_t id, size_t *size);
/* Stores a copy. */
void thumb_cache_put(thumb_cache *c, int64_t id, const unsigned char *png, size_t size);

#endif
