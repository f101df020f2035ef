/* Conversion to float32 at bind time. The block layouts are ggml's, so a
 * GGUF file's quantised tensors are read without repacking:
 *   Q8_0: float16 d, then 32 int8 q;            x = d * q
 *   Q4_0: float16 d, then 16 bytes of nibbles;   x = d * (nibble - 8),
 *         low nibbles hold values 0..15, high nibbles values 16..31. */
#include "formats/dequant.h"

#include <string.h>

#include "core/error.h"

static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

void dequant_q8_0_block(const uint8_t block[34], float out[32]) {
    float d = st_half_to_float(load_u16(block));
    const int8_t *q = (const int8_t *)(block + 2);
    for (int i = 0; i < 32; i++) out[i] = d * (float)q[i];
}

void dequant_q4_0_block(const uint8_t block[18], float out[32]) {
    float d = st_half_to_float(load_u16(block));
    const uint8_t *q = block + 2;
    for (int i = 0; i < 16; i++) {
        out[i] = d * (float)((q[i] & 0x0f) - 8);
        out[i + 16] = d * (float)((q[i] >> 4) - 8);
    }
}

clip_status tensor_to_f32(const st_tensor *t, float *dst) {
    const uint8_t *src = t->data;
    size_t n = (size_t)t->numel;
    if (st_dtype_bytes(t->dtype, t->numel) != t->nbytes || (n && !src))
        return clip_fail(CLIP_ERR_FORMAT, "tensor '%s': %zu data bytes do not match %s x %zu", t->name, t->nbytes,
                         st_dtype_name(t->dtype), n);
    switch (t->dtype) {
    case ST_F32: memcpy(dst, src, n * 4); return CLIP_OK;
    case ST_F16:
        for (size_t i = 0; i < n; i++) dst[i] = st_half_to_float(load_u16(src + 2 * i));
        return CLIP_OK;
    case ST_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = st_bf16_to_float(load_u16(src + 2 * i));
        return CLIP_OK;
    case ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        }
        return CLIP_OK;
    case ST_Q8_0:
        for (size_t b = 0; b < n / 32; b++) dequant_q8_0_block(src + 34 * b, dst + 32 * b);
        return CLIP_OK;
    case ST_Q4_0:
        for (size_t b = 0; b < n / 32; b++) dequant_q4_0_block(src + 18 * b, dst + 32 * b);
        return CLIP_OK;
    default:
        return clip_fail(CLIP_ERR_DTYPE, "tensor '%s' has dtype %s; weights must be F32, F16, BF16, F64, Q8_0 or Q4_0",
                         t->name, st_dtype_name(t->dtype));
    }
}
