/* CLIP's _transform(n_px): Resize(n_px, BICUBIC) -> CenterCrop(n_px) ->
 * convert("RGB") -> ToTensor -> Normalize, as torchvision 0.14 and Pillow
 * 9.4 compute it, plus two non-reference resize modes (squash, pad). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/limits.h"
#include "image/convert.h"
#include "image/image_internal.h"
#include "image/resample.h"
#include "image/resample_kernels.h"

enum { PREPROCESS_MAX_SIZE = 8192 };
/* Longest side the resize step may produce: Pillow passes sizes through
 * float boxes, exact only below 2^24. */
#define PREPROCESS_MAX_RESIZED ((int64_t)1 << 24)

static const float CLIP_MEAN[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float CLIP_STD[3] = {0.26862954f, 0.26130258f, 0.27577711f};

/* Where the resized image comes from and where it lands in the output. */
typedef struct plan {
    int rw, rh;         /* size after the resize step */
    int x0, y0, cw, ch; /* the part of the resized image that is kept */
    int ox, oy;         /* its position in the size x size output */
} plan;

/* Python's round() of d / 2.0 for an integer d >= 0: halves go to even. */
static int half_round_even(int d) {
    int q = d / 2;
    if ((d & 1) && (q & 1)) q++;
    return q;
}

static clip_status make_plan(int w, int h, const clip_preprocess_options *o, plan *p) {
    int size = o->size;
    memset(p, 0, sizeof *p);
    switch (o->mode) {
    case CLIP_RESIZE_SHORTEST: {
        /* torchvision: new_long = int(size * long / short), a true division. */
        int shorter = w <= h ? w : h, longer = w <= h ? h : w;
        double exact_long = (double)((int64_t)size * longer) / (double)shorter;
        if (exact_long >= (double)PREPROCESS_MAX_RESIZED)
            return clip_fail(CLIP_ERR_LIMIT, "preprocess: a %dx%d image resized to %d on its shorter side is too long",
                             w, h, size);
        int new_long = (int)exact_long;
        p->rw = w <= h ? size : new_long;
        p->rh = w <= h ? new_long : size;
        p->x0 = half_round_even(p->rw - size);
        p->y0 = half_round_even(p->rh - size);
        p->cw = p->ch = size;
        return CLIP_OK;
    }
    case CLIP_RESIZE_SQUASH:
        p->rw = p->rh = p->cw = p->ch = size;
        return CLIP_OK;
    case CLIP_RESIZE_PAD: {
        int shorter = w <= h ? w : h, longer = w <= h ? h : w;
        int new_short = (int)((double)((int64_t)size * shorter) / (double)longer);
        if (new_short < 1) new_short = 1;
        p->rw = w >= h ? size : new_short;
        p->rh = w >= h ? new_short : size;
        p->cw = p->rw;
        p->ch = p->rh;
        p->ox = (size - p->rw) / 2;
        p->oy = (size - p->rh) / 2;
        return CLIP_OK;
    }
    }
    return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "preprocess: unknown resize mode %d", (int)o->mode);
}

static clip_status check_options(const clip_image *img, const clip_preprocess_options *o) {
    if (!img || !o) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "preprocess: image or options is NULL");
    if (o->size <= 0 || o->size > PREPROCESS_MAX_SIZE)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "preprocess: size %d outside 1..%d", o->size,
                         PREPROCESS_MAX_SIZE);
    return CLIP_OK;
}

clip_status preprocess_source_span(int width, int height, int size, int *x_lo, int *x_hi, int *y_lo, int *y_hi) {
    clip_preprocess_options o;
    memset(&o, 0, sizeof o);
    o.size = size;
    o.mode = CLIP_RESIZE_SHORTEST;
    plan p;
    clip_status st = make_plan(width, height, &o, &p);
    if (st != CLIP_OK) return st;
    resample_source_span(width, p.rw, p.x0, p.cw, x_lo, x_hi);
    resample_source_span(height, p.rh, p.y0, p.ch, y_lo, y_hi);
    return CLIP_OK;
}

/* ------------------------------------------------------------ rows */

/* Undoes the premultiplication around an RGBA/LA resize, then passes on. */
typedef struct unpremultiply_sink {
    img_mode mode;
    int width;
    resample_sink next;
    void *next_ctx;
} unpremultiply_sink;

static void unpremultiply_row(void *ctx, int y, uint8_t *row) {
    unpremultiply_sink *u = ctx;
    convert_unpremultiply_row(u->mode, row, u->width);
    u->next(u->next_ctx, y, row);
}

/* Feeds the sink, row by row, the window (x0, y0, cw, ch) of the image
 * resized to rw x rh in its own mode with Pillow's rules. */
static clip_status resized_rows(const clip_image *img, int rw, int rh, int x0, int y0, int cw, int ch,
                                resample_sink sink, void *ctx) {
    const int bpp = img->bpp;
    resample_window win = {rw, rh, x0, y0, cw, ch};
    if (img->crop_size) {
        /* A part-decoded JPEG (8-bit modes only); the resampler checks
         * that the window reads only what was decoded, a copy included. */
        resample_part part = {img->pixels, img->stride, img->full_width, img->full_height,
                              img->part_x,  img->part_y, img->width,      img->height};
        return resample_bicubic_u8_part(&part, img->channels, &win, sink, ctx);
    }
    if (rw == img->width && rh == img->height) {
        /* Pillow's resize to the same size is a plain copy: no premultiplying. */
        uint8_t *line = malloc((size_t)cw * (size_t)bpp);
        if (!line) return clip_fail(CLIP_ERR_NO_MEMORY, "preprocess: out of memory");
        for (int y = 0; y < ch; y++) {
            memcpy(line, img_row(img, y0 + y) + (size_t)x0 * (size_t)bpp, (size_t)cw * (size_t)bpp);
            sink(ctx, y, line);
        }
        free(line);
        return CLIP_OK;
    }
    if (img->mode == IMG_P || img->mode == IMG_1)
        return resample_nearest(img->pixels, img->stride, img->width, img->height, bpp, &win, sink, ctx);
    if (img->mode == IMG_I)
        return resample_bicubic_i32(img->pixels, img->stride, img->width, img->height, &win, sink, ctx);
    if (img->mode == IMG_RGBA || img->mode == IMG_LA) {
        uint8_t *pre = malloc(img->stride * (size_t)img->height);
        if (!pre) return clip_fail(CLIP_ERR_NO_MEMORY, "preprocess: out of memory");
        for (int y = 0; y < img->height; y++)
            convert_premultiply_row(img->mode, img_row(img, y), img->width, pre + (size_t)y * img->stride);
        unpremultiply_sink u = {img->mode, cw, sink, ctx};
        clip_status st = resample_bicubic_u8(pre, img->stride, img->width, img->height, img->channels, &win,
                                             unpremultiply_row, &u);
        free(pre);
        return st;
    }
    return resample_bicubic_u8(img->pixels, img->stride, img->width, img->height, img->channels, &win, sink, ctx);
}

/* Rows to packed RGB in a caller's buffer. */
typedef struct rgb_target {
    const clip_image *img;
    int width;
    uint8_t *rgb;
} rgb_target;

static void rgb_row(void *ctx, int y, uint8_t *row) {
    rgb_target *t = ctx;
    convert_row_to_rgb(t->img->mode, (const uint8_t(*)[3])t->img->palette, row, t->width,
                       t->rgb + (size_t)y * (size_t)t->width * 3);
}

/* Rows to normalised float32 planes, at (ox, oy) of a size x size tensor. */
typedef struct tensor_target {
    const clip_image *img;
    int width, size, ox, oy;
    const float (*lut)[256];
    float *out;
    uint8_t *rgb; /* one converted row, for modes not stored as RGBX */
} tensor_target;

static void tensor_row(void *ctx, int y, uint8_t *row) {
    tensor_target *t = ctx;
    const size_t plane = (size_t)t->size * (size_t)t->size;
    size_t base = (size_t)(t->oy + y) * (size_t)t->size + (size_t)t->ox;
    float *r = t->out + base, *g = r + plane, *b = g + plane;
    const uint8_t *px = row;
    int step = 4;
    /* RGB and RGBA rows already hold R, G, B in their first three bytes. */
    if (t->img->mode != IMG_RGB && t->img->mode != IMG_RGBA) {
        convert_row_to_rgb(t->img->mode, (const uint8_t(*)[3])t->img->palette, row, t->width, t->rgb);
        px = t->rgb;
        step = 3;
    }
    const float *lr = t->lut[0], *lg = t->lut[1], *lb = t->lut[2];
    int x = 0;
    if (step == 4 && resample_simd_active()) {
        x = resample_planes_avx2(px, t->width, lr, lg, lb, r, g, b);
        px += (size_t)x * 4;
    }
    for (; x < t->width; x++, px += step) {
        r[x] = lr[px[0]];
        g[x] = lg[px[1]];
        b[x] = lb[px[2]];
    }
}

/* ------------------------------------------------------------ API */

clip_status clip_image_resized_rgb(const clip_image *img, const clip_preprocess_options *opts, uint8_t **rgb,
                                   int *width, int *height) {
    if (!rgb || !width || !height)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_image_resized_rgb: NULL output pointer");
    *rgb = NULL;
    *width = *height = 0;
    clip_status st = check_options(img, opts);
    if (st != CLIP_OK || (st = img_require_whole(img, "clip_image_resized_rgb")) != CLIP_OK) return st;
    plan p;
    if ((st = make_plan(img->width, img->height, opts, &p)) != CLIP_OK) return st;
    /* Unlike preprocessing, this materialises the whole resized image. */
    if ((uint64_t)p.rw * (uint64_t)p.rh > limit_value(LIMIT_RESIZED_PIXELS))
        return limit_fail(LIMIT_RESIZED_PIXELS, "clip_image_resized_rgb: the resized image would have %lld pixels",
                          (long long)p.rw * p.rh);
    uint8_t *buf = malloc((size_t)p.rw * (size_t)p.rh * 3);
    if (!buf) return clip_fail(CLIP_ERR_NO_MEMORY, "clip_image_resized_rgb: out of memory");
    rgb_target t = {img, p.rw, buf};
    st = resized_rows(img, p.rw, p.rh, 0, 0, p.rw, p.rh, rgb_row, &t);
    if (st != CLIP_OK) {
        free(buf);
        return st;
    }
    *rgb = buf;
    *width = p.rw;
    *height = p.rh;
    return CLIP_OK;
}

clip_status clip_image_preprocess(const clip_image *img, const clip_preprocess_options *opts, float *out) {
    clip_status st = check_options(img, opts);
    if (st != CLIP_OK) return st;
    if (!out) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_image_preprocess: out is NULL");
    if (img->crop_size && (opts->mode != CLIP_RESIZE_SHORTEST || opts->size != img->crop_size))
        return img_require_whole(img, "clip_image_preprocess");
    plan p;
    if ((st = make_plan(clip_image_width(img), clip_image_height(img), opts, &p)) != CLIP_OK) return st;

    const float *mean = CLIP_MEAN, *std = CLIP_STD;
    int custom = 0;
    for (int c = 0; c < 3; c++) custom |= opts->mean[c] != 0.0f || opts->std[c] != 0.0f;
    if (custom) {
        for (int c = 0; c < 3; c++)
            if (!(opts->std[c] != 0.0f))
                return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "preprocess: std[%d] must be non-zero", c);
        mean = opts->mean;
        std = opts->std;
    }
    /* ToTensor then Normalize, in float32 and in torch's order, tabulated
     * once per channel: a byte maps to the same float wherever it is. */
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) lut[c][v] = ((float)v / 255.0f - mean[c]) / std[c];

    const int size = opts->size;
    const size_t plane = (size_t)size * (size_t)size;
    if (p.cw != size || p.ch != size)
        for (int c = 0; c < 3; c++)
            for (size_t i = 0; i < plane; i++) out[c * plane + i] = lut[c][0]; /* black padding */
    uint8_t *rgb = malloc((size_t)p.cw * 3);
    if (!rgb) return clip_fail(CLIP_ERR_NO_MEMORY, "clip_image_preprocess: out of memory");
    tensor_target t = {img, p.cw, size, p.ox, p.oy, (const float(*)[256])lut, out, rgb};
    st = resized_rows(img, p.rw, p.rh, p.x0, p.y0, p.cw, p.ch, tensor_row, &t);
    free(rgb);
    return st;
}
