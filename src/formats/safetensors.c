#include "formats/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/limits.h"

struct st_file {
    char *path;
    const uint8_t *base;
    size_t size;
    int mapped;
    st_tensor *tensors;
    size_t n_tensors;
    st_tensor **sorted; /* by name, for lookup */
    char **meta_keys, **meta_values;
    size_t n_meta;
    /* Tables (st_table_*): tensor array capacity, names not yet indexed,
     * and what the tensors borrow from. */
    size_t tensor_cap;
    int unsorted;
    struct st_keep *keep;
};

typedef struct st_keep {
    void *resource;
    void (*release)(void *);
    struct st_keep *next;
} st_keep;

static const struct {
    const char *name;
    st_dtype dtype;
    size_t size;
} dtype_table[] = {
    {"F32", ST_F32, 4}, {"F16", ST_F16, 2}, {"BF16", ST_BF16, 2}, {"F64", ST_F64, 8},
    {"I64", ST_I64, 8}, {"I32", ST_I32, 4}, {"I16", ST_I16, 2},   {"I8", ST_I8, 1},
    {"U8", ST_U8, 1},   {"BOOL", ST_BOOL, 1},
};

size_t st_dtype_size(st_dtype dtype) {
    for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++)
        if (dtype_table[i].dtype == dtype) return dtype_table[i].size;
    return 0;
}

const char *st_dtype_name(st_dtype dtype) {
    if (dtype == ST_Q8_0) return "Q8_0";
    if (dtype == ST_Q4_0) return "Q4_0";
    for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++)
        if (dtype_table[i].dtype == dtype) return dtype_table[i].name;
    return "?";
}

int st_dtype_from_name(const char *name, st_dtype *out) {
    for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++) {
        if (strcmp(dtype_table[i].name, name) == 0) {
            *out = dtype_table[i].dtype;
            return 1;
        }
    }
    return 0;
}

static int compare_tensor_names(const void *a, const void *b) {
    const st_tensor *ta = *(st_tensor *const *)a;
    const st_tensor *tb = *(st_tensor *const *)b;
    return strcmp(ta->name, tb->name);
}

void st_close(st_file *f) {
    if (!f) return;
    for (st_keep *k = f->keep; k;) {
        st_keep *next = k->next;
        k->release(k->resource);
        free(k);
        k = next;
    }
    for (size_t i = 0; i < f->n_tensors; i++) free((char *)f->tensors[i].name);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    free(f->tensors);
    free(f->sorted);
    if (f->mapped && f->base) munmap((void *)f->base, f->size);
    free(f->path);
    free(f);
}

static clip_status parse_tensor(st_file *f, const cJSON *entry, st_tensor *t,
                                size_t data_start) {
    const char *label = f->path;
    if (!cJSON_IsObject(entry))
        return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': header entry is not an object", label, t->name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offsets))
        return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': needs dtype, shape and data_offsets", label, t->name);
    if (!st_dtype_from_name(dtype->valuestring, &t->dtype))
        return clip_fail(CLIP_ERR_DTYPE, "%s: tensor '%s': unknown dtype '%s'", label, t->name, dtype->valuestring);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > ST_MAX_DIMS)
        return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': %d dimensions (at most %d)", label, t->name, ndim, ST_MAX_DIMS);
    t->ndim = ndim;
    int64_t numel = 1;
    int i = 0;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape) {
        if (!cJSON_IsNumber(dim) || dim->valuedouble < 0 || dim->valuedouble > 9.0e15 ||
            dim->valuedouble != (double)(int64_t)dim->valuedouble)
            return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': bad dimension", label, t->name);
        t->shape[i++] = (int64_t)dim->valuedouble;
        if (t->shape[i - 1] != 0 && numel > INT64_MAX / 16 / t->shape[i - 1])
            return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': shape too large", label, t->name);
        numel *= t->shape[i - 1];
    }
    t->numel = numel;
    if (cJSON_GetArraySize(offsets) != 2)
        return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': data_offsets must have 2 entries", label, t->name);
    const cJSON *begin = cJSON_GetArrayItem(offsets, 0), *end = cJSON_GetArrayItem(offsets, 1);
    if (!cJSON_IsNumber(begin) || !cJSON_IsNumber(end) || begin->valuedouble < 0 ||
        end->valuedouble < begin->valuedouble || end->valuedouble > 9.0e15)
        return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': bad data_offsets", label, t->name);
    uint64_t b = (uint64_t)begin->valuedouble, e = (uint64_t)end->valuedouble;
    uint64_t data_size = f->size - data_start;
    if (e > data_size)
        return clip_fail(CLIP_ERR_FORMAT,
                         "%s: tensor '%s': data ends at byte %llu but the file has only %llu data bytes (truncated file?)",
                         label, t->name, (unsigned long long)e, (unsigned long long)data_size);
    uint64_t expected = (uint64_t)numel * st_dtype_size(t->dtype);
    if (e - b != expected)
        return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': %llu data bytes for a shape needing %llu",
                         label, t->name, (unsigned long long)(e - b), (unsigned long long)expected);
    t->data = f->base + data_start + b;
    t->nbytes = (size_t)expected;
    return CLIP_OK;
}

static clip_status parse_metadata(st_file *f, const cJSON *meta) {
    if (!cJSON_IsObject(meta))
        return clip_fail(CLIP_ERR_FORMAT, "%s: __metadata__ is not an object", f->path);
    if (f->meta_keys) return clip_fail(CLIP_ERR_FORMAT, "%s: __metadata__ appears twice", f->path);
    int n = cJSON_GetArraySize(meta);
    f->meta_keys = calloc((size_t)n + 1, sizeof(char *));
    f->meta_values = calloc((size_t)n + 1, sizeof(char *));
    if (!f->meta_keys || !f->meta_values) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", f->path);
    const cJSON *item;
    cJSON_ArrayForEach(item, meta) {
        if (!cJSON_IsString(item))
            return clip_fail(CLIP_ERR_FORMAT, "%s: __metadata__ value '%s' is not a string", f->path, item->string);
        f->meta_keys[f->n_meta] = strdup(item->string);
        f->meta_values[f->n_meta] = strdup(item->valuestring);
        f->n_meta++;
        if (!f->meta_keys[f->n_meta - 1] || !f->meta_values[f->n_meta - 1])
            return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", f->path);
    }
    return CLIP_OK;
}

static clip_status parse_header(st_file *f) {
    if (f->size < 8)
        return clip_fail(CLIP_ERR_FORMAT, "%s: %zu bytes is too short for a safetensors file", f->path, f->size);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | f->base[i];
    if (header_len > f->size - 8)
        return clip_fail(CLIP_ERR_FORMAT, "%s: header length %llu does not fit the %zu-byte file (truncated or not safetensors)",
                         f->path, (unsigned long long)header_len, f->size);
    /* The JSON parse allocates in proportion to the header: bounded first. */
    if (header_len > limit_value(LIMIT_SAFETENSORS_HEADER))
        return limit_fail(LIMIT_SAFETENSORS_HEADER, "%s: safetensors header of %llu bytes is over the limit", f->path,
                          (unsigned long long)header_len);
    const char *header = (const char *)f->base + 8;
    if (header_len < 2 || header[0] != '{')
        return clip_fail(CLIP_ERR_FORMAT, "%s: header is not a JSON object (not a safetensors file?)", f->path);
    cJSON *root = cJSON_ParseWithLength(header, (size_t)header_len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return clip_fail(CLIP_ERR_FORMAT, "%s: header is not valid JSON", f->path);
    }
    size_t data_start = 8 + (size_t)header_len;
    int n = cJSON_GetArraySize(root);
    f->tensors = calloc((size_t)n + 1, sizeof(st_tensor));
    f->sorted = calloc((size_t)n + 1, sizeof(st_tensor *));
    clip_status st = (f->tensors && f->sorted) ? CLIP_OK : clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", f->path);
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (st != CLIP_OK) break;
        if (strcmp(item->string, "__metadata__") == 0) {
            st = parse_metadata(f, item);
            continue;
        }
        st_tensor *t = &f->tensors[f->n_tensors];
        t->name = strdup(item->string);
        if (!t->name) {
            st = clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", f->path);
            break;
        }
        f->n_tensors++;
        st = parse_tensor(f, item, t, data_start);
    }
    cJSON_Delete(root);
    if (st != CLIP_OK) return st;
    for (size_t i = 0; i < f->n_tensors; i++) f->sorted[i] = &f->tensors[i];
    qsort(f->sorted, f->n_tensors, sizeof(st_tensor *), compare_tensor_names);
    for (size_t i = 1; i < f->n_tensors; i++)
        if (strcmp(f->sorted[i - 1]->name, f->sorted[i]->name) == 0)
            return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s' appears twice", f->path, f->sorted[i]->name);
    return CLIP_OK;
}

clip_status st_open(const char *path, st_file **out) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return clip_fail(CLIP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return clip_fail(CLIP_ERR_IO, "%s: not a regular file", path);
    }
    st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        close(fd);
        free(f);
        return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    f->size = (size_t)sb.st_size;
    if (f->size > 0) {
        void *map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            close(fd);
            clip_status st = clip_fail(CLIP_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
            st_close(f);
            return st;
        }
        f->base = map;
        f->mapped = 1;
    }
    close(fd);
    clip_status st = parse_header(f);
    if (st != CLIP_OK) {
        st_close(f);
        return st;
    }
    *out = f;
    return CLIP_OK;
}

clip_status st_open_memory(const void *data, size_t size, const char *label, st_file **out) {
    *out = NULL;
    st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(label ? label : "<memory>"))) {
        free(f);
        return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    }
    f->base = data;
    f->size = size;
    clip_status st = parse_header(f);
    if (st != CLIP_OK) {
        st_close(f);
        return st;
    }
    *out = f;
    return CLIP_OK;
}

size_t st_count(const st_file *f) { return f->n_tensors; }
const st_tensor *st_at(const st_file *f, size_t i) { return i < f->n_tensors ? &f->tensors[i] : NULL; }
const char *st_path(const st_file *f) { return f->path; }

const st_tensor *st_find(const st_file *f, const char *name) {
    if (f->unsorted) {
        for (size_t i = 0; i < f->n_tensors; i++)
            if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
        return NULL;
    }
    size_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->sorted[mid]->name, name);
        if (c == 0) return f->sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *st_metadata(const st_file *f, const char *key) {
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

size_t st_metadata_count(const st_file *f) { return f->n_meta; }

void st_metadata_at(const st_file *f, size_t i, const char **key, const char **value) {
    *key = f->meta_keys[i];
    *value = f->meta_values[i];
}

/* ---- half precision ---- */

float st_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exponent = 127 - 15 + 1;
            while (!(mantissa & 0x400)) {
                mantissa <<= 1;
                exponent--;
            }
            mantissa &= 0x3ff;
            bits = sign | (exponent << 23) | (mantissa << 13);
        }
    } else if (exponent == 31) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float st_bf16_to_float(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t st_float_to_bf16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40); /* quiet NaN */
    bits += 0x7fffu + ((bits >> 16) & 1); /* round to nearest even */
    return (uint16_t)(bits >> 16);
}

uint16_t st_float_to_half(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    uint32_t sign = (bits >> 16) & 0x8000;
    uint32_t abs = bits & 0x7fffffffu;
    if (abs > 0x7f800000u) return (uint16_t)(sign | 0x7e00);
    if (abs >= 0x47800000u) return (uint16_t)(sign | 0x7c00); /* overflow -> inf */
    if (abs < 0x38800000u) { /* subnormal or zero in half */
        if (abs < 0x33000000u) return (uint16_t)sign;
        uint32_t e = abs >> 23;
        uint32_t m = (abs & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t half_m = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (half_m & 1))) half_m++;
        return (uint16_t)(sign | half_m);
    }
    uint32_t e = (abs >> 23) - 127 + 15;
    uint32_t m = abs & 0x7fffff;
    uint32_t h = (e << 10) | (m >> 13);
    uint32_t rem = m & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

/* ---- writer ---- */

typedef struct pending_tensor {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    void *data;
    size_t nbytes;
} pending_tensor;

struct st_writer {
    pending_tensor *tensors;
    size_t n, cap;
    cJSON *metadata;
};

st_writer *st_writer_new(void) {
    st_writer *w = calloc(1, sizeof *w);
    if (w) w->metadata = cJSON_CreateObject();
    if (w && !w->metadata) {
        free(w);
        return NULL;
    }
    return w;
}

void st_writer_free(st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].data);
    }
    free(w->tensors);
    cJSON_Delete(w->metadata);
    free(w);
}

clip_status st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim,
                          const int64_t *shape, const void *data) {
    if (ndim < 0 || ndim > ST_MAX_DIMS) return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "tensor '%s': bad rank", name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        pending_tensor *grown = realloc(w->tensors, cap * sizeof *grown);
        if (!grown) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
        w->tensors = grown;
        w->cap = cap;
    }
    pending_tensor *t = &w->tensors[w->n];
    memset(t, 0, sizeof *t);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        numel *= (size_t)shape[i];
    }
    t->nbytes = numel * st_dtype_size(dtype);
    t->name = strdup(name);
    t->data = malloc(t->nbytes ? t->nbytes : 1);
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    }
    memcpy(t->data, data, t->nbytes);
    t->dtype = dtype;
    t->ndim = ndim;
    w->n++;
    return CLIP_OK;
}

clip_status st_writer_metadata(st_writer *w, const char *key, const char *value) {
    cJSON_DeleteItemFromObjectCaseSensitive(w->metadata, key);
    if (!cJSON_AddStringToObject(w->metadata, key, value)) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    return CLIP_OK;
}

static int compare_pending(const void *a, const void *b) {
    const pending_tensor *ta = a, *tb = b;
    size_t sa = st_dtype_size(ta->dtype), sb = st_dtype_size(tb->dtype);
    if (sa != sb) return sa > sb ? -1 : 1; /* larger items first keeps alignment */
    return strcmp(ta->name, tb->name);
}

clip_status st_writer_finish(st_writer *w, const char *path) {
    if (w->n) qsort(w->tensors, w->n, sizeof *w->tensors, compare_pending);
    cJSON *root = cJSON_CreateObject();
    if (!root) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    if (cJSON_GetArraySize(w->metadata) > 0)
        cJSON_AddItemReferenceToObject(root, "__metadata__", w->metadata);
    size_t offset = 0;
    for (size_t i = 0; i < w->n; i++) {
        pending_tensor *t = &w->tensors[i];
        cJSON *entry = cJSON_CreateObject();
        cJSON_AddStringToObject(entry, "dtype", st_dtype_name(t->dtype));
        cJSON *shape = cJSON_AddArrayToObject(entry, "shape");
        for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        cJSON *offsets = cJSON_AddArrayToObject(entry, "data_offsets");
        cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)(offset + t->nbytes)));
        cJSON_AddItemToObject(root, t->name, entry);
        offset += t->nbytes;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    size_t json_len = strlen(json);
    /* Pad with spaces so the data region starts 64-byte aligned (mmap'd
     * tensors can then be used directly by SIMD loads). */
    size_t padded = ((8 + json_len + 63) / 64) * 64 - 8;
    uint8_t len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    atomic_file af;
    clip_status st = atomic_file_open(&af, path);
    if (st != CLIP_OK) {
        free(json);
        return st;
    }
    int ok = fwrite(len_bytes, 1, 8, af.fp) == 8 && fwrite(json, 1, json_len, af.fp) == json_len;
    for (size_t i = json_len; ok && i < padded; i++) ok = fputc(' ', af.fp) != EOF;
    for (size_t i = 0; ok && i < w->n; i++)
        ok = w->tensors[i].nbytes == 0 || fwrite(w->tensors[i].data, 1, w->tensors[i].nbytes, af.fp) == w->tensors[i].nbytes;
    free(json);
    if (!ok) {
        atomic_file_abort(&af);
        return clip_fail(CLIP_ERR_IO, "%s: write failed", path);
    }
    return atomic_file_commit(&af);
}

/* ---- tables built by other readers ---- */

size_t st_dtype_bytes(st_dtype dtype, int64_t numel) {
    if (numel < 0) return 0;
    if (dtype == ST_Q8_0 || dtype == ST_Q4_0) {
        if (numel % ST_QBLOCK) return 0;
        return (size_t)(numel / ST_QBLOCK) * (dtype == ST_Q8_0 ? 34u : 18u);
    }
    return (size_t)numel * st_dtype_size(dtype);
}

st_file *st_table_new(const char *path) {
    st_file *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->path = strdup(path ? path : "<table>");
    if (!f->path) {
        free(f);
        return NULL;
    }
    return f;
}

clip_status st_table_add(st_file *f, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                         const void *data, size_t nbytes) {
    if (ndim < 0 || ndim > ST_MAX_DIMS)
        return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': %d dimensions (at most %d)", f->path, name, ndim,
                         ST_MAX_DIMS);
    if (st_dtype_bytes(dtype, 1) == 0 && dtype != ST_Q8_0 && dtype != ST_Q4_0)
        return clip_fail(CLIP_ERR_DTYPE, "%s: tensor '%s': unknown dtype %d", f->path, name, (int)dtype);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] != 0 && numel > INT64_MAX / 16 / shape[i]))
            return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': bad or too large shape", f->path, name);
        numel *= shape[i];
    }
    int quantised = dtype == ST_Q8_0 || dtype == ST_Q4_0;
    if (quantised && (ndim == 0 || shape[ndim - 1] % ST_QBLOCK != 0))
        return clip_fail(CLIP_ERR_SHAPE, "%s: tensor '%s': %s needs a last dimension divisible by %d", f->path, name,
                         st_dtype_name(dtype), ST_QBLOCK);
    size_t expected = st_dtype_bytes(dtype, numel);
    if (nbytes != expected)
        return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': %zu data bytes for a shape needing %zu", f->path, name,
                         nbytes, expected);
    if (!data && nbytes)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "%s: tensor '%s': no data", f->path, name);
    if (f->n_tensors + 1 > f->tensor_cap) {
        size_t cap = f->tensor_cap ? f->tensor_cap * 2 : 64;
        if (cap < f->n_tensors + 1) cap = f->n_tensors + 1;
        st_tensor *grown = realloc(f->tensors, cap * sizeof *grown);
        if (!grown) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", f->path);
        f->tensors = grown;
        st_tensor **sorted = realloc(f->sorted, cap * sizeof *sorted);
        if (!sorted) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", f->path);
        f->sorted = sorted;
        f->tensor_cap = cap;
    }
    st_tensor *t = &f->tensors[f->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", f->path);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->data = data;
    t->nbytes = nbytes;
    f->n_tensors++;
    f->unsorted = 1; /* the array may have moved: index again at finish */
    return CLIP_OK;
}

int st_mapping(const st_file *f, const void **base, size_t *size) {
    if (!f->mapped || !f->base) return 0;
    *base = f->base;
    *size = f->size;
    return 1;
}

clip_status st_table_set_mapping(st_file *f, const void *base, size_t size) {
    if (f->mapped && f->base) munmap((void *)f->base, f->size);
    f->base = base;
    f->size = size;
    f->mapped = base != NULL;
    return CLIP_OK;
}

clip_status st_table_keep(st_file *f, void *resource, void (*release)(void *)) {
    st_keep *k = malloc(sizeof *k);
    if (!k) {
        release(resource);
        return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", f->path);
    }
    k->resource = resource;
    k->release = release;
    k->next = f->keep;
    f->keep = k;
    return CLIP_OK;
}

clip_status st_table_set_metadata(st_file *f, const char *key, const char *value) {
    char *v = strdup(value);
    if (!v) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", f->path);
    for (size_t i = 0; i < f->n_meta; i++) {
        if (strcmp(f->meta_keys[i], key) == 0) {
            free(f->meta_values[i]);
            f->meta_values[i] = v;
            return CLIP_OK;
        }
    }
    char *k = strdup(key);
    char **keys = realloc(f->meta_keys, (f->n_meta + 1) * sizeof *keys);
    if (keys) f->meta_keys = keys;
    char **values = keys ? realloc(f->meta_values, (f->n_meta + 1) * sizeof *values) : NULL;
    if (values) f->meta_values = values;
    if (!k || !keys || !values) {
        free(k);
        free(v);
        return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", f->path);
    }
    f->meta_keys[f->n_meta] = k;
    f->meta_values[f->n_meta] = v;
    f->n_meta++;
    return CLIP_OK;
}

clip_status st_table_finish(st_file *f) {
    if (f->n_tensors && !f->sorted) {
        f->sorted = calloc(f->n_tensors, sizeof *f->sorted);
        if (!f->sorted) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", f->path);
    }
    for (size_t i = 0; i < f->n_tensors; i++) f->sorted[i] = &f->tensors[i];
    /* an empty table (a GGUF with no tensors, found by fuzz_gguf) has no array to sort */
    if (f->n_tensors) qsort(f->sorted, f->n_tensors, sizeof(st_tensor *), compare_tensor_names);
    for (size_t i = 1; i < f->n_tensors; i++)
        if (strcmp(f->sorted[i - 1]->name, f->sorted[i]->name) == 0)
            return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s' appears twice", f->path, f->sorted[i]->name);
    f->unsorted = 0;
    return CLIP_OK;
}
