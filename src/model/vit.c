/* OpenAI's VisionTransformer: patch embedding, class token, positional
 * embedding, ln_pre, residual blocks, ln_post on the class token, proj. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"

/* Patches as rows (c, ky, kx) so the stride-P convolution is one product. */
void vit_extract_patches(const float *image, int R, int P, int grid, float *rows) {
    int K = 3 * P * P;
    for (int gy = 0; gy < grid; gy++)
        for (int gx = 0; gx < grid; gx++) {
            float *row = rows + (size_t)(gy * grid + gx) * K;
            for (int c = 0; c < 3; c++)
                for (int ky = 0; ky < P; ky++)
                    memcpy(row + (c * P + ky) * P, image + ((size_t)c * R + gy * P + ky) * R + gx * P,
                           (size_t)P * sizeof(float));
        }
}

static void emit_conv1(const clip_trace *trace, const float *patch_out, int n, int grid, int W) {
    size_t gg = (size_t)grid * grid;
    float *nchw = malloc((size_t)n * W * gg * sizeof(float));
    if (!nchw) return;
    for (int b = 0; b < n; b++)
        for (size_t p = 0; p < gg; p++)
            for (int c = 0; c < W; c++) nchw[((size_t)b * W + c) * gg + p] = patch_out[((size_t)b * gg + p) * W + c];
    int64_t shape[4] = {n, W, grid, grid};
    trace_emit(trace, "visual.conv1", nchw, 4, shape);
    free(nchw);
}

clip_status vit_forward(clip_model *model, const float *pixels, int n, float *features,
                        const clip_trace *trace) {
    const vit_tower *v = &model->vit;
    const nn_ctx *ctx = &model->nn;
    int W = v->width, P = v->patch, grid = v->grid, R = v->resolution;
    int L = grid * grid + 1, K = 3 * P * P, E = model->info.embed_dim;
    size_t patches = (size_t)n * grid * grid;
    size_t floats = patches * K + patches * W + (size_t)n * L * W + (size_t)n * W;
    int owned;
    float *work = model_arena_take(model, floats + transformer_work_floats(ctx, &v->blocks, n, L), &owned);
    if (!work) return clip_fail(CLIP_ERR_NO_MEMORY, "image tower: cannot allocate activations for batch %d", n);
    float *patch_rows = work, *patch_out = patch_rows + patches * K, *x = patch_out + patches * W;
    float *cls = x + (size_t)n * L * W;

    for (int b = 0; b < n; b++)
        vit_extract_patches(pixels + (size_t)b * 3 * R * R, R, P, grid, patch_rows + (size_t)b * grid * grid * K);
    nn_linear(ctx, patch_rows, (int)patches, K, v->conv1_weight, NN_OUT_IN, W, NULL, NN_ACT_NONE, NULL,
              patch_out);
    if (trace) emit_conv1(trace, patch_out, n, grid, W);

    for (int b = 0; b < n; b++) {
        float *seq = x + (size_t)b * L * W;
        for (int c = 0; c < W; c++) seq[c] = v->class_embedding[c] + v->positional_embedding[c];
        for (int p = 1; p < L; p++)
            for (int c = 0; c < W; c++)
                seq[(size_t)p * W + c] = patch_out[((size_t)b * (L - 1) + p - 1) * W + c] +
                                         v->positional_embedding[(size_t)p * W + c];
    }
    int64_t seq_shape[3] = {n, L, W};
    trace_emit(trace, "visual.embed", x, 3, seq_shape);
    nn_layernorm(ctx, x, n * L, W, v->ln_pre_weight, v->ln_pre_bias, model->layer_norm_eps, x);
    trace_emit(trace, "visual.ln_pre", x, 3, seq_shape);

    int *class_rows = calloc((size_t)(n > 0 ? n : 1), sizeof(int)); /* row 0 of each sequence */
    if (!class_rows) {
        model_arena_give(model, work, owned);
        return clip_fail(CLIP_ERR_NO_MEMORY, "image tower: out of memory");
    }
    clip_status st = transformer_forward(ctx, &v->blocks, x, n, L, model->layer_norm_eps, 0, trace,
                                         "visual.transformer.resblocks", class_rows, work + floats);
    free(class_rows);
    if (st == CLIP_OK) {
        for (int b = 0; b < n; b++) memcpy(cls + (size_t)b * W, x + (size_t)b * L * W, (size_t)W * sizeof(float));
        nn_layernorm(ctx, cls, n, W, v->ln_post_weight, v->ln_post_bias, model->layer_norm_eps, cls);
        int64_t cls_shape[2] = {n, W};
        trace_emit(trace, "visual.ln_post", cls, 2, cls_shape);
        nn_linear(ctx, cls, n, W, v->proj, v->proj_layout, E, NULL, NN_ACT_NONE, NULL, features);
    }
    model_arena_give(model, work, owned);
    return st;
}
