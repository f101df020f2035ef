/* Convolution and average-pooling backward. A convolution is
 * weight[Cout, Cin k k] . im2col(x) (nn_conv2d's formulation), so per image
 * dW += dy . im2col(x)^T and dcol = W^T . dy, which col2im folds back onto
 * the input pixels. 1x1 stride-1 convolutions skip im2col/col2im. */
#include <string.h>

#include "train/train_ops.h"

typedef struct col_job {
    const float *x; /* im2col: source image; col2im: destination */
    float *dx;
    float *col;
    int Cin, H, W, k, stride, pad, Ho, Wo;
} col_job;

/* Rows (c, ky, kx), columns the output pixels, as nn_conv2d lays them out. */
static void im2col_task(void *raw, int c, int thread) {
    (void)thread;
    const col_job *j = raw;
    int k = j->k, Ho = j->Ho, Wo = j->Wo;
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
            float *dst = j->col + ((size_t)(c * k + ky) * k + kx) * Ho * Wo;
            for (int oy = 0; oy < Ho; oy++) {
                int iy = oy * j->stride - j->pad + ky;
                float *out = dst + (size_t)oy * Wo;
                if (iy < 0 || iy >= j->H) {
                    memset(out, 0, (size_t)Wo * sizeof(float));
                    continue;
                }
                const float *in = j->x + ((size_t)c * j->H + iy) * j->W;
                for (int ox = 0; ox < Wo; ox++) {
                    int ix = ox * j->stride - j->pad + kx;
                    out[ox] = (ix >= 0 && ix < j->W) ? in[ix] : 0.0f;
                }
            }
        }
}

static void col2im_task(void *raw, int c, int thread) {
    (void)thread;
    const col_job *j = raw;
    int k = j->k, Ho = j->Ho, Wo = j->Wo;
    float *plane = j->dx + (size_t)c * j->H * j->W;
    memset(plane, 0, (size_t)j->H * j->W * sizeof(float));
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
            const float *src = j->col + ((size_t)(c * k + ky) * k + kx) * Ho * Wo;
            for (int oy = 0; oy < Ho; oy++) {
                int iy = oy * j->stride - j->pad + ky;
                if (iy < 0 || iy >= j->H) continue;
                float *row = plane + (size_t)iy * j->W;
                const float *in = src + (size_t)oy * Wo;
                for (int ox = 0; ox < Wo; ox++) {
                    int ix = ox * j->stride - j->pad + kx;
                    if (ix >= 0 && ix < j->W) row[ix] += in[ox];
                }
            }
        }
}

size_t tr_conv2d_backward_scratch(int Cin, int Cout, int H, int W, int kernel, int stride, int pad) {
    size_t col = (size_t)Cin * kernel * kernel * nn_conv_out_size(H, kernel, stride, pad) *
                 nn_conv_out_size(W, kernel, stride, pad);
    return 2 * col + (size_t)Cout * Cin * kernel * kernel;
}

void tr_conv2d_backward(const nn_ctx *ctx, const float *x, int B, int Cin, int H, int W, const float *weight,
                        int Cout, int kernel, int stride, int pad, const float *dy, float *dx, float *dweight,
                        float *scratch) {
    int Ho = nn_conv_out_size(H, kernel, stride, pad), Wo = nn_conv_out_size(W, kernel, stride, pad);
    int K = Cin * kernel * kernel, P = Ho * Wo;
    int direct = kernel == 1 && stride == 1 && pad == 0;
    float *col = scratch, *dcol = col + (size_t)K * P, *wt = dcol + (size_t)K * P;
    if (dx) tr_transpose(weight, Cout, K, K, wt);
    for (int b = 0; b < B; b++) {
        const float *in = x + (size_t)b * Cin * H * W, *dyb = dy + (size_t)b * Cout * P;
        float *dxb = dx ? dx + (size_t)b * Cin * H * W : NULL;
        col_job job = {in, dxb, col, Cin, H, W, kernel, stride, pad, Ho, Wo};
        const float *cols = in;
        if (!direct) {
            clip_pool_run(ctx->pool, Cin, im2col_task, &job);
            cols = col;
        }
        if (dweight) nn_gemm(ctx, Cout, K, P, dyb, P, cols, P, NN_OUT_IN, 1.0f, dweight, K);
        if (!dxb) continue;
        if (direct) {
            nn_gemm(ctx, K, P, Cout, wt, Cout, dyb, P, NN_IN_OUT, 0.0f, dxb, P);
        } else {
            nn_gemm(ctx, K, P, Cout, wt, Cout, dyb, P, NN_IN_OUT, 0.0f, dcol, P);
            job.col = dcol;
            clip_pool_run(ctx->pool, Cin, col2im_task, &job);
        }
    }
}

typedef struct pool_job {
    const float *dy;
    float *dx;
    int H, W, k;
    float beta;
} pool_job;

static void avgpool_backward_task(void *raw, int plane, int thread) {
    (void)thread;
    const pool_job *j = raw;
    int Ho = j->H / j->k, Wo = j->W / j->k;
    const float *g = j->dy + (size_t)plane * Ho * Wo;
    float *out = j->dx + (size_t)plane * j->H * j->W;
    float share = 1.0f / (float)(j->k * j->k);
    for (int y = 0; y < j->H; y++)
        for (int x = 0; x < j->W; x++) {
            /* Pixels past the last whole window (H or W not divisible by k)
             * took no part in the forward. */
            float v = (y / j->k < Ho && x / j->k < Wo) ? g[(y / j->k) * Wo + x / j->k] * share : 0.0f;
            float *o = out + (size_t)y * j->W + x;
            *o = j->beta != 0.0f ? v + j->beta * *o : v;
        }
}

void tr_avgpool_backward(const nn_ctx *ctx, const float *dy, int B, int C, int H, int W, int k, float *dx,
                         float beta) {
    pool_job job = {dy, dx, H, W, k, beta};
    clip_pool_run(ctx->pool, B * C, avgpool_backward_task, &job);
}
