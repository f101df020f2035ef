/* Pillow's per-mode pixel conversions (libImaging/Convert.c) that CLIP's
 * preprocessing meets: premultiplying alpha around a resize and
 * convert("RGB"). */
#ifndef CLIP_IMAGE_CONVERT_H
#define CLIP_IMAGE_CONVERT_H
#include <stdint.h>

#include "image/image_internal.h"

/* RGBA -> RGBa, LA -> La (colour scaled by alpha/255, rounded as PIL). */
void convert_premultiply_row(img_mode mode, const uint8_t *in, int n, uint8_t *out);
/* RGBa -> RGBA, La -> LA, in place. */
void convert_unpremultiply_row(img_mode mode, uint8_t *row, int n);
/* `n` pixels of `mode` to packed 8-bit RGB (alpha dropped, palette
 * expanded, L replicated, I clipped, 1 -> 0/255, CMYK as Pillow). */
void convert_row_to_rgb(img_mode mode, const uint8_t (*palette)[3], const uint8_t *in, int n, uint8_t *out);

#endif
