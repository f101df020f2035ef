/* Bounded min-heaps keeping the k best (score, id) pairs of a scan. The
 * root is the weakest kept hit, so most candidates are rejected with one
 * comparison. Ties keep the lower id, which makes results independent of
 * how rows were split across threads. */
#ifndef CLIP_INDEX_TOPK_H
#define CLIP_INDEX_TOPK_H
#include <stdint.h>

#include "clip_index.h"

typedef struct topk {
    clip_index_hit *hits; /* k slots, heap-ordered */
    int k, n;
} topk;

/* a ranks before b: higher score, then lower id. */
static inline int topk_better(float sa, int64_t ia, float sb, int64_t ib) {
    return sa > sb || (sa == sb && ia < ib);
}

void topk_insert(topk *t, float score, int64_t id);

static inline void topk_push(topk *t, float score, int64_t id) {
    /* NaN never compares better, so a corrupt row cannot enter the results. */
    if (t->n < t->k) {
        if (score == score) topk_insert(t, score, id);
    } else if (topk_better(score, id, t->hits[0].score, t->hits[0].id)) {
        topk_insert(t, score, id);
    }
}

/* Sorts the kept hits best first into out[0..k), padding with id -1. */
void topk_sorted(const topk *t, clip_index_hit *out);
/* Merges several heaps into one sorted list of k (scratch: k slots). */
void topk_merge(const topk *parts, int n_parts, clip_index_hit *scratch, int k, clip_index_hit *out);

#endif
