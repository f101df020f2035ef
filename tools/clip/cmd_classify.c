/* clip classify: zero-shot classification of images by label prompts. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "labels.h"

#define DEFAULT_MULTI_LABEL_THRESHOLD 0.5

static void usage(FILE *out) {
    fputs("usage: clip classify -m MODEL IMAGE... (--labels \"cat,dog,car\" | --labels-file FILE)\n"
          "                     [--templates FILE] [--top K] [--multi-label [--threshold T]] [--no-cache]\n"
          "                     [--threads N] [--vocab PATH]\n\n"
          "Zero-shot classification. Each label's embedding is the normalised mean of its prompts over the\n"
          "templates (one per line, \"{}\" marks the label; default: a built-in set of 16). Prints one JSON\n"
          "line per image with the top K labels and their probabilities (softmax over the labels of\n"
          "logit_scale x cosine similarity).\n"
          "  --multi-label   score each label on its own against neutral background prompts\n"
          "                  (\"a photo.\", \"a photo of something.\", ...): prob = softmax over {label,\n"
          "                  backgrounds}; a label is present when prob >= --threshold (default 0.5)\n"
          "  --no-cache      do not read or store the label embeddings in ~/.cache/clip/classifiers\n",
          out);
}

typedef struct ranked {
    int index;
    float prob;
} ranked;

static int by_prob_desc(const void *a, const void *b) {
    float pa = ((const ranked *)a)->prob, pb = ((const ranked *)b)->prob;
    return (pa < pb) - (pa > pb);
}

static void print_result(const char *image, const clip_classifier *c, const float *probs, int top, int multi,
                         double threshold) {
    int n = clip_classifier_n_labels(c);
    ranked *order = malloc((size_t)n * sizeof *order);
    if (!order) return;
    for (int i = 0; i < n; i++) order[i] = (ranked){i, probs[i]};
    qsort(order, (size_t)n, sizeof *order, by_prob_desc);
    fputs("{\"image\": ", stdout);
    cli_json_string(stdout, image);
    fputs(", \"labels\": [", stdout);
    int shown = top > 0 && top < n ? top : n;
    for (int i = 0; i < shown; i++) {
        fputs(i ? ", {\"label\": " : "{\"label\": ", stdout);
        cli_json_string(stdout, clip_classifier_label(c, order[i].index));
        printf(", \"prob\": %.6g", order[i].prob);
        if (multi) printf(", \"present\": %s", order[i].prob >= threshold ? "true" : "false");
        fputc('}', stdout);
    }
    fputs("]}\n", stdout);
    free(order);
}

int cmd_classify(int argc, char **argv) {
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},   {"labels", required_argument, NULL, 'l'},
        {"labels-file", required_argument, NULL, 'L'}, {"templates", required_argument, NULL, 'T'},
        {"top", required_argument, NULL, 'k'},     {"multi-label", no_argument, NULL, 'M'},
        {"threshold", required_argument, NULL, 't'}, {"no-cache", no_argument, NULL, 'n'},
        {"threads", required_argument, NULL, 'j'}, {"vocab", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    const char *model_path = NULL, *labels_csv = NULL, *labels_file = NULL, *templates_file = NULL, *vocab = NULL;
    long top = 0, threads = 0;
    int multi = 0, use_cache = 1;
    double threshold = DEFAULT_MULTI_LABEL_THRESHOLD;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:h", options, NULL)) != -1) {
        switch (opt) {
        case 'm': model_path = optarg; break;
        case 'l': labels_csv = optarg; break;
        case 'L': labels_file = optarg; break;
        case 'T': templates_file = optarg; break;
        case 'k': if (!cli_parse_int("--top", optarg, 1, 1 << 20, &top)) return 2; break;
        case 'M': multi = 1; break;
        case 't': threshold = atof(optarg); break;
        case 'n': use_cache = 0; break;
        case 'j': if (!cli_parse_int("--threads", optarg, 0, 1024, &threads)) return 2; break;
        case 'v': vocab = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc || (!labels_csv == !labels_file)) {
        fprintf(stderr, "clip classify: give images and exactly one of --labels / --labels-file\n");
        usage(stderr);
        return 2;
    }
    label_list labels = {0}, templates = {0};
    int ok = labels_csv ? labels_from_csv(labels_csv, &labels) : labels_from_file(labels_file, &labels);
    if (ok && templates_file) ok = labels_from_file(templates_file, &templates);
    if (!ok || labels.count == 0 || (templates_file && templates.count == 0)) {
        fprintf(stderr, "clip classify: no labels%s\n", templates_file ? " or no templates" : "");
        labels_free(&labels);
        labels_free(&templates);
        return 2;
    }
    clip_model *model = NULL;
    if (!cli_load_model("classify", model_path, (int)threads, vocab, &model)) {
        labels_free(&labels);
        labels_free(&templates);
        return 1;
    }
    clip_model_info info;
    clip_model_get_info(model, &info);
    const char *const *tpl = templates.count ? (const char *const *)templates.items : NULL;
    clip_classifier *classifier = NULL, *background = NULL;
    clip_status st = use_cache ? clip_classifier_create_cached(model, (const char *const *)labels.items, labels.count,
                                                               tpl, templates.count, NULL, &classifier)
                               : clip_classifier_create(model, (const char *const *)labels.items, labels.count, tpl,
                                                        templates.count, &classifier);
    if (st == CLIP_OK && multi) {
        st = clip_classifier_create_background(model, &background);
    }
    int failures = 0;
    if (st != CLIP_OK) {
        cli_error("classify", "labels");
        failures = 1;
    } else {
        int n_labels = labels.count;
        float *feature = malloc((size_t)info.embed_dim * sizeof(float));
        float *probs = malloc((size_t)n_labels * sizeof(float));
        for (int i = optind; i < argc && feature && probs; i++) {
            clip_image *img = NULL;
            if (clip_image_load_file(argv[i], NULL, &img) != CLIP_OK ||
                clip_embed_images(model, (const clip_image *const *)&img, 1, 1, feature) != CLIP_OK) {
                cli_error("classify", argv[i]);
                failures++;
            } else {
                if (multi) clip_classify_multilabel(classifier, background, feature, 1, info.logit_scale, probs);
                else clip_classify_features(classifier, feature, 1, info.logit_scale, probs);
                print_result(argv[i], classifier, probs, (int)top, multi, threshold);
                fflush(stdout);
            }
            clip_image_free(img);
            cli_progress("images", i - optind + 1, argc - optind);
        }
        free(feature);
        free(probs);
    }
    clip_classifier_free(classifier);
    clip_classifier_free(background);
    clip_model_free(model);
    labels_free(&labels);
    labels_free(&templates);
    return failures ? 1 : 0;
}
