/* Whole-input entry points: preprocessing or tokenizing, then a tower. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"

clip_status clip_embed_images(clip_model *model, const clip_image *const *images, int n, int normalize,
                              float *features) {
    if (!model || n < 0 || (n > 0 && (!images || !features)))
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_embed_images: bad arguments");
    int R = model->info.image_resolution;
    size_t per_image = (size_t)3 * R * R;
    float *pixels = malloc((n > 0 ? (size_t)n : 1) * per_image * sizeof(float));
    if (!pixels) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory preprocessing %d images", n);
    clip_preprocess_options opts = {.size = R, .mode = CLIP_RESIZE_SHORTEST};
    clip_status st = CLIP_OK;
    for (int i = 0; i < n && st == CLIP_OK; i++) st = clip_image_preprocess(images[i], &opts, pixels + i * per_image);
    if (st == CLIP_OK) st = clip_encode_image(model, pixels, n, features);
    if (st == CLIP_OK && normalize) clip_l2_normalize(features, n, model->info.embed_dim);
    free(pixels);
    return st;
}

clip_status clip_embed_texts(clip_model *model, const char *const *texts, int n, int normalize, float *features) {
    if (!model || n < 0 || (n > 0 && (!texts || !features)))
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_embed_texts: bad arguments");
    clip_tokenizer *tok = clip_model_tokenizer(model);
    if (!tok) return CLIP_ERR_VOCAB;
    int C = model->info.context_length;
    int32_t *ids = malloc((n > 0 ? (size_t)n : 1) * C * sizeof(int32_t));
    if (!ids) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory tokenizing %d texts", n);
    clip_status st = CLIP_OK;
    model_tokenizer_lock(model, 1);
    for (int i = 0; i < n && st == CLIP_OK; i++) st = clip_tokenize(tok, texts[i], strlen(texts[i]), C, 1, ids + (size_t)i * C);
    model_tokenizer_lock(model, 0);
    if (st == CLIP_OK) st = clip_encode_text(model, ids, n, features);
    if (st == CLIP_OK && normalize) clip_l2_normalize(features, n, model->info.embed_dim);
    free(ids);
    return st;
}
