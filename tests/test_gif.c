/* GIF decoding (first frame, as Pillow 9.4's Image.open(f).convert("RGB")
 * gives it). Every GIF is written here with giflib's encoder; expected
 * pixels come from the palettes and index patterns the test chose, looked
 * up by hand, never from the decoder under test. The Pillow behaviours
 * these encode (fill outside the frame, canvas growth, "L" for grey
 * palettes) were checked against Pillow itself: see docs/images.md. */
#include <gif_lib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "image/image_internal.h"

/* ------------------------------------------------------------ writing */

typedef struct bytes {
    uint8_t *data;
    size_t size, cap;
} bytes;

static int put_bytes(GifFileType *gif, const GifByteType *src, int n) {
    bytes *b = gif->UserData;
    if (b->size + (size_t)n > b->cap) {
        b->cap = (b->size + (size_t)n) * 2 + 64;
        b->data = realloc(b->data, b->cap);
        if (!b->data) exit(1);
    }
    memcpy(b->data + b->size, src, (size_t)n);
    b->size += (size_t)n;
    return n;
}

/* A palette of `n` entries, grey ramp or colours derived from `seed`. */
typedef struct palette {
    int n, grey, seed;
} palette;

static GifColorType palette_entry(palette p, int i) {
    GifColorType c;
    if (p.grey) {
        c.Red = c.Green = c.Blue = (GifByteType)i;
    } else {
        c.Red = (GifByteType)(p.seed + i * 37);
        c.Green = (GifByteType)(p.seed * 3 + i * 91);
        c.Blue = (GifByteType)(255 - i * 53 - p.seed);
    }
    return c;
}

static ColorMapObject *make_map(palette p) {
    if (p.n == 0) return NULL;
    GifColorType colors[256];
    for (int i = 0; i < p.n; i++) colors[i] = palette_entry(p, i);
    return GifMakeMapObject(p.n, colors);
}

typedef struct frame {
    int x, y, w, h, interlace;
    palette local; /* n == 0: none */
    int seed, mod; /* index at (c, r) = (7 r + 3 c + seed) % mod */
    int transparency; /* -1: no graphic control extension */
} frame;

static int frame_index(const frame *f, int c, int r) { return (r * 7 + c * 3 + f->seed) % f->mod; }

static void put_frame(GifFileType *gif, const frame *f) {
    if (f->transparency >= 0) {
        GraphicsControlBlock gcb = {0, false, 0, f->transparency};
        GifByteType ext[4];
        size_t n = EGifGCBToExtension(&gcb, ext);
        EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, (int)n, ext);
    }
    ColorMapObject *local = make_map(f->local);
    EGifPutImageDesc(gif, f->x, f->y, f->w, f->h, f->interlace, local);
    GifFreeMapObject(local);
    GifPixelType *line = malloc((size_t)f->w);
    /* Interlaced data is stored in pass order; the encoder takes rows as given. */
    static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    for (int p = 0; p < (f->interlace ? 4 : 1); p++)
        for (int r = f->interlace ? start[p] : 0; r < f->h; r += f->interlace ? step[p] : 1) {
            for (int c = 0; c < f->w; c++) line[c] = (GifPixelType)frame_index(f, c, r);
            EGifPutLine(gif, line, f->w);
        }
    free(line);
}

static bytes make_gif(int sw, int sh, palette global, int background, const frame *frames, int n_frames) {
    bytes b = {0};
    int err;
    GifFileType *gif = EGifOpen(&b, put_bytes, &err);
    EGifSetGifVersion(gif, true);
    ColorMapObject *map = make_map(global);
    EGifPutScreenDesc(gif, sw, sh, 8, background, map);
    GifFreeMapObject(map);
    for (int i = 0; i < n_frames; i++) put_frame(gif, &frames[i]);
    EGifCloseFile(gif, &err);
    return b;
}

/* ------------------------------------------------------------ checking */

static clip_image *load(const bytes *b, const char *want_mode) {
    clip_image *img = NULL;
    clip_status st = clip_image_load_memory(b->data, b->size, NULL, &img);
    CHECK(st == CLIP_OK, "load: %s", clip_last_error());
    if (img) CHECK(strcmp(clip_image_mode(img), want_mode) == 0, "mode %s, want %s", clip_image_mode(img), want_mode);
    return img;
}

/* The expected RGB at canvas (x, y): the frame's index through the frame's
 * palette (local, else global) inside the frame, else `outside`. */
static GifColorType expected(const frame *f, palette global, int x, int y, int outside) {
    palette p = f->local.n ? f->local : global;
    int inside = x >= f->x && x < f->x + f->w && y >= f->y && y < f->y + f->h;
    int index = inside ? frame_index(f, x - f->x, y - f->y) : outside;
    if (p.n == 0) p.grey = 1; /* no palette: indices are grey levels */
    return palette_entry(p, index);
}

static void check_pixels(const char *what, const clip_image *img, const frame *f, palette global, int outside,
                         int want_w, int want_h) {
    if (!img) return;
    CHECK(clip_image_width(img) == want_w && clip_image_height(img) == want_h, "%s: size %dx%d, want %dx%d", what,
          clip_image_width(img), clip_image_height(img), want_w, want_h);
    if (clip_image_width(img) != want_w || clip_image_height(img) != want_h) return;
    uint8_t *rgb = NULL;
    CHECK(clip_image_to_rgb(img, &rgb) == CLIP_OK, "%s: to_rgb", what);
    int bad = 0;
    for (int y = 0; rgb && y < want_h; y++)
        for (int x = 0; x < want_w; x++) {
            GifColorType c = expected(f, global, x, y, outside);
            const uint8_t *px = rgb + ((size_t)y * want_w + x) * 3;
            bad += px[0] != c.Red || px[1] != c.Green || px[2] != c.Blue;
        }
    CHECK(bad == 0, "%s: %d of %d pixels differ from the hand lookup", what, bad, want_w * want_h);
    free(rgb);
}

static void write_file(const char *path, const void *data, size_t size) {
    FILE *fp = fopen(path, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size)) exit(1);
    fclose(fp);
}

static const char *scratch(const char *name) {
    static char buf[4][1024];
    static int next;
    char *out = buf[next++ % 4];
    snprintf(out, sizeof buf[0], "%s/%s", scratch_dir(), name);
    return out;
}

static void expect_failure(const char *name, const void *data, size_t size, const clip_image_options *opts,
                           clip_status want, const char *reason) {
    const char *path = scratch(name);
    write_file(path, data, size);
    clip_image *img = NULL;
    clip_status st = clip_image_load_file(path, opts, &img);
    const char *msg = clip_last_error();
    CHECK(st == want && img == NULL, "%s: status %s, wanted %s (%s)", name, clip_status_name(st),
          clip_status_name(want), msg);
    CHECK(strstr(msg, path) != NULL && strstr(msg, reason) != NULL, "%s: error lacks the file or '%s': %s", name,
          reason, msg);
    clip_image_free(img);
}

/* ------------------------------------------------------------ tests */

static const palette COLOURS4 = {4, 0, 10};

static void test_palettes(void) {
    frame f = {0, 0, 4, 3, 0, {0}, 0, 4, -1};
    bytes b = make_gif(4, 3, COLOURS4, 0, &f, 1);
    clip_image *img = load(&b, "P");
    check_pixels("global palette", img, &f, COLOURS4, 0, 4, 3);
    clip_image_free(img);
    free(b.data);

    /* A local palette (8 colours) replaces the global one for the frame. */
    frame local = {0, 0, 5, 4, 0, {8, 0, 99}, 1, 8, -1};
    b = make_gif(5, 4, COLOURS4, 0, &local, 1);
    img = load(&b, "P");
    check_pixels("local palette", img, &local, COLOURS4, 0, 5, 4);
    clip_image_free(img);
    free(b.data);

    /* The identity grey ramp, or no palette at all: Pillow opens "L". */
    palette grey = {4, 1, 0};
    frame g = {0, 0, 4, 4, 0, {0}, 0, 4, -1};
    b = make_gif(4, 4, grey, 0, &g, 1);
    img = load(&b, "L");
    check_pixels("grey palette", img, &g, grey, 0, 4, 4);
    clip_image_free(img);
    free(b.data);
    /* giflib's encoder insists on a palette: drop the global one by hand
     * (clear the flag byte's table bits, cut the 12 palette bytes). */
    palette none = {0, 0, 0};
    b = make_gif(4, 4, grey, 0, &g, 1);
    CHECK(b.data[10] & 0x80, "global palette flag");
    b.data[10] = 0;
    memmove(b.data + 13, b.data + 13 + 12, b.size - 13 - 12);
    b.size -= 12;
    img = load(&b, "L");
    check_pixels("no palette", img, &g, none, 0, 4, 4);
    clip_image_free(img);
    free(b.data);
    /* A grey local palette gives "L" even over a coloured global palette. */
    frame grey_local = {0, 0, 4, 4, 0, {4, 1, 0}, 0, 4, -1};
    b = make_gif(4, 4, COLOURS4, 0, &grey_local, 1);
    img = load(&b, "L");
    check_pixels("grey local palette", img, &grey_local, COLOURS4, 0, 4, 4);
    clip_image_free(img);
    free(b.data);
}

static void test_interlace_and_frames(void) {
    /* 11 rows cover every interlace pass, including a short last group. */
    palette p16 = {16, 0, 5};
    frame f = {0, 0, 5, 11, 1, {0}, 2, 16, -1};
    bytes b = make_gif(5, 11, p16, 0, &f, 1);
    clip_image *img = load(&b, "P");
    check_pixels("interlaced", img, &f, p16, 0, 5, 11);
    clip_image_free(img);
    free(b.data);

    /* Two frames: only the first is decoded. */
    frame two[2] = {{0, 0, 4, 4, 0, {0}, 0, 4, -1}, {0, 0, 4, 4, 0, {0}, 3, 4, -1}};
    b = make_gif(4, 4, COLOURS4, 1, two, 2);
    img = load(&b, "P");
    check_pixels("first of two frames", img, &two[0], COLOURS4, 0, 4, 4);
    clip_image_free(img);
    free(b.data);
}

static void test_frame_placement(void) {
    /* A 3x2 frame at (2, 1) of a 6x5 screen whose background index is 2:
     * Pillow fills the rest with index 0, not the background... */
    frame f = {2, 1, 3, 2, 0, {0}, 1, 4, -1};
    bytes b = make_gif(6, 5, COLOURS4, 2, &f, 1);
    clip_image *img = load(&b, "P");
    check_pixels("offset frame", img, &f, COLOURS4, 0, 6, 5);
    clip_image_free(img);
    free(b.data);
    /* ...or with the transparency index when the frame has one (its
     * palette colour, since convert("RGB") drops transparency). */
    f.transparency = 3;
    b = make_gif(6, 5, COLOURS4, 2, &f, 1);
    img = load(&b, "P");
    check_pixels("offset frame, transparency 3", img, &f, COLOURS4, 3, 6, 5);
    clip_image_free(img);
    free(b.data);
    /* A frame reaching past the 4x4 screen grows the canvas to 7x5. */
    frame big = {1, 2, 6, 3, 0, {0}, 0, 4, -1};
    b = make_gif(4, 4, COLOURS4, 1, &big, 1);
    img = load(&b, "P");
    check_pixels("frame past the screen", img, &big, COLOURS4, 0, 7, 5);
    clip_image_free(img);
    free(b.data);
}

static void test_damaged(void) {
    frame f = {0, 0, 40, 30, 0, {0}, 0, 4, -1};
    bytes b = make_gif(40, 30, COLOURS4, 0, &f, 1);
    /* The file ends ... 0x00 (last sub-block terminator) ';' (trailer).
     * Without the trailer, or without both, Pillow and we still open it. */
    CHECK(b.size > 40 && b.data[b.size - 1] == ';' && b.data[b.size - 2] == 0, "trailer layout");
    for (size_t cut = 1; cut <= 2; cut++) {
        clip_image *img = NULL;
        CHECK(clip_image_load_memory(b.data, b.size - cut, NULL, &img) == CLIP_OK, "cut %zu: %s", cut,
              clip_last_error());
        check_pixels("tail cut", img, &f, COLOURS4, 0, 40, 30);
        clip_image_free(img);
    }
    expect_failure("cut_data.gif", b.data, b.size - 6, NULL, CLIP_ERR_IMAGE, "truncated GIF");
    expect_failure("cut_palette.gif", b.data, 20, NULL, CLIP_ERR_IMAGE, "truncated GIF");
    expect_failure("cut_header.gif", b.data, 9, NULL, CLIP_ERR_IMAGE, "truncated GIF");
    /* A pixel limit below 40 x 30 refuses it from the screen descriptor. */
    clip_image_options small = {.max_pixels = 1000};
    expect_failure("limit.gif", b.data, b.size, &small, CLIP_ERR_LIMIT, "exceeds the limit");

    /* A 65535 x 65535 logical screen fails before anything is allocated. */
    expect_failure("huge.gif", "GIF89a\xff\xff\xff\xff\x00\x00\x00", 13, NULL, CLIP_ERR_LIMIT, "exceeds the limit");
    /* So does a small screen whose frame is placed 60000 pixels away. */
    frame far = {60000, 60000, 4, 3, 0, {0}, 0, 4, -1};
    bytes fb = make_gif(4, 3, COLOURS4, 0, &far, 1);
    expect_failure("far.gif", fb.data, fb.size, NULL, CLIP_ERR_LIMIT, "exceeds the limit");
    free(fb.data);
    /* Screen descriptor then trailer: no image at all. */
    expect_failure("no_image.gif", "GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14, NULL, CLIP_ERR_IMAGE,
                   "GIF has no image");
    /* A stray byte between blocks is skipped, as Pillow skips it. */
    size_t at = 13 + 12; /* header, screen, 4-entry palette: the image separator */
    CHECK(b.data[at] == ',', "image separator at %zu", at);
    uint8_t *stray = malloc(b.size + 1);
    memcpy(stray, b.data, at);
    stray[at] = 0x07;
    memcpy(stray + at + 1, b.data + at, b.size - at);
    clip_image *img = NULL;
    CHECK(clip_image_load_memory(stray, b.size + 1, NULL, &img) == CLIP_OK, "stray byte: %s", clip_last_error());
    check_pixels("stray byte", img, &f, COLOURS4, 0, 40, 30);
    clip_image_free(img);
    free(stray);
    free(b.data);
}

static void test_preprocess(void) {
    /* "P" resizes with NEAREST: a 2x1-pixel-period pattern scaled 8x keeps
     * only palette colours; the tensor path must accept the image. */
    frame f = {0, 0, 28, 28, 0, {0}, 0, 4, -1};
    bytes b = make_gif(28, 28, COLOURS4, 0, &f, 1);
    clip_image *img = load(&b, "P");
    clip_preprocess_options po;
    memset(&po, 0, sizeof po);
    po.size = 224;
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    if (img) CHECK(clip_image_resized_rgb(img, &po, &rgb, &w, &h) == CLIP_OK && w == 224 && h == 224, "resize");
    int bad = 0;
    for (int y = 0; rgb && y < 224; y++)
        for (int x = 0; x < 224; x++) {
            GifColorType c = expected(&f, COLOURS4, x / 8, y / 8, 0);
            const uint8_t *px = rgb + ((size_t)y * 224 + x) * 3;
            bad += px[0] != c.Red || px[1] != c.Green || px[2] != c.Blue;
        }
    CHECK(rgb && bad == 0, "nearest 8x upscale of a GIF: %d pixels differ", bad);
    clip_free(rgb);
    float *out = malloc(sizeof(float) * 3 * 224 * 224);
    if (img) CHECK(clip_image_preprocess(img, &po, out) == CLIP_OK, "preprocess: %s", clip_last_error());
    free(out);
    clip_image_free(img);
    free(b.data);
}

int main(void) {
    test_palettes();
    test_interlace_and_frames();
    test_frame_placement();
    test_damaged();
    test_preprocess();
    return test_finish("test_gif");
}
