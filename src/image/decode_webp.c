/* WebP through libwebp. Pillow opens a still WebP as "RGBA" when the
 * bitstream says it has alpha and as "RGB" otherwise; both decode with
 * libwebp's default (fancy) upsampling, as here. Animated files are
 * refused rather than guessing at frame compositing. */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>

#include "core/error.h"
#include "image/image_internal.h"

static const char *vp8_reason(VP8StatusCode code) {
    switch (code) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "not enough data";
    default: return "unknown error";
    }
}

clip_status decode_webp(const uint8_t *data, size_t size, const char *label,
                        const clip_image_options *opts, clip_image **out) {
    *out = NULL;
    WebPBitstreamFeatures features;
    VP8StatusCode code = WebPGetFeatures(data, size, &features);
    if (code == VP8_STATUS_NOT_ENOUGH_DATA)
        return clip_fail(CLIP_ERR_IMAGE, "%s: truncated WebP (header incomplete)", label);
    if (code != VP8_STATUS_OK) return clip_fail(CLIP_ERR_IMAGE, "%s: corrupt WebP: %s", label, vp8_reason(code));
    if (features.has_animation)
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: animated WebP is not supported", label);
    clip_image *img;
    clip_status st = img_create(features.has_alpha ? IMG_RGBA : IMG_RGB, features.width, features.height,
                                opts->max_pixels, label, &img);
    if (st != CLIP_OK) return st;
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) {
        clip_image_free(img);
        return clip_fail(CLIP_ERR_IMAGE, "%s: libwebp version mismatch", label);
    }
    /* Opaque images decode with alpha 255, which is exactly the RGBX layout. */
    config.output.colorspace = MODE_RGBA;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = img->pixels;
    config.output.u.RGBA.stride = (int)img->stride;
    config.output.u.RGBA.size = img->stride * (size_t)img->height;
    code = WebPDecode(data, size, &config);
    WebPFreeDecBuffer(&config.output);
    if (code != VP8_STATUS_OK) {
        clip_image_free(img);
        if (code == VP8_STATUS_NOT_ENOUGH_DATA)
            return clip_fail(CLIP_ERR_IMAGE, "%s: truncated WebP (image data incomplete)", label);
        return clip_fail(CLIP_ERR_IMAGE, "%s: corrupt WebP: %s", label, vp8_reason(code));
    }
    *out = img;
    return CLIP_OK;
}
