/* Exact top-k search over a row-major matrix of embeddings, split across a
 * thread pool. Independent of the file format so the benchmark and the
 * index share one code path. */
#ifndef CLIP_INDEX_SEARCH_H
#define CLIP_INDEX_SEARCH_H
#include <stdint.h>

#include "clip_index.h"
#include "core/threadpool.h"

typedef struct idx_matrix {
    const void *data; /* [count, dim] float32 or IEEE half */
    clip_index_dtype dtype;
    int64_t count;
    int dim;
} idx_matrix;

/* Largest k accepted: the per-thread heaps are k entries per query. */
#define IDX_MAX_K 100000
/* From this many queries on, scores come from one BLAS product per block
 * of rows instead of a dot-product pass per query. */
#define IDX_GEMM_MIN_QUERIES 4

/* hits [nq, k] best first, padded with id -1. `pool` may be NULL (one
 * thread). Not reentrant for the same pool. */
clip_status idx_search(clip_pool *pool, const idx_matrix *m, const float *queries, int nq, int k,
                       clip_index_hit *hits);

#endif
