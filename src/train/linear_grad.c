/* Linear-layer backward on nn_gemm: the input gradient is a plain product
 * with the weight; the weight gradient dY^T X (or X^T dY for [in, out]
 * weights) reads its first operand transposed while packing it
 * (nn_gemm_at), so nothing is transposed in memory. */
#include <string.h>

#include "train/train_ops.h"

enum { TILE = 32, SUM_COLUMNS = 64 };

typedef struct transpose_job {
    const float *src;
    int rows, cols, ld;
    float *dst;
} transpose_job;

/* One task per band of TILE source columns: its destination rows are its own. */
static void transpose_task(void *raw, int task, int thread) {
    (void)thread;
    const transpose_job *j = raw;
    int c0 = task * TILE, c1 = c0 + TILE < j->cols ? c0 + TILE : j->cols;
    for (int r0 = 0; r0 < j->rows; r0 += TILE) {
        int r1 = r0 + TILE < j->rows ? r0 + TILE : j->rows;
        for (int c = c0; c < c1; c++)
            for (int r = r0; r < r1; r++) j->dst[(size_t)c * j->rows + r] = j->src[(size_t)r * j->ld + c];
    }
}

static void transpose_on(clip_pool *pool, const float *src, int rows, int cols, int ld, float *dst) {
    transpose_job job = {src, rows, cols, ld, dst};
    int tasks = (cols + TILE - 1) / TILE;
    if (pool && (size_t)rows * cols >= 65536)
        clip_pool_run(pool, tasks, transpose_task, &job);
    else
        for (int t = 0; t < tasks; t++) transpose_task(&job, t, 0);
}

void tr_transpose(const float *src, int rows, int cols, int ld_src, float *dst) {
    transpose_on(NULL, src, rows, cols, ld_src, dst);
}

typedef struct colsum_job {
    const float *x;
    int rows, cols;
    float *acc;
} colsum_job;

static void colsum_task(void *raw, int task, int thread) {
    (void)thread;
    const colsum_job *j = raw;
    int c0 = task * SUM_COLUMNS, c1 = c0 + SUM_COLUMNS < j->cols ? c0 + SUM_COLUMNS : j->cols;
    double sums[SUM_COLUMNS] = {0};
    for (int r = 0; r < j->rows; r++) {
        const float *row = j->x + (size_t)r * j->cols;
        for (int c = c0; c < c1; c++) sums[c - c0] += row[c];
    }
    for (int c = c0; c < c1; c++) j->acc[c] += (float)sums[c - c0];
}

void tr_column_sums(const nn_ctx *ctx, const float *x, int rows, int cols, float *acc) {
    colsum_job job = {x, rows, cols, acc};
    int tasks = (cols + SUM_COLUMNS - 1) / SUM_COLUMNS;
    if ((size_t)rows * cols >= 65536)
        clip_pool_run(ctx->pool, tasks, colsum_task, &job);
    else
        for (int t = 0; t < tasks; t++) colsum_task(&job, t, 0);
}

void tr_linear_backward(const nn_ctx *ctx, const float *x, int M, int K, const float *w, nn_weight_layout layout,
                        int N, const float *dy, float *dx, float beta_dx, float *dw, float *db) {
    if (M <= 0) return;
    if (dx) {
        /* dx[M,K] = dy[M,N] . (W as [N,K]): [N,K] storage read as [K_inner, N_out]
         * is IN_OUT; [K,N] storage is OUT_IN. */
        if (layout == NN_OUT_IN)
            nn_gemm_mixed(ctx, M, K, N, dy, N, 0, w, K, NN_IN_OUT, beta_dx, dx, K, NULL);
        else
            nn_gemm_mixed(ctx, M, K, N, dy, N, 0, w, N, NN_OUT_IN, beta_dx, dx, K, NULL);
    }
    /* [N, K] weights read dy transposed for their gradient, and the bias
     * gradient (dy's column sums) comes out of that same pass. */
    int db_done = 0;
    if (dw) {
        if (layout == NN_OUT_IN) { /* dW[N,K] += dy^T x */
            nn_gemm_mixed(ctx, N, K, M, dy, N, 1, x, K, NN_IN_OUT, 1.0f, dw, K, db);
            db_done = db != NULL;
        } else { /* dW[K,N] += x^T dy */
            nn_gemm_mixed(ctx, K, N, M, x, K, 1, dy, N, NN_IN_OUT, 1.0f, dw, N, NULL);
        }
    }
    if (db && !db_done) tr_column_sums(ctx, dy, M, N, db);
}
