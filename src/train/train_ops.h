/* Backward passes of the src/nn ops (and the few training-only forwards,
 * such as batch-statistics BatchNorm). Products go through nn_gemm on the
 * model's pool; reductions run as a fixed number of tasks whose partial sums
 * are combined in task order, so results do not depend on the thread count.
 * Gradient outputs named d<param> are accumulated (+=) so that gradient
 * accumulation over micro-batches and shared parameters need no extra pass;
 * activation gradients are overwritten unless a beta says otherwise. */
#ifndef CLIP_TRAIN_OPS_H
#define CLIP_TRAIN_OPS_H
#include <stddef.h>
#include <stdint.h>

#include "nn/nn.h"

/* dst[cols, rows] = src[rows, cols] (row stride ld_src). */
void tr_transpose(const float *src, int rows, int cols, int ld_src, float *dst);

/* Backward of y[M,N] = x[M,K] W (+ b), W in `layout` as nn_linear takes it:
 *   dx = beta_dx * dx + dy W^T-ish   (skipped when dx is NULL)
 *   dw += the weight gradient in W's own layout (skipped when NULL)
 *   db += column sums of dy            (skipped when NULL) */
void tr_linear_backward(const nn_ctx *ctx, const float *x, int M, int K, const float *w, nn_weight_layout layout,
                        int N, const float *dy, float *dx, float beta_dx, float *dw, float *db);
/* acc[c] += sum over rows of x[r, c] (double accumulation). */
void tr_column_sums(const nn_ctx *ctx, const float *x, int rows, int cols, float *acc);

/* Row-wise LayerNorm backward; the statistics are recomputed from x as
 * nn_layernorm does (double). dx = beta_dx * dx + d(LN)/dx . dy. */
void tr_layernorm_backward(const nn_ctx *ctx, const float *x, int rows, int dim, const float *gamma, float eps,
                           const float *dy, float *dx, float beta_dx, float *dgamma, float *dbeta);

/* Multi-head attention backward over a fused qkv [B, L, 3W] buffer (as the
 * forward's nn_attention reads it): the probabilities are recomputed from
 * q and k instead of being stored, so activation memory stays O(L W).
 * dout [B, L, W]; dqkv [B, L, 3W] is overwritten. */
void tr_attention_backward(const nn_ctx *ctx, const float *qkv, int B, int L, int W, int heads, int causal,
                           const float *dout, float *dqkv);

/* d[i] *= QuickGELU'(u[i]), in place; g = QuickGELU(u), the forward's output. */
void tr_quickgelu_backward(const nn_ctx *ctx, const float *u, const float *g, float *d, size_t n);

/* Convolution backward (no bias), x [B, Cin, H, W], dy [B, Cout, Ho, Wo]:
 * dweight += dy (x) im2col(x); dx = col2im(W^T dy) when dx is not NULL.
 * `scratch` holds tr_conv2d_backward_scratch(...) floats. */
void tr_conv2d_backward(const nn_ctx *ctx, const float *x, int B, int Cin, int H, int W, const float *weight,
                        int Cout, int kernel, int stride, int pad, const float *dy, float *dx, float *dweight,
                        float *scratch);
size_t tr_conv2d_backward_scratch(int Cin, int Cout, int H, int W, int kernel, int stride, int pad);

/* AvgPool2d(k) backward: dx[B, C, H, W] = beta * dx + dy / k^2 spread over
 * each window. */
void tr_avgpool_backward(const nn_ctx *ctx, const float *dy, int B, int C, int H, int W, int k, float *dx, float beta);

/* Training-mode BatchNorm over y [B, C, HW]: batch mean and biased
 * variance normalise (PyTorch's CPU arithmetic: double statistics, then
 * out = y * (gamma * invstd) + (beta - mean * gamma * invstd)); the running
 * statistics move by `momentum` towards the batch mean and the UNBIASED
 * variance. save_mean / save_invstd [C] keep what the backward needs.
 * sync != 0: the statistics are those of the batches of every rank together
 * (SyncBatchNorm for data-parallel training; every rank must call it). */
clip_status tr_batchnorm_train_forward(const nn_ctx *ctx, const float *y, int B, int C, int HW, const float *gamma,
                                       const float *beta, float eps, float momentum, float *running_mean,
                                       float *running_var, float *save_mean, float *save_invstd, int relu, int sync,
                                       float *out);
/* invstd[c] = 1 / sqrt(var[c] + eps), as the eval forward computes it. */
void tr_batchnorm_eval_invstd(const float *running_var, int C, float eps, float *invstd);
/* BatchNorm backward. `out` is the forward's output: when relu != 0 the
 * gradient is masked where out <= 0 first. train != 0: through the batch
 * statistics; otherwise mean/invstd are constants (eval or frozen mode).
 * dy = d(loss)/d(y) is overwritten (skipped when NULL); dgamma, dbeta
 * accumulate this rank's share. sync as in the forward (train mode only). */
clip_status tr_batchnorm_backward(const nn_ctx *ctx, const float *y, int B, int C, int HW, const float *gamma,
                                  const float *mean, const float *invstd, int train, int sync, const float *out,
                                  int relu, const float *dout, float *dy, float *dgamma, float *dbeta);

#endif
