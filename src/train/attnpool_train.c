/* The ModifiedResNet's AttentionPool2d for training: the mean token (plus
 * its positional embedding) queries all HW+1 tokens; separate q/k/v
 * projections and c_proj. The forward repeats resnet.c's arithmetic and
 * keeps the probabilities (n * heads * T floats: small). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/train_internal.h"
#include "train/train_ops.h"

struct attnpool_cache {
    int n;
    float *tokens;   /* [n, T, C] with positional embedding */
    float *means;    /* [n, C]: token 0 of each image */
    float *q;        /* [n, C] */
    float *k, *v;    /* [n, T, C] */
    float *probs;    /* [n, heads, T] */
    float *attended; /* [n, C] */
};

void attnpool_cache_free(attnpool_cache *cache) {
    if (!cache) return;
    free(cache->tokens);
    free(cache);
}

clip_status attnpool_train_forward(const nn_ctx *ctx, const clip_model *model, const float *feature_map, int n,
                                   float *features, attnpool_cache **out) {
    *out = NULL;
    const resnet_tower *r = &model->resnet;
    int C = r->pool_channels, T = r->pool_tokens, HW = T - 1, heads = r->heads, d = C / heads;
    int E = model->info.embed_dim;
    attnpool_cache *c = calloc(1, sizeof *c);
    size_t floats = 3 * (size_t)n * T * C + 3 * (size_t)n * C + (size_t)n * heads * T;
    if (c) c->tokens = malloc(floats * sizeof(float));
    if (!c || !c->tokens) {
        attnpool_cache_free(c);
        return clip_fail(CLIP_ERR_NO_MEMORY, "image tower: out of memory in attention pool");
    }
    c->n = n;
    c->k = c->tokens + (size_t)n * T * C;
    c->v = c->k + (size_t)n * T * C;
    c->means = c->v + (size_t)n * T * C;
    c->q = c->means + (size_t)n * C;
    c->attended = c->q + (size_t)n * C;
    c->probs = c->attended + (size_t)n * C;
    for (int b = 0; b < n; b++) {
        const float *map = feature_map + (size_t)b * C * HW;
        float *seq = c->tokens + (size_t)b * T * C;
        for (int ch = 0; ch < C; ch++) {
            float sum = 0;
            for (int p = 0; p < HW; p++) {
                seq[(size_t)(p + 1) * C + ch] = map[(size_t)ch * HW + p];
                sum += map[(size_t)ch * HW + p];
            }
            seq[ch] = sum / (float)HW;
        }
        for (int t = 0; t < T; t++)
            for (int ch = 0; ch < C; ch++) seq[(size_t)t * C + ch] += r->pool_positional_embedding[(size_t)t * C + ch];
        memcpy(c->means + (size_t)b * C, seq, (size_t)C * sizeof(float));
    }
    nn_linear(ctx, c->means, n, C, r->q_weight, NN_OUT_IN, C, r->q_bias, NN_ACT_NONE, NULL, c->q);
    nn_linear(ctx, c->tokens, n * T, C, r->k_weight, NN_OUT_IN, C, r->k_bias, NN_ACT_NONE, NULL, c->k);
    nn_linear(ctx, c->tokens, n * T, C, r->v_weight, NN_OUT_IN, C, r->v_bias, NN_ACT_NONE, NULL, c->v);
    float scale = 1.0f / sqrtf((float)d);
    for (int b = 0; b < n; b++)
        for (int h = 0; h < heads; h++) {
            const float *qh = c->q + (size_t)b * C + h * d;
            float *scores = c->probs + ((size_t)b * heads + h) * T;
            for (int t = 0; t < T; t++) {
                const float *kh = c->k + ((size_t)b * T + t) * C + h * d;
                float dot = 0;
                for (int i = 0; i < d; i++) dot += qh[i] * scale * kh[i];
                scores[t] = dot;
            }
            nn_softmax_row(scores, T);
            float *o = c->attended + (size_t)b * C + h * d;
            for (int i = 0; i < d; i++) o[i] = 0;
            for (int t = 0; t < T; t++) {
                const float *vh = c->v + ((size_t)b * T + t) * C + h * d;
                for (int i = 0; i < d; i++) o[i] += scores[t] * vh[i];
            }
        }
    nn_linear(ctx, c->attended, n, C, r->c_weight, NN_OUT_IN, E, r->c_bias, NN_ACT_NONE, NULL, features);
    *out = c;
    return CLIP_OK;
}

clip_status attnpool_train_backward(const nn_ctx *ctx, const clip_model *model, const resnet_grads *g,
                                    const attnpool_cache *c, const float *dfeatures, float *dmap) {
    const resnet_tower *r = &model->resnet;
    int n = c->n, C = r->pool_channels, T = r->pool_tokens, HW = T - 1, heads = r->heads, d = C / heads;
    int E = model->info.embed_dim;
    size_t big = (size_t)n * T * C;
    size_t floats = 3 * big + 2 * (size_t)n * C + (size_t)T;
    float *work = malloc(floats * sizeof(float));
    if (!work) return clip_fail(CLIP_ERR_NO_MEMORY, "image tower: out of memory in the attention pool's backward");
    float *dk = work, *dv = dk + big, *dtokens = dv + big, *dattended = dtokens + big;
    float *dq = dattended + (size_t)n * C, *dp = dq + (size_t)n * C;
    float scale = 1.0f / sqrtf((float)d);

    tr_linear_backward(ctx, c->attended, n, C, r->c_weight, NN_OUT_IN, E, dfeatures, dattended, 0.0f, g->c_weight,
                       g->c_bias);
    memset(dk, 0, 2 * big * sizeof(float));
    for (int b = 0; b < n; b++)
        for (int h = 0; h < heads; h++) {
            const float *p = c->probs + ((size_t)b * heads + h) * T, *qh = c->q + (size_t)b * C + h * d;
            const float *da = dattended + (size_t)b * C + h * d;
            double dot = 0;
            for (int t = 0; t < T; t++) {
                const float *vh = c->v + ((size_t)b * T + t) * C + h * d;
                float *dvh = dv + ((size_t)b * T + t) * C + h * d;
                float s = 0;
                for (int i = 0; i < d; i++) {
                    s += da[i] * vh[i];
                    dvh[i] = p[t] * da[i];
                }
                dp[t] = s;
                dot += (double)p[t] * s;
            }
            float *dqh = dq + (size_t)b * C + h * d;
            for (int i = 0; i < d; i++) dqh[i] = 0;
            for (int t = 0; t < T; t++) {
                float ds = p[t] * (dp[t] - (float)dot) * scale;
                const float *kh = c->k + ((size_t)b * T + t) * C + h * d;
                float *dkh = dk + ((size_t)b * T + t) * C + h * d;
                for (int i = 0; i < d; i++) {
                    dqh[i] += ds * kh[i];
                    dkh[i] = ds * qh[i];
                }
            }
        }
    tr_linear_backward(ctx, c->tokens, n * T, C, r->k_weight, NN_OUT_IN, C, dk, dtokens, 0.0f, g->k_weight, g->k_bias);
    tr_linear_backward(ctx, c->tokens, n * T, C, r->v_weight, NN_OUT_IN, C, dv, dtokens, 1.0f, g->v_weight, g->v_bias);
    /* The query is token 0: its gradient joins token 0's (dk reused as dmean). */
    float *dmean = dk;
    tr_linear_backward(ctx, c->means, n, C, r->q_weight, NN_OUT_IN, C, dq, dmean, 0.0f, g->q_weight, g->q_bias);
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < C; ch++) dtokens[(size_t)b * T * C + ch] += dmean[(size_t)b * C + ch];
    for (int t = 0; t < T; t++)
        for (int ch = 0; ch < C; ch++) {
            double sum = 0;
            for (int b = 0; b < n; b++) sum += dtokens[((size_t)b * T + t) * C + ch];
            g->pool_positional_embedding[(size_t)t * C + ch] += (float)sum;
        }
    /* Token p+1 is pixel p; token 0 is the mean of all pixels. */
    for (int b = 0; b < n; b++) {
        const float *seq = dtokens + (size_t)b * T * C;
        float *map = dmap + (size_t)b * C * HW;
        for (int ch = 0; ch < C; ch++) {
            float from_mean = seq[ch] / (float)HW;
            for (int p = 0; p < HW; p++) map[(size_t)ch * HW + p] = seq[(size_t)(p + 1) * C + ch] + from_mean;
        }
    }
    free(work);
    return CLIP_OK;
}
