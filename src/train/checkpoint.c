/* Training checkpoints: one safetensors file holding the model (OpenAI
 * names, the source model's metadata and embedded vocabulary, so it loads
 * with every command) plus, optionally, AdamW's moments ("opt.exp_avg.*",
 * "opt.exp_avg_sq.*") and the step in the metadata. Written atomically. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"
#include "train/adamw.h"
#include "train/run.h"

clip_status train_checkpoint_write(clip_trainer *trainer, adamw *opt, int64_t step, const char *path,
                                   int with_optimizer) {
    clip_model *model = clip_trainer_model(trainer);
    st_writer *w = st_writer_new();
    if (!w) return clip_fail(CLIP_ERR_NO_MEMORY, "checkpoint: out of memory");
    clip_status st = CLIP_OK;
    for (size_t i = 0; i < st_metadata_count(model->file) && st == CLIP_OK; i++) {
        const char *key, *value;
        st_metadata_at(model->file, i, &key, &value);
        if (strncmp(key, "train.", 6) != 0) st = st_writer_metadata(w, key, value);
    }
    char value[64];
    snprintf(value, sizeof value, "%lld", (long long)step);
    if (st == CLIP_OK) st = st_writer_metadata(w, "train.step", value);
    const st_tensor *vocab = st_find(model->file, CLIP_EMBEDDED_VOCAB_TENSOR);
    if (st == CLIP_OK && vocab) st = st_writer_add(w, vocab->name, vocab->dtype, vocab->ndim, vocab->shape, vocab->data);
    size_t n_params, n_buffers;
    train_param *params = clip_trainer_params(trainer, &n_params);
    train_buffer *buffers = clip_trainer_buffers(trainer, &n_buffers);
    for (size_t i = 0; i < n_params && st == CLIP_OK; i++) {
        train_param *p = &params[i];
        st = st_writer_add(w, p->name, ST_F32, p->ndim, p->shape, p->data);
        adamw_state s;
        if (st == CLIP_OK && with_optimizer && opt && adamw_find_state(opt, p->name, &s)) {
            char name[TRAIN_NAME_MAX + 32];
            snprintf(name, sizeof name, "opt.exp_avg.%s", p->name);
            st = st_writer_add(w, name, ST_F32, p->ndim, p->shape, s.exp_avg);
            snprintf(name, sizeof name, "opt.exp_avg_sq.%s", p->name);
            if (st == CLIP_OK) st = st_writer_add(w, name, ST_F32, p->ndim, p->shape, s.exp_avg_sq);
            snprintf(name, sizeof name, "opt.step.%s", p->name);
            if (st == CLIP_OK) st = st_writer_add(w, name, ST_I64, 0, NULL, s.step);
        }
    }
    for (size_t i = 0; i < n_buffers && st == CLIP_OK; i++)
        st = st_writer_add(w, buffers[i].name, buffers[i].dtype, buffers[i].ndim, buffers[i].shape, buffers[i].data);
    if (st == CLIP_OK) st = st_writer_finish(w, path);
    st_writer_free(w);
    return st;
}

clip_status train_checkpoint_restore_optimizer(adamw *opt, const char *path, int64_t *step) {
    st_file *f;
    clip_status st = st_open(path, &f);
    if (st != CLIP_OK) return st;
    const char *step_text = st_metadata(f, "train.step");
    *step = step_text ? strtoll(step_text, NULL, 10) : 0;
    for (size_t i = 0; i < st_count(f) && st == CLIP_OK; i++) {
        const st_tensor *t = st_at(f, i);
        const char *name = NULL;
        int which = -1;
        if (strncmp(t->name, "opt.exp_avg_sq.", 15) == 0) name = t->name + 15, which = 1;
        else if (strncmp(t->name, "opt.exp_avg.", 12) == 0) name = t->name + 12, which = 0;
        else if (strncmp(t->name, "opt.step.", 9) == 0) name = t->name + 9, which = 2;
        if (!name) continue;
        adamw_state s;
        if (!adamw_find_state(opt, name, &s)) continue; /* e.g. a tower now locked */
        if (which == 2) {
            if (t->dtype == ST_I64 && t->numel == 1) memcpy(s.step, t->data, sizeof(int64_t));
            continue;
        }
        if (t->dtype != ST_F32 || (size_t)t->numel != s.numel) {
            st = clip_fail(CLIP_ERR_SHAPE, "%s: optimizer state '%s' does not match the model", path, t->name);
            break;
        }
        memcpy(which ? s.exp_avg_sq : s.exp_avg, t->data, t->nbytes);
    }
    st_close(f);
    return st;
}
