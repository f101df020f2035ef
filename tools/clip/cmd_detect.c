/* clip detect: which labelled objects an image shows, and where. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "labels.h"

static void usage(FILE *out) {
    fputs("usage: clip detect -m MODEL IMAGE (--labels \"cat,dog\" | --labels-file F | --query-image FILE)\n"
          "                   [--localize] [--scales N] [--threshold T] [--max-boxes K]\n"
          "                   [--draw OUT.png] [--heatmap OUT.png] [--templates FILE] [--vocab PATH]\n\n"
          "Presence: each label scored on the whole image against neutral background prompts\n"
          "(probability = softmax over the labels and backgrounds of logit_scale x cosine; present when\n"
          ">= --threshold, default 0.5). --localize also scores square windows of side min(w,h)/2^k,\n"
          "k = 1..N (default 3) overlapping by half, batched through the image tower; boxes are the best\n"
          "windows per label after non-maximum suppression (IoU 0.3), and the heat map is the mean cosine\n"
          "of the windows covering each cell. --query-image searches for another image's content instead\n"
          "of labels (ranked by cosine). --draw writes the boxes (one colour per label, with the label\n"
          "and its probability), --heatmap the first label's heat map over the image.\n",
          out);
}

int cmd_detect(int argc, char **argv) {
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},      {"labels", required_argument, NULL, 'l'},
        {"labels-file", required_argument, NULL, 'L'}, {"query-image", required_argument, NULL, 'q'},
        {"localize", no_argument, NULL, 'z'},         {"scales", required_argument, NULL, 's'},
        {"threshold", required_argument, NULL, 't'},  {"max-boxes", required_argument, NULL, 'b'},
        {"draw", required_argument, NULL, 'd'},       {"heatmap", required_argument, NULL, 'H'},
        {"templates", required_argument, NULL, 'T'},  {"vocab", required_argument, NULL, 'v'},
        {"threads", required_argument, NULL, 'j'},    {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *model_path = NULL, *labels_csv = NULL, *labels_file = NULL, *query_image = NULL, *draw = NULL;
    const char *heatmap = NULL, *templates_file = NULL, *vocab = NULL;
    long scales = 3, max_boxes = 3, threads = 0;
    clip_detect_options opts = {0};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:h", options, NULL)) != -1) {
        switch (opt) {
        case 'm': model_path = optarg; break;
        case 'l': labels_csv = optarg; break;
        case 'L': labels_file = optarg; break;
        case 'q': query_image = optarg; break;
        case 'z': opts.localize = 1; break;
        case 's': if (!cli_parse_int("--scales", optarg, 1, 8, &scales)) return 2; break;
        case 'b': if (!cli_parse_int("--max-boxes", optarg, 1, 1000, &max_boxes)) return 2; break;
        case 't': opts.threshold = (float)atof(optarg); break;
        case 'd': draw = optarg; opts.localize = 1; break;
        case 'H': heatmap = optarg; opts.localize = 1; break;
        case 'T': templates_file = optarg; break;
        case 'v': vocab = optarg; break;
        case 'j': if (!cli_parse_int("--threads", optarg, 0, 1024, &threads)) return 2; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    int sources = !!labels_csv + !!labels_file + !!query_image;
    if (argc - optind != 1 || sources != 1) {
        fprintf(stderr, "clip detect: give one IMAGE and exactly one of --labels, --labels-file, --query-image\n");
        usage(stderr);
        return 2;
    }
    opts.n_scales = (int)scales;
    opts.max_boxes = (int)max_boxes;
    const char *image_path = argv[optind];
    label_list labels = {0}, templates = {0};
    if ((labels_csv && !labels_from_csv(labels_csv, &labels)) || (labels_file && !labels_from_file(labels_file, &labels)) ||
        (templates_file && !labels_from_file(templates_file, &templates)) || (!query_image && labels.count == 0)) {
        fprintf(stderr, "clip detect: no labels\n");
        labels_free(&labels);
        labels_free(&templates);
        return 2;
    }
    clip_model *model = NULL;
    clip_image *image = NULL, *query = NULL;
    clip_classifier *classifier = NULL, *background = NULL;
    float *query_feature = NULL;
    int status = 1;
    if (!cli_load_model("detect", model_path, (int)threads, vocab, &model)) goto done;
    if (clip_image_load_file(image_path, NULL, &image) != CLIP_OK) {
        cli_error("detect", NULL);
        goto done;
    }
    clip_model_info info;
    clip_model_get_info(model, &info);
    const float *targets;
    const float *bg = NULL;
    int n_targets, n_bg = 0;
    if (query_image) {
        query_feature = malloc((size_t)info.embed_dim * sizeof(float));
        if (!query_feature || clip_image_load_file(query_image, NULL, &query) != CLIP_OK ||
            clip_embed_images(model, (const clip_image *const *)&query, 1, 1, query_feature) != CLIP_OK) {
            cli_error("detect", query_image);
            goto done;
        }
        targets = query_feature;
        n_targets = 1;
    } else {
        if (clip_classifier_create(model, (const char *const *)labels.items, labels.count,
                                   templates.count ? (const char *const *)templates.items : NULL, templates.count,
                                   &classifier) != CLIP_OK ||
            clip_classifier_create_background(model, &background) != CLIP_OK) {
            cli_error("detect", "labels");
            goto done;
        }
        targets = clip_classifier_embeddings(classifier);
        bg = clip_classifier_embeddings(background);
        n_bg = clip_classifier_n_labels(background);
        n_targets = labels.count;
    }
    clip_detect_result r;
    if (clip_detect(model, image, targets, n_targets, bg, n_bg, &opts, &r) != CLIP_OK) {
        cli_error("detect", image_path);
        goto done;
    }
    float threshold = opts.threshold > 0 ? opts.threshold : 0.5f;
    fputs("{\"image\": ", stdout);
    cli_json_string(stdout, image_path);
    fputs(", \"labels\": [", stdout);
    for (int t = 0; t < n_targets; t++) {
        fputs(t ? ", {\"label\": " : "{\"label\": ", stdout);
        cli_json_string(stdout, query_image ? query_image : labels.items[t]);
        printf(", \"prob\": %.6g, \"present\": %s}", r.presence[t],
               (query_image || r.presence[t] >= threshold) ? "true" : "false");
    }
    fputs("], \"boxes\": [", stdout);
    for (int b = 0; b < r.n_boxes; b++) {
        const clip_detection *d = &r.boxes[b];
        fputs(b ? ", {\"label\": " : "{\"label\": ", stdout);
        cli_json_string(stdout, query_image ? query_image : labels.items[d->target]);
        printf(", \"prob\": %.6g, \"cosine\": %.6g, \"box\": [%d, %d, %d, %d]}", d->prob, d->cosine, d->x, d->y,
               d->width, d->height);
    }
    fputs("]}\n", stdout);
    status = 0;
    const char *query_label[1] = {"match"};
    if (draw && clip_detect_draw(image, &r, query_image ? query_label : (const char *const *)labels.items, draw) !=
                    CLIP_OK) {
        cli_error("detect", draw);
        status = 1;
    }
    if (heatmap && clip_detect_draw_heatmap(image, &r, 0, heatmap) != CLIP_OK) {
        cli_error("detect", heatmap);
        status = 1;
    }
    clip_detect_result_free(&r);
done:
    free(query_feature);
    clip_image_free(query);
    clip_image_free(image);
    clip_classifier_free(classifier);
    clip_classifier_free(background);
    clip_model_free(model);
    labels_free(&labels);
    labels_free(&templates);
    return status;
}
