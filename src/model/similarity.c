/* Operations on embeddings: normalisation, logits, softmax. */
#include <math.h>

#include "clip.h"

void clip_l2_normalize(float *rows, int n, int dim) {
    for (int i = 0; i < n; i++) {
        float *row = rows + (size_t)i * dim;
        double sq = 0;
        for (int j = 0; j < dim; j++) sq += (double)row[j] * row[j];
        float norm = (float)sqrt(sq);
        if (norm > 0)
            for (int j = 0; j < dim; j++) row[j] /= norm;
    }
}

void clip_logits(const float *image_features, int n_images, const float *text_features, int n_texts, int dim,
                 float logit_scale, float *logits) {
    for (int i = 0; i < n_images; i++)
        for (int j = 0; j < n_texts; j++) {
            const float *a = image_features + (size_t)i * dim, *b = text_features + (size_t)j * dim;
            double dot = 0;
            for (int k = 0; k < dim; k++) dot += (double)a[k] * b[k];
            logits[(size_t)i * n_texts + j] = logit_scale * (float)dot;
        }
}

void clip_softmax_rows(float *x, int n, int m) {
    for (int i = 0; i < n; i++) {
        float *row = x + (size_t)i * m;
        float max = -INFINITY;
        for (int j = 0; j < m; j++) if (row[j] > max) max = row[j];
        double sum = 0;
        for (int j = 0; j < m; j++) sum += exp((double)row[j] - max);
        for (int j = 0; j < m; j++) row[j] = (float)(exp((double)row[j] - max) / sum);
    }
}
