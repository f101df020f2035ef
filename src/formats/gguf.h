/* GGUF (ggml's container, versions 2 and 3): a bounds-checked reader over
 * memory and a writer. Tensor shapes are given here in row-major order
 * (outermost first, as numpy and safetensors write them); the file stores
 * ggml's reversed order (ne[0] innermost) and the reader/writer swap. */
#ifndef CLIP_FORMATS_GGUF_H
#define CLIP_FORMATS_GGUF_H
#include <stddef.h>
#include <stdint.h>

#include "clip.h"
#include "formats/safetensors.h"

typedef enum gguf_type {
    GGUF_UINT8 = 0, GGUF_INT8 = 1, GGUF_UINT16 = 2, GGUF_INT16 = 3, GGUF_UINT32 = 4, GGUF_INT32 = 5,
    GGUF_FLOAT32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_UINT64 = 10, GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12,
} gguf_type;

/* ggml_type values of the element types clip.c reads and writes. */
enum { GGML_F32 = 0, GGML_F16 = 1, GGML_Q4_0 = 2, GGML_Q8_0 = 8, GGML_BF16 = 30 };
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct gguf_kv {
    char *key;
    gguf_type type;
    gguf_type elem_type;   /* arrays */
    uint64_t n;            /* arrays: element count */
    const uint8_t *data;   /* the value, or the first array element, in the buffer */
    uint64_t *str_offsets; /* string arrays: each element's offset from data */
} gguf_kv;

typedef struct gguf_tensor_info {
    char *name;
    uint32_t ggml_type;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS]; /* row-major order */
    const uint8_t *data;
    size_t nbytes;
} gguf_tensor_info;

typedef struct gguf_file gguf_file;

clip_status gguf_open_memory(const void *data, size_t size, const char *label, gguf_file **out);
void gguf_close(gguf_file *file);
uint32_t gguf_version(const gguf_file *file);
size_t gguf_kv_count(const gguf_file *file);
const gguf_kv *gguf_kv_at(const gguf_file *file, size_t index);
const gguf_kv *gguf_find(const gguf_file *file, const char *key);
size_t gguf_tensor_count(const gguf_file *file);
const gguf_tensor_info *gguf_tensor_at(const gguf_file *file, size_t index);

/* Typed access; each returns 0 when the key is absent or of another kind
 * (any integer type reads as an integer, any float type as a double). */
int gguf_get_int(const gguf_file *file, const char *key, int64_t *out);
int gguf_get_float(const gguf_file *file, const char *key, double *out);
int gguf_get_bool(const gguf_file *file, const char *key, int *out);
int gguf_get_str(const gguf_file *file, const char *key, const char **s, size_t *len);
/* Element i of a string array. */
int gguf_arr_str(const gguf_kv *kv, uint64_t i, const char **s, size_t *len);
/* Element i of a numeric array, as a double. */
int gguf_arr_num(const gguf_kv *kv, uint64_t i, double *out);

int gguf_dtype_from_ggml(uint32_t ggml_type, st_dtype *out);
/* ggml_type of an st_dtype, or -1. */
int gguf_ggml_from_dtype(st_dtype dtype);

/* Writer: metadata in the order given, tensors aligned to 32 bytes, the
 * file written atomically. Tensor data is borrowed until finish unless
 * `owned`, when the writer frees it. */
typedef struct gguf_writer gguf_writer;
gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
clip_status gguf_write_u32(gguf_writer *w, const char *key, uint32_t value);
clip_status gguf_write_f32(gguf_writer *w, const char *key, float value);
clip_status gguf_write_bool(gguf_writer *w, const char *key, int value);
clip_status gguf_write_str(gguf_writer *w, const char *key, const char *value);
clip_status gguf_write_f32_array(gguf_writer *w, const char *key, const float *values, size_t n);
/* Strings of lens[i] bytes each. */
clip_status gguf_write_str_array(gguf_writer *w, const char *key, const char *const *values, const size_t *lens,
                                 size_t n);
clip_status gguf_write_tensor(gguf_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                              void *data, size_t nbytes, int owned);
clip_status gguf_writer_finish(gguf_writer *w, const char *path);

#endif
