/* AVX2 versions of the 8-bit bicubic passes. Integer multiply-adds of the
 * same 22-bit coefficients as Pillow, so results equal the portable code
 * byte for byte; only the order of (exact) additions differs. */
#include "image/resample_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <string.h>

int resample_cpu_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

__attribute__((target("avx2"))) static inline uint32_t pack4(__m128i s) {
    s = _mm_srai_epi32(s, RESAMPLE_PRECISION_BITS);
    /* Signed saturation to int16 then unsigned to uint8 is clip8 after the shift. */
    s = _mm_packus_epi16(_mm_packs_epi32(s, s), s);
    return (uint32_t)_mm_cvtsi128_si32(s);
}

size_t resample_h4_scratch_bytes(int src_w, int w) {
    (void)src_w;
    /* Two rows of per-column sums, 32-byte aligned. */
    return 2 * (size_t)w * 32 + 32;
}

/* Rounds, shifts and clamps a row of per-column sums (two 4-lane halves
 * per column) to RGBX bytes, 8 columns at a time. */
__attribute__((target("avx2"))) static void pack_sums(const int32_t *sums, int w, uint8_t *out) {
    const __m256i half = _mm256_set1_epi32(1 << (RESAMPLE_PRECISION_BITS - 1));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    int i = 0;
    for (; i + 8 <= w; i += 8) {
        __m256i v[4];
        for (int q = 0; q < 4; q++) {
            const int32_t *a = sums + (i + 2 * q) * 8, *b = a + 8;
            __m256i first = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_load_si128((const __m128i *)a)),
                                                    _mm_load_si128((const __m128i *)b), 1);
            __m256i second = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_load_si128((const __m128i *)(a + 4))),
                                                     _mm_load_si128((const __m128i *)(b + 4)), 1);
            v[q] = _mm256_srai_epi32(_mm256_add_epi32(_mm256_add_epi32(first, second), half),
                                     RESAMPLE_PRECISION_BITS);
        }
        /* Signed saturation to int16 then unsigned to uint8 is clip8. */
        __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
        _mm256_storeu_si256((__m256i *)(out + (size_t)i * 4), _mm256_permutevar8x32_epi32(b, order));
    }
    for (; i < w; i++) {
        const int32_t *a = sums + i * 8;
        __m128i s = _mm_add_epi32(_mm_load_si128((const __m128i *)a), _mm_load_si128((const __m128i *)(a + 4)));
        uint32_t packed = pack4(_mm_add_epi32(s, _mm256_castsi256_si128(half)));
        memcpy(out + (size_t)i * 4, &packed, 4);
    }
}

/* Four RGBX pixels from `p` as int16 in the pair layout of the multiply-
 * adds: R0 R1 G0 G1 B0 B1 X0 X1 | R2 R3 G2 G3 B2 B3 X2 X3. Near the row's
 * end only `avail` pixels (maybe none) exist; the rest read as zero (their
 * coefficients are zero too). */
__attribute__((target("avx2"))) static inline __m256i load_group(const uint8_t *p, int avail) {
    const __m128i pairs = _mm_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
    __m128i x;
    if (avail >= 4) {
        x = _mm_loadu_si128((const __m128i *)p);
    } else if (avail <= 0) {
        return _mm256_setzero_si256();
    } else {
        uint8_t last[16] = {0};
        memcpy(last, p, (size_t)avail * 4);
        x = _mm_loadu_si128((const __m128i *)last);
    }
    return _mm256_cvtepu8_epi16(_mm_shuffle_epi8(x, pairs));
}

/* Output columns [i0, i1) of two rows with `groups` groups of 4 taps each
 * (coefficients past a column's own taps are zero). `safe` columns read
 * whole 16-byte groups; the others stop at the row's end. Inlined with a
 * constant `groups`, the tap loop unrolls completely. */
__attribute__((target("avx2"))) static inline void h4_columns(const uint8_t *in0, const uint8_t *in1, int src_w,
                                                             int i0, int i1, int groups, const int *bounds,
                                                             const int16_t *kexp, int kexp_stride,
                                                             int32_t *sums0, int32_t *sums1, int safe) {
    const __m128i pairs = _mm_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
    for (int i = i0; i < i1; i++) {
        int first = bounds[2 * i];
        const uint8_t *p0 = in0 + (size_t)first * 4, *p1 = in1 + (size_t)first * 4;
        const int16_t *k = kexp + (size_t)i * kexp_stride;
        __m256i hi0 = _mm256_setzero_si256(), lo0 = hi0, hi1 = hi0, lo1 = hi0;
        for (int g = 0; g < groups; g++, p0 += 16, p1 += 16, k += 32) {
            __m256i kh = _mm256_loadu_si256((const __m256i *)k);
            __m256i kl = _mm256_loadu_si256((const __m256i *)(k + 16));
            __m256i v0, v1;
            if (safe) {
                v0 = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p0), pairs));
                v1 = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p1), pairs));
            } else {
                v0 = load_group(p0, src_w - first - 4 * g);
                v1 = load_group(p1, src_w - first - 4 * g);
            }
            hi0 = _mm256_add_epi32(hi0, _mm256_madd_epi16(v0, kh));
            lo0 = _mm256_add_epi32(lo0, _mm256_madd_epi16(v0, kl));
            hi1 = _mm256_add_epi32(hi1, _mm256_madd_epi16(v1, kh));
            lo1 = _mm256_add_epi32(lo1, _mm256_madd_epi16(v1, kl));
        }
        /* k = 256 * high + low, so the sum is 256 * sum(high) + sum(low). */
        _mm256_store_si256((__m256i *)(sums0 + i * 8), _mm256_add_epi32(_mm256_slli_epi32(hi0, 8), lo0));
        _mm256_store_si256((__m256i *)(sums1 + i * 8), _mm256_add_epi32(_mm256_slli_epi32(hi1, 8), lo1));
    }
}

/* Per-column sums of rows in0 and in1 (in1 may repeat in0) into sums0/1. */
__attribute__((target("avx2"))) static void h4_sums(const uint8_t *in0, const uint8_t *in1, int src_w, int w,
                                                   const int *bounds, const int16_t *kexp, int kexp_stride,
                                                   int32_t *sums0, int32_t *sums1) {
    /* Every column runs the same number of groups (the most any needs), so
     * the tap loop has a constant trip count. */
    int most = 0;
    for (int i = 0; i < w; i++)
        if (bounds[2 * i + 1] > most) most = bounds[2 * i + 1];
    const int groups = (most + 3) / 4;
    /* Columns whose whole groups stay inside the row: all but a few at the
     * right edge (windows only move right as i grows). */
    int safe_end = w;
    while (safe_end > 0 && bounds[2 * (safe_end - 1)] + 4 * groups > src_w) safe_end--;
    switch (groups) {
    case 1: h4_columns(in0, in1, src_w, 0, safe_end, 1, bounds, kexp, kexp_stride, sums0, sums1, 1); break;
    case 2: h4_columns(in0, in1, src_w, 0, safe_end, 2, bounds, kexp, kexp_stride, sums0, sums1, 1); break;
    case 3: h4_columns(in0, in1, src_w, 0, safe_end, 3, bounds, kexp, kexp_stride, sums0, sums1, 1); break;
    case 4: h4_columns(in0, in1, src_w, 0, safe_end, 4, bounds, kexp, kexp_stride, sums0, sums1, 1); break;
    default: h4_columns(in0, in1, src_w, 0, safe_end, groups, bounds, kexp, kexp_stride, sums0, sums1, 1); break;
    }
    h4_columns(in0, in1, src_w, safe_end, w, groups, bounds, kexp, kexp_stride, sums0, sums1, 0);
}

static int32_t *aligned_sums(void *scratch) { return (int32_t *)(((uintptr_t)scratch + 31) & ~(uintptr_t)31); }

__attribute__((target("avx2"))) void resample_h4_avx2(const uint8_t *const *src, uint8_t *const *dst, int rows,
                                                      int src_w, int w, const int *bounds,
                                                      const int16_t *kexp, int kexp_stride, void *scratch) {
    int32_t *sums0 = aligned_sums(scratch), *sums1 = sums0 + (size_t)w * 8;
    for (int r = 0; r < rows; r += 2) {
        /* Two rows at a time share every coefficient load. */
        int pair = r + 1 < rows;
        h4_sums(src[r], pair ? src[r + 1] : src[r], src_w, w, bounds, kexp, kexp_stride, sums0, sums1);
        pack_sums(sums0, w, dst[r]);
        if (pair) pack_sums(sums1, w, dst[r + 1]);
    }
}

/* Column i's two half-sums folded, rounded, shifted and clamped to 0..255,
 * for columns i and i + 1 (lanes 0-3 and 4-7). */
__attribute__((target("avx2"))) static inline __m256i fold2(const int32_t *sums, int i) {
    const __m256i half = _mm256_set1_epi32(1 << (RESAMPLE_PRECISION_BITS - 1));
    const int32_t *a = sums + i * 8, *b = a + 8;
    __m256i first = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_load_si128((const __m128i *)a)),
                                            _mm_load_si128((const __m128i *)b), 1);
    __m256i second = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_load_si128((const __m128i *)(a + 4))),
                                             _mm_load_si128((const __m128i *)(b + 4)), 1);
    __m256i v = _mm256_srai_epi32(_mm256_add_epi32(_mm256_add_epi32(first, second), half), RESAMPLE_PRECISION_BITS);
    return _mm256_min_epi32(_mm256_max_epi32(v, _mm256_setzero_si256()), _mm256_set1_epi32(255));
}

__attribute__((target("avx2"))) void resample_h4_pair_avx2(const uint8_t *row0, const uint8_t *row1, int src_w,
                                                           int w, const int *bounds, const int16_t *kexp,
                                                           int kexp_stride, void *scratch, int32_t *pair) {
    int32_t *sums0 = aligned_sums(scratch), *sums1 = sums0 + (size_t)w * 8;
    h4_sums(row0, row1 ? row1 : row0, src_w, w, bounds, kexp, kexp_stride, sums0, sums1);
    int i = 0;
    for (; i + 2 <= w; i += 2) {
        __m256i v0 = fold2(sums0, i), v1 = row1 ? fold2(sums1, i) : _mm256_setzero_si256();
        _mm256_storeu_si256((__m256i *)(pair + i * 4), _mm256_or_si256(v0, _mm256_slli_epi32(v1, 16)));
    }
    if (i < w) {
        /* Odd last column: fold it alone. */
        for (int c = 0; c < 4; c++) {
            int32_t s0 = sums0[i * 8 + c] + sums0[i * 8 + 4 + c] + (1 << (RESAMPLE_PRECISION_BITS - 1));
            int32_t s1 = sums1[i * 8 + c] + sums1[i * 8 + 4 + c] + (1 << (RESAMPLE_PRECISION_BITS - 1));
            pair[i * 4 + c] = (int32_t)resample_clip8(s0) | (row1 ? (int32_t)resample_clip8(s1) << 16 : 0);
        }
    }
}

__attribute__((target("avx2"))) void resample_vpairs_avx2(const int32_t *const *pairs, int n, const int32_t *khi,
                                                          const int32_t *klo, size_t nbytes, uint8_t *out) {
    const __m256i half = _mm256_set1_epi32(1 << (RESAMPLE_PRECISION_BITS - 1));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    size_t j = 0;
    for (; j + 32 <= nbytes; j += 32) {
        __m256i h0 = _mm256_setzero_si256(), h1 = h0, h2 = h0, h3 = h0, l0 = h0, l1 = h0, l2 = h0, l3 = h0;
        for (int m = 0; m < n; m++) {
            const __m256i *p = (const __m256i *)(pairs[m] + j);
            __m256i kh = _mm256_set1_epi32(khi[m]), kl = _mm256_set1_epi32(klo[m]);
            __m256i v0 = _mm256_loadu_si256(p), v1 = _mm256_loadu_si256(p + 1);
            __m256i v2 = _mm256_loadu_si256(p + 2), v3 = _mm256_loadu_si256(p + 3);
            h0 = _mm256_add_epi32(h0, _mm256_madd_epi16(v0, kh));
            h1 = _mm256_add_epi32(h1, _mm256_madd_epi16(v1, kh));
            h2 = _mm256_add_epi32(h2, _mm256_madd_epi16(v2, kh));
            h3 = _mm256_add_epi32(h3, _mm256_madd_epi16(v3, kh));
            l0 = _mm256_add_epi32(l0, _mm256_madd_epi16(v0, kl));
            l1 = _mm256_add_epi32(l1, _mm256_madd_epi16(v1, kl));
            l2 = _mm256_add_epi32(l2, _mm256_madd_epi16(v2, kl));
            l3 = _mm256_add_epi32(l3, _mm256_madd_epi16(v3, kl));
        }
#define FINISH(h, l) \
    _mm256_srai_epi32(_mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(h, 8), l), half), RESAMPLE_PRECISION_BITS)
        __m256i a0 = FINISH(h0, l0), a1 = FINISH(h1, l1), a2 = FINISH(h2, l2), a3 = FINISH(h3, l3);
#undef FINISH
        __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(a0, a1), _mm256_packs_epi32(a2, a3));
        _mm256_storeu_si256((__m256i *)(out + j), _mm256_permutevar8x32_epi32(b, order));
    }
    for (; j < nbytes; j++) {
        int32_t ss = 1 << (RESAMPLE_PRECISION_BITS - 1);
        for (int m = 0; m < n; m++) {
            int32_t v = pairs[m][j];
            int32_t a = v & 0xffff, b = v >> 16;
            /* Coefficient halves as the multiply-add sees them (signed int16). */
            int32_t kh_a = (int16_t)(khi[m] & 0xffff), kh_b = (int16_t)(khi[m] >> 16);
            int32_t kl_a = (int16_t)(klo[m] & 0xffff), kl_b = (int16_t)(klo[m] >> 16);
            ss += 256 * (a * kh_a + b * kh_b) + a * kl_a + b * kl_b;
        }
        out[j] = resample_clip8(ss);
    }
}

__attribute__((target("avx2"))) void resample_vrow_avx2(const uint8_t *const *rows, int n, const int32_t *k,
                                                        size_t nbytes, uint8_t *out) {
    const __m256i half = _mm256_set1_epi32(1 << (RESAMPLE_PRECISION_BITS - 1));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    size_t j = 0;
    for (; j + 32 <= nbytes; j += 32) {
        __m256i a0 = half, a1 = half, a2 = half, a3 = half;
        for (int y = 0; y < n; y++) {
            const uint8_t *p = rows[y] + j;
            __m256i kv = _mm256_set1_epi32(k[y]);
            __m128i lo = _mm_loadu_si128((const __m128i *)p);
            __m128i hi = _mm_loadu_si128((const __m128i *)(p + 16));
            a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(lo), kv));
            a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)), kv));
            a2 = _mm256_add_epi32(a2, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(hi), kv));
            a3 = _mm256_add_epi32(a3, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)), kv));
        }
        a0 = _mm256_srai_epi32(a0, RESAMPLE_PRECISION_BITS);
        a1 = _mm256_srai_epi32(a1, RESAMPLE_PRECISION_BITS);
        a2 = _mm256_srai_epi32(a2, RESAMPLE_PRECISION_BITS);
        a3 = _mm256_srai_epi32(a3, RESAMPLE_PRECISION_BITS);
        __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(a0, a1), _mm256_packs_epi32(a2, a3));
        _mm256_storeu_si256((__m256i *)(out + j), _mm256_permutevar8x32_epi32(b, order));
    }
    for (; j < nbytes; j++) {
        int32_t ss = 1 << (RESAMPLE_PRECISION_BITS - 1);
        for (int y = 0; y < n; y++) ss += (int32_t)rows[y][j] * k[y];
        out[j] = resample_clip8(ss);
    }
}

__attribute__((target("avx2"))) int resample_planes_avx2(const uint8_t *px, int n, const float *lr,
                                                         const float *lg, const float *lb, float *r, float *g,
                                                         float *b) {
    const __m256i low = _mm256_set1_epi32(255);
    int x = 0;
    for (; x + 8 <= n; x += 8) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(px + (size_t)x * 4));
        __m256i ir = _mm256_and_si256(v, low);
        __m256i ig = _mm256_and_si256(_mm256_srli_epi32(v, 8), low);
        __m256i ib = _mm256_and_si256(_mm256_srli_epi32(v, 16), low);
        _mm256_storeu_ps(r + x, _mm256_i32gather_ps(lr, ir, 4));
        _mm256_storeu_ps(g + x, _mm256_i32gather_ps(lg, ig, 4));
        _mm256_storeu_ps(b + x, _mm256_i32gather_ps(lb, ib, 4));
    }
    return x;
}

#else
int resample_planes_avx2(const uint8_t *px, int n, const float *lr, const float *lg, const float *lb, float *r,
                         float *g, float *b) {
    (void)px; (void)n; (void)lr; (void)lg; (void)lb; (void)r; (void)g; (void)b;
    return 0;
}
int resample_cpu_has_avx2(void) { return 0; }
size_t resample_h4_scratch_bytes(int src_w, int w) { (void)src_w; (void)w; return 0; }
void resample_h4_avx2(const uint8_t *const *src, uint8_t *const *dst, int rows, int src_w, int w,
                      const int *bounds, const int16_t *kexp, int kexp_stride, void *scratch) {
    (void)src; (void)dst; (void)rows; (void)src_w; (void)w; (void)bounds; (void)kexp; (void)kexp_stride;
    (void)scratch;
}
void resample_vrow_avx2(const uint8_t *const *rows, int n, const int32_t *k, size_t nbytes, uint8_t *out) {
    (void)rows; (void)n; (void)k; (void)nbytes; (void)out;
}
void resample_h4_pair_avx2(const uint8_t *row0, const uint8_t *row1, int src_w, int w, const int *bounds,
                           const int16_t *kexp, int kexp_stride, void *scratch, int32_t *pair) {
    (void)row0; (void)row1; (void)src_w; (void)w; (void)bounds; (void)kexp; (void)kexp_stride; (void)scratch;
    (void)pair;
}
void resample_vpairs_avx2(const int32_t *const *pairs, int n, const int32_t *khi, const int32_t *klo,
                          size_t nbytes, uint8_t *out) {
    (void)pairs; (void)n; (void)khi; (void)klo; (void)nbytes; (void)out;
}
#endif
