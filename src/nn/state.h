/* The per-context state behind nn_ctx_init: packed weights and a reusable
 * scratch buffer. Internal to src/nn. */
#ifndef CLIP_NN_STATE_H
#define CLIP_NN_STATE_H
#include "nn/kernels.h"

/* Packed copy of weight `w` for kernel table `k`, packing it on first use
 * (across the pool); NULL when out of memory. Caller holds the state lock. */
const float *nn_state_packed_weight(nn_state *s, const nn_ctx *ctx, const nn_kernels *k, const float *w, int ld,
                                    nn_weight_layout layout, int N, int K);
/* The packed float32 weight cached right after `packed` (for table `k`),
 * and the bytes of its first panel; NULL when there is none. Weights are
 * packed on first use, so a model's next product usually uses it: the
 * last panels of one product prefetch the first of the next. */
const float *nn_state_next_weight(nn_state *s, const nn_kernels *k, const float *packed, size_t *panel_bytes);
/* The same for a weight used as the A operand (convolutions: [M, K]). */
const float *nn_state_packed_a(nn_state *s, const nn_ctx *ctx, const nn_kernels *k, const float *w, int ld, int M,
                               int K);
/* A float32 weight w [N, K] in a layout of the caller's: pack(w, arg, dst)
 * fills `floats` floats on first use. `tag` names the layout (values from
 * NN_PACK_TAG_CUSTOM up), so entries of different layouts never match. */
enum { NN_PACK_TAG_CUSTOM = 16 };
typedef void (*nn_custom_pack_fn)(const float *w, void *arg, float *dst);
const float *nn_state_packed_custom(nn_state *s, const nn_ctx *ctx, const float *w, int tag, int N, int K,
                                    size_t floats, nn_custom_pack_fn pack, void *arg);
/* The reduced-precision packing of a weight (qkernels.h), likewise. */
struct nn_qweight;
const struct nn_qweight *nn_state_packed_q(nn_state *s, const nn_ctx *ctx, nn_dtype d, const float *w, int ld,
                                           nn_weight_layout layout, int N, int K);
/* At least `floats` floats, 64-byte aligned, valid until the next call;
 * NULL when out of memory. Caller holds the state lock. */
float *nn_state_scratch(nn_state *s, size_t floats);
void nn_state_lock(nn_state *s);
void nn_state_unlock(nn_state *s);


/* Packs panels of B across the pool. */
void nn_pack_b_parallel(const nn_ctx *ctx, const nn_kernels *k, int N, int K, const float *B, int ldb,
                        nn_weight_layout layout, float *packed);

#endif
