/* Inside the trainer: gradient pointers laid out like the model's towers,
 * the towers' training forward/backward passes, and the loss. */
#ifndef CLIP_TRAIN_INTERNAL_H
#define CLIP_TRAIN_INTERNAL_H
#include "model/model_internal.h"
#include "train/trainer.h"

/* Gradient buffers (NULL when the tower is locked), mirroring the model's
 * weight pointers. Attention projections use OpenAI's fused in_proj. */
typedef struct block_grads {
    float *ln_1_weight, *ln_1_bias, *in_proj_weight, *in_proj_bias, *out_weight, *out_bias;
    float *ln_2_weight, *ln_2_bias, *fc_weight, *fc_bias, *proj_weight, *proj_bias;
} block_grads;

typedef struct vit_grads {
    float *conv1_weight, *class_embedding, *positional_embedding;
    float *ln_pre_weight, *ln_pre_bias, *ln_post_weight, *ln_post_bias, *proj; /* proj [W, E] */
    block_grads *blocks;
} vit_grads;

typedef struct text_grads {
    float *token_embedding, *positional_embedding, *ln_final_weight, *ln_final_bias, *proj; /* proj [W, E] */
    block_grads *blocks;
} text_grads;

/* A BatchNorm's gradients and its trainer-owned running statistics. */
typedef struct bn_state {
    float *grad_weight, *grad_bias;
    float *running_mean, *running_var;
    int64_t *num_batches_tracked;
} bn_state;

typedef struct conv_bn_state {
    float *grad_weight;
    bn_state bn;
} conv_bn_state;

typedef struct bottleneck_state {
    conv_bn_state conv1, conv2, conv3, downsample;
} bottleneck_state;

typedef struct resnet_grads {
    conv_bn_state stem[3];
    bottleneck_state *blocks;
    float *pool_positional_embedding, *q_weight, *q_bias, *k_weight, *k_bias, *v_weight, *v_bias;
    float *c_weight, *c_bias;
} resnet_grads;

typedef struct saved_pointer {
    const float **slot;
    const float *value;
} saved_pointer;

struct clip_trainer {
    clip_model *model;
    clip_trainer_options opts;
    train_param *params;
    size_t n_params, cap_params;
    train_buffer *buffers;
    size_t n_buffers, cap_buffers;
    saved_pointer *saved; /* model pointers to put back on free */
    size_t n_saved, cap_saved;
    nn_weight_layout vit_proj_layout, text_proj_layout; /* the model's own */
    vit_grads vit;
    resnet_grads resnet;
    text_grads text;
    float *logit_scale, *grad_logit_scale;
};

/* params.c: builds the parameter table and repoints the model at it. */
clip_status trainer_bind_params(clip_trainer *t);
void trainer_release_params(clip_trainer *t);

/* The products run on the model's pool without its packed-weight cache:
 * packed copies are keyed by address and would go stale as weights move.
 * Mixed precision (opts.bf16_matmul): the products with weights and the
 * backward's weight and input gradients in bf16 with float32 sums. */
static inline nn_ctx trainer_ctx(const clip_trainer *t) {
    nn_ctx ctx = {.pool = t->model->pool, .state = NULL, .weight_dtype = t->opts.bf16_matmul ? NN_BF16 : NN_F32};
    return ctx;
}

/* transformer_train.c: residual blocks keeping what the backward needs. */
typedef struct transformer_cache transformer_cache;
/* x [B*L, W] is updated in place as transformer_forward does. */
clip_status transformer_train_forward(const nn_ctx *ctx, const transformer *t, float *x, int B, int L, float eps,
                                      int causal, transformer_cache **cache);
/* dx: gradient at the blocks' output in, at their input out. */
clip_status transformer_train_backward(const nn_ctx *ctx, const transformer *t, const block_grads *grads,
                                       const transformer_cache *cache, float *dx, float eps, int causal);
void transformer_cache_free(transformer_cache *cache);

/* Towers: forward keeps a cache, backward consumes d(loss)/d(features). */
typedef struct vit_cache vit_cache;
clip_status vit_train_forward(const nn_ctx *ctx, const clip_model *model, const float *pixels, int n,
                              float *features, vit_cache **cache);
clip_status vit_train_backward(const nn_ctx *ctx, const clip_model *model, const vit_grads *grads,
                               const vit_cache *cache, const float *dfeatures);
void vit_cache_free(vit_cache *cache);

typedef struct text_cache text_cache;
clip_status text_train_forward(const nn_ctx *ctx, const clip_model *model, const int32_t *tokens, int n,
                               float *features, text_cache **cache);
clip_status text_train_backward(const nn_ctx *ctx, const clip_model *model, const text_grads *grads,
                                const text_cache *cache, const float *dfeatures);
void text_cache_free(text_cache *cache);

typedef struct resnet_cache resnet_cache;
/* bn_train: RESNET_BN_EVAL (running statistics), RESNET_BN_TRAIN (batch
 * statistics, updating the running ones) or RESNET_BN_TRAIN_SYNC (statistics
 * of the global batch of every rank: data-parallel training). */
enum { RESNET_BN_EVAL = 0, RESNET_BN_TRAIN = 1, RESNET_BN_TRAIN_SYNC = 2 };
clip_status resnet_train_forward(const nn_ctx *ctx, const clip_model *model, const resnet_grads *state,
                                 int bn_train, float bn_momentum, const float *pixels, int n, float *features,
                                 resnet_cache **cache);
clip_status resnet_train_backward(const nn_ctx *ctx, const clip_model *model, const resnet_grads *grads,
                                  const resnet_cache *cache, const float *dfeatures);
void resnet_cache_free(resnet_cache *cache);

/* attnpool_train.c: the ResNet's attention-pooling head. */
typedef struct attnpool_cache attnpool_cache;
clip_status attnpool_train_forward(const nn_ctx *ctx, const clip_model *model, const float *feature_map, int n,
                                   float *features, attnpool_cache **cache);
/* dmap [n, C, HW] is overwritten with the gradient at the feature map. */
clip_status attnpool_train_backward(const nn_ctx *ctx, const clip_model *model, const resnet_grads *grads,
                                    const attnpool_cache *cache, const float *dfeatures, float *dmap);
void attnpool_cache_free(attnpool_cache *cache);

/* contrastive_loss.c: CLIP's symmetric cross-entropy on unnormalised
 * features. Writes the loss, d(loss)/d(features) and d(loss)/d(log scale);
 * logits_per_image [n, n] is optional. Fails only when out of memory. */
/* labels (may be NULL): pairs whose labels are equal are all positives,
 * the target of a row spread evenly over them (class-aware loss). */
clip_status contrastive_loss(const float *image_features, const float *text_features, const int *labels, int n,
                             int dim, float log_scale, float *logits_per_image, float *dimage, float *dtext,
                             double *dlog_scale, double *loss);

#endif
