/* The trainer: owns the parameters (params.c) and runs one contrastive
 * forward + backward over both towers. A locked tower runs the inference
 * path (no activations kept; ResNet BatchNorm on running statistics, as
 * open_clip's lock_image freezes it) and gets no gradients. */
#include <math.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>

#include "core/error.h"
#include "dist/dist.h"
#include "train/train_internal.h"

static void sync_model(clip_trainer *t);

/* Every step allocates and frees the same large activation buffers. glibc
 * serves blocks above its mmap threshold (32 MiB at most) with fresh
 * mappings, whose pages the kernel zeroes again on each step: 6-10% of a
 * step in page faults. Served from the heap instead, and not trimmed back,
 * each step reuses the last one's memory. The setting is process-wide; a
 * process that trains spends its memory on training. */
static void keep_step_memory(void) {
#ifdef __GLIBC__
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

clip_status clip_trainer_create(clip_model *model, const clip_trainer_options *opts, clip_trainer **out) {
    if (!model || !out) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_trainer_create: null argument");
    *out = NULL;
    clip_trainer *t = calloc(1, sizeof *t);
    if (!t) return clip_fail(CLIP_ERR_NO_MEMORY, "training: out of memory");
    keep_step_memory();
    t->model = model;
    if (opts)
        t->opts = *opts;
    else
        t->opts.bn_train = 1;
    if (t->opts.bn_momentum <= 0) t->opts.bn_momentum = 0.1f;
    clip_status st = trainer_bind_params(t);
    if (st != CLIP_OK) {
        clip_trainer_free(t);
        return st;
    }
    sync_model(t);
    *out = t;
    return CLIP_OK;
}

void clip_trainer_free(clip_trainer *t) {
    if (!t) return;
    /* Packed copies of the trainer's buffers must not outlive them. */
    nn_ctx_release(&t->model->nn);
    trainer_release_params(t);
    nn_ctx_init(&t->model->nn);
    t->model->info.logit_scale = expf(t->model->logit_scale_log[0]);
    free(t);
}

clip_model *clip_trainer_model(clip_trainer *t) { return t->model; }

train_param *clip_trainer_params(clip_trainer *t, size_t *count) {
    *count = t->n_params;
    return t->params;
}

train_param *clip_trainer_find_param(clip_trainer *t, const char *name) {
    for (size_t i = 0; i < t->n_params; i++)
        if (strcmp(t->params[i].name, name) == 0) return &t->params[i];
    return NULL;
}

train_buffer *clip_trainer_buffers(clip_trainer *t, size_t *count) {
    *count = t->n_buffers;
    return t->buffers;
}

void clip_trainer_set_bn_train(clip_trainer *t, int bn_train) { t->opts.bn_train = bn_train != 0; }

void clip_trainer_zero_grad(clip_trainer *t) {
    for (size_t i = 0; i < t->n_params; i++)
        if (t->params[i].grad) memset(t->params[i].grad, 0, t->params[i].numel * sizeof(float));
}

static void sync_model(clip_trainer *t) {
    t->model->info.logit_scale = expf(*t->logit_scale);
    /* Packed copies of the old values must go; new ones are made on use. */
    nn_ctx_release(&t->model->nn);
    nn_ctx_init(&t->model->nn);
}

void clip_trainer_params_updated(clip_trainer *t) {
    /* open_clip: logit_scale.clamp_(0, math.log(100)) after each step. */
    const float max_log = logf(100.0f);
    if (*t->logit_scale < 0.0f) *t->logit_scale = 0.0f;
    if (*t->logit_scale > max_log) *t->logit_scale = max_log;
    sync_model(t);
}

size_t clip_trainer_memory_bytes(const clip_trainer *t) {
    size_t bytes = 0;
    for (size_t i = 0; i < t->n_params; i++) bytes += t->params[i].numel * sizeof(float) * (t->params[i].grad ? 2 : 1);
    return bytes;
}

typedef struct step_caches {
    vit_cache *vit;
    resnet_cache *resnet;
    text_cache *text;
} step_caches;

/* Ranks taking part in the loss: the dist world when data-parallel. */
static int world_of(const clip_trainer *t) { return t->opts.data_parallel ? dist_size() : 1; }

static clip_status image_forward(clip_trainer *t, const nn_ctx *ctx, const float *pixels, int n, float *features,
                                 step_caches *c) {
    clip_model *m = t->model;
    if (t->opts.lock_image) return clip_encode_image(m, pixels, n, features);
    if (m->info.vision_kind == CLIP_VISION_VIT) return vit_train_forward(ctx, m, pixels, n, features, &c->vit);
    int bn = !t->opts.bn_train ? RESNET_BN_EVAL : world_of(t) > 1 ? RESNET_BN_TRAIN_SYNC : RESNET_BN_TRAIN;
    return resnet_train_forward(ctx, m, &t->resnet, bn, t->opts.bn_momentum, pixels, n, features, &c->resnet);
}

static clip_status image_backward(clip_trainer *t, const nn_ctx *ctx, const float *dfeatures, const step_caches *c) {
    if (t->opts.lock_image) return CLIP_OK;
    if (c->vit) return vit_train_backward(ctx, t->model, &t->vit, c->vit, dfeatures);
    return resnet_train_backward(ctx, t->model, &t->resnet, c->resnet, dfeatures);
}

clip_status clip_trainer_forward_backward(clip_trainer *t, const float *pixels, const int32_t *tokens, int n,
                                          float *loss, const clip_train_outputs *outputs) {
    return clip_trainer_forward_backward_labeled(t, pixels, tokens, NULL, n, loss, outputs);
}

/* Every rank's features (and labels) in rank order: the global batch. With
 * one rank these are the local ones. The gradient of the global loss with
 * respect to this rank's features is then simply its rows of the global
 * gradient: each rank computes the same global loss, so no gradient has to
 * travel back through the gather (open_clip's gather_with_grad sums it over
 * ranks and DDP divides by the world size again, which comes to the same). */
static clip_status gather_batch(int world, const float *image, const float *text, const int *labels, size_t rows,
                                float *all_image, float *all_text, int *all_labels, int n) {
    if (world == 1) {
        memcpy(all_image, image, rows * sizeof(float));
        memcpy(all_text, text, rows * sizeof(float));
        if (labels) memcpy(all_labels, labels, (size_t)n * sizeof(int));
        return CLIP_OK;
    }
    clip_status st = dist_allgather_f32(image, rows, all_image);
    if (st == CLIP_OK) st = dist_allgather_f32(text, rows, all_text);
    if (st == CLIP_OK && labels) st = dist_allgather_i32((const int32_t *)labels, (size_t)n, (int32_t *)all_labels);
    return st;
}

clip_status clip_trainer_forward_backward_labeled(clip_trainer *t, const float *pixels, const int32_t *tokens,
                                                  const int *labels, int n, float *loss,
                                                  const clip_train_outputs *outputs) {
    if (!t || !pixels || !tokens || n < 1)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "training step: needs pixels, tokens and a batch of at least 1");
    clip_model *m = t->model;
    nn_take_failure();
    nn_ctx ctx = trainer_ctx(t);
    int E = m->info.embed_dim, world = world_of(t), rank = world > 1 ? dist_rank() : 0;
    int global = n * world;
    size_t rows = (size_t)n * E, all_rows = (size_t)global * E;
    float *work = malloc((2 * rows + 4 * all_rows) * sizeof(float) + (size_t)global * sizeof(int));
    if (!work) return clip_fail(CLIP_ERR_NO_MEMORY, "training step: out of memory");
    float *image = work, *text = image + rows, *all_image = text + rows, *all_text = all_image + all_rows;
    float *dimage = all_text + all_rows, *dtext = dimage + all_rows;
    int *all_labels = (int *)(dtext + all_rows);
    step_caches caches = {0};
    clip_status st = image_forward(t, &ctx, pixels, n, image, &caches);
    if (st == CLIP_OK)
        st = t->opts.lock_text ? clip_encode_text(m, tokens, n, text)
                               : text_train_forward(&ctx, m, tokens, n, text, &caches.text);
    if (st == CLIP_OK) st = gather_batch(world, image, text, labels, rows, all_image, all_text, all_labels, n);
    double dlog_scale = 0, value = 0;
    if (st == CLIP_OK)
        st = contrastive_loss(all_image, all_text, labels ? all_labels : NULL, global, E, *t->logit_scale,
                              outputs ? outputs->logits_per_image : NULL, dimage, dtext, &dlog_scale, &value);
    if (st == CLIP_OK) {
        if (loss) *loss = (float)value;
        /* Every rank computed the same global loss: count its scale gradient once. */
        if (rank == 0) *t->grad_logit_scale += (float)dlog_scale;
        if (outputs && outputs->image_features) memcpy(outputs->image_features, all_image, all_rows * sizeof(float));
        if (outputs && outputs->text_features) memcpy(outputs->text_features, all_text, all_rows * sizeof(float));
        const float *my_dimage = dimage + (size_t)rank * rows, *my_dtext = dtext + (size_t)rank * rows;
        /* The text backward first: its activations are usually the larger. */
        if (caches.text) {
            st = text_train_backward(&ctx, m, &t->text, caches.text, my_dtext);
            text_cache_free(caches.text);
            caches.text = NULL;
        }
        if (st == CLIP_OK) st = image_backward(t, &ctx, my_dimage, &caches);
    }
    vit_cache_free(caches.vit);
    resnet_cache_free(caches.resnet);
    text_cache_free(caches.text);
    free(work);
    size_t failed = nn_take_failure();
    if (st == CLIP_OK && failed)
        st = clip_fail(CLIP_ERR_NO_MEMORY, "training step: out of memory (%zu MiB of scratch) for a batch of %d",
                       (failed + (1u << 20) - 1) >> 20, n);
    return st;
}

/* The token embedding's gradient is zero outside the rows of the tokens the
 * batches used: a few thousand of 49,408 rows, yet 93% of the demo model's
 * parameters (17% of ViT-B/32's). Only the rows some rank touched travel:
 * the ranks first add their [rows] flags, then all-reduce those rows packed
 * together. Rows no rank touched are zero everywhere, so the result equals
 * the dense all-reduce. */
static clip_status reduce_rows(train_param *p) {
    int64_t rows = p->shape[0];
    size_t width = p->numel / (size_t)rows;
    float *flags = calloc((size_t)rows, sizeof *flags);
    if (!flags) return clip_fail(CLIP_ERR_NO_MEMORY, "training: out of memory for the gradient all-reduce");
    for (int64_t r = 0; r < rows; r++) {
        const float *row = p->grad + (size_t)r * width;
        for (size_t c = 0; c < width; c++)
            if (row[c] != 0.0f) {
                flags[r] = 1.0f;
                break;
            }
    }
    clip_status st = dist_allreduce_sum_f32(flags, (size_t)rows);
    size_t used = 0;
    for (int64_t r = 0; r < rows; r++) used += flags[r] != 0.0f;
    float *packed = st == CLIP_OK ? malloc((used ? used : 1) * width * sizeof *packed) : NULL;
    if (st == CLIP_OK && !packed) st = clip_fail(CLIP_ERR_NO_MEMORY, "training: out of memory for the gradient all-reduce");
    if (st == CLIP_OK) {
        size_t at = 0;
        for (int64_t r = 0; r < rows; r++)
            if (flags[r] != 0.0f) memcpy(packed + at++ * width, p->grad + (size_t)r * width, width * sizeof *packed);
        st = dist_allreduce_sum_f32(packed, used * width);
        at = 0;
        for (int64_t r = 0; st == CLIP_OK && r < rows; r++)
            if (flags[r] != 0.0f) memcpy(p->grad + (size_t)r * width, packed + at++ * width, width * sizeof *packed);
    }
    free(packed);
    free(flags);
    return st;
}

clip_status clip_trainer_reduce_gradients(clip_trainer *t) {
    if (world_of(t) == 1) return CLIP_OK;
    clip_status st = CLIP_OK;
    for (size_t i = 0; i < t->n_params && st == CLIP_OK; i++) {
        train_param *p = &t->params[i];
        if (!p->grad) continue;
        if (p->ndim == 2 && strcmp(p->name, "token_embedding.weight") == 0) st = reduce_rows(p);
        else st = dist_allreduce_sum_f32(p->grad, p->numel);
    }
    return st;
}

clip_status clip_trainer_broadcast_parameters(clip_trainer *t) {
    if (world_of(t) == 1) return CLIP_OK;
    clip_status st = CLIP_OK;
    for (size_t i = 0; i < t->n_params && st == CLIP_OK; i++)
        st = dist_broadcast(t->params[i].data, t->params[i].numel * sizeof(float), 0);
    for (size_t i = 0; i < t->n_buffers && st == CLIP_OK; i++)
        st = dist_broadcast(t->buffers[i].data, t->buffers[i].numel * st_dtype_size(t->buffers[i].dtype), 0);
    if (st == CLIP_OK) sync_model(t);
    return st;
}
