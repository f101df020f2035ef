/* Operand packing for the tile kernels (layouts in kernels.h). */
#include <string.h>

#include "nn/kernels.h"

int nn_pack_has_avx512(void) {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

size_t nn_packed_b_floats(const nn_kernels *k, int N, int K) {
    size_t panels = (size_t)(N + k->nr - 1) / k->nr;
    return panels * k->nr * (size_t)K;
}

/* [N, K] rows become panel columns: a transpose, done in blocks of K so
 * the reads of the nr source rows and the panel writes both stay cached. */
static void pack_out_in(int nr, int cols, int K, const float *B, int ldb, float *dst) {
    enum { KB = 128 };
    if (nr % 16 == 0 && nn_pack_has_avx512()) {
        for (int j0 = 0; j0 < nr; j0 += 16) {
            int rows = cols - j0 < 16 ? (cols - j0 > 0 ? cols - j0 : 0) : 16;
            nn_transpose_pack_avx512(rows, 16, K, rows ? B + (size_t)j0 * ldb : B, (size_t)ldb, dst + j0, nr);
        }
        return;
    }
    for (int k0 = 0; k0 < K; k0 += KB) {
        int k1 = k0 + KB < K ? k0 + KB : K;
        for (int j = 0; j < cols; j++) {
            const float *src = B + (size_t)j * ldb;
            for (int k = k0; k < k1; k++) dst[(size_t)k * nr + j] = src[k];
        }
        for (int k = k0; k < k1; k++)
            for (int j = cols; j < nr; j++) dst[(size_t)k * nr + j] = 0.0f;
    }
}

void nn_pack_b_panel(const nn_kernels *k, int N, int K, const float *B, int ldb, nn_weight_layout layout, int p,
                     float *dst) {
    int nr = k->nr, n0 = p * nr, cols = N - n0 < nr ? N - n0 : nr;
    if (layout == NN_OUT_IN) {
        pack_out_in(nr, cols, K, B + (size_t)n0 * ldb, ldb, dst);
        return;
    }
    for (int kk = 0; kk < K; kk++) {
        memcpy(dst + (size_t)kk * nr, B + (size_t)kk * ldb + n0, (size_t)cols * sizeof(float));
        if (cols < nr) memset(dst + (size_t)kk * nr + cols, 0, (size_t)(nr - cols) * sizeof(float));
    }
}

void nn_pack_b(const nn_kernels *k, int N, int K, const float *B, int ldb, nn_weight_layout layout, int p0, int p1,
               float *packed) {
    for (int p = p0; p < p1; p++) nn_pack_b_panel(k, N, K, B, ldb, layout, p, packed + (size_t)p * k->nr * K);
}

/* Sequential writes, mr sequential read streams: 4x faster than walking
 * one source row at a time (strided writes) on Sapphire Rapids. */
void nn_pack_a_tile(int mr, int K, const float *A, int lda, float *packed) {
    if (mr <= 16 && nn_pack_has_avx512()) {
        nn_transpose_pack_avx512(mr, mr, K, A, (size_t)lda, packed, mr);
        return;
    }
    for (int k = 0; k < K; k++, packed += mr)
        for (int i = 0; i < mr; i++) packed[i] = A[(size_t)i * lda + k];
}

void nn_pack_a(const nn_kernels *k, int M, int K, const float *A, int lda, float *packed) {
    int tiles = nn_tile_count(M, k->mr_max);
    for (int t = 0; t < tiles; t++) {
        int r0 = nn_tile_start(M, tiles, t), r1 = nn_tile_start(M, tiles, t + 1);
        nn_pack_a_tile(r1 - r0, K, A + (size_t)r0 * lda, lda, packed + (size_t)r0 * K);
    }
}

/* A^T [K, M] holds each packed k-row contiguously: one short copy per k.
 * Copies of a constant size compile to a few vector moves; a library
 * memcpy call per 56-byte row cost more than the copying. With `sums`, the
 * rows' sums (over K, in double, in k order) are added into it while the
 * values pass by: a bias gradient for free with its weight gradient. */
#define PACK_ROWS_OF(n)                                                                                 \
    case n:                                                                                             \
        for (int k = 0; k < K; k++, packed += n) memcpy(packed, At + (size_t)k * lda, n * sizeof(float)); \
        break;

void nn_pack_a_tile_transposed(int mr, int K, const float *At, int lda, float *packed, float *sums) {
    float *start = packed;
    switch (mr) {
        PACK_ROWS_OF(16)
        PACK_ROWS_OF(14)
        PACK_ROWS_OF(12)
        PACK_ROWS_OF(8)
        PACK_ROWS_OF(6)
        PACK_ROWS_OF(4)
    default:
        for (int k = 0; k < K; k++, packed += mr)
            for (int i = 0; i < mr; i++) packed[i] = At[(size_t)k * lda + i];
    }
    if (!sums) return;
    double acc[16] = {0};
    for (int k = 0; k < K; k++)
        for (int i = 0; i < mr; i++) acc[i] += start[(size_t)k * mr + i];
    for (int i = 0; i < mr; i++) sums[i] += (float)acc[i];
}

void nn_add_column_sums(const float *x, int rows, int cols, int ld, float *sums) {
    for (int c0 = 0; c0 < cols; c0 += 16) {
        int n = cols - c0 < 16 ? cols - c0 : 16;
        double acc[16] = {0};
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < n; i++) acc[i] += x[(size_t)r * ld + c0 + i];
        for (int i = 0; i < n; i++) sums[c0 + i] += (float)acc[i];
    }
}
