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

typedef struct conv_src {
    const float *x; /* one image [Cin, H, W] */
    int Cin, H, W, k, stride, pad, Ho, Wo;
} conv_src;

static int ceil_div(int a, int b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/* Output pixels [j0, j0 + run) of one output row `oy`, starting at column
 * ox0, for every (c, ky, kx) row of the panel. */
static void gather_run(const conv_src *s, int nr, int oy, int ox0, int run, float *dst) {
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
                    const float *src = s->x + ((size_t)c * s->H + iy) * s->W + (ox0 + lo) * st - s->pad + kx;
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
    int nr = kn->nr, N = s->Ho * s->Wo, K = s->Cin * s->k * s->k;
    int pointwise = s->k == 1 && s->stride == 1 && s->pad == 0;
    for (int p = p0; p < p1; p++) {
        float *dst = packed + (size_t)p * nr * K;
        int n0 = p * nr, cols = N - n0 < nr ? N - n0 : nr;
        if (pointwise) {
            for (int c = 0; c < K; c++)
                memcpy(dst + (size_t)c * nr, s->x + (size_t)c * N + n0, (size_t)cols * sizeof(float));
        } else {
            for (int j = 0; j < cols;) {
                int oy = (n0 + j) / s->Wo, ox0 = (n0 + j) % s->Wo;
                int run = s->Wo - ox0 < cols - j ? s->Wo - ox0 : cols - j;
                gather_run(s, nr, oy, ox0, run, dst + j);
                j += run;
            }
        }
        if (cols < nr)
            for (int c = 0; c < K; c++) memset(dst + (size_t)c * nr + cols, 0, (size_t)(nr - cols) * sizeof(float));
    }
}

/* The BLAS fallback needs col itself: the panels of width `pixels` are
 * exactly the [K, pixels] matrix. */
static int conv_blas(const nn_ctx *ctx, const conv_src *src, const float *weight, int Cout, const nn_epilogue *ep,
                     float *y) {
    int K = src->Cin * src->k * src->k, pixels = src->Ho * src->Wo;
    float *col = malloc((size_t)K * pixels * sizeof(float));
    if (!col) return -1;
    nn_kernels wide = nn_kernels_blas;
    wide.nr = pixels;
    pack_conv_panels(src, &wide, 0, 1, col);
    nn_gemm_ep(ctx, Cout, pixels, K, weight, K, col, pixels, NN_IN_OUT, 0, ep, y, pixels);
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
    int K = s->Cin * s->k * s->k;
    if (s->k == 1 && s->stride == 1 && s->pad == 0) { /* a transpose: reads along the pixels */
        for (int c = 0; c < s->Cin; c++) {
            const float *src = s->x + (size_t)c * s->H * s->W + i0;
            for (int t = 0; t < n; t++) out[(size_t)t * K + c] = src[t];
        }
        return;
    }
    int oy[NN_Q_GATHER], ox[NN_Q_GATHER];
    for (int t = 0; t < n; t++) oy[t] = (i0 + t) / s->Wo * s->stride - s->pad, ox[t] = (i0 + t) % s->Wo * s->stride - s->pad;
    for (int c = 0, col = 0; c < s->Cin; c++) {
        const float *plane = s->x + (size_t)c * s->H * s->W;
        for (int ky = 0; ky < s->k; ky++)
            for (int kx = 0; kx < s->k; kx++, col++)
                for (int t = 0; t < n; t++) {
                    int iy = oy[t] + ky, ix = ox[t] + kx;
                    out[(size_t)t * K + col] =
                        (unsigned)iy < (unsigned)s->H && (unsigned)ix < (unsigned)s->W ? plane[(size_t)iy * s->W + ix] : 0.0f;
                }
    }
}

static void conv_reduced(const nn_ctx *ctx, const conv_src *src, const float *weight, int Cout,
                         const nn_epilogue *ep, float *out) {
    int K = src->Cin * src->k * src->k, pixels = src->Ho * src->Wo;
    nn_qsource a = {.rows = gather_rows, .src = src};
    nn_qepilogue qe = {.act = ep->act, .col_scale = ep->row_scale, .col_shift = ep->row_shift, .transposed = 1};
    nn_qgemm(ctx, ctx->weight_dtype, pixels, Cout, K, &a, weight, NN_OUT_IN, &qe, out, pixels);
}

/* ep->residual, when set, is [B, Cout, pixels] like y (ldr = pixels). */
static int conv(const nn_ctx *ctx, const float *x, int B, int Cin, int H, int W, const float *weight, int Cout,
                int kernel, int stride, int pad, const nn_epilogue *ep, float *y) {
    int Ho = nn_conv_out_size(H, kernel, stride, pad), Wo = nn_conv_out_size(W, kernel, stride, pad);
    int K = Cin * kernel * kernel, pixels = Ho * Wo;
    if (ctx->weight_dtype != NN_F32) {
        /* The reduced-precision epilogue has no residual: added after. */
        nn_epilogue plain = *ep;
        plain.residual = NULL;
        if (ep->residual) plain.act = NN_ACT_NONE;
        for (int b = 0; b < B; b++) {
            conv_src src = {x + (size_t)b * Cin * H * W, Cin, H, W, kernel, stride, pad, Ho, Wo};
            float *out = y + (size_t)b * Cout * pixels;
            conv_reduced(ctx, &src, weight, Cout, &plain, out);
            if (ep->residual) {
                const float *res = ep->residual + (size_t)b * Cout * pixels;
                for (size_t i = 0; i < (size_t)Cout * pixels; i++) {
                    float v = out[i] + res[i];
                    out[i] = ep->act == NN_ACT_RELU && v < 0 ? 0.0f : v;
                }
            }
        }
        return 0;
    }
    int blas = nn_kernels_active()->use_blas;
    for (int b = 0; b < B; b++) {
        conv_src src = {x + (size_t)b * Cin * H * W, Cin, H, W, kernel, stride, pad, Ho, Wo};
        float *out = y + (size_t)b * Cout * pixels;
        nn_epilogue e = *ep;
        if (ep->residual) e.residual = ep->residual + (size_t)b * Cout * pixels, e.ldr = pixels;
        if (!blas)
            nn_gemm_weight_a(ctx, Cout, pixels, K, weight, K, pack_conv_panels, &src, &e, out, pixels);
        else if (conv_blas(ctx, &src, weight, Cout, &e, out) != 0)
            return -1;
    }
    return 0;
}

void nn_conv2d(const nn_ctx *ctx, const float *x, int B, int Cin, int H, int W, const float *weight, int Cout,
               int kernel, int stride, int pad, float *scratch, float *y) {
    (void)scratch;
    nn_epilogue ep = {.alpha = 1.0f};
    /* Only the BLAS fallback allocates; the caller reports it (nn_take_failure). */
    if (conv(ctx, x, B, Cin, H, W, weight, Cout, kernel, stride, pad, &ep, y) != 0) nn_note_failure(0);
}

clip_status nn_conv2d_bn(const nn_ctx *ctx, const float *x, int B, int Cin, int H, int W, const float *weight,
                         int Cout, int kernel, int stride, int pad, const float *mean, const float *var,
                         const float *gamma, const float *beta, float eps, int relu, float *y) {
    return nn_conv2d_bn_add(ctx, x, B, Cin, H, W, weight, Cout, kernel, stride, pad, mean, var, gamma, beta, eps, NULL,
                            relu, y);
}

clip_status nn_conv2d_bn_add(const nn_ctx *ctx, const float *x, int B, int Cin, int H, int W, const float *weight,
                             int Cout, int kernel, int stride, int pad, const float *mean, const float *var,
                             const float *gamma, const float *beta, float eps, const float *residual, int relu,
                             float *y) {
    float *affine = malloc((size_t)2 * Cout * sizeof(float));
    if (!affine) return clip_fail(CLIP_ERR_NO_MEMORY, "convolution: out of memory");
    /* nn_batchnorm_eval's per-channel scale and shift, applied to the sums
     * in registers (one fused multiply-add instead of a pass over y). */
    for (int c = 0; c < Cout; c++) {
        float inv_std = 1.0f / sqrtf(var[c] + eps);
        affine[c] = gamma[c] * inv_std;
        affine[Cout + c] = beta[c] - mean[c] * affine[c];
    }
    nn_epilogue ep = {.alpha = 1.0f, .row_scale = affine, .row_shift = affine + Cout,
                      .act = relu ? NN_ACT_RELU : NN_ACT_NONE, .residual = residual, .residual_first = 1};
    int failed = conv(ctx, x, B, Cin, H, W, weight, Cout, kernel, stride, pad, &ep, y);
    free(affine);
    return failed ? clip_fail(CLIP_ERR_NO_MEMORY, "convolution: out of memory") : CLIP_OK;
}
