/* ModifiedResNet for training: the 3-convolution stem, bottlenecks with
 * anti-aliased (average-pool) downsampling, then the attention pool.
 *
 * Each convolution + BatchNorm (+ ReLU) "unit" keeps its convolution output
 * (BatchNorm's input) and its own output, which is the next unit's input
 * and, being post-ReLU, also the ReLU's mask. BatchNorm runs either on the
 * batch statistics (train mode: running statistics updated with momentum
 * and the unbiased variance, num_batches_tracked += 1) or on the running
 * statistics (eval mode); the backward differs accordingly. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/train_internal.h"
#include "train/train_ops.h"

#define BN_EPS 1e-5f

typedef struct unit_cache {
    const conv_bn *cb;
    const conv_bn_state *state;
    const float *x; /* input (another unit's output or the pixels) */
    int H, W, Ho, Wo, stride, relu;
    float *y;       /* convolution output */
    float *out;     /* BatchNorm (+ReLU) output */
    float *mean, *invstd;
} unit_cache;

typedef struct block_cache {
    unit_cache conv1, conv2, conv3, downsample;
    const float *x;  /* block input */
    float *pooled;   /* avgpool(conv2 output) when stride > 1 */
    float *pooled_x; /* avgpool(x) for the downsample branch when stride > 1 */
    float *out;      /* relu(bn3 + identity) */
    int H, W;
} block_cache;

struct resnet_cache {
    int n, bn_train;
    unit_cache stem[3];
    float *stem_out; /* after the stem's 2x2 average pool */
    block_cache *blocks;
    int n_blocks;
    attnpool_cache *pool;
    void **owned;
    size_t n_owned, cap_owned;
};

static float *keep(resnet_cache *c, size_t floats) {
    if (c->n_owned == c->cap_owned) {
        size_t cap = c->cap_owned ? 2 * c->cap_owned : 64;
        void **grown = realloc(c->owned, cap * sizeof *grown);
        if (!grown) return NULL;
        c->owned = grown;
        c->cap_owned = cap;
    }
    float *p = malloc((floats ? floats : 1) * sizeof(float));
    if (p) c->owned[c->n_owned++] = p;
    return p;
}

void resnet_cache_free(resnet_cache *c) {
    if (!c) return;
    attnpool_cache_free(c->pool);
    for (size_t i = 0; i < c->n_owned; i++) free(c->owned[i]);
    free(c->owned);
    free(c->blocks);
    free(c);
}

static clip_status out_of_memory(void) {
    return clip_fail(CLIP_ERR_NO_MEMORY, "image tower: out of memory for training activations");
}

static clip_status unit_forward(const nn_ctx *ctx, resnet_cache *c, const conv_bn *cb, const conv_bn_state *state,
                                const float *x, int H, int W, int stride, int relu, float momentum, unit_cache *u) {
    int n = c->n, pad = cb->kernel / 2, Cout = cb->out_channels;
    *u = (unit_cache){.cb = cb, .state = state, .x = x, .H = H, .W = W, .stride = stride, .relu = relu};
    u->Ho = nn_conv_out_size(H, cb->kernel, stride, pad);
    u->Wo = nn_conv_out_size(W, cb->kernel, stride, pad);
    size_t map = (size_t)n * Cout * u->Ho * u->Wo;
    u->y = keep(c, map);
    u->out = keep(c, map);
    u->mean = keep(c, 2 * (size_t)Cout);
    float *im2col = malloc((nn_conv2d_scratch_floats(cb->in_channels, H, W, cb->kernel, stride, pad) + 1) *
                           sizeof(float));
    if (!u->y || !u->out || !u->mean || !im2col) {
        free(im2col);
        return out_of_memory();
    }
    u->invstd = u->mean + Cout;
    nn_conv2d(ctx, x, n, cb->in_channels, H, W, cb->weight, Cout, cb->kernel, stride, pad, im2col, u->y);
    free(im2col);
    int HW = u->Ho * u->Wo;
    if (c->bn_train) {
        clip_status st = tr_batchnorm_train_forward(ctx, u->y, n, Cout, HW, cb->bn.weight, cb->bn.bias, BN_EPS,
                                                    momentum, state->bn.running_mean, state->bn.running_var, u->mean,
                                                    u->invstd, relu, c->bn_train == RESNET_BN_TRAIN_SYNC, u->out);
        if (st != CLIP_OK) return st;
        (*state->bn.num_batches_tracked)++;
    } else {
        memcpy(u->out, u->y, map * sizeof(float));
        nn_batchnorm_eval(ctx, u->out, n, Cout, HW, cb->bn.running_mean, cb->bn.running_var, cb->bn.weight,
                          cb->bn.bias, BN_EPS, relu);
        memcpy(u->mean, cb->bn.running_mean, (size_t)Cout * sizeof(float));
        tr_batchnorm_eval_invstd(cb->bn.running_var, Cout, BN_EPS, u->invstd);
    }
    return CLIP_OK;
}

/* dout: gradient at the unit's output (before its ReLU mask); dx may be
 * NULL (the stem's first convolution: no gradient for the pixels). */
static clip_status unit_backward(const nn_ctx *ctx, int n, int bn_train, const unit_cache *u, const float *dout,
                                 float *dx) {
    const conv_bn *cb = u->cb;
    int Cout = cb->out_channels, pad = cb->kernel / 2;
    size_t map = (size_t)n * Cout * u->Ho * u->Wo;
    size_t scratch = tr_conv2d_backward_scratch(cb->in_channels, Cout, u->H, u->W, cb->kernel, u->stride, pad);
    float *dy = malloc((map + scratch) * sizeof(float));
    if (!dy) return out_of_memory();
    clip_status st = tr_batchnorm_backward(ctx, u->y, n, Cout, u->Ho * u->Wo, cb->bn.weight, u->mean, u->invstd,
                                           bn_train != 0, bn_train == RESNET_BN_TRAIN_SYNC, u->out, u->relu, dout, dy,
                                           u->state->bn.grad_weight, u->state->bn.grad_bias);
    if (st != CLIP_OK) {
        free(dy);
        return st;
    }
    tr_conv2d_backward(ctx, u->x, n, cb->in_channels, u->H, u->W, cb->weight, Cout, cb->kernel, u->stride, pad, dy,
                       dx, u->state->grad_weight, dy + map);
    free(dy);
    return CLIP_OK;
}

static clip_status block_forward(const nn_ctx *ctx, resnet_cache *c, const bottleneck *blk,
                                 const bottleneck_state *state, const float *x, int H, int W, float momentum,
                                 block_cache *bc) {
    int n = c->n, planes = blk->conv1.out_channels, Cin = blk->conv1.in_channels, s = blk->stride;
    int Ho = H / s, Wo = W / s, Cout = blk->conv3.out_channels;
    *bc = (block_cache){.x = x, .H = H, .W = W};
    clip_status st = unit_forward(ctx, c, &blk->conv1, &state->conv1, x, H, W, 1, 1, momentum, &bc->conv1);
    if (st == CLIP_OK) st = unit_forward(ctx, c, &blk->conv2, &state->conv2, bc->conv1.out, H, W, 1, 1, momentum,
                                         &bc->conv2);
    if (st != CLIP_OK) return st;
    const float *main_in = bc->conv2.out;
    if (s > 1) {
        if (!(bc->pooled = keep(c, (size_t)n * planes * Ho * Wo))) return out_of_memory();
        nn_avgpool(ctx, bc->conv2.out, n, planes, H, W, s, bc->pooled);
        main_in = bc->pooled;
    }
    st = unit_forward(ctx, c, &blk->conv3, &state->conv3, main_in, Ho, Wo, 1, 0, momentum, &bc->conv3);
    if (st != CLIP_OK) return st;
    const float *identity = x;
    if (blk->has_downsample) {
        const float *src = x;
        if (s > 1) {
            if (!(bc->pooled_x = keep(c, (size_t)n * Cin * Ho * Wo))) return out_of_memory();
            nn_avgpool(ctx, x, n, Cin, H, W, s, bc->pooled_x);
            src = bc->pooled_x;
        }
        st = unit_forward(ctx, c, &blk->downsample, &state->downsample, src, Ho, Wo, 1, 0, momentum,
                          &bc->downsample);
        if (st != CLIP_OK) return st;
        identity = bc->downsample.out;
    }
    size_t total = (size_t)n * Cout * Ho * Wo;
    if (!(bc->out = keep(c, total))) return out_of_memory();
    for (size_t i = 0; i < total; i++) {
        float v = bc->conv3.out[i] + identity[i];
        bc->out[i] = v > 0 ? v : 0;
    }
    return CLIP_OK;
}

/* dout [n, Cout, Ho, Wo] at the block's output -> dx [n, Cin, H, W]. */
static clip_status block_backward(const nn_ctx *ctx, const resnet_cache *c, const bottleneck *blk,
                                  const block_cache *bc, const float *dout, float *dx) {
    int n = c->n, planes = blk->conv1.out_channels, Cin = blk->conv1.in_channels, s = blk->stride;
    int H = bc->H, W = bc->W, Ho = H / s, Wo = W / s, Cout = blk->conv3.out_channels;
    size_t out_map = (size_t)n * Cout * Ho * Wo, in_map = (size_t)n * Cin * H * W;
    size_t plane_map = (size_t)n * planes * H * W, pooled_map = (size_t)n * planes * Ho * Wo;
    size_t floats = out_map + 2 * plane_map + pooled_map + in_map + (size_t)n * Cin * Ho * Wo;
    float *work = malloc(floats * sizeof(float));
    if (!work) return out_of_memory();
    float *dz = work, *da2 = dz + out_map, *da1 = da2 + plane_map, *dp2 = da1 + plane_map;
    float *dident = dp2 + pooled_map, *dpx = dident + in_map;
    /* The final ReLU (after the residual add) masks both branches. */
    for (size_t i = 0; i < out_map; i++) dz[i] = bc->out[i] > 0.0f ? dout[i] : 0.0f;

    clip_status st = unit_backward(ctx, n, c->bn_train, &bc->conv3, dz, s > 1 ? dp2 : da2);
    if (st == CLIP_OK && s > 1) tr_avgpool_backward(ctx, dp2, n, planes, H, W, s, da2, 0.0f);
    if (st == CLIP_OK) st = unit_backward(ctx, n, c->bn_train, &bc->conv2, da2, da1);
    if (st == CLIP_OK) st = unit_backward(ctx, n, c->bn_train, &bc->conv1, da1, dx);
    if (st == CLIP_OK && blk->has_downsample) {
        st = unit_backward(ctx, n, c->bn_train, &bc->downsample, dz, s > 1 ? dpx : dident);
        if (st == CLIP_OK && s > 1) tr_avgpool_backward(ctx, dpx, n, Cin, H, W, s, dident, 0.0f);
        if (st == CLIP_OK)
            for (size_t i = 0; i < in_map; i++) dx[i] += dident[i];
    } else if (st == CLIP_OK) {
        for (size_t i = 0; i < in_map; i++) dx[i] += dz[i];
    }
    free(work);
    return st;
}

clip_status resnet_train_forward(const nn_ctx *ctx, const clip_model *model, const resnet_grads *state,
                                 int bn_train, float bn_momentum, const float *pixels, int n, float *features,
                                 resnet_cache **out) {
    *out = NULL;
    const resnet_tower *r = &model->resnet;
    int R = r->resolution, w = r->width, H = R / 2, W = R / 2;
    resnet_cache *c = calloc(1, sizeof *c);
    if (c) c->blocks = calloc((size_t)r->n_blocks, sizeof *c->blocks);
    if (!c || !c->blocks) {
        resnet_cache_free(c);
        return out_of_memory();
    }
    c->n = n;
    c->bn_train = bn_train;
    c->n_blocks = r->n_blocks;
    clip_status st = unit_forward(ctx, c, &r->stem[0], &state->stem[0], pixels, R, R, 2, 1, bn_momentum, &c->stem[0]);
    if (st == CLIP_OK)
        st = unit_forward(ctx, c, &r->stem[1], &state->stem[1], c->stem[0].out, H, W, 1, 1, bn_momentum, &c->stem[1]);
    if (st == CLIP_OK)
        st = unit_forward(ctx, c, &r->stem[2], &state->stem[2], c->stem[1].out, H, W, 1, 1, bn_momentum, &c->stem[2]);
    if (st == CLIP_OK && !(c->stem_out = keep(c, (size_t)n * w * (H / 2) * (W / 2)))) st = out_of_memory();
    if (st == CLIP_OK) nn_avgpool(ctx, c->stem[2].out, n, w, H, W, 2, c->stem_out);
    H /= 2;
    W /= 2;
    const float *cur = c->stem_out;
    for (int i = 0; i < r->n_blocks && st == CLIP_OK; i++) {
        st = block_forward(ctx, c, &r->blocks[i], &state->blocks[i], cur, H, W, bn_momentum, &c->blocks[i]);
        H /= r->blocks[i].stride;
        W /= r->blocks[i].stride;
        cur = c->blocks[i].out;
    }
    if (st == CLIP_OK) st = attnpool_train_forward(ctx, model, cur, n, features, &c->pool);
    if (st != CLIP_OK) {
        resnet_cache_free(c);
        return st;
    }
    *out = c;
    return CLIP_OK;
}

clip_status resnet_train_backward(const nn_ctx *ctx, const clip_model *model, const resnet_grads *grads,
                                  const resnet_cache *c, const float *dfeatures) {
    const resnet_tower *r = &model->resnet;
    int n = c->n, R = r->resolution, w = r->width;
    /* Two ping-pong gradient buffers sized for the largest map. */
    size_t largest = (size_t)w * (R / 2) * (R / 2);
    for (int i = 0; i < r->n_blocks; i++) {
        const block_cache *bc = &c->blocks[i];
        size_t in = (size_t)r->blocks[i].conv1.in_channels * bc->H * bc->W;
        if (in > largest) largest = in;
    }
    size_t final_map = (size_t)r->pool_channels * (r->pool_tokens - 1);
    if (final_map > largest) largest = final_map;
    largest *= (size_t)n;
    float *a = malloc(largest * sizeof(float)), *b = malloc(largest * sizeof(float));
    clip_status st = (a && b) ? CLIP_OK : out_of_memory();
    if (st == CLIP_OK) st = attnpool_train_backward(ctx, model, grads, c->pool, dfeatures, a);
    for (int i = r->n_blocks - 1; i >= 0 && st == CLIP_OK; i--) {
        st = block_backward(ctx, c, &r->blocks[i], &c->blocks[i], a, b);
        float *t = a;
        a = b;
        b = t;
    }
    if (st == CLIP_OK) {
        int H = R / 2;
        tr_avgpool_backward(ctx, a, n, w, H, H, 2, b, 0.0f);
        st = unit_backward(ctx, n, c->bn_train, &c->stem[2], b, a);
        if (st == CLIP_OK) st = unit_backward(ctx, n, c->bn_train, &c->stem[1], a, b);
        if (st == CLIP_OK) st = unit_backward(ctx, n, c->bn_train, &c->stem[0], b, NULL);
    }
    free(a);
    free(b);
    return st;
}
