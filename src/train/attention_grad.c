/* Attention backward, one (sequence, head) per task on one thread. The
 * probabilities are recomputed (scale Q K^T, softmax) rather than stored by
 * the forward: for CLIP's short sequences that is a small fraction of the
 * block's work and saves L^2 floats per head and layer. The five products
 * (S = Q K^T, dP = dO V^T, dQ = dS K, dK = dS^T Q, dV = P^T dO) run on the
 * packed tile kernels single-threaded (nn_gemm_local), which keep their sums
 * in registers; written as row updates they were load/store bound at a
 * third of the FMA rate (13% of a bf16 training step). A causal sequence
 * computes the full L x L products and zeroes the masked half: the tiles are
 * still faster than skipping it row by row. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/kernels.h"
#include "nn/state.h"
#include "train/train_ops.h"

typedef struct attn_grad_job {
    const nn_kernels *k;
    const float *qkv, *dout;
    float *dqkv;
    int B, L, W, heads, causal;
    float *scratch;
    size_t per_thread, gemm_scratch;
} attn_grad_job;

static void transpose_square(const float *src, int n, float *dst) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) dst[(size_t)j * n + i] = src[(size_t)i * n + j];
}

static void attn_grad_task(void *raw, int task, int thread) {
    const attn_grad_job *j = raw;
    const nn_kernels *k = j->k;
    int L = j->L, W = j->W, d = W / j->heads, b = task / j->heads, h = task % j->heads;
    int ld = 3 * W;
    const float *q = j->qkv + (size_t)b * L * ld + (size_t)h * d, *kk = q + W, *v = q + 2 * W;
    const float *dout = j->dout + (size_t)b * L * W + (size_t)h * d;
    float *dq = j->dqkv + (size_t)b * L * ld + (size_t)h * d, *dk = dq + W, *dv = dq + 2 * W;
    float *P = j->scratch + (size_t)thread * j->per_thread, *dP = P + (size_t)L * L, *T = dP + (size_t)L * L;
    float *gs = T + (size_t)L * L;
    float scale = 1.0f / sqrtf((float)d);
    nn_epilogue set = {.alpha = 1.0f};

    nn_gemm_local(k, L, L, d, q, ld, kk, ld, NN_OUT_IN, &set, P, L, gs);       /* S = Q K^T */
    nn_gemm_local(k, L, L, d, dout, W, v, ld, NN_OUT_IN, &set, dP, L, gs);     /* dP = dO V^T */
    for (int i = 0; i < L; i++) {
        int n = j->causal ? i + 1 : L;
        float *p = P + (size_t)i * L, *dp = dP + (size_t)i * L;
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
        for (int t = n; t < L; t++) p[t] = dp[t] = 0.0f; /* masked: no attention, no gradient */
    }
    nn_gemm_local(k, L, d, L, dP, L, kk, ld, NN_IN_OUT, &set, dq, ld, gs);     /* dQ = dS K */
    transpose_square(dP, L, T);
    nn_gemm_local(k, L, d, L, T, L, q, ld, NN_IN_OUT, &set, dk, ld, gs);       /* dK = dS^T Q */
    transpose_square(P, L, T);
    nn_gemm_local(k, L, d, L, T, L, dout, W, NN_IN_OUT, &set, dv, ld, gs);     /* dV = P^T dO */
}

void tr_attention_backward(const nn_ctx *ctx, const float *qkv, int B, int L, int W, int heads, int causal,
                           const float *dout, float *dqkv) {
    const nn_kernels *k = nn_kernels_active();
    int d = W / heads, threads = clip_pool_size(ctx->pool);
    size_t g1 = nn_gemm_local_scratch_floats(k, L, L, d), g2 = nn_gemm_local_scratch_floats(k, L, d, L);
    size_t gemm_scratch = g1 > g2 ? g1 : g2;
    size_t per_thread = ((size_t)3 * L * L + gemm_scratch + 15) / 16 * 16;
    float *scratch = nn_alloc_floats(per_thread * threads);
    if (!scratch) { /* the trainer reports it (nn_take_failure) */
        nn_note_failure(per_thread * threads * sizeof(float));
        return;
    }
    attn_grad_job job = {k, qkv, dout, dqkv, B, L, W, heads, causal, scratch, per_thread, gemm_scratch};
    clip_pool_run(ctx->pool, B * heads, attn_grad_task, &job);
    free(scratch);
}
