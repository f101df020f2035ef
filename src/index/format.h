/* On-disk layout of an index file (docs/retrieval.md is the specification).
 * All integers are little-endian; the reader and writer share these offsets
 * so the format lives in one place. */
#ifndef CLIP_INDEX_FORMAT_H
#define CLIP_INDEX_FORMAT_H
#include <stdint.h>

#define IDX_MAGIC "CLIPINDX"
#define IDX_VERSION 1u
#define IDX_HEADER_BYTES 256u
/* Vectors start on a cache-line boundary so SIMD loads of a mapped file
 * are aligned rows when dim * item size is a multiple of 64. */
#define IDX_VECTOR_ALIGN 64u
#define IDX_ITEM_BYTES 32u
#define IDX_MODEL_DESC_BYTES 96u
/* Limits the reader enforces: beyond them a file is treated as hostile. */
#define IDX_MAX_DIM 16384u
#define IDX_MAX_STRING (1u << 20)

/* Header field offsets. */
enum {
    IDX_OFF_MAGIC = 0,
    IDX_OFF_VERSION = 8,
    IDX_OFF_HEADER_BYTES = 12,
    IDX_OFF_KIND = 16,
    IDX_OFF_DTYPE = 20,
    IDX_OFF_DIM = 24,
    IDX_OFF_FLAGS = 28,
    IDX_OFF_COUNT = 32,
    IDX_OFF_MODEL_ID = 40,
    IDX_OFF_VECTORS = 56, /* u64 offset, u64 bytes */
    IDX_OFF_ITEMS = 72,
    IDX_OFF_STRINGS = 88,
    IDX_OFF_FILE_BYTES = 104,
    IDX_OFF_MODEL_DESC = 112,
    IDX_OFF_CRC = 252, /* crc32 of bytes [0, 252) */
};

/* Item record: u64 string offset (within the strings region), u32 string
 * length (a NUL follows it), u32 reserved (0), u64 size, i64 mtime_ns. */

#define IDX_FLAG_NORMALIZED 1u

static inline uint32_t idx_rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t idx_rd64(const unsigned char *p) {
    return (uint64_t)idx_rd32(p) | (uint64_t)idx_rd32(p + 4) << 32;
}
static inline void idx_wr32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline void idx_wr64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

#endif
