// FAISS IndexFlatIP baseline for bench_search: the same random unit
// vectors (same generator, bit for bit), the same batch sizes, and a check
// that both find the same top-10. Built and run by bench/faiss_baseline.sh
// (C++, so not part of the CMake build).
#include <faiss/IndexFlat.h>
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void random_unit_rows(float *out, int64_t n, int dim, uint64_t seed) {
    uint64_t s = seed;
    std::vector<double> row(dim);
    for (int64_t i = 0; i < n; i++) {
        double norm = 0;
        for (int d = 0; d < dim; d++) {
            row[d] = (double)(next_u64(&s) >> 11) * 0x1.0p-52 - 1.0;
            norm += row[d] * row[d];
        }
        norm = std::sqrt(norm);
        for (int d = 0; d < dim; d++) out[(size_t)i * dim + d] = (float)(row[d] / norm);
    }
}

static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static long rss_kb(const char *field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field));
    return -1;
}

int main(int argc, char **argv) {
    int64_t n = 1000000;
    int dim = 512, k = 10, rounds1 = 40, rounds64 = 6;
    const char *ids_path = nullptr;
    for (int i = 1; i < argc; i++) {
        if (!std::strcmp(argv[i], "--n") && i + 1 < argc) n = std::atoll(argv[++i]);
        else if (!std::strcmp(argv[i], "--dim") && i + 1 < argc) dim = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--rounds1") && i + 1 < argc) rounds1 = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--rounds64") && i + 1 < argc) rounds64 = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--ids") && i + 1 < argc) ids_path = argv[++i];
    }
    long rss0 = rss_kb("VmRSS:");
    std::vector<float> base((size_t)n * dim), queries((size_t)256 * dim);
    random_unit_rows(base.data(), n, dim, 42);
    random_unit_rows(queries.data(), 256, dim, 7);
    faiss::IndexFlatIP index(dim);
    index.add(n, base.data());
    std::vector<float>().swap(base); // the index holds its own copy, as a real deployment would
    long rss_data = rss_kb("VmRSS:");
    std::vector<float> D(256 * k);
    std::vector<faiss::Index::idx_t> I(256 * k);

    int mismatches = -1, checked = 0;
    if (ids_path) {
        index.search(64, queries.data(), k, D.data(), I.data());
        std::ifstream in(ids_path);
        std::string line;
        mismatches = 0;
        for (int q = 0; q < 64 && std::getline(in, line); q++) {
            std::istringstream ss(line);
            std::string tok;
            for (int r = 0; r < k && (ss >> tok); r++) {
                long long id = std::atoll(tok.c_str());
                float score = std::strtof(tok.c_str() + tok.find(':') + 1, nullptr);
                checked++;
                // Equal ids, or a near-tie that float summation order may swap.
                if (id != I[q * k + r] && std::fabs(score - D[q * k + r]) > 1e-6f) {
                    mismatches++;
                    std::fprintf(stderr, "query %d rank %d: clip.c %lld (%.7g) faiss %lld (%.7g)\n", q, r + 1, id,
                                 score, (long long)I[q * k + r], D[q * k + r]);
                }
            }
        }
    }
    auto measure = [&](int batch, int rounds) {
        index.search(batch, queries.data(), k, D.data(), I.data());
        double t0 = now();
        for (int r = 0; r < rounds; r++)
            index.search(batch, queries.data() + (size_t)(r % 4) * batch * dim, k, D.data(), I.data());
        return (double)batch * rounds / (now() - t0);
    };
    double qps1 = measure(1, rounds1), qps64 = measure(64, rounds64);
    std::printf("{\"bench\": \"faiss_flat_ip\", \"n\": %lld, \"dim\": %d, \"k\": %d, \"omp_threads\": %d, "
                "\"qps_batch1\": %.2f, \"ms_batch1\": %.2f, \"qps_batch64\": %.1f, \"rss_mb\": %.0f, "
                "\"peak_rss_mb\": %.0f, \"top10_checked\": %d, \"top10_mismatches\": %d}\n",
                (long long)n, dim, k, omp_get_max_threads(), qps1, 1e3 / qps1, qps64,
                (double)(rss_data - rss0) / 1024, (double)rss_kb("VmHWM:") / 1024, checked, mismatches);
    return mismatches > 0 ? 1 : 0;
}
