/* clip init: architectures by name and JSON, OpenAI's initialisation
 * statistics, determinism from the seed, and that the file loads mapped. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char *scratch(const char *name) {
    static char buffers[4][600];
    static int next;
    char *out = buffers[next++ % 4];
    snprintf(out, sizeof buffers[0], "%s/%s", scratch_dir(), name);
    return out;
}

static void moments(const st_tensor *t, double *mean, double *std) {
    const float *x = t->data;
    double s = 0, sq = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        s += x[i];
        sq += (double)x[i] * x[i];
    }
    *mean = s / t->numel;
    *std = sqrt(sq / t->numel - *mean * *mean);
}

static void check_std(st_file *f, const char *name, double want_std) {
    const st_tensor *t = st_find(f, name);
    CHECK(t != NULL, "init: tensor %s missing", name);
    if (!t) return;
    double mean, std;
    moments(t, &mean, &std);
    /* tensors have >= 4096 elements: the sample std is within a few % */
    CHECK(fabs(std - want_std) <= 0.05 * want_std && fabs(mean) <= 4 * want_std / sqrt((double)t->numel) + 1e-9,
          "init: %s mean %.4g std %.4g, want std %.4g", name, mean, std, want_std);
}

static const char small_vit_json[] =
    "{\"embed_dim\": 32, \"image_resolution\": 32, \"vision_layers\": 2, \"vision_width\": 64,"
    " \"vision_patch_size\": 8, \"context_length\": 16, \"vocab_size\": 49408, \"text_width\": 64,"
    " \"text_heads\": 2, \"text_layers\": 2}";

int main(void) {
    clip_arch arch;
    CHECK(clip_arch_by_name("ViT-B/32", &arch) == CLIP_OK && arch.vision_width == 768 && arch.vision_patch_size == 32,
          "ViT-B/32 by name");
    CHECK(clip_arch_by_name("RN50", &arch) == CLIP_OK && arch.vision_layers[2] == 6 && arch.embed_dim == 1024,
          "RN50 by name");
    CHECK(clip_arch_by_name("ViT-X-99", &arch) == CLIP_ERR_INVALID_ARGUMENT && strstr(clip_last_error(), "ViT-B-32"),
          "unknown name lists the known ones: %s", clip_last_error());
    const char *bad = "{\"embed_dim\": 32, \"image_resolution\": 30, \"vision_layers\": 2, \"vision_width\": 64,"
                      " \"vision_patch_size\": 8, \"text_width\": 64, \"text_layers\": 1}";
    CHECK(clip_arch_from_json(bad, strlen(bad), &arch) == CLIP_ERR_INVALID_ARGUMENT, "resolution not a patch multiple");
    const char *open_clip = "{\"embed_dim\": 32, \"vision_cfg\": {\"image_size\": 64, \"layers\": [1,1,1,1],"
                            " \"width\": 8}, \"text_cfg\": {\"context_length\": 8, \"vocab_size\": 100,"
                            " \"width\": 16, \"heads\": 1, \"layers\": 1}}";
    CHECK(clip_arch_from_json(open_clip, strlen(open_clip), &arch) == CLIP_OK && arch.vision_patch_size == 0 &&
              arch.vision_layers[3] == 1 && arch.text_width == 16,
          "open_clip config: %s", clip_last_error());

    /* A small ViT: load it back and check the architecture and statistics. */
    CHECK(clip_arch_from_json(small_vit_json, strlen(small_vit_json), &arch) == CLIP_OK, "small vit json");
    const char *a = scratch("a.safetensors"), *b = scratch("b.safetensors"), *c = scratch("c.safetensors");
    const char *vocab = fixture_path("vocab/bpe_simple_vocab_16e6.txt.gz");
    CHECK(clip_model_init_file(&arch, 7, vocab, a) == CLIP_OK, "init a: %s", clip_last_error());
    CHECK(clip_model_init_file(&arch, 7, vocab, b) == CLIP_OK, "init b: %s", clip_last_error());
    CHECK(clip_model_init_file(&arch, 8, NULL, c) == CLIP_OK, "init c: %s", clip_last_error());
    st_file *fa = open_fixture(a), *fb = open_fixture(b), *fc = open_fixture(c);
    const st_tensor *ta = st_find(fa, "token_embedding.weight"), *tb = st_find(fb, "token_embedding.weight");
    const st_tensor *tc = st_find(fc, "token_embedding.weight");
    CHECK(ta && tb && tc && memcmp(ta->data, tb->data, ta->nbytes) == 0, "same seed, same weights");
    CHECK(ta && tc && memcmp(ta->data, tc->data, ta->nbytes) != 0, "another seed, other weights");
    check_std(fa, "token_embedding.weight", 0.02);
    check_std(fa, "positional_embedding", 0.01);
    check_std(fa, "transformer.resblocks.0.attn.in_proj_weight", pow(64, -0.5));
    check_std(fa, "transformer.resblocks.1.attn.out_proj.weight", pow(64, -0.5) * pow(4, -0.5));
    check_std(fa, "transformer.resblocks.0.mlp.c_fc.weight", pow(128, -0.5));
    check_std(fa, "text_projection", pow(64, -0.5));
    check_std(fa, "visual.positional_embedding", pow(64, -0.5));
    /* PyTorch's xavier_uniform for the vision blocks: std = bound / sqrt(3). */
    check_std(fa, "visual.transformer.resblocks.0.attn.in_proj_weight", sqrt(6.0 / 256) / sqrt(3.0));
    const st_tensor *scale = st_find(fa, "logit_scale");
    CHECK(scale && fabs(((const float *)scale->data)[0] - log(1 / 0.07)) < 1e-6, "logit_scale = log(1/0.07)");

    clip_model *model = NULL;
    clip_load_options opts = {.n_threads = 1};
    CHECK(clip_model_load(a, &opts, &model) == CLIP_OK, "load init'ed model: %s", clip_last_error());
    if (model) {
        clip_model_info info;
        clip_model_get_info(model, &info);
        CHECK(info.text_heads == 2 && info.vision_heads == 1 && info.image_resolution == 32 && info.embed_dim == 32 &&
                  info.context_length == 16 && info.vision_layers == 2,
              "architecture read back: heads %d/%d res %d", info.text_heads, info.vision_heads, info.image_resolution);
        CHECK(info.weight_bytes_owned == 0, "float32 weights of an init'ed model are mapped, not copied");
        /* The embedded vocabulary makes the file self-contained. */
        CHECK(clip_model_tokenizer(model) != NULL, "embedded vocabulary: %s", clip_last_error());
        const char *texts[2] = {"a photo of a cat", "a dog"};
        float features[64];
        CHECK(clip_embed_texts(model, texts, 2, 1, features) == CLIP_OK, "embed texts: %s", clip_last_error());
        double norm = 0;
        for (int i = 0; i < 32; i++) norm += features[i] * features[i];
        CHECK(fabs(norm - 1) < 1e-5, "normalised text embedding has norm^2 %.6f", norm);
        clip_model_free(model);
    }

    /* A small ResNet loads too, and bn3 gains start at zero as in OpenAI's code. */
    const char *rn_json = "{\"embed_dim\": 16, \"image_resolution\": 64, \"vision_layers\": [1, 2, 1, 1],"
                          " \"vision_width\": 8, \"vision_patch_size\": 0, \"context_length\": 8,"
                          " \"vocab_size\": 49408, \"text_width\": 16, \"text_heads\": 1, \"text_layers\": 1}";
    CHECK(clip_arch_from_json(rn_json, strlen(rn_json), &arch) == CLIP_OK, "rn json: %s", clip_last_error());
    const char *rn = scratch("rn.safetensors");
    CHECK(clip_model_init_file(&arch, 1, NULL, rn) == CLIP_OK, "init rn: %s", clip_last_error());
    CHECK(clip_model_load(rn, &opts, &model) == CLIP_OK, "load rn: %s", clip_last_error());
    if (model) {
        clip_model_info info;
        clip_model_get_info(model, &info);
        CHECK(info.vision_kind == CLIP_VISION_RESNET && info.vision_stage_blocks[1] == 2 && info.vision_heads == 4,
              "rn architecture read back");
        float *pixels = calloc(3 * 64 * 64, sizeof(float)), features[16];
        CHECK(clip_encode_image(model, pixels, 1, features) == CLIP_OK, "rn encode: %s", clip_last_error());
        free(pixels);
        clip_model_free(model);
    }
    st_file *frn = open_fixture(rn);
    const st_tensor *bn3 = st_find(frn, "visual.layer2.1.bn3.weight");
    CHECK(bn3 && max_abs(bn3->data, (size_t)bn3->numel) == 0, "bn3.weight zero-initialised");
    st_close(frn);
    st_close(fa);
    st_close(fb);
    st_close(fc);
    return test_finish("test_init");
}
