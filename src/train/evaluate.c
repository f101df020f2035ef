/* Evaluation of a model on a labelled data source: zero-shot accuracy with
 * prompt templates, and image<->text retrieval recall. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/run.h"

enum { EVAL_BATCH = 256 };

/* Normalised image embeddings [n, dim] of items 0..n-1 (evaluation
 * transform), plus their labels and captions when asked. */
static clip_status embed_items(clip_model *model, clip_data *data, int n, float *features, int *labels,
                               char **captions) {
    clip_model_info info;
    clip_model_get_info(model, &info);
    int R = info.image_resolution;
    size_t per = (size_t)3 * R * R;
    float *pixels = malloc((size_t)EVAL_BATCH * per * sizeof(float));
    if (!pixels) return clip_fail(CLIP_ERR_NO_MEMORY, "evaluation: out of memory");
    clip_status st = CLIP_OK;
    clip_rng rng;
    clip_rng_seed(&rng, 12345); /* captions of labelled sources: a fixed draw */
    for (int start = 0; start < n && st == CLIP_OK; start += EVAL_BATCH) {
        int count = n - start < EVAL_BATCH ? n - start : EVAL_BATCH;
        for (int i = 0; i < count && st == CLIP_OK; i++) {
            clip_image *img;
            char *caption;
            int label;
            st = clip_data_get(data, start + i, &rng, &img, &caption, &label);
            if (st == CLIP_OK) st = clip_augment(img, R, 1, 1, NULL, pixels + (size_t)i * per);
            if (labels) labels[start + i] = label;
            if (captions) captions[start + i] = caption;
            else free(caption);
            clip_image_free(img);
        }
        if (st == CLIP_OK) st = clip_encode_image(model, pixels, count, features + (size_t)start * info.embed_dim);
    }
    if (st == CLIP_OK) clip_l2_normalize(features, n, info.embed_dim);
    free(pixels);
    return st;
}

clip_status clip_eval_zeroshot(clip_model *model, clip_data *data, const char *const *templates, int max_items,
                               eval_result *out) {
    memset(out, 0, sizeof *out);
    int classes = clip_data_n_classes(data);
    if (classes < 2) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "zero-shot evaluation needs a labelled data source");
    int n = (int)clip_data_size(data);
    if (max_items > 0 && max_items < n) n = max_items;
    const char **names = malloc((size_t)classes * sizeof(char *));
    clip_model_info info;
    clip_model_get_info(model, &info);
    float *features = malloc((size_t)n * info.embed_dim * sizeof(float));
    float *probs = malloc((size_t)classes * sizeof(float));
    int *labels = malloc((size_t)n * sizeof(int));
    clip_classifier *c = NULL;
    clip_status st = names && features && probs && labels ? CLIP_OK : clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; st == CLIP_OK && i < classes; i++) names[i] = clip_data_class_name(data, i);
    int n_templates = 0;
    if (templates)
        while (templates[n_templates]) n_templates++;
    if (st == CLIP_OK) st = clip_classifier_create(model, names, classes, templates, n_templates, &c);
    if (st == CLIP_OK) st = embed_items(model, data, n, features, labels, NULL);
    int top1 = 0, top5 = 0;
    for (int i = 0; st == CLIP_OK && i < n; i++) {
        clip_classify_features(c, features + (size_t)i * info.embed_dim, 1, info.logit_scale, probs);
        int rank = 0;
        for (int k = 0; k < classes; k++) rank += probs[k] > probs[labels[i]];
        top1 += rank == 0;
        top5 += rank < 5;
    }
    out->top1 = n ? (double)top1 / n : 0;
    out->top5 = n ? (double)top5 / n : 0;
    out->items = n;
    clip_classifier_free(c);
    free(names);
    free(features);
    free(probs);
    free(labels);
    return st;
}

/* Rank of the matching column in row i of scores [n, n] (0 = best). */
static int rank_of(const float *row, int n, int i) {
    int rank = 0;
    for (int j = 0; j < n; j++) rank += row[j] > row[i];
    return rank;
}

clip_status clip_eval_retrieval(clip_model *model, clip_data *data, int max_items, eval_result *out) {
    int n = (int)clip_data_size(data);
    if (max_items > 0 && max_items < n) n = max_items;
    clip_model_info info;
    clip_model_get_info(model, &info);
    int E = info.embed_dim;
    float *images = malloc((size_t)n * E * sizeof(float)), *texts = malloc((size_t)n * E * sizeof(float));
    float *scores = malloc((size_t)n * n * sizeof(float));
    char **captions = calloc((size_t)n, sizeof(char *));
    clip_status st = images && texts && scores && captions ? embed_items(model, data, n, images, NULL, captions)
                                                           : clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    if (st == CLIP_OK) st = clip_embed_texts(model, (const char *const *)captions, n, 1, texts);
    if (st == CLIP_OK) {
        static const int ks[3] = {1, 5, 10};
        clip_logits(images, n, texts, n, E, 1.0f, scores);
        int hits_i2t[3] = {0}, hits_t2i[3] = {0};
        float *column = malloc((size_t)n * sizeof(float));
        for (int i = 0; column && i < n; i++) {
            int r = rank_of(scores + (size_t)i * n, n, i);
            for (int j = 0; j < n; j++) column[j] = scores[(size_t)j * n + i];
            int rt = rank_of(column, n, i);
            for (int k = 0; k < 3; k++) {
                hits_i2t[k] += r < ks[k];
                hits_t2i[k] += rt < ks[k];
            }
        }
        free(column);
        for (int k = 0; k < 3; k++) {
            out->i2t_recall[k] = (double)hits_i2t[k] / n;
            out->t2i_recall[k] = (double)hits_t2i[k] / n;
        }
    }
    for (int i = 0; captions && i < n; i++) free(captions[i]);
    free(captions);
    free(images);
    free(texts);
    free(scores);
    return st;
}
