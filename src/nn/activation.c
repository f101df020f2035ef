/* Element-wise public ops, on the active kernel table. */
#include <string.h>

#include "nn/kernels.h"

void nn_quickgelu(float *x, size_t n) { nn_kernels_active()->activate(x, n, NN_ACT_QUICKGELU); }

enum { GELU_CHUNK = 4096 }; /* 16 KiB: copied and activated while in L1 */

typedef struct gelu_copy_job {
    const float *x;
    float *y;
    size_t n;
} gelu_copy_job;

static void gelu_copy_task(void *raw, int task, int thread) {
    (void)thread;
    const gelu_copy_job *j = raw;
    size_t i0 = (size_t)task * GELU_CHUNK, len = j->n - i0 < GELU_CHUNK ? j->n - i0 : GELU_CHUNK;
    memcpy(j->y + i0, j->x + i0, len * sizeof(float));
    nn_kernels_active()->activate(j->y + i0, len, NN_ACT_QUICKGELU);
}

void nn_quickgelu_to(const nn_ctx *ctx, const float *x, float *y, size_t n) {
    gelu_copy_job job = {x, y, n};
    clip_pool_run(ctx->pool, (int)((n + GELU_CHUNK - 1) / GELU_CHUNK), gelu_copy_task, &job);
}

void nn_softmax_row(float *x, int n) { nn_kernels_active()->softmax_row(x, n); }
