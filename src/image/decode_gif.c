/* GIF, first frame only, through giflib, reproducing what Pillow 9.4's
 * GifImagePlugin gives for Image.open(f) (frame 0):
 *
 * - mode "P" with the frame's palette (local, else global), or "L" when
 *   that palette is the identity grey ramp or there is none (Pillow's
 *   _is_palette_needed); the mode matters because Pillow resizes "P" with
 *   NEAREST and "L" with bicubic;
 * - the canvas is the logical screen, grown to hold the frame if the frame
 *   reaches past it;
 * - canvas pixels outside the frame hold the frame's transparency index
 *   when its graphic control extension sets one, else index 0 (not the
 *   background index: load_prepare fills only with transparency);
 * - transparency itself is otherwise ignored (convert("RGB") drops it);
 * - bytes that start no known block are skipped, as Pillow skips them.
 * Indices beyond the palette read as the grey ramp img_create sets up,
 * which is Pillow's default palette. */
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>

#include "core/error.h"
#include "image/image_internal.h"

typedef struct gif_source {
    const uint8_t *data;
    size_t size, pos;
    int padded;
} gif_source;

/* giflib's InputFunc: a short count makes giflib report READ_FAILED,
 * which is how a cut file shows up. Pillow stops reading once the frame's
 * pixels are complete, so a file missing only the final empty sub-block
 * (and the trailer) opens there; giflib reads that terminator as a 1-byte
 * block length, so one such read at the end gets a 0. Cut anywhere else,
 * the file still fails: mid-block reads are longer, and an early
 * terminator leaves pixels missing (EOF_TOO_SOON). */
static int gif_read(GifFileType *gif, GifByteType *buf, int want) {
    gif_source *src = gif->UserData;
    size_t left = src->size - src->pos, n = want > 0 ? (size_t)want : 0;
    if (left == 0 && want == 1 && !src->padded) {
        src->padded = 1;
        buf[0] = 0;
        return 1;
    }
    if (n > left) n = left;
    memcpy(buf, src->data + src->pos, n);
    src->pos += n;
    return (int)n;
}

static clip_status gif_error(const char *label, int code) {
    /* giflib fails the screen descriptor only when it cannot read it whole. */
    if (code == D_GIF_ERR_READ_FAILED || code == D_GIF_ERR_EOF_TOO_SOON || code == D_GIF_ERR_NO_SCRN_DSCR)
        return clip_fail(CLIP_ERR_IMAGE, "%s: truncated GIF (%s)", label, GifErrorString(code));
    const char *why = GifErrorString(code);
    return clip_fail(CLIP_ERR_IMAGE, "%s: corrupt GIF: %s", label, why ? why : "unknown giflib error");
}

/* Pillow keeps a palette only when it is not entry i = (i, i, i) throughout. */
static int palette_needed(const ColorMapObject *map) {
    if (!map) return 0;
    for (int i = 0; i < map->ColorCount; i++) {
        const GifColorType *c = &map->Colors[i];
        if (c->Red != i || c->Green != i || c->Blue != i) return 1;
    }
    return 0;
}

/* Reads records up to the first image descriptor, remembering the last
 * transparency index a graphic control extension set (-1: none). */
static int find_first_frame(GifFileType *gif, int *transparency) {
    *transparency = -1;
    for (;;) {
        GifRecordType type;
        if (DGifGetRecordType(gif, &type) == GIF_ERROR) {
            /* Pillow ignores a byte that starts no block; giflib has consumed it. */
            if (gif->Error == D_GIF_ERR_WRONG_RECORD) continue;
            return gif->Error;
        }
        if (type == IMAGE_DESC_RECORD_TYPE) return DGifGetImageDesc(gif) == GIF_ERROR ? gif->Error : 0;
        if (type == TERMINATE_RECORD_TYPE) return D_GIF_ERR_NO_IMAG_DSCR;
        if (type != EXTENSION_RECORD_TYPE) continue;
        int code;
        GifByteType *ext;
        if (DGifGetExtension(gif, &code, &ext) == GIF_ERROR) return gif->Error;
        /* ext[0] is the sub-block length; flags, delay (2), index follow. */
        if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4 && (ext[1] & 1)) *transparency = ext[4];
        while (ext)
            if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR) return gif->Error;
    }
}

/* Decodes the frame's rows into the canvas at (left, top); interlaced
 * files store rows 0, 8, 16.. then 4, 12.. then 2, 6.. then 1, 3... */
static int read_frame(GifFileType *gif, clip_image *img, int left, int top, int width, int height,
                      int interlaced) {
    static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    int passes = interlaced ? 4 : 1;
    for (int p = 0; p < passes; p++)
        for (int y = interlaced ? start[p] : 0; y < height; y += interlaced ? step[p] : 1)
            if (DGifGetLine(gif, img_row(img, top + y) + left, width) == GIF_ERROR) return gif->Error;
    return 0;
}

clip_status decode_gif(const uint8_t *data, size_t size, const char *label, const clip_image_options *opts,
                       clip_image **out) {
    *out = NULL;
    gif_source src = {data, size, 0, 0};
    int code = 0;
    GifFileType *gif = DGifOpen(&src, gif_read, &code);
    if (!gif) return gif_error(label, code);
    clip_image *img = NULL;
    clip_status st = CLIP_OK;
    /* Refuse an oversized logical screen before reading any further. */
    if ((uint64_t)gif->SWidth * (uint64_t)gif->SHeight > 0 &&
        (st = img_check_size(gif->SWidth, gif->SHeight, opts->max_pixels, label, "GIF")) != CLIP_OK)
        goto done;
    int transparency;
    if ((code = find_first_frame(gif, &transparency)) != 0) {
        st = code == D_GIF_ERR_NO_IMAG_DSCR ? clip_fail(CLIP_ERR_IMAGE, "%s: GIF has no image", label)
                                            : gif_error(label, code);
        goto done;
    }
    const GifImageDesc *d = &gif->Image;
    /* Pillow grows the canvas to hold a frame reaching past the screen. */
    int width = gif->SWidth > d->Left + d->Width ? gif->SWidth : d->Left + d->Width;
    int height = gif->SHeight > d->Top + d->Height ? gif->SHeight : d->Top + d->Height;
    const ColorMapObject *map = d->ColorMap ? d->ColorMap : gif->SColorMap;
    /* A grey local palette makes "L" even when the global one has colours. */
    int paletted = d->ColorMap ? palette_needed(d->ColorMap) : palette_needed(gif->SColorMap);
    if ((st = img_check_size(width, height, opts->max_pixels, label, "GIF")) != CLIP_OK ||
        (st = img_create(paletted ? IMG_P : IMG_L, width, height, opts->max_pixels, label, &img)) != CLIP_OK)
        goto done;
    if (paletted)
        for (int i = 0; i < map->ColorCount && i < 256; i++) {
            img->palette[i][0] = map->Colors[i].Red;
            img->palette[i][1] = map->Colors[i].Green;
            img->palette[i][2] = map->Colors[i].Blue;
        }
    memset(img->pixels, transparency >= 0 ? transparency : 0, img->stride * (size_t)height);
    /* An empty frame leaves the filled canvas, as in Pillow. */
    if (d->Width > 0 && d->Height > 0 &&
        (code = read_frame(gif, img, d->Left, d->Top, d->Width, d->Height, d->Interlace)) != 0) {
        st = gif_error(label, code);
        clip_image_free(img);
        img = NULL;
    }
done:
    DGifCloseFile(gif, &code);
    *out = img;
    return st;
}
