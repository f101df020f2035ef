#include "index/dot.h"

#include <immintrin.h>
#include <string.h>

#include "index/half.h"

static int level(void);

/* Four rows per pass share each load of the query and give four
 * independent accumulator chains, which is enough to keep the loop
 * memory-bound rather than latency-bound. */

__attribute__((target("avx512f"))) static void dot_f32_avx512(const float *q, const float *rows, int64_t n,
                                                               int dim, float *out) {
    int full = dim & ~15;
    __mmask16 tail = (__mmask16)((1u << (dim & 15)) - 1);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float *r0 = rows + (size_t)i * dim, *r1 = r0 + dim, *r2 = r1 + dim, *r3 = r2 + dim;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int d = 0; d < full; d += 16) {
            __m512 qv = _mm512_loadu_ps(q + d);
            a0 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r0 + d), a0);
            a1 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r1 + d), a1);
            a2 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r2 + d), a2);
            a3 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r3 + d), a3);
        }
        if (tail) {
            __m512 qv = _mm512_maskz_loadu_ps(tail, q + full);
            a0 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(tail, r0 + full), a0);
            a1 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(tail, r1 + full), a1);
            a2 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(tail, r2 + full), a2);
            a3 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(tail, r3 + full), a3);
        }
        out[i] = _mm512_reduce_add_ps(a0);
        out[i + 1] = _mm512_reduce_add_ps(a1);
        out[i + 2] = _mm512_reduce_add_ps(a2);
        out[i + 3] = _mm512_reduce_add_ps(a3);
    }
    for (; i < n; i++) {
        const float *r = rows + (size_t)i * dim;
        __m512 a = _mm512_setzero_ps();
        for (int d = 0; d < full; d += 16) a = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), _mm512_loadu_ps(r + d), a);
        if (tail) a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, q + full), _mm512_maskz_loadu_ps(tail, r + full), a);
        out[i] = _mm512_reduce_add_ps(a);
    }
}

/* Halves are widened 16 at a time; a short tail goes through a zeroed
 * buffer because masked 16-bit loads need AVX-512BW. */
__attribute__((target("avx512f"))) static __m512 load_halves_avx512(const uint16_t *p, int count) {
    if (count == 16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
    uint16_t buf[16] = {0};
    memcpy(buf, p, (size_t)count * sizeof(uint16_t));
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)buf));
}

__attribute__((target("avx512f"))) static void dot_f16_avx512(const float *q, const uint16_t *rows, int64_t n,
                                                               int dim, float *out) {
    int full = dim & ~15, rest = dim & 15;
    __mmask16 tail = (__mmask16)((1u << rest) - 1);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint16_t *r0 = rows + (size_t)i * dim, *r1 = r0 + dim, *r2 = r1 + dim, *r3 = r2 + dim;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int d = 0; d < full; d += 16) {
            __m512 qv = _mm512_loadu_ps(q + d);
            a0 = _mm512_fmadd_ps(qv, load_halves_avx512(r0 + d, 16), a0);
            a1 = _mm512_fmadd_ps(qv, load_halves_avx512(r1 + d, 16), a1);
            a2 = _mm512_fmadd_ps(qv, load_halves_avx512(r2 + d, 16), a2);
            a3 = _mm512_fmadd_ps(qv, load_halves_avx512(r3 + d, 16), a3);
        }
        if (rest) {
            __m512 qv = _mm512_maskz_loadu_ps(tail, q + full);
            a0 = _mm512_fmadd_ps(qv, load_halves_avx512(r0 + full, rest), a0);
            a1 = _mm512_fmadd_ps(qv, load_halves_avx512(r1 + full, rest), a1);
            a2 = _mm512_fmadd_ps(qv, load_halves_avx512(r2 + full, rest), a2);
            a3 = _mm512_fmadd_ps(qv, load_halves_avx512(r3 + full, rest), a3);
        }
        out[i] = _mm512_reduce_add_ps(a0);
        out[i + 1] = _mm512_reduce_add_ps(a1);
        out[i + 2] = _mm512_reduce_add_ps(a2);
        out[i + 3] = _mm512_reduce_add_ps(a3);
    }
    for (; i < n; i++) {
        const uint16_t *r = rows + (size_t)i * dim;
        __m512 a = _mm512_setzero_ps();
        for (int d = 0; d < full; d += 16) a = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), load_halves_avx512(r + d, 16), a);
        if (rest) a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, q + full), load_halves_avx512(r + full, rest), a);
        out[i] = _mm512_reduce_add_ps(a);
    }
}

__attribute__((target("avx2,fma"))) static float hsum_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) static void dot_f32_avx2(const float *q, const float *rows, int64_t n, int dim,
                                                              float *out) {
    int full = dim & ~7;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float *r0 = rows + (size_t)i * dim, *r1 = r0 + dim, *r2 = r1 + dim, *r3 = r2 + dim;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int d = 0; d < full; d += 8) {
            __m256 qv = _mm256_loadu_ps(q + d);
            a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r0 + d), a0);
            a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r1 + d), a1);
            a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r2 + d), a2);
            a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r3 + d), a3);
        }
        float s0 = hsum_avx2(a0), s1 = hsum_avx2(a1), s2 = hsum_avx2(a2), s3 = hsum_avx2(a3);
        for (int d = full; d < dim; d++) {
            s0 += q[d] * r0[d];
            s1 += q[d] * r1[d];
            s2 += q[d] * r2[d];
            s3 += q[d] * r3[d];
        }
        out[i] = s0;
        out[i + 1] = s1;
        out[i + 2] = s2;
        out[i + 3] = s3;
    }
    for (; i < n; i++) {
        const float *r = rows + (size_t)i * dim;
        __m256 a = _mm256_setzero_ps();
        for (int d = 0; d < full; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(r + d), a);
        float s = hsum_avx2(a);
        for (int d = full; d < dim; d++) s += q[d] * r[d];
        out[i] = s;
    }
}

__attribute__((target("avx2,fma,f16c"))) static void dot_f16_avx2(const float *q, const uint16_t *rows, int64_t n,
                                                                   int dim, float *out) {
    int full = dim & ~7;
    for (int64_t i = 0; i < n; i++) {
        const uint16_t *r = rows + (size_t)i * dim;
        __m256 a = _mm256_setzero_ps(), b = a;
        int d = 0;
        for (; d + 16 <= full; d += 16) {
            a = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + d))), a);
            b = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8),
                                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + d + 8))), b);
        }
        for (; d < full; d += 8)
            a = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + d))), a);
        float s = hsum_avx2(_mm256_add_ps(a, b));
        for (; d < dim; d++) s += q[d] * idx_half_to_float(r[d]);
        out[i] = s;
    }
}

static void dot_f32_portable(const float *q, const float *rows, int64_t n, int dim, float *out) {
    for (int64_t i = 0; i < n; i++) {
        const float *r = rows + (size_t)i * dim;
        float s[4] = {0, 0, 0, 0};
        int d = 0;
        for (; d + 4 <= dim; d += 4)
            for (int l = 0; l < 4; l++) s[l] += q[d + l] * r[d + l];
        for (; d < dim; d++) s[0] += q[d] * r[d];
        out[i] = (s[0] + s[1]) + (s[2] + s[3]);
    }
}

static void dot_f16_portable(const float *q, const uint16_t *rows, int64_t n, int dim, float *out) {
    for (int64_t i = 0; i < n; i++) {
        const uint16_t *r = rows + (size_t)i * dim;
        float s = 0;
        for (int d = 0; d < dim; d++) s += q[d] * idx_half_to_float(r[d]);
        out[i] = s;
    }
}

static int forced = -1;

int idx_dot_force(const char *name) {
    static const char *const names[] = {"portable", "avx2", "avx512"};
    for (int l = 0; l < 3; l++)
        if (name && strcmp(name, names[l]) == 0) {
            forced = -1;
            if (l > level()) return 0;
            forced = l;
            return 1;
        }
    forced = -1;
    return name == NULL;
}

static int level(void) {
    if (forced >= 0) return forced;
    if (__builtin_cpu_supports("avx512f")) return 2;
    /* Every AVX2 CPU also has F16C (clang cannot query "f16c" by name). */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}

const char *idx_dot_kernel_name(void) {
    static const char *const names[] = {"portable", "avx2", "avx512"};
    return names[level()];
}

void idx_dot_rows(const float *q, const void *rows, clip_index_dtype dtype, int64_t n, int dim, float *out) {
    int l = level();
    if (dtype == CLIP_INDEX_F16) {
        if (l == 2) dot_f16_avx512(q, rows, n, dim, out);
        else if (l == 1) dot_f16_avx2(q, rows, n, dim, out);
        else dot_f16_portable(q, rows, n, dim, out);
    } else {
        if (l == 2) dot_f32_avx512(q, rows, n, dim, out);
        else if (l == 1) dot_f32_avx2(q, rows, n, dim, out);
        else dot_f32_portable(q, rows, n, dim, out);
    }
}
