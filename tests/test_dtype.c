/* Reduced-precision weights (bf16, int8):
 *  1. every kernel table the CPU has (amx, avx512, generic) against a
 *     plain scalar reference of the same quantisation, for linears (both
 *     weight layouts, bias, QuickGELU, in-place residual, tails in every
 *     dimension, 1 and 3 threads) and a batch-normed convolution: a layout
 *     or kernel bug shows up as an O(1) error, quantisation alone as none;
 *  2. the fixture models' embeddings in f32, bf16 and int8 against
 *     OpenAI's reference: cosine >= 0.9995 (bf16) and >= 0.995 (int8);
 *  3. f32 unchanged by the option (bit-identical to a default load). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/model_internal.h"
#include "nn/qkernels.h"

static uint64_t rng = 0x243F6A8885A308D3ull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / (1ull << 24))) * 2.0f - 1.0f;
}
static float *rand_floats(size_t n, float scale) {
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = scale * frand();
    return x;
}

/* The reference quantisations, written out independently of src/nn. */
static double ref_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    float r;
    memcpy(&r, &u, sizeof r);
    return r;
}

/* Symmetric int8 of n values (stride `step`): q and the scale. */
static double ref_int8(const float *x, int n, size_t step, int *q) {
    float max = 0;
    for (int i = 0; i < n; i++) max = fmaxf(max, fabsf(x[i * step]));
    float inv = max > 0 ? 127.0f / max : 0.0f;
    for (int i = 0; i < n; i++) {
        float r = nearbyintf(x[i * step] * inv);
        q[i] = r > 127 ? 127 : r < -127 ? -127 : (int)r;
    }
    return max / 127.0f;
}

static double quickgelu(double v) { return v / (1.0 + exp(-1.702 * v)); }

/* y = act(x W + bias) + residual in double from the quantised operands. */
static void reference_linear(nn_dtype d, const float *x, int M, int K, const float *w, nn_weight_layout layout, int N,
                             const float *bias, nn_activation act, const float *residual, double *y) {
    int *qa = malloc((size_t)K * sizeof(int)), *qw = malloc((size_t)N * K * sizeof(int));
    double *sw = malloc((size_t)N * sizeof(double));
    for (int n = 0; n < N && d == NN_INT8; n++)
        sw[n] = layout == NN_OUT_IN ? ref_int8(w + (size_t)n * K, K, 1, qw + (size_t)n * K)
                                    : ref_int8(w + n, K, (size_t)N, qw + (size_t)n * K);
    for (int i = 0; i < M; i++) {
        double sa = d == NN_INT8 ? ref_int8(x + (size_t)i * K, K, 1, qa) : 0;
        for (int n = 0; n < N; n++) {
            double s = 0;
            if (d == NN_INT8) {
                long long acc = 0;
                for (int k = 0; k < K; k++) acc += (long long)qa[k] * qw[(size_t)n * K + k];
                s = (double)acc * sa * sw[n];
            } else {
                for (int k = 0; k < K; k++) {
                    float wv = layout == NN_OUT_IN ? w[(size_t)n * K + k] : w[(size_t)k * N + n];
                    s += ref_bf16(x[(size_t)i * K + k]) * ref_bf16(wv);
                }
            }
            if (bias) s += bias[n];
            if (act == NN_ACT_QUICKGELU) s = quickgelu(s);
            if (act == NN_ACT_RELU) s = s > 0 ? s : 0;
            if (residual) s += residual[(size_t)i * N + n];
            y[(size_t)i * N + n] = s;
        }
    }
    free(qa);
    free(qw);
    free(sw);
}

/* max|got - ref| / max|ref|. */
static double rel_error(const float *got, const double *ref, size_t n) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs(got[i] - ref[i]));
        scale = fmax(scale, fabs(ref[i]));
    }
    return diff / (scale > 0 ? scale : 1);
}

static void check_linear(const char *kernel, nn_dtype d, int M, int N, int K, nn_weight_layout layout, int threads,
                         int cached) {
    float *x = rand_floats((size_t)M * K, 2.0f), *w = rand_floats((size_t)N * K, 0.1f);
    float *bias = rand_floats((size_t)N, 0.5f), *y = rand_floats((size_t)M * N, 1.0f);
    double *ref = malloc((size_t)M * N * sizeof(double));
    x[3] = 0; /* an exact zero and a row of zeros (scale 0 in int8) */
    if (M > 2) memset(x + (size_t)2 * K, 0, (size_t)K * sizeof(float));
    nn_activation act = (M + N) % 2 ? NN_ACT_QUICKGELU : NN_ACT_NONE;
    /* In-place residual: y holds it before the call. */
    reference_linear(d, x, M, K, w, layout, N, bias, act, y, ref);
    nn_ctx ctx = {.pool = clip_pool_create(threads), .weight_dtype = d};
    if (cached) nn_ctx_init(&ctx);
    nn_linear(&ctx, x, M, K, w, layout, N, bias, act, y, y);
    if (cached) nn_linear(&ctx, x, M, K, w, layout, N, bias, act, NULL, y); /* the cached weight, no residual */
    if (cached) reference_linear(d, x, M, K, w, layout, N, bias, act, NULL, ref);
    double err = rel_error(y, ref, (size_t)M * N);
    CHECK(err < 2e-5, "%s %s linear M=%d N=%d K=%d layout=%d threads=%d: rel error %.3g", kernel,
          d == NN_INT8 ? "int8" : "bf16", M, N, K, (int)layout, threads, err);
    nn_ctx_release(&ctx);
    clip_pool_destroy(ctx.pool);
    free(x);
    free(w);
    free(bias);
    free(y);
    free(ref);
}

/* Mixed-precision training's product with A given transposed (a weight
 * gradient dW += dY^T X in bf16): both operands rounded to bf16, float32
 * sums, C accumulated; and the bias gradient, A's row sums, exact. */
static void check_gemm_mixed_at(const char *kernel, int M, int N, int K, int threads) {
    int lda = M + 5;
    float *at = rand_floats((size_t)K * lda, 1.0f), *b = rand_floats((size_t)K * N, 1.0f);
    float *c = rand_floats((size_t)M * N, 1.0f), *sums = rand_floats((size_t)M, 1.0f);
    double *ref = malloc((size_t)M * N * sizeof(double)), *ref_sums = malloc((size_t)M * sizeof(double));
    for (int i = 0; i < M; i++) {
        ref_sums[i] = sums[i];
        for (int k = 0; k < K; k++) ref_sums[i] += at[(size_t)k * lda + i];
        for (int j = 0; j < N; j++) {
            double acc = c[(size_t)i * N + j];
            for (int k = 0; k < K; k++) acc += ref_bf16(at[(size_t)k * lda + i]) * ref_bf16(b[(size_t)k * N + j]);
            ref[(size_t)i * N + j] = acc;
        }
    }
    nn_ctx ctx = {.pool = clip_pool_create(threads), .weight_dtype = NN_BF16};
    nn_gemm_mixed(&ctx, M, N, K, at, lda, 1, b, N, NN_IN_OUT, 1.0f, c, N, sums);
    double err = rel_error(c, ref, (size_t)M * N), sums_err = rel_error(sums, ref_sums, (size_t)M);
    CHECK(err < 2e-5, "%s bf16 gemm_mixed A^T M=%d N=%d K=%d threads=%d: rel error %.3g", kernel, M, N, K, threads,
          err);
    CHECK(sums_err < 1e-6, "%s bf16 gemm_mixed A^T row sums M=%d K=%d: rel error %.3g", kernel, M, K, sums_err);
    clip_pool_destroy(ctx.pool);
    free(at), free(b), free(c), free(sums), free(ref), free(ref_sums);
}

/* conv + batch norm + ReLU against im2col rows through reference_linear. */
static void check_conv(const char *kernel, nn_dtype d) {
    int B = 2, Cin = 5, H = 9, W = 9, Cout = 40, k = 3, stride = 2, pad = 1;
    int Ho = nn_conv_out_size(H, k, stride, pad), Wo = nn_conv_out_size(W, k, stride, pad), K = Cin * k * k;
    int P = Ho * Wo;
    float *x = rand_floats((size_t)B * Cin * H * W, 1.0f), *w = rand_floats((size_t)Cout * K, 0.3f);
    float *mean = rand_floats(Cout, 0.1f), *var = rand_floats(Cout, 0.2f), *gamma = rand_floats(Cout, 1.0f),
          *beta = rand_floats(Cout, 0.3f);
    for (int c = 0; c < Cout; c++) var[c] += 1.0f;
    float *y = malloc((size_t)B * Cout * P * sizeof(float)), *col = malloc((size_t)P * K * sizeof(float));
    double *ref = malloc((size_t)P * Cout * sizeof(double));
    nn_ctx ctx = {.pool = clip_pool_create(2), .weight_dtype = d};
    nn_ctx_init(&ctx);
    CHECK(nn_conv2d_bn(&ctx, x, B, Cin, H, W, w, Cout, k, stride, pad, mean, var, gamma, beta, 1e-5f, 1, y) ==
              CLIP_OK,
          "conv");
    double worst = 0;
    for (int b = 0; b < B; b++) {
        for (int p = 0; p < P; p++)
            for (int c = 0; c < Cin; c++)
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int iy = (p / Wo) * stride - pad + ky, ix = (p % Wo) * stride - pad + kx;
                        col[(size_t)p * K + (c * k + ky) * k + kx] =
                            iy >= 0 && iy < H && ix >= 0 && ix < W ? x[(((size_t)b * Cin + c) * H + iy) * W + ix] : 0;
                    }
        reference_linear(d, col, P, K, w, NN_OUT_IN, Cout, NULL, NN_ACT_NONE, NULL, ref);
        double diff = 0, scale = 0;
        for (int c = 0; c < Cout; c++) {
            double s = gamma[c] / sqrt(var[c] + 1e-5);
            for (int p = 0; p < P; p++) {
                double r = fmax(0, ref[(size_t)p * Cout + c] * s + beta[c] - mean[c] * s);
                diff = fmax(diff, fabs(y[((size_t)b * Cout + c) * P + p] - r));
                scale = fmax(scale, fabs(r));
            }
        }
        worst = fmax(worst, diff / scale);
    }
    CHECK(worst < 2e-5, "%s %s conv: rel error %.3g", kernel, d == NN_INT8 ? "int8" : "bf16", worst);
    nn_ctx_release(&ctx);
    clip_pool_destroy(ctx.pool);
    free(x), free(w), free(mean), free(var), free(gamma), free(beta), free(y), free(col), free(ref);
}

static void check_kernels(void) {
    static const char *names[] = {"amx", "avx512", "generic"};
    for (size_t i = 0; i < 3; i++) {
        if (!nn_qkernels_force(names[i])) {
            printf("kernels %s: not on this CPU\n", names[i]);
            continue;
        }
        printf("kernels %s\n", names[i]);
        for (nn_dtype d = NN_BF16; d <= NN_INT8; d++) {
            check_linear(names[i], d, 97, 200, 300, NN_OUT_IN, 1, 0);
            check_linear(names[i], d, 97, 200, 300, NN_OUT_IN, 3, 1);
            check_linear(names[i], d, 50, 96, 128, NN_IN_OUT, 2, 1);
            check_linear(names[i], d, 1, 33, 64, NN_OUT_IN, 1, 1);
            check_linear(names[i], d, 17, 64, 27, NN_IN_OUT, 3, 0);
            check_conv(names[i], d);
        }
        check_gemm_mixed_at(names[i], 37, 45, 70, 1); /* odd sizes: partial gathers and panels */
        check_gemm_mixed_at(names[i], 64, 96, 333, 2);
    }
    nn_qkernels_force(NULL);
}

/* ---- fixture models ---- */

static const float *tensor_f32(st_file *f, const char *name) {
    const st_tensor *t = st_find(f, name);
    if (!t || t->dtype != ST_F32) {
        fprintf(stderr, "FATAL: fixture tensor %s missing\n", name);
        exit(1);
    }
    return t->data;
}

static float *load_pixels(st_file *expected, int *count) {
    cJSON *names = cJSON_Parse(st_metadata(expected, "images"));
    st_file *pre = open_fixture("preprocess/expected_224.safetensors");
    int n = cJSON_GetArraySize(names);
    size_t per = 3 * 224 * 224;
    float *pixels = malloc((size_t)n * per * sizeof(float));
    for (int i = 0; i < n; i++)
        memcpy(pixels + i * per, tensor_f32(pre, cJSON_GetArrayItem(names, i)->valuestring), per * sizeof(float));
    st_close(pre);
    cJSON_Delete(names);
    *count = n;
    return pixels;
}

static double min_cosine(const float *a, const float *b, int n, int dim) {
    double worst = 1;
    for (int i = 0; i < n; i++) {
        double ab = 0, aa = 0, bb = 0;
        for (int j = 0; j < dim; j++) {
            ab += (double)a[i * dim + j] * b[i * dim + j];
            aa += (double)a[i * dim + j] * a[i * dim + j];
            bb += (double)b[i * dim + j] * b[i * dim + j];
        }
        worst = fmin(worst, ab / sqrt(aa * bb));
    }
    return worst;
}

static void check_model(const char *model_file, const char *ref_name, const char *kernel) {
    char path[128];
    snprintf(path, sizeof path, "expected/%s.safetensors", ref_name);
    st_file *expected = open_fixture(path);
    int n_images;
    float *pixels = load_pixels(expected, &n_images);
    const st_tensor *tokens = st_find(expected, "input.tokens");
    int n_texts = (int)tokens->shape[0], E = 64;
    const float *ref_img = tensor_f32(expected, "image_features"), *ref_txt = tensor_f32(expected, "text_features");
    float *img = malloc((size_t)n_images * E * sizeof(float)), *txt = malloc((size_t)n_texts * E * sizeof(float));
    float *img_f32 = malloc((size_t)n_images * E * sizeof(float));
    static const double needed[3] = {0.99999, 0.9995, 0.995};
    for (int d = CLIP_WEIGHT_F32; d <= CLIP_WEIGHT_INT8; d++) {
        clip_model *model = NULL;
        clip_load_options opts = {.n_threads = 2, .weight_dtype = (clip_weight_dtype)d};
        if (clip_model_load(fixture_path(model_file), &opts, &model) != CLIP_OK) {
            CHECK(0, "load %s: %s", model_file, clip_last_error());
            continue;
        }
        CHECK(clip_encode_image(model, pixels, n_images, img) == CLIP_OK, "encode image");
        CHECK(clip_encode_text(model, tokens->data, n_texts, txt) == CLIP_OK, "encode text");
        double ci = min_cosine(img, ref_img, n_images, E), ct = min_cosine(txt, ref_txt, n_texts, E);
        const char *name = clip_weight_dtype_name((clip_weight_dtype)d);
        printf("  %-40s %-7s %-4s image cosine min %.6f, text %.6f\n", model_file, kernel, name, ci, ct);
        CHECK(ci >= needed[d] && ct >= needed[d], "%s %s %s: cosine image %.6f text %.6f < %.4f", model_file, kernel,
              name, ci, ct, needed[d]);
        if (d == CLIP_WEIGHT_F32) memcpy(img_f32, img, (size_t)n_images * E * sizeof(float));
        clip_model_free(model);
    }
    /* f32 through the option is the default load, bit for bit. */
    clip_model *model = NULL;
    if (clip_model_load(fixture_path(model_file), NULL, &model) == CLIP_OK) {
        clip_model_set_threads(model, 2);
        clip_encode_image(model, pixels, n_images, img);
        CHECK(memcmp(img, img_f32, (size_t)n_images * E * sizeof(float)) == 0, "%s: f32 differs from a default load",
              model_file);
        clip_model_free(model);
    }
    free(img), free(txt), free(img_f32), free(pixels);
    st_close(expected);
}

int main(void) {
    check_kernels();
    static const char *names[] = {"amx", "avx512", "generic"};
    for (size_t i = 0; i < 3; i++) {
        if (!nn_qkernels_force(names[i])) continue;
        check_model("models/tiny-vit.safetensors", "tiny-vit", names[i]);
        check_model("models/tiny-vit-hf/model.safetensors", "tiny-vit", names[i]);
        check_model("models/tiny-rn.safetensors", "tiny-rn", names[i]);
    }
    nn_qkernels_force(NULL);
    clip_weight_dtype d;
    CHECK(clip_weight_dtype_from_name("bf16", &d) && d == CLIP_WEIGHT_BF16, "bf16 name");
    CHECK(clip_weight_dtype_from_name("int8", &d) && d == CLIP_WEIGHT_INT8, "int8 name");
    CHECK(!clip_weight_dtype_from_name("f16", &d), "f16 is not a compute dtype");
    return test_finish("dtype");
}
