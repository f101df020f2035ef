/* IDX files (MNIST's format), gzip-compressed or not, read with zlib. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/error.h"
#include "core/limits.h"
#include "data/idx.h"

static uint32_t big_endian(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

clip_status idx_read_u8(const char *path, int expected_dims, idx_array *out) {
    memset(out, 0, sizeof *out);
    gzFile fp = gzopen(path, "rb");
    if (!fp) return clip_fail(CLIP_ERR_IO, "%s: cannot open", path);
    unsigned char header[4 + 4 * 3];
    clip_status st = CLIP_OK;
    int head = 4 + 4 * expected_dims;
    if (gzread(fp, header, (unsigned)head) != head) {
        st = clip_fail(CLIP_ERR_FORMAT, "%s: truncated IDX header", path);
    } else if (header[0] != 0 || header[1] != 0 || header[2] != 0x08 || header[3] != expected_dims) {
        st = clip_fail(CLIP_ERR_FORMAT, "%s: not an unsigned-byte IDX file with %d dimensions", path, expected_dims);
    } else {
        /* The header announces the size of gzip'd data: bounded before
         * the allocation, and below 4 GiB for gzread's unsigned count. */
        uint64_t total = 1, max = limit_value(LIMIT_IDX_BYTES);
        if (max > UINT32_MAX) max = UINT32_MAX;
        for (int d = 0; d < expected_dims && st == CLIP_OK; d++) {
            out->dims[d] = big_endian(header + 4 + 4 * d);
            total *= out->dims[d];
            if (out->dims[d] == 0)
                st = clip_fail(CLIP_ERR_FORMAT, "%s: IDX dimension %d is 0", path, d);
            else if (total > max)
                st = limit_fail(LIMIT_IDX_BYTES, "%s: IDX header announces at least %llu bytes of data", path,
                                (unsigned long long)total);
        }
        if (st == CLIP_OK && !(out->data = malloc(total))) st = clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", path);
        if (st == CLIP_OK && (uint64_t)gzread(fp, out->data, (unsigned)total) != total)
            st = clip_fail(CLIP_ERR_FORMAT, "%s: truncated IDX data (%llu bytes expected)", path,
                           (unsigned long long)total);
        out->n_dims = expected_dims;
    }
    gzclose(fp);
    if (st != CLIP_OK) idx_free(out);
    return st;
}

void idx_free(idx_array *a) {
    free(a->data);
    memset(a, 0, sizeof *a);
}
