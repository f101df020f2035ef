/* PNG through libpng, mapped to the modes Pillow's PngImagePlugin opens:
 * grey 1-bit -> "1", 2/4/8-bit -> "L" (scaled like PIL's L;2/L;4),
 * 16-bit -> "I"; palette -> "P" (indices kept, tRNS ignored as convert
 * ("RGB") ignores it); grey+alpha 8-bit -> "LA", 16-bit -> "RGBA";
 * RGB(A) 16-bit keeps the high byte. No gamma or colour management, like
 * Pillow. Chunks after the image data may be missing or damaged: Pillow
 * stops reading there, and so do we. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <zlib.h>

#include "core/error.h"
#include "image/image_internal.h"

typedef struct png_source {
    const uint8_t *data;
    size_t size, pos;
    jmp_buf jump;
    int truncated;
    char message[256];
} png_source;

static void on_png_error(png_structp png, png_const_charp msg) {
    png_source *src = png_get_error_ptr(png);
    snprintf(src->message, sizeof src->message, "%s", msg);
    longjmp(src->jump, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void read_from_memory(png_structp png, png_bytep out, size_t n) {
    png_source *src = png_get_io_ptr(png);
    if (n > src->size - src->pos) {
        src->truncated = 1;
        png_error(png, "unexpected end of file");
    }
    memcpy(out, src->data + src->pos, n);
    src->pos += n;
}

static int png_mode(int color_type, int bit_depth, img_mode *mode) {
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
        *mode = bit_depth == 1 ? IMG_1 : bit_depth == 16 ? IMG_I : IMG_L;
        return 0;
    case PNG_COLOR_TYPE_GRAY_ALPHA: *mode = bit_depth == 16 ? IMG_RGBA : IMG_LA; return 0;
    case PNG_COLOR_TYPE_RGB: *mode = IMG_RGB; return 0;
    case PNG_COLOR_TYPE_RGB_ALPHA: *mode = IMG_RGBA; return 0;
    case PNG_COLOR_TYPE_PALETTE: *mode = IMG_P; return 0;
    default: return -1;
    }
}

static int png_exif_orientation(png_structp png, png_infop info) {
    png_uint_32 n = 0;
    png_bytep exif = NULL;
    if (png_get_eXIf_1(png, info, &n, &exif) == 0 || !exif) return 1;
    return exif_orientation(exif, n);
}

/* 16-bit grey arrives big-endian, two bytes per pixel, at the start of each
 * int32 row; widen from the right so nothing is overwritten before use. */
static void widen_grey16(clip_image *img) {
    for (int y = 0; y < img->height; y++) {
        uint8_t *row = img_row(img, y);
        int32_t *dst = (int32_t *)row;
        for (int x = img->width - 1; x >= 0; x--) dst[x] = (int32_t)row[2 * x] << 8 | row[2 * x + 1];
    }
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Pillow reads a PNG only as far as the image data and never checks IDAT
 * CRCs, so a file cut anywhere after the last IDAT's data still opens
 * there. libpng wants the CRC and IEND, so such a file is given them: the
 * chunks up to the end of that data, its CRC and an IEND. Returns NULL
 * (nothing to repair) or a malloc'd copy. A cut inside image data is left
 * alone and fails as truncated in libpng, as in Pillow. */
static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint8_t *repair_cut_tail(const uint8_t *data, size_t size, size_t *repaired_size) {
    static const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
    size_t pos = 8, keep;
    int seen_idat = 0;
    size_t idat_start = 0; /* set when the cut falls inside an IDAT */
    for (;;) {
        if (size - pos < 12) {
            /* The cut falls between chunks or inside a chunk header. */
            if (!seen_idat) return NULL;
            keep = pos;
            break;
        }
        uint32_t len = be32(data + pos);
        int is_idat = memcmp(data + pos + 4, "IDAT", 4) == 0;
        if (memcmp(data + pos + 4, "IEND", 4) == 0) return NULL; /* not cut */
        if ((uint64_t)len + 12 > size - pos) {
            if (is_idat) {
                /* Keep whatever part of its data arrived; zlib decides
                 * whether the rows are complete, as in Pillow. */
                idat_start = pos;
                keep = size - pos - 8 < len ? size : pos + 8 + len;
            } else if (!is_idat && seen_idat) {
                keep = pos;
            } else {
                return NULL; /* cut inside the image data: truly truncated */
            }
            break;
        }
        seen_idat |= is_idat;
        pos += 12 + (size_t)len;
    }
    uint8_t *copy = malloc(keep + 4 + sizeof iend);
    if (!copy) return NULL;
    memcpy(copy, data, keep);
    size_t n = keep;
    if (idat_start) {
        put_be32(copy + idat_start, (uint32_t)(keep - idat_start - 8));
        uint32_t crc = (uint32_t)crc32(0, copy + idat_start + 4, (uInt)(keep - idat_start - 4));
        put_be32(copy + n, crc);
        n += 4;
    }
    memcpy(copy + n, iend, sizeof iend);
    *repaired_size = n + sizeof iend;
    return copy;
}

static clip_status decode_buffer(const uint8_t *data, size_t size, const char *label,
                                 const clip_image_options *opts, clip_image **out, int *truncated) {
    *out = NULL;
    /* IHDR must come first; checking its size here refuses a bomb before
     * libpng reads (and allocates for) any other chunk. */
    if (size >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        uint32_t w = be32(data + 16), h = be32(data + 20);
        if (w && h) {
            clip_status st = img_check_size(w, h, opts->max_pixels, label, "PNG");
            if (st != CLIP_OK) return st;
        }
    }
    png_source src;
    memset(&src, 0, sizeof src);
    src.data = data;
    src.size = size;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory creating the PNG reader", label);
    }
    /* volatile: these change between setjmp and a possible longjmp. */
    clip_image *volatile img = NULL;
    png_bytep *volatile rows = NULL;
    volatile int image_complete = 0;
    volatile int orientation = 1;
    *out = NULL;

    if (setjmp(src.jump)) {
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        if (image_complete) goto finished;
        clip_image_free(img);
        *truncated = src.truncated;
        if (src.truncated) return clip_fail(CLIP_ERR_IMAGE, "%s: truncated PNG (%s)", label, src.message);
        return clip_fail(CLIP_ERR_IMAGE, "%s: corrupt PNG: %s", label, src.message);
    }
    png_set_read_fn(png, &src, read_from_memory);
    /* Our max_pixels check is the only size limit, as in Pillow. */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);
    if (opts->exif_rotate) orientation = png_exif_orientation(png, info);

    png_uint_32 width, height;
    int bit_depth, color_type, interlace;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    img_mode mode;
    if (png_mode(color_type, bit_depth, &mode) != 0) {
        png_destroy_read_struct(&png, &info, NULL);
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: PNG colour type %d is not supported", label, color_type);
    }
    clip_image *created = NULL;
    clip_status st;
    st = img_create(mode, (int)(width > 0x7fffffff ? 0 : width),
                                (int)(height > 0x7fffffff ? 0 : height), opts->max_pixels, label, &created);
    if (st != CLIP_OK) {
        png_destroy_read_struct(&png, &info, NULL);
        return st;
    }
    img = created;

    if (bit_depth == 16 && mode != IMG_I) png_set_strip_16(png); /* keeps the high byte */
    if (bit_depth < 8) {
        if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_packing(png);
        else png_set_expand_gray_1_2_4_to_8(png); /* 1-bit -> 0/255, like PIL's "1" */
    }
    if (color_type == PNG_COLOR_TYPE_GRAY_ALPHA && bit_depth == 16) png_set_gray_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_RGB) png_set_filler(png, 0xFF, PNG_FILLER_AFTER);
    if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    size_t expected = mode == IMG_I ? (size_t)width * 2 : img->stride;
    if (rowbytes != expected) png_error(png, "unexpected row layout after transformations");

    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_colorp palette;
        int count = 0;
        if (png_get_PLTE(png, info, &palette, &count) == 0 || count <= 0) png_error(png, "missing PLTE chunk");
        for (int i = 0; i < count && i < 256; i++) {
            img->palette[i][0] = palette[i].red;
            img->palette[i][1] = palette[i].green;
            img->palette[i][2] = palette[i].blue;
        }
    }
    rows = malloc(sizeof(png_bytep) * height);
    if (!rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; y++) rows[y] = img_row(img, (int)y);
    png_read_image(png, rows);
    if (mode == IMG_I) widen_grey16(img);
    image_complete = 1;
    free(rows);
    rows = NULL;
    if (opts->exif_rotate && orientation == 1) {
        /* eXIf may follow the image data; a damaged tail then means no
         * orientation rather than no image (the longjmp lands on finished). */
        png_read_end(png, info);
        orientation = png_exif_orientation(png, info);
    }
    png_destroy_read_struct(&png, &info, NULL);

finished:;
    clip_image *result = img;
    if (orientation != 1) {
        st = img_apply_orientation(&result, orientation);
        if (st != CLIP_OK) {
            clip_image_free(result);
            return clip_fail_context(st, "%s: ", label);
        }
    }
    *out = result;
    return CLIP_OK;
}

clip_status decode_png(const uint8_t *data, size_t size, const char *label,
                       const clip_image_options *opts, clip_image **out) {
    int truncated = 0;
    clip_status st = decode_buffer(data, size, label, opts, out, &truncated);
    if (st == CLIP_OK || !truncated) return st;
    size_t repaired_size;
    uint8_t *repaired = repair_cut_tail(data, size, &repaired_size);
    if (!repaired) return st;
    st = decode_buffer(repaired, repaired_size, label, opts, out, &truncated);
    free(repaired);
    if (st == CLIP_ERR_IMAGE) return clip_fail(st, "%s: truncated PNG (image data incomplete)", label);
    return st;
}
