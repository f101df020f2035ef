/* libFuzzer target: decoding any bytes as an image, then CLIP
 * preprocessing what decodes. The pixel limit keeps each input cheap; the
 * last input byte picks options so every decoder path gets exercised
 * (EXIF rotation, reduced-DCT JPEG decoding with and without the
 * centre-crop-only decode, the three resize modes). JPEG decoders ignore
 * bytes after the end marker, so a seed picks its options with one more. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"

static int acceptable(clip_status st) { return st == CLIP_OK || st == CLIP_ERR_LIMIT; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned flags = size ? data[size - 1] : 0;
    clip_preprocess_options po;
    memset(&po, 0, sizeof po);
    /* 150 puts the 512- and 400-pixel fixture JPEGs at 3/8 DCT scale (the
     * AVX2 3x3 and 6x6 IDCTs) in the centre-crop decode. */
    po.size = (flags & 4) ? 224 : (flags & 128) ? 150 : 37;
    po.mode = (clip_resize_mode)((flags >> 3) % 3);
    /* Bit 6 asks for the centre-crop-only JPEG decode, which serves only
     * CLIP_RESIZE_SHORTEST at its own size. */
    int crop = (flags & 2) && (flags & 64);
    if (crop) po.mode = CLIP_RESIZE_SHORTEST;
    clip_image_options io = {.max_pixels = 4u << 20,
                             .exif_rotate = (int)(flags & 1),
                             .fast_decode_size = (flags & 2) ? (crop ? po.size : 64) : 0,
                             .fast_decode_crop = crop};
    clip_image *img = NULL;
    if (clip_image_load_memory(data, size, &io, &img) != CLIP_OK) return 0;
    /* A decoded image always preprocesses, unless its shape asks for a
     * resize past the documented limits. */
    float *out = malloc(sizeof(float) * 3 * (size_t)po.size * (size_t)po.size);
    if (out && !acceptable(clip_image_preprocess(img, &po, out))) abort();
    free(out);
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    clip_status st = clip_image_resized_rgb(img, &po, &rgb, &w, &h);
    /* A part-decoded JPEG refuses the whole resize. */
    if (!acceptable(st) && !(crop && st == CLIP_ERR_INVALID_ARGUMENT)) abort();
    clip_free(rgb);
    clip_image_free(img);
    return 0;
}
