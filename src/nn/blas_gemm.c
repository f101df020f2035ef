/* Products through OpenBLAS where no vector table fits: one cblas_sgemm per
 * block of the output (the BLAS's own threading stays off: the pool splits
 * the work), then the epilogue in plain C on that block. */
#include <cblas.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/kernels.h"

extern void openblas_set_num_threads(int);

/* One block of C (rows r0.., columns c0..): the product, then the epilogue.
 * beta is applied by the BLAS, before a row scale (the tile kernels apply
 * it after); no caller combines the two. An in-place residual (residual ==
 * C) is saved first, since the product overwrites it. */
/* Returns 0, or the bytes it could not allocate (nothing is computed then). */
static size_t block(const nn_epilogue *ep, int r0, int c0, int m, int n, int K, const float *A, int lda,
                    const float *B, int ldb, nn_weight_layout layout, float *C, int ldc) {
    const float *res = ep->residual ? ep->residual + (size_t)r0 * ep->ldr + c0 : NULL;
    int ldr = ep->ldr;
    float *saved = NULL;
    if (res && res == C) {
        saved = malloc((size_t)m * n * sizeof(float));
        if (!saved) return (size_t)m * n * sizeof(float);
        for (int i = 0; i < m; i++) memcpy(saved + (size_t)i * n, C + (size_t)i * ldc, (size_t)n * sizeof(float));
        res = saved;
        ldr = n;
    }
    const float *b = layout == NN_OUT_IN ? B + (size_t)c0 * ldb : B + c0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, layout == NN_OUT_IN ? CblasTrans : CblasNoTrans, m, n, K, ep->alpha,
                A + (size_t)r0 * lda, lda, b, ldb, ep->beta, C, ldc);
    for (int i = 0; i < m; i++) {
        float *c = C + (size_t)i * ldc;
        for (int j = 0; j < n; j++) {
            float v = c[j];
            if (ep->row_scale) v = v * ep->row_scale[r0 + i] + ep->row_shift[r0 + i];
            if (ep->bias) v += ep->bias[c0 + j];
            if (res && ep->residual_first) v += res[(size_t)i * ldr + j];
            c[j] = v;
        }
        nn_kernels_blas.activate(c, (size_t)n, ep->act);
        if (res && !ep->residual_first)
            for (int j = 0; j < n; j++) c[j] += res[(size_t)i * ldr + j];
    }
    free(saved);
    return 0;
}

typedef struct blas_job {
    int M, N, K, split_n, chunk;
    const float *A, *B;
    int lda, ldb, ldc;
    nn_weight_layout layout;
    const nn_epilogue *ep;
    float *C;
    _Atomic size_t failed; /* a task's allocation failure, noted by the caller's thread */
} blas_job;

static void blas_task(void *raw, int task, int thread) {
    (void)thread;
    blas_job *j = raw;
    int start = task * j->chunk, total = j->split_n ? j->N : j->M;
    int len = total - start < j->chunk ? total - start : j->chunk;
    if (len <= 0) return;
    int r0 = j->split_n ? 0 : start, c0 = j->split_n ? start : 0;
    int m = j->split_n ? j->M : len, n = j->split_n ? len : j->N;
    size_t failed = block(j->ep, r0, c0, m, n, j->K, j->A, j->lda, j->B, j->ldb, j->layout,
                          j->C + (size_t)r0 * j->ldc + c0, j->ldc);
    if (failed) atomic_store(&j->failed, failed);
}

static void single_threaded_blas(void) {
    static int done;
    if (!done) {
        openblas_set_num_threads(1);
        done = 1;
    }
}

void nn_blas_gemm(const nn_ctx *ctx, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                  nn_weight_layout layout, const nn_epilogue *ep, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    single_threaded_blas();
    int threads = clip_pool_size(ctx->pool);
    blas_job job = {.M = M, .N = N, .K = K, .split_n = 1, .chunk = N, .A = A, .B = B, .lda = lda, .ldb = ldb,
                    .ldc = ldc, .layout = layout, .ep = ep, .C = C};
    int tasks = 1;
    if (threads > 1 && (int64_t)M * N * K >= 32 * 1024) {
        /* Columns keep each thread's share of the weights in its cache;
         * rows are for narrow outputs. */
        if (N >= 64 * threads || N >= M) {
            job.chunk = ((N + threads - 1) / threads + 15) / 16 * 16;
            tasks = (N + job.chunk - 1) / job.chunk;
        } else {
            job.split_n = 0;
            job.chunk = (M + threads - 1) / threads;
            tasks = (M + job.chunk - 1) / job.chunk;
        }
    }
    clip_pool_run(ctx->pool, tasks, blas_task, &job);
    size_t failed = atomic_load(&job.failed);
    if (failed) nn_note_failure(failed);
}

void nn_blas_gemm_local(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                        nn_weight_layout layout, const nn_epilogue *ep, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    single_threaded_blas();
    size_t failed = block(ep, 0, 0, M, N, K, A, lda, B, ldb, layout, C, ldc);
    if (failed) nn_note_failure(failed);
}

void nn_blas_gemm_at(int M, int N, int K, const float *At, int lda, const float *B, int ldb, nn_weight_layout layout,
                     float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    single_threaded_blas();
    cblas_sgemm(CblasRowMajor, CblasTrans, layout == NN_OUT_IN ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, At, lda, B,
                ldb, beta, C, ldc);
}
