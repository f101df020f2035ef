#include "nn/kernels.h"

typedef struct layernorm_job {
    const nn_kernels *k;
    const float *x;
    float *y;
    int rows, dim, rows_per_task;
    const float *gamma, *beta;
    float eps;
} layernorm_job;

static void layernorm_task(void *raw, int task, int thread) {
    (void)thread;
    const layernorm_job *j = raw;
    int r0 = task * j->rows_per_task;
    int r1 = r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;
    for (int r = r0; r < r1; r++)
        j->k->layernorm_row(j->x + (size_t)r * j->dim, j->dim, j->gamma, j->beta, j->eps, j->y + (size_t)r * j->dim);
}

void nn_layernorm(const nn_ctx *ctx, const float *x, int rows, int dim, const float *gamma, const float *beta,
                  float eps, float *y) {
    int threads = clip_pool_size(ctx->pool);
    /* A row is ~1 us of work: small inputs are not worth waking workers. */
    int tasks = (size_t)rows * dim < 32768 ? 1 : threads;
    layernorm_job job = {nn_kernels_active(), x, y, rows, dim, (rows + tasks - 1) / tasks, gamma, beta, eps};
    if (job.rows_per_task < 1) job.rows_per_task = 1;
    clip_pool_run(ctx->pool, (rows + job.rows_per_task - 1) / job.rows_per_task, layernorm_task, &job);
}
