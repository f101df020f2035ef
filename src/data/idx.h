#ifndef CLIP_DATA_IDX_H
#define CLIP_DATA_IDX_H
#include <stdint.h>

#include "clip.h"

typedef struct idx_array {
    int n_dims;
    uint32_t dims[3];
    uint8_t *data;
} idx_array;

/* Reads an unsigned-byte IDX file (e.g. MNIST images [n, rows, cols] or
 * labels [n]) with exactly `expected_dims` dimensions. */
clip_status idx_read_u8(const char *path, int expected_dims, idx_array *out);
void idx_free(idx_array *a);

#endif
