/* Decode + CLIP preprocessing throughput on 1024x768 JPEGs, one thread,
 * CPU time: exact mode, fast mode (reduced DCT scale) and fast mode with
 * the centre-crop-only decode clip preprocess --fast-decode uses, with the
 * accuracy cost of each.
 *
 * The JPEGs are made from the fixture photos: each is stretched to
 * 1024x768 with our bicubic resampler and encoded by libjpeg at quality 90
 * (4:2:0) into --images DIR, so bench/preprocess_baseline.py can time
 * Pillow + torchvision on the very same files:
 *
 *   build/bench/bench_preprocess --images /tmp/clip-bench-jpegs
 *   /usr/bin/python3 bench/preprocess_baseline.py /tmp/clip-bench-jpegs */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jpeglib.h>

#include "clip.h"
#include "image/image_internal.h"
#include "image/resample.h"

static const char *const PHOTOS[] = {
    "astronaut_baseline.jpg", "coffee_progressive.jpg", "chelsea.png",
    "hubble_large.jpg",       "retina_333x517.png",     "rocket_portrait_444.jpg",
};
enum { N_PHOTOS = sizeof PHOTOS / sizeof PHOTOS[0], WIDTH = 1024, HEIGHT = 768, SIZE = 224 };

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *fixtures(void) {
    const char *env = getenv("CLIP_FIXTURES");
    static const char *const guesses[] = {"../shared/fixtures", "../../shared/fixtures", "../../../shared/fixtures"};
    if (env && *env) return env;
    for (size_t i = 0; i < 3; i++) {
        char probe[512];
        struct stat sb;
        snprintf(probe, sizeof probe, "%s/MANIFEST.json", guesses[i]);
        if (stat(probe, &sb) == 0) return guesses[i];
    }
    fprintf(stderr, "bench_preprocess: set CLIP_FIXTURES to the shared/fixtures folder\n");
    exit(1);
}

static int write_jpeg(const char *path, const uint8_t *rgb, int w, int h) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, fp);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE); /* defaults: 4:2:0, baseline */
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)c.next_scanline * (size_t)w * 3);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return fclose(fp);
}

/* Stretches a fixture photo to WIDTH x HEIGHT and saves it as JPEG. */
static int make_jpeg(const char *photo, const char *out_path) {
    char path[1024];
    snprintf(path, sizeof path, "%s/images/%s", fixtures(), photo);
    clip_image *img = NULL;
    if (clip_image_load_file(path, NULL, &img) != CLIP_OK || img->mode != IMG_RGB) {
        fprintf(stderr, "bench_preprocess: %s: %s\n", path, clip_last_error());
        clip_image_free(img);
        return -1;
    }
    uint8_t *rgbx = malloc((size_t)WIDTH * HEIGHT * 4), *rgb = malloc((size_t)WIDTH * HEIGHT * 3);
    resample_window win = {WIDTH, HEIGHT, 0, 0, WIDTH, HEIGHT};
    resample_buffer buffer = {rgbx, (size_t)WIDTH * 4, (size_t)WIDTH * 4};
    int rc = resample_bicubic_u8(img->pixels, img->stride, img->width, img->height, 4, &win, resample_sink_buffer,
                                 &buffer) == CLIP_OK ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < (size_t)WIDTH * HEIGHT; i++) memcpy(rgb + i * 3, rgbx + i * 4, 3);
    if (rc == 0) rc = write_jpeg(out_path, rgb, WIDTH, HEIGHT);
    free(rgbx);
    free(rgb);
    clip_image_free(img);
    return rc;
}

typedef struct timing {
    double decode_s, preprocess_s;
    long images;
} timing;

/* Runs load + preprocess over all files until `min_seconds` of CPU time. */
static int run(char paths[][1024], int n, const clip_image_options *io, double min_seconds, float *last, timing *t) {
    clip_preprocess_options po;
    memset(&po, 0, sizeof po);
    po.size = SIZE;
    memset(t, 0, sizeof *t);
    size_t per = (size_t)3 * SIZE * SIZE;
    do {
        for (int i = 0; i < n; i++) {
            double t0 = cpu_seconds();
            clip_image *img = NULL;
            if (clip_image_load_file(paths[i], io, &img) != CLIP_OK) {
                fprintf(stderr, "bench_preprocess: %s\n", clip_last_error());
                return -1;
            }
            double t1 = cpu_seconds();
            if (clip_image_preprocess(img, &po, last + per * (size_t)i) != CLIP_OK) {
                fprintf(stderr, "bench_preprocess: %s\n", clip_last_error());
                clip_image_free(img);
                return -1;
            }
            double t2 = cpu_seconds();
            clip_image_free(img);
            t->decode_s += t1 - t0;
            t->preprocess_s += t2 - t1;
            t->images++;
        }
    } while (t->decode_s + t->preprocess_s < min_seconds);
    return 0;
}

static void report(const char *label, const timing *t) {
    double total = t->decode_s + t->preprocess_s;
    printf("%-10s %7.1f images/s  %6.3f ms/image (decode %.3f ms + resize/crop/normalise %.3f ms), %ld images\n",
           label, t->images / total, 1e3 * total / t->images, 1e3 * t->decode_s / t->images,
           1e3 * t->preprocess_s / t->images, t->images);
}

/* Worst per-image difference of `got` from `ref` over all images. */
static void compare(const char *label, const float *ref, const float *got, size_t per) {
    double worst_diff = 0, worst_cos = 1;
    for (int i = 0; i < N_PHOTOS; i++) {
        const float *a = ref + per * (size_t)i, *b = got + per * (size_t)i;
        double ab = 0, aa = 0, bb = 0;
        for (size_t k = 0; k < per; k++) {
            double d = fabs((double)a[k] - b[k]);
            if (d > worst_diff) worst_diff = d;
            ab += (double)a[k] * b[k];
            aa += (double)a[k] * a[k];
            bb += (double)b[k] * b[k];
        }
        double cs = ab / sqrt(aa * bb);
        if (cs < worst_cos) worst_cos = cs;
    }
    printf("%s: max abs diff %.4f (normalised units; one 8-bit step is about %.4f), worst cosine %.6f\n", label,
           worst_diff, 1.0 / 255 / 0.26130258, worst_cos);
}

int main(int argc, char **argv) {
    const char *dir = "/tmp/clip-bench-jpegs";
    double seconds = 3.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--images") == 0 && i + 1 < argc) dir = argv[++i];
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_preprocess [--images DIR] [--seconds S]\n");
            return 2;
        }
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    static char paths[N_PHOTOS][1024];
    for (int i = 0; i < N_PHOTOS; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/bench_%d.jpg", dir, i);
        if (make_jpeg(PHOTOS[i], paths[i]) != 0) return 1;
    }
    printf("bench_preprocess: %d JPEGs of %dx%d (quality 90, 4:2:0) in %s, size %d, 1 thread, CPU time, SIMD %s\n",
           N_PHOTOS, WIDTH, HEIGHT, dir, SIZE, resample_simd_active() ? "AVX2" : "off");

    size_t per = (size_t)3 * SIZE * SIZE;
    float *exact = malloc(per * N_PHOTOS * sizeof(float)), *fast = malloc(per * N_PHOTOS * sizeof(float));
    float *crop = malloc(per * N_PHOTOS * sizeof(float));
    clip_image_options exact_opts = {0}, fast_opts = {.fast_decode_size = SIZE};
    clip_image_options crop_opts = {.fast_decode_size = SIZE, .fast_decode_crop = 1};
    timing te, tf, tc;
    if (run(paths, N_PHOTOS, &exact_opts, seconds, exact, &te) != 0) return 1;
    if (run(paths, N_PHOTOS, &fast_opts, seconds, fast, &tf) != 0) return 1;
    if (run(paths, N_PHOTOS, &crop_opts, seconds, crop, &tc) != 0) return 1;
    report("exact", &te);
    report("fast", &tf);
    report("fast+crop", &tc);
    compare("fast vs exact tensors", exact, fast, per);
    compare("fast+crop vs exact tensors", exact, crop, per);
    printf("fast+crop tensors %s fast ones\n",
           memcmp(fast, crop, per * N_PHOTOS * sizeof(float)) == 0 ? "are bit-identical to the" : "DIFFER from the");
    printf("baseline: /usr/bin/python3 bench/preprocess_baseline.py %s\n", dir);
    free(exact);
    free(fast);
    free(crop);
    return 0;
}
