/* AMX kernels for the reduced-precision products: a 32 x 32 block as four
 * 16 x 16 accumulator tiles (tmm0-3), two A tiles straight from the
 * quantised rows (tmm4-5, 16 rows x 64 bytes) and the panel's two
 * sub-tiles (tmm6-7) per K block: tdpbf16ps (bf16 pairs, float32 sums) or
 * tdpbusd (u8 x s8 quads, int32 sums). One tile product is 16 x 16 x 32
 * (or x 64) multiply-adds: about 16 times the rate of vfmadd on Sapphire
 * Rapids. A task configures the tiles once (begin) and releases them at
 * the end; the OS grants the tile state once per process (qdispatch.c). */
#include <immintrin.h>
#include <stdint.h>

#include "nn/qkernels.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("amx-tile,amx-bf16,amx-int8,avx512f"))), apply_to = function)
#else
#pragma GCC target("amx-tile,amx-bf16,amx-int8,avx512f")
#endif

typedef struct tile_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* Eight tiles of 16 rows x 64 bytes. A static object: gcc 12 drops the
 * stores to a local one, as it does not see ldtilecfg read all of it. */
static const tile_config config = {.palette = 1,
                                   .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
                                   .rows = {16, 16, 16, 16, 16, 16, 16, 16}};

static void begin(void) { _tile_loadconfig(&config); }

static void end(void) { _tile_release(); }

static void prefetch_part(const nn_qblock_args *a, int part, int count) {
    if (!a->pf) return;
    size_t lines = (a->pf_bytes + 63) / 64, l0 = lines * part / count, l1 = lines * (part + 1) / count;
    for (size_t l = l0; l < l1; l++) _mm_prefetch((const char *)a->pf + l * 64, _MM_HINT_T1);
}

/* Stores the sums: tmm0/1 rows 0-15, tmm2/3 rows 16-31 ([32][32], 128-byte rows). */
#define STORE_ACC(acc, two)                                                   \
    do {                                                                      \
        _tile_stored(0, (acc), 128);                                          \
        _tile_stored(1, (acc) + 16, 128);                                     \
        if (two) {                                                            \
            _tile_stored(2, (acc) + 16 * NN_Q_NR, 128);                       \
            _tile_stored(3, (acc) + 16 * NN_Q_NR + 16, 128);                  \
        }                                                                     \
    } while (0)

/* One 32 x 32 block over Kpad, K in steps of `kstep` elements (64 bytes of
 * a row): bf16 pairs with tdpbf16ps (float sums) or u8 x s8 quads with
 * tdpbusd (int32 sums). The tile numbers are immediates, hence a macro. */
#define AMX_BLOCK(name, kstep, dot, acc_type)                                 \
    static void name(const nn_qblock_args *a) {                               \
        int kblocks = a->Kpad / (kstep), two = a->rows > 16;                  \
        const uint8_t *A0 = a->A, *A1 = a->A + 16 * a->lda;                   \
        _tile_zero(0);                                                        \
        _tile_zero(1);                                                        \
        _tile_zero(2);                                                        \
        _tile_zero(3);                                                        \
        for (int kb = 0; kb < kblocks; kb++) {                                \
            prefetch_part(a, kb, kblocks);                                    \
            const uint8_t *b = a->B + (size_t)kb * 2 * NN_Q_SUBTILE_BYTES;    \
            _tile_loadd(6, b, 64);                                            \
            _tile_loadd(7, b + NN_Q_SUBTILE_BYTES, 64);                       \
            _tile_loadd(4, A0 + kb * 64, a->lda);                             \
            dot(0, 4, 6);                                                     \
            dot(1, 4, 7);                                                     \
            if (two) {                                                        \
                _tile_loadd(5, A1 + kb * 64, a->lda);                         \
                dot(2, 5, 6);                                                 \
                dot(3, 5, 7);                                                 \
            }                                                                 \
        }                                                                     \
        acc_type *acc = a->acc;                                               \
        STORE_ACC(acc, two);                                                  \
    }

AMX_BLOCK(bf16_block, 32, _tile_dpbf16ps, float)
AMX_BLOCK(int8_block, 64, _tile_dpbusd, int32_t)

const nn_qkernels nn_qkernels_amx = {"amx", bf16_block, int8_block, nn_q_to_bf16_avx512, nn_q_to_u8_avx512,
                                     begin, end, nn_q_pairs_to_bf16_avx512, nn_q_gather_columns_avx512};

#if defined(__clang__)
#pragma clang attribute pop
#endif
