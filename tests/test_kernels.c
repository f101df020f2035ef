/* src/nn kernels on every dispatch path this CPU has (portable C, BLAS,
 * AVX2, AVX-512) against naive double-precision references, on random shapes
 * including odd and fringe sizes: products with each epilogue, both weight
 * layouts, cached and uncached weights, 1 and 3 threads; attention (causal
 * and not), LayerNorm, softmax, QuickGELU, convolution. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "nn/kernels.h"
#include "nn/state.h"

static const double EPS = 5.96e-8; /* float32 unit roundoff */

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / (1ull << 24))) * 2.0f - 1.0f;
}
static int irand(int lo, int hi) { return lo + (int)(((rng = rng * 6364136223846793005ull + 1442695040888963407ull) >> 33) % (uint64_t)(hi - lo + 1)); }
static float *rand_floats(size_t n) {
    float *x = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = frand();
    return x;
}

static double act_ref(double v, nn_activation act) {
    if (act == NN_ACT_QUICKGELU) return v / (1.0 + exp(-1.702 * v));
    if (act == NN_ACT_RELU) return v > 0 ? v : 0;
    return v;
}

/* |got - ref| within a float32 summation bound: (K + 8) eps times the sum
 * of the magnitudes that went in, plus a few ulps of the result. */
static int close_enough(float got, double ref, double magnitude, int K) {
    return fabs(got - ref) <= (K + 8) * EPS * magnitude + 8 * EPS * fabs(ref) + 1e-30;
}

typedef struct case_shape {
    int M, N, K;
} case_shape;

static void check_linear(const char *path, nn_ctx *ctx, case_shape s, nn_weight_layout layout, int with_bias,
                         nn_activation act, int with_residual) {
    int M = s.M, N = s.N, K = s.K, ldx = K + 3, ldy = N + 5;
    float *x = rand_floats((size_t)M * ldx), *w = rand_floats((size_t)N * K), *bias = rand_floats((size_t)N);
    float *res = rand_floats((size_t)M * ldy), *y = rand_floats((size_t)M * ldy);
    for (int pass = 0; pass < 2; pass++) { /* second pass: the cached packing */
        nn_linear_ex(ctx, x, ldx, M, K, w, layout, N, with_bias ? bias : NULL, act, with_residual ? res : NULL, ldy,
                     y, ldy);
        int bad = 0;
        double worst = 0;
        for (int i = 0; i < M && bad < 3; i++)
            for (int j = 0; j < N; j++) {
                double acc = 0, mag = 0;
                for (int k = 0; k < K; k++) {
                    double wv = layout == NN_OUT_IN ? w[(size_t)j * K + k] : w[(size_t)k * N + j];
                    acc += (double)x[(size_t)i * ldx + k] * wv;
                    mag += fabs((double)x[(size_t)i * ldx + k] * wv);
                }
                if (with_bias) {
                    acc += bias[j];
                    mag += fabs(bias[j]);
                }
                acc = act_ref(acc, act);
                if (with_residual) {
                    acc += res[(size_t)i * ldy + j];
                    mag += fabs(res[(size_t)i * ldy + j]);
                }
                float got = y[(size_t)i * ldy + j];
                if (fabs(got - acc) > worst) worst = fabs(got - acc);
                if (!close_enough(got, acc, mag, K) && bad++ == 0 && getenv("DBG"))
                    fprintf(stderr, "i=%d j=%d got %g ref %g\n", i, j, got, acc);
            }
        CHECK(bad == 0, "%s linear M=%d N=%d K=%d layout=%d bias=%d act=%d res=%d pass=%d: max diff %.3g", path, M,
              N, K, layout, with_bias, act, with_residual, pass, worst);
    }
    /* Packed copies are keyed by address: the next malloc may reuse w's,
     * so the cache goes with the weight (the contract nn.h states). */
    if (ctx->state) {
        nn_ctx_release(ctx);
        CHECK(nn_ctx_init(ctx) == CLIP_OK, "nn_ctx_init");
    }
    free(x);
    free(w);
    free(bias);
    free(res);
    free(y);
}

static void check_gemm_beta(const char *path, const nn_ctx *ctx, case_shape s) {
    int M = s.M, N = s.N, K = s.K;
    float *a = rand_floats((size_t)M * K), *b = rand_floats((size_t)K * N), *c = rand_floats((size_t)M * N);
    float *c0 = malloc((size_t)M * N * sizeof(float));
    memcpy(c0, c, (size_t)M * N * sizeof(float));
    nn_gemm(ctx, M, N, K, a, K, b, N, NN_IN_OUT, 1.0f, c, N);
    int bad = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = c0[(size_t)i * N + j], mag = fabs(acc);
            for (int k = 0; k < K; k++) {
                acc += (double)a[(size_t)i * K + k] * b[(size_t)k * N + j];
                mag += fabs((double)a[(size_t)i * K + k] * b[(size_t)k * N + j]);
            }
            if (!close_enough(c[(size_t)i * N + j], acc, mag, K)) bad++;
        }
    CHECK(bad == 0, "%s gemm beta=1 M=%d N=%d K=%d: %d bad", path, M, N, K, bad);
    free(a);
    free(b);
    free(c);
    free(c0);
}

/* nn_gemm_at: C = At^T B + C with At [K, M] of stride lda > M, B in both
 * layouts (what the weight gradients of training run). */
static void check_gemm_at(const char *path, const nn_ctx *ctx, case_shape s, nn_weight_layout layout) {
    int M = s.M, N = s.N, K = s.K, lda = M + 3;
    float *at = rand_floats((size_t)K * lda), *b = rand_floats((size_t)K * N), *c = rand_floats((size_t)M * N);
    float *c0 = malloc((size_t)M * N * sizeof(float));
    memcpy(c0, c, (size_t)M * N * sizeof(float));
    /* IN_OUT: B [K, N]; OUT_IN: B [N, K]. */
    float *sums = rand_floats((size_t)M), *sums0 = malloc((size_t)M * sizeof(float));
    memcpy(sums0, sums, (size_t)M * sizeof(float));
    nn_gemm_at(ctx, M, N, K, at, lda, b, layout == NN_IN_OUT ? N : K, layout, 1.0f, c, N, sums);
    int bad = 0, bad_sums = 0;
    for (int i = 0; i < M; i++) { /* the row sums of A (columns of At), added */
        double acc = sums0[i], mag = fabs(acc);
        for (int k = 0; k < K; k++) {
            acc += at[(size_t)k * lda + i];
            mag += fabs(at[(size_t)k * lda + i]);
        }
        if (!close_enough(sums[i], acc, mag, 1)) bad_sums++;
    }
    CHECK(bad_sums == 0, "%s gemm_at row sums M=%d K=%d: %d bad", path, M, K, bad_sums);
    free(sums);
    free(sums0);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = c0[(size_t)i * N + j], mag = fabs(acc);
            for (int k = 0; k < K; k++) {
                double bv = layout == NN_IN_OUT ? b[(size_t)k * N + j] : b[(size_t)j * K + k];
                acc += (double)at[(size_t)k * lda + i] * bv;
                mag += fabs((double)at[(size_t)k * lda + i] * bv);
            }
            if (!close_enough(c[(size_t)i * N + j], acc, mag, K)) bad++;
        }
    CHECK(bad == 0, "%s gemm_at M=%d N=%d K=%d layout=%d: %d bad", path, M, N, K, layout, bad);
    free(at);
    free(b);
    free(c);
    free(c0);
}

/* The same product with 1 and 3 threads, cached and not: bit-identical,
 * since every output is one tile kernel's sum over K in the same order. */
static void check_threads_identical(const char *path) {
    int M = 97, N = 200, K = 300; /* K blocked on every path */
    float *x = rand_floats((size_t)M * K), *w = rand_floats((size_t)N * K), *bias = rand_floats((size_t)N);
    float *y1 = malloc((size_t)M * N * sizeof(float)), *y3 = malloc((size_t)M * N * sizeof(float));
    nn_ctx one = {.pool = clip_pool_create(1)}, three = {.pool = clip_pool_create(3)};
    nn_linear(&one, x, M, K, w, NN_OUT_IN, N, bias, NN_ACT_QUICKGELU, NULL, y1);
    CHECK(nn_ctx_init(&three) == CLIP_OK, "nn_ctx_init");
    CHECK(nn_prepare_weight(&three, w, NN_OUT_IN, N, K) == CLIP_OK, "nn_prepare_weight");
    nn_linear(&three, x, M, K, w, NN_OUT_IN, N, bias, NN_ACT_QUICKGELU, NULL, y3);
    CHECK(memcmp(y1, y3, (size_t)M * N * sizeof(float)) == 0, "%s: 1 thread uncached != 3 threads cached", path);
    nn_ctx_release(&three);
    nn_ctx_release(&three); /* idempotent */
    clip_pool_destroy(one.pool);
    clip_pool_destroy(three.pool);
    free(x);
    free(w);
    free(bias);
    free(y1);
    free(y3);
}

/* A cached weight whose values change in place is repacked, not reused
 * stale (the fingerprint; nn.h still asks callers not to do this). */
static void check_changed_weight(const char *path) {
    int M = 5, N = 40, K = 30;
    float *x = rand_floats((size_t)M * K), *w = rand_floats((size_t)N * K);
    float *y1 = malloc((size_t)M * N * sizeof(float)), *y2 = malloc((size_t)M * N * sizeof(float));
    nn_ctx cached = {.pool = clip_pool_create(1)}, plain = {.pool = clip_pool_create(1)};
    CHECK(nn_ctx_init(&cached) == CLIP_OK, "nn_ctx_init");
    nn_linear(&cached, x, M, K, w, NN_OUT_IN, N, NULL, NN_ACT_NONE, NULL, y1);
    for (int i = 0; i < N * K; i++) w[i] = -2.0f * w[i];
    nn_linear(&cached, x, M, K, w, NN_OUT_IN, N, NULL, NN_ACT_NONE, NULL, y1);
    nn_linear(&plain, x, M, K, w, NN_OUT_IN, N, NULL, NN_ACT_NONE, NULL, y2);
    CHECK(memcmp(y1, y2, (size_t)M * N * sizeof(float)) == 0, "%s: stale packed weight used", path);
    nn_ctx_release(&cached);
    clip_pool_destroy(cached.pool);
    clip_pool_destroy(plain.pool);
    free(x);
    free(w);
    free(y1);
    free(y2);
}

/* The fused AVX-512 head (attention_avx512.c) promises the tile path's
 * floats: every head of every sequence, recomputed here through the tile
 * products and softmax_row, must match `out` bit for bit. */
static void check_fused_head_identical(const float *qkv, int ld, int B, int L, int W, int d, int causal,
                                       const float *out) {
    const nn_kernels *k = &nn_kernels_avx512;
    size_t qk = nn_gemm_local_scratch_floats(k, L, L, d), pv = nn_gemm_local_scratch_floats(k, L, d, L);
    float *scratch = nn_alloc_floats(qk > pv ? qk : pv), *scores = malloc((size_t)L * L * sizeof(float));
    float *ref = malloc((size_t)L * d * sizeof(float));
    nn_epilogue scaled = {.alpha = 1.0f / sqrtf((float)d)}, plain = {.alpha = 1.0f};
    int differ = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < W / d; h++) {
            const float *q = qkv + (size_t)b * L * ld + (size_t)h * d;
            nn_gemm_local(k, L, L, d, q, ld, q + W, ld, NN_OUT_IN, &scaled, scores, L, scratch);
            for (int i = 0; i < L; i++) {
                int n = causal ? i + 1 : L;
                k->softmax_row(scores + (size_t)i * L, n);
                for (int c = n; c < L; c++) scores[(size_t)i * L + c] = 0.0f;
            }
            nn_gemm_local(k, L, d, L, scores, L, q + 2 * W, ld, NN_IN_OUT, &plain, ref, d, scratch);
            const float *o = out + (size_t)b * L * W + (size_t)h * d;
            for (int i = 0; i < L; i++)
                for (int c = 0; c < d; c++) differ += o[(size_t)i * W + c] != ref[(size_t)i * d + c];
        }
    CHECK(differ == 0, "fused attention B=%d L=%d causal=%d: %d values differ from the tile path", B, L, causal,
          differ);
    free(scratch);
    free(scores);
    free(ref);
}

static void check_attention(const char *path, const nn_ctx *ctx, int B, int L, int heads, int d, int causal) {
    int W = heads * d, ld = 3 * W;
    float *qkv = rand_floats((size_t)B * L * ld), *out = malloc((size_t)B * L * W * sizeof(float));
    for (size_t i = 0; i < (size_t)B * L * ld; i++) qkv[i] *= 2.0f;
    float *scratch = malloc(nn_attention_scratch_floats(ctx, L) * sizeof(float));
    nn_attention(ctx, qkv, qkv + W, qkv + 2 * W, ld, B, L, W, heads, causal, scratch, out);
    double *p = malloc((size_t)L * sizeof(double));
    int bad = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < L; i++) {
                const float *q = qkv + ((size_t)b * L + i) * ld + h * d;
                int n = causal ? i + 1 : L;
                double max = -INFINITY, sum = 0;
                for (int j = 0; j < n; j++) {
                    const float *k = qkv + ((size_t)b * L + j) * ld + W + h * d;
                    double dot = 0;
                    for (int c = 0; c < d; c++) dot += (double)q[c] * k[c];
                    p[j] = dot / sqrt((double)d);
                    if (p[j] > max) max = p[j];
                }
                for (int j = 0; j < n; j++) sum += p[j] = exp(p[j] - max);
                for (int c = 0; c < d; c++) {
                    double acc = 0, mag = 0;
                    for (int j = 0; j < n; j++) {
                        double v = qkv[((size_t)b * L + j) * ld + 2 * W + h * d + c];
                        acc += p[j] / sum * v;
                        mag += fabs(p[j] / sum * v);
                    }
                    /* scores carry d-term rounding that exp amplifies by |score|. */
                    if (!close_enough(out[((size_t)b * L + i) * W + h * d + c], acc, mag * (1 + 4 * d), L)) bad++;
                }
            }
    CHECK(bad == 0, "%s attention B=%d L=%d heads=%d d=%d causal=%d: %d bad", path, B, L, heads, d, causal, bad);
    if (nn_kernels_active() == &nn_kernels_avx512 && nn_attention_head_avx512_fits(L, d))
        check_fused_head_identical(qkv, ld, B, L, W, d, causal, out);
    free(qkv);
    free(out);
    free(scratch);
    free(p);
}

static void check_rows(const char *path, const nn_ctx *ctx) {
    int dims[] = {1, 7, 16, 33, 64, 100, 768};
    for (size_t t = 0; t < sizeof dims / sizeof dims[0]; t++) {
        int n = dims[t], rows = 5;
        float *x = rand_floats((size_t)rows * n), *g = rand_floats((size_t)n), *be = rand_floats((size_t)n);
        for (int i = 0; i < rows * n; i++) x[i] = x[i] * 3.0f + 0.5f;
        float *y = malloc((size_t)rows * n * sizeof(float));
        nn_layernorm(ctx, x, rows, n, g, be, 1e-5f, y);
        int bad = 0;
        for (int r = 0; r < rows; r++) {
            const float *xr = x + (size_t)r * n;
            double mean = 0, var = 0;
            for (int c = 0; c < n; c++) mean += xr[c];
            mean /= n;
            for (int c = 0; c < n; c++) var += (xr[c] - mean) * (xr[c] - mean);
            double inv = 1.0 / sqrt(var / n + 1e-5);
            for (int c = 0; c < n; c++) {
                double ref = (xr[c] - mean) * inv * g[c] + be[c];
                double mag = fabs((xr[c] - mean) * inv * g[c]) + fabs(be[c]);
                if (!close_enough(y[(size_t)r * n + c], ref, mag, 8)) bad++;
            }
        }
        CHECK(bad == 0, "%s layernorm dim=%d: %d bad", path, n, bad);

        float *s = malloc((size_t)n * sizeof(float));
        for (int i = 0; i < n; i++) s[i] = x[i] * 4.0f;
        nn_softmax_row(s, n);
        double max = -INFINITY, sum = 0;
        for (int i = 0; i < n; i++)
            if (x[i] * 4.0 > max) max = x[i] * 4.0;
        for (int i = 0; i < n; i++) sum += exp((double)x[i] * 4.0 - max);
        bad = 0;
        for (int i = 0; i < n; i++)
            if (!close_enough(s[i], exp((double)x[i] * 4.0 - max) / sum, 1.0 / sum, n)) bad++;
        CHECK(bad == 0, "%s softmax n=%d: %d bad", path, n, bad);

        for (int i = 0; i < n; i++) s[i] = x[i] * 8.0f;
        nn_quickgelu(s, (size_t)n);
        bad = 0;
        for (int i = 0; i < n; i++)
            if (!close_enough(s[i], act_ref(x[i] * 8.0, NN_ACT_QUICKGELU), fabs(x[i] * 8.0), 8)) bad++;
        CHECK(bad == 0, "%s quickgelu n=%d: %d bad", path, n, bad);
        free(x);
        free(g);
        free(be);
        free(y);
        free(s);
    }
}

static void check_conv(const char *path, nn_ctx *ctx, int H, int W, int k, int stride, int pad) {
    int B = 2, Cin = 5, Cout = 11;
    int Ho = nn_conv_out_size(H, k, stride, pad), Wo = nn_conv_out_size(W, k, stride, pad);
    float *x = rand_floats((size_t)B * Cin * H * W), *w = rand_floats((size_t)Cout * Cin * k * k);
    float *y = malloc((size_t)B * Cout * Ho * Wo * sizeof(float));
    float *scratch = malloc(nn_conv2d_scratch_floats(Cin, H, W, k, stride, pad) * sizeof(float));
    nn_conv2d(ctx, x, B, Cin, H, W, w, Cout, k, stride, pad, scratch, y);
    int bad = 0;
    for (int b = 0; b < B; b++)
        for (int o = 0; o < Cout; o++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++) {
                    double acc = 0, mag = 0;
                    for (int c = 0; c < Cin; c++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                double v = (double)x[(((size_t)b * Cin + c) * H + iy) * W + ix] *
                                           w[(((size_t)o * Cin + c) * k + ky) * k + kx];
                                acc += v;
                                mag += fabs(v);
                            }
                    if (!close_enough(y[(((size_t)b * Cout + o) * Ho + oy) * Wo + ox], acc, mag, Cin * k * k)) bad++;
                }
    CHECK(bad == 0, "%s conv2d %dx%d k=%d stride=%d pad=%d: %d bad", path, H, W, k, stride, pad, bad);

    /* Folded batch norm + ReLU: the separate passes up to the one rounding
     * the fused multiply-add saves. */
    float *mean = rand_floats((size_t)Cout), *var = rand_floats((size_t)Cout), *g = rand_floats((size_t)Cout);
    float *be = rand_floats((size_t)Cout), *fused = malloc((size_t)B * Cout * Ho * Wo * sizeof(float));
    for (int c = 0; c < Cout; c++) var[c] = var[c] * var[c] + 0.1f;
    nn_batchnorm_eval(ctx, y, B, Cout, Ho * Wo, mean, var, g, be, 1e-5f, 1);
    CHECK(nn_conv2d_bn(ctx, x, B, Cin, H, W, w, Cout, k, stride, pad, mean, var, g, be, 1e-5f, 1, fused) == CLIP_OK,
          "nn_conv2d_bn");
    bad = 0;
    for (size_t i = 0; i < (size_t)B * Cout * Ho * Wo; i++)
        if (fabs(fused[i] - y[i]) > 1e-5 * (1 + fabs(y[i]))) bad++;
    CHECK(bad == 0, "%s conv2d_bn: %d differ from conv2d + batchnorm", path, bad);
    /* Residual before the ReLU (a bottleneck's output): relu(bn(conv) + r),
     * against the unfused conv + bn (no ReLU) + add + ReLU. */
    size_t outs = (size_t)B * Cout * Ho * Wo;
    /* (not from rand_floats: later checks depend on the generator's sequence) */
    float *res = malloc(outs * sizeof(float)), *added = malloc(outs * sizeof(float));
    for (size_t i = 0; i < outs; i++) res[i] = (float)((i * 7919 % 1000) / 500.0 - 1.0);
    CHECK(nn_conv2d_bn(ctx, x, B, Cin, H, W, w, Cout, k, stride, pad, mean, var, g, be, 1e-5f, 0, fused) == CLIP_OK,
          "nn_conv2d_bn");
    CHECK(nn_conv2d_bn_add(ctx, x, B, Cin, H, W, w, Cout, k, stride, pad, mean, var, g, be, 1e-5f, res, 1, added) ==
              CLIP_OK,
          "nn_conv2d_bn_add");
    bad = 0;
    for (size_t i = 0; i < outs; i++) {
        float want = fused[i] + res[i];
        want = want > 0 ? want : 0;
        if (added[i] != want) bad++;
    }
    CHECK(bad == 0, "%s conv2d_bn_add: %d differ from conv2d_bn + residual + relu", path, bad);
    free(res);
    free(added);
    free(mean);
    free(var);
    free(g);
    free(be);
    free(fused);
    if (ctx->state) { /* the packed weight goes with w (see check_linear) */
        nn_ctx_release(ctx);
        CHECK(nn_ctx_init(ctx) == CLIP_OK, "nn_ctx_init");
    }
    free(x);
    free(w);
    free(y);
    free(scratch);
}

/* The blocked (NCHW16c) convolution against a double-precision reference
 * of relu(bn(conv(x)) + residual), with the maps' zero borders, tiles of
 * one and two rows, uneven tiles and a last group of one block. Also the
 * blocked pooling against nn_avgpool (bit for bit) and the layout changes. */
static void check_conv_blocked(const char *path, nn_ctx *ctx, int n, int Cin, int Cout, int H, int W, int k,
                               int in_border, int out_border, int with_residual) {
    int pad = k / 2;
    size_t plane = (size_t)H * W, outs = (size_t)n * Cout * plane;
    float *x = rand_floats((size_t)n * Cin * plane), *w = rand_floats((size_t)Cout * Cin * k * k);
    float *mean = rand_floats((size_t)Cout), *var = rand_floats((size_t)Cout), *g = rand_floats((size_t)Cout);
    float *be = rand_floats((size_t)Cout), *res = rand_floats(outs);
    for (int c = 0; c < Cout; c++) var[c] = var[c] * var[c] + 0.1f;
    /* x as [C, n, H, W] for nn_bmap_from_cm */
    float *x_cm = malloc((size_t)n * Cin * plane * sizeof(float)), *res_cm = malloc(outs * sizeof(float));
    for (int b = 0; b < n; b++)
        for (int c = 0; c < Cin; c++)
            memcpy(x_cm + ((size_t)c * n + b) * plane, x + ((size_t)b * Cin + c) * plane, plane * sizeof(float));
    for (int b = 0; b < n; b++)
        for (int c = 0; c < Cout; c++)
            memcpy(res_cm + ((size_t)c * n + b) * plane, res + ((size_t)b * Cout + c) * plane, plane * sizeof(float));
    nn_bmap X = {nn_alloc_floats(nn_bmap_floats(n, Cin, H, W, in_border)), n, Cin, H, W, in_border};
    nn_bmap R = {nn_alloc_floats(nn_bmap_floats(n, Cout, H, W, 0)), n, Cout, H, W, 0};
    nn_bmap Y = {nn_alloc_floats(nn_bmap_floats(n, Cout, H, W, out_border)), n, Cout, H, W, out_border};
    /* Garbage where the borders go: the calls must zero what they own. */
    memset(Y.data, 0x7f, nn_bmap_floats(n, Cout, H, W, out_border) * sizeof(float));
    memset(X.data, 0x7f, nn_bmap_floats(n, Cin, H, W, in_border) * sizeof(float));
    nn_bmap_from_cm(x_cm, &X);
    nn_bmap_from_cm(res_cm, &R);
    float *back = malloc((size_t)n * Cin * plane * sizeof(float)), *y = malloc(outs * sizeof(float));
    nn_bmap_to_nchw(&X, back);
    CHECK(memcmp(back, x, (size_t)n * Cin * plane * sizeof(float)) == 0, "%s bmap round trip", path);
    CHECK(nn_conv2d_bn_blocked(ctx, &X, w, Cout, k, 1, pad, mean, var, g, be, 1e-5f, with_residual ? &R : NULL, 1,
                               &Y) == CLIP_OK,
          "nn_conv2d_bn_blocked");
    nn_bmap_to_nchw(&Y, y);
    int bad = 0;
    for (int b = 0; b < n; b++)
        for (int o = 0; o < Cout; o++) {
            double scale = g[o] / sqrt((double)var[o] + 1e-5), shift = be[o] - mean[o] * scale;
            for (int oy = 0; oy < H; oy++)
                for (int ox = 0; ox < W; ox++) {
                    double acc = 0, mag = 0;
                    for (int c = 0; c < Cin; c++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy - pad + ky, ix = ox - pad + kx;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                double v = (double)x[(((size_t)b * Cin + c) * H + iy) * W + ix] *
                                           w[(((size_t)o * Cin + c) * k + ky) * k + kx];
                                acc += v;
                                mag += fabs(v);
                            }
                    size_t at = (((size_t)b * Cout + o) * H + oy) * W + ox;
                    double want = acc * scale + shift + (with_residual ? res[at] : 0);
                    double tol_mag = mag * fabs(scale) + fabs(shift) + (with_residual ? fabs(res[at]) : 0);
                    want = want > 0 ? want : 0;
                    if (!close_enough(y[at], want, tol_mag, Cin * k * k)) bad++;
                }
        }
    CHECK(bad == 0, "%s conv blocked n=%d %d->%d %dx%d k=%d borders %d/%d%s: %d bad", path, n, Cin, Cout, H, W, k,
          in_border, out_border, with_residual ? " +residual" : "", bad);
    /* The border around Y is zero (a 3x3 convolution reads it as padding). */
    int Wp = W + 2 * out_border, Hp = H + 2 * out_border, nonzero = 0;
    for (size_t blk = 0; blk < (size_t)n * (Cout / 16); blk++)
        for (int yy = 0; yy < Hp; yy++)
            for (int xx = 0; xx < Wp; xx++) {
                int inside = yy >= out_border && yy < out_border + H && xx >= out_border && xx < out_border + W;
                for (int l = 0; !inside && l < 16; l++)
                    if (Y.data[((blk * Hp + yy) * Wp + xx) * 16 + l] != 0.0f) nonzero++;
            }
    CHECK(nonzero == 0, "%s conv blocked: %d border values not zero", path, nonzero);
    if (H % 2 == 0 && W % 2 == 0) {
        nn_bmap P = {nn_alloc_floats(nn_bmap_floats(n, Cout, H / 2, W / 2, 1)), n, Cout, H / 2, W / 2, 1};
        float *pooled = malloc(outs / 4 * sizeof(float)), *want = malloc(outs / 4 * sizeof(float));
        nn_avgpool_blocked(ctx, &Y, 2, &P);
        nn_bmap_to_nchw(&P, pooled);
        nn_avgpool(ctx, y, n, Cout, H, W, 2, want);
        CHECK(memcmp(pooled, want, outs / 4 * sizeof(float)) == 0, "%s avgpool blocked = nn_avgpool", path);
        free(P.data);
        free(pooled);
        free(want);
    }
    if (ctx->state) {
        nn_ctx_release(ctx);
        CHECK(nn_ctx_init(ctx) == CLIP_OK, "nn_ctx_init");
    }
    free(x), free(w), free(mean), free(var), free(g), free(be), free(res), free(x_cm), free(res_cm);
    free(X.data), free(R.data), free(Y.data), free(back), free(y);
}

static void run_path(const char *path) {
    static const case_shape fixed[] = {{1, 1, 1}, {1, 33, 5}, {14, 32, 64}, {15, 33, 17}, {50, 96, 64},
                                       {29, 65, 100}, {77, 47, 3}, {3, 130, 257}, {4, 9, 0},
                                       /* (odd index: 3 threads; even: 1) A over 1 MiB: several
                                        * row blocks, K blocks carried between tile calls */
                                       {200, 70, 2000}, {200, 70, 2000}};
    nn_ctx ctx1 = {.pool = clip_pool_create(1)}, ctx3 = {.pool = clip_pool_create(3)};
    CHECK(nn_ctx_init(&ctx3) == CLIP_OK, "nn_ctx_init");
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0] + 6; i++) {
        case_shape s = i < sizeof fixed / sizeof fixed[0] ? fixed[i]
                                                         : (case_shape){irand(1, 90), irand(1, 140), irand(1, 200)};
        nn_ctx *ctx = (i % 2) ? &ctx3 : &ctx1;
        check_linear(path, ctx, s, NN_OUT_IN, 0, NN_ACT_NONE, 0);
        check_linear(path, ctx, s, NN_IN_OUT, 1, NN_ACT_QUICKGELU, 0);
        check_linear(path, ctx, s, NN_OUT_IN, 1, NN_ACT_NONE, 1);
        check_linear(path, ctx, s, NN_IN_OUT, 1, NN_ACT_RELU, 1);
        check_gemm_beta(path, ctx, s);
        check_gemm_at(path, ctx, s, i % 3 ? NN_IN_OUT : NN_OUT_IN);
    }
    check_threads_identical(path);
    check_changed_weight(path);
    /* 50 and 77: an image at 224 px and a text; 80 and 81: the longest
     * sequence the fused AVX-512 head takes, and the first it leaves to
     * the tile products. */
    int lens[] = {1, 7, 16, 50, 77, 80, 81};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        check_attention(path, &ctx1, 2, lens[i], 3, 16, 0);
        check_attention(path, &ctx3, 2, lens[i], 2, 64, 1);
        check_attention(path, &ctx1, 1, lens[i], 2, 64, 0);
    }
    check_rows(path, &ctx1);
    check_conv(path, &ctx3, 9, 7, 3, 2, 1);
    check_conv(path, &ctx3, 13, 11, 3, 1, 1);
    check_conv(path, &ctx1, 8, 9, 1, 1, 0); /* 72 pixels: read in place, last panel copied */
    check_conv(path, &ctx3, 2, 3, 1, 1, 0); /* narrower than one panel */
    if (nn_conv_blocked_available(&ctx1)) {
        check_conv_blocked(path, &ctx1, 1, 16, 48, 9, 9, 3, 1, 1, 1);  /* 2 + 1 blocks, 9-pixel rows */
        check_conv_blocked(path, &ctx3, 2, 32, 32, 7, 7, 1, 0, 0, 1);  /* row pairs and a single row */
        check_conv_blocked(path, &ctx1, 1, 16, 16, 4, 29, 3, 2, 0, 0); /* 29 = 10 + 10 + 9, border > pad */
        check_conv_blocked(path, &ctx3, 3, 48, 64, 6, 14, 3, 1, 1, 1);
        check_conv_blocked(path, &ctx1, 1, 64, 32, 1, 1, 3, 1, 0, 0);  /* all padding but the centre */
    }
    nn_ctx_release(&ctx3);
    clip_pool_destroy(ctx1.pool);
    clip_pool_destroy(ctx3.pool);
}

int main(void) {
    static const char *paths[] = {"generic", "blas", "avx2", "avx512"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (!nn_kernels_force(paths[i])) {
            printf("kernel path %s: not supported by this CPU, skipped\n", paths[i]);
            continue;
        }
        CHECK(strcmp(nn_kernels_active()->name, paths[i]) == 0, "forced %s", paths[i]);
        printf("kernel path %s\n", paths[i]);
        run_path(paths[i]);
    }
    nn_kernels_force(NULL);
    return test_finish("test_kernels");
}
