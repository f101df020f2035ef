/* Throughput of the image and text towers on random standard models.
 *
 * The machine is usually shared, so every run is timed twice: wall clock
 * and process CPU time. One-thread figures are best read by CPU time (what
 * the work cost, whoever else ran); multi-thread ones by wall time. Each
 * configuration gets warm-up runs, then `--iters` timed runs whose median,
 * minimum and maximum are reported. See docs/performance.md. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "clip.h"
#include "common.h"
#include "flops.h"
#include "model/model_internal.h"

/* Token counts (with start and end tokens) of 32 short captions, as CLIP's
 * tokenizer gives them for COCO-style captions: 5 to 20 tokens. The same
 * list is in baseline_pytorch.py and onnx/run.mjs. */
static const int caption_lengths[32] = {11, 14, 9, 16, 12, 7, 18, 13, 10, 15, 8, 12, 20, 11, 14, 9,
                                        13, 17, 10, 12, 5, 15, 11, 19, 14, 9, 13, 16, 12, 10, 6, 14};

typedef struct options {
    const char *dir;
    char models[256];
    int batches[8], n_batches;
    int threads[4], n_threads;
    int iters, warmup;
    int image, text_full, text_short;
    int tsv;
    int no_cache;
    clip_weight_dtype dtypes[3];
    int n_dtypes;
} options;


static int parse_list(const char *text, int *out, int cap) {
    int n = 0;
    char *copy = strdup(text), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && n < cap; tok = strtok_r(NULL, ",", &save)) {
        int v = atoi(tok);
        if (v <= 0) {
            fprintf(stderr, "bench_towers: '%s' is not a positive number\n", tok);
            exit(2);
        }
        out[n++] = v;
    }
    free(copy);
    return n;
}

static void usage(FILE *out) {
    fputs("usage: bench_towers [options]\n"
          "  --dir DIR         model cache (default /tmp/clip-bench); models are created with seed 0\n"
          "  --models LIST     ViT-B-32,ViT-B-16,RN50 (default ViT-B-32)\n"
          "  --batch LIST      batch sizes (default 1,8,32)\n"
          "  --threads LIST    thread counts (default 1,2)\n"
          "  --iters N         timed runs per configuration (default 5)\n"
          "  --warmup N        untimed runs first (default 1)\n"
          "  --towers LIST     image,text77,textshort (default all three)\n"
          "  --tsv             also print one RESULT line per configuration (for compare.sh)\n"
          "  --no-cache        leave the model without a packed-weight cache (repacks every call)\n"
          "  --dtype LIST      weight precision(s), each a separate load: f32,bf16,int8 (default f32)\n",
          out);
}

static void parse_options(int argc, char **argv, options *o) {
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},    {"models", required_argument, NULL, 'm'},
        {"batch", required_argument, NULL, 'b'},  {"threads", required_argument, NULL, 't'},
        {"iters", required_argument, NULL, 'i'},  {"warmup", required_argument, NULL, 'w'},
        {"towers", required_argument, NULL, 'T'}, {"tsv", no_argument, NULL, 's'},
        {"no-cache", no_argument, NULL, 'n'},    {"dtype", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    *o = (options){.dir = "/tmp/clip-bench", .iters = 5, .warmup = 1, .image = 1, .text_full = 1, .text_short = 1};
    snprintf(o->models, sizeof o->models, "ViT-B-32");
    o->n_batches = parse_list("1,8,32", o->batches, 8);
    o->n_threads = parse_list("1,2", o->threads, 4);
    o->n_dtypes = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd': o->dir = optarg; break;
        case 'm': snprintf(o->models, sizeof o->models, "%s", optarg); break;
        case 'b': o->n_batches = parse_list(optarg, o->batches, 8); break;
        case 't': o->n_threads = parse_list(optarg, o->threads, 4); break;
        case 'i': o->iters = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
        case 'w': o->warmup = atoi(optarg) >= 0 ? atoi(optarg) : 0; break;
        case 'T':
            o->image = strstr(optarg, "image") != NULL;
            o->text_full = strstr(optarg, "text77") != NULL;
            o->text_short = strstr(optarg, "textshort") != NULL;
            break;
        case 's': o->tsv = 1; break;
        case 'n': o->no_cache = 1; break;
        case 'D': {
            char *copy = strdup(optarg), *save = NULL;
            o->n_dtypes = 0;
            for (char *tok = strtok_r(copy, ",", &save); tok && o->n_dtypes < 3; tok = strtok_r(NULL, ",", &save))
                if (!clip_weight_dtype_from_name(tok, &o->dtypes[o->n_dtypes++])) {
                    fprintf(stderr, "bench_towers: unknown --dtype '%s' (f32, bf16, int8)\n", tok);
                    exit(2);
                }
            free(copy);
            break;
        }
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
}

typedef struct run_stats {
    double wall_med, wall_min, wall_max, cpu_med;
} run_stats;

typedef enum job_kind { JOB_IMAGE, JOB_TEXT77, JOB_TEXTSHORT } job_kind;

typedef struct job {
    clip_model *model;
    job_kind kind;
    int batch;
    const float *pixels;
    const int32_t *tokens;
    float *features;
} job;

static void run_once(const job *j) {
    clip_status st = j->kind == JOB_IMAGE ? clip_encode_image(j->model, j->pixels, j->batch, j->features)
                                          : clip_encode_text(j->model, j->tokens, j->batch, j->features);
    if (st != CLIP_OK) {
        fprintf(stderr, "bench_towers: encode failed: %s\n", clip_last_error());
        exit(1);
    }
}

static run_stats measure(const job *j, const options *o) {
    for (int i = 0; i < o->warmup; i++) run_once(j);
    double wall[64], cpu[64];
    int n = o->iters < 64 ? o->iters : 64;
    for (int i = 0; i < n; i++) {
        double w0 = bench_now(CLOCK_MONOTONIC), c0 = bench_now(CLOCK_PROCESS_CPUTIME_ID);
        run_once(j);
        cpu[i] = bench_now(CLOCK_PROCESS_CPUTIME_ID) - c0;
        wall[i] = bench_now(CLOCK_MONOTONIC) - w0;
    }
    qsort(wall, (size_t)n, sizeof(double), bench_cmp_double);
    qsort(cpu, (size_t)n, sizeof(double), bench_cmp_double);
    return (run_stats){wall[n / 2], wall[0], wall[n - 1], cpu[n / 2]};
}

static const char *kind_name(job_kind k) {
    return k == JOB_IMAGE ? "image" : k == JOB_TEXT77 ? "text77" : "textshort";
}

/* Tokens of `batch` texts: start token, random ids, end token (the largest
 * id, which the text tower pools at), zero padding. */
static void fill_tokens(int32_t *tokens, int batch, int context, job_kind kind, int *longest) {
    *longest = 0;
    for (int b = 0; b < batch; b++) {
        int len = kind == JOB_TEXT77 ? context : caption_lengths[b % 32];
        if (len > context) len = context;
        int32_t *row = tokens + (size_t)b * context;
        memset(row, 0, (size_t)context * sizeof(int32_t));
        row[0] = CLIP_TOKEN_SOT;
        for (int l = 1; l < len - 1; l++) row[l] = 1 + (int32_t)(bench_rng_next() % 49000);
        row[len - 1] = CLIP_TOKEN_EOT;
        if (len > *longest) *longest = len;
    }
}

static void bench_model(const char *name, clip_weight_dtype dtype, const options *o) {
    char path[1024];
    if (bench_ensure_model("bench_towers", o->dir, name, path, sizeof path) != 0) exit(1);
    double t0 = bench_now(CLOCK_MONOTONIC);
    clip_model *model = NULL;
    clip_load_options lo = {.n_threads = 1, .weight_dtype = dtype};
    if (clip_model_load(path, &lo, &model) != CLIP_OK) {
        fprintf(stderr, "bench_towers: %s\n", clip_last_error());
        exit(1);
    }
    /* Until the model gives its nn context a weight cache itself (see
     * docs/performance.md), the benchmark does; a no-op once it does. */
    if (o->no_cache)
        nn_ctx_release(&model->nn);
    else if (nn_ctx_init(&model->nn) != CLIP_OK)
        exit(1);
    double load_s = bench_now(CLOCK_MONOTONIC) - t0;
    clip_model_info info;
    clip_model_get_info(model, &info);
    int R = info.image_resolution, C = info.context_length, E = info.embed_dim;
    int max_batch = 1;
    for (int i = 0; i < o->n_batches; i++)
        if (o->batches[i] > max_batch) max_batch = o->batches[i];
    size_t image_floats = (size_t)3 * R * R;
    float *pixels = malloc(image_floats * max_batch * sizeof(float));
    int32_t *tokens = malloc((size_t)C * max_batch * sizeof(int32_t));
    float *features = malloc((size_t)E * max_batch * sizeof(float));
    if (!pixels || !tokens || !features) {
        fprintf(stderr, "bench_towers: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < image_floats * max_batch; i++) pixels[i] = 4.0f * bench_rng_uniform() - 2.0f;

    /* First encodes include whatever the library does lazily (weight packing). */
    job first = {model, JOB_IMAGE, 1, pixels, tokens, features};
    t0 = bench_now(CLOCK_MONOTONIC);
    run_once(&first);
    double first_image_s = bench_now(CLOCK_MONOTONIC) - t0;
    double image_rss = bench_peak_rss_mib();
    int longest;
    double first_text_s = 0;
    /* Only when a text tower is measured: it would add its own packed
     * weights to the peak RSS of an image-only run. */
    if (o->text_full || o->text_short) {
        fill_tokens(tokens, 1, C, JOB_TEXT77, &longest);
        first.kind = JOB_TEXT77;
        t0 = bench_now(CLOCK_MONOTONIC);
        run_once(&first);
        first_text_s = bench_now(CLOCK_MONOTONIC) - t0;
    }

    printf("\n%s %s (%s): load %.1f ms, first image encode %.1f ms (peak RSS then %.0f MiB), first text encode "
           "%.1f ms\n",
           name, clip_weight_dtype_name(dtype), path, load_s * 1e3, first_image_s * 1e3, image_rss,
           first_text_s * 1e3);
    printf("  GFLOP per item: image %.2f, text at 77 tokens %.2f (the architecture); computed %.2f and %.2f, as the "
           "last block runs for the pooled row alone (GFLOP/s below are of these)\n",
           flops_image(&info) * 1e-9, flops_text(&info, C) * 1e-9, flops_image_encoded(&info) * 1e-9,
           flops_text_encoded(&info, C) * 1e-9);
    printf("  %-9s %5s %3s | %9s %19s | %9s %9s | %10s | %7s %7s\n", "tower", "batch", "thr", "items/s",
           "(min..max)", "wall ms", "cpu ms", "items/cpu-s", "GFLOP/s", "/cpu-s");
    if (o->tsv)
        printf("RESULT\timpl\tmodel\ttower\tbatch\tthreads\titems_per_s\titems_per_cpu_s\tgflops\tgflops_cpu\n");

    job_kind kinds[3] = {JOB_IMAGE, JOB_TEXT77, JOB_TEXTSHORT};
    int enabled[3] = {o->image, o->text_full, o->text_short};
    for (int k = 0; k < 3; k++) {
        if (!enabled[k]) continue;
        for (int bi = 0; bi < o->n_batches; bi++) {
            int batch = o->batches[bi];
            double flops = 0;
            if (kinds[k] == JOB_IMAGE) {
                flops = flops_image_encoded(&info) * batch;
            } else {
                fill_tokens(tokens, batch, C, kinds[k], &longest);
                flops = flops_text_encoded(&info, longest) * batch;
            }
            for (int ti = 0; ti < o->n_threads; ti++) {
                clip_model_set_threads(model, o->threads[ti]);
                job j = {model, kinds[k], batch, pixels, tokens, features};
                run_stats s = measure(&j, o);
                double ips = batch / s.wall_med, ipc = batch / s.cpu_med;
                printf("  %-9s %5d %3d | %9.2f (%7.2f..%7.2f) | %9.1f %9.1f | %10.2f | %7.1f %7.1f\n",
                       kind_name(kinds[k]), batch, o->threads[ti], ips, batch / s.wall_max, batch / s.wall_min,
                       s.wall_med * 1e3, s.cpu_med * 1e3, ipc, flops / s.wall_med * 1e-9,
                       flops / s.cpu_med * 1e-9);
                if (o->tsv)
                    printf("RESULT\t%s\t%s\t%s\t%d\t%d\t%.4f\t%.4f\t%.2f\t%.2f\n",
                           dtype == CLIP_WEIGHT_F32 ? "clip.c" : dtype == CLIP_WEIGHT_BF16 ? "clip.c-bf16" : "clip.c-int8",
                           name, kind_name(kinds[k]),
                           batch, o->threads[ti], ips, ipc, flops / s.wall_med * 1e-9, flops / s.cpu_med * 1e-9);
                fflush(stdout);
            }
        }
    }
    if (o->text_short) {
        printf("  textshort: caption lengths 5..20 tokens; a batch runs up to its longest caption\n");
    }
    nn_ctx_release(&model->nn);
    clip_model_free(model);
    free(pixels);
    free(tokens);
    free(features);
    printf("  peak RSS so far %.0f MiB\n", bench_peak_rss_mib());
}

int main(int argc, char **argv) {
    options o;
    parse_options(argc, argv, &o);
    char *save = NULL, *models = strdup(o.models);
    for (char *name = strtok_r(models, ",", &save); name; name = strtok_r(NULL, ",", &save))
        for (int d = 0; d < o.n_dtypes; d++) bench_model(name, o.dtypes[d], &o);
    free(models);
    return 0;
}
