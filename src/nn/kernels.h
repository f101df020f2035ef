/* Inner loops of src/nn, one table per instruction set (AVX-512, AVX2+FMA,
 * portable C), picked at run time (dispatch.c). Internal to src/nn and the
 * kernel tests.
 *
 * Products use packed operands (BLIS style):
 *  - B is cut into panels of `nr` columns, each stored k-major: panel p is
 *    [K][nr] (pack.c), the last one zero-padded;
 *  - A is cut into tiles of up to `mr_max` rows, each stored [K][mr].
 * A tile kernel computes one mr x nr block over the whole K and applies the
 * epilogue while the sums are still in registers. */
#ifndef CLIP_NN_KERNELS_H
#define CLIP_NN_KERNELS_H
#include <stddef.h>

#include "nn/nn.h"

/* out = act(alpha * A.B * row_scale[row] + row_shift[row] + beta * C_old
 *           + bias[col]) + residual
 * or, with residual_first, act(... + bias[col] + residual) (a ResNet
 * bottleneck's relu(bn(conv3) + identity)). */
typedef struct nn_epilogue {
    float alpha, beta;
    const float *row_scale, *row_shift; /* both or neither (a folded batch norm) */
    const float *bias;     /* indexed by output column, or NULL */
    nn_activation act;
    const float *residual; /* [M, N] with stride ldr, or NULL */
    int ldr;
    int residual_first;
} nn_epilogue;

/* One tile: mr <= mr_max rows by nr <= panel width columns (the rest of the
 * panel is padding) over K (one block of the full K when the driver blocks
 * it: Ap and Bp then point at that block). */
typedef struct nn_tile_args {
    int mr, nr, K;
    const float *Ap, *Bp;
    float *C;
    int ldc;
    const nn_epilogue *ep;
    const float *bias, *residual;       /* already offset to this tile */
    const float *row_scale, *row_shift; /* likewise, or NULL */
    /* While it runs, the kernel prefetches pf_lines cache lines from pf (its
     * share of the next panel) into L2, spread over the K loop: at small M
     * the weights stream from memory, and the hardware prefetchers stop at
     * every 4 KiB page. */
    const char *pf;
    int pf_lines;
    /* With pf_second > 0, each step also prefetches the line pf_second
     * bytes past it (a second stream through the panel's other half). */
    size_t pf_second;
    /* K blocking: start from the partial sums in acc_in ([mr][panel width])
     * instead of zero, and store the raw sums to acc_out instead of running
     * the epilogue. Storing and reloading float32 sums changes nothing, so
     * blocked and unblocked results are identical. */
    const float *acc_in;
    float *acc_out;
} nn_tile_args;

typedef void (*nn_tile_fn)(const nn_tile_args *a);

typedef struct nn_kernels {
    const char *name; /* "avx512", "avx2", "generic", "blas" */
    /* Products go to the BLAS (blas_gemm.c) instead of `tile`: the fallback
     * where no vector table fits (no AVX2, or not x86), as the portable C
     * tile is a reference, not a fast path. */
    int use_blas;
    int nr, mr_max;
    int kc; /* K block: a [kc][nr] panel block and a [kc][mr] tile block fit L1 */
    nn_tile_fn tile;
    void (*softmax_row)(float *x, int n);
    /* y = (x - mean) / sqrt(var + eps) * gamma + beta over one row. */
    void (*layernorm_row)(const float *x, int dim, const float *gamma, const float *beta, float eps, float *y);
    void (*activate)(float *x, size_t n, nn_activation act);
} nn_kernels;

extern const nn_kernels nn_kernels_generic;
extern const nn_kernels nn_kernels_blas;
extern const nn_kernels nn_kernels_avx2;
extern const nn_kernels nn_kernels_avx512;

/* The table in use: CLIP_NN_KERNEL=avx512|avx2|blas|generic forces one
 * (when the CPU has it), otherwise the best the CPU supports (blas last). */
const nn_kernels *nn_kernels_active(void);
/* For tests: force a table by name; returns 0 when the CPU lacks it (the
 * active table is then unchanged). NULL goes back to the automatic choice. */
int nn_kernels_force(const char *name);
/* Whether this CPU can run the named table. */
int nn_kernels_supported(const char *name);

/* Packing (pack.c). */
size_t nn_packed_b_floats(const nn_kernels *k, int N, int K);
/* B [N, K] (NN_OUT_IN) or [K, N] (NN_IN_OUT), panels [p0, p1). */
void nn_pack_b(const nn_kernels *k, int N, int K, const float *B, int ldb, nn_weight_layout layout, int p0,
               int p1, float *packed);
/* Panel p alone, at `dst`. */
void nn_pack_b_panel(const nn_kernels *k, int N, int K, const float *B, int ldb, nn_weight_layout layout, int p,
                     float *dst);
/* Rows [r0, r0 + mr) of A [M, K] into one tile [K][mr]. */
void nn_pack_a_tile(int mr, int K, const float *A, int lda, float *packed);
/* All tiles of A [M, K] (nn_tile_start's split), tile t at row_start * K. */
void nn_pack_a(const nn_kernels *k, int M, int K, const float *A, int lda, float *packed);
/* The same tile from A given transposed: At [K, M] (stride lda), already
 * offset to the tile's first row; with `sums` (offset likewise), the tile
 * rows' sums over K are added into it. */
void nn_pack_a_tile_transposed(int mr, int K, const float *At, int lda, float *packed, float *sums);
/* sums[c] += sum over the rows of x[r, c] (double accumulation, row order). */
void nn_add_column_sums(const float *x, int rows, int cols, int ld, float *sums);

/* AVX-512 transposing copy (kernels_avx512.c; only where the CPU has it):
 * dst[k * ds + i] = src[i * ld + k] for i < rows, k < K, and zeros in lanes
 * rows <= i < lanes (rows <= lanes <= 16). The packers use it when they can;
 * the packed bytes are the same either way. */
void nn_transpose_pack_avx512(int rows, int lanes, int K, const float *src, size_t ld, float *dst, int ds);

/* Attention for one (sequence, head) on AVX-512 (attention_avx512.c; only
 * where the CPU has it): out = softmax(scale Q K^T) V with Q, K, V rows at
 * stride ld and output rows at stride ldo, for head widths and lengths that
 * _fits accepts; scratch holds _floats(L) floats. The same floats as the
 * tile path. */
int nn_attention_head_avx512_fits(int L, int head_width);
size_t nn_attention_head_avx512_floats(int L);
void nn_attention_head_avx512(int L, int causal, float scale, const float *q, const float *k, const float *v,
                              size_t ld, float *out, size_t ldo, float *scratch);
/* Whether the packers may call it. */
int nn_pack_has_avx512(void);

/* Where a convolution reads its input: image b, channel c, pixel (iy, ix)
 * at x[b * img_stride + c * chan_stride + iy * W + ix] ([B, C, H, W] or the
 * channel-major [C, B, H, W]). Output pixel n of the product's B * Ho * Wo
 * columns is image n / (Ho Wo), row (n % (Ho Wo)) / Wo, column % Wo. */
typedef struct nn_conv_geom {
    const float *x;
    int B, Cin, H, W, k, stride, pad, Ho, Wo;
    size_t img_stride, chan_stride;
} nn_conv_geom;
/* AVX-512 im2col gather (kernels_avx512.c; stride 1, k <= 3 only): rows
 * (c, ky, kx) for channels [c0, c1) of output pixels [n0, n0 + cols) into
 * dst[row * ds + t], t < width (a multiple of 16; lanes >= cols are 0). */
void nn_conv_gather_avx512(const nn_conv_geom *g, int c0, int c1, int n0, int cols, int width, float *dst, int ds);
/* The same pixels as im2col rows: out[t * K + row], t < n <= 16. */
void nn_conv_gather_rows_avx512(const nn_conv_geom *g, int n0, int n, float *out);

/* An eval-mode batch norm as a per-channel scale and shift applied to the
 * convolution's sums in its epilogue (one fused multiply-add instead of
 * nn_batchnorm_eval's pass over the output): [scale C][shift C], malloc'd
 * (free()), NULL when out of memory. */
float *nn_bn_affine(const float *mean, const float *var, const float *gamma, const float *beta, float eps, int C);

/* Custom B packing (convolution: im2col straight into panels): panels
 * [p0, p1) of the [K, N] operand described by `src`. */
typedef void (*nn_pack_b_fn)(const void *src, const nn_kernels *k, int p0, int p1, float *packed);
/* The threaded product with A a weight (packed once when the context has a
 * state) and B packed by `pack_b`; C [M, N] with the epilogue. */
void nn_gemm_weight_a(const nn_ctx *ctx, int M, int N, int K, const float *A, int lda, nn_pack_b_fn pack_b,
                      const void *src, const nn_epilogue *ep, float *C, int ldc);

/* C = epilogue(A . B) across the pool, on either kind of table. */
void nn_gemm_ep(const nn_ctx *ctx, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                nn_weight_layout layout, int b_is_weight, const nn_epilogue *ep, float *C, int ldc);
/* The BLAS versions (blas_gemm.c): the product by cblas_sgemm, then the
 * epilogue in C; `local` runs on the calling thread only. */
void nn_blas_gemm(const nn_ctx *ctx, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                  nn_weight_layout layout, const nn_epilogue *ep, float *C, int ldc);
void nn_blas_gemm_local(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                        nn_weight_layout layout, const nn_epilogue *ep, float *C, int ldc);
/* C = At^T . B + beta C with At [K, M] (nn_gemm_at on the BLAS). */
void nn_blas_gemm_at(int M, int N, int K, const float *At, int lda, const float *B, int ldb, nn_weight_layout layout,
                     float beta, float *C, int ldc);

/* A single-threaded product on caller-provided scratch: C[M,N] from A [M,K]
 * and B in `layout`, with the epilogue (columns of bias/residual as C).
 * `scratch` holds nn_gemm_local_scratch_floats() floats. */
size_t nn_gemm_local_scratch_floats(const nn_kernels *k, int M, int N, int K);
void nn_gemm_local(const nn_kernels *k, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                   nn_weight_layout layout, const nn_epilogue *ep, float *C, int ldc, float *scratch);

/* Tiles of an M-row operand: `count` tiles, tile t starts at row
 * nn_tile_start(M, count, t); sizes differ by at most one row, so M = 50
 * with mr_max 14 is 13+13+12+12 rather than 14+14+14+8. */
static inline int nn_tile_count(int M, int mr_max) { return (M + mr_max - 1) / mr_max; }
static inline int nn_tile_start(int M, int count, int t) { return (int)((long long)M * t / count); }

#endif
