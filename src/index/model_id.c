/* A model's identity for index files. Hashing the whole checkpoint would
 * cost a full read of hundreds of MB per query; the architecture plus
 * evenly spaced samples of the weights that shape both embedding spaces
 * (token embedding, positional embeddings, first conv, both projections)
 * separates any two different models just as well. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "index/index_internal.h"
#include "model/model_internal.h"

typedef struct hasher {
    uint64_t a, b;
} hasher;

static void mix_bytes(hasher *h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h->a = (h->a ^ p[i]) * 0x100000001b3ull;                /* FNV-1a */
        h->b = (h->b ^ p[i]) * 0x9e3779b97f4a7c15ull + 0x632be5ull; /* a second, independent lane */
    }
}

static void mix_int(hasher *h, int64_t v) {
    unsigned char buf[8];
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)v >> (8 * i));
    mix_bytes(h, buf, 8);
}

/* 256 evenly spaced values (all of them when fewer), with the count. */
static void mix_sample(hasher *h, const float *w, size_t n) {
    mix_int(h, (int64_t)n);
    if (!w) return;
    size_t take = n < 256 ? n : 256;
    for (size_t i = 0; i < take; i++) {
        float v = w[i * n / take];
        mix_bytes(h, &v, sizeof v);
    }
}

static uint64_t finish(uint64_t x) { /* splitmix64's finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

clip_status clip_model_identity(const clip_model *model, uint8_t id[CLIP_MODEL_ID_BYTES]) {
    if (!model || !id) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_model_identity: bad arguments");
    const clip_model_info *in = &model->info;
    hasher h = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull};
    mix_bytes(&h, "clip.c model identity v1", 24);
    int64_t fields[] = {in->vision_kind, in->embed_dim, in->image_resolution, in->vision_width,
                        in->vision_layers, in->vision_heads, in->vision_patch_size, in->vision_stage_blocks[0],
                        in->vision_stage_blocks[1], in->vision_stage_blocks[2], in->vision_stage_blocks[3],
                        in->context_length, in->vocab_size, in->text_width, in->text_heads, in->text_layers};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) mix_int(&h, fields[i]);
    float scale = in->logit_scale;
    mix_bytes(&h, &scale, sizeof scale);
    const text_tower *t = &model->text;
    int E = in->embed_dim;
    mix_sample(&h, t->token_embedding, (size_t)t->vocab * t->width);
    mix_sample(&h, t->positional_embedding, (size_t)t->context * t->width);
    mix_sample(&h, t->proj, (size_t)t->width * E);
    if (in->vision_kind == CLIP_VISION_VIT) {
        const vit_tower *v = &model->vit;
        mix_sample(&h, v->conv1_weight, (size_t)v->width * 3 * v->patch * v->patch);
        mix_sample(&h, v->positional_embedding, (size_t)(v->grid * v->grid + 1) * v->width);
        mix_sample(&h, v->proj, (size_t)v->width * E);
    } else {
        const resnet_tower *r = &model->resnet;
        const conv_bn *c = &r->stem[0];
        mix_sample(&h, c->weight, (size_t)c->out_channels * c->in_channels * c->kernel * c->kernel);
        mix_sample(&h, r->pool_positional_embedding, (size_t)r->pool_tokens * r->pool_channels);
        mix_sample(&h, r->c_weight, (size_t)E * r->pool_channels);
    }
    uint64_t a = finish(h.a), b = finish(h.b ^ a);
    for (int i = 0; i < 8; i++) {
        id[i] = (uint8_t)(a >> (8 * i));
        id[8 + i] = (uint8_t)(b >> (8 * i));
    }
    return CLIP_OK;
}

void idx_model_desc(const clip_model *model, char *out, size_t size) {
    const clip_model_info *in = &model->info;
    if (in->vision_kind == CLIP_VISION_VIT)
        snprintf(out, size, "ViT %d layers patch %d, %d-d, %dpx, text %dx%d", in->vision_layers, in->vision_patch_size,
                 in->embed_dim, in->image_resolution, in->text_layers, in->text_width);
    else
        snprintf(out, size, "ResNet %d-%d-%d-%d, %d-d, %dpx, text %dx%d", in->vision_stage_blocks[0],
                 in->vision_stage_blocks[1], in->vision_stage_blocks[2], in->vision_stage_blocks[3], in->embed_dim,
                 in->image_resolution, in->text_layers, in->text_width);
}
