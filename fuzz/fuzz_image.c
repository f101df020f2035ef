/* libFuzzer target: decoding any bytes as an image, then CLIP
 * preprocessing what decodes. The pixel limit keeps each input cheap; the
 * last input byte picks options so every decoder path gets exercised
 * (EXIF rotation, reduced-DCT JPEG decoding, the three resize modes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"

static int acceptable(clip_status st) { return st == CLIP_OK || st == CLIP_ERR_LIMIT; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned flags = size ? data[size - 1] : 0;
    clip_image_options io = {4u << 20, (int)(flags & 1), (flags & 2) ? 64 : 0};
    clip_image *img = NULL;
    if (clip_image_load_memory(data, size, &io, &img) != CLIP_OK) return 0;
    clip_preprocess_options po;
    memset(&po, 0, sizeof po);
    po.size = (flags & 4) ? 224 : 37;
    po.mode = (clip_resize_mode)((flags >> 3) % 3);
    /* A decoded image always preprocesses, unless its shape asks for a
     * resize past the documented limits. */
    float *out = malloc(sizeof(float) * 3 * (size_t)po.size * (size_t)po.size);
    if (out && !acceptable(clip_image_preprocess(img, &po, out))) abort();
    free(out);
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    if (!acceptable(clip_image_resized_rgb(img, &po, &rgb, &w, &h))) abort();
    clip_free(rgb);
    clip_image_free(img);
    return 0;
}
