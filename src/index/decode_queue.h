/* A decode thread that turns image files into preprocessed pixel batches
 * while the model encodes the previous batch: decoding a JPEG costs about
 * as much as a small model's forward pass, so overlapping the two nearly
 * halves a build. Two slots: one being filled, one being encoded. */
#ifndef CLIP_INDEX_DECODE_QUEUE_H
#define CLIP_INDEX_DECODE_QUEUE_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "clip.h"
#include "index/sources.h"

typedef struct decode_batch {
    float *pixels;   /* [capacity, 3, R, R] */
    int64_t *source; /* index into the sources of each row */
    int n;
} decode_batch;

typedef struct decode_failure {
    int64_t source;
    char *reason;
} decode_failure;

typedef struct decode_queue {
    const idx_sources *sources;
    const int64_t *todo; /* source indices to decode, in order */
    int64_t n_todo;
    int batch, resolution;
    const clip_image_options *image_options;
    decode_batch slots[2];
    int filled[2];
    int take, fill;
    int finished, cancelled;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    pthread_t thread;
    int started;
    atomic_llong n_failed;
    /* Written by the decode thread only; read after decode_queue_stop. */
    decode_failure *failures;
    int64_t n_recorded, failures_cap;
} decode_queue;

clip_status decode_queue_start(decode_queue *q, const idx_sources *sources, const int64_t *todo, int64_t n_todo,
                               int batch, int resolution, const clip_image_options *image_options);
/* The next full batch, or NULL when every image has been decoded. */
decode_batch *decode_queue_take(decode_queue *q);
/* Hands a taken batch back for refilling. */
void decode_queue_release(decode_queue *q, decode_batch *b);
/* Stops the thread (early, if the consumer failed) and joins it. */
void decode_queue_stop(decode_queue *q);
void decode_queue_free(decode_queue *q);

#endif
