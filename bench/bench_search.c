/* Exact top-k search throughput over random unit vectors (default
 * 1,000,000 x 512), at batch 1 and batch 64, with memory use. The data
 * come from a generator that bench/faiss_baseline.cpp reproduces bit for
 * bit, so `--ids FILE` lets the FAISS baseline check it finds the same
 * top-10 (bench/faiss_baseline.sh runs both). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/threadpool.h"
#include "index/dot.h"
#include "index/half.h"
#include "index/search.h"

/* splitmix64: simple enough to replicate exactly in C++. */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Rows of uniform [-1, 1) values scaled to unit length (in double, then
 * rounded, so both programs get identical floats). */
static void random_unit_rows(float *out, int64_t n, int dim, uint64_t seed) {
    uint64_t s = seed;
    double *row = malloc((size_t)dim * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        double norm = 0;
        for (int d = 0; d < dim; d++) {
            row[d] = (double)(next_u64(&s) >> 11) * 0x1.0p-52 - 1.0;
            norm += row[d] * row[d];
        }
        norm = sqrt(norm);
        for (int d = 0; d < dim; d++) out[(size_t)i * dim + d] = (float)(row[d] / norm);
    }
    free(row);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static long rss_kb(const char *field) {
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    size_t n = strlen(field);
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, field, n) == 0) kb = strtol(line + n + 1, NULL, 10);
    if (fp) fclose(fp);
    return kb;
}

/* Queries per second over `rounds` calls of `batch` queries each. */
static double measure(clip_pool *pool, const idx_matrix *m, const float *queries, int batch, int rounds, int k,
                      clip_index_hit *hits) {
    idx_search(pool, m, queries, batch, k, hits); /* warm-up: page in, wake threads */
    double t0 = now();
    for (int r = 0; r < rounds; r++)
        idx_search(pool, m, queries + (size_t)(r % 4) * batch * m->dim, batch, k, hits);
    return (double)batch * rounds / (now() - t0);
}

int main(int argc, char **argv) {
    int64_t n = 1000000;
    int dim = 512, threads = 0, k = 10, rounds1 = 40, rounds64 = 6, fp16 = 0;
    const char *ids_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) n = atoll(argv[++i]);
        else if (strcmp(argv[i], "--dim") == 0 && i + 1 < argc) dim = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rounds1") == 0 && i + 1 < argc) rounds1 = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rounds64") == 0 && i + 1 < argc) rounds64 = atoi(argv[++i]);
        else if (strcmp(argv[i], "--ids") == 0 && i + 1 < argc) ids_path = argv[++i];
        else if (strcmp(argv[i], "--fp16") == 0) fp16 = 1;
        else {
            fprintf(stderr, "usage: bench_search [--n N] [--dim D] [--threads T] [--rounds1 R] [--rounds64 R] "
                            "[--fp16] [--ids OUT]\n");
            return 2;
        }
    }
    long rss0 = rss_kb("VmRSS:");
    float *base = malloc((size_t)n * dim * sizeof(float));
    float *queries = malloc((size_t)256 * dim * sizeof(float));
    clip_index_hit *hits = malloc((size_t)256 * k * sizeof *hits);
    if (!base || !queries || !hits) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    double t0 = now();
    random_unit_rows(base, n, dim, 42);
    random_unit_rows(queries, 256, dim, 7);
    fprintf(stderr, "generated %lld x %d in %.1f s\n", (long long)n, dim, now() - t0);
    idx_matrix m = {base, CLIP_INDEX_F32, n, dim};
    uint16_t *halves = NULL;
    if (fp16) {
        halves = malloc((size_t)n * dim * sizeof(uint16_t));
        idx_floats_to_halves(base, (size_t)n * dim, halves);
        free(base);
        base = NULL;
        m.data = halves;
        m.dtype = CLIP_INDEX_F16;
    }
    long rss_data = rss_kb("VmRSS:");
    clip_pool *pool = clip_pool_create(threads);
    int pool_threads = clip_pool_size(pool);

    if (ids_path) { /* exact top-10 of the first 64 queries, for the FAISS comparison */
        idx_search(pool, &m, queries, 64, k, hits);
        FILE *fp = fopen(ids_path, "w");
        for (int q = 0; fp && q < 64; q++) {
            for (int r = 0; r < k; r++) fprintf(fp, "%lld:%.7g%c", (long long)hits[q * k + r].id, hits[q * k + r].score, r + 1 < k ? ' ' : '\n');
        }
        if (fp) fclose(fp);
    }
    double qps1 = measure(pool, &m, queries, 1, rounds1, k, hits);
    double qps64 = measure(pool, &m, queries, 64, rounds64, k, hits);
    long rss_peak = rss_kb("VmHWM:");
    double gb = (double)n * dim * (fp16 ? 2 : 4) / 1e9;
    printf("{\"bench\": \"search\", \"n\": %lld, \"dim\": %d, \"dtype\": \"%s\", \"k\": %d, \"threads\": %d, "
           "\"kernel\": \"%s\", \"qps_batch1\": %.2f, \"ms_batch1\": %.2f, \"scan_gbps_batch1\": %.1f, "
           "\"qps_batch64\": %.1f, \"data_mb\": %.0f, \"rss_mb\": %.0f, \"peak_rss_mb\": %.0f}\n",
           (long long)n, dim, fp16 ? "f16" : "f32", k, pool_threads, idx_dot_kernel_name(), qps1, 1e3 / qps1,
           gb * qps1, qps64, gb * 1e3, (double)(rss_data - rss0) / 1024, (double)rss_peak / 1024);
    clip_pool_destroy(pool);
    free(base);
    free(halves);
    free(queries);
    free(hits);
    return 0;
}
