/* Reduced-precision products (bf16, int8): packed weight layout, kernel
 * tables and the driver. Internal to src/nn and the kernel tests.
 *
 * C[M, N] = A[M, K] . W where W is a weight [N, K] (or [K, N]) packed once:
 *  - A is quantised per call into row-major rows of Kpad elements (bf16, or
 *    u8 = q + 128 with one float scale per row), the row count padded to a
 *    multiple of NN_Q_ROWS with zero rows;
 *  - W is cut into panels of NN_Q_NR = 32 columns. A panel holds K blocks of
 *    kb values (32 for bf16, 64 for int8); each block is two 1 KiB
 *    sub-tiles, columns 0-15 then 16-31, each [kb / g][16 columns][g] with
 *    g = 2 (bf16 pairs) or 4 (int8 quads): AMX's B tile layout, which the
 *    AVX-512 kernels read as well (one sub-tile row is one zmm).
 * int8 weights are symmetric per output column (q in [-127, 127], a float
 * scale and the column sum of q, for the u8 offset of A). Every kernel
 * writes the raw sums of a NN_Q_ROWS x NN_Q_NR block (float for bf16,
 * int32 for int8); the driver (qgemm.c) applies the epilogue. The int8
 * sums are exact integers, so every int8 kernel gives the same result. */
#ifndef CLIP_NN_QKERNELS_H
#define CLIP_NN_QKERNELS_H
#include <stddef.h>
#include <stdint.h>

#include "nn/nn.h"

enum { NN_Q_NR = 32, NN_Q_ROWS = 32, NN_Q_SUBTILE_BYTES = 1024 };

static inline int nn_q_kblock(nn_dtype d) { return d == NN_INT8 ? 64 : 32; }
static inline int nn_q_kpad(nn_dtype d, int K) {
    int kb = nn_q_kblock(d);
    return (K + kb - 1) / kb * kb;
}
static inline size_t nn_q_elt(nn_dtype d) { return d == NN_INT8 ? 1 : 2; }

/* A packed weight; the panels, scales and sums follow in one allocation. */
typedef struct nn_qweight {
    nn_dtype dtype;
    int N, K, Kpad, panels;
    const uint8_t *data; /* panel p at p * NN_Q_NR * Kpad * elt bytes */
    const float *scale;  /* int8: per column (panels * NN_Q_NR), else NULL */
    const int32_t *colsum;
} nn_qweight;

/* Bytes of a packed weight (header included), 64-byte aligned pieces. */
size_t nn_qweight_bytes(nn_dtype d, int N, int K);
/* Packs w ([N, K] for NN_OUT_IN with row stride ld, [K, N] for NN_IN_OUT)
 * into `mem` (nn_qweight_bytes, 64-byte aligned) across the pool. */
const nn_qweight *nn_qweight_pack(const nn_ctx *ctx, nn_dtype d, const float *w, int ld, nn_weight_layout layout,
                                  int N, int K, void *mem);

/* float -> bfloat16, round to nearest even (the rounding vcvtneps2bf16 does). */
static inline uint16_t nn_bf16_from_f32(float x) {
    union { float f; uint32_t u; } v = {x};
    if ((v.u & 0x7f800000u) == 0x7f800000u && (v.u & 0x7fffffu)) return (uint16_t)((v.u >> 16) | 0x40); /* NaN */
    return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}
static inline float nn_f32_from_bf16(uint16_t b) {
    union { uint32_t u; float f; } v = {(uint32_t)b << 16};
    return v.f;
}

/* One block: NN_Q_ROWS rows of A (row stride lda bytes; `rows` of them
 * hold data, the rest are zero and may be skipped) times one panel over
 * Kpad; raw sums to acc [NN_Q_ROWS][NN_Q_NR]. */
typedef struct nn_qblock_args {
    const uint8_t *A;
    size_t lda;
    int rows, Kpad;
    const uint8_t *B;
    void *acc;
    /* Next panel, prefetched into L2 over the K loop (at batch 1 the
     * weights stream from memory), or NULL. */
    const uint8_t *pf;
    size_t pf_bytes;
} nn_qblock_args;

typedef struct nn_qkernels {
    const char *name; /* "amx", "avx512", "generic" */
    void (*bf16_block)(const nn_qblock_args *a);
    void (*int8_block)(const nn_qblock_args *a);
    /* n floats to bf16. */
    void (*to_bf16)(const float *x, int n, uint16_t *out);
    /* n floats to u8 = round(x * 127 / max|x|) + 128; returns the scale
     * max|x| / 127 (0 for an all-zero row). Must round as nn_q_to_u8_ref. */
    float (*to_u8)(const float *x, int n, uint8_t *out);
    /* Around a task's blocks (AMX tile configuration), or NULL. */
    void (*begin)(void);
    void (*end)(void);
    /* One pair row of a bf16 sub-tile: out[2i] = bf16(r0[i]), out[2i + 1] =
     * bf16(r1[i]) (0 when r1 is NULL) for i < n <= 16, zeros up to 16 pairs. */
    void (*pairs_to_bf16)(const float *r0, const float *r1, int n, uint16_t *out);
    /* Columns i0 .. i0+n-1 (n <= 16) of At [K, lda] as rows: out[r][k] =
     * At[k][i0 + r] (out [n][K]); with sums, adds each column's sum. */
    void (*gather_columns)(const float *At, int lda, int K, int n, float *out, float *sums);
} nn_qkernels;

extern const nn_qkernels nn_qkernels_generic;
extern const nn_qkernels nn_qkernels_avx512;
extern const nn_qkernels nn_qkernels_amx;

/* The portable row quantisers (the kernels' reference) and the AVX-512
 * ones (kernels_q_avx512.c, shared with the AMX table). */
void nn_q_to_bf16_ref(const float *x, int n, uint16_t *out);
float nn_q_to_u8_ref(const float *x, int n, uint8_t *out);
void nn_q_to_bf16_avx512(const float *x, int n, uint16_t *out);
void nn_q_pairs_to_bf16_ref(const float *r0, const float *r1, int n, uint16_t *out);
void nn_q_pairs_to_bf16_avx512(const float *r0, const float *r1, int n, uint16_t *out);
void nn_q_gather_columns_ref(const float *At, int lda, int K, int n, float *out, float *sums);
void nn_q_gather_columns_avx512(const float *At, int lda, int K, int n, float *out, float *sums);
float nn_q_to_u8_avx512(const float *x, int n, uint8_t *out);

/* The table in use: CLIP_NN_KERNEL=amx|avx512 picks one (avx512 = the
 * AVX512-BF16/VNNI kernels); any other forced table (avx2, generic, blas)
 * gives the portable one; otherwise the best the CPU has. */
const nn_qkernels *nn_qkernels_active(void);
/* For tests: force by name; 0 when the CPU lacks it. NULL: automatic. */
int nn_qkernels_force(const char *name);
int nn_qkernels_supported(const char *name);

/* The reduced-precision epilogue: out = act(sum * scales (+ col affine)
 * + bias) + residual, stored row-major or transposed (conv: [N, M]). */
typedef struct nn_qepilogue {
    const float *bias; /* per column, or NULL */
    nn_activation act;
    const float *residual; /* [M, N] stride ldr, or NULL; may equal y */
    int ldr;
    const float *col_scale, *col_shift; /* folded batch norm per column, or NULL */
    int transposed;                     /* y[col * ldy + row] */
} nn_qepilogue;

/* Rows of A come from x (row stride ldx) or, when `rows` is set, are
 * gathered by it: rows [i0, i0 + n), n <= NN_Q_GATHER, into out [n][K]
 * (convolutions: im2col rows, a block at a time so that the reads of the
 * image run along its rows). */
enum { NN_Q_GATHER = 16 };
typedef struct nn_qsource {
    const float *x;
    int ldx;
    void (*rows)(const void *src, int i0, int n, float *out);
    const void *src;
} nn_qsource;

/* y = epilogue(A . W) with W packed (and cached when ctx has a state). */
void nn_qgemm(const nn_ctx *ctx, nn_dtype d, int M, int N, int K, const nn_qsource *a, const float *w,
              nn_weight_layout layout, const nn_qepilogue *ep, float *y, int ldy);

#endif
