/* clip.c's quantised safetensors files. safetensors has no block dtypes,
 * so `clip convert --dtype q8_0|q4_0` stores each quantised tensor as a U8
 * tensor of its ggml blocks under its own name, and records the real dtype
 * and shape in the metadata entry "clip.quantization":
 *   {"visual.proj": {"dtype": "Q8_0", "shape": [768, 512]}, ...}
 * Readers unaware of it see U8 tensors and fail on the dtype, never on
 * silently wrong numbers. */
#ifndef CLIP_FORMATS_ST_QUANT_H
#define CLIP_FORMATS_ST_QUANT_H
#include "formats/safetensors.h"

#define ST_QUANT_METADATA "clip.quantization"

/* When `file` carries ST_QUANT_METADATA: a table exposing the quantised
 * tensors with their dtypes and shapes (it takes `file` over, also on
 * failure). Otherwise *out = file. */
clip_status st_quant_unwrap(st_file *file, st_file **out);

#endif
