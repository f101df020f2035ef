/* The AVX-512 tile of the blocked convolution (conv_blocked.c): up to two
 * blocks of 16 output channels by up to 14 output pixels (of one row or
 * two), 28 zmm sums. Per input channel it loads nb weight vectors and broadcasts each
 * pixel's value once: nb + np loads for nb * np multiply-adds, all from
 * contiguous memory (the blocked layout keeps a pixel's 16 channels in one
 * vector and a row's pixels next to each other), so nothing is gathered.
 * Compiled for AVX-512 whatever the build flags; called only on CPUs that
 * have it. */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "nn/conv_blocked.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512dq,avx2,fma")
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define UNROLL _Pragma("GCC unroll 28")
#else
#define UNROLL
#endif
#define INLINE static inline __attribute__((always_inline))

#ifndef WEIGHT_AHEAD
#define WEIGHT_AHEAD 1024
#endif

/* NB, ROWS and NPR are constants in every instantiation below, so the
 * sums stay in registers (28 of the 32 at most: with four blocks by seven
 * pixels one sum spilled to the stack and the tile ran at 68% of peak) and
 * the loops over them unroll. Pixel p of the tile is pixel p % NPR of row
 * p / NPR: two rows of a 7-wide map make one 14-pixel tile. */
INLINE void tile(const nn_bconv_tile *t, const int NB, const int ROWS, const int NPR) {
    enum { MAX_P = 14 };
    const int NP = ROWS * NPR;
    __m512 acc[2][MAX_P];
    UNROLL for (int b = 0; b < NB; b++) UNROLL for (int p = 0; p < NP; p++) acc[b][p] = _mm512_setzero_ps();
    const float *w = t->w;
    const int k = t->k;
    const size_t in_row = t->in_row;
    /* The next group's weights go to L2 while this tile computes: at
     * layer4's sizes each group is read from memory once, and without this
     * the first tile of every group waited for it. */
    const char *pf = t->pf;
    int pf_left = t->pf_lines, steps = t->cblocks * k * k, pf_step = (pf_left + steps - 1) / steps;
    for (int cb = 0; cb < t->cblocks; cb++) {
        const float *plane = t->in + (size_t)cb * t->in_plane;
        for (int kh = 0; kh < k; kh++) {
            const float *row = plane + (size_t)kh * in_row;
            for (int kw = 0; kw < k; kw++) {
                const float *px = row + kw * 16;
                for (int l = 0; l < pf_step && pf_left > 0; l++, pf_left--, pf += 64) _mm_prefetch(pf, _MM_HINT_T1);
                for (int i = 0; i < 16; i++) {
                    __m512 wv[2];
                    UNROLL for (int b = 0; b < NB; b++) {
                        wv[b] = _mm512_load_ps(w + b * 16);
                        /* (address arithmetic on integers: near the end of the
                         * packed weights it runs past them, and a prefetch
                         * there is harmless where such a pointer would not be) */
                        _mm_prefetch((const char *)((uintptr_t)w + (WEIGHT_AHEAD + b * 16) * sizeof(float)),
                                     _MM_HINT_T0);
                    }
                    UNROLL for (int p = 0; p < NP; p++) {
                        __m512 x = _mm512_set1_ps(px[(p / NPR) * in_row + (p % NPR) * 16 + i]);
                        UNROLL for (int b = 0; b < NB; b++) acc[b][p] = _mm512_fmadd_ps(wv[b], x, acc[b][p]);
                    }
                    w += NB * 16;
                }
            }
        }
    }
    const __m512 zero = _mm512_setzero_ps();
    UNROLL for (int b = 0; b < NB; b++) {
        __m512 scale = _mm512_loadu_ps(t->scale + b * 16), shift = _mm512_loadu_ps(t->shift + b * 16);
        float *out = t->out + (size_t)b * t->out_plane;
        const float *res = t->residual ? t->residual + (size_t)b * t->res_plane : NULL;
        UNROLL for (int p = 0; p < NP; p++) {
            size_t o = (size_t)(p / NPR) * t->out_row + (size_t)(p % NPR) * 16;
            __m512 v = _mm512_fmadd_ps(acc[b][p], scale, shift);
            if (res) v = _mm512_add_ps(v, _mm512_load_ps(res + (size_t)(p / NPR) * t->res_row + (size_t)(p % NPR) * 16));
            if (t->relu) v = _mm512_max_ps(v, zero);
            _mm512_store_ps(out + o, v);
        }
    }
}

#define TILE_FN(NB, ROWS, NPR) \
    static void tile_##NB##_##ROWS##_##NPR(const nn_bconv_tile *t) { tile(t, NB, ROWS, NPR); }
#define TILE_ONE_ROW(NB) TILE_FN(NB, 1, 1) TILE_FN(NB, 1, 2) TILE_FN(NB, 1, 3) TILE_FN(NB, 1, 4) TILE_FN(NB, 1, 5) \
    TILE_FN(NB, 1, 6) TILE_FN(NB, 1, 7) TILE_FN(NB, 1, 8) TILE_FN(NB, 1, 9) TILE_FN(NB, 1, 10) TILE_FN(NB, 1, 11) \
    TILE_FN(NB, 1, 12) TILE_FN(NB, 1, 13) TILE_FN(NB, 1, 14)
#define TILE_TWO_ROWS(NB) TILE_FN(NB, 2, 1) TILE_FN(NB, 2, 2) TILE_FN(NB, 2, 3) TILE_FN(NB, 2, 4) TILE_FN(NB, 2, 5) \
    TILE_FN(NB, 2, 6) TILE_FN(NB, 2, 7)
TILE_ONE_ROW(1)
TILE_ONE_ROW(2)
TILE_TWO_ROWS(1)
TILE_TWO_ROWS(2)

typedef void (*tile_fn)(const nn_bconv_tile *t);
#define ONE_ROW(NB) {tile_##NB##_1_1, tile_##NB##_1_2, tile_##NB##_1_3, tile_##NB##_1_4, tile_##NB##_1_5, \
                     tile_##NB##_1_6, tile_##NB##_1_7, tile_##NB##_1_8, tile_##NB##_1_9, tile_##NB##_1_10, \
                     tile_##NB##_1_11, tile_##NB##_1_12, tile_##NB##_1_13, tile_##NB##_1_14}
#define TWO_ROWS(NB) {tile_##NB##_2_1, tile_##NB##_2_2, tile_##NB##_2_3, tile_##NB##_2_4, tile_##NB##_2_5, \
                      tile_##NB##_2_6, tile_##NB##_2_7}
static const tile_fn ONE[2][14] = {ONE_ROW(1), ONE_ROW(2)};
static const tile_fn TWO[2][7] = {TWO_ROWS(1), TWO_ROWS(2)};

void nn_bconv_tile_avx512(const nn_bconv_tile *t, int nb, int rows, int npr) {
    if (rows == 2)
        TWO[nb - 1][npr - 1](t);
    else
        ONE[nb - 1][npr - 1](t);
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
