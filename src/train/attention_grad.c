/* Attention backward, one (sequence, head) per task on one thread. The
 * probabilities are recomputed (scale Q K^T, softmax) rather than stored by
 * the forward: for CLIP's short sequences that is a small fraction of the
 * block's work and saves L^2 floats per head and layer. Loops are written
 * as axpy updates over contiguous rows (K and V transposed first) so the
 * compiler vectorises them without reassociating sums. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_ops.h"

/* Where the compiler can, the task is also built for AVX2 and AVX-512
 * (picked at load time): the build's baseline is SSE2. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

static inline void axpy(float *restrict y, float a, const float *restrict x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

typedef struct attn_grad_job {
    const float *qkv, *dout;
    float *dqkv;
    int B, L, W, heads, causal;
    float *scratch;
    size_t per_thread;
} attn_grad_job;

VECTOR_CLONES static void attn_grad_task(void *raw, int task, int thread) {
    const attn_grad_job *j = raw;
    int L = j->L, W = j->W, d = W / j->heads, b = task / j->heads, h = task % j->heads;
    size_t ld = (size_t)3 * W;
    const float *q = j->qkv + (size_t)b * L * ld + (size_t)h * d, *k = q + W, *v = q + 2 * W;
    const float *dout = j->dout + (size_t)b * L * W + (size_t)h * d;
    float *dq = j->dqkv + (size_t)b * L * ld + (size_t)h * d, *dk = dq + W, *dv = dq + 2 * W;
    float *P = j->scratch + (size_t)thread * j->per_thread, *dP = P + (size_t)L * L;
    float *kt = dP + (size_t)L * L, *vt = kt + (size_t)d * L, *dk_acc = vt + (size_t)d * L;
    float *dv_acc = dk_acc + (size_t)L * d;
    float scale = 1.0f / sqrtf((float)d);

    for (int t = 0; t < L; t++)
        for (int c = 0; c < d; c++) {
            kt[(size_t)c * L + t] = k[t * ld + c];
            vt[(size_t)c * L + t] = v[t * ld + c];
        }
    memset(dk_acc, 0, (size_t)2 * L * d * sizeof(float));

    for (int i = 0; i < L; i++) {
        int n = j->causal ? i + 1 : L;
        float *p = P + (size_t)i * L, *dp = dP + (size_t)i * L;
        const float *qi = q + i * ld, *doi = dout + (size_t)i * W;
        for (int t = 0; t < n; t++) p[t] = dp[t] = 0.0f;
        for (int c = 0; c < d; c++) {
            axpy(p, qi[c], kt + (size_t)c * L, n);
            axpy(dp, doi[c], vt + (size_t)c * L, n);
        }
        float max = -INFINITY;
        for (int t = 0; t < n; t++) {
            p[t] *= scale;
            if (p[t] > max) max = p[t];
        }
        double sum = 0;
        for (int t = 0; t < n; t++) {
            p[t] = expf(p[t] - max);
            sum += p[t];
        }
        float inv = (float)(1.0 / sum);
        double dot = 0;
        for (int t = 0; t < n; t++) {
            p[t] *= inv;
            dot += (double)p[t] * dp[t];
        }
        /* dS = P (dP - sum_t P dP), scaled here once for dQ and dK. */
        float fdot = (float)dot;
        for (int t = 0; t < n; t++) dp[t] = p[t] * (dp[t] - fdot) * scale;

        float *dqi = dq + i * ld;
        for (int c = 0; c < d; c++) dqi[c] = 0.0f;
        for (int t = 0; t < n; t++) {
            axpy(dqi, dp[t], k + t * ld, d);
            axpy(dk_acc + (size_t)t * d, dp[t], qi, d);
            axpy(dv_acc + (size_t)t * d, p[t], doi, d);
        }
    }
    for (int t = 0; t < L; t++) {
        memcpy(dk + t * ld, dk_acc + (size_t)t * d, (size_t)d * sizeof(float));
        memcpy(dv + t * ld, dv_acc + (size_t)t * d, (size_t)d * sizeof(float));
    }
}

void tr_attention_backward(const nn_ctx *ctx, const float *qkv, int B, int L, int W, int heads, int causal,
                           const float *dout, float *dqkv) {
    int d = W / heads, threads = clip_pool_size(ctx->pool);
    size_t per_thread = (size_t)2 * L * L + (size_t)4 * L * d + 16;
    float *scratch = malloc(per_thread * threads * sizeof(float));
    if (!scratch) abort(); /* like the nn ops: no error path; about 1 MiB per thread */
    attn_grad_job job = {qkv, dout, dqkv, B, L, W, heads, causal, scratch, per_thread};
    clip_pool_run(ctx->pool, B * heads, attn_grad_task, &job);
    free(scratch);
}
