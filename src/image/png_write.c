/* 8-bit RGB PNG output through libpng, written atomically. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "core/atomic_file.h"
#include "core/error.h"

typedef struct png_write_guard {
    jmp_buf jump;
    char message[256];
} png_write_guard;

static void on_write_error(png_structp png, png_const_charp msg) {
    png_write_guard *g = png_get_error_ptr(png);
    snprintf(g->message, sizeof g->message, "%s", msg);
    longjmp(g->jump, 1);
}

static void on_write_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

clip_status clip_write_png_rgb(const char *path, const uint8_t *rgb, int width, int height) {
    if (!path || !rgb || width <= 0 || height <= 0)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_write_png_rgb: invalid arguments");
    atomic_file af;
    clip_status st = atomic_file_open(&af, path);
    if (st != CLIP_OK) return st;
    png_write_guard guard;
    memset(&guard, 0, sizeof guard);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &guard, on_write_error, on_write_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(png ? &png : NULL, NULL);
        atomic_file_abort(&af);
        return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory creating the PNG writer", path);
    }
    if (setjmp(guard.jump)) {
        png_destroy_write_struct(&png, &info);
        atomic_file_abort(&af);
        return clip_fail(CLIP_ERR_IO, "%s: PNG write failed: %s", path, guard.message);
    }
    png_init_io(png, af.fp);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(rgb + (size_t)y * (size_t)width * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return atomic_file_commit(&af);
}
