/* Writing a loaded model to another format or element type: clip.c's
 * safetensors layout (OpenAI names, architecture metadata, the vocabulary
 * embedded) or clip.cpp's GGUF layout, as float32, float16, bfloat16 or
 * ggml's block-quantised q8_0 / q4_0. */
#ifndef CLIP_FORMATS_CONVERT_H
#define CLIP_FORMATS_CONVERT_H
#include <stdint.h>

#include "clip.h"
#include "formats/safetensors.h"

typedef enum convert_container { CONVERT_SAFETENSORS, CONVERT_GGUF } convert_container;

typedef struct convert_options {
    convert_container container;
    /* Element type of the weight matrices: ST_F32, ST_F16, ST_BF16,
     * ST_Q8_0 or ST_Q4_0 (q4_0 keeps the text tower's blocks, the token
     * embedding and the two output projections at q8_0 unless `pure`;
     * see docs/formats.md for why). Vectors (biases, norms, the class embedding)
     * stay float32; with q8_0/q4_0 the positional embeddings and the
     * convolution kernels are float16, and GGUF's patch embedding is
     * float16 always, as clip.cpp requires. */
    st_dtype dtype;
    int pure; /* q4_0 everywhere it fits */
    /* GGUF exactly as clip.cpp's converter writes it: without our
     * tokenizer.ggml.merges and clip.logit_scale keys. */
    int clip_cpp_keys_only;
} convert_options;

typedef struct convert_stats {
    uint64_t tensors, parameters;
    uint64_t quantised, half, full; /* tensors by stored kind */
    int vocabulary;                 /* the vocabulary went along */
} convert_stats;

/* Parses "f32", "f16", "bf16", "q8_0", "q4_0" (case-insensitive). */
int convert_dtype_from_name(const char *name, st_dtype *out);

/* `model` from any reader (its st_file in OpenAI, Hugging Face or
 * GGUF-mapped naming). GGUF output needs a ViT image tower. `source_format`
 * is recorded in the metadata (may be NULL). */
clip_status clip_convert_model(clip_model *model, const char *source_format, const char *out_path,
                               const convert_options *opts, convert_stats *stats);

#endif
