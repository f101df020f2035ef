/* Loading: memory mapping, name prefixes, half-precision copies, and the
 * errors for truncated files, wrong shapes, missing tensors and bad dtypes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "nn/nn.h"

typedef enum edit { KEEP, DROP, RESHAPE_TO_63, PREFIX_MODULE, TO_F16, TO_BF16 } edit;

/* Copies tiny-vit into `path`, applying `action` to tensor `target` (or to
 * every tensor when target is NULL). */
static void write_variant(const char *path, const char *target, edit action) {
    st_file *src = open_fixture("models/tiny-vit.safetensors");
    st_writer *w = st_writer_new();
    for (size_t i = 0; i < st_metadata_count(src); i++) {
        const char *k, *v;
        st_metadata_at(src, i, &k, &v);
        st_writer_metadata(w, k, v);
    }
    for (size_t i = 0; i < st_count(src); i++) {
        const st_tensor *t = st_at(src, i);
        int hit = !target || strcmp(t->name, target) == 0;
        edit a = hit ? action : KEEP;
        char name[256];
        snprintf(name, sizeof name, "%s%s", a == PREFIX_MODULE ? "module." : "", t->name);
        if (a == DROP) continue;
        if (a == RESHAPE_TO_63) {
            int64_t shape[1] = {63};
            st_writer_add(w, name, t->dtype, 1, shape, t->data);
        } else if ((a == TO_F16 || a == TO_BF16) && t->dtype == ST_F32) {
            uint16_t *half = malloc((size_t)t->numel * 2 + 2);
            const float *f = t->data;
            for (int64_t j = 0; j < t->numel; j++) half[j] = a == TO_F16 ? st_float_to_half(f[j]) : st_float_to_bf16(f[j]);
            st_writer_add(w, name, a == TO_F16 ? ST_F16 : ST_BF16, t->ndim, t->shape, half);
            free(half);
        } else {
            st_writer_add(w, name, t->dtype, t->ndim, t->shape, t->data);
        }
    }
    if (st_writer_finish(w, path) != CLIP_OK) {
        fprintf(stderr, "FATAL: writing %s: %s\n", path, clip_last_error());
        exit(1);
    }
    st_writer_free(w);
    st_close(src);
}

static const char *scratch(const char *name) {
    static char buffers[4][600];
    static int next;
    char *out = buffers[next++ % 4];
    snprintf(out, sizeof buffers[0], "%s/%s", scratch_dir(), name);
    return out;
}

static clip_status try_load(const char *path, clip_model **out) {
    clip_load_options opts = {.n_threads = 1};
    *out = NULL;
    return clip_model_load(path, &opts, out);
}

static void expect_error(const char *label, const char *path, clip_status want, const char *must_mention_1,
                         const char *must_mention_2) {
    clip_model *m;
    clip_status st = try_load(path, &m);
    const char *msg = clip_last_error();
    CHECK(st == want, "%s: status %s, expected %s (%s)", label, clip_status_name(st), clip_status_name(want), msg);
    CHECK(strstr(msg, must_mention_1) != NULL, "%s: message '%s' does not mention '%s'", label, msg, must_mention_1);
    if (must_mention_2)
        CHECK(strstr(msg, must_mention_2) != NULL, "%s: message '%s' does not mention '%s'", label, msg, must_mention_2);
    printf("  %-14s -> %s: %s\n", label, clip_status_name(st), msg);
    clip_model_free(m);
}

/* A safetensors file of `header` and four zero data bytes. */
static void write_header_only(const char *path, const char *header) {
    FILE *fp = fopen(path, "wb");
    uint64_t len = strlen(header);
    fwrite(&len, 8, 1, fp);
    fwrite(header, 1, len, fp);
    fwrite("\0\0\0\0", 1, 4, fp);
    fclose(fp);
}

static void truncated_file(void) {
    FILE *in = fopen(fixture_path("models/tiny-vit.safetensors"), "rb");
    const char *path = scratch("truncated.safetensors");
    FILE *out = fopen(path, "wb");
    char buf[65536];
    size_t total = 0, n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0 && total < 4000000) {
        fwrite(buf, 1, n, out);
        total += n;
    }
    fclose(in);
    fclose(out);
    expect_error("truncated", path, CLIP_ERR_FORMAT, "truncated", NULL);
    /* Cut inside the header as well. */
    out = fopen(path, "r+b");
    CHECK(ftruncate(fileno(out), 100) == 0, "ftruncate");
    fclose(out);
    expect_error("cut header", path, CLIP_ERR_FORMAT, path, NULL);
}

static void half_precision_copies(const float *reference_image, const float *reference_text, const float *pixels,
                                  const int32_t *tokens) {
    const char *labels[2] = {"f16", "bf16"};
    double min_cos[2] = {0.99999, 0.9995}; /* bf16 keeps 8 bits of mantissa, f16 11 */
    for (int k = 0; k < 2; k++) {
        const char *path = scratch(k ? "bf16.safetensors" : "f16.safetensors");
        write_variant(path, NULL, k ? TO_BF16 : TO_F16);
        clip_model *m;
        CHECK(try_load(path, &m) == CLIP_OK, "%s: %s", labels[k], clip_last_error());
        if (!m) continue;
        clip_model_info info;
        clip_model_get_info(m, &info);
        CHECK(info.weight_bytes_owned > 0 && strstr(info.dtype_summary, k ? "BF16" : "F16"),
              "%s: converted weights not reported (owned %llu, dtypes %s)", labels[k],
              (unsigned long long)info.weight_bytes_owned, info.dtype_summary);
        float image[64], text[64];
        clip_encode_image(m, pixels, 1, image);
        clip_encode_text(m, tokens, 1, text);
        double dot_i = 0, dot_t = 0, ni = 0, nri = 0, nt = 0, nrt = 0;
        for (int i = 0; i < 64; i++) {
            dot_i += image[i] * reference_image[i];
            ni += image[i] * image[i];
            nri += reference_image[i] * reference_image[i];
            dot_t += text[i] * reference_text[i];
            nt += text[i] * text[i];
            nrt += reference_text[i] * reference_text[i];
        }
        double cos_i = dot_i / sqrt(ni * nri), cos_t = dot_t / sqrt(nt * nrt);
        CHECK(cos_i >= min_cos[k] && cos_t >= min_cos[k], "%s: cosine to float32 image %.6f text %.6f", labels[k],
              cos_i, cos_t);
        printf("  %-5s copy: cosine to float32 image %.7f, text %.7f\n", labels[k], cos_i, cos_t);
        clip_model_free(m);
    }
}

/* Out of memory mid-pass: in a child whose address space is capped just
 * above what it already uses, a batch whose activations and scratch cannot
 * fit must come back as CLIP_ERR_NO_MEMORY (from whichever allocation fails
 * first, the ops' scratch included), not a crash. AddressSanitizer reserves
 * terabytes of shadow memory, so the cap cannot be applied under it. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
static void test_out_of_memory(clip_model *model, const float *one_image) {
#ifdef UNDER_ASAN
    (void)model, (void)one_image;
    printf("  out-of-memory pass: not under AddressSanitizer\n");
#else
    enum { N = 256 };
    size_t per = (size_t)3 * 224 * 224;
    float *pixels = malloc(N * per * sizeof(float)), *features = malloc(N * 64 * sizeof(float));
    if (!pixels || !features) {
        CHECK(0, "out-of-memory test: cannot set up");
        free(pixels), free(features);
        return;
    }
    for (int i = 0; i < N; i++) memcpy(pixels + i * per, one_image, per * sizeof(float));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        long pages = 0;
        FILE *statm = fopen("/proc/self/statm", "r");
        if (!statm || fscanf(statm, "%ld", &pages) != 1) _exit(3);
        fclose(statm);
        struct rlimit cap = {(rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (4u << 20), RLIM_INFINITY};
        cap.rlim_max = cap.rlim_cur;
        if (setrlimit(RLIMIT_AS, &cap) != 0) _exit(4);
        clip_status st = clip_encode_image(model, pixels, N, features);
        if (st != CLIP_ERR_NO_MEMORY) fprintf(stderr, "  child: status %d: %s\n", (int)st, st ? clip_last_error() : "");
        else printf("  out-of-memory pass: %s\n", clip_last_error());
        _exit(st == CLIP_ERR_NO_MEMORY ? 0 : 5);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "a batch of %d with 4 MiB to spare: expected CLIP_ERR_NO_MEMORY, child %s %d", N,
          WIFEXITED(status) ? "exited" : "killed by signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    free(pixels);
    free(features);
#endif
}

int main(void) {
    /* The float32 original is mapped, not copied. */
    clip_model *model;
    CHECK(try_load(fixture_path("models/tiny-vit.safetensors"), &model) == CLIP_OK, "load: %s", clip_last_error());
    clip_model_info info;
    clip_model_get_info(model, &info);
    CHECK(info.weight_bytes_owned == 0 && info.weight_bytes_mapped == info.n_parameters * 4,
          "float32 weights copied: owned %llu mapped %llu params %llu", (unsigned long long)info.weight_bytes_owned,
          (unsigned long long)info.weight_bytes_mapped, (unsigned long long)info.n_parameters);
    CHECK(info.n_parameters == 4076225, "parameter count %llu, the fixtures' README says 4076225",
          (unsigned long long)info.n_parameters);
    st_file *pre = open_fixture("preprocess/expected_224.safetensors");
    st_file *expected = open_fixture("expected/tiny-vit.safetensors");
    const float *pixels = st_find(pre, "astronaut_baseline.jpg")->data;
    const int32_t *tokens = st_find(expected, "input.tokens")->data;
    float image[64], text[64], image2[64], text2[64];
    clip_encode_image(model, pixels, 1, image);
    clip_encode_text(model, tokens, 1, text);
    test_out_of_memory(model, pixels);
    /* An op failure noted by an earlier, unrelated chain is not this pass's. */
    nn_note_failure(1 << 20);
    CHECK(clip_encode_image(model, pixels, 1, image2) == CLIP_OK && nn_take_failure() == 0,
          "a stale op failure was reported: %s", clip_last_error());

    /* module. prefix: identical results. */
    const char *prefixed = scratch("prefixed.safetensors");
    write_variant(prefixed, NULL, PREFIX_MODULE);
    clip_model *m2;
    CHECK(try_load(prefixed, &m2) == CLIP_OK, "module. prefix: %s", clip_last_error());
    if (m2) {
        clip_encode_image(m2, pixels, 1, image2);
        clip_encode_text(m2, tokens, 1, text2);
        CHECK(memcmp(image, image2, sizeof image) == 0 && memcmp(text, text2, sizeof text) == 0,
              "module.-prefixed copy gives different features");
        clip_model_free(m2);
    }

    half_precision_copies(image, text, pixels, tokens);

    truncated_file();
    const char *path = scratch("reshaped.safetensors");
    write_variant(path, "ln_final.weight", RESHAPE_TO_63);
    expect_error("wrong shape", path, CLIP_ERR_SHAPE, "ln_final.weight", "[63]");
    path = scratch("missing.safetensors");
    write_variant(path, "transformer.resblocks.1.mlp.c_fc.bias", DROP);
    expect_error("missing", path, CLIP_ERR_MISSING_TENSOR, "transformer.resblocks.1.mlp.c_fc.bias", NULL);
    path = scratch("no_vision_proj.safetensors");
    write_variant(path, "visual.class_embedding", DROP);
    expect_error("missing vit", path, CLIP_ERR_MISSING_TENSOR, "visual.class_embedding", NULL);

    /* An unknown dtype in an otherwise valid header. */
    path = scratch("dtype.safetensors");
    write_header_only(path, "{\"token_embedding.weight\":{\"dtype\":\"Q3\",\"shape\":[1],\"data_offsets\":[0,4]}}");
    expect_error("unknown dtype", path, CLIP_ERR_DTYPE, "Q3", "token_embedding.weight");
    /* JSON keeps both copies of a repeated key; the second metadata object
     * once replaced the first and leaked it (fuzz_safetensors). */
    path = scratch("metadata_twice.safetensors");
    write_header_only(path, "{\"__metadata__\":{\"a\":\"1\"},\"__metadata__\":{\"b\":\"2\"},"
                            "\"token_embedding.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
    expect_error("metadata twice", path, CLIP_ERR_FORMAT, "__metadata__", "twice");
    expect_error("no such file", scratch("absent.safetensors"), CLIP_ERR_IO, "absent.safetensors", NULL);
    expect_error("not a model", fixture_path("expected/tiny-vit.safetensors"), CLIP_ERR_MISSING_TENSOR,
                 "not a CLIP checkpoint", NULL);

    st_close(pre);
    st_close(expected);
    clip_model_free(model);
    return test_finish("test_model_errors");
}
