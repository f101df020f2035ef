/* BatchNorm2d in training mode (batch statistics) and the backward of both
 * modes, one channel per task. The arithmetic follows PyTorch's CPU kernels
 * (double accumulators, float per-channel mean and invstd, the output as
 * y * alpha + beta) so the forward lands within float32 noise of the
 * reference and the running statistics match it closely. */
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "dist/dist.h"

#include "train/train_ops.h"

typedef struct bn_job {
    const float *y, *gamma, *beta, *mean, *invstd, *out, *dout;
    float *dy, *dgamma, *dbeta;
    int B, C, HW, relu, train;
    float eps, momentum;
    double count; /* values per channel over every rank (sync) or this one */
    double *sum, *second; /* per channel: sum and centred sum of squares (forward), sum and dot (backward) */
    float *running_mean, *running_var, *save_mean, *save_invstd, *result;
} bn_job;

/* Synchronised BatchNorm (data-parallel training): the per-channel sums of
 * every rank are added before they are used, so each rank normalises with
 * the statistics of the global batch, as one process with the whole batch
 * would (PyTorch's SyncBatchNorm). The phases below run the same per-channel
 * arithmetic with or without the exchange in between. */
static clip_status exchange(const bn_job *j, int sync, double *values) {
    return sync ? dist_allreduce_sum_f64(values, (size_t)j->C) : CLIP_OK;
}

static void sum_task(void *raw, int c, int thread) {
    (void)thread;
    const bn_job *j = raw;
    size_t HW = (size_t)j->HW;
    double sum = 0;
    for (int b = 0; b < j->B; b++) {
        const float *p = j->y + ((size_t)b * j->C + c) * HW;
        for (size_t i = 0; i < HW; i++) sum += p[i];
    }
    j->sum[c] = sum;
}

static void variance_task(void *raw, int c, int thread) {
    (void)thread;
    const bn_job *j = raw;
    size_t HW = (size_t)j->HW;
    float mean = (float)(j->sum[c] / j->count);
    double var_sum = 0;
    for (int b = 0; b < j->B; b++) {
        const float *p = j->y + ((size_t)b * j->C + c) * HW;
        for (size_t i = 0; i < HW; i++) {
            float d = p[i] - mean;
            var_sum += d * d;
        }
    }
    j->second[c] = var_sum;
}

static void normalise_task(void *raw, int c, int thread) {
    (void)thread;
    const bn_job *j = raw;
    size_t HW = (size_t)j->HW;
    double n = j->count, var_sum = j->second[c];
    float mean = (float)(j->sum[c] / n);
    float invstd = (float)(1.0 / sqrt(var_sum / n + j->eps));
    j->save_mean[c] = mean;
    j->save_invstd[c] = invstd;
    double m = j->momentum;
    j->running_mean[c] = (float)(m * mean + (1 - m) * j->running_mean[c]);
    double unbiased = n > 1 ? var_sum / (n - 1) : var_sum;
    j->running_var[c] = (float)(m * unbiased + (1 - m) * j->running_var[c]);
    float alpha = invstd * j->gamma[c], shift = j->beta[c] - mean * alpha;
    for (int b = 0; b < j->B; b++) {
        const float *p = j->y + ((size_t)b * j->C + c) * HW;
        float *o = j->result + ((size_t)b * j->C + c) * HW;
        for (size_t i = 0; i < HW; i++) {
            float v = p[i] * alpha + shift;
            o[i] = (j->relu && v < 0) ? 0.0f : v;
        }
    }
}

clip_status tr_batchnorm_train_forward(const nn_ctx *ctx, const float *y, int B, int C, int HW, const float *gamma,
                                       const float *beta, float eps, float momentum, float *running_mean,
                                       float *running_var, float *save_mean, float *save_invstd, int relu, int sync,
                                       float *out) {
    double *stats = malloc(2 * (size_t)C * sizeof(double));
    if (!stats) return clip_fail(CLIP_ERR_NO_MEMORY, "batch norm: out of memory");
    bn_job job = {.y = y, .gamma = gamma, .beta = beta, .B = B, .C = C, .HW = HW, .relu = relu, .eps = eps,
                  .momentum = momentum, .running_mean = running_mean, .running_var = running_var,
                  .save_mean = save_mean, .save_invstd = save_invstd, .result = out, .sum = stats,
                  .second = stats + C};
    job.count = (double)B * HW * (sync ? dist_size() : 1);
    clip_pool_run(ctx->pool, C, sum_task, &job);
    clip_status st = exchange(&job, sync, job.sum);
    if (st == CLIP_OK) {
        clip_pool_run(ctx->pool, C, variance_task, &job);
        st = exchange(&job, sync, job.second);
    }
    if (st == CLIP_OK) clip_pool_run(ctx->pool, C, normalise_task, &job);
    free(stats);
    return st;
}

void tr_batchnorm_eval_invstd(const float *running_var, int C, float eps, float *invstd) {
    for (int c = 0; c < C; c++) invstd[c] = 1.0f / sqrtf(running_var[c] + eps);
}

static inline float masked(const bn_job *j, size_t at) {
    return (j->relu && !(j->out[at] > 0.0f)) ? 0.0f : j->dout[at];
}

static void backward_sums_task(void *raw, int c, int thread) {
    (void)thread;
    const bn_job *j = raw;
    size_t HW = (size_t)j->HW;
    float mean = j->mean[c], invstd = j->invstd[c];
    double sum = 0, dot = 0;
    for (int b = 0; b < j->B; b++) {
        size_t base = ((size_t)b * j->C + c) * HW;
        for (size_t i = 0; i < HW; i++) {
            float g = masked(j, base + i);
            sum += g;
            dot += (double)(j->y[base + i] - mean) * g;
        }
    }
    /* This rank's share: the trainer adds the ranks' parameter gradients later. */
    if (j->dgamma) j->dgamma[c] += (float)(dot * invstd);
    if (j->dbeta) j->dbeta[c] += (float)sum;
    j->sum[c] = sum;
    j->second[c] = dot;
}

static void backward_input_task(void *raw, int c, int thread) {
    (void)thread;
    const bn_job *j = raw;
    size_t HW = (size_t)j->HW;
    float mean = j->mean[c], invstd = j->invstd[c], w = j->gamma[c];
    if (j->train) {
        double n = j->count, k = j->second[c] * invstd * invstd / n, grad_mean = j->sum[c] / n;
        for (int b = 0; b < j->B; b++) {
            size_t base = ((size_t)b * j->C + c) * HW;
            for (size_t i = 0; i < HW; i++) {
                double centred = (double)(j->y[base + i] - mean) * k;
                j->dy[base + i] = (float)((masked(j, base + i) - grad_mean - centred) * invstd * w);
            }
        }
    } else {
        float scale = invstd * w;
        for (int b = 0; b < j->B; b++) {
            size_t base = ((size_t)b * j->C + c) * HW;
            for (size_t i = 0; i < HW; i++) j->dy[base + i] = masked(j, base + i) * scale;
        }
    }
}

clip_status tr_batchnorm_backward(const nn_ctx *ctx, const float *y, int B, int C, int HW, const float *gamma,
                                  const float *mean, const float *invstd, int train, int sync, const float *out,
                                  int relu, const float *dout, float *dy, float *dgamma, float *dbeta) {
    double *stats = malloc(2 * (size_t)C * sizeof(double));
    if (!stats) return clip_fail(CLIP_ERR_NO_MEMORY, "batch norm: out of memory");
    bn_job job = {.y = y, .gamma = gamma, .mean = mean, .invstd = invstd, .out = out, .dout = dout, .dy = dy,
                  .dgamma = dgamma, .dbeta = dbeta, .B = B, .C = C, .HW = HW, .relu = relu, .train = train,
                  .sum = stats, .second = stats + C};
    sync = sync && train;
    job.count = (double)B * HW * (sync ? dist_size() : 1);
    clip_pool_run(ctx->pool, C, backward_sums_task, &job);
    clip_status st = CLIP_OK;
    if (dy) {
        st = exchange(&job, sync, job.sum);
        if (st == CLIP_OK) st = exchange(&job, sync, job.second);
        if (st == CLIP_OK) clip_pool_run(ctx->pool, C, backward_input_task, &job);
    }
    free(stats);
    return st;
}
