/* clip preprocess: images -> CLIP input tensors in a float32 .npy. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "formats/npy.h"

static void usage(FILE *out) {
    fputs("usage: clip preprocess [options] IMAGE... -o OUT.npy [--resized OUT.png]\n\n"
          "CLIP's image preprocessing (Pillow-exact decode, bicubic resize, centre crop, normalise)\n"
          "into a float32 .npy: [3, S, S] for one image, [N, 3, S, S] for several.\n\n"
          "options:\n"
          "  -o, --output OUT.npy     where to write the tensor (required)\n"
          "  -s, --size N             model resolution S (default 224)\n"
          "  --resize-mode MODE       shortest (CLIP: shorter side to S, centre crop; default),\n"
          "                           squash (both sides to S) or pad (longer side to S, centred\n"
          "                           on black)\n"
          "  --exif-rotate            apply EXIF orientation (the reference ignores it)\n"
          "  --fast-decode            decode JPEGs at a reduced DCT scale that keeps the shorter\n"
          "                           side >= S (faster, not bit-exact)\n"
          "  --max-pixels N           refuse larger images (default 178956970, Pillow's limit)\n"
          "  --resized OUT.png        also write the resized RGB image before cropping (one image)\n"
          "  -h, --help               this help\n\n"
          "One JSON line per written image goes to stdout ({\"row\", \"image\", \"mode\", ...}).\n"
          "Images that fail to load are reported on stderr and left out; the others are still\n"
          "written, and the exit status is 1. Exit status 2 means a usage error.\n",
          out);
}

enum { OPT_RESIZE_MODE = 256, OPT_EXIF, OPT_FAST, OPT_MAX_PIXELS, OPT_RESIZED };

static int parse_mode(const char *text, clip_resize_mode *mode) {
    if (strcmp(text, "shortest") == 0) *mode = CLIP_RESIZE_SHORTEST;
    else if (strcmp(text, "squash") == 0) *mode = CLIP_RESIZE_SQUASH;
    else if (strcmp(text, "pad") == 0) *mode = CLIP_RESIZE_PAD;
    else return 0;
    return 1;
}

int cmd_preprocess(int argc, char **argv) {
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},       {"size", required_argument, NULL, 's'},
        {"resize-mode", required_argument, NULL, OPT_RESIZE_MODE},
        {"exif-rotate", no_argument, NULL, OPT_EXIF},   {"fast-decode", no_argument, NULL, OPT_FAST},
        {"max-pixels", required_argument, NULL, OPT_MAX_PIXELS},
        {"resized", required_argument, NULL, OPT_RESIZED}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *output = NULL, *resized_path = NULL;
    clip_image_options io = {0};
    clip_preprocess_options po;
    memset(&po, 0, sizeof po);
    po.size = 224;
    int fast = 0, opt;
    long value;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:s:h", options, NULL)) != -1) {
        switch (opt) {
        case 'o': output = optarg; break;
        case 's':
            if (!cli_parse_int("--size", optarg, 1, 8192, &value)) return 2;
            po.size = (int)value;
            break;
        case OPT_RESIZE_MODE:
            if (!parse_mode(optarg, &po.mode)) {
                fprintf(stderr, "clip preprocess: --resize-mode must be shortest, squash or pad, not '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_EXIF: io.exif_rotate = 1; break;
        case OPT_FAST: fast = 1; break;
        case OPT_MAX_PIXELS:
            if (!cli_parse_int("--max-pixels", optarg, 1, 0x7fffffffffffffffL, &value)) return 2;
            io.max_pixels = (uint64_t)value;
            break;
        case OPT_RESIZED: resized_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    int n_inputs = argc - optind;
    if (n_inputs < 1 || !output) {
        fprintf(stderr, "clip preprocess: %s\n\n", n_inputs < 1 ? "no image given" : "-o OUT.npy is required");
        usage(stderr);
        return 2;
    }
    if (resized_path && n_inputs != 1) {
        fprintf(stderr, "clip preprocess: --resized takes exactly one image\n");
        return 2;
    }
    if (fast) {
        io.fast_decode_size = po.size;
        /* The centre crop is all this command reads, unless --resized wants the whole resize. */
        io.fast_decode_crop = po.mode == CLIP_RESIZE_SHORTEST && !resized_path;
    }

    size_t per_image = (size_t)3 * (size_t)po.size * (size_t)po.size;
    float *tensors = malloc(per_image * sizeof(float) * (size_t)n_inputs);
    if (!tensors) {
        fprintf(stderr, "clip preprocess: out of memory for %d images\n", n_inputs);
        return 1;
    }
    int written = 0, failed = 0;
    for (int i = 0; i < n_inputs; i++) {
        const char *path = argv[optind + i];
        clip_image *img = NULL;
        if (clip_image_load_file(path, &io, &img) != CLIP_OK) {
            /* Load errors already name the file. */
            fprintf(stderr, "clip preprocess: skipped %s\n", clip_last_error());
            failed++;
            continue;
        }
        if (clip_image_preprocess(img, &po, tensors + per_image * (size_t)written) != CLIP_OK) {
            fprintf(stderr, "clip preprocess: skipped %s: %s\n", path, clip_last_error());
            clip_image_free(img);
            failed++;
            continue;
        }
        if (resized_path) {
            uint8_t *rgb = NULL;
            int w, h;
            if (clip_image_resized_rgb(img, &po, &rgb, &w, &h) != CLIP_OK || clip_write_png_rgb(resized_path, rgb, w, h) != CLIP_OK) {
                cli_error("preprocess", resized_path);
                clip_free(rgb);
                clip_image_free(img);
                free(tensors);
                return 1;
            }
            clip_free(rgb);
        }
        printf("{\"row\": %d, \"image\": ", written);
        cli_json_string(stdout, path);
        printf(", \"mode\": \"%s\", \"width\": %d, \"height\": %d, \"size\": %d}\n", clip_image_mode(img),
               clip_image_width(img), clip_image_height(img), po.size);
        clip_image_free(img);
        written++;
    }
    if (written == 0) {
        fprintf(stderr, "clip preprocess: no image could be processed; %s not written\n", output);
        free(tensors);
        return 1;
    }
    int64_t shape[4] = {written, 3, po.size, po.size};
    clip_status st = n_inputs == 1 ? npy_write_f32(output, 3, shape + 1, tensors) : npy_write_f32(output, 4, shape, tensors);
    free(tensors);
    if (st != CLIP_OK) {
        cli_error("preprocess", output);
        return 1;
    }
    return failed ? 1 : 0;
}
