/* AVX-512 kernels: a 14x32 sgemm tile (28 zmm accumulators, B from the
 * packed panel, A broadcast from the packed tile), a Cephes-style exp for
 * softmax and QuickGELU, and LayerNorm with double statistics. Compiled
 * for AVX-512 whatever the build flags; dispatch.c calls it only on CPUs
 * that have it. */
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "nn/kernels.h"

/* Every function below is compiled for the instruction set (GCC and clang
 * spell it differently). */
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

/* KC: a 192x32 panel block (24 KiB) and a 14x192 tile block (10.5 KiB)
 * share a 48 KiB L1 with room for the prefetched lines passing through. */
enum { NR = 32, MR_MAX = 14, KC = 192 };

/* x * sigmoid(1.702 x), as CLIP's QuickGELU. */
INLINE __m512 quickgelu512(__m512 x) {
    __m512 e = exp512(_mm512_mul_ps(x, _mm512_set1_ps(-1.702f)));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

INLINE __m512 activate512(__m512 v, nn_activation act) {
    if (act == NN_ACT_QUICKGELU) return quickgelu512(v);
    if (act == NN_ACT_RELU) return _mm512_max_ps(v, _mm512_setzero_ps());
    return v;
}


INLINE __m512 finish(__m512 acc, const nn_epilogue *ep, const float *c, __mmask16 m, __m512 alpha, __m512 bias,
                     const float *res, const float *rs, const float *rh) {
    __m512 v = _mm512_mul_ps(acc, alpha);
    if (rs) v = _mm512_fmadd_ps(v, _mm512_set1_ps(*rs), _mm512_set1_ps(*rh));
    if (ep->beta != 0.0f) v = _mm512_fmadd_ps(_mm512_set1_ps(ep->beta), _mm512_maskz_loadu_ps(m, c), v);
    if (ep->bias) v = _mm512_add_ps(v, bias);
    if (res && ep->residual_first) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res));
    v = activate512(v, ep->act);
    if (res && !ep->residual_first) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res));
    return v;
}

INLINE void tile_impl(const int MR, const nn_tile_args *t) {
    int nr = t->nr, K = t->K, ldc = t->ldc, pf_lines = t->pf_lines;
    const float *Ap = t->Ap, *Bp = t->Bp, *bias = t->bias, *residual = t->residual;
    /* A copy: the stores to C could alias ep's float fields, which would
     * make the compiler reload them for every row. */
    const nn_epilogue ep_copy = *t->ep, *ep = &ep_copy;
    const char *pf = t->pf;
    size_t pf_second = t->pf_second;
    float *C = t->C;
    __m512 c0[MR_MAX], c1[MR_MAX];
    if (t->acc_in) {
        UNROLL for (int i = 0; i < MR; i++) {
            c0[i] = _mm512_loadu_ps(t->acc_in + i * NR);
            c1[i] = _mm512_loadu_ps(t->acc_in + i * NR + 16);
        }
    } else {
        UNROLL for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    }
    const float *a = Ap, *b = Bp;
    int debt = 0; /* pf_lines per K iterations, Bresenham style */
    for (int k = 0; k < K; k++, a += MR, b += NR) {
        for (debt += pf_lines; debt >= K && pf; debt -= K, pf += 64) {
            _mm_prefetch(pf, _MM_HINT_T1);
            if (pf_second) _mm_prefetch(pf + pf_second, _MM_HINT_T1);
        }
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        UNROLL for (int i = 0; i < MR; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
            c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
        }
    }
    if (t->acc_out) {
        UNROLL for (int i = 0; i < MR; i++) {
            _mm512_storeu_ps(t->acc_out + i * NR, c0[i]);
            _mm512_storeu_ps(t->acc_out + i * NR + 16, c1[i]);
        }
        return;
    }
    __mmask16 m0 = tail_mask(nr), m1 = tail_mask(nr - 16);
    __m512 alpha = _mm512_set1_ps(ep->alpha);
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (bias) {
        bias0 = _mm512_maskz_loadu_ps(m0, bias);
        bias1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    }
    UNROLL for (int i = 0; i < MR; i++) {
        float *c = C + (size_t)i * ldc;
        const float *res = residual ? residual + (size_t)i * ep->ldr : NULL;
        const float *rs = t->row_scale ? t->row_scale + i : NULL, *rh = t->row_shift ? t->row_shift + i : NULL;
        __m512 v0 = finish(c0[i], ep, c, m0, alpha, bias0, res, rs, rh);
        __m512 v1 = finish(c1[i], ep, c + 16, m1, alpha, bias1, res ? res + 16 : NULL, rs, rh);
        _mm512_mask_storeu_ps(c, m0, v0);
        _mm512_mask_storeu_ps(c + 16, m1, v1);
    }
}

#define TILE(MR) \
    static void tile_##MR(const nn_tile_args *t) { tile_impl(MR, t); }
TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6) TILE(7) TILE(8) TILE(9) TILE(10) TILE(11) TILE(12) TILE(13) TILE(14)

static void (*const tiles[MR_MAX + 1])(const nn_tile_args *) = {
    NULL, tile_1, tile_2, tile_3, tile_4, tile_5, tile_6, tile_7, tile_8, tile_9, tile_10, tile_11, tile_12, tile_13, tile_14};

static void tile(const nn_tile_args *t) { tiles[t->mr](t); }

static void softmax_row(float *x, int n) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n; i += 16)
        mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail_mask(n - i), x + i));
    __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), max));
        e = _mm512_maskz_mov_ps(m, e);
        sum = _mm512_add_ps(sum, e);
        _mm512_mask_storeu_ps(x + i, m, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
    }
}

/* Statistics in double, as the portable version, so the result does not
 * depend on the vector width beyond the last rounding. */
static void layernorm_row(const float *x, int dim, const float *gamma, const float *beta, float eps, float *y) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (int c = 0; c < dim; c += 16) {
        __m512 v = _mm512_maskz_loadu_ps(tail_mask(dim - c), x + c);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
    }
    double mean = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1)) / dim;
    __m512d md = _mm512_set1_pd(mean), q0 = _mm512_setzero_pd(), q1 = _mm512_setzero_pd();
    for (int c = 0; c < dim; c += 16) {
        __mmask16 m = tail_mask(dim - c);
        __m512 v = _mm512_maskz_loadu_ps(m, x + c);
        __m512d d0 = _mm512_maskz_sub_pd((__mmask8)m, _mm512_cvtps_pd(_mm512_castps512_ps256(v)), md);
        __m512d d1 = _mm512_maskz_sub_pd((__mmask8)(m >> 8),
                                         _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))),
                                         md);
        q0 = _mm512_fmadd_pd(d0, d0, q0);
        q1 = _mm512_fmadd_pd(d1, d1, q1);
    }
    double var = _mm512_reduce_add_pd(_mm512_add_pd(q0, q1)) / dim;
    __m512 inv = _mm512_set1_ps((float)(1.0 / sqrt(var + eps))), mf = _mm512_set1_ps((float)mean);
    for (int c = 0; c < dim; c += 16) {
        __mmask16 m = tail_mask(dim - c);
        __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + c), mf), inv);
        v = _mm512_add_ps(_mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, gamma + c)), _mm512_maskz_loadu_ps(m, beta + c));
        _mm512_mask_storeu_ps(y + c, m, v);
    }
}

/* In-register 16x16 transpose: r[i] (row i) becomes column i. */
INLINE void transpose16(__m512 r[16]) {
    __m512 t[16];
    UNROLL for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* s[4g + c]: in each 128-bit lane L, rows 4g..4g+3 of column 4L + c. */
    UNROLL for (int g = 0; g < 4; g++) {
        __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
        __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
        r[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    UNROLL for (int c = 0; c < 4; c++) {
        __m512 u0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x44), u1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xEE);
        __m512 u2 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x44);
        __m512 u3 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xEE);
        t[c] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        t[4 + c] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
        t[8 + c] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        t[12 + c] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
    }
    UNROLL for (int i = 0; i < 16; i++) r[i] = t[i];
}

void nn_transpose_pack_avx512(int rows, int lanes, int K, const float *src, size_t ld, float *dst, int ds) {
    __mmask16 out = tail_mask(lanes);
    for (int k0 = 0; k0 < K; k0 += 16) {
        __mmask16 km = tail_mask(K - k0);
        __m512 r[16];
        UNROLL for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_maskz_loadu_ps(km, src + i * ld + k0)
                                                            : _mm512_setzero_ps();
        transpose16(r);
        int n = K - k0 < 16 ? K - k0 : 16;
        float *d = dst + (size_t)k0 * ds;
        if (n == 16) {
            UNROLL for (int j = 0; j < 16; j++) _mm512_mask_storeu_ps(d + (size_t)j * ds, out, r[j]);
        } else {
            for (int j = 0; j < n; j++) _mm512_mask_storeu_ps(d + (size_t)j * ds, out, r[j]);
        }
    }
}

/* Lanes [n0, n0 + 16) of the im2col rows, as runs of output pixels on one
 * output row: per tap, each run is one masked load of consecutive input
 * pixels (lane t at off + t), with the padding and the lanes past `cols`
 * masked out. */
typedef struct gather_plan {
    int taps, nseg[9];
    ptrdiff_t off[9][16];
    __mmask16 mask[9][16];
} gather_plan;

static void plan_gather(const nn_conv_geom *g, int n0, int lanes, gather_plan *pl) {
    int k = g->k, P = g->Ho * g->Wo;
    int rt0[16], rt1[16], rb[16], roy[16], rox[16], runs = 0;
    for (int t = 0; t < lanes;) {
        int n = n0 + t, b = n / P, p = n % P, oy = p / g->Wo, ox = p % g->Wo;
        int run = g->Wo - ox < lanes - t ? g->Wo - ox : lanes - t;
        rt0[runs] = t, rt1[runs] = t + run, rb[runs] = b, roy[runs] = oy, rox[runs] = ox, runs++;
        t += run;
    }
    pl->taps = k * k;
    for (int ky = 0, tap = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++, tap++) {
            int ns = 0;
            for (int r = 0; r < runs; r++) {
                int iy = roy[r] - g->pad + ky;
                if (iy < 0 || iy >= g->H) continue;
                /* lane t: ix = rox + (t - rt0) - pad + kx */
                int shift = rox[r] - rt0[r] - g->pad + kx;
                int lo = -shift > rt0[r] ? -shift : rt0[r], hi = g->W - shift < rt1[r] ? g->W - shift : rt1[r];
                if (hi <= lo) continue;
                pl->mask[tap][ns] = (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
                pl->off[tap][ns] = (ptrdiff_t)rb[r] * (ptrdiff_t)g->img_stride + (ptrdiff_t)iy * g->W + shift;
                ns++;
            }
            pl->nseg[tap] = ns;
        }
}

/* Masked lanes are never read, so off + t may point before x for them. */
INLINE __m512 gather_lanes(const gather_plan *pl, int tap, const float *xc, int pf) {
    __m512 v = _mm512_setzero_ps();
    for (int s = 0; s < pl->nseg[tap]; s++) {
        const float *src = (const float *)((uintptr_t)xc + (uintptr_t)(pl->off[tap][s] * 4));
        /* The channel rows are read 16-32 floats at a time, a row per
         * channel: too many streams for the hardware prefetchers. */
        if (pf) _mm_prefetch((const char *)(src + pf), _MM_HINT_T0);
        v = _mm512_mask_loadu_ps(v, pl->mask[tap][s], src);
    }
    return v;
}

/* Floats ahead of each channel row the gather prefetches (tuned on
 * Sapphire Rapids: the rows are too many streams for the hardware). */
static int gather_prefetch(void) { return 64; }

void nn_conv_gather_avx512(const nn_conv_geom *g, int c0, int c1, int n0, int cols, int width, float *dst, int ds) {
    gather_plan pl;
    int pf = gather_prefetch();
    for (int l0 = 0; l0 < width; l0 += 16) {
        int lanes = cols - l0 < 16 ? (cols - l0 > 0 ? cols - l0 : 0) : 16;
        plan_gather(g, n0 + l0, lanes, &pl);
        float *d = dst + l0;
        for (int c = c0; c < c1; c++) {
            const float *xc = g->x + (size_t)c * g->chan_stride;
            for (int tap = 0; tap < pl.taps; tap++, d += ds) _mm512_storeu_ps(d, gather_lanes(&pl, tap, xc, tap == 0 || pl.taps == 1 ? pf : 0));
        }
    }
}

void nn_conv_gather_rows_avx512(const nn_conv_geom *g, int n0, int n, float *out) {
    gather_plan pl;
    int pf = gather_prefetch();
    plan_gather(g, n0, n, &pl);
    int K = g->Cin * pl.taps;
    __m512 r[16];
    int fill = 0, row0 = 0;
    for (int c = 0; c < g->Cin; c++) {
        const float *xc = g->x + (size_t)c * g->chan_stride;
        for (int tap = 0; tap < pl.taps; tap++) {
            r[fill++] = gather_lanes(&pl, tap, xc, tap == 0 ? pf : 0);
            if (fill == 16) {
                transpose16(r);
                UNROLL for (int t = 0; t < 16; t++)
                    if (t < n) _mm512_storeu_ps(out + (size_t)t * K + row0, r[t]);
                row0 += 16, fill = 0;
            }
        }
    }
    if (fill) {
        for (int i = fill; i < 16; i++) r[i] = _mm512_setzero_ps();
        transpose16(r);
        __mmask16 km = tail_mask(fill);
        for (int t = 0; t < n; t++) _mm512_mask_storeu_ps(out + (size_t)t * K + row0, km, r[t]);
    }
}

static void activate(float *x, size_t n, nn_activation act) {
    if (act == NN_ACT_NONE) return;
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i > 16 ? 16 : (int)(n - i));
        _mm512_mask_storeu_ps(x + i, m, activate512(_mm512_maskz_loadu_ps(m, x + i), act));
    }
}

const nn_kernels nn_kernels_avx512 = {"avx512", 0, NR, MR_MAX, KC, tile, softmax_row, layernorm_row, activate};

#if defined(__clang__)
#pragma clang attribute pop
#endif
