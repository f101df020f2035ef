/* AVX2+FMA kernels: a 6x16 sgemm tile (12 ymm accumulators), exp with the
 * exponent built in integer lanes, LayerNorm with double statistics.
 * Compiled for AVX2 whatever the build flags; dispatch.c calls it only on
 * CPUs that have AVX2 and FMA. */
#include <immintrin.h>
#include <math.h>

#include "nn/kernels.h"

/* Every function below is compiled for the instruction set (GCC and clang
 * spell it differently). */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define UNROLL _Pragma("GCC unroll 8")
#else
#define UNROLL
#endif
#define INLINE static inline __attribute__((always_inline))

enum { NR = 16, MR_MAX = 6, KC = 256 }; /* 16 KiB panel block + 6 KiB tile block in L1 */

/* Cephes expf; the clamp keeps n in [-126, 127] so 2^n is a normal float
 * (results below ~1e-38 flush towards zero, harmless for softmax/GELU). */
INLINE __m256 exp256(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33654475f)), _mm256_set1_ps(88.3762626647949f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

INLINE __m256 activate256(__m256 v, nn_activation act) {
    if (act == NN_ACT_QUICKGELU) {
        __m256 e = exp256(_mm256_mul_ps(v, _mm256_set1_ps(-1.702f)));
        return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    }
    if (act == NN_ACT_RELU) return _mm256_max_ps(v, _mm256_setzero_ps());
    return v;
}

INLINE __m256i tail_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

INLINE __m256 finish(__m256 acc, const nn_epilogue *ep, const float *c, __m256i m, __m256 alpha, __m256 bias,
                     const float *res, const float *rs, const float *rh) {
    __m256 v = _mm256_mul_ps(acc, alpha);
    if (rs) v = _mm256_fmadd_ps(v, _mm256_set1_ps(*rs), _mm256_set1_ps(*rh));
    if (ep->beta != 0.0f) v = _mm256_fmadd_ps(_mm256_set1_ps(ep->beta), _mm256_maskload_ps(c, m), v);
    if (ep->bias) v = _mm256_add_ps(v, bias);
    if (res && ep->residual_first) v = _mm256_add_ps(v, _mm256_maskload_ps(res, m));
    v = activate256(v, ep->act);
    if (res && !ep->residual_first) v = _mm256_add_ps(v, _mm256_maskload_ps(res, m));
    return v;
}

INLINE void tile_impl(const int MR, const nn_tile_args *t) {
    int nr = t->nr, K = t->K, ldc = t->ldc, pf_lines = t->pf_lines;
    const float *Ap = t->Ap, *Bp = t->Bp, *bias = t->bias, *residual = t->residual;
    const nn_epilogue *ep = t->ep;
    const char *pf = t->pf;
    size_t pf_second = t->pf_second;
    float *C = t->C;
    __m256 c0[MR_MAX], c1[MR_MAX];
    if (t->acc_in) {
        UNROLL for (int i = 0; i < MR; i++) {
            c0[i] = _mm256_loadu_ps(t->acc_in + i * NR);
            c1[i] = _mm256_loadu_ps(t->acc_in + i * NR + 8);
        }
    } else {
        UNROLL for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm256_setzero_ps();
    }
    const float *a = Ap, *b = Bp;
    int debt = 0; /* pf_lines per K iterations, Bresenham style */
    for (int k = 0; k < K; k++, a += MR, b += NR) {
        for (debt += pf_lines; debt >= K && pf; debt -= K, pf += 64) {
            _mm_prefetch(pf, _MM_HINT_T1);
            if (pf_second) _mm_prefetch(pf + pf_second, _MM_HINT_T1);
        }
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        UNROLL for (int i = 0; i < MR; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i);
            c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
        }
    }
    if (t->acc_out) {
        UNROLL for (int i = 0; i < MR; i++) {
            _mm256_storeu_ps(t->acc_out + i * NR, c0[i]);
            _mm256_storeu_ps(t->acc_out + i * NR + 8, c1[i]);
        }
        return;
    }
    __m256i m0 = tail_mask(nr), m1 = tail_mask(nr - 8);
    __m256 alpha = _mm256_set1_ps(ep->alpha);
    __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
    if (bias) {
        bias0 = _mm256_maskload_ps(bias, m0);
        bias1 = _mm256_maskload_ps(bias + 8, m1);
    }
    UNROLL for (int i = 0; i < MR; i++) {
        float *c = C + (size_t)i * ldc;
        const float *res = residual ? residual + (size_t)i * ep->ldr : NULL;
        const float *rs = t->row_scale ? t->row_scale + i : NULL, *rh = t->row_shift ? t->row_shift + i : NULL;
        _mm256_maskstore_ps(c, m0, finish(c0[i], ep, c, m0, alpha, bias0, res, rs, rh));
        _mm256_maskstore_ps(c + 8, m1, finish(c1[i], ep, c + 8, m1, alpha, bias1, res ? res + 8 : NULL, rs, rh));
    }
}

#define TILE(MR) \
    static void tile_##MR(const nn_tile_args *t) { tile_impl(MR, t); }
TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6)

static void (*const tiles[MR_MAX + 1])(const nn_tile_args *) = {NULL, tile_1, tile_2, tile_3, tile_4, tile_5, tile_6};

static void tile(const nn_tile_args *t) { tiles[t->mr](t); }

INLINE float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static void softmax_row(float *x, int n) {
    float max = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > max) max = x[i];
    __m256 mv = _mm256_set1_ps(max), sum = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
        sum = _mm256_add_ps(sum, e);
        _mm256_storeu_ps(x + i, e);
    }
    float total = hsum256(sum);
    for (; i < n; i++) {
        x[i] = expf(x[i] - max);
        total += x[i];
    }
    float inv = 1.0f / total;
    for (i = 0; i < n; i++) x[i] *= inv;
}

static void layernorm_row(const float *x, int dim, const float *gamma, const float *beta, float eps, float *y) {
    __m256d s = _mm256_setzero_pd();
    int c = 0;
    for (; c + 4 <= dim; c += 4) s = _mm256_add_pd(s, _mm256_cvtps_pd(_mm_loadu_ps(x + c)));
    double lanes[4];
    _mm256_storeu_pd(lanes, s);
    double sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    for (; c < dim; c++) sum += x[c];
    double mean = sum / dim;
    __m256d md = _mm256_set1_pd(mean), q = _mm256_setzero_pd();
    for (c = 0; c + 4 <= dim; c += 4) {
        __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + c)), md);
        q = _mm256_fmadd_pd(d, d, q);
    }
    _mm256_storeu_pd(lanes, q);
    double sq = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    for (; c < dim; c++) sq += (x[c] - mean) * (x[c] - mean);
    float inv = (float)(1.0 / sqrt(sq / dim + eps)), m = (float)mean;
    __m256 iv = _mm256_set1_ps(inv), mf = _mm256_set1_ps(m);
    for (c = 0; c + 8 <= dim; c += 8) {
        __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), mf), iv);
        v = _mm256_add_ps(_mm256_mul_ps(v, _mm256_loadu_ps(gamma + c)), _mm256_loadu_ps(beta + c));
        _mm256_storeu_ps(y + c, v);
    }
    for (; c < dim; c++) y[c] = (x[c] - m) * inv * gamma[c] + beta[c];
}

static void activate(float *x, size_t n, nn_activation act) {
    if (act == NN_ACT_NONE) return;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, activate256(_mm256_loadu_ps(x + i), act));
    for (; i < n; i++) {
        float v = x[i];
        x[i] = act == NN_ACT_RELU ? (v > 0 ? v : 0.0f) : v / (1.0f + expf(-1.702f * v));
    }
}

const nn_kernels nn_kernels_avx2 = {"avx2", 0, NR, MR_MAX, KC, tile, softmax_row, layernorm_row, activate};

#if defined(__clang__)
#pragma clang attribute pop
#endif
