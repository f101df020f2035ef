/* Portable kernels: the reference the vector versions are tested against
 * and the fallback for CPUs without AVX2. Plain loops the compiler may
 * vectorise for the baseline instruction set. */
#include <math.h>

#include "nn/kernels.h"

enum { NR = 16, MR_MAX = 4, KC = 256 };

static float activate1(float v, nn_activation act) {
    if (act == NN_ACT_QUICKGELU) return v / (1.0f + expf(-1.702f * v));
    if (act == NN_ACT_RELU) return v > 0 ? v : 0.0f;
    return v;
}

static void tile(const nn_tile_args *t) {
    int mr = t->mr;
    float acc[MR_MAX][NR] = {{0}};
    if (t->acc_in)
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < NR; j++) acc[i][j] = t->acc_in[i * NR + j];
    for (int k = 0; k < t->K; k++) {
        const float *a = t->Ap + (size_t)k * mr, *b = t->Bp + (size_t)k * NR;
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < NR; j++) acc[i][j] += a[i] * b[j];
    }
    if (t->acc_out) {
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < NR; j++) t->acc_out[i * NR + j] = acc[i][j];
        return;
    }
    const nn_epilogue *ep = t->ep;
    for (int i = 0; i < mr; i++) {
        float *c = t->C + (size_t)i * t->ldc;
        const float *res = t->residual ? t->residual + (size_t)i * ep->ldr : NULL;
        for (int j = 0; j < t->nr; j++) {
            float v = ep->alpha * acc[i][j];
            if (t->row_scale) v = fmaf(v, t->row_scale[i], t->row_shift[i]);
            if (ep->beta != 0.0f) v += ep->beta * c[j];
            if (t->bias) v += t->bias[j];
            if (res && ep->residual_first) v += res[j];
            v = activate1(v, ep->act);
            if (res && !ep->residual_first) v += res[j];
            c[j] = v;
        }
    }
}

static void softmax_row(float *x, int n) {
    float max = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > max) max = x[i];
    float sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++) x[i] *= inv;
}

/* Double statistics keep the mean and variance as exact as PyTorch's
 * (Welford in float32) whatever the summation order. */
static void layernorm_row(const float *x, int dim, const float *gamma, const float *beta, float eps, float *y) {
    double sum = 0;
    for (int c = 0; c < dim; c++) sum += x[c];
    double mean = sum / dim, sq = 0;
    for (int c = 0; c < dim; c++) {
        double d = x[c] - mean;
        sq += d * d;
    }
    float inv = (float)(1.0 / sqrt(sq / dim + eps)), m = (float)mean;
    for (int c = 0; c < dim; c++) y[c] = (x[c] - m) * inv * gamma[c] + beta[c];
}

static void activate(float *x, size_t n, nn_activation act) {
    if (act == NN_ACT_NONE) return;
    for (size_t i = 0; i < n; i++) x[i] = activate1(x[i], act);
}

const nn_kernels nn_kernels_generic = {"generic", 0, NR, MR_MAX, KC, tile, softmax_row, layernorm_row, activate};
/* The same row ops, products by the BLAS. */
const nn_kernels nn_kernels_blas = {"blas", 1, NR, MR_MAX, KC, tile, softmax_row, layernorm_row, activate};
