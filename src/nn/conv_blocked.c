/* Convolutions on blocked (NCHW16c) maps: direct, with the weights packed
 * once per group of 32 output channels, tiles of up to 14 pixels of one
 * output row (or two rows of a small map) (conv_blocked_avx512.c). The im2col path (conv.c) gathers
 * every input value into a panel before the product; at RN50's sizes
 * most of that time was waiting for the first load of each channel row,
 * which the blocked layout turns into sequential reads. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/conv_blocked.h"
#include "nn/kernels.h"
#include "nn/state.h"

enum { GROUP_CHANNELS = 16 * NN_BCONV_GROUP_BLOCKS, PACK_TAG = NN_PACK_TAG_CUSTOM + 1 };
/* The part of a 2 MiB L2 (Sapphire Rapids) a convolution's packed weights
 * may take and still stay there across images. */
#define L2_SHARE_BYTES ((size_t)1024 * 1024)

static size_t plane_floats(const nn_bmap *m) {
    return (size_t)(m->H + 2 * m->border) * (size_t)(m->W + 2 * m->border) * 16;
}
static size_t row_floats(const nn_bmap *m) { return (size_t)(m->W + 2 * m->border) * 16; }
static size_t image_floats(const nn_bmap *m) { return (size_t)(m->C / 16) * plane_floats(m); }
/* Block cb of image b at interior pixel (0, 0). */
static float *block_at(const nn_bmap *m, int b, int cb) {
    return m->data + (size_t)b * image_floats(m) + (size_t)cb * plane_floats(m) +
           (size_t)m->border * row_floats(m) + (size_t)m->border * 16;
}

size_t nn_bmap_floats(int n, int C, int H, int W, int border) {
    nn_bmap m = {NULL, n, C, H, W, border};
    return (size_t)n * image_floats(&m);
}

int nn_conv_blocked_available(const nn_ctx *ctx) {
    return ctx->weight_dtype == NN_F32 && strcmp(nn_kernels_active()->name, "avx512") == 0;
}

static void zero_border(const nn_bmap *m) {
    if (m->border == 0) return;
    size_t row = row_floats(m), edge = (size_t)m->border * 16;
    for (int b = 0; b < m->n; b++)
        for (int cb = 0; cb < m->C / 16; cb++) {
            float *plane = m->data + (size_t)b * image_floats(m) + (size_t)cb * plane_floats(m);
            memset(plane, 0, m->border * row * sizeof(float));
            memset(plane + (size_t)(m->border + m->H) * row, 0, m->border * row * sizeof(float));
            for (int y = 0; y < m->H; y++) {
                float *r = plane + (size_t)(m->border + y) * row;
                memset(r, 0, edge * sizeof(float));
                memset(r + row - edge, 0, edge * sizeof(float));
            }
        }
}

/* weight [Cout, Cin, k, k] -> per group of 32 output channels (at
 * g * 32 * K): [cb][kh][kw][i][nb][16], input channel cb * 16 + i. */
typedef struct pack_shape {
    int Cout, Cin, k;
} pack_shape;

static void pack_weight(const float *w, void *arg, float *dst) {
    const pack_shape *s = arg;
    int k = s->k, kk = k * k, K = s->Cin * kk, blocks = s->Cout / 16;
    for (int g = 0; g * NN_BCONV_GROUP_BLOCKS < blocks; g++) {
        int nb = blocks - g * NN_BCONV_GROUP_BLOCKS;
        if (nb > NN_BCONV_GROUP_BLOCKS) nb = NN_BCONV_GROUP_BLOCKS;
        float *out = dst + (size_t)g * GROUP_CHANNELS * K;
        for (int cb = 0; cb < s->Cin / 16; cb++)
            for (int t = 0; t < kk; t++)
                for (int i = 0; i < 16; i++)
                    for (int o = 0; o < nb * 16; o++) {
                        int oc = g * GROUP_CHANNELS + o, ic = cb * 16 + i;
                        *out++ = w[((size_t)oc * s->Cin + ic) * kk + t];
                    }
    }
}

typedef struct bconv_job {
    const nn_bmap *x, *residual, *y;
    const float *packed, *scale, *shift;
    int k, stride, pad, relu, groups, row_chunks;
    int per_image; /* tasks per image (images outer), or 0 (groups outer) */
} bconv_job;

/* Group g of output channels, rows [oh0, oh1) of one image or of every
 * image: the group's weights are read back from L2 for every tile after
 * the first. */
static void bconv_task(void *raw, int task, int thread) {
    (void)thread;
    const bconv_job *j = raw;
    const nn_bmap *x = j->x, *y = j->y, *r = j->residual;
    int b0 = 0, b1 = y->n;
    if (j->per_image) {
        b0 = task / j->per_image;
        b1 = b0 + 1;
        task %= j->per_image;
    }
    int g = task / j->row_chunks, chunk = task % j->row_chunks;
    int oh0 = (int)((long long)y->H * chunk / j->row_chunks), oh1 = (int)((long long)y->H * (chunk + 1) / j->row_chunks);
    int nb = y->C / 16 - g * NN_BCONV_GROUP_BLOCKS;
    if (nb > NN_BCONV_GROUP_BLOCKS) nb = NN_BCONV_GROUP_BLOCKS;
    int K = x->C * j->k * j->k, tiles = (y->W + NN_BCONV_MAX_PIXELS - 1) / NN_BCONV_MAX_PIXELS;
    int pairs = y->W <= NN_BCONV_MAX_ROW_PAIR; /* two rows of a small map per tile */
    nn_bconv_tile t = {.in_plane = plane_floats(x), .in_row = row_floats(x), .cblocks = x->C / 16, .k = j->k,
                       .w = j->packed + (size_t)g * GROUP_CHANNELS * K,
                       .out_plane = plane_floats(y), .out_row = row_floats(y),
                       .res_plane = r ? plane_floats(r) : 0, .res_row = r ? row_floats(r) : 0,
                       .scale = j->scale + g * GROUP_CHANNELS, .shift = j->shift + g * GROUP_CHANNELS,
                       .relu = j->relu};
    /* Each tile of this task prefetches its share of the next group. */
    int groups = j->groups;
    int task_rows = oh1 - oh0, task_tiles = (b1 - b0) * tiles * (pairs ? (task_rows + 1) / 2 : task_rows);
    int next_blocks = y->C / 16 - (g + 1) * NN_BCONV_GROUP_BLOCKS; /* the last group may hold one block */
    if (next_blocks > NN_BCONV_GROUP_BLOCKS) next_blocks = NN_BCONV_GROUP_BLOCKS;
    size_t next_lines = g + 1 < groups ? (size_t)next_blocks * 16 * K * sizeof(float) / 64 : 0;
    const char *next = next_lines ? (const char *)(j->packed + (size_t)(g + 1) * GROUP_CHANNELS * K) : NULL;
    size_t share = task_tiles > 0 ? (next_lines + task_tiles - 1) / task_tiles : 0;
    int tile_index = 0;
    for (int b = b0; b < b1; b++) {
        const float *in0 = block_at(x, b, 0);
        float *out0 = block_at(y, b, g * NN_BCONV_GROUP_BLOCKS);
        const float *res0 = r ? block_at(r, b, g * NN_BCONV_GROUP_BLOCKS) : NULL;
        for (int oh = oh0; oh < oh1;) {
            int rows = pairs && oh + 1 < oh1 ? 2 : 1;
            for (int c = 0; c < tiles; c++) {
                /* Near-equal tiles: 18 pixels are 9 + 9, not 14 + 4. */
                int ow0 = y->W * c / tiles, npr = y->W * (c + 1) / tiles - ow0;
                t.in = in0 + (ptrdiff_t)(oh * j->stride - j->pad) * (ptrdiff_t)t.in_row +
                       (ptrdiff_t)(ow0 * j->stride - j->pad) * 16;
                t.out = out0 + (size_t)oh * t.out_row + (size_t)ow0 * 16;
                t.residual = res0 ? res0 + (size_t)oh * t.res_row + (size_t)ow0 * 16 : NULL;
                size_t first = (size_t)tile_index++ * share;
                t.pf_lines = first < next_lines ? (int)(next_lines - first < share ? next_lines - first : share) : 0;
                t.pf = t.pf_lines ? next + first * 64 : NULL;
                nn_bconv_tile_avx512(&t, nb, rows, npr);
            }
            oh += rows;
        }
    }
}

clip_status nn_conv2d_bn_blocked(const nn_ctx *ctx, const nn_bmap *x, const float *weight, int Cout, int kernel,
                                 int stride, int pad, const float *mean, const float *var, const float *gamma,
                                 const float *beta, float eps, const nn_bmap *residual, int relu, const nn_bmap *y) {
    if (stride != 1 || x->C % 16 || Cout % 16 || y->C != Cout || x->border < pad || y->n != x->n ||
        y->H != nn_conv_out_size(x->H, kernel, stride, pad) || y->W != nn_conv_out_size(x->W, kernel, stride, pad) ||
        (residual && (residual->n != y->n || residual->C != Cout || residual->H != y->H || residual->W != y->W)))
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "blocked convolution: shapes do not fit");
    size_t K = (size_t)x->C * kernel * kernel, packed_floats = (size_t)Cout * K;
    float *affine = nn_bn_affine(mean, var, gamma, beta, eps, Cout);
    if (!affine) return clip_fail(CLIP_ERR_NO_MEMORY, "convolution: out of memory");
    pack_shape shape = {Cout, x->C, kernel};
    nn_state *s = ctx->state;
    float *owned = NULL;
    const float *packed;
    if (s) {
        nn_state_lock(s);
        packed = nn_state_packed_custom(s, ctx, weight, PACK_TAG + kernel, Cout, (int)K, packed_floats,
                                        pack_weight, &shape);
    } else {
        packed = owned = nn_alloc_floats(packed_floats);
        if (owned) pack_weight(weight, &shape, owned);
    }
    if (!packed) {
        if (s) nn_state_unlock(s);
        free(affine);
        return clip_fail(CLIP_ERR_NO_MEMORY, "convolution: out of memory packing a %dx%zu weight", Cout, K);
    }
    zero_border(y);
    int groups = (Cout / 16 + NN_BCONV_GROUP_BLOCKS - 1) / NN_BCONV_GROUP_BLOCKS;
    int threads = clip_pool_solo(ctx->pool) ? 1 : clip_pool_size(ctx->pool);
    /* One thread: a task per group (its weights stay in L2 over all rows);
     * more: enough row chunks that each thread gets four tasks. */
    int row_chunks = threads <= 1 ? 1 : (4 * threads + groups - 1) / groups;
    if (row_chunks > y->H) row_chunks = y->H;
    /* Weights that fit L2 beside one image's maps stay there while the
     * images pass (a batch's early maps are too large to be read once per
     * group); larger ones (layer3-4) are read once, a group at a time,
     * over every image. */
    int images_outer = packed_floats * sizeof(float) <= L2_SHARE_BYTES;
    bconv_job job = {x, residual, y, packed, affine, affine + Cout, kernel, stride, pad, relu, groups, row_chunks,
                     images_outer ? groups * row_chunks : 0};
    clip_pool_run(ctx->pool, (images_outer ? x->n : 1) * groups * row_chunks, bconv_task, &job);
    if (s) nn_state_unlock(s);
    free(owned);
    free(affine);
    return CLIP_OK;
}

typedef struct bpool_job {
    const nn_bmap *x, *y;
    int k;
} bpool_job;

static void bpool_task(void *raw, int task, int thread) {
    (void)thread;
    const bpool_job *j = raw;
    const nn_bmap *x = j->x, *y = j->y;
    int blocks = x->C / 16, b = task / blocks, cb = task % blocks, k = j->k;
    const float *in = block_at(x, b, cb);
    float *out = block_at(y, b, cb);
    size_t in_row = row_floats(x), out_row = row_floats(y);
    float div = (float)(k * k);
    for (int oy = 0; oy < y->H; oy++)
        for (int ox = 0; ox < y->W; ox++) {
            float sum[16] = {0};
            /* nn_avgpool's order, lane by lane, so both layouts agree. */
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    const float *v = in + (size_t)(oy * k + ky) * in_row + (size_t)(ox * k + kx) * 16;
                    for (int l = 0; l < 16; l++) sum[l] += v[l];
                }
            float *o = out + (size_t)oy * out_row + (size_t)ox * 16;
            for (int l = 0; l < 16; l++) o[l] = sum[l] / div;
        }
}

void nn_avgpool_blocked(const nn_ctx *ctx, const nn_bmap *x, int k, const nn_bmap *y) {
    zero_border(y);
    bpool_job job = {x, y, k};
    clip_pool_run(ctx->pool, x->n * (x->C / 16), bpool_task, &job);
}

void nn_bmap_from_cm(const float *x, const nn_bmap *y) {
    zero_border(y);
    size_t plane = (size_t)y->H * y->W, row = row_floats(y);
    for (int c = 0; c < y->C; c++)
        for (int b = 0; b < y->n; b++) {
            const float *src = x + ((size_t)c * y->n + b) * plane;
            float *dst = block_at(y, b, c / 16) + c % 16;
            for (int yy = 0; yy < y->H; yy++)
                for (int xx = 0; xx < y->W; xx++) dst[(size_t)yy * row + (size_t)xx * 16] = src[(size_t)yy * y->W + xx];
        }
}

void nn_bmap_to_nchw(const nn_bmap *x, float *y) {
    size_t plane = (size_t)x->H * x->W, row = row_floats(x);
    for (int b = 0; b < x->n; b++)
        for (int c = 0; c < x->C; c++) {
            const float *src = block_at(x, b, c / 16) + c % 16;
            float *dst = y + ((size_t)b * x->C + c) * plane;
            for (int yy = 0; yy < x->H; yy++)
                for (int xx = 0; xx < x->W; xx++) dst[(size_t)yy * x->W + xx] = src[(size_t)yy * row + (size_t)xx * 16];
        }
}

void nn_bmap_to_tokens(const nn_bmap *x, float *y) {
    size_t row = row_floats(x);
    for (int b = 0; b < x->n; b++)
        for (int cb = 0; cb < x->C / 16; cb++) {
            const float *src = block_at(x, b, cb);
            for (int yy = 0; yy < x->H; yy++)
                for (int xx = 0; xx < x->W; xx++) {
                    float *dst = y + (((size_t)b * x->H + yy) * x->W + xx) * x->C + cb * 16;
                    memcpy(dst, src + (size_t)yy * row + (size_t)xx * 16, 16 * sizeof(float));
                }
        }
}
