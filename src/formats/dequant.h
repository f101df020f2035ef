/* Every stored element type the readers produce, to float32. */
#ifndef CLIP_FORMATS_DEQUANT_H
#define CLIP_FORMATS_DEQUANT_H
#include "formats/safetensors.h"

/* Writes t->numel floats to dst: F32, F16, BF16, F64 and the block types
 * Q8_0 and Q4_0 (ggml's layouts). Other dtypes fail with CLIP_ERR_DTYPE
 * naming the tensor. */
clip_status tensor_to_f32(const st_tensor *t, float *dst);

/* One block of 32 values each. */
void dequant_q8_0_block(const uint8_t block[34], float out[32]);
void dequant_q4_0_block(const uint8_t block[18], float out[32]);

#endif
