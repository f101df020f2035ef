/* OpenAI's text transformer: token + positional embedding, causal blocks,
 * ln_final, the feature at the end-of-text token (the largest id), proj. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"

clip_status text_forward(clip_model *model, const int32_t *tokens, int n, float *features,
                         const clip_trace *trace, int full_context) {
    const text_tower *t = &model->text;
    const nn_ctx *ctx = &model->nn;
    int W = t->width, C = t->context, E = model->info.embed_dim;
    int *eot = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    if (!eot) return clip_fail(CLIP_ERR_NO_MEMORY, "text tower: out of memory");
    int used = 1;
    for (int b = 0; b < n; b++) {
        const int32_t *row = tokens + (size_t)b * C;
        int best = 0;
        for (int l = 0; l < C; l++) {
            if (row[l] < 0 || row[l] >= t->vocab) {
                free(eot);
                return clip_fail(CLIP_ERR_INVALID_ARGUMENT,
                                 "text %d: token id %d at position %d is outside the vocabulary (0..%d)", b,
                                 (int)row[l], l, t->vocab - 1);
            }
            if (row[l] > row[best]) best = l; /* first occurrence of the maximum, as argmax */
        }
        eot[b] = best;
        if (best + 1 > used) used = best + 1;
    }
    /* Causal attention: positions after the last pooled one cannot change
     * the pooled features, so they are not computed. */
    int L = full_context ? C : used;
    size_t floats = (size_t)n * L * W + (size_t)n * W;
    int owned;
    float *x = model_arena_take(model, floats + transformer_work_floats(ctx, &t->blocks, n, L), &owned);
    if (!x) {
        free(eot);
        return clip_fail(CLIP_ERR_NO_MEMORY, "text tower: cannot allocate activations for batch %d", n);
    }
    float *pooled = x + (size_t)n * L * W;
    for (int b = 0; b < n; b++)
        for (int l = 0; l < L; l++) {
            const float *emb = t->token_embedding + (size_t)tokens[(size_t)b * C + l] * W;
            const float *pos = t->positional_embedding + (size_t)l * W;
            float *dst = x + ((size_t)b * L + l) * W;
            for (int c = 0; c < W; c++) dst[c] = emb[c] + pos[c];
        }
    int64_t seq_shape[3] = {n, L, W};
    trace_emit(trace, "text.embed", x, 3, seq_shape);
    clip_status st = transformer_forward(ctx, &t->blocks, x, n, L, model->layer_norm_eps, 1, trace,
                                         "text.transformer.resblocks", eot, x + floats);
    if (st == CLIP_OK) {
        if (trace) {
            nn_layernorm(ctx, x, n * L, W, t->ln_final_weight, t->ln_final_bias, model->layer_norm_eps, x);
            trace_emit(trace, "text.ln_final", x, 3, seq_shape);
            for (int b = 0; b < n; b++)
                memcpy(pooled + (size_t)b * W, x + ((size_t)b * L + eot[b]) * W, (size_t)W * sizeof(float));
        } else {
            /* LayerNorm is row-wise: normalising only the pooled rows is the same. */
            for (int b = 0; b < n; b++)
                memcpy(pooled + (size_t)b * W, x + ((size_t)b * L + eot[b]) * W, (size_t)W * sizeof(float));
            nn_layernorm(ctx, pooled, n, W, t->ln_final_weight, t->ln_final_bias, model->layer_norm_eps, pooled);
        }
        int64_t pooled_shape[2] = {n, W};
        trace_emit(trace, "text.pooled", pooled, 2, pooled_shape);
        nn_linear(ctx, pooled, n, W, t->proj, t->proj_layout, E, NULL, NN_ACT_NONE, NULL, features);
    }
    model_arena_give(model, x, owned);
    free(eot);
    return st;
}
