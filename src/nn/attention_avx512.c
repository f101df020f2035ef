/* One (sequence, head) of attention on AVX-512 for CLIP's shapes: head
 * width 64 and at most 80 positions (an image at 224 px has 50, a text 77).
 * Through the tile kernels a head costs two packed products, a score
 * matrix in memory and a three-pass softmax: 47 GFLOP/s at ViT-B/32 batch
 * 32, 4% of the tower. Here K is transposed once per head, and each group
 * of up to 6 query rows keeps its scores in registers from the dot
 * products through the softmax, then multiplies its probabilities (a few
 * hundred bytes, in L1) by V read in place.
 *
 * Every sum runs in the order the tile path uses (over the head width, then
 * over the keys, one FMA at a time), and the softmax is the same sequence
 * of operations as softmax_row, so the two paths give the same floats for
 * finite inputs. (A causal group stops at its last row's keys, where the
 * tile path also adds zero times the later V rows: an infinite V there
 * makes its NaN, not this one's.) */
#include <immintrin.h>
#include <math.h>
#include <stddef.h>

#include "nn/kernels.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512dq,avx2,fma")
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define UNROLL _Pragma("GCC unroll 16")
#else
#define UNROLL
#endif
#define INLINE static inline __attribute__((always_inline))

#include "nn/avx512_inline.h"

/* HEAD: the head width; NV_MAX: score vectors per row (80 positions);
 * R_MAX: query rows per group, as the registers allow (R_MAX x NV sums plus
 * NV keys in the score loop, R_MAX x 4 sums plus 4 values in the second). */
enum { HEAD = 64, NV_MAX = 5, R_MAX = 6 };

typedef struct head_args {
    int L, causal;
    float scale;
    const float *q, *v;
    size_t ld;
    const float *kt; /* K^T [HEAD][lpad] */
    int lpad;
    float *p; /* [R_MAX][lpad] probabilities */
    float *out;
    size_t ldo;
} head_args;

/* Rows [i0, i0 + R): scores, softmax, probabilities to a->p, then the
 * product with V to the output. */
INLINE void rows_impl(const int NV, const int R, const head_args *a, int i0) {
    __m512 s[R_MAX][NV_MAX];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int v = 0; v < NV; v++) s[r][v] = _mm512_setzero_ps();
    const float *q = a->q + (size_t)i0 * a->ld, *kt = a->kt;
    for (int d = 0; d < HEAD; d++, kt += a->lpad) {
        __m512 kv[NV_MAX];
        UNROLL for (int v = 0; v < NV; v++) kv[v] = _mm512_loadu_ps(kt + 16 * v);
        UNROLL for (int r = 0; r < R; r++) {
            __m512 qr = _mm512_set1_ps(q[(size_t)r * a->ld + d]);
            UNROLL for (int v = 0; v < NV; v++) s[r][v] = _mm512_fmadd_ps(qr, kv[v], s[r][v]);
        }
    }
    __m512 scale = _mm512_set1_ps(a->scale);
    UNROLL for (int r = 0; r < R; r++) {
        int n = a->causal ? i0 + r + 1 : a->L; /* keys this row sees */
        __m512 mx = _mm512_set1_ps(-INFINITY);
        UNROLL for (int v = 0; v < NV; v++) {
            s[r][v] = _mm512_mul_ps(s[r][v], scale);
            mx = _mm512_max_ps(mx, _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), tail_mask(n - 16 * v), s[r][v]));
        }
        __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(mx)), sum = _mm512_setzero_ps();
        UNROLL for (int v = 0; v < NV; v++) {
            __mmask16 m = tail_mask(n - 16 * v);
            s[r][v] = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_mov_ps(m, s[r][v]), max)));
            sum = _mm512_add_ps(sum, s[r][v]);
        }
        __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
        UNROLL for (int v = 0; v < NV; v++) _mm512_storeu_ps(a->p + (size_t)r * a->lpad + 16 * v, _mm512_mul_ps(s[r][v], inv));
    }
    __m512 o[R_MAX][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < 4; c++) o[r][c] = _mm512_setzero_ps();
    int keys = a->causal && i0 + R < a->L ? i0 + R : a->L;
    const float *vrow = a->v;
    for (int j = 0; j < keys; j++, vrow += a->ld) {
        __m512 vv[4];
        UNROLL for (int c = 0; c < 4; c++) vv[c] = _mm512_loadu_ps(vrow + 16 * c);
        UNROLL for (int r = 0; r < R; r++) {
            __m512 pr = _mm512_set1_ps(a->p[(size_t)r * a->lpad + j]);
            UNROLL for (int c = 0; c < 4; c++) o[r][c] = _mm512_fmadd_ps(pr, vv[c], o[r][c]);
        }
    }
    UNROLL for (int r = 0; r < R; r++) {
        float *dst = a->out + (size_t)(i0 + r) * a->ldo;
        UNROLL for (int c = 0; c < 4; c++) _mm512_storeu_ps(dst + 16 * c, o[r][c]);
    }
}

typedef void (*rows_fn)(const head_args *a, int i0);
#define ROWS(NV, R) \
    static void rows_##NV##_##R(const head_args *a, int i0) { rows_impl(NV, R, a, i0); }
#define ROWS_NV(NV) ROWS(NV, 1) ROWS(NV, 2) ROWS(NV, 3) ROWS(NV, 4) ROWS(NV, 5) ROWS(NV, 6)
ROWS_NV(1) ROWS_NV(2) ROWS_NV(3) ROWS_NV(4) ROWS(5, 1) ROWS(5, 2) ROWS(5, 3) ROWS(5, 4) ROWS(5, 5)
#define ROW_TABLE(NV) {NULL, rows_##NV##_1, rows_##NV##_2, rows_##NV##_3, rows_##NV##_4, rows_##NV##_5, rows_##NV##_6}
static const rows_fn row_kernels[NV_MAX + 1][R_MAX + 1] = {
    {NULL}, ROW_TABLE(1), ROW_TABLE(2), ROW_TABLE(3), ROW_TABLE(4),
    {NULL, rows_5_1, rows_5_2, rows_5_3, rows_5_4, rows_5_5, NULL}};

int nn_attention_head_avx512_fits(int L, int head_width) { return head_width == HEAD && L >= 1 && L <= 16 * NV_MAX; }

size_t nn_attention_head_avx512_floats(int L) {
    size_t lpad = ((size_t)L + 15) / 16 * 16;
    return (HEAD + R_MAX) * lpad;
}

void nn_attention_head_avx512(int L, int causal, float scale, const float *q, const float *k, const float *v,
                              size_t ld, float *out, size_t ldo, float *scratch) {
    int nv = (L + 15) / 16, lpad = 16 * nv;
    float *kt = scratch;
    for (int j0 = 0; j0 < L; j0 += 16)
        nn_transpose_pack_avx512(L - j0 < 16 ? L - j0 : 16, 16, HEAD, k + (size_t)j0 * ld, ld, kt + j0, lpad);
    head_args a = {L, causal, scale, q, v, ld, kt, lpad, kt + (size_t)HEAD * lpad, out, ldo};
    int r_max = nv == NV_MAX ? NV_MAX : R_MAX;
    /* Groups differ by at most one row (50 rows: 9 groups of 5 or 6). */
    int groups = (L + r_max - 1) / r_max;
    for (int g = 0; g < groups; g++) {
        int i0 = nn_tile_start(L, groups, g), i1 = nn_tile_start(L, groups, g + 1);
        row_kernels[nv][i1 - i0](&a, i0);
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
