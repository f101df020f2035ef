#include "index/topk.h"

#include <stdlib.h>

/* "worse" is the heap order: the root is the hit every other one beats. */
static int worse(const clip_index_hit *a, const clip_index_hit *b) {
    return topk_better(b->score, b->id, a->score, a->id);
}

static void sift_down(clip_index_hit *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m])) m = l;
        if (r < n && worse(&h[r], &h[m])) m = r;
        if (m == i) return;
        clip_index_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

void topk_insert(topk *t, float score, int64_t id) {
    clip_index_hit hit = {id, score};
    if (t->n < t->k) {
        int i = t->n++;
        t->hits[i] = hit;
        while (i > 0) {
            int p = (i - 1) / 2;
            if (!worse(&t->hits[i], &t->hits[p])) break;
            clip_index_hit tmp = t->hits[i];
            t->hits[i] = t->hits[p];
            t->hits[p] = tmp;
            i = p;
        }
    } else {
        t->hits[0] = hit;
        sift_down(t->hits, t->n, 0);
    }
}

static int cmp_best_first(const void *a, const void *b) {
    const clip_index_hit *x = a, *y = b;
    if (topk_better(x->score, x->id, y->score, y->id)) return -1;
    if (topk_better(y->score, y->id, x->score, x->id)) return 1;
    return 0;
}

void topk_sorted(const topk *t, clip_index_hit *out) {
    for (int i = 0; i < t->n; i++) out[i] = t->hits[i];
    qsort(out, (size_t)t->n, sizeof *out, cmp_best_first);
    for (int i = t->n; i < t->k; i++) out[i] = (clip_index_hit){-1, 0.0f};
}

void topk_merge(const topk *parts, int n_parts, clip_index_hit *scratch, int k, clip_index_hit *out) {
    topk all = {scratch, k, 0};
    for (int p = 0; p < n_parts; p++)
        for (int i = 0; i < parts[p].n; i++) topk_push(&all, parts[p].hits[i].score, parts[p].hits[i].id);
    topk_sorted(&all, out);
}
