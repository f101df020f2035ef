/* Learning-rate schedules (open_clip's scheduler.py) and gradient-norm
 * clipping (torch.nn.utils.clip_grad_norm_) over the trainer's table. */
#include <math.h>

#include "train/adamw.h"

double lr_constant(double base_lr, int64_t warmup, int64_t step) {
    if (step < warmup) return base_lr * (double)(step + 1) / (double)warmup;
    return base_lr;
}

double lr_cosine(double base_lr, int64_t warmup, int64_t steps, int64_t step) {
    if (step < warmup) return base_lr * (double)(step + 1) / (double)warmup;
    int64_t e = step - warmup, es = steps - warmup;
    if (es <= 0) return 0.0; /* no decay phase: open_clip would divide by zero */
    return 0.5 * (1.0 + cos(M_PI * (double)e / (double)es)) * base_lr;
}

/* Eight independent partial sums: the loop vectorises and pipelines
 * without reassociating a single accumulator. */
static double sum_squares(const float *g, size_t n) {
    double acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += (double)g[i + k] * g[i + k];
    for (; i < n; i++) acc[0] += (double)g[i] * g[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

double grad_clip_norm(train_param *params, size_t count, double max_norm) {
    double total = 0;
    for (size_t i = 0; i < count; i++)
        if (params[i].grad) total += sum_squares(params[i].grad, params[i].numel);
    total = sqrt(total);
    if (max_norm > 0) {
        double coef = max_norm / (total + 1e-6);
        if (coef < 1.0) grad_scale(params, count, (float)coef);
    }
    return total;
}

void grad_scale(train_param *params, size_t count, float factor) {
    for (size_t i = 0; i < count; i++)
        if (params[i].grad)
            for (size_t k = 0; k < params[i].numel; k++) params[i].grad[k] *= factor;
}
