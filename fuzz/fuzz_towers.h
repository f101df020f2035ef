/* Shared by the model-file fuzzers: a model that loaded is run through both
 * towers once, when it is small enough to keep each input fast. */
#ifndef CLIP_FUZZ_TOWERS_H
#define CLIP_FUZZ_TOWERS_H
#include <stdint.h>
#include <stdlib.h>

#include "clip.h"

static inline void fuzz_run_towers(clip_model *model) {
    clip_model_info info;
    clip_model_get_info(model, &info);
    /* Activations grow with width x tokens. */
    size_t image_cost = (size_t)info.image_resolution * info.image_resolution * (size_t)(info.vision_width + 3);
    if (info.n_parameters >= 200000 || image_cost >= 4000000 || info.embed_dim >= 4096 || info.context_length > 512)
        return;
    int32_t *tokens = calloc((size_t)info.context_length, sizeof(int32_t));
    float *features = malloc((size_t)info.embed_dim * sizeof(float));
    float *pixels = calloc((size_t)3 * info.image_resolution * info.image_resolution, sizeof(float));
    if (tokens && features && pixels) {
        tokens[0] = info.vocab_size - 1;
        clip_encode_text(model, tokens, 1, features);
        clip_encode_image(model, pixels, 1, features);
    }
    free(tokens);
    free(features);
    free(pixels);
}

#endif
