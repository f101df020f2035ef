#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "clip.h"

double bench_now(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

uint64_t bench_rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

float bench_rng_uniform(void) { return (float)((bench_rng_next() >> 40) * (1.0 / (1ull << 24))); }

int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

int bench_ensure_model(const char *program, const char *dir, const char *name, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s-seed0.safetensors", dir, name);
    struct stat sb;
    if (stat(path, &sb) == 0) return 0;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: cannot create %s: %s\n", program, dir, strerror(errno));
        return -1;
    }
    clip_arch arch;
    if (strcmp(name, "small") == 0) {
        arch = (clip_arch){.embed_dim = 256, .image_resolution = 224, .vision_layers = {6}, .vision_width = 384,
                           .vision_patch_size = 32, .context_length = 77, .vocab_size = 49408, .text_width = 256,
                           .text_heads = 4, .text_layers = 6};
    } else if (clip_arch_by_name(name, &arch) != CLIP_OK) {
        fprintf(stderr, "%s: %s\n", program, clip_last_error());
        return -1;
    }
    fprintf(stderr, "creating %s ...\n", path);
    if (clip_model_init_file(&arch, 0, NULL, path) != CLIP_OK) {
        fprintf(stderr, "%s: %s\n", program, clip_last_error());
        return -1;
    }
    return 0;
}
