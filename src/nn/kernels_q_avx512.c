/* AVX512-BF16 / AVX512-VNNI kernels for the reduced-precision products:
 * vdpbf16ps (pairs of bf16, float32 sums) and vpdpbusd (quads of u8 x s8,
 * int32 sums), 8 rows x 32 columns of accumulators, A broadcast from its
 * rows, B one zmm per sub-tile row of the packed panel. Compiled for these
 * instructions whatever the build flags; qdispatch.c calls them only on
 * CPUs that have them. Note: on Sapphire Rapids vdpbf16ps issues at half
 * the rate of vfmadd, so this bf16 kernel only saves memory traffic; AMX
 * (kernels_q_amx.c) is the fast path there. */
#include <immintrin.h>
#include <string.h>

#include "nn/qkernels.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx512vnni"))), \
                             apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512bf16,avx512vnni")
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define UNROLL _Pragma("GCC unroll 16")
#else
#define UNROLL
#endif
#define INLINE static inline __attribute__((always_inline))

#include "nn/avx512_inline.h"

enum { MR = 8 };


INLINE int32_t load32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Prefetches share `part` of `count` of the next panel into L2. */
INLINE void prefetch_part(const nn_qblock_args *a, int part, int count) {
    if (!a->pf) return;
    size_t lines = (a->pf_bytes + 63) / 64, l0 = lines * part / count, l1 = lines * (part + 1) / count;
    for (size_t l = l0; l < l1; l++) _mm_prefetch((const char *)a->pf + l * 64, _MM_HINT_T1);
}

static void bf16_block(const nn_qblock_args *a) {
    float *acc = a->acc;
    int kblocks = a->Kpad / 32;
    for (int i0 = 0; i0 < a->rows; i0 += MR) {
        __m512 c0[MR], c1[MR];
        UNROLL for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm512_setzero_ps();
        for (int kb = 0; kb < kblocks; kb++) {
            if (i0 == 0) prefetch_part(a, kb, kblocks);
            const uint8_t *b = a->B + (size_t)kb * 2 * NN_Q_SUBTILE_BYTES, *x = a->A + (size_t)i0 * a->lda + kb * 64;
            for (int r = 0; r < 16; r++, b += 64, x += 4) {
                __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + NN_Q_SUBTILE_BYTES);
                UNROLL for (int i = 0; i < MR; i++) {
                    __m512bh av = (__m512bh)_mm512_set1_epi32(load32(x + (size_t)i * a->lda));
                    c0[i] = _mm512_dpbf16_ps(c0[i], av, b0);
                    c1[i] = _mm512_dpbf16_ps(c1[i], av, b1);
                }
            }
        }
        UNROLL for (int i = 0; i < MR; i++) {
            _mm512_storeu_ps(acc + (i0 + i) * NN_Q_NR, c0[i]);
            _mm512_storeu_ps(acc + (i0 + i) * NN_Q_NR + 16, c1[i]);
        }
    }
}

static void int8_block(const nn_qblock_args *a) {
    int32_t *acc = a->acc;
    int kblocks = a->Kpad / 64;
    for (int i0 = 0; i0 < a->rows; i0 += MR) {
        __m512i c0[MR], c1[MR];
        UNROLL for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm512_setzero_si512();
        for (int kb = 0; kb < kblocks; kb++) {
            if (i0 == 0) prefetch_part(a, kb, kblocks);
            const uint8_t *b = a->B + (size_t)kb * 2 * NN_Q_SUBTILE_BYTES, *x = a->A + (size_t)i0 * a->lda + kb * 64;
            for (int r = 0; r < 16; r++, b += 64, x += 4) {
                __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + NN_Q_SUBTILE_BYTES);
                UNROLL for (int i = 0; i < MR; i++) {
                    __m512i av = _mm512_set1_epi32(load32(x + (size_t)i * a->lda));
                    c0[i] = _mm512_dpbusd_epi32(c0[i], av, b0);
                    c1[i] = _mm512_dpbusd_epi32(c1[i], av, b1);
                }
            }
        }
        UNROLL for (int i = 0; i < MR; i++) {
            _mm512_storeu_si512(acc + (i0 + i) * NN_Q_NR, c0[i]);
            _mm512_storeu_si512(acc + (i0 + i) * NN_Q_NR + 16, c1[i]);
        }
    }
}

void nn_q_to_bf16_avx512(const float *x, int n, uint16_t *out) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i));
        _mm256_mask_storeu_epi16(out + i, m, (__m256i)v);
    }
}

/* Two rows converted in one instruction (vcvtne2ps2bf16: the second
 * operand's values become the low words), then interleaved word by word. */
void nn_q_pairs_to_bf16_avx512(const float *r0, const float *r1, int n, uint16_t *out) {
    static const uint16_t interleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                            8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    __mmask16 m = tail_mask(n);
    __m512 a = _mm512_maskz_loadu_ps(m, r0);
    __m512 b = r1 ? _mm512_maskz_loadu_ps(m, r1) : _mm512_setzero_ps();
    __m512i both = (__m512i)_mm512_cvtne2ps_pbh(b, a);
    _mm512_storeu_si512(out, _mm512_permutexvar_epi16(_mm512_loadu_si512(interleave), both));
}

/* 16 x 16 floats transposed in registers (unpack by 32 and 64 bits, then
 * 128-bit lane shuffles). */
INLINE void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* u[4i + j] holds, in each 128-bit lane L, element j of rows 4i..4i+3 of
     * columns 4L..4L+3; gather the lanes: first pairs of row groups, then quads. */
    for (int j = 0; j < 4; j++) {
        __m512 a = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), b = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xdd);
        __m512 c = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88), d = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xdd);
        r[j] = _mm512_shuffle_f32x4(a, c, 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(a, c, 0xdd);
        r[4 + j] = _mm512_shuffle_f32x4(b, d, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(b, d, 0xdd);
    }
}

void nn_q_gather_columns_avx512(const float *At, int lda, int K, int n, float *out, float *sums) {
    __mmask16 m = tail_mask(n);
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    for (int k0 = 0; k0 < K; k0 += 16) {
        int kn = K - k0 < 16 ? K - k0 : 16;
        __m512 r[16];
        for (int i = 0; i < 16; i++) {
            r[i] = i < kn ? _mm512_maskz_loadu_ps(m, At + (size_t)(k0 + i) * lda) : _mm512_setzero_ps();
            lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(r[i])));
            hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(r[i]), 1))));
        }
        transpose16(r);
        __mmask16 km = tail_mask(kn);
        for (int i = 0; i < n; i++) _mm512_mask_storeu_ps(out + (size_t)i * K + k0, km, r[i]);
    }
    if (!sums) return;
    double acc[16];
    _mm512_storeu_pd(acc, lo);
    _mm512_storeu_pd(acc + 8, hi);
    for (int i = 0; i < n; i++) sums[i] += (float)acc[i];
}

/* Same rounding as nn_q_to_u8_ref: x * inv in float, to nearest even
 * (vcvtps2dq under the default MXCSR), clamped to [-127, 127]. */
float nn_q_to_u8_avx512(const float *x, int n, uint8_t *out) {
    __m512 mx = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_maskz_loadu_ps(tail_mask(n - i), x + i)));
    float max = _mm512_reduce_max_ps(mx);
    __m512 inv = _mm512_set1_ps(max > 0 ? 127.0f / max : 0.0f);
    __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127), off = _mm512_set1_epi32(128);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
        q = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(q, lo), hi), off);
        _mm_mask_storeu_epi8(out + i, m, _mm512_cvtepi32_epi8(q));
    }
    return max / 127.0f;
}

const nn_qkernels nn_qkernels_avx512 = {"avx512", bf16_block, int8_block, nn_q_to_bf16_avx512, nn_q_to_u8_avx512,
                                        NULL, NULL, nn_q_pairs_to_bf16_avx512, nn_q_gather_columns_avx512};

#if defined(__clang__)
#pragma clang attribute pop
#endif
