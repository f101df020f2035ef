/* clip info: what a checkpoint holds, as one JSON object. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli_util.h"
#include "commands.h"

static void usage(FILE *out) {
    fputs("usage: clip info -m MODEL\n\n"
          "Prints the architecture inferred from the checkpoint's tensor shapes, the parameter count,\n"
          "the stored dtypes, the naming layout, the memory used and the load time, as one JSON object.\n",
          out);
}

int cmd_info(int argc, char **argv) {
    static const struct option options[] = {{"model", required_argument, NULL, 'm'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *model_path = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:h", options, NULL)) != -1) {
        if (opt == 'm') model_path = optarg;
        else if (opt == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!model_path && optind < argc) model_path = argv[optind];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clip_model *model = NULL;
    if (!cli_load_model("info", model_path, 1, NULL, &model)) return 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    clip_model_info i;
    clip_model_get_info(model, &i);
    printf("{\"path\": ");
    cli_json_string(stdout, model_path);
    printf(", \"format\": \"%s\", \"layout\": \"%s\", \"dtypes\": \"%s\", \"compute_dtype\": \"%s\"", i.format, i.layout,
           i.dtype_summary, clip_weight_dtype_name(i.weight_dtype));
    if (i.vision_kind == CLIP_VISION_VIT)
        printf(", \"vision\": {\"type\": \"vit\", \"width\": %d, \"layers\": %d, \"heads\": %d, \"patch_size\": %d, "
               "\"image_resolution\": %d}",
               i.vision_width, i.vision_layers, i.vision_heads, i.vision_patch_size, i.image_resolution);
    else
        printf(", \"vision\": {\"type\": \"resnet\", \"width\": %d, \"stage_blocks\": [%d, %d, %d, %d], "
               "\"heads\": %d, \"image_resolution\": %d}",
               i.vision_width, i.vision_stage_blocks[0], i.vision_stage_blocks[1], i.vision_stage_blocks[2],
               i.vision_stage_blocks[3], i.vision_heads, i.image_resolution);
    printf(", \"text\": {\"width\": %d, \"layers\": %d, \"heads\": %d, \"context_length\": %d, \"vocab_size\": %d}",
           i.text_width, i.text_layers, i.text_heads, i.context_length, i.vocab_size);
    printf(", \"embed_dim\": %d, \"logit_scale\": %.6g, \"parameters\": %llu", i.embed_dim, i.logit_scale,
           (unsigned long long)i.n_parameters);
    printf(", \"weight_bytes_mapped\": %llu, \"weight_bytes_owned\": %llu, \"load_ms\": %.2f}\n",
           (unsigned long long)i.weight_bytes_mapped, (unsigned long long)i.weight_bytes_owned,
           (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    clip_model_free(model);
    return 0;
}
