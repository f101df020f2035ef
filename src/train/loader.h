#ifndef CLIP_TRAIN_LOADER_H
#define CLIP_TRAIN_LOADER_H
#include <pthread.h>
#include <stdint.h>

#include "clip.h"
#include "data/data.h"

typedef struct train_batch {
    float *pixels;   /* [B, 3, R, R] */
    int32_t *tokens; /* [B, context] */
    int *labels;     /* [B], -1 without labels */
    int64_t step;
    int ready;
    clip_status status;
    char error[512];
} train_batch;

typedef struct batch_loader {
    clip_model *model;
    clip_data *data;
    clip_tokenizer *tokenizer;
    int batch_size, resolution, context;
    int shard_begin, shard_size; /* this rank's part of each global batch */
    float scale_lo, scale_hi;
    uint64_t seed;
    int64_t steps_per_epoch, next_step, end_step, perm_epoch;
    int64_t *perm;
    train_batch slots[2];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int started, stop;
} batch_loader;

/* Starts producing the batches of steps first_step .. end_step-1 (epochs
 * wrap; the last partial batch of an epoch is dropped). batch_size is the
 * global batch; this loader makes its items shard_begin .. shard_begin +
 * shard_size - 1 (all of it: 0 and batch_size). Which items a global batch
 * holds and how each is augmented depend only on the seed and the step, so
 * any split over ranks trains on the same data as one process. */
clip_status batch_loader_start(batch_loader *l, clip_model *model, clip_data *data, int batch_size, int shard_begin,
                               int shard_size, uint64_t seed, int64_t first_step, int64_t end_step, float scale_lo,
                               float scale_hi);
clip_status batch_loader_wait(batch_loader *l, int64_t step, train_batch **out);
void batch_loader_release(batch_loader *l, train_batch *b);
void batch_loader_stop(batch_loader *l);

#endif
