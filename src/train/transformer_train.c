/* Residual attention blocks for training. The forward runs the same nn ops
 * as transformer.c and keeps, per block, the block input, the fused qkv,
 * the attention output, the residual stream after attention and the MLP's
 * pre-activation: 10 W floats per token (with OpenAI's 4W MLP). LayerNorm
 * outputs and QuickGELU values are recomputed in the backward from those,
 * which costs two row passes and saves 6 W floats per token. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/train_internal.h"
#include "train/train_ops.h"

struct transformer_cache {
    int B, L, W, mlp, layers;
    size_t per_block;
    float *arena;
};

typedef struct block_saved {
    float *x_in, *qkv, *attn, *x_mid, *u;
} block_saved;

static block_saved saved_block(const transformer_cache *c, int i) {
    size_t rows = (size_t)c->B * c->L;
    block_saved s;
    s.x_in = c->arena + (size_t)i * c->per_block;
    s.qkv = s.x_in + rows * c->W;
    s.attn = s.qkv + rows * 3 * c->W;
    s.x_mid = s.attn + rows * c->W;
    s.u = s.x_mid + rows * c->W;
    return s;
}

static clip_status check_fused(const transformer *t) {
    size_t ww = (size_t)t->width * t->width;
    for (int i = 0; i < t->layers; i++) {
        const transformer_block *b = &t->blocks[i];
        if (b->k_weight != b->q_weight + ww || b->v_weight != b->k_weight + ww || b->k_bias != b->q_bias + t->width ||
            b->v_bias != b->k_bias + t->width)
            return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "training: block %d's q/k/v projections are not one "
                             "in_proj tensor (the trainer binds them so)", i);
    }
    return CLIP_OK;
}

void transformer_cache_free(transformer_cache *cache) {
    if (!cache) return;
    free(cache->arena);
    free(cache);
}

clip_status transformer_train_forward(const nn_ctx *ctx, const transformer *t, float *x, int B, int L, float eps,
                                      int causal, transformer_cache **out) {
    *out = NULL;
    clip_status st = check_fused(t);
    if (st != CLIP_OK) return st;
    int W = t->width, mlp = t->mlp_width, rows = B * L;
    transformer_cache *c = calloc(1, sizeof *c);
    size_t per_block = (size_t)rows * (6 * (size_t)W + mlp);
    size_t attn_scratch = nn_attention_scratch_floats(ctx, L);
    float *work = malloc(((size_t)rows * W + (size_t)rows * mlp + attn_scratch) * sizeof(float));
    if (c) c->arena = malloc(per_block * (size_t)t->layers * sizeof(float) + 1);
    if (!c || !c->arena || !work) {
        free(work);
        transformer_cache_free(c);
        return clip_fail(CLIP_ERR_NO_MEMORY, "training: cannot keep %zu MiB of activations for %d blocks",
                         per_block * t->layers * sizeof(float) >> 20, t->layers);
    }
    *c = (transformer_cache){B, L, W, mlp, t->layers, per_block, c->arena};
    float *h = work, *g = h + (size_t)rows * W, *scratch = g + (size_t)rows * mlp;
    /* The residual stream is written straight into the buffers the
     * backward keeps (each block's x_in and x_mid), the last block's output
     * into x: no copies of it. */
    if (t->layers > 0) memcpy(saved_block(c, 0).x_in, x, (size_t)rows * W * sizeof(float));
    for (int i = 0; i < t->layers; i++) {
        const transformer_block *blk = &t->blocks[i];
        block_saved s = saved_block(c, i);
        float *next = i + 1 < t->layers ? saved_block(c, i + 1).x_in : x;
        nn_layernorm(ctx, s.x_in, rows, W, blk->ln_1_weight, blk->ln_1_bias, eps, h);
        nn_linear(ctx, h, rows, W, blk->q_weight, NN_OUT_IN, 3 * W, blk->q_bias, NN_ACT_NONE, NULL, s.qkv);
        nn_attention(ctx, s.qkv, s.qkv + W, s.qkv + 2 * W, 3 * W, B, L, W, t->heads, causal, scratch, s.attn);
        nn_linear(ctx, s.attn, rows, W, blk->out_weight, NN_OUT_IN, W, blk->out_bias, NN_ACT_NONE, s.x_in, s.x_mid);
        nn_layernorm(ctx, s.x_mid, rows, W, blk->ln_2_weight, blk->ln_2_bias, eps, h);
        nn_linear(ctx, h, rows, W, blk->fc_weight, NN_OUT_IN, mlp, blk->fc_bias, NN_ACT_NONE, NULL, s.u);
        nn_quickgelu_to(ctx, s.u, g, (size_t)rows * mlp);
        nn_linear(ctx, g, rows, mlp, blk->proj_weight, NN_OUT_IN, W, blk->proj_bias, NN_ACT_NONE, s.x_mid, next);
    }
    free(work);
    *out = c;
    return CLIP_OK;
}

clip_status transformer_train_backward(const nn_ctx *ctx, const transformer *t, const block_grads *grads,
                                       const transformer_cache *c, float *dx, float eps, int causal) {
    int W = t->width, mlp = t->mlp_width, B = c->B, L = c->L, rows = B * L;
    int wide = mlp > 3 * W ? mlp : 3 * W;
    size_t floats = (size_t)rows * mlp + (size_t)rows * wide + 2 * (size_t)rows * W;
    float *work = malloc(floats * sizeof(float));
    if (!work) return clip_fail(CLIP_ERR_NO_MEMORY, "training: cannot allocate %zu MiB for the backward pass",
                                floats * sizeof(float) >> 20);
    float *g = work, *dg = g + (size_t)rows * mlp, *h = dg + (size_t)rows * wide, *dh = h + (size_t)rows * W;
    for (int i = t->layers - 1; i >= 0; i--) {
        const transformer_block *blk = &t->blocks[i];
        const block_grads *gr = &grads[i];
        block_saved s = saved_block(c, i);

        /* MLP: x += c_proj(QuickGELU(c_fc(ln_2(x_mid)))) */
        nn_quickgelu_to(ctx, s.u, g, (size_t)rows * mlp);
        tr_linear_backward(ctx, g, rows, mlp, blk->proj_weight, NN_OUT_IN, W, dx, dg, 0.0f, gr->proj_weight,
                           gr->proj_bias);
        tr_quickgelu_backward(ctx, s.u, g, dg, (size_t)rows * mlp);
        nn_layernorm(ctx, s.x_mid, rows, W, blk->ln_2_weight, blk->ln_2_bias, eps, h);
        tr_linear_backward(ctx, h, rows, W, blk->fc_weight, NN_OUT_IN, mlp, dg, dh, 0.0f, gr->fc_weight, gr->fc_bias);
        tr_layernorm_backward(ctx, s.x_mid, rows, W, blk->ln_2_weight, eps, dh, dx, 1.0f, gr->ln_2_weight,
                              gr->ln_2_bias);

        /* Attention: x_mid = x_in + out_proj(attention(in_proj(ln_1(x_in)))) */
        tr_linear_backward(ctx, s.attn, rows, W, blk->out_weight, NN_OUT_IN, W, dx, dh, 0.0f, gr->out_weight,
                           gr->out_bias);
        tr_attention_backward(ctx, s.qkv, B, L, W, t->heads, causal, dh, dg);
        nn_layernorm(ctx, s.x_in, rows, W, blk->ln_1_weight, blk->ln_1_bias, eps, h);
        tr_linear_backward(ctx, h, rows, W, blk->q_weight, NN_OUT_IN, 3 * W, dg, dh, 0.0f, gr->in_proj_weight,
                           gr->in_proj_bias);
        tr_layernorm_backward(ctx, s.x_in, rows, W, blk->ln_1_weight, eps, dh, dx, 1.0f, gr->ln_1_weight,
                              gr->ln_1_bias);
    }
    free(work);
    return CLIP_OK;
}
