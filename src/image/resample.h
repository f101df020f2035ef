/* Pillow's Image.resize, bit for bit: separable antialiased bicubic
 * (libImaging/Resample.c) for 8-bit and int32 samples, and the NEAREST
 * affine scaler (libImaging/Geometry.c) Pillow forces for "P" and "1".
 *
 * Every function computes a window of the full-size result: output pixel
 * (x, y) of the window is pixel (x0 + x, y0 + y) of the image Pillow would
 * produce at out_w x out_h. Each output pixel depends only on its own
 * coefficients, so a window is exactly a crop of the full result. */
#ifndef CLIP_IMAGE_RESAMPLE_H
#define CLIP_IMAGE_RESAMPLE_H
#include <stddef.h>
#include <stdint.h>

#include "clip.h"

typedef struct resample_window {
    int out_w, out_h; /* full resized size */
    int x0, y0, w, h; /* the part to compute */
} resample_window;

/* Receives row y (0-based, top of the window first) of the result; it
 * may modify the row, which is only valid during the call. */
typedef void (*resample_sink)(void *ctx, int y, uint8_t *row);

/* 8-bit interleaved samples, `channels` of them per pixel (1, 2 or 4). */
clip_status resample_bicubic_u8(const uint8_t *src, size_t src_stride, int src_w, int src_h,
                                int channels, const resample_window *win, resample_sink sink, void *ctx);

/* Part of a source image: `pixels` hold the w x h pixels from (x0, y0) on
 * of a full_w x full_h image (a JPEG decoded only where a crop needs it). */
typedef struct resample_part {
    const uint8_t *pixels;
    size_t stride;
    int full_w, full_h, x0, y0, w, h;
} resample_part;
/* resample_bicubic_u8 of the full image, reading only `part`; fails with
 * CLIP_ERR_INVALID_ARGUMENT when the window needs pixels outside it. */
clip_status resample_bicubic_u8_part(const resample_part *part, int channels, const resample_window *win,
                                     resample_sink sink, void *ctx);
/* Source positions [*lo, *hi) that outputs [first, first + count) of an
 * in_size -> out_size bicubic resize read ([first, first + count) itself
 * when the sizes are equal: that axis is copied). */
void resample_source_span(int in_size, int out_size, int first, int count, int *lo, int *hi);
/* Mode "I": int32 samples, double weights, each pass rounds to int32. */
clip_status resample_bicubic_i32(const uint8_t *src, size_t src_stride, int src_w, int src_h,
                                 const resample_window *win, resample_sink sink, void *ctx);
/* Nearest neighbour on pixels of `bpp` bytes. */
clip_status resample_nearest(const uint8_t *src, size_t src_stride, int src_w, int src_h, int bpp,
                             const resample_window *win, resample_sink sink, void *ctx);

/* A sink that stores rows of `row_bytes` into `dst`, `stride` apart. */
typedef struct resample_buffer {
    uint8_t *dst;
    size_t stride, row_bytes;
} resample_buffer;
void resample_sink_buffer(void *ctx, int y, uint8_t *row);

/* Vector kernels are used when the CPU has them; tests switch them off
 * to check that both paths agree. Returns the previous setting. */
int resample_set_simd(int enabled);
/* Whether vector kernels are in use now. */
int resample_simd_active(void);

#endif
