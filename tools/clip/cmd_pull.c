/* clip pull: a model by name into the cache, for later -m NAME. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_util.h"
#include "commands.h"
#include "fetch/resolve.h"

static void usage(FILE *out) {
    fputs("usage: clip pull NAME|REPO|URL [--cache DIR] [--quiet]\n\n"
          "Downloads a checkpoint once and keeps it in the cache (default $CLIP_CACHE or ~/.cache/clip,\n"
          "where OpenAI's clip.load keeps its files too):\n"
          "  NAME   OpenAI's models: RN50, RN101, RN50x4, RN50x16, RN50x64, ViT-B-32, ViT-B-16, ViT-L-14,\n"
          "         ViT-L-14-336 (also spelled ViT-B/32, ViT-L/14@336px), checked against their SHA-256\n"
          "  REPO   a Hugging Face repository, e.g. openai/clip-vit-base-patch32 (config.json,\n"
          "         model.safetensors, vocab.json, merges.txt; HF_TOKEN and HF_ENDPOINT are honoured)\n"
          "  URL    any http(s) URL; a 64-hex-digit path component before the file name is its SHA-256\n"
          "Interrupted downloads resume (HTTP Range). Every command's -m accepts the same names.\n"
          "Prints {\"name\", \"path\", \"bytes\"} as JSON.\n",
          out);
}

int cmd_pull(int argc, char **argv) {
    static const struct option options[] = {{"cache", required_argument, NULL, 'c'},
                                            {"quiet", no_argument, NULL, 'q'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    pull_options opts = {.progress = isatty(2)};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qh", options, NULL)) != -1) {
        if (opt == 'c') opts.cache_dir = optarg;
        else if (opt == 'q') opts.progress = 0;
        else if (opt == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 1) {
        usage(stderr);
        return 2;
    }
    char *path = NULL;
    if (clip_pull(argv[optind], &opts, &path) != CLIP_OK) {
        cli_error("pull", NULL);
        return 1;
    }
    struct stat sb;
    printf("{\"name\": ");
    cli_json_string(stdout, argv[optind]);
    printf(", \"path\": ");
    cli_json_string(stdout, path);
    printf(", \"bytes\": %lld}\n", stat(path, &sb) == 0 && S_ISREG(sb.st_mode) ? (long long)sb.st_size : -1LL);
    free(path);
    return 0;
}
