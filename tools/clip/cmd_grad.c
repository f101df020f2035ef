/* clip grad: one forward + backward of the contrastive loss on a batch,
 * written as the fixtures' grads/ files are, for checking a model's
 * gradients against another implementation. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "dist/dist.h"
#include "formats/npy.h"
#include "train/trainer.h"

static void usage(FILE *out) {
    fputs("usage: clip grad -m MODEL --pixels P.npy --tokens T.npy [--bn train|eval] [-t N] -o OUT.safetensors\n\n"
          "Runs CLIP's contrastive loss (image i paired with text i) forward and backward once and writes,\n"
          "atomically: loss, logits_per_image, grad.<name> for every parameter (OpenAI names, dense float32)\n"
          "and, with --bn train on a ResNet, updated.<buffer> for the BatchNorm running statistics.\n"
          "  --pixels P.npy   float32 [N, 3, R, R] preprocessed images (clip preprocess writes them)\n"
          "  --tokens T.npy   int32 or int64 [N, context] token ids\n"
          "  --bn MODE        ResNet BatchNorm: train (batch statistics, running ones updated; default,\n"
          "                   as PyTorch's model.train()) or eval (running statistics)\n"
          "  -t, --threads N  worker threads (default: all cores)\n"
          "Under mpirun -np R the N pairs are split into R equal blocks, one per rank; features are gathered\n"
          "and gradients summed, so the output (written by rank 0) equals the single-process one.\n",
          out);
}

/* Rows of an .npy with `row_dims` trailing dimensions, or -1 (message printed). */
static long npy_rows(const char *path, const npy_array *a, int row_dims, const int64_t *row_shape, int want_float) {
    int ok = want_float ? strcmp(a->descr, "<f4") == 0
                        : (strcmp(a->descr, "<i4") == 0 || strcmp(a->descr, "<i8") == 0);
    int lead = a->ndim - row_dims;
    ok = ok && (lead == 0 || lead == 1);
    for (int i = 0; ok && i < row_dims; i++) ok = a->shape[lead + i] == row_shape[i];
    if (!ok) {
        if (want_float)
            fprintf(stderr, "clip grad: %s: expected float32 (<f4) [N, 3, %lld, %lld] pixels for this model\n", path,
                    (long long)row_shape[1], (long long)row_shape[2]);
        else
            fprintf(stderr, "clip grad: %s: expected int32/int64 [N, %lld] token ids for this model\n", path,
                    (long long)row_shape[0]);
        return -1;
    }
    return lead ? (long)a->shape[0] : 1;
}

static int32_t *tokens_as_i32(const npy_array *a, size_t count) {
    int32_t *ids = malloc((count ? count : 1) * sizeof *ids);
    if (!ids) return NULL;
    int wide = strcmp(a->descr, "<i8") == 0;
    for (size_t i = 0; i < count; i++) {
        int64_t id = wide ? ((const int64_t *)a->data)[i] : ((const int32_t *)a->data)[i];
        /* Out-of-range ids are reported by the text tower. */
        ids[i] = (id < INT32_MIN || id > INT32_MAX) ? -1 : (int32_t)id;
    }
    return ids;
}

int cmd_grad(int argc, char **argv) {
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},  {"pixels", required_argument, NULL, 'p'},
        {"tokens", required_argument, NULL, 'k'}, {"bn", required_argument, NULL, 'b'},
        {"threads", required_argument, NULL, 't'}, {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *model_path = NULL, *pixels_path = NULL, *tokens_path = NULL, *output = NULL;
    int bn_train = 1;
    long threads = 0;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:t:o:h", options, NULL)) != -1) {
        switch (opt) {
        case 'm': model_path = optarg; break;
        case 'p': pixels_path = optarg; break;
        case 'k': tokens_path = optarg; break;
        case 'o': output = optarg; break;
        case 'b':
            if (strcmp(optarg, "train") != 0 && strcmp(optarg, "eval") != 0) {
                fprintf(stderr, "clip grad: --bn expects 'train' or 'eval', got '%s'\n", optarg);
                return 2;
            }
            bn_train = strcmp(optarg, "train") == 0;
            break;
        case 't':
            if (!cli_parse_int("--threads", optarg, 0, 4096, &threads)) return 2;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!model_path || !pixels_path || !tokens_path || !output || optind < argc) {
        fprintf(stderr, "clip grad: -m MODEL, --pixels, --tokens and -o OUT are required\n");
        usage(stderr);
        return 2;
    }
    if (dist_init() != CLIP_OK) {
        cli_error("grad", NULL);
        return 1;
    }
    int rank = dist_rank(), world = dist_size();
    clip_model *model = NULL;
    if (!cli_load_model("grad", model_path, (int)threads, NULL, &model)) return 1;
    clip_model_info info;
    clip_model_get_info(model, &info);
    npy_array pixels = {0}, tokens = {0};
    int status = 1;
    long n = -1, n_tokens = -1;
    int64_t image_shape[3] = {3, info.image_resolution, info.image_resolution}, text_shape[1] = {info.context_length};
    if (npy_read(pixels_path, &pixels) != CLIP_OK) {
        cli_error("grad", NULL);
    } else if (npy_read(tokens_path, &tokens) != CLIP_OK) {
        cli_error("grad", NULL);
    } else if ((n = npy_rows(pixels_path, &pixels, 3, image_shape, 1)) >= 0 &&
               (n_tokens = npy_rows(tokens_path, &tokens, 1, text_shape, 0)) >= 0) {
        if (n != n_tokens || n < 1) {
            fprintf(stderr, "clip grad: %ld images but %ld texts; the loss pairs image i with text i\n", n, n_tokens);
        } else if (n % world != 0) {
            fprintf(stderr, "clip grad: a batch of %ld pairs does not split evenly over %d ranks\n", n, world);
        } else {
            long local = n / world;
            int32_t *ids = tokens_as_i32(&tokens, (size_t)n * info.context_length);
            float *logits = malloc((size_t)n * n * sizeof(float));
            clip_trainer_options topts = {.bn_train = bn_train, .data_parallel = 1};
            clip_trainer *trainer = NULL;
            float loss = 0;
            clip_train_outputs outs = {.logits_per_image = logits};
            clip_status st = CLIP_ERR_NO_MEMORY;
            if (!ids || !logits)
                fprintf(stderr, "clip grad: out of memory\n");
            else
                st = clip_trainer_create(model, &topts, &trainer);
            size_t pixel_row = (size_t)3 * info.image_resolution * info.image_resolution;
            if (st == CLIP_OK)
                st = clip_trainer_forward_backward(trainer, (const float *)pixels.data + rank * local * pixel_row,
                                                   ids + rank * local * info.context_length, (int)local, &loss, &outs);
            if (st == CLIP_OK) st = clip_trainer_reduce_gradients(trainer);
            int buffers = bn_train && info.vision_kind == CLIP_VISION_RESNET;
            if (st == CLIP_OK && rank == 0) st = clip_trainer_write_step(trainer, loss, logits, (int)n, buffers, output);
            if (st == CLIP_OK && rank != 0) {
                status = 0;
            } else if (st == CLIP_OK) {
                size_t count;
                clip_trainer_params(trainer, &count);
                printf("{\"output\": ");
                cli_json_string(stdout, output);
                printf(", \"batch\": %ld, \"loss\": %.9g, \"parameters\": %zu, \"bn\": \"%s\", \"ranks\": %d}\n", n,
                       loss, count, bn_train ? "train" : "eval", world);
                status = 0;
            } else if (ids && logits) {
                cli_error("grad", NULL);
            }
            clip_trainer_free(trainer);
            free(logits);
            free(ids);
        }
    }
    npy_free(&pixels);
    npy_free(&tokens);
    clip_model_free(model);
    return status;
}
