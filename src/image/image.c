/* The image object, format dispatch and loading from files, memory and
 * raw RGB. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/limits.h"
#include "image/image_internal.h"

int img_mode_channels(img_mode mode) {
    switch (mode) {
    case IMG_LA: return 2;
    case IMG_RGB: case IMG_RGBA: case IMG_CMYK: return 4;
    default: return 1;
    }
}

int img_mode_bytes_per_pixel(img_mode mode) {
    return mode == IMG_I ? 4 : img_mode_channels(mode);
}

const char *img_mode_name(img_mode mode) {
    static const char *const names[] = {"1", "L", "P", "LA", "RGB", "RGBA", "CMYK", "I"};
    return (unsigned)mode < sizeof names / sizeof names[0] ? names[mode] : "?";
}

clip_status img_check_size(int64_t width, int64_t height, uint64_t max_pixels,
                           const char *label, const char *format) {
    /* 0: the process-wide limit; the caller's own value is named as such. */
    int global = max_pixels == 0;
    if (global) max_pixels = limit_value(LIMIT_IMAGE_PIXELS);
    if (width <= 0 || height <= 0)
        return clip_fail(CLIP_ERR_IMAGE, "%s: %s image has an invalid size (%lldx%lld)", label, format,
                         (long long)width, (long long)height);
    /* INT32_MAX bounds keep every row/offset computation inside int/size_t. */
    if (width <= INT32_MAX / 4 && height <= INT32_MAX / 4 && (uint64_t)width * (uint64_t)height <= max_pixels)
        return CLIP_OK;
    if (global)
        return limit_fail(LIMIT_IMAGE_PIXELS,
                          "%s: %s image of %lldx%lld pixels exceeds the limit, a possible decompression bomb", label,
                          format, (long long)width, (long long)height);
    return clip_fail(CLIP_ERR_LIMIT,
                     "%s: %s image of %lldx%lld pixels exceeds the limit of %llu pixels "
                     "(possible decompression bomb; the caller's clip_image_options.max_pixels)",
                     label, format, (long long)width, (long long)height, (unsigned long long)max_pixels);
}

clip_status img_create(img_mode mode, int width, int height, uint64_t max_pixels,
                       const char *label, clip_image **out) {
    *out = NULL;
    clip_status st = img_check_size(width, height, max_pixels, label, img_mode_name(mode));
    if (st != CLIP_OK) return st;
    clip_image *img = calloc(1, sizeof *img);
    if (!img) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", label);
    img->mode = mode;
    img->width = width;
    img->height = height;
    img->channels = img_mode_channels(mode);
    img->bpp = img_mode_bytes_per_pixel(mode);
    img->stride = (size_t)width * (size_t)img->bpp;
    img->pixels = malloc(img->stride * (size_t)height);
    if (!img->pixels) {
        free(img);
        return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory for a %dx%d image", label, width, height);
    }
    /* Palette entries a file does not define read as PIL's default grey ramp. */
    for (int i = 0; i < 256; i++) img->palette[i][0] = img->palette[i][1] = img->palette[i][2] = (uint8_t)i;
    *out = img;
    return CLIP_OK;
}

void clip_image_free(clip_image *img) {
    if (!img) return;
    free(img->pixels);
    free(img);
}

/* A part-decoded image reports the size of the whole. */
int clip_image_width(const clip_image *img) { return img ? (img->crop_size ? img->full_width : img->width) : 0; }
int clip_image_height(const clip_image *img) { return img ? (img->crop_size ? img->full_height : img->height) : 0; }

clip_status img_require_whole(const clip_image *img, const char *what) {
    if (img && img->crop_size)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT,
                         "%s: the image was decoded only for a %d-pixel centre crop (fast_decode_crop); load it "
                         "without that option for this use",
                         what, img->crop_size);
    return CLIP_OK;
}
const char *clip_image_mode(const clip_image *img) { return img ? img_mode_name(img->mode) : ""; }

clip_status clip_image_from_rgb(const uint8_t *rgb, int width, int height, size_t stride,
                                clip_image **out) {
    if (!out) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_image_from_rgb: out is NULL");
    *out = NULL;
    if (!rgb) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_image_from_rgb: rgb is NULL");
    if (width <= 0 || height <= 0)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_image_from_rgb: invalid size %dx%d", width, height);
    if (stride == 0) stride = (size_t)width * 3;
    if (stride < (size_t)width * 3)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_image_from_rgb: stride %zu < 3 * width %d", stride,
                         width);
    clip_image *img;
    /* A caller's buffer is already allocated, so only the int-range bound applies. */
    clip_status st = img_create(IMG_RGB, width, height, UINT64_MAX, "RGB buffer", &img);
    if (st != CLIP_OK) return st;
    for (int y = 0; y < height; y++) {
        const uint8_t *s = rgb + (size_t)y * stride;
        uint8_t *d = img_row(img, y);
        for (int x = 0; x < width; x++, s += 3, d += 4) {
            d[0] = s[0];
            d[1] = s[1];
            d[2] = s[2];
            d[3] = 255;
        }
    }
    *out = img;
    return CLIP_OK;
}

static clip_status load_labelled(const uint8_t *data, size_t size, const char *label,
                                 const clip_image_options *opts, clip_image **out) {
    static const clip_image_options defaults = {0};
    if (!opts) opts = &defaults;
    if (size == 0) return clip_fail(CLIP_ERR_IMAGE, "%s: empty file (0 bytes)", label);
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return decode_jpeg(data, size, label, opts, out);
    if (size >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) return decode_png(data, size, label, opts, out);
    if (size >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0)
        return decode_webp(data, size, label, opts, out);
    if (size >= 2 && data[0] == 'B' && data[1] == 'M') return decode_bmp(data, size, label, opts, out);
    if (size >= 6 && (memcmp(data, "GIF87a", 6) == 0 || memcmp(data, "GIF89a", 6) == 0))
        return decode_gif(data, size, label, opts, out);
    if (size < 12)
        return clip_fail(CLIP_ERR_IMAGE, "%s: too short to be an image (%zu bytes)", label, size);
    return clip_fail(CLIP_ERR_UNSUPPORTED,
                     "%s: unrecognised image format (supported: JPEG, PNG, WebP, BMP, GIF)", label);
}

clip_status clip_image_load_memory(const void *data, size_t size, const clip_image_options *opts,
                                   clip_image **out) {
    if (!out) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_image_load_memory: out is NULL");
    *out = NULL;
    if (!data && size) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_image_load_memory: data is NULL");
    return load_labelled(data, size, "image in memory", opts, out);
}

clip_status clip_image_load_file(const char *path, const clip_image_options *opts, clip_image **out) {
    if (!out) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_image_load_file: out is NULL");
    *out = NULL;
    if (!path) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_image_load_file: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return clip_fail(CLIP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        clip_status st = clip_fail(CLIP_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return clip_fail(CLIP_ERR_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory reading %zu bytes", path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    if (got != size) {
        free(buf);
        return clip_fail(CLIP_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, size);
    }
    clip_status st = load_labelled(buf, size, path, opts, out);
    free(buf);
    return st;
}
