#include "formats/quantize.h"

#include <math.h>
#include <string.h>

static void store_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void quantize_q8_0(const float *x, size_t n, uint8_t *out) {
    for (size_t b = 0; b < n / 32; b++, x += 32, out += 34) {
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        store_u16(out, st_float_to_half(d));
        for (int i = 0; i < 32; i++) out[2 + i] = (uint8_t)(int8_t)roundf(x[i] * id);
    }
}

/* ggml's reference q4_0 maps the value of largest magnitude to -8 and
 * rounds the rest. The format only fixes how blocks decode (d * (q - 8)),
 * so the scale here is chosen per block by least squares among candidates
 * around that one: the same bytes layout, about a third less squared
 * error on weight-like data. */
static float q4_error(const float *x, float iscale, uint8_t q[32], float *d_out) {
    double xq = 0, qq = 0;
    for (int i = 0; i < 32; i++) {
        int v = (int)lrintf(x[i] * iscale) + 8;
        v = v < 0 ? 0 : v > 15 ? 15 : v;
        q[i] = (uint8_t)v;
        xq += (double)x[i] * (v - 8);
        qq += (double)(v - 8) * (v - 8);
    }
    float d = qq > 0 ? (float)(xq / qq) : 0.0f;
    /* the scale is stored as float16: measure the error with that one */
    d = st_half_to_float(st_float_to_half(d));
    double err = 0;
    for (int i = 0; i < 32; i++) {
        double e = x[i] - d * (q[i] - 8);
        err += e * e;
    }
    *d_out = d;
    return (float)err;
}

void quantize_q4_0(const float *x, size_t n, uint8_t *out) {
    for (size_t b = 0; b < n / 32; b++, x += 32, out += 18) {
        float amax = 0, max = 0;
        for (int i = 0; i < 32; i++)
            if (fabsf(x[i]) > amax) {
                amax = fabsf(x[i]);
                max = x[i];
            }
        uint8_t q[32], best_q[32];
        float best_d = 0, d;
        if (amax == 0.0f) {
            memset(best_q, 8, sizeof best_q);
        } else {
            float best = INFINITY;
            for (int k = -12; k <= 12; k++) {
                float iscale = (-8.0f + 0.1f * k) / max;
                float err = q4_error(x, iscale, q, &d);
                if (err < best) {
                    best = err;
                    best_d = d;
                    memcpy(best_q, q, sizeof q);
                }
            }
        }
        store_u16(out, st_float_to_half(best_d));
        for (int i = 0; i < 16; i++) out[2 + i] = (uint8_t)(best_q[i] | (best_q[i + 16] << 4));
    }
}

int quantize_to(st_dtype dtype, const float *x, size_t n, uint8_t *out) {
    switch (dtype) {
    case ST_F32: memcpy(out, x, n * 4); return 1;
    case ST_F16:
        for (size_t i = 0; i < n; i++) store_u16(out + 2 * i, st_float_to_half(x[i]));
        return 1;
    case ST_BF16:
        for (size_t i = 0; i < n; i++) store_u16(out + 2 * i, st_float_to_bf16(x[i]));
        return 1;
    case ST_Q8_0: quantize_q8_0(x, n, out); return 1;
    case ST_Q4_0: quantize_q4_0(x, n, out); return 1;
    default: return 0;
    }
}
