/* OpenAI's ModifiedResNet: a three-convolution stem with average pooling,
 * bottleneck stages that downsample by average pooling (anti-aliased), and
 * an attention-pooling head in place of global average pooling. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"

/* With float32 weights the maps are channel-major, [C, n, H, W], so that
 * each convolution is one product over the n * H * W pixels of the batch
 * (nn_conv2d_bn_cm): the small maps of layer3-4 fill the products' panels.
 * The bf16/int8 convolutions were 10-15% slower that way at batch 8, so
 * they keep [n, C, H, W] (one product per image). */
static int channel_major(const clip_model *model) { return model->nn.weight_dtype == NN_F32; }

/* y = bn(conv(x)) (+ residual) with optional ReLU in the tower's layout;
 * x_nchw: x is the tower's input [n, Cin, H, W] whatever the layout. */
static clip_status conv_bn_with(const nn_ctx *ctx, int cm, const conv_bn *cb, const float *x, int x_nchw, int n, int H,
                                int W, int stride, const float *residual, int relu, float *y) {
    if (!cm)
        return nn_conv2d_bn_add(ctx, x, n, cb->in_channels, H, W, cb->weight, cb->out_channels, cb->kernel, stride,
                                cb->kernel / 2, cb->bn.running_mean, cb->bn.running_var, cb->bn.weight, cb->bn.bias,
                                1e-5f, residual, relu, y);
    return nn_conv2d_bn_cm(ctx, x, x_nchw, n, cb->in_channels, H, W, cb->weight, cb->out_channels, cb->kernel, stride,
                           cb->kernel / 2, cb->bn.running_mean, cb->bn.running_var, cb->bn.weight, cb->bn.bias, 1e-5f,
                           residual, relu, y);
}

static clip_status conv_bn_forward(const clip_model *model, const conv_bn *cb, const float *x,
                                   int n, int H, int W, int stride, int relu, float *y) {
    return conv_bn_with(&model->nn, channel_major(model), cb, x, 0, n, H, W, stride, NULL, relu, y);
}

/* The stem stays float32 whatever the weight dtype: its batch norms
 * subtract large means from few-channel sums, so the rounding of bf16/int8
 * there dominated the error of the whole tower (tiny-rn: cosine 0.9986 in
 * bf16 with it, 0.9999 without), for about 6% of RN50's work. */
static clip_status stem_forward(const clip_model *model, const conv_bn *cb, const float *x, int x_nchw, int n, int H,
                                int W, int stride, float *y) {
    nn_ctx f32 = model->nn;
    f32.weight_dtype = NN_F32;
    return conv_bn_with(&f32, channel_major(model), cb, x, x_nchw, n, H, W, stride, NULL, 1, y);
}

/* Activations of one bottleneck: t1, t2 [n, planes, H, W], the pooled input
 * [n, Cin, Ho, Wo] and the identity branch [n, 4 planes, Ho, Wo] (with a
 * downsample). resnet_forward allocates the largest once per call. */
static size_t bottleneck_floats(const bottleneck *blk, int n, int H, int W) {
    int planes = blk->conv1.out_channels, Cin = blk->conv1.in_channels, stride = blk->stride;
    size_t Ho = (size_t)H / stride, Wo = (size_t)W / stride;
    size_t floats = 2 * (size_t)n * planes * H * W;
    if (blk->has_downsample) floats += (size_t)n * Cin * Ho * Wo + (size_t)n * blk->conv3.out_channels * Ho * Wo;
    return floats;
}

/* out = relu(bn3(conv3(...)) + identity): the residual add and the ReLU
 * happen in conv3's epilogue. */
static clip_status bottleneck_forward(const clip_model *model, const bottleneck *blk,
                                      const float *x, int n, int H, int W, float *work, float *out) {
    int planes = blk->conv1.out_channels, Cin = blk->conv1.in_channels, stride = blk->stride;
    int Ho = H / stride, Wo = W / stride;
    size_t plane_full = (size_t)n * planes * H * W;
    float *t1 = work, *t2 = t1 + plane_full, *pooled_x = t2 + plane_full;
    float *identity_buf = pooled_x + (size_t)n * Cin * Ho * Wo;
    clip_status st = conv_bn_forward(model, &blk->conv1, x, n, H, W, 1, 1, t1);
    if (st == CLIP_OK) st = conv_bn_forward(model, &blk->conv2, t1, n, H, W, 1, 1, t2);
    const float *t2p = t2;
    if (st == CLIP_OK && stride > 1) {
        nn_avgpool(&model->nn, t2, n, planes, H, W, stride, t1);
        t2p = t1;
    }
    const float *identity = x;
    if (st == CLIP_OK && blk->has_downsample) {
        const float *src = x;
        if (stride > 1) {
            nn_avgpool(&model->nn, x, n, Cin, H, W, stride, pooled_x);
            src = pooled_x;
        }
        st = conv_bn_forward(model, &blk->downsample, src, n, Ho, Wo, 1, 0, identity_buf);
        identity = identity_buf;
    }
    if (st == CLIP_OK) {
        st = conv_bn_with(&model->nn, channel_major(model), &blk->conv3, t2p, 0, n, Ho, Wo, 1, identity, 1, out);
    }
    return st;
}

/* Multi-head attention of the mean token (query) over all tokens;
 * pixels [n, HW, C] (each image's map as a token sequence). */
clip_status resnet_attention_pool(const clip_model *model, const float *pixels, int n, float *features) {
    const resnet_tower *r = &model->resnet;
    const nn_ctx *ctx = &model->nn;
    int C = r->pool_channels, T = r->pool_tokens, HW = T - 1, heads = r->heads, d = C / heads;
    int E = model->info.embed_dim;
    size_t floats = (size_t)n * T * C * 3 + (size_t)n * C * 3 + (size_t)T;
    float *work = malloc(floats * sizeof(float));
    if (!work) return clip_fail(CLIP_ERR_NO_MEMORY, "image tower: out of memory in attention pool");
    float *tokens = work, *k = tokens + (size_t)n * T * C, *v = k + (size_t)n * T * C;
    float *mean_tokens = v + (size_t)n * T * C, *q = mean_tokens + (size_t)n * C;
    float *attended = q + (size_t)n * C, *scores = attended + (size_t)n * C;
    for (int b = 0; b < n; b++) {
        const float *map = pixels + (size_t)b * HW * C;
        float *seq = tokens + (size_t)b * T * C;
        memcpy(seq + C, map, (size_t)HW * C * sizeof(float));
        for (int c = 0; c < C; c++) {
            float sum = 0;
            for (int p = 0; p < HW; p++) sum += map[(size_t)p * C + c];
            seq[c] = sum / (float)HW;
        }
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) seq[(size_t)t * C + c] += r->pool_positional_embedding[(size_t)t * C + c];
        memcpy(mean_tokens + (size_t)b * C, seq, (size_t)C * sizeof(float));
    }
    nn_linear(ctx, mean_tokens, n, C, r->q_weight, NN_OUT_IN, C, r->q_bias, NN_ACT_NONE, NULL, q);
    nn_linear(ctx, tokens, n * T, C, r->k_weight, NN_OUT_IN, C, r->k_bias, NN_ACT_NONE, NULL, k);
    nn_linear(ctx, tokens, n * T, C, r->v_weight, NN_OUT_IN, C, r->v_bias, NN_ACT_NONE, NULL, v);
    float scale = 1.0f / sqrtf((float)d);
    for (int b = 0; b < n; b++)
        for (int h = 0; h < heads; h++) {
            const float *qh = q + (size_t)b * C + h * d;
            for (int t = 0; t < T; t++) {
                const float *kh = k + ((size_t)b * T + t) * C + h * d;
                float dot = 0;
                for (int i = 0; i < d; i++) dot += qh[i] * scale * kh[i];
                scores[t] = dot;
            }
            nn_softmax_row(scores, T);
            float *out = attended + (size_t)b * C + h * d;
            for (int i = 0; i < d; i++) out[i] = 0;
            for (int t = 0; t < T; t++) {
                const float *vh = v + ((size_t)b * T + t) * C + h * d;
                for (int i = 0; i < d; i++) out[i] += scores[t] * vh[i];
            }
        }
    nn_linear(ctx, attended, n, C, r->c_weight, NN_OUT_IN, E, r->c_bias, NN_ACT_NONE, NULL, features);
    free(work);
    return CLIP_OK;
}

/* x in the tower's layout; traced as [n, C, H, W]. */
static void emit_map(const clip_trace *trace, int cm, const char *name, const float *x, int n, int C, int H, int W) {
    if (!trace) return;
    if (!cm) {
        int64_t shape[4] = {n, C, H, W};
        trace_emit(trace, name, x, 4, shape);
        return;
    }
    size_t plane = (size_t)H * W;
    float *t = malloc((size_t)n * C * plane * sizeof(float));
    if (!t) return;
    for (int c = 0; c < C; c++)
        for (int b = 0; b < n; b++)
            memcpy(t + ((size_t)b * C + c) * plane, x + ((size_t)c * n + b) * plane, plane * sizeof(float));
    int64_t shape[4] = {n, C, H, W};
    trace_emit(trace, name, t, 4, shape);
    free(t);
}

clip_status resnet_forward(clip_model *model, const float *pixels, int n, float *features,
                           const clip_trace *trace) {
    if (resnet_blocked_usable(model)) return resnet_forward_blocked(model, pixels, n, features, trace);
    const resnet_tower *r = &model->resnet;
    int R = r->resolution, w = r->width;
    /* Two ping-pong buffers sized for the largest map: the stem's first
     * convolutions (w/2 or w channels at R/2) or a stage output. */
    size_t largest = (size_t)w * (R / 2) * (R / 2);
    size_t stage1 = (size_t)4 * w * (R / 4) * (R / 4);
    if (stage1 > largest) largest = stage1;
    largest *= (size_t)n;
    size_t block_floats = 0;
    {
        int h = R / 4, blk_i = 0;
        for (int stage = 0; stage < 4; stage++)
            for (int i = 0; i < r->stage_blocks[stage]; i++, blk_i++) {
                size_t f = bottleneck_floats(&r->blocks[blk_i], n, h, h);
                if (f > block_floats) block_floats = f;
                h /= r->blocks[blk_i].stride;
            }
    }
    float *a = malloc(largest * sizeof(float)), *b = malloc(largest * sizeof(float));
    float *work = malloc(block_floats * sizeof(float));
    clip_status st = (a && b && work) ? CLIP_OK : clip_fail(CLIP_ERR_NO_MEMORY, "image tower: out of memory");
    int H = R / 2, W = R / 2;
    if (st == CLIP_OK) st = stem_forward(model, &r->stem[0], pixels, 1, n, R, R, 2, a);
    if (st == CLIP_OK) st = stem_forward(model, &r->stem[1], a, 0, n, H, W, 1, b);
    if (st == CLIP_OK) st = stem_forward(model, &r->stem[2], b, 0, n, H, W, 1, a);
    if (st == CLIP_OK) {
        nn_avgpool(&model->nn, a, n, w, H, W, 2, b);
        H /= 2;
        W /= 2;
        emit_map(trace, channel_major(model), "visual.stem", b, n, w, H, W);
    }
    float *cur = b, *next = a;
    int block = 0;
    for (int stage = 0; stage < 4 && st == CLIP_OK; stage++) {
        for (int i = 0; i < r->stage_blocks[stage] && st == CLIP_OK; i++, block++) {
            const bottleneck *blk = &r->blocks[block];
            st = bottleneck_forward(model, blk, cur, n, H, W, work, next);
            H /= blk->stride;
            W /= blk->stride;
            float *tmp = cur;
            cur = next;
            next = tmp;
        }
        if (st == CLIP_OK && trace) {
            char name[32];
            snprintf(name, sizeof name, "visual.layer%d", stage + 1);
            emit_map(trace, channel_major(model), name, cur, n, r->blocks[block - 1].conv3.out_channels, H, W);
        }
    }
    if (st == CLIP_OK) {
        /* [C, n, HW] (channel-major) or [n, C, HW] -> [n, HW, C] */
        int C = r->pool_channels, HW = r->pool_tokens - 1, cm = channel_major(model);
        float *pixels = malloc((size_t)n * HW * C * sizeof(float));
        if (!pixels) st = clip_fail(CLIP_ERR_NO_MEMORY, "image tower: out of memory in attention pool");
        for (int b = 0; pixels && b < n; b++)
            for (int c = 0; c < C; c++) {
                const float *src = cur + (cm ? ((size_t)c * n + b) * HW : ((size_t)b * C + c) * HW);
                for (int p = 0; p < HW; p++) pixels[((size_t)b * HW + p) * C + c] = src[p];
            }
        if (st == CLIP_OK) st = resnet_attention_pool(model, pixels, n, features);
        free(pixels);
    }
    if (st == CLIP_OK) {
        int64_t shape[2] = {n, model->info.embed_dim};
        trace_emit(trace, "visual.attnpool", features, 2, shape);
    }
    free(a);
    free(b);
    free(work);
    return st;
}
