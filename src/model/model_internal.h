/* The model's in-memory form, shared by the loader, the towers and (later)
 * training. Weight pointers point into the memory-mapped file where the
 * stored tensor is float32 and aligned, and into owned buffers otherwise. */
#ifndef CLIP_MODEL_INTERNAL_H
#define CLIP_MODEL_INTERNAL_H
#include <pthread.h>
#include <stdint.h>

#include "clip.h"
#include "core/threadpool.h"
#include "formats/safetensors.h"
#include "nn/nn.h"

/* The project's own model files carry the tokenizer's merges (gzip) in this
 * U8 tensor so a model file is self-contained. */
#define CLIP_EMBEDDED_VOCAB_TENSOR "clip.tokenizer.merges_gz"

typedef struct transformer_block {
    const float *ln_1_weight, *ln_1_bias, *ln_2_weight, *ln_2_bias;
    /* Query, key and value projections [W, W] each. OpenAI checkpoints hold
     * them as one in_proj_weight [3W, W] (then k == q + W*W, v == k + W*W
     * and one fused product is used); Hugging Face stores three tensors. */
    const float *q_weight, *k_weight, *v_weight;
    const float *q_bias, *k_bias, *v_bias;
    const float *out_weight, *out_bias;   /* [W, W], [W] */
    const float *fc_weight, *fc_bias;     /* [4W, W], [4W] */
    const float *proj_weight, *proj_bias; /* [W, 4W], [W] */
} transformer_block;

typedef struct transformer {
    int width, layers, heads, mlp_width;
    transformer_block *blocks;
} transformer;

typedef struct vit_tower {
    int width, patch, grid, resolution;
    const float *conv1_weight;        /* [W, 3, P, P] */
    const float *class_embedding;     /* [W] */
    const float *positional_embedding; /* [grid*grid + 1, W] */
    const float *ln_pre_weight, *ln_pre_bias, *ln_post_weight, *ln_post_bias;
    const float *proj;                /* [W, E] (IN_OUT) or [E, W] (OUT_IN) */
    nn_weight_layout proj_layout;
    transformer blocks;
} vit_tower;

typedef struct batchnorm_params {
    const float *weight, *bias, *running_mean, *running_var;
} batchnorm_params;

typedef struct conv_bn {
    const float *weight; /* [Cout, Cin, k, k] */
    int in_channels, out_channels, kernel;
    batchnorm_params bn;
} conv_bn;

typedef struct bottleneck {
    int stride;
    conv_bn conv1, conv2, conv3;
    int has_downsample;
    conv_bn downsample;
} bottleneck;

typedef struct resnet_tower {
    int width, resolution, heads, stage_blocks[4];
    conv_bn stem[3];
    bottleneck *blocks; /* stage_blocks[0] + ... + stage_blocks[3] */
    int n_blocks;
    int pool_channels, pool_tokens; /* 32*width, (R/32)^2 + 1 */
    const float *pool_positional_embedding; /* [tokens, C] */
    const float *q_weight, *q_bias, *k_weight, *k_bias, *v_weight, *v_bias;
    const float *c_weight, *c_bias; /* [E, C], [E] */
} resnet_tower;

typedef struct text_tower {
    int context, vocab, width;
    const float *token_embedding;      /* [vocab, W] */
    const float *positional_embedding; /* [context, W] */
    const float *ln_final_weight, *ln_final_bias;
    const float *proj;
    nn_weight_layout proj_layout;
    transformer blocks;
} text_tower;

typedef struct owned_buffer {
    void *data;
    struct owned_buffer *next;
} owned_buffer;

struct clip_model {
    clip_model_info info;
    char *path;
    st_file *file;
    owned_buffer *owned;
    float layer_norm_eps;
    vit_tower vit;
    resnet_tower resnet;
    text_tower text;
    const float *logit_scale_log;
    clip_pool *pool;
    nn_ctx nn;
    char *vocab_path;
    /* A tokenizer keeps a word cache and scratch space, so one thread at a
     * time uses it (tokenizer_lock); tokenizer_init_lock guards the lazy
     * search for the vocabulary. */
    clip_tokenizer *tokenizer;
    pthread_mutex_t tokenizer_lock, tokenizer_init_lock;
    /* Activations of the last image batch, kept for the next (model_arena_take). */
    pthread_mutex_t arena_lock;
    float *arena;
    size_t arena_floats;
    char dtype_summary[64];
};

/* Hook the tests use to compare intermediates: called with each named
 * activation in the fixtures' layout (batch-first; conv maps NCHW). */
typedef struct clip_trace {
    void (*emit)(void *ctx, const char *name, const float *data, int ndim, const int64_t *shape);
    void *ctx;
} clip_trace;

clip_status clip_encode_image_traced(clip_model *model, const float *pixels, int n, float *features,
                                     const clip_trace *trace);
/* full_context: run all context positions (otherwise only up to the last
 * end-of-text position of the batch, which is exact for a causal model). */
clip_status clip_encode_text_traced(clip_model *model, const int32_t *tokens, int n, float *features,
                                    const clip_trace *trace, int full_context);

/* A 64-byte aligned buffer of `floats` floats for one forward pass: the
 * model's kept arena when no other call holds it and it is not too large
 * to keep (freshly allocated and freed, a batch's buffers page-faulted in
 * on every call: 8% of RN50's time at batch 8), else a new allocation.
 * NULL when out of memory. Give it back with model_arena_give. */
float *model_arena_take(clip_model *model, size_t floats, int *owned);
void model_arena_give(clip_model *model, float *arena, int owned);

/* Towers (vit.c, resnet.c, text.c, transformer.c) */
clip_status vit_forward(clip_model *model, const float *pixels, int n, float *features,
                        const clip_trace *trace);
clip_status resnet_forward(clip_model *model, const float *pixels, int n, float *features,
                           const clip_trace *trace);
/* The ResNet on blocked maps (resnet_blocked.c), where
 * resnet_blocked_usable: float32 on AVX-512, channel counts of 16s. */
int resnet_blocked_usable(const clip_model *model);
clip_status resnet_forward_blocked(clip_model *model, const float *pixels, int n, float *features,
                                   const clip_trace *trace);
/* The attention-pooling head over pixels [n, HW, C] (resnet.c). */
clip_status resnet_attention_pool(const clip_model *model, const float *pixels, int n, float *features);
clip_status text_forward(clip_model *model, const int32_t *tokens, int n, float *features,
                         const clip_trace *trace, int full_context);
/* One image's patches as rows (c, ky, kx), so the stride-P patch
 * convolution is one product; rows [grid*grid, 3*P*P]. */
void vit_extract_patches(const float *image, int R, int P, int grid, float *rows);
/* x [B*L, W] updated in place through every block, with `work` for the
 * activations (the caller's, so that it can come from the model's arena).
 * With out_rows (one row per sequence) and no trace, only those rows of x
 * are final: a tower that pools one position (the class token, the end of
 * a text) needs nothing else from the last block. */
clip_status transformer_forward(const nn_ctx *ctx, const transformer *t, float *x, int B, int L,
                                float eps, int causal, const clip_trace *trace, const char *trace_prefix,
                                const int *out_rows, float *work);
/* The floats transformer_forward's `work` must hold. */
size_t transformer_work_floats(const nn_ctx *ctx, const transformer *t, int B, int L);

static inline void trace_emit(const clip_trace *trace, const char *name, const float *data, int ndim,
                              const int64_t *shape) {
    if (trace && trace->emit) trace->emit(trace->ctx, name, data, ndim, shape);
}

/* Builds a model over an opened safetensors file (taking ownership of it,
 * also on failure); `path` names it in messages and locates config.json. */
clip_status clip_model_from_safetensors(st_file *file, const char *path, const clip_load_options *opts,
                                       clip_model **out);

/* Sizes positive, heads dividing widths, ResNet/ViT constraints. */
clip_status clip_arch_validate(const clip_arch *arch);

/* Serialises use of the model's shared tokenizer across threads. */
void model_tokenizer_lock(clip_model *model, int lock);

/* Loading (loader.c) */
clip_status model_bind_weights(clip_model *model);

#endif
