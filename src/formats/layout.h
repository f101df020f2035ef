/* Tensor names of a ViT CLIP in the three namings clip.c meets: OpenAI's
 * (the project's own), Hugging Face's CLIPModel and clip.cpp's GGUF. The
 * tables pair each OpenAI tensor with its counterpart and say how the data
 * differs: the same, transposed (the projections, stored [out, in] by
 * nn.Linear), or split in three (OpenAI's fused in_proj_* = q, k, v
 * stacked along the first dimension). */
#ifndef CLIP_FORMATS_LAYOUT_H
#define CLIP_FORMATS_LAYOUT_H
#include <stddef.h>

#include "formats/safetensors.h"

typedef enum layout_scheme { LAYOUT_OPENAI, LAYOUT_HF, LAYOUT_GGUF } layout_scheme;
typedef enum layout_op { LAYOUT_SAME, LAYOUT_TRANSPOSE, LAYOUT_QKV } layout_op;

typedef struct layout_name {
    char openai[192];
    char other[3][192]; /* [0] only, or q, k, v for LAYOUT_QKV */
    layout_op op;
} layout_name;

/* Every tensor of a CLIP in `scheme` (vision_layers < 0: a ResNet image
 * tower, whose tensors only the OpenAI naming has, so only the text tower
 * and logit_scale are listed). GGUF has no logit_scale tensor. *out is
 * malloc'd. */
size_t layout_names(layout_scheme scheme, int text_layers, int vision_layers, layout_name **out);

/* Adds to `dst` the OpenAI-named tensors of `src`, which uses `scheme`:
 * same-data tensors borrow src's data; fused and transposed ones are
 * built in buffers `dst` keeps (fused in the source dtype; transposed
 * quantised ones as float32). `src` must outlive `dst`. Missing tensors
 * fail, naming them. */
clip_status layout_to_openai(const st_file *src, layout_scheme scheme, int text_layers, int vision_layers,
                             st_file *dst);

#endif
