/* NumPy .npy files (format versions 1.0-3.0): atomic writer and a reader
 * that validates every header field against the file size before
 * allocating. Only C-order, little-endian (or byte-sized) arrays. */
#ifndef CLIP_FORMATS_NPY_H
#define CLIP_FORMATS_NPY_H
#include <stddef.h>
#include <stdint.h>

#include "clip.h"

enum { NPY_MAX_DIMS = 8 };
/* Headers longer than clip_limits.max_npy_header (64 KiB) are refused;
 * numpy itself caps them at 10 kB unless told otherwise. */

typedef struct npy_array {
    char descr[8];                /* "<f4", "<i4", "<i8", "<f8", "|u1", ... */
    int ndim;                     /* 0 = scalar */
    int64_t shape[NPY_MAX_DIMS];
    void *data;                   /* malloc'd, C order; free with npy_free */
    size_t nbytes;
} npy_array;

/* Item size of a supported descr ("<f4" -> 4), or 0 if unsupported.
 * Supported: <f2 <f4 <f8 <i1/|i1 <i2 <i4 <i8 <u1/|u1 <u2 <u4 <u8 |b1. */
size_t npy_descr_size(const char *descr);

/* Writes `data` (C order, numel * item size bytes) atomically. */
clip_status npy_write(const char *path, const char *descr, int ndim,
                      const int64_t *shape, const void *data);
/* Convenience wrappers. */
clip_status npy_write_f32(const char *path, int ndim, const int64_t *shape,
                          const float *data);
clip_status npy_write_i32(const char *path, int ndim, const int64_t *shape,
                          const int32_t *data);
clip_status npy_write_i64(const char *path, int ndim, const int64_t *shape,
                          const int64_t *data);

/* Reads a whole .npy file. On failure *out is zeroed and nothing leaks. */
clip_status npy_read(const char *path, npy_array *out);
/* Same over a buffer; `label` names it in error messages. */
clip_status npy_read_memory(const void *bytes, size_t size, const char *label,
                            npy_array *out);
/* Number of elements (1 for a scalar). */
int64_t npy_numel(const npy_array *a);
void npy_free(npy_array *a);

#endif
