#include "index/writer.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "index/format.h"

static int pad_to(FILE *fp, uint64_t *pos, uint64_t align) {
    static const unsigned char zeros[64];
    uint64_t pad = (align - *pos % align) % align;
    *pos += pad;
    return pad == 0 || fwrite(zeros, 1, (size_t)pad, fp) == pad;
}

clip_status idx_write(const char *path, const idx_contents *c) {
    if (!path || !c || c->dim < 1 || (unsigned)c->dim > IDX_MAX_DIM || c->count < 0 ||
        (c->count > 0 && (!c->vectors || !c->texts)) || !c->model_id)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "writing index %s: bad arguments", path ? path : "(null)");
    uint64_t elem = c->dtype == CLIP_INDEX_F16 ? 2 : 4;
    uint64_t count = (uint64_t)c->count;
    uint64_t strings_bytes = 0;
    for (uint64_t i = 0; i < count; i++) {
        size_t len = strlen(c->texts[i]);
        if (len > IDX_MAX_STRING)
            return clip_fail(CLIP_ERR_LIMIT, "writing index %s: item %llu is longer than %u bytes", path,
                             (unsigned long long)i, IDX_MAX_STRING);
        strings_bytes += len + 1;
    }
    uint64_t v_off = IDX_HEADER_BYTES, v_len = count * (uint64_t)c->dim * elem;
    uint64_t i_off = (v_off + v_len + 7) / 8 * 8, i_len = count * IDX_ITEM_BYTES;
    uint64_t s_off = i_off + i_len;
    uint64_t total = s_off + strings_bytes;

    unsigned char h[IDX_HEADER_BYTES] = {0};
    memcpy(h + IDX_OFF_MAGIC, IDX_MAGIC, 8);
    idx_wr32(h + IDX_OFF_VERSION, IDX_VERSION);
    idx_wr32(h + IDX_OFF_HEADER_BYTES, IDX_HEADER_BYTES);
    idx_wr32(h + IDX_OFF_KIND, (uint32_t)c->kind);
    idx_wr32(h + IDX_OFF_DTYPE, (uint32_t)c->dtype);
    idx_wr32(h + IDX_OFF_DIM, (uint32_t)c->dim);
    idx_wr32(h + IDX_OFF_FLAGS, IDX_FLAG_NORMALIZED);
    idx_wr64(h + IDX_OFF_COUNT, count);
    memcpy(h + IDX_OFF_MODEL_ID, c->model_id, CLIP_MODEL_ID_BYTES);
    idx_wr64(h + IDX_OFF_VECTORS, v_off);
    idx_wr64(h + IDX_OFF_VECTORS + 8, v_len);
    idx_wr64(h + IDX_OFF_ITEMS, i_off);
    idx_wr64(h + IDX_OFF_ITEMS + 8, i_len);
    idx_wr64(h + IDX_OFF_STRINGS, s_off);
    idx_wr64(h + IDX_OFF_STRINGS + 8, strings_bytes);
    idx_wr64(h + IDX_OFF_FILE_BYTES, total);
    if (c->model_desc) {
        size_t n = strlen(c->model_desc);
        if (n >= IDX_MODEL_DESC_BYTES) n = IDX_MODEL_DESC_BYTES - 1;
        memcpy(h + IDX_OFF_MODEL_DESC, c->model_desc, n);
    }
    idx_wr32(h + IDX_OFF_CRC, (uint32_t)crc32(0, h, IDX_OFF_CRC));

    atomic_file af;
    clip_status st = atomic_file_open(&af, path);
    if (st != CLIP_OK) return st;
    FILE *fp = af.fp;
    uint64_t pos = IDX_HEADER_BYTES;
    int ok = fwrite(h, 1, sizeof h, fp) == sizeof h;
    if (ok && v_len) ok = fwrite(c->vectors, 1, (size_t)v_len, fp) == v_len;
    pos += v_len;
    ok = ok && pad_to(fp, &pos, 8);
    uint64_t str_pos = 0;
    for (uint64_t i = 0; ok && i < count; i++) {
        unsigned char rec[IDX_ITEM_BYTES] = {0};
        uint32_t len = (uint32_t)strlen(c->texts[i]);
        idx_wr64(rec, str_pos);
        idx_wr32(rec + 8, len);
        idx_wr64(rec + 16, c->sizes ? c->sizes[i] : 0);
        idx_wr64(rec + 24, c->mtimes_ns ? (uint64_t)c->mtimes_ns[i] : 0);
        ok = fwrite(rec, 1, sizeof rec, fp) == sizeof rec;
        str_pos += len + 1u;
    }
    for (uint64_t i = 0; ok && i < count; i++) ok = fwrite(c->texts[i], 1, strlen(c->texts[i]) + 1, fp) > 0;
    if (!ok) {
        atomic_file_abort(&af);
        return clip_fail(CLIP_ERR_IO, "writing index %s: write failed (disk full?)", path);
    }
    return atomic_file_commit(&af);
}
