/* New models with OpenAI's initialisation: CLIP.initialize_parameters'
 * standard deviations for the embeddings, the text transformer, the
 * projections and the attention pool, and PyTorch's module defaults for
 * everything it leaves alone (the vision transformer's blocks, the
 * convolutions, biases, norms). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "model/model_internal.h"
#include "tokenizer/tokenizer.h"

typedef struct init_ctx {
    st_writer *writer;
    clip_rng rng;
    clip_status status;
} init_ctx;

typedef enum init_kind { INIT_NORMAL, INIT_UNIFORM, INIT_CONSTANT } init_kind;

static void add(init_ctx *c, const char *name, int ndim, const int64_t *shape, init_kind kind, double param) {
    if (c->status != CLIP_OK) return;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    float *data = malloc((n ? n : 1) * sizeof(float));
    if (!data) {
        c->status = clip_fail(CLIP_ERR_NO_MEMORY, "init: out of memory for '%s'", name);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case INIT_NORMAL: data[i] = (float)(param * clip_rng_normal(&c->rng)); break;
        case INIT_UNIFORM: data[i] = (float)(param * (2.0 * clip_rng_uniform(&c->rng) - 1.0)); break;
        case INIT_CONSTANT: data[i] = (float)param; break;
        }
    }
    c->status = st_writer_add(c->writer, name, ST_F32, ndim, shape, data);
    free(data);
}

#define S(...) ((const int64_t[]){__VA_ARGS__})

static void add_f(init_ctx *c, const char *fmt_prefix, const char *suffix, int ndim, const int64_t *shape,
                  init_kind kind, double param) {
    char name[192];
    snprintf(name, sizeof name, "%s%s", fmt_prefix, suffix);
    add(c, name, ndim, shape, kind, param);
}

/* PyTorch's nn.Linear default: weight and bias U(-1/sqrt(in), 1/sqrt(in)). */
static void linear_default(init_ctx *c, const char *prefix, int64_t out, int64_t in, int bias) {
    double bound = 1.0 / sqrt((double)in);
    add_f(c, prefix, ".weight", 2, S(out, in), INIT_UNIFORM, bound);
    if (bias) add_f(c, prefix, ".bias", 1, S(out), INIT_UNIFORM, bound);
}

static void layer_norm(init_ctx *c, const char *prefix, int64_t width) {
    add_f(c, prefix, ".weight", 1, S(width), INIT_CONSTANT, 1.0);
    add_f(c, prefix, ".bias", 1, S(width), INIT_CONSTANT, 0.0);
}

/* text_std != 0: CLIP's initialize_parameters for the text transformer;
 * otherwise nn.MultiheadAttention / nn.Linear defaults (vision blocks). */
static void transformer_blocks(init_ctx *c, const char *stem, int width, int layers, int text_init) {
    double proj_std = pow(width, -0.5) * pow(2.0 * layers, -0.5);
    double attn_std = pow(width, -0.5), fc_std = pow(2.0 * width, -0.5);
    for (int i = 0; i < layers; i++) {
        char p[128], q[160];
        snprintf(p, sizeof p, "%s%d.", stem, i);
        snprintf(q, sizeof q, "%sln_1", p);
        layer_norm(c, q, width);
        snprintf(q, sizeof q, "%sln_2", p);
        layer_norm(c, q, width);
        if (text_init) {
            add_f(c, p, "attn.in_proj_weight", 2, S(3 * width, width), INIT_NORMAL, attn_std);
            add_f(c, p, "attn.out_proj.weight", 2, S(width, width), INIT_NORMAL, proj_std);
            add_f(c, p, "mlp.c_fc.weight", 2, S(4 * width, width), INIT_NORMAL, fc_std);
            add_f(c, p, "mlp.c_proj.weight", 2, S(width, 4 * width), INIT_NORMAL, proj_std);
            add_f(c, p, "mlp.c_fc.bias", 1, S(4 * width), INIT_UNIFORM, 1.0 / sqrt(width));
            add_f(c, p, "mlp.c_proj.bias", 1, S(width), INIT_UNIFORM, 1.0 / sqrt(4.0 * width));
        } else {
            /* xavier_uniform over [3W, W]: bound sqrt(6 / (W + 3W)) */
            add_f(c, p, "attn.in_proj_weight", 2, S(3 * width, width), INIT_UNIFORM, sqrt(6.0 / (4.0 * width)));
            add_f(c, p, "attn.out_proj.weight", 2, S(width, width), INIT_UNIFORM, 1.0 / sqrt(width));
            snprintf(q, sizeof q, "%smlp.c_fc", p);
            linear_default(c, q, 4 * width, width, 1);
            snprintf(q, sizeof q, "%smlp.c_proj", p);
            linear_default(c, q, width, 4 * width, 1);
        }
        add_f(c, p, "attn.in_proj_bias", 1, S(3 * width), INIT_CONSTANT, 0.0);
        add_f(c, p, "attn.out_proj.bias", 1, S(width), INIT_CONSTANT, 0.0);
    }
}

static void add_conv_bn(init_ctx *c, const char *conv, const char *bn, int cin, int cout, int k, int zero_gamma) {
    add(c, conv, 4, S(cout, cin, k, k), INIT_UNIFORM, 1.0 / sqrt((double)cin * k * k));
    add_f(c, bn, ".weight", 1, S(cout), INIT_CONSTANT, zero_gamma ? 0.0 : 1.0);
    add_f(c, bn, ".bias", 1, S(cout), INIT_CONSTANT, 0.0);
    add_f(c, bn, ".running_mean", 1, S(cout), INIT_CONSTANT, 0.0);
    add_f(c, bn, ".running_var", 1, S(cout), INIT_CONSTANT, 1.0);
    if (c->status != CLIP_OK) return;
    char name[192];
    int64_t zero = 0;
    snprintf(name, sizeof name, "%s.num_batches_tracked", bn);
    c->status = st_writer_add(c->writer, name, ST_I64, 0, NULL, &zero);
}

static void vision_resnet(init_ctx *c, const clip_arch *a) {
    int w = a->vision_width, E = a->embed_dim, C = 32 * w, grid = a->image_resolution / 32;
    add_conv_bn(c, "visual.conv1.weight", "visual.bn1", 3, w / 2, 3, 0);
    add_conv_bn(c, "visual.conv2.weight", "visual.bn2", w / 2, w / 2, 3, 0);
    add_conv_bn(c, "visual.conv3.weight", "visual.bn3", w / 2, w, 3, 0);
    int inplanes = w;
    for (int s = 0; s < 4; s++) {
        int planes = w << s;
        for (int i = 0; i < a->vision_layers[s]; i++) {
            char conv[96], bn[96];
            int cin[3] = {inplanes, planes, planes}, cout[3] = {planes, planes, 4 * planes}, k[3] = {1, 3, 1};
            for (int j = 0; j < 3; j++) {
                snprintf(conv, sizeof conv, "visual.layer%d.%d.conv%d.weight", s + 1, i, j + 1);
                snprintf(bn, sizeof bn, "visual.layer%d.%d.bn%d", s + 1, i, j + 1);
                add_conv_bn(c, conv, bn, cin[j], cout[j], k[j], j == 2); /* bn3.weight zeroed as OpenAI does */
            }
            int stride = (i == 0 && s > 0) ? 2 : 1;
            if (stride > 1 || inplanes != 4 * planes) {
                snprintf(conv, sizeof conv, "visual.layer%d.%d.downsample.0.weight", s + 1, i);
                snprintf(bn, sizeof bn, "visual.layer%d.%d.downsample.1", s + 1, i);
                add_conv_bn(c, conv, bn, inplanes, 4 * planes, 1, 0);
            }
            inplanes = 4 * planes;
        }
    }
    double std = pow(C, -0.5);
    add(c, "visual.attnpool.positional_embedding", 2, S(grid * grid + 1, C), INIT_NORMAL, std);
    const char *names[3] = {"q", "k", "v"};
    for (int i = 0; i < 3; i++) {
        char p[64];
        snprintf(p, sizeof p, "visual.attnpool.%s_proj", names[i]);
        add_f(c, p, ".weight", 2, S(C, C), INIT_NORMAL, std);
        add_f(c, p, ".bias", 1, S(C), INIT_UNIFORM, 1.0 / sqrt(C));
    }
    add(c, "visual.attnpool.c_proj.weight", 2, S(E, C), INIT_NORMAL, std);
    add(c, "visual.attnpool.c_proj.bias", 1, S(E), INIT_UNIFORM, 1.0 / sqrt(C));
}

static void vision_vit(init_ctx *c, const clip_arch *a) {
    int W = a->vision_width, P = a->vision_patch_size, grid = a->image_resolution / P;
    double scale = pow(W, -0.5);
    add(c, "visual.conv1.weight", 4, S(W, 3, P, P), INIT_UNIFORM, 1.0 / sqrt(3.0 * P * P));
    add(c, "visual.class_embedding", 1, S(W), INIT_NORMAL, scale);
    add(c, "visual.positional_embedding", 2, S(grid * grid + 1, W), INIT_NORMAL, scale);
    layer_norm(c, "visual.ln_pre", W);
    transformer_blocks(c, "visual.transformer.resblocks.", W, a->vision_layers[0], 0);
    layer_norm(c, "visual.ln_post", W);
    add(c, "visual.proj", 2, S(W, a->embed_dim), INIT_NORMAL, scale);
}

static void add_metadata(init_ctx *c, const clip_arch *a, uint64_t seed) {
    char value[128];
    int vit = a->vision_patch_size > 0;
#define META(key, ...) (snprintf(value, sizeof value, __VA_ARGS__), st_writer_metadata(c->writer, key, value))
    META("embed_dim", "%d", a->embed_dim);
    META("image_resolution", "%d", a->image_resolution);
    if (vit) META("vision_layers", "%d", a->vision_layers[0]);
    else META("vision_layers", "[%d, %d, %d, %d]", a->vision_layers[0], a->vision_layers[1], a->vision_layers[2],
              a->vision_layers[3]);
    META("vision_width", "%d", a->vision_width);
    if (vit) META("vision_patch_size", "%d", a->vision_patch_size);
    else META("vision_patch_size", "null");
    META("context_length", "%d", a->context_length);
    META("vocab_size", "%d", a->vocab_size);
    META("transformer_width", "%d", a->text_width);
    META("transformer_heads", "%d", a->text_heads ? a->text_heads : a->text_width / 64);
    META("transformer_layers", "%d", a->text_layers);
    META("vision_heads", "%d", a->vision_heads ? a->vision_heads : (vit ? a->vision_width / 64 : a->vision_width / 2));
    META("arch", "%s", vit ? "VisionTransformer" : "ModifiedResNet");
    META("seed", "%llu", (unsigned long long)seed);
    META("format", "clip.c");
#undef META
}

static clip_status embed_vocab(init_ctx *c, const char *vocab_path) {
    FILE *fp = fopen(vocab_path, "rb");
    if (!fp) return clip_fail(CLIP_ERR_IO, "%s: cannot open vocabulary", vocab_path);
    unsigned char *bytes = NULL;
    long size = -1;
    if (fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
    clip_status st = CLIP_OK;
    if (size <= 0 || size > (64L << 20) || fseek(fp, 0, SEEK_SET) != 0)
        st = clip_fail(CLIP_ERR_VOCAB, "%s: unreadable or implausibly large vocabulary", vocab_path);
    else if (!(bytes = malloc((size_t)size)) || fread(bytes, 1, (size_t)size, fp) != (size_t)size)
        st = clip_fail(CLIP_ERR_IO, "%s: read failed", vocab_path);
    fclose(fp);
    if (st == CLIP_OK) {
        /* Check it parses before promising a self-contained model. */
        clip_tokenizer *tok = NULL;
        st = clip_tokenizer_from_buffer(bytes, (size_t)size, vocab_path, &tok);
        clip_tokenizer_free(tok);
    }
    if (st == CLIP_OK) {
        int64_t shape[1] = {size};
        st = st_writer_add(c->writer, CLIP_EMBEDDED_VOCAB_TENSOR, ST_U8, 1, shape, bytes);
    }
    free(bytes);
    return st;
}

clip_status clip_model_init_file(const clip_arch *arch, uint64_t seed, const char *vocab_path, const char *path) {
    clip_status st = clip_arch_validate(arch);
    if (st != CLIP_OK) return st;
    init_ctx c = {.writer = st_writer_new(), .status = CLIP_OK};
    if (!c.writer) return clip_fail(CLIP_ERR_NO_MEMORY, "init: out of memory");
    clip_rng_seed(&c.rng, seed);
    const clip_arch *a = arch;
    int T = a->text_width;
    add(&c, "token_embedding.weight", 2, S(a->vocab_size, T), INIT_NORMAL, 0.02);
    add(&c, "positional_embedding", 2, S(a->context_length, T), INIT_NORMAL, 0.01);
    transformer_blocks(&c, "transformer.resblocks.", T, a->text_layers, 1);
    layer_norm(&c, "ln_final", T);
    add(&c, "text_projection", 2, S(T, a->embed_dim), INIT_NORMAL, pow(T, -0.5));
    add(&c, "logit_scale", 0, NULL, INIT_CONSTANT, log(1.0 / 0.07));
    if (a->vision_patch_size > 0) vision_vit(&c, a);
    else vision_resnet(&c, a);
    add_metadata(&c, a, seed);
    if (c.status == CLIP_OK && vocab_path) c.status = embed_vocab(&c, vocab_path);
    if (c.status == CLIP_OK) c.status = st_writer_finish(c.writer, path);
    st_writer_free(c.writer);
    return c.status;
}
