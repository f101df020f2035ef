/* Detection by prompts: which targets are present, and where (windows). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct window {
    int x, y, side;
} window;

static clip_detect_options defaults(const clip_detect_options *opts) {
    clip_detect_options o = opts ? *opts : (clip_detect_options){0};
    if (o.n_scales <= 0) o.n_scales = 3;
    if (!(o.overlap > 0 && o.overlap < 1)) o.overlap = 0.5f;
    if (!(o.threshold > 0)) o.threshold = 0.5f;
    if (!(o.nms_iou > 0)) o.nms_iou = 0.3f;
    if (o.max_boxes <= 0) o.max_boxes = 3;
    return o;
}

/* Positions from 0 with `stride`, plus one flush with the far edge. */
static int positions(int extent, int side, int stride, int *out, int cap) {
    int n = 0;
    for (int p = 0; p + side <= extent && n < cap; p += stride) out[n++] = p;
    if (n > 0 && out[n - 1] + side < extent && n < cap) out[n++] = extent - side;
    return n;
}

static window *make_windows(int w, int h, const clip_detect_options *o, int *count, int *smallest_stride) {
    int cap = 4096, n = 0;
    window *wins = malloc((size_t)cap * sizeof *wins);
    int xs[256], ys[256];
    *smallest_stride = w > h ? w : h;
    for (int k = 1; wins && k <= o->n_scales; k++) {
        int side = (w < h ? w : h) >> k;
        if (side < 8) break;
        int stride = (int)lroundf(side * (1.0f - o->overlap));
        if (stride < 1) stride = 1;
        if (stride < *smallest_stride) *smallest_stride = stride;
        int nx = positions(w, side, stride, xs, 256), ny = positions(h, side, stride, ys, 256);
        for (int j = 0; j < ny; j++)
            for (int i = 0; i < nx && n < cap; i++) wins[n++] = (window){xs[i], ys[j], side};
    }
    *count = n;
    return wins;
}

/* Probabilities of each target for one embedding: softmax over targets
 * and backgrounds of logit_scale * cosine. */
static void target_probs(const float *feature, const float *targets, int n_targets, const float *background,
                         int n_background, int dim, float scale, float *cos_out, float *prob_out) {
    double max = -1e30;
    double *logits = malloc((size_t)(n_targets + n_background) * sizeof(double));
    if (!logits) return;
    for (int t = 0; t < n_targets + n_background; t++) {
        const float *row = t < n_targets ? targets + (size_t)t * dim : background + (size_t)(t - n_targets) * dim;
        double dot = 0;
        for (int k = 0; k < dim; k++) dot += (double)feature[k] * row[k];
        if (t < n_targets) cos_out[t] = (float)dot;
        logits[t] = scale * dot;
        if (logits[t] > max) max = logits[t];
    }
    double sum = 0;
    for (int t = 0; t < n_targets + n_background; t++) sum += exp(logits[t] - max);
    for (int t = 0; t < n_targets; t++) prob_out[t] = (float)(exp(logits[t] - max) / sum);
    free(logits);
}

static float iou(const clip_detection *a, const clip_detection *b) {
    int x0 = a->x > b->x ? a->x : b->x, y0 = a->y > b->y ? a->y : b->y;
    int x1 = a->x + a->width < b->x + b->width ? a->x + a->width : b->x + b->width;
    int y1 = a->y + a->height < b->y + b->height ? a->y + a->height : b->y + b->height;
    if (x1 <= x0 || y1 <= y0) return 0;
    float inter = (float)(x1 - x0) * (y1 - y0);
    return inter / ((float)a->width * a->height + (float)b->width * b->height - inter);
}

static int by_score_desc(const void *pa, const void *pb) {
    const clip_detection *a = pa, *b = pb;
    if (a->prob != b->prob) return a->prob < b->prob ? 1 : -1;
    return (a->cosine < b->cosine) - (a->cosine > b->cosine);
}

static clip_status embed_windows(clip_model *model, const clip_image *image, const window *wins, int n, int dim,
                                 float *features) {
    enum { BATCH = 16 };
    clip_image *crops[BATCH];
    for (int start = 0; start < n; start += BATCH) {
        int count = n - start < BATCH ? n - start : BATCH;
        clip_status st = CLIP_OK;
        int made = 0;
        for (; made < count && st == CLIP_OK; made++) {
            const window *w = &wins[start + made];
            st = clip_image_crop(image, w->x, w->y, w->side, w->side, &crops[made]);
            if (st != CLIP_OK) break;
        }
        if (st == CLIP_OK)
            st = clip_embed_images(model, (const clip_image *const *)crops, count, 1, features + (size_t)start * dim);
        for (int i = 0; i < made; i++) clip_image_free(crops[i]);
        if (st != CLIP_OK) return st;
    }
    return CLIP_OK;
}

static clip_status localize(clip_model *model, const clip_image *image, const float *targets, int n_targets,
                            const float *background, int n_background, const clip_detect_options *o, float scale,
                            int dim, clip_detect_result *r) {
    int W = clip_image_width(image), H = clip_image_height(image), n_windows, cell;
    window *wins = make_windows(W, H, o, &n_windows, &cell);
    if (!wins) return clip_fail(CLIP_ERR_NO_MEMORY, "detect: out of memory");
    if (n_windows == 0) {
        free(wins);
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "detect: a %d x %d image is too small to localise in", W, H);
    }
    r->cell = cell;
    r->grid_w = (W + cell - 1) / cell;
    r->grid_h = (H + cell - 1) / cell;
    size_t cells = (size_t)r->grid_w * r->grid_h;
    float *features = malloc((size_t)n_windows * dim * sizeof(float));
    float *cos = malloc((size_t)n_targets * sizeof(float)), *prob = malloc((size_t)n_targets * sizeof(float));
    float *counts = calloc(cells, sizeof(float));
    clip_detection *candidates = malloc((size_t)n_windows * sizeof *candidates * (size_t)n_targets);
    r->heatmaps = calloc((size_t)n_targets * cells, sizeof(float));
    r->boxes = malloc((size_t)n_targets * o->max_boxes * sizeof *r->boxes);
    clip_status st = (features && cos && prob && counts && candidates && r->heatmaps && r->boxes)
                         ? embed_windows(model, image, wins, n_windows, dim, features)
                         : clip_fail(CLIP_ERR_NO_MEMORY, "detect: out of memory for %d windows", n_windows);
    for (int i = 0; st == CLIP_OK && i < n_windows; i++) {
        const window *w = &wins[i];
        target_probs(features + (size_t)i * dim, targets, n_targets, background, n_background, dim, scale, cos, prob);
        /* Cells whose centre the window covers take its cosine. */
        int cx0 = w->x / cell, cy0 = w->y / cell;
        int cx1 = (w->x + w->side - 1) / cell, cy1 = (w->y + w->side - 1) / cell;
        for (int cy = cy0; cy <= cy1 && cy < r->grid_h; cy++)
            for (int cx = cx0; cx <= cx1 && cx < r->grid_w; cx++) {
                counts[(size_t)cy * r->grid_w + cx] += 1;
                for (int t = 0; t < n_targets; t++) r->heatmaps[t * cells + (size_t)cy * r->grid_w + cx] += cos[t];
            }
        for (int t = 0; t < n_targets; t++)
            candidates[(size_t)t * n_windows + i] = (clip_detection){t, prob[t], cos[t], w->x, w->y, w->side, w->side};
    }
    for (int t = 0; st == CLIP_OK && t < n_targets; t++) {
        for (size_t c = 0; c < cells; c++)
            if (counts[c] > 0) r->heatmaps[t * cells + c] /= counts[c];
        clip_detection *list = candidates + (size_t)t * n_windows;
        qsort(list, (size_t)n_windows, sizeof *list, by_score_desc);
        int kept = 0;
        /* With one target and no background every probability is 1: the
         * ranking by cosine alone decides, and no threshold applies. */
        int thresholded = n_targets + n_background > 1;
        for (int i = 0; i < n_windows && kept < o->max_boxes; i++) {
            if (thresholded && list[i].prob < o->threshold) break;
            int suppressed = 0;
            for (int j = r->n_boxes - kept; j < r->n_boxes && !suppressed; j++)
                suppressed = iou(&r->boxes[j], &list[i]) > o->nms_iou;
            if (!suppressed) {
                r->boxes[r->n_boxes++] = list[i];
                kept++;
            }
        }
    }
    free(wins);
    free(features);
    free(cos);
    free(prob);
    free(counts);
    free(candidates);
    return st;
}

clip_status clip_detect(clip_model *model, const clip_image *image, const float *targets, int n_targets,
                        const float *background, int n_background, const clip_detect_options *opts,
                        clip_detect_result *result) {
    memset(result, 0, sizeof *result);
    if (!model || !image || !targets || n_targets <= 0 || n_background < 0 || (n_background > 0 && !background))
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "detect: needs a model, an image and at least one target");
    clip_detect_options o = defaults(opts);
    clip_model_info info;
    clip_model_get_info(model, &info);
    int dim = info.embed_dim;
    result->n_targets = n_targets;
    result->presence = malloc((size_t)n_targets * sizeof(float));
    float *feature = malloc((size_t)dim * sizeof(float)), *cos = malloc((size_t)n_targets * sizeof(float));
    clip_status st = (result->presence && feature && cos)
                         ? clip_embed_images(model, &image, 1, 1, feature)
                         : clip_fail(CLIP_ERR_NO_MEMORY, "detect: out of memory");
    if (st == CLIP_OK)
        target_probs(feature, targets, n_targets, background, n_background, dim, info.logit_scale, cos,
                     result->presence);
    if (st == CLIP_OK && o.localize)
        st = localize(model, image, targets, n_targets, background, n_background, &o, info.logit_scale, dim, result);
    free(feature);
    free(cos);
    if (st != CLIP_OK) clip_detect_result_free(result);
    return st;
}

void clip_detect_result_free(clip_detect_result *r) {
    free(r->presence);
    free(r->boxes);
    free(r->heatmaps);
    memset(r, 0, sizeof *r);
}
