/* What a build indexes: image files found under a folder (recursively) or
 * listed in a file, or the lines of a caption file. */
#ifndef CLIP_INDEX_SOURCES_H
#define CLIP_INDEX_SOURCES_H
#include <stdint.h>

#include "clip.h"

typedef struct idx_source {
    char *text; /* absolute path, or the caption */
    uint64_t size;
    int64_t mtime_ns;
} idx_source;

typedef struct idx_sources {
    idx_source *items;
    int64_t count, cap;
    /* Listed paths that do not exist or are not regular files. */
    char **missing;
    char **missing_reasons;
    int64_t n_missing, missing_cap;
} idx_sources;

/* Files with an image extension (jpg, jpeg, png, webp, bmp), sorted by
 * path. Symlinked folders are not followed (they could form a cycle). */
clip_status idx_collect_images(const char *source, idx_sources *out);
/* One caption per non-empty line. */
clip_status idx_collect_texts(const char *path, idx_sources *out);
void idx_sources_free(idx_sources *s);

#endif
