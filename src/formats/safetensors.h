/* safetensors reader (memory-mapped, every offset checked) and writer. */
#ifndef CLIP_FORMATS_SAFETENSORS_H
#define CLIP_FORMATS_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#include "clip.h"

typedef enum st_dtype {
    ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL,
    /* ggml's block-quantised types (blocks of 32 values along the last
     * dimension, each with a float16 scale). The safetensors format has no
     * such dtypes: only tables built by other readers (GGUF, clip.c's
     * quantised files) hold them, and st_dtype_size() is 0 for them. */
    ST_Q8_0, ST_Q4_0,
} st_dtype;

enum { ST_QBLOCK = 32 };

enum { ST_MAX_DIMS = 8 };
/* Headers bigger than clip_limits.max_safetensors_header are refused
 * before any allocation. */

typedef struct st_tensor {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const void *data; /* points into the mapping */
    size_t nbytes;
} st_tensor;

typedef struct st_file st_file;

/* Maps `path` read-only and validates the header: every tensor's byte range
 * lies inside the file, matches its shape and dtype, and names are unique. */
clip_status st_open(const char *path, st_file **out);
/* Same over a caller-owned buffer that must outlive the st_file. `label`
 * names the buffer in error messages. */
clip_status st_open_memory(const void *data, size_t size, const char *label,
                           st_file **out);
void st_close(st_file *file);

size_t st_count(const st_file *file);
const st_tensor *st_at(const st_file *file, size_t index);
const st_tensor *st_find(const st_file *file, const char *name);
/* __metadata__ value for `key`, or NULL. */
const char *st_metadata(const st_file *file, const char *key);
size_t st_metadata_count(const st_file *file);
void st_metadata_at(const st_file *file, size_t index, const char **key,
                    const char **value);
const char *st_path(const st_file *file);
/* The read-only file mapping the tensors lie in: 1 and its range when the
 * file is memory-mapped, 0 otherwise (read into memory, or a table of
 * converted buffers). */
int st_mapping(const st_file *file, const void **base, size_t *size);

size_t st_dtype_size(st_dtype dtype);
const char *st_dtype_name(st_dtype dtype);
int st_dtype_from_name(const char *name, st_dtype *out);
/* Storage bytes of `numel` values (whole blocks for the quantised types);
 * 0 for a quantised count that is not a whole number of blocks. */
size_t st_dtype_bytes(st_dtype dtype, int64_t numel);

/* Tables built by other readers (PyTorch archives, GGUF): the same st_file
 * the loader reads, filled tensor by tensor. Tensors borrow their data;
 * what they borrow from (a file mapping, a converted buffer, another
 * st_file) is handed to the table with st_table_set_mapping/st_table_keep
 * and released by st_close. `path` names the table in messages. */
st_file *st_table_new(const char *path);
/* `nbytes` must equal st_dtype_bytes(dtype, numel of shape); quantised
 * tensors need a last dimension that is a multiple of ST_QBLOCK. The name
 * is copied. Works on any st_file, also one from st_open. */
clip_status st_table_add(st_file *file, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                         const void *data, size_t nbytes);
/* A read-only mapping the tensors point into, munmap()ed by st_close. */
clip_status st_table_set_mapping(st_file *file, const void *base, size_t size);
/* Calls release(resource) at st_close, in reverse order of keeping. On
 * failure (out of memory) the resource is released at once. */
clip_status st_table_keep(st_file *file, void *resource, void (*release)(void *));
/* Adds or replaces a metadata entry (both strings copied). */
clip_status st_table_set_metadata(st_file *file, const char *key, const char *value);
/* Indexes the names for st_find and rejects duplicates. (st_find works
 * before this too, by a linear search.) */
clip_status st_table_finish(st_file *file);

/* Writer: collects tensors (data copied at finish) and metadata, then writes
 * the file atomically with tensors aligned as the format's convention. */
typedef struct st_writer st_writer;
st_writer *st_writer_new(void);
clip_status st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim,
                          const int64_t *shape, const void *data);
clip_status st_writer_metadata(st_writer *w, const char *key, const char *value);
clip_status st_writer_finish(st_writer *w, const char *path);
void st_writer_free(st_writer *w);

/* float16 / bfloat16 <-> float32 */
float st_half_to_float(uint16_t h);
float st_bf16_to_float(uint16_t b);
uint16_t st_float_to_half(float f);
uint16_t st_float_to_bf16(float f);

#endif
