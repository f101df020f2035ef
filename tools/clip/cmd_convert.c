/* clip convert: a checkpoint in any readable format to clip.c's
 * safetensors or clip.cpp's GGUF, optionally half precision or
 * block-quantised, with an accuracy report against the original. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_util.h"
#include "commands.h"
#include "core/rng.h"
#include "fetch/resolve.h"
#include "formats/convert.h"
#include "formats/model_file.h"
#include "formats/tensor_file.h"
#include "model/model_internal.h"

static void usage(FILE *out) {
    fputs("usage: clip convert IN OUT [--dtype f32|f16|bf16|q8_0|q4_0] [--report [--image FILE]... [--text TEXT]...]\n\n"
          "Reads IN (safetensors, a PyTorch .pt/.bin from torch.save or torch.jit.save, GGUF, a Hugging Face\n"
          "folder, or a name `clip pull` knows) and writes OUT: clip.c's safetensors layout (OpenAI names,\n"
          "architecture metadata, the vocabulary embedded), or clip.cpp's GGUF layout when OUT ends in .gguf.\n"
          "  --dtype T     element type of the weight matrices (default f32); q8_0 and q4_0 are ggml's\n"
          "                block formats (32 values per float16 scale); vectors stay float32; q4_0 keeps\n"
          "                the text tower, token embedding and projections at q8_0 (see --pure)\n"
          "  --pure        q4_0 for every matrix it fits (smaller, less accurate text embeddings)\n"
          "  --report      load OUT again and print the cosine similarity of its embeddings with the\n"
          "                original's, on random images and token sequences plus any --image / --text\n"
          "  --images N    random images in the report (default 8); --texts N likewise\n"
          "  --vocab PATH  the BPE vocabulary to embed when IN carries none (default: the usual search)\n"
          "  --threads N   worker threads (default: all cores)\n"
          "Prints one JSON object: sizes, tensor counts and, with --report, the cosines.\n",
          out);
}

static unsigned long long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (unsigned long long)sb.st_size : 0;
}

typedef struct report_inputs {
    cli_list images, texts;
    int random_images, random_texts;
} report_inputs;

/* Smooth random colour fields (a few sinusoids per channel), closer to
 * photographs than white noise, in the normalised range CLIP sees. */
static void random_image(clip_rng *rng, int r, float *out) {
    for (int c = 0; c < 3; c++) {
        double fx[3], fy[3], ph[3], amp[3];
        for (int k = 0; k < 3; k++) {
            fx[k] = 6.28 * (clip_rng_uniform(rng) * 4 + 0.5) / r;
            fy[k] = 6.28 * (clip_rng_uniform(rng) * 4 + 0.5) / r;
            ph[k] = 6.28 * clip_rng_uniform(rng);
            amp[k] = 0.3 + clip_rng_uniform(rng);
        }
        for (int y = 0; y < r; y++)
            for (int x = 0; x < r; x++) {
                double v = 0;
                for (int k = 0; k < 3; k++) v += amp[k] * sin(fx[k] * x + fy[k] * y + ph[k]);
                out[((size_t)c * r + y) * r + x] = (float)(0.8 * v + 0.3 * clip_rng_normal(rng));
            }
    }
}

static int build_inputs(clip_model *model, const report_inputs *in, float **pixels, int *n_images, int32_t **tokens,
                        int *n_texts) {
    clip_model_info info;
    clip_model_get_info(model, &info);
    int R = info.image_resolution, C = info.context_length;
    size_t per = (size_t)3 * R * R;
    *n_images = in->random_images + in->images.count;
    *n_texts = in->random_texts + in->texts.count;
    *pixels = calloc((size_t)(*n_images ? *n_images : 1) * per, sizeof(float));
    *tokens = calloc((size_t)(*n_texts ? *n_texts : 1) * C, sizeof(int32_t));
    if (!*pixels || !*tokens) return 0;
    clip_rng rng;
    clip_rng_seed(&rng, 20240601);
    for (int i = 0; i < in->random_images; i++) random_image(&rng, R, *pixels + i * per);
    clip_preprocess_options popts = {.size = R};
    for (int i = 0; i < in->images.count; i++) {
        clip_image *img = NULL;
        if (clip_image_load_file(in->images.items[i], NULL, &img) != CLIP_OK ||
            clip_image_preprocess(img, &popts, *pixels + (in->random_images + i) * per) != CLIP_OK) {
            clip_image_free(img);
            cli_error("convert", in->images.items[i]);
            return 0;
        }
        clip_image_free(img);
    }
    /* Random token sequences end in the highest id, as CLIP's EOT does. */
    for (int i = 0; i < in->random_texts; i++) {
        int32_t *row = *tokens + (size_t)i * C;
        int len = 3 + (int)(clip_rng_uniform(&rng) * (C - 3 < 20 ? C - 3 : 20));
        row[0] = info.vocab_size - 2;
        for (int j = 1; j < len - 1; j++) row[j] = 1 + (int32_t)(clip_rng_uniform(&rng) * (info.vocab_size - 4));
        row[len - 1] = info.vocab_size - 1;
    }
    if (in->texts.count) {
        clip_tokenizer *tok = clip_model_tokenizer(model);
        if (!tok) {
            cli_error("convert", "--text needs the model's vocabulary");
            return 0;
        }
        for (int i = 0; i < in->texts.count; i++)
            if (clip_tokenize(tok, in->texts.items[i], strlen(in->texts.items[i]), C, 1,
                              *tokens + (size_t)(in->random_texts + i) * C) != CLIP_OK) {
                cli_error("convert", "tokenize");
                return 0;
            }
    }
    return 1;
}

static void cosines(const float *a, const float *b, int rows, int dim, double *min, double *mean) {
    *min = 1;
    *mean = 0;
    for (int r = 0; r < rows; r++) {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < dim; i++) {
            double x = a[(size_t)r * dim + i], y = b[(size_t)r * dim + i];
            ab += x * y, aa += x * x, bb += y * y;
        }
        double c = ab / (sqrt(aa * bb) + 1e-30);
        if (c < *min) *min = c;
        *mean += c / rows;
    }
}

static int encode_all(clip_model *m, const float *pixels, int n_images, const int32_t *tokens, int n_texts,
                      float *image, float *text) {
    if ((n_images && clip_encode_image(m, pixels, n_images, image) != CLIP_OK) ||
        (n_texts && clip_encode_text(m, tokens, n_texts, text) != CLIP_OK)) {
        cli_error("convert", "encode");
        return 0;
    }
    return 1;
}

static int report(clip_model *original, const char *output, int threads, const report_inputs *in) {
    clip_load_options opts = {.n_threads = threads};
    clip_model *converted = NULL;
    if (tensor_file_load_model(output, &opts, &converted) != CLIP_OK) {
        cli_error("convert", "reloading the output");
        return 0;
    }
    float *pixels = NULL, *image_a = NULL, *image_b = NULL, *text_a = NULL, *text_b = NULL;
    int32_t *tokens = NULL;
    int n_images = 0, n_texts = 0, ok = build_inputs(original, in, &pixels, &n_images, &tokens, &n_texts);
    clip_model_info info;
    clip_model_get_info(original, &info);
    int E = info.embed_dim;
    if (ok) {
        image_a = malloc((size_t)(n_images + 1) * E * sizeof(float));
        image_b = malloc((size_t)(n_images + 1) * E * sizeof(float));
        text_a = malloc((size_t)(n_texts + 1) * E * sizeof(float));
        text_b = malloc((size_t)(n_texts + 1) * E * sizeof(float));
        ok = image_a && image_b && text_a && text_b &&
             encode_all(original, pixels, n_images, tokens, n_texts, image_a, text_a) &&
             encode_all(converted, pixels, n_images, tokens, n_texts, image_b, text_b);
    }
    if (ok) {
        double imin = 1, imean = 1, tmin = 1, tmean = 1;
        if (n_images) cosines(image_a, image_b, n_images, E, &imin, &imean);
        if (n_texts) cosines(text_a, text_b, n_texts, E, &tmin, &tmean);
        clip_model_info out_info;
        clip_model_get_info(converted, &out_info);
        printf(", \"report\": {\"images\": %d, \"texts\": %d, \"image_cosine_min\": %.6f, \"image_cosine_mean\": %.6f, "
               "\"text_cosine_min\": %.6f, \"text_cosine_mean\": %.6f, \"output_dtypes\": \"%s\", "
               "\"output_weight_bytes_mapped\": %llu, \"output_weight_bytes_owned\": %llu}",
               n_images, n_texts, imin, imean, tmin, tmean, out_info.dtype_summary,
               (unsigned long long)out_info.weight_bytes_mapped, (unsigned long long)out_info.weight_bytes_owned);
    }
    free(pixels);
    free(tokens);
    free(image_a);
    free(image_b);
    free(text_a);
    free(text_b);
    clip_model_free(converted);
    return ok;
}

int cmd_convert(int argc, char **argv) {
    static const struct option options[] = {
        {"dtype", required_argument, NULL, 'd'}, {"report", no_argument, NULL, 'r'},
        {"image", required_argument, NULL, 'i'}, {"text", required_argument, NULL, 't'},
        {"images", required_argument, NULL, 'I'}, {"texts", required_argument, NULL, 'T'},
        {"threads", required_argument, NULL, 'j'}, {"vocab", required_argument, NULL, 'v'},
        {"pure", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    convert_options copts = {.container = CONVERT_SAFETENSORS, .dtype = ST_F32};
    report_inputs in = {.random_images = 8, .random_texts = 8};
    const char *vocab = NULL;
    int want_report = 0, opt, status = 1;
    long threads = 0, count;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'd':
            if (!convert_dtype_from_name(optarg, &copts.dtype)) {
                fprintf(stderr, "clip convert: unknown --dtype '%s' (f32, f16, bf16, q8_0, q4_0)\n", optarg);
                goto done;
            }
            break;
        case 'r': want_report = 1; break;
        case 'v': vocab = optarg; break;
        case 'p': copts.pure = 1; break;
        case 'i': cli_list_push(&in.images, optarg); break;
        case 't': cli_list_push(&in.texts, optarg); break;
        case 'I':
            if (!cli_parse_int("--images", optarg, 0, 1000, &count)) goto done;
            in.random_images = (int)count;
            break;
        case 'T':
            if (!cli_parse_int("--texts", optarg, 0, 1000, &count)) goto done;
            in.random_texts = (int)count;
            break;
        case 'j':
            if (!cli_parse_int("--threads", optarg, 0, 4096, &threads)) goto done;
            break;
        case 'h':
            usage(stdout);
            status = 0;
            goto done;
        default: usage(stderr); status = 2; goto done;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        status = 2;
        goto done;
    }
    const char *input = argv[optind], *output = argv[optind + 1];
    if (cli_ends_with(output, ".gguf")) copts.container = CONVERT_GGUF;
    char *resolved = NULL;
    if (clip_resolve_model(input, &resolved) != CLIP_OK) {
        cli_error("convert", NULL);
        goto done;
    }
    clip_load_options opts = {.n_threads = (int)threads, .vocab_path = vocab};
    clip_model *model = NULL;
    if (tensor_file_load_model(resolved, &opts, &model) != CLIP_OK) {
        cli_error("convert", NULL);
        free(resolved);
        goto done;
    }
    const char *source_format = tensor_file_format(model->file);
    convert_stats stats;
    if (clip_convert_model(model, source_format, output, &copts, &stats) != CLIP_OK) {
        cli_error("convert", NULL);
    } else {
        printf("{\"input\": ");
        cli_json_string(stdout, input);
        printf(", \"output\": ");
        cli_json_string(stdout, output);
        printf(", \"from\": \"%s\", \"to\": \"%s\", \"dtype\": \"%s\", \"bytes_in\": %llu, \"bytes_out\": %llu, "
               "\"tensors\": %llu, \"parameters\": %llu, \"quantised\": %llu, \"half\": %llu, \"float32\": %llu, "
               "\"vocabulary\": %s",
               source_format, copts.container == CONVERT_GGUF ? "gguf" : "safetensors", st_dtype_name(copts.dtype),
               file_size(model->path), file_size(output), (unsigned long long)stats.tensors,
               (unsigned long long)stats.parameters, (unsigned long long)stats.quantised,
               (unsigned long long)stats.half, (unsigned long long)stats.full, stats.vocabulary ? "true" : "false");
        status = 0;
        if (want_report && !report(model, output, (int)threads, &in)) status = 1;
        printf("}\n");
        if (!stats.vocabulary)
            fprintf(stderr, "clip convert: warning: no vocabulary found for %s; %s has none embedded\n", input, output);
    }
    clip_model_free(model);
    free(resolved);
done:
    cli_list_free(&in.images);
    cli_list_free(&in.texts);
    return status;
}
