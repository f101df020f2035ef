/* CLIP's loss (model.py forward + open_clip's ClipLoss):
 *   a = f / |f|, b = g / |g|, logits = exp(s) a b^T,
 *   loss = (CE(logits, arange) + CE(logits^T, arange)) / 2.
 * Everything here is O(n^2 E) at most, so it runs in double: the result is
 * then as close to the exact value as the float32 features allow. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/train_internal.h"

/* Target weight of column j for row i: the matching pair, or with labels
 * every pair of the same class, evenly. */
static double target(const int *labels, int n, int i, int j) {
    if (!labels) return i == j;
    if (labels[i] != labels[j]) return 0;
    int same = 0;
    for (int k = 0; k < n; k++) same += labels[k] == labels[i];
    return 1.0 / same;
}

/* Mean cross-entropy of rows of z (element (i, j) at z[i*si + j*sj]) with
 * the targets above; adds (softmax - target) / n / 2 into dz. */
static double cross_entropy(const double *z, const int *labels, int n, int si, int sj, double *dz) {
    double total = 0;
    for (int i = 0; i < n; i++) {
        double max = -INFINITY, sum = 0;
        for (int j = 0; j < n; j++)
            if (z[i * si + j * sj] > max) max = z[i * si + j * sj];
        for (int j = 0; j < n; j++) sum += exp(z[i * si + j * sj] - max);
        double lse = max + log(sum);
        for (int j = 0; j < n; j++) {
            double t = target(labels, n, i, j);
            total += t * (lse - z[i * si + j * sj]);
            dz[i * si + j * sj] += (exp(z[i * si + j * sj] - lse) - t) / n / 2;
        }
    }
    return total / n / 2;
}

clip_status contrastive_loss(const float *image_features, const float *text_features, const int *labels, int n,
                             int dim, float log_scale, float *logits_per_image, float *dimage, float *dtext,
                             double *dlog_scale, double *loss_out) {
    /* One allocation for everything, the per-row gradient included, so
     * there is a single failure to handle. */
    double *buf = calloc((size_t)2 * n * dim + 2 * (size_t)n + 2 * (size_t)n * n + (size_t)dim, sizeof(double));
    if (!buf) return clip_fail(CLIP_ERR_NO_MEMORY, "contrastive loss: out of memory for a batch of %d x %d", n, dim);
    double *a = buf, *b = a + (size_t)n * dim, *na = b + (size_t)n * dim, *nb = na + n;
    double *z = nb + n, *dz = z + (size_t)n * n, *d = dz + (size_t)n * n;
    const float *src[2] = {image_features, text_features};
    double *unit[2] = {a, b}, *norm[2] = {na, nb};
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < n; i++) {
            double sq = 0;
            for (int k = 0; k < dim; k++) sq += (double)src[s][(size_t)i * dim + k] * src[s][(size_t)i * dim + k];
            norm[s][i] = sqrt(sq);
            for (int k = 0; k < dim; k++) unit[s][(size_t)i * dim + k] = src[s][(size_t)i * dim + k] / norm[s][i];
        }
    double scale = exp((double)log_scale);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double dot = 0;
            for (int k = 0; k < dim; k++) dot += a[(size_t)i * dim + k] * b[(size_t)j * dim + k];
            z[(size_t)i * n + j] = scale * dot;
            if (logits_per_image) logits_per_image[(size_t)i * n + j] = (float)(scale * dot);
        }
    double loss = cross_entropy(z, labels, n, n, 1, dz) + cross_entropy(z, labels, n, 1, n, dz);

    /* d logits / d s = logits; d logits / d a_i = scale * b_j (and back). */
    double ds = 0;
    for (size_t i = 0; i < (size_t)n * n; i++) ds += dz[i] * z[i];
    *dlog_scale = ds;
    float *dout[2] = {dimage, dtext};
    for (int s = 0; s < 2; s++) {
        const double *self = unit[s], *other = unit[1 - s];
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < dim; k++) d[k] = 0;
            for (int j = 0; j < n; j++) {
                double w = scale * (s == 0 ? dz[(size_t)i * n + j] : dz[(size_t)j * n + i]);
                for (int k = 0; k < dim; k++) d[k] += w * other[(size_t)j * dim + k];
            }
            /* Through u = f / |f|: df = (du - u (u . du)) / |f|. */
            double proj = 0;
            for (int k = 0; k < dim; k++) proj += self[(size_t)i * dim + k] * d[k];
            for (int k = 0; k < dim; k++)
                dout[s][(size_t)i * dim + k] = (float)((d[k] - self[(size_t)i * dim + k] * proj) / norm[s][i]);
        }
    }
    free(buf);
    *loss_out = loss;
    return CLIP_OK;
}
