/* Uncompressed BMP as Pillow 9.4's BmpImagePlugin reads it: headers of 12,
 * 40, 64, 108 or 124 bytes; 1/4/8-bit palettes ("P", or "L"/"1" when the
 * palette is the plain grey ramp), 16-bit 5-5-5 / 5-6-5, 24-bit, 32-bit
 * BGRX or, with BITFIELDS, the channel orders Pillow knows. RLE is not
 * supported. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "image/image_internal.h"

enum { BMP_RAW = 0, BMP_RLE8 = 1, BMP_RLE4 = 2, BMP_BITFIELDS = 3 };

typedef enum bmp_layout {
    BMP_INDEX,   /* 1/4/8-bit palette indices */
    BMP_BGR15,
    BMP_BGR16,
    BMP_BGR,
    BMP_BGRX,
    BMP_XBGR,
    BMP_ABGR,
    BMP_RGBA,
    BMP_BGRA,
} bmp_layout;

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static unsigned le16(const uint8_t *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }

typedef struct bmp_info {
    int64_t width, height;
    int top_down;
    unsigned bits;
    uint32_t compression;
    uint64_t colors;
    int palette_entry; /* 3 (OS/2 core) or 4 bytes */
    uint32_t masks[4];
    size_t palette_at; /* file offset of the palette */
    uint64_t pixels_at;
} bmp_info;

static clip_status parse_header(const uint8_t *data, size_t size, const char *label, bmp_info *b) {
    memset(b, 0, sizeof *b);
    if (size < 18) return clip_fail(CLIP_ERR_IMAGE, "%s: truncated BMP (header incomplete)", label);
    uint64_t offset = le32(data + 10);
    uint32_t header = le32(data + 14);
    if (header != 12 && header != 40 && header != 64 && header != 108 && header != 124)
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: unsupported BMP header type (%u bytes)", label, header);
    if (size < 14 + (size_t)header) return clip_fail(CLIP_ERR_IMAGE, "%s: truncated BMP (header incomplete)", label);
    const uint8_t *h = data + 18;
    size_t after = 14 + (size_t)header;
    if (header == 12) {
        b->width = le16(h);
        b->height = le16(h + 2);
        b->bits = le16(h + 6);
        b->compression = BMP_RAW;
        b->palette_entry = 3;
    } else {
        b->width = (int32_t)le32(h);
        /* Pillow flags top-down rows by the height's top byte being 0xFF. */
        b->top_down = h[7] == 0xFF;
        uint32_t raw_height = le32(h + 4);
        b->height = b->top_down ? (int64_t)((uint64_t)1 << 32) - raw_height : (int64_t)raw_height;
        b->bits = le16(h + 10);
        b->compression = le32(h + 12);
        b->colors = le32(h + 28);
        b->palette_entry = 4;
        if (b->compression == BMP_BITFIELDS) {
            if (header >= 52) {
                for (int i = 0; i < 4; i++) b->masks[i] = le32(h + 36 + 4 * i);
            } else {
                if (size < after + 12) return clip_fail(CLIP_ERR_IMAGE, "%s: truncated BMP (bit masks)", label);
                for (int i = 0; i < 3; i++) b->masks[i] = le32(data + after + 4 * (size_t)i);
                after += 12;
            }
        }
    }
    if (!b->colors) b->colors = b->bits < 32 ? (uint64_t)1 << b->bits : 0;
    if (offset == 14 + (uint64_t)header && b->bits <= 8) offset += 4 * b->colors;
    b->palette_at = after;
    b->pixels_at = offset ? offset : after;
    return CLIP_OK;
}

static clip_status choose_layout(const bmp_info *b, const char *label, bmp_layout *layout, img_mode *mode) {
    if (b->compression == BMP_RLE8 || b->compression == BMP_RLE4)
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: RLE-compressed BMP is not supported", label);
    if (b->compression != BMP_RAW && b->compression != BMP_BITFIELDS)
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: unsupported BMP compression (%u)", label, b->compression);
    switch (b->bits) {
    case 1: case 4: case 8: *layout = BMP_INDEX; *mode = IMG_P; break;
    case 16: *layout = BMP_BGR15; *mode = IMG_RGB; break;
    case 24: *layout = BMP_BGR; *mode = IMG_RGB; break;
    case 32: *layout = BMP_BGRX; *mode = IMG_RGB; break;
    default: return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: unsupported BMP pixel depth (%u)", label, b->bits);
    }
    if (b->compression != BMP_BITFIELDS) return CLIP_OK;
    const uint32_t *m = b->masks;
#define MASKS(r, g, bl, a) (m[0] == (r) && m[1] == (g) && m[2] == (bl) && m[3] == (a))
    if (b->bits == 32) {
        if (MASKS(0xFF0000, 0xFF00, 0xFF, 0)) *layout = BMP_BGRX;
        else if (MASKS(0xFF000000u, 0xFF0000, 0xFF00, 0)) *layout = BMP_XBGR;
        else if (MASKS(0xFF000000u, 0xFF0000, 0xFF00, 0xFF)) *layout = BMP_ABGR, *mode = IMG_RGBA;
        else if (MASKS(0xFF, 0xFF00, 0xFF0000, 0xFF000000u)) *layout = BMP_RGBA, *mode = IMG_RGBA;
        else if (MASKS(0xFF0000, 0xFF00, 0xFF, 0xFF000000u) || MASKS(0, 0, 0, 0)) *layout = BMP_BGRA, *mode = IMG_RGBA;
        else return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: unsupported BMP bitfields layout", label);
    } else if (b->bits == 24 && m[0] == 0xFF0000 && m[1] == 0xFF00 && m[2] == 0xFF) {
        *layout = BMP_BGR;
    } else if (b->bits == 16 && m[0] == 0xF800 && m[1] == 0x7E0 && m[2] == 0x1F) {
        *layout = BMP_BGR16;
    } else if (b->bits == 16 && m[0] == 0x7C00 && m[1] == 0x3E0 && m[2] == 0x1F) {
        *layout = BMP_BGR15;
    } else {
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: unsupported BMP bitfields layout", label);
    }
#undef MASKS
    return CLIP_OK;
}

/* Pillow drops a palette that is exactly the grey ramp (or black/white for
 * two colours) and opens the image as "L" (or "1"). Only the layouts it
 * reads correctly that way are mapped; others stay "P". */
static img_mode palette_mode(const bmp_info *b, const uint8_t *pal, uint64_t n) {
    if (!((b->bits == 8 && n != 2) || (b->bits == 1 && n == 2))) return IMG_P;
    for (uint64_t i = 0; i < n; i++) {
        unsigned want = n == 2 ? (i ? 255u : 0u) : (unsigned)i;
        const uint8_t *e = pal + i * (uint64_t)b->palette_entry;
        if (e[0] != want || e[1] != want || e[2] != want) return IMG_P;
    }
    return b->bits == 1 ? IMG_1 : IMG_L;
}

static void decode_row(bmp_layout layout, unsigned bits, img_mode mode, const uint8_t *in, int width,
                       uint8_t *out) {
    switch (layout) {
    case BMP_INDEX:
        for (int x = 0; x < width; x++) {
            unsigned v;
            if (bits == 8) v = in[x];
            else if (bits == 4) v = (in[x >> 1] >> (x & 1 ? 0 : 4)) & 15;
            else v = (in[x >> 3] >> (7 - (x & 7))) & 1;
            out[x] = (uint8_t)(mode == IMG_1 ? (v ? 255 : 0) : v);
        }
        break;
    case BMP_BGR15:
    case BMP_BGR16:
        for (int x = 0; x < width; x++, in += 2, out += 4) {
            unsigned p = le16(in);
            out[2] = (uint8_t)((p & 31) * 255 / 31);
            if (layout == BMP_BGR15) {
                out[1] = (uint8_t)(((p >> 5) & 31) * 255 / 31);
                out[0] = (uint8_t)(((p >> 10) & 31) * 255 / 31);
            } else {
                out[1] = (uint8_t)(((p >> 5) & 63) * 255 / 63);
                out[0] = (uint8_t)(((p >> 11) & 31) * 255 / 31);
            }
            out[3] = 255;
        }
        break;
    case BMP_BGR:
        for (int x = 0; x < width; x++, in += 3, out += 4) out[0] = in[2], out[1] = in[1], out[2] = in[0], out[3] = 255;
        break;
    case BMP_BGRX:
    case BMP_BGRA:
        for (int x = 0; x < width; x++, in += 4, out += 4)
            out[0] = in[2], out[1] = in[1], out[2] = in[0], out[3] = layout == BMP_BGRA ? in[3] : 255;
        break;
    case BMP_XBGR:
    case BMP_ABGR:
        for (int x = 0; x < width; x++, in += 4, out += 4)
            out[0] = in[3], out[1] = in[2], out[2] = in[1], out[3] = layout == BMP_ABGR ? in[0] : 255;
        break;
    case BMP_RGBA:
        memcpy(out, in, (size_t)width * 4);
        break;
    }
}

clip_status decode_bmp(const uint8_t *data, size_t size, const char *label,
                       const clip_image_options *opts, clip_image **out) {
    *out = NULL;
    bmp_info b;
    clip_status st = parse_header(data, size, label, &b);
    if (st != CLIP_OK) return st;
    bmp_layout layout = BMP_INDEX;
    img_mode mode = IMG_P;
    if ((st = choose_layout(&b, label, &layout, &mode)) != CLIP_OK) return st;
    if ((st = img_check_size(b.width, b.height, opts->max_pixels, label, "BMP")) != CLIP_OK) return st;

    const uint8_t *palette = NULL;
    uint64_t n_palette = 0;
    if (layout == BMP_INDEX) {
        if (b.colors == 0 || b.colors > 65536)
            return clip_fail(CLIP_ERR_IMAGE, "%s: unsupported BMP palette size (%llu)", label,
                             (unsigned long long)b.colors);
        n_palette = b.colors;
        if (b.palette_at > size || n_palette * (uint64_t)b.palette_entry > size - b.palette_at)
            return clip_fail(CLIP_ERR_IMAGE, "%s: truncated BMP (palette)", label);
        palette = data + b.palette_at;
        mode = palette_mode(&b, palette, n_palette);
    }
    uint64_t row_bytes = (((uint64_t)b.width * b.bits + 31) >> 3) & ~(uint64_t)3;
    if (b.pixels_at > size || row_bytes * (uint64_t)b.height > size - b.pixels_at)
        return clip_fail(CLIP_ERR_IMAGE, "%s: truncated BMP (pixel data incomplete)", label);

    clip_image *img;
    if ((st = img_create(mode, (int)b.width, (int)b.height, opts->max_pixels, label, &img)) != CLIP_OK) return st;
    for (uint64_t i = 0; mode == IMG_P && i < n_palette && i < 256; i++) {
        const uint8_t *e = palette + i * (uint64_t)b.palette_entry;
        img->palette[i][0] = e[2];
        img->palette[i][1] = e[1];
        img->palette[i][2] = e[0];
    }
    for (int y = 0; y < img->height; y++) {
        int file_row = b.top_down ? y : img->height - 1 - y;
        decode_row(layout, b.bits, mode, data + b.pixels_at + (uint64_t)file_row * row_bytes, img->width,
                   img_row(img, y));
    }
    *out = img;
    return CLIP_OK;
}
