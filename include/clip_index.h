/*
 * clip.c — cross-modal retrieval: an index of normalised CLIP embeddings
 * (of images or of captions) searched exactly by cosine similarity.
 *
 * The index file (docs/retrieval.md) records which model made it; searching
 * it with embeddings of another model is refused rather than silently
 * returning meaningless neighbours. Errors follow clip.h: a clip_status and
 * a message in clip_last_error().
 */
#ifndef CLIP_INDEX_H
#define CLIP_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "clip.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clip_index clip_index;

typedef enum clip_index_kind {
    CLIP_INDEX_IMAGES = 0, /* items are image files (path, size, mtime) */
    CLIP_INDEX_TEXTS = 1,  /* items are captions */
} clip_index_kind;

typedef enum clip_index_dtype {
    CLIP_INDEX_F32 = 0,
    CLIP_INDEX_F16 = 1, /* half the size; scores differ by ~1e-3 */
} clip_index_dtype;

#define CLIP_MODEL_ID_BYTES 16

/* Identity of a model's embedding space: a hash of its architecture and of
 * a sample of the weights of both towers, so two files holding the same
 * weights agree and any retrained or different model does not. */
clip_status clip_model_identity(const clip_model *model, uint8_t id[CLIP_MODEL_ID_BYTES]);

/* Opens an index file read-only (memory-mapped). Every offset and length in
 * it is validated against the file size before use. */
clip_status clip_index_open(const char *path, clip_index **out);
/* Same over a caller-owned buffer that must outlive the index. */
clip_status clip_index_open_memory(const void *data, size_t size, const char *label,
                                   clip_index **out);
void clip_index_free(clip_index *index);

typedef struct clip_index_info {
    clip_index_kind kind;
    clip_index_dtype dtype;
    int dim;
    int64_t count;
    uint8_t model_id[CLIP_MODEL_ID_BYTES];
    const char *model_desc; /* e.g. "ViT 512-d 224px", for messages */
    uint64_t file_bytes;
} clip_index_info;

clip_status clip_index_get_info(const clip_index *index, clip_index_info *info);

typedef struct clip_index_item {
    const char *text;  /* image path or caption; valid while the index is open */
    uint64_t size;     /* image file size in bytes (0 for captions) */
    int64_t mtime_ns;  /* image modification time (0 for captions) */
} clip_index_item;

clip_status clip_index_get_item(const clip_index *index, int64_t id, clip_index_item *item);
/* The stored embedding of item `id` as float32 [dim]. */
clip_status clip_index_get_vector(const clip_index *index, int64_t id, float *out);

/* CLIP_ERR_INVALID_ARGUMENT with a message naming both models when the
 * index was not built with `model`. */
clip_status clip_index_check_model(const clip_index *index, const clip_model *model);

typedef struct clip_index_hit {
    int64_t id;  /* -1 when the index has fewer than k items */
    float score; /* cosine similarity (dot product of normalised vectors) */
} clip_index_hit;

/* Threads used by clip_index_search (0 = all cores, the default). */
clip_status clip_index_set_threads(clip_index *index, int n_threads);
/* Exact top-k by inner product for `n` queries [n, dim] (normalise them
 * first for cosine). hits [n, k], best first; ties go to the lower id.
 * Safe to call from several threads (calls are serialised). */
clip_status clip_index_search(clip_index *index, const float *queries, int n, int k,
                              clip_index_hit *hits);

/* Writes the embeddings as float32 [count, dim] .npy and the items as JSON
 * lines {"id", "path"|"text", "size", "mtime_ns"}, both atomically. Either
 * path may be NULL. */
clip_status clip_index_export(const clip_index *index, const char *npy_path,
                              const char *meta_path);

/* ------------------------------------------------------------------ */
/* Building                                                            */
/* ------------------------------------------------------------------ */

typedef struct clip_index_progress {
    int64_t done;    /* items processed (embedded, reused or failed) */
    int64_t total;
    int64_t failed;
    double elapsed_s;
    /* Of a distributed build (ranks > 1), each rank reports its own share:
     * total and done count only the items this rank embeds. */
    int rank, ranks;
} clip_index_progress;

typedef void (*clip_index_progress_fn)(void *ctx, const clip_index_progress *progress);

typedef struct clip_index_build_options {
    clip_index_kind kind;
    /* Images: a folder (walked recursively) or a text file with one path per
     * line. Texts: a file with one caption per line. */
    const char *source;
    const char *output;
    int batch;                 /* items per forward pass; 0 = 32 */
    clip_index_dtype dtype;
    /* Keep the embeddings of an existing `output` for files whose path, size
     * and mtime are unchanged, and drop files that are gone. */
    int update;
    /* Batches between syncs of the resume journal (`output`.journal); 0 = 1.
     * An interrupted build resumes from the journal on the next run. */
    int journal_every;
    const clip_image_options *image_options;
    clip_index_progress_fn progress;
    void *progress_ctx;
    /* Share the work among the ranks of an MPI world (src/dist; the caller
     * has started it, as `clip index build` does under mpirun). Every rank
     * calls clip_index_build with the same options and must see the same
     * source files (a shared filesystem); each embeds a contiguous block of
     * the items still to do, journaling to `output`.journal.<rank>, and
     * rank 0 merges them and writes `output`, identical in content to a
     * single-process build. Only rank 0's report holds the failures and
     * totals. No effect in a world of one process. */
    int distributed;
} clip_index_build_options;

typedef struct clip_index_build_report {
    int64_t total;    /* items found in the source */
    int64_t embedded; /* run through the model in this build */
    int64_t reused;   /* taken from the existing index (--update) */
    int64_t resumed;  /* taken from the journal of an interrupted build */
    int64_t removed;  /* in the old index but no longer in the source */
    int64_t n_failed;
    char **failed;         /* paths that could not be read or decoded */
    char **failed_reasons; /* clip_last_error() of each */
    /* Per rank of a distributed build (ranks == 1 otherwise): the items
     * each embedded or failed to decode, and its seconds spent embedding. */
    int ranks;
    int64_t *rank_items;
    double *rank_seconds;
} clip_index_build_report;

clip_status clip_index_build(clip_model *model, const clip_index_build_options *opts,
                             clip_index_build_report *report);
void clip_index_build_report_free(clip_index_build_report *report);

#ifdef __cplusplus
}
#endif
#endif /* CLIP_INDEX_H */
