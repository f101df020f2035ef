/* The decoded image as PIL holds it: a mode and its samples. Everything in
 * src/image shares this layout; nothing outside does. */
#ifndef CLIP_IMAGE_INTERNAL_H
#define CLIP_IMAGE_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include "clip.h"

typedef enum img_mode {
    IMG_1,    /* bilevel, one byte per pixel holding 0 or 255 */
    IMG_L,    /* 8-bit grey */
    IMG_P,    /* 8-bit palette index */
    IMG_LA,   /* grey + alpha, two bytes */
    IMG_RGB,  /* stored as RGBX (4 bytes, X = 255) like PIL, so the
                 resampler works on aligned 4-byte pixels */
    IMG_RGBA, /* straight (not premultiplied) alpha */
    IMG_CMYK, /* not inverted: 0 = no ink (PIL convention) */
    IMG_I,    /* int32 samples */
} img_mode;

struct clip_image {
    img_mode mode;
    int width, height;
    int channels;    /* stored samples per pixel: 1, 2 or 4 */
    int bpp;         /* bytes per pixel (channels, or 4 for IMG_I) */
    size_t stride;   /* bytes per row = width * bpp */
    uint8_t *pixels; /* height rows of `stride` bytes; int32 for IMG_I */
    uint8_t palette[256][3];
    /* Non-zero for a JPEG decoded for one centre crop (fast_decode_crop):
     * `pixels` then hold the width x height pixels from (part_x, part_y) on
     * of a full_width x full_height image, and only CLIP_RESIZE_SHORTEST
     * preprocessing at crop_size may read it. */
    int crop_size;
    int full_width, full_height, part_x, part_y;
};

int img_mode_bytes_per_pixel(img_mode mode);
int img_mode_channels(img_mode mode);
const char *img_mode_name(img_mode mode);

/* Allocates an image with uninitialised pixels after checking
 * width * height against `max_pixels` (0 = default). `label` names the
 * source in the error. Palette entries start as PIL's grey ramp. */
clip_status img_create(img_mode mode, int width, int height, uint64_t max_pixels,
                       const char *label, clip_image **out);
/* Fails with CLIP_ERR_LIMIT naming `label` when the size is refused. */
clip_status img_check_size(int64_t width, int64_t height, uint64_t max_pixels,
                           const char *label, const char *format);
/* Fails with CLIP_ERR_INVALID_ARGUMENT, naming `what`, for an image that
 * holds only the part one centre crop needs. */
clip_status img_require_whole(const clip_image *img, const char *what);
/* The source pixels [x_lo, x_hi) x [y_lo, y_hi) that CLIP_RESIZE_SHORTEST
 * preprocessing at `size` reads from a width x height image. */
clip_status preprocess_source_span(int width, int height, int size, int *x_lo, int *x_hi, int *y_lo, int *y_hi);
static inline uint8_t *img_row(const clip_image *img, int y) {
    return img->pixels + (size_t)y * img->stride;
}

/* Decoders: `data`/`size` is the whole file, `label` the name used in
 * errors. Each returns the image in its PIL mode. */
clip_status decode_jpeg(const uint8_t *data, size_t size, const char *label,
                        const clip_image_options *opts, clip_image **out);
clip_status decode_png(const uint8_t *data, size_t size, const char *label,
                       const clip_image_options *opts, clip_image **out);
clip_status decode_webp(const uint8_t *data, size_t size, const char *label,
                        const clip_image_options *opts, clip_image **out);
clip_status decode_bmp(const uint8_t *data, size_t size, const char *label,
                       const clip_image_options *opts, clip_image **out);
clip_status decode_gif(const uint8_t *data, size_t size, const char *label,
                       const clip_image_options *opts, clip_image **out);

/* EXIF orientation (1..8) from a TIFF-structured Exif blob (starting at
 * the byte-order mark), or 1 when absent or malformed. */
int exif_orientation(const uint8_t *tiff, size_t size);
/* Applies ImageOps.exif_transpose's transform for `orientation`; replaces
 * *img on success. */
clip_status img_apply_orientation(clip_image **img, int orientation);

#endif
