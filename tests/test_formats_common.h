/* Helpers shared by the tests/test_formats_*.c suites (header-only: each
 * test is one executable): building small pickles and zip archives by
 * hand, loading a model from any format, and comparing its features with
 * the fixtures' references. */
#ifndef CLIP_TESTS_FORMATS_COMMON_H
#define CLIP_TESTS_FORMATS_COMMON_H
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "formats/tensor_file.h"
#include "harness.h"
#include "model/model_internal.h"

typedef struct tbuf {
    uint8_t *v;
    size_t n, cap;
} tbuf;

static inline void tb_put(tbuf *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->v = realloc(b->v, b->cap);
        if (!b->v) abort();
    }
    if (n) memcpy(b->v + b->n, data, n);
    b->n += n;
}
static inline void tb_u8(tbuf *b, uint8_t v) { tb_put(b, &v, 1); }
static inline void tb_le(tbuf *b, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) tb_u8(b, (uint8_t)(v >> (8 * i)));
}
static inline void tb_free(tbuf *b) {
    free(b->v);
    memset(b, 0, sizeof *b);
}

/* ---- pickle opcodes ---- */
static inline void pk_proto(tbuf *b) { tb_put(b, "\x80\x02", 2); }
static inline void pk_str(tbuf *b, const char *s) {
    tb_u8(b, 'X');
    tb_le(b, strlen(s), 4);
    tb_put(b, s, strlen(s));
}
static inline void pk_int(tbuf *b, int32_t v) {
    tb_u8(b, 'J');
    tb_le(b, (uint32_t)v, 4);
}
static inline void pk_global(tbuf *b, const char *module, const char *name) {
    tb_u8(b, 'c');
    tb_put(b, module, strlen(module));
    tb_u8(b, '\n');
    tb_put(b, name, strlen(name));
    tb_u8(b, '\n');
}
static inline void pk_put(tbuf *b, uint32_t index) {
    tb_u8(b, 'r');
    tb_le(b, index, 4);
}
static inline void pk_get(tbuf *b, uint32_t index) {
    tb_u8(b, 'j');
    tb_le(b, index, 4);
}
static inline void pk_int_tuple(tbuf *b, int n, const int *v) {
    tb_u8(b, '(');
    for (int i = 0; i < n; i++) pk_int(b, v[i]);
    tb_u8(b, 't');
}
/* _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset,
 * sizes, strides, False, OrderedDict()) */
static inline void pk_tensor_op(tbuf *b, const char *storage_type, const char *key, int numel, int offset, int ndim,
                             const int *sizes, const int *strides) {
    pk_global(b, "torch._utils", "_rebuild_tensor_v2");
    tb_u8(b, '(');
    tb_u8(b, '(');
    pk_str(b, "storage");
    pk_global(b, "torch", storage_type);
    pk_str(b, key);
    pk_str(b, "cpu");
    pk_int(b, numel);
    tb_u8(b, 't');
    tb_u8(b, 'Q');
    pk_int(b, offset);
    pk_int_tuple(b, ndim, sizes);
    pk_int_tuple(b, ndim, strides);
    tb_u8(b, 0x89);
    pk_global(b, "collections", "OrderedDict");
    tb_u8(b, ')');
    tb_u8(b, 'R');
    tb_u8(b, 't');
    tb_u8(b, 'R');
}

/* ---- zip archives ---- */
typedef struct tzip_entry {
    const char *name;
    const void *data;
    size_t size;
    int method; /* recorded only; data is written as given */
} tzip_entry;

/* Stored entries with their data aligned to 64 bytes through a padding
 * extra field, as PyTorch's writer does. */
static inline void tzip_build(tbuf *out, const tzip_entry *entries, int n) {
    size_t *offsets = calloc((size_t)n, sizeof *offsets);
    uint32_t *crcs = calloc((size_t)n, sizeof *crcs);
    for (int i = 0; i < n; i++) {
        const tzip_entry *e = &entries[i];
        size_t name_len = strlen(e->name);
        size_t pad = (64 - (out->n + 30 + name_len + 4) % 64) % 64;
        crcs[i] = (uint32_t)crc32(0, e->data, (uInt)e->size);
        offsets[i] = out->n;
        tb_le(out, 0x04034b50, 4);
        tb_le(out, 20, 2);
        tb_le(out, 0, 2);
        tb_le(out, (uint64_t)e->method, 2);
        tb_le(out, 0, 4);
        tb_le(out, crcs[i], 4);
        tb_le(out, e->size, 4);
        tb_le(out, e->size, 4);
        tb_le(out, name_len, 2);
        tb_le(out, 4 + pad, 2);
        tb_put(out, e->name, name_len);
        tb_le(out, 0x1234, 2); /* padding extra field */
        tb_le(out, pad, 2);
        for (size_t k = 0; k < pad; k++) tb_u8(out, 'Z');
        tb_put(out, e->data, e->size);
    }
    size_t directory = out->n;
    for (int i = 0; i < n; i++) {
        const tzip_entry *e = &entries[i];
        size_t name_len = strlen(e->name);
        tb_le(out, 0x02014b50, 4);
        tb_le(out, 20, 2);
        tb_le(out, 20, 2);
        tb_le(out, 0, 2);
        tb_le(out, (uint64_t)e->method, 2);
        tb_le(out, 0, 4);
        tb_le(out, crcs[i], 4);
        tb_le(out, e->size, 4);
        tb_le(out, e->size, 4);
        tb_le(out, name_len, 2);
        tb_le(out, 0, 2);
        tb_le(out, 0, 2);
        tb_le(out, 0, 2);
        tb_le(out, 0, 2);
        tb_le(out, 0, 4);
        tb_le(out, offsets[i], 4);
        tb_put(out, e->name, name_len);
    }
    size_t dir_size = out->n - directory;
    tb_le(out, 0x06054b50, 4);
    tb_le(out, 0, 4);
    tb_le(out, (uint64_t)n, 2);
    tb_le(out, (uint64_t)n, 2);
    tb_le(out, dir_size, 4);
    tb_le(out, directory, 4);
    tb_le(out, 0, 2);
    free(offsets);
    free(crcs);
}

/* ---- models ---- */
static inline clip_status load_any_model(const char *path, int threads, clip_model **out) {
    st_file *file = NULL;
    clip_status st = tensor_file_open(path, &file);
    if (st != CLIP_OK) return st;
    clip_load_options opts = {.n_threads = threads};
    return clip_model_from_safetensors(file, path, &opts, out);
}

static inline double fixture_level(const char *model, const char *tensor) {
    static cJSON *levels;
    if (!levels) {
        FILE *fp = fopen(fixture_path("error_levels.json"), "rb");
        if (!fp) exit(1);
        fseek(fp, 0, SEEK_END);
        long size = ftell(fp);
        fseek(fp, 0, SEEK_SET);
        char *text = malloc((size_t)size);
        if (!text || fread(text, 1, (size_t)size, fp) != (size_t)size) exit(1);
        fclose(fp);
        levels = cJSON_ParseWithLength(text, (size_t)size);
        free(text);
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(levels, "expected"), model), tensor);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "max_abs_diff_over_max_abs_ref");
    return cJSON_IsNumber(r) ? r->valuedouble : 1e-6;
}

static inline double min_row_cosine(const float *a, const float *b, int rows, int dim) {
    double worst = 1.0;
    for (int r = 0; r < rows; r++) {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < dim; i++) {
            double x = a[(size_t)r * dim + i], y = b[(size_t)r * dim + i];
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
        double c = ab / (sqrt(aa * bb) + 1e-30);
        if (c < worst) worst = c;
    }
    return worst;
}

static inline void compare_features(const char *label, const char *ref, const char *what, const float *got,
                                    const float *expected, int rows, int dim, double min_cosine) {
    size_t n = (size_t)rows * dim;
    if (min_cosine > 0) {
        double c = min_row_cosine(got, expected, rows, dim);
        CHECK(c >= min_cosine, "%s %s: worst row cosine %.6f < %.6f", label, what, c, min_cosine);
        printf("  %-28s %-14s worst cosine %.6f\n", label, what, c);
        return;
    }
    double diff = max_abs_diff(got, expected, n), scale = max_abs(expected, n);
    double allowed = 4.0 * fixture_level(ref, what) * scale;
    CHECK(diff <= allowed, "%s %s: max abs diff %.3g > allowed %.3g", label, what, diff, allowed);
    printf("  %-28s %-14s diff/max|ref| = %.2e\n", label, what, diff / scale);
}

static inline void compare_with_reference(clip_model *model, const char *label, const char *ref, double min_cosine) {
    char path[128];
    snprintf(path, sizeof path, "expected/%s.safetensors", ref);
    st_file *expected = open_fixture(path);
    st_file *pre = open_fixture("preprocess/expected_224.safetensors");
    cJSON *names = cJSON_Parse(st_metadata(expected, "images"));
    int n_images = cJSON_GetArraySize(names);
    size_t per = 3 * 224 * 224;
    float *pixels = malloc((size_t)n_images * per * sizeof(float));
    for (int i = 0; i < n_images; i++)
        memcpy(pixels + i * per, st_find(pre, cJSON_GetArrayItem(names, i)->valuestring)->data, per * sizeof(float));
    const st_tensor *tokens = st_find(expected, "input.tokens");
    int n_texts = (int)tokens->shape[0];
    clip_model_info info;
    clip_model_get_info(model, &info);
    int E = info.embed_dim;
    float *image = malloc((size_t)n_images * E * sizeof(float)), *text = malloc((size_t)n_texts * E * sizeof(float));
    CHECK(clip_encode_image(model, pixels, n_images, image) == CLIP_OK, "%s: encode images: %s", label,
          clip_last_error());
    CHECK(clip_encode_text(model, tokens->data, n_texts, text) == CLIP_OK, "%s: encode texts: %s", label,
          clip_last_error());
    compare_features(label, ref, "image_features", image, st_find(expected, "image_features")->data, n_images, E,
                     min_cosine);
    compare_features(label, ref, "text_features", text, st_find(expected, "text_features")->data, n_texts, E,
                     min_cosine);
    free(image);
    free(text);
    free(pixels);
    cJSON_Delete(names);
    st_close(pre);
    st_close(expected);
}

static inline int contains(const char *haystack, const char *needle) { return strstr(haystack, needle) != NULL; }

#endif
