#include "formats/layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/dequant.h"

typedef struct pattern {
    const char *openai, *hf, *gguf;
    layout_op op;
} pattern;

static const pattern text_top[] = {
    {"token_embedding.weight", "text_model.embeddings.token_embedding.weight", "t.token_embd.weight", LAYOUT_SAME},
    {"positional_embedding", "text_model.embeddings.position_embedding.weight", "t.position_embd.weight", LAYOUT_SAME},
    {"ln_final.weight", "text_model.final_layer_norm.weight", "t.post_ln.weight", LAYOUT_SAME},
    {"ln_final.bias", "text_model.final_layer_norm.bias", "t.post_ln.bias", LAYOUT_SAME},
    {"text_projection", "text_projection.weight", "text_projection.weight", LAYOUT_TRANSPOSE},
};

static const pattern vision_top[] = {
    {"visual.class_embedding", "vision_model.embeddings.class_embedding", "v.class_embd", LAYOUT_SAME},
    {"visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight", "v.patch_embd.weight", LAYOUT_SAME},
    {"visual.positional_embedding", "vision_model.embeddings.position_embedding.weight", "v.position_embd.weight",
     LAYOUT_SAME},
    {"visual.ln_pre.weight", "vision_model.pre_layrnorm.weight", "v.pre_ln.weight", LAYOUT_SAME},
    {"visual.ln_pre.bias", "vision_model.pre_layrnorm.bias", "v.pre_ln.bias", LAYOUT_SAME},
    {"visual.ln_post.weight", "vision_model.post_layernorm.weight", "v.post_ln.weight", LAYOUT_SAME},
    {"visual.ln_post.bias", "vision_model.post_layernorm.bias", "v.post_ln.bias", LAYOUT_SAME},
    {"visual.proj", "visual_projection.weight", "visual_projection.weight", LAYOUT_TRANSPOSE},
};

/* Within a block; "%c" is q, k or v for the fused projections. clip.cpp
 * calls fc1 "ffn_down" and fc2 "ffn_up" (sic). */
static const pattern block[] = {
    {"ln_1.weight", "layer_norm1.weight", "ln1.weight", LAYOUT_SAME},
    {"ln_1.bias", "layer_norm1.bias", "ln1.bias", LAYOUT_SAME},
    {"attn.in_proj_weight", "self_attn.%c_proj.weight", "attn_%c.weight", LAYOUT_QKV},
    {"attn.in_proj_bias", "self_attn.%c_proj.bias", "attn_%c.bias", LAYOUT_QKV},
    {"attn.out_proj.weight", "self_attn.out_proj.weight", "attn_out.weight", LAYOUT_SAME},
    {"attn.out_proj.bias", "self_attn.out_proj.bias", "attn_out.bias", LAYOUT_SAME},
    {"ln_2.weight", "layer_norm2.weight", "ln2.weight", LAYOUT_SAME},
    {"ln_2.bias", "layer_norm2.bias", "ln2.bias", LAYOUT_SAME},
    {"mlp.c_fc.weight", "mlp.fc1.weight", "ffn_down.weight", LAYOUT_SAME},
    {"mlp.c_fc.bias", "mlp.fc1.bias", "ffn_down.bias", LAYOUT_SAME},
    {"mlp.c_proj.weight", "mlp.fc2.weight", "ffn_up.weight", LAYOUT_SAME},
    {"mlp.c_proj.bias", "mlp.fc2.bias", "ffn_up.bias", LAYOUT_SAME},
};

static const char *pick(const pattern *p, layout_scheme scheme) {
    return scheme == LAYOUT_HF ? p->hf : scheme == LAYOUT_GGUF ? p->gguf : p->openai;
}

static void fill(layout_name *n, const char *openai_stem, const char *other_stem, const pattern *p,
                 layout_scheme scheme) {
    memset(n, 0, sizeof *n);
    n->op = scheme == LAYOUT_OPENAI ? LAYOUT_SAME : p->op;
    snprintf(n->openai, sizeof n->openai, "%s%s", openai_stem, p->openai);
    const char *other = pick(p, scheme);
    if (n->op == LAYOUT_QKV) {
        const char qkv[3] = {'q', 'k', 'v'};
        for (int i = 0; i < 3; i++) {
            char name[64];
            snprintf(name, sizeof name, other, qkv[i]);
            snprintf(n->other[i], sizeof n->other[i], "%s%s", other_stem, name);
        }
    } else {
        snprintf(n->other[0], sizeof n->other[0], "%s%s", other_stem, other);
    }
}

size_t layout_names(layout_scheme scheme, int text_layers, int vision_layers, layout_name **out) {
    size_t per_block = sizeof block / sizeof block[0];
    size_t cap = 1 + sizeof text_top / sizeof text_top[0] + sizeof vision_top / sizeof vision_top[0] +
                 per_block * (size_t)(text_layers + (vision_layers > 0 ? vision_layers : 0));
    layout_name *names = calloc(cap, sizeof *names);
    *out = names;
    if (!names) return 0;
    size_t n = 0;
    for (size_t i = 0; i < sizeof text_top / sizeof text_top[0]; i++) fill(&names[n++], "", "", &text_top[i], scheme);
    for (int l = 0; l < text_layers; l++) {
        char openai[64], other[64];
        snprintf(openai, sizeof openai, "transformer.resblocks.%d.", l);
        snprintf(other, sizeof other, scheme == LAYOUT_HF ? "text_model.encoder.layers.%d." : scheme == LAYOUT_GGUF ? "t.blk.%d." : "transformer.resblocks.%d.", l);
        for (size_t i = 0; i < per_block; i++) fill(&names[n++], openai, other, &block[i], scheme);
    }
    if (vision_layers >= 0) {
        for (size_t i = 0; i < sizeof vision_top / sizeof vision_top[0]; i++)
            fill(&names[n++], "", "", &vision_top[i], scheme);
        for (int l = 0; l < vision_layers; l++) {
            char openai[64], other[64];
            snprintf(openai, sizeof openai, "visual.transformer.resblocks.%d.", l);
            snprintf(other, sizeof other, scheme == LAYOUT_HF ? "vision_model.encoder.layers.%d." : scheme == LAYOUT_GGUF ? "v.blk.%d." : "visual.transformer.resblocks.%d.", l);
            for (size_t i = 0; i < per_block; i++) fill(&names[n++], openai, other, &block[i], scheme);
        }
    }
    if (scheme != LAYOUT_GGUF) {
        pattern scale = {"logit_scale", "logit_scale", NULL, LAYOUT_SAME};
        fill(&names[n++], "", "", &scale, scheme);
    }
    return n;
}

/* ---- building the OpenAI table ---- */

static const st_tensor *need(const st_file *src, const char *name, const char *openai) {
    const st_tensor *t = st_find(src, name);
    if (!t)
        clip_fail(CLIP_ERR_MISSING_TENSOR, "%s: missing tensor '%s' (OpenAI '%s')", st_path(src), name, openai);
    return t;
}

static clip_status fuse(const st_file *src, const layout_name *n, st_file *dst) {
    const st_tensor *part[3];
    for (int i = 0; i < 3; i++)
        if (!(part[i] = need(src, n->other[i], n->openai))) return CLIP_ERR_MISSING_TENSOR;
    for (int i = 1; i < 3; i++) {
        int same = part[i]->dtype == part[0]->dtype && part[i]->ndim == part[0]->ndim;
        for (int d = 0; same && d < part[0]->ndim; d++) same = part[i]->shape[d] == part[0]->shape[d];
        if (!same)
            return clip_fail(CLIP_ERR_SHAPE, "%s: '%s' and '%s' differ in dtype or shape, so cannot form '%s'",
                             st_path(src), part[0]->name, part[i]->name, n->openai);
    }
    if (part[0]->ndim < 1)
        return clip_fail(CLIP_ERR_SHAPE, "%s: '%s' is a scalar", st_path(src), part[0]->name);
    /* Stacking along the first dimension is byte concatenation, also for
     * block-quantised rows. */
    size_t each = part[0]->nbytes;
    uint8_t *data = malloc(3 * each + 1);
    if (!data) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < 3; i++) memcpy(data + i * each, part[i]->data, each);
    clip_status st = st_table_keep(dst, data, free);
    if (st != CLIP_OK) return st;
    int64_t shape[ST_MAX_DIMS];
    memcpy(shape, part[0]->shape, sizeof shape);
    shape[0] *= 3;
    return st_table_add(dst, n->openai, part[0]->dtype, part[0]->ndim, shape, data, 3 * each);
}

static clip_status transpose(const st_file *src, const layout_name *n, st_file *dst) {
    const st_tensor *t = need(src, n->other[0], n->openai);
    if (!t) return CLIP_ERR_MISSING_TENSOR;
    if (t->ndim != 2) return clip_fail(CLIP_ERR_SHAPE, "%s: '%s' is not a matrix", st_path(src), t->name);
    size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
    st_dtype dtype = t->dtype;
    const uint8_t *from = t->data;
    float *expanded = NULL;
    if (st_dtype_size(dtype) == 0) { /* block-quantised: transpose the values */
        expanded = malloc(rows * cols * sizeof(float) + 1);
        if (!expanded) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
        clip_status st = tensor_to_f32(t, expanded);
        if (st != CLIP_OK) {
            free(expanded);
            return st;
        }
        from = (const uint8_t *)expanded;
        dtype = ST_F32;
    }
    size_t es = st_dtype_size(dtype);
    uint8_t *out = malloc(rows * cols * es + 1);
    if (!out) {
        free(expanded);
        return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    }
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) memcpy(out + (c * rows + r) * es, from + (r * cols + c) * es, es);
    free(expanded);
    clip_status st = st_table_keep(dst, out, free);
    if (st != CLIP_OK) return st;
    int64_t shape[2] = {(int64_t)cols, (int64_t)rows};
    return st_table_add(dst, n->openai, dtype, 2, shape, out, rows * cols * es);
}

clip_status layout_to_openai(const st_file *src, layout_scheme scheme, int text_layers, int vision_layers,
                             st_file *dst) {
    /* Block counts come from the file's metadata: each block has a dozen
     * tensors, so a count beyond the tensors present is a lie (found by
     * fuzz_gguf: a huge count made this allocate gigabytes). */
    size_t blocks = (size_t)(text_layers > 0 ? text_layers : 0) + (size_t)(vision_layers > 0 ? vision_layers : 0);
    if (text_layers < 0 || text_layers > 4096 || vision_layers > 4096 || blocks > st_count(src))
        return clip_fail(CLIP_ERR_FORMAT, "%s: %d text and %d vision blocks claimed, but the file holds %zu tensors",
                         st_path(src), text_layers, vision_layers, st_count(src));
    layout_name *names;
    size_t count = layout_names(scheme, text_layers, vision_layers, &names);
    if (!names) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    clip_status st = CLIP_OK;
    for (size_t i = 0; i < count && st == CLIP_OK; i++) {
        const layout_name *n = &names[i];
        if (n->op == LAYOUT_QKV) {
            st = fuse(src, n, dst);
        } else if (n->op == LAYOUT_TRANSPOSE) {
            st = transpose(src, n, dst);
        } else {
            const st_tensor *t = need(src, n->other[0], n->openai);
            st = t ? st_table_add(dst, n->openai, t->dtype, t->ndim, t->shape, t->data, t->nbytes)
                   : CLIP_ERR_MISSING_TENSOR;
        }
    }
    free(names);
    return st;
}
