/* The reduced-precision product driver (layouts in qkernels.h): quantise
 * the rows of A once per call, then walk blocks of 32 rows x 32 columns
 * with the active kernel table, applying the epilogue to each block's raw
 * sums while they are in L1.
 *
 * Loop order per task: panels of its chunk outermost, then the 32-row
 * blocks of its row group, so a panel is read from memory once per row
 * group and the group's quantised rows (at most A_GROUP_BYTES) stay in L2.
 * Threads split the panels and walk the row groups together, as gemm.c. */
#include <stdlib.h>
#include <string.h>

#include "nn/kernels.h"
#include "nn/qkernels.h"
#include "nn/state.h"

enum { A_GROUP_BYTES = 512 * 1024, SMALL_WORK = 1 << 16 };

static size_t round16(size_t floats) { return (floats + 15) / 16 * 16; }

typedef struct qplan {
    const nn_qkernels *qk;
    const nn_kernels *k; /* its activation, for the epilogue */
    nn_dtype d;
    int M, N, K, Kpad, Mpad;
    const nn_qsource *src;
    uint8_t *A;
    size_t lda;
    float *ascale; /* int8 */
    const nn_qweight *w;
    const nn_qepilogue *ep;
    float *y;
    int ldy;
    int blocks, blocks_per_group, groups, panels_per_chunk, chunks, rows_per_quant_task;
    float *thread_scratch; /* per thread: acc, a row of results, a gathered row */
    size_t thread_floats;
} qplan;

static void quantise_row(const qplan *p, const float *x, uint8_t *row, int i) {
    size_t elt = nn_q_elt(p->d);
    if (p->d == NN_INT8) {
        p->ascale[i] = p->qk->to_u8(x, p->K, row);
        memset(row + p->K, 128, (size_t)(p->Kpad - p->K));
    } else {
        p->qk->to_bf16(x, p->K, (uint16_t *)row);
        memset(row + (size_t)p->K * elt, 0, (size_t)(p->Kpad - p->K) * elt);
    }
}

static void quantise_task(void *raw, int task, int thread) {
    const qplan *p = raw;
    int r0 = task * p->rows_per_quant_task, r1 = r0 + p->rows_per_quant_task < p->Mpad ? r0 + p->rows_per_quant_task : p->Mpad;
    float *gathered = p->thread_scratch + (size_t)thread * p->thread_floats + NN_Q_ROWS * NN_Q_NR + NN_Q_NR;
    int real_end = r1 < p->M ? r1 : p->M;
    for (int i = r0; i < real_end;) {
        if (p->src->rows) {
            int n = real_end - i < NN_Q_GATHER ? real_end - i : NN_Q_GATHER;
            p->src->rows(p->src->src, i, n, gathered);
            for (int t = 0; t < n; t++) quantise_row(p, gathered + (size_t)t * p->K, p->A + (size_t)(i + t) * p->lda, i + t);
            i += n;
        } else {
            quantise_row(p, p->src->x + (size_t)i * p->src->ldx, p->A + (size_t)i * p->lda, i);
            i++;
        }
    }
    for (int i = real_end > r0 ? real_end : r0; i < r1; i++) { /* padding rows: zero (u8 128 is zero) */
        uint8_t *row = p->A + (size_t)i * p->lda;
        if (p->d == NN_INT8) {
            memset(row, 128, (size_t)p->Kpad);
            p->ascale[i] = 0;
        } else {
            memset(row, 0, p->lda);
        }
    }
}

/* The block's results: rows r0.. (nrows), columns n0.. (ncols). */
/* bf16 sums are finished in place in acc (the thread's own scratch); full
 * rows are stored with a constant-size copy, which compiles to a few vector
 * moves where a library call per 128-byte row cost 10% of a training step. */
static inline __attribute__((always_inline)) void epilogue(const qplan *p, void *acc, float *scratch_row, int r0,
                                                           int nrows, int n0, int ncols) {
    const nn_qepilogue *ep = p->ep;
    const nn_qweight *w = p->w;
    for (int i = 0; i < nrows; i++) {
        int r = r0 + i;
        float *v = scratch_row;
        if (p->d == NN_INT8) {
            const int32_t *a = (const int32_t *)acc + i * NN_Q_NR;
            float sa = p->ascale[r];
            for (int j = 0; j < ncols; j++)
                v[j] = (float)(a[j] - 128 * w->colsum[n0 + j]) * (sa * w->scale[n0 + j]);
        } else {
            v = (float *)acc + i * NN_Q_NR;
        }
        if (ep->col_scale)
            for (int j = 0; j < ncols; j++) v[j] = v[j] * ep->col_scale[n0 + j] + ep->col_shift[n0 + j];
        if (ep->bias)
            for (int j = 0; j < ncols; j++) v[j] += ep->bias[n0 + j];
        if (ep->act != NN_ACT_NONE) p->k->activate(v, (size_t)ncols, ep->act);
        if (ep->residual) {
            const float *res = ep->residual + (size_t)r * ep->ldr + n0;
            for (int j = 0; j < ncols; j++) v[j] += res[j];
        }
        if (ep->transposed) {
            for (int j = 0; j < ncols; j++) p->y[(size_t)(n0 + j) * p->ldy + r] = v[j];
        } else if (ncols == NN_Q_NR) {
            memcpy(p->y + (size_t)r * p->ldy + n0, v, NN_Q_NR * sizeof(float));
        } else {
            memcpy(p->y + (size_t)r * p->ldy + n0, v, (size_t)ncols * sizeof(float));
        }
    }
}

/* Built for AVX-512 and AVX2 as well, picked at load time, so that the
 * epilogue's loops run 16 or 8 values a step (the build's baseline is SSE2). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void compute_task(void *raw, int task, int thread) {
    const qplan *p = raw;
    int group = task / p->chunks, chunk = task % p->chunks;
    int b0 = group * p->blocks_per_group, b1 = b0 + p->blocks_per_group < p->blocks ? b0 + p->blocks_per_group : p->blocks;
    int q0 = chunk * p->panels_per_chunk, q1 = q0 + p->panels_per_chunk < p->w->panels ? q0 + p->panels_per_chunk : p->w->panels;
    float *acc = p->thread_scratch + (size_t)thread * p->thread_floats, *v = acc + NN_Q_ROWS * NN_Q_NR;
    size_t panel_bytes = (size_t)NN_Q_NR * p->Kpad * nn_q_elt(p->d);
    void (*block)(const nn_qblock_args *) = p->d == NN_INT8 ? p->qk->int8_block : p->qk->bf16_block;
    if (p->qk->begin) p->qk->begin();
    for (int q = q0; q < q1; q++) {
        const uint8_t *panel = p->w->data + (size_t)q * panel_bytes;
        int n0 = q * NN_Q_NR, ncols = p->N - n0 < NN_Q_NR ? p->N - n0 : NN_Q_NR;
        for (int b = b0; b < b1; b++) {
            int r0 = b * NN_Q_ROWS, nrows = p->M - r0 < NN_Q_ROWS ? p->M - r0 : NN_Q_ROWS;
            nn_qblock_args a = {p->A + (size_t)r0 * p->lda, p->lda, nrows, p->Kpad, panel, acc,
                                b == b0 && q + 1 < q1 ? panel + panel_bytes : NULL, panel_bytes};
            block(&a);
            epilogue(p, acc, v, r0, nrows, n0, ncols);
        }
    }
    if (p->qk->end) p->qk->end();
}

static void plan(qplan *p, int threads) {
    p->blocks = p->Mpad / NN_Q_ROWS;
    size_t block_bytes = (size_t)NN_Q_ROWS * p->lda;
    p->blocks_per_group = (int)(A_GROUP_BYTES / (block_bytes ? block_bytes : 1));
    if (p->blocks_per_group < 1) p->blocks_per_group = 1;
    if (p->blocks_per_group > p->blocks) p->blocks_per_group = p->blocks;
    p->groups = (p->blocks + p->blocks_per_group - 1) / p->blocks_per_group;
    int panels = p->w->panels;
    p->chunks = 1;
    if (threads > 1 && (int64_t)p->M * p->N * p->K >= SMALL_WORK) {
        p->chunks = panels < 4 * threads ? panels : 4 * threads;
        if (p->chunks < threads && p->groups < threads) {
            p->blocks_per_group = (p->blocks + threads - 1) / threads;
            p->groups = (p->blocks + p->blocks_per_group - 1) / p->blocks_per_group;
        }
    }
    p->panels_per_chunk = (panels + p->chunks - 1) / p->chunks;
    p->chunks = (panels + p->panels_per_chunk - 1) / p->panels_per_chunk;
    p->rows_per_quant_task = threads > 1 ? (p->Mpad + 2 * threads - 1) / (2 * threads) : p->Mpad;
    if (p->rows_per_quant_task < 1) p->rows_per_quant_task = 1;
}

void nn_qgemm(const nn_ctx *ctx, nn_dtype d, int M, int N, int K, const nn_qsource *a, const float *w,
              nn_weight_layout layout, const nn_qepilogue *ep, float *y, int ldy) {
    if (M <= 0 || N <= 0) return;
    int threads = clip_pool_size(ctx->pool);
    qplan p = {.qk = nn_qkernels_active(), .k = nn_kernels_active(), .d = d, .M = M, .N = N, .K = K,
               .Kpad = nn_q_kpad(d, K), .Mpad = (M + NN_Q_ROWS - 1) / NN_Q_ROWS * NN_Q_ROWS, .src = a, .ep = ep,
               .y = y, .ldy = ldy};
    p.lda = (size_t)p.Kpad * nn_q_elt(d);
    p.thread_floats = round16((size_t)NN_Q_ROWS * NN_Q_NR + NN_Q_NR + (a->rows ? (size_t)NN_Q_GATHER * K : 0));
    size_t a_floats = round16((size_t)p.Mpad * p.lda / sizeof(float)), scale_floats = round16((size_t)p.Mpad);
    size_t total = a_floats + scale_floats + (size_t)threads * p.thread_floats;

    nn_state *s = ctx->state;
    int ld = layout == NN_OUT_IN ? K : N;
    void *owned_w = NULL;
    float *owned = NULL, *scratch = NULL;
    if (s) {
        nn_state_lock(s);
        p.w = nn_state_packed_q(s, ctx, d, w, ld, layout, N, K);
        scratch = nn_state_scratch(s, total);
    } else {
        owned_w = nn_alloc_floats((nn_qweight_bytes(d, N, K) + 3) / 4);
        if (owned_w) p.w = nn_qweight_pack(ctx, d, w, ld, layout, N, K, owned_w);
    }
    if (!scratch) scratch = owned = nn_alloc_floats(total);
    if (!p.w || !scratch) { /* the caller reports it (nn_take_failure) */
        nn_note_failure(total * sizeof(float) + (p.w ? 0 : nn_qweight_bytes(d, N, K)));
        free(owned);
        free(owned_w);
        if (s) nn_state_unlock(s);
        return;
    }
    p.A = (uint8_t *)scratch;
    p.ascale = scratch + a_floats;
    p.thread_scratch = p.ascale + scale_floats;
    plan(&p, threads);
    clip_pool_run(ctx->pool, (p.Mpad + p.rows_per_quant_task - 1) / p.rows_per_quant_task, quantise_task, &p);
    clip_pool_run(ctx->pool, p.groups * p.chunks, compute_task, &p);
    free(owned);
    free(owned_w);
    if (s) nn_state_unlock(s);
}
