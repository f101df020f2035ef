/* Opening an index file: every field is checked against the file size
 * before anything is dereferenced, since index files may come from
 * anywhere (docs/retrieval.md, "Validation"). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"
#include "index/half.h"
#include "index/index_internal.h"

/* Region [off, off + len) lies inside a file of `size` bytes. */
static int region_ok(uint64_t off, uint64_t len, uint64_t size) { return off <= size && len <= size - off; }

static clip_status bad(const char *label, const char *what) {
    return clip_fail(CLIP_ERR_FORMAT, "%s: not a valid index file: %s", label, what);
}

static clip_status validate(clip_index *ix) {
    const unsigned char *h = ix->base;
    const char *label = ix->label;
    uint64_t size = ix->size;
    if (size < IDX_HEADER_BYTES || memcmp(h, IDX_MAGIC, 8) != 0) return bad(label, "bad magic (not a clip index)");
    uint32_t version = idx_rd32(h + IDX_OFF_VERSION);
    if (version != IDX_VERSION)
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: index format version %u, this build reads version %u", label,
                         version, IDX_VERSION);
    if (idx_rd32(h + IDX_OFF_CRC) != (uint32_t)crc32(0, h, IDX_OFF_CRC)) return bad(label, "header checksum mismatch");
    if (idx_rd32(h + IDX_OFF_HEADER_BYTES) != IDX_HEADER_BYTES) return bad(label, "header size");
    uint32_t kind = idx_rd32(h + IDX_OFF_KIND), dtype = idx_rd32(h + IDX_OFF_DTYPE), dim = idx_rd32(h + IDX_OFF_DIM);
    if (kind > CLIP_INDEX_TEXTS) return bad(label, "unknown item kind");
    if (dtype > CLIP_INDEX_F16) return bad(label, "unknown dtype");
    if (dim < 1 || dim > IDX_MAX_DIM) return bad(label, "dimension out of range");
    if (idx_rd64(h + IDX_OFF_FILE_BYTES) != size) return bad(label, "file size differs from the header (truncated?)");
    uint64_t count = idx_rd64(h + IDX_OFF_COUNT);
    uint64_t v_off = idx_rd64(h + IDX_OFF_VECTORS), v_len = idx_rd64(h + IDX_OFF_VECTORS + 8);
    uint64_t i_off = idx_rd64(h + IDX_OFF_ITEMS), i_len = idx_rd64(h + IDX_OFF_ITEMS + 8);
    uint64_t s_off = idx_rd64(h + IDX_OFF_STRINGS), s_len = idx_rd64(h + IDX_OFF_STRINGS + 8);
    uint64_t elem = dtype == CLIP_INDEX_F16 ? 2 : 4;
    /* count is bounded by the file size first, so the products below cannot overflow. */
    if (count > size / IDX_ITEM_BYTES) return bad(label, "item count larger than the file");
    if (v_len != count * dim * elem) return bad(label, "vector region size does not match count x dim");
    if (i_len != count * IDX_ITEM_BYTES) return bad(label, "item table size does not match count");
    if (v_off % IDX_VECTOR_ALIGN || i_off % 8) return bad(label, "misaligned region");
    if (v_off < IDX_HEADER_BYTES || i_off < IDX_HEADER_BYTES || s_off < IDX_HEADER_BYTES)
        return bad(label, "region overlaps the header");
    if (!region_ok(v_off, v_len, size) || !region_ok(i_off, i_len, size) || !region_ok(s_off, s_len, size))
        return bad(label, "region outside the file");
    const unsigned char *desc = h + IDX_OFF_MODEL_DESC;
    if (!memchr(desc, 0, IDX_MODEL_DESC_BYTES)) return bad(label, "unterminated model description");
    ix->kind = (clip_index_kind)kind;
    ix->dtype = (clip_index_dtype)dtype;
    ix->dim = (int)dim;
    ix->count = (int64_t)count;
    memcpy(ix->model_id, h + IDX_OFF_MODEL_ID, CLIP_MODEL_ID_BYTES);
    memcpy(ix->model_desc, desc, IDX_MODEL_DESC_BYTES);
    ix->vectors = h + v_off;
    ix->items = h + i_off;
    ix->strings = (const char *)h + s_off;
    ix->strings_bytes = s_len;
    for (uint64_t i = 0; i < count; i++) {
        const unsigned char *it = ix->items + i * IDX_ITEM_BYTES;
        uint64_t off = idx_rd64(it);
        uint32_t len = idx_rd32(it + 8);
        /* The string and its NUL must fit, with no NUL inside it. */
        if (len > IDX_MAX_STRING || off >= s_len || len > s_len - off - 1 || ix->strings[off + len] != 0 ||
            memchr(ix->strings + off, 0, len))
            return clip_fail(CLIP_ERR_FORMAT, "%s: not a valid index file: item %llu has a bad string", label,
                             (unsigned long long)i);
    }
    if (((uintptr_t)ix->vectors) % elem) {
        /* Only a caller's odd buffer gets here (mappings are page aligned). */
        ix->owned_vectors = malloc(v_len ? v_len : 1);
        if (!ix->owned_vectors) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", label);
        memcpy(ix->owned_vectors, ix->vectors, v_len);
        ix->vectors = ix->owned_vectors;
    }
    return CLIP_OK;
}

static clip_index *index_alloc(const char *label) {
    clip_index *ix = calloc(1, sizeof *ix);
    if (!ix) return NULL;
    ix->label = strdup(label ? label : "<memory>");
    if (!ix->label) {
        free(ix);
        return NULL;
    }
    pthread_mutex_init(&ix->lock, NULL);
    return ix;
}

clip_status clip_index_open_memory(const void *data, size_t size, const char *label, clip_index **out) {
    if (!out || (!data && size)) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_index_open_memory: bad arguments");
    *out = NULL;
    clip_index *ix = index_alloc(label);
    if (!ix) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory opening an index");
    ix->base = data;
    ix->size = size;
    clip_status st = validate(ix);
    if (st != CLIP_OK) {
        clip_index_free(ix);
        return st;
    }
    *out = ix;
    return CLIP_OK;
}

clip_status clip_index_open(const char *path, clip_index **out) {
    if (!path || !out) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_index_open: bad arguments");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return clip_fail(CLIP_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return clip_fail(CLIP_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size < IDX_HEADER_BYTES) {
        close(fd);
        return clip_fail(CLIP_ERR_FORMAT, "%s: not a valid index file: too short (%lld bytes)", path,
                         (long long)sb.st_size);
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED) return clip_fail(CLIP_ERR_IO, "%s: mmap failed: %s", path, strerror(map_errno));
    clip_index *ix = index_alloc(path);
    if (!ix) {
        munmap(map, (size_t)sb.st_size);
        return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory opening %s", path);
    }
    ix->base = map;
    ix->size = (size_t)sb.st_size;
    ix->mapped = 1;
    clip_status st = validate(ix);
    if (st != CLIP_OK) {
        clip_index_free(ix);
        return st;
    }
    /* Searches stream the whole vector region. */
    madvise((void *)ix->vectors, (size_t)ix->count * ix->dim * (ix->dtype == CLIP_INDEX_F16 ? 2 : 4),
            MADV_WILLNEED);
    *out = ix;
    return CLIP_OK;
}

void clip_index_free(clip_index *ix) {
    if (!ix) return;
    clip_pool_destroy(ix->pool);
    if (ix->mapped) munmap((void *)ix->base, ix->size);
    pthread_mutex_destroy(&ix->lock);
    free(ix->owned_vectors);
    free(ix->label);
    free(ix);
}

clip_status clip_index_get_info(const clip_index *ix, clip_index_info *info) {
    if (!ix || !info) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_index_get_info: bad arguments");
    memset(info, 0, sizeof *info);
    info->kind = ix->kind;
    info->dtype = ix->dtype;
    info->dim = ix->dim;
    info->count = ix->count;
    memcpy(info->model_id, ix->model_id, CLIP_MODEL_ID_BYTES);
    info->model_desc = ix->model_desc;
    info->file_bytes = ix->size;
    return CLIP_OK;
}

clip_status clip_index_get_item(const clip_index *ix, int64_t id, clip_index_item *item) {
    if (!ix || !item) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_index_get_item: bad arguments");
    if (id < 0 || id >= ix->count)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "%s: no item %lld (index holds %lld)", ix->label, (long long)id,
                         (long long)ix->count);
    const unsigned char *it = ix->items + (size_t)id * IDX_ITEM_BYTES;
    item->text = ix->strings + idx_rd64(it);
    item->size = idx_rd64(it + 16);
    item->mtime_ns = (int64_t)idx_rd64(it + 24);
    return CLIP_OK;
}

clip_status clip_index_get_vector(const clip_index *ix, int64_t id, float *out) {
    if (!ix || !out) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_index_get_vector: bad arguments");
    if (id < 0 || id >= ix->count)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "%s: no item %lld", ix->label, (long long)id);
    if (ix->dtype == CLIP_INDEX_F16)
        idx_halves_to_floats((const uint16_t *)ix->vectors + (size_t)id * ix->dim, (size_t)ix->dim, out);
    else
        memcpy(out, (const float *)ix->vectors + (size_t)id * ix->dim, (size_t)ix->dim * sizeof(float));
    return CLIP_OK;
}
