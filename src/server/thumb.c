#include "server/thumb.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct png_sink {
    unsigned char *data;
    size_t size, cap;
    int failed;
} png_sink;

static void sink_write(png_structp png, png_bytep data, png_size_t len) {
    png_sink *s = png_get_io_ptr(png);
    if (s->failed) return;
    if (s->size + len > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16384;
        while (cap < s->size + len) cap *= 2;
        unsigned char *grown = realloc(s->data, cap);
        if (!grown) {
            s->failed = 1;
            return;
        }
        s->data = grown;
        s->cap = cap;
    }
    memcpy(s->data + s->size, data, len);
    s->size += len;
}

static void sink_flush(png_structp png) { (void)png; }

static clip_status encode_png(const uint8_t *rgb, int w, int h, unsigned char **out, size_t *out_size) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        return clip_fail(CLIP_ERR_NO_MEMORY, "thumbnail: out of memory");
    }
    /* volatile: modified between setjmp and a possible longjmp. */
    png_sink *volatile sink = calloc(1, sizeof(png_sink));
    png_bytep *volatile rows = malloc((size_t)h * sizeof(png_bytep));
    if (!sink || !rows || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        if (sink) free(sink->data);
        free(sink);
        free(rows);
        return clip_fail(CLIP_ERR_IO, "thumbnail: PNG encoding failed");
    }
    png_set_write_fn(png, sink, sink_write, sink_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 3); /* thumbnails are served once and cached: favour speed */
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)(rgb + (size_t)y * w * 3);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    if (sink->failed) {
        free(sink->data);
        free(sink);
        return clip_fail(CLIP_ERR_NO_MEMORY, "thumbnail: out of memory");
    }
    *out = sink->data;
    *out_size = sink->size;
    free(sink);
    return CLIP_OK;
}

clip_status thumb_png(const char *path, int size, unsigned char **png, size_t *png_size) {
    *png = NULL;
    *png_size = 0;
    clip_image_options io = {.max_pixels = 100000000ull, .exif_rotate = 1};
    clip_image *img = NULL;
    clip_status st = clip_image_load_file(path, &io, &img);
    if (st != CLIP_OK) return st;
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    clip_preprocess_options po = {.size = size, .mode = CLIP_RESIZE_PAD};
    st = clip_image_resized_rgb(img, &po, &rgb, &w, &h);
    clip_image_free(img);
    if (st != CLIP_OK) return st;
    st = encode_png(rgb, w, h, png, png_size);
    clip_free(rgb);
    return st;
}

void thumb_cache_init(thumb_cache *c, int max_entries, size_t max_bytes) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->entries = calloc((size_t)max_entries, sizeof *c->entries);
    c->cap = c->entries ? max_entries : 0;
    c->max_bytes = max_bytes;
}

void thumb_cache_free(thumb_cache *c) {
    for (int i = 0; i < c->n; i++) free(c->entries[i].png);
    free(c->entries);
    pthread_mutex_destroy(&c->lock);
    memset(c, 0, sizeof *c);
}

unsigned char *thumb_cache_get(thumb_cache *c, int64_t id, size_t *size) {
    unsigned char *copy = NULL;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < c->n; i++) {
        if (c->entries[i].id != id) continue;
        copy = malloc(c->entries[i].size);
        if (copy) {
            memcpy(copy, c->entries[i].png, c->entries[i].size);
            *size = c->entries[i].size;
            c->entries[i].used = ++c->clock;
        }
        break;
    }
    pthread_mutex_unlock(&c->lock);
    return copy;
}

static void evict_oldest(thumb_cache *c) {
    int oldest = 0;
    for (int i = 1; i < c->n; i++)
        if (c->entries[i].used < c->entries[oldest].used) oldest = i;
    c->bytes -= c->entries[oldest].size;
    free(c->entries[oldest].png);
    c->entries[oldest] = c->entries[--c->n];
}

void thumb_cache_put(thumb_cache *c, int64_t id, const unsigned char *png, size_t size) {
    if (size > c->max_bytes || c->cap == 0) return;
    unsigned char *copy = malloc(size);
    if (!copy) return;
    memcpy(copy, png, size);
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < c->n; i++)
        if (c->entries[i].id == id) { /* another thread made it meanwhile */
            pthread_mutex_unlock(&c->lock);
            free(copy);
            return;
        }
    while (c->n > 0 && (c->n == c->cap || c->bytes + size > c->max_bytes)) evict_oldest(c);
    c->entries[c->n++] = (thumb_entry){id, copy, size, ++c->clock};
    c->bytes += size;
    pthread_mutex_unlock(&c->lock);
}
