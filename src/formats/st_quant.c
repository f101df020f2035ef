#include "formats/st_quant.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "core/error.h"

static void close_file(void *file) { st_close(file); }

static clip_status quantised_entry(const st_file *src, const cJSON *entry, const st_tensor *t, st_dtype *dtype,
                                   int *ndim, int64_t *shape) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    if (!cJSON_IsString(name) || !cJSON_IsArray(dims) || cJSON_GetArraySize(dims) > ST_MAX_DIMS)
        return clip_fail(CLIP_ERR_FORMAT, "%s: %s entry for '%s' needs dtype and shape", st_path(src),
                         ST_QUANT_METADATA, t->name);
    if (strcmp(name->valuestring, "Q8_0") == 0) *dtype = ST_Q8_0;
    else if (strcmp(name->valuestring, "Q4_0") == 0) *dtype = ST_Q4_0;
    else
        return clip_fail(CLIP_ERR_DTYPE, "%s: tensor '%s': unknown quantisation '%s'", st_path(src), t->name,
                         name->valuestring);
    if (t->dtype != ST_U8)
        return clip_fail(CLIP_ERR_FORMAT, "%s: quantised tensor '%s' is not stored as U8", st_path(src), t->name);
    *ndim = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, dims) {
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 9.0e15)
            return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': bad quantised shape", st_path(src), t->name);
        shape[(*ndim)++] = (int64_t)d->valuedouble;
    }
    return CLIP_OK;
}

clip_status st_quant_unwrap(st_file *src, st_file **out) {
    *out = NULL;
    const char *meta = st_metadata(src, ST_QUANT_METADATA);
    if (!meta) {
        *out = src;
        return CLIP_OK;
    }
    cJSON *quant = cJSON_Parse(meta);
    st_file *table = st_table_new(st_path(src));
    clip_status st = CLIP_OK;
    if (!cJSON_IsObject(quant)) st = clip_fail(CLIP_ERR_FORMAT, "%s: %s is not a JSON object", st_path(src), ST_QUANT_METADATA);
    if (!table) st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    for (size_t i = 0; st == CLIP_OK && i < st_count(src); i++) {
        const st_tensor *t = st_at(src, i);
        const cJSON *entry = cJSON_GetObjectItemCaseSensitive(quant, t->name);
        if (!entry) {
            st = st_table_add(table, t->name, t->dtype, t->ndim, t->shape, t->data, t->nbytes);
            continue;
        }
        st_dtype dtype = ST_U8;
        int ndim = 0;
        int64_t shape[ST_MAX_DIMS] = {0};
        st = quantised_entry(src, entry, t, &dtype, &ndim, shape);
        if (st == CLIP_OK) st = st_table_add(table, t->name, dtype, ndim, shape, t->data, t->nbytes);
    }
    for (size_t i = 0; st == CLIP_OK && i < st_metadata_count(src); i++) {
        const char *key, *value;
        st_metadata_at(src, i, &key, &value);
        st = st_table_set_metadata(table, key, value);
    }
    cJSON_Delete(quant);
    if (st == CLIP_OK) st = st_table_finish(table);
    if (table) {
        clip_status kept = st_table_keep(table, src, close_file);
        if (st == CLIP_OK) st = kept;
    } else {
        st_close(src);
    }
    if (st != CLIP_OK) {
        st_close(table);
        return st;
    }
    *out = table;
    return CLIP_OK;
}
