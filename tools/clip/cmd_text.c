/* clip text-similarity and clip text-classify: the text tower alone. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli_util.h"
#include "commands.h"
#include "labels.h"

static void similarity_usage(FILE *out) {
    fputs("usage: clip text-similarity -m MODEL TEXT TEXT... [--vocab PATH] [--threads N]\n\n"
          "Prints the cosine similarity matrix of the texts' CLIP embeddings: one JSON line per text,\n"
          "{\"text\": ..., \"cosine\": [...]} in input order.\n",
          out);
}

static void classify_usage(FILE *out) {
    fputs("usage: clip text-classify -m MODEL TEXT... --labels \"positive review,negative review\"\n"
          "                          [--vocab PATH] [--threads N]\n\n"
          "Zero-shot classification with the text tower alone: each text against each label (used as\n"
          "written, no template), softmax over labels of logit_scale x cosine. One JSON line per text.\n",
          out);
}

static int parse(int argc, char **argv, int with_labels, const char **model, const char **vocab, long *threads,
                 const char **labels, void (*usage)(FILE *)) {
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'}, {"labels", required_argument, NULL, 'l'},
        {"threads", required_argument, NULL, 'j'}, {"vocab", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:h", options, NULL)) != -1) {
        switch (opt) {
        case 'm': *model = optarg; break;
        case 'l':
            if (!with_labels) {
                usage(stderr);
                return 2;
            }
            *labels = optarg;
            break;
        case 'v': *vocab = optarg; break;
        case 'j': if (!cli_parse_int("--threads", optarg, 0, 1024, threads)) return 2; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    return -1;
}

int cmd_text_similarity(int argc, char **argv) {
    const char *model_path = NULL, *vocab = NULL, *unused = NULL;
    long threads = 0;
    int rc = parse(argc, argv, 0, &model_path, &vocab, &threads, &unused, similarity_usage);
    if (rc >= 0) return rc;
    int n = argc - optind;
    if (n < 1) {
        similarity_usage(stderr);
        return 2;
    }
    clip_model *model = NULL;
    if (!cli_load_model("text-similarity", model_path, (int)threads, vocab, &model)) return 1;
    float *cosine = malloc((size_t)n * n * sizeof(float));
    int status = 0;
    if (!cosine || clip_text_similarity(model, (const char *const *)argv + optind, n, cosine) != CLIP_OK) {
        cli_error("text-similarity", NULL);
        status = 1;
    } else {
        for (int i = 0; i < n; i++) {
            fputs("{\"text\": ", stdout);
            cli_json_string(stdout, argv[optind + i]);
            fputs(", \"cosine\": ", stdout);
            cli_json_floats(stdout, cosine + (size_t)i * n, n);
            fputs("}\n", stdout);
        }
    }
    free(cosine);
    clip_model_free(model);
    return status;
}

int cmd_text_classify(int argc, char **argv) {
    const char *model_path = NULL, *vocab = NULL, *labels_csv = NULL;
    long threads = 0;
    int rc = parse(argc, argv, 1, &model_path, &vocab, &threads, &labels_csv, classify_usage);
    if (rc >= 0) return rc;
    int n = argc - optind;
    label_list labels = {0};
    if (n < 1 || !labels_csv || !labels_from_csv(labels_csv, &labels) || labels.count == 0) {
        labels_free(&labels);
        classify_usage(stderr);
        return 2;
    }
    clip_model *model = NULL;
    if (!cli_load_model("text-classify", model_path, (int)threads, vocab, &model)) {
        labels_free(&labels);
        return 1;
    }
    clip_model_info info;
    clip_model_get_info(model, &info);
    const char *plain[1] = {"{}"};
    clip_classifier *classifier = NULL;
    float *features = malloc((size_t)n * info.embed_dim * sizeof(float));
    float *probs = malloc((size_t)n * labels.count * sizeof(float));
    int status = 0;
    if (!features || !probs ||
        clip_classifier_create(model, (const char *const *)labels.items, labels.count, plain, 1, &classifier) != CLIP_OK ||
        clip_embed_texts(model, (const char *const *)argv + optind, n, 1, features) != CLIP_OK) {
        cli_error("text-classify", NULL);
        status = 1;
    } else {
        clip_classify_features(classifier, features, n, info.logit_scale, probs);
        for (int i = 0; i < n; i++) {
            fputs("{\"text\": ", stdout);
            cli_json_string(stdout, argv[optind + i]);
            fputs(", \"labels\": [", stdout);
            for (int j = 0; j < labels.count; j++) {
                fputs(j ? ", {\"label\": " : "{\"label\": ", stdout);
                cli_json_string(stdout, labels.items[j]);
                printf(", \"prob\": %.6g}", probs[(size_t)i * labels.count + j]);
            }
            fputs("]}\n", stdout);
        }
    }
    free(features);
    free(probs);
    clip_classifier_free(classifier);
    clip_model_free(model);
    labels_free(&labels);
    return status;
}
