#include "image/convert.h"

#include <string.h>

/* Pillow's MULDIV255: a * b / 255 rounded, without a division. */
static inline unsigned muldiv255(unsigned a, unsigned b) {
    unsigned tmp = a * b + 128;
    return ((tmp >> 8) + tmp) >> 8;
}

static inline uint8_t clip8(int v) { return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v; }

void convert_premultiply_row(img_mode mode, const uint8_t *in, int n, uint8_t *out) {
    if (mode == IMG_RGBA) {
        for (int x = 0; x < n; x++, in += 4, out += 4) {
            unsigned a = in[3];
            out[0] = (uint8_t)muldiv255(in[0], a);
            out[1] = (uint8_t)muldiv255(in[1], a);
            out[2] = (uint8_t)muldiv255(in[2], a);
            out[3] = (uint8_t)a;
        }
    } else if (mode == IMG_LA) {
        for (int x = 0; x < n; x++, in += 2, out += 2) {
            out[0] = (uint8_t)muldiv255(in[0], in[1]);
            out[1] = in[1];
        }
    }
}

void convert_unpremultiply_row(img_mode mode, uint8_t *row, int n) {
    int step = mode == IMG_RGBA ? 4 : 2, colours = mode == IMG_RGBA ? 3 : 1;
    for (int x = 0; x < n; x++, row += step) {
        unsigned a = row[step - 1];
        if (a == 255 || a == 0) continue;
        for (int c = 0; c < colours; c++) row[c] = clip8((int)((255u * row[c]) / a));
    }
}

void convert_row_to_rgb(img_mode mode, const uint8_t (*palette)[3], const uint8_t *in, int n, uint8_t *out) {
    switch (mode) {
    case IMG_RGB:
    case IMG_RGBA:
        for (int x = 0; x < n; x++, in += 4, out += 3) {
            out[0] = in[0];
            out[1] = in[1];
            out[2] = in[2];
        }
        break;
    case IMG_L:
        for (int x = 0; x < n; x++, out += 3) out[0] = out[1] = out[2] = in[x];
        break;
    case IMG_LA:
        for (int x = 0; x < n; x++, in += 2, out += 3) out[0] = out[1] = out[2] = in[0];
        break;
    case IMG_1:
        for (int x = 0; x < n; x++, out += 3) out[0] = out[1] = out[2] = in[x] ? 255 : 0;
        break;
    case IMG_P:
        for (int x = 0; x < n; x++, out += 3) memcpy(out, palette[in[x]], 3);
        break;
    case IMG_I:
        for (int x = 0; x < n; x++, out += 3) {
            int32_t v;
            memcpy(&v, in + (size_t)x * 4, 4);
            out[0] = out[1] = out[2] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
        }
        break;
    case IMG_CMYK:
        /* Pillow >= 8.3's cmyk2rgb: colour = (255 - K) * (1 - C/255), rounded. */
        for (int x = 0; x < n; x++, in += 4, out += 3) {
            int nk = 255 - in[3];
            out[0] = clip8(nk - (int)muldiv255(in[0], (unsigned)nk));
            out[1] = clip8(nk - (int)muldiv255(in[1], (unsigned)nk));
            out[2] = clip8(nk - (int)muldiv255(in[2], (unsigned)nk));
        }
        break;
    }
}
