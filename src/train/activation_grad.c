/* QuickGELU backward: y = u * s with s = sigmoid(1.702 u), so
 * dy/du = s + 1.702 u s (1 - s). */
#include <math.h>

#include "train/train_ops.h"

enum { CHUNK = 16384 };

typedef struct gelu_job {
    const float *u;
    float *d;
    size_t n;
} gelu_job;

static void gelu_task(void *raw, int task, int thread) {
    (void)thread;
    const gelu_job *j = raw;
    size_t i0 = (size_t)task * CHUNK, i1 = i0 + CHUNK < j->n ? i0 + CHUNK : j->n;
    for (size_t i = i0; i < i1; i++) {
        float u = j->u[i], s = 1.0f / (1.0f + expf(-1.702f * u));
        j->d[i] *= s + 1.702f * u * s * (1.0f - s);
    }
}

void tr_quickgelu_backward(const nn_ctx *ctx, const float *u, float *d, size_t n) {
    gelu_job job = {u, d, n};
    clip_pool_run(ctx->pool, (int)((n + CHUNK - 1) / CHUNK), gelu_task, &job);
}
