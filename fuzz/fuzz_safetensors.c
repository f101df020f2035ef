/* libFuzzer target: safetensors header and layout parsing, then the model
 * name mapping, shape inference and binding; small models that load are
 * also run through both towers once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"
#include "model/model_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_file *file = NULL;
    if (st_open_memory(data, size, "<fuzz>", &file) != CLIP_OK) return 0;
    for (size_t i = 0; i < st_count(file); i++) {
        const st_tensor *t = st_at(file, i);
        volatile uint8_t sink = t->nbytes ? ((const uint8_t *)t->data)[t->nbytes - 1] : 0;
        (void)sink;
    }
    clip_model *model = NULL;
    clip_load_options opts = {.n_threads = 1};
    if (clip_model_from_safetensors(file, "<fuzz>", &opts, &model) != CLIP_OK) return 0;
    clip_model_info info;
    clip_model_get_info(model, &info);
    /* Activations grow with width x tokens; keep each run fast. */
    size_t image_cost = (size_t)info.image_resolution * info.image_resolution * (size_t)(info.vision_width + 3);
    if (info.n_parameters < 200000 && image_cost < 4000000 && info.embed_dim < 4096) {
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
    clip_model_free(model);
    return 0;
}
