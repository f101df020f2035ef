/* Pre-norm residual attention blocks, shared by the ViT and the text tower. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"

/* qkv [rows, 3W]: one product when the three projections are stored
 * contiguously (OpenAI's in_proj_weight), three strided ones otherwise. */
static int qkv_fused(const transformer_block *blk, int W) {
    size_t ww = (size_t)W * W;
    return blk->k_weight == blk->q_weight + ww && blk->v_weight == blk->k_weight + ww &&
           blk->k_bias == blk->q_bias + W && blk->v_bias == blk->k_bias + W;
}

static void project_qkv(const nn_ctx *ctx, const transformer_block *blk, const float *h, int rows,
                        int W, float *qkv) {
    if (qkv_fused(blk, W)) {
        nn_linear(ctx, h, rows, W, blk->q_weight, NN_OUT_IN, 3 * W, blk->q_bias, NN_ACT_NONE, NULL, qkv);
        return;
    }
    const float *weights[3] = {blk->q_weight, blk->k_weight, blk->v_weight};
    const float *biases[3] = {blk->q_bias, blk->k_bias, blk->v_bias};
    for (int part = 0; part < 3; part++)
        nn_linear_ex(ctx, h, W, rows, W, weights[part], NN_OUT_IN, W, biases[part], NN_ACT_NONE, NULL, 0,
                     qkv + (size_t)part * W, 3 * W);
}

/* The last block for one row per sequence, x row out_rows[b] of sequence
 * b: keys and values still come from every position (qkv for all rows),
 * but the attention, its projection and the MLP run for B rows instead of
 * B * L. Every row's arithmetic is the same as in the full block, so the
 * rows come out as they would there. Buffers as transformer_forward's. */
static void last_block_rows(const nn_ctx *ctx, const transformer_block *blk, const transformer *t, float *x, int B,
                            int L, float eps, int causal, const int *out_rows, float *h, float *big, float *attn,
                            float *scratch) {
    int W = t->width;
    float *picked = attn + (size_t)B * W; /* attn holds B * L >= 2B rows */
    nn_attention_rows(ctx, big, big + W, big + 2 * W, 3 * W, B, L, W, t->heads, causal, out_rows, scratch, attn);
    for (int b = 0; b < B; b++)
        memcpy(picked + (size_t)b * W, x + ((size_t)b * L + out_rows[b]) * W, (size_t)W * sizeof(float));
    nn_linear(ctx, attn, B, W, blk->out_weight, NN_OUT_IN, W, blk->out_bias, NN_ACT_NONE, picked, picked);
    nn_linear_ln(ctx, picked, B, W, blk->ln_2_weight, blk->ln_2_bias, eps, blk->fc_weight, NN_OUT_IN, t->mlp_width,
                 blk->fc_bias, NN_ACT_QUICKGELU, NULL, big, h);
    nn_linear(ctx, big, B, t->mlp_width, blk->proj_weight, NN_OUT_IN, W, blk->proj_bias, NN_ACT_NONE, picked,
              picked);
    for (int b = 0; b < B; b++)
        memcpy(x + ((size_t)b * L + out_rows[b]) * W, picked + (size_t)b * W, (size_t)W * sizeof(float));
}

size_t transformer_work_floats(const nn_ctx *ctx, const transformer *t, int B, int L) {
    size_t rows = (size_t)B * L, W = (size_t)t->width;
    /* h [rows, W] | qkv [rows, 3W] (reused for the MLP's [rows, 4W]) | attn [rows, W] | attention scratch */
    return rows * W + rows * 4 * W + rows * W + nn_attention_scratch_floats(ctx, L);
}

clip_status transformer_forward(const nn_ctx *ctx, const transformer *t, float *x, int B, int L,
                                float eps, int causal, const clip_trace *trace, const char *trace_prefix,
                                const int *out_rows, float *work) {
    int W = t->width, rows = B * L;
    float *h = work, *big = h + (size_t)rows * W, *attn = big + (size_t)rows * 4 * W;
    float *scratch = attn + (size_t)rows * W;
    /* A trace shows every row of every block, so it gets them all. */
    int tracing = trace && trace->emit;
    int last_rows_only = out_rows && !tracing && L >= 2;
    for (int i = 0; i < t->layers; i++) {
        const transformer_block *blk = &t->blocks[i];
        if (qkv_fused(blk, W)) {
            nn_linear_ln(ctx, x, rows, W, blk->ln_1_weight, blk->ln_1_bias, eps, blk->q_weight, NN_OUT_IN, 3 * W,
                         blk->q_bias, NN_ACT_NONE, NULL, big, h);
        } else {
            nn_layernorm(ctx, x, rows, W, blk->ln_1_weight, blk->ln_1_bias, eps, h);
            project_qkv(ctx, blk, h, rows, W, big);
        }
        if (last_rows_only && i == t->layers - 1) {
            last_block_rows(ctx, blk, t, x, B, L, eps, causal, out_rows, h, big, attn, scratch);
            break;
        }
        nn_attention(ctx, big, big + W, big + 2 * W, 3 * W, B, L, W, t->heads, causal, scratch, attn);
        nn_linear(ctx, attn, rows, W, blk->out_weight, NN_OUT_IN, W, blk->out_bias, NN_ACT_NONE, x, x);
        nn_linear_ln(ctx, x, rows, W, blk->ln_2_weight, blk->ln_2_bias, eps, blk->fc_weight, NN_OUT_IN,
                     t->mlp_width, blk->fc_bias, NN_ACT_QUICKGELU, NULL, big, h);
        nn_linear(ctx, big, rows, t->mlp_width, blk->proj_weight, NN_OUT_IN, W, blk->proj_bias,
                  NN_ACT_NONE, x, x);
        if (tracing) {
            char name[96];
            snprintf(name, sizeof name, "%s.%d", trace_prefix, i);
            int64_t shape[3] = {B, L, W};
            trace->emit(trace->ctx, name, x, 3, shape);
        }
    }
    return CLIP_OK;
}
