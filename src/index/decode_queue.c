#include "index/decode_queue.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static void record_failure(decode_queue *q, int64_t source) {
    atomic_fetch_add(&q->n_failed, 1);
    int64_t i = q->n_recorded;
    if (i >= q->failures_cap) {
        int64_t cap = q->failures_cap ? q->failures_cap * 2 : 16;
        decode_failure *grown = realloc(q->failures, (size_t)cap * sizeof *grown);
        if (!grown) return; /* the count stays right; only the reason is lost */
        q->failures = grown;
        q->failures_cap = cap;
    }
    q->failures[i].source = source;
    q->failures[i].reason = strdup(clip_last_error());
    q->n_recorded++;
}

static void *decode_main(void *raw) {
    decode_queue *q = raw;
    size_t per_image = (size_t)3 * q->resolution * q->resolution;
    clip_preprocess_options pre = {.size = q->resolution, .mode = CLIP_RESIZE_SHORTEST};
    int64_t next = 0;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        while (q->filled[q->fill] && !q->cancelled) pthread_cond_wait(&q->changed, &q->lock);
        int cancelled = q->cancelled;
        pthread_mutex_unlock(&q->lock);
        if (cancelled) break;
        decode_batch *b = &q->slots[q->fill];
        b->n = 0;
        while (b->n < q->batch && next < q->n_todo) {
            int64_t src = q->todo[next++];
            clip_image *img = NULL;
            clip_status st = clip_image_load_file(q->sources->items[src].text, q->image_options, &img);
            if (st == CLIP_OK) st = clip_image_preprocess(img, &pre, b->pixels + (size_t)b->n * per_image);
            clip_image_free(img);
            if (st != CLIP_OK) {
                record_failure(q, src);
                continue;
            }
            b->source[b->n++] = src;
        }
        pthread_mutex_lock(&q->lock);
        if (b->n > 0) {
            q->filled[q->fill] = 1;
            q->fill ^= 1;
        }
        if (next >= q->n_todo) q->finished = 1;
        pthread_cond_broadcast(&q->changed);
        int done = q->finished;
        pthread_mutex_unlock(&q->lock);
        if (done) break;
    }
    return NULL;
}

clip_status decode_queue_start(decode_queue *q, const idx_sources *sources, const int64_t *todo, int64_t n_todo,
                               int batch, int resolution, const clip_image_options *image_options) {
    memset(q, 0, sizeof *q);
    q->sources = sources;
    q->todo = todo;
    q->n_todo = n_todo;
    q->batch = batch;
    q->resolution = resolution;
    q->image_options = image_options;
    atomic_init(&q->n_failed, 0);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->changed, NULL);
    for (int s = 0; s < 2; s++) {
        q->slots[s].pixels = malloc((size_t)batch * 3 * resolution * resolution * sizeof(float));
        q->slots[s].source = malloc((size_t)batch * sizeof(int64_t));
        if (!q->slots[s].pixels || !q->slots[s].source) {
            decode_queue_free(q);
            return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory for a batch of %d images", batch);
        }
    }
    if (pthread_create(&q->thread, NULL, decode_main, q) != 0) {
        decode_queue_free(q);
        return clip_fail(CLIP_ERR_NO_MEMORY, "cannot start the decode thread");
    }
    q->started = 1;
    return CLIP_OK;
}

decode_batch *decode_queue_take(decode_queue *q) {
    pthread_mutex_lock(&q->lock);
    while (!q->filled[q->take] && !q->finished) pthread_cond_wait(&q->changed, &q->lock);
    decode_batch *b = q->filled[q->take] ? &q->slots[q->take] : NULL;
    pthread_mutex_unlock(&q->lock);
    return b;
}

void decode_queue_release(decode_queue *q, decode_batch *b) {
    pthread_mutex_lock(&q->lock);
    int s = (int)(b - q->slots);
    q->filled[s] = 0;
    q->take ^= 1;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
}

void decode_queue_stop(decode_queue *q) {
    if (!q->started) return;
    pthread_mutex_lock(&q->lock);
    q->cancelled = 1;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    q->started = 0;
}

void decode_queue_free(decode_queue *q) {
    decode_queue_stop(q);
    for (int s = 0; s < 2; s++) {
        free(q->slots[s].pixels);
        free(q->slots[s].source);
    }
    for (int64_t i = 0; i < q->n_recorded; i++) free(q->failures[i].reason);
    free(q->failures);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->changed);
    memset(q, 0, sizeof *q);
}
