#include "tokenizer/bpe.h"

#include <stdlib.h>
#include <string.h>

static uint64_t pair_key(int32_t l, int32_t r) { return (uint64_t)(uint32_t)l << 32 | (uint32_t)r; }
static size_t pair_hash(uint64_t k) { return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 17); }

int bpe_merges_init(bpe_merges *m, size_t expected) {
    size_t cap = 64;
    while (cap < expected * 2) cap *= 2;
    m->keys = malloc(cap * sizeof *m->keys);
    m->rank = malloc(cap * sizeof *m->rank);
    m->merged = malloc(cap * sizeof *m->merged);
    if (!m->keys || !m->rank || !m->merged) {
        bpe_merges_free(m);
        return 0;
    }
    memset(m->keys, 0xFF, cap * sizeof *m->keys);
    m->mask = cap - 1;
    m->count = 0;
    return 1;
}

void bpe_merges_free(bpe_merges *m) {
    free(m->keys);
    free(m->rank);
    free(m->merged);
    memset(m, 0, sizeof *m);
}

int bpe_merges_put(bpe_merges *m, int32_t left, int32_t right, int32_t rank, int32_t merged) {
    if ((m->count + 1) * 2 > m->mask + 1) return 0; /* sized by init */
    uint64_t k = pair_key(left, right);
    size_t i = pair_hash(k) & m->mask;
    while (m->keys[i] != UINT64_MAX && m->keys[i] != k) i = (i + 1) & m->mask;
    if (m->keys[i] == UINT64_MAX) m->count++;
    m->keys[i] = k;
    m->rank[i] = rank;
    m->merged[i] = merged;
    return 1;
}

int32_t bpe_merges_get(const bpe_merges *m, int32_t left, int32_t right, int32_t *merged) {
    uint64_t k = pair_key(left, right);
    size_t i = pair_hash(k) & m->mask;
    for (;;) {
        uint64_t key = m->keys[i];
        if (key == k) {
            *merged = m->merged[i];
            return m->rank[i];
        }
        if (key == UINT64_MAX) return -1;
        i = (i + 1) & m->mask;
    }
}

/* A candidate merge at node `pos`, valid while the two symbols it saw are
 * still there. */
typedef struct bpe_heap_entry {
    int32_t rank, pos, left, right;
} heap_entry;

static int before(const heap_entry *a, const heap_entry *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static int heap_push(bpe_scratch *s, size_t *n, heap_entry e) {
    if (*n == s->heap_cap) {
        size_t cap = s->heap_cap ? s->heap_cap * 2 : 64;
        heap_entry *h = realloc(s->heap, cap * sizeof *h);
        if (!h) return 0;
        s->heap = h;
        s->heap_cap = cap;
    }
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&e, &s->heap[parent])) break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = e;
    return 1;
}

static heap_entry heap_pop(bpe_scratch *s, size_t *n) {
    heap_entry top = s->heap[0], last = s->heap[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= *n) break;
        if (child + 1 < *n && before(&s->heap[child + 1], &s->heap[child])) child++;
        if (!before(&s->heap[child], &last)) break;
        s->heap[i] = s->heap[child];
        i = child;
    }
    if (*n) s->heap[i] = last;
    return top;
}

static int reserve(bpe_scratch *s, size_t n) {
    if (n <= s->cap) return 1;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < n) cap *= 2;
    int32_t *sym = realloc(s->sym, cap * sizeof *sym);
    if (sym) s->sym = sym;
    int32_t *prev = realloc(s->prev, cap * sizeof *prev);
    if (prev) s->prev = prev;
    int32_t *next = realloc(s->next, cap * sizeof *next);
    if (next) s->next = next;
    if (!sym || !prev || !next) return 0;
    s->cap = cap;
    return 1;
}

void bpe_scratch_free(bpe_scratch *s) {
    free(s->sym);
    free(s->prev);
    free(s->next);
    free(s->heap);
    free(s->batch);
    memset(s, 0, sizeof *s);
}

static int push_pair(const bpe_merges *m, bpe_scratch *s, size_t *heap_n, int32_t pos) {
    if (pos < 0) return 1;
    int32_t right = s->next[pos];
    if (right < 0) return 1;
    int32_t merged;
    int32_t rank = bpe_merges_get(m, s->sym[pos], s->sym[right], &merged);
    if (rank < 0) return 1;
    return heap_push(s, heap_n, (heap_entry){rank, pos, s->sym[pos], s->sym[right]});
}

size_t bpe_encode(const bpe_merges *m, bpe_scratch *s, const int32_t *symbols, size_t n, int32_t *out) {
    if (n == 1) {
        out[0] = symbols[0];
        return 1;
    }
    if (n > INT32_MAX || !reserve(s, n)) return 0;
    for (size_t i = 0; i < n; i++) {
        s->sym[i] = symbols[i];
        s->prev[i] = (int32_t)i - 1;
        s->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    size_t heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (!push_pair(m, s, &heap_n, (int32_t)i)) return 0;

    while (heap_n) {
        /* All occurrences of the lowest-ranked pair, in text order: the
         * reference merges them in one left-to-right pass, so merges they
         * enable wait for the next round even if ranked lower. */
        int32_t rank = s->heap[0].rank;
        size_t batch_n = 0;
        while (heap_n && s->heap[0].rank == rank) {
            heap_entry e = heap_pop(s, &heap_n);
            if (batch_n == s->batch_cap) {
                size_t cap = s->batch_cap ? s->batch_cap * 2 : 32;
                heap_entry *b = realloc(s->batch, cap * sizeof *b);
                if (!b) return 0;
                s->batch = b;
                s->batch_cap = cap;
            }
            s->batch[batch_n++] = e;
        }
        for (size_t k = 0; k < batch_n; k++) {
            heap_entry e = s->batch[k];
            int32_t l = e.pos, r = s->next[l];
            /* Dead nodes get sym -1, so a stale entry fails here. */
            if (r < 0 || s->sym[l] != e.left || s->sym[r] != e.right) continue;
            int32_t merged;
            bpe_merges_get(m, e.left, e.right, &merged);
            s->sym[l] = merged;
            s->sym[r] = -1;
            s->next[l] = s->next[r];
            if (s->next[r] >= 0) s->prev[s->next[r]] = l;
            if (!push_pair(m, s, &heap_n, s->prev[l]) || !push_pair(m, s, &heap_n, l)) return 0;
        }
    }
    size_t count = 0;
    for (int32_t i = 0; i >= 0; i = s->next[i]) out[count++] = s->sym[i];
    return count;
}
