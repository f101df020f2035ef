/* clip embed: embeddings of images, texts, preprocessed pixels and token ids,
 * in the order given, as JSON lines or one float32 .npy. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_util.h"
#include "commands.h"
#include "dist/dist.h"
#include "embed_inputs.h"
#include "embed_shard.h"
#include "formats/npy.h"

static void usage(FILE *out) {
    fputs("usage: clip embed -m MODEL [--image FILE]... [--text TEXT]... [--pixels FILE.npy]...\n"
          "                  [--tokens FILE.npy]... [--list FILE] [--text-list FILE] [--raw]\n"
          "                  [-o OUT.jsonl|OUT.npy] [--batch N] [--threads N] [--vocab PATH]\n\n"
          "Computes CLIP embeddings in the order the inputs are given.\n"
          "  -m, --model MODEL   safetensors checkpoint (OpenAI, open_clip or Hugging Face names)\n"
          "  --image FILE        an image file (JPEG, PNG, WebP, ...), preprocessed as CLIP does\n"
          "  --text TEXT         a text, tokenized with the model's vocabulary\n"
          "  --pixels FILE.npy   preprocessed float32 images, [3,R,R] or [N,3,R,R]\n"
          "  --tokens FILE.npy   int32/int64 token ids, [C] or [N,C]\n"
          "  --list FILE         image files, one path per line (# starts a comment line)\n"
          "  --text-list FILE    texts, one per non-empty line\n"
          "  --raw               do not L2-normalise the embeddings\n"
          "  -o OUT              write JSON lines to OUT, or float32 [N, D] when OUT ends in .npy\n"
          "  --batch N           inputs per forward pass (default 32)\n"
          "  --threads N         worker threads (default: all cores)\n"
          "  --vocab PATH        tokenizer vocabulary (bpe_simple_vocab_16e6.txt.gz or vocab.json)\n\n"
          "Output: one JSON object per input: {\"input\": ..., \"type\": \"image\"|\"text\", \"embedding\": [...]}.\n"
          "A file that cannot be read is reported on stderr and skipped (exit status 1).\n"
          "Under mpirun -np N each rank embeds a contiguous block of the inputs and rank 0 writes OUT\n"
          "exactly as one process would, then a JSON summary (counts, per-rank seconds) on stdout\n"
          "(on stderr when the embeddings go to stdout).\n",
          out);
}

/* Lines of list files, owned here: the request borrows them. */
typedef struct owned_lines {
    char **items;
    int count, capacity;
} owned_lines;

static void owned_lines_free(owned_lines *l) {
    for (int i = 0; i < l->count; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* Adds every non-empty line of `path` (but #-comments for image lists) to
 * the request; 0 when the file cannot be read (reported). */
static int add_list(embed_request *request, owned_lines *lines, const char *path, embed_kind kind) {
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "clip embed: %s: %s\n", path, strerror(errno));
        return 0;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int ok = 1;
    while (ok && (n = getline(&line, &cap, fp)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n == 0 || (kind == EMBED_IMAGE && line[0] == '#')) continue;
        if (lines->count == lines->capacity) {
            int c = lines->capacity ? lines->capacity * 2 : 64;
            char **grown = realloc(lines->items, (size_t)c * sizeof *grown);
            if (!grown) break;
            lines->items = grown;
            lines->capacity = c;
        }
        char *copy = strdup(line);
        ok = copy != NULL;
        if (!ok) break;
        lines->items[lines->count++] = copy;
        embed_request_add(request, kind, copy);
    }
    free(line);
    fclose(fp);
    if (!ok) fprintf(stderr, "clip embed: %s: out of memory\n", path);
    return ok;
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Rank 0's last line under mpirun: what was done, and each rank's share. */
static void print_summary(FILE *out, const char *output, int inputs, const embed_result *r,
                          const embed_shard_stats *stats) {
    fputs("{\"output\": ", out);
    if (output) cli_json_string(out, output);
    else fputs("null", out);
    fprintf(out, ", \"inputs\": %d, \"rows\": %d, \"failed\": %d, \"ranks\": %d, \"rank_inputs\": [", inputs,
            r->count, stats->failures, stats->ranks);
    for (int i = 0; i < stats->ranks; i++) fprintf(out, "%s%lld", i ? ", " : "", (long long)stats->inputs[i]);
    fputs("], \"rank_seconds\": [", out);
    for (int i = 0; i < stats->ranks; i++) fprintf(out, "%s%.3f", i ? ", " : "", stats->seconds[i]);
    fputs("]}\n", out);
}

int cmd_embed(int argc, char **argv) {
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},  {"image", required_argument, NULL, 'i'},
        {"text", required_argument, NULL, 't'},   {"pixels", required_argument, NULL, 'p'},
        {"tokens", required_argument, NULL, 'k'}, {"raw", no_argument, NULL, 'r'},
        {"output", required_argument, NULL, 'o'}, {"batch", required_argument, NULL, 'b'},
        {"threads", required_argument, NULL, 'j'}, {"vocab", required_argument, NULL, 'v'},
        {"list", required_argument, NULL, 'L'},   {"text-list", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *model_path = NULL, *output = NULL, *vocab = NULL;
    long batch = 32, threads = 0;
    int raw = 0, lists_ok = 1;
    embed_request request = {0};
    owned_lines lines = {0};
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
        case 'L': lists_ok = lists_ok && add_list(&request, &lines, optarg, EMBED_IMAGE); break;
        case 'T': lists_ok = lists_ok && add_list(&request, &lines, optarg, EMBED_TEXT); break;
        case 'h': usage(stdout); embed_request_free(&request); owned_lines_free(&lines); return 0;
        default: usage(stderr); embed_request_free(&request); owned_lines_free(&lines); return 2;
        }
    }
    if (!lists_ok || optind < argc || request.count == 0) {
        if (lists_ok) {
            fprintf(stderr, "clip embed: %s\n", optind < argc ? "unexpected argument" : "no inputs given");
            usage(stderr);
        }
        embed_request_free(&request);
        owned_lines_free(&lines);
        return lists_ok ? 2 : 1;
    }
    clip_model *model = NULL;
    if (dist_init() != CLIP_OK) {
        cli_error("embed", NULL);
    } else if (!cli_load_model("embed", model_path, (int)threads, vocab, &model)) {
        model = NULL;
    }
    if (!model) {
        embed_request_free(&request);
        owned_lines_free(&lines);
        return 1;
    }
    /* Under mpirun: this rank's contiguous block of the inputs. */
    int rank = dist_rank(), ranks = dist_size();
    int64_t begin, end;
    dist_block_range(request.count, rank, ranks, &begin, &end);
    embed_request share = {request.kinds + begin, request.values + begin, (int)(end - begin), 0};
    embed_result result = {0};
    double t0 = now_seconds();
    int failures = embed_run(model, &share, (int)batch, !raw, "embed", &result);
    embed_shard_stats stats;
    int gather_failed = embed_shard_gather(&result, share.count, failures, now_seconds() - t0, &stats);
    int status = gather_failed;
    if (gather_failed || rank != 0) goto done; /* rank 0 writes for all */
    failures = stats.failures;
    status = failures ? 1 : 0;
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
    if (ranks > 1) print_summary(output ? stdout : stderr, output, request.count, &result, &stats);
done:
    if (ranks > 1 && !gather_failed) {
        /* Every rank exits with rank 0's status (a failed input anywhere
         * fails the whole run, as in one process); waiting sleeps. */
        int32_t shared = status;
        if (dist_barrier() != CLIP_OK || dist_broadcast(&shared, sizeof shared, 0) != CLIP_OK) shared = 1;
        else dist_set_exit_agreed();
        status = shared;
    }
    embed_shard_stats_free(&stats);
    embed_result_free(&result);
    embed_request_free(&request);
    owned_lines_free(&lines);
    clip_model_free(model);
    return status;
}
