/* clip similarity: logit_scale * cosine similarity of every image with every
 * text, and the softmax over the texts for each image. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "embed_inputs.h"

static void usage(FILE *out) {
    fputs("usage: clip similarity -m MODEL (--image FILE | --pixels FILE.npy)... (--text TEXT | --tokens FILE.npy)...\n"
          "                       [--threads N] [--vocab PATH]\n\n"
          "Prints one JSON line per image: {\"image\", \"texts\", \"logits\", \"probs\"} where logits are\n"
          "logit_scale * cosine similarity (CLIP's logits_per_image) and probs their softmax over the texts.\n",
          out);
}

int cmd_similarity(int argc, char **argv) {
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},   {"image", required_argument, NULL, 'i'},
        {"text", required_argument, NULL, 't'},    {"pixels", required_argument, NULL, 'p'},
        {"tokens", required_argument, NULL, 'k'},  {"threads", required_argument, NULL, 'j'},
        {"vocab", required_argument, NULL, 'v'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *model_path = NULL, *vocab = NULL;
    long threads = 0;
    embed_request request = {0};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:h", options, NULL)) != -1) {
        switch (opt) {
        case 'm': model_path = optarg; break;
        case 'v': vocab = optarg; break;
        case 'j': if (!cli_parse_int("--threads", optarg, 0, 1024, &threads)) return 2; break;
        case 'i': embed_request_add(&request, EMBED_IMAGE, optarg); break;
        case 't': embed_request_add(&request, EMBED_TEXT, optarg); break;
        case 'p': embed_request_add(&request, EMBED_PIXELS, optarg); break;
        case 'k': embed_request_add(&request, EMBED_TOKENS, optarg); break;
        case 'h': usage(stdout); embed_request_free(&request); return 0;
        default: usage(stderr); embed_request_free(&request); return 2;
        }
    }
    clip_model *model = NULL;
    if (optind < argc || request.count == 0) {
        usage(stderr);
        embed_request_free(&request);
        return 2;
    }
    if (!cli_load_model("similarity", model_path, (int)threads, vocab, &model)) {
        embed_request_free(&request);
        return 1;
    }
    embed_result res = {0};
    int failures = embed_run(model, &request, 32, 1, "similarity", &res);
    int dim = res.dim, n_images = 0, n_texts = 0;
    float *images = malloc((size_t)(res.count + 1) * dim * sizeof(float));
    float *texts = malloc((size_t)(res.count + 1) * dim * sizeof(float));
    const char **text_labels = malloc((size_t)(res.count + 1) * sizeof(char *));
    const char **image_labels = malloc((size_t)(res.count + 1) * sizeof(char *));
    int status = failures ? 1 : 0;
    if (!images || !texts || !text_labels || !image_labels) {
        fprintf(stderr, "clip similarity: out of memory\n");
        status = 1;
    } else {
        for (int i = 0; i < res.count; i++) {
            if (!res.ok[i]) continue;
            int is_image = res.is_image[i];
            float *dst = is_image ? images + (size_t)n_images * dim : texts + (size_t)n_texts * dim;
            memcpy(dst, res.features + (size_t)i * dim, (size_t)dim * sizeof(float));
            if (is_image) image_labels[n_images++] = res.labels[i];
            else text_labels[n_texts++] = res.labels[i];
        }
        if (n_images == 0 || n_texts == 0) {
            fprintf(stderr, "clip similarity: needs at least one image and one text\n");
            status = 1;
        } else {
            clip_model_info info;
            clip_model_get_info(model, &info);
            float *logits = malloc((size_t)n_images * n_texts * sizeof(float));
            float *probs = malloc((size_t)n_images * n_texts * sizeof(float));
            if (logits && probs) {
                clip_logits(images, n_images, texts, n_texts, dim, info.logit_scale, logits);
                memcpy(probs, logits, (size_t)n_images * n_texts * sizeof(float));
                clip_softmax_rows(probs, n_images, n_texts);
                for (int i = 0; i < n_images; i++) {
                    fputs("{\"image\": ", stdout);
                    cli_json_string(stdout, image_labels[i]);
                    fputs(", \"texts\": [", stdout);
                    for (int j = 0; j < n_texts; j++) {
                        if (j) fputs(", ", stdout);
                        cli_json_string(stdout, text_labels[j]);
                    }
                    fputs("], \"logits\": ", stdout);
                    cli_json_floats(stdout, logits + (size_t)i * n_texts, n_texts);
                    fputs(", \"probs\": ", stdout);
                    cli_json_floats(stdout, probs + (size_t)i * n_texts, n_texts);
                    fputs("}\n", stdout);
                }
            } else {
                status = 1;
            }
            free(logits);
            free(probs);
        }
    }
    free(images);
    free(texts);
    free(text_labels);
    free(image_labels);
    embed_result_free(&res);
    embed_request_free(&request);
    clip_model_free(model);
    return status;
}
