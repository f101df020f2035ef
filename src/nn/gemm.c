/* Matrix products on the packed tile kernels (kernels.h).
 *
 * Loop order, per thread: B panels (nr columns) outermost, then K blocks of
 * kc, then the A tiles of a row block, so a panel is fetched from memory
 * once per row block, each [kc][nr] piece of it is served from L1 to every
 * tile, and the row block of packed A stays in L2. Threads split the panels
 * (each keeps its share of the weights in its own cache) and walk the row
 * blocks together. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/kernels.h"
#include "nn/qkernels.h"
#include "nn/state.h"

/* Packed A rows per block: a quarter of a 2 MiB L2 (Sapphire Rapids;
 * Zen 4 has 1 MiB, where this is half). Up to A_ONE_BLOCK_BYTES, all of A
 * is one block instead: each block streams every weight panel through the
 * caches once, and at a small M (a ViT-B/32 image: 50 rows) the weights
 * come from memory, so a second block read c_proj's 9.4 MB twice (K = 3072:
 * 600 KB of packed A) and cost the product a quarter of its speed. Larger
 * blocks at large M were slower (batch 8: 5-7%), hence the two sizes. */
enum { A_BLOCK_BYTES = 512 * 1024, A_ONE_BLOCK_BYTES = 1024 * 1024, SMALL_WORK = 1 << 16 };

typedef struct gemm_plan {
    const nn_kernels *k;
    int M, N, K;
    const float *A;
    int lda, a_transposed; /* a_transposed: A is given as A^T [K, M] */
    float *a_row_sums;     /* with a_transposed: += the sums of A's rows, or NULL */
    const float *Ap; /* packed tiles: tile t at Ap + (tile_start(t) - a_base_row) * K */
    float *Ap_out;   /* where pack_a_task writes them (same layout) */
    int a_base_row;  /* first row held at Ap (one row block at a time on one thread) */
    /* A = LayerNorm(x) rows (ln_gamma non-NULL): each tile's rows are
     * normalised into ln_rows (mr_max x K floats per thread) and packed
     * from there, so the normalised activations never go to memory. */
    const float *ln_gamma, *ln_beta;
    float ln_eps;
    float *ln_rows;
    const float *Bp;
    /* Prefetched during the product's last panel: the first panel of the
     * weight packed after this one (nn_state_next_weight), or NULL. */
    const char *after;
    int after_lines;
    float *C;
    int ldc;
    const nn_epilogue *ep;
    int tiles, tiles_per_block, blocks;
    int panels, panels_per_chunk, chunks;
    int tiles_per_pack_task;
    float *partials; /* K-blocked sums: partial_floats per thread, or NULL */
    size_t partial_floats;
} gemm_plan;

/* Tiles [t0, t1) of row block b: blocks differ by at most one tile (7
 * tiles in 3 blocks are 3 + 2 + 2, not 3 + 3 + 1); tiles_per_block is the
 * largest. */
static void block_tiles(const gemm_plan *p, int b, int *t0, int *t1) {
    *t0 = (int)((int64_t)p->tiles * b / p->blocks);
    *t1 = (int)((int64_t)p->tiles * (b + 1) / p->blocks);
}

static void pack_a_tiles(const gemm_plan *p, int t0, int t1, int thread) {
    for (int t = t0; t < t1; t++) {
        int r0 = nn_tile_start(p->M, p->tiles, t), r1 = nn_tile_start(p->M, p->tiles, t + 1);
        float *dst = p->Ap_out + (size_t)(r0 - p->a_base_row) * p->K;
        if (p->a_transposed) {
            nn_pack_a_tile_transposed(r1 - r0, p->K, p->A + r0, p->lda, dst,
                                      p->a_row_sums ? p->a_row_sums + r0 : NULL);
        } else if (p->ln_gamma) {
            float *rows = p->ln_rows + (size_t)thread * p->k->mr_max * p->K;
            for (int r = r0; r < r1; r++)
                p->k->layernorm_row(p->A + (size_t)r * p->lda, p->K, p->ln_gamma, p->ln_beta, p->ln_eps,
                                    rows + (size_t)(r - r0) * p->K);
            nn_pack_a_tile(r1 - r0, p->K, rows, p->K, dst);
        } else {
            nn_pack_a_tile(r1 - r0, p->K, p->A + (size_t)r0 * p->lda, p->lda, dst);
        }
    }
}

static void pack_a_task(void *raw, int task, int thread) {
    const gemm_plan *p = raw;
    int t0 = task * p->tiles_per_pack_task;
    int t1 = t0 + p->tiles_per_pack_task < p->tiles ? t0 + p->tiles_per_pack_task : p->tiles;
    pack_a_tiles(p, t0, t1, thread);
}

static void compute_task(void *raw, int task, int thread) {
    const gemm_plan *p = raw;
    const nn_kernels *k = p->k;
    const nn_epilogue *ep = p->ep;
    int block = task / p->chunks, chunk = task % p->chunks;
    int t0, t1;
    block_tiles(p, block, &t0, &t1);
    int q0 = chunk * p->panels_per_chunk;
    int q1 = q0 + p->panels_per_chunk < p->panels ? q0 + p->panels_per_chunk : p->panels;
    int kblocks = p->K > 0 ? (p->K + k->kc - 1) / k->kc : 1; /* K = 0: the epilogue alone */
    float *partial = p->partials ? p->partials + (size_t)thread * p->partial_floats : NULL;
    /* The next panel is prefetched in equal shares by every tile call on
     * this one (none after the chunk's last panel: another thread's), as
     * two streams, its two halves side by side: one line from each per
     * step. One stream ran 3-8% slower at batch 1 (the weights then
     * arrive at 6.5 GB/s of the 12 the same prefetch reaches alone). */
    int panel_lines = (int)((size_t)k->nr * p->K * sizeof(float) / 64);
    int calls = kblocks * (t1 - t0);
    nn_tile_args a = {.ldc = p->ldc, .ep = ep};
    for (int q = q0; q < q1; q++) {
        const float *Bp = p->Bp + (size_t)q * k->nr * p->K;
        int n0 = q * k->nr;
        a.nr = p->N - n0 < k->nr ? p->N - n0 : k->nr;
        const char *next = q + 1 < q1 ? (const char *)(Bp + (size_t)k->nr * p->K) : NULL;
        int next_lines = panel_lines;
        if (!next && q + 1 == p->panels && block == p->blocks - 1 && p->after)
            next = p->after, next_lines = p->after_lines;
        int half = next_lines / 2, share = (half + calls - 1) / calls;
        int call = 0;
        for (int kb = 0; kb < kblocks; kb++) {
            int k0 = kb * k->kc;
            a.K = p->K - k0 < k->kc ? p->K - k0 : k->kc;
            a.Bp = Bp + (size_t)k0 * k->nr;
            for (int t = t0; t < t1; t++, call++) {
                int r0 = nn_tile_start(p->M, p->tiles, t), r1 = nn_tile_start(p->M, p->tiles, t + 1);
                float *acc = partial ? partial + (size_t)(t - t0) * k->mr_max * k->nr : NULL;
                int first = call * share, lines = half - first < share ? half - first : share;
                a.mr = r1 - r0;
                a.Ap = p->Ap + (size_t)(r0 - p->a_base_row) * p->K + (size_t)k0 * a.mr;
                a.C = p->C + (size_t)r0 * p->ldc + n0;
                a.bias = ep->bias ? ep->bias + n0 : NULL;
                a.residual = ep->residual ? ep->residual + (size_t)r0 * ep->ldr + n0 : NULL;
                a.row_scale = ep->row_scale ? ep->row_scale + r0 : NULL;
                a.row_shift = ep->row_shift ? ep->row_shift + r0 : NULL;
                a.pf = next && lines > 0 ? next + (size_t)first * 64 : NULL;
                a.pf_lines = a.pf ? lines : 0;
                a.pf_second = (size_t)half * 64;
                a.acc_in = kb > 0 ? acc : NULL;
                a.acc_out = kb + 1 < kblocks ? acc : NULL;
                k->tile(&a);
            }
        }
    }
}

/* Row block `task`, packed by this thread into its own part of Ap_out
 * (block_floats each) and multiplied by every panel: one thread's
 * blockwise loop, the row blocks shared out between the threads. */
typedef struct row_block_job {
    const gemm_plan *p;
    size_t block_floats;
} row_block_job;

static void row_block_task(void *raw, int task, int thread) {
    const row_block_job *j = raw;
    gemm_plan local = *j->p;
    int t0, t1;
    block_tiles(&local, task, &t0, &t1);
    local.Ap_out = j->p->Ap_out + (size_t)thread * j->block_floats;
    local.Ap = local.Ap_out;
    local.a_base_row = nn_tile_start(local.M, local.tiles, t0);
    pack_a_tiles(&local, t0, t1, thread);
    for (int c = 0; c < local.chunks; c++) compute_task(&local, task * local.chunks + c, thread);
}

static void plan_blocks(gemm_plan *p, int threads) {
    const nn_kernels *k = p->k;
    p->tiles = nn_tile_count(p->M, k->mr_max);
    size_t tile_bytes = (size_t)k->mr_max * p->K * sizeof(float), a_bytes = (size_t)p->M * p->K * sizeof(float);
    int per_block = a_bytes <= A_ONE_BLOCK_BYTES ? p->tiles : (int)(A_BLOCK_BYTES / (tile_bytes ? tile_bytes : 1));
    if (per_block < 1) per_block = 1;
    if (per_block > p->tiles) per_block = p->tiles;
    p->blocks = (p->tiles + per_block - 1) / per_block;
    p->tiles_per_block = (p->tiles + p->blocks - 1) / p->blocks;
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
    p->partial_floats = p->K > k->kc ? (size_t)p->tiles_per_block * k->mr_max * k->nr : 0;
}

typedef struct gemm_ops {
    const float *A;
    int lda, a_is_weight, a_transposed;
    float *a_row_sums;
    const float *B;
    int ldb, b_is_weight;
    nn_weight_layout layout;
    nn_pack_b_fn pack_b; /* custom B packing (then B and ldb are unused) */
    const void *pack_src;
    const float *ln_gamma, *ln_beta; /* A is LayerNorm(A) (ln_gamma non-NULL) */
    float ln_eps;
} gemm_ops;

typedef struct custom_pack_job {
    const gemm_ops *o;
    const nn_kernels *k;
    int panels, per_task;
    float *packed;
} custom_pack_job;

static void custom_pack_task(void *raw, int task, int thread) {
    (void)thread;
    const custom_pack_job *j = raw;
    int p0 = task * j->per_task, p1 = p0 + j->per_task < j->panels ? p0 + j->per_task : j->panels;
    j->o->pack_b(j->o->pack_src, j->k, p0, p1, j->packed);
}

/* The one driver: an operand that is a weight is packed through the
 * context's cache (when it has a state), anything else per call. */
static void gemm_run(const nn_ctx *ctx, int M, int N, int K, const gemm_ops *o, const nn_epilogue *ep, float *C,
                     int ldc) {
    if (M <= 0 || N <= 0) return;
    const nn_kernels *k = nn_kernels_active();
    if (k->use_blas && o->a_transposed) {
        nn_blas_gemm_at(M, N, K, o->A, o->lda, o->B, o->ldb, o->layout, ep->beta, C, ldc);
        if (o->a_row_sums) nn_add_column_sums(o->A, K, M, o->lda, o->a_row_sums);
        return;
    }
    if (k->use_blas && !o->pack_b) {
        nn_blas_gemm(ctx, M, N, K, o->A, o->lda, o->B, o->ldb, o->layout, ep, C, ldc);
        return;
    }
    if (k->use_blas) k = &nn_kernels_generic; /* a custom packing needs the tiles */
    /* Scratch is sized for every thread of the pool; the plan for the
     * threads that will run: one while the pool keeps its workers out
     * (clip_pool_solo), and then one thread's plan is the faster one. */
    int threads = clip_pool_size(ctx->pool), plan_threads = clip_pool_solo(ctx->pool) ? 1 : threads;
    gemm_plan p = {.k = k, .M = M, .N = N, .K = K, .A = o->A, .lda = o->lda, .a_transposed = o->a_transposed,
                   .a_row_sums = o->a_row_sums, .C = C, .ldc = ldc, .ep = ep,
                   .ln_gamma = o->ln_gamma, .ln_beta = o->ln_beta, .ln_eps = o->ln_eps};
    plan_blocks(&p, plan_threads);

    nn_state *s = ctx->state;
    if (s) nn_state_lock(s);
    const float *Bp = (s && o->b_is_weight) ? nn_state_packed_weight(s, ctx, k, o->B, o->ldb, o->layout, N, K) : NULL;
    const float *Ap = (s && o->a_is_weight) ? nn_state_packed_a(s, ctx, k, o->A, o->lda, M, K) : NULL;
    /* One thread packs A a row block at a time, right before computing it:
     * the packed block is then read back from L2, not from memory, and the
     * scratch is one block instead of all of A. With several threads and
     * at least two row blocks each (a batch of images or texts), each
     * thread does the same with whole row blocks: packing all of A first
     * and splitting the panels cost 2 threads a tenth of their speed at
     * ViT-B/32 batch 32 (1.72x of one thread). */
    int blockwise = !Ap && plan_threads == 1;
    int row_blocks = !Ap && plan_threads > 1 && p.blocks >= 2 * plan_threads;
    if (row_blocks) {
        p.chunks = 1;
        p.panels_per_chunk = p.panels;
    }
    size_t block_floats = ((size_t)p.tiles_per_block * k->mr_max * K + 15) / 16 * 16;
    size_t a_rows = blockwise ? (size_t)p.tiles_per_block * k->mr_max : (size_t)M;
    size_t a_floats = Ap ? 0 : row_blocks ? (size_t)threads * block_floats : (a_rows * K + 15) / 16 * 16, b_floats = Bp ? 0 : nn_packed_b_floats(k, N, K);
    size_t ln_floats = o->ln_gamma ? ((size_t)threads * k->mr_max * K + 15) / 16 * 16 : 0;
    size_t partial_floats = (size_t)threads * p.partial_floats;
    size_t total = a_floats + b_floats + ln_floats + partial_floats;
    float *scratch = s ? nn_state_scratch(s, total) : NULL;
    float *owned = NULL;
    if (!scratch) scratch = owned = nn_alloc_floats(total);
    if (!scratch) { /* the caller reports it (nn_take_failure) */
        nn_note_failure(total * sizeof(float));
        if (s) nn_state_unlock(s);
        return;
    }
    p.ln_rows = ln_floats ? scratch + a_floats + b_floats : NULL;
    p.partials = partial_floats ? scratch + a_floats + b_floats + ln_floats : NULL;
    if (!Bp) {
        float *packed = scratch + a_floats;
        if (o->pack_b) {
            custom_pack_job job = {o, k, p.panels, plan_threads > 1 ? (p.panels + 2 * plan_threads - 1) / (2 * plan_threads) : p.panels,
                                   packed};
            clip_pool_run(ctx->pool, (p.panels + job.per_task - 1) / job.per_task, custom_pack_task, &job);
        } else {
            nn_pack_b_parallel(ctx, k, N, K, o->B, o->ldb, o->layout, packed);
        }
        Bp = packed;
    }
    p.Bp = Bp;
    if (s && o->b_is_weight) {
        size_t bytes = 0;
        p.after = (const char *)nn_state_next_weight(s, k, Bp, &bytes);
        p.after_lines = (int)(bytes / 64);
    }
    if (blockwise) {
        p.Ap = p.Ap_out = scratch;
        for (int b = 0; b < p.blocks; b++) {
            int t0, t1;
            block_tiles(&p, b, &t0, &t1);
            p.a_base_row = nn_tile_start(M, p.tiles, t0);
            pack_a_tiles(&p, t0, t1, 0);
            for (int c = 0; c < p.chunks; c++) compute_task(&p, b * p.chunks + c, 0);
        }
    } else if (row_blocks) {
        p.Ap_out = scratch;
        row_block_job job = {&p, block_floats};
        clip_pool_run(ctx->pool, p.blocks, row_block_task, &job);
    } else {
        if (Ap) {
            p.Ap = Ap;
        } else {
            p.Ap = p.Ap_out = scratch;
            clip_pool_run(ctx->pool, (p.tiles + p.tiles_per_pack_task - 1) / p.tiles_per_pack_task, pack_a_task, &p);
        }
        clip_pool_run(ctx->pool, p.blocks * p.chunks, compute_task, &p);
    }
    free(owned);
    if (s) nn_state_unlock(s);
}

void nn_gemm_weight_a(const nn_ctx *ctx, int M, int N, int K, const float *A, int lda, nn_pack_b_fn pack_b,
                      const void *src, const nn_epilogue *ep, float *C, int ldc) {
    gemm_ops o = {.A = A, .lda = lda, .a_is_weight = 1, .pack_b = pack_b, .pack_src = src};
    gemm_run(ctx, M, N, K, &o, ep, C, ldc);
}

void nn_gemm_ep(const nn_ctx *ctx, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                nn_weight_layout layout, int b_is_weight, const nn_epilogue *ep, float *C, int ldc) {
    gemm_ops o = {.A = A, .lda = lda, .B = B, .ldb = ldb, .b_is_weight = b_is_weight, .layout = layout};
    gemm_run(ctx, M, N, K, &o, ep, C, ldc);
}

void nn_gemm(const nn_ctx *ctx, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
             nn_weight_layout b_layout, float beta, float *C, int ldc) {
    nn_epilogue ep = {.alpha = 1.0f, .beta = beta};
    gemm_ops o = {.A = A, .lda = lda, .B = B, .ldb = ldb, .layout = b_layout};
    gemm_run(ctx, M, N, K, &o, &ep, C, ldc);
}

void nn_gemm_at(const nn_ctx *ctx, int M, int N, int K, const float *At, int lda, const float *B, int ldb,
                nn_weight_layout b_layout, float beta, float *C, int ldc, float *a_row_sums) {
    nn_epilogue ep = {.alpha = 1.0f, .beta = beta};
    gemm_ops o = {.A = At, .lda = lda, .a_transposed = 1, .a_row_sums = a_row_sums, .B = B, .ldb = ldb,
                  .layout = b_layout};
    gemm_run(ctx, M, N, K, &o, &ep, C, ldc);
}

void nn_linear_ex(const nn_ctx *ctx, const float *x, int ldx, int M, int K, const float *w, nn_weight_layout layout,
                  int N, const float *bias, nn_activation act, const float *residual, int ldr, float *y, int ldy) {
    if (ctx->weight_dtype != NN_F32) { /* bf16 / int8 weights: qgemm.c */
        nn_qsource a = {.x = x, .ldx = ldx};
        nn_qepilogue qe = {.bias = bias, .act = act, .residual = residual, .ldr = ldr};
        nn_qgemm(ctx, ctx->weight_dtype, M, N, K, &a, w, layout, &qe, y, ldy);
        return;
    }
    nn_epilogue ep = {.alpha = 1.0f, .bias = bias, .act = act, .residual = residual, .ldr = ldr};
    gemm_ops o = {.A = x, .lda = ldx, .B = w, .ldb = layout == NN_OUT_IN ? K : N, .b_is_weight = 1, .layout = layout};
    gemm_run(ctx, M, N, K, &o, &ep, y, ldy);
}

void nn_linear_ln(const nn_ctx *ctx, const float *x, int M, int K, const float *gamma, const float *beta, float eps,
                  const float *w, nn_weight_layout layout, int N, const float *bias, nn_activation act,
                  const float *residual, float *y, float *h) {
    const nn_kernels *k = nn_kernels_active();
    if (ctx->weight_dtype != NN_F32 || k->use_blas || M <= 0 || N <= 0) {
        nn_layernorm(ctx, x, M, K, gamma, beta, eps, h);
        nn_linear(ctx, h, M, K, w, layout, N, bias, act, residual, y);
        return;
    }
    nn_epilogue ep = {.alpha = 1.0f, .bias = bias, .act = act, .residual = residual, .ldr = N};
    gemm_ops o = {.A = x, .lda = K, .B = w, .ldb = layout == NN_OUT_IN ? K : N, .b_is_weight = 1, .layout = layout,
                  .ln_gamma = gamma, .ln_beta = beta, .ln_eps = eps};
    gemm_run(ctx, M, N, K, &o, &ep, y, N);
}

void nn_linear(const nn_ctx *ctx, const float *x, int M, int K, const float *w, nn_weight_layout layout, int N,
               const float *bias, nn_activation act, const float *residual, float *y) {
    nn_linear_ex(ctx, x, K, M, K, w, layout, N, bias, act, residual, N, y, N);
}

static size_t local_partial_floats(const nn_kernels *k, int M, int K) {
    gemm_plan p = {.k = k, .M = M, .N = 1, .K = K};
    plan_blocks(&p, 1);
    return p.partial_floats;
}

size_t nn_gemm_local_scratch_floats(const nn_kernels *k, int M, int N, int K) {
    return ((size_t)M * K + 15) / 16 * 16 + nn_packed_b_floats(k, N, K) + local_partial_floats(k, M, K);
}

void nn_gemm_local(const nn_kernels *k, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                   nn_weight_layout layout, const nn_epilogue *ep, float *C, int ldc, float *scratch) {
    if (M <= 0 || N <= 0) return;
    if (k->use_blas) {
        nn_blas_gemm_local(M, N, K, A, lda, B, ldb, layout, ep, C, ldc);
        return;
    }
    gemm_plan p = {.k = k, .M = M, .N = N, .K = K, .A = A, .lda = lda, .C = C, .ldc = ldc, .ep = ep};
    plan_blocks(&p, 1);
    p.Ap = p.Ap_out = scratch;
    float *Bp = scratch + ((size_t)M * K + 15) / 16 * 16;
    nn_pack_b(k, N, K, B, ldb, layout, 0, p.panels, Bp);
    p.Bp = Bp;
    p.partials = p.partial_floats ? Bp + nn_packed_b_floats(k, N, K) : NULL;
    pack_a_task(&p, 0, 0);
    for (int b = 0; b < p.blocks; b++) compute_task(&p, b, 0);
}
