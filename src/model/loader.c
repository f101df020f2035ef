/* Binds checkpoint tensors to the model: infers the architecture from
 * tensor shapes as OpenAI's build_model does, maps Hugging Face names,
 * strips `module.` / `model.` prefixes, checks every shape, and converts
 * only what is not float32 (or not aligned) in the mapping. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/dequant.h"
#include "model/model_internal.h"

typedef struct loader {
    clip_model *model;
    const st_file *file;
    char prefix[32];
    int hf;
    cJSON *hf_config; /* config.json beside a Hugging Face checkpoint */
} loader;

static const st_tensor *find(const loader *ld, const char *name) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", ld->prefix, name);
    return st_find(ld->file, full);
}

static void format_shape(char *out, size_t cap, int ndim, const int64_t *shape) {
    size_t used = (size_t)snprintf(out, cap, "[");
    for (int i = 0; i < ndim && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < cap) snprintf(out + used, cap - used, "]");
}

static void *own(clip_model *model, size_t bytes) {
    owned_buffer *node = malloc(sizeof *node);
    void *data = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!node || !data) {
        free(node);
        free(data);
        return NULL;
    }
    node->data = data;
    node->next = model->owned;
    model->owned = node;
    model->info.weight_bytes_owned += bytes;
    return data;
}

static void note_dtype(clip_model *model, st_dtype dtype) {
    const char *name = st_dtype_name(dtype);
    char *summary = model->dtype_summary;
    char *at = strstr(summary, name);
    while (at) { /* exact token match ("F16" must not match "BF16") */
        size_t len = strlen(name);
        int starts = at == summary || at[-1] == ',';
        int ends = at[len] == '\0' || at[len] == ',';
        if (starts && ends) return;
        at = strstr(at + 1, name);
    }
    size_t used = strlen(summary);
    snprintf(summary + used, sizeof model->dtype_summary - used, "%s%s", used ? "," : "", name);
}

/* Returns float32 data of `name`, checked against `shape` (ndim dims). */
static clip_status bind(loader *ld, const char *name, int ndim, const int64_t *shape, const float **out) {
    const st_tensor *t = find(ld, name);
    char expected[96], found[96];
    format_shape(expected, sizeof expected, ndim, shape);
    if (!t)
        return clip_fail(CLIP_ERR_MISSING_TENSOR, "%s: missing tensor '%s%s' (expected shape %s)",
                         st_path(ld->file), ld->prefix, name, expected);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        format_shape(found, sizeof found, t->ndim, t->shape);
        return clip_fail(CLIP_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", st_path(ld->file), t->name,
                         found, expected);
    }
    clip_model *model = ld->model;
    note_dtype(model, t->dtype);
    model->info.n_parameters += (uint64_t)t->numel;
    if (t->dtype == ST_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
        model->info.weight_bytes_mapped += t->nbytes;
        *out = t->data;
        return CLIP_OK;
    }
    float *dst = own(model, (size_t)t->numel * sizeof(float));
    if (!dst) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory converting '%s'", st_path(ld->file), t->name);
    clip_status st = tensor_to_f32(t, dst);
    if (st != CLIP_OK) return clip_fail_context(st, "%s: ", st_path(ld->file));
    *out = dst;
    return CLIP_OK;
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define BIND(name, ndim, shape, dst)                                                                   \
    do {                                                                                               \
        clip_status st_ = bind(ld, (name), (ndim), (shape), (dst));                                    \
        if (st_ != CLIP_OK) return st_;                                                                \
    } while (0)

static clip_status shape_of(loader *ld, const char *name, int ndim, const st_tensor **out) {
    const st_tensor *t = find(ld, name);
    if (!t)
        return clip_fail(CLIP_ERR_MISSING_TENSOR, "%s: missing tensor '%s%s' (needed to infer the architecture)",
                         st_path(ld->file), ld->prefix, name);
    if (t->ndim != ndim)
        return clip_fail(CLIP_ERR_SHAPE, "%s: tensor '%s' has %d dimensions, expected %d", st_path(ld->file),
                         t->name, t->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] <= 0 || t->shape[i] > (1 << 24))
            return clip_fail(CLIP_ERR_SHAPE, "%s: tensor '%s' has an implausible dimension %lld", st_path(ld->file),
                             t->name, (long long)t->shape[i]);
    *out = t;
    return CLIP_OK;
}

/* Number of distinct N in names "<prefix><stem>N.<...>"; fails unless they
 * are exactly 0..count-1. */
static clip_status count_indexed(loader *ld, const char *stem, int *count) {
    char full[128];
    snprintf(full, sizeof full, "%s%s", ld->prefix, stem);
    size_t len = strlen(full);
    int max_index = -1;
    enum { MAX_INDEX = 4096 };
    unsigned char *seen = calloc(MAX_INDEX, 1);
    if (!seen) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    for (size_t i = 0; i < st_count(ld->file); i++) {
        const char *name = st_at(ld->file, i)->name;
        if (strncmp(name, full, len) != 0) continue;
        char *end;
        long index = strtol(name + len, &end, 10);
        if (end == name + len || *end != '.' || index < 0 || index >= MAX_INDEX) continue;
        seen[index] = 1;
        if (index > max_index) max_index = (int)index;
    }
    for (int i = 0; i <= max_index; i++)
        if (!seen[i]) {
            free(seen);
            return clip_fail(CLIP_ERR_MISSING_TENSOR, "%s: no tensors for '%s%s%d' although later blocks exist",
                             st_path(ld->file), ld->prefix, stem, i);
        }
    free(seen);
    *count = max_index + 1;
    return CLIP_OK;
}

static int metadata_int(const loader *ld, const char *key, int fallback) {
    const char *value = st_metadata(ld->file, key);
    if (!value) return fallback;
    char *end;
    long v = strtol(value, &end, 10);
    return (end != value && *end == '\0' && v > 0 && v < (1 << 20)) ? (int)v : fallback;
}

static int hf_config_int(const loader *ld, const char *section, const char *key, int fallback) {
    if (!ld->hf_config) return fallback;
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(ld->hf_config, section);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(sec, key);
    return cJSON_IsNumber(item) && item->valuedouble >= 1 && item->valuedouble < (1 << 20) ? (int)item->valuedouble
                                                                                          : fallback;
}

static clip_status check_heads(const loader *ld, const char *tower, int width, int heads) {
    if (heads <= 0 || width % heads != 0)
        return clip_fail(CLIP_ERR_SHAPE, "%s: %s width %d is not divisible by %d attention heads", st_path(ld->file),
                         tower, width, heads);
    return CLIP_OK;
}

/* ---- transformer blocks ---- */

static clip_status bind_block(loader *ld, const char *base, int W, transformer_block *blk) {
    char name[192];
    int64_t mlp = 4 * (int64_t)W;
#define NAME(suffix) (snprintf(name, sizeof name, "%s.%s", base, suffix), name)
    if (!ld->hf) {
        const float *in_w, *in_b;
        BIND(NAME("ln_1.weight"), 1, SHAPE(W), &blk->ln_1_weight);
        BIND(NAME("ln_1.bias"), 1, SHAPE(W), &blk->ln_1_bias);
        BIND(NAME("attn.in_proj_weight"), 2, SHAPE(3 * W, W), &in_w);
        BIND(NAME("attn.in_proj_bias"), 1, SHAPE(3 * W), &in_b);
        BIND(NAME("attn.out_proj.weight"), 2, SHAPE(W, W), &blk->out_weight);
        BIND(NAME("attn.out_proj.bias"), 1, SHAPE(W), &blk->out_bias);
        BIND(NAME("ln_2.weight"), 1, SHAPE(W), &blk->ln_2_weight);
        BIND(NAME("ln_2.bias"), 1, SHAPE(W), &blk->ln_2_bias);
        BIND(NAME("mlp.c_fc.weight"), 2, SHAPE(mlp, W), &blk->fc_weight);
        BIND(NAME("mlp.c_fc.bias"), 1, SHAPE(mlp), &blk->fc_bias);
        BIND(NAME("mlp.c_proj.weight"), 2, SHAPE(W, mlp), &blk->proj_weight);
        BIND(NAME("mlp.c_proj.bias"), 1, SHAPE(W), &blk->proj_bias);
        size_t ww = (size_t)W * W;
        blk->q_weight = in_w;
        blk->k_weight = in_w + ww;
        blk->v_weight = in_w + 2 * ww;
        blk->q_bias = in_b;
        blk->k_bias = in_b + W;
        blk->v_bias = in_b + 2 * W;
    } else {
        BIND(NAME("layer_norm1.weight"), 1, SHAPE(W), &blk->ln_1_weight);
        BIND(NAME("layer_norm1.bias"), 1, SHAPE(W), &blk->ln_1_bias);
        BIND(NAME("self_attn.q_proj.weight"), 2, SHAPE(W, W), &blk->q_weight);
        BIND(NAME("self_attn.k_proj.weight"), 2, SHAPE(W, W), &blk->k_weight);
        BIND(NAME("self_attn.v_proj.weight"), 2, SHAPE(W, W), &blk->v_weight);
        BIND(NAME("self_attn.q_proj.bias"), 1, SHAPE(W), &blk->q_bias);
        BIND(NAME("self_attn.k_proj.bias"), 1, SHAPE(W), &blk->k_bias);
        BIND(NAME("self_attn.v_proj.bias"), 1, SHAPE(W), &blk->v_bias);
        BIND(NAME("self_attn.out_proj.weight"), 2, SHAPE(W, W), &blk->out_weight);
        BIND(NAME("self_attn.out_proj.bias"), 1, SHAPE(W), &blk->out_bias);
        BIND(NAME("layer_norm2.weight"), 1, SHAPE(W), &blk->ln_2_weight);
        BIND(NAME("layer_norm2.bias"), 1, SHAPE(W), &blk->ln_2_bias);
        BIND(NAME("mlp.fc1.weight"), 2, SHAPE(mlp, W), &blk->fc_weight);
        BIND(NAME("mlp.fc1.bias"), 1, SHAPE(mlp), &blk->fc_bias);
        BIND(NAME("mlp.fc2.weight"), 2, SHAPE(W, mlp), &blk->proj_weight);
        BIND(NAME("mlp.fc2.bias"), 1, SHAPE(W), &blk->proj_bias);
    }
#undef NAME
    return CLIP_OK;
}

static clip_status bind_transformer(loader *ld, const char *stem, int W, int layers, int heads, transformer *t) {
    t->width = W;
    t->layers = layers;
    t->heads = heads;
    t->mlp_width = 4 * W;
    t->blocks = calloc((size_t)layers, sizeof *t->blocks);
    if (!t->blocks) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < layers; i++) {
        char base[128];
        snprintf(base, sizeof base, "%s%d", stem, i);
        clip_status st = bind_block(ld, base, W, &t->blocks[i]);
        if (st != CLIP_OK) return st;
    }
    return CLIP_OK;
}

/* ---- towers ---- */

static clip_status bind_text(loader *ld) {
    clip_model *m = ld->model;
    clip_model_info *info = &m->info;
    text_tower *t = &m->text;
    const st_tensor *tok, *pos, *proj;
    clip_status st;
    const char *tok_name = ld->hf ? "text_model.embeddings.token_embedding.weight" : "token_embedding.weight";
    const char *pos_name = ld->hf ? "text_model.embeddings.position_embedding.weight" : "positional_embedding";
    const char *proj_name = ld->hf ? "text_projection.weight" : "text_projection";
    if ((st = shape_of(ld, tok_name, 2, &tok)) != CLIP_OK) return st;
    if ((st = shape_of(ld, pos_name, 2, &pos)) != CLIP_OK) return st;
    if ((st = shape_of(ld, proj_name, 2, &proj)) != CLIP_OK) return st;
    int W = (int)tok->shape[1];
    t->vocab = (int)tok->shape[0];
    t->context = (int)pos->shape[0];
    t->width = W;
    info->embed_dim = (int)(ld->hf ? proj->shape[0] : proj->shape[1]);
    const char *stem = ld->hf ? "text_model.encoder.layers." : "transformer.resblocks.";
    int layers;
    if ((st = count_indexed(ld, stem, &layers)) != CLIP_OK) return st;
    int heads = ld->hf ? hf_config_int(ld, "text_config", "num_attention_heads", W / 64)
                       : metadata_int(ld, "transformer_heads", W / 64);
    if ((st = check_heads(ld, "text", W, heads)) != CLIP_OK) return st;
    info->context_length = t->context;
    info->vocab_size = t->vocab;
    info->text_width = W;
    info->text_heads = heads;
    info->text_layers = layers;
    int E = info->embed_dim;
    BIND(tok_name, 2, SHAPE(t->vocab, W), &t->token_embedding);
    BIND(pos_name, 2, SHAPE(t->context, W), &t->positional_embedding);
    BIND(ld->hf ? "text_model.final_layer_norm.weight" : "ln_final.weight", 1, SHAPE(W), &t->ln_final_weight);
    BIND(ld->hf ? "text_model.final_layer_norm.bias" : "ln_final.bias", 1, SHAPE(W), &t->ln_final_bias);
    if (ld->hf) {
        BIND(proj_name, 2, SHAPE(E, W), &t->proj);
        t->proj_layout = NN_OUT_IN;
    } else {
        BIND(proj_name, 2, SHAPE(W, E), &t->proj);
        t->proj_layout = NN_IN_OUT;
    }
    return bind_transformer(ld, stem, W, layers, heads, &t->blocks);
}

static clip_status bind_vit(loader *ld) {
    clip_model *m = ld->model;
    clip_model_info *info = &m->info;
    vit_tower *v = &m->vit;
    const st_tensor *conv, *pos;
    clip_status st;
    const char *conv_name = ld->hf ? "vision_model.embeddings.patch_embedding.weight" : "visual.conv1.weight";
    const char *pos_name = ld->hf ? "vision_model.embeddings.position_embedding.weight" : "visual.positional_embedding";
    if ((st = shape_of(ld, conv_name, 4, &conv)) != CLIP_OK) return st;
    if ((st = shape_of(ld, pos_name, 2, &pos)) != CLIP_OK) return st;
    int W = (int)conv->shape[0], P = (int)conv->shape[3];
    int grid = (int)lround(sqrt((double)(pos->shape[0] - 1)));
    if ((int64_t)grid * grid + 1 != pos->shape[0])
        return clip_fail(CLIP_ERR_SHAPE, "%s: '%s' has %lld rows, which is not a square grid plus one",
                         st_path(ld->file), pos->name, (long long)pos->shape[0]);
    const char *stem = ld->hf ? "vision_model.encoder.layers." : "visual.transformer.resblocks.";
    int layers;
    if ((st = count_indexed(ld, stem, &layers)) != CLIP_OK) return st;
    int heads = ld->hf ? hf_config_int(ld, "vision_config", "num_attention_heads", W / 64)
                       : metadata_int(ld, "vision_heads", W / 64);
    if ((st = check_heads(ld, "vision", W, heads)) != CLIP_OK) return st;
    v->width = W;
    v->patch = P;
    v->grid = grid;
    v->resolution = P * grid;
    info->vision_kind = CLIP_VISION_VIT;
    info->vision_width = W;
    info->vision_layers = layers;
    info->vision_heads = heads;
    info->vision_patch_size = P;
    info->image_resolution = v->resolution;
    int E = info->embed_dim;
    BIND(conv_name, 4, SHAPE(W, 3, P, P), &v->conv1_weight);
    BIND(ld->hf ? "vision_model.embeddings.class_embedding" : "visual.class_embedding", 1, SHAPE(W),
         &v->class_embedding);
    BIND(pos_name, 2, SHAPE(grid * grid + 1, W), &v->positional_embedding);
    BIND(ld->hf ? "vision_model.pre_layrnorm.weight" : "visual.ln_pre.weight", 1, SHAPE(W), &v->ln_pre_weight);
    BIND(ld->hf ? "vision_model.pre_layrnorm.bias" : "visual.ln_pre.bias", 1, SHAPE(W), &v->ln_pre_bias);
    BIND(ld->hf ? "vision_model.post_layernorm.weight" : "visual.ln_post.weight", 1, SHAPE(W), &v->ln_post_weight);
    BIND(ld->hf ? "vision_model.post_layernorm.bias" : "visual.ln_post.bias", 1, SHAPE(W), &v->ln_post_bias);
    if (ld->hf) {
        BIND("visual_projection.weight", 2, SHAPE(E, W), &v->proj);
        v->proj_layout = NN_OUT_IN;
    } else {
        BIND("visual.proj", 2, SHAPE(W, E), &v->proj);
        v->proj_layout = NN_IN_OUT;
    }
    return bind_transformer(ld, stem, W, layers, heads, &v->blocks);
}

static clip_status bind_conv_bn(loader *ld, const char *conv_name, const char *bn_prefix, int cin, int cout,
                                int k, conv_bn *cb) {
    char name[192];
    cb->in_channels = cin;
    cb->out_channels = cout;
    cb->kernel = k;
    BIND(conv_name, 4, SHAPE(cout, cin, k, k), &cb->weight);
    snprintf(name, sizeof name, "%s.weight", bn_prefix);
    BIND(name, 1, SHAPE(cout), &cb->bn.weight);
    snprintf(name, sizeof name, "%s.bias", bn_prefix);
    BIND(name, 1, SHAPE(cout), &cb->bn.bias);
    snprintf(name, sizeof name, "%s.running_mean", bn_prefix);
    BIND(name, 1, SHAPE(cout), &cb->bn.running_mean);
    snprintf(name, sizeof name, "%s.running_var", bn_prefix);
    BIND(name, 1, SHAPE(cout), &cb->bn.running_var);
    return CLIP_OK;
}

static clip_status bind_resnet(loader *ld) {
    clip_model *m = ld->model;
    clip_model_info *info = &m->info;
    resnet_tower *r = &m->resnet;
    const st_tensor *first, *pos;
    clip_status st;
    if ((st = shape_of(ld, "visual.layer1.0.conv1.weight", 4, &first)) != CLIP_OK) return st;
    if ((st = shape_of(ld, "visual.attnpool.positional_embedding", 2, &pos)) != CLIP_OK) return st;
    int w = (int)first->shape[0];
    int out_grid = (int)lround(sqrt((double)(pos->shape[0] - 1)));
    if ((int64_t)out_grid * out_grid + 1 != pos->shape[0])
        return clip_fail(CLIP_ERR_SHAPE, "%s: '%s' has %lld rows, which is not a square grid plus one",
                         st_path(ld->file), pos->name, (long long)pos->shape[0]);
    r->width = w;
    r->resolution = out_grid * 32;
    r->pool_channels = 32 * w;
    r->pool_tokens = out_grid * out_grid + 1;
    r->heads = metadata_int(ld, "vision_heads", w * 32 / 64);
    if ((st = check_heads(ld, "vision", r->pool_channels, r->heads)) != CLIP_OK) return st;
    r->n_blocks = 0;
    for (int s = 0; s < 4; s++) {
        char stem[32];
        snprintf(stem, sizeof stem, "visual.layer%d.", s + 1);
        if ((st = count_indexed(ld, stem, &r->stage_blocks[s])) != CLIP_OK) return st;
        if (r->stage_blocks[s] == 0)
            return clip_fail(CLIP_ERR_MISSING_TENSOR, "%s: no blocks for ResNet stage 'visual.layer%d'",
                             st_path(ld->file), s + 1);
        r->n_blocks += r->stage_blocks[s];
        info->vision_stage_blocks[s] = r->stage_blocks[s];
    }
    info->vision_kind = CLIP_VISION_RESNET;
    info->vision_width = w;
    info->vision_layers = r->n_blocks;
    info->vision_heads = r->heads;
    info->vision_patch_size = 0;
    info->image_resolution = r->resolution;
    int E = info->embed_dim;
    if ((st = bind_conv_bn(ld, "visual.conv1.weight", "visual.bn1", 3, w / 2, 3, &r->stem[0])) != CLIP_OK) return st;
    if ((st = bind_conv_bn(ld, "visual.conv2.weight", "visual.bn2", w / 2, w / 2, 3, &r->stem[1])) != CLIP_OK) return st;
    if ((st = bind_conv_bn(ld, "visual.conv3.weight", "visual.bn3", w / 2, w, 3, &r->stem[2])) != CLIP_OK) return st;
    r->blocks = calloc((size_t)r->n_blocks, sizeof *r->blocks);
    if (!r->blocks) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    int inplanes = w, index = 0;
    for (int s = 0; s < 4; s++) {
        int planes = w << s;
        for (int i = 0; i < r->stage_blocks[s]; i++, index++) {
            bottleneck *b = &r->blocks[index];
            b->stride = (i == 0 && s > 0) ? 2 : 1;
            char conv[96], bn[96];
            const char *names[3] = {"1", "2", "3"};
            int cin[3] = {inplanes, planes, planes}, cout[3] = {planes, planes, planes * 4}, k[3] = {1, 3, 1};
            conv_bn *dst[3] = {&b->conv1, &b->conv2, &b->conv3};
            for (int c = 0; c < 3; c++) {
                snprintf(conv, sizeof conv, "visual.layer%d.%d.conv%s.weight", s + 1, i, names[c]);
                snprintf(bn, sizeof bn, "visual.layer%d.%d.bn%s", s + 1, i, names[c]);
                if ((st = bind_conv_bn(ld, conv, bn, cin[c], cout[c], k[c], dst[c])) != CLIP_OK) return st;
            }
            b->has_downsample = b->stride > 1 || inplanes != planes * 4;
            if (b->has_downsample) {
                snprintf(conv, sizeof conv, "visual.layer%d.%d.downsample.0.weight", s + 1, i);
                snprintf(bn, sizeof bn, "visual.layer%d.%d.downsample.1", s + 1, i);
                if ((st = bind_conv_bn(ld, conv, bn, inplanes, planes * 4, 1, &b->downsample)) != CLIP_OK) return st;
            }
            inplanes = planes * 4;
        }
    }
    int C = r->pool_channels;
    BIND("visual.attnpool.positional_embedding", 2, SHAPE(r->pool_tokens, C), &r->pool_positional_embedding);
    BIND("visual.attnpool.q_proj.weight", 2, SHAPE(C, C), &r->q_weight);
    BIND("visual.attnpool.q_proj.bias", 1, SHAPE(C), &r->q_bias);
    BIND("visual.attnpool.k_proj.weight", 2, SHAPE(C, C), &r->k_weight);
    BIND("visual.attnpool.k_proj.bias", 1, SHAPE(C), &r->k_bias);
    BIND("visual.attnpool.v_proj.weight", 2, SHAPE(C, C), &r->v_weight);
    BIND("visual.attnpool.v_proj.bias", 1, SHAPE(C), &r->v_bias);
    BIND("visual.attnpool.c_proj.weight", 2, SHAPE(E, C), &r->c_weight);
    BIND("visual.attnpool.c_proj.bias", 1, SHAPE(E), &r->c_bias);
    return CLIP_OK;
}

/* ---- layout detection ---- */

static int try_prefix(loader *ld, const char *prefix) {
    static const char *anchors[] = {"token_embedding.weight", "text_model.embeddings.token_embedding.weight"};
    for (int i = 0; i < 2; i++) {
        char name[160];
        snprintf(name, sizeof name, "%s%s", prefix, anchors[i]);
        if (st_find(ld->file, name)) {
            snprintf(ld->prefix, sizeof ld->prefix, "%s", prefix);
            ld->hf = i == 1;
            return 1;
        }
    }
    return 0;
}

static clip_status load_hf_config(loader *ld) {
    char path[4096];
    const char *model_path = st_path(ld->file);
    const char *slash = strrchr(model_path, '/');
    int dir_len = slash ? (int)(slash - model_path) : 1;
    snprintf(path, sizeof path, "%.*s/config.json", dir_len, slash ? model_path : ".");
    FILE *fp = fopen(path, "rb");
    if (!fp) return CLIP_OK; /* shapes still give everything but the head counts */
    char *text = NULL;
    long size = 0;
    if (fseek(fp, 0, SEEK_END) == 0 && (size = ftell(fp)) > 0 && size < (1 << 20) && fseek(fp, 0, SEEK_SET) == 0 &&
        (text = malloc((size_t)size)) && fread(text, 1, (size_t)size, fp) == (size_t)size)
        ld->hf_config = cJSON_ParseWithLength(text, (size_t)size);
    fclose(fp);
    free(text);
    if (!ld->hf_config || !cJSON_IsObject(ld->hf_config))
        return clip_fail(CLIP_ERR_FORMAT, "%s: not a valid JSON object (Hugging Face CLIPConfig expected)", path);
    return CLIP_OK;
}

clip_status model_bind_weights(clip_model *model) {
    loader ld = {.model = model, .file = model->file};
    static const char *prefixes[] = {"", "module.", "model.", "module.model.", "model.module."};
    int found = 0;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0] && !found; i++) found = try_prefix(&ld, prefixes[i]);
    if (!found)
        return clip_fail(CLIP_ERR_MISSING_TENSOR,
                         "%s: not a CLIP checkpoint: neither 'token_embedding.weight' (OpenAI/open_clip names) nor "
                         "'text_model.embeddings.token_embedding.weight' (Hugging Face names) is present",
                         st_path(model->file));
    model->info.layout = ld.hf ? "hf" : "openai";
    model->layer_norm_eps = 1e-5f;
    clip_status st = ld.hf ? load_hf_config(&ld) : CLIP_OK;
    if (st == CLIP_OK) st = bind_text(&ld);
    if (st == CLIP_OK) {
        int vit = ld.hf || find(&ld, "visual.proj") != NULL;
        st = vit ? bind_vit(&ld) : bind_resnet(&ld);
    }
    if (st == CLIP_OK) st = bind(&ld, "logit_scale", 0, NULL, &model->logit_scale_log);
    cJSON_Delete(ld.hf_config);
    if (st == CLIP_OK) model->info.logit_scale = expf(model->logit_scale_log[0]);
    return st;
}
