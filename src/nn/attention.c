/* Attention per (sequence, head) task, on one thread: scores = scale Q K^T
 * and out = softmax(scores) V, both through the tile kernels with operands
 * packed into the task's private scratch (a few hundred KiB at most for
 * CLIP's sequence lengths), so nothing waits on the pool between steps.
 * On AVX-512, heads of width 64 over at most 80 positions (every CLIP
 * model at its native size) go to the fused kernel in attention_avx512.c
 * instead, which gives the same floats. */
#include <math.h>
#include <stdlib.h>

#include "nn/kernels.h"
#include "nn/state.h"

typedef struct attention_job {
    const nn_kernels *k;
    const float *q, *kk, *v;
    int ld, B, L, width, heads, causal;
    int fused; /* nn_attention_head_avx512 instead of the tile products */
    const int *rows; /* one query row per sequence (out [B, W]), or NULL for all */
    float *out;
    float *scores;  /* [L, L] per thread */
    float *pack;    /* pack_floats per thread */
    size_t pack_floats;
} attention_job;

static void attention_task(void *raw, int task, int thread) {
    const attention_job *j = raw;
    int b = task / j->heads, h = task % j->heads, d = j->width / j->heads, L = j->L;
    size_t seq = (size_t)b * L * j->ld + (size_t)h * d;
    float *scores = j->scores + (size_t)thread * L * L, *pack = j->pack + (size_t)thread * j->pack_floats;
    if (j->fused) {
        nn_attention_head_avx512(L, j->causal, 1.0f / sqrtf((float)d), j->q + seq, j->kk + seq, j->v + seq,
                                 (size_t)j->ld, j->out + (size_t)b * L * j->width + (size_t)h * d, (size_t)j->width,
                                 pack);
        return;
    }
    /* Queries [q0, q0 + M): every position, or the one asked for. Each
     * query row's sums are the same whichever rows share its product. */
    int q0 = j->rows ? j->rows[b] : 0, M = j->rows ? 1 : L;
    nn_epilogue scaled = {.alpha = 1.0f / sqrtf((float)d)};
    nn_gemm_local(j->k, M, L, d, j->q + seq + (size_t)q0 * j->ld, j->ld, j->kk + seq, j->ld, NN_OUT_IN, &scaled,
                  scores, L, pack);
    for (int i = 0; i < M; i++) {
        float *row = scores + (size_t)i * L;
        int n = j->causal ? q0 + i + 1 : L;
        j->k->softmax_row(row, n);
        for (int c = n; c < L; c++) row[c] = 0.0f;
    }
    nn_epilogue plain = {.alpha = 1.0f};
    float *out = j->out + (size_t)b * M * j->width + (size_t)h * d;
    nn_gemm_local(j->k, M, d, L, scores, L, j->v + seq, j->ld, NN_IN_OUT, &plain, out, j->width, pack);
}

size_t nn_attention_scratch_floats(const nn_ctx *ctx, int L) {
    return (size_t)clip_pool_size(ctx->pool) * L * L;
}

static void attention_run(const nn_ctx *ctx, const float *q, const float *k, const float *v, int ld, int B, int L,
                          int width, int heads, int causal, const int *rows, float *scratch, float *out) {
    const nn_kernels *kern = nn_kernels_active();
    int d = width / heads, threads = clip_pool_size(ctx->pool);
    size_t qk = nn_gemm_local_scratch_floats(kern, L, L, d), pv = nn_gemm_local_scratch_floats(kern, L, d, L);
    int fused = !rows && kern == &nn_kernels_avx512 && nn_attention_head_avx512_fits(L, d);
    size_t pack_floats = fused ? nn_attention_head_avx512_floats(L) + 16 : (qk > pv ? qk : pv) + 16;
    float *pack = nn_alloc_floats(pack_floats * threads);
    if (!pack) { /* the caller reports it (nn_take_failure) */
        nn_note_failure(pack_floats * threads * sizeof(float));
        return;
    }
    attention_job job = {kern, q, k, v, ld, B, L, width, heads, causal, fused, rows, out, scratch, pack, pack_floats};
    clip_pool_run(ctx->pool, B * heads, attention_task, &job);
    free(pack);
}

void nn_attention(const nn_ctx *ctx, const float *q, const float *k, const float *v, int ld, int B, int L,
                  int width, int heads, int causal, float *scratch, float *out) {
    attention_run(ctx, q, k, v, ld, B, L, width, heads, causal, NULL, scratch, out);
}

void nn_attention_rows(const nn_ctx *ctx, const float *q, const float *k, const float *v, int ld, int B, int L,
                       int width, int heads, int causal, const int *rows, float *scratch, float *out) {
    attention_run(ctx, q, k, v, ld, B, L, width, heads, causal, rows, scratch, out);
}
