/* `clip train`: the training loop over a data source, with evaluation,
 * atomic checkpoints and exact resumption. */
#ifndef CLIP_TRAIN_RUN_H
#define CLIP_TRAIN_RUN_H
#include <stdint.h>

#include "clip.h"
#include "data/data.h"
#include "train/trainer.h"

typedef struct train_config {
    char model[4096], data[4096], eval_data[4096], out_dir[4096];
    int batch_size, accum, threads;
    int64_t steps;        /* 0: from epochs */
    double epochs;
    double lr, weight_decay, beta1, beta2, eps, grad_clip;
    int64_t warmup;
    int lock_image, lock_text, bn_eval;
    int class_aware;      /* same-class pairs of a labelled batch are positives */
    int bf16;             /* mixed precision: bf16 products, float32 everything else */
    uint64_t seed;
    int64_t eval_every, checkpoint_every;
    int eval_items;       /* 0 = the whole evaluation set */
    float scale_lo, scale_hi;
} train_config;

/* open_clip-like defaults (lr 5e-4, wd 0.2, betas 0.9/0.98, eps 1e-6). */
void train_config_defaults(train_config *cfg);
/* Runs (or, when out_dir holds a checkpoint, resumes) training. */
clip_status clip_train_run(const train_config *cfg, int resume);

/* Evaluation on a labelled set: zero-shot top-1 with `templates` (NULL =
 * clip_default_templates()), and image<->text recall@1/5/10 over the first
 * `retrieval_items` pairs. */
typedef struct eval_result {
    double top1, top5;
    double i2t_recall[3], t2i_recall[3]; /* at 1, 5, 10 */
    int64_t items;
} eval_result;
clip_status clip_eval_zeroshot(clip_model *model, clip_data *data, const char *const *templates, int max_items,
                               eval_result *out);
clip_status clip_eval_retrieval(clip_model *model, clip_data *data, int max_items, eval_result *out);

/* Checkpoints (checkpoint.c): parameters, BatchNorm buffers, AdamW state,
 * the step, and the model's metadata and vocabulary, in one safetensors
 * file that also loads as a model. */
struct adamw;
clip_status train_checkpoint_write(clip_trainer *trainer, struct adamw *opt, int64_t step, const char *path,
                                   int with_optimizer);
clip_status train_checkpoint_restore_optimizer(struct adamw *opt, const char *path, int64_t *step);

/* Loss and accuracy curves as an SVG (plot.c), from RUNDIR/log.jsonl. */
clip_status train_plot_svg(const char *log_path, const char *svg_path);

#endif
