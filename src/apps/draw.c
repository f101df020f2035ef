/* Pictures of detection results: boxes over the image, heat maps blended
 * over it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "apps/font.h"
#include "core/error.h"

static const uint8_t palette[8][3] = {{230, 25, 75},  {60, 180, 75}, {255, 225, 25}, {0, 130, 200},
                                      {245, 130, 48}, {145, 30, 180}, {70, 240, 240}, {240, 50, 230}};

static void put(uint8_t *rgb, int w, int h, int x, int y, const uint8_t c[3]) {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    uint8_t *p = rgb + ((size_t)y * w + x) * 3;
    p[0] = c[0];
    p[1] = c[1];
    p[2] = c[2];
}

clip_status clip_detect_draw(const clip_image *image, const clip_detect_result *r, const char *const *labels,
                             const char *path) {
    uint8_t *rgb;
    clip_status st = clip_image_to_rgb(image, &rgb);
    if (st != CLIP_OK) return st;
    int w = clip_image_width(image), h = clip_image_height(image);
    int thickness = (w < h ? w : h) / 150 + 2;
    for (int b = 0; b < r->n_boxes; b++) {
        const clip_detection *d = &r->boxes[b];
        const uint8_t *c = palette[d->target % 8];
        for (int t = 0; t < thickness; t++) {
            for (int x = d->x; x < d->x + d->width; x++) {
                put(rgb, w, h, x, d->y + t, c);
                put(rgb, w, h, x, d->y + d->height - 1 - t, c);
            }
            for (int y = d->y; y < d->y + d->height; y++) {
                put(rgb, w, h, d->x + t, y, c);
                put(rgb, w, h, d->x + d->width - 1 - t, y, c);
            }
        }
        /* The label and its probability in the box's corner, white on the
         * box's colour. */
        char text[96];
        snprintf(text, sizeof text, "%s %.0f%%", labels && labels[d->target] ? labels[d->target] : "?",
                 100.0 * d->prob);
        static const uint8_t white[3] = {255, 255, 255};
        int scale = thickness > 2 ? thickness - 1 : 2;
        font_draw(rgb, w, h, d->x + thickness + scale, d->y + thickness + scale, scale, text, white, c);
    }
    st = clip_write_png_rgb(path, rgb, w, h);
    free(rgb);
    return st;
}

/* Blue -> cyan -> yellow -> red, for t in [0, 1]. */
static void heat_colour(float t, uint8_t out[3]) {
    float r = fminf(fmaxf(2.0f * t - 0.5f, 0), 1), g = fminf(fmaxf(t < 0.5f ? 2 * t : 2 - 2 * t, 0), 1);
    float b = fminf(fmaxf(1.0f - 2.0f * t, 0), 1);
    out[0] = (uint8_t)(255 * r);
    out[1] = (uint8_t)(255 * (0.3f + 0.7f * g));
    out[2] = (uint8_t)(255 * b);
}

clip_status clip_detect_draw_heatmap(const clip_image *image, const clip_detect_result *r, int target,
                                     const char *path) {
    if (!r->heatmaps || target < 0 || target >= r->n_targets)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "heat map: no localisation result for target %d", target);
    uint8_t *rgb;
    clip_status st = clip_image_to_rgb(image, &rgb);
    if (st != CLIP_OK) return st;
    int w = clip_image_width(image), h = clip_image_height(image);
    size_t cells = (size_t)r->grid_w * r->grid_h;
    const float *map = r->heatmaps + (size_t)target * cells;
    float lo = INFINITY, hi = -INFINITY;
    for (size_t c = 0; c < cells; c++) {
        lo = fminf(lo, map[c]);
        hi = fmaxf(hi, map[c]);
    }
    float range = hi > lo ? hi - lo : 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int cx = x / r->cell, cy = y / r->cell;
            if (cx >= r->grid_w) cx = r->grid_w - 1;
            if (cy >= r->grid_h) cy = r->grid_h - 1;
            uint8_t c[3];
            heat_colour((map[(size_t)cy * r->grid_w + cx] - lo) / range, c);
            uint8_t *p = rgb + ((size_t)y * w + x) * 3;
            for (int k = 0; k < 3; k++) p[k] = (uint8_t)((p[k] + c[k] + 1) / 2);
        }
    st = clip_write_png_rgb(path, rgb, w, h);
    free(rgb);
    return st;
}
