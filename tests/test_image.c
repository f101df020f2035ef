/* Image decoding and CLIP preprocessing against the Pillow/torchvision
 * references in preprocess/, plus damaged and hostile inputs. */
#include <stdio.h>

#include <cjson/cJSON.h>
#include <jpeglib.h>
#include <math.h>
#include <png.h>
#include <webp/encode.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "formats/safetensors.h"
#include "harness.h"
#include "image/image_internal.h"
#include "image/jpeg_idct.h"
#include "image/resample.h"

/* ------------------------------------------------------------ helpers */

static uint8_t *read_all(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *size = (size_t)n;
    return buf;
}

static void write_all(const char *path, const void *data, size_t size) {
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        perror(path);
        exit(1);
    }
    if (size && fwrite(data, 1, size, fp) != size) exit(1);
    fclose(fp);
}

static const char *scratch_file(const char *name) {
    static char buffers[4][1024];
    static int next;
    char *out = buffers[next++ % 4];
    snprintf(out, sizeof buffers[0], "%s/%s", scratch_dir(), name);
    return out;
}

static clip_preprocess_options clip_opts(int size) {
    clip_preprocess_options o;
    memset(&o, 0, sizeof o);
    o.size = size;
    o.mode = CLIP_RESIZE_SHORTEST;
    return o;
}

static size_t count_float_mismatches(const float *a, const float *b, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    return bad;
}

static double cosine(const float *a, const float *b, size_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

/* ------------------------------------------------------------ references */

/* One image of an expected_<size> file: `.resized` exact, tensor bit-exact. */
static void check_reference_image(st_file *ref, const cJSON *info, const char *name, int size) {
    char path[512], resized_name[512];
    snprintf(path, sizeof path, "images/%s", name);
    snprintf(resized_name, sizeof resized_name, "%s.resized", name);
    const st_tensor *expect = st_find(ref, name);
    const st_tensor *expect_resized = st_find(ref, resized_name);
    CHECK(expect && expect_resized, "%s: reference tensors missing", name);
    if (!expect || !expect_resized) return;

    clip_image *img = NULL;
    clip_status st = clip_image_load_file(fixture_path(path), NULL, &img);
    CHECK(st == CLIP_OK, "%s: load failed: %s", name, clip_last_error());
    if (st != CLIP_OK) return;
    const cJSON *entry = cJSON_GetObjectItemCaseSensitive(info, name);
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(entry, "pil_mode");
    CHECK(cJSON_IsString(mode) && strcmp(mode->valuestring, clip_image_mode(img)) == 0,
          "%s: mode %s, reference %s", name, clip_image_mode(img), cJSON_IsString(mode) ? mode->valuestring : "?");

    clip_preprocess_options o = clip_opts(size);
    for (int simd = 1; simd >= 0; simd--) {
        int previous = resample_set_simd(simd);
        uint8_t *rgb = NULL;
        int w = 0, h = 0;
        st = clip_image_resized_rgb(img, &o, &rgb, &w, &h);
        CHECK(st == CLIP_OK, "%s: resized_rgb: %s", name, clip_last_error());
        CHECK(h == expect_resized->shape[0] && w == expect_resized->shape[1],
              "%s: resized to %dx%d, reference %lldx%lld", name, w, h, (long long)expect_resized->shape[1],
              (long long)expect_resized->shape[0]);
        if (rgb && (size_t)w * h * 3 == expect_resized->nbytes) {
            size_t bad = 0, first = 0;
            const uint8_t *r = expect_resized->data;
            for (size_t i = 0; i < expect_resized->nbytes; i++)
                if (rgb[i] != r[i] && bad++ == 0) first = i;
            CHECK(bad == 0, "%s (%d, simd %d): %zu resized bytes differ, first at %zu (%d vs %d)", name, size, simd,
                  bad, first, rgb[first], r[first]);
        }
        clip_free(rgb);

        size_t n = (size_t)3 * size * size;
        float *out = malloc(n * sizeof(float));
        st = clip_image_preprocess(img, &o, out);
        CHECK(st == CLIP_OK, "%s: preprocess: %s", name, clip_last_error());
        if (st == CLIP_OK && expect->nbytes == n * sizeof(float)) {
            size_t bad = count_float_mismatches(out, expect->data, n);
            double diff = max_abs_diff(out, expect->data, n);
            CHECK(bad == 0 && diff <= 1e-6, "%s (%d, simd %d): %zu floats differ, max diff %g", name, size, simd,
                  bad, diff);
        }
        free(out);
        resample_set_simd(previous);
    }
    clip_image_free(img);
}

static void test_reference(const char *file, int size) {
    st_file *ref = open_fixture(file);
    const char *meta = st_metadata(ref, "image_info");
    cJSON *info = meta ? cJSON_Parse(meta) : NULL;
    CHECK(info != NULL, "%s: image_info metadata missing", file);
    int images = 0;
    for (size_t i = 0; i < st_count(ref); i++) {
        const char *name = st_at(ref, i)->name;
        size_t len = strlen(name);
        if (len > 8 && strcmp(name + len - 8, ".resized") == 0) continue;
        check_reference_image(ref, info, name, size);
        images++;
    }
    CHECK(images == (size == 224 ? 16 : 3), "%s: %d images", file, images);
    cJSON_Delete(info);
    st_close(ref);
}

static void test_decoded_jpegs(void) {
    st_file *ref = open_fixture("preprocess/decoded.safetensors");
    int checked = 0;
    for (size_t i = 0; i < st_count(ref); i++) {
        const st_tensor *t = st_at(ref, i);
        char path[512];
        snprintf(path, sizeof path, "images/%s", t->name);
        clip_image *img = NULL;
        clip_status st = clip_image_load_file(fixture_path(path), NULL, &img);
        CHECK(st == CLIP_OK, "%s: %s", t->name, clip_last_error());
        if (st != CLIP_OK) continue;
        int channels = (int)t->shape[2];
        CHECK(img->height == t->shape[0] && img->width == t->shape[1], "%s: size", t->name);
        CHECK((channels == 1 && img->mode == IMG_L) || (channels == 3 && img->mode == IMG_RGB), "%s: mode %s",
              t->name, clip_image_mode(img));
        size_t bad = 0;
        const uint8_t *r = t->data;
        for (int y = 0; y < img->height && y < t->shape[0]; y++)
            for (int x = 0; x < img->width && x < t->shape[1]; x++)
                for (int c = 0; c < channels; c++)
                    bad += img_row(img, y)[(size_t)x * img->bpp + c] != r[((size_t)y * t->shape[1] + x) * channels + c];
        CHECK(bad == 0, "%s: %zu decoded samples differ", t->name, bad);
        clip_image_free(img);
        checked++;
    }
    CHECK(checked == 4, "decoded.safetensors: %d images", checked);
    st_close(ref);
}

/* ------------------------------------------------------------ sources */

static void test_memory_and_rgb(void) {
    st_file *ref = open_fixture("preprocess/expected_224.safetensors");
    const char *names[] = {"chelsea.png", "coffee_progressive.jpg", "chelsea_rgba.png"};
    for (size_t k = 0; k < 3; k++) {
        char path[256];
        snprintf(path, sizeof path, "images/%s", names[k]);
        size_t size;
        uint8_t *bytes = read_all(fixture_path(path), &size);
        CHECK(bytes != NULL, "read %s", path);
        clip_image *img = NULL;
        clip_status st = clip_image_load_memory(bytes, size, NULL, &img);
        CHECK(st == CLIP_OK, "%s from memory: %s", names[k], clip_last_error());
        const st_tensor *expect = st_find(ref, names[k]);
        float *out = malloc(sizeof(float) * 3 * 224 * 224);
        clip_preprocess_options o = clip_opts(224);
        if (st == CLIP_OK && expect) {
            CHECK(clip_image_preprocess(img, &o, out) == CLIP_OK, "preprocess");
            CHECK(count_float_mismatches(out, expect->data, 3 * 224 * 224) == 0, "%s from memory differs", names[k]);
        }
        clip_image_free(img);
        free(bytes);

        /* The reference's resized image is already at the model's size, so
         * from_rgb + preprocess reduces to crop + normalise: same tensor. */
        char rname[256];
        snprintf(rname, sizeof rname, "%s.resized", names[k]);
        const st_tensor *resized = st_find(ref, rname);
        if (resized && expect) {
            int h = (int)resized->shape[0], w = (int)resized->shape[1];
            size_t stride = (size_t)w * 3 + 5;
            uint8_t *padded = calloc((size_t)h, stride);
            for (int y = 0; y < h; y++) memcpy(padded + y * stride, (const uint8_t *)resized->data + (size_t)y * w * 3, (size_t)w * 3);
            st = clip_image_from_rgb(padded, w, h, stride, &img);
            CHECK(st == CLIP_OK, "from_rgb: %s", clip_last_error());
            CHECK(clip_image_width(img) == w && clip_image_height(img) == h && strcmp(clip_image_mode(img), "RGB") == 0,
                  "from_rgb geometry");
            CHECK(clip_image_preprocess(img, &o, out) == CLIP_OK, "preprocess from_rgb");
            CHECK(count_float_mismatches(out, expect->data, 3 * 224 * 224) == 0, "%s via from_rgb differs", names[k]);
            clip_image_free(img);
            free(padded);
        }
        free(out);
    }
    clip_image *img = NULL;
    uint8_t px[3] = {1, 2, 3};
    CHECK(clip_image_from_rgb(px, 0, 1, 0, &img) == CLIP_ERR_INVALID_ARGUMENT && !img, "from_rgb rejects width 0");
    CHECK(clip_image_from_rgb(px, 2, 1, 3, &img) == CLIP_ERR_INVALID_ARGUMENT, "from_rgb rejects short stride");
    CHECK(clip_image_from_rgb(NULL, 1, 1, 0, &img) == CLIP_ERR_INVALID_ARGUMENT, "from_rgb rejects NULL");
    st_close(ref);
}

/* ------------------------------------------------------------ resize modes */

static void test_resize_modes(void) {
    clip_image *img = NULL;
    CHECK(clip_image_load_file(fixture_path("images/coffee_progressive.jpg"), NULL, &img) == CLIP_OK, "load");
    if (!img) return;
    clip_preprocess_options o = clip_opts(100);
    uint8_t *rgb = NULL;
    int w, h;

    o.mode = CLIP_RESIZE_SQUASH;
    CHECK(clip_image_resized_rgb(img, &o, &rgb, &w, &h) == CLIP_OK && w == 100 && h == 100, "squash %dx%d", w, h);
    clip_free(rgb);
    o.mode = CLIP_RESIZE_PAD;
    CHECK(clip_image_resized_rgb(img, &o, &rgb, &w, &h) == CLIP_OK && w == 100 && h == 66, "pad %dx%d", w, h);
    clip_free(rgb);
    o.mode = CLIP_RESIZE_SHORTEST;
    CHECK(clip_image_resized_rgb(img, &o, &rgb, &w, &h) == CLIP_OK && w == 150 && h == 100, "shortest %dx%d", w, h);
    clip_free(rgb);

    float *out = malloc(sizeof(float) * 3 * 100 * 100);
    o.mode = CLIP_RESIZE_PAD;
    CHECK(clip_image_preprocess(img, &o, out) == CLIP_OK, "pad preprocess");
    /* 66 rows centred in 100: rows 0..16 and 83..99 are black padding. */
    float black_r = (0.0f / 255.0f - 0.48145466f) / 0.26862954f;
    CHECK(out[0] == black_r && out[16 * 100 + 50] == black_r && out[99 * 100 + 99] == black_r, "pad rows black");
    CHECK(out[17 * 100 + 50] != black_r || out[50 * 100 + 50] != black_r, "image inside the padding");
    o.mode = CLIP_RESIZE_SQUASH;
    CHECK(clip_image_preprocess(img, &o, out) == CLIP_OK, "squash preprocess");

    /* Custom normalisation: mean 0, std 1 gives ToTensor's x / 255. */
    o.mode = CLIP_RESIZE_SHORTEST;
    for (int c = 0; c < 3; c++) {
        o.mean[c] = 0.0f;
        o.std[c] = 1.0f;
    }
    CHECK(clip_image_preprocess(img, &o, out) == CLIP_OK, "custom mean/std");
    int in_range = 1;
    for (int i = 0; i < 3 * 100 * 100; i++) in_range &= out[i] >= 0.0f && out[i] <= 1.0f;
    CHECK(in_range, "mean 0 std 1 stays in [0, 1]");
    o.std[1] = 0.0f;
    o.mean[1] = 0.5f;
    CHECK(clip_image_preprocess(img, &o, out) == CLIP_ERR_INVALID_ARGUMENT, "std 0 refused");

    o = clip_opts(0);
    CHECK(clip_image_preprocess(img, &o, out) == CLIP_ERR_INVALID_ARGUMENT, "size 0 refused");
    o = clip_opts(224);
    o.mode = (clip_resize_mode)7;
    CHECK(clip_image_preprocess(img, &o, out) == CLIP_ERR_INVALID_ARGUMENT, "bad mode refused");
    free(out);
    clip_image_free(img);

    /* Upscaling a tiny image in every mode stays in bounds. */
    uint8_t px[3] = {10, 200, 30};
    CHECK(clip_image_from_rgb(px, 1, 1, 0, &img) == CLIP_OK, "1x1");
    out = malloc(sizeof(float) * 3 * 32 * 32);
    for (int m = 0; m < 3; m++) {
        o = clip_opts(32);
        o.mode = (clip_resize_mode)m;
        CHECK(clip_image_preprocess(img, &o, out) == CLIP_OK, "1x1 mode %d: %s", m, clip_last_error());
        float g = (200.0f / 255.0f - 0.4578275f) / 0.26130258f;
        CHECK(out[32 * 32 + 16 * 32 + 16] == g, "1x1 mode %d keeps its colour", m);
    }
    free(out);
    clip_image_free(img);
}

static clip_image *load_or_null(const char *path, const char *want_mode);

/* ------------------------------------------------------------ fast decode */

static void test_fast_decode(void) {
    st_file *ref = open_fixture("preprocess/expected_224.safetensors");
    const st_tensor *expect = st_find(ref, "hubble_large.jpg");
    clip_image_options io = {.fast_decode_size = 224};
    clip_image *img = NULL;
    CHECK(clip_image_load_file(fixture_path("images/hubble_large.jpg"), &io, &img) == CLIP_OK, "fast load: %s",
          clip_last_error());
    if (img && expect) {
        /* 2000x1500 at 1/4 is 500x375: the smallest 1/8 step keeping >= 224. */
        CHECK(clip_image_width(img) == 500 && clip_image_height(img) == 375, "fast size %dx%d",
              clip_image_width(img), clip_image_height(img));
        float *out = malloc(sizeof(float) * 3 * 224 * 224);
        clip_preprocess_options o = clip_opts(224);
        CHECK(clip_image_preprocess(img, &o, out) == CLIP_OK, "fast preprocess");
        double cs = cosine(out, expect->data, 3 * 224 * 224);
        CHECK(cs > 0.995, "fast decode cosine %f", cs);
        free(out);
    }
    clip_image_free(img);
    st_close(ref);
}

/* ------------------------------------------------------------ fast IDCT */

static uint32_t idct_rng = 12345;

static int idct_rand(int lo, int hi) {
    idct_rng = idct_rng * 1664525u + 1013904223u;
    return lo + (int)((idct_rng >> 8) % (uint32_t)(hi - lo + 1));
}

/* libjpeg decoding `bytes` at 3/8 scale (the fast decode's scale for
 * these sizes) with the islow IDCT, started. */
static void start_decode_3_8(struct jpeg_decompress_struct *cinfo, struct jpeg_error_mgr *err, const uint8_t *bytes,
                             size_t size) {
    cinfo->err = jpeg_std_error(err);
    jpeg_create_decompress(cinfo);
    jpeg_mem_src(cinfo, bytes, (unsigned long)size);
    jpeg_read_header(cinfo, TRUE);
    cinfo->scale_num = 3;
    cinfo->scale_denom = 8;
    cinfo->dct_method = JDCT_ISLOW;
    jpeg_start_decompress(cinfo);
}

/* The AVX2 3x3 and 6x6 IDCTs must write exactly what libjpeg-turbo's
 * jpeg_idct_3x3 / jpeg_idct_6x6 write, into the same bytes: random blocks
 * of typical, near-limit (pixels far outside 0..255, so the range table's
 * clamping and wrap-around) and absurd coefficients (refused: libjpeg's
 * own function takes those). */
static void test_fast_idct_blocks(void) {
    if (!jpeg_fast_idct_available()) {
        printf("test_image: no AVX2 IDCT in this build or CPU, block test skipped\n");
        return;
    }
    size_t size = 0;
    uint8_t *bytes = read_all(fixture_path("images/astronaut_baseline.jpg"), &size);
    CHECK(bytes != NULL, "read astronaut_baseline.jpg");
    if (!bytes) return;
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr err;
    start_decode_3_8(&cinfo, &err, bytes, size);
    long accepted[2] = {0, 0}, trials = 0;
    for (int ci = 0; ci < 2; ci++) {
        jpeg_component_info *compptr = &cinfo.comp_info[ci];
        int32_t quant[64];
        for (int i = 0; i < 64; i++) quant[i] = compptr->quant_table->quantval[i];
        for (int n = 3; n <= 6; n += 3) {
            int limit = n == 6 ? 46000 : 89000;
            for (int t = 0; t < 40000; t++, trials++) {
                JCOEF block[64];
                int kind = t % 5;
                for (int i = 0; i < 64; i++) {
                    int q = quant[i], v;
                    if (kind == 0) v = idct_rand(-1100, 1100) / (i == 0 ? q : q * (1 + i / 4)); /* typical */
                    else if (kind == 1) v = idct_rand(-limit / q, limit / q);                 /* near the limit */
                    else if (kind == 2) v = idct_rand(-2048 / q, 2048 / q);                   /* 8-bit extremes */
                    else if (kind == 3) v = i == 0 ? idct_rand(-1024 / q, 1024 / q) : 0;      /* flat */
                    else v = idct_rand(-32768, 32767);                                        /* absurd */
                    block[i] = (JCOEF)v;
                }
                JSAMPLE mine[8][16], theirs[8][16];
                JSAMPROW rm[8], rt[8];
                memset(mine, 0xA5, sizeof mine);
                memset(theirs, 0xA5, sizeof theirs);
                for (int r = 0; r < 8; r++) rm[r] = mine[r], rt[r] = theirs[r];
                JDIMENSION col = (JDIMENSION)(t % 4);
                int wide = (t / 5) % 2; /* whole-word row stores, or exactly n bytes */
                if (!jpeg_fast_idct_block(n, quant, block, rm, col, wide ? 16 - (int)col : n)) {
                    CHECK(kind == 4, "component %d, %dx%d: a block of kind %d refused", ci, n, n, kind);
                    continue;
                }
                accepted[n / 6]++;
                jpeg_fast_idct_reference(n, &cinfo, compptr, block, rt, col);
                if (wide) /* the junk past the block's width, up to the word's end */
                    for (int r = 0; r < n; r++) memset(mine[r] + col + n, 0xA5, n == 6 ? 2 : 1);
                if (memcmp(mine, theirs, sizeof mine) != 0) {
                    int r = 0, c = 0;
                    while (mine[r][c] == theirs[r][c])
                        if (++c == 16) c = 0, r++;
                    CHECK(0, "component %d, %dx%d, kind %d: pixel (%d, %d) is %d, libjpeg %d", ci, n, n, kind, r,
                          c - (int)col, mine[r][c], theirs[r][c]);
                    break;
                }
            }
        }
    }
    CHECK(accepted[0] >= trials / 2 * 4 / 5 - 10 && accepted[1] >= trials / 2 * 4 / 5 - 10,
          "blocks done by the AVX2 IDCTs: %ld 3x3, %ld 6x6 of %ld", accepted[0], accepted[1], trials);
    jpeg_abort_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(bytes);
}

/* Encodes a JPEG with libjpeg at `quality`; `exif_orientation_value` > 0
 * adds an APP1 Exif block with that Orientation (big-endian TIFF);
 * progressive, and luma sampling factors (0: libjpeg's default 2x2). */
typedef struct jpeg_encoding {
    int quality, progressive, luma_h, luma_v, exif_orientation_value;
} jpeg_encoding;

static void encode_jpeg(const char *path, int w, int h, int components, J_COLOR_SPACE space, const uint8_t *pixels,
                        const jpeg_encoding *e) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    FILE *fp = fopen(path, "wb");
    jpeg_stdio_dest(&c, fp);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = components;
    c.in_color_space = space;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, e->quality, TRUE);
    if (e->progressive) jpeg_simple_progression(&c);
    if (e->luma_h) c.comp_info[0].h_samp_factor = e->luma_h;
    if (e->luma_v) c.comp_info[0].v_samp_factor = e->luma_v;
    jpeg_start_compress(&c, TRUE);
    if (e->exif_orientation_value > 0) {
        uint8_t exif[6 + 8 + 2 + 12 + 4] = "Exif\0\0MM\0\x2a\0\0\0\x08";
        uint8_t *p = exif + 14;
        p[0] = 0, p[1] = 1;                                   /* one entry */
        uint8_t entry[12] = {0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, (uint8_t)e->exif_orientation_value, 0, 0};
        memcpy(p + 2, entry, 12);
        memset(p + 14, 0, 4);
        jpeg_write_marker(&c, JPEG_APP0 + 1, exif, sizeof exif);
    }
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)c.next_scanline * w * components);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(fp);
}

static void write_jpeg(const char *path, int w, int h, int components, J_COLOR_SPACE space,
                       const uint8_t *pixels, int exif_orientation_value) {
    jpeg_encoding e = {.quality = 95, .exif_orientation_value = exif_orientation_value};
    encode_jpeg(path, w, h, components, space, pixels, &e);
}

/* Encodes w x h RGB `rgb` as JPEG kind k: 0 baseline 4:2:0, 1 progressive
 * 4:2:0, 2 4:2:2, 3 4:4:4, 4 grey, 5 CMYK (the RGB bytes plus a fourth). */
static void write_jpeg_kind(const char *path, const uint8_t *rgb, int w, int h, int kind) {
    int comps = kind == 4 ? 1 : kind == 5 ? 4 : 3;
    uint8_t *px = malloc((size_t)w * h * (size_t)comps);
    for (size_t i = 0; i < (size_t)w * h; i++)
        for (int c = 0; c < comps; c++)
            px[i * (size_t)comps + (size_t)c] = kind == 4 ? rgb[i * 3 + 1] : c < 3 ? rgb[i * 3 + (size_t)c] : (uint8_t)(i % 251);
    jpeg_encoding e = {.quality = 90, .progressive = kind == 1, .luma_h = kind == 3 ? 1 : 0,
                       .luma_v = kind == 2 || kind == 3 ? 1 : 0};
    encode_jpeg(path, w, h, comps, kind == 4 ? JCS_GRAYSCALE : kind == 5 ? JCS_CMYK : JCS_RGB, px, &e);
    free(px);
}

/* The whole fast decode with the AVX2 IDCTs gives the pixels of
 * libjpeg-turbo's own 3/8-scale decode, for JPEGs of every kind, whole and
 * crop-only, landscape and portrait (800x600 and 600x800 at 224: 3/8). */
static void test_fast_idct_decode(void) {
    clip_image *src = load_or_null(fixture_path("images/hubble_large.jpg"), "RGB");
    if (!src) return;
    static const char *const kinds[] = {"4:2:0", "progressive 4:2:0", "4:2:2", "4:4:4", "grey", "CMYK"};
    for (int portrait = 0; portrait < 2; portrait++) {
        int w = portrait ? 600 : 800, h = portrait ? 800 : 600;
        uint8_t *rgbx = malloc((size_t)w * h * 4), *rgb = malloc((size_t)w * h * 3);
        resample_window win = {w, h, 0, 0, w, h};
        resample_buffer buffer = {rgbx, (size_t)w * 4, (size_t)w * 4};
        CHECK(resample_bicubic_u8(src->pixels, src->stride, src->width, src->height, 4, &win, resample_sink_buffer,
                                  &buffer) == CLIP_OK,
              "stretch");
        for (size_t i = 0; i < (size_t)w * h; i++) memcpy(rgb + i * 3, rgbx + i * 4, 3);
        for (int kind = 0; kind < 6; kind++) {
            const char *path = scratch_file("idct_kind.jpg");
            write_jpeg_kind(path, rgb, w, h, kind);
            if (kind == 0 && !portrait && jpeg_fast_idct_available()) {
                /* The swap must really happen, or this test proves nothing. */
                size_t size = 0;
                uint8_t *bytes = read_all(path, &size);
                struct jpeg_decompress_struct cinfo;
                struct jpeg_error_mgr err;
                jpeg_fast_idct ctx;
                start_decode_3_8(&cinfo, &err, bytes, size);
                int n = jpeg_fast_idct_install(&cinfo, &ctx);
                CHECK(n == 3, "AVX2 IDCT installed for %d of 3 components", n);
                jpeg_abort_decompress(&cinfo);
                jpeg_destroy_decompress(&cinfo);
                free(bytes);
            }
            for (int crop = 0; crop < 2; crop++) {
                clip_image_options io = {.fast_decode_size = 224, .fast_decode_crop = crop};
                clip_image *img[2] = {NULL, NULL};
                for (int simd = 0; simd < 2; simd++) {
                    int previous = resample_set_simd(simd);
                    CHECK(clip_image_load_file(path, &io, &img[simd]) == CLIP_OK, "%s: %s", kinds[kind],
                          clip_last_error());
                    resample_set_simd(previous);
                }
                if (img[0] && img[1]) {
                    CHECK(img[0]->width == img[1]->width && img[0]->height == img[1]->height &&
                              (crop || img[0]->width == w * 3 / 8) &&
                              memcmp(img[0]->pixels, img[1]->pixels, img[0]->stride * (size_t)img[0]->height) == 0,
                          "%s %dx%d%s: AVX2 IDCT pixels differ from libjpeg's", kinds[kind], w, h,
                          crop ? " crop" : "");
                }
                clip_image_free(img[0]);
                clip_image_free(img[1]);
            }
        }
        free(rgbx);
        free(rgb);
    }
    clip_image_free(src);
}

/* fast_decode_crop: decoding only what the centre crop reads must give
 * the very tensor the whole fast decode gives, for baseline, progressive,
 * grey, 4:4:4, landscape (columns left out) and portrait (rows skipped)
 * JPEGs at two sizes (different DCT scales and crop margins). */
static void test_fast_decode_crop(void) {
    static const char *const names[] = {"astronaut_baseline.jpg", "camera_gray.jpg", "coffee_progressive.jpg",
                                        "hubble_large.jpg", "rocket_portrait_444.jpg"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        for (int size = 224; size <= 336; size += 112) {
            char rel[256];
            snprintf(rel, sizeof rel, "images/%s", names[i]);
            clip_image_options whole = {.fast_decode_size = size};
            clip_image_options part = {.fast_decode_size = size, .fast_decode_crop = 1};
            clip_image *a = NULL, *b = NULL;
            CHECK(clip_image_load_file(fixture_path(rel), &whole, &a) == CLIP_OK, "%s", clip_last_error());
            CHECK(clip_image_load_file(fixture_path(rel), &part, &b) == CLIP_OK, "%s", clip_last_error());
            if (!a || !b) {
                clip_image_free(a);
                clip_image_free(b);
                continue;
            }
            CHECK(clip_image_width(a) == clip_image_width(b) && clip_image_height(a) == clip_image_height(b),
                  "%s: a part-decoded image reports the whole size", names[i]);
            /* A square image's crop is all of it; any other loses a side. */
            int64_t got = (int64_t)b->width * b->height, all = (int64_t)a->width * a->height;
            CHECK(b->crop_size == size && (a->width == a->height ? got == all : got < all),
                  "%s at %d: %dx%d decoded of %dx%d", names[i], size, b->width, b->height, a->width, a->height);
            size_t n = (size_t)3 * size * size;
            float *ta = malloc(n * sizeof(float)), *tb = malloc(n * sizeof(float));
            clip_preprocess_options o = clip_opts(size);
            CHECK(clip_image_preprocess(a, &o, ta) == CLIP_OK && clip_image_preprocess(b, &o, tb) == CLIP_OK,
                  "%s: preprocess: %s", names[i], clip_last_error());
            CHECK(count_float_mismatches(ta, tb, n) == 0, "%s at %d: part decode changes %zu values", names[i],
                  size, count_float_mismatches(ta, tb, n));
            free(ta);
            free(tb);
            clip_image_free(a);
            clip_image_free(b);
        }

    /* Any other use of a part-decoded image is refused, clearly. */
    clip_image_options part = {.fast_decode_size = 224, .fast_decode_crop = 1};
    clip_image *img = NULL, *sub = NULL;
    CHECK(clip_image_load_file(fixture_path("images/hubble_large.jpg"), &part, &img) == CLIP_OK, "load");
    if (img) {
        float *out = malloc(sizeof(float) * 3 * 336 * 336);
        clip_preprocess_options o = clip_opts(336);
        CHECK(clip_image_preprocess(img, &o, out) == CLIP_ERR_INVALID_ARGUMENT &&
                  strstr(clip_last_error(), "centre crop") != NULL,
              "other size refused: %s", clip_last_error());
        o = clip_opts(224);
        o.mode = CLIP_RESIZE_SQUASH;
        CHECK(clip_image_preprocess(img, &o, out) == CLIP_ERR_INVALID_ARGUMENT, "squash refused");
        uint8_t *rgb = NULL;
        int w, h;
        o.mode = CLIP_RESIZE_SHORTEST;
        CHECK(clip_image_resized_rgb(img, &o, &rgb, &w, &h) == CLIP_ERR_INVALID_ARGUMENT && !rgb, "resized refused");
        CHECK(clip_image_to_rgb(img, &rgb) == CLIP_ERR_INVALID_ARGUMENT && !rgb, "to_rgb refused");
        CHECK(clip_image_crop(img, 0, 0, 10, 10, &sub) == CLIP_ERR_INVALID_ARGUMENT && !sub, "crop refused");
        free(out);
    }
    clip_image_free(img);
    /* Other formats ignore the option: the image stays whole. */
    CHECK(clip_image_load_file(fixture_path("images/chelsea.png"), &part, &img) == CLIP_OK && img->crop_size == 0,
          "PNG stays whole");
    uint8_t *rgb = NULL;
    if (img) CHECK(clip_image_to_rgb(img, &rgb) == CLIP_OK, "whole PNG converts");
    free(rgb);
    clip_image_free(img);
}

/* ------------------------------------------------------------ bad inputs */

static void expect_failure(const char *path, clip_status want, const char *reason) {
    clip_image *img = NULL;
    clip_status st = clip_image_load_file(path, NULL, &img);
    const char *msg = clip_last_error();
    CHECK(st == want, "%s: status %s, wanted %s (%s)", path, clip_status_name(st), clip_status_name(want), msg);
    CHECK(img == NULL, "%s: image returned on failure", path);
    CHECK(strstr(msg, path) != NULL, "error does not name the file: %s", msg);
    CHECK(strstr(msg, reason) != NULL, "error lacks '%s': %s", reason, msg);
    clip_image_free(img);
}

static void cut_fixture(const char *image, size_t keep, const char *out_name) {
    char rel[256];
    snprintf(rel, sizeof rel, "images/%s", image);
    size_t size;
    uint8_t *bytes = read_all(fixture_path(rel), &size);
    if (!bytes || keep > size) {
        fprintf(stderr, "FATAL: cannot read %s\n", rel);
        exit(1);
    }
    write_all(scratch_file(out_name), bytes, keep);
    free(bytes);
}

static void put32be(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A valid PNG signature and IHDR (correct CRC) claiming w x h RGB, then
 * a few bytes of nothing: decoding must stop at the size check. */
static void write_png_header(const char *path, uint32_t w, uint32_t h) {
    uint8_t buf[8 + 25 + 12];
    memcpy(buf, "\x89PNG\r\n\x1a\n", 8);
    put32be(buf + 8, 13);
    memcpy(buf + 12, "IHDR", 4);
    put32be(buf + 16, w);
    put32be(buf + 20, h);
    buf[24] = 8;  /* bit depth */
    buf[25] = 2;  /* RGB */
    buf[26] = buf[27] = buf[28] = 0;
    put32be(buf + 29, (uint32_t)crc32(0, buf + 12, 17));
    memcpy(buf + 33, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
    write_all(path, buf, sizeof buf);
}

static void test_bad_inputs(void) {
    cut_fixture("astronaut_baseline.jpg", 30000, "cut.jpg");
    expect_failure(scratch_file("cut.jpg"), CLIP_ERR_IMAGE, "truncated JPEG");
    cut_fixture("coffee_progressive.jpg", 20000, "cut_progressive.jpg");
    expect_failure(scratch_file("cut_progressive.jpg"), CLIP_ERR_IMAGE, "truncated JPEG");
    /* Missing only the final EOI marker: Pillow still reports truncation. */
    size_t jsize;
    uint8_t *jbytes = read_all(fixture_path("images/astronaut_baseline.jpg"), &jsize);
    cut_fixture("astronaut_baseline.jpg", jsize - 2, "no_eoi.jpg");
    free(jbytes);
    expect_failure(scratch_file("no_eoi.jpg"), CLIP_ERR_IMAGE, "truncated JPEG");
    cut_fixture("astronaut_baseline.jpg", 100, "header_only.jpg");
    expect_failure(scratch_file("header_only.jpg"), CLIP_ERR_IMAGE, "JPEG");

    cut_fixture("chelsea.png", 100000, "cut.png");
    expect_failure(scratch_file("cut.png"), CLIP_ERR_IMAGE, "truncated PNG");
    cut_fixture("chelsea.png", 20, "cut_header.png");
    expect_failure(scratch_file("cut_header.png"), CLIP_ERR_IMAGE, "truncated PNG");

    write_all(scratch_file("empty.png"), "", 0);
    expect_failure(scratch_file("empty.png"), CLIP_ERR_IMAGE, "empty file");

    uint8_t noise[4096];
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof noise; i++) noise[i] = (uint8_t)((s = s * 1103515245u + 12345u) >> 16);
    noise[0] = 0x42; /* not a known signature */
    noise[1] = 0x00;
    write_all(scratch_file("noise.bin"), noise, sizeof noise);
    expect_failure(scratch_file("noise.bin"), CLIP_ERR_UNSUPPORTED, "unrecognised image format");
    /* Noise behind a JPEG signature is corrupt, not unsupported. */
    noise[0] = 0xFF, noise[1] = 0xD8, noise[2] = 0xFF;
    write_all(scratch_file("noise.jpg"), noise, sizeof noise);
    expect_failure(scratch_file("noise.jpg"), CLIP_ERR_IMAGE, "JPEG");
    memcpy(noise, "\x89PNG\r\n\x1a\n", 8);
    write_all(scratch_file("noise.png"), noise, sizeof noise);
    expect_failure(scratch_file("noise.png"), CLIP_ERR_IMAGE, "PNG");

    /* A GIF signature is decoded (tests/test_gif.c); one without an image fails. */
    write_all(scratch_file("empty.gif"), "GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14);
    expect_failure(scratch_file("empty.gif"), CLIP_ERR_IMAGE, "GIF has no image");
    write_all(scratch_file("text.txt"), "hello, this is not an image at all\n", 35);
    expect_failure(scratch_file("text.txt"), CLIP_ERR_UNSUPPORTED, "unrecognised");
    expect_failure(scratch_file("does_not_exist.png"), CLIP_ERR_IO, "cannot open");

    /* Decompression bomb: 100000 x 100000 = 1e10 pixels > 178956970. */
    write_png_header(scratch_file("bomb.png"), 100000, 100000);
    expect_failure(scratch_file("bomb.png"), CLIP_ERR_LIMIT, "exceeds the limit");
    write_png_header(scratch_file("zero.png"), 0, 10);
    expect_failure(scratch_file("zero.png"), CLIP_ERR_IMAGE, "PNG");

    /* A caller's lower limit applies to real images too. */
    clip_image_options small = {.max_pixels = 1000};
    clip_image *img = NULL;
    CHECK(clip_image_load_file(fixture_path("images/chelsea.png"), &small, &img) == CLIP_ERR_LIMIT && !img,
          "max_pixels 1000 refuses chelsea.png");
    CHECK(clip_image_load_file(fixture_path("images/hubble_large.jpg"), &small, &img) == CLIP_ERR_LIMIT && !img,
          "max_pixels 1000 refuses hubble_large.jpg");
    CHECK(clip_image_load_memory(NULL, 0, NULL, &img) == CLIP_ERR_IMAGE, "empty memory");
    CHECK(clip_image_load_memory(NULL, 5, NULL, &img) == CLIP_ERR_INVALID_ARGUMENT, "NULL memory");
}

/* ------------------------------------------------------------ synthetic PNGs */

/* Writes a PNG with libpng from rows of raw samples in the file's format. */
static void write_png(const char *path, int w, int h, int color_type, int bit_depth, const uint8_t *raw,
                      size_t row_bytes, const png_color *palette, int n_palette, int interlace) {
    FILE *fp = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) exit(1);
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, bit_depth, color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (palette) png_set_PLTE(png, info, palette, n_palette);
    png_write_info(png, info);
    png_bytep *rows = malloc(sizeof(png_bytep) * (size_t)h);
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)(raw + (size_t)y * row_bytes);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(fp);
}

static clip_image *load_or_null(const char *path, const char *want_mode) {
    clip_image *img = NULL;
    clip_status st = clip_image_load_file(path, NULL, &img);
    CHECK(st == CLIP_OK, "%s: %s", path, clip_last_error());
    if (img) CHECK(strcmp(clip_image_mode(img), want_mode) == 0, "%s: mode %s, want %s", path, clip_image_mode(img), want_mode);
    return img;
}

static void test_png_modes(void) {
    /* 1-bit grey -> "1" with 0/255. */
    uint8_t bits[2] = {0xA0, 0x40}; /* rows: 1 0 1 0 / 0 1 0 0 */
    write_png(scratch_file("g1.png"), 4, 2, PNG_COLOR_TYPE_GRAY, 1, bits, 1, NULL, 0, 0);
    clip_image *img = load_or_null(scratch_file("g1.png"), "1");
    if (img) CHECK(img->pixels[0] == 255 && img->pixels[1] == 0 && img->pixels[5] == 255, "1-bit values");
    clip_image_free(img);

    /* 2- and 4-bit grey scale to 0..255 like PIL's L;2 / L;4. */
    uint8_t g2[1] = {0x1B}; /* 0 1 2 3 */
    write_png(scratch_file("g2.png"), 4, 1, PNG_COLOR_TYPE_GRAY, 2, g2, 1, NULL, 0, 0);
    img = load_or_null(scratch_file("g2.png"), "L");
    if (img) CHECK(img->pixels[0] == 0 && img->pixels[1] == 0x55 && img->pixels[2] == 0xAA && img->pixels[3] == 0xFF, "2-bit");
    clip_image_free(img);
    uint8_t g4[1] = {0x3F};
    write_png(scratch_file("g4.png"), 2, 1, PNG_COLOR_TYPE_GRAY, 4, g4, 1, NULL, 0, 0);
    img = load_or_null(scratch_file("g4.png"), "L");
    if (img) CHECK(img->pixels[0] == 0x33 && img->pixels[1] == 0xFF, "4-bit");
    clip_image_free(img);

    /* 4-bit palette: indices unpacked, undefined entries read as grey i. */
    png_color pal[3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
    uint8_t p4[2] = {0x12, 0x05}; /* 1 2 0 5 */
    write_png(scratch_file("p4.png"), 4, 1, PNG_COLOR_TYPE_PALETTE, 4, p4, 2, pal, 3, 0);
    img = load_or_null(scratch_file("p4.png"), "P");
    if (img) {
        uint8_t rgb[12];
        clip_preprocess_options o = clip_opts(1);
        (void)o;
        CHECK(img->pixels[0] == 1 && img->pixels[1] == 2 && img->pixels[3] == 5, "palette indices");
        uint8_t *out = NULL;
        int w, h;
        o = clip_opts(1);
        o.mode = CLIP_RESIZE_SHORTEST; /* 4x1 -> shorter side already 1: no resize */
        CHECK(clip_image_resized_rgb(img, &o, &out, &w, &h) == CLIP_OK && w == 4 && h == 1, "palette resized");
        if (out) {
            memcpy(rgb, out, 12);
            CHECK(rgb[0] == 0 && rgb[1] == 255 && rgb[5] == 255 && rgb[6] == 255 && rgb[9] == 5 && rgb[10] == 5,
                  "palette expansion");
        }
        clip_free(out);
    }
    clip_image_free(img);

    /* 16-bit grey+alpha opens as RGBA (PIL's LA;16B), 8-bit as LA. */
    uint8_t la16[8] = {0x12, 0x34, 0xFF, 0x00, 0xAB, 0xCD, 0x80, 0x01};
    write_png(scratch_file("la16.png"), 2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 16, la16, 8, NULL, 0, 0);
    img = load_or_null(scratch_file("la16.png"), "RGBA");
    if (img) CHECK(img->pixels[0] == 0x12 && img->pixels[2] == 0x12 && img->pixels[3] == 0xFF && img->pixels[4] == 0xAB && img->pixels[7] == 0x80, "LA16 -> RGBA high bytes");
    clip_image_free(img);
    uint8_t la8[4] = {200, 128, 50, 255};
    write_png(scratch_file("la8.png"), 2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, la8, 4, NULL, 0, 0);
    img = load_or_null(scratch_file("la8.png"), "LA");
    clip_image_free(img);

    /* Interlaced (Adam7) decodes to the same pixels as progressive order. */
    int w = 37, h = 23;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++) rgb[i] = (uint8_t)(i * 7 + i / 5);
    write_png(scratch_file("plain.png"), w, h, PNG_COLOR_TYPE_RGB, 8, rgb, (size_t)w * 3, NULL, 0, 0);
    write_png(scratch_file("adam7.png"), w, h, PNG_COLOR_TYPE_RGB, 8, rgb, (size_t)w * 3, NULL, 0, 1);
    clip_image *a = load_or_null(scratch_file("plain.png"), "RGB");
    clip_image *b = load_or_null(scratch_file("adam7.png"), "RGB");
    if (a && b) CHECK(memcmp(a->pixels, b->pixels, a->stride * (size_t)h) == 0, "interlaced pixels");
    if (a) {
        int same = 1;
        for (int i = 0; i < w * h; i++) same &= memcmp(a->pixels + i * 4, rgb + i * 3, 3) == 0 && a->pixels[i * 4 + 3] == 255;
        CHECK(same, "RGB stored as RGBX");
    }
    clip_image_free(a);
    clip_image_free(b);
    free(rgb);
}

/* ------------------------------------------------------------ JPEG extras */

static void test_jpeg_extras(void) {
    /* CMYK: Pillow reads 4-component data as Adobe-inverted CMYK. A flat
     * colour survives JPEG coding nearly unchanged, so check the formula. */
    int w = 16, h = 8;
    uint8_t *cmyk = malloc((size_t)w * h * 4);
    for (int i = 0; i < w * h; i++) {
        cmyk[i * 4 + 0] = 200; /* stored inverted: ink C = 55 */
        cmyk[i * 4 + 1] = 100;
        cmyk[i * 4 + 2] = 255;
        cmyk[i * 4 + 3] = 230;
    }
    write_jpeg(scratch_file("cmyk.jpg"), w, h, 4, JCS_CMYK, cmyk, 0);
    clip_image *img = load_or_null(scratch_file("cmyk.jpg"), "CMYK");
    if (img) {
        const uint8_t *p = img->pixels + (size_t)(4 * w + 8) * 4;
        CHECK(abs(p[0] - 55) <= 2 && abs(p[1] - 155) <= 2 && p[2] <= 2 && abs(p[3] - 25) <= 2,
              "CMYK inverted: %d %d %d %d", p[0], p[1], p[2], p[3]);
        uint8_t *rgb = NULL;
        int rw, rh;
        clip_preprocess_options o = clip_opts(8);
        CHECK(clip_image_resized_rgb(img, &o, &rgb, &rw, &rh) == CLIP_OK && rw == 16 && rh == 8, "CMYK resize");
        /* (255 - K) - C * (255 - K) / 255 with K = 25, C = 55: 230 - 50 = 180. */
        if (rgb) CHECK(abs(rgb[(4 * 16 + 8) * 3] - 180) <= 3, "CMYK -> RGB red %d", rgb[(4 * 16 + 8) * 3]);
        clip_free(rgb);
    }
    clip_image_free(img);
    free(cmyk);

    /* EXIF orientation 6 (rotate 90 clockwise) only with exif_rotate. */
    w = 32, h = 16;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = rgb + ((size_t)y * w + x) * 3;
            p[0] = x < 16 ? 250 : 5; /* left half red */
            p[1] = 5;
            p[2] = x < 16 ? 5 : 250;
        }
    write_jpeg(scratch_file("exif6.jpg"), w, h, 3, JCS_RGB, rgb, 6);
    free(rgb);
    clip_image_options rotate = {.exif_rotate = 1};
    img = NULL;
    CHECK(clip_image_load_file(scratch_file("exif6.jpg"), NULL, &img) == CLIP_OK && clip_image_width(img) == 32,
          "orientation ignored by default");
    clip_image_free(img);
    img = NULL;
    CHECK(clip_image_load_file(scratch_file("exif6.jpg"), &rotate, &img) == CLIP_OK, "exif load: %s", clip_last_error());
    if (img) {
        CHECK(clip_image_width(img) == 16 && clip_image_height(img) == 32, "rotated size %dx%d", clip_image_width(img),
              clip_image_height(img));
        /* Clockwise: the red left half becomes the top half. */
        CHECK(img_row(img, 2)[8 * 4] > 200 && img_row(img, 29)[8 * 4 + 2] > 200, "rotated content");
    }
    clip_image_free(img);

    /* Every orientation against hand-written expectations on a 3x2 image. */
    static const int expect[9][6] = {
        {0}, {0}, {2, 1, 0, 5, 4, 3}, {5, 4, 3, 2, 1, 0}, {3, 4, 5, 0, 1, 2},
        {0, 3, 1, 4, 2, 5}, {3, 0, 4, 1, 5, 2}, {5, 2, 4, 1, 3, 0}, {2, 5, 1, 4, 0, 3},
    };
    for (int o = 2; o <= 8; o++) {
        clip_image *t;
        CHECK(img_create(IMG_L, 3, 2, 0, "t", &t) == CLIP_OK, "create");
        for (int i = 0; i < 6; i++) t->pixels[i] = (uint8_t)i;
        CHECK(img_apply_orientation(&t, o) == CLIP_OK, "orient %d", o);
        int ok = 1;
        for (int i = 0; i < 6; i++) ok &= t->pixels[i] == expect[o][i];
        CHECK(ok, "orientation %d pixels", o);
        CHECK((o >= 5) == (t->width == 2), "orientation %d size", o);
        clip_image_free(t);
    }
    /* The parser stays inside its buffer and ignores malformed blobs. */
    uint8_t blob[26] = "II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x03\0\0\0";
    CHECK(exif_orientation(blob, 26) == 3, "little-endian orientation");
    CHECK(exif_orientation(blob, 20) == 1, "truncated IFD");
    blob[4] = 0xF0;
    CHECK(exif_orientation(blob, 26) == 1, "IFD offset out of range");
    CHECK(exif_orientation(NULL, 0) == 1, "NULL blob");
}

/* ------------------------------------------------------------ PNG writer */

static void test_png_write(void) {
    int w = 13, h = 7;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++) rgb[i] = (uint8_t)(i * 31);
    const char *path = scratch_file("written.png");
    CHECK(clip_write_png_rgb(path, rgb, w, h) == CLIP_OK, "write png: %s", clip_last_error());
    clip_image *img = load_or_null(path, "RGB");
    if (img) {
        int same = img->width == w && img->height == h;
        for (int i = 0; same && i < w * h; i++) same &= memcmp(img->pixels + i * 4, rgb + i * 3, 3) == 0;
        CHECK(same, "PNG round trip");
    }
    clip_image_free(img);
    CHECK(clip_write_png_rgb("/nonexistent-dir/x.png", rgb, w, h) == CLIP_ERR_IO, "unwritable path");
    free(rgb);
}

/* ------------------------------------------------------------ WebP, BMP */

static void test_webp(void) {
    int w = 21, h = 13;
    uint8_t *rgba = malloc((size_t)w * h * 4);
    for (int i = 0; i < w * h * 4; i++) rgba[i] = (uint8_t)(i * 13 + (i >> 3));
    uint8_t *encoded = NULL;
    size_t n = WebPEncodeLosslessRGBA(rgba, w, h, w * 4, &encoded);
    CHECK(n > 0, "WebP encode");
    write_all(scratch_file("alpha.webp"), encoded, n);
    clip_image *img = load_or_null(scratch_file("alpha.webp"), "RGBA");
    if (img) CHECK(img->width == w && memcmp(img->pixels, rgba, (size_t)w * h * 4) == 0, "lossless RGBA WebP pixels");
    clip_image_free(img);
    write_all(scratch_file("cut.webp"), encoded, n / 2);
    expect_failure(scratch_file("cut.webp"), CLIP_ERR_IMAGE, "truncated WebP");
    WebPFree(encoded);
    for (int i = 0; i < w * h; i++) rgba[i * 4 + 3] = 255;
    n = WebPEncodeLosslessRGBA(rgba, w, h, w * 4, &encoded);
    write_all(scratch_file("opaque.webp"), encoded, n);
    img = load_or_null(scratch_file("opaque.webp"), "RGB");
    if (img) CHECK(memcmp(img->pixels, rgba, (size_t)w * h * 4) == 0, "opaque WebP stored as RGBX");
    clip_image_free(img);
    WebPFree(encoded);
    free(rgba);
}

static void put16le(uint8_t *p, unsigned v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32le(uint8_t *p, uint32_t v) { put16le(p, v & 0xffff), put16le(p + 2, v >> 16); }

/* A BMP with a 40-byte header; `pixels` are the rows as stored. */
static size_t make_bmp(uint8_t *buf, int w, int h, int bits, uint32_t compression, const uint8_t *extra,
                       size_t extra_bytes, const uint8_t *pixels, size_t pixel_bytes) {
    memset(buf, 0, 54);
    buf[0] = 'B', buf[1] = 'M';
    size_t offset = 54 + extra_bytes;
    put32le(buf + 2, (uint32_t)(offset + pixel_bytes));
    put32le(buf + 10, (uint32_t)offset);
    put32le(buf + 14, 40);
    put32le(buf + 18, (uint32_t)w);
    put32le(buf + 22, (uint32_t)h);
    put16le(buf + 26, 1);
    put16le(buf + 28, (unsigned)bits);
    put32le(buf + 30, compression);
    if (extra_bytes) memcpy(buf + 54, extra, extra_bytes);
    memcpy(buf + offset, pixels, pixel_bytes);
    return offset + pixel_bytes;
}

static void test_bmp(void) {
    static uint8_t buf[8192];
    /* 24-bit, bottom-up, 2x2 (rows padded to 8 bytes): BGR order. */
    const uint8_t px24[16] = {255, 0, 0, 0, 255, 0, 0, 0, 0, 0, 255, 10, 20, 30, 0, 0};
    size_t n = make_bmp(buf, 2, 2, 24, 0, NULL, 0, px24, sizeof px24);
    write_all(scratch_file("rgb.bmp"), buf, n);
    clip_image *img = load_or_null(scratch_file("rgb.bmp"), "RGB");
    /* File row 0 is the bottom row: blue, green; the top row: red, (30,20,10). */
    if (img) {
        const uint8_t *top = img_row(img, 0), *bottom = img_row(img, 1);
        CHECK(top[0] == 255 && top[1] == 0 && top[4] == 30 && top[6] == 10 && bottom[2] == 255 && bottom[5] == 255,
              "24-bit BMP pixels");
    }
    clip_image_free(img);
    write_all(scratch_file("cut.bmp"), buf, n - 5);
    expect_failure(scratch_file("cut.bmp"), CLIP_ERR_IMAGE, "truncated BMP");

    /* 8-bit with the grey ramp palette opens as "L" (Pillow drops it). */
    uint8_t pal[1024];
    for (int i = 0; i < 256; i++) pal[i * 4] = pal[i * 4 + 1] = pal[i * 4 + 2] = (uint8_t)i, pal[i * 4 + 3] = 0;
    const uint8_t px8[4] = {7, 200, 0, 0};
    n = make_bmp(buf, 2, 1, 8, 0, pal, sizeof pal, px8, sizeof px8);
    write_all(scratch_file("grey.bmp"), buf, n);
    img = load_or_null(scratch_file("grey.bmp"), "L");
    if (img) CHECK(img->pixels[0] == 7 && img->pixels[1] == 200, "grey BMP");
    clip_image_free(img);
    pal[4] = 99; /* no longer the ramp */
    n = make_bmp(buf, 2, 1, 8, 0, pal, sizeof pal, px8, sizeof px8);
    write_all(scratch_file("pal.bmp"), buf, n);
    img = load_or_null(scratch_file("pal.bmp"), "P");
    clip_image_free(img);

    /* 32-bit BITFIELDS with an alpha mask in the V5-style mask slot. */
    const uint8_t masks[12] = {0, 0, 0xFF, 0, 0, 0xFF, 0, 0, 0xFF, 0, 0, 0};
    const uint8_t px32[4] = {1, 2, 3, 4};
    n = make_bmp(buf, 1, 1, 32, 3, masks, sizeof masks, px32, sizeof px32);
    write_all(scratch_file("bgrx.bmp"), buf, n);
    img = load_or_null(scratch_file("bgrx.bmp"), "RGB");
    if (img) CHECK(img->pixels[0] == 3 && img->pixels[1] == 2 && img->pixels[2] == 1, "BGRX bitfields");
    clip_image_free(img);
    n = make_bmp(buf, 1, 1, 8, 1, pal, sizeof pal, px8, 2);
    write_all(scratch_file("rle.bmp"), buf, n);
    expect_failure(scratch_file("rle.bmp"), CLIP_ERR_UNSUPPORTED, "RLE");
    n = make_bmp(buf, 1, 1, 24, 0, NULL, 0, px24, 4);
    put32le(buf + 14, 52);
    write_all(scratch_file("hdr52.bmp"), buf, n);
    expect_failure(scratch_file("hdr52.bmp"), CLIP_ERR_UNSUPPORTED, "header");
}

/* ------------------------------------------------------------ limits, tails */

static void test_limits_and_tails(void) {
    /* A 100000x1 line: CLIP's resize would make it 22.4M pixels long. */
    uint8_t *line = calloc(100000, 3);
    clip_image *img = NULL;
    CHECK(clip_image_from_rgb(line, 100000, 1, 0, &img) == CLIP_OK, "line image");
    float *out = malloc(sizeof(float) * 3 * 224 * 224);
    clip_preprocess_options o = clip_opts(224);
    CHECK(clip_image_preprocess(img, &o, out) == CLIP_ERR_LIMIT, "over-long resize refused: %s", clip_last_error());
    o.mode = CLIP_RESIZE_SQUASH;
    CHECK(clip_image_preprocess(img, &o, out) == CLIP_OK, "squashing the line works: %s", clip_last_error());
    o.mode = CLIP_RESIZE_PAD;
    CHECK(clip_image_preprocess(img, &o, out) == CLIP_OK, "padding the line works");
    clip_image_free(img);
    /* 5000x1: preprocess computes only the crop, but the full resized
     * image (1.1M x 224) is refused. */
    CHECK(clip_image_from_rgb(line, 5000, 1, 0, &img) == CLIP_OK, "5000x1");
    o = clip_opts(224);
    CHECK(clip_image_preprocess(img, &o, out) == CLIP_OK, "5000x1 preprocess: %s", clip_last_error());
    uint8_t *rgb = NULL;
    int w, h;
    CHECK(clip_image_resized_rgb(img, &o, &rgb, &w, &h) == CLIP_ERR_LIMIT && rgb == NULL, "huge resized refused");
    clip_image_free(img);
    free(line);
    free(out);

    /* Pillow stops reading after the image data: a PNG cut inside its IEND
     * (or the last IDAT's CRC) still opens; one cut in the data does not. */
    size_t size;
    uint8_t *png = read_all(fixture_path("images/chelsea.png"), &size);
    write_all(scratch_file("no_iend.png"), png, size - 12);
    write_all(scratch_file("no_crc.png"), png, size - 14);
    clip_image *a = load_or_null(scratch_file("no_iend.png"), "RGB");
    clip_image *b = load_or_null(scratch_file("no_crc.png"), "RGB");
    clip_image *c = load_or_null(fixture_path("images/chelsea.png"), "RGB");
    if (a && b && c)
        CHECK(memcmp(a->pixels, c->pixels, c->stride * (size_t)c->height) == 0 &&
                  memcmp(b->pixels, c->pixels, c->stride * (size_t)c->height) == 0,
              "tail-cut PNGs decode fully");
    clip_image_free(a);
    clip_image_free(b);
    clip_image_free(c);
    write_all(scratch_file("cut_data.png"), png, size - 100);
    expect_failure(scratch_file("cut_data.png"), CLIP_ERR_IMAGE, "truncated PNG");
    free(png);
}

int main(void) {
    test_reference("preprocess/expected_224.safetensors", 224);
    test_reference("preprocess/expected_336.safetensors", 336);
    test_decoded_jpegs();
    test_memory_and_rgb();
    test_resize_modes();
    test_fast_decode();
    test_fast_decode_crop();
    test_fast_idct_blocks();
    test_fast_idct_decode();
    test_bad_inputs();
    test_png_modes();
    test_jpeg_extras();
    test_png_write();
    test_webp();
    test_bmp();
    test_limits_and_tails();
    return test_finish("test_image");
}
