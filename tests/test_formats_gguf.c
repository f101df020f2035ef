/* GGUF in clip.cpp's layout: the file `clip convert` writes (keys, tensor
 * names, shapes in ggml order, dtypes as clip.cpp expects them), models
 * read back from it with the reference features, a file with only
 * clip.cpp's own keys (vocabulary recovered from the token list, default
 * logit scale), and malformed or foreign files failing cleanly. */
#include <sys/stat.h>

#include "formats/convert.h"
#include "formats/gguf.h"
#include "formats/gguf_clip.h"
#include "formats/model_file.h"
#include "formats/vocab_export.h"
#include "test_formats_common.h"

static uint8_t *read_file(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *data = malloc((size_t)n + 1);
    if (data && fread(data, 1, (size_t)n, fp) != (size_t)n) {
        free(data);
        data = NULL;
    }
    fclose(fp);
    *size = (size_t)n;
    return data;
}

static const char *convert_to(const char *model_file, const char *name, st_dtype dtype, int clip_cpp_keys_only) {
    static char out[600];
    snprintf(out, sizeof out, "%s/%s", scratch_dir(), name);
    clip_load_options opts = {.n_threads = 2, .vocab_path = fixture_path("vocab/bpe_simple_vocab_16e6.txt.gz")};
    clip_model *model = NULL;
    clip_status st = tensor_file_load_model(fixture_path(model_file), &opts, &model);
    CHECK(st == CLIP_OK, "load %s: %s", model_file, clip_last_error());
    if (st != CLIP_OK) return NULL;
    convert_options copts = {.container = CONVERT_GGUF, .dtype = dtype, .clip_cpp_keys_only = clip_cpp_keys_only};
    convert_stats stats;
    st = clip_convert_model(model, "safetensors", out, &copts, &stats);
    clip_model_free(model);
    CHECK(st == CLIP_OK && stats.vocabulary, "convert to %s: %s", name, st == CLIP_OK ? "no vocabulary" : clip_last_error());
    return st == CLIP_OK ? out : NULL;
}

static void check_tensor(const gguf_file *g, const char *name, st_dtype dtype, int ndim, const int64_t *shape) {
    const gguf_tensor_info *t = NULL;
    for (size_t i = 0; i < gguf_tensor_count(g); i++)
        if (strcmp(gguf_tensor_at(g, i)->name, name) == 0) t = gguf_tensor_at(g, i);
    CHECK(t != NULL, "GGUF lacks tensor %s", name);
    if (!t) return;
    int same = t->dtype == dtype && t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    CHECK(same, "GGUF tensor %s: dtype %s ndim %d [%lld, ...]", name, st_dtype_name(t->dtype), t->ndim,
          (long long)t->shape[0]);
}

static void check_layout(const char *path) {
    size_t size;
    uint8_t *data = read_file(path, &size);
    gguf_file *g = NULL;
    CHECK(data && gguf_open_memory(data, size, path, &g) == CLIP_OK, "raw GGUF: %s", clip_last_error());
    if (!g) {
        free(data);
        return;
    }
    const char *s;
    size_t len;
    int64_t v;
    int flag;
    CHECK(gguf_version(g) == 3, "version %u", gguf_version(g));
    CHECK(gguf_get_str(g, "general.architecture", &s, &len) && len == 4 && memcmp(s, "clip", 4) == 0, "architecture");
    CHECK(gguf_get_bool(g, "clip.has_text_encoder", &flag) && flag, "has_text_encoder");
    CHECK(gguf_get_bool(g, "clip.use_gelu", &flag) && !flag, "use_gelu");
    CHECK(gguf_get_int(g, "general.file_type", &v) && v == 0, "file_type %lld", (long long)v);
    static const struct {
        const char *key;
        int64_t value;
    } ints[] = {{"clip.text.context_length", 77},          {"clip.text.embedding_length", 64},
                {"clip.text.feed_forward_length", 256},    {"clip.text.projection_dim", 64},
                {"clip.text.attention.head_count", 1},     {"clip.text.block_count", 2},
                {"clip.vision.image_size", 224},           {"clip.vision.patch_size", 32},
                {"clip.vision.embedding_length", 128},     {"clip.vision.feed_forward_length", 512},
                {"clip.vision.projection_dim", 64},        {"clip.vision.attention.head_count", 2},
                {"clip.vision.block_count", 2}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        CHECK(gguf_get_int(g, ints[i].key, &v) && v == ints[i].value, "%s = %lld, expected %lld", ints[i].key,
              (long long)v, (long long)ints[i].value);
    double eps;
    CHECK(gguf_get_float(g, "clip.vision.attention.layer_norm_epsilon", &eps) && fabs(eps - 1e-5) < 1e-9, "eps");
    const gguf_kv *tokens = gguf_find(g, "tokenizer.ggml.tokens");
    CHECK(tokens && tokens->n == 49408 && gguf_arr_str(tokens, 49407, &s, &len) && len == 13 &&
              memcmp(s, "<|endoftext|>", 13) == 0,
          "tokenizer.ggml.tokens");
    CHECK(tokens && gguf_arr_str(tokens, 256, &s, &len) && len == 5 && memcmp(s, "!</w>", 5) == 0, "token 256");
    const gguf_kv *mean = gguf_find(g, "clip.vision.image_mean");
    double m0 = 0;
    CHECK(mean && mean->n == 3 && gguf_arr_num(mean, 0, &m0) && fabs(m0 - 0.48145466) < 1e-6, "image_mean");
    /* Shapes row-major here; the file holds ggml's reversed order. */
    check_tensor(g, "v.patch_embd.weight", ST_F16, 4, (int64_t[]){128, 3, 32, 32});
    check_tensor(g, "v.class_embd", ST_F32, 1, (int64_t[]){128});
    check_tensor(g, "v.position_embd.weight", ST_F32, 2, (int64_t[]){50, 128});
    check_tensor(g, "v.blk.1.attn_k.weight", ST_F32, 2, (int64_t[]){128, 128});
    check_tensor(g, "v.blk.1.ffn_down.weight", ST_F32, 2, (int64_t[]){512, 128});
    check_tensor(g, "v.blk.1.ffn_up.weight", ST_F32, 2, (int64_t[]){128, 512});
    check_tensor(g, "t.blk.0.attn_v.bias", ST_F32, 1, (int64_t[]){64});
    check_tensor(g, "t.token_embd.weight", ST_F32, 2, (int64_t[]){49408, 64});
    check_tensor(g, "t.post_ln.weight", ST_F32, 1, (int64_t[]){64});
    check_tensor(g, "v.pre_ln.bias", ST_F32, 1, (int64_t[]){128});
    check_tensor(g, "text_projection.weight", ST_F32, 2, (int64_t[]){64, 64});
    check_tensor(g, "visual_projection.weight", ST_F32, 2, (int64_t[]){64, 128});
    /* clip.cpp counts tensors to size its buffers: 397 = 24 x 16 + 13 for
     * ViT-B; here 2 + 2 blocks of 16 and the same 13 others. */
    CHECK(gguf_tensor_count(g) == 4 * 16 + 13, "%zu tensors", gguf_tensor_count(g));
    gguf_close(g);
    free(data);
}

static void check_read_back(void) {
    const char *f32 = convert_to("models/tiny-vit.safetensors", "tiny-vit-f32.gguf", ST_F32, 0);
    if (f32) {
        check_layout(f32);
        clip_model *model = NULL;
        clip_status st = load_any_model(f32, 2, &model);
        CHECK(st == CLIP_OK, "load %s: %s", f32, clip_last_error());
        if (st == CLIP_OK) {
            CHECK(strcmp(tensor_file_format(model->file), "gguf") == 0, "format %s", tensor_file_format(model->file));
            clip_model_info info;
            clip_model_get_info(model, &info);
            CHECK(fabsf(info.logit_scale - 1.0f / 0.07f) < 1e-3f, "logit scale %g travels in clip.logit_scale",
                  info.logit_scale);
            /* the patch embedding is float16 in GGUF, the rest float32 */
            compare_with_reference(model, "tiny-vit-f32.gguf", "tiny-vit", 0.99999);
            clip_model_free(model);
        }
    }
    const char *q8 = convert_to("models/tiny-vit-hf", "tiny-vit-q8_0.gguf", ST_Q8_0, 0);
    if (q8) {
        clip_model *model = NULL;
        clip_status st = load_any_model(q8, 2, &model);
        CHECK(st == CLIP_OK, "load %s: %s", q8, clip_last_error());
        if (st == CLIP_OK) compare_with_reference(model, "tiny-vit-q8_0.gguf", "tiny-vit", 0.999);
        clip_model_free(model);
    }
}

/* What clip.cpp's own converter writes: no merges, no logit scale. */
static void check_clip_cpp_keys_only(void) {
    const char *path = convert_to("models/tiny-vit.safetensors", "tiny-vit-clipcpp.gguf", ST_F16, 1);
    if (!path) return;
    size_t size;
    uint8_t *data = read_file(path, &size);
    gguf_file *g = NULL;
    CHECK(gguf_open_memory(data, size, path, &g) == CLIP_OK && !gguf_find(g, GGUF_KEY_MERGES) &&
              !gguf_find(g, GGUF_KEY_LOGIT_SCALE),
          "clip.cpp-only keys");
    gguf_close(g);
    free(data);
    clip_model *model = NULL;
    clip_status st = load_any_model(path, 2, &model);
    CHECK(st == CLIP_OK, "load %s: %s", path, clip_last_error());
    if (st != CLIP_OK) return;
    clip_model_info info;
    clip_model_get_info(model, &info);
    CHECK(fabsf(info.logit_scale - 100.0f) < 1e-3f, "default logit scale %g", info.logit_scale);
    clip_tokenizer *tok = clip_model_tokenizer(model), *ref = NULL;
    CHECK(tok != NULL, "no vocabulary recovered from tokenizer.ggml.tokens: %s", clip_last_error());
    clip_tokenizer_load(fixture_path("vocab/bpe_simple_vocab_16e6.txt.gz"), &ref);
    static const char *texts[] = {"a photo of a cat", "The quick brown fox jumps over the lazy dog!",
                                  "naïve café résumé 東京 🙂", "zzzyzx qwertyuiop 12345"};
    for (size_t i = 0; tok && ref && i < sizeof texts / sizeof texts[0]; i++) {
        int32_t a[77], b[77];
        clip_tokenize(tok, texts[i], strlen(texts[i]), 77, 1, a);
        clip_tokenize(ref, texts[i], strlen(texts[i]), 77, 1, b);
        CHECK(memcmp(a, b, sizeof a) == 0, "recovered vocabulary tokenizes '%s' differently", texts[i]);
    }
    clip_tokenizer_free(ref);
    compare_with_reference(model, "clip.cpp-style GGUF f16", "tiny-vit", 0.9999);
    clip_model_free(model);
}

/* A vocabulary string with a NUL or a line break inside is refused with
 * the key and entry named (fuzzing found the NUL read past a copy cut
 * short by strndup). `key` names a string array of `path`; its entry
 * `entry` gets `bad` in its second byte. */
static void check_vocab_string_refused(const char *path, const char *key, uint64_t entry, char bad) {
    size_t size;
    uint8_t *data = read_file(path, &size);
    if (!data) return;
    gguf_file *g = NULL;
    CHECK(gguf_open_memory(data, size, path, &g) == CLIP_OK, "open %s: %s", path, clip_last_error());
    const gguf_kv *kv = g ? gguf_find(g, key) : NULL;
    const char *s = NULL;
    size_t len = 0;
    CHECK(kv && gguf_arr_str(kv, entry, &s, &len) && len >= 2, "%s lacks %s entry %llu", path, key,
          (unsigned long long)entry);
    size_t at = s ? (size_t)((const uint8_t *)s - data) + 1 : 0;
    gguf_close(g);
    if (at) {
        data[at] = (uint8_t)bad;
        st_file *table = NULL;
        clip_status st = tensor_file_open_memory(data, size, "<bad vocab>", &table);
        char entry_text[32];
        snprintf(entry_text, sizeof entry_text, "entry %llu", (unsigned long long)entry);
        CHECK(st == CLIP_ERR_FORMAT && contains(clip_last_error(), key) && contains(clip_last_error(), entry_text),
              "%s entry %llu with byte %d: %d %s", key, (unsigned long long)entry, bad, st, clip_last_error());
        if (st == CLIP_OK) st_close(table);
    }
    free(data);
}

static void check_bad_vocab_strings(void) {
    const char *full = convert_to("models/tiny-vit.safetensors", "tiny-vit-vocab.gguf", ST_F16, 0);
    if (full) {
        check_vocab_string_refused(full, GGUF_KEY_MERGES, 0, '\0');
        check_vocab_string_refused(full, GGUF_KEY_MERGES, 7, '\n');
    }
    const char *tokens_only = convert_to("models/tiny-vit.safetensors", "tiny-vit-tokens.gguf", ST_F16, 1);
    if (tokens_only) check_vocab_string_refused(tokens_only, "tokenizer.ggml.tokens", 600, '\0');
}

static void check_merge_recovery(void) {
    clip_tokenizer *tok = NULL;
    if (clip_tokenizer_load(fixture_path("vocab/bpe_simple_vocab_16e6.txt.gz"), &tok) != CLIP_OK) {
        CHECK(0, "vocabulary: %s", clip_last_error());
        return;
    }
    vocab_strings full, from_tokens = {0};
    CHECK(vocab_export(tok, &full) == CLIP_OK && full.n_tokens == 49408 && full.n_merges == 48894, "export");
    from_tokens.tokens = full.tokens;
    from_tokens.token_lens = full.token_lens;
    from_tokens.n_tokens = full.n_tokens;
    CHECK(vocab_merges_from_tokens(&from_tokens) == CLIP_OK, "recover merges: %s", clip_last_error());
    size_t differ = from_tokens.n_merges == full.n_merges ? 0 : 1;
    for (size_t i = 0; i < from_tokens.n_merges && i < full.n_merges; i++)
        differ += strcmp(from_tokens.merges[i], full.merges[i]) != 0;
    CHECK(differ == 0, "%zu merges recovered differently", differ);
    from_tokens.tokens = NULL; /* shared with `full` */
    from_tokens.token_lens = NULL;
    vocab_strings_free(&from_tokens);
    vocab_strings_free(&full);
    clip_tokenizer_free(tok);
}

/* A small valid GGUF made with the writer, then damaged. */
static void small_gguf(tbuf *out, uint32_t type_override) {
    char path[600];
    snprintf(path, sizeof path, "%s/small.gguf", scratch_dir());
    gguf_writer *w = gguf_writer_new();
    gguf_write_str(w, "general.architecture", "clip");
    gguf_write_u32(w, "clip.text.block_count", 0);
    gguf_write_u32(w, "clip.vision.block_count", 0);
    const char *toks[2] = {"a", "bc"};
    gguf_write_str_array(w, "tokenizer.ggml.tokens", toks, (size_t[]){1, 2}, 2);
    float *a = calloc(64, sizeof(float));
    gguf_write_tensor(w, "t.token_embd.weight", ST_F32, 2, (int64_t[]){2, 32}, a, 64 * sizeof(float), 1);
    CHECK(gguf_writer_finish(w, path) == CLIP_OK, "write small gguf: %s", clip_last_error());
    gguf_writer_free(w);
    size_t size;
    uint8_t *data = read_file(path, &size);
    out->n = 0;
    tb_put(out, data, size);
    free(data);
    if (type_override != UINT32_MAX) {
        /* the tensor type sits 12 bytes before the end of the tensor table */
        const uint8_t *name = memmem(out->v, out->n, "t.token_embd.weight", 19);
        uint8_t *type = (uint8_t *)name + 19 + 4 + 16;
        for (int i = 0; i < 4; i++) type[i] = (uint8_t)(type_override >> (8 * i));
    }
}

static void check_malformed(void) {
    tbuf b = {0};
    small_gguf(&b, UINT32_MAX);
    gguf_file *g = NULL;
    clip_status st = gguf_open_memory(b.v, b.n, "<small>", &g);
    CHECK(st == CLIP_OK && gguf_tensor_count(g) == 1 && gguf_tensor_at(g, 0)->shape[0] == 2, "small gguf: %s",
          clip_last_error());
    gguf_close(g);
    /* Every truncation fails cleanly (ASan builds check the reads). */
    int truncations_ok = 1;
    for (size_t cut = 0; cut < b.n; cut++) {
        g = NULL;
        if (gguf_open_memory(b.v, cut, "<cut>", &g) == CLIP_OK && cut < b.n - 256) truncations_ok = 0;
        gguf_close(g);
    }
    CHECK(truncations_ok, "a truncated GGUF was accepted");
    /* Through the CLIP mapping: a model without its tensors. */
    st_file *table = NULL;
    st = tensor_file_open_memory(b.v, b.n, "<small>", &table);
    CHECK(st == CLIP_ERR_MISSING_TENSOR, "small gguf as a model: %d %s", st, clip_last_error());
    st_close(table);

    uint8_t saved[8];
    memcpy(saved, b.v + 4, 4);
    b.v[4] = 1; /* version 1 */
    CHECK(gguf_open_memory(b.v, b.n, "<v1>", &g) == CLIP_ERR_UNSUPPORTED, "GGUF v1 accepted");
    memcpy(b.v + 4, saved, 4);
    memcpy(saved, b.v + 16, 8);
    memset(b.v + 16, 0x7f, 8); /* n_kv */
    CHECK(gguf_open_memory(b.v, b.n, "<kv>", &g) == CLIP_ERR_FORMAT, "huge key count accepted");
    memcpy(b.v + 16, saved, 8);
    memset(b.v + 8, 0x7f, 8); /* n_tensors */
    CHECK(gguf_open_memory(b.v, b.n, "<tensors>", &g) == CLIP_ERR_FORMAT, "huge tensor count accepted");

    small_gguf(&b, 3); /* Q4_1 */
    st = gguf_open_memory(b.v, b.n, "<q4_1>", &g);
    CHECK(st == CLIP_ERR_UNSUPPORTED && contains(clip_last_error(), "t.token_embd.weight"), "Q4_1: %s",
          clip_last_error());
    small_gguf(&b, 999);
    CHECK(gguf_open_memory(b.v, b.n, "<type 999>", &g) == CLIP_ERR_UNSUPPORTED, "unknown ggml type accepted");
    tb_free(&b);

    /* Foreign models: another architecture, LLaVA projectors, text-only. */
    static const struct {
        const char *key, *message;
        int is_bool;
    } foreign[] = {{"general.architecture", "not CLIP", 0},
                   {"clip.has_llava_projector", "LLaVA", 1},
                   {"clip.has_vision_encoder", "text-only", 1},
                   {"clip.use_gelu", "GELU", 1}};
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/foreign.gguf", scratch_dir());
        gguf_writer *w = gguf_writer_new();
        if (foreign[i].is_bool) gguf_write_bool(w, foreign[i].key, strcmp(foreign[i].key, "clip.has_vision_encoder") != 0);
        else gguf_write_str(w, foreign[i].key, "llama");
        gguf_writer_finish(w, path);
        gguf_writer_free(w);
        st = tensor_file_open(path, &table);
        CHECK(st == CLIP_ERR_UNSUPPORTED && contains(clip_last_error(), foreign[i].message), "%s: %d %s",
              foreign[i].key, st, clip_last_error());
        if (st == CLIP_OK) st_close(table);
    }
}

static void check_resnet_refused(void) {
    clip_load_options opts = {.n_threads = 1};
    clip_model *model = NULL;
    if (tensor_file_load_model(fixture_path("models/tiny-rn.safetensors"), &opts, &model) != CLIP_OK) return;
    char out[600];
    snprintf(out, sizeof out, "%s/rn.gguf", scratch_dir());
    convert_options copts = {.container = CONVERT_GGUF, .dtype = ST_F16};
    convert_stats stats;
    CHECK(clip_convert_model(model, NULL, out, &copts, &stats) == CLIP_ERR_UNSUPPORTED &&
              contains(clip_last_error(), "ViT"),
          "ResNet to GGUF: %s", clip_last_error());
    struct stat sb;
    CHECK(stat(out, &sb) != 0, "a refused conversion left a file");
    clip_model_free(model);
}

/* Regression (fuzz_gguf): a GGUF holding metadata but no tensors made the
 * table sort a null array. It must load as an empty table or fail cleanly. */
static void empty_gguf(void) {
    unsigned char buf[256];
    size_t n = 0;
    memcpy(buf, "GGUF", 4);
    n = 4;
    uint32_t version = 3;
    uint64_t tensors = 0, kvs = 1, key_len = 20, value_len = 4;
    uint32_t type = 8; /* string */
    memcpy(buf + n, &version, 4), n += 4;
    memcpy(buf + n, &tensors, 8), n += 8;
    memcpy(buf + n, &kvs, 8), n += 8;
    memcpy(buf + n, &key_len, 8), n += 8;
    memcpy(buf + n, "general.architecture", 20), n += 20;
    memcpy(buf + n, &type, 4), n += 4;
    memcpy(buf + n, &value_len, 8), n += 8;
    memcpy(buf + n, "clip", 4), n += 4;
    st_file *file = NULL;
    clip_status st = gguf_clip_open_memory(buf, n, "empty.gguf", &file);
    CHECK(st == CLIP_OK || strlen(clip_last_error()) > 0, "an empty GGUF fails with a message");
    if (file) st_close(file);
}

/* Regression (fuzz_gguf, CI): metadata claiming a million blocks made the
 * name table allocate gigabytes before any tensor was looked at. */
static size_t put_key(unsigned char *buf, size_t n, const char *key, uint32_t type) {
    uint64_t len = strlen(key);
    memcpy(buf + n, &len, 8), n += 8;
    memcpy(buf + n, key, len), n += len;
    memcpy(buf + n, &type, 4), n += 4;
    return n;
}

static void huge_block_count(void) {
    unsigned char buf[512];
    size_t n = 0;
    uint32_t version = 3, million = 1000000, one = 1;
    uint64_t tensors = 0, kvs = 3, arch_len = 4;
    memcpy(buf, "GGUF", 4), n = 4;
    memcpy(buf + n, &version, 4), n += 4;
    memcpy(buf + n, &tensors, 8), n += 8;
    memcpy(buf + n, &kvs, 8), n += 8;
    n = put_key(buf, n, "general.architecture", 8); /* string */
    memcpy(buf + n, &arch_len, 8), n += 8;
    memcpy(buf + n, "clip", 4), n += 4;
    n = put_key(buf, n, "clip.text.block_count", 4); /* uint32 */
    memcpy(buf + n, &million, 4), n += 4;
    n = put_key(buf, n, "clip.vision.block_count", 4);
    memcpy(buf + n, &one, 4), n += 4;
    st_file *file = NULL;
    clip_status st = gguf_clip_open_memory(buf, n, "huge.gguf", &file);
    CHECK(st != CLIP_OK && contains(clip_last_error(), "blocks claimed"), "huge block count refused: %s",
          clip_last_error());
    if (file) st_close(file);
}

int main(void) {
    empty_gguf();
    huge_block_count();
    fixtures_dir();
    CHECK(strcmp(GGUF_CLIP_VOCAB_TENSOR, CLIP_EMBEDDED_VOCAB_TENSOR) == 0, "vocabulary tensor names diverged");
    check_merge_recovery();
    check_read_back();
    check_clip_cpp_keys_only();
    check_bad_vocab_strings();
    check_malformed();
    check_resnet_refused();
    return test_finish("test_formats_gguf");
}
