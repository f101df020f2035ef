/* GGUF writer (version 3). Metadata is serialised as it is added; tensors
 * are remembered and streamed out at finish, each at an offset aligned to
 * GGUF_DEFAULT_ALIGNMENT so readers can map them in place. */
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "formats/gguf.h"

typedef struct pending {
    char *name;
    int ggml_type, ndim;
    int64_t shape[ST_MAX_DIMS];
    void *data;
    size_t nbytes;
    int owned;
} pending;

typedef struct bytes {
    uint8_t *v;
    size_t n, cap;
    int failed;
} bytes;

struct gguf_writer {
    bytes kv;
    uint64_t n_kv;
    pending *tensors;
    size_t n, cap;
};

static void put(bytes *b, const void *data, size_t n) {
    if (b->failed) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        uint8_t *v = realloc(b->v, cap);
        if (!v) {
            b->failed = 1;
            return;
        }
        b->v = v;
        b->cap = cap;
    }
    memcpy(b->v + b->n, data, n);
    b->n += n;
}

static void put_le(bytes *b, uint64_t v, int n) {
    uint8_t buf[8];
    for (int i = 0; i < n; i++) buf[i] = (uint8_t)(v >> (8 * i));
    put(b, buf, (size_t)n);
}

static void put_string(bytes *b, const char *s, size_t len) {
    put_le(b, len, 8);
    put(b, s, len);
}

static clip_status key(gguf_writer *w, const char *name, gguf_type type) {
    put_string(&w->kv, name, strlen(name));
    put_le(&w->kv, (uint64_t)type, 4);
    w->n_kv++;
    return w->kv.failed ? clip_fail(CLIP_ERR_NO_MEMORY, "gguf: out of memory") : CLIP_OK;
}

gguf_writer *gguf_writer_new(void) { return calloc(1, sizeof(gguf_writer)); }

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->tensors[i].name);
        if (w->tensors[i].owned) free(w->tensors[i].data);
    }
    free(w->tensors);
    free(w->kv.v);
    free(w);
}

clip_status gguf_write_u32(gguf_writer *w, const char *name, uint32_t value) {
    key(w, name, GGUF_UINT32);
    put_le(&w->kv, value, 4);
    return w->kv.failed ? clip_fail(CLIP_ERR_NO_MEMORY, "gguf: out of memory") : CLIP_OK;
}

clip_status gguf_write_f32(gguf_writer *w, const char *name, float value) {
    uint32_t bits;
    memcpy(&bits, &value, 4);
    key(w, name, GGUF_FLOAT32);
    put_le(&w->kv, bits, 4);
    return w->kv.failed ? clip_fail(CLIP_ERR_NO_MEMORY, "gguf: out of memory") : CLIP_OK;
}

clip_status gguf_write_bool(gguf_writer *w, const char *name, int value) {
    key(w, name, GGUF_BOOL);
    put_le(&w->kv, value ? 1 : 0, 1);
    return w->kv.failed ? clip_fail(CLIP_ERR_NO_MEMORY, "gguf: out of memory") : CLIP_OK;
}

clip_status gguf_write_str(gguf_writer *w, const char *name, const char *value) {
    key(w, name, GGUF_STRING);
    put_string(&w->kv, value, strlen(value));
    return w->kv.failed ? clip_fail(CLIP_ERR_NO_MEMORY, "gguf: out of memory") : CLIP_OK;
}

clip_status gguf_write_f32_array(gguf_writer *w, const char *name, const float *values, size_t n) {
    key(w, name, GGUF_ARRAY);
    put_le(&w->kv, GGUF_FLOAT32, 4);
    put_le(&w->kv, n, 8);
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &values[i], 4);
        put_le(&w->kv, bits, 4);
    }
    return w->kv.failed ? clip_fail(CLIP_ERR_NO_MEMORY, "gguf: out of memory") : CLIP_OK;
}

clip_status gguf_write_str_array(gguf_writer *w, const char *name, const char *const *values, const size_t *lens,
                                 size_t n) {
    key(w, name, GGUF_ARRAY);
    put_le(&w->kv, GGUF_STRING, 4);
    put_le(&w->kv, n, 8);
    for (size_t i = 0; i < n; i++) put_string(&w->kv, values[i], lens[i]);
    return w->kv.failed ? clip_fail(CLIP_ERR_NO_MEMORY, "gguf: out of memory") : CLIP_OK;
}

clip_status gguf_write_tensor(gguf_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                              void *data, size_t nbytes, int owned) {
    int type = gguf_ggml_from_dtype(dtype);
    clip_status st = CLIP_OK;
    if (type < 0 || ndim > 4 || ndim < 0)
        st = clip_fail(CLIP_ERR_INVALID_ARGUMENT, "gguf: tensor '%s': dtype %s or rank %d not writable", name,
                       st_dtype_name(dtype), ndim);
    if (st == CLIP_OK && w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        pending *grown = realloc(w->tensors, cap * sizeof *grown);
        if (!grown) st = clip_fail(CLIP_ERR_NO_MEMORY, "gguf: out of memory");
        else {
            w->tensors = grown;
            w->cap = cap;
        }
    }
    char *copy = st == CLIP_OK ? strdup(name) : NULL;
    if (st == CLIP_OK && !copy) st = clip_fail(CLIP_ERR_NO_MEMORY, "gguf: out of memory");
    if (st != CLIP_OK) {
        if (owned) free(data);
        return st;
    }
    pending *t = &w->tensors[w->n++];
    memset(t, 0, sizeof *t);
    t->name = copy;
    t->ggml_type = type;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->data = data;
    t->nbytes = nbytes;
    t->owned = owned;
    return CLIP_OK;
}

static size_t align_up(size_t v) { return (v + GGUF_DEFAULT_ALIGNMENT - 1) / GGUF_DEFAULT_ALIGNMENT * GGUF_DEFAULT_ALIGNMENT; }

clip_status gguf_writer_finish(gguf_writer *w, const char *path) {
    bytes head = {0};
    put(&head, "GGUF", 4);
    put_le(&head, 3, 4);
    put_le(&head, w->n, 8);
    put_le(&head, w->n_kv, 8);
    if (w->kv.n) put(&head, w->kv.v, w->kv.n);
    size_t offset = 0;
    for (size_t i = 0; i < w->n; i++) {
        const pending *t = &w->tensors[i];
        put_string(&head, t->name, strlen(t->name));
        put_le(&head, (uint64_t)t->ndim, 4);
        for (int d = t->ndim - 1; d >= 0; d--) put_le(&head, (uint64_t)t->shape[d], 8);
        put_le(&head, (uint64_t)t->ggml_type, 4);
        put_le(&head, offset, 8);
        offset = align_up(offset + t->nbytes);
    }
    static const uint8_t zeros[GGUF_DEFAULT_ALIGNMENT];
    put(&head, zeros, align_up(head.n) - head.n);
    if (head.failed || w->kv.failed) {
        free(head.v);
        return clip_fail(CLIP_ERR_NO_MEMORY, "gguf: out of memory");
    }
    atomic_file af;
    clip_status st = atomic_file_open(&af, path);
    if (st != CLIP_OK) {
        free(head.v);
        return st;
    }
    int ok = fwrite(head.v, 1, head.n, af.fp) == head.n;
    for (size_t i = 0; ok && i < w->n; i++) {
        const pending *t = &w->tensors[i];
        ok = (t->nbytes == 0 || fwrite(t->data, 1, t->nbytes, af.fp) == t->nbytes) &&
             fwrite(zeros, 1, align_up(t->nbytes) - t->nbytes, af.fp) == align_up(t->nbytes) - t->nbytes;
    }
    free(head.v);
    if (!ok) {
        atomic_file_abort(&af);
        return clip_fail(CLIP_ERR_IO, "%s: write failed", path);
    }
    return atomic_file_commit(&af);
}
