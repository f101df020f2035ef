/* clip video: moments of a video that match queries, or a label timeline. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "labels.h"

static void usage(FILE *out) {
    fputs("usage: clip video -m MODEL FILE (--query TEXT... | --query-image IMAGE... | --labels \"a,b,c\")\n"
          "                  [--fps F] [--max-frames N] [--top K] [--index OUT] [--vocab PATH] [--threads N]\n\n"
          "Samples frames at F per second (default 1), embeds them in batches through the image tower and\n"
          "prints JSON lines:\n"
          "  --query / --query-image: for each query its best moments {\"query\", \"start\", \"end\", \"score\"}\n"
          "      (runs of frames whose cosine with the query is above the midpoint of its lowest and\n"
          "      highest frame; best mean cosine first; --top K per query, default 3)\n"
          "  --labels: a timeline {\"label\", \"start\", \"end\", \"prob\"}: each frame goes to the label with\n"
          "      the highest probability (softmax of logit_scale x cosine), runs become segments.\n"
          "Times are in seconds; a moment covers [start, end).\n"
          "--index OUT also writes the sampled frames as an image index (items \"FILE#t=SECONDS\"), so\n"
          "`clip index search OUT -m MODEL --text ...` finds moments; with --index the targets are optional.\n",
          out);
}

int cmd_video(int argc, char **argv) {
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},       {"query", required_argument, NULL, 'q'},
        {"query-image", required_argument, NULL, 'Q'}, {"labels", required_argument, NULL, 'l'},
        {"fps", required_argument, NULL, 'f'},         {"max-frames", required_argument, NULL, 'n'},
        {"top", required_argument, NULL, 'k'},         {"vocab", required_argument, NULL, 'v'},
        {"threads", required_argument, NULL, 'j'},     {"index", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *model_path = NULL, *labels_csv = NULL, *vocab = NULL, *index_path = NULL;
    cli_list queries = {0}, query_images = {0};
    double fps = 1.0;
    long max_frames = 100000, top = 3, threads = 0;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:h", options, NULL)) != -1) {
        switch (opt) {
        case 'm': model_path = optarg; break;
        case 'q': cli_list_push(&queries, optarg); break;
        case 'Q': cli_list_push(&query_images, optarg); break;
        case 'l': labels_csv = optarg; break;
        case 'f': fps = atof(optarg); break;
        case 'n': if (!cli_parse_int("--max-frames", optarg, 1, 10000000, &max_frames)) return 2; break;
        case 'k': if (!cli_parse_int("--top", optarg, 1, 1000, &top)) return 2; break;
        case 'v': vocab = optarg; break;
        case 'i': index_path = optarg; break;
        case 'j': if (!cli_parse_int("--threads", optarg, 0, 1024, &threads)) return 2; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    int kinds = (queries.count > 0) + (query_images.count > 0) + (labels_csv != NULL);
    label_list labels = {0};
    if (argc - optind != 1 || kinds > 1 || (kinds == 0 && !index_path) || (labels_csv && (!labels_from_csv(labels_csv, &labels) || !labels.count))) {
        fprintf(stderr, "clip video: give one FILE and one kind of target (--query, --query-image or --labels)\n");
        usage(stderr);
        cli_list_free(&queries);
        cli_list_free(&query_images);
        labels_free(&labels);
        return 2;
    }
    const char *video = argv[optind];
    clip_model *model = NULL;
    clip_video_frames frames = {0};
    float *targets = NULL;
    clip_moment *moments = NULL;
    int n_moments = 0, status = 1;
    const char *const *names;
    int n_targets;
    if (labels_csv) {
        names = (const char *const *)labels.items;
        n_targets = labels.count;
    } else if (queries.count) {
        names = queries.items;
        n_targets = queries.count;
    } else {
        names = query_images.items;
        n_targets = query_images.count;
    }
    if (!cli_load_model("video", model_path, (int)threads, vocab, &model)) goto done;
    clip_model_info info;
    clip_model_get_info(model, &info);
    targets = malloc((size_t)(n_targets ? n_targets : 1) * info.embed_dim * sizeof(float));
    if (!targets) goto done;
    clip_status st = CLIP_OK;
    if (n_targets == 0) {
        /* --index alone: frames only */
    } else if (query_images.count) {
        for (int i = 0; i < n_targets && st == CLIP_OK; i++) {
            clip_image *img = NULL;
            st = clip_image_load_file(names[i], NULL, &img);
            if (st == CLIP_OK) st = clip_embed_images(model, (const clip_image *const *)&img, 1, 1, targets + (size_t)i * info.embed_dim);
            clip_image_free(img);
        }
    } else if (labels_csv) {
        clip_classifier *c = NULL;
        st = clip_classifier_create(model, names, n_targets, NULL, 0, &c);
        if (st == CLIP_OK) memcpy(targets, clip_classifier_embeddings(c), (size_t)n_targets * info.embed_dim * sizeof(float));
        clip_classifier_free(c);
    } else {
        st = clip_embed_texts(model, names, n_targets, 1, targets);
    }
    if (st != CLIP_OK) {
        cli_error("video", "targets");
        goto done;
    }
    if (clip_video_embed(model, video, fps, (int)max_frames, &frames) != CLIP_OK) {
        cli_error("video", NULL);
        goto done;
    }
    if (index_path && clip_video_frames_index(model, &frames, video, index_path) != CLIP_OK) {
        cli_error("video", index_path);
        goto done;
    }
    if (n_targets == 0) {
        fprintf(stderr, "clip video: %d frames indexed in %s\n", frames.n, index_path);
        status = 0;
        goto done;
    }
    st = labels_csv ? clip_video_timeline(&frames, targets, n_targets, info.logit_scale, 1.0 / fps, &moments, &n_moments)
                    : clip_video_best_moments(&frames, targets, n_targets, 1.0 / fps, (int)top, &moments, &n_moments);
    if (st != CLIP_OK) {
        cli_error("video", video);
        goto done;
    }
    for (int i = 0; i < n_moments; i++) {
        fputs(labels_csv ? "{\"label\": " : "{\"query\": ", stdout);
        cli_json_string(stdout, names[moments[i].target]);
        printf(", \"start\": %.3f, \"end\": %.3f, \"%s\": %.6g}\n", moments[i].start, moments[i].end,
               labels_csv ? "prob" : "score", moments[i].score);
    }
    fprintf(stderr, "clip video: %d frames sampled at %g fps\n", frames.n, fps);
    status = 0;
done:
    free(moments);
    free(targets);
    clip_video_frames_free(&frames);
    clip_model_free(model);
    cli_list_free(&queries);
    cli_list_free(&query_images);
    labels_free(&labels);
    return status;
}
