/* Convolution as a product: y[Cout, pixels] = weight[Cout, Cin*k*k] . col,
 * where col's rows are (cin, ky, kx) in the weight's flattening order. The
 * col operand is never materialised: it is gathered from the image straight
 * into the tile kernels' panel layout, one panel of output pixels at a time,
 * and the weight is packed once (the context's cache). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/kernels.h"
#include "nn/qkernels.h"

size_t nn_conv2d_scratch_floats(int Cin, int H, int W, int kernel, int stride, int pad) {
    (void)Cin, (void)H, (void)W, (void)kernel, (void)stride, (void)pad;
    return 0; /* no im2col buffer any more */
}

/* One product's B operand: output pixels [n_base, n_base + cols) of the
 * geometry's B * Ho * Wo. */
typedef struct conv_src {
    nn_conv_geom g;
    int n_base, cols;
} conv_src;

static int ceil_div(int a, int b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

static int vector_gather(const nn_conv_geom *g) {
    return g->stride == 1 && g->k <= 3 && nn_pack_has_avx512();
}

/* Output pixels [ox0, ox0 + run) of output row `oy` of the image at `img`,
 * for every (c, ky, kx) row of the panel. */
static void gather_run(const nn_conv_geom *s, const float *img, int nr, int oy, int ox0, int run, float *dst) {
    int k = s->k, st = s->stride;
    for (int c = 0; c < s->Cin; c++)
        for (int ky = 0; ky < k; ky++) {
            int iy = oy * st - s->pad + ky;
            for (int kx = 0; kx < k; kx++, dst += nr) {
                /* Columns t with 0 <= (ox0 + t) * st - pad + kx < W. */
                int lo = ceil_div(s->pad - kx, st) - ox0, hi = ceil_div(s->W + s->pad - kx, st) - ox0;
                if (lo < 0) lo = 0;
                if (hi > run) hi = run;
                if (iy < 0 || iy >= s->H || hi < lo) lo = hi = run;
                for (int t = 0; t < lo; t++) dst[t] = 0.0f;
                if (hi > lo) {
                    const float *src = img + c * s->chan_stride + (size_t)iy * s->W + (ox0 + lo) * st - s->pad + kx;
                    if (st == 1) {
                        memcpy(dst + lo, src, (size_t)(hi - lo) * sizeof(float));
                    } else {
                        for (int t = lo; t < hi; t++) dst[t] = src[(t - lo) * st];
                    }
                }
                for (int t = hi; t < run; t++) dst[t] = 0.0f;
            }
        }
}

static void pack_conv_panels(const void *raw, const nn_kernels *kn, int p0, int p1, float *packed) {
    const conv_src *s = raw;
    const nn_conv_geom *g = &s->g;
    int nr = kn->nr, K = g->Cin * g->k * g->k, P = g->Ho * g->Wo;
    int vec = nr % 16 == 0 && vector_gather(g);
    for (int p = p0; p < p1; p++) {
        float *dst = packed + (size_t)p * nr * K;
        int n0 = s->n_base + p * nr, cols = s->cols - p * nr < nr ? s->cols - p * nr : nr;
        if (vec) {
            nn_conv_gather_avx512(g, 0, g->Cin, n0, cols, nr, dst, nr);
            continue;
        }
        for (int j = 0; j < cols;) {
            int n = n0 + j, b = n / P, oy = n % P / g->Wo, ox0 = n % P % g->Wo;
            int run = g->Wo - ox0 < cols - j ? g->Wo - ox0 : cols - j;
            gather_run(g, g->x + b * g->img_stride, nr, oy, ox0, run, dst + j);
            j += run;
        }
        if (cols < nr)
            for (int c = 0; c < K; c++) memset(dst + (size_t)c * nr + cols, 0, (size_t)(nr - cols) * sizeof(float));
    }
}

/* The BLAS fallback needs col itself: the panels of width `cols` are
 * exactly the [K, cols] matrix. */
static int conv_blas(const nn_ctx *ctx, const conv_src *src, const float *weight, int Cout, const nn_epilogue *ep,
                     float *y, int ldy) {
    int K = src->g.Cin * src->g.k * src->g.k, pixels = src->cols;
    float *col = malloc((size_t)K * pixels * sizeof(float));
    if (!col) return -1;
    nn_kernels wide = nn_kernels_blas;
    wide.nr = pixels;
    pack_conv_panels(src, &wide, 0, 1, col);
    nn_gemm_ep(ctx, Cout, pixels, K, weight, K, col, pixels, NN_IN_OUT, 0, ep, y, ldy);
    free(col);
    return 0;
}

/* Reduced precision: the product turned around, out^T [pixels, Cout] =
 * col^T . weight^T, so the weight is the packed operand as in a linear
 * layer (per output channel scales for int8) and each output pixel's
 * im2col row is one quantised row of A; the epilogue writes [Cout, pixels]
 * and applies the batch norm per column. */
static void gather_rows(const void *raw, int i0, int n, float *out) {
    const conv_src *s = raw;
    const nn_conv_geom *g = &s->g;
    i0 += s->n_base;
    if (vector_gather(g)) {
        nn_conv_gather_rows_avx512(g, i0, n, out);
        return;
    }
    int K = g->Cin * g->k * g->k, P = g->Ho * g->Wo;
    for (int t = 0; t < n; t++) {
        int i = i0 + t, b = i / P, oy = i % P / g->Wo * g->stride - g->pad, ox = i % P % g->Wo * g->stride - g->pad;
        const float *img = g->x + b * g->img_stride;
        float *row = out + (size_t)t * K;
        for (int c = 0, col = 0; c < g->Cin; c++) {
            const float *plane = img + c * g->chan_stride;
            for (int ky = 0; ky < g->k; ky++)
                for (int kx = 0; kx < g->k; kx++, col++) {
                    int iy = oy + ky, ix = ox + kx;
                    row[col] = (unsigned)iy < (unsigned)g->H && (unsigned)ix < (unsigned)g->W
                                   ? plane[(size_t)iy * g->W + ix] : 0.0f;
                }
        }
    }
}

/* Columns of B packed per float32 product: the packed panels of one product
 * stay within this many bytes (per thread), so that they are read back from
 * L2 by every row block of the weight. */
static size_t chunk_bytes(void) { return (size_t)1536 * 1024; /* of a 2 MiB L2 (Sapphire Rapids) */ }

/* One group of output columns: y [Cout, N] with row stride ldy (and the
 * residual likewise), pixels [0, N) of the geometry. */
static int conv_group(const nn_ctx *ctx, const nn_conv_geom *g, int N, const float *weight, int Cout,
                      const nn_epilogue *ep, float *y, int ldy) {
    int K = g->Cin * g->k * g->k, threads = clip_pool_size(ctx->pool);
    if (ctx->weight_dtype != NN_F32) {
        /* The reduced-precision epilogue has no residual: added after. */
        nn_epilogue plain = *ep;
        plain.residual = NULL;
        if (ep->residual) plain.act = NN_ACT_NONE;
        /* One image at a time (measured: one product over a batch of 8
         * was 10-15% slower, chunks of 1-4 MiB of A included). */
        int rows = g->Ho * g->Wo;
        nn_qepilogue qe = {.act = plain.act, .col_scale = ep->row_scale, .col_shift = ep->row_shift, .transposed = 1};
        for (int n0 = 0; n0 < N; n0 += rows) {
            conv_src src = {*g, n0, N - n0 < rows ? N - n0 : rows};
            nn_qsource a = {.rows = gather_rows, .src = &src};
            nn_qgemm(ctx, ctx->weight_dtype, src.cols, Cout, K, &a, weight, NN_OUT_IN, &qe, y + n0, ldy);
        }
        if (ep->residual)
            for (int r = 0; r < Cout; r++) {
                float *out = y + (size_t)r * ldy;
                const float *res = ep->residual + (size_t)r * ep->ldr;
                for (int i = 0; i < N; i++) {
                    float v = out[i] + res[i];
                    out[i] = ep->act == NN_ACT_RELU && v < 0 ? 0.0f : v;
                }
            }
        return 0;
    }
    const nn_kernels *kn = nn_kernels_active();
    if (kn->use_blas) {
        conv_src src = {*g, 0, N};
        return conv_blas(ctx, &src, weight, Cout, ep, y, ldy);
    }
    int nr = kn->nr;
    size_t per = chunk_bytes() * (size_t)(threads > 0 ? threads : 1) / ((size_t)K * sizeof(float) * nr);
    int chunk = per < 1 ? nr : per * nr > (size_t)N ? N : (int)per * nr;
    for (int n0 = 0; n0 < N; n0 += chunk) {
        conv_src src = {*g, n0, N - n0 < chunk ? N - n0 : chunk};
        nn_epilogue e = *ep;
        if (ep->residual) e.residual = ep->residual + n0;
        nn_gemm_weight_a(ctx, Cout, src.cols, K, weight, K, pack_conv_panels, &src, &e, y + n0, ldy);
    }
    return 0;
}

/* x [B, Cin, H, W] (x_nchw) or [Cin, B, H, W]; y and ep->residual
 * [B, Cout, Ho, Wo] (y_nchw) or [Cout, B, Ho, Wo]. */
static int conv(const nn_ctx *ctx, const float *x, int x_nchw, int y_nchw, int B, int Cin, int H, int W,
                const float *weight, int Cout, int kernel, int stride, int pad, const nn_epilogue *ep, float *y) {
    int Ho = nn_conv_out_size(H, kernel, stride, pad), Wo = nn_conv_out_size(W, kernel, stride, pad);
    size_t plane = (size_t)H * W, P = (size_t)Ho * Wo;
    nn_conv_geom g = {x, B, Cin, H, W, kernel, stride, pad, Ho, Wo, x_nchw ? Cin * plane : plane,
                      x_nchw ? plane : B * plane};
    if (!y_nchw) {
        nn_epilogue e = *ep;
        e.ldr = (int)(B * P);
        return conv_group(ctx, &g, (int)(B * P), weight, Cout, &e, y, (int)(B * P));
    }
    for (int b = 0; b < B; b++) {
        nn_conv_geom gb = g;
        gb.B = 1;
        gb.x = x + b * (x_nchw ? Cin * plane : plane);
        nn_epilogue e = *ep;
        if (ep->residual) e.residual = ep->residual + b * Cout * P, e.ldr = (int)P;
        if (conv_group(ctx, &gb, (int)P, weight, Cout, &e, y + b * Cout * P, (int)P) != 0) return -1;
    }
    return 0;
}

void nn_conv2d(const nn_ctx *ctx, const float *x, int B, int Cin, int H, int W, const float *weight, int Cout,
               int kernel, int stride, int pad, float *scratch, float *y) {
    (void)scratch;
    nn_epilogue ep = {.alpha = 1.0f};
    /* Only the BLAS fallback allocates; the caller reports it (nn_take_failure). */
    if (conv(ctx, x, 1, 1, B, Cin, H, W, weight, Cout, kernel, stride, pad, &ep, y) != 0) nn_note_failure(0);
}

clip_status nn_conv2d_bn(const nn_ctx *ctx, const float *x, int B, int Cin, int H, int W, const float *weight,
                         int Cout, int kernel, int stride, int pad, const float *mean, const float *var,
                         const float *gamma, const float *beta, float eps, int relu, float *y) {
    return nn_conv2d_bn_add(ctx, x, B, Cin, H, W, weight, Cout, kernel, stride, pad, mean, var, gamma, beta, eps, NULL,
                            relu, y);
}

float *nn_bn_affine(const float *mean, const float *var, const float *gamma, const float *beta, float eps, int C) {
    float *affine = malloc((size_t)2 * C * sizeof(float));
    if (!affine) return NULL;
    for (int c = 0; c < C; c++) {
        float inv_std = 1.0f / sqrtf(var[c] + eps);
        affine[c] = gamma[c] * inv_std;
        affine[C + c] = beta[c] - mean[c] * affine[c];
    }
    return affine;
}

static clip_status conv_bn(const nn_ctx *ctx, const float *x, int x_nchw, int y_nchw, int B, int Cin, int H, int W,
                           const float *weight, int Cout, int kernel, int stride, int pad, const float *mean,
                           const float *var, const float *gamma, const float *beta, float eps, const float *residual,
                           int relu, float *y) {
    float *affine = nn_bn_affine(mean, var, gamma, beta, eps, Cout);
    if (!affine) return clip_fail(CLIP_ERR_NO_MEMORY, "convolution: out of memory");
    nn_epilogue ep = {.alpha = 1.0f, .row_scale = affine, .row_shift = affine + Cout,
                      .act = relu ? NN_ACT_RELU : NN_ACT_NONE, .residual = residual, .residual_first = 1};
    int failed = conv(ctx, x, x_nchw, y_nchw, B, Cin, H, W, weight, Cout, kernel, stride, pad, &ep, y);
    free(affine);
    return failed ? clip_fail(CLIP_ERR_NO_MEMORY, "convolution: out of memory") : CLIP_OK;
}

clip_status nn_conv2d_bn_add(const nn_ctx *ctx, const float *x, int B, int Cin, int H, int W, const float *weight,
                             int Cout, int kernel, int stride, int pad, const float *mean, const float *var,
                             const float *gamma, const float *beta, float eps, const float *residual, int relu,
                             float *y) {
    return conv_bn(ctx, x, 1, 1, B, Cin, H, W, weight, Cout, kernel, stride, pad, mean, var, gamma, beta, eps,
                   residual, relu, y);
}

clip_status nn_conv2d_bn_cm(const nn_ctx *ctx, const float *x, int x_nchw, int B, int Cin, int H, int W,
                            const float *weight, int Cout, int kernel, int stride, int pad, const float *mean,
                            const float *var, const float *gamma, const float *beta, float eps,
                            const float *residual, int relu, float *y) {
    return conv_bn(ctx, x, x_nchw, 0, B, Cin, H, W, weight, Cout, kernel, stride, pad, mean, var, gamma, beta, eps,
                   residual, relu, y);
}
