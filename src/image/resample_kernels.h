/* Inner loops of the 8-bit bicubic passes, shared by the portable and the
 * AVX2 versions. All arithmetic is exact integer arithmetic, so every
 * version produces the same bytes.
 *
 * Horizontal: for each of `rows` rows and each output column i < w,
 *   out = clip8((1 << 21) + sum_x in[bounds[2i] + x] * k[i * kstride + x])
 * Vertical: for each output row i < h and each byte j < nbytes,
 *   out = clip8((1 << 21) + sum_y in[bounds[2i] + y][j] * k[i * kstride + y]) */
#ifndef CLIP_IMAGE_RESAMPLE_KERNELS_H
#define CLIP_IMAGE_RESAMPLE_KERNELS_H
#include <stddef.h>
#include <stdint.h>

enum { RESAMPLE_PRECISION_BITS = 32 - 8 - 2 };

static inline uint8_t resample_clip8(int32_t ss) {
    if (ss <= 0) return 0;
    if (ss >= (int32_t)(255 << RESAMPLE_PRECISION_BITS)) return 255;
    return (uint8_t)(ss >> RESAMPLE_PRECISION_BITS);
}

/* 4-channel horizontal pass over `rows` rows (src[r] -> dst[r]) with
 * 16-bit multiply-adds on a widened copy of each row. Each 22-bit
 * coefficient k is split exactly as k = 256 * (k >> 8) + (k & 255); both
 * parts fit int16 (|k| <= 2^22 since the weights are at most 1). `kexp`
 * holds per output column ceil(count/4) groups of 32 int16: the high parts
 * {h0,h1} x4, {h2,h3} x4, then the low parts likewise; taps past the
 * count are zero. `scratch` has resample_h4_scratch_bytes(src_w, w). */
size_t resample_h4_scratch_bytes(int src_w, int w);
void resample_h4_avx2(const uint8_t *const *src, uint8_t *const *dst, int rows, int src_w, int w,
                      const int *bounds, const int16_t *kexp, int kexp_stride, void *scratch);
/* One output row of the vertical pass from its `n` source rows. */
void resample_vrow_avx2(const uint8_t *const *rows, int n, const int32_t *k, size_t nbytes, uint8_t *out);
int resample_cpu_has_avx2(void);

#endif
