/* clip index: build, search, inspect and export an embedding index
 * (src/index does the work; docs/retrieval.md describes it). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"
#include "clip_index.h"
#include "commands.h"
#include "dist/dist.h"

static void usage(FILE *out) {
    fputs("usage: clip index build -m MODEL (--images DIR|LIST.txt | --texts FILE) -o INDEX\n"
          "                        [--batch N] [--fp16] [--update] [--journal-every N] [--threads N] [--vocab PATH]\n"
          "       clip index search INDEX -m MODEL (--text T | --image FILE)... [-k N] [--threads N] [--vocab PATH]\n"
          "       clip index export INDEX [--npy OUT.npy] [--meta OUT.jsonl]\n"
          "       clip index info INDEX\n\n"
          "build   embeds every image under DIR (recursively) or listed in LIST.txt, or every line of a\n"
          "        caption file (--texts), into INDEX. --update re-embeds only new or changed files\n"
          "        (path, size, mtime) and drops deleted ones; an interrupted build resumes from\n"
          "        INDEX.journal. Unreadable files are skipped and listed at the end.\n"
          "        Under mpirun -np N the items are split among N ranks (every rank must see the same\n"
          "        files: a shared filesystem) and rank 0 writes the one INDEX (docs/distributed.md).\n"
          "search  prints the k nearest items of each query as JSON lines {query, rank, score, id, path|text};\n"
          "        scores are cosine similarities. Text or image queries work against either kind of index.\n"
          "export  writes the embeddings as float32 .npy and the items as JSON lines (row order = id).\n"
          "info    prints the index header as JSON.\n",
          out);
}

typedef struct progress_state {
    int tty, finished;
    double last;
} progress_state;

/* Ranks of a distributed build share one stderr (usually not a terminal):
 * each prints a line of its own share every few seconds, prefixed by its
 * rank, and one when done. */
static void print_rank_progress(progress_state *s, const clip_index_progress *p) {
    int last = p->done >= p->total;
    if (s->finished || (!last && p->elapsed_s - s->last < 5.0)) return;
    s->last = p->elapsed_s;
    s->finished = last;
    double rate = p->elapsed_s > 0 ? (double)p->done / p->elapsed_s : 0;
    char failed[48] = "";
    if (p->failed) snprintf(failed, sizeof failed, " (%lld failed)", (long long)p->failed);
    /* One write per line: stderr is unbuffered, and pieces of lines from
     * several ranks would interleave. */
    char line[160];
    snprintf(line, sizeof line, "[rank %d/%d] indexing %lld/%lld%s  %.1f/s%s\n", p->rank, p->ranks,
             (long long)p->done, (long long)p->total, failed, rate, last ? "  done" : "");
    fputs(line, stderr);
}

static void print_progress(void *ctx, const clip_index_progress *p) {
    progress_state *s = ctx;
    if (p->ranks > 1) {
        print_rank_progress(s, p);
        return;
    }
    if (!s->tty || s->finished || (p->elapsed_s - s->last < 0.2 && p->done < p->total)) return;
    s->last = p->elapsed_s;
    double rate = p->elapsed_s > 0 ? (double)p->done / p->elapsed_s : 0;
    fprintf(stderr, "\rindexing %lld/%lld", (long long)p->done, (long long)p->total);
    if (p->failed) fprintf(stderr, " (%lld failed)", (long long)p->failed);
    if (rate > 0 && p->done < p->total) {
        long eta = lround((double)(p->total - p->done) / rate);
        fprintf(stderr, "  %.1f/s  ETA %ldm%02lds   ", rate, eta / 60, eta % 60);
    } else {
        fputs("                         ", stderr);
    }
    if (p->done >= p->total) {
        fputc('\n', stderr);
        s->finished = 1;
    }
    fflush(stderr);
}

static int index_build(int argc, char **argv) {
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},  {"images", required_argument, NULL, 'i'},
        {"texts", required_argument, NULL, 't'},  {"output", required_argument, NULL, 'o'},
        {"batch", required_argument, NULL, 'b'},  {"fp16", no_argument, NULL, 'f'},
        {"update", no_argument, NULL, 'u'},       {"journal-every", required_argument, NULL, 'J'},
        {"threads", required_argument, NULL, 'j'}, {"vocab", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *model_path = NULL, *images = NULL, *texts = NULL, *vocab = NULL;
    long batch = 32, threads = 0, journal_every = 1;
    clip_index_build_options o = {0};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:o:h", options, NULL)) != -1) {
        switch (opt) {
        case 'm': model_path = optarg; break;
        case 'i': images = optarg; break;
        case 't': texts = optarg; break;
        case 'o': o.output = optarg; break;
        case 'b': if (!cli_parse_int("--batch", optarg, 1, 4096, &batch)) return 2; break;
        case 'J': if (!cli_parse_int("--journal-every", optarg, 1, 1000000, &journal_every)) return 2; break;
        case 'j': if (!cli_parse_int("--threads", optarg, 0, 1024, &threads)) return 2; break;
        case 'f': o.dtype = CLIP_INDEX_F16; break;
        case 'u': o.update = 1; break;
        case 'v': vocab = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || !o.output || (!images == !texts)) {
        fprintf(stderr, "clip index build: needs -o INDEX and exactly one of --images or --texts\n");
        return 2;
    }
    if (dist_init() != CLIP_OK) {
        cli_error("index build", NULL);
        return 1;
    }
    o.distributed = 1; /* a no-op unless started by mpirun/srun */
    int rank = dist_rank();
    o.kind = images ? CLIP_INDEX_IMAGES : CLIP_INDEX_TEXTS;
    o.source = images ? images : texts;
    o.batch = (int)batch;
    o.journal_every = (int)journal_every;
    progress_state ps = {isatty(STDERR_FILENO), 0, -1};
    o.progress = print_progress;
    o.progress_ctx = &ps;
    clip_model *model = NULL;
    if (!cli_load_model("index build", model_path, (int)threads, vocab, &model)) return 1;
    clip_index_build_report r;
    clip_status st = clip_index_build(model, &o, &r);
    clip_model_free(model);
    if (st != CLIP_OK) {
        if (dist_size() > 1) fprintf(stderr, "[rank %d] ", rank);
        cli_error("index build", NULL);
        clip_index_build_report_free(&r);
        return 1;
    }
    if (rank != 0) { /* rank 0 reports for all */
        clip_index_build_report_free(&r);
        return 0;
    }
    for (int64_t i = 0; i < r.n_failed; i++) {
        if (strstr(r.failed_reasons[i], r.failed[i])) fprintf(stderr, "skipped: %s\n", r.failed_reasons[i]);
        else fprintf(stderr, "skipped %s: %s\n", r.failed[i], r.failed_reasons[i]);
    }
    int64_t kept = r.embedded + r.reused + r.resumed;
    fprintf(stderr, "clip index build: %s: %lld items (%lld embedded, %lld unchanged, %lld resumed, %lld removed, "
                    "%lld skipped)\n",
            o.output, (long long)kept, (long long)r.embedded, (long long)r.reused, (long long)r.resumed,
            (long long)r.removed, (long long)r.n_failed);
    printf("{\"index\": ");
    cli_json_string(stdout, o.output);
    printf(", \"items\": %lld, \"embedded\": %lld, \"unchanged\": %lld, \"resumed\": %lld, \"removed\": %lld, "
           "\"skipped\": %lld, \"ranks\": %d, \"rank_items\": [",
           (long long)kept, (long long)r.embedded, (long long)r.reused, (long long)r.resumed, (long long)r.removed,
           (long long)r.n_failed, r.ranks);
    for (int i = 0; i < r.ranks; i++) printf("%s%lld", i ? ", " : "", (long long)r.rank_items[i]);
    printf("], \"rank_seconds\": [");
    for (int i = 0; i < r.ranks; i++) printf("%s%.3f", i ? ", " : "", r.rank_seconds[i]);
    printf("]}\n");
    clip_index_build_report_free(&r);
    return 0;
}

/* Embeds the queries in the order given; NULL on failure (reported). */
static float *embed_queries(clip_model *model, const cli_list *kinds, const cli_list *values, int dim) {
    int n = values->count;
    float *q = malloc((size_t)n * dim * sizeof(float));
    if (!q) return NULL;
    for (int i = 0; i < n; i++) {
        clip_status st;
        if (kinds->items[i][0] == 't') {
            st = clip_embed_texts(model, &values->items[i], 1, 1, q + (size_t)i * dim);
        } else {
            clip_image *img = NULL;
            st = clip_image_load_file(values->items[i], NULL, &img);
            if (st == CLIP_OK) st = clip_embed_images(model, (const clip_image *const *)&img, 1, 1, q + (size_t)i * dim);
            clip_image_free(img);
        }
        if (st != CLIP_OK) {
            cli_error("index search", values->items[i]);
            free(q);
            return NULL;
        }
    }
    return q;
}

static int index_search(int argc, char **argv) {
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},  {"text", required_argument, NULL, 't'},
        {"image", required_argument, NULL, 'i'},  {"k", required_argument, NULL, 'k'},
        {"threads", required_argument, NULL, 'j'}, {"vocab", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *model_path = NULL, *vocab = NULL;
    long k = 10, threads = 0;
    cli_list kinds = {0}, values = {0};
    int opt, status = 2;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:k:h", options, NULL)) != -1) {
        switch (opt) {
        case 'm': model_path = optarg; break;
        case 't': cli_list_push(&kinds, "t"); cli_list_push(&values, optarg); break;
        case 'i': cli_list_push(&kinds, "i"); cli_list_push(&values, optarg); break;
        case 'k': if (!cli_parse_int("-k", optarg, 1, 100000, &k)) goto out; break;
        case 'j': if (!cli_parse_int("--threads", optarg, 0, 1024, &threads)) goto out; break;
        case 'v': vocab = optarg; break;
        case 'h': usage(stdout); status = 0; goto out;
        default: usage(stderr); goto out;
        }
    }
    if (optind != argc - 1 || values.count == 0) {
        fprintf(stderr, "clip index search: needs INDEX and at least one --text or --image\n");
        goto out;
    }
    status = 1;
    clip_index *index = NULL;
    clip_model *model = NULL;
    float *queries = NULL;
    clip_index_hit *hits = NULL;
    if (clip_index_open(argv[optind], &index) != CLIP_OK) {
        cli_error("index search", NULL);
        goto out;
    }
    if (!cli_load_model("index search", model_path, (int)threads, vocab, &model)) goto done;
    if (clip_index_check_model(index, model) != CLIP_OK) {
        cli_error("index search", NULL);
        goto done;
    }
    clip_index_info info;
    clip_index_get_info(index, &info);
    clip_index_set_threads(index, (int)threads);
    queries = embed_queries(model, &kinds, &values, info.dim);
    hits = malloc((size_t)values.count * k * sizeof *hits);
    if (!queries || !hits) goto done;
    if (clip_index_search(index, queries, values.count, (int)k, hits) != CLIP_OK) {
        cli_error("index search", NULL);
        goto done;
    }
    for (int q = 0; q < values.count; q++) {
        for (int r = 0; r < k; r++) {
            const clip_index_hit *h = &hits[(size_t)q * k + r];
            if (h->id < 0) break;
            clip_index_item item;
            clip_index_get_item(index, h->id, &item);
            printf("{\"query\": ");
            cli_json_string(stdout, values.items[q]);
            printf(", \"rank\": %d, \"score\": ", r + 1);
            if (isfinite(h->score)) printf("%.7g", h->score);
            else printf("null"); /* JSON has no inf/NaN */
            printf(", \"id\": %lld, \"%s\": ", (long long)h->id, info.kind == CLIP_INDEX_IMAGES ? "path" : "text");
            cli_json_string(stdout, item.text);
            printf("}\n");
        }
    }
    status = 0;
done:
    free(queries);
    free(hits);
    clip_model_free(model);
    clip_index_free(index);
out:
    cli_list_free(&kinds);
    cli_list_free(&values);
    return status;
}

static int index_export(int argc, char **argv) {
    static const struct option options[] = {{"npy", required_argument, NULL, 'n'},
                                            {"meta", required_argument, NULL, 'e'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *npy = NULL, *meta = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'n') npy = optarg;
        else if (opt == 'e') meta = optarg;
        else if (opt == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1 || (!npy && !meta)) {
        fprintf(stderr, "clip index export: needs INDEX and --npy and/or --meta\n");
        return 2;
    }
    clip_index *index = NULL;
    if (clip_index_open(argv[optind], &index) != CLIP_OK || clip_index_export(index, npy, meta) != CLIP_OK) {
        cli_error("index export", NULL);
        clip_index_free(index);
        return 1;
    }
    clip_index_free(index);
    return 0;
}

static int index_info(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        usage(argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    clip_index *index = NULL;
    if (clip_index_open(argv[1], &index) != CLIP_OK) {
        cli_error("index info", NULL);
        return 1;
    }
    clip_index_info i;
    clip_index_get_info(index, &i);
    printf("{\"path\": ");
    cli_json_string(stdout, argv[1]);
    printf(", \"kind\": \"%s\", \"dtype\": \"%s\", \"dim\": %d, \"count\": %lld, \"model\": ",
           i.kind == CLIP_INDEX_IMAGES ? "images" : "texts", i.dtype == CLIP_INDEX_F16 ? "f16" : "f32", i.dim,
           (long long)i.count);
    cli_json_string(stdout, i.model_desc);
    printf(", \"model_id\": \"");
    for (int b = 0; b < CLIP_MODEL_ID_BYTES; b++) printf("%02x", i.model_id[b]);
    printf("\", \"bytes\": %llu}\n", (unsigned long long)i.file_bytes);
    clip_index_free(index);
    return 0;
}

int cmd_index(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "build") == 0) return index_build(argc - 1, argv + 1);
    if (strcmp(argv[1], "search") == 0) return index_search(argc - 1, argv + 1);
    if (strcmp(argv[1], "export") == 0) return index_export(argc - 1, argv + 1);
    if (strcmp(argv[1], "info") == 0) return index_info(argc - 1, argv + 1);
    fprintf(stderr, "clip index: unknown subcommand '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
