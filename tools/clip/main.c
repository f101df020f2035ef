/* `clip`: the command-line front end. The library does the work. */
#include <stdio.h>
#include <string.h>

#include "clip.h"
#include "cli_util.h"
#include "commands.h"
#include "dist/dist.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"embed", cmd_embed, "image and text embeddings (JSON lines or .npy)"},
    {"similarity", cmd_similarity, "logits and probabilities of images against texts"},
    {"info", cmd_info, "architecture, parameters and memory of a model"},
    {"tokenize", cmd_tokenize, "CLIP BPE token ids of texts (or --decode ids)"},
    {"preprocess", cmd_preprocess, "CLIP image preprocessing to a float32 .npy"},
    {"init", cmd_init, "a new model with OpenAI's initialisation"},
    {"train", cmd_train, "contrastive training, with evaluation, checkpoints and --resume"},
    {"eval", cmd_eval, "zero-shot accuracy or retrieval recall of a model"},
    {"classify", cmd_classify, "zero-shot classification of images by labels"},
    {"detect", cmd_detect, "which labelled objects an image shows, and where (--localize)"},
    {"video", cmd_video, "moments of a video matching queries, or a label timeline"},
    {"ask", cmd_ask, "visual question answering by scoring candidate answers"},
    {"text-similarity", cmd_text_similarity, "cosine similarity matrix of texts"},
    {"text-classify", cmd_text_classify, "zero-shot classification of texts by labels"},
    {"index", cmd_index, "build, search and export an image or caption index"},
    {"serve", cmd_serve, "HTTP API (embed, classify, search) and a search page"},
    {"convert", cmd_convert, "a checkpoint to safetensors or GGUF, f16 or q8_0/q4_0 quantised"},
    {"pull", cmd_pull, "download a model by name (ViT-B-32, RN50, ...), Hugging Face repo or URL"},
    {"grad", cmd_grad, "loss and gradients of one contrastive training step"},
    {"limits", cmd_limits, "the resource limits in force and how to raise them"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: clip [--limit NAME=VALUE]... <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-16s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`clip <command> --help` describes each command. Every command that loads a model also takes\n"
                 "--dtype f32|bf16|int8: the precision of the weight products (default f32; bf16 and int8 are\n"
                 "faster and slightly less accurate, see docs/performance.md). For `clip convert`, --dtype is\n"
                 "the stored type instead. --limit raises (or lowers) a resource limit for this run; `clip\n"
                 "limits` lists them.\n");
}

/* Leading `--limit NAME=VALUE` (or `--limit=NAME=VALUE`) options apply to
 * whatever command follows, so every subcommand gets them without its own
 * option. Returns how many arguments were consumed, or -1 after an error. */
static int global_options(int argc, char **argv) {
    int i = 1;
    while (i < argc && strncmp(argv[i], "--limit", 7) == 0 && (argv[i][7] == '\0' || argv[i][7] == '=')) {
        const char *spec = argv[i][7] == '=' ? argv[i] + 8 : (i + 1 < argc ? argv[++i] : NULL);
        const char *eq = spec ? strchr(spec, '=') : NULL;
        if (!eq) {
            fprintf(stderr, "clip: --limit takes NAME=VALUE (`clip limits` lists the names)\n");
            return -1;
        }
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(eq - spec), spec);
        if (clip_limit_set_by_name(name, eq + 1) != CLIP_OK) {
            fprintf(stderr, "clip: --limit: %s\n", clip_last_error());
            return -1;
        }
        i++;
    }
    return i - 1;
}

int main(int argc, char **argv) {
    int consumed = global_options(argc, argv);
    if (consumed < 0) return 2;
    argc -= consumed;
    argv += consumed;
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("clip %s (MPI: %s)\n", CLIP_VERSION_STRING, dist_available() ? "yes" : "no");
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            int sub_argc = argc - 1;
            /* convert has its own --dtype (the stored type); training keeps
             * float32 weights (mixed precision is train's --precision). */
            int takes_dtype = commands[i].run != cmd_convert && commands[i].run != cmd_train &&
                              commands[i].run != cmd_grad;
            if (takes_dtype && !cli_take_dtype(&sub_argc, argv + 1)) return 2;
            int status = commands[i].run(sub_argc, argv + 1);
            /* Under mpirun a rank that fails would leave the others waiting
             * in a collective: end them all. */
            if (status != 0 && !dist_exit_agreed()) dist_abort(status);
            return status;
        }
    fprintf(stderr, "clip: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
