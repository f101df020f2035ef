/* Text transformer for training. As in text.c, only positions up to the
 * batch's last end-of-text token run: with the causal mask the later ones
 * reach neither the pooled features nor, therefore, any gradient (their
 * exact gradient is zero, so nothing is lost). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/train_internal.h"
#include "train/train_ops.h"

struct text_cache {
    int n, L;
    int *eot;        /* pooled position per text */
    int32_t *tokens; /* [n, L] (the run's columns) */
    float *last;     /* [n, W]: the blocks' output at eot, ln_final's input */
    float *pooled;   /* [n, W]: ln_final's output */
    transformer_cache *blocks;
};

void text_cache_free(text_cache *cache) {
    if (!cache) return;
    transformer_cache_free(cache->blocks);
    free(cache->eot);
    free(cache->tokens);
    free(cache->last);
    free(cache);
}

clip_status text_train_forward(const nn_ctx *ctx, const clip_model *model, const int32_t *tokens, int n,
                               float *features, text_cache **out) {
    *out = NULL;
    const text_tower *t = &model->text;
    int W = t->width, C = t->context, E = model->info.embed_dim, used = 1;
    text_cache *c = calloc(1, sizeof *c);
    if (!c || !(c->eot = malloc((size_t)n * sizeof(int)))) {
        text_cache_free(c);
        return clip_fail(CLIP_ERR_NO_MEMORY, "text tower: out of memory");
    }
    for (int b = 0; b < n; b++) {
        const int32_t *row = tokens + (size_t)b * C;
        int best = 0;
        for (int l = 0; l < C; l++) {
            if (row[l] < 0 || row[l] >= t->vocab) {
                text_cache_free(c);
                return clip_fail(CLIP_ERR_INVALID_ARGUMENT,
                                 "text %d: token id %d at position %d is outside the vocabulary (0..%d)", b,
                                 (int)row[l], l, t->vocab - 1);
            }
            if (row[l] > row[best]) best = l; /* first occurrence of the maximum, as argmax */
        }
        c->eot[b] = best;
        if (best + 1 > used) used = best + 1;
    }
    int L = used;
    c->n = n;
    c->L = L;
    c->tokens = malloc((size_t)n * L * sizeof(int32_t));
    c->last = malloc(2 * (size_t)n * W * sizeof(float));
    float *x = malloc((size_t)n * L * W * sizeof(float));
    if (!c->tokens || !c->last || !x) {
        free(x);
        text_cache_free(c);
        return clip_fail(CLIP_ERR_NO_MEMORY, "text tower: cannot allocate activations for batch %d", n);
    }
    c->pooled = c->last + (size_t)n * W;
    for (int b = 0; b < n; b++)
        for (int l = 0; l < L; l++) {
            int32_t id = tokens[(size_t)b * C + l];
            c->tokens[(size_t)b * L + l] = id;
            const float *emb = t->token_embedding + (size_t)id * W, *pos = t->positional_embedding + (size_t)l * W;
            float *dst = x + ((size_t)b * L + l) * W;
            for (int i = 0; i < W; i++) dst[i] = emb[i] + pos[i];
        }
    clip_status st = transformer_train_forward(ctx, &t->blocks, x, n, L, model->layer_norm_eps, 1, &c->blocks);
    if (st == CLIP_OK) {
        for (int b = 0; b < n; b++)
            memcpy(c->last + (size_t)b * W, x + ((size_t)b * L + c->eot[b]) * W, (size_t)W * sizeof(float));
        /* LayerNorm is row-wise: normalising only the pooled rows is the same. */
        nn_layernorm(ctx, c->last, n, W, t->ln_final_weight, t->ln_final_bias, model->layer_norm_eps, c->pooled);
        nn_linear(ctx, c->pooled, n, W, t->proj, t->proj_layout, E, NULL, NN_ACT_NONE, NULL, features);
    }
    free(x);
    if (st != CLIP_OK) {
        text_cache_free(c);
        return st;
    }
    *out = c;
    return CLIP_OK;
}

clip_status text_train_backward(const nn_ctx *ctx, const clip_model *model, const text_grads *g, const text_cache *c,
                                const float *dfeatures) {
    const text_tower *t = &model->text;
    int n = c->n, L = c->L, W = t->width, E = model->info.embed_dim, rows = n * L;
    float eps = model->layer_norm_eps;
    size_t floats = 2 * (size_t)n * W + (size_t)rows * W;
    float *work = malloc(floats * sizeof(float));
    if (!work) return clip_fail(CLIP_ERR_NO_MEMORY, "text tower: cannot allocate the backward pass for batch %d", n);
    float *dpooled = work, *dlast = dpooled + (size_t)n * W, *dx = dlast + (size_t)n * W;
    tr_linear_backward(ctx, c->pooled, n, W, t->proj, t->proj_layout, E, dfeatures, dpooled, 0.0f, g->proj, NULL);
    tr_layernorm_backward(ctx, c->last, n, W, t->ln_final_weight, eps, dpooled, dlast, 0.0f, g->ln_final_weight,
                          g->ln_final_bias);
    memset(dx, 0, (size_t)rows * W * sizeof(float));
    for (int b = 0; b < n; b++)
        memcpy(dx + ((size_t)b * L + c->eot[b]) * W, dlast + (size_t)b * W, (size_t)W * sizeof(float));
    clip_status st = transformer_train_backward(ctx, &t->blocks, g->blocks, c->blocks, dx, eps, 1);
    if (st == CLIP_OK) {
        for (int l = 0; l < L; l++)
            for (int i = 0; i < W; i++) {
                double sum = 0;
                for (int b = 0; b < n; b++) sum += dx[((size_t)b * L + l) * W + i];
                g->positional_embedding[(size_t)l * W + i] += (float)sum;
            }
        /* Rows of the embedding table used several times add up, in a
         * fixed order. */
        for (int r = 0; r < rows; r++) {
            float *dst = g->token_embedding + (size_t)c->tokens[r] * W;
            const float *src = dx + (size_t)r * W;
            for (int i = 0; i < W; i++) dst[i] += src[i];
        }
    }
    free(work);
    return st;
}
