/* clip init: a new model with OpenAI's initialisation. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"

static void usage(FILE *out) {
    fputs("usage: clip init (--arch NAME | --config FILE.json) [--seed S] [--vocab PATH] -o MODEL.safetensors\n\n"
          "Writes a randomly initialised CLIP (OpenAI's initialize_parameters) in clip.c's safetensors layout:\n"
          "OpenAI tensor names, the architecture in the metadata and, with --vocab, the BPE vocabulary inside.\n"
          "  --arch NAME      ViT-B-32, ViT-B-16, ViT-L-14, ViT-L-14-336, RN50, RN101, RN50x4, RN50x16, RN50x64\n"
          "  --config FILE    JSON with clip_arch fields (embed_dim, image_resolution, vision_layers,\n"
          "                   vision_width, vision_patch_size, context_length, vocab_size, text_width,\n"
          "                   text_heads, text_layers) or an open_clip model config (vision_cfg/text_cfg)\n"
          "  --seed S         random seed (default 0); the same seed gives the same file\n",
          out);
}

static char *read_text_file(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    char *text = NULL;
    long size = -1;
    if (fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
    if (size >= 0 && size < (1 << 20) && fseek(fp, 0, SEEK_SET) == 0 && (text = malloc((size_t)size + 1))) {
        if (fread(text, 1, (size_t)size, fp) != (size_t)size) {
            free(text);
            text = NULL;
        } else {
            text[size] = '\0';
            *len = (size_t)size;
        }
    }
    fclose(fp);
    return text;
}

int cmd_init(int argc, char **argv) {
    static const struct option options[] = {
        {"arch", required_argument, NULL, 'a'},  {"config", required_argument, NULL, 'c'},
        {"seed", required_argument, NULL, 's'},  {"vocab", required_argument, NULL, 'v'},
        {"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *arch_name = NULL, *config = NULL, *vocab = NULL, *output = NULL;
    unsigned long long seed = 0;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (opt) {
        case 'a': arch_name = optarg; break;
        case 'c': config = optarg; break;
        case 'v': vocab = optarg; break;
        case 'o': output = optarg; break;
        case 's': {
            char *end;
            seed = strtoull(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0') {
                fprintf(stderr, "clip init: --seed expects a non-negative integer\n");
                return 2;
            }
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!output || (!arch_name == !config) || optind < argc) {
        fprintf(stderr, "clip init: give exactly one of --arch/--config, and -o OUT\n");
        usage(stderr);
        return 2;
    }
    clip_arch arch;
    clip_status st;
    if (arch_name) {
        st = clip_arch_by_name(arch_name, &arch);
    } else {
        size_t len = 0;
        char *text = read_text_file(config, &len);
        if (!text) {
            fprintf(stderr, "clip init: %s: cannot read\n", config);
            return 1;
        }
        st = clip_arch_from_json(text, len, &arch);
        free(text);
    }
    if (st == CLIP_OK) st = clip_model_init_file(&arch, seed, vocab, output);
    if (st != CLIP_OK) {
        cli_error("init", NULL);
        return 1;
    }
    printf("{\"output\": ");
    cli_json_string(stdout, output);
    printf(", \"seed\": %llu}\n", seed);
    return 0;
}
