#include "tokenizer/buffers.h"

#include <stdlib.h>

/* Doubling keeps appends amortised O(1); the SIZE_MAX checks keep a
 * pathological request from wrapping around into a tiny allocation. */
static int grow(void **v, size_t *cap, size_t need, size_t item, int *failed) {
    if (*failed) return 0;
    if (need <= *cap) return 1;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need) {
        if (cap2 > SIZE_MAX / 2) {
            *failed = 1;
            return 0;
        }
        cap2 *= 2;
    }
    if (cap2 > SIZE_MAX / item) {
        *failed = 1;
        return 0;
    }
    void *p = realloc(*v, cap2 * item);
    if (!p) {
        *failed = 1;
        return 0;
    }
    *v = p;
    *cap = cap2;
    return 1;
}

int cp_buf_reserve(cp_buf *b, size_t extra) {
    if (extra > SIZE_MAX - b->n) {
        b->failed = 1;
        return 0;
    }
    void *v = b->v;
    int ok = grow(&v, &b->cap, b->n + extra, sizeof *b->v, &b->failed);
    b->v = v;
    return ok;
}

int byte_buf_reserve(byte_buf *b, size_t extra) {
    if (extra > SIZE_MAX - b->n) {
        b->failed = 1;
        return 0;
    }
    void *v = b->v;
    int ok = grow(&v, &b->cap, b->n + extra, 1, &b->failed);
    b->v = v;
    return ok;
}

void cp_buf_free(cp_buf *b) {
    free(b->v);
    memset(b, 0, sizeof *b);
}

void byte_buf_free(byte_buf *b) {
    free(b->v);
    memset(b, 0, sizeof *b);
}
