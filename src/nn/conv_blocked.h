/* The tile kernel behind nn_conv2d_bn_blocked (nn.h). Internal to src/nn
 * and the kernel tests. */
#ifndef CLIP_NN_CONV_BLOCKED_H
#define CLIP_NN_CONV_BLOCKED_H
#include <stddef.h>

#include "nn/nn.h"

/* Output channel blocks of 16 per packed weight group: the tile's nb. */
enum { NN_BCONV_GROUP_BLOCKS = 2, NN_BCONV_MAX_PIXELS = 14, NN_BCONV_MAX_ROW_PAIR = 7 };

/* One tile: nb blocks of 16 output channels by npr pixels of `rows` (1 or
 * 2) consecutive output rows, summed over every input channel block and
 * kernel position. */
typedef struct nn_bconv_tile {
    const float *in; /* input block 0 at the tile's first pixel's top-left tap */
    size_t in_plane, in_row; /* floats between input channel blocks, rows */
    int cblocks, k; /* stride 1 */
    /* The group's packed weights: [cblock][kh][kw][16 inputs][nb][16]. */
    const float *w;
    float *out; /* output block 0 at the tile's first pixel */
    size_t out_plane, out_row;
    const float *residual; /* like out (added before the ReLU), or NULL */
    size_t res_plane, res_row;
    const float *scale, *shift; /* the folded batch norm, at block 0's channel 0 */
    int relu;
    const char *pf; /* pf_lines cache lines to prefetch into L2 on the way */
    int pf_lines;
} nn_bconv_tile;

/* nb in 1..NN_BCONV_GROUP_BLOCKS; npr in 1..NN_BCONV_MAX_PIXELS for one
 * row, 1..NN_BCONV_MAX_ROW_PAIR for two. */
void nn_bconv_tile_avx512(const nn_bconv_tile *t, int nb, int rows, int npr);

#endif
