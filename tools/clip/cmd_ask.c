/* clip ask: visual question answering by scoring candidate answers. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli_util.h"
#include "commands.h"
#include "labels.h"

static void usage(FILE *out) {
    fputs("usage: clip ask -m MODEL IMAGE --question Q --answers \"red,blue,green\" [--template T]\n"
          "                [--vocab PATH] [--threads N]\n\n"
          "Turns each answer into a statement with the template (placeholders {question} and {answer};\n"
          "default \"{question} {answer}\"), scores the statements against the image, and prints the\n"
          "answers ranked with probabilities (softmax of logit_scale x cosine) as one JSON line.\n",
          out);
}

int cmd_ask(int argc, char **argv) {
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},    {"question", required_argument, NULL, 'q'},
        {"answers", required_argument, NULL, 'a'},  {"template", required_argument, NULL, 'T'},
        {"threads", required_argument, NULL, 'j'},  {"vocab", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    const char *model_path = NULL, *question = NULL, *answers_csv = NULL, *template = NULL, *vocab = NULL;
    long threads = 0;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:h", options, NULL)) != -1) {
        switch (opt) {
        case 'm': model_path = optarg; break;
        case 'q': question = optarg; break;
        case 'a': answers_csv = optarg; break;
        case 'T': template = optarg; break;
        case 'v': vocab = optarg; break;
        case 'j': if (!cli_parse_int("--threads", optarg, 0, 1024, &threads)) return 2; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    label_list answers = {0};
    if (argc - optind != 1 || !question || !answers_csv || !labels_from_csv(answers_csv, &answers) ||
        answers.count == 0) {
        labels_free(&answers);
        usage(stderr);
        return 2;
    }
    const char *image_path = argv[optind];
    clip_model *model = NULL;
    if (!cli_load_model("ask", model_path, (int)threads, vocab, &model)) {
        labels_free(&answers);
        return 1;
    }
    clip_model_info info;
    clip_model_get_info(model, &info);
    float *feature = malloc((size_t)info.embed_dim * sizeof(float));
    float *probs = malloc((size_t)answers.count * sizeof(float));
    clip_image *img = NULL;
    int status = 0;
    if (!feature || !probs || clip_image_load_file(image_path, NULL, &img) != CLIP_OK ||
        clip_embed_images(model, (const clip_image *const *)&img, 1, 1, feature) != CLIP_OK ||
        clip_ask(model, feature, question, (const char *const *)answers.items, answers.count, template, probs) !=
            CLIP_OK) {
        cli_error("ask", image_path);
        status = 1;
    } else {
        fputs("{\"image\": ", stdout);
        cli_json_string(stdout, image_path);
        fputs(", \"question\": ", stdout);
        cli_json_string(stdout, question);
        fputs(", \"answers\": [", stdout);
        /* ranked by probability, highest first */
        int *order = malloc((size_t)answers.count * sizeof(int));
        for (int i = 0; order && i < answers.count; i++) order[i] = i;
        for (int i = 1; order && i < answers.count; i++)
            for (int j = i; j > 0 && probs[order[j]] > probs[order[j - 1]]; j--) {
                int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        for (int i = 0; order && i < answers.count; i++) {
            fputs(i ? ", {\"answer\": " : "{\"answer\": ", stdout);
            cli_json_string(stdout, answers.items[order[i]]);
            printf(", \"prob\": %.6g}", probs[order[i]]);
        }
        free(order);
        fputs("]}\n", stdout);
    }
    clip_image_free(img);
    free(feature);
    free(probs);
    clip_model_free(model);
    labels_free(&answers);
    return status;
}
