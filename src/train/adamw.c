/* AdamW exactly as torch/optim/adamw.py's _single_tensor_adamw computes it
 * in float32: the scalars (1 - lr wd, 1 - beta, lr / bias_correction1,
 * sqrt(bias_correction2)) are formed in double as Python does and rounded
 * to float where PyTorch passes them to a float32 kernel; the element
 * arithmetic keeps PyTorch's operation order. */
#include "train/adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct adamw_slot {
    train_param *param;
    float *exp_avg, *exp_avg_sq;
    int64_t step;
    double weight_decay;
} adamw_slot;

struct adamw {
    adamw_options opts;
    adamw_slot *slots;
    size_t count;
    int64_t steps;
};

int adamw_decays(const train_param *p) {
    return !(p->ndim < 2 || strstr(p->name, "bn") || strstr(p->name, "ln") || strstr(p->name, "bias") ||
             strstr(p->name, "logit_scale"));
}

void adamw_free(adamw *opt) {
    if (!opt) return;
    for (size_t i = 0; i < opt->count; i++) free(opt->slots[i].exp_avg);
    free(opt->slots);
    free(opt);
}

clip_status adamw_create(train_param *params, size_t count, const adamw_options *opts, adamw **out) {
    *out = NULL;
    adamw *opt = calloc(1, sizeof *opt);
    if (!opt || !(opt->slots = calloc(count ? count : 1, sizeof *opt->slots))) {
        free(opt);
        return clip_fail(CLIP_ERR_NO_MEMORY, "AdamW: out of memory");
    }
    opt->opts = *opts;
    if (opt->opts.beta1 == 0) opt->opts.beta1 = 0.9f;
    if (opt->opts.beta2 == 0) opt->opts.beta2 = 0.98f;
    if (opt->opts.eps == 0) opt->opts.eps = 1e-6f;
    for (size_t i = 0; i < count; i++) {
        train_param *p = &params[i];
        if (!p->requires_grad || !p->grad) continue;
        adamw_slot *s = &opt->slots[opt->count++];
        s->param = p;
        s->weight_decay = adamw_decays(p) ? opt->opts.weight_decay : 0.0;
        s->exp_avg = calloc(2 * p->numel, sizeof(float));
        if (!s->exp_avg) {
            adamw_free(opt);
            return clip_fail(CLIP_ERR_NO_MEMORY, "AdamW: out of memory for the state of '%s'", p->name);
        }
        s->exp_avg_sq = s->exp_avg + p->numel;
    }
    *out = opt;
    return CLIP_OK;
}

/* Built for AVX-512 and AVX2 as well, picked at load time. Element-wise
 * operations in PyTorch's order, and -std=c17 keeps the compiler from
 * fusing them into FMAs, so every width gives the same bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void update_elements(float *restrict w, float *restrict m, float *restrict v, const float *restrict g, size_t n,
                            float decay, float beta1, float beta2, float one_minus_beta1, float one_minus_beta2,
                            float neg_step_size, float bias2_sqrt, float eps) {
    for (size_t i = 0; i < n; i++) {
        w[i] *= decay;                                       /* param.mul_(1 - lr * wd) */
        m[i] = m[i] * beta1 + one_minus_beta1 * g[i];        /* exp_avg.mul_(b1).add_(g, alpha=1-b1) */
        v[i] = v[i] * beta2 + one_minus_beta2 * g[i] * g[i]; /* exp_avg_sq.mul_(b2).addcmul_(g, g, 1-b2) */
        float denom = sqrtf(v[i]) / bias2_sqrt + eps;        /* (v.sqrt() / sqrt(bc2)).add_(eps) */
        w[i] = w[i] + neg_step_size * m[i] / denom;          /* param.addcdiv_(m, denom, -lr/bc1) */
    }
}

static void update(adamw_slot *s, const adamw_options *o, double lr) {
    train_param *p = s->param;
    s->step++;
    double bias1 = 1.0 - pow(o->beta1, (double)s->step), bias2 = 1.0 - pow(o->beta2, (double)s->step);
    float decay = (float)(1.0 - lr * s->weight_decay);
    float beta1 = (float)o->beta1, beta2 = (float)o->beta2;
    float one_minus_beta1 = (float)(1.0 - o->beta1), one_minus_beta2 = (float)(1.0 - o->beta2);
    float neg_step_size = (float)-(lr / bias1), bias2_sqrt = (float)sqrt(bias2), eps = (float)o->eps;
    if (s->weight_decay == 0.0) decay = 1.0f; /* w * 1 is w: one loop serves both */
    update_elements(p->data, s->exp_avg, s->exp_avg_sq, p->grad, p->numel, decay, beta1, beta2, one_minus_beta1,
                    one_minus_beta2, neg_step_size, bias2_sqrt, eps);
}

void adamw_step(adamw *opt, double lr) {
    opt->steps++;
    for (size_t i = 0; i < opt->count; i++) update(&opt->slots[i], &opt->opts, lr);
}

int adamw_find_state(adamw *opt, const char *name, adamw_state *state) {
    for (size_t i = 0; i < opt->count; i++)
        if (strcmp(opt->slots[i].param->name, name) == 0) {
            state->exp_avg = opt->slots[i].exp_avg;
            state->exp_avg_sq = opt->slots[i].exp_avg_sq;
            state->numel = opt->slots[i].param->numel;
            state->step = &opt->slots[i].step;
            return 1;
        }
    return 0;
}

int64_t adamw_steps(const adamw *opt) { return opt->steps; }
