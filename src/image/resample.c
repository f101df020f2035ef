/* Port of the algorithm in Pillow 9.4's libImaging/Resample.c (bicubic,
 * a = -0.5, antialiased) and Geometry.c's ImagingScaleAffine (NEAREST).
 * Floating-point steps are written in the same order as Pillow's so the
 * weights, their fixed-point forms and the sample positions are identical. */
#include "image/resample.h"

#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/limits.h"
#include "image/resample_kernels.h"

/* Atomics: any thread may resize while another flips the switch. */
static _Atomic int simd_wanted = 1;
static _Atomic int simd_probe = -1;

int resample_set_simd(int enabled) { return atomic_exchange(&simd_wanted, enabled); }

int resample_simd_active(void) {
    int probe = atomic_load_explicit(&simd_probe, memory_order_relaxed);
    if (probe < 0) {
        probe = resample_cpu_has_avx2();
        atomic_store_explicit(&simd_probe, probe, memory_order_relaxed);
    }
    return atomic_load_explicit(&simd_wanted, memory_order_relaxed) && probe;
}

static double bicubic_filter(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Weights of one axis for output positions [first, first + count) of an
 * `out_size` resize. bounds[2i] = first input index, bounds[2i+1] = taps. */
typedef struct axis {
    int ksize;
    int *bounds;
    double *kd;
    int32_t *ki;
} axis;

static void axis_free(axis *a) {
    free(a->bounds);
    free(a->kd);
    free(a->ki);
    memset(a, 0, sizeof *a);
}

/* Pillow: filterscale = scale = (double)(in1 - in0) / outSize with a float box. */
static double axis_scale(int in_size, int out_size) { return (double)((float)in_size - 0.0f) / out_size; }

static double axis_support(double scale) { return 2.0 * (scale < 1.0 ? 1.0 : scale); }

/* The input range output position xx reads: [*xmin, *xmin + *n). */
static double axis_taps(int xx, double scale, double support, int in_size, int *xmin, int *n) {
    double center = 0.0f + (xx + 0.5) * scale;
    int lo = (int)(center - support + 0.5);
    if (lo < 0) lo = 0;
    int hi = (int)(center + support + 0.5);
    if (hi > in_size) hi = in_size;
    *xmin = lo;
    *n = hi - lo;
    return center;
}

void resample_source_span(int in_size, int out_size, int first, int count, int *lo, int *hi) {
    if (in_size == out_size || count <= 0) {
        *lo = first;
        *hi = first + (count > 0 ? count : 0);
        return;
    }
    double scale = axis_scale(in_size, out_size), support = axis_support(scale);
    int n;
    axis_taps(first, scale, support, in_size, lo, &n);
    axis_taps(first + count - 1, scale, support, in_size, hi, &n);
    *hi += n > 0 ? n : 0;
    if (*hi < *lo) *hi = *lo;
}

static clip_status axis_init(axis *a, int in_size, int out_size, int first, int count, int fixed) {
    memset(a, 0, sizeof *a);
    double scale = axis_scale(in_size, out_size);
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = axis_support(scale);
    double ks = ceil(support) * 2 + 1;
    /* Extreme reductions (a 100-megapixel line squashed to 224) would need
     * gigabytes of weights; Pillow fails on those with MemoryError. */
    if ((double)count * ks > (double)limit_value(LIMIT_RESIZE_WEIGHTS))
        return limit_fail(LIMIT_RESIZE_WEIGHTS, "resize: %d -> %d needs %.0f filter weights", in_size, out_size,
                          (double)count * ks);
    a->ksize = (int)ceil(support) * 2 + 1;
    size_t n = (size_t)count * (size_t)a->ksize;
    a->bounds = malloc(sizeof(int) * 2 * (size_t)count);
    a->kd = calloc(n, sizeof(double));
    if (fixed) a->ki = calloc(n, sizeof(int32_t));
    if (!a->bounds || !a->kd || (fixed && !a->ki)) {
        axis_free(a);
        return clip_fail(CLIP_ERR_NO_MEMORY, "resize: out of memory for coefficients");
    }
    for (int i = 0; i < count; i++) {
        int xmin, xmax;
        double center = axis_taps(first + i, scale, support, in_size, &xmin, &xmax);
        double ww = 0.0;
        double ss = 1.0 / filterscale;
        double *k = a->kd + (size_t)i * (size_t)a->ksize;
        for (int x = 0; x < xmax; x++) {
            double w = bicubic_filter((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (int x = 0; x < xmax; x++)
            if (ww != 0.0) k[x] /= ww;
        a->bounds[2 * i] = xmin;
        a->bounds[2 * i + 1] = xmax < 0 ? 0 : xmax;
        if (fixed) {
            int32_t *kf = a->ki + (size_t)i * (size_t)a->ksize;
            for (int x = 0; x < a->ksize; x++)
                kf[x] = k[x] < 0 ? (int32_t)(-0.5 + k[x] * (1 << RESAMPLE_PRECISION_BITS))
                                 : (int32_t)(0.5 + k[x] * (1 << RESAMPLE_PRECISION_BITS));
        }
    }
    return CLIP_OK;
}

/* Rows of the source the vertical pass reads for output rows of `v`. */
static void row_span(const axis *v, int count, int *lo, int *hi) {
    *lo = v->bounds[0];
    *hi = v->bounds[2 * (count - 1)] + v->bounds[2 * (count - 1) + 1];
    if (*hi < *lo) *hi = *lo;
}

/* ------------------------------------------------------------ 8-bit */

/* The horizontal pass, set up once per resize and run on any rows. */
typedef struct hpass {
    const axis *h;
    int w, channels, src_w;
    int16_t *kexp; /* split coefficients for the AVX2 kernel, or NULL */
    int kexp_stride;
    void *scratch; /* the AVX2 kernel's row buffers */
} hpass;

/* The split coefficient layout resample_h4_avx2 reads, or NULL when a
 * coefficient's high part would not fit int16 (never for bicubic). */
static int16_t *expand_groups(const axis *h, int w, int *stride_out) {
    int groups = (h->ksize + 3) / 4;
    int stride = groups * 32;
    int16_t *kexp = calloc((size_t)w * (size_t)stride, sizeof(int16_t));
    if (!kexp) return NULL;
    for (int i = 0; i < w; i++) {
        const int32_t *k = h->ki + (size_t)i * (size_t)h->ksize;
        int16_t *e = kexp + (size_t)i * (size_t)stride;
        for (int x = 0; x < h->ksize; x++) {
            int32_t high = k[x] >> 8, low = k[x] & 255; /* k = 256 * high + low */
            if (high < INT16_MIN || high > INT16_MAX) {
                free(kexp);
                return NULL;
            }
            int16_t *gh = e + (x / 4) * 32, *gl = gh + 16;
            int half = (x % 4) / 2, slot = x % 2;
            for (int c = 0; c < 4; c++) {
                gh[half * 8 + c * 2 + slot] = (int16_t)high;
                gl[half * 8 + c * 2 + slot] = (int16_t)low;
            }
        }
    }
    *stride_out = stride;
    return kexp;
}

static void hpass_init(hpass *hp, const axis *h, int w, int channels, int src_w) {
    memset(hp, 0, sizeof *hp);
    hp->h = h;
    hp->w = w;
    hp->channels = channels;
    hp->src_w = src_w;
    /* Without the expanded table the portable loop runs: same result. */
    if (channels == 4 && resample_simd_active()) {
        hp->kexp = expand_groups(h, w, &hp->kexp_stride);
        hp->scratch = hp->kexp ? malloc(resample_h4_scratch_bytes(src_w, w)) : NULL;
        if (!hp->scratch) {
            free(hp->kexp);
            hp->kexp = NULL;
        }
    }
}

static void hpass_run(const hpass *hp, const uint8_t *const *src, uint8_t *const *dst, int rows) {
    if (hp->kexp) {
        resample_h4_avx2(src, dst, rows, hp->src_w, hp->w, hp->h->bounds, hp->kexp, hp->kexp_stride, hp->scratch);
        return;
    }
    const int channels = hp->channels;
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < hp->w; i++) {
            const uint8_t *p = src[r] + (size_t)hp->h->bounds[2 * i] * (size_t)channels;
            int n = hp->h->bounds[2 * i + 1];
            const int32_t *k = hp->h->ki + (size_t)i * (size_t)hp->h->ksize;
            for (int c = 0; c < channels; c++) {
                int32_t ss = 1 << (RESAMPLE_PRECISION_BITS - 1);
                for (int x = 0; x < n; x++) ss += (int32_t)p[x * channels + c] * k[x];
                dst[r][i * channels + c] = resample_clip8(ss);
            }
        }
    }
}

static void hpass_free(hpass *hp) {
    free(hp->kexp);
    free(hp->scratch);
}

static void vrow(const uint8_t *const *rows, int n, const int32_t *k, size_t nbytes, uint8_t *out) {
    if (resample_simd_active()) {
        resample_vrow_avx2(rows, n, k, nbytes, out);
        return;
    }
    for (size_t j = 0; j < nbytes; j++) {
        int32_t ss = 1 << (RESAMPLE_PRECISION_BITS - 1);
        for (int y = 0; y < n; y++) ss += (int32_t)rows[y][j] * k[y];
        out[j] = resample_clip8(ss);
    }
}

static int window_ok(int src_w, int src_h, const resample_window *win) {
    return src_w > 0 && src_h > 0 && win->out_w > 0 && win->out_h > 0 && win->x0 >= 0 && win->y0 >= 0 &&
           win->w > 0 && win->h > 0 && win->x0 <= win->out_w - win->w && win->y0 <= win->out_h - win->h;
}

void resample_sink_buffer(void *ctx, int y, uint8_t *row) {
    resample_buffer *b = ctx;
    memcpy(b->dst + (size_t)y * b->stride, row, b->row_bytes);
}

/* Both passes, streamed: horizontal rows go into a ring as the vertical
 * pass first needs them (its row ranges only move forward), so the
 * intermediate image is never held whole. Rows are filtered two at a
 * time, one ahead of need when necessary, so the ring has ksize + 1 slots. */
static void resample_both(const uint8_t *src, size_t src_stride, const hpass *hp, const axis *v, int out_rows,
                          size_t out_bytes, uint8_t *ring, const uint8_t **rows, uint8_t *line,
                          resample_sink sink, void *ctx) {
    const int slots = v->ksize + 1;
    const int last = v->bounds[2 * (out_rows - 1)] + v->bounds[2 * (out_rows - 1) + 1];
    int next = 0; /* first source row not yet filtered horizontally */
    for (int i = 0; i < out_rows; i++) {
        int first = v->bounds[2 * i], n = v->bounds[2 * i + 1], end = first + n;
        if (next < first) next = first;
        while (next < end) {
            int count = next + 1 < last ? 2 : 1;
            const uint8_t *in[2];
            uint8_t *out[2];
            for (int c = 0; c < count; c++) {
                in[c] = src + (size_t)(next + c) * src_stride;
                out[c] = ring + (size_t)((next + c) % slots) * out_bytes;
            }
            hpass_run(hp, in, out, count);
            next += count;
        }
        for (int y = 0; y < n; y++) rows[y] = ring + (size_t)((first + y) % slots) * out_bytes;
        vrow(rows, n, v->ki + (size_t)i * (size_t)v->ksize, out_bytes, line);
        sink(ctx, i, line);
    }
}

/* The SIMD form of both passes: horizontal rows are produced in pairs
 * (2m, 2m+1) stored interleaved, which lets the vertical pass take two taps
 * per 16-bit multiply-add. Returns CLIP_ERR_UNSUPPORTED (no message) when a
 * vertical coefficient does not split into int16 halves, so the caller
 * uses the portable form instead; never happens for bicubic. */
static clip_status resample_both_pairs(const uint8_t *src, size_t src_stride, int src_h, const hpass *hp,
                                       const axis *v, int out_rows, size_t out_bytes, uint8_t *line,
                                       resample_sink sink, void *ctx) {
    const int most = v->ksize / 2 + 2; /* pairs one output row can touch */
    const size_t lanes = out_bytes;  /* one int32 per byte position */
    int32_t *khi = malloc(sizeof(int32_t) * (size_t)out_rows * (size_t)most);
    int32_t *klo = malloc(sizeof(int32_t) * (size_t)out_rows * (size_t)most);
    int32_t *ring = malloc(sizeof(int32_t) * lanes * (size_t)most + 32);
    const int32_t **pairs = malloc(sizeof *pairs * (size_t)most);
    clip_status st = CLIP_OK;
    if (!khi || !klo || !ring || !pairs) {
        st = clip_fail(CLIP_ERR_NO_MEMORY, "resize: out of memory");
        goto done;
    }
    for (int i = 0; i < out_rows && st == CLIP_OK; i++) {
        int f = v->bounds[2 * i], n = v->bounds[2 * i + 1];
        const int32_t *k = v->ki + (size_t)i * (size_t)v->ksize;
        for (int m = f >> 1, slot = 0; m <= (f + n - 1) >> 1; m++, slot++) {
            int32_t ka = 2 * m >= f ? k[2 * m - f] : 0;
            int32_t kb = 2 * m + 1 < f + n ? k[2 * m + 1 - f] : 0;
            int32_t ha = ka >> 8, hb = kb >> 8; /* k = 256 * high + low */
            if (ha < INT16_MIN || ha > INT16_MAX || hb < INT16_MIN || hb > INT16_MAX) st = CLIP_ERR_UNSUPPORTED;
            khi[(size_t)i * most + slot] = (int32_t)((uint32_t)(uint16_t)ha | (uint32_t)(uint16_t)hb << 16);
            klo[(size_t)i * most + slot] = (int32_t)((uint32_t)(ka & 255) | (uint32_t)(kb & 255) << 16);
        }
    }
    if (st != CLIP_OK) goto done;
    int next = 0; /* first pair not yet filtered horizontally */
    for (int i = 0; i < out_rows; i++) {
        int f = v->bounds[2 * i], n = v->bounds[2 * i + 1];
        int m0 = f >> 1, m1 = (f + n - 1) >> 1;
        if (next < m0) next = m0;
        for (; next <= m1; next++) {
            const uint8_t *row0 = src + (size_t)(2 * next) * src_stride;
            const uint8_t *row1 = 2 * next + 1 < src_h ? row0 + src_stride : NULL;
            resample_h4_pair_avx2(row0, row1, hp->src_w, hp->w, hp->h->bounds, hp->kexp, hp->kexp_stride,
                                  hp->scratch, ring + (size_t)(next % most) * lanes);
        }
        for (int m = m0; m <= m1; m++) pairs[m - m0] = ring + (size_t)(m % most) * lanes;
        resample_vpairs_avx2(pairs, m1 - m0 + 1, khi + (size_t)i * most, klo + (size_t)i * most, out_bytes, line);
        sink(ctx, i, line);
    }
done:
    free(khi);
    free(klo);
    free(ring);
    free(pairs);
    return st;
}

/* Moves an axis' first-tap indices from full-image to `part` coordinates
 * (origin `origin`, `size` positions); 0 when a tap range leaves it. */
static int axis_rebase(axis *a, int count, int origin, int size) {
    for (int i = 0; i < count; i++) {
        int *b = a->bounds + 2 * i;
        if (b[1] == 0) {
            b[0] = 0; /* no taps: keep the (unused) index inside the part */
            continue;
        }
        b[0] -= origin;
        if (b[0] < 0 || b[0] > size - b[1]) return 0;
    }
    return 1;
}

static int span_inside(int lo, int n, int size) { return lo >= 0 && n >= 0 && lo <= size - n; }

clip_status resample_bicubic_u8_part(const resample_part *part, int channels, const resample_window *win,
                                     resample_sink sink, void *ctx) {
    if (!window_ok(part->full_w, part->full_h, win) || part->w <= 0 || part->h <= 0)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "resize: invalid output window");
    const uint8_t *src = part->pixels;
    const size_t src_stride = part->stride;
    int need_h = win->out_w != part->full_w, need_v = win->out_h != part->full_h;
    size_t out_bytes = (size_t)win->w * (size_t)channels;
    axis h = {0}, v = {0};
    hpass hp = {0};
    uint8_t *ring = NULL, *line = malloc(out_bytes + 32);
    const uint8_t **rows = NULL;
    clip_status st = CLIP_OK;
    if (!line) goto no_memory;
    if (need_v && (st = axis_init(&v, part->full_h, win->out_h, win->y0, win->h, 1)) != CLIP_OK) goto done;
    if (need_h && (st = axis_init(&h, part->full_w, win->out_w, win->x0, win->w, 1)) != CLIP_OK) goto done;
    /* Every pixel the window reads must be in the part. */
    int rows_ok = need_v ? axis_rebase(&v, win->h, part->y0, part->h) : span_inside(win->y0 - part->y0, win->h, part->h);
    int cols_ok = need_h ? axis_rebase(&h, win->w, part->x0, part->w) : span_inside(win->x0 - part->x0, win->w, part->w);
    if (!rows_ok || !cols_ok) {
        st = clip_fail(CLIP_ERR_INVALID_ARGUMENT, "resize: the window needs pixels outside the decoded part");
        goto done;
    }
    if (need_h) hpass_init(&hp, &h, win->w, channels, part->w);
    if (need_v) {
        rows = malloc(sizeof *rows * (size_t)v.ksize);
        if (!rows) goto no_memory;
    }
    if (need_h && need_v) {
        if (hp.kexp) {
            st = resample_both_pairs(src, src_stride, part->h, &hp, &v, win->h, out_bytes, line, sink, ctx);
            if (st != CLIP_ERR_UNSUPPORTED) goto done;
            st = CLIP_OK;
        }
        ring = malloc(out_bytes * (size_t)(v.ksize + 1));
        if (!ring) goto no_memory;
        resample_both(src, src_stride, &hp, &v, win->h, out_bytes, ring, rows, line, sink, ctx);
    } else if (need_h) {
        for (int y = 0; y < win->h; y++) {
            const uint8_t *in = src + (size_t)(win->y0 - part->y0 + y) * src_stride;
            hpass_run(&hp, &in, &line, 1);
            sink(ctx, y, line);
        }
    } else if (need_v) {
        const uint8_t *base = src + (size_t)(win->x0 - part->x0) * (size_t)channels;
        for (int i = 0; i < win->h; i++) {
            int first = v.bounds[2 * i], n = v.bounds[2 * i + 1];
            for (int y = 0; y < n; y++) rows[y] = base + (size_t)(first + y) * src_stride;
            vrow(rows, n, v.ki + (size_t)i * (size_t)v.ksize, out_bytes, line);
            sink(ctx, i, line);
        }
    } else {
        for (int y = 0; y < win->h; y++) {
            memcpy(line,
                   src + (size_t)(win->y0 - part->y0 + y) * src_stride + (size_t)(win->x0 - part->x0) * (size_t)channels,
                   out_bytes);
            sink(ctx, y, line);
        }
    }
    goto done;
no_memory:
    st = clip_fail(CLIP_ERR_NO_MEMORY, "resize: out of memory");
done:
    free(line);
    free(ring);
    free(rows);
    hpass_free(&hp);
    axis_free(&h);
    axis_free(&v);
    return st;
}

clip_status resample_bicubic_u8(const uint8_t *src, size_t src_stride, int src_w, int src_h, int channels,
                                const resample_window *win, resample_sink sink, void *ctx) {
    resample_part whole = {src, src_stride, src_w, src_h, 0, 0, src_w, src_h};
    return resample_bicubic_u8_part(&whole, channels, win, sink, ctx);
}

/* ------------------------------------------------------------ int32 */

static void copy_rows(const uint8_t *src, size_t src_stride, size_t nbytes, int rows, uint8_t *dst,
                      size_t dst_stride) {
    for (int r = 0; r < rows; r++) memcpy(dst + (size_t)r * dst_stride, src + (size_t)r * src_stride, nbytes);
}

static int32_t round_up(double f) {
    /* Pillow's ROUND_UP; the clamp only guards against undefined casts. */
    double r = f >= 0.0 ? f + 0.5 : f - 0.5;
    if (r >= 2147483647.0) return INT32_MAX;
    if (r <= -2147483648.0) return INT32_MIN;
    return (int32_t)r;
}

static int32_t get_i32(const uint8_t *row, int x) {
    int32_t v;
    memcpy(&v, row + (size_t)x * 4, 4);
    return v;
}

static void put_i32(uint8_t *row, int x, int32_t v) { memcpy(row + (size_t)x * 4, &v, 4); }

/* Mode "I" is rare (16-bit grey PNGs), so it keeps the simple two-buffer
 * form: the window goes into `dst`, then to the sink. */
static clip_status bicubic_i32_window(const uint8_t *src, size_t src_stride, int src_w, int src_h,
                                      const resample_window *win, uint8_t *dst, size_t dst_stride) {
    int need_h = win->out_w != src_w, need_v = win->out_h != src_h;
    axis h = {0}, v = {0};
    uint8_t *temp = NULL;
    clip_status st = CLIP_OK;
    if (need_v && (st = axis_init(&v, src_h, win->out_h, win->y0, win->h, 0)) != CLIP_OK) goto done;
    if (need_h && (st = axis_init(&h, src_w, win->out_w, win->x0, win->w, 0)) != CLIP_OK) goto done;
    int lo = win->y0, hi = win->y0 + win->h;
    if (need_v) row_span(&v, win->h, &lo, &hi);
    const uint8_t *mid = src + (size_t)lo * src_stride + (size_t)win->x0 * 4;
    size_t mid_stride = src_stride;
    size_t out_bytes = (size_t)win->w * 4;
    if (need_h) {
        uint8_t *target = dst;
        size_t target_stride = dst_stride;
        if (need_v) {
            temp = malloc(out_bytes * (size_t)(hi - lo) + 1);
            if (!temp) {
                st = clip_fail(CLIP_ERR_NO_MEMORY, "resize: out of memory for the intermediate image");
                goto done;
            }
            target = temp;
            target_stride = out_bytes;
        }
        for (int r = lo; r < hi; r++) {
            const uint8_t *in = src + (size_t)r * src_stride;
            uint8_t *out = target + (size_t)(r - lo) * target_stride;
            for (int i = 0; i < win->w; i++) {
                const double *k = h.kd + (size_t)i * (size_t)h.ksize;
                int first = h.bounds[2 * i], n = h.bounds[2 * i + 1];
                double ss = 0.0;
                for (int x = 0; x < n; x++) ss += get_i32(in, first + x) * k[x];
                put_i32(out, i, round_up(ss));
            }
        }
        if (!need_v) goto done;
        mid = temp;
        mid_stride = out_bytes;
    }
    if (need_v) {
        for (int i = 0; i < win->h; i++) {
            const double *k = v.kd + (size_t)i * (size_t)v.ksize;
            int first = v.bounds[2 * i] - lo, n = v.bounds[2 * i + 1];
            uint8_t *out = dst + (size_t)i * dst_stride;
            for (int x = 0; x < win->w; x++) {
                double ss = 0.0;
                for (int y = 0; y < n; y++) ss += get_i32(mid + (size_t)(first + y) * mid_stride, x) * k[y];
                put_i32(out, x, round_up(ss));
            }
        }
    } else {
        copy_rows(mid, mid_stride, out_bytes, win->h, dst, dst_stride);
    }
done:
    free(temp);
    axis_free(&h);
    axis_free(&v);
    return st;
}

clip_status resample_bicubic_i32(const uint8_t *src, size_t src_stride, int src_w, int src_h,
                                 const resample_window *win, resample_sink sink, void *ctx) {
    if (!window_ok(src_w, src_h, win))
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "resize: invalid output window");
    size_t row_bytes = (size_t)win->w * 4;
    uint8_t *window = malloc(row_bytes * (size_t)win->h);
    if (!window) return clip_fail(CLIP_ERR_NO_MEMORY, "resize: out of memory");
    clip_status st = bicubic_i32_window(src, src_stride, src_w, src_h, win, window, row_bytes);
    for (int y = 0; st == CLIP_OK && y < win->h; y++) sink(ctx, y, window + (size_t)y * row_bytes);
    free(window);
    return st;
}

/* ------------------------------------------------------------ nearest */

/* Pillow's COORD(): floor for non-negative values, -1 for negatives. */
static int coord(double v) { return v < 0.0 ? -1 : (int)v; }

clip_status resample_nearest(const uint8_t *src, size_t src_stride, int src_w, int src_h, int bpp,
                             const resample_window *win, resample_sink sink, void *ctx) {
    if (!window_ok(src_w, src_h, win))
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "resize: invalid output window");
    /* The affine matrix Pillow's _resize builds for NEAREST with the default box. */
    double a0 = (double)((float)src_w - 0.0f) / win->out_w;
    double a4 = (double)((float)src_h - 0.0f) / win->out_h;
    int *xin = calloc((size_t)win->w, sizeof(int));
    uint8_t *out = malloc((size_t)win->w * (size_t)bpp);
    if (!xin || !out) {
        free(xin);
        free(out);
        return clip_fail(CLIP_ERR_NO_MEMORY, "resize: out of memory");
    }
    /* Positions accumulate by repeated addition, exactly as ImagingScaleAffine
     * does, from column 0 even when the window starts later. */
    int xmin = win->out_w, xmax = 0;
    double xo = 0.0f + a0 * 0.5;
    for (int x = 0; x < win->x0 + win->w; x++) {
        int xi = coord(xo);
        if (xi >= 0 && xi < src_w) {
            xmax = x + 1;
            if (x < xmin) xmin = x;
            if (x >= win->x0) xin[x - win->x0] = xi;
        }
        xo += a0;
    }
    double yo = 0.0f + a4 * 0.5;
    for (int y = 0; y < win->y0; y++) yo += a4;
    for (int y = 0; y < win->h; y++) {
        memset(out, 0, (size_t)win->w * (size_t)bpp);
        int yi = coord(yo);
        if (yi >= 0 && yi < src_h) {
            const uint8_t *in = src + (size_t)yi * src_stride;
            for (int x = xmin > win->x0 ? xmin : win->x0; x < xmax && x < win->x0 + win->w; x++)
                memcpy(out + (size_t)(x - win->x0) * (size_t)bpp, in + (size_t)xin[x - win->x0] * (size_t)bpp,
                       (size_t)bpp);
        }
        sink(ctx, y, out);
        yo += a4;
    }
    free(xin);
    free(out);
    return CLIP_OK;
}
