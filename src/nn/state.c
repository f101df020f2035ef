/* Packed-weight cache and scratch of one nn_ctx. A model has about a
 * hundred weights, so a linear scan under one mutex is cheaper than the
 * smallest product it serves. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/error.h"
#include "nn/qkernels.h"
#include "nn/state.h"

/* A-operand entries use this layout value, so the two kinds never match. */
enum { PACKED_AS_A = 2 };

typedef struct cache_entry {
    const float *w;
    const nn_kernels *k; /* float32 entries; NULL for reduced precision */
    int ld, N, K;
    int layout; /* nn_weight_layout, PACKED_AS_A or a custom tag (state.h) */
    nn_dtype dtype;
    int mapped; /* in the context's read-only mapping: cannot change */
    uint64_t fingerprint;
    void *packed; /* floats, or an nn_qweight */
} cache_entry;

/* Entries are keyed by address; a few sampled values guard against the
 * easy mistake of freeing a weight and getting a different one at the same
 * address (a stale entry is then repacked, not used). Not a guarantee: the
 * contract in nn.h stands. 16 loads cost well under 1% of the smallest
 * product that looks the weight up. */
static uint64_t fingerprint(const float *w, int ld, int rows, int cols) {
    uint64_t h = 1469598103934665603ull, n = (uint64_t)rows * (uint64_t)cols;
    if (n == 0) return h;
    for (uint64_t i = 0; i < 16; i++) {
        uint64_t idx = i * (n - 1) / 15;
        uint32_t bits;
        memcpy(&bits, w + (idx / (uint64_t)cols) * (uint64_t)ld + idx % (uint64_t)cols, sizeof bits);
        h = (h ^ bits) * 1099511628211ull;
    }
    return h;
}

static uint64_t entry_fingerprint(const float *w, int ld, int layout, int N, int K) {
    return layout == NN_IN_OUT ? fingerprint(w, ld, K, N) : fingerprint(w, ld, N, K);
}

/* Bytes from w's first to last element. */
static size_t span_bytes(int ld, int layout, int N, int K) {
    int rows = layout == NN_IN_OUT ? K : N, cols = layout == NN_IN_OUT ? N : K;
    return rows > 0 && cols > 0 ? ((size_t)(rows - 1) * ld + cols) * sizeof(float) : 0;
}

static int in_mapping(const nn_ctx *ctx, const float *w, size_t bytes) {
    const char *base = ctx->mapped, *p = (const char *)w;
    return base && p >= base && bytes <= ctx->mapped_bytes && (size_t)(p - base) <= ctx->mapped_bytes - bytes;
}

/* Once packed, a mapped weight's pages are dead weight in RSS (the packed
 * copy is what the products read): hand the whole pages inside it back.
 * The mapping is private and read-only, so nothing is lost: a later read
 * faults the page in again from the page cache. Pages shared with the
 * neighbouring tensors stay. */
static void release_mapped(const nn_ctx *ctx, const float *w, size_t bytes) {
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || !in_mapping(ctx, w, bytes)) return;
    uintptr_t start = ((uintptr_t)w + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
    uintptr_t end = ((uintptr_t)w + bytes) / (uintptr_t)page * (uintptr_t)page;
    if (end > start) madvise((void *)start, end - start, MADV_DONTNEED);
}

struct nn_state {
    pthread_mutex_t lock;
    cache_entry *entries;
    int count, cap;
    float *scratch;
    size_t scratch_floats;
};

float *nn_alloc_floats(size_t floats) {
    size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    return aligned_alloc(64, bytes ? bytes : 64);
}

clip_status nn_ctx_init(nn_ctx *ctx) {
    if (ctx->state) return CLIP_OK;
    nn_state *s = calloc(1, sizeof *s);
    if (!s) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory for the weight cache");
    pthread_mutex_init(&s->lock, NULL);
    ctx->state = s;
    return CLIP_OK;
}

void nn_ctx_release(nn_ctx *ctx) {
    nn_state *s = ctx->state;
    if (!s) return;
    for (int i = 0; i < s->count; i++) free(s->entries[i].packed);
    free(s->entries);
    free(s->scratch);
    pthread_mutex_destroy(&s->lock);
    free(s);
    ctx->state = NULL;
}

void nn_state_lock(nn_state *s) { pthread_mutex_lock(&s->lock); }
void nn_state_unlock(nn_state *s) { pthread_mutex_unlock(&s->lock); }

float *nn_state_scratch(nn_state *s, size_t floats) {
    if (floats <= s->scratch_floats) return s->scratch;
    float *grown = nn_alloc_floats(floats);
    if (!grown) return NULL;
    free(s->scratch);
    s->scratch = grown;
    s->scratch_floats = floats;
    return grown;
}

typedef struct pack_job {
    const nn_kernels *k;
    int N, K, ldb, per_task;
    const float *B;
    nn_weight_layout layout;
    float *packed;
} pack_job;

static void pack_task(void *raw, int task, int thread) {
    (void)thread;
    const pack_job *j = raw;
    int panels = (j->N + j->k->nr - 1) / j->k->nr;
    int p0 = task * j->per_task, p1 = p0 + j->per_task < panels ? p0 + j->per_task : panels;
    nn_pack_b(j->k, j->N, j->K, j->B, j->ldb, j->layout, p0, p1, j->packed);
}

void nn_pack_b_parallel(const nn_ctx *ctx, const nn_kernels *k, int N, int K, const float *B, int ldb,
                        nn_weight_layout layout, float *packed) {
    int panels = (N + k->nr - 1) / k->nr, threads = clip_pool_size(ctx->pool);
    int per_task = (int64_t)N * K < 65536 || threads == 1 ? panels : (panels + 2 * threads - 1) / (2 * threads);
    pack_job job = {k, N, K, ldb, per_task, B, layout, packed};
    clip_pool_run(ctx->pool, (panels + per_task - 1) / per_task, pack_task, &job);
}

/* The entry for this weight, repacked first when its values changed; NULL
 * when there is none. */
static cache_entry *lookup(nn_state *s, const nn_kernels *k, nn_dtype dtype, const float *w, int ld, int layout,
                           int N, int K, int *stale) {
    *stale = 0;
    for (int i = 0; i < s->count; i++) {
        cache_entry *e = &s->entries[i];
        if (e->w == w && e->k == k && e->dtype == dtype && e->ld == ld && e->N == N && e->K == K &&
            e->layout == layout) {
            if (e->mapped) return e; /* read-only: and sampling it would fault released pages in */
            uint64_t f = entry_fingerprint(w, ld, layout, N, K);
            *stale = f != e->fingerprint;
            e->fingerprint = f;
            return e;
        }
    }
    return NULL;
}

static cache_entry *insert(nn_state *s, const nn_ctx *ctx, const nn_kernels *k, nn_dtype dtype, const float *w,
                           int ld, int layout, int N, int K, size_t floats) {
    if (s->count == s->cap) {
        int cap = s->cap ? 2 * s->cap : 128;
        cache_entry *grown = realloc(s->entries, (size_t)cap * sizeof *grown);
        if (!grown) return NULL;
        s->entries = grown;
        s->cap = cap;
    }
    float *packed = nn_alloc_floats(floats);
    if (!packed) return NULL;
    cache_entry *e = &s->entries[s->count++];
    int mapped = in_mapping(ctx, w, span_bytes(ld, layout == PACKED_AS_A ? NN_OUT_IN : layout, N, K));
    *e = (cache_entry){w, k, ld, N, K, layout, dtype, mapped,
                       mapped ? 0 : entry_fingerprint(w, ld, layout, N, K), packed};
    return e;
}

const float *nn_state_packed_weight(nn_state *s, const nn_ctx *ctx, const nn_kernels *k, const float *w, int ld,
                                    nn_weight_layout layout, int N, int K) {
    int stale;
    cache_entry *e = lookup(s, k, NN_F32, w, ld, (int)layout, N, K, &stale);
    if (e && !stale) return e->packed;
    if (!e) e = insert(s, ctx, k, NN_F32, w, ld, (int)layout, N, K, nn_packed_b_floats(k, N, K));
    if (!e) return NULL;
    nn_pack_b_parallel(ctx, k, N, K, w, ld, layout, e->packed);
    if (e->mapped) release_mapped(ctx, w, span_bytes(ld, (int)layout, N, K));
    return e->packed;
}

const float *nn_state_next_weight(nn_state *s, const nn_kernels *k, const float *packed, size_t *panel_bytes) {
    for (int i = 0; i + 1 < s->count; i++) {
        if (s->entries[i].packed != packed) continue;
        const cache_entry *e = &s->entries[i + 1];
        if (e->k != k || e->dtype != NN_F32 || e->layout == PACKED_AS_A || e->N <= 0) return NULL;
        *panel_bytes = (size_t)k->nr * (size_t)e->K * sizeof(float);
        return e->packed;
    }
    return NULL;
}

const float *nn_state_packed_a(nn_state *s, const nn_ctx *ctx, const nn_kernels *k, const float *w, int ld, int M,
                               int K) {
    int stale;
    cache_entry *e = lookup(s, k, NN_F32, w, ld, PACKED_AS_A, M, K, &stale);
    if (e && !stale) return e->packed;
    if (!e) e = insert(s, ctx, k, NN_F32, w, ld, PACKED_AS_A, M, K, (size_t)M * K);
    if (!e) return NULL;
    nn_pack_a(k, M, K, w, ld, e->packed);
    if (e->mapped) release_mapped(ctx, w, span_bytes(ld, NN_OUT_IN, M, K));
    return e->packed;
}

const float *nn_state_packed_custom(nn_state *s, const nn_ctx *ctx, const float *w, int tag, int N, int K,
                                    size_t floats, nn_custom_pack_fn pack, void *arg) {
    int stale;
    cache_entry *e = lookup(s, NULL, NN_F32, w, K, tag, N, K, &stale);
    if (e && !stale) return e->packed;
    if (!e) e = insert(s, ctx, NULL, NN_F32, w, K, tag, N, K, floats);
    if (!e) return NULL;
    pack(w, arg, e->packed);
    if (e->mapped) release_mapped(ctx, w, span_bytes(K, NN_OUT_IN, N, K));
    return e->packed;
}

const nn_qweight *nn_state_packed_q(nn_state *s, const nn_ctx *ctx, nn_dtype d, const float *w, int ld,
                                    nn_weight_layout layout, int N, int K) {
    int stale;
    cache_entry *e = lookup(s, NULL, d, w, ld, (int)layout, N, K, &stale);
    if (e && !stale) return e->packed;
    if (!e) e = insert(s, ctx, NULL, d, w, ld, (int)layout, N, K, (nn_qweight_bytes(d, N, K) + 3) / 4);
    if (!e) return NULL;
    const nn_qweight *q = nn_qweight_pack(ctx, d, w, ld, layout, N, K, e->packed);
    if (e->mapped) release_mapped(ctx, w, span_bytes(ld, (int)layout, N, K));
    return q;
}

clip_status nn_prepare_weight(const nn_ctx *ctx, const float *w, nn_weight_layout layout, int N, int K) {
    if (!ctx->state) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "nn_prepare_weight: the context has no state");
    nn_state_lock(ctx->state);
    int ld = layout == NN_OUT_IN ? K : N;
    const void *p = ctx->weight_dtype != NN_F32
                        ? (const void *)nn_state_packed_q(ctx->state, ctx, ctx->weight_dtype, w, ld, layout, N, K)
                        : (const void *)nn_state_packed_weight(ctx->state, ctx, nn_kernels_active(), w, ld, layout,
                                                               N, K);
    nn_state_unlock(ctx->state);
    return p ? CLIP_OK : clip_fail(CLIP_ERR_NO_MEMORY, "out of memory packing a %dx%d weight", N, K);
}
