/* EXIF orientation: a bounded read of IFD0's Orientation tag and the
 * transposes ImageOps.exif_transpose applies for it. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "image/image_internal.h"

enum { EXIF_TAG_ORIENTATION = 0x0112, EXIF_TYPE_SHORT = 3, EXIF_MAX_ENTRIES = 1024 };

static unsigned read16(const uint8_t *p, int big) {
    return big ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static uint32_t read32(const uint8_t *p, int big) {
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int exif_orientation(const uint8_t *tiff, size_t size) {
    if (!tiff || size < 8) return 1;
    int big;
    if (tiff[0] == 'I' && tiff[1] == 'I') big = 0;
    else if (tiff[0] == 'M' && tiff[1] == 'M') big = 1;
    else return 1;
    if (read16(tiff + 2, big) != 42) return 1;
    uint32_t ifd = read32(tiff + 4, big);
    if (ifd > size - 2) return 1;
    unsigned count = read16(tiff + ifd, big);
    if (count > EXIF_MAX_ENTRIES) return 1;
    for (unsigned i = 0; i < count; i++) {
        uint64_t entry = (uint64_t)ifd + 2 + (uint64_t)i * 12;
        if (entry + 12 > size) return 1;
        const uint8_t *e = tiff + entry;
        if (read16(e, big) != EXIF_TAG_ORIENTATION) continue;
        if (read16(e + 2, big) != EXIF_TYPE_SHORT || read32(e + 4, big) < 1) return 1;
        unsigned v = read16(e + 8, big);
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

clip_status img_apply_orientation(clip_image **imgp, int orientation) {
    clip_image *src = *imgp;
    if (orientation < 2 || orientation > 8) return CLIP_OK;
    /* 5..8 swap the axes (PIL's TRANSPOSE, ROTATE_270, TRANSVERSE, ROTATE_90). */
    int swap = orientation >= 5;
    int w = src->width, h = src->height;
    int ow = swap ? h : w, oh = swap ? w : h;
    clip_image *dst;
    clip_status st = img_create(src->mode, ow, oh, UINT64_MAX, "EXIF transpose", &dst);
    if (st != CLIP_OK) return st;
    memcpy(dst->palette, src->palette, sizeof dst->palette);
    size_t bpp = (size_t)src->bpp;
    for (int y = 0; y < oh; y++) {
        uint8_t *out = img_row(dst, y);
        for (int x = 0; x < ow; x++, out += bpp) {
            int sx, sy;
            switch (orientation) {
            case 2: sx = w - 1 - x; sy = y; break;          /* FLIP_LEFT_RIGHT */
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;  /* ROTATE_180 */
            case 4: sx = x; sy = h - 1 - y; break;          /* FLIP_TOP_BOTTOM */
            case 5: sx = y; sy = x; break;                  /* TRANSPOSE */
            case 6: sx = y; sy = h - 1 - x; break;          /* ROTATE_270 (clockwise) */
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;  /* TRANSVERSE */
            default: sx = w - 1 - y; sy = x; break;         /* 8: ROTATE_90 */
            }
            memcpy(out, img_row(src, sy) + (size_t)sx * bpp, bpp);
        }
    }
    clip_image_free(src);
    *imgp = dst;
    return CLIP_OK;
}
