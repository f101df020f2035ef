/* A training step's loss, logits and gradients as one safetensors file,
 * named as the fixtures' grads/ references so tools can diff them. */
#include <stdio.h>

#include "core/error.h"
#include "train/train_internal.h"

clip_status clip_trainer_write_step(clip_trainer *t, float loss, const float *logits_per_image, int n,
                                    int with_buffers, const char *path) {
    st_writer *w = st_writer_new();
    if (!w) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", path);
    clip_status st = st_writer_add(w, "loss", ST_F32, 0, NULL, &loss);
    int64_t square[2] = {n, n};
    if (st == CLIP_OK && logits_per_image) st = st_writer_add(w, "logits_per_image", ST_F32, 2, square, logits_per_image);
    for (size_t i = 0; i < t->n_params && st == CLIP_OK; i++) {
        const train_param *p = &t->params[i];
        if (!p->grad) continue;
        char name[TRAIN_NAME_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", p->name);
        st = st_writer_add(w, name, ST_F32, p->ndim, p->shape, p->grad);
    }
    for (size_t i = 0; with_buffers && i < t->n_buffers && st == CLIP_OK; i++) {
        const train_buffer *b = &t->buffers[i];
        char name[TRAIN_NAME_MAX + 8];
        snprintf(name, sizeof name, "updated.%s", b->name);
        st = st_writer_add(w, name, b->dtype, b->ndim, b->shape, b->data);
    }
    if (st == CLIP_OK) st = st_writer_metadata(w, "format", "clip.c gradients");
    if (st == CLIP_OK) st = st_writer_finish(w, path);
    st_writer_free(w);
    return st;
}
