/* QuickGELU backward: y = u * s with s = sigmoid(1.702 u), so
 * dy/du = s + 1.702 u s (1 - s). The forward's output g = u s is at hand
 * (the next layer's weight gradient needs it), so s = g / u costs a
 * division instead of an exponential; at u = 0, s = 1/2. */
#include "train/train_ops.h"

enum { CHUNK = 16384 };

/* Built for AVX-512 and AVX2 as well, picked at load time: the loop then
 * runs 16 or 8 values a step (the build's baseline is SSE2). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

typedef struct gelu_job {
    const float *u, *g;
    float *d;
    size_t n;
} gelu_job;

VECTOR_CLONES static void gelu_task(void *raw, int task, int thread) {
    (void)thread;
    const gelu_job *j = raw;
    size_t i0 = (size_t)task * CHUNK, i1 = i0 + CHUNK < j->n ? i0 + CHUNK : j->n;
    const float *restrict u = j->u, *restrict g = j->g;
    float *restrict d = j->d;
    for (size_t i = i0; i < i1; i++) {
        float s = u[i] != 0.0f ? g[i] / u[i] : 0.5f;
        d[i] *= s + 1.702f * u[i] * s * (1.0f - s);
    }
}

void tr_quickgelu_backward(const nn_ctx *ctx, const float *u, const float *g, float *d, size_t n) {
    gelu_job job = {u, g, d, n};
    clip_pool_run(ctx->pool, (int)((n + CHUNK - 1) / CHUNK), gelu_task, &job);
}
