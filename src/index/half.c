#include "index/half.h"

#include <immintrin.h>
#include <string.h>

uint16_t idx_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t mant = x & 0x7fffffu;
    if (exp == 0xffu) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0)); /* inf / NaN */
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        mant |= 0x800000u;
        int shift = 14 - e;
        uint32_t half = mant >> shift;
        uint32_t rest = mant & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rest > mid || (rest == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | (uint32_t)e << 10 | mant >> 13;
    uint32_t rest = mant & 0x1fffu;
    /* A carry out of the mantissa correctly bumps the exponent (to inf at the top). */
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1))) half++;
    return (uint16_t)half;
}

float idx_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t x;
    if (exp == 0) {
        if (mant == 0) {
            x = sign;
        } else {
            int e = -1;
            do {
                e++;
                mant <<= 1;
            } while (!(mant & 0x400u));
            x = sign | (uint32_t)(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
        }
    } else if (exp == 31) {
        x = sign | 0x7f800000u | mant << 13;
    } else {
        x = sign | (exp + 127 - 15) << 23 | mant << 13;
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

__attribute__((target("avx2,f16c"))) static void halves_to_floats_f16c(const uint16_t *in, size_t n, float *out) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + i))));
    for (; i < n; i++) out[i] = idx_half_to_float(in[i]);
}

__attribute__((target("avx2,f16c"))) static void floats_to_halves_f16c(const float *in, size_t n, uint16_t *out) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(out + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) out[i] = idx_float_to_half(in[i]);
}

/* Every AVX2 CPU also has F16C (clang cannot query "f16c" by name). */
static int have_f16c(void) { return __builtin_cpu_supports("avx2"); }

void idx_halves_to_floats(const uint16_t *in, size_t n, float *out) {
    if (have_f16c()) {
        halves_to_floats_f16c(in, n, out);
        return;
    }
    for (size_t i = 0; i < n; i++) out[i] = idx_half_to_float(in[i]);
}

void idx_floats_to_halves(const float *in, size_t n, uint16_t *out) {
    if (have_f16c()) {
        floats_to_halves_f16c(in, n, out);
        return;
    }
    for (size_t i = 0; i < n; i++) out[i] = idx_float_to_half(in[i]);
}
