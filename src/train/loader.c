/* Batches for the training loop, made on a separate thread while the
 * previous batch trains. The content of step s depends only on the seed
 * and s (epoch permutation and per-item random draws are seeded from
 * them), which is what makes a resumed run identical to an uninterrupted
 * one. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"
#include "train/loader.h"

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull + (a << 6) + (a >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static clip_status ensure_permutation(batch_loader *l, int64_t epoch) {
    if (l->perm_epoch == epoch) return CLIP_OK;
    int64_t n = clip_data_size(l->data);
    for (int64_t i = 0; i < n; i++) l->perm[i] = i;
    clip_rng rng;
    clip_rng_seed(&rng, mix(l->seed, (uint64_t)epoch));
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)clip_rng_below(&rng, (uint64_t)i + 1);
        int64_t t = l->perm[i];
        l->perm[i] = l->perm[j];
        l->perm[j] = t;
    }
    l->perm_epoch = epoch;
    return CLIP_OK;
}

static clip_status fill(batch_loader *l, train_batch *b, int64_t step) {
    int64_t epoch = step / l->steps_per_epoch, first = (step % l->steps_per_epoch) * l->batch_size;
    clip_status st = ensure_permutation(l, epoch);
    size_t per = (size_t)3 * l->resolution * l->resolution;
    for (int i = 0; i < l->shard_size && st == CLIP_OK; i++) {
        int64_t index = l->perm[first + l->shard_begin + i];
        clip_rng rng;
        clip_rng_seed(&rng, mix(mix(l->seed, (uint64_t)epoch), (uint64_t)index + 1));
        clip_image *img;
        char *caption;
        st = clip_data_get(l->data, index, &rng, &img, &caption, &b->labels[i]);
        if (st == CLIP_OK) st = clip_augment(img, l->resolution, l->scale_lo, l->scale_hi, &rng, b->pixels + i * per);
        if (st == CLIP_OK) {
            model_tokenizer_lock(l->model, 1);
            st = clip_tokenize(l->tokenizer, caption, strlen(caption), l->context, 1, b->tokens + (size_t)i * l->context);
            model_tokenizer_lock(l->model, 0);
        }
        clip_image_free(img);
        free(caption);
    }
    b->step = step;
    return st;
}

static void *producer(void *raw) {
    batch_loader *l = raw;
    pthread_mutex_lock(&l->lock);
    for (int64_t step = l->next_step; step < l->end_step && !l->stop; step++) {
        train_batch *b = &l->slots[step % 2];
        while (b->ready && !l->stop) pthread_cond_wait(&l->changed, &l->lock);
        if (l->stop) break;
        pthread_mutex_unlock(&l->lock);
        clip_status st = fill(l, b, step);
        pthread_mutex_lock(&l->lock);
        b->status = st;
        if (st != CLIP_OK) snprintf(b->error, sizeof b->error, "%s", clip_last_error());
        b->ready = 1;
        pthread_cond_broadcast(&l->changed);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

clip_status batch_loader_start(batch_loader *l, clip_model *model, clip_data *data, int batch_size, int shard_begin,
                               int shard_size, uint64_t seed, int64_t first_step, int64_t end_step, float scale_lo,
                               float scale_hi) {
    memset(l, 0, sizeof *l);
    if (shard_begin < 0 || shard_size < 1 || shard_begin + shard_size > batch_size)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "training: shard %d+%d of a batch of %d", shard_begin, shard_size,
                         batch_size);
    l->shard_begin = shard_begin;
    l->shard_size = shard_size;
    clip_model_info info;
    clip_model_get_info(model, &info);
    l->model = model;
    l->data = data;
    l->batch_size = batch_size;
    l->seed = seed;
    l->resolution = info.image_resolution;
    l->context = info.context_length;
    l->scale_lo = scale_lo;
    l->scale_hi = scale_hi;
    l->steps_per_epoch = clip_data_size(data) / batch_size;
    if (l->steps_per_epoch < 1)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "batch size %d is larger than the %lld items of the data", batch_size,
                         (long long)clip_data_size(data));
    l->tokenizer = clip_model_tokenizer(model);
    if (!l->tokenizer) return CLIP_ERR_VOCAB;
    l->perm = malloc((size_t)clip_data_size(data) * sizeof(int64_t));
    l->perm_epoch = -1;
    size_t per = (size_t)3 * l->resolution * l->resolution;
    for (int s = 0; s < 2; s++) {
        l->slots[s].pixels = malloc((size_t)shard_size * per * sizeof(float));
        l->slots[s].tokens = malloc((size_t)shard_size * l->context * sizeof(int32_t));
        l->slots[s].labels = malloc((size_t)shard_size * sizeof(int));
        if (!l->slots[s].pixels || !l->slots[s].tokens || !l->slots[s].labels || !l->perm) {
            batch_loader_stop(l);
            return clip_fail(CLIP_ERR_NO_MEMORY, "training: out of memory for batches of %d", batch_size);
        }
    }
    l->next_step = first_step;
    l->end_step = end_step;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->changed, NULL);
    l->started = pthread_create(&l->thread, NULL, producer, l) == 0;
    if (!l->started) {
        batch_loader_stop(l);
        return clip_fail(CLIP_ERR_NO_MEMORY, "training: cannot start the data thread");
    }
    return CLIP_OK;
}

clip_status batch_loader_wait(batch_loader *l, int64_t step, train_batch **out) {
    train_batch *b = &l->slots[step % 2];
    pthread_mutex_lock(&l->lock);
    while (!(b->ready && b->step == step)) pthread_cond_wait(&l->changed, &l->lock);
    pthread_mutex_unlock(&l->lock);
    if (b->status != CLIP_OK) return clip_fail(b->status, "training data: %s", b->error);
    *out = b;
    return CLIP_OK;
}

void batch_loader_release(batch_loader *l, train_batch *b) {
    pthread_mutex_lock(&l->lock);
    b->ready = 0;
    pthread_cond_broadcast(&l->changed);
    pthread_mutex_unlock(&l->lock);
}

void batch_loader_stop(batch_loader *l) {
    if (l->started) {
        pthread_mutex_lock(&l->lock);
        l->stop = 1;
        pthread_cond_broadcast(&l->changed);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->thread, NULL);
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->changed);
    }
    for (int s = 0; s < 2; s++) {
        free(l->slots[s].pixels);
        free(l->slots[s].tokens);
        free(l->slots[s].labels);
    }
    free(l->perm);
    memset(l, 0, sizeof *l);
}
