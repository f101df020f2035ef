/* Float32 building blocks of both towers. Every op runs on the model's
 * thread pool; layouts are row-major (token sequences [B, L, D], feature
 * maps NCHW). Training will add the matching backward passes here. */
#ifndef CLIP_NN_NN_H
#define CLIP_NN_NN_H
#include <stddef.h>

#include "clip.h"
#include "core/threadpool.h"

/* Weight layouts: PyTorch nn.Linear stores [out, in]; OpenAI's projection
 * matrices (`visual.proj`, `text_projection`) are used as x @ P with P
 * [in, out]. */
typedef enum nn_weight_layout { NN_OUT_IN = 0, NN_IN_OUT = 1 } nn_weight_layout;
typedef enum nn_activation { NN_ACT_NONE = 0, NN_ACT_QUICKGELU, NN_ACT_RELU } nn_activation;

typedef struct nn_state nn_state;

/* Precision of the products with a weight operand (nn_linear, the
 * convolutions); everything else is float32. Values match clip_weight_dtype. */
typedef enum nn_dtype { NN_F32 = 0, NN_BF16 = 1, NN_INT8 = 2 } nn_dtype;

typedef struct nn_ctx {
    clip_pool *pool;
    nn_state *state; /* packed weights and scratch (nn_ctx_init), or NULL */
    nn_dtype weight_dtype;
    /* A read-only file mapping the weights may lie in: once a weight from it
     * is packed, its pages are given back to the kernel (they fault in again
     * from the page cache if read) and it is not fingerprinted (it cannot
     * change). Zero when there is none. */
    const void *mapped;
    size_t mapped_bytes;
} nn_ctx;

/* Products pack their weight operand into the kernels' panel layout. With
 * a state (nn_ctx_init) each weight is packed once, on first use, and kept
 * until nn_ctx_release; without one, every call packs again (correct,
 * slower at small batches). The owner calls nn_ctx_init once after setting
 * up the context and nn_ctx_release before the weights go away; both are
 * idempotent. Packed copies are keyed by the weight's address, so weights
 * must not change or move while the state lives (a sampled fingerprint
 * catches most accidents and repacks, but is no guarantee: after updating
 * weights, release and init again). */
clip_status nn_ctx_init(nn_ctx *ctx);
void nn_ctx_release(nn_ctx *ctx);
/* Packs a weight now instead of on first use (for a load-time warm-up):
 * `w` as nn_linear takes it (N outputs, K inputs, `layout`). Needs a state. */
clip_status nn_prepare_weight(const nn_ctx *ctx, const float *w, nn_weight_layout layout, int N, int K);

/* C[M,N] = A[M,K] (lda) . B^T (B [N,K], ldb) or . B (B [K,N], ldb)
 *          + beta * C (ldc). Split across the pool. */
void nn_gemm(const nn_ctx *ctx, int M, int N, int K, const float *A, int lda,
             const float *B, int ldb, nn_weight_layout b_layout, float beta,
             float *C, int ldc);

/* nn_gemm with A given transposed: C[M,N] = At^T . B + beta * C, At [K, M]
 * (lda >= M). The weight gradients of training (dW = dY^T X) read their
 * activations this way, so they are never transposed in memory. With
 * a_row_sums (or NULL), the sums of A's rows are added into it [M]: the
 * bias gradient (dY's column sums), from the packing pass. */
void nn_gemm_at(const nn_ctx *ctx, int M, int N, int K, const float *At, int lda, const float *B, int ldb,
                nn_weight_layout b_layout, float beta, float *C, int ldc, float *a_row_sums);

/* nn_gemm (a_transposed = 0) or nn_gemm_at (1) at the context's precision:
 * with weight_dtype NN_BF16 both operands are rounded to bf16 and summed in
 * float32, the products of mixed-precision training; otherwise float32.
 * bf16 needs a dense B and beta 0 or 1 (else it runs in float32).
 * a_row_sums as nn_gemm_at's (transposed A only; NULL otherwise). */
void nn_gemm_mixed(const nn_ctx *ctx, int M, int N, int K, const float *A, int lda, int a_transposed, const float *B,
                   int ldb, nn_weight_layout b_layout, float beta, float *C, int ldc, float *a_row_sums);

/* y[M,N] = act(x[M,K] W + bias) (+ residual), all in the product's
 * epilogue. `residual` may equal `y` (in-place residual add). `w` is a
 * weight: packed once and cached when the context has a state. */
void nn_linear(const nn_ctx *ctx, const float *x, int M, int K, const float *w,
               nn_weight_layout layout, int N, const float *bias, nn_activation act,
               const float *residual, float *y);
/* nn_linear with row strides for x, residual and y (e.g. writing q, k and v
 * of separate projections into one [rows, 3W] buffer). */
void nn_linear_ex(const nn_ctx *ctx, const float *x, int ldx, int M, int K, const float *w,
                  nn_weight_layout layout, int N, const float *bias, nn_activation act,
                  const float *residual, int ldr, float *y, int ldy);

/* nn_linear of LayerNorm(x) (over K, as nn_layernorm) without writing the
 * normalised rows out: each row tile is normalised while it is packed for
 * the product. Same results as nn_layernorm then nn_linear. `h` ([M, K]
 * floats) is only used where the fusion does not apply (bf16/int8 weights,
 * the BLAS path); x is not modified. */
void nn_linear_ln(const nn_ctx *ctx, const float *x, int M, int K, const float *gamma, const float *beta, float eps,
                  const float *w, nn_weight_layout layout, int N, const float *bias, nn_activation act,
                  const float *residual, float *y, float *h);

/* Row-wise LayerNorm over `dim` (biased variance), y may equal x. */
void nn_layernorm(const nn_ctx *ctx, const float *x, int rows, int dim,
                  const float *gamma, const float *beta, float eps, float *y);

/* Multi-head scaled dot-product attention. q, k, v hold B sequences of
 * length L with row stride `ld` (so a fused [B, L, 3W] qkv buffer works);
 * out is [B, L, W]. With causal != 0 position i attends to j <= i.
 * `scratch` holds nn_attention_scratch_floats(ctx, L) floats. */
void nn_attention(const nn_ctx *ctx, const float *q, const float *k, const float *v,
                  int ld, int B, int L, int width, int heads, int causal, float *scratch,
                  float *out);
size_t nn_attention_scratch_floats(const nn_ctx *ctx, int L);
/* The same attention for one query position per sequence, rows[b] of
 * sequence b (all L keys and values, or those up to it when causal): out
 * is [B, W], each row the floats nn_attention gives for that position.
 * The scratch is as nn_attention's. */
void nn_attention_rows(const nn_ctx *ctx, const float *q, const float *k, const float *v, int ld, int B, int L,
                       int width, int heads, int causal, const int *rows, float *scratch, float *out);

/* 2-D convolution without bias, x [B, Cin, H, W] -> y [B, Cout, Ho, Wo].
 * `scratch` is unused now (nn_conv2d_scratch_floats returns 0): the
 * im2col rows are gathered straight into the product's packed panels. */
void nn_conv2d(const nn_ctx *ctx, const float *x, int B, int Cin, int H, int W,
               const float *weight, int Cout, int kernel, int stride, int pad,
               float *scratch, float *y);
size_t nn_conv2d_scratch_floats(int Cin, int H, int W, int kernel, int stride, int pad);
/* nn_conv2d followed by nn_batchnorm_eval (and ReLU when relu != 0) in one
 * pass: the batch norm is folded into the product's epilogue. Needs no
 * scratch; fails only when out of memory. */
clip_status nn_conv2d_bn(const nn_ctx *ctx, const float *x, int B, int Cin, int H, int W,
                         const float *weight, int Cout, int kernel, int stride, int pad,
                         const float *mean, const float *var, const float *gamma,
                         const float *beta, float eps, int relu, float *y);
/* nn_conv2d_bn with a residual added before the ReLU, in the same epilogue:
 * y = relu(bn(conv(x)) + residual) (ResNet's bottleneck output), residual
 * [B, Cout, Ho, Wo] (not aliasing y); NULL is nn_conv2d_bn. */
clip_status nn_conv2d_bn_add(const nn_ctx *ctx, const float *x, int B, int Cin, int H, int W,
                             const float *weight, int Cout, int kernel, int stride, int pad,
                             const float *mean, const float *var, const float *gamma,
                             const float *beta, float eps, const float *residual, int relu, float *y);
/* nn_conv2d_bn_add on the channel-major layout, which puts the batch along
 * the product's columns (one product over B * Ho * Wo pixels, no per-image
 * calls): y and residual [Cout, B, Ho, Wo]; x [Cin, B, H, W], or
 * [B, Cin, H, W] with x_nchw != 0 (a tower's input). */
clip_status nn_conv2d_bn_cm(const nn_ctx *ctx, const float *x, int x_nchw, int B, int Cin, int H, int W,
                            const float *weight, int Cout, int kernel, int stride, int pad,
                            const float *mean, const float *var, const float *gamma,
                            const float *beta, float eps, const float *residual, int relu, float *y);
static inline int nn_conv_out_size(int in, int kernel, int stride, int pad) {
    return (in + 2 * pad - kernel) / stride + 1;
}
/* Blocked feature maps, "NCHW16c" as in oneDNN and ONNX Runtime: channel c
 * of pixel (y, x) of image b is at data[(((b * C/16 + c/16) * Hp + y + border)
 * * Wp + x + border) * 16 + c % 16], Hp = H + 2 border, Wp = W + 2 border.
 * A convolution then reads a pixel's 16 channels as one vector and a row of
 * pixels as contiguous memory instead of gathering them, and the zero
 * border is a 3x3 convolution's padding. C is a multiple of 16; data is
 * 64-byte aligned. */
typedef struct nn_bmap {
    float *data;
    int n, C, H, W, border;
} nn_bmap;
size_t nn_bmap_floats(int n, int C, int H, int W, int border);
/* 64-byte aligned allocation of `floats` floats (free with free()). */
float *nn_alloc_floats(size_t floats);
/* Whether the blocked convolution runs here: float32 weights on the
 * AVX-512 kernels (elsewhere the towers keep the im2col path). */
int nn_conv_blocked_available(const nn_ctx *ctx);
/* y = act(bn(conv(x)) (+ residual)) as nn_conv2d_bn_add, on blocked maps,
 * stride 1 (ResNets downsample by pooling):
 * Cin and Cout multiples of 16, x->border >= pad, y [n, Cout, Ho, Wo] with
 * any border (zeroed here), residual like y (or NULL). The weight is
 * [Cout, Cin, k, k] as PyTorch stores it, packed once per context state. */
clip_status nn_conv2d_bn_blocked(const nn_ctx *ctx, const nn_bmap *x, const float *weight, int Cout, int kernel,
                                 int stride, int pad, const float *mean, const float *var, const float *gamma,
                                 const float *beta, float eps, const nn_bmap *residual, int relu, const nn_bmap *y);
/* AvgPool2d(k) with stride k between blocked maps (same arithmetic as
 * nn_avgpool); y's border is zeroed. */
void nn_avgpool_blocked(const nn_ctx *ctx, const nn_bmap *x, int k, const nn_bmap *y);
/* Layout changes: x [C, n, H, W] (channel-major, nn_conv2d_bn_cm's) into
 * y (border zeroed); x into y [n, C, H, W]. */
void nn_bmap_from_cm(const float *x, const nn_bmap *y);
void nn_bmap_to_nchw(const nn_bmap *x, float *y);
/* y [n, H*W, C] (pixel-major: a token sequence per image) from x. */
void nn_bmap_to_tokens(const nn_bmap *x, float *y);

/* Eval-mode BatchNorm with optional ReLU, in place, x [B, C, HW]. */
void nn_batchnorm_eval(const nn_ctx *ctx, float *x, int B, int C, int HW, const float *mean,
                       const float *var, const float *gamma, const float *beta,
                       float eps, int relu);
/* AvgPool2d(k) with stride k, x [B, C, H, W] -> y [B, C, H/k, W/k]. */
void nn_avgpool(const nn_ctx *ctx, const float *x, int B, int C, int H, int W, int k, float *y);

/* An op that cannot allocate its scratch skips its work and records the
 * failure (nn_note_failure: how many bytes it wanted); whoever runs a chain
 * of ops checks nn_take_failure afterwards (which also clears it) and
 * reports CLIP_ERR_NO_MEMORY instead of using the outputs. Per thread. */
void nn_note_failure(size_t bytes);
size_t nn_take_failure(void);

/* In-place activation over n values. */
void nn_quickgelu(float *x, size_t n);
/* y = QuickGELU(x) over n values, across the pool, x kept (training needs
 * both): one pass over memory instead of a copy and an in-place pass. */
void nn_quickgelu_to(const nn_ctx *ctx, const float *x, float *y, size_t n);
/* Softmax of one row in place. */
void nn_softmax_row(float *x, int n);

#endif
