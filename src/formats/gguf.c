/* GGUF reader. Layout (little-endian):
 *   "GGUF", u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv x (string key, u32 type, value),
 *   n_tensors x (string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset),
 *   padding to general.alignment (default 32), tensor data.
 * A string is u64 length + bytes; an array is u32 element type, u64 count,
 * elements. Counts are checked against the bytes left before anything is
 * allocated, so a short file cannot ask for a large allocation. */
#include "formats/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct gguf_file {
    char *label;
    uint32_t version;
    gguf_kv *kvs;
    size_t n_kv;
    gguf_tensor_info *tensors;
    size_t n_tensors;
};

typedef struct cursor {
    const uint8_t *p, *end;
    const char *label;
} cursor;

static int take(cursor *c, size_t n, const uint8_t **out) {
    if ((size_t)(c->end - c->p) < n) return 0;
    *out = c->p;
    c->p += n;
    return 1;
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int read_u32(cursor *c, uint32_t *v) {
    const uint8_t *p;
    if (!take(c, 4, &p)) return 0;
    *v = (uint32_t)le(p, 4);
    return 1;
}

static int read_u64(cursor *c, uint64_t *v) {
    const uint8_t *p;
    if (!take(c, 8, &p)) return 0;
    *v = le(p, 8);
    return 1;
}

static int read_string(cursor *c, const uint8_t **s, uint64_t *len) {
    return read_u64(c, len) && *len <= (uint64_t)(c->end - c->p) && take(c, (size_t)*len, s);
}

static size_t scalar_size(gguf_type t) {
    switch (t) {
    case GGUF_UINT8: case GGUF_INT8: case GGUF_BOOL: return 1;
    case GGUF_UINT16: case GGUF_INT16: return 2;
    case GGUF_UINT32: case GGUF_INT32: case GGUF_FLOAT32: return 4;
    case GGUF_UINT64: case GGUF_INT64: case GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static clip_status truncated(const cursor *c, const char *what) {
    return clip_fail(CLIP_ERR_FORMAT, "%s: GGUF %s runs past the end of the file (truncated?)", c->label, what);
}

static clip_status read_kv(gguf_file *f, cursor *c, gguf_kv *kv) {
    const uint8_t *key;
    uint64_t key_len;
    uint32_t type;
    if (!read_string(c, &key, &key_len) || !read_u32(c, &type)) return truncated(c, "metadata");
    if (!(kv->key = malloc((size_t)key_len + 1))) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    memcpy(kv->key, key, (size_t)key_len);
    kv->key[key_len] = '\0';
    kv->type = (gguf_type)type;
    kv->data = c->p;
    const uint8_t *skip;
    if (type == GGUF_STRING) {
        uint64_t len;
        if (!read_string(c, &skip, &len)) return truncated(c, "metadata string");
        return CLIP_OK;
    }
    if (type != GGUF_ARRAY) {
        size_t size = scalar_size((gguf_type)type);
        if (!size) return clip_fail(CLIP_ERR_FORMAT, "%s: GGUF key '%s' has unknown type %u", f->label, kv->key, type);
        if (!take(c, size, &skip)) return truncated(c, "metadata value");
        return CLIP_OK;
    }
    uint32_t elem;
    uint64_t n;
    if (!read_u32(c, &elem) || !read_u64(c, &n)) return truncated(c, "metadata array");
    kv->elem_type = (gguf_type)elem;
    kv->n = n;
    kv->data = c->p;
    if (elem == GGUF_STRING) {
        /* Each element needs at least its 8-byte length. */
        if (n > (uint64_t)(c->end - c->p) / 8) return truncated(c, "string array");
        kv->str_offsets = malloc((size_t)(n ? n : 1) * sizeof *kv->str_offsets);
        if (!kv->str_offsets) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
        for (uint64_t i = 0; i < n; i++) {
            uint64_t len;
            kv->str_offsets[i] = (uint64_t)(c->p - kv->data);
            if (!read_string(c, &skip, &len)) return truncated(c, "string array");
        }
        return CLIP_OK;
    }
    size_t size = scalar_size((gguf_type)elem);
    if (!size)
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: GGUF key '%s': arrays of type %u are not read", f->label, kv->key,
                         elem);
    if (n > (uint64_t)(c->end - c->p) / size || !take(c, (size_t)n * size, &skip)) return truncated(c, "array");
    return CLIP_OK;
}

int gguf_dtype_from_ggml(uint32_t t, st_dtype *out) {
    switch (t) {
    case GGML_F32: *out = ST_F32; return 1;
    case GGML_F16: *out = ST_F16; return 1;
    case GGML_BF16: *out = ST_BF16; return 1;
    case GGML_Q8_0: *out = ST_Q8_0; return 1;
    case GGML_Q4_0: *out = ST_Q4_0; return 1;
    case 24: *out = ST_I8; return 1;
    case 25: *out = ST_I16; return 1;
    case 26: *out = ST_I32; return 1;
    case 27: *out = ST_I64; return 1;
    case 28: *out = ST_F64; return 1;
    default: return 0;
    }
}

int gguf_ggml_from_dtype(st_dtype d) {
    switch (d) {
    case ST_F32: return GGML_F32;
    case ST_F16: return GGML_F16;
    case ST_BF16: return GGML_BF16;
    case ST_Q8_0: return GGML_Q8_0;
    case ST_Q4_0: return GGML_Q4_0;
    case ST_I8: return 24;
    case ST_I16: return 25;
    case ST_I32: return 26;
    case ST_I64: return 27;
    case ST_F64: return 28;
    default: return -1;
    }
}

static clip_status read_tensor_info(gguf_file *f, cursor *c, gguf_tensor_info *t, uint64_t *offset) {
    const uint8_t *name;
    uint64_t name_len;
    uint32_t n_dims, type;
    if (!read_string(c, &name, &name_len) || !read_u32(c, &n_dims)) return truncated(c, "tensor table");
    if (!(t->name = malloc((size_t)name_len + 1))) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    memcpy(t->name, name, (size_t)name_len);
    t->name[name_len] = '\0';
    if (memchr(t->name, '\0', (size_t)name_len))
        return clip_fail(CLIP_ERR_FORMAT, "%s: GGUF tensor name with a NUL byte", f->label);
    if (n_dims > ST_MAX_DIMS)
        return clip_fail(CLIP_ERR_FORMAT, "%s: GGUF tensor '%s' has %u dimensions", f->label, t->name, n_dims);
    t->ndim = (int)n_dims;
    for (uint32_t i = 0; i < n_dims; i++) {
        uint64_t ne;
        if (!read_u64(c, &ne)) return truncated(c, "tensor table");
        if (ne > ((uint64_t)1 << 48))
            return clip_fail(CLIP_ERR_FORMAT, "%s: GGUF tensor '%s': dimension %llu too large", f->label, t->name,
                             (unsigned long long)ne);
        t->shape[n_dims - 1 - i] = (int64_t)ne; /* ne[0] is the innermost */
    }
    if (!read_u32(c, &type) || !read_u64(c, offset)) return truncated(c, "tensor table");
    t->ggml_type = type;
    if (!gguf_dtype_from_ggml(type, &t->dtype))
        return clip_fail(CLIP_ERR_UNSUPPORTED,
                         "%s: GGUF tensor '%s' has ggml type %u; clip.c reads F32, F16, BF16, Q8_0 and Q4_0 (convert "
                         "with clip.cpp's quantizer to q8_0 or q4_0)",
                         f->label, t->name, type);
    return CLIP_OK;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static clip_status place_tensors(gguf_file *f, const uint8_t *base, size_t size, size_t data_start,
                                 const uint64_t *offsets, uint64_t alignment) {
    char **names = malloc((f->n_tensors ? f->n_tensors : 1) * sizeof *names);
    if (!names) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    clip_status st = CLIP_OK;
    for (size_t i = 0; i < f->n_tensors && st == CLIP_OK; i++) {
        gguf_tensor_info *t = &f->tensors[i];
        names[i] = t->name;
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] && numel > INT64_MAX / 16 / t->shape[d]) {
                st = clip_fail(CLIP_ERR_FORMAT, "%s: GGUF tensor '%s': shape too large", f->label, t->name);
                break;
            }
            numel *= t->shape[d];
        }
        if (st != CLIP_OK) break;
        int quantised = t->dtype == ST_Q8_0 || t->dtype == ST_Q4_0;
        if (quantised && (t->ndim == 0 || t->shape[t->ndim - 1] % ST_QBLOCK)) {
            st = clip_fail(CLIP_ERR_FORMAT, "%s: GGUF tensor '%s': rows are not whole %d-value blocks", f->label,
                           t->name, ST_QBLOCK);
            break;
        }
        t->nbytes = st_dtype_bytes(t->dtype, numel);
        if (offsets[i] % alignment || offsets[i] > size - data_start || t->nbytes > size - data_start - offsets[i])
            st = clip_fail(CLIP_ERR_FORMAT,
                           "%s: GGUF tensor '%s' (%zu bytes at offset %llu) does not lie aligned inside the file "
                           "(truncated?)",
                           f->label, t->name, t->nbytes, (unsigned long long)offsets[i]);
        else
            t->data = base + data_start + offsets[i];
    }
    if (st == CLIP_OK) {
        if (f->n_tensors) qsort(names, f->n_tensors, sizeof *names, compare_names);
        for (size_t i = 1; i < f->n_tensors && st == CLIP_OK; i++)
            if (strcmp(names[i - 1], names[i]) == 0)
                st = clip_fail(CLIP_ERR_FORMAT, "%s: GGUF tensor '%s' appears twice", f->label, names[i]);
    }
    free(names);
    return st;
}

static clip_status parse(gguf_file *f, const uint8_t *base, size_t size) {
    cursor c = {base, base + size, f->label};
    const uint8_t *magic;
    uint64_t n_tensors, n_kv;
    if (!take(&c, 4, &magic) || memcmp(magic, "GGUF", 4) != 0)
        return clip_fail(CLIP_ERR_FORMAT, "%s: not a GGUF file", f->label);
    if (!read_u32(&c, &f->version)) return truncated(&c, "header");
    if (f->version < 2 || f->version > 3)
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: GGUF version %u (versions 2 and 3 are read)", f->label, f->version);
    if (!read_u64(&c, &n_tensors) || !read_u64(&c, &n_kv)) return truncated(&c, "header");
    /* A key-value pair takes at least 13 bytes, a tensor entry 24. */
    size_t left = (size_t)(c.end - c.p);
    if (n_kv > left / 13 || n_tensors > left / 24)
        return clip_fail(CLIP_ERR_FORMAT, "%s: GGUF header claims %llu keys and %llu tensors in %zu bytes", f->label,
                         (unsigned long long)n_kv, (unsigned long long)n_tensors, left);
    f->kvs = calloc((size_t)n_kv + 1, sizeof *f->kvs);
    f->tensors = calloc((size_t)n_tensors + 1, sizeof *f->tensors);
    uint64_t *offsets = calloc((size_t)n_tensors + 1, sizeof *offsets);
    clip_status st = f->kvs && f->tensors && offsets ? CLIP_OK : clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    for (uint64_t i = 0; st == CLIP_OK && i < n_kv; i++) {
        st = read_kv(f, &c, &f->kvs[i]);
        f->n_kv = (size_t)i + 1;
    }
    for (uint64_t i = 0; st == CLIP_OK && i < n_tensors; i++) {
        st = read_tensor_info(f, &c, &f->tensors[i], &offsets[i]);
        f->n_tensors = (size_t)i + 1;
    }
    uint64_t alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t a;
    if (st == CLIP_OK && gguf_get_int(f, "general.alignment", &a)) {
        if (a <= 0 || a > (1 << 16) || (a & (a - 1)))
            st = clip_fail(CLIP_ERR_FORMAT, "%s: GGUF general.alignment %lld is not a power of two", f->label,
                           (long long)a);
        alignment = (uint64_t)a;
    }
    if (st == CLIP_OK) {
        size_t data_start = (size_t)(c.p - base);
        data_start = (size_t)((data_start + alignment - 1) / alignment * alignment);
        if (data_start > size && f->n_tensors) st = truncated(&c, "tensor data");
        else st = place_tensors(f, base, size, data_start > size ? size : data_start, offsets, alignment);
    }
    free(offsets);
    return st;
}

clip_status gguf_open_memory(const void *data, size_t size, const char *label, gguf_file **out) {
    *out = NULL;
    gguf_file *f = calloc(1, sizeof *f);
    if (!f || !(f->label = strdup(label ? label : "<gguf>"))) {
        free(f);
        return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    }
    clip_status st = parse(f, data, size);
    if (st != CLIP_OK) {
        gguf_close(f);
        return st;
    }
    *out = f;
    return CLIP_OK;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_kv; i++) {
        free(f->kvs[i].key);
        free(f->kvs[i].str_offsets);
    }
    for (size_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->kvs);
    free(f->tensors);
    free(f->label);
    free(f);
}

uint32_t gguf_version(const gguf_file *f) { return f->version; }
size_t gguf_kv_count(const gguf_file *f) { return f->n_kv; }
const gguf_kv *gguf_kv_at(const gguf_file *f, size_t i) { return i < f->n_kv ? &f->kvs[i] : NULL; }
size_t gguf_tensor_count(const gguf_file *f) { return f->n_tensors; }
const gguf_tensor_info *gguf_tensor_at(const gguf_file *f, size_t i) { return i < f->n_tensors ? &f->tensors[i] : NULL; }

const gguf_kv *gguf_find(const gguf_file *f, const char *key) {
    for (size_t i = 0; i < f->n_kv; i++)
        if (strcmp(f->kvs[i].key, key) == 0) return &f->kvs[i];
    return NULL;
}

static int number_at(gguf_type type, const uint8_t *p, double *d, int64_t *i) {
    switch (type) {
    case GGUF_UINT8: *i = p[0]; break;
    case GGUF_INT8: *i = (int8_t)p[0]; break;
    case GGUF_UINT16: *i = (int64_t)le(p, 2); break;
    case GGUF_INT16: *i = (int16_t)le(p, 2); break;
    case GGUF_UINT32: *i = (int64_t)le(p, 4); break;
    case GGUF_INT32: *i = (int32_t)le(p, 4); break;
    case GGUF_UINT64: *i = (int64_t)le(p, 8); break;
    case GGUF_INT64: *i = (int64_t)le(p, 8); break;
    case GGUF_FLOAT32: {
        uint32_t bits = (uint32_t)le(p, 4);
        float v;
        memcpy(&v, &bits, 4);
        *d = v;
        return 2;
    }
    case GGUF_FLOAT64: {
        uint64_t bits = le(p, 8);
        memcpy(d, &bits, 8);
        return 2;
    }
    default: return 0;
    }
    *d = (double)*i;
    return 1;
}

int gguf_get_int(const gguf_file *f, const char *key, int64_t *out) {
    const gguf_kv *kv = gguf_find(f, key);
    double d;
    return kv && number_at(kv->type, kv->data, &d, out) == 1;
}

int gguf_get_float(const gguf_file *f, const char *key, double *out) {
    const gguf_kv *kv = gguf_find(f, key);
    int64_t i;
    return kv && number_at(kv->type, kv->data, out, &i) != 0;
}

int gguf_get_bool(const gguf_file *f, const char *key, int *out) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv || kv->type != GGUF_BOOL) return 0;
    *out = kv->data[0] != 0;
    return 1;
}

int gguf_get_str(const gguf_file *f, const char *key, const char **s, size_t *len) {
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv || kv->type != GGUF_STRING) return 0;
    *len = (size_t)le(kv->data, 8);
    *s = (const char *)kv->data + 8;
    return 1;
}

int gguf_arr_str(const gguf_kv *kv, uint64_t i, const char **s, size_t *len) {
    if (kv->type != GGUF_ARRAY || kv->elem_type != GGUF_STRING || i >= kv->n) return 0;
    const uint8_t *p = kv->data + kv->str_offsets[i];
    *len = (size_t)le(p, 8);
    *s = (const char *)p + 8;
    return 1;
}

int gguf_arr_num(const gguf_kv *kv, uint64_t i, double *out) {
    if (kv->type != GGUF_ARRAY || i >= kv->n) return 0;
    size_t size = scalar_size(kv->elem_type);
    int64_t ignored;
    return size && number_at(kv->elem_type, kv->data + i * size, out, &ignored) != 0;
}
