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
 * 16-bit multiply-adds, two rows at a time. Each 22-bit
 * coefficient k is split exactly as k = 256 * (k >> 8) + (k & 255); both
 * parts fit int16 (|k| <= 2^22 since the weights are at most 1). `kexp`
 * holds per output column ceil(count/4) groups of 32 int16: the high parts
 * {h0,h1} x4, {h2,h3} x4, then the low parts likewise; taps past the
 * count are zero. `src_w` bounds each row so loads never pass its end;
 * `scratch` has resample_h4_scratch_bytes(src_w, w) bytes. */
size_t resample_h4_scratch_bytes(int src_w, int w);
void resample_h4_avx2(const uint8_t *const *src, uint8_t *const *dst, int rows, int src_w, int w,
                      const int *bounds, const int16_t *kexp, int kexp_stride, void *scratch);
/* Paired rows for the vertical pass: the horizontal pass of source rows
 * 2m and 2m+1 (row1 may be NULL past the image's end: zeros) stored as
 * int32 lanes (row0 byte) | (row1 byte) << 16, one per byte position, so
 * the vertical pass multiplies two taps at once with 16-bit multiply-adds. */
void resample_h4_pair_avx2(const uint8_t *row0, const uint8_t *row1, int src_w, int w, const int *bounds,
                           const int16_t *kexp, int kexp_stride, void *scratch, int32_t *pair);
/* One output row from `n` paired rows; khi/klo hold per pair the split
 * coefficients of its two rows as int16 halves of an int32 (high parts
 * k >> 8, low parts k & 255; zero for a row outside the taps). */
void resample_vpairs_avx2(const int32_t *const *pairs, int n, const int32_t *khi, const int32_t *klo,
                          size_t nbytes, uint8_t *out);
/* One output row of the vertical pass from its `n` source rows. */
void resample_vrow_avx2(const uint8_t *const *rows, int n, const int32_t *k, size_t nbytes, uint8_t *out);
int resample_cpu_has_avx2(void);
/* First n pixels of an RGBX/RGBA row through the per-channel tables
 * (256 floats each) into three planes: the same floats as the scalar loop,
 * eight pixels per table gather. Returns how many pixels it did (a
 * multiple of 8); the caller finishes the rest. */
int resample_planes_avx2(const uint8_t *px, int n, const float *lr, const float *lg, const float *lb, float *r,
                         float *g, float *b);

#endif
