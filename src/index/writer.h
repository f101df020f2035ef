/* Writes a complete index file atomically (temp file, fsync, rename). */
#ifndef CLIP_INDEX_WRITER_H
#define CLIP_INDEX_WRITER_H
#include <stdint.h>

#include "clip_index.h"

typedef struct idx_contents {
    clip_index_kind kind;
    clip_index_dtype dtype;
    int dim;
    int64_t count;
    const void *vectors;      /* [count, dim] float32 or half, already normalised */
    const char *const *texts; /* paths or captions */
    const uint64_t *sizes;    /* may be NULL (all 0) */
    const int64_t *mtimes_ns; /* may be NULL (all 0) */
    const uint8_t *model_id;  /* CLIP_MODEL_ID_BYTES */
    const char *model_desc;
} idx_contents;

clip_status idx_write(const char *path, const idx_contents *c);

#endif
