/* Inner products of one query with many stored rows, the inner loop of
 * exact search. The widest kernel the CPU supports is picked at run time
 * (AVX-512, AVX2+FMA, or portable C), so one binary runs everywhere. */
#ifndef CLIP_INDEX_DOT_H
#define CLIP_INDEX_DOT_H
#include <stdint.h>

#include "clip_index.h"

/* out[i] = dot(q, row i) for n rows of `dim` elements stored as `dtype`. */
void idx_dot_rows(const float *q, const void *rows, clip_index_dtype dtype, int64_t n, int dim,
                  float *out);
/* Name of the kernel idx_dot_rows uses ("avx512", "avx2", "portable"). */
const char *idx_dot_kernel_name(void);

/* Tests pin a narrower kernel ("portable", "avx2"); NULL restores the
 * automatic choice. Returns 0 when the CPU lacks the named kernel. Not
 * thread-safe: call before searching. */
int idx_dot_force(const char *name);

#endif
