/* The trainer's parameter table: a float32 copy of every parameter under
 * its OpenAI state-dict name and shape, whatever the checkpoint's layout
 * (Hugging Face's separate q/k/v are joined into in_proj, its [E, W]
 * projections transposed to OpenAI's [W, E]), plus copies of the BatchNorm
 * buffers. The model's weight pointers are pointed at the copies so that
 * inference and training run the same code on the same numbers; the
 * originals are remembered and put back by trainer_release_params. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/train_internal.h"

static void *alloc_floats(size_t n) { return aligned_alloc(64, ((n ? n : 1) * sizeof(float) + 63) / 64 * 64); }

static clip_status no_memory(const char *name) {
    return clip_fail(CLIP_ERR_NO_MEMORY, "training: out of memory for parameter '%s'", name);
}

static clip_status remember(clip_trainer *t, const float **slot) {
    if (t->n_saved == t->cap_saved) {
        size_t cap = t->cap_saved ? 2 * t->cap_saved : 256;
        saved_pointer *grown = realloc(t->saved, cap * sizeof *grown);
        if (!grown) return clip_fail(CLIP_ERR_NO_MEMORY, "training: out of memory");
        t->saved = grown;
        t->cap_saved = cap;
    }
    t->saved[t->n_saved++] = (saved_pointer){slot, *slot};
    return CLIP_OK;
}

/* Adds a parameter; *data gets its buffer (filled from `src` unless NULL)
 * and *grad its gradient (NULL for a locked tower). */
static clip_status add_param(clip_trainer *t, train_tower tower, const char *name, int ndim, const int64_t *shape,
                             const float *src, float **data, float **grad) {
    if (t->n_params == t->cap_params) {
        size_t cap = t->cap_params ? 2 * t->cap_params : 256;
        train_param *grown = realloc(t->params, cap * sizeof *grown);
        if (!grown) return no_memory(name);
        t->params = grown;
        t->cap_params = cap;
    }
    train_param *p = &t->params[t->n_params];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= (size_t)shape[i];
    }
    p->tower = tower;
    p->requires_grad = !((tower == TRAIN_TOWER_IMAGE && t->opts.lock_image) ||
                         (tower == TRAIN_TOWER_TEXT && t->opts.lock_text));
    p->data = alloc_floats(p->numel);
    p->grad = p->requires_grad ? alloc_floats(p->numel) : NULL;
    t->n_params++; /* counted now so that release frees a partial one */
    if (!p->data || (p->requires_grad && !p->grad)) return no_memory(name);
    if (src) memcpy(p->data, src, p->numel * sizeof(float));
    if (p->grad) memset(p->grad, 0, p->numel * sizeof(float));
    *data = p->data;
    *grad = p->grad;
    return CLIP_OK;
}

/* A parameter the model reads through one pointer. */
static clip_status own_slot(clip_trainer *t, train_tower tower, const char *name, int ndim, const int64_t *shape,
                            const float **slot, float **grad) {
    float *data = NULL;
    clip_status st = remember(t, slot);
    if (st == CLIP_OK) st = add_param(t, tower, name, ndim, shape, *slot, &data, grad);
    if (st == CLIP_OK) *slot = data;
    return st;
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define TRY(expr)                                                                                                  \
    do {                                                                                                           \
        clip_status st_ = (expr);                                                                                  \
        if (st_ != CLIP_OK) return st_;                                                                            \
    } while (0)

/* OpenAI's projection [W, E] used as x @ proj; a Hugging Face [E, W]
 * nn.Linear weight is transposed into it. */
static clip_status own_projection(clip_trainer *t, train_tower tower, const char *name, int W, int E,
                                  const float **slot, nn_weight_layout *layout, float **grad) {
    float *data = NULL;
    TRY(remember(t, slot));
    TRY(add_param(t, tower, name, 2, SHAPE(W, E), *layout == NN_IN_OUT ? *slot : NULL, &data, grad));
    if (*layout == NN_OUT_IN)
        for (int e = 0; e < E; e++)
            for (int w = 0; w < W; w++) data[(size_t)w * E + e] = (*slot)[(size_t)e * W + w];
    *slot = data;
    *layout = NN_IN_OUT;
    return CLIP_OK;
}

static clip_status own_block(clip_trainer *t, train_tower tower, const char *prefix, int W, int mlp,
                             transformer_block *b, block_grads *g) {
    char name[2 * TRAIN_NAME_MAX];
#define NAME(suffix) (snprintf(name, sizeof name, "%s.%s", prefix, suffix), name)
    size_t ww = (size_t)W * W;
    float *in_w = NULL, *in_b = NULL;
    const float **wslots[3] = {&b->q_weight, &b->k_weight, &b->v_weight};
    const float **bslots[3] = {&b->q_bias, &b->k_bias, &b->v_bias};
    for (int i = 0; i < 3; i++) {
        TRY(remember(t, wslots[i]));
        TRY(remember(t, bslots[i]));
    }
    TRY(add_param(t, tower, NAME("attn.in_proj_weight"), 2, SHAPE(3 * W, W), NULL, &in_w, &g->in_proj_weight));
    TRY(add_param(t, tower, NAME("attn.in_proj_bias"), 1, SHAPE(3 * W), NULL, &in_b, &g->in_proj_bias));
    for (int i = 0; i < 3; i++) {
        memcpy(in_w + i * ww, *wslots[i], ww * sizeof(float));
        memcpy(in_b + (size_t)i * W, *bslots[i], (size_t)W * sizeof(float));
        *wslots[i] = in_w + i * ww;
        *bslots[i] = in_b + (size_t)i * W;
    }
    TRY(own_slot(t, tower, NAME("attn.out_proj.weight"), 2, SHAPE(W, W), &b->out_weight, &g->out_weight));
    TRY(own_slot(t, tower, NAME("attn.out_proj.bias"), 1, SHAPE(W), &b->out_bias, &g->out_bias));
    TRY(own_slot(t, tower, NAME("ln_1.weight"), 1, SHAPE(W), &b->ln_1_weight, &g->ln_1_weight));
    TRY(own_slot(t, tower, NAME("ln_1.bias"), 1, SHAPE(W), &b->ln_1_bias, &g->ln_1_bias));
    TRY(own_slot(t, tower, NAME("mlp.c_fc.weight"), 2, SHAPE(mlp, W), &b->fc_weight, &g->fc_weight));
    TRY(own_slot(t, tower, NAME("mlp.c_fc.bias"), 1, SHAPE(mlp), &b->fc_bias, &g->fc_bias));
    TRY(own_slot(t, tower, NAME("mlp.c_proj.weight"), 2, SHAPE(W, mlp), &b->proj_weight, &g->proj_weight));
    TRY(own_slot(t, tower, NAME("mlp.c_proj.bias"), 1, SHAPE(W), &b->proj_bias, &g->proj_bias));
    TRY(own_slot(t, tower, NAME("ln_2.weight"), 1, SHAPE(W), &b->ln_2_weight, &g->ln_2_weight));
    TRY(own_slot(t, tower, NAME("ln_2.bias"), 1, SHAPE(W), &b->ln_2_bias, &g->ln_2_bias));
#undef NAME
    return CLIP_OK;
}

static clip_status own_blocks(clip_trainer *t, train_tower tower, const char *stem, transformer *tr,
                              block_grads **grads) {
    *grads = calloc((size_t)tr->layers, sizeof **grads);
    if (!*grads) return no_memory(stem);
    for (int i = 0; i < tr->layers; i++) {
        char prefix[TRAIN_NAME_MAX];
        snprintf(prefix, sizeof prefix, "%s%d", stem, i);
        TRY(own_block(t, tower, prefix, tr->width, tr->mlp_width, &tr->blocks[i], &(*grads)[i]));
    }
    return CLIP_OK;
}

static clip_status own_text(clip_trainer *t) {
    text_tower *x = &t->model->text;
    text_grads *g = &t->text;
    int W = x->width, E = t->model->info.embed_dim;
    const train_tower T = TRAIN_TOWER_TEXT;
    TRY(own_slot(t, T, "token_embedding.weight", 2, SHAPE(x->vocab, W), &x->token_embedding, &g->token_embedding));
    TRY(own_slot(t, T, "positional_embedding", 2, SHAPE(x->context, W), &x->positional_embedding,
                 &g->positional_embedding));
    TRY(own_blocks(t, T, "transformer.resblocks.", &x->blocks, &g->blocks));
    TRY(own_slot(t, T, "ln_final.weight", 1, SHAPE(W), &x->ln_final_weight, &g->ln_final_weight));
    TRY(own_slot(t, T, "ln_final.bias", 1, SHAPE(W), &x->ln_final_bias, &g->ln_final_bias));
    return own_projection(t, T, "text_projection", W, E, &x->proj, &x->proj_layout, &g->proj);
}

static clip_status own_vit(clip_trainer *t) {
    vit_tower *v = &t->model->vit;
    vit_grads *g = &t->vit;
    int W = v->width, P = v->patch, L = v->grid * v->grid + 1, E = t->model->info.embed_dim;
    const train_tower I = TRAIN_TOWER_IMAGE;
    TRY(own_slot(t, I, "visual.class_embedding", 1, SHAPE(W), &v->class_embedding, &g->class_embedding));
    TRY(own_slot(t, I, "visual.positional_embedding", 2, SHAPE(L, W), &v->positional_embedding,
                 &g->positional_embedding));
    TRY(own_slot(t, I, "visual.conv1.weight", 4, SHAPE(W, 3, P, P), &v->conv1_weight, &g->conv1_weight));
    TRY(own_slot(t, I, "visual.ln_pre.weight", 1, SHAPE(W), &v->ln_pre_weight, &g->ln_pre_weight));
    TRY(own_slot(t, I, "visual.ln_pre.bias", 1, SHAPE(W), &v->ln_pre_bias, &g->ln_pre_bias));
    TRY(own_blocks(t, I, "visual.transformer.resblocks.", &v->blocks, &g->blocks));
    TRY(own_slot(t, I, "visual.ln_post.weight", 1, SHAPE(W), &v->ln_post_weight, &g->ln_post_weight));
    TRY(own_slot(t, I, "visual.ln_post.bias", 1, SHAPE(W), &v->ln_post_bias, &g->ln_post_bias));
    return own_projection(t, I, "visual.proj", W, E, &v->proj, &v->proj_layout, &g->proj);
}

static clip_status add_buffer(clip_trainer *t, const char *name, st_dtype dtype, size_t numel, void **data) {
    if (t->n_buffers == t->cap_buffers) {
        size_t cap = t->cap_buffers ? 2 * t->cap_buffers : 128;
        train_buffer *grown = realloc(t->buffers, cap * sizeof *grown);
        if (!grown) return no_memory(name);
        t->buffers = grown;
        t->cap_buffers = cap;
    }
    train_buffer *b = &t->buffers[t->n_buffers];
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, "%s", name);
    b->dtype = dtype;
    b->numel = numel;
    b->ndim = dtype == ST_I64 ? 0 : 1;
    b->shape[0] = (int64_t)numel;
    b->data = calloc(numel, st_dtype_size(dtype));
    t->n_buffers++;
    if (!b->data) return no_memory(name);
    *data = b->data;
    return CLIP_OK;
}

/* num_batches_tracked is not part of the model (inference never needs
 * it): read from the checkpoint under any of the loader's prefixes. */
static int64_t stored_batches(const clip_model *model, const char *name) {
    static const char *prefixes[] = {"", "module.", "model.", "module.model.", "model.module."};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        char full[TRAIN_NAME_MAX + 16];
        snprintf(full, sizeof full, "%s%s", prefixes[i], name);
        const st_tensor *tensor = st_find(model->file, full);
        if (tensor && tensor->numel == 1) {
            if (tensor->dtype == ST_I64) {
                int64_t v;
                memcpy(&v, tensor->data, sizeof v);
                return v;
            }
            if (tensor->dtype == ST_I32) {
                int32_t v;
                memcpy(&v, tensor->data, sizeof v);
                return v;
            }
        }
    }
    return 0;
}

static clip_status own_conv_bn(clip_trainer *t, const char *conv_name, const char *bn_prefix, conv_bn *cb,
                               conv_bn_state *s) {
    const train_tower I = TRAIN_TOWER_IMAGE;
    char name[TRAIN_NAME_MAX];
    int C = cb->out_channels, k = cb->kernel;
    void *data = NULL;
    TRY(own_slot(t, I, conv_name, 4, SHAPE(C, cb->in_channels, k, k), &cb->weight, &s->grad_weight));
    snprintf(name, sizeof name, "%s.weight", bn_prefix);
    TRY(own_slot(t, I, name, 1, SHAPE(C), &cb->bn.weight, &s->bn.grad_weight));
    snprintf(name, sizeof name, "%s.bias", bn_prefix);
    TRY(own_slot(t, I, name, 1, SHAPE(C), &cb->bn.bias, &s->bn.grad_bias));
    const float **stats[2] = {&cb->bn.running_mean, &cb->bn.running_var};
    float **owned[2] = {&s->bn.running_mean, &s->bn.running_var};
    const char *suffix[2] = {"running_mean", "running_var"};
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "%s.%s", bn_prefix, suffix[i]);
        TRY(remember(t, stats[i]));
        TRY(add_buffer(t, name, ST_F32, (size_t)C, &data));
        memcpy(data, *stats[i], (size_t)C * sizeof(float));
        *stats[i] = data;
        *owned[i] = data;
    }
    snprintf(name, sizeof name, "%s.num_batches_tracked", bn_prefix);
    TRY(add_buffer(t, name, ST_I64, 1, &data));
    s->bn.num_batches_tracked = data;
    *s->bn.num_batches_tracked = stored_batches(t->model, name);
    return CLIP_OK;
}

static clip_status own_resnet(clip_trainer *t) {
    resnet_tower *r = &t->model->resnet;
    resnet_grads *g = &t->resnet;
    const train_tower I = TRAIN_TOWER_IMAGE;
    int C = r->pool_channels, E = t->model->info.embed_dim;
    char conv[TRAIN_NAME_MAX], bn[TRAIN_NAME_MAX];
    for (int i = 0; i < 3; i++) {
        snprintf(conv, sizeof conv, "visual.conv%d.weight", i + 1);
        snprintf(bn, sizeof bn, "visual.bn%d", i + 1);
        TRY(own_conv_bn(t, conv, bn, &r->stem[i], &g->stem[i]));
    }
    g->blocks = calloc((size_t)r->n_blocks, sizeof *g->blocks);
    if (!g->blocks) return no_memory("visual.layer*");
    for (int s = 0, index = 0; s < 4; s++)
        for (int i = 0; i < r->stage_blocks[s]; i++, index++) {
            bottleneck *b = &r->blocks[index];
            bottleneck_state *bs = &g->blocks[index];
            conv_bn *units[3] = {&b->conv1, &b->conv2, &b->conv3};
            conv_bn_state *states[3] = {&bs->conv1, &bs->conv2, &bs->conv3};
            for (int u = 0; u < 3; u++) {
                snprintf(conv, sizeof conv, "visual.layer%d.%d.conv%d.weight", s + 1, i, u + 1);
                snprintf(bn, sizeof bn, "visual.layer%d.%d.bn%d", s + 1, i, u + 1);
                TRY(own_conv_bn(t, conv, bn, units[u], states[u]));
            }
            if (b->has_downsample) {
                snprintf(conv, sizeof conv, "visual.layer%d.%d.downsample.0.weight", s + 1, i);
                snprintf(bn, sizeof bn, "visual.layer%d.%d.downsample.1", s + 1, i);
                TRY(own_conv_bn(t, conv, bn, &b->downsample, &bs->downsample));
            }
        }
    TRY(own_slot(t, I, "visual.attnpool.positional_embedding", 2, SHAPE(r->pool_tokens, C),
                 &r->pool_positional_embedding, &g->pool_positional_embedding));
    TRY(own_slot(t, I, "visual.attnpool.q_proj.weight", 2, SHAPE(C, C), &r->q_weight, &g->q_weight));
    TRY(own_slot(t, I, "visual.attnpool.q_proj.bias", 1, SHAPE(C), &r->q_bias, &g->q_bias));
    TRY(own_slot(t, I, "visual.attnpool.k_proj.weight", 2, SHAPE(C, C), &r->k_weight, &g->k_weight));
    TRY(own_slot(t, I, "visual.attnpool.k_proj.bias", 1, SHAPE(C), &r->k_bias, &g->k_bias));
    TRY(own_slot(t, I, "visual.attnpool.v_proj.weight", 2, SHAPE(C, C), &r->v_weight, &g->v_weight));
    TRY(own_slot(t, I, "visual.attnpool.v_proj.bias", 1, SHAPE(C), &r->v_bias, &g->v_bias));
    TRY(own_slot(t, I, "visual.attnpool.c_proj.weight", 2, SHAPE(E, C), &r->c_weight, &g->c_weight));
    return own_slot(t, I, "visual.attnpool.c_proj.bias", 1, SHAPE(E), &r->c_bias, &g->c_bias);
}

clip_status trainer_bind_params(clip_trainer *t) {
    clip_model *m = t->model;
    t->vit_proj_layout = m->vit.proj_layout;
    t->text_proj_layout = m->text.proj_layout;
    TRY(own_slot(t, TRAIN_TOWER_SHARED, "logit_scale", 0, NULL, &m->logit_scale_log, &t->grad_logit_scale));
    t->logit_scale = t->params[t->n_params - 1].data;
    TRY(m->info.vision_kind == CLIP_VISION_VIT ? own_vit(t) : own_resnet(t));
    return own_text(t);
}

void trainer_release_params(clip_trainer *t) {
    clip_model *m = t->model;
    /* Later entries may re-save a slot (in_proj): restore newest first. */
    for (size_t i = t->n_saved; i-- > 0;) *t->saved[i].slot = t->saved[i].value;
    m->vit.proj_layout = t->vit_proj_layout;
    m->text.proj_layout = t->text_proj_layout;
    for (size_t i = 0; i < t->n_params; i++) {
        free(t->params[i].data);
        free(t->params[i].grad);
    }
    for (size_t i = 0; i < t->n_buffers; i++) free(t->buffers[i].data);
    free(t->params);
    free(t->buffers);
    free(t->saved);
    free(t->vit.blocks);
    free(t->text.blocks);
    free(t->resnet.blocks);
}
