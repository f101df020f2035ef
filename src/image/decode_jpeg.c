/* JPEG through libjpeg-turbo with Pillow's settings: islow IDCT, fancy
 * upsampling, no DCT scaling (unless fast_decode_size asks for it, and
 * with fast_decode_crop only the part CLIP's centre crop reads).
 * Pillow treats libjpeg's "premature end of file" warning as an error
 * ("image file is truncated"), so we do too; other warnings it ignores. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "core/error.h"
#include "image/image_internal.h"
#include "image/jpeg_idct.h"

/* Progressive files can hold any number of scans, each a full pass over
 * the coefficients; libjpeg-turbo's own tools stop at 500. */
enum { JPEG_MAX_SCANS = 1000 };

typedef struct jpeg_guard {
    struct jpeg_error_mgr pub;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    int truncated;
    int too_many_scans;
    char message[JMSG_LENGTH_MAX];
} jpeg_guard;

static void on_error_exit(j_common_ptr cinfo) {
    jpeg_guard *g = (jpeg_guard *)cinfo->err;
    g->pub.format_message(cinfo, g->message);
    longjmp(g->jump, 1);
}

static void on_emit_message(j_common_ptr cinfo, int level) {
    jpeg_guard *g = (jpeg_guard *)cinfo->err;
    if (level < 0 && g->pub.msg_code == JWRN_JPEG_EOF) {
        g->truncated = 1;
        g->pub.format_message(cinfo, g->message);
        longjmp(g->jump, 1);
    }
}

static void on_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void on_progress(j_common_ptr cinfo) {
    jpeg_guard *g = (jpeg_guard *)cinfo->err;
    if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > JPEG_MAX_SCANS) {
        g->too_many_scans = 1;
        snprintf(g->message, sizeof g->message, "more than %d progressive scans", JPEG_MAX_SCANS);
        longjmp(g->jump, 1);
    }
}

static int find_exif_orientation(j_decompress_ptr cinfo) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 && memcmp(m->data, "Exif\0\0", 6) == 0)
            return exif_orientation(m->data + 6, m->data_length - 6);
    return 1;
}

/* Smallest libjpeg scale m/8 (m = 1..8) that keeps the shorter side >=
 * `min_side`. Only 1/8, 2/8 and 4/8 have SIMD inverse DCTs, but a smaller
 * decode makes our resize cheaper by more than the plain-C IDCT costs: for
 * 1024x768 at 224, 3/8 (384x288) with the crop decode takes as long as 4/8
 * and the resize 0.27 ms instead of 0.34 (docs/images.md). */
static int fast_scale_num(j_decompress_ptr cinfo, int min_side) {
    unsigned shorter = cinfo->image_width < cinfo->image_height ? cinfo->image_width : cinfo->image_height;
    for (unsigned m = 1; m < 8; m++)
        if ((shorter * m + 7) / 8 >= (unsigned)min_side) return (int)m;
    return 8;
}

/* Pixels decoded beyond each side of what the resize reads (see crop_part). */
enum { CROP_MARGIN = 2 };

/* The decoded part: columns [x_lo, x_lo + output_width), rows [y_lo, y_hi)
 * of the full_w x full_h scaled image. */
typedef struct part {
    int x_lo, full_w, y_lo, y_hi, full_h;
} part;

/* Narrows the decode (after jpeg_start_decompress) to the pixels
 * CLIP_RESIZE_SHORTEST preprocessing at `size` reads. Columns go through
 * jpeg_crop_scanline, which widens them to whole iMCUs; the IDCT, colour
 * conversion and our resize skip what is left out, the Huffman decoding
 * cannot. Returns 0 (decode the whole image) when the preprocessing plan
 * fails; preprocessing will then report why. */
static int crop_part(j_decompress_ptr cinfo, int size, part *p) {
    int x_lo, x_hi, y_lo, y_hi;
    p->full_w = (int)cinfo->output_width;
    p->full_h = (int)cinfo->output_height;
    if (preprocess_source_span(p->full_w, p->full_h, size, &x_lo, &x_hi, &y_lo, &y_hi) != CLIP_OK) {
        clip_clear_error();
        return 0;
    }
    if (x_lo < 0 || x_hi > p->full_w || x_lo >= x_hi || y_lo < 0 || y_hi > p->full_h || y_lo >= y_hi) return 0;
    /* Fancy upsampling replicates chroma at the edges of a cropped decode
     * instead of reading the neighbours left out, so keep a margin: the
     * pixels read then come out exactly as in the whole decode. */
    x_lo = x_lo > CROP_MARGIN ? x_lo - CROP_MARGIN : 0;
    x_hi = x_hi < p->full_w - CROP_MARGIN ? x_hi + CROP_MARGIN : p->full_w;
    y_lo = y_lo > CROP_MARGIN ? y_lo - CROP_MARGIN : 0;
    y_hi = y_hi < p->full_h - CROP_MARGIN ? y_hi + CROP_MARGIN : p->full_h;
    if (x_lo > 0 || x_hi < p->full_w) {
        JDIMENSION xoff = (JDIMENSION)x_lo, width = (JDIMENSION)(x_hi - x_lo);
        jpeg_crop_scanline(cinfo, &xoff, &width);
        x_lo = (int)xoff;
    }
    p->x_lo = x_lo;
    p->y_lo = y_lo;
    p->y_hi = y_hi;
    return 1;
}

clip_status decode_jpeg(const uint8_t *data, size_t size, const char *label,
                        const clip_image_options *opts, clip_image **out) {
    struct jpeg_decompress_struct cinfo;
    jpeg_guard guard;
    jpeg_fast_idct fast_idct;
    /* volatile: these change between setjmp and a possible longjmp. */
    clip_image *volatile img = NULL;

    *out = NULL;
    memset(&guard, 0, sizeof guard);
    cinfo.err = jpeg_std_error(&guard.pub);
    guard.pub.error_exit = on_error_exit;
    guard.pub.emit_message = on_emit_message;
    guard.pub.output_message = on_output_message;
    if (setjmp(guard.jump)) {
        clip_image_free(img);
        jpeg_destroy_decompress(&cinfo);
        if (guard.truncated)
            return clip_fail(CLIP_ERR_IMAGE, "%s: truncated JPEG (%s)", label, guard.message);
        return clip_fail(CLIP_ERR_IMAGE, "%s: corrupt JPEG: %s", label, guard.message);
    }
    jpeg_create_decompress(&cinfo);
    guard.progress.progress_monitor = on_progress;
    cinfo.progress = &guard.progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    if (opts->exif_rotate) jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);

    img_mode mode;
    switch (cinfo.num_components) {
    case 1: mode = IMG_L; cinfo.out_color_space = JCS_GRAYSCALE; break;
    /* RGBX output keeps PIL's 4-byte pixel; the colour math is the same as JCS_RGB. */
    case 3: mode = IMG_RGB; cinfo.out_color_space = JCS_EXT_RGBX; break;
    case 4: mode = IMG_CMYK; cinfo.out_color_space = JCS_CMYK; break;
    default:
        jpeg_destroy_decompress(&cinfo);
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: JPEG with %d components is not supported", label,
                         cinfo.num_components);
    }
    /* Saved markers live in libjpeg's image pool, which finishing frees. */
    int orientation = opts->exif_rotate ? find_exif_orientation(&cinfo) : 1;
    clip_status st = img_check_size(cinfo.image_width, cinfo.image_height, opts->max_pixels, label, "JPEG");
    if (st != CLIP_OK) {
        jpeg_destroy_decompress(&cinfo);
        return st;
    }
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    if (opts->fast_decode_size > 0) {
        cinfo.scale_num = (unsigned)fast_scale_num(&cinfo, opts->fast_decode_size);
        cinfo.scale_denom = 8;
    }
    jpeg_start_decompress(&cinfo);

    part p = {.x_lo = 0, .y_lo = 0, .y_hi = (int)cinfo.output_height};
    /* A rotation moves the crop, so rotated images decode whole. */
    int cropped = opts->fast_decode_size > 0 && opts->fast_decode_crop && orientation == 1 &&
                  crop_part(&cinfo, opts->fast_decode_size, &p);
    clip_image *created = NULL;
    st = img_create(mode, (int)cinfo.output_width, p.y_hi - p.y_lo, opts->max_pixels, label, &created);
    if (st != CLIP_OK) {
        jpeg_destroy_decompress(&cinfo);
        return st;
    }
    img = created;
    /* The 3/8 scale's plain-C IDCTs, swapped for AVX2 ones with the same output. */
    if (opts->fast_decode_size > 0) jpeg_fast_idct_install(&cinfo, &fast_idct);
    if (cropped) {
        img->crop_size = opts->fast_decode_size;
        img->full_width = p.full_w;
        img->full_height = p.full_h;
        img->part_x = p.x_lo;
        img->part_y = p.y_lo;
    }
    /* Skipped rows cost only their Huffman decoding (none at the bottom). */
    if (p.y_lo > 0) jpeg_skip_scanlines(&cinfo, (JDIMENSION)p.y_lo);
    while (cinfo.output_scanline < (JDIMENSION)p.y_hi) {
        JSAMPROW rows[8];
        int n = 0;
        for (; n < 8 && cinfo.output_scanline + (unsigned)n < (JDIMENSION)p.y_hi; n++)
            rows[n] = img_row(img, (int)cinfo.output_scanline + n - p.y_lo);
        jpeg_read_scanlines(&cinfo, rows, (JDIMENSION)n);
    }
    if (cinfo.output_scanline < cinfo.output_height)
        jpeg_skip_scanlines(&cinfo, cinfo.output_height - cinfo.output_scanline);
    if (mode == IMG_CMYK) {
        /* Pillow reads 4-component JPEGs as Adobe-style inverted CMYK ("CMYK;I"). */
        size_t n = img->stride * (size_t)img->height;
        for (size_t i = 0; i < n; i++) img->pixels[i] = (uint8_t)~img->pixels[i];
    }
    /* Reading to EOI is what makes a file cut after its last scan fail, as in Pillow. */
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);

    clip_image *result = img;
    if (orientation != 1) {
        st = img_apply_orientation(&result, orientation);
        if (st != CLIP_OK) {
            clip_image_free(result);
            return clip_fail_context(st, "%s: ", label);
        }
    }
    *out = result;
    return CLIP_OK;
}
