#include "index/search.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/error.h"
#include "index/dot.h"
#include "index/half.h"
#include "index/topk.h"

extern void openblas_set_num_threads(int);

typedef struct search_job {
    const idx_matrix *m;
    const float *queries;
    int nq, k, threads;
    int64_t chunk; /* rows per task */
    int block;     /* rows scored at once */
    int use_gemm;
    size_t elem;
    topk *heaps;     /* [threads][nq] */
    float **scores;  /* per thread: [nq, block] */
    float **widened; /* per thread: [block, dim] (F16 + GEMM only) */
} search_job;

static void score_block(const search_job *j, int thread, int64_t row0, int nb) {
    const idx_matrix *m = j->m;
    const unsigned char *rows = (const unsigned char *)m->data + (size_t)row0 * m->dim * j->elem;
    float *scores = j->scores[thread];
    topk *heaps = j->heaps + (size_t)thread * j->nq;
    if (!j->use_gemm) {
        for (int q = 0; q < j->nq; q++) {
            idx_dot_rows(j->queries + (size_t)q * m->dim, rows, m->dtype, nb, m->dim, scores);
            topk *h = &heaps[q];
            for (int r = 0; r < nb; r++) topk_push(h, scores[r], row0 + r);
        }
        return;
    }
    const float *b = (const float *)rows;
    if (m->dtype == CLIP_INDEX_F16) {
        idx_halves_to_floats((const uint16_t *)rows, (size_t)nb * m->dim, j->widened[thread]);
        b = j->widened[thread];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->nq, nb, m->dim, 1.0f, j->queries, m->dim, b, m->dim,
                0.0f, scores, nb);
    for (int q = 0; q < j->nq; q++) {
        topk *h = &heaps[q];
        const float *s = scores + (size_t)q * nb;
        for (int r = 0; r < nb; r++) topk_push(h, s[r], row0 + r);
    }
}

static void search_task(void *raw, int task, int thread) {
    const search_job *j = raw;
    int64_t start = (int64_t)task * j->chunk;
    int64_t end = start + j->chunk < j->m->count ? start + j->chunk : j->m->count;
    for (int64_t r = start; r < end; r += j->block) {
        int nb = end - r < j->block ? (int)(end - r) : j->block;
        score_block(j, thread, r, nb);
    }
}

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
/* The pool provides the parallelism; a threaded BLAS inside each task
 * would oversubscribe the cores. */
static void blas_single_thread(void) { openblas_set_num_threads(1); }

clip_status idx_search(clip_pool *pool, const idx_matrix *m, const float *queries, int nq, int k,
                       clip_index_hit *hits) {
    if (!m || !queries || !hits || nq < 0 || k < 1 || m->dim < 1 || m->count < 0)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "index search: bad arguments");
    if (k > IDX_MAX_K) return clip_fail(CLIP_ERR_LIMIT, "index search: k = %d exceeds %d", k, IDX_MAX_K);
    if (nq == 0) return CLIP_OK;
    pthread_once(&blas_once, blas_single_thread);
    int threads = clip_pool_size(pool);
    int kept = m->count < k ? (int)m->count : k;
    search_job j = {.m = m, .queries = queries, .nq = nq, .k = kept, .threads = threads};
    j.elem = m->dtype == CLIP_INDEX_F16 ? 2 : 4;
    j.use_gemm = nq >= IDX_GEMM_MIN_QUERIES;
    size_t row_bytes = (size_t)m->dim * j.elem;
    /* GEMM blocks as FAISS does (1024 rows); a per-query pass keeps its
     * block in L2 so the next query rereads it from cache. */
    j.block = j.use_gemm ? 1024 : (int)(nq == 1 ? 4096 : (262144 / row_bytes < 16 ? 16 : 262144 / row_bytes));
    int64_t chunk = m->count / ((int64_t)threads * 8) + 1;
    if (chunk < j.block) chunk = j.block;
    if (chunk > 65536) chunk = 65536;
    j.chunk = (chunk + j.block - 1) / j.block * j.block;
    int64_t tasks = (m->count + j.chunk - 1) / j.chunk;

    size_t n_heaps = (size_t)threads * nq;
    if ((double)n_heaps * (kept ? kept : 1) > 64.0 * 1024 * 1024)
        return clip_fail(CLIP_ERR_LIMIT, "index search: %d queries x k = %d needs too much memory", nq, k);
    clip_status st = CLIP_OK;
    j.heaps = calloc(n_heaps, sizeof(topk));
    clip_index_hit *slots = malloc(n_heaps * (size_t)(kept ? kept : 1) * sizeof(clip_index_hit) +
                                   (size_t)k * sizeof(clip_index_hit));
    j.scores = calloc((size_t)threads, sizeof(float *));
    j.widened = calloc((size_t)threads, sizeof(float *));
    if (!j.heaps || !slots || !j.scores || !j.widened) st = CLIP_ERR_NO_MEMORY;
    for (int t = 0; t < threads && st == CLIP_OK; t++) {
        j.scores[t] = malloc((size_t)(j.use_gemm ? nq : 1) * j.block * sizeof(float));
        if (!j.scores[t]) st = CLIP_ERR_NO_MEMORY;
        if (j.use_gemm && m->dtype == CLIP_INDEX_F16) {
            j.widened[t] = malloc((size_t)j.block * m->dim * sizeof(float));
            if (!j.widened[t]) st = CLIP_ERR_NO_MEMORY;
        }
    }
    if (st == CLIP_OK) {
        for (size_t h = 0; h < n_heaps; h++) j.heaps[h] = (topk){slots + h * (size_t)kept, kept, 0};
        if (tasks > 0) clip_pool_run(pool, (int)tasks, search_task, &j);
        clip_index_hit *scratch = slots + n_heaps * (size_t)kept;
        topk *per_query = malloc((size_t)threads * sizeof(topk));
        if (!per_query) {
            st = CLIP_ERR_NO_MEMORY;
        } else {
            for (int q = 0; q < nq; q++) {
                for (int t = 0; t < threads; t++) per_query[t] = j.heaps[(size_t)t * nq + q];
                topk_merge(per_query, threads, scratch, k, hits + (size_t)q * k);
            }
            free(per_query);
        }
    }
    if (st == CLIP_ERR_NO_MEMORY) clip_fail(st, "index search: out of memory (%d queries, k = %d)", nq, k);
    for (int t = 0; t < threads && j.scores; t++) free(j.scores[t]);
    for (int t = 0; t < threads && j.widened; t++) free(j.widened[t]);
    free(j.scores);
    free(j.widened);
    free(j.heaps);
    free(slots);
    return st;
}
