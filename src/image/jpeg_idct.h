/* AVX2 stand-ins for libjpeg-turbo's plain-C reduced-size inverse DCTs
 * (jpeg_idct_3x3 and jpeg_idct_6x6, what a 3/8-scale decode runs: luma
 * 3x3, 4:2:0 chroma 6x6), byte for byte the same output. libjpeg-turbo's
 * own SIMD covers only the 8x8, 4x4 and 2x2 sizes; at 3/8 its C IDCTs
 * were 17 % of clip preprocess --fast-decode (docs/images.md). */
#ifndef CLIP_IMAGE_JPEG_IDCT_H
#define CLIP_IMAGE_JPEG_IDCT_H

#include <stdint.h>
#include <stdio.h>

#include <jpeglib.h>

/* Lives as long as the decompressor; cinfo->client_data points at it. */
typedef struct jpeg_fast_idct_tables {
    int32_t quant[64] __attribute__((aligned(32))); /* dequantisation steps, natural order */
    int32_t scaled6[3][8]; /* 6x6: steps of rows 0, 2, 4 times pass 1's constants */
    uint16_t limit6[3][16]; /* 6x6: largest |coefficient|, rows 0-5 in pairs */
    int32_t scaled3[3][4]; /* 3x3: steps of rows 0-2 times pass 1's constants */
    int32_t limit3[3][4]; /* 3x3: largest |coefficient| the 32-bit lanes take */
} jpeg_fast_idct_tables;

typedef struct jpeg_fast_idct {
    jpeg_fast_idct_tables comp[MAX_COMPONENTS];
} jpeg_fast_idct;

/* Call after jpeg_start_decompress (and jpeg_crop_scanline): every
 * component whose IDCT libjpeg set to its C jpeg_idct_3x3 / jpeg_idct_6x6
 * gets the AVX2 version. Returns how many components were switched: 0
 * without AVX2 (or with resample_set_simd(0)), with another JPEG library,
 * or at scales that use neither size. */
int jpeg_fast_idct_install(j_decompress_ptr cinfo, jpeg_fast_idct *ctx);

/* For the tests: whether this build and CPU have the kernels, and one
 * block through a kernel (size 3 or 6; 64 dequantisation steps; `room`
 * bytes writable from `col` in each row: with 8 (6x6) or 4 (3x3) the rows
 * are stored whole-word, the bytes past the block's width get junk).
 * Returns 0, writing nothing, when a dequantised coefficient is too large
 * for 32-bit lanes to match libjpeg's 64-bit arithmetic (the installed
 * IDCT then calls libjpeg's own). */
int jpeg_fast_idct_available(void);
int jpeg_fast_idct_block(int size, const int32_t *quant, const JCOEF *coef, JSAMPARRAY out, JDIMENSION col,
                         int room);
/* libjpeg's own jpeg_idct_3x3 / jpeg_idct_6x6 on one block (what the
 * kernels must equal); 0 where unavailable. */
int jpeg_fast_idct_reference(int size, j_decompress_ptr cinfo, jpeg_component_info *compptr, JCOEF *coef,
                             JSAMPARRAY out, JDIMENSION col);

#endif
