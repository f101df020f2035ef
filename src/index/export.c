/* Export for other tools: the embeddings as .npy (FAISS, NumPy) and the
 * items as JSON lines in the same row order. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "formats/npy.h"
#include "index/half.h"
#include "index/index_internal.h"

static clip_status export_npy(const clip_index *ix, const char *path) {
    int64_t shape[2] = {ix->count, ix->dim};
    size_t n = (size_t)ix->count * ix->dim;
    if (ix->dtype == CLIP_INDEX_F32) return npy_write_f32(path, 2, shape, ix->vectors);
    float *wide = malloc((n ? n : 1) * sizeof(float));
    if (!wide) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory widening %zu values", path, n);
    idx_halves_to_floats(ix->vectors, n, wide);
    clip_status st = npy_write_f32(path, 2, shape, wide);
    free(wide);
    return st;
}

static clip_status export_meta(const clip_index *ix, const char *path) {
    atomic_file af;
    clip_status st = atomic_file_open(&af, path);
    if (st != CLIP_OK) return st;
    for (int64_t i = 0; i < ix->count && st == CLIP_OK; i++) {
        clip_index_item item;
        clip_index_get_item(ix, i, &item);
        cJSON *o = cJSON_CreateObject();
        char *line = NULL;
        if (o && cJSON_AddNumberToObject(o, "id", (double)i) &&
            cJSON_AddStringToObject(o, ix->kind == CLIP_INDEX_IMAGES ? "path" : "text", item.text)) {
            if (ix->kind == CLIP_INDEX_IMAGES) {
                /* Raw integers: nanosecond times exceed a double's 53 bits. */
                char num[32];
                snprintf(num, sizeof num, "%llu", (unsigned long long)item.size);
                cJSON_AddRawToObject(o, "size", num);
                snprintf(num, sizeof num, "%lld", (long long)item.mtime_ns);
                cJSON_AddRawToObject(o, "mtime_ns", num);
            }
            line = cJSON_PrintUnformatted(o);
        }
        if (!line) st = clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", path);
        else if (fputs(line, af.fp) < 0 || fputc('\n', af.fp) < 0) st = clip_fail(CLIP_ERR_IO, "%s: write failed", path);
        cJSON_free(line);
        cJSON_Delete(o);
    }
    if (st != CLIP_OK) {
        atomic_file_abort(&af);
        return st;
    }
    return atomic_file_commit(&af);
}

clip_status clip_index_export(const clip_index *ix, const char *npy_path, const char *meta_path) {
    if (!ix) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "clip_index_export: no index");
    clip_status st = CLIP_OK;
    if (npy_path) st = export_npy(ix, npy_path);
    if (st == CLIP_OK && meta_path) st = export_meta(ix, meta_path);
    return st;
}
