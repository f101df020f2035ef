/* VisionTransformer for training: vit.c's forward keeping the patch rows,
 * the embedded sequence (ln_pre's input) and the class token around
 * ln_post, and the backward down to conv1 (a product over patch rows, so
 * its gradient is one more product). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/train_internal.h"
#include "train/train_ops.h"

struct vit_cache {
    int n;
    float *patch_rows; /* [n*g*g, 3 P P] */
    float *embed;      /* [n*L, W], input of ln_pre */
    float *cls;        /* [n, W], input of ln_post */
    float *pooled;     /* [n, W], output of ln_post */
    transformer_cache *blocks;
};

void vit_cache_free(vit_cache *cache) {
    if (!cache) return;
    transformer_cache_free(cache->blocks);
    free(cache->patch_rows);
    free(cache);
}

clip_status vit_train_forward(const nn_ctx *ctx, const clip_model *model, const float *pixels, int n,
                              float *features, vit_cache **out) {
    *out = NULL;
    if (n < 1) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "image tower: empty batch");
    const vit_tower *v = &model->vit;
    int W = v->width, P = v->patch, grid = v->grid, R = v->resolution;
    int L = grid * grid + 1, K = 3 * P * P, E = model->info.embed_dim;
    size_t patches = (size_t)n * grid * grid;
    vit_cache *c = calloc(1, sizeof *c);
    size_t floats = patches * K + 2 * (size_t)n * L * W + 2 * (size_t)n * W + patches * W;
    if (c) c->patch_rows = malloc(floats * sizeof(float));
    if (!c || !c->patch_rows) {
        vit_cache_free(c);
        return clip_fail(CLIP_ERR_NO_MEMORY, "image tower: cannot keep activations for batch %d", n);
    }
    c->n = n;
    c->embed = c->patch_rows + patches * K;
    float *x = c->embed + (size_t)n * L * W;
    c->cls = x + (size_t)n * L * W;
    c->pooled = c->cls + (size_t)n * W;
    float *patch_out = c->pooled + (size_t)n * W;

    for (int b = 0; b < n; b++)
        vit_extract_patches(pixels + (size_t)b * 3 * R * R, R, P, grid, c->patch_rows + (size_t)b * grid * grid * K);
    nn_linear(ctx, c->patch_rows, (int)patches, K, v->conv1_weight, NN_OUT_IN, W, NULL, NN_ACT_NONE, NULL, patch_out);
    for (int b = 0; b < n; b++) {
        float *seq = c->embed + (size_t)b * L * W;
        for (int i = 0; i < W; i++) seq[i] = v->class_embedding[i] + v->positional_embedding[i];
        for (int p = 1; p < L; p++)
            for (int i = 0; i < W; i++)
                seq[(size_t)p * W + i] =
                    patch_out[((size_t)b * (L - 1) + p - 1) * W + i] + v->positional_embedding[(size_t)p * W + i];
    }
    nn_layernorm(ctx, c->embed, n * L, W, v->ln_pre_weight, v->ln_pre_bias, model->layer_norm_eps, x);
    clip_status st = transformer_train_forward(ctx, &v->blocks, x, n, L, model->layer_norm_eps, 0, &c->blocks);
    if (st != CLIP_OK) {
        vit_cache_free(c);
        return st;
    }
    for (int b = 0; b < n; b++) memcpy(c->cls + (size_t)b * W, x + (size_t)b * L * W, (size_t)W * sizeof(float));
    nn_layernorm(ctx, c->cls, n, W, v->ln_post_weight, v->ln_post_bias, model->layer_norm_eps, c->pooled);
    nn_linear(ctx, c->pooled, n, W, v->proj, v->proj_layout, E, NULL, NN_ACT_NONE, NULL, features);
    *out = c;
    return CLIP_OK;
}

clip_status vit_train_backward(const nn_ctx *ctx, const clip_model *model, const vit_grads *g, const vit_cache *c,
                               const float *dfeatures) {
    const vit_tower *v = &model->vit;
    int n = c->n, W = v->width, P = v->patch, grid = v->grid, L = grid * grid + 1, K = 3 * P * P;
    int E = model->info.embed_dim, rows = n * L;
    float eps = model->layer_norm_eps;
    size_t patches = (size_t)n * grid * grid;
    size_t floats = 2 * (size_t)n * W + 2 * (size_t)rows * W + patches * W;
    float *work = malloc(floats * sizeof(float));
    if (!work) return clip_fail(CLIP_ERR_NO_MEMORY, "image tower: cannot allocate the backward pass for batch %d", n);
    float *dpooled = work, *dcls = dpooled + (size_t)n * W, *dx = dcls + (size_t)n * W;
    float *dembed = dx + (size_t)rows * W, *dpatch = dembed + (size_t)rows * W;

    tr_linear_backward(ctx, c->pooled, n, W, v->proj, v->proj_layout, E, dfeatures, dpooled, 0.0f, g->proj, NULL);
    tr_layernorm_backward(ctx, c->cls, n, W, v->ln_post_weight, eps, dpooled, dcls, 0.0f, g->ln_post_weight,
                          g->ln_post_bias);
    /* Only the class token reaches ln_post. */
    memset(dx, 0, (size_t)rows * W * sizeof(float));
    for (int b = 0; b < n; b++) memcpy(dx + (size_t)b * L * W, dcls + (size_t)b * W, (size_t)W * sizeof(float));
    clip_status st = transformer_train_backward(ctx, &v->blocks, g->blocks, c->blocks, dx, eps, 0);
    if (st == CLIP_OK) {
        tr_layernorm_backward(ctx, c->embed, rows, W, v->ln_pre_weight, eps, dx, dembed, 0.0f, g->ln_pre_weight,
                              g->ln_pre_bias);
        for (int b = 0; b < n; b++) {
            const float *seq = dembed + (size_t)b * L * W;
            for (int i = 0; i < W; i++) g->class_embedding[i] += seq[i];
            memcpy(dpatch + (size_t)b * (L - 1) * W, seq + W, (size_t)(L - 1) * W * sizeof(float));
        }
        /* The positional embedding is added to every image: sum over the batch. */
        for (int p = 0; p < L; p++)
            for (int i = 0; i < W; i++) {
                double sum = 0;
                for (int b = 0; b < n; b++) sum += dembed[((size_t)b * L + p) * W + i];
                g->positional_embedding[(size_t)p * W + i] += (float)sum;
            }
        tr_linear_backward(ctx, c->patch_rows, (int)patches, K, v->conv1_weight, NN_OUT_IN, W, dpatch, NULL, 0.0f,
                           g->conv1_weight, NULL);
    }
    free(work);
    return st;
}
