/* The products of mixed-precision training: nn_gemm / nn_gemm_at when the
 * context computes in float32, and the bf16 path of qgemm.c (both operands
 * rounded to bf16, sums in float32) when its weight_dtype is NN_BF16. */
#include "nn/qkernels.h"

typedef struct transposed_rows {
    const float *At;
    int lda, K;
    float *row_sums; /* or NULL */
} transposed_rows;

/* Rows i0 .. i0+n-1 of A = columns of At [K, M]: each row of At gives n
 * contiguous values, so the reads run along At's rows. */
static void gather_transposed(const void *raw, int i0, int n, float *out) {
    const transposed_rows *t = raw;
    /* Each row is gathered once (the quantiser's tasks split the rows). */
    nn_qkernels_active()->gather_columns(t->At + i0, t->lda, t->K, n, out, t->row_sums ? t->row_sums + i0 : NULL);
}

void nn_gemm_mixed(const nn_ctx *ctx, int M, int N, int K, const float *A, int lda, int a_transposed, const float *B,
                   int ldb, nn_weight_layout b_layout, float beta, float *C, int ldc, float *a_row_sums) {
    /* qgemm takes B dense and beta 0 or 1 (a residual); anything else stays float32. */
    int dense = ldb == (b_layout == NN_OUT_IN ? K : N);
    if (ctx->weight_dtype != NN_BF16 || !dense || (beta != 0.0f && beta != 1.0f) || K == 0) {
        if (a_transposed) nn_gemm_at(ctx, M, N, K, A, lda, B, ldb, b_layout, beta, C, ldc, a_row_sums);
        else nn_gemm(ctx, M, N, K, A, lda, B, ldb, b_layout, beta, C, ldc);
        return;
    }
    transposed_rows rows = {A, lda, K, a_row_sums};
    nn_qsource a = a_transposed ? (nn_qsource){.rows = gather_transposed, .src = &rows} : (nn_qsource){.x = A, .ldx = lda};
    nn_qepilogue ep = {.residual = beta != 0.0f ? C : NULL, .ldr = ldc};
    nn_qgemm(ctx, NN_BF16, M, N, K, &a, B, b_layout, &ep, C, ldc);
}
