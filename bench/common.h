/* What the benchmark programs share: clocks, a fixed-seed generator for
 * their inputs, medians, peak memory, and the cached random models they
 * time (created once with `clip init`'s code, seed 0). */
#ifndef CLIP_BENCH_COMMON_H
#define CLIP_BENCH_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Seconds on CLOCK_MONOTONIC or CLOCK_PROCESS_CPUTIME_ID. */
double bench_now(clockid_t clock);
/* xorshift64: the same inputs in every run. */
uint64_t bench_rng_next(void);
/* Uniform in [0, 1). */
float bench_rng_uniform(void);
/* qsort comparator for doubles. */
int bench_cmp_double(const void *a, const void *b);
double bench_peak_rss_mib(void);
/* DIR/NAME-seed0.safetensors, created when missing: NAME is an
 * architecture clip_arch_by_name knows, or "small" (a ViT-S/32-sized CLIP:
 * 384-wide 6-layer image tower, 256-wide 6-layer text tower). 0 on
 * success; otherwise -1 with a message on stderr prefixed by `program`. */
int bench_ensure_model(const char *program, const char *dir, const char *name, char *path, size_t cap);

#endif
