/* clip embed: embeddings of images, texts, preprocessed pixels and token ids,
 * in the order given, as JSON lines or one float32 .npy. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "embed_inputs.h"
#include "formats/npy.h"

static void usage(FILE *out) {
    fputs("usage: clip embed -m MODEL [--image FILE]... [--text TEXT]... [--pixels FILE.npy]...\n"
          "                  [--tokens FILE.npy]... [--raw] [-o OUT.jsonl|OUT.npy] [--batch N]\n"
          "                  [--threads N] [--vocab PATH]\n\n"
          "Computes CLIP embeddings in the order the inputs are given.\n"
          "  -m, --model MODEL   safetensors checkpoint (OpenAI, open_clip or Hugging Face names)\n"
          "  --image FILE        an image file (JPEG, PNG, WebP, ...), preprocessed as CLIP does\n"
          "  --text TEXT         a text, tokenized with the model's vocabulary\n"
          "  --pixels FILE.npy   preprocessed float32 images, [3,R,R] or [N,3,R,R]\n"
          "  --tokens FILE.npy   int32/int64 token ids, [C] or [N,C]\n"
          "  --raw               do not L2-normalise the embeddings\n"
          "  -o OUT              write JSON lines to OUT, or float32 [N, D] when OUT ends in .npy\n"
          "  --batch N           inputs per forward pass (default 32)\n"
          "  --threads N         worker threads (default: all cores)\n"
          "  --vocab PATH        tokenizer vocabulary (bpe_simple_vocab_16e6.txt.gz or vocab.json)\n\n"
          "Output: one JSON object per input: {\"input\": ..., \"type\": \"image\"|\"text\", \"embedding\": [...]}.\n"
          "A file that cannot be read is reported on stderr and skipped (exit status 1).\n",
          out);
}

int cmd_embed(int argc, char **argv) {
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},  {"image", required_argument, NULL, 'i'},
        {"text", required_argument, NULL, 't'},   {"pixels", required_argument, NULL, 'p'},
        {"tokens", required_argument, NULL, 'k'}, {"raw", no_argument, NULL, 'r'},
        {"output", required_argument, NULL, 'o'}, {"batch", required_argument, NULL, 'b'},
        {"threads", required_argument, NULL, 'j'}, {"vocab", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *model_path = NULL, *output = NULL, *vocab = NULL;
    long batch = 32, threads = 0;
    int raw = 0;
    embed_request request = {0};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:o:h", options, NULL)) != -1) {
        switch (opt) {
        case 'm': model_path = optarg; break;
        case 'o': output = optarg; break;
        case 'r': raw = 1; break;
        case 'v': vocab = optarg; break;
        case 'b': if (!cli_parse_int("--batch", optarg, 1, 4096, &batch)) return 2; break;
        case 'j': if (!cli_parse_int("--threads", optarg, 0, 1024, &threads)) return 2; break;
        case 'i': embed_request_add(&request, EMBED_IMAGE, optarg); break;
        case 't': embed_request_add(&request, EMBED_TEXT, optarg); break;
        case 'p': embed_request_add(&request, EMBED_PIXELS, optarg); break;
        case 'k': embed_request_add(&request, EMBED_TOKENS, optarg); break;
        case 'h': usage(stdout); embed_request_free(&request); return 0;
        default: usage(stderr); embed_request_free(&request); return 2;
        }
    }
    if (optind < argc || request.count == 0) {
        fprintf(stderr, "clip embed: %s\n", optind < argc ? "unexpected argument" : "no inputs given");
        usage(stderr);
        embed_request_free(&request);
        return 2;
    }
    clip_model *model = NULL;
    if (!cli_load_model("embed", model_path, (int)threads, vocab, &model)) {
        embed_request_free(&request);
        return 1;
    }
    embed_result result = {0};
    int failures = embed_run(model, &request, (int)batch, !raw, "embed", &result);
    int status = failures ? 1 : 0;
    int dim = result.dim;
    if (output && cli_ends_with(output, ".npy")) {
        if (failures) {
            fprintf(stderr, "clip embed: %d input(s) failed; %s not written\n", failures, output);
        } else {
            int64_t shape[2] = {result.count, dim};
            if (npy_write_f32(output, 2, shape, result.features) != CLIP_OK) {
                cli_error("embed", output);
                status = 1;
            }
        }
    } else {
        FILE *out = output ? fopen(output, "w") : stdout;
        if (!out) {
            perror(output);
            status = 1;
        } else {
            for (int i = 0; i < result.count; i++) {
                if (!result.ok[i]) continue;
                fputs("{\"input\": ", out);
                cli_json_string(out, result.labels[i]);
                fprintf(out, ", \"type\": \"%s\", \"embedding\": ", result.is_image[i] ? "image" : "text");
                cli_json_floats(out, result.features + (size_t)i * dim, dim);
                fputs("}\n", out);
            }
            if (out != stdout && fclose(out) != 0) status = 1;
        }
    }
    embed_result_free(&result);
    embed_request_free(&request);
    clip_model_free(model);
    return status;
}
