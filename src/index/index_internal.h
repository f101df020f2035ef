/* The opened index: a validated view of a mapped (or caller-owned) file.
 * Shared by the reader, search, export and the incremental builder. */
#ifndef CLIP_INDEX_INTERNAL_H
#define CLIP_INDEX_INTERNAL_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "clip_index.h"
#include "core/threadpool.h"
#include "index/format.h"
#include "index/search.h"

struct clip_index {
    const unsigned char *base;
    size_t size;
    int mapped; /* munmap on free */
    char *label;
    clip_index_kind kind;
    clip_index_dtype dtype;
    int dim;
    int64_t count;
    uint8_t model_id[CLIP_MODEL_ID_BYTES];
    char model_desc[IDX_MODEL_DESC_BYTES];
    const void *vectors;
    void *owned_vectors; /* a copy when the caller's buffer is misaligned */
    const unsigned char *items;
    const char *strings;
    uint64_t strings_bytes;
    /* The pool is not reentrant, so concurrent searches take turns. */
    pthread_mutex_t lock;
    clip_pool *pool;
    int n_threads;
};

static inline idx_matrix idx_index_matrix(const clip_index *index) {
    return (idx_matrix){index->vectors, index->dtype, index->count, index->dim};
}

/* A short description of a model's space for messages ("ViT 512-d 224px"). */
void idx_model_desc(const clip_model *model, char *out, size_t size);

#endif
