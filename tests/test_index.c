/* The embedding index: half floats, SIMD kernels against the portable one,
 * top-k against brute force, the file format (round trip and hostile
 * files), and builds with the fixture model: embeddings equal to
 * clip_embed_images, skipped files, --update, resume after a crash, model
 * mismatch, caption indexes and export. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "clip_index.h"
#include "core/threadpool.h"
#include "formats/npy.h"
#include "harness.h"
#include "index/dot.h"
#include "index/format.h"
#include "index/half.h"
#include "index/journal.h"
#include "index/search.h"
#include "index/topk.h"
#include "index/writer.h"

static uint64_t rng_state = 12345;
static float frand(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

static void normalise(float *v, int n, int dim) {
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int d = 0; d < dim; d++) s += (double)v[i * dim + d] * v[i * dim + d];
        for (int d = 0; d < dim; d++) v[i * dim + d] = (float)(v[i * dim + d] / sqrt(s));
    }
}

static void test_half(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = idx_half_to_float((uint16_t)h);
        if (isnan(f)) continue;
        if (idx_float_to_half(f) != h) bad++;
    }
    CHECK(bad == 0, "%d halves do not round-trip", bad);
    CHECK(idx_float_to_half(1.0f) == 0x3c00, "1.0");
    CHECK(idx_float_to_half(65520.0f) == 0x7c00, "65520 rounds to inf");
    CHECK(idx_float_to_half(1.0f + 1.0f / 2048) == 0x3c00, "tie to even (down)");
    CHECK(idx_float_to_half(1.0f + 3.0f / 2048) == 0x3c02, "tie to even (up)");
    CHECK(idx_float_to_half(5.9604645e-08f) == 0x0001, "smallest subnormal");
    float in[37], out[37];
    uint16_t h[37];
    for (int i = 0; i < 37; i++) in[i] = frand() * 3;
    idx_floats_to_halves(in, 37, h);
    idx_halves_to_floats(h, 37, out);
    int mismatch = 0;
    for (int i = 0; i < 37; i++) mismatch += h[i] != idx_float_to_half(in[i]) || out[i] != idx_half_to_float(h[i]);
    CHECK(mismatch == 0, "bulk conversions differ from scalar ones (%d)", mismatch);
}

static void test_kernels(void) {
    static const int dims[] = {1, 3, 7, 8, 15, 16, 17, 31, 64, 100, 512, 513};
    static const char *const kernels[] = {"portable", "avx2", "avx512"};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        int dim = dims[di], n = 11;
        float *q = malloc((size_t)dim * sizeof(float)), *rows = malloc((size_t)n * dim * sizeof(float));
        uint16_t *hrows = malloc((size_t)n * dim * sizeof(uint16_t));
        float ref[11], got[11];
        for (int i = 0; i < dim; i++) q[i] = frand();
        for (int i = 0; i < n * dim; i++) rows[i] = frand();
        idx_floats_to_halves(rows, (size_t)n * dim, hrows);
        for (int dt = 0; dt < 2; dt++) {
            for (int r = 0; r < n; r++) {
                double s = 0;
                for (int d = 0; d < dim; d++)
                    s += (double)q[d] * (dt ? idx_half_to_float(hrows[r * dim + d]) : rows[r * dim + d]);
                ref[r] = (float)s;
            }
            for (int k = 0; k < 3; k++) {
                if (!idx_dot_force(kernels[k])) continue; /* CPU lacks it */
                idx_dot_rows(q, dt ? (const void *)hrows : rows, dt ? CLIP_INDEX_F16 : CLIP_INDEX_F32, n, dim, got);
                double err = max_abs_diff(got, ref, (size_t)n);
                CHECK(err < 1e-5 * dim, "%s kernel dim %d %s: error %g", kernels[k], dim, dt ? "f16" : "f32", err);
            }
            idx_dot_force(NULL);
        }
        free(q);
        free(rows);
        free(hrows);
    }
}

static void test_topk(void) {
    clip_index_hit slots[5], out[5];
    topk t = {slots, 5, 0};
    float scores[] = {0.1f, 0.5f, 0.5f, NAN, 0.9f, -1.0f, 0.5f, 0.7f, 0.5f};
    for (int i = 0; i < 9; i++) topk_push(&t, scores[i], i);
    topk_sorted(&t, out);
    int64_t want[] = {4, 7, 1, 2, 6};
    for (int i = 0; i < 5; i++) CHECK(out[i].id == want[i], "rank %d: id %lld, want %lld", i, (long long)out[i].id, (long long)want[i]);
    clip_index_hit s2[8], o2[8];
    topk small = {s2, 8, 0};
    topk_push(&small, 0.3f, 3);
    topk_sorted(&small, o2);
    CHECK(o2[0].id == 3 && o2[1].id == -1, "padding with -1");
}

/* Brute-force reference in double, ties to the lower id. */
static void brute(const float *base, int64_t n, int dim, const float *q, int k, clip_index_hit *out) {
    for (int r = 0; r < k; r++) out[r] = (clip_index_hit){-1, 0};
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int d = 0; d < dim; d++) s += (double)q[d] * base[i * dim + d];
        for (int r = 0; r < k; r++) {
            if (out[r].id < 0 || s > out[r].score) {
                memmove(out + r + 1, out + r, (size_t)(k - r - 1) * sizeof *out);
                out[r] = (clip_index_hit){i, (float)s};
                break;
            }
        }
    }
}

static void test_search(void) {
    const int64_t n = 5003;
    const int dim = 40;
    float *base = malloc((size_t)n * dim * sizeof(float)), *q = malloc((size_t)64 * dim * sizeof(float));
    uint16_t *halves = malloc((size_t)n * dim * sizeof(uint16_t));
    float *wide = malloc((size_t)n * dim * sizeof(float));
    for (int64_t i = 0; i < n * dim; i++) base[i] = frand();
    for (int i = 0; i < 64 * dim; i++) q[i] = frand();
    normalise(base, (int)n, dim);
    normalise(q, 64, dim);
    memcpy(base + 77 * dim, base + 10 * dim, (size_t)dim * sizeof(float)); /* an exact tie: 10 must win */
    idx_floats_to_halves(base, (size_t)n * dim, halves);
    idx_halves_to_floats(halves, (size_t)n * dim, wide);
    clip_pool *pool = clip_pool_create(2);
    static const int ks[] = {1, 10, 6000};
    static const int nqs[] = {1, 3, 4, 64};
    clip_index_hit *got = malloc((size_t)64 * 6000 * sizeof *got), *ref = malloc((size_t)6000 * sizeof *ref);
    for (int dt = 0; dt < 2; dt++)
        for (size_t ki = 0; ki < 3; ki++)
            for (size_t qi = 0; qi < 4; qi++) {
                int k = ks[ki], nq = nqs[qi];
                if (k == 6000 && nq == 64) continue;
                idx_matrix m = {dt ? (const void *)halves : base, dt ? CLIP_INDEX_F16 : CLIP_INDEX_F32, n, dim};
                clip_status st = idx_search(qi % 2 ? NULL : pool, &m, q, nq, k, got);
                CHECK(st == CLIP_OK, "search: %s", clip_last_error());
                int wrong = 0;
                for (int j = 0; j < nq; j++) {
                    brute(dt ? wide : base, n, dim, q + j * dim, k, ref);
                    for (int r = 0; r < k; r++) {
                        const clip_index_hit *g = &got[(size_t)j * k + r];
                        /* Same id, or a near-tie that summation order may swap. */
                        if (g->id != ref[r].id && !(ref[r].id >= 0 && fabsf(g->score - ref[r].score) < 1e-5f)) wrong++;
                        if (ref[r].id >= 0 && fabsf(g->score - ref[r].score) > 1e-5f) wrong++;
                    }
                }
                CHECK(wrong == 0, "%s k=%d nq=%d: %d ranks differ from brute force", dt ? "f16" : "f32", k, nq, wrong);
            }
    /* The duplicated row: querying with it finds 10 before 77. */
    idx_matrix m = {base, CLIP_INDEX_F32, n, dim};
    idx_search(pool, &m, base + 10 * dim, 1, 2, got);
    CHECK(got[0].id == 10 && got[1].id == 77, "tie order: %lld %lld", (long long)got[0].id, (long long)got[1].id);
    CHECK(idx_search(pool, &m, q, 1, IDX_MAX_K + 1, got) == CLIP_ERR_LIMIT, "k limit");
    idx_matrix empty = {base, CLIP_INDEX_F32, 0, dim};
    CHECK(idx_search(pool, &empty, q, 2, 3, got) == CLIP_OK && got[0].id == -1 && got[5].id == -1, "empty matrix");
    clip_pool_destroy(pool);
    free(base);
    free(q);
    free(halves);
    free(wide);
    free(got);
    free(ref);
}

static uint32_t crc32_for_test(const unsigned char *header) { return (uint32_t)crc32(0, header, IDX_OFF_CRC); }

static char *read_file(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *size = (size_t)n;
    return buf;
}

static void test_format(void) {
    char path[600];
    snprintf(path, sizeof path, "%s/format.idx", scratch_dir());
    const int dim = 5;
    float vecs[3 * 5];
    for (int i = 0; i < 15; i++) vecs[i] = frand();
    normalise(vecs, 3, dim);
    const char *texts[] = {"/a/cat.jpg", "/b/d\xc3\xa9j\xc3\xa0 vu.png", "/c.webp"};
    uint64_t sizes[] = {10, 20, 30};
    int64_t mtimes[] = {1700000000123456789ll, 2, 3};
    uint8_t id[CLIP_MODEL_ID_BYTES] = {1, 2, 3};
    idx_contents c = {CLIP_INDEX_IMAGES, CLIP_INDEX_F32, dim, 3, vecs, texts, sizes, mtimes, id, "test model"};
    CHECK(idx_write(path, &c) == CLIP_OK, "write: %s", clip_last_error());
    clip_index *ix = NULL;
    CHECK(clip_index_open(path, &ix) == CLIP_OK, "open: %s", clip_last_error());
    if (ix) {
        clip_index_info info;
        clip_index_get_info(ix, &info);
        CHECK(info.count == 3 && info.dim == dim && info.kind == CLIP_INDEX_IMAGES && info.dtype == CLIP_INDEX_F32,
              "info");
        CHECK(strcmp(info.model_desc, "test model") == 0 && memcmp(info.model_id, id, sizeof id) == 0, "model");
        for (int i = 0; i < 3; i++) {
            clip_index_item item;
            float v[5];
            clip_index_get_item(ix, i, &item);
            clip_index_get_vector(ix, i, v);
            CHECK(strcmp(item.text, texts[i]) == 0 && item.size == sizes[i] && item.mtime_ns == mtimes[i], "item %d", i);
            CHECK(memcmp(v, vecs + i * dim, sizeof v) == 0, "vector %d", i);
        }
        CHECK(clip_index_get_item(ix, 3, &(clip_index_item){0}) == CLIP_ERR_INVALID_ARGUMENT, "id out of range");
        clip_index_free(ix);
    }

    /* Hostile copies: every truncation, and corrupted fields. None may crash. */
    size_t size;
    unsigned char *good = (unsigned char *)read_file(path, &size);
    int accepted = 0;
    for (size_t n = 0; n < size; n++) {
        clip_index *t = NULL;
        if (clip_index_open_memory(good, n, "trunc", &t) == CLIP_OK) accepted++;
        clip_index_free(t);
    }
    CHECK(accepted == 0, "%d truncated copies accepted", accepted);
    unsigned char *bad = malloc(size);
    struct {
        int off, width;
        uint64_t value;
        clip_status want;
        int fix_crc;
    } cases[] = {
        {IDX_OFF_COUNT, 8, 1ull << 60, CLIP_ERR_FORMAT, 1},
        {IDX_OFF_COUNT, 8, 4, CLIP_ERR_FORMAT, 1},
        {IDX_OFF_DIM, 4, 0, CLIP_ERR_FORMAT, 1},
        {IDX_OFF_DIM, 4, 1u << 30, CLIP_ERR_FORMAT, 1},
        {IDX_OFF_VECTORS, 8, 1ull << 62, CLIP_ERR_FORMAT, 1},
        {IDX_OFF_VECTORS, 8, 64, CLIP_ERR_FORMAT, 1},
        {IDX_OFF_ITEMS + 8, 8, ~0ull, CLIP_ERR_FORMAT, 1},
        {IDX_OFF_STRINGS, 8, ~0ull - 3, CLIP_ERR_FORMAT, 1},
        {IDX_OFF_KIND, 4, 7, CLIP_ERR_FORMAT, 1},
        {IDX_OFF_DTYPE, 4, 9, CLIP_ERR_FORMAT, 1},
        {IDX_OFF_VERSION, 4, 2, CLIP_ERR_UNSUPPORTED, 1},
        {IDX_OFF_DIM, 4, 6, CLIP_ERR_FORMAT, 0}, /* checksum catches an unfixed edit */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(bad, good, size);
        if (cases[i].width == 8) idx_wr64(bad + cases[i].off, cases[i].value);
        else idx_wr32(bad + cases[i].off, (uint32_t)cases[i].value);
        if (cases[i].fix_crc) idx_wr32(bad + IDX_OFF_CRC, (uint32_t)crc32_for_test(bad));
        clip_index *t = NULL;
        clip_status st = clip_index_open_memory(bad, size, "bad", &t);
        CHECK(st == cases[i].want, "case %zu: status %s (%s)", i, clip_status_name(st), clip_last_error());
        clip_index_free(t);
    }
    /* An item string that runs past the strings region, or lacks its NUL. */
    uint64_t items = idx_rd64(good + IDX_OFF_ITEMS);
    memcpy(bad, good, size);
    idx_wr32(bad + items + 8, 1000);
    CHECK(clip_index_open_memory(bad, size, "bad", &ix) == CLIP_ERR_FORMAT, "long string");
    memcpy(bad, good, size);
    bad[size - 1] = 'x';
    CHECK(clip_index_open_memory(bad, size, "bad", &ix) == CLIP_ERR_FORMAT, "missing NUL");
    memcpy(bad, good, size);
    memcpy(bad, "CLIPINDY", 8);
    CHECK(clip_index_open_memory(bad, size, "bad", &ix) == CLIP_ERR_FORMAT, "magic");
    free(bad);
    free(good);
}

/* Copies the fixture images (and a broken one) into a scratch folder. */
static const char *make_image_dir(void) {
    static char dir[600];
    snprintf(dir, sizeof dir, "%s/photos", scratch_dir());
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/sub' && cp '%s'/chelsea.png '%s'/astronaut_palette.png '%s'/solid_300x200.png '%s' && "
             "cp '%s'/coffee_progressive.jpg '%s'/rocket_portrait_444.jpg '%s/sub' && echo junk > '%s/broken.jpg' && "
             "echo notes > '%s/notes.txt'",
             dir, fixture_path("images"), fixture_path("images"), fixture_path("images"), dir, fixture_path("images"),
             fixture_path("images"), dir, dir, dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "FATAL: cannot prepare %s\n", dir);
        exit(1);
    }
    return dir;
}

static clip_model *load(const char *name) {
    clip_model *m = NULL;
    clip_load_options o = {.n_threads = 2, .vocab_path = fixture_path("vocab/bpe_simple_vocab_16e6.txt.gz")};
    if (clip_model_load(fixture_path(name), &o, &m) != CLIP_OK) {
        fprintf(stderr, "FATAL: %s\n", clip_last_error());
        exit(1);
    }
    return m;
}

typedef struct crash_after {
    int64_t after;
} crash_after;

/* Simulates a crash mid-build: exits without any cleanup once `after`
 * items are done (the journal has been synced by then). */
static void crash_progress(void *ctx, const clip_index_progress *p) {
    const crash_after *c = ctx;
    if (p->done >= c->after) _exit(0);
}

static void test_build(void) {
    const char *dir = make_image_dir();
    char out[700], journal[800];
    snprintf(out, sizeof out, "%s/photos.idx", scratch_dir());
    snprintf(journal, sizeof journal, "%s.journal", out);
    clip_model *vit = load("models/tiny-vit.safetensors");
    clip_index_build_options o = {.kind = CLIP_INDEX_IMAGES, .source = dir, .output = out, .batch = 2};
    clip_index_build_report r;
    CHECK(clip_index_build(vit, &o, &r) == CLIP_OK, "build: %s", clip_last_error());
    CHECK(r.total == 6 && r.embedded == 5 && r.n_failed == 1, "report: total %lld embedded %lld failed %lld",
          (long long)r.total, (long long)r.embedded, (long long)r.n_failed);
    CHECK(r.n_failed == 1 && strstr(r.failed[0], "broken.jpg"), "the broken file is reported");
    clip_index_build_report_free(&r);
    CHECK(access(journal, F_OK) != 0, "journal removed after a complete build");

    clip_index *ix = NULL;
    CHECK(clip_index_open(out, &ix) == CLIP_OK, "open: %s", clip_last_error());
    if (!ix) return;
    CHECK(clip_index_check_model(ix, vit) == CLIP_OK, "same model accepted");
    clip_index_info info;
    clip_index_get_info(ix, &info);
    CHECK(info.count == 5, "count %lld", (long long)info.count);
    /* Each stored vector is what clip_embed_images gives for that file. */
    float *v = malloc((size_t)info.dim * sizeof(float)), *e = malloc((size_t)info.dim * sizeof(float));
    for (int64_t i = 0; i < info.count; i++) {
        clip_index_item item;
        clip_index_get_item(ix, i, &item);
        CHECK(item.text[0] == '/', "absolute path %s", item.text);
        clip_image *img = NULL;
        CHECK(clip_image_load_file(item.text, NULL, &img) == CLIP_OK, "%s", clip_last_error());
        clip_embed_images(vit, (const clip_image *const *)&img, 1, 1, e);
        clip_image_free(img);
        clip_index_get_vector(ix, i, v);
        CHECK(max_abs_diff(v, e, (size_t)info.dim) < 1e-5, "%s: index vector differs from clip_embed_images", item.text);
        if (i > 0) {
            clip_index_item prev;
            clip_index_get_item(ix, i - 1, &prev);
            CHECK(strcmp(prev.text, item.text) < 0, "sorted by path");
        }
    }
    /* Image-to-image: each image finds itself first. */
    clip_index_hit hits[5];
    for (int64_t i = 0; i < info.count; i++) {
        clip_index_get_vector(ix, i, v);
        clip_index_search(ix, v, 1, 5, hits);
        CHECK(hits[0].id == i && fabsf(hits[0].score - 1.0f) < 1e-5f, "self match %lld", (long long)i);
    }
    clip_model *rn = load("models/tiny-rn.safetensors");
    CHECK(clip_index_check_model(ix, rn) == CLIP_ERR_INVALID_ARGUMENT && strstr(clip_last_error(), "another model"),
          "other model refused: %s", clip_last_error());
    clip_index_free(ix);

    /* --update: nothing changed, then one file touched, one removed, one added. */
    o.update = 1;
    CHECK(clip_index_build(vit, &o, &r) == CLIP_OK && r.embedded == 0 && r.reused == 5, "no-op update: %lld embedded",
          (long long)r.embedded);
    clip_index_build_report_free(&r);
    char path[800], cmd[2000];
    snprintf(path, sizeof path, "%s/chelsea.png", dir);
    struct timespec times[2] = {{0, UTIME_NOW}, {1000000000, 0}};
    utimensat(AT_FDCWD, path, times, 0);
    snprintf(cmd, sizeof cmd, "rm '%s/solid_300x200.png' && cp '%s' '%s/sub/new.png'", dir,
             fixture_path("images/tiny_7x5.png"), dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    CHECK(clip_index_build(vit, &o, &r) == CLIP_OK, "update: %s", clip_last_error());
    CHECK(r.embedded == 2 && r.reused == 3 && r.removed == 1, "update: embedded %lld reused %lld removed %lld",
          (long long)r.embedded, (long long)r.reused, (long long)r.removed);
    clip_index_build_report_free(&r);
    clip_index_build_options other = o;
    CHECK(clip_index_build(rn, &other, &r) == CLIP_ERR_INVALID_ARGUMENT, "update with another model refused");
    clip_index_build_report_free(&r);

    /* Resume: a child crashes after 2 items; the rerun picks up its journal. */
    char fresh[720];
    snprintf(fresh, sizeof fresh, "%s/resume.idx", scratch_dir());
    clip_index_build_options ro = {.kind = CLIP_INDEX_IMAGES, .source = dir, .output = fresh, .batch = 1};
    crash_after crash = {2};
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* A fresh model: the parent's worker threads do not exist in the child. */
        clip_model *child_model = load("models/tiny-vit.safetensors");
        ro.progress = crash_progress;
        ro.progress_ctx = &crash;
        clip_index_build(child_model, &ro, &r);
        _exit(3); /* should have crashed before finishing */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child crashed as planned (status %d)", status);
    snprintf(journal, sizeof journal, "%s.journal", fresh);
    CHECK(access(journal, F_OK) == 0 && access(fresh, F_OK) != 0, "journal left behind, no index yet");
    CHECK(clip_index_build(vit, &ro, &r) == CLIP_OK, "resume: %s", clip_last_error());
    CHECK(r.resumed >= 1 && r.resumed + r.embedded == 5, "resumed %lld, embedded %lld", (long long)r.resumed,
          (long long)r.embedded);
    clip_index_build_report_free(&r);
    CHECK(access(journal, F_OK) != 0, "journal removed after resuming");
    /* The resumed index holds the same vectors as an uninterrupted one. */
    clip_index *a = NULL, *b = NULL;
    clip_index_open(fresh, &a);
    clip_index_open(out, &b);
    if (a && b) {
        clip_index_info ia, ib;
        clip_index_get_info(a, &ia);
        clip_index_get_info(b, &ib);
        CHECK(ia.count == ib.count, "resumed count %lld vs %lld", (long long)ia.count, (long long)ib.count);
        for (int64_t i = 0; i < ia.count && i < ib.count; i++) {
            clip_index_get_vector(a, i, v);
            clip_index_get_vector(b, i, e);
            CHECK(max_abs_diff(v, e, (size_t)ia.dim) < 1e-6, "resumed vector %lld", (long long)i);
        }
    }
    clip_index_free(a);
    clip_index_free(b);

    /* F16: same ranking as f32 within half precision; export round-trips. */
    char half_path[720], npy[720], meta[720];
    snprintf(half_path, sizeof half_path, "%s/half.idx", scratch_dir());
    snprintf(npy, sizeof npy, "%s/half.npy", scratch_dir());
    snprintf(meta, sizeof meta, "%s/half.jsonl", scratch_dir());
    clip_index_build_options ho = {.kind = CLIP_INDEX_IMAGES, .source = dir, .output = half_path, .dtype = CLIP_INDEX_F16};
    CHECK(clip_index_build(vit, &ho, &r) == CLIP_OK, "f16 build: %s", clip_last_error());
    clip_index_build_report_free(&r);
    clip_index *h = NULL;
    if (clip_index_open(half_path, &h) == CLIP_OK) {
        CHECK(clip_index_export(h, npy, meta) == CLIP_OK, "export: %s", clip_last_error());
        npy_array arr;
        clip_index_info hi;
        clip_index_get_info(h, &hi);
        CHECK(npy_read(npy, &arr) == CLIP_OK && arr.ndim == 2 && arr.shape[0] == hi.count && arr.shape[1] == hi.dim &&
                  strcmp(arr.descr, "<f4") == 0,
              "npy shape");
        for (int64_t i = 0; i < hi.count && arr.data; i++) {
            clip_index_get_vector(h, i, v);
            CHECK(memcmp(v, (float *)arr.data + i * hi.dim, (size_t)hi.dim * sizeof(float)) == 0, "npy row %lld",
                  (long long)i);
        }
        npy_free(&arr);
        size_t msize;
        char *m = read_file(meta, &msize);
        int lines = 0;
        for (size_t i = 0; m && i < msize; i++) lines += m[i] == '\n';
        CHECK(lines == hi.count && m && strstr(m, "\"mtime_ns\":"), "jsonl lines %d", lines);
        free(m);
        clip_index_free(h);
    }

    /* Captions, searched with an image. */
    char caps[720], caps_idx[720];
    snprintf(caps, sizeof caps, "%s/captions.txt", scratch_dir());
    snprintf(caps_idx, sizeof caps_idx, "%s/captions.idx", scratch_dir());
    FILE *fp = fopen(caps, "w");
    fputs("a photo of a cat\r\n\na rocket launch\na cup of coffee\n", fp);
    fclose(fp);
    clip_index_build_options to = {.kind = CLIP_INDEX_TEXTS, .source = caps, .output = caps_idx};
    CHECK(clip_index_build(vit, &to, &r) == CLIP_OK && r.embedded == 3, "caption build: %s", clip_last_error());
    clip_index_build_report_free(&r);
    clip_index *t = NULL;
    if (clip_index_open(caps_idx, &t) == CLIP_OK) {
        const char *texts[] = {"a cup of coffee"};
        clip_embed_texts(vit, texts, 1, 1, e);
        clip_index_search(t, e, 1, 3, hits);
        clip_index_item item;
        clip_index_get_item(t, hits[0].id, &item);
        CHECK(strcmp(item.text, "a cup of coffee") == 0 && fabsf(hits[0].score - 1) < 1e-5f, "caption self match");
        CHECK(hits[2].id >= 0, "all three captions ranked");
        clip_index_free(t);
    }
    free(v);
    free(e);
    clip_model_free(vit);
    clip_model_free(rn);
}

/* Journals of the ranks of an earlier distributed build (any rank count,
 * here ranks 0 and 3) are resumed by a single process and then removed;
 * the one of another model is ignored. Needs no MPI. */
static void test_rank_journals(void) {
    const char *dir = make_image_dir();
    char ref[700], out[700];
    snprintf(ref, sizeof ref, "%s/ranks_ref.idx", scratch_dir());
    snprintf(out, sizeof out, "%s/ranks.idx", scratch_dir());
    clip_model *vit = load("models/tiny-vit.safetensors");
    clip_index_build_options o = {.kind = CLIP_INDEX_IMAGES, .source = dir, .output = ref, .batch = 2};
    clip_index_build_report r;
    CHECK(clip_index_build(vit, &o, &r) == CLIP_OK, "reference build: %s", clip_last_error());
    clip_index_build_report_free(&r);
    clip_index *ix = NULL;
    CHECK(clip_index_open(ref, &ix) == CLIP_OK, "open: %s", clip_last_error());
    if (!ix) return;
    clip_index_info info;
    clip_index_get_info(ix, &info);
    uint8_t id[CLIP_MODEL_ID_BYTES], other[CLIP_MODEL_ID_BYTES];
    clip_model_identity(vit, id);
    memcpy(other, id, sizeof other);
    other[0] ^= 1;
    float *v = malloc((size_t)info.dim * sizeof(float));
    const int rank_of_item[3] = {0, 0, 3};
    for (int64_t i = 0; i < 3 && i < info.count; i++) {
        char *path = idx_journal_path(out, rank_of_item[i]);
        idx_journal j;
        CHECK(idx_journal_open(&j, path, CLIP_INDEX_IMAGES, info.dim, id) == CLIP_OK, "%s", clip_last_error());
        clip_index_item item;
        clip_index_get_item(ix, i, &item);
        clip_index_get_vector(ix, i, v);
        idx_journal_append(&j, item.text, item.size, item.mtime_ns, v);
        idx_journal_sync(&j);
        idx_journal_close(&j, 0);
        free(path);
    }
    char *stale = idx_journal_path(out, 1); /* another model's: ignored */
    idx_journal j;
    clip_index_item item;
    clip_index_get_item(ix, 4, &item);
    clip_index_get_vector(ix, 4, v);
    idx_journal_open(&j, stale, CLIP_INDEX_IMAGES, info.dim, other);
    idx_journal_append(&j, item.text, item.size, item.mtime_ns, v);
    idx_journal_close(&j, 0);
    o.output = out;
    CHECK(clip_index_build(vit, &o, &r) == CLIP_OK, "resume from rank journals: %s", clip_last_error());
    CHECK(r.resumed == 3 && r.embedded == info.count - 3 && r.ranks == 1, "resumed %lld embedded %lld",
          (long long)r.resumed, (long long)r.embedded);
    clip_index_build_report_free(&r);
    for (int k = 0; k < 4; k++) {
        char *path = idx_journal_path(out, k);
        CHECK(access(path, F_OK) != 0, "%s removed after the build", path);
        free(path);
    }
    clip_index *got = NULL;
    CHECK(clip_index_open(out, &got) == CLIP_OK, "open: %s", clip_last_error());
    float *w = malloc((size_t)info.dim * sizeof(float));
    for (int64_t i = 0; got && i < info.count; i++) {
        clip_index_get_vector(ix, i, v);
        clip_index_get_vector(got, i, w);
        CHECK(max_abs_diff(v, w, (size_t)info.dim) == 0, "item %lld differs from the reference", (long long)i);
    }
    free(stale);
    free(v);
    free(w);
    clip_index_free(got);
    clip_index_free(ix);
    clip_model_free(vit);
}

int main(void) {
    test_half();
    test_kernels();
    test_topk();
    test_search();
    test_format();
    test_build();
    test_rank_journals();
    return test_finish("test_index");
}
