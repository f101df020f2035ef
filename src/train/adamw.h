/* PyTorch's torch.optim.AdamW (foreach=False, amsgrad=False) on the
 * trainer's parameter table, with open_clip's weight-decay split, plus the
 * schedule and clipping helpers open_clip's training loop uses. */
#ifndef CLIP_TRAIN_ADAMW_H
#define CLIP_TRAIN_ADAMW_H
#include <stddef.h>
#include <stdint.h>

#include "clip.h"
#include "train/trainer.h"

/* Hyperparameters are doubles, as Python floats are: PyTorch forms the
 * step's scalars from them in double before rounding to float32. */
typedef struct adamw_options {
    double beta1, beta2; /* 0 = open_clip's CLIP defaults 0.9, 0.98 */
    double eps;          /* 0 = 1e-6 (open_clip's default for CLIP) */
    double weight_decay; /* applied to the parameters adamw_decays() selects */
} adamw_options;

typedef struct adamw adamw;

/* One state (exp_avg, exp_avg_sq, step) per parameter of `params` that
 * requires a gradient, keyed by name; parameters must outlive the optimizer. */
clip_status adamw_create(train_param *params, size_t count, const adamw_options *opts, adamw **out);
void adamw_free(adamw *opt);

/* open_clip's rule: no weight decay when ndim < 2 or the name contains
 * "bn", "ln", "bias" or "logit_scale". */
int adamw_decays(const train_param *param);

/* One update of every parameter with a gradient, at learning rate `lr`
 * (PyTorch order: p *= 1 - lr wd; moments; bias-corrected step). */
void adamw_step(adamw *opt, double lr);

/* State access for checkpoints: the moments of `name` (NULL if unknown)
 * and the step count. */
typedef struct adamw_state {
    float *exp_avg, *exp_avg_sq;
    size_t numel;
    int64_t *step;
} adamw_state;
int adamw_find_state(adamw *opt, const char *name, adamw_state *state);
int64_t adamw_steps(const adamw *opt);

/* open_clip's cosine_lr: linear warm-up base_lr (step + 1) / warmup, then
 * 0.5 (1 + cos(pi (step - warmup) / (steps - warmup))) base_lr. */
double lr_cosine(double base_lr, int64_t warmup, int64_t steps, int64_t step);
/* open_clip's const_lr: the same warm-up, then base_lr. */
double lr_constant(double base_lr, int64_t warmup, int64_t step);

/* torch.nn.utils.clip_grad_norm_: scales every gradient by
 * max_norm / (total_norm + 1e-6) when that is below 1; returns the total
 * L2 norm before clipping. max_norm <= 0 only measures. */
double grad_clip_norm(train_param *params, size_t count, double max_norm);
/* Multiplies every gradient by `factor` (1 / accumulation steps). */
void grad_scale(train_param *params, size_t count, float factor);

#endif
