/* LayerNorm backward. The forward's statistics are not stored: recomputing
 * a row's mean and variance costs one pass over it, less than keeping two
 * extra values per row alive for the whole backward. Everything is
 * accumulated in double, as the forward does. */
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "train/train_ops.h"

enum { ROWS_PER_TASK = 32, COLUMNS_PER_TASK = 64 };

typedef struct ln_job {
    const float *x, *dy, *gamma;
    int rows, dim;
    float eps;
    double *mean, *inv; /* [rows] */
    float *dx, beta_dx, *dgamma, *dbeta;
} ln_job;

static void stats_task(void *raw, int task, int thread) {
    (void)thread;
    ln_job *j = raw;
    int r1 = (task + 1) * ROWS_PER_TASK < j->rows ? (task + 1) * ROWS_PER_TASK : j->rows;
    for (int r = task * ROWS_PER_TASK; r < r1; r++) {
        const float *x = j->x + (size_t)r * j->dim;
        double sum = 0, sq = 0;
        for (int c = 0; c < j->dim; c++) sum += x[c];
        double mean = sum / j->dim;
        for (int c = 0; c < j->dim; c++) sq += (x[c] - mean) * (x[c] - mean);
        j->mean[r] = mean;
        j->inv[r] = 1.0 / sqrt(sq / j->dim + j->eps);
    }
}

static void param_task(void *raw, int task, int thread) {
    (void)thread;
    ln_job *j = raw;
    int c0 = task * COLUMNS_PER_TASK, c1 = c0 + COLUMNS_PER_TASK < j->dim ? c0 + COLUMNS_PER_TASK : j->dim;
    double g[COLUMNS_PER_TASK] = {0}, b[COLUMNS_PER_TASK] = {0};
    for (int r = 0; r < j->rows; r++) {
        const float *x = j->x + (size_t)r * j->dim, *dy = j->dy + (size_t)r * j->dim;
        double mean = j->mean[r], inv = j->inv[r];
        for (int c = c0; c < c1; c++) {
            g[c - c0] += dy[c] * ((x[c] - mean) * inv);
            b[c - c0] += dy[c];
        }
    }
    for (int c = c0; c < c1; c++) {
        if (j->dgamma) j->dgamma[c] += (float)g[c - c0];
        if (j->dbeta) j->dbeta[c] += (float)b[c - c0];
    }
}

static void input_task(void *raw, int task, int thread) {
    (void)thread;
    ln_job *j = raw;
    int r1 = (task + 1) * ROWS_PER_TASK < j->rows ? (task + 1) * ROWS_PER_TASK : j->rows;
    for (int r = task * ROWS_PER_TASK; r < r1; r++) {
        const float *x = j->x + (size_t)r * j->dim, *dy = j->dy + (size_t)r * j->dim;
        float *dx = j->dx + (size_t)r * j->dim;
        double mean = j->mean[r], inv = j->inv[r], s1 = 0, s2 = 0;
        for (int c = 0; c < j->dim; c++) {
            double g = (double)dy[c] * j->gamma[c];
            s1 += g;
            s2 += g * ((x[c] - mean) * inv);
        }
        s1 /= j->dim;
        s2 /= j->dim;
        for (int c = 0; c < j->dim; c++) {
            double g = (double)dy[c] * j->gamma[c], xhat = (x[c] - mean) * inv;
            float v = (float)(inv * (g - s1 - xhat * s2));
            dx[c] = j->beta_dx != 0.0f ? v + j->beta_dx * dx[c] : v;
        }
    }
}

void tr_layernorm_backward(const nn_ctx *ctx, const float *x, int rows, int dim, const float *gamma, float eps,
                           const float *dy, float *dx, float beta_dx, float *dgamma, float *dbeta) {
    if (rows <= 0) return;
    double *stats = malloc((size_t)rows * 2 * sizeof(double));
    if (!stats) { /* the trainer reports it (nn_take_failure) */
        nn_note_failure((size_t)rows * 2 * sizeof(double));
        return;
    }
    ln_job job = {x, dy, gamma, rows, dim, eps, stats, stats + rows, dx, beta_dx, dgamma, dbeta};
    int row_tasks = (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
    clip_pool_run(ctx->pool, row_tasks, stats_task, &job);
    /* Parameter gradients read dy before dx may overwrite it (dx == dy is
     * allowed with beta_dx == 0). */
    if (dgamma || dbeta) clip_pool_run(ctx->pool, (dim + COLUMNS_PER_TASK - 1) / COLUMNS_PER_TASK, param_task, &job);
    if (dx) clip_pool_run(ctx->pool, row_tasks, input_task, &job);
    free(stats);
}
