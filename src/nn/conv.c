#include <string.h>

#include "nn/nn.h"

size_t nn_conv2d_scratch_floats(int Cin, int H, int W, int kernel, int stride, int pad) {
    if (kernel == 1 && stride == 1 && pad == 0) return 0;
    return (size_t)Cin * kernel * kernel * nn_conv_out_size(H, kernel, stride, pad) *
           nn_conv_out_size(W, kernel, stride, pad);
}

/* Rows of `col` are (cin, ky, kx) in the weight's flattening order, columns
 * the output pixels, so y = weight[Cout, Cin*k*k] . col. */
static void im2col(const float *x, int Cin, int H, int W, int k, int stride, int pad, int Ho, int Wo,
                   float *col) {
    for (int c = 0; c < Cin; c++) {
        for (int ky = 0; ky < k; ky++) {
            for (int kx = 0; kx < k; kx++) {
                float *dst = col + ((size_t)(c * k + ky) * k + kx) * Ho * Wo;
                for (int oy = 0; oy < Ho; oy++) {
                    int iy = oy * stride - pad + ky;
                    float *out_row = dst + (size_t)oy * Wo;
                    if (iy < 0 || iy >= H) {
                        memset(out_row, 0, (size_t)Wo * sizeof(float));
                        continue;
                    }
                    const float *in_row = x + ((size_t)c * H + iy) * W;
                    for (int ox = 0; ox < Wo; ox++) {
                        int ix = ox * stride - pad + kx;
                        out_row[ox] = (ix >= 0 && ix < W) ? in_row[ix] : 0.0f;
                    }
                }
            }
        }
    }
}

void nn_conv2d(const nn_ctx *ctx, const float *x, int B, int Cin, int H, int W, const float *weight,
               int Cout, int kernel, int stride, int pad, float *scratch, float *y) {
    int Ho = nn_conv_out_size(H, kernel, stride, pad), Wo = nn_conv_out_size(W, kernel, stride, pad);
    int K = Cin * kernel * kernel;
    int pixels = Ho * Wo;
    for (int b = 0; b < B; b++) {
        const float *in = x + (size_t)b * Cin * H * W;
        const float *col = in;
        if (kernel != 1 || stride != 1 || pad != 0) {
            im2col(in, Cin, H, W, kernel, stride, pad, Ho, Wo, scratch);
            col = scratch;
        }
        /* weight [Cout, K] . col [K, pixels]: col plays B in [K, N] layout. */
        nn_gemm(ctx, Cout, pixels, K, weight, K, col, pixels, NN_IN_OUT, 0.0f,
                y + (size_t)b * Cout * pixels, pixels);
    }
}
