#include <math.h>

#include "nn/nn.h"

typedef struct batchnorm_job {
    float *x;
    int C, HW;
    const float *mean, *var, *gamma, *beta;
    float eps;
    int relu;
} batchnorm_job;

static void batchnorm_task(void *raw, int task, int thread) {
    (void)thread;
    const batchnorm_job *j = raw;
    int c = task % j->C;
    float *plane = j->x + (size_t)task * j->HW;
    /* Same arithmetic as PyTorch's eval batch norm: scale and shift
     * precomputed per channel. */
    float inv_std = 1.0f / sqrtf(j->var[c] + j->eps);
    float scale = j->gamma[c] * inv_std;
    float shift = j->beta[c] - j->mean[c] * scale;
    for (int i = 0; i < j->HW; i++) {
        float v = plane[i] * scale + shift;
        plane[i] = (j->relu && v < 0) ? 0.0f : v;
    }
}

void nn_batchnorm_eval(const nn_ctx *ctx, float *x, int B, int C, int HW, const float *mean,
                       const float *var, const float *gamma, const float *beta, float eps, int relu) {
    batchnorm_job job = {x, C, HW, mean, var, gamma, beta, eps, relu};
    clip_pool_run(ctx->pool, B * C, batchnorm_task, &job);
}

typedef struct avgpool_job {
    const float *x;
    float *y;
    int H, W, k;
} avgpool_job;

static void avgpool_task(void *raw, int task, int thread) {
    (void)thread;
    const avgpool_job *j = raw;
    int Ho = j->H / j->k, Wo = j->W / j->k;
    const float *in = j->x + (size_t)task * j->H * j->W;
    float *out = j->y + (size_t)task * Ho * Wo;
    for (int oy = 0; oy < Ho; oy++) {
        for (int ox = 0; ox < Wo; ox++) {
            float sum = 0;
            for (int ky = 0; ky < j->k; ky++)
                for (int kx = 0; kx < j->k; kx++) sum += in[(size_t)(oy * j->k + ky) * j->W + ox * j->k + kx];
            out[oy * Wo + ox] = sum / (float)(j->k * j->k);
        }
    }
}

void nn_avgpool(const nn_ctx *ctx, const float *x, int B, int C, int H, int W, int k, float *y) {
    avgpool_job job = {x, y, H, W, k};
    clip_pool_run(ctx->pool, B * C, avgpool_task, &job);
}
