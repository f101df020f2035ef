/* Contrastive training of a loaded model (internal API for `clip train`,
 * `clip grad` and the tests).
 *
 * The trainer owns a float32 copy of every parameter (named as OpenAI's
 * state dict, shaped as there, whatever the checkpoint's layout) and of the
 * BatchNorm buffers, and points the model's weight pointers at them, so
 * clip_encode_* on the same model see every update. clip_trainer_free puts
 * the model's original (file) pointers back.
 *
 * One step:
 *     clip_trainer_zero_grad(t);
 *     clip_trainer_forward_backward(t, pixels, tokens, n, &loss, NULL);  (repeat to accumulate)
 *     ... grad_clip_norm / adamw_step (train/adamw.h) on clip_trainer_params(t) ...
 *     clip_trainer_params_updated(t);
 */
#ifndef CLIP_TRAIN_TRAINER_H
#define CLIP_TRAIN_TRAINER_H
#include <stddef.h>
#include <stdint.h>

#include "clip.h"
#include "formats/safetensors.h"

typedef enum train_tower { TRAIN_TOWER_SHARED = 0, TRAIN_TOWER_IMAGE, TRAIN_TOWER_TEXT } train_tower;

enum { TRAIN_NAME_MAX = 112 };

typedef struct train_param {
    char name[TRAIN_NAME_MAX]; /* OpenAI state-dict name, e.g. "visual.conv1.weight" */
    int ndim;                  /* 0 for logit_scale */
    int64_t shape[4];
    size_t numel;
    float *data;               /* owned by the trainer; the model reads it */
    float *grad;               /* same shape; accumulated by forward_backward */
    train_tower tower;
    int requires_grad;         /* 0 for a locked tower: no gradient, no update */
} train_param;

/* BatchNorm running statistics: `running_mean` / `running_var` F32 [C],
 * `num_batches_tracked` I64 scalar. */
typedef struct train_buffer {
    char name[TRAIN_NAME_MAX];
    st_dtype dtype;
    int ndim;
    int64_t shape[1];
    size_t numel;
    void *data;
} train_buffer;

typedef struct clip_trainer_options {
    int bn_train;   /* BatchNorm normalises with batch statistics and updates
                       the running ones (PyTorch's train()); 0 = eval() */
    int lock_image; /* frozen towers: run inference, compute no gradients */
    int lock_text;
    float bn_momentum; /* 0 = PyTorch's default 0.1 */
    /* Data-parallel over the dist world (src/dist): each rank passes its
     * own n pairs; features are all-gathered so the loss covers the global
     * batch of n * dist_size() pairs, BatchNorm statistics are synchronised,
     * and clip_trainer_reduce_gradients adds the ranks' gradients. The
     * result equals one process stepping on the whole global batch. */
    int data_parallel;
    /* Mixed precision: the matrix products of both towers' linear layers
     * (forward, and the input and weight gradients of the backward) take
     * bf16 operands and sum in float32 (AMX or AVX512-BF16 where present);
     * parameters, gradients, optimiser state and everything else stay
     * float32. */
    int bf16_matmul;
} clip_trainer_options;

typedef struct clip_trainer clip_trainer;

/* `opts` may be NULL (train-mode BatchNorm, nothing locked). */
clip_status clip_trainer_create(clip_model *model, const clip_trainer_options *opts, clip_trainer **out);
void clip_trainer_free(clip_trainer *trainer);
clip_model *clip_trainer_model(clip_trainer *trainer);

train_param *clip_trainer_params(clip_trainer *trainer, size_t *count);
train_param *clip_trainer_find_param(clip_trainer *trainer, const char *name);
train_buffer *clip_trainer_buffers(clip_trainer *trainer, size_t *count);
/* Switches BatchNorm between train() and eval() behaviour. */
void clip_trainer_set_bn_train(clip_trainer *trainer, int bn_train);

void clip_trainer_zero_grad(clip_trainer *trainer);

/* Optional outputs of a step (each NULL or caller memory). With
 * data_parallel, n below is the global batch (the ranks' pairs in rank
 * order). */
typedef struct clip_train_outputs {
    float *logits_per_image; /* [n, n] */
    float *image_features;   /* [n, E], not normalised */
    float *text_features;    /* [n, E] */
} clip_train_outputs;

/* One forward and backward pass of CLIP's contrastive loss on n pairs
 * (pixels [n, 3, R, R], tokens [n, context]); gradients are ADDED to the
 * parameters' grad buffers. In BatchNorm train mode the running statistics
 * are updated during the forward, as PyTorch does. */
clip_status clip_trainer_forward_backward(clip_trainer *trainer, const float *pixels, const int32_t *tokens, int n,
                                          float *loss, const clip_train_outputs *outputs);

/* The same with class labels [n] (or NULL): pairs of the same class count
 * as matches, so a batch with several items of one class does not push
 * them apart (the plain loss's handicap with few classes). */
clip_status clip_trainer_forward_backward_labeled(clip_trainer *trainer, const float *pixels, const int32_t *tokens,
                                                  const int *labels, int n, float *loss,
                                                  const clip_train_outputs *outputs);

/* Data-parallel: adds every rank's gradients (MPI all-reduce) so each rank
 * holds those of the global batch. Call once per optimiser step, after the
 * last forward_backward of the step; a no-op in a world of one. */
clip_status clip_trainer_reduce_gradients(clip_trainer *trainer);
/* Data-parallel: copies rank 0's parameters and buffers to every rank (the
 * ranks then start from the same model, as DDP does). */
clip_status clip_trainer_broadcast_parameters(clip_trainer *trainer);

/* Call after changing parameter values (an optimizer step, a checkpoint
 * load): clamps logit_scale to [0, ln 100] as open_clip does after every
 * step, refreshes the model's cached logit scale and drops any packed
 * weight copies the model's kernels keep. */
void clip_trainer_params_updated(clip_trainer *trainer);

/* Writes one step's result as safetensors, atomically: `loss` (F32 []),
 * `logits_per_image` (F32 [n, n]), `grad.<name>` (F32, the parameter's
 * shape, dense) for every parameter with a gradient and, when
 * `with_buffers`, `updated.<buffer>` for the BatchNorm buffers (the layout
 * of the fixtures' grads/ files). */
clip_status clip_trainer_write_step(clip_trainer *trainer, float loss, const float *logits_per_image, int n,
                                    int with_buffers, const char *path);

/* Bytes of parameters + gradients the trainer holds. */
size_t clip_trainer_memory_bytes(const clip_trainer *trainer);

#endif
