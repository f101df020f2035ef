/* AVX2 versions of libjpeg-turbo's islow 3x3 and 6x6 inverse DCTs (see
 * jpeg_idct.h), the same integer arithmetic in 32-bit lanes.
 *
 * Why 32-bit lanes give libjpeg's exact bytes (it computes in 64 bits):
 * - pass 2 (rows) ends in out = T[(S >> 18) & 1023] with T libjpeg's range
 *   table; that depends only on S mod 2^28, and adds, subtracts, multiplies
 *   and left shifts mod 2^32 keep S mod 2^32. So pass 2 may wrap freely,
 *   and the offset 512 << 18 folded into its rounding constant turns T
 *   into "((S >> 18) + 512) & 1023, minus 384, clamped to 0..255" (unsigned
 *   shift, mask, saturating 16-bit subtract, unsigned pack).
 * - pass 1 (columns) shifts right by 11 before pass 2, so there the sums
 *   must not wrap: with every dequantised coefficient |c*q| <= LIMIT they
 *   stay below 46398 * LIMIT + 1024 < 2^31 (6x6; 24018 for 3x3). Blocks
 *   beyond that (never made by an encoder from 8-bit samples: |c*q| stays
 *   near 1024 + q/2) go to libjpeg's own function.
 * Constants: FIX(x) = round(x * 2^13), as jidctint.c. */
#include "image/jpeg_idct.h"

#include <string.h>

#include "image/resample.h"

#if defined(__has_include)
#if __has_include(<jpegint.h>)
#define CLIP_HAVE_JPEGINT 1
#endif
#endif

#if defined(__x86_64__) && defined(CLIP_HAVE_JPEGINT) && defined(LIBJPEG_TURBO_VERSION_NUMBER) && \
    BITS_IN_JSAMPLE == 8
#define CLIP_FAST_IDCT 1
#include <immintrin.h>
#include <jpegint.h>

/* libjpeg-turbo exports its scaled IDCTs (declared in its private jdct.h). */
extern void jpeg_idct_3x3(j_decompress_ptr, jpeg_component_info *, JCOEFPTR, JSAMPARRAY, JDIMENSION);
extern void jpeg_idct_6x6(j_decompress_ptr, jpeg_component_info *, JCOEFPTR, JSAMPARRAY, JDIMENSION);

enum {
    FIX_0_366025404 = 2998,
    FIX_0_707106781 = 5793,
    FIX_1_224744871 = 10033,
    LIMIT6 = 46000,
    LIMIT3 = 89000,
    /* pass 2 rounding (16 << 13) plus the range-table offset 512 << 18, mod 2^32 */
    PASS2_BIAS = (int32_t)((16u << 13) + (512u << 18)),
};

#define AVX2 __attribute__((target("avx2")))

/* Constants as memory operands: gcc turns a vector of one repeated known
 * value into three instructions (move, insert, broadcast) per use, so they
 * sit in a writable global it cannot assume it knows. */
#define K8(v) {v, v, v, v, v, v, v, v}
struct jpeg_idct_consts {
    int32_t c4[8], c2[8], c5[8], round1[8], bias2[8], m1023[8];
    int16_t o384[16];
};
struct jpeg_idct_consts clip_jpeg_idct_consts __attribute__((aligned(32))) = {
    K8(FIX_0_707106781), K8(FIX_1_224744871), K8(FIX_0_366025404), K8(1 << 10), K8(PASS2_BIAS), K8(1023),
    {384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384},
};
#define KC (&clip_jpeg_idct_consts)
#define LOAD8(k) _mm256_load_si256((const __m256i *)(k))
#define LOAD4(k) _mm_load_si128((const __m128i *)(k))

/* Pass 2's sums (mod 2^32) to pixels, see the top of the file. */
AVX2 static inline __m256i range_index(__m256i s) {
    return _mm256_and_si256(_mm256_srli_epi32(s, 18), LOAD8(KC->m1023));
}

AVX2 static inline __m128i range_index128(__m128i s) {
    return _mm_and_si128(_mm_srli_epi32(s, 18), LOAD4(KC->m1023));
}

AVX2 static inline void store6(JSAMPROW row, uint64_t v) { memcpy(row, &v, 6); }
/* (gcc's _mm_storeh_pd is a plain double store: misaligned, undefined) */
AVX2 static inline void store8(JSAMPROW row, uint64_t v) { memcpy(row, &v, 8); }

/* 6x6: the steps of the even rows 0, 2, 4 fold into pass 1's constants
 * (t->scaled6: steps times 2^13, c2, c4); the odd rows are dequantised. */
AVX2 static inline int idct6(const jpeg_fast_idct_tables *t, const JCOEF *coef, JSAMPARRAY out, JDIMENSION col, int wide) {
    /* |coefficient| <= limit, two rows per vector, unsigned 16-bit (the
     * absolute value of -32768 reads as 32768 there). */
    __m256i over = _mm256_setzero_si256();
    for (int r = 0; r < 6; r += 2) {
        __m256i c = _mm256_abs_epi16(_mm256_loadu_si256((const __m256i *)(coef + 8 * r)));
        over = _mm256_or_si256(over, _mm256_subs_epu16(c, LOAD8(t->limit6[r / 2])));
    }
    if (!_mm256_testz_si256(over, over)) return 0;
    __m256i x[6];
    for (int r = 0; r < 6; r++) x[r] = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(coef + 8 * r)));
    const __m256i c4 = LOAD8(KC->c4), c2 = LOAD8(KC->c2), c5 = LOAD8(KC->c5);
    __m256i z1 = _mm256_mullo_epi32(x[1], LOAD8(t->quant + 8)), z2 = _mm256_mullo_epi32(x[3], LOAD8(t->quant + 24));
    __m256i z3 = _mm256_mullo_epi32(x[5], LOAD8(t->quant + 40));

    /* Pass 1, columns in lanes: w[k] is row k of libjpeg's workspace. */
    __m256i t0 = _mm256_add_epi32(_mm256_mullo_epi32(x[0], LOAD8(t->scaled6[0])), LOAD8(KC->round1));
    __m256i t10 = _mm256_mullo_epi32(x[4], LOAD8(t->scaled6[2]));
    __m256i t1 = _mm256_add_epi32(t0, t10);
    __m256i t11 = _mm256_srai_epi32(_mm256_sub_epi32(_mm256_sub_epi32(t0, t10), t10), 11);
    __m256i t2 = _mm256_mullo_epi32(x[2], LOAD8(t->scaled6[1]));
    __m256i e10 = _mm256_add_epi32(t1, t2), e12 = _mm256_sub_epi32(t1, t2);
    __m256i o1 = _mm256_mullo_epi32(_mm256_add_epi32(z1, z3), c5);
    __m256i o0 = _mm256_add_epi32(o1, _mm256_slli_epi32(_mm256_add_epi32(z1, z2), 13));
    __m256i o2 = _mm256_add_epi32(o1, _mm256_slli_epi32(_mm256_sub_epi32(z3, z2), 13));
    __m256i ob = _mm256_slli_epi32(_mm256_sub_epi32(_mm256_sub_epi32(z1, z2), z3), 2);
    __m256i w0 = _mm256_srai_epi32(_mm256_add_epi32(e10, o0), 11);
    __m256i w5 = _mm256_srai_epi32(_mm256_sub_epi32(e10, o0), 11);
    __m256i w1 = _mm256_add_epi32(t11, ob), w4 = _mm256_sub_epi32(t11, ob);
    __m256i w2 = _mm256_srai_epi32(_mm256_add_epi32(e12, o2), 11);
    __m256i w3 = _mm256_srai_epi32(_mm256_sub_epi32(e12, o2), 11);

    /* Transpose: v[c] lane k = w[k] lane c (lanes 6, 7 unused). */
    __m256i a0 = _mm256_unpacklo_epi32(w0, w1), a1 = _mm256_unpackhi_epi32(w0, w1);
    __m256i a2 = _mm256_unpacklo_epi32(w2, w3), a3 = _mm256_unpackhi_epi32(w2, w3);
    __m256i a4 = _mm256_unpacklo_epi32(w4, w5), a5 = _mm256_unpackhi_epi32(w4, w5);
    __m256i b0 = _mm256_unpacklo_epi64(a0, a2), b1 = _mm256_unpackhi_epi64(a0, a2);
    __m256i b2 = _mm256_unpacklo_epi64(a1, a3), b3 = _mm256_unpackhi_epi64(a1, a3);
    __m256i h4 = _mm256_unpackhi_epi64(a4, a4), h5 = _mm256_unpackhi_epi64(a5, a5);
    __m256i v0 = _mm256_permute2x128_si256(b0, a4, 0x20), v4 = _mm256_permute2x128_si256(b0, a4, 0x31);
    __m256i v1 = _mm256_permute2x128_si256(b1, h4, 0x20), v5 = _mm256_permute2x128_si256(b1, h4, 0x31);
    __m256i v2 = _mm256_permute2x128_si256(b2, a5, 0x20), v3 = _mm256_permute2x128_si256(b3, h5, 0x20);

    /* Pass 2, rows in lanes: p[c] lane k is output pixel (k, c). */
    t0 = _mm256_add_epi32(_mm256_slli_epi32(v0, 13), LOAD8(KC->bias2));
    t10 = _mm256_mullo_epi32(v4, c4);
    t1 = _mm256_add_epi32(t0, t10);
    t11 = _mm256_sub_epi32(_mm256_sub_epi32(t0, t10), t10);
    t2 = _mm256_mullo_epi32(v2, c2);
    e10 = _mm256_add_epi32(t1, t2);
    e12 = _mm256_sub_epi32(t1, t2);
    o1 = _mm256_mullo_epi32(_mm256_add_epi32(v1, v5), c5);
    o0 = _mm256_add_epi32(o1, _mm256_slli_epi32(_mm256_add_epi32(v1, v3), 13));
    o2 = _mm256_add_epi32(o1, _mm256_slli_epi32(_mm256_sub_epi32(v5, v3), 13));
    ob = _mm256_slli_epi32(_mm256_sub_epi32(_mm256_sub_epi32(v1, v3), v5), 13);
    __m256i p0 = range_index(_mm256_add_epi32(e10, o0)), p5 = range_index(_mm256_sub_epi32(e10, o0));
    __m256i p1 = range_index(_mm256_add_epi32(t11, ob)), p4 = range_index(_mm256_sub_epi32(t11, ob));
    __m256i p2 = range_index(_mm256_add_epi32(e12, o2)), p3 = range_index(_mm256_sub_epi32(e12, o2));

    /* To bytes: 16-bit [p0 k0-3, p1 k0-3 | p0 k4-7, p1 k4-7], ... */
    const __m256i off = LOAD8(KC->o384);
    __m256i q01 = _mm256_subs_epu16(_mm256_packus_epi32(p0, p1), off);
    __m256i q23 = _mm256_subs_epu16(_mm256_packus_epi32(p2, p3), off);
    __m256i q45 = _mm256_subs_epu16(_mm256_packus_epi32(p4, p5), off);
    __m256i lo = _mm256_packus_epi16(q01, q23); /* dword c: pixel c of rows 0-3 | 4-7 */
    __m256i hi = _mm256_packus_epi16(q45, q45);
    /* dword k: row k's pixels 0-3, resp. 4-5 */
    lo = _mm256_shuffle_epi8(lo, _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8,
                                                  12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
    hi = _mm256_shuffle_epi8(hi, _mm256_setr_epi8(0, 4, -1, -1, 1, 5, -1, -1, 2, 6, -1, -1, 3, 7, -1, -1, 0, 4, -1,
                                                  -1, 1, 5, -1, -1, 2, 6, -1, -1, 3, 7, -1, -1));
    __m256i r01 = _mm256_unpacklo_epi32(lo, hi); /* rows 0, 1 | 4, 5 */
    __m256i r23 = _mm256_unpackhi_epi32(lo, hi); /* rows 2, 3 | (6, 7) */
    __m128i r01l = _mm256_castsi256_si128(r01), r45 = _mm256_extracti128_si256(r01, 1);
    __m128i r23l = _mm256_castsi256_si128(r23);
    if (wide) {
        /* 8-byte rows: the 2 extra bytes belong to the next block, which
         * libjpeg transforms after this one. */
        _mm_storel_epi64((__m128i *)(out[0] + col), r01l);
        store8(out[1] + col, (uint64_t)_mm_extract_epi64(r01l, 1));
        _mm_storel_epi64((__m128i *)(out[2] + col), r23l);
        store8(out[3] + col, (uint64_t)_mm_extract_epi64(r23l, 1));
        _mm_storel_epi64((__m128i *)(out[4] + col), r45);
        store8(out[5] + col, (uint64_t)_mm_extract_epi64(r45, 1));
        return 1;
    }
    store6(out[0] + col, (uint64_t)_mm_cvtsi128_si64(r01l));
    store6(out[1] + col, (uint64_t)_mm_extract_epi64(r01l, 1));
    store6(out[2] + col, (uint64_t)_mm_cvtsi128_si64(r23l));
    store6(out[3] + col, (uint64_t)_mm_extract_epi64(r23l, 1));
    store6(out[4] + col, (uint64_t)_mm_cvtsi128_si64(r45));
    store6(out[5] + col, (uint64_t)_mm_extract_epi64(r45, 1));
    return 1;
}

/* 3x3: the dequantisation folds into pass 1's constants (integer products,
 * nothing rounds before the shift), t->scaled3 = steps times 2^13, c2, c1. */
AVX2 static inline int idct3(const jpeg_fast_idct_tables *t, const JCOEF *coef, JSAMPARRAY out, JDIMENSION col, int wide) {
    __m128i x0 = _mm_cvtepi16_epi32(_mm_loadl_epi64((const __m128i *)coef));
    __m128i x1 = _mm_cvtepi16_epi32(_mm_loadl_epi64((const __m128i *)(coef + 8)));
    __m128i x2 = _mm_cvtepi16_epi32(_mm_loadl_epi64((const __m128i *)(coef + 16)));
    __m128i over = _mm_or_si128(_mm_or_si128(_mm_cmpgt_epi32(_mm_abs_epi32(x0), LOAD4(t->limit3[0])),
                                             _mm_cmpgt_epi32(_mm_abs_epi32(x1), LOAD4(t->limit3[1]))),
                                _mm_cmpgt_epi32(_mm_abs_epi32(x2), LOAD4(t->limit3[2])));
    if (_mm_movemask_epi8(over)) return 0;

    /* Pass 1, columns in lanes. */
    __m128i t0 = _mm_add_epi32(_mm_mullo_epi32(x0, LOAD4(t->scaled3[0])), LOAD4(KC->round1));
    __m128i t12 = _mm_mullo_epi32(x2, LOAD4(t->scaled3[2]));
    __m128i o = _mm_mullo_epi32(x1, LOAD4(t->scaled3[1]));
    __m128i t10 = _mm_add_epi32(t0, t12);
    __m128i w0 = _mm_srai_epi32(_mm_add_epi32(t10, o), 11);
    __m128i w2 = _mm_srai_epi32(_mm_sub_epi32(t10, o), 11);
    __m128i w1 = _mm_srai_epi32(_mm_sub_epi32(_mm_sub_epi32(t0, t12), t12), 11);

    /* Transpose: v[c] lane k = w[k] lane c. */
    __m128i a = _mm_unpacklo_epi32(w0, w1), b = _mm_unpackhi_epi32(w0, w1);
    __m128i c = _mm_unpacklo_epi32(w2, w2), d = _mm_unpackhi_epi32(w2, w2);
    __m128i v0 = _mm_unpacklo_epi64(a, c), v1 = _mm_unpackhi_epi64(a, c), v2 = _mm_unpacklo_epi64(b, d);

    /* Pass 2, rows in lanes. */
    t0 = _mm_add_epi32(_mm_slli_epi32(v0, 13), LOAD4(KC->bias2));
    t12 = _mm_mullo_epi32(v2, LOAD4(KC->c4));
    t10 = _mm_add_epi32(t0, t12);
    o = _mm_mullo_epi32(v1, LOAD4(KC->c2));
    __m128i p0 = range_index128(_mm_add_epi32(t10, o)), p2 = range_index128(_mm_sub_epi32(t10, o));
    __m128i p1 = range_index128(_mm_sub_epi32(_mm_sub_epi32(t0, t12), t12));

    const __m128i off = LOAD4(KC->o384);
    __m128i q01 = _mm_subs_epu16(_mm_packus_epi32(p0, p1), off), q22 = _mm_subs_epu16(_mm_packus_epi32(p2, p2), off);
    __m128i bytes = _mm_packus_epi16(q01, q22); /* pixel c of rows 0-3 in dword c */
    bytes = _mm_shuffle_epi8(bytes, _mm_setr_epi8(0, 4, 8, -1, 1, 5, 9, -1, 2, 6, 10, -1, 3, 7, 11, -1));
    uint32_t r0 = (uint32_t)_mm_cvtsi128_si32(bytes), r1 = (uint32_t)_mm_extract_epi32(bytes, 1),
             r2 = (uint32_t)_mm_extract_epi32(bytes, 2);
    if (wide) {
        memcpy(out[0] + col, &r0, 4);
        memcpy(out[1] + col, &r1, 4);
        memcpy(out[2] + col, &r2, 4);
        return 1;
    }
    memcpy(out[0] + col, &r0, 3);
    memcpy(out[1] + col, &r1, 3);
    memcpy(out[2] + col, &r2, 3);
    return 1;
}

/* Fills t from 64 dequantisation steps (each <= 32767). */
static void tables_init(jpeg_fast_idct_tables *t, const int32_t *quant) {
    static const int32_t pass1[3] = {1 << 13, FIX_1_224744871, FIX_0_707106781};
    for (int i = 0; i < 64; i++) t->quant[i] = quant[i];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) {
            int32_t q = quant[8 * r + c];
            t->scaled3[r][c] = q * pass1[r];
            t->limit3[r][c] = LIMIT3 / (q > 0 ? q : 1);
        }
    static const int32_t even6[3] = {1 << 13, FIX_1_224744871, FIX_0_707106781};
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 8; c++) {
            int32_t q = quant[16 * r + c];
            t->scaled6[r][c] = q * even6[r];
            /* rows 2r and 2r + 1 side by side, as idct6 loads them */
            for (int h = 0; h < 2; h++) {
                int32_t qh = quant[16 * r + 8 * h + c], lim = LIMIT6 / (qh > 0 ? qh : 1);
                t->limit6[r][8 * h + c] = (uint16_t)(lim < 65535 ? lim : 65535);
            }
        }
}

AVX2 static void idct3_installed(j_decompress_ptr cinfo, jpeg_component_info *compptr, JCOEFPTR coef, JSAMPARRAY out,
                            JDIMENSION col) {
    const jpeg_fast_idct *ctx = cinfo->client_data;
    /* libjpeg's sample rows are width_in_blocks blocks wide: any block but
     * the last may write a little past its own right edge. */
    int wide = col + 4 <= compptr->width_in_blocks * 3;
    if (!idct3(&ctx->comp[compptr->component_index], coef, out, col, wide))
        jpeg_idct_3x3(cinfo, compptr, coef, out, col);
}

AVX2 static void idct6_installed(j_decompress_ptr cinfo, jpeg_component_info *compptr, JCOEFPTR coef, JSAMPARRAY out,
                            JDIMENSION col) {
    const jpeg_fast_idct *ctx = cinfo->client_data;
    int wide = col + 8 <= compptr->width_in_blocks * 6;
    if (!idct6(&ctx->comp[compptr->component_index], coef, out, col, wide))
        jpeg_idct_6x6(cinfo, compptr, coef, out, col);
}

int jpeg_fast_idct_available(void) { return resample_simd_active(); }

int jpeg_fast_idct_block(int size, const int32_t *quant, const JCOEF *coef, JSAMPARRAY out, JDIMENSION col,
                         int room) {
    if (!jpeg_fast_idct_available()) return 0;
    jpeg_fast_idct_tables t;
    tables_init(&t, quant);
    if (size == 6) return idct6(&t, coef, out, col, room >= 8);
    return size == 3 ? idct3(&t, coef, out, col, room >= 4) : 0;
}

int jpeg_fast_idct_reference(int size, j_decompress_ptr cinfo, jpeg_component_info *compptr, JCOEF *coef,
                             JSAMPARRAY out, JDIMENSION col) {
    if (size != 3 && size != 6) return 0;
    (size == 3 ? jpeg_idct_3x3 : jpeg_idct_6x6)(cinfo, compptr, coef, out, col);
    return 1;
}

int jpeg_fast_idct_install(j_decompress_ptr cinfo, jpeg_fast_idct *ctx) {
    if (!jpeg_fast_idct_available() || !cinfo->idct || cinfo->dct_method != JDCT_ISLOW) return 0;
    int installed = 0;
    for (int ci = 0; ci < cinfo->num_components && ci < MAX_COMPONENTS; ci++) {
        jpeg_component_info *compptr = &cinfo->comp_info[ci];
        inverse_DCT_method_ptr *slot = &cinfo->idct->inverse_DCT[ci];
        inverse_DCT_method_ptr ours = *slot == jpeg_idct_3x3 ? idct3_installed
                                      : *slot == jpeg_idct_6x6 ? idct6_installed
                                                               : NULL;
        const JQUANT_TBL *qt = compptr->quant_table;
        if (!ours || compptr->component_index != ci || !qt) continue;
        /* libjpeg-turbo keeps the steps as 16-bit signed multipliers. */
        int ok = 1;
        int32_t quant[64];
        for (int i = 0; i < 64; i++) {
            if (qt->quantval[i] > 32767) ok = 0;
            quant[i] = qt->quantval[i];
        }
        if (!ok) continue;
        tables_init(&ctx->comp[ci], quant);
        *slot = ours;
        installed++;
    }
    if (installed) cinfo->client_data = ctx;
    return installed;
}

#else /* no AVX2 or not libjpeg-turbo: libjpeg's own IDCTs stay */

int jpeg_fast_idct_available(void) { return 0; }

int jpeg_fast_idct_block(int size, const int32_t *quant, const JCOEF *coef, JSAMPARRAY out, JDIMENSION col,
                         int room) {
    (void)size, (void)quant, (void)coef, (void)out, (void)col, (void)room;
    return 0;
}

int jpeg_fast_idct_reference(int size, j_decompress_ptr cinfo, jpeg_component_info *compptr, JCOEF *coef,
                             JSAMPARRAY out, JDIMENSION col) {
    (void)size, (void)cinfo, (void)compptr, (void)coef, (void)out, (void)col;
    return 0;
}

int jpeg_fast_idct_install(j_decompress_ptr cinfo, jpeg_fast_idct *ctx) {
    (void)cinfo, (void)ctx;
    return 0;
}

#endif
