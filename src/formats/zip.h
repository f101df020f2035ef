/* Read-only zip archives over memory (PyTorch's torch.save and
 * torch.jit.save containers): central directory, zip64, every offset
 * checked against the buffer. Stored entries are used in place. */
#ifndef CLIP_FORMATS_ZIP_H
#define CLIP_FORMATS_ZIP_H
#include <stddef.h>
#include <stdint.h>

#include "clip.h"

typedef struct zip_entry {
    const char *name;    /* NUL-terminated copy */
    uint16_t method;     /* 0 stored, 8 deflated */
    uint32_t crc32;
    uint64_t comp_size, size;
    const uint8_t *data; /* comp_size bytes inside the buffer */
} zip_entry;

typedef struct zip_archive zip_archive;

clip_status zip_open_memory(const void *data, size_t size, const char *label, zip_archive **out);
void zip_close(zip_archive *zip);
size_t zip_count(const zip_archive *zip);
const zip_entry *zip_at(const zip_archive *zip, size_t index);
const zip_entry *zip_find(const zip_archive *zip, const char *name);
/* Whether data starts like a zip archive (local file header). */
int zip_sniff(const void *data, size_t size);
/* A malloc'd copy of a (small) entry, inflated if deflated, CRC-checked;
 * entries larger than max_size fail with CLIP_ERR_LIMIT. */
clip_status zip_read(const zip_archive *zip, const zip_entry *entry, size_t max_size, uint8_t **out, size_t *len);

#endif
