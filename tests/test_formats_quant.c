/* Element types and `clip convert`'s writer: ggml's q8_0 / q4_0 block
 * layouts (encoding, decoding, error size), the table checks for them,
 * and conversions of the fixture models to safetensors (float16,
 * bfloat16, q8_0, q4_0) whose features are compared with the reference;
 * the vocabulary must travel with the weights. */
#include <sys/stat.h>

#include "core/rng.h"
#include "formats/convert.h"
#include "formats/dequant.h"
#include "formats/model_file.h"
#include "formats/quantize.h"
#include "test_formats_common.h"

static void check_blocks(void) {
    /* q4_0 layout: low nibbles are values 0..15, high nibbles 16..31. */
    uint8_t block[18] = {0x00, 0x3c}; /* d = 1.0 */
    for (int i = 0; i < 16; i++) block[2 + i] = (uint8_t)(i | ((15 - i) << 4));
    float out[32];
    dequant_q4_0_block(block, out);
    int ok = 1;
    for (int i = 0; i < 16; i++) ok &= out[i] == (float)(i - 8) && out[i + 16] == (float)(7 - i);
    CHECK(ok, "q4_0 nibble order");

    /* q8_0 equals ggml's reference quantiser: d = max|x| / 127, q = round(x / d). */
    float x[64];
    clip_rng rng;
    clip_rng_seed(&rng, 7);
    for (int i = 0; i < 64; i++) x[i] = (float)clip_rng_normal(&rng);
    uint8_t q8[68];
    quantize_q8_0(x, 64, q8);
    float amax = 0;
    for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
    uint16_t d_bits = st_float_to_half(amax / 127.0f);
    CHECK(q8[0] == (d_bits & 0xff) && q8[1] == d_bits >> 8, "q8_0 scale");
    ok = 1;
    for (int i = 0; i < 32; i++) ok &= (int8_t)q8[2 + i] == (int8_t)roundf(x[i] * (127.0f / amax));
    CHECK(ok, "q8_0 values");

    /* Error sizes on Gaussian data: q8_0 about 0.5%, q4_0 about 9% (rms). */
    enum { N = 32 * 512 };
    float *v = malloc(N * sizeof(float)), *back = malloc(N * sizeof(float));
    uint8_t *buf = malloc(st_dtype_bytes(ST_Q8_0, N));
    for (int i = 0; i < N; i++) v[i] = (float)clip_rng_normal(&rng);
    st_tensor t = {.name = "t", .ndim = 2, .shape = {512, 32}, .numel = N, .data = buf};
    double err8 = 0, err4 = 0, ref = 0;
    quantize_to(ST_Q8_0, v, N, buf);
    t.dtype = ST_Q8_0;
    t.nbytes = st_dtype_bytes(ST_Q8_0, N);
    CHECK(tensor_to_f32(&t, back) == CLIP_OK, "q8_0 decode: %s", clip_last_error());
    for (int i = 0; i < N; i++) err8 += (back[i] - v[i]) * (back[i] - v[i]), ref += v[i] * v[i];
    quantize_to(ST_Q4_0, v, N, buf);
    t.dtype = ST_Q4_0;
    t.nbytes = st_dtype_bytes(ST_Q4_0, N);
    CHECK(tensor_to_f32(&t, back) == CLIP_OK, "q4_0 decode: %s", clip_last_error());
    for (int i = 0; i < N; i++) err4 += (back[i] - v[i]) * (back[i] - v[i]);
    printf("rms relative error: q8_0 %.4f, q4_0 %.4f\n", sqrt(err8 / ref), sqrt(err4 / ref));
    CHECK(sqrt(err8 / ref) < 0.01, "q8_0 error %.4f", sqrt(err8 / ref));
    CHECK(sqrt(err4 / ref) < 0.11, "q4_0 error %.4f", sqrt(err4 / ref));
    t.nbytes--; /* sizes are checked before decoding */
    CHECK(tensor_to_f32(&t, back) == CLIP_ERR_FORMAT, "short q4_0 data accepted");
    free(v);
    free(back);
    free(buf);

    /* Tables refuse block types whose rows are not whole blocks. */
    st_file *table = st_table_new("<table>");
    uint8_t raw[34] = {0};
    CHECK(st_table_add(table, "ok", ST_Q8_0, 2, (int64_t[]){1, 32}, raw, 34) == CLIP_OK, "q8_0 [1, 32]: %s",
          clip_last_error());
    CHECK(st_table_add(table, "bad", ST_Q8_0, 2, (int64_t[]){2, 16}, raw, 34) == CLIP_ERR_SHAPE, "q8_0 [2, 16]");
    CHECK(st_table_add(table, "short", ST_F32, 1, (int64_t[]){9}, raw, 34) == CLIP_ERR_FORMAT, "F32 [9] in 34 bytes");
    CHECK(st_table_add(table, "ok", ST_U8, 1, (int64_t[]){34}, raw, 34) == CLIP_OK, "duplicate add");
    CHECK(st_table_finish(table) == CLIP_ERR_FORMAT && contains(clip_last_error(), "twice"), "duplicate names");
    CHECK(strcmp(st_dtype_name(ST_Q4_0), "Q4_0") == 0 && st_dtype_size(ST_Q8_0) == 0, "block dtype names");
    st_close(table);
}

static long file_bytes(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static void check_conversions(void) {
    static const struct {
        const char *model, *ref, *dtype;
        double image_cosine, text_cosine, max_size; /* of the float32 file; the vocabulary adds 1.4 MB */
    } cases[] = {
        {"models/tiny-vit.safetensors", "tiny-vit", "f16", 0.99999, 0.99999, 0.6},
        {"models/tiny-vit.safetensors", "tiny-vit", "bf16", 0.9995, 0.9995, 0.6},
        {"models/tiny-vit.safetensors", "tiny-vit", "q8_0", 0.9995, 0.999, 0.35},
        {"models/tiny-vit.safetensors", "tiny-vit", "q4_0", 0.995, 0.999, 0.35},
        {"models/tiny-vit-hf", "tiny-vit", "f32", 0, 0, 1.1}, /* Hugging Face names to OpenAI names */
        {"models/tiny-rn.safetensors", "tiny-rn", "q8_0", 0.999, 0.999, 0.35},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[600], label[128];
        snprintf(out, sizeof out, "%s/%s-%s.safetensors", scratch_dir(), cases[i].ref, cases[i].dtype);
        snprintf(label, sizeof label, "%s as %s", cases[i].model, cases[i].dtype);
        clip_load_options opts = {.n_threads = 2, .vocab_path = fixture_path("vocab/bpe_simple_vocab_16e6.txt.gz")};
        clip_model *model = NULL;
        CHECK(tensor_file_load_model(fixture_path(cases[i].model), &opts, &model) == CLIP_OK, "load %s: %s",
              cases[i].model, clip_last_error());
        if (!model) continue;
        convert_options copts = {.container = CONVERT_SAFETENSORS};
        convert_dtype_from_name(cases[i].dtype, &copts.dtype);
        convert_stats stats;
        clip_status st = clip_convert_model(model, "safetensors", out, &copts, &stats);
        CHECK(st == CLIP_OK && stats.vocabulary, "%s: %s", label, st == CLIP_OK ? "no vocabulary" : clip_last_error());
        clip_model_free(model);
        if (st != CLIP_OK) continue;
        long in_size = file_bytes(fixture_path("models/tiny-vit.safetensors"));
        if (cases[i].ref[5] == 'r') in_size = file_bytes(fixture_path("models/tiny-rn.safetensors"));
        CHECK(file_bytes(out) <= cases[i].max_size * in_size, "%s: %ld bytes, more than %.2f x %ld", label,
              file_bytes(out), cases[i].max_size, in_size);
        printf("  %-44s %9ld bytes (%.2f of float32)\n", label, file_bytes(out), (double)file_bytes(out) / in_size);
        clip_model *converted = NULL;
        clip_load_options plain = {.n_threads = 2};
        st = tensor_file_load_model(out, &plain, &converted);
        CHECK(st == CLIP_OK, "reload %s: %s", label, clip_last_error());
        if (st != CLIP_OK) continue;
        clip_tokenizer *tok = clip_model_tokenizer(converted);
        int32_t ids[8] = {0};
        CHECK(tok && clip_tokenize(tok, "a photo of a cat", 16, 8, 1, ids) == CLIP_OK && ids[0] == 49406 &&
                  ids[1] == 320 && ids[2] == 1125 && ids[5] == 2368 && ids[6] == 49407,
              "%s: the embedded vocabulary does not tokenize as the original", label);
        if (cases[i].image_cosine == 0) {
            compare_with_reference(converted, label, cases[i].ref, 0);
        } else {
            /* image and text thresholds differ: compare each with its own */
            compare_with_reference(converted, label, cases[i].ref,
                                   cases[i].image_cosine < cases[i].text_cosine ? cases[i].image_cosine
                                                                                 : cases[i].text_cosine);
        }
        clip_model_free(converted);
    }
}

int main(void) {
    fixtures_dir();
    check_blocks();
    check_conversions();
    return test_finish("test_formats_quant");
}
