/* Video frames embedded through the image tower, and the moments that
 * match targets. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "video/video_internal.h"

enum { VIDEO_BATCH = 16 };

typedef struct collector {
    clip_model *model;
    clip_video_frames *out;
    int capacity;
    clip_image *pending[VIDEO_BATCH];
    double pending_times[VIDEO_BATCH];
    int n_pending;
} collector;

static clip_status flush(collector *c) {
    if (c->n_pending == 0) return CLIP_OK;
    clip_video_frames *f = c->out;
    if (f->n + c->n_pending > c->capacity) {
        int capacity = c->capacity ? c->capacity * 2 : 64;
        while (capacity < f->n + c->n_pending) capacity *= 2;
        double *times = realloc(f->times, (size_t)capacity * sizeof(double));
        if (times) f->times = times;
        float *features = realloc(f->features, (size_t)capacity * f->dim * sizeof(float));
        if (features) f->features = features;
        if (!times || !features) return clip_fail(CLIP_ERR_NO_MEMORY, "video: out of memory");
        c->capacity = capacity;
    }
    clip_status st = clip_embed_images(c->model, (const clip_image *const *)c->pending, c->n_pending, 1,
                                       f->features + (size_t)f->n * f->dim);
    if (st == CLIP_OK) {
        memcpy(f->times + f->n, c->pending_times, (size_t)c->n_pending * sizeof(double));
        f->n += c->n_pending;
    }
    for (int i = 0; i < c->n_pending; i++) clip_image_free(c->pending[i]);
    c->n_pending = 0;
    return st;
}

static clip_status on_frame(void *raw, double time, const uint8_t *rgb, int width, int height) {
    collector *c = raw;
    clip_image *img;
    clip_status st = clip_image_from_rgb(rgb, width, height, 0, &img);
    if (st != CLIP_OK) return st;
    c->pending[c->n_pending] = img;
    c->pending_times[c->n_pending++] = time;
    return c->n_pending == VIDEO_BATCH ? flush(c) : CLIP_OK;
}

clip_status clip_video_embed(clip_model *model, const char *path, double fps, int max_frames,
                             clip_video_frames *frames) {
    memset(frames, 0, sizeof *frames);
    if (!model || !path) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "video: needs a model and a file");
    clip_model_info info;
    clip_model_get_info(model, &info);
    frames->dim = info.embed_dim;
    collector c = {.model = model, .out = frames};
    clip_status st = video_sample_frames(path, fps, max_frames, on_frame, &c);
    if (st == CLIP_OK) st = flush(&c);
    for (int i = 0; i < c.n_pending; i++) clip_image_free(c.pending[i]);
    if (st != CLIP_OK) clip_video_frames_free(frames);
    return st;
}

void clip_video_frames_free(clip_video_frames *frames) {
    free(frames->times);
    free(frames->features);
    memset(frames, 0, sizeof *frames);
}

static double cosine(const float *a, const float *b, int dim) {
    double dot = 0;
    for (int k = 0; k < dim; k++) dot += (double)a[k] * b[k];
    return dot;
}

static double frame_end(const clip_video_frames *f, int i, double step) {
    return i + 1 < f->n ? f->times[i + 1] : f->times[i] + step;
}

clip_status clip_video_timeline(const clip_video_frames *f, const float *targets, int n_targets, float logit_scale,
                                double frame_step, clip_moment **moments, int *n_moments) {
    *moments = NULL;
    *n_moments = 0;
    if (!f || f->n == 0 || !targets || n_targets <= 0)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "video timeline: needs frames and targets");
    clip_moment *out = malloc((size_t)f->n * sizeof *out);
    float *probs = malloc((size_t)n_targets * sizeof(float));
    if (!out || !probs) {
        free(out);
        free(probs);
        return clip_fail(CLIP_ERR_NO_MEMORY, "video timeline: out of memory");
    }
    int n = 0;
    for (int i = 0; i < f->n; i++) {
        clip_logits(f->features + (size_t)i * f->dim, 1, targets, n_targets, f->dim, logit_scale, probs);
        clip_softmax_rows(probs, 1, n_targets);
        int best = 0;
        for (int t = 1; t < n_targets; t++) if (probs[t] > probs[best]) best = t;
        if (n > 0 && out[n - 1].target == best) {
            clip_moment *m = &out[n - 1];
            int frames_in = (int)lround((m->end - m->start) / frame_step);
            if (frames_in < 1) frames_in = 1;
            m->score = (m->score * frames_in + probs[best]) / (frames_in + 1);
            m->end = frame_end(f, i, frame_step);
        } else {
            out[n++] = (clip_moment){best, f->times[i], frame_end(f, i, frame_step), probs[best]};
        }
    }
    free(probs);
    *moments = out;
    *n_moments = n;
    return CLIP_OK;
}

static int by_score_desc(const void *pa, const void *pb) {
    const clip_moment *a = pa, *b = pb;
    if (a->target != b->target) return a->target - b->target;
    return (a->score < b->score) - (a->score > b->score);
}

clip_status clip_video_best_moments(const clip_video_frames *f, const float *targets, int n_targets, double frame_step,
                                    int max_per_target, clip_moment **moments, int *n_moments) {
    *moments = NULL;
    *n_moments = 0;
    if (!f || f->n == 0 || !targets || n_targets <= 0 || max_per_target <= 0)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "video moments: needs frames and targets");
    clip_moment *all = malloc((size_t)f->n * n_targets * sizeof *all);
    double *scores = malloc((size_t)f->n * sizeof(double));
    if (!all || !scores) {
        free(all);
        free(scores);
        return clip_fail(CLIP_ERR_NO_MEMORY, "video moments: out of memory");
    }
    int n = 0, kept = 0;
    for (int t = 0; t < n_targets; t++) {
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < f->n; i++) {
            scores[i] = cosine(f->features + (size_t)i * f->dim, targets + (size_t)t * f->dim, f->dim);
            lo = fmin(lo, scores[i]);
            hi = fmax(hi, scores[i]);
        }
        double cut = hi > lo ? (lo + hi) / 2 : lo; /* one flat curve: the whole video is one moment */
        int first = n;
        for (int i = 0; i < f->n;) {
            if (scores[i] < cut) {
                i++;
                continue;
            }
            int j = i;
            double sum = 0;
            while (j < f->n && scores[j] >= cut) sum += scores[j++];
            all[n++] = (clip_moment){t, f->times[i], frame_end(f, j - 1, frame_step), (float)(sum / (j - i))};
            i = j;
        }
        qsort(all + first, (size_t)(n - first), sizeof *all, by_score_desc);
        int take = n - first < max_per_target ? n - first : max_per_target;
        memmove(all + kept, all + first, (size_t)take * sizeof *all);
        kept += take;
        n = kept;
    }
    free(scores);
    *moments = all;
    *n_moments = kept;
    return CLIP_OK;
}
