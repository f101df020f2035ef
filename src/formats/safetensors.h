/* safetensors reader (memory-mapped, every offset checked) and writer. */
#ifndef CLIP_FORMATS_SAFETENSORS_H
#define CLIP_FORMATS_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#include "clip.h"

typedef enum st_dtype {
    ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL,
} st_dtype;

enum { ST_MAX_DIMS = 8 };
/* Headers bigger than this are refused before any allocation. */
#define ST_MAX_HEADER_BYTES (100u << 20)

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

size_t st_dtype_size(st_dtype dtype);
const char *st_dtype_name(st_dtype dtype);
int st_dtype_from_name(const char *name, st_dtype *out);

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
