/* Matrix products on the packed tile kernels (kernels.h).
 *
 * Loop order, per thread: B panels (nr columns, the whole K) outermost,
 * A tiles inside, so a panel is fetched from memory once per block of A
 * rows and then served from L2 while every tile of the block uses it; the
 * block of packed A rows is sized to stay in L2 as well. Threads split the
 * panels (each keeps its share of the weights in its own cache) and walk
 * the row blocks together. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/kernels.h"
#include "nn/state.h"

/* Packed A rows per block: a quarter of a 2 MiB L2 (Sapphire Rapids;
 * Zen 4 has 1 MiB, where this is half). */
enum { A_BLOCK_BYTES = 512 * 1024, SMALL_WORK = 1 << 16 };

typedef struct gemm_plan {
    const nn_kernels *k;
    int M, N, K;
    const float *A;
    int lda;
    float *Ap; /* all tiles; tile t at Ap + tile_start(t) * K */
    const float *Bp;
    float *C;
    int ldc;
    const nn_epilogue *ep;
    int tiles, tiles_per_block, blocks;
    int panels, panels_per_chunk, chunks;
    int tiles_per_pack_task;
} gemm_plan;

static void pack_a_task(void *raw, int task, int thread) {
    (void)thread;
    const gemm_plan *p = raw;
    int t0 = task * p->tiles_per_pack_task;
    int t1 = t0 + p->tiles_per_pack_task < p->tiles ? t0 + p->tiles_per_pack_task : p->tiles;
    for (int t = t0; t < t1; t++) {
        int r0 = nn_tile_start(p->M, p->tiles, t), r1 = nn_tile_start(p->M, p->tiles, t + 1);
        nn_pack_a_tile(r1 - r0, p->K, p->A + (size_t)r0 * p->lda, p->lda, p->Ap + (size_t)r0 * p->K);
    }
}

static void compute_task(void *raw, int task, int thread) {
    (void)thread;
    const gemm_plan *p = raw;
    const nn_kernels *k = p->k;
    const nn_epilogue *ep = p->ep;
    int block = task / p->chunks, chunk = task % p->chunks;
    int t0 = block * p->tiles_per_block, t1 = t0 + p->tiles_per_block < p->tiles ? t0 + p->tiles_per_block : p->tiles;
    int q0 = chunk * p->panels_per_chunk;
    int q1 = q0 + p->panels_per_chunk < p->panels ? q0 + p->panels_per_chunk : p->panels;
    int panel_lines = (int)((size_t)k->nr * p->K * sizeof(float) / 64), share = (panel_lines + t1 - t0 - 1) / (t1 - t0);
    for (int q = q0; q < q1; q++) {
        const float *Bp = p->Bp + (size_t)q * k->nr * p->K;
        int n0 = q * k->nr, nr = p->N - n0 < k->nr ? p->N - n0 : k->nr;
        /* Each tile prefetches its share of the next panel (none after the
         * chunk's last: another thread's). */
        const char *next = q + 1 < q1 ? (const char *)(Bp + (size_t)k->nr * p->K) : NULL;
        for (int t = t0; t < t1; t++) {
            int r0 = nn_tile_start(p->M, p->tiles, t), r1 = nn_tile_start(p->M, p->tiles, t + 1);
            int first = (t - t0) * share, lines = panel_lines - first < share ? panel_lines - first : share;
            k->tile(r1 - r0, nr, p->K, p->Ap + (size_t)r0 * p->K, Bp, p->C + (size_t)r0 * p->ldc + n0, p->ldc, ep,
                    ep->bias ? ep->bias + n0 : NULL, ep->residual ? ep->residual + (size_t)r0 * ep->ldr + n0 : NULL,
                    next && lines > 0 ? next + (size_t)first * 64 : NULL, next && lines > 0 ? lines : 0);
        }
    }
}

static void plan_blocks(gemm_plan *p, int threads) {
    const nn_kernels *k = p->k;
    p->tiles = nn_tile_count(p->M, k->mr_max);
    size_t tile_bytes = (size_t)k->mr_max * p->K * sizeof(float);
    p->tiles_per_block = (int)(A_BLOCK_BYTES / (tile_bytes ? tile_bytes : 1));
    if (p->tiles_per_block < 1) p->tiles_per_block = 1;
    if (p->tiles_per_block > p->tiles) p->tiles_per_block = p->tiles;
    p->blocks = (p->tiles + p->tiles_per_block - 1) / p->tiles_per_block;
    p->panels = (p->N + k->nr - 1) / k->nr;
    p->chunks = 1;
    if (threads > 1 && (int64_t)p->M * p->N * p->K >= SMALL_WORK) {
        /* Panels split across threads, four chunks per thread so that a
         * thread the OS leaves waiting (a shared machine) delays little:
         * the others take its chunks. With too few panels for that, the
         * row blocks (made smaller) carry the parallelism instead. */
        p->chunks = p->panels < 4 * threads ? p->panels : 4 * threads;
        if (p->chunks < threads && p->blocks < threads) {
            p->tiles_per_block = (p->tiles + threads - 1) / threads;
            p->blocks = (p->tiles + p->tiles_per_block - 1) / p->tiles_per_block;
        }
    }
    p->panels_per_chunk = (p->panels + p->chunks - 1) / p->chunks;
    p->chunks = (p->panels + p->panels_per_chunk - 1) / p->panels_per_chunk;
    p->tiles_per_pack_task = threads > 1 ? (p->tiles + 2 * threads - 1) / (2 * threads) : p->tiles;
    if (p->tiles_per_pack_task < 1) p->tiles_per_pack_task = 1;
}

/* The one entry point: B is packed through the context's cache when it is
 * a weight (b_is_weight) and the context has a state, per call otherwise. */
static void gemm_run(const nn_ctx *ctx, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                     nn_weight_layout layout, int b_is_weight, const nn_epilogue *ep, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    const nn_kernels *k = nn_kernels_active();
    int threads = clip_pool_size(ctx->pool);
    gemm_plan p = {.k = k, .M = M, .N = N, .K = K, .A = A, .lda = lda, .C = C, .ldc = ldc, .ep = ep};
    plan_blocks(&p, threads);

    nn_state *s = ctx->state;
    if (s) nn_state_lock(s);
    const float *Bp = (s && b_is_weight) ? nn_state_packed_weight(s, ctx, k, B, ldb, layout, N, K) : NULL;
    size_t a_floats = (size_t)M * K, b_floats = Bp ? 0 : nn_packed_b_floats(k, N, K);
    size_t a_alloc = (a_floats + 15) / 16 * 16;
    float *scratch = s ? nn_state_scratch(s, a_alloc + b_floats) : NULL;
    float *owned = NULL;
    if (!scratch) scratch = owned = nn_alloc_floats(a_alloc + b_floats);
    if (!scratch) abort(); /* the ops have no error path; a few MiB of scratch */
    p.Ap = scratch;
    if (!Bp) {
        float *packed = scratch + a_alloc;
        nn_pack_b_parallel(ctx, k, N, K, B, ldb, layout, packed);
        Bp = packed;
    }
    p.Bp = Bp;
    clip_pool_run(ctx->pool, (p.tiles + p.tiles_per_pack_task - 1) / p.tiles_per_pack_task, pack_a_task, &p);
    clip_pool_run(ctx->pool, p.blocks * p.chunks, compute_task, &p);
    free(owned);
    if (s) nn_state_unlock(s);
}

void nn_gemm(const nn_ctx *ctx, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
             nn_weight_layout b_layout, float beta, float *C, int ldc) {
    nn_epilogue ep = {.alpha = 1.0f, .beta = beta};
    gemm_run(ctx, M, N, K, A, lda, B, ldb, b_layout, 0, &ep, C, ldc);
}

void nn_linear_ex(const nn_ctx *ctx, const float *x, int ldx, int M, int K, const float *w, nn_weight_layout layout,
                  int N, const float *bias, nn_activation act, const float *residual, int ldr, float *y, int ldy) {
    nn_epilogue ep = {.alpha = 1.0f, .bias = bias, .act = act, .residual = residual, .ldr = ldr};
    gemm_run(ctx, M, N, K, x, ldx, w, layout == NN_OUT_IN ? K : N, layout, 1, &ep, y, ldy);
}

void nn_linear(const nn_ctx *ctx, const float *x, int M, int K, const float *w, nn_weight_layout layout, int N,
               const float *bias, nn_activation act, const float *residual, float *y) {
    nn_linear_ex(ctx, x, K, M, K, w, layout, N, bias, act, residual, N, y, N);
}

size_t nn_gemm_local_scratch_floats(const nn_kernels *k, int M, int N, int K) {
    return ((size_t)M * K + 15) / 16 * 16 + nn_packed_b_floats(k, N, K);
}

void nn_gemm_local(const nn_kernels *k, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                   nn_weight_layout layout, const nn_epilogue *ep, float *C, int ldc, float *scratch) {
    if (M <= 0 || N <= 0) return;
    gemm_plan p = {.k = k, .M = M, .N = N, .K = K, .A = A, .lda = lda, .C = C, .ldc = ldc, .ep = ep};
    plan_blocks(&p, 1);
    p.Ap = scratch;
    float *Bp = scratch + ((size_t)M * K + 15) / 16 * 16;
    nn_pack_b(k, N, K, B, ldb, layout, 0, p.panels, Bp);
    p.Bp = Bp;
    pack_a_task(&p, 0, 0);
    for (int b = 0; b < p.blocks; b++) compute_task(&p, b, 0);
}
