/* Growable arrays of code points and bytes for the tokenizer's slow paths.
 * An allocation failure sets `failed` and turns later pushes into no-ops, so
 * a long pipeline checks for out-of-memory once at the end instead of after
 * every append. */
#ifndef CLIP_TOKENIZER_BUFFERS_H
#define CLIP_TOKENIZER_BUFFERS_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct cp_buf {
    uint32_t *v;
    size_t n, cap;
    int failed;
} cp_buf;

typedef struct byte_buf {
    uint8_t *v;
    size_t n, cap;
    int failed;
} byte_buf;

int cp_buf_reserve(cp_buf *b, size_t extra);
int byte_buf_reserve(byte_buf *b, size_t extra);
void cp_buf_free(cp_buf *b);
void byte_buf_free(byte_buf *b);

static inline void cp_push(cp_buf *b, uint32_t c) {
    if (b->n == b->cap && !cp_buf_reserve(b, 1)) return;
    b->v[b->n++] = c;
}

static inline void cp_append(cp_buf *b, const uint32_t *c, size_t n) {
    if (!cp_buf_reserve(b, n)) return;
    if (n) memcpy(b->v + b->n, c, n * sizeof *c);
    b->n += n;
}

static inline void byte_push(byte_buf *b, uint8_t c) {
    if (b->n == b->cap && !byte_buf_reserve(b, 1)) return;
    b->v[b->n++] = c;
}

static inline void byte_append(byte_buf *b, const void *c, size_t n) {
    if (!byte_buf_reserve(b, n)) return;
    if (n) memcpy(b->v + b->n, c, n);
    b->n += n;
}

static inline void cp_buf_swap(cp_buf *a, cp_buf *b) {
    cp_buf t = *a;
    *a = *b;
    *b = t;
}

static inline int cp_buf_equal(const cp_buf *a, const cp_buf *b) {
    return a->n == b->n && (a->n == 0 || memcmp(a->v, b->v, a->n * sizeof *a->v) == 0);
}

#endif
