/* OpenAI's ModifiedResNet on blocked (NCHW16c) maps, the float32 path on
 * AVX-512: every convolution after the first reads its input in place
 * (nn_conv2d_bn_blocked) instead of gathering im2col panels. Same
 * network as resnet.c, whose channel-major path stays for the other
 * kernel tables and dtypes. */
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "model/model_internal.h"

static int fits(const conv_bn *cb) { return cb->in_channels % 16 == 0 && cb->out_channels % 16 == 0; }

int resnet_blocked_usable(const clip_model *model) {
    const resnet_tower *r = &model->resnet;
    if (!nn_conv_blocked_available(&model->nn) || r->width % 16 != 0) return 0;
    for (int i = 0; i < r->n_blocks; i++) {
        const bottleneck *b = &r->blocks[i];
        if (!fits(&b->conv1) || !fits(&b->conv2) || !fits(&b->conv3) || (b->has_downsample && !fits(&b->downsample)))
            return 0;
    }
    return 1;
}

static clip_status conv(const clip_model *model, const conv_bn *cb, const nn_bmap *x, const nn_bmap *residual,
                        int relu, const nn_bmap *y) {
    return nn_conv2d_bn_blocked(&model->nn, x, cb->weight, cb->out_channels, cb->kernel, 1, cb->kernel / 2,
                                cb->bn.running_mean, cb->bn.running_var, cb->bn.weight, cb->bn.bias, 1e-5f, residual,
                                relu, y);
}

static nn_bmap bmap(float *data, int n, int C, int H, int W, int border) {
    return (nn_bmap){data, n, C, H, W, border};
}
static size_t floats(int n, int C, int H, int W, int border) { return nn_bmap_floats(n, C, H, W, border); }

static void emit(const clip_trace *trace, const char *name, const nn_bmap *m) {
    if (!trace) return;
    float *t = malloc((size_t)m->n * m->C * m->H * m->W * sizeof(float));
    if (!t) return;
    nn_bmap_to_nchw(m, t);
    int64_t shape[4] = {m->n, m->C, m->H, m->W};
    trace_emit(trace, name, t, 4, shape);
    free(t);
}

/* The stem into `out` [n, width, R/4, R/4]: the first convolution (three
 * input channels, stride 2) on the im2col path, the other two blocked
 * when half the width is a multiple of 16 (RN50: 32), then the pool. */
static size_t stem_floats(const resnet_tower *r, int n) {
    int H = r->resolution / 2, half = r->stem[0].out_channels, w = r->width;
    size_t plane = (size_t)n * H * H;
    if (half % 16 != 0) return 2 * (size_t)w * plane;
    return (size_t)half * plane + 2 * floats(n, half, H, H, 1) + floats(n, w, H, H, 0);
}

static clip_status stem(const clip_model *model, const float *pixels, int n, float *work, const nn_bmap *out) {
    const resnet_tower *r = &model->resnet;
    const conv_bn *s = r->stem;
    int R = r->resolution, H = R / 2, half = s[0].out_channels, w = r->width;
    size_t plane = (size_t)n * H * H;
    int blocked = half % 16 == 0;
    size_t cm_floats = (size_t)(blocked ? half : w) * plane;
    float *a = work, *b = a + cm_floats; /* b: the second map of the im2col stem */
    const nn_ctx *ctx = &model->nn;
    clip_status st = nn_conv2d_bn_cm(ctx, pixels, 1, n, 3, R, R, s[0].weight, half, s[0].kernel, 2, s[0].kernel / 2,
                                     s[0].bn.running_mean, s[0].bn.running_var, s[0].bn.weight, s[0].bn.bias, 1e-5f,
                                     NULL, 1, a);
    if (st == CLIP_OK && blocked) {
        float *p = b;
        nn_bmap s1 = bmap(p, n, half, H, H, 1), s2 = bmap(p + floats(n, half, H, H, 1), n, half, H, H, 1);
        nn_bmap s3 = bmap(s2.data + floats(n, half, H, H, 1), n, w, H, H, 0);
        nn_bmap_from_cm(a, &s1);
        st = conv(model, &s[1], &s1, NULL, 1, &s2);
        if (st == CLIP_OK) st = conv(model, &s[2], &s2, NULL, 1, &s3);
        if (st == CLIP_OK) nn_avgpool_blocked(ctx, &s3, 2, out);
    } else if (st == CLIP_OK) {
        for (int i = 1; i < 3 && st == CLIP_OK; i++) {
            st = nn_conv2d_bn_cm(ctx, i == 1 ? a : b, 0, n, s[i].in_channels, H, H, s[i].weight, s[i].out_channels,
                                 s[i].kernel, 1, s[i].kernel / 2, s[i].bn.running_mean, s[i].bn.running_var,
                                 s[i].bn.weight, s[i].bn.bias, 1e-5f, NULL, 1, i == 1 ? b : a);
        }
        if (st == CLIP_OK) {
            nn_avgpool(ctx, a, w, n, H, H, 2, b); /* [w, n, H, W] is w * n planes */
            nn_bmap_from_cm(b, out);
        }
    }
    return st;
}

/* Scratch of one bottleneck: t1 (bordered: conv2's padding), t2, the
 * pooled t2 and x, and the identity branch. */
static size_t block_floats(const bottleneck *blk, int n, int H) {
    int planes = blk->conv1.out_channels, Ho = H / blk->stride;
    size_t f = floats(n, planes, H, H, 1) + floats(n, planes, H, H, 0) + floats(n, planes, Ho, Ho, 0);
    if (blk->has_downsample) f += floats(n, blk->conv1.in_channels, Ho, Ho, 0) + floats(n, blk->conv3.out_channels, Ho, Ho, 0);
    return f;
}

/* out = relu(bn3(conv3(pool(relu(bn2(conv2(relu(bn1(conv1(x))))))))) + identity) */
static clip_status bottleneck_forward(const clip_model *model, const bottleneck *blk, const nn_bmap *x, float *work,
                                      const nn_bmap *out) {
    int n = x->n, H = x->H, planes = blk->conv1.out_channels, stride = blk->stride, Ho = H / stride;
    nn_bmap t1 = bmap(work, n, planes, H, H, 1);
    nn_bmap t2 = bmap(t1.data + floats(n, planes, H, H, 1), n, planes, H, H, 0);
    nn_bmap t2p = bmap(t2.data + floats(n, planes, H, H, 0), n, planes, Ho, Ho, 0);
    clip_status st = conv(model, &blk->conv1, x, NULL, 1, &t1);
    if (st == CLIP_OK) st = conv(model, &blk->conv2, &t1, NULL, 1, &t2);
    const nn_bmap *t3_in = &t2;
    if (st == CLIP_OK && stride > 1) {
        nn_avgpool_blocked(&model->nn, &t2, stride, &t2p);
        t3_in = &t2p;
    }
    const nn_bmap *identity = x;
    nn_bmap pooled_x, ident;
    if (st == CLIP_OK && blk->has_downsample) {
        pooled_x = bmap(t2p.data + floats(n, planes, Ho, Ho, 0), n, x->C, Ho, Ho, 0);
        ident = bmap(pooled_x.data + floats(n, x->C, Ho, Ho, 0), n, blk->conv3.out_channels, Ho, Ho, 0);
        const nn_bmap *src = x;
        if (stride > 1) {
            nn_avgpool_blocked(&model->nn, x, stride, &pooled_x);
            src = &pooled_x;
        }
        st = conv(model, &blk->downsample, src, NULL, 0, &ident);
        identity = &ident;
    }
    if (st == CLIP_OK) st = conv(model, &blk->conv3, t3_in, identity, 1, out);
    return st;
}

clip_status resnet_forward_blocked(clip_model *model, const float *pixels, int n, float *features,
                                   const clip_trace *trace) {
    const resnet_tower *r = &model->resnet;
    int R = r->resolution, w = r->width;
    /* Ping-pong maps sized for the largest stage output (or the stem's). */
    size_t map_floats = floats(n, w, R / 4, R / 4, 0), work_floats = stem_floats(r, n);
    for (int i = 0, H = R / 4; i < r->n_blocks; i++) {
        const bottleneck *blk = &r->blocks[i];
        size_t f = block_floats(blk, n, H);
        if (f > work_floats) work_floats = f;
        H /= blk->stride;
        f = floats(n, blk->conv3.out_channels, H, H, 0);
        if (f > map_floats) map_floats = f;
    }
    int owned;
    float *arena = model_arena_take(model, 2 * map_floats + work_floats, &owned);
    if (!arena) return clip_fail(CLIP_ERR_NO_MEMORY, "image tower: out of memory");
    float *cur_data = arena, *next_data = arena + map_floats, *work = arena + 2 * map_floats;
    int H = R / 4;
    nn_bmap cur = bmap(cur_data, n, w, H, H, 0);
    clip_status st = stem(model, pixels, n, work, &cur);
    if (st == CLIP_OK) emit(trace, "visual.stem", &cur);
    int block = 0;
    for (int stage = 0; stage < 4 && st == CLIP_OK; stage++) {
        for (int i = 0; i < r->stage_blocks[stage] && st == CLIP_OK; i++, block++) {
            const bottleneck *blk = &r->blocks[block];
            H /= blk->stride;
            nn_bmap next = bmap(next_data, n, blk->conv3.out_channels, H, H, 0);
            st = bottleneck_forward(model, blk, &cur, work, &next);
            float *tmp = cur_data;
            cur_data = next_data;
            next_data = tmp;
            cur = next;
        }
        if (st == CLIP_OK && trace) {
            char name[32];
            snprintf(name, sizeof name, "visual.layer%d", stage + 1);
            emit(trace, name, &cur);
        }
    }
    if (st == CLIP_OK) {
        float *tokens = malloc((size_t)n * cur.H * cur.W * cur.C * sizeof(float));
        if (!tokens) st = clip_fail(CLIP_ERR_NO_MEMORY, "image tower: out of memory in attention pool");
        if (tokens) nn_bmap_to_tokens(&cur, tokens);
        if (st == CLIP_OK) st = resnet_attention_pool(model, tokens, n, features);
        free(tokens);
    }
    if (st == CLIP_OK) {
        int64_t shape[2] = {n, model->info.embed_dim};
        trace_emit(trace, "visual.attnpool", features, 2, shape);
    }
    model_arena_give(model, arena, owned);
    return st;
}
