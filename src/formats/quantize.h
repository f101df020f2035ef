/* float32 to the stored types `clip convert` writes. */
#ifndef CLIP_FORMATS_QUANTIZE_H
#define CLIP_FORMATS_QUANTIZE_H
#include <stddef.h>
#include <stdint.h>

#include "formats/safetensors.h"

/* ggml's block layouts; n must be a multiple of 32. q8_0 equals ggml's
 * reference quantiser byte for byte; q4_0 picks each block's scale by
 * least squares (ggml's reference takes max / -8), which decodes the same
 * way with less error. */
void quantize_q8_0(const float *x, size_t n, uint8_t *out);
void quantize_q4_0(const float *x, size_t n, uint8_t *out);

/* x (n floats) in `dtype` (F32, F16, BF16, Q8_0, Q4_0) into `out`, which
 * holds st_dtype_bytes(dtype, n). Returns 0 for another dtype. */
int quantize_to(st_dtype dtype, const float *x, size_t n, uint8_t *out);

#endif
