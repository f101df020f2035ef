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

/* Widens one RGBX row to int16 in the pair layout the multiply-adds need:
 * even[m] holds pixels (2m, 2m+1) as R R G G B B X X, odd[m] pixels
 * (2m+1, 2m+2). Pixels past the row's end read as zero. */
__attribute__((target("avx2"))) static void widen_row(const uint8_t *row, int width, int16_t *even, int16_t *odd) {
    /* Four RGBX pixels -> R0 R1 G0 G1 B0 B1 X0 X1 | R2 R3 G2 G3 B2 B3 X2 X3. */
    const __m128i pairs = _mm_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
    int x = 0;
    /* Whole loads: the odd copy reads pixels x+1..x+4, so stop 5 short. */
    for (; x + 5 <= width; x += 4) {
        __m128i e = _mm_loadu_si128((const __m128i *)(row + (size_t)x * 4));
        __m128i o = _mm_loadu_si128((const __m128i *)(row + (size_t)x * 4 + 4));
        _mm256_storeu_si256((__m256i *)(even + x * 4), _mm256_cvtepu8_epi16(_mm_shuffle_epi8(e, pairs)));
        _mm256_storeu_si256((__m256i *)(odd + x * 4), _mm256_cvtepu8_epi16(_mm_shuffle_epi8(o, pairs)));
    }
    /* The last 1..4 pixels and 4 pixels of zeros past them: readers of a
     * column near the end may reach 3 pixels beyond it. */
    uint8_t tail[48] = {0};
    memcpy(tail, row + (size_t)x * 4, (size_t)(width - x) * 4);
    for (int t = 0; t <= 16; t += 16, x += 4) {
        __m128i e = _mm_loadu_si128((const __m128i *)(tail + t));
        __m128i o = _mm_loadu_si128((const __m128i *)(tail + t + 4));
        _mm256_storeu_si256((__m256i *)(even + x * 4), _mm256_cvtepu8_epi16(_mm_shuffle_epi8(e, pairs)));
        _mm256_storeu_si256((__m256i *)(odd + x * 4), _mm256_cvtepu8_epi16(_mm_shuffle_epi8(o, pairs)));
    }
}

/* int16 elements in one widened copy of a row, in whole 32-byte blocks,
 * with room for the zero pixels widen_row writes past the end. */
static size_t widened_elems(int src_w) { return (((size_t)src_w + 16) * 4 + 15) / 16 * 16; }

size_t resample_h4_scratch_bytes(int src_w, int w) {
    /* Two rows, each widened twice, then two rows of sums, 32-byte aligned. */
    return 4 * widened_elems(src_w) * sizeof(int16_t) + 2 * (size_t)w * 32 + 64;
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

__attribute__((target("avx2"))) void resample_h4_avx2(const uint8_t *const *src, uint8_t *const *dst, int rows,
                                                      int src_w, int w, const int *bounds,
                                                      const int16_t *kexp, int kexp_stride, void *scratch) {
    const size_t widened = widened_elems(src_w);
    int16_t *even0 = (int16_t *)(((uintptr_t)scratch + 31) & ~(uintptr_t)31);
    int16_t *odd0 = even0 + widened, *even1 = odd0 + widened, *odd1 = even1 + widened;
    int32_t *sums0 = (int32_t *)(odd1 + widened), *sums1 = sums0 + (size_t)w * 8;
    for (int r = 0; r < rows; r += 2) {
        /* Two rows at a time share every coefficient load. */
        int pair = r + 1 < rows;
        widen_row(src[r], src_w, even0, odd0);
        if (pair) widen_row(src[r + 1], src_w, even1, odd1);
        for (int i = 0; i < w; i++) {
            int first = bounds[2 * i], n = bounds[2 * i + 1];
            /* Taps past n have zero coefficients and read zero padding. */
            size_t at = (size_t)(first & ~1) * 4;
            const int16_t *p0 = (first & 1 ? odd0 : even0) + at, *p1 = (first & 1 ? odd1 : even1) + at;
            const int16_t *k = kexp + (size_t)i * kexp_stride;
            __m256i hi0 = _mm256_setzero_si256(), lo0 = hi0, hi1 = hi0, lo1 = hi0;
            for (int g = 0; g < n; g += 4, p0 += 16, p1 += 16, k += 32) {
                __m256i kh = _mm256_loadu_si256((const __m256i *)k);
                __m256i kl = _mm256_loadu_si256((const __m256i *)(k + 16));
                __m256i v0 = _mm256_loadu_si256((const __m256i *)p0);
                hi0 = _mm256_add_epi32(hi0, _mm256_madd_epi16(v0, kh));
                lo0 = _mm256_add_epi32(lo0, _mm256_madd_epi16(v0, kl));
                if (pair) {
                    __m256i v1 = _mm256_loadu_si256((const __m256i *)p1);
                    hi1 = _mm256_add_epi32(hi1, _mm256_madd_epi16(v1, kh));
                    lo1 = _mm256_add_epi32(lo1, _mm256_madd_epi16(v1, kl));
                }
            }
            /* k = 256 * high + low, so the sum is 256 * sum(high) + sum(low). */
            _mm256_store_si256((__m256i *)(sums0 + i * 8), _mm256_add_epi32(_mm256_slli_epi32(hi0, 8), lo0));
            _mm256_store_si256((__m256i *)(sums1 + i * 8), _mm256_add_epi32(_mm256_slli_epi32(hi1, 8), lo1));
        }
        pack_sums(sums0, w, dst[r]);
        if (pair) pack_sums(sums1, w, dst[r + 1]);
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

#else
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
#endif
