/* Throughput of one contrastive training step (forward + backward of both
 * towers, then AdamW) on random standard models, in samples per second.
 *
 * As in bench_towers, every run is timed by wall clock and by process CPU
 * time; single-thread figures are best read by CPU time on a shared
 * machine. GFLOP/s count a training step as 3x the forward's products
 * (the usual convention: the backward is two products per forward one). */
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
#include "train/adamw.h"
#include "train/trainer.h"

typedef struct options {
    const char *dir;
    char models[256];
    int batch, threads, iters, warmup;
    int text_len; /* tokens per caption including start and end */
    int bf16;     /* --precision bf16: mixed-precision products */
} options;

static void usage(FILE *out) {
    fputs("usage: bench_train [options]\n"
          "  --dir DIR        model cache (default /tmp/clip-bench, shared with bench_towers)\n"
          "  --models LIST    ViT-B-32, RN50 or 'small' (a 6-layer ViT-S/32-sized CLIP); default ViT-B-32,small\n"
          "  --batch N        pairs per step (default 32)\n"
          "  --threads N      worker threads (default 1)\n"
          "  --iters N        timed steps (default 3), after --warmup N untimed ones (default 1)\n"
          "  --text-len N     tokens per caption with start/end (default 77: the whole context, as\n"
          "                   PyTorch trains; shorter captions let the text tower stop early)\n"
          "  --precision P    f32 (default) or bf16 (mixed precision: bf16 products, float32 sums,\n"
          "                   parameters and optimiser)\n",
          out);
}

static void parse_options(int argc, char **argv, options *o) {
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},     {"models", required_argument, NULL, 'm'},
        {"batch", required_argument, NULL, 'b'},   {"threads", required_argument, NULL, 't'},
        {"iters", required_argument, NULL, 'i'},   {"warmup", required_argument, NULL, 'w'},
        {"text-len", required_argument, NULL, 'l'}, {"precision", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    *o = (options){.dir = "/tmp/clip-bench", .batch = 32, .threads = 1, .iters = 3, .warmup = 1, .text_len = 77};
    snprintf(o->models, sizeof o->models, "ViT-B-32,small");
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd': o->dir = optarg; break;
        case 'm': snprintf(o->models, sizeof o->models, "%s", optarg); break;
        case 'b': o->batch = atoi(optarg) > 1 ? atoi(optarg) : 2; break;
        case 't': o->threads = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
        case 'i': o->iters = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
        case 'w': o->warmup = atoi(optarg) >= 0 ? atoi(optarg) : 0; break;
        case 'l': o->text_len = atoi(optarg) >= 2 ? atoi(optarg) : 2; break;
        case 'p':
            if (strcmp(optarg, "f32") != 0 && strcmp(optarg, "bf16") != 0) {
                fprintf(stderr, "bench_train: --precision expects f32 or bf16\n");
                exit(2);
            }
            o->bf16 = strcmp(optarg, "bf16") == 0;
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
}

static void bench_model(const char *name, const options *o) {
    char path[1024];
    if (bench_ensure_model("bench_train", o->dir, name, path, sizeof path) != 0) exit(1);
    clip_model *model = NULL;
    clip_load_options lo = {.n_threads = o->threads};
    if (clip_model_load(path, &lo, &model) != CLIP_OK) {
        fprintf(stderr, "bench_train: %s\n", clip_last_error());
        exit(1);
    }
    clip_model_info info;
    clip_model_get_info(model, &info);
    int n = o->batch, R = info.image_resolution, C = info.context_length;
    int len = o->text_len < C ? o->text_len : C;
    size_t image_floats = (size_t)3 * R * R * n;
    float *pixels = malloc(image_floats * sizeof(float));
    int32_t *tokens = calloc((size_t)C * n, sizeof(int32_t));
    if (!pixels || !tokens) exit(1);
    for (size_t i = 0; i < image_floats; i++) pixels[i] = (float)((bench_rng_next() >> 40) * (4.0 / (1ull << 24))) - 2.0f;
    for (int b = 0; b < n; b++) {
        int32_t *row = tokens + (size_t)b * C;
        row[0] = CLIP_TOKEN_SOT;
        for (int l = 1; l < len - 1; l++) row[l] = 1 + (int32_t)(bench_rng_next() % 49000);
        row[len - 1] = CLIP_TOKEN_EOT;
    }
    clip_trainer *trainer = NULL;
    clip_trainer_options topts = {.bn_train = 1, .bf16_matmul = o->bf16};
    if (clip_trainer_create(model, &topts, &trainer) != CLIP_OK) {
        fprintf(stderr, "bench_train: %s\n", clip_last_error());
        exit(1);
    }
    size_t count;
    train_param *params = clip_trainer_params(trainer, &count);
    adamw *opt = NULL;
    adamw_options ao = {.beta1 = 0.9, .beta2 = 0.98, .eps = 1e-6, .weight_decay = 0.2};
    if (adamw_create(params, count, &ao, &opt) != CLIP_OK) exit(1);

    double fb_wall[64], fb_cpu[64], opt_cpu[64];
    int iters = o->iters < 64 ? o->iters : 64;
    float loss = 0;
    for (int it = -o->warmup; it < iters; it++) {
        double w0 = bench_now(CLOCK_MONOTONIC), c0 = bench_now(CLOCK_PROCESS_CPUTIME_ID);
        clip_trainer_zero_grad(trainer);
        if (clip_trainer_forward_backward(trainer, pixels, tokens, n, &loss, NULL) != CLIP_OK) {
            fprintf(stderr, "bench_train: %s\n", clip_last_error());
            exit(1);
        }
        double w1 = bench_now(CLOCK_MONOTONIC), c1 = bench_now(CLOCK_PROCESS_CPUTIME_ID);
        grad_clip_norm(params, count, 1.0);
        adamw_step(opt, 1e-5);
        clip_trainer_params_updated(trainer);
        double c2 = bench_now(CLOCK_PROCESS_CPUTIME_ID);
        if (it >= 0) {
            fb_wall[it] = w1 - w0;
            fb_cpu[it] = c1 - c0;
            opt_cpu[it] = c2 - c1;
        }
    }
    qsort(fb_wall, (size_t)iters, sizeof(double), bench_cmp_double);
    qsort(fb_cpu, (size_t)iters, sizeof(double), bench_cmp_double);
    qsort(opt_cpu, (size_t)iters, sizeof(double), bench_cmp_double);
    double forward = (flops_image(&info) + flops_text(&info, len)) * n, step_cpu = fb_cpu[iters / 2] + opt_cpu[iters / 2];
    printf("\n%s: %.1fM parameters, batch %d, %d thread(s), captions of %d tokens, loss %.4f\n", name,
           info.n_parameters / 1e6, n, o->threads, len, loss);
    printf("  forward+backward: %.2f s wall, %.2f s cpu (median of %d); AdamW + clipping %.3f s cpu\n",
           fb_wall[iters / 2], fb_cpu[iters / 2], iters, opt_cpu[iters / 2]);
    printf("  %.2f samples/s by cpu time for a whole step (%.2f by wall for forward+backward); %.1f GFLOP/cpu-s "
           "(3 x %.1f GFLOP forward)\n",
           n / step_cpu, n / fb_wall[iters / 2], 3 * forward / fb_cpu[iters / 2] * 1e-9, forward * 1e-9);
    printf("  trainer memory %.0f MiB (parameters + gradients), peak RSS %.0f MiB\n",
           clip_trainer_memory_bytes(trainer) / 1048576.0, bench_peak_rss_mib());
    fflush(stdout);
    adamw_free(opt);
    clip_trainer_free(trainer);
    clip_model_free(model);
    free(pixels);
    free(tokens);
}

int main(int argc, char **argv) {
    options o;
    parse_options(argc, argv, &o);
    char *copy = strdup(o.models), *save = NULL;
    for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) bench_model(name, &o);
    free(copy);
    return 0;
}
