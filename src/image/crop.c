/* Regions and whole-image RGB, for the applications (detection windows,
 * drawing results) rather than for CLIP's own preprocessing. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "image/convert.h"
#include "image/image_internal.h"

clip_status clip_image_crop(const clip_image *img, int x, int y, int w, int h, clip_image **out) {
    *out = NULL;
    clip_status whole = img_require_whole(img, "crop");
    if (whole != CLIP_OK) return whole;
    if (!img || w <= 0 || h <= 0 || x < 0 || y < 0 || x > img->width - w || y > img->height - h)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "crop (%d, %d, %d x %d) does not lie inside the %d x %d image", x,
                         y, w, h, img ? img->width : 0, img ? img->height : 0);
    clip_image *crop;
    clip_status st = img_create(img->mode, w, h, 0, "crop", &crop);
    if (st != CLIP_OK) return st;
    memcpy(crop->palette, img->palette, sizeof crop->palette);
    for (int row = 0; row < h; row++)
        memcpy(img_row(crop, row), img_row(img, y + row) + (size_t)x * img->bpp, (size_t)w * img->bpp);
    *out = crop;
    return CLIP_OK;
}

clip_status clip_image_to_rgb(const clip_image *img, uint8_t **rgb) {
    *rgb = NULL;
    if (!img) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_image_to_rgb: no image");
    clip_status whole = img_require_whole(img, "clip_image_to_rgb");
    if (whole != CLIP_OK) return whole;
    uint8_t *out = malloc((size_t)img->width * img->height * 3);
    if (!out) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory converting a %d x %d image", img->width, img->height);
    for (int row = 0; row < img->height; row++)
        convert_row_to_rgb(img->mode, (const uint8_t(*)[3])img->palette, img_row(img, row), img->width,
                           out + (size_t)row * img->width * 3);
    *rgb = out;
    return CLIP_OK;
}
