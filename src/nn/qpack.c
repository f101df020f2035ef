/* Packing of weights into the reduced-precision panel layout (qkernels.h):
 * bf16 by rounding to nearest even, int8 symmetric per output column. */
#include <math.h>
#include <string.h>

#include "nn/qkernels.h"

static size_t round64(size_t n) { return (n + 63) / 64 * 64; }

static size_t panel_bytes(nn_dtype d, int Kpad) { return (size_t)NN_Q_NR * Kpad * nn_q_elt(d); }

size_t nn_qweight_bytes(nn_dtype d, int N, int K) {
    size_t panels = (size_t)(N + NN_Q_NR - 1) / NN_Q_NR;
    size_t bytes = round64(sizeof(nn_qweight)) + panels * panel_bytes(d, nn_q_kpad(d, K));
    if (d == NN_INT8) bytes += 2 * round64(panels * NN_Q_NR * sizeof(float));
    return bytes;
}

/* Byte offset of (k, column c of the panel) in a panel. */
static size_t offset(nn_dtype d, int k, int c) {
    int kb = nn_q_kblock(d), g = d == NN_INT8 ? 4 : 2;
    size_t elt = nn_q_elt(d);
    int blk = k / kb, kk = k % kb;
    return (size_t)blk * 2 * NN_Q_SUBTILE_BYTES + (size_t)(c / 16) * NN_Q_SUBTILE_BYTES +
           ((size_t)(kk / g) * 16 * g + (size_t)(c % 16) * g + (size_t)(kk % g)) * elt;
}

typedef struct pack_job {
    nn_qweight *q;
    const float *w;
    int ld;
    nn_weight_layout layout;
    int per_task;
    float *scale;
    int32_t *colsum;
    uint8_t *data;
} pack_job;

static float value(const pack_job *j, int n, int k) {
    return j->layout == NN_OUT_IN ? j->w[(size_t)n * j->ld + k] : j->w[(size_t)k * j->ld + n];
}

static void pack_column(const pack_job *j, int n, uint8_t *panel, int c) {
    const nn_qweight *q = j->q;
    if (q->dtype == NN_BF16) {
        for (int k = 0; k < q->K; k++) {
            uint16_t b = nn_bf16_from_f32(value(j, n, k));
            memcpy(panel + offset(NN_BF16, k, c), &b, sizeof b);
        }
        return;
    }
    /* int8: the same rounding as the activations (nn_q_to_u8_ref). */
    float max = 0;
    for (int k = 0; k < q->K; k++) max = fmaxf(max, fabsf(value(j, n, k)));
    float inv = max > 0 ? 127.0f / max : 0.0f;
    int32_t sum = 0;
    for (int k = 0; k < q->K; k++) {
        float r = nearbyintf(value(j, n, k) * inv);
        int8_t v = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
        panel[offset(NN_INT8, k, c)] = (uint8_t)v;
        sum += v;
    }
    j->scale[n] = max / 127.0f;
    j->colsum[n] = sum;
}

/* bf16 panels written in layout order. A pair row of a sub-tile is the 16
 * columns' (k, k+1) values: [k = w(n, k0), w(n, k0 + 1)] per column. Reading
 * [K, N] weights (and the activations of training's weight gradients) runs
 * along their rows; [N, K] ones are read a column at a time. */
static void pack_panel_bf16(const pack_job *j, int p, uint8_t *panel) {
    const nn_qweight *q = j->q;
    int K = q->K, n0 = p * NN_Q_NR, cols = q->N - n0 < NN_Q_NR ? q->N - n0 : NN_Q_NR;
    uint16_t *out = (uint16_t *)panel;
    enum { PAIR_ROW = 32, SUBTILE = NN_Q_SUBTILE_BYTES / 2, KB = 32 };
    if (j->layout == NN_IN_OUT) {
        const nn_qkernels *qk = nn_qkernels_active();
        for (int k = 0; k < q->Kpad; k += 2) {
            int blk = k / KB, pair = (k % KB) / 2;
            const float *r0 = k < K ? j->w + (size_t)k * j->ld + n0 : NULL;
            const float *r1 = k + 1 < K ? j->w + (size_t)(k + 1) * j->ld + n0 : NULL;
            for (int sub = 0; sub < 2; sub++) {
                uint16_t *dst = out + ((size_t)blk * 2 + sub) * SUBTILE + (size_t)pair * PAIR_ROW;
                int n = cols - sub * 16 < 16 ? cols - sub * 16 : 16;
                if (!r0 || n <= 0) memset(dst, 0, PAIR_ROW * sizeof *dst);
                else qk->pairs_to_bf16(r0 + sub * 16, r1 ? r1 + sub * 16 : NULL, n, dst);
            }
        }
        return;
    }
    memset(panel, 0, panel_bytes(NN_BF16, q->Kpad));
    for (int col = 0; col < cols; col++) {
        const float *row = j->w + (size_t)(n0 + col) * j->ld;
        int sub = col / 16, c = col % 16;
        for (int k = 0; k < K; k++) {
            int blk = k / KB, kk = k % KB;
            out[((size_t)blk * 2 + sub) * SUBTILE + (size_t)(kk / 2) * PAIR_ROW + 2 * c + (kk & 1)] =
                nn_bf16_from_f32(row[k]);
        }
    }
}

static void pack_task(void *raw, int task, int thread) {
    (void)thread;
    const pack_job *j = raw;
    const nn_qweight *q = j->q;
    int p0 = task * j->per_task, p1 = p0 + j->per_task < q->panels ? p0 + j->per_task : q->panels;
    size_t pb = panel_bytes(q->dtype, q->Kpad);
    for (int p = p0; p < p1; p++) {
        uint8_t *panel = j->data + (size_t)p * pb;
        if (q->dtype == NN_BF16) {
            pack_panel_bf16(j, p, panel);
            continue;
        }
        memset(panel, 0, pb);
        for (int c = 0; c < NN_Q_NR; c++) {
            int n = p * NN_Q_NR + c;
            if (n < q->N) pack_column(j, n, panel, c);
            else if (q->dtype == NN_INT8) j->scale[n] = 0, j->colsum[n] = 0;
        }
    }
}

const nn_qweight *nn_qweight_pack(const nn_ctx *ctx, nn_dtype d, const float *w, int ld, nn_weight_layout layout,
                                  int N, int K, void *mem) {
    nn_qweight *q = mem;
    int panels = (N + NN_Q_NR - 1) / NN_Q_NR;
    uint8_t *data = (uint8_t *)mem + round64(sizeof *q);
    float *scale = NULL;
    int32_t *colsum = NULL;
    if (d == NN_INT8) {
        scale = (float *)(data + (size_t)panels * panel_bytes(d, nn_q_kpad(d, K)));
        colsum = (int32_t *)((uint8_t *)scale + round64((size_t)panels * NN_Q_NR * sizeof(float)));
    }
    *q = (nn_qweight){d, N, K, nn_q_kpad(d, K), panels, data, scale, colsum};
    int threads = clip_pool_size(ctx->pool);
    int per_task = threads > 1 ? (panels + 2 * threads - 1) / (2 * threads) : panels;
    pack_job job = {q, w, ld, layout, per_task, scale, colsum, data};
    clip_pool_run(ctx->pool, (panels + per_task - 1) / per_task, pack_task, &job);
    return q;
}
