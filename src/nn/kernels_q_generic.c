/* Portable reduced-precision kernels: plain loops over the packed layout
 * (qkernels.h). The reference the vector versions are tested against and
 * the fallback where the CPU has neither AMX nor AVX512-BF16/VNNI (slow:
 * such a CPU is better served by float32). */
#include <math.h>
#include <string.h>

#include "nn/qkernels.h"

void nn_q_to_bf16_ref(const float *x, int n, uint16_t *out) {
    for (int i = 0; i < n; i++) out[i] = nn_bf16_from_f32(x[i]);
}

void nn_q_pairs_to_bf16_ref(const float *r0, const float *r1, int n, uint16_t *out) {
    for (int i = 0; i < 16; i++) {
        out[2 * i] = i < n ? nn_bf16_from_f32(r0[i]) : 0;
        out[2 * i + 1] = i < n && r1 ? nn_bf16_from_f32(r1[i]) : 0;
    }
}

void nn_q_gather_columns_ref(const float *At, int lda, int K, int n, float *out, float *sums) {
    double acc[16] = {0};
    for (int k = 0; k < K; k++)
        for (int r = 0; r < n; r++) {
            out[(size_t)r * K + k] = At[(size_t)k * lda + r];
            acc[r] += At[(size_t)k * lda + r];
        }
    if (sums)
        for (int r = 0; r < n; r++) sums[r] += (float)acc[r];
}

float nn_q_to_u8_ref(const float *x, int n, uint8_t *out) {
    float max = 0;
    for (int i = 0; i < n; i++) max = fmaxf(max, fabsf(x[i]));
    float inv = max > 0 ? 127.0f / max : 0.0f;
    for (int i = 0; i < n; i++) {
        float r = nearbyintf(x[i] * inv);
        out[i] = (uint8_t)((r > 127 ? 127 : r < -127 ? -127 : (int)r) + 128);
    }
    return max / 127.0f;
}

static void bf16_block(const nn_qblock_args *a) {
    float *acc = a->acc;
    memset(acc, 0, sizeof(float) * NN_Q_ROWS * NN_Q_NR);
    for (int i = 0; i < a->rows; i++) {
        const uint16_t *row = (const uint16_t *)(a->A + (size_t)i * a->lda);
        float *c = acc + i * NN_Q_NR;
        for (int k0 = 0; k0 < a->Kpad; k0 += 32)
            for (int h = 0; h < 2; h++) {
                const uint16_t *b = (const uint16_t *)(a->B + ((size_t)k0 / 32 * 2 + h) * NN_Q_SUBTILE_BYTES);
                for (int r = 0; r < 16; r++, b += 32) {
                    float a0 = nn_f32_from_bf16(row[k0 + 2 * r]), a1 = nn_f32_from_bf16(row[k0 + 2 * r + 1]);
                    for (int j = 0; j < 16; j++)
                        c[h * 16 + j] += a0 * nn_f32_from_bf16(b[2 * j]) + a1 * nn_f32_from_bf16(b[2 * j + 1]);
                }
            }
    }
}

static void int8_block(const nn_qblock_args *a) {
    int32_t *acc = a->acc;
    memset(acc, 0, sizeof(int32_t) * NN_Q_ROWS * NN_Q_NR);
    for (int i = 0; i < a->rows; i++) {
        const uint8_t *row = a->A + (size_t)i * a->lda;
        int32_t *c = acc + i * NN_Q_NR;
        for (int k0 = 0; k0 < a->Kpad; k0 += 64)
            for (int h = 0; h < 2; h++) {
                const int8_t *b = (const int8_t *)(a->B + ((size_t)k0 / 64 * 2 + h) * NN_Q_SUBTILE_BYTES);
                for (int r = 0; r < 16; r++, b += 64) {
                    const uint8_t *x = row + k0 + 4 * r;
                    for (int j = 0; j < 16; j++)
                        c[h * 16 + j] += x[0] * b[4 * j] + x[1] * b[4 * j + 1] + x[2] * b[4 * j + 2] +
                                         x[3] * b[4 * j + 3];
                }
            }
    }
}

const nn_qkernels nn_qkernels_generic = {"generic", bf16_block, int8_block, nn_q_to_bf16_ref, nn_q_to_u8_ref,
                                         NULL, NULL, nn_q_pairs_to_bf16_ref, nn_q_gather_columns_ref};
